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

from detbench._compat import trailing_zeros
from detbench._jit import jit
from detbench._sort import desc_keys64

#: status codes of a detection at one (area range, IoU threshold)
ST_FP = 0
ST_TP = 1
ST_IGN = 2

#: ``np.spacing(1)``: pycocotools adds it to the precision denominator
EPS = float(np.spacing(1))

_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_RADIX_BITS = 11
_RADIX = 1 << _RADIX_BITS
_RADIX_MASK = np.uint64(_RADIX - 1)
_RADIX_PASSES = 6  # 6 * 11 >= 64


@jit
def group_keys(ip, cp, n_img, n_cat, use_cats, offsets, cursor, dest):
    """Stable counting sort of annotations by evaluation group.

    ``ip``/``cp`` are image/category positions (-1: not evaluated). The key is
    ``cp * n_img + ip`` with ``use_cats`` (groups = (category, image)), else
    ``ip * n_cat + cp`` (groups = images, categories in ``catIds`` order inside).
    ``offsets`` (``n_img * n_cat + 1``, zeroed) receives the start of every key
    and ``dest`` the output slot of every input (-1: not evaluated); ``cursor``
    is scratch. Returns the number of annotations kept. O(N + n_img * n_cat).
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
        o = -1
        if a >= 0 and b >= 0:
            k = b * n_img + a if use_cats else a * n_cat + b
            o = cursor[k]
            cursor[k] = o + 1
        dest[i] = o
    return offsets[n_keys]


@jit
def scatter_rows(dest, src, box, area, score, ip, flag, box_out, area_out, score_out, ip_out, flag_out, src_out):
    """Put the per-annotation arrays in group order, in one pass.

    Entry ``i`` with ``o = dest[i] >= 0`` writes row ``src[i]`` of
    ``box``/``area``/``score``/``flag`` (``score``/``flag`` may be empty) and
    ``ip[i]`` to output slot ``o``. Reading in input order and writing to one
    sequential stream per group run (a scatter) is cache-friendly where the
    equivalent gather jumps across the whole input for every row.
    """
    has_score = score.shape[0] > 0
    has_flag = flag.shape[0] > 0
    for i in range(dest.shape[0]):
        o = dest[i]
        if o < 0:
            continue
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


def score_order(score, seg_off):
    """Indices ordering float64 ``score`` by decreasing value inside every segment (stable).

    ``seg_off`` (``n_seg + 1``) delimits the segments; see :func:`segmented_desc_order`.
    """
    n = score.size
    order = np.empty(n, np.int64)
    if n:
        keys = np.empty(n, np.uint64)
        desc_keys64(score, keys)
        segmented_desc_order(
            keys,
            seg_off,
            order,
            np.empty(n, np.int64),
            np.empty(n, np.uint64),
            np.empty((_RADIX_PASSES, _RADIX), np.int64),
        )
    return order


@jit
def segmented_desc_order(keys, seg_off, order, order_tmp, keys_tmp, hist):
    """Stable descending sort of the scores inside every segment.

    ``keys`` are the scores' descending keys (:func:`detbench._sort.desc_keys64`),
    sorted in place; ``seg_off`` (``n_seg + 1``) delimits the segments. On return
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
def _best_iou(iou_buf, row, ng):
    # a detection's best IoU for the "can it match at all" filters. A NaN IoU
    # (0/0 when both areas underflow, e.g. boxes scaled by 1e-300; inf/inf when
    # they overflow) counts as +inf: pycocotools' ``if iou < best: continue``
    # never skips a NaN, so such a pair matches at every threshold
    best = -np.inf
    for gi in range(ng):
        v = iou_buf[row + gi]
        if v != v:
            return np.inf
        if v > best:
            best = v
    return best


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


