"""Numba kernels of :mod:`detbench.eval`.

Data layout used by every kernel
--------------------------------
Annotations are flat arrays in a *base order*: sorted (stably) by a group key so
that each evaluation group occupies one contiguous slice ``off[g]:off[g + 1]``.
With ``useCats=1`` a group is one (category, image) pair, ``g = k * n_img + i``;
with ``useCats=0`` a group is one image (``n_seg = 1``) and the annotations of an
image are ordered by category position, then by input order, exactly like the
lists pycocotools concatenates. A *segment* is one category (or everything when
``useCats=0``): the detections accumulated together.

Nothing here allocates per group: all scratch buffers are sized by the Python
layer from the largest group/segment and passed in.
"""

from __future__ import annotations

import numpy as np

from detbench._jit import jit

#: status codes of a detection at one (area range, IoU threshold)
ST_FP = 0
ST_TP = 1
ST_IGN = 2

#: ``np.spacing(1)``: pycocotools adds it to the precision denominator
EPS = float(np.spacing(1))

_SIGN = np.uint64(1) << np.uint64(63)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_RADIX_BITS = 11
_RADIX = 1 << _RADIX_BITS
_RADIX_MASK = np.uint64(_RADIX - 1)
_RADIX_PASSES = 6  # 6 * 11 >= 64


@jit
def group_keys(ip, cp, n_img, n_cat, use_cats, offsets, cursor, perm):
    """Stable counting sort of annotations by evaluation group.

    ``ip``/``cp`` are image/category positions (-1: not evaluated). The key is
    ``cp * n_img + ip`` with ``use_cats`` (groups = (category, image)), else
    ``ip * n_cat + cp`` (groups = images, categories in ``catIds`` order inside).
    ``offsets`` (``n_img * n_cat + 1``, zeroed) receives the start of every key,
    ``perm`` the input index of every output slot; ``cursor`` is scratch.
    Returns the number of annotations kept. O(N + n_img * n_cat).
    """
    n = ip.shape[0]
    n_keys = n_img * n_cat
    for i in range(n):
        a = ip[i]
        b = cp[i]
        if a >= 0 and b >= 0:
            k = b * n_img + a if use_cats else a * n_cat + b
            offsets[k + 1] += 1
    for k in range(n_keys):
        offsets[k + 1] += offsets[k]
        cursor[k] = offsets[k]
    for i in range(n):
        a = ip[i]
        b = cp[i]
        if a >= 0 and b >= 0:
            k = b * n_img + a if use_cats else a * n_cat + b
            perm[cursor[k]] = i
            cursor[k] += 1
    return offsets[n_keys]


@jit
def gather_rows(perm, src, box, area, score, ip, flag, box_out, area_out, score_out, ip_out, flag_out, src_out):
    """Gather the per-annotation arrays in group order, in one pass.

    Output slot ``o`` takes entry ``i = perm[o]`` of ``ip`` and row ``src[i]`` of
    ``box``/``area``/``score``/``flag`` (``score``/``flag`` may be empty).
    """
    has_score = score.shape[0] > 0
    has_flag = flag.shape[0] > 0
    for o in range(perm.shape[0]):
        i = perm[o]
        j = src[i]
        box_out[o, 0] = box[j, 0]
        box_out[o, 1] = box[j, 1]
        box_out[o, 2] = box[j, 2]
        box_out[o, 3] = box[j, 3]
        area_out[o] = area[j]
        if has_score:
            score_out[o] = score[j]
        if has_flag:
            flag_out[o] = flag[j]
        ip_out[o] = ip[i]
        src_out[o] = j


@jit(inline="always")
def _desc_key(bits):
    # order-preserving map of IEEE-754 bits to unsigned ints, reversed so that an
    # ascending sort of the key is a descending sort of the value
    if bits & _SIGN:
        return bits
    return (bits | _SIGN) ^ _ALL


