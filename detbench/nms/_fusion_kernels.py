"""Kernels of the fusion functions (:mod:`detbench.nms.fusion`), step for step as
ensemble-boxes runs them: float64 arithmetic with its float32 accumulators, and
NumPy's own summation order where ensemble-boxes calls ``np.sum``.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from detbench._jit import jit

#: Rows in ensemble-boxes' order (grouped by label, sorted within a group).
#: ``seg`` (groups + 1): group bounds; ``score``: ``score * weight[model]`` (the sort key);
#: ``wgt``: weight of the row's model; ``model``: model id; ``x1, y1, x2, y2``: float64
#: coordinates (contiguous).
FusionRows = namedtuple("FusionRows", ["seg", "score", "wgt", "model", "x1", "y1", "x2", "y2"])

#: The models: ``weights`` (M, float64), their sum ``wsum`` and maximum ``wmax``.
FusionModels = namedtuple("FusionModels", ["weights", "wsum", "wmax"])

#: Clusters (scratch and output, N each). ``nxt_member``: linked list of members;
#: ``first``/``last``: first and last member row; ``count``: members; ``w``: float32 sum
#: of member weights; ``out_score`` (float64) and ``out_box`` (N, 4, float64): the result;
#: ``acc`` (4,): the coordinate accumulators, float32 as ensemble-boxes, float64 when
#: ``exact``; ``exact``: nothing is rounded to float32 (inputs outside float32's range).
Clusters = namedtuple("Clusters", ["nxt_member", "first", "last", "count", "w", "out_score", "out_box", "acc", "exact"])


def make_clusters(n: int, exact: bool) -> Clusters:
    """Empty :class:`Clusters` for ``n`` rows (float64 accumulators when ``exact``)."""
    return Clusters(
        *(np.empty(n, np.int64) for _ in range(4)),
        np.empty(n, np.float64),
        np.empty(n, np.float64),
        np.empty((n, 4)),
        np.zeros(4, np.float64 if exact else np.float32),
        bool(exact),
    )


@jit
def magnitude_range(v):
    """(smallest nonzero |v|, largest |v|) of a 1-D float64 array (inf, 0 when all zero)."""
    lo = np.inf
    hi = 0.0
    for i in range(v.shape[0]):
        a = abs(v[i])
        hi = a if a > hi else hi
        nz = a if a != 0.0 else np.inf
        lo = nz if nz < lo else lo
    return lo, hi


@jit(inline="always")
def _f32(x, exact):
    """ensemble-boxes' rounding of ``x`` to float32, or ``x`` itself when ``exact``."""
    if exact:
        return x
    return float(np.float32(x))


@jit(inline="always")
def _np_block_sum(a, lo, hi):
    """NumPy's pairwise-sum leaf (n <= 128): sequential below 8 values, else
    8 accumulators combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the rest."""
    n = hi - lo
    if n < 8:
        res = 0.0
        for i in range(lo, hi):
            res += a[i]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    i = lo + 8
    end = lo + n - n % 8
    while i < end:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < hi:
        res += a[i]
        i += 1
    return res


@jit
def np_pairwise_sum(a, lo, hi):
    """``np.sum`` of the float64 values ``a[lo:hi]`` with NumPy's own order of
    additions, so the result has the same bits: blocks of at most 128 values
    (see :func:`_np_block_sum`), longer ranges split in two halves (the first a
    multiple of 8) whose sums are added. The recursion is evaluated with an
    explicit stack (Numba's cache mishandles recursive functions)."""
    st_lo = np.empty(64, dtype=np.int64)
    st_hi = np.empty(64, dtype=np.int64)
    st_state = np.empty(64, dtype=np.int64)
    vals = np.empty(64, dtype=np.float64)
    top = 0
    nv = 0
    st_lo[0] = lo
    st_hi[0] = hi
    st_state[0] = 0
    top = 1
    while top > 0:
        q = top - 1
        a0 = st_lo[q]
        a1 = st_hi[q]
        n = a1 - a0
        if n <= 128:
            vals[nv] = _np_block_sum(a, a0, a1)
            nv += 1
            top -= 1
            continue
        n2 = n // 2
        n2 -= n2 % 8
        if st_state[q] == 0:
            st_state[q] = 1
            st_lo[top] = a0
            st_hi[top] = a0 + n2
            st_state[top] = 0
            top += 1
        elif st_state[q] == 1:
            st_state[q] = 2
            st_lo[top] = a0 + n2
            st_hi[top] = a1
            st_state[top] = 0
            top += 1
        else:
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
            top -= 1
    return vals[0]