@jit(inline="always")
def _single_gt_bits(
    gs, n_dyn, dl_d, dl_k, lpos, lo, p_best, iou_thr, area_rng, g_area, g_crowd, g_idok, d_area, d_idok, mq, tpbits,
    fpbits,
):  # fmt: skip
    """TP/FP bits of the dynamic detections of a group with one ground truth (the common case, T <= 64).

    The greedy rule reduces to: at each threshold the first detection (in
    score order) reaching it takes the ground truth, and a crowd region takes
    all of them. Its ignore pattern is all-or-nothing, so one matching serves
    every area range; ``mq[q]`` holds the thresholds where detection ``q`` matched.
    """
    T = iou_thr.shape[0]
    A = area_rng.shape[0]
    one = np.uint64(1)
    zero = np.uint64(0)
    crowd1 = g_crowd[gs] != 0
    for q in range(n_dyn):
        mq[q] = zero
    for t in range(T):
        thr = iou_thr[t]
        bit = one << np.uint64(t)
        taken = False
        for q in range(n_dyn):
            if p_best[lpos[dl_d[q] - lo]] >= thr and (crowd1 or not taken):
                mq[q] |= bit
                if d_idok[dl_d[q]]:
                    taken = True
    full = _ALL if T == 64 else (one << np.uint64(T)) - one
    ar_g = g_area[gs]
    for a in range(A):
        lo_a = area_rng[a, 0]
        hi_a = area_rng[a, 1]
        code = ST_FP
        if crowd1 or ar_g < lo_a or ar_g > hi_a:
            code = ST_IGN
        elif g_idok[gs] != 0:
            code = ST_TP
        for q in range(n_dyn):
            m = mq[q]
            ar = d_area[dl_d[q]]
            tw = m if code == ST_TP else zero
            fw = zero
            if not (ar < lo_a or ar > hi_a):
                fw = full & ~m  # unmatched: FP inside the range
                if code == ST_FP:
                    fw |= m  # matched a ground truth whose id does not count
            kb = dl_k[q] * A + a
            tpbits[kb] = tw
            fpbits[kb] = fw


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
    segs,
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
    p_area,
    p_score,
    tpbits,
    fpbits,
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
    p_best,
    mq,
):
    """pycocotools' ``evaluateImg`` + ``accumulate`` for every listed segment, fused.

    For each segment (category) in ``segs``: rank the detections of every
    (category, image) group by score (from the segment's global order
    ``gorder``) and keep the top ``max_dets[-1]`` per group. A detection whose
    best IoU in its group is below the lowest threshold can never match: it is
    *static*, a false positive or ignored (by its own area) whatever the
    threshold. Only the other, *dynamic*, detections go through pycocotools'
    greedy matching, once per IoU threshold and per distinct ground-truth ignore
    pattern of the area ranges (all-ignored matches exactly like none-ignored),
    and leave two bit masks per (detection, area range): thresholds where it is
    a TP and where it is a FP (neither = ignored).

    Accumulation walks the detections in global score order once per area
    range: static ones add to per-``maxDets``-level FP counts shared by all
    thresholds, dynamic ones add their FP bits (branch-free) and, for each TP
    bit, record precision tp/(tp+fp+spacing(1)) and the score, per level. Only
    those TP points are needed: pycocotools' precision envelope is reached at
    true positives and the first index with recall >= r is a true positive (or
    index 0, for r <= 0). The envelope and the sampling at ``rec_thr`` then use
    the recorded points, with pycocotools' stop at the first threshold past the
    last recall.

    ``g_idok``/``d_idok`` implement the annotation-id rules: a match counts as a
    TP only when ``g_idok`` of its ground truth is set, and a detection marks its
    ground truth as taken only when ``d_idok`` is set (all ones in detbench's
    default mode; ``id != 0`` and ``id > 0`` to reproduce pycocotools).

    Writes ``precision``/``scores`` as ``(K, A, T, M, R)`` and ``recall`` as
    ``(K, A, T, M)`` buffers prefilled with -1 (pycocotools' ``(T, R, K, A, M)``
    / ``(T, K, A, M)`` are transposed views; the kernel writes contiguously).
    Disjoint ``segs`` lists can run in parallel threads (GIL released), each
    with its own scratch. Cost O(sum over groups of D_g*G_g*T*P) to match (P
    distinct ignore patterns, usually 1-2), O(A*(D + T*D_dynamic)) to
    accumulate, O(K*A*T*M*R) to sample.
    """
    T = iou_thr.shape[0]
    A = area_rng.shape[0]
    M = max_dets.shape[0]
    R = rec_thr.shape[0]
    W = (T + 63) // 64
    max_last = max_dets[M - 1]
    thr_min = iou_thr[0]
    for t in range(T):
        thr_min = min(thr_min, iou_thr[t])
    one = np.uint64(1)
    zero = np.uint64(0)
    tpl = np.zeros((M, T), np.int64)
    fpl = np.zeros((M, T), np.int64)
    sfpl = np.zeros(M, np.int64)
    ndl = np.zeros(M, np.int64)
    ndm = np.zeros(M, np.int64)
    first_pos = np.zeros(M, np.int64)
    first_score = np.zeros(M, np.float64)
    npig = np.zeros(A, np.int64)
    gcode = np.zeros(gig.shape[0], np.int8)
    for si in range(segs.shape[0]):
        s = segs[si]
        lo = seg_off[s]
        hi = seg_off[s + 1]
        # ---- rank within groups, keep the top max_last per group, in global
        # score order (cnt holds stamp + rank; stamps grow per segment, so no reset)
        for m in range(M):
            ndl[m] = 0
            first_pos[m] = -1
        L = 0
        stamp = (si + 1) * (max_last + 1)
        for j in range(lo, hi):
            d = gorder[j]
            i = d_img[d]
            c = cnt[i]
            r = c - stamp if c >= stamp else 0
            if r < max_last:
                cnt[i] = stamp + r + 1  # stays below the next segment's stamp
                gsorted[d_off[s * n_img + i] + r - lo] = d
                corder[L] = d
                ml = 0
                while r >= max_dets[ml]:
                    ml += 1
                mlev[L] = ml
                ndl[ml] += 1
                if first_pos[ml] < 0:
                    first_pos[ml] = L
                lpos[d - lo] = L
                dyn_pos[L] = -1
                p_area[L] = d_area[d]
                p_score[L] = d_score[d]
                L += 1
        c = 0
        fp_ = -1
        for m in range(M):
            c += ndl[m]
            ndm[m] = c
            if first_pos[m] >= 0 and (fp_ < 0 or first_pos[m] < fp_):
                fp_ = first_pos[m]
            if fp_ >= 0:
                first_score[m] = p_score[fp_]
        # ---- positives per area range, and which detections can match at all
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
            ds = d_off[g] - lo
            nd = min(d_off[g + 1] - d_off[g], max_last)
            if nd == 0:
                continue
            _group_ious(ds, nd, gs, ng, gsorted, d_box, g_box, g_crowd, iou_buf)
            for di in range(nd):
                best = _best_iou(iou_buf, di * ng, ng)
                if best >= thr_min:
                    pos = lpos[gsorted[ds + di] - lo]
                    dyn_pos[pos] = 0
                    p_best[pos] = best
        Ld = 0
        for j in range(L):
            if dyn_pos[j] >= 0:
                dyn_pos[j] = Ld
                Ld += 1
        # ---- greedy matching of the dynamic detections
        if Ld > 0:
            for i in range(n_img):
                g = s * n_img + i
                gs = g_off[g]
                ng = g_off[g + 1] - gs
                if ng == 0:
                    continue
                ds = d_off[g] - lo
                nd = min(d_off[g + 1] - d_off[g], max_last)
                n_dyn = 0
                for di in range(nd):
                    d = gsorted[ds + di]
                    k = dyn_pos[lpos[d - lo]]
                    if k >= 0:
                        dl_di[n_dyn] = di
                        dl_d[n_dyn] = d
                        dl_k[n_dyn] = k
                        n_dyn += 1
                if n_dyn == 0:
                    continue
                if ng == 1 and W == 1:
                    _single_gt_bits(
                        gs, n_dyn, dl_d, dl_k, lpos, lo, p_best, iou_thr, area_rng, g_area, g_crowd, g_idok,
                        d_area, d_idok, mq, tpbits, fpbits,
                    )  # fmt: skip
                    continue
                _group_ious(ds, nd, gs, ng, gsorted, d_box, g_box, g_crowd, iou_buf)
                for q in range(n_dyn):
                    max_iou[q] = _best_iou(iou_buf, dl_di[q] * ng, ng)
                n_slot = 0
                for a in range(A):
                    lo_a = area_rng[a, 0]
                    hi_a = area_rng[a, 1]
                    # ignore pattern of the ground truths; all-ignored matches exactly
                    # like none-ignored (same order, the break rule never fires)
                    slot = -1
                    if ng <= 64:
                        mask = zero
                        for gi in range(ng):
                            ar = g_area[gs + gi]
                            if g_crowd[gs + gi] or ar < lo_a or ar > hi_a:
                                mask |= one << np.uint64(gi)
                        if ng == 64:
                            full = _ALL
                        else:
                            full = (one << np.uint64(ng)) - one
                        if mask == full:
                            mask = zero
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
                                mbuf[slot, q, t] = m
                    # TP/FP bits of every dynamic detection for this area range: the
                    # matched ground truth decides (ignored -> neither, else TP when
                    # its id counts); unmatched ones are FP unless outside the range
                    for oi in range(ng):
                        gm = gs + slot_gi[slot, oi]
                        ar = g_area[gm]
                        if g_crowd[gm] or ar < lo_a or ar > hi_a:
                            gcode[oi] = ST_IGN
                        elif g_idok[gm] != 0:
                            gcode[oi] = ST_TP
                        else:
                            gcode[oi] = ST_FP
                    for q in range(n_dyn):
                        ar = d_area[dl_d[q]]
                        d_in = not (ar < lo_a or ar > hi_a)
                        kb = (dl_k[q] * A + a) * W
                        for w in range(W):
                            t0 = w * 64
                            t1 = min(T, t0 + 64)
                            tw = zero
                            fw = zero
                            for t in range(t0, t1):
                                m = mbuf[slot, q, t]
                                cd = ST_FP
                                if m > -1:
                                    cd = gcode[m]
                                if cd == ST_TP:
                                    tw |= one << np.uint64(t - t0)
                                elif cd == ST_FP and d_in:
                                    fw |= one << np.uint64(t - t0)
                            tpbits[kb + w] = tw
                            fpbits[kb + w] = fw
        # ---- accumulate: one walk per area range in global score order
        for a in range(A):
            npa = npig[a]
            if npa == 0:
                continue
            fnp = float(npa)
            lo_a = area_rng[a, 0]
            hi_a = area_rng[a, 1]
            for m in range(M):
                sfpl[m] = 0
                for t in range(T):
                    tpl[m, t] = 0
                    fpl[m, t] = 0
            for j in range(L):
                k = dyn_pos[j]
                ml = mlev[j]
                if k < 0:
                    ar = p_area[j]
                    if not (ar < lo_a or ar > hi_a):
                        sfpl[ml] += 1
                    continue
                kb = (k * A + a) * W
                for w in range(W):
                    t0 = w * 64
                    fw = fpbits[kb + w]
                    if fw != zero:
                        nb = min(64, T - t0)
                        for bb in range(nb):
                            fpl[ml, t0 + bb] += np.int64((fw >> np.uint64(bb)) & one)
                    tw = tpbits[kb + w]
                    while tw != zero:
                        t = t0 + np.int64(trailing_zeros(tw))
                        tw &= tw - one
                        tpl[ml, t] += 1
                        tpc = 0
                        fpc = 0
                        sc = p_score[j]
                        for m in range(M):
                            tpc += tpl[m, t]
                            fpc += fpl[m, t] + sfpl[m]
                            if m >= ml:
                                prbuf[t, m, tpc - 1] = tpc / (float(fpc + tpc) + EPS)
                                scbuf[t, m, tpc - 1] = sc
            for t in range(T):
                ntp = 0
                for m in range(M):
                    ntp += tpl[m, t]
                    if ndm[m] > 0:
                        recall[s, a, t, m] = ntp / fnp
                    else:
                        recall[s, a, t, m] = 0.0
                    for c in range(ntp - 2, -1, -1):
                        if prbuf[t, m, c + 1] > prbuf[t, m, c]:
                            prbuf[t, m, c] = prbuf[t, m, c + 1]
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
                                        q = prbuf[t, m, 0]
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
                                    q = prbuf[t, m, cc - 1]
                                    ss = scbuf[t, m, cc - 1]
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


