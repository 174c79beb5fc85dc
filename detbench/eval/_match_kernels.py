"""Numba kernels of COCO matching: pycocotools' ``evaluateImg`` rule, operation for operation.

Data layout (built by :mod:`detbench.eval.grouping`, described field by field in
:class:`detbench.eval.matching.Groups`): annotations are flat arrays sorted by
evaluation group, group ``g`` being the slice ``off[g]:off[g + 1]``. With
``useCats=1`` a group is one (category, image) pair, ``g = k * n_img + i``; with
``useCats=0`` a group is one image and a *segment* (the detections accumulated
together) is everything. A segment is otherwise one category.

:func:`match_segment` is the one matching pass of a segment: every metric
(each area range, IoU threshold and maxDets level) is accumulated from the
:class:`~detbench.eval.matching.SegmentMatches` record it fills.
:mod:`detbench.eval._greedy_kernels` holds the IoU and greedy-rule primitives and
:func:`~detbench.eval._greedy_kernels.coco_match_all` (every match, for ``evalImgs``).
"""

from __future__ import annotations

import numpy as np

from detbench._jit import jit
from detbench.eval._greedy_kernels import (
    _ALL,
    ST_FP,
    ST_IGN,
    ST_TP,
    _best_iou,
    _group_ious,
    _gt_ignored,
    _match_one,
    _order_gts,
)

# ------------------------------------------------------------ one segment


@jit(inline="always")
def _rank_segment(gr, st, s, lo, hi, stamp, sm, mt):
    """Rank the detections of every group of segment ``s`` and keep the top ``max_dets[-1]``.

    Walks the segment in global score order (``gr.gorder``); ``mt.cnt`` holds
    ``stamp + rank`` per image (stamps grow per segment, so it is never reset).
    Fills, per kept detection in score order, ``sm.mlev``/``p_area``/``p_score``,
    ``sm.dyn_pos = -1`` (-2 where ``gr.d_nexh`` says it is never a FP), ``mt.lpos``
    (position of a detection) and ``mt.gsorted`` (the detections of every group by rank),
    then ``sm.ndm``/``sm.first_score``.
    Returns the number kept.
    """
    d_area = gr.d_area
    d_img = gr.d_img
    d_nexh = gr.d_nexh
    d_off = gr.d_off
    d_score = gr.d_score
    gorder = gr.gorder
    has_nexh = d_nexh.shape[0] > 0
    n_img = gr.n_img
    cnt = mt.cnt
    first_pos = mt.first_pos
    gsorted = mt.gsorted
    lpos = mt.lpos
    ndl = mt.ndl
    dyn_pos = sm.dyn_pos
    first_score = sm.first_score
    mlev = sm.mlev
    ndm = sm.ndm
    p_area = sm.p_area
    p_score = sm.p_score
    max_dets = st.max_dets
    M = max_dets.shape[0]
    max_last = max_dets[M - 1]
    for m in range(M):
        ndl[m] = 0
        first_pos[m] = -1
    L = 0
    for j in range(lo, hi):
        d = gorder[j]
        i = d_img[d]
        c = cnt[i]
        r = c - stamp if c >= stamp else 0
        if r < max_last:
            cnt[i] = stamp + r + 1  # stays below the next segment's stamp
            gsorted[d_off[s * n_img + i] + r - lo] = d
            ml = 0
            while r >= max_dets[ml]:
                ml += 1
            mlev[L] = ml
            ndl[ml] += 1
            if first_pos[ml] < 0:
                first_pos[ml] = L
            lpos[d - lo] = L
            dyn_pos[L] = -2 if has_nexh and d_nexh[d] != 0 else -1  # -2: static and never a FP
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
    return L


@jit(inline="always")
def _find_dynamic(gr, st, s, lo, L, sm, mt):
    """Count positives per area range; mark detections that can match at all (*dynamic*).

    A detection whose best IoU in its group is below the lowest threshold is
    *static*: a false positive or ignored (by its own area) at every threshold.
    Dynamic ones get ``sm.dyn_pos`` (their index among dynamic detections) and
    ``mt.p_best`` (their best IoU). Returns the number of dynamic detections.
    """
    npig = sm.npig
    for a in range(npig.shape[0]):
        npig[a] = 0
    _dynamic_images(gr, st, s, lo, 0, gr.n_img, sm, mt, npig)
    return _number_dynamic(L, sm)


@jit(inline="always")
def _image_group(g_off, n_img, s, i):
    # (group, first ground truth, ground-truth count) of image i in segment s
    g = s * n_img + i
    gs = g_off[g]
    return g, gs, g_off[g + 1] - gs