@jit(inline="always")
def _eb_iou(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2):
    """ensemble-boxes' IoU (``bb_intersection_over_union`` / ``bb_iou_array``), float64."""
    xa = max(ax1, bx1)
    ya = max(ay1, by1)
    xb = min(ax2, bx2)
    yb = min(ay2, by2)
    inter = max(xb - xa, 0.0) * max(yb - ya, 0.0)
    return inter, inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)


@jit
def wbf_cluster(rows, thr, conf_type, allows_overflow, models, cl):
    """Weighted boxes fusion, step for step as ensemble-boxes runs it.

    Rows are grouped by label (``seg``) and sorted within a group as
    ensemble-boxes sorts them (``score`` is already ``score * weight``). Each
    row joins the cluster whose current fused box has the highest IoU with
    it when that IoU is ``> thr`` (first cluster on ties; a NaN IoU wins, as
    with ``np.argmax``), else it opens a cluster. A cluster's fused box is
    recomputed from its members as ensemble-boxes does: coordinates summed
    in float32 (``acc = float32(acc + score * coord)`` member by member),
    divided by the float64 score sum and rounded to float32; its score is
    ``float32(conf / count)`` (``float32(max)`` for ``max``) and its weight
    sum float32 (all float64 with ``cl.exact``). A single-member cluster keeps the raw row. Confidences are
    then rescaled by ``conf_type`` (0 avg, 1 max, 2 box_and_model_avg,
    3 absent_model_aware_avg), with NumPy's summation order for the sums of
    model weights. ``rows``: :class:`FusionRows`; ``models``:
    :class:`FusionModels`; ``cl``: :class:`Clusters` (scratch and output).
    Returns the number of fused boxes, written in group order then cluster
    order. Cost O(N * clusters per label).
    """
    seg, score, wgt, model, x1, y1, x2, y2 = rows
    weights, wsum, wmax = models
    nxt_member, cl_first, cl_last, cl_count, cl_w, out_score, out_box, acc, exact = cl
    nmodels = weights.shape[0]
    k = 0
    seen = np.zeros(nmodels, dtype=np.bool_)
    wtmp = np.empty(nmodels, dtype=np.float64)
    for s in range(seg.shape[0] - 1):
        g0 = k
        for j in range(seg[s], seg[s + 1]):
            best = -1
            best_iou = -np.inf
            for c in range(g0, k):
                inter, iou = _eb_iou(
                    out_box[c, 0], out_box[c, 1], out_box[c, 2], out_box[c, 3], x1[j], y1[j], x2[j], y2[j]
                )
                if np.isnan(iou):
                    best = c
                    best_iou = iou
                    break
                if best < 0 or iou > best_iou:
                    best = c
                    best_iou = iou
            if best >= 0 and best_iou <= thr:
                best = -1
            if best < 0:
                cl_first[k] = j
                cl_last[k] = j
                cl_count[k] = 1
                cl_w[k] = wgt[j]
                nxt_member[j] = -1
                out_score[k] = score[j]
                out_box[k, 0] = x1[j]
                out_box[k, 1] = y1[j]
                out_box[k, 2] = x2[j]
                out_box[k, 3] = y2[j]
                k += 1
                continue
            c = best
            nxt_member[cl_last[c]] = j
            nxt_member[j] = -1
            cl_last[c] = j
            cl_count[c] += 1
            acc[:] = 0
            conf = 0.0
            w = 0.0
            cmax = -np.inf
            m = cl_first[c]
            while m >= 0:
                sm = score[m]
                acc[0] = float(acc[0]) + sm * x1[m]
                acc[1] = float(acc[1]) + sm * y1[m]
                acc[2] = float(acc[2]) + sm * x2[m]
                acc[3] = float(acc[3]) + sm * y2[m]
                conf += sm
                cmax = max(cmax, sm)
                w += wgt[m]
                m = nxt_member[m]
            if conf_type == 1:
                out_score[c] = _f32(cmax, exact)
            else:
                out_score[c] = _f32(conf / cl_count[c], exact)
            cl_w[c] = _f32(w, exact)
            for q in range(4):
                out_box[c, q] = _f32(float(acc[q]) / conf, exact)
        # rescale the confidences of this group's clusters
        for c in range(g0, k):
            cnt = cl_count[c]
            sc = out_score[c]
            if conf_type == 2 or conf_type == 3:
                seen[:] = False
                m = cl_first[c]
                while m >= 0:
                    seen[model[m]] = True
                    m = nxt_member[m]
                q = 0
                for t in range(nmodels):
                    if seen[t] == (conf_type == 2):
                        wtmp[q] = weights[t]
                        q += 1
                if conf_type == 2:
                    sc = sc * cnt / cl_w[c]
                    sc = sc * np_pairwise_sum(wtmp, 0, q) / wsum
                else:
                    sc = sc * cnt / (cl_w[c] + np_pairwise_sum(wtmp, 0, q))
            elif conf_type == 1:
                sc = sc / wmax
            elif not allows_overflow:
                sc = sc * min(nmodels, cnt) / wsum
            else:
                sc = sc * cnt / wsum
            out_score[c] = sc
    return k