@jit
def segmented_desc_order(score_bits, seg_off, order, order_tmp, keys, keys_tmp, hist):
    """Stable descending sort of the scores inside every segment.

    ``score_bits`` are the float64 scores (``-0.0`` normalised to ``0.0``) viewed
    as uint64; ``seg_off`` (``n_seg + 1``) delimits the segments. On return
    ``order[seg_off[s]:seg_off[s+1]]`` holds the indices of segment ``s`` by
    decreasing score, ties in index order (what a stable ``argsort(-score)`` of
    each segment gives). LSD radix sort, 11-bit digits, passes whose digit is
    constant are skipped; short segments use insertion sort. ``hist`` is
    ``(6, 2048)`` int64 scratch. O(n) per pass.
    """
    n_seg = seg_off.shape[0] - 1
    for s in range(n_seg):
        lo = seg_off[s]
        hi = seg_off[s + 1]
        n = hi - lo
        if n <= 0:
            continue
        for j in range(lo, hi):
            order[j] = j
            keys[j] = _desc_key(score_bits[j])
        if n <= 48:
            for j in range(lo + 1, hi):
                kk = keys[j]
                oo = order[j]
                q = j - 1
                while q >= lo and keys[q] > kk:
                    keys[q + 1] = keys[q]
                    order[q + 1] = order[q]
                    q -= 1
                keys[q + 1] = kk
                order[q + 1] = oo
            continue
        hist[:, :] = 0
        for j in range(lo, hi):
            kk = keys[j]
            for p in range(_RADIX_PASSES):
                hist[p, (kk >> np.uint64(p * _RADIX_BITS)) & _RADIX_MASK] += 1
        in_tmp = False
        for p in range(_RADIX_PASSES):
            shift = np.uint64(p * _RADIX_BITS)
            src_k = keys_tmp if in_tmp else keys
            d0 = (src_k[lo] >> shift) & _RADIX_MASK
            if hist[p, d0] == n:
                continue
            total = lo
            for b in range(_RADIX):
                c = hist[p, b]
                hist[p, b] = total
                total += c
            if in_tmp:
                for j in range(lo, hi):
                    kk = keys_tmp[j]
                    b = (kk >> shift) & _RADIX_MASK
                    dst = hist[p, b]
                    hist[p, b] = dst + 1
                    keys[dst] = kk
                    order[dst] = order_tmp[j]
            else:
                for j in range(lo, hi):
                    kk = keys[j]
                    b = (kk >> shift) & _RADIX_MASK
                    dst = hist[p, b]
                    hist[p, b] = dst + 1
                    keys_tmp[dst] = kk
                    order_tmp[dst] = order[j]
            in_tmp = not in_tmp
        if in_tmp:
            for j in range(lo, hi):
                order[j] = order_tmp[j]
                keys[j] = keys_tmp[j]


@jit(inline="always")
def _bbox_iou(dx, dy, dw, dh, gx, gy, gw, gh, crowd):
    # the arithmetic of pycocotools' bbIou (maskApi.c), operation for operation,
    # so the doubles come out identical: crowd regions use the detection's area
    # as the union
    ga = gw * gh
    da = dw * dh
    w = min(dw + dx, gw + gx) - max(dx, gx)
    if w <= 0.0:
        return 0.0
    h = min(dh + dy, gh + gy) - max(dy, gy)
    if h <= 0.0:
        return 0.0
    inter = w * h
    if crowd:
        u = da
    else:
        u = da + ga - inter
    return inter / u


@jit(inline="always")
def _group_ious(ds, nd, gs, ng, gsorted, d_box, g_box, g_crowd, iou_buf):
    for di in range(nd):
        d = gsorted[ds + di]
        dx = d_box[d, 0]
        dy = d_box[d, 1]
        dw = d_box[d, 2]
        dh = d_box[d, 3]
        row = di * ng
        for gi in range(ng):
            g = gs + gi
            iou_buf[row + gi] = _bbox_iou(
                dx, dy, dw, dh, g_box[g, 0], g_box[g, 1], g_box[g, 2], g_box[g, 3], g_crowd[g]
            )