@jit(inline="always")
def _dynamic_images(gr, st, s, lo, i0, i1, sm, mt, npig):
    # _find_dynamic's work for the images i0..i1 of segment s: positives per area range added to npig,
    # dyn_pos = 0 and p_best at the positions of the detections that can match (disjoint per image)
    d_box = gr.d_box
    d_off = gr.d_off
    g_area = gr.g_area
    g_box = gr.g_box
    g_crowd = gr.g_crowd
    g_off = gr.g_off
    n_img = gr.n_img
    gsorted = mt.gsorted
    iou_buf = mt.iou_buf
    lpos = mt.lpos
    p_best = mt.p_best
    dyn_pos = sm.dyn_pos
    area_rng = st.area_rng
    iou_thr = st.iou_thr
    max_dets = st.max_dets
    A = area_rng.shape[0]
    max_last = max_dets[max_dets.shape[0] - 1]
    thr_min = iou_thr[0]
    for t in range(iou_thr.shape[0]):
        thr_min = min(thr_min, iou_thr[t])
    for i in range(i0, i1):
        g, gs, ng = _image_group(g_off, n_img, s, i)
        if ng == 0:
            continue
        for a in range(A):
            lo_a = area_rng[a, 0]
            hi_a = area_rng[a, 1]
            for gi in range(ng):
                if not _gt_ignored(gs + gi, g_area, g_crowd, lo_a, hi_a):
                    npig[a] += 1
        ds = d_off[g] - lo
        nd = min(d_off[g + 1] - d_off[g], max_last)
        if nd == 0:
            continue
        _group_ious(ds, nd, gs, ng, gsorted, d_box, g_box, g_crowd, gr.d_iou, gr.d_iou_off, iou_buf)
        for di in range(nd):
            best = _best_iou(iou_buf, di * ng, ng)
            if best >= thr_min:
                pos = lpos[gsorted[ds + di] - lo]
                dyn_pos[pos] = 0
                p_best[pos] = best


@jit(inline="always")
def _number_dynamic(L, sm):
    # the dynamic detections (dyn_pos >= 0) numbered in score order; returns how many
    dyn_pos = sm.dyn_pos
    n_dyn = 0
    for j in range(L):
        if dyn_pos[j] >= 0:
            dyn_pos[j] = n_dyn
            n_dyn += 1
    return n_dyn


@jit(inline="always")
def _single_gt_bits(gr, st, gs, n_dyn, lo, sm, mt):
    """TP/FP bits of the dynamic detections of a group with one ground truth (the common case, T <= 64).

    The greedy rule reduces to: at each threshold the first detection (in
    score order) reaching it takes the ground truth, and a crowd region takes
    all of them. Its ignore pattern is all-or-nothing, so one matching serves
    every area range; ``mt.mq[q]`` holds the thresholds where detection ``q`` matched.
    """
    d_area = gr.d_area
    d_idok = gr.d_idok
    d_nexh = gr.d_nexh
    g_area = gr.g_area
    g_crowd = gr.g_crowd
    g_idok = gr.g_idok
    dl_d = mt.dl_d
    dl_k = mt.dl_k
    lpos = mt.lpos
    has_nexh = d_nexh.shape[0] > 0
    mq = mt.mq
    p_best = mt.p_best
    fpbits = sm.fpbits
    tpbits = sm.tpbits
    area_rng = st.area_rng
    iou_thr = st.iou_thr
    T = iou_thr.shape[0]
    A = area_rng.shape[0]
    one = np.uint64(1)
    zero = np.uint64(0)
    crowd1 = g_crowd[gs] == 1
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
    for a in range(A):
        lo_a = area_rng[a, 0]
        hi_a = area_rng[a, 1]
        code = ST_FP
        if _gt_ignored(gs, g_area, g_crowd, lo_a, hi_a):
            code = ST_IGN
        elif g_idok[gs] != 0:
            code = ST_TP
        for q in range(n_dyn):
            m = mq[q]
            ar = d_area[dl_d[q]]
            tw = m if code == ST_TP else zero
            fw = zero
            if not (ar < lo_a or ar > hi_a or (has_nexh and d_nexh[dl_d[q]] != 0)):
                fw = full & ~m  # unmatched: FP inside the range
                if code == ST_FP:
                    fw |= m  # matched a ground truth whose id does not count
            kb = dl_k[q] * A + a
            tpbits[kb] = tw
            fpbits[kb] = fw


@jit(inline="always")
def _ignore_slot(gr, gs, ng, lo_a, hi_a, n_slot, slot_mask):
    """The slot of a matching already done for the same ground-truth ignore pattern, or -1.

    All-ignored matches exactly like none-ignored (same order, the break rule
    never fires), so both map to mask 0. Groups of more than 64 ground truths
    are never shared. A new pattern is written at ``slot_mask[n_slot]``.
    """
    g_area = gr.g_area
    g_crowd = gr.g_crowd
    if ng > 64:
        return -1
    one = np.uint64(1)
    mask = np.uint64(0)
    for gi in range(ng):
        if _gt_ignored(gs + gi, g_area, g_crowd, lo_a, hi_a):
            mask |= one << np.uint64(gi)
    full = _ALL if ng == 64 else (one << np.uint64(ng)) - one
    if mask == full:
        mask = np.uint64(0)
    for p in range(n_slot):
        if slot_mask[p] == mask:
            return p
    slot_mask[n_slot] = mask
    return -1