# ------------------------------------------------------------------ VOC / PR


@jit(inline="always")
def _iou_xyxy(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, plus_one, crowd):
    # VOC devkit IoU (optionally with the +1 pixel convention); a crowd region
    # uses the detection's area as the union, like COCO
    p = 1.0 if plus_one else 0.0
    iw = min(ax2, bx2) - max(ax1, bx1) + p
    if iw <= 0.0:
        return -1.0
    ih = min(ay2, by2) - max(ay1, by1) + p
    if ih <= 0.0:
        return -1.0
    inter = iw * ih
    da = (ax2 - ax1 + p) * (ay2 - ay1 + p)
    if crowd:
        return inter / da
    return inter / (da + (bx2 - bx1 + p) * (by2 - by1 + p) - inter)


@jit
def pr_match(
    order,
    d_box,
    d_wh,
    d_img,
    d_cls,
    g_off,
    g_box,
    g_wh,
    g_ign,
    g_crowd,
    n_img,
    iou_thr,
    coco_rule,
    plus_one,
    status,
    used,
    gidx,
    iou_buf,
):
    """One matching pass for every IoU threshold; ``status[t, j]`` of the j-th detection of ``order``.

    ``order`` lists the detections by class, then decreasing score. Ground
    truths are grouped by ``(class, image)`` with offsets ``g_off`` (key
    ``class * n_img + image``). Boxes come as xyxy (``d_box``/``g_box``, the VOC
    rule's arithmetic) and as xywh (``d_wh``/``g_wh``, pycocotools' arithmetic
    for the COCO rule, so IoUs are the same doubles as pycocotools').

    VOC rule (``coco_rule`` false, the devkit's): the detection takes the
    ground truth of highest IoU (the first on ties, used or not, difficult or
    not); if that IoU >= t it is ignored when the ground truth is difficult
    (``g_ign``), a TP if the ground truth is unused (which it marks), else a FP;
    below t it is a FP.

    COCO rule: pycocotools' greedy match (not-ignored ground truths first,
    skip used non-crowd ones, keep the last best with IoU >= min(t, 1-1e-10),
    stop at ignored ones once a regular one is held); a match with an ignored
    ground truth ignores the detection, crowd regions can be matched repeatedly.

    Status codes: 0 FP, 1 TP, 2 ignored. ``used`` (T, G) and the small
    ``gidx``/``iou_buf`` are scratch. O(sum of D*G per (class, image) * T).
    """
    T = iou_thr.shape[0]
    n = order.shape[0]
    used[:, :] = 0
    for j in range(n):
        d = order[j]
        g = d_cls[d] * n_img + d_img[d]
        gs = g_off[g]
        ng = g_off[g + 1] - gs
        ax1 = d_box[d, 0]
        ay1 = d_box[d, 1]
        ax2 = d_box[d, 2]
        ay2 = d_box[d, 3]
        if not coco_rule:
            best = -np.inf
            jmax = -1
            for gi in range(ng):
                q = gs + gi
                v = _iou_xyxy(ax1, ay1, ax2, ay2, g_box[q, 0], g_box[q, 1], g_box[q, 2], g_box[q, 3], plus_one, False)
                if v > best and v >= 0.0:
                    best = v
                    jmax = q
            for t in range(T):
                st = ST_FP
                if jmax >= 0 and best >= iou_thr[t]:
                    if g_ign[jmax]:
                        st = ST_IGN
                    elif used[t, jmax] == 0:
                        used[t, jmax] = 1
                        st = ST_TP
                status[t, j] = st
            continue
        # COCO rule: not-ignored ground truths first (stable)
        q = 0
        for gi in range(ng):
            if g_ign[gs + gi] == 0:
                gidx[q] = gs + gi
                q += 1
        nv = q
        for gi in range(ng):
            if g_ign[gs + gi] != 0:
                gidx[q] = gs + gi
                q += 1
        for oi in range(ng):
            r = gidx[oi]
            if plus_one:
                v = _iou_xyxy(ax1, ay1, ax2, ay2, g_box[r, 0], g_box[r, 1], g_box[r, 2], g_box[r, 3], True, g_crowd[r])
                iou_buf[oi] = max(v, 0.0)
            else:
                iou_buf[oi] = _bbox_iou(
                    d_wh[d, 0],
                    d_wh[d, 1],
                    d_wh[d, 2],
                    d_wh[d, 3],
                    g_wh[r, 0],
                    g_wh[r, 1],
                    g_wh[r, 2],
                    g_wh[r, 3],
                    g_crowd[r],
                )
        for t in range(T):
            thr = min(iou_thr[t], 1.0 - 1e-10)
            best = thr
            m = -1
            for oi in range(ng):
                r = gidx[oi]
                if used[t, r] and not g_crowd[r]:
                    continue
                if m > -1 and m < nv and oi >= nv:
                    break
                v = iou_buf[oi]
                if v < best:
                    continue
                best = v
                m = oi
            st = ST_FP
            if m > -1:
                used[t, gidx[m]] = 1
                st = ST_IGN if m >= nv else ST_TP
            status[t, j] = st