@jit(inline="always")
def _order_gts(gs, ng, g_area, g_crowd, lo_a, hi_a, gidx, gig):
    # ground truths of the group, not-ignored first (stable), as pycocotools'
    # argsort(_ignore, kind="mergesort"); returns the number not ignored
    nv = 0
    for gi in range(ng):
        g = gs + gi
        ar = g_area[g]
        if not (g_crowd[g] or ar < lo_a or ar > hi_a):
            gidx[nv] = gi
            gig[nv] = 0
            nv += 1
    q = nv
    for gi in range(ng):
        g = gs + gi
        ar = g_area[g]
        if g_crowd[g] or ar < lo_a or ar > hi_a:
            gidx[q] = gi
            gig[q] = 1
            q += 1
    return nv


@jit(inline="always")
def _match_one(di, ng, thr, iou_buf, gidx, gig, gtaken, gs, g_crowd):
    # pycocotools' greedy rule for one detection: walk the ordered ground truths,
    # skip taken non-crowd ones, stop at the first ignored one once a regular one
    # is held, keep the last with IoU >= the best so far (start: thr)
    best = thr
    m = -1
    row = di * ng
    for oi in range(ng):
        gi = gidx[oi]
        if gtaken[oi] and not g_crowd[gs + gi]:
            continue
        if m > -1 and gig[m] == 0 and gig[oi] == 1:
            break
        v = iou_buf[row + gi]
        if v < best:
            continue
        best = v
        m = oi
    return m