@jit(inline="always")
def _greedy_slot(gr, st, gs, ng, n_dyn, lo_a, hi_a, slot, mt):
    # pycocotools' greedy matching of the dynamic detections of one group, at
    # every threshold, for one ground-truth ignore pattern: mt.mbuf[slot, q, t]
    # receives the ordered ground-truth slot matched by detection q (-1: none)
    d_idok = gr.d_idok
    g_area = gr.g_area
    g_crowd = gr.g_crowd
    dl_d = mt.dl_d
    dl_di = mt.dl_di
    gidx = mt.gidx
    gig = mt.gig
    gtaken = mt.gtaken
    iou_buf = mt.iou_buf
    max_iou = mt.max_iou
    mbuf = mt.mbuf
    slot_gi = mt.slot_gi
    iou_thr = st.iou_thr
    _order_gts(gs, ng, g_area, g_crowd, lo_a, hi_a, gidx, gig)
    for oi in range(ng):
        slot_gi[slot, oi] = gidx[oi]
    for t in range(iou_thr.shape[0]):
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


@jit(inline="always")
def _slot_bits(gr, st, gs, ng, n_dyn, a, slot, sm, mt):
    # TP/FP bits of every dynamic detection for area range a: the matched ground
    # truth decides (ignored -> neither, else TP when its id counts); unmatched
    # ones are FP unless outside the range
    d_area = gr.d_area
    d_nexh = gr.d_nexh
    g_area = gr.g_area
    g_crowd = gr.g_crowd
    g_idok = gr.g_idok
    dl_d = mt.dl_d
    dl_k = mt.dl_k
    gcode = mt.gcode
    has_nexh = d_nexh.shape[0] > 0
    mbuf = mt.mbuf
    slot_gi = mt.slot_gi
    fpbits = sm.fpbits
    tpbits = sm.tpbits
    area_rng = st.area_rng
    iou_thr = st.iou_thr
    T = iou_thr.shape[0]
    A = area_rng.shape[0]
    W = (T + 63) // 64
    lo_a = area_rng[a, 0]
    hi_a = area_rng[a, 1]
    one = np.uint64(1)
    zero = np.uint64(0)
    for oi in range(ng):
        gm = gs + slot_gi[slot, oi]
        if _gt_ignored(gm, g_area, g_crowd, lo_a, hi_a):
            gcode[oi] = ST_IGN
        elif g_idok[gm] != 0:
            gcode[oi] = ST_TP
        else:
            gcode[oi] = ST_FP
    for q in range(n_dyn):
        ar = d_area[dl_d[q]]
        d_in = not (ar < lo_a or ar > hi_a or (has_nexh and d_nexh[dl_d[q]] != 0))
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


@jit(inline="always")
def _match_group(gr, st, gs, ng, ds, nd, lo, sm, mt):
    """Greedy matching of the dynamic detections of one group with ``ng > 0`` ground truths.

    Matches once per IoU threshold and per distinct ground-truth ignore
    pattern of the area ranges, and leaves two bit masks per (dynamic
    detection, area range) in ``sm``: thresholds where it is a TP and where it
    is a FP (neither = ignored).
    """
    d_box = gr.d_box
    g_box = gr.g_box
    g_crowd = gr.g_crowd
    dl_d = mt.dl_d
    dl_di = mt.dl_di
    dl_k = mt.dl_k
    gsorted = mt.gsorted
    iou_buf = mt.iou_buf
    lpos = mt.lpos
    max_iou = mt.max_iou
    slot_mask = mt.slot_mask
    dyn_pos = sm.dyn_pos
    area_rng = st.area_rng
    iou_thr = st.iou_thr
    T = iou_thr.shape[0]
    A = area_rng.shape[0]
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
        return
    if ng == 1 and T <= 64:
        _single_gt_bits(gr, st, gs, n_dyn, lo, sm, mt)
        return
    _group_ious(ds, nd, gs, ng, gsorted, d_box, g_box, g_crowd, gr.d_iou, gr.d_iou_off, iou_buf)
    for q in range(n_dyn):
        row = dl_di[q] * ng
        max_iou[q] = _best_iou(iou_buf, row, ng)
    n_slot = 0
    for a in range(A):
        lo_a = area_rng[a, 0]
        hi_a = area_rng[a, 1]
        slot = _ignore_slot(gr, gs, ng, lo_a, hi_a, n_slot, slot_mask)
        if slot < 0:
            slot = n_slot
            n_slot += 1
            _greedy_slot(gr, st, gs, ng, n_dyn, lo_a, hi_a, slot, mt)
        _slot_bits(gr, st, gs, ng, n_dyn, a, slot, sm, mt)