@jit(inline="always")
def _eb_iou_nmw(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2):
    """ensemble-boxes' ``bb_intersection_over_union``: 0 when the intersection is 0."""
    inter, iou = _eb_iou(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2)
    if inter == 0.0:
        return 0.0
    return iou


@jit
def nmw_cluster(rows, thr, cl):
    """Non-maximum weighted (Zhou et al. 2017), step for step as
    ensemble-boxes' ``non_maximum_weighted`` runs it.

    Rows are grouped by label and sorted as ensemble-boxes sorts them. A row
    joins the cluster whose first (highest) box has the highest IoU with it
    when that IoU is ``> thr`` (first cluster on ties), else opens a cluster.
    Each cluster becomes one box: coordinates are the average of its members
    weighted by ``score * IoU(member, first)``, accumulated in float32 and
    divided by the float64 weight sum; its score is the first box's score,
    rounded to float32 (all float64 with ``cl.exact``). ``rows``: :class:`FusionRows` (``wgt`` and ``model``
    unused); ``cl``: :class:`Clusters` (``count`` and ``w`` unused). Returns
    the number of boxes. Cost O(N * clusters).
    """
    seg, score, _, _, x1, y1, x2, y2 = rows
    nxt_member, cl_first, cl_last, _, _, out_score, out_box, acc, exact = cl
    k = 0
    for s in range(seg.shape[0] - 1):
        g0 = k
        for j in range(seg[s], seg[s + 1]):
            best = -1
            best_iou = thr
            for c in range(g0, k):
                f = cl_first[c]
                iou = _eb_iou_nmw(x1[f], y1[f], x2[f], y2[f], x1[j], y1[j], x2[j], y2[j])
                if iou > best_iou:
                    best = c
                    best_iou = iou
            nxt_member[j] = -1
            if best < 0:
                cl_first[k] = j
                cl_last[k] = j
                k += 1
            else:
                nxt_member[cl_last[best]] = j
                cl_last[best] = j
        for c in range(g0, k):
            f = cl_first[c]
            acc[:] = 0
            conf = 0.0
            m = f
            while m >= 0:
                iou = _eb_iou_nmw(x1[m], y1[m], x2[m], y2[m], x1[f], y1[f], x2[f], y2[f])
                w = score[m] * iou
                acc[0] = float(acc[0]) + w * x1[m]
                acc[1] = float(acc[1]) + w * y1[m]
                acc[2] = float(acc[2]) + w * x2[m]
                acc[3] = float(acc[3]) + w * y2[m]
                conf += w
                m = nxt_member[m]
            out_score[c] = _f32(score[f], exact)
            for q in range(4):
                out_box[c, q] = _f32(float(acc[q]) / conf, exact)
    return k