@jit
def pr_accumulate(
    status, scores_sorted, cls_off, n_pos, rec101, ap_coco, ap_voc07, ap_voc, f1_best, f1_thr, f1_p, f1_r
):
    """COCO-101, VOC07 11-point and VOC2010+ all-point AP from one status sequence per (class, threshold).

    ``status`` (T, N) follows ``scores_sorted`` (class by class, decreasing
    score, ``cls_off`` offsets); ignored detections are skipped. With tp/fp
    the cumulative counts and P the number of positives of the class:

    * COCO-101 (pycocotools): precision tp/(tp+fp+spacing(1)), its upper
      envelope, sampled at the first detection with recall >= r for the 101
      ``rec101`` points, mean with 0 past the last recall.
    * VOC07: mean over r in {0, .1, ..., 1} of max precision tp/(tp+fp) at
      recall >= r (0 if none).
    * VOC2010+: area under the envelope of (recall, precision) with sentinels
      (0, 0) and (1, 0), summed where recall changes.
    * best F1 = 2PR/(P+R) over score cut-offs that do not split tied scores;
      ``f1_thr`` is the lowest score kept at that cut-off.

    NaN where P = 0. Outputs are (K, T). O(N * T + K * T * 101).
    """
    T = status.shape[0]
    K = cls_off.shape[0] - 1
    eps = EPS
    n_max = 0
    for k in range(K):
        n_max = max(n_max, cls_off[k + 1] - cls_off[k])
    pr_c = np.empty(n_max + 1, np.float64)
    rc_c = np.empty(n_max + 1, np.float64)
    pr_v = np.empty(n_max + 2, np.float64)
    rc_v = np.empty(n_max + 2, np.float64)
    for k in range(K):
        lo = cls_off[k]
        hi = cls_off[k + 1]
        npos = n_pos[k]
        for t in range(T):
            if npos == 0:
                ap_coco[k, t] = np.nan
                ap_voc07[k, t] = np.nan
                ap_voc[k, t] = np.nan
                f1_best[k, t] = np.nan
                f1_thr[k, t] = np.nan
                f1_p[k, t] = np.nan
                f1_r[k, t] = np.nan
                continue
            tp = 0
            fp = 0
            n = 0
            bf1 = -1.0
            bthr = np.nan
            bp = 0.0
            brc = 0.0
            for j in range(lo, hi):
                st = status[t, j]
                if st == ST_IGN:
                    continue
                if st == ST_TP:
                    tp += 1
                else:
                    fp += 1
                pr_c[n] = tp / (float(fp + tp) + eps)
                rc_c[n] = tp / float(npos)
                pr_v[n] = tp / float(tp + fp)
                n += 1
                # F1 at the end of a block of equal scores
                last = True
                for j2 in range(j + 1, hi):
                    if status[t, j2] == ST_IGN:
                        continue
                    last = scores_sorted[j2] != scores_sorted[j]
                    break
                if last:
                    p = tp / float(tp + fp)
                    r = tp / float(npos)
                    f = 2.0 * p * r / (p + r) if p + r > 0 else 0.0
                    if f > bf1:
                        bf1 = f
                        bthr = scores_sorted[j]
                        bp = p
                        brc = r
            f1_best[k, t] = max(bf1, 0.0)
            f1_thr[k, t] = bthr
            f1_p[k, t] = bp
            f1_r[k, t] = brc
            # COCO-101
            for i in range(n - 2, -1, -1):
                if pr_c[i + 1] > pr_c[i]:
                    pr_c[i] = pr_c[i + 1]
            s = 0.0
            pos = 0
            R = rec101.shape[0]
            for ri in range(R):
                v = rec101[ri]
                while pos < n and rc_c[pos] < v:
                    pos += 1
                if pos >= n:
                    break
                s += pr_c[pos]
            ap_coco[k, t] = s / R
            # VOC07 11-point: max precision at recall >= r
            s = 0.0
            for ri in range(11):
                r = ri / 10.0
                best = 0.0
                for i in range(n):
                    if rc_c[i] >= r and pr_v[i] > best:
                        best = pr_v[i]
                s += best / 11.0
            ap_voc07[k, t] = s
            # VOC2010+: area under the monotone envelope
            rc_v[0] = 0.0
            for i in range(n):
                rc_v[i + 1] = rc_c[i]
            rc_v[n + 1] = 1.0
            env = 0.0
            area = 0.0
            # walk from the end: envelope of [0, prec..., 0]
            for i in range(n, -1, -1):
                # precision at point i (sentinel 0 at index 0 and n+1)
                pi1 = pr_v[i] if i < n else 0.0  # precision at mrec index i+1
                env = max(env, pi1)
                if rc_v[i + 1] != rc_v[i]:
                    area += (rc_v[i + 1] - rc_v[i]) * env
            ap_voc[k, t] = area