@jit
def match_segment(gr, st, s, sm, mt):
    """The one matching pass of segment ``s``: fills ``sm`` (a :class:`SegmentMatches`); returns its length.

    ``gr``: :class:`~detbench.eval.matching.Groups`; ``st``:
    :class:`~detbench.eval.matching.Settings`; ``mt``:
    :class:`~detbench.eval.matching.MatchScratch` (reused across segments,
    one per thread). Ranks the detections of every (category, image) group by
    score and keeps the top ``max_dets[-1]``, settles the static ones, and
    greedily matches the dynamic ones (see :func:`_match_group`). Cost O(sum
    over groups of D_g*G_g*T*P), P the distinct ignore patterns (usually 1-2).
    """
    lo = gr.seg_off[s]
    L = _rank_stamped(gr, st, s, sm, mt)
    n_dyn = _find_dynamic(gr, st, s, lo, L, sm, mt)
    if n_dyn > 0:
        _match_images(gr, st, s, lo, 0, gr.n_img, sm, mt)
    return L


@jit(inline="always")
def _rank_stamped(gr, st, s, sm, mt):
    # _rank_segment with the next stamp of this scratch (stamps grow per segment: mt.cnt is never reset)
    max_dets = st.max_dets
    max_last = max_dets[max_dets.shape[0] - 1]
    mt.tick[0] += 1
    stamp = mt.tick[0] * (max_last + 1)
    return _rank_segment(gr, st, s, gr.seg_off[s], gr.seg_off[s + 1], stamp, sm, mt)


@jit(inline="always")
def _match_images(gr, st, s, lo, i0, i1, sm, mt):
    # _match_group for every image i0..i1 of segment s with ground truths (each writes only the bits of
    # its own dynamic detections)
    d_off = gr.d_off
    g_off = gr.g_off
    n_img = gr.n_img
    max_last = st.max_dets[st.max_dets.shape[0] - 1]
    for i in range(i0, i1):
        g, gs, ng = _image_group(g_off, n_img, s, i)
        if ng == 0:
            continue
        ds = d_off[g] - lo
        nd = min(d_off[g + 1] - d_off[g], max_last)
        _match_group(gr, st, gs, ng, ds, nd, lo, sm, mt)


# ------------------------------------------------ one large segment, split by images
# match_segment in its three phases, so the per-image phases of one segment can run on several threads
# (detbench.eval.accumulate: each thread with its own scratch; lpos, gsorted, p_best and sm shared, every
# image writing only its own detections' slots): rank (serial), dynamic_images (by image ranges) then
# number_dynamic (serial), match_images (by image ranges). Same results as match_segment.


@jit
def rank_segment(gr, st, s, sm, mt):
    """Phase 1 of :func:`match_segment` for segment ``s``: ranks and keeps the top detections; returns L."""
    return _rank_stamped(gr, st, s, sm, mt)


@jit
def dynamic_images(gr, st, s, i0, i1, sm, mt, npig):
    """Phase 2a for the images ``i0..i1`` of segment ``s``: positives added to ``npig`` (int64 (A,), the
    caller's, one per range), detections that can match marked. ``mt``: this thread's scratch."""
    _dynamic_images(gr, st, s, gr.seg_off[s], i0, i1, sm, mt, npig)


@jit
def number_dynamic(L, sm):
    """Phase 2b: the dynamic detections numbered in score order; returns how many."""
    return _number_dynamic(L, sm)


@jit
def match_images(gr, st, s, i0, i1, sm, mt):
    """Phase 3 for the images ``i0..i1`` of segment ``s`` (``mt``: this thread's scratch)."""
    _match_images(gr, st, s, gr.seg_off[s], i0, i1, sm, mt)


@jit
def group_sizes(g_off, d_off, seg_off, max_last):
    """:func:`detbench.eval.matching.sizes_of` in one pass over the group offsets (each at least 1)."""
    max_seg = 1
    for s in range(seg_off.shape[0] - 1):
        max_seg = max(max_seg, seg_off[s + 1] - seg_off[s])
    max_g = 1
    max_nd = 1
    max_iou = 1
    for g in range(g_off.shape[0] - 1):
        ng = g_off[g + 1] - g_off[g]
        nd = min(d_off[g + 1] - d_off[g], max_last)
        max_g = max(max_g, ng)
        max_nd = max(max_nd, nd)
        max_iou = max(max_iou, ng * nd)
    return max_seg, max_g, max_nd, max_iou