@jit
def coco_eval_core(
    n_img,
    g_off,
    g_box,
    g_area,
    g_crowd,
    g_idok,
    d_off,
    d_box,
    d_area,
    d_score,
    d_idok,
    d_img,
    gorder,
    seg_off,
    iou_thr,
    area_rng,
    max_dets,
    rec_thr,
    rec_sorted,
    precision,
    recall,
    scores,
    lpos,
    corder,
    gsorted,
    cnt,
    mlev,
    dyn_pos,
    dyn_j,
    dstatus,
    sfp,
    iou_buf,
    max_iou,
    gidx,
    gig,
    gtaken,
    dl_di,
    dl_d,
    dl_k,
    slot_mask,
    slot_gi,
    mbuf,
    prbuf,
    scbuf,
):
    """pycocotools' ``evaluateImg`` + ``accumulate`` for every segment, fused.

    For each segment (category): rank the detections of every (category, image)
    group by score (taken from the segment's global order ``gorder``) and keep
    the top ``max_dets[-1]`` per group. A detection whose best IoU in its group
    is below the lowest threshold can never match: it is *static*, a false
    positive or ignored (by its own area) whatever the threshold. Only the
    other, *dynamic*, detections go through pycocotools' greedy matching for
    every area range and threshold, leaving one status byte each (TP / FP /
    ignored). Accumulation walks the detections in global score order: once per
    area range for the static ones (prefix counts of false positives per
    ``maxDets`` level) and once per (area range, threshold) over the dynamic ones
    only, recording precision at true positives only. The precision envelope
    and the recall-threshold sampling use those points (pycocotools' envelope is
    reached at true positives, and the first index with recall >= r is a true
    positive or index 0).

    ``g_idok``/``d_idok`` implement the annotation-id rules: a match counts as a
    TP only when ``g_idok`` of its ground truth is set, and a detection marks its
    ground truth as taken only when ``d_idok`` is set (all ones in detbench's
    default mode; ``id != 0`` and ``id > 0`` to reproduce pycocotools).

    Matching results are shared between area ranges whose ground-truth ignore
    pattern gives the same greedy outcome.

    Writes ``precision``/``scores`` as ``(K, A, T, M, R)`` and ``recall`` as
    ``(K, A, T, M)`` buffers prefilled with -1 (the caller exposes them as
    pycocotools' ``(T, R, K, A, M)`` / ``(T, K, A, M)`` by transposition: the
    kernel writes contiguously). Cost O(sum over groups of D_g*G_g*A*T)
    to match, O(A*D + A*T*D_dynamic) to accumulate, O(K*A*T*M*R) to sample.
    """
    n_seg = seg_off.shape[0] - 1
    T = iou_thr.shape[0]
    A = area_rng.shape[0]
    M = max_dets.shape[0]
    R = rec_thr.shape[0]
    max_last = max_dets[M - 1]
    thr_min = iou_thr[0]
    for t in range(T):
        thr_min = min(thr_min, iou_thr[t])
    tpl = np.zeros(M, np.int64)
    fpl = np.zeros(M, np.int64)
    ndm = np.zeros(M, np.int64)
    first_score = np.zeros(M, np.float64)
    npig = np.zeros(A, np.int64)
    for s in range(n_seg):
        lo = seg_off[s]
        hi = seg_off[s + 1]
        # ---- rank within groups, compact to the top max_last per group
        L = 0
        for j in range(lo, hi):
            d = gorder[j]
            i = d_img[d]
            r = cnt[i]
            cnt[i] = r + 1
            if r < max_last:
                gsorted[d_off[s * n_img + i] + r] = d
                corder[lo + L] = d
                ml = 0
                while r >= max_dets[ml]:
                    ml += 1
                mlev[L] = ml
                lpos[d] = L
                dyn_pos[L] = -1
                L += 1
        for j in range(lo, hi):
            cnt[d_img[gorder[j]]] = 0
        for m in range(M):
            ndm[m] = 0
        for j in range(L):
            for m in range(mlev[j], M):
                if ndm[m] == 0:
                    first_score[m] = d_score[corder[lo + j]]
                ndm[m] += 1
        # ---- which detections can match at all (best IoU >= lowest threshold)
        for a in range(A):
            npig[a] = 0
        for i in range(n_img):
            g = s * n_img + i
            gs = g_off[g]
            ng = g_off[g + 1] - gs
            if ng == 0:
                continue
            for a in range(A):
                lo_a = area_rng[a, 0]
                hi_a = area_rng[a, 1]
                for gi in range(ng):
                    ar = g_area[gs + gi]
                    if not (g_crowd[gs + gi] or ar < lo_a or ar > hi_a):
                        npig[a] += 1
            ds = d_off[g]
            nd = min(d_off[g + 1] - ds, max_last)
            if nd == 0:
                continue
            _group_ious(ds, nd, gs, ng, gsorted, d_box, g_box, g_crowd, iou_buf)
            for di in range(nd):
                best = iou_buf[di * ng]
                for gi in range(1, ng):
                    best = max(best, iou_buf[di * ng + gi])
                if best >= thr_min:
                    dyn_pos[lpos[gsorted[ds + di]]] = 0
        Ld = 0
        for j in range(L):
            if dyn_pos[j] >= 0:
                dyn_pos[j] = Ld
                dyn_j[Ld] = j
                Ld += 1
        # ---- greedy matching of the dynamic detections
        if Ld > 0:
            for i in range(n_img):
                g = s * n_img + i
                gs = g_off[g]
                ng = g_off[g + 1] - gs
                if ng == 0:
                    continue
                ds = d_off[g]
                nd = min(d_off[g + 1] - ds, max_last)
                n_dyn = 0
                for di in range(nd):
                    d = gsorted[ds + di]
                    k = dyn_pos[lpos[d]]
                    if k >= 0:
                        dl_di[n_dyn] = di
                        dl_d[n_dyn] = d
                        dl_k[n_dyn] = k
                        n_dyn += 1
                if n_dyn == 0:
                    continue
                _group_ious(ds, nd, gs, ng, gsorted, d_box, g_box, g_crowd, iou_buf)
                for q in range(n_dyn):
                    row = dl_di[q] * ng
                    best = iou_buf[row]
                    for gi in range(1, ng):
                        best = max(best, iou_buf[row + gi])
                    max_iou[q] = best
                n_slot = 0
                for a in range(A):
                    lo_a = area_rng[a, 0]
                    hi_a = area_rng[a, 1]
                    # ignore pattern of the ground truths; all-ignored matches exactly
                    # like none-ignored (same order, the break rule never fires)
                    slot = -1
                    if ng <= 64:
                        mask = np.uint64(0)
                        for gi in range(ng):
                            ar = g_area[gs + gi]
                            if g_crowd[gs + gi] or ar < lo_a or ar > hi_a:
                                mask |= np.uint64(1) << np.uint64(gi)
                        if ng == 64:
                            full = _ALL
                        else:
                            full = (np.uint64(1) << np.uint64(ng)) - np.uint64(1)
                        if mask == full:
                            mask = np.uint64(0)
                        for p in range(n_slot):
                            if slot_mask[p] == mask:
                                slot = p
                                break
                        if slot < 0:
                            slot_mask[n_slot] = mask
                    if slot < 0:
                        slot = n_slot
                        n_slot += 1
                        _order_gts(gs, ng, g_area, g_crowd, lo_a, hi_a, gidx, gig)
                        for oi in range(ng):
                            slot_gi[slot, oi] = gidx[oi]
                        for t in range(T):
                            thr = iou_thr[t]
                            for oi in range(ng):
                                gtaken[oi] = 0
                            for q in range(n_dyn):
                                m = -1
                                if max_iou[q] >= thr:
                                    m = _match_one(dl_di[q], ng, thr, iou_buf, gidx, gig, gtaken, gs, g_crowd)
                                    if m > -1 and d_idok[dl_d[q]]:
                                        gtaken[m] = 1
                                mbuf[slot, t, q] = m
                    # status of every dynamic detection for this area range
                    for t in range(T):
                        base = (a * T + t) * Ld
                        for q in range(n_dyn):
                            m = mbuf[slot, t, q]
                            st = ST_FP
                            if m > -1:
                                gm = gs + slot_gi[slot, m]
                                ar = g_area[gm]
                                if g_crowd[gm] or ar < lo_a or ar > hi_a:
                                    st = ST_IGN
                                elif g_idok[gm] != 0:
                                    st = ST_TP
                            if st == ST_FP:
                                ar = d_area[dl_d[q]]
                                if ar < lo_a or ar > hi_a:
                                    st = ST_IGN
                            dstatus[base + dl_k[q]] = st
        # ---- accumulate
        for a in range(A):
            npa = npig[a]
            if npa == 0:
                continue
            fnp = float(npa)
            lo_a = area_rng[a, 0]
            hi_a = area_rng[a, 1]
            # false positives among static detections, prefix per level, at each dynamic one
            for m in range(M):
                fpl[m] = 0
            for j in range(L):
                k = dyn_pos[j]
                if k >= 0:
                    c = 0
                    for m in range(M):
                        c += fpl[m]
                        sfp[k, m] = c
                else:
                    ar = d_area[corder[lo + j]]
                    if not (ar < lo_a or ar > hi_a):
                        fpl[mlev[j]] += 1
            for t in range(T):
                base = (a * T + t) * Ld
                for m in range(M):
                    tpl[m] = 0
                    fpl[m] = 0
                for k in range(Ld):
                    st = dstatus[base + k]
                    if st == ST_FP:
                        fpl[mlev[dyn_j[k]]] += 1
                    elif st == ST_TP:
                        j = dyn_j[k]
                        ml = mlev[j]
                        tpl[ml] += 1
                        tpc = 0
                        fpc = 0
                        sc = d_score[corder[lo + j]]
                        for m in range(M):
                            tpc += tpl[m]
                            fpc += fpl[m]
                            if m >= ml:
                                prbuf[m, tpc - 1] = tpc / (float(fpc + sfp[k, m] + tpc) + EPS)
                                scbuf[m, tpc - 1] = sc
                ntp = 0
                for m in range(M):
                    ntp += tpl[m]
                    if ndm[m] > 0:
                        recall[s, a, t, m] = ntp / fnp
                    else:
                        recall[s, a, t, m] = 0.0
                    for c in range(ntp - 2, -1, -1):
                        if prbuf[m, c + 1] > prbuf[m, c]:
                            prbuf[m, c] = prbuf[m, c + 1]
                    broke = False
                    c = 1
                    for ri in range(R):
                        q = 0.0
                        ss = 0.0
                        if not broke:
                            v = rec_thr[ri]
                            if v <= 0.0:
                                if ndm[m] == 0:
                                    broke = True
                                else:
                                    if ntp > 0:
                                        q = prbuf[m, 0]
                                    ss = first_score[m]
                            else:
                                if rec_sorted:
                                    while c <= ntp and c / fnp < v:
                                        c += 1
                                    cc = c
                                else:
                                    lo_c = 1
                                    hi_c = ntp + 1
                                    while lo_c < hi_c:
                                        mid = (lo_c + hi_c) >> 1
                                        if mid / fnp < v:
                                            lo_c = mid + 1
                                        else:
                                            hi_c = mid
                                    cc = lo_c
                                if cc > ntp:
                                    broke = True
                                else:
                                    q = prbuf[m, cc - 1]
                                    ss = scbuf[m, cc - 1]
                        precision[s, a, t, m, ri] = q
                        scores[s, a, t, m, ri] = ss


