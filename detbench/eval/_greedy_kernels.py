"""pycocotools' matching rule as Numba primitives, and every individual match for ``evalImgs``.

The IoU arithmetic (maskApi's ``bbIou``), the ground-truth order (not ignored
first) and the greedy rule are shared by the segment matching of
:mod:`detbench.eval._match_kernels`, by :func:`coco_match_all` and by the
COCO rule of :mod:`detbench.eval._voc_kernels`.
"""

from __future__ import annotations

import numpy as np

from detbench._jit import jit

#: status codes of a detection at one (area range, IoU threshold)
ST_FP = 0
ST_TP = 1
ST_IGN = 2

_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


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
    if crowd == 1:
        u = da
    else:
        u = da + ga - inter
    return inter / u


@jit(inline="always")
def _group_ious(ds, nd, gs, ng, gsorted, d_box, g_box, g_crowd, d_iou, d_iou_off, iou_buf):
    # iou_buf[di * ng + gi]: IoU of the di-th ranked detection with ground truth gs + gi;
    # from the boxes (bbIou), or copied from precomputed rows (d_iou_off not empty:
    # detection d's IoUs with its group's ground truths are d_iou[d_iou_off[d]:][:ng],
    # e.g. mask IoUs for segm)
    if d_iou_off.shape[0] > 0:
        for di in range(nd):
            d = gsorted[ds + di]
            o = d_iou_off[d]
            row = di * ng
            for gi in range(ng):
                iou_buf[row + gi] = d_iou[o + gi]
        return
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
def _gt_ignored(g, g_area, g_crowd, lo_a, hi_a):
    ar = g_area[g]
    return g_crowd[g] != 0 or ar < lo_a or ar > hi_a


@jit(inline="always")
def _order_gts(gs, ng, g_area, g_crowd, lo_a, hi_a, gidx, gig):
    # ground truths of the group, not-ignored first (stable), as pycocotools'
    # argsort(_ignore, kind="mergesort"); returns the number not ignored
    nv = 0
    for gi in range(ng):
        if not _gt_ignored(gs + gi, g_area, g_crowd, lo_a, hi_a):
            gidx[nv] = gi
            gig[nv] = 0
            nv += 1
    q = nv
    for gi in range(ng):
        if _gt_ignored(gs + gi, g_area, g_crowd, lo_a, hi_a):
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
        if gtaken[oi] and g_crowd[gs + gi] != 1:
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
def coco_match_all(gr, iou_thr, area_rng, max_last, out, cnt, iou_buf, gidx, gig, gtaken):
    """Per-detection and per-ground-truth matches, for pycocotools' ``evalImgs``.

    Same rules as :func:`detbench.eval._match_kernels.match_segment` but keeps the matches in ``out`` (a
    :class:`~detbench.eval.matching.AllMatches`): for every area range ``a``
    and threshold ``t``, ``dt_match[a, t, p]`` is the base index of the ground
    truth matched by the detection at sorted slot ``p`` of its group
    (``d_off[g] + rank``; -1 if none), ``dt_ign`` its final ignore flag,
    ``gt_match[a, t, q]`` the base index of the detection matched by the
    ground truth at ordered slot ``q`` of its group, ``gt_order[a, q]`` the base
    index of that ground truth and ``gt_ign[a, q]`` its ignore flag.
    ``gsorted`` receives the detections of every group by decreasing score and
    ``d_count[g]`` how many were kept (at most ``max_last``). ``cnt``
    (``n_img``, zeroed) and the other trailing arrays are scratch.
    """
    d_area = gr.d_area
    d_box = gr.d_box
    d_idok = gr.d_idok
    d_img = gr.d_img
    d_nexh = gr.d_nexh
    d_off = gr.d_off
    g_area = gr.g_area
    g_box = gr.g_box
    g_crowd = gr.g_crowd
    g_idok = gr.g_idok
    g_off = gr.g_off
    gorder = gr.gorder
    n_img = gr.n_img
    seg_off = gr.seg_off
    d_count = out.d_count
    dt_ign = out.dt_ign
    dt_match = out.dt_match
    gsorted = out.gsorted
    gt_ign = out.gt_ign
    gt_match = out.gt_match
    gt_order = out.gt_order
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
                _group_ious(ds, nd, gs, ng, gsorted, d_box, g_box, g_crowd, gr.d_iou, gr.d_iou_off, iou_buf)
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
                            if ar < lo_a or ar > hi_a or (d_nexh.shape[0] > 0 and d_nexh[d] != 0):
                                ign = True
                        dt_ign[a, t, ds + di] = ign