@jit
def coco_match_all(
    n_img,
    g_off,
    g_box,
    g_area,
    g_crowd,
    g_idok,
    d_off,
    d_box,
    d_area,
    d_score,
    d_idok,
    d_img,
    gorder,
    seg_off,
    iou_thr,
    area_rng,
    max_last,
    gsorted,
    d_count,
    cnt,
    iou_buf,
    gidx,
    gig,
    gtaken,
    dt_match,
    dt_ign,
    gt_match,
    gt_order,
    gt_ign,
):
    """Per-detection and per-ground-truth matches, for pycocotools' ``evalImgs``.

    Same rules as :func:`coco_eval_core` but keeps the matches: for every area
    range ``a`` and threshold ``t``, ``dt_match[a, t, p]`` is the base index of the
    ground truth matched by the detection at sorted slot ``p`` of its group
    (``d_off[g] + rank``; -1 if none), ``dt_ign`` its final ignore flag,
    ``gt_match[a, t, q]`` the base index of the detection matched by the
    ground truth at ordered slot ``q`` of its group, ``gt_order[a, q]`` the base
    index of that ground truth and ``gt_ign[a, q]`` its ignore flag.
    ``gsorted`` receives the detections of every group by decreasing score and
    ``d_count[g]`` how many were kept (at most ``max_last``).
    """
    n_seg = seg_off.shape[0] - 1
    T = iou_thr.shape[0]
    A = area_rng.shape[0]
    for s in range(n_seg):
        lo = seg_off[s]
        hi = seg_off[s + 1]
        for j in range(lo, hi):
            d = gorder[j]
            i = d_img[d]
            r = cnt[i]
            cnt[i] = r + 1
            if r < max_last:
                gsorted[d_off[s * n_img + i] + r] = d
        for j in range(lo, hi):
            cnt[d_img[gorder[j]]] = 0
        for i in range(n_img):
            g = s * n_img + i
            gs = g_off[g]
            ng = g_off[g + 1] - gs
            ds = d_off[g]
            nd = min(d_off[g + 1] - ds, max_last)
            d_count[g] = nd
            if ng == 0 and nd == 0:
                continue
            if ng > 0 and nd > 0:
                _group_ious(ds, nd, gs, ng, gsorted, d_box, g_box, g_crowd, iou_buf)
            for a in range(A):
                lo_a = area_rng[a, 0]
                hi_a = area_rng[a, 1]
                _order_gts(gs, ng, g_area, g_crowd, lo_a, hi_a, gidx, gig)
                for oi in range(ng):
                    gt_order[a, gs + oi] = gs + gidx[oi]
                    gt_ign[a, gs + oi] = gig[oi]
                for t in range(T):
                    thr = iou_thr[t]
                    for oi in range(ng):
                        gtaken[oi] = 0
                        gt_match[a, t, gs + oi] = -1
                    for di in range(nd):
                        d = gsorted[ds + di]
                        m = -1
                        if ng > 0:
                            m = _match_one(di, ng, thr, iou_buf, gidx, gig, gtaken, gs, g_crowd)
                        ign = False
                        eff = False
                        if m > -1:
                            ign = gig[m] == 1
                            eff = g_idok[gs + gidx[m]] != 0
                            if d_idok[d]:
                                gtaken[m] = 1
                            gt_match[a, t, gs + m] = d
                            dt_match[a, t, ds + di] = gs + gidx[m]
                        else:
                            dt_match[a, t, ds + di] = -1
                        if not eff:
                            ar = d_area[d]
                            if ar < lo_a or ar > hi_a:
                                ign = True
                        dt_ign[a, t, ds + di] = ign
