"""Numba kernels behind :mod:`detbench.nms`.

Kernels take plain 1-D coordinate arrays (``x1, y1, x2, y2``) of one float
dtype; the Python layer in :mod:`detbench.nms` validates, sorts, allocates the
large arrays and calls them (a few small scratch arrays are made here).

Greedy NMS and its hard variants (batched, DIoU, Fast, Cluster, Matrix)
evaluate pairwise overlap with torchvision's CPU arithmetic, in the boxes'
own dtype::

    w = max(0, min(ax2, bx2) - max(ax1, bx1) + off)
    h = max(0, min(ay2, by2) - max(ay1, by1) + off)
    inter = w * h
    iou = inter / (area_a + area_b - inter)

with ``area = (x2 - x1 + off) * (y2 - y1 + off)`` and ``off`` 0 (or 1 for the
legacy pixel convention). Every expression is symmetric in ``a`` and ``b``, so
``iou(a, b)`` and ``iou(b, a)`` are the same bits, which is what lets the grid
strategies visit pairs in any order and still return exactly the plain greedy
answer. Soft-NMS and the fusion kernels use ensemble-boxes' float64
arithmetic instead (same formula, ``off = 0``), with its float32 accumulators.

Spatial grid
------------
The grid kernels cover the boxes' bounding rectangle with ``ncols x nrows``
cells; a box is registered in every cell its padded extent touches. Two boxes
with a positive intersection overlap on an open interval in x and in y, and the
cell index ``floor((v - g0) * inv)`` is monotonic in ``v``, so they always share
a cell: testing only boxes found in the candidate's own cells is exact, not an
approximation. (The extents are padded by a tiny margin so rounding of the cell
index can only add candidates, never lose one.) Greedy kernels query an even
smaller rectangle: a box with ``IoU > t`` against a candidate covers more than
``t`` of the candidate's width and height, so it meets the candidate shrunk by
(slightly less than) ``t`` on each side, its centre when ``t >= 0.5``. Pairs
with zero intersection never suppress under the thresholds the grid is used
for (the Python layer runs the simple loop otherwise).
"""

from __future__ import annotations

import math

import numpy as np

from detbench._jit import jit

# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


@jit(inline="always")
def _cell(v, g0, inv, n):
    """Grid cell of coordinate ``v`` (float64 arithmetic), clamped to ``[0, n)``."""
    t = (v - g0) * inv
    if not t > 0.0:  # also NaN (inf * 0 from absurd coordinates)
        return 0
    if t >= n:
        return n - 1
    return int(t)


@jit(inline="always")
def _core_cells(bx1, by1, bx2, by2, off, shrink, pad, gx0, gy0, inv_w, inv_h, ncols, nrows):
    """Grid cells ``(c0, c1, r0, r1)`` under a box's centre part (shrunk by ``shrink`` of its size per
    side, collapsed to its midpoint when that inverts), widened by ``pad``; float64 arithmetic."""
    fx1 = float(bx1)
    fy1 = float(by1)
    fx2 = float(bx2) + off
    fy2 = float(by2) + off
    sw = shrink * (fx2 - fx1)
    sh = shrink * (fy2 - fy1)
    qx1 = fx1 + sw
    qx2 = fx2 - sw
    if qx1 > qx2:
        qx1 = 0.5 * (qx1 + qx2)
        qx2 = qx1
    qy1 = fy1 + sh
    qy2 = fy2 - sh
    if qy1 > qy2:
        qy1 = 0.5 * (qy1 + qy2)
        qy2 = qy1
    return (
        _cell(qx1 - pad, gx0, inv_w, ncols),
        _cell(qx2 + pad, gx0, inv_w, ncols),
        _cell(qy1 - pad, gy0, inv_h, nrows),
        _cell(qy2 + pad, gy0, inv_h, nrows),
    )


@jit(inline="always")
def _overlap(ax1, ay1, ax2, ay2, aarea, bx1, by1, bx2, by2, barea, zero, off):
    """(inter, iou) of two boxes with torchvision's arithmetic, in their dtype."""
    w = max(zero, min(ax2, bx2) - max(ax1, bx1) + off)
    h = max(zero, min(ay2, by2) - max(ay1, by1) + off)
    inter = w * h
    return inter, inter / (aarea + barea - inter)


@jit(inline="always")
def _diou_penalty(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, beta):
    """DIoU penalty ``(d^2 / c^2) ** beta`` in float64 (0 when ``c == 0``)."""
    dx = (float(ax1) + float(ax2)) - (float(bx1) + float(bx2))
    dy = (float(ay1) + float(ay2)) - (float(by1) + float(by2))
    d2 = 0.25 * (dx * dx + dy * dy)
    cw = float(max(ax2, bx2)) - float(min(ax1, bx1))
    ch = float(max(ay2, by2)) - float(min(ay1, by1))
    c2 = cw * cw + ch * ch
    if c2 <= 0.0:
        return 0.0
    r = d2 / c2
    if beta == 1.0:
        return r
    return r**beta


@jit(inline="always")
def _suppresses(ax1, ay1, ax2, ay2, aarea, bx1, by1, bx2, by2, barea, zero, off, thr, inclusive, mode, beta):
    """Does kept box ``a`` suppress candidate ``b``? mode 0: IoU, mode 1: DIoU."""
    inter, iou = _overlap(ax1, ay1, ax2, ay2, aarea, bx1, by1, bx2, by2, barea, zero, off)
    if mode == 0:
        v = float(iou)
    else:
        v = float(iou) - _diou_penalty(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, beta)
    if inclusive:
        return v >= thr
    return v > thr


# ---------------------------------------------------------------------------
# torch's non-stable descending sort (libstdc++ std::sort), for batched_nms
# ---------------------------------------------------------------------------


@jit(inline="always")
def _swap(v, ix, a, b):
    t = v[a]
    v[a] = v[b]
    v[b] = t
    u = ix[a]
    ix[a] = ix[b]
    ix[b] = u


@jit(inline="always")
def _adjust_heap(v, ix, first, hole, length, val, vix):
    top = hole
    second = hole
    while second < (length - 1) // 2:
        second = 2 * (second + 1)
        if v[first + second] > v[first + second - 1]:
            second -= 1
        v[first + hole] = v[first + second]
        ix[first + hole] = ix[first + second]
        hole = second
    if (length & 1) == 0 and second == (length - 2) // 2:
        second = 2 * (second + 1)
        v[first + hole] = v[first + second - 1]
        ix[first + hole] = ix[first + second - 1]
        hole = second - 1
    parent = (hole - 1) // 2
    while hole > top and v[first + parent] > val:
        v[first + hole] = v[first + parent]
        ix[first + hole] = ix[first + parent]
        hole = parent
        parent = (hole - 1) // 2
    v[first + hole] = val
    ix[first + hole] = vix


@jit
def torch_sort_desc(v, ix):
    """Sort ``v`` (with its companion ``ix``) by decreasing value exactly as
    ``torch.sort(descending=True)`` does on CPU when it runs ``std::sort``
    (libstdc++ introsort: median-of-three quicksort down to 16-element runs,
    heapsort past a depth of ``2 * floor(log2 N)``, then insertion sort) with
    the comparator ``a > b``. Equal values come out in that algorithm's
    deterministic, non-stable order. The recursion uses an explicit stack."""
    n = v.shape[0]
    if n < 2:
        return
    depth0 = 0
    m = n
    while m > 1:
        m >>= 1
        depth0 += 1
    st_first = np.empty(128, dtype=np.int64)
    st_last = np.empty(128, dtype=np.int64)
    st_depth = np.empty(128, dtype=np.int64)
    top = 1
    st_first[0] = 0
    st_last[0] = n
    st_depth[0] = 2 * depth0
    while top > 0:
        top -= 1
        first = st_first[top]
        last = st_last[top]
        depth = st_depth[top]
        while last - first > 16:
            if depth == 0:
                # heapsort: make_heap, then sort_heap (std::__partial_sort(first, last, last))
                length = last - first
                parent = (length - 2) // 2
                while True:
                    _adjust_heap(v, ix, first, parent, length, v[first + parent], ix[first + parent])
                    if parent == 0:
                        break
                    parent -= 1
                end = last
                while end - first > 1:
                    end -= 1
                    val = v[end]
                    vix = ix[end]
                    v[end] = v[first]
                    ix[end] = ix[first]
                    _adjust_heap(v, ix, first, 0, end - first, val, vix)
                break
            depth -= 1
            # median of (first + 1, mid, last - 1) moved to first
            a = first + 1
            b = first + (last - first) // 2
            c = last - 1
            if v[a] > v[b]:
                if v[b] > v[c]:
                    _swap(v, ix, first, b)
                elif v[a] > v[c]:
                    _swap(v, ix, first, c)
                else:
                    _swap(v, ix, first, a)
            elif v[a] > v[c]:
                _swap(v, ix, first, a)
            elif v[b] > v[c]:
                _swap(v, ix, first, c)
            else:
                _swap(v, ix, first, b)
            # unguarded partition around v[first]
            lo = first + 1
            hi = last
            while True:
                while v[lo] > v[first]:
                    lo += 1
                hi -= 1
                while v[first] > v[hi]:
                    hi -= 1
                if not lo < hi:
                    break
                _swap(v, ix, lo, hi)
                lo += 1
            st_first[top] = lo
            st_last[top] = last
            st_depth[top] = depth
            top += 1
            last = lo
    # final insertion sort: guarded on the first 16, unguarded after
    lim = min(n, 16)
    for i in range(1, n):
        val = v[i]
        vix = ix[i]
        if i < lim and val > v[0]:
            for k in range(i, 0, -1):
                v[k] = v[k - 1]
                ix[k] = ix[k - 1]
            v[0] = val
            ix[0] = vix
        else:
            j = i
            while val > v[j - 1]:
                v[j] = v[j - 1]
                ix[j] = ix[j - 1]
                j -= 1
            v[j] = val
            ix[j] = vix


# ---------------------------------------------------------------------------
# greedy NMS: simple loop (small N)
# ---------------------------------------------------------------------------


@jit
def gather_columns(boxes, order, sx1, sy1, sx2, sy2):
    """Coordinate columns of ``boxes[order]`` (one pass, no temporaries)."""
    for t in range(order.shape[0]):
        i = order[t]
        sx1[t] = boxes[i, 0]
        sy1[t] = boxes[i, 1]
        sx2[t] = boxes[i, 2]
        sy2[t] = boxes[i, 3]


@jit(inline="always")
def _greedy_simple_segment(sx1, sy1, sx2, sy2, lo, hi, thr, inclusive, off, mode, beta, suppress_all, sup, keep, nk):
    """Simple greedy loop on sorted boxes ``lo:hi``: each surviving box tests
    every later box in a branch-free (vectorisable) loop. O(n * kept)."""
    zero = sx1.dtype.type(0)
    offv = sx1.dtype.type(off)
    for i in range(lo, hi):
        sup[i] = False
    for i in range(lo, hi):
        if not sup[i]:
            keep[nk] = i
            nk += 1
        elif not suppress_all:
            continue
        ax1 = sx1[i]
        ay1 = sy1[i]
        ax2 = sx2[i]
        ay2 = sy2[i]
        aarea = (ax2 - ax1 + offv) * (ay2 - ay1 + offv)
        for j in range(i + 1, hi):
            barea = (sx2[j] - sx1[j] + offv) * (sy2[j] - sy1[j] + offv)
            s = _suppresses(
                ax1, ay1, ax2, ay2, aarea, sx1[j], sy1[j], sx2[j], sy2[j], barea, zero, offv, thr, inclusive, mode, beta
            )
            sup[j] = sup[j] | s
    return nk


# ---------------------------------------------------------------------------
# grid geometry
# ---------------------------------------------------------------------------


@jit
def grid_geometry(x1, y1, x2, y2, lo, hi, off, factor, max_cells):
    """Grid over boxes ``lo:hi``: (pad, gx0, gy0, inv_w, inv_h, ncols, nrows).

    Cells are ``factor`` times the mean box size (``off`` added to extents),
    at most ``max_cells`` in all (the larger side is halved until it fits).
    ``pad`` is a margin far above float64 rounding of the coordinates.
    """
    gx0 = np.inf
    gy0 = np.inf
    gx1 = -np.inf
    gy1 = -np.inf
    sw = 0.0
    sh = 0.0
    for i in range(lo, hi):
        a = float(x1[i])
        b = float(y1[i])
        c = float(x2[i])
        d = float(y2[i])
        gx0 = min(gx0, a)
        gy0 = min(gy0, b)
        gx1 = max(gx1, c)
        gy1 = max(gy1, d)
        sw += c - a
        sh += d - b
    n = max(hi - lo, 1)
    if hi <= lo:
        gx0 = 0.0
        gy0 = 0.0
        gx1 = 0.0
        gy1 = 0.0
    gx1 += off
    gy1 += off
    ex = gx1 - gx0
    ey = gy1 - gy0
    cw = (sw / n + off) * factor
    ch = (sh / n + off) * factor
    ncols = 1
    nrows = 1
    if ex > 0.0 and cw > 0.0:
        ncols = int(min(max(ex / cw, 1.0), 65536.0))
    if ey > 0.0 and ch > 0.0:
        nrows = int(min(max(ey / ch, 1.0), 65536.0))
    while ncols * nrows > max_cells:
        if ncols >= nrows:
            ncols = (ncols + 1) // 2
        else:
            nrows = (nrows + 1) // 2
    inv_w = ncols / ex if ex > 0.0 else 0.0
    inv_h = nrows / ey if ey > 0.0 else 0.0
    pad = 1e-9 * (abs(gx0) + abs(gx1) + abs(gy0) + abs(gy1)) + 1e-30
    return pad, gx0, gy0, inv_w, inv_h, ncols, nrows


@jit(inline="always")
def _box_cells(x1, y1, x2, y2, off, pad, gx0, gy0, inv_w, inv_h, ncols, nrows):
    c0 = _cell(float(x1) - pad, gx0, inv_w, ncols)
    c1 = _cell(float(x2) + off + pad, gx0, inv_w, ncols)
    r0 = _cell(float(y1) - pad, gy0, inv_h, nrows)
    r1 = _cell(float(y2) + off + pad, gy0, inv_h, nrows)
    return c0, c1, r0, r1


@jit
def plan_segments(sx1, sy1, sx2, sy2, seg, off, factor, cells_per_box, simple_max):
    """Largest cell count and registration count over the segments ``seg``
    that use the grid (more than ``simple_max`` boxes)."""
    max_cells = 1
    max_cap = 1
    for s in range(seg.shape[0] - 1):
        lo = seg[s]
        hi = seg[s + 1]
        if hi - lo <= simple_max:
            continue
        pad, gx0, gy0, inv_w, inv_h, ncols, nrows = grid_geometry(
            sx1, sy1, sx2, sy2, lo, hi, off, factor, max(64, cells_per_box * (hi - lo))
        )
        cap = 0
        for i in range(lo, hi):
            c0, c1, r0, r1 = _box_cells(sx1[i], sy1[i], sx2[i], sy2[i], off, pad, gx0, gy0, inv_w, inv_h, ncols, nrows)
            cap += (c1 - c0 + 1) * (r1 - r0 + 1)
        max_cells = max(max_cells, ncols * nrows)
        max_cap = max(max_cap, cap)
    return max_cells, max_cap


# ---------------------------------------------------------------------------
# greedy NMS: spatial grid (large N), per segment (class)
# ---------------------------------------------------------------------------


@jit
def greedy_segments(
    sx1,
    sy1,
    sx2,
    sy2,
    seg,
    thr,
    inclusive,
    off,
    mode,
    beta,
    suppress_all,
    shrink,
    factor,
    cells_per_box,
    simple_max,
    sup,
    head,
    nxt,
    ent,
    kx1,
    ky1,
    kx2,
    ky2,
    karea,
    keep,
):
    """Greedy NMS independently on each segment ``seg[s]:seg[s+1]`` (a class)
    of boxes sorted by decreasing score within each segment.

    A segment of at most ``simple_max`` boxes runs the simple loop
    (:func:`_greedy_simple_segment`, ``sup`` is its scratch); a larger one the
    spatial grid: each candidate is tested only against the kept
    boxes (all boxes with ``suppress_all``) registered in the cells under its
    query rectangle: the box shrunk by ``shrink`` of its size on each side
    (collapsed to the centre when ``shrink >= 0.5``). A box ``a`` with
    ``IoU(a, b) > t`` overlaps ``b`` by more than ``t`` of ``b``'s width and of
    its height, so it meets that rectangle whenever ``shrink`` is slightly
    below the threshold (the caller passes ``0.99999 * t``). Kept boxes are
    registered in every cell their extent touches.

    ``keep`` receives sorted positions of kept boxes (segment by segment);
    returns their count. Cost about O(N * boxes met per query), near-linear
    for realistic detections.
    """
    zero = sx1.dtype.type(0)
    offv = sx1.dtype.type(off)
    nk = 0
    for s in range(seg.shape[0] - 1):
        lo = seg[s]
        hi = seg[s + 1]
        if hi <= lo:
            continue
        if hi - lo <= simple_max:
            nk = _greedy_simple_segment(
                sx1, sy1, sx2, sy2, lo, hi, thr, inclusive, off, mode, beta, suppress_all, sup, keep, nk
            )
            continue
        pad, gx0, gy0, inv_w, inv_h, ncols, nrows = grid_geometry(
            sx1, sy1, sx2, sy2, lo, hi, off, factor, max(64, cells_per_box * (hi - lo))
        )
        for c in range(ncols * nrows):
            head[c] = -1
        nreg = 0
        ne = 0
        for t in range(lo, hi):
            bx1 = sx1[t]
            by1 = sy1[t]
            bx2 = sx2[t]
            by2 = sy2[t]
            barea = (bx2 - bx1 + offv) * (by2 - by1 + offv)
            c0, c1, r0, r1 = _core_cells(bx1, by1, bx2, by2, off, shrink, pad, gx0, gy0, inv_w, inv_h, ncols, nrows)
            hit = False
            for r in range(r0, r1 + 1):
                base = r * ncols
                for c in range(c0, c1 + 1):
                    e = head[base + c]
                    while e >= 0:
                        k = ent[e]
                        if _suppresses(
                            kx1[k],
                            ky1[k],
                            kx2[k],
                            ky2[k],
                            karea[k],
                            bx1,
                            by1,
                            bx2,
                            by2,
                            barea,
                            zero,
                            offv,
                            thr,
                            inclusive,
                            mode,
                            beta,
                        ):
                            hit = True
                            break
                        e = nxt[e]
                    if hit:
                        break
                if hit:
                    break
            if not hit:
                keep[nk] = t
                nk += 1
            if (not hit) or suppress_all:
                kx1[nreg] = bx1
                ky1[nreg] = by1
                kx2[nreg] = bx2
                ky2[nreg] = by2
                karea[nreg] = barea
                c0, c1, r0, r1 = _box_cells(bx1, by1, bx2, by2, off, pad, gx0, gy0, inv_w, inv_h, ncols, nrows)
                for r in range(r0, r1 + 1):
                    base = r * ncols
                    for c in range(c0, c1 + 1):
                        ent[ne] = nreg
                        nxt[ne] = head[base + c]
                        head[base + c] = ne
                        ne += 1
                nreg += 1
    return nk


@jit
def group_by_class(order, slot, nslots, grouped, seg):
    """Stable counting sort of ``order`` by ``slot[order]``; ``seg`` gets class bounds."""
    cnt = np.zeros(nslots + 1, dtype=np.int64)
    for t in range(order.shape[0]):
        cnt[slot[order[t]] + 1] += 1
    for c in range(nslots):
        cnt[c + 1] += cnt[c]
    for c in range(nslots + 1):
        seg[c] = cnt[c]
    for t in range(order.shape[0]):
        i = order[t]
        c = slot[i]
        grouped[cnt[c]] = i
        cnt[c] += 1


@jit
def shift_by_label(boxes, labels, out):
    """torchvision's coordinate trick in the boxes' dtype:
    ``out = boxes + label * (max(boxes) + 1)`` (label converted to the dtype first)."""
    one = boxes.dtype.type(1)
    mx = boxes[0, 0]
    for i in range(boxes.shape[0]):
        for c in range(4):
            mx = max(mx, boxes[i, c])
    step = mx + one
    for i in range(boxes.shape[0]):
        o = boxes.dtype.type(labels[i]) * step
        for c in range(4):
            out[i, c] = boxes[i, c] + o


@jit
def classes_separated(boxes, grouped, seg, off):
    """True when, class by class in label order, every box of a class lies
    left of every box of the next class (``x2 + off <= x1``): then no two
    classes intersect and per-class NMS equals NMS on all boxes."""
    prev_right = -np.inf
    for s in range(seg.shape[0] - 1):
        lo = seg[s]
        hi = seg[s + 1]
        if hi <= lo:
            continue
        left = np.inf
        right = -np.inf
        for t in range(lo, hi):
            i = grouped[t]
            left = min(left, float(boxes[i, 0]))
            right = max(right, float(boxes[i, 2]))
        if not left - prev_right >= off:
            return False
        prev_right = right
    return True


@jit
def batched_small(boxes, labels, order, thr, inclusive, off, simple_max, out):
    """torchvision's small-N ``batched_nms`` path in one call (N <= 1000):
    shift boxes by ``label * (max + 1)`` in their dtype, group the
    score-sorted ``order`` by label, check that the shifted classes cannot
    touch, run the simple greedy loop per class and write the kept indices to
    ``out`` in ``order``'s order. Returns their count, or -1 when the general
    path is needed (labels spread too widely, a class larger than
    ``simple_max``, or shifted classes that may touch). Scratch is allocated
    here: it is small at this size."""
    n = boxes.shape[0]
    lo = labels[0]
    hi = labels[0]
    for i in range(n):
        lo = min(lo, labels[i])
        hi = max(hi, labels[i])
    span = hi - lo + 1
    if span > 4 * n + 1024:
        return -1
    shifted = np.empty_like(boxes)
    shift_by_label(boxes, labels, shifted)
    cnt = np.zeros(span + 1, dtype=np.int64)
    for i in range(n):
        cnt[labels[i] - lo + 1] += 1
    for c in range(span):
        if cnt[c + 1] > simple_max:
            return -1
        cnt[c + 1] += cnt[c]
    seg = cnt.copy()
    grouped = np.empty(n, dtype=np.int64)
    for t in range(n):
        i = order[t]
        c = labels[i] - lo
        grouped[cnt[c]] = i
        cnt[c] += 1
    if not classes_separated(shifted, grouped, seg, off):
        return -1
    sx1 = np.empty(n, dtype=boxes.dtype)
    sy1 = np.empty(n, dtype=boxes.dtype)
    sx2 = np.empty(n, dtype=boxes.dtype)
    sy2 = np.empty(n, dtype=boxes.dtype)
    gather_columns(shifted, grouped, sx1, sy1, sx2, sy2)
    sup = np.empty(n, dtype=np.bool_)
    keep = np.empty(n, dtype=np.int64)
    nk = 0
    for s in range(span):
        if seg[s + 1] > seg[s]:
            nk = _greedy_simple_segment(
                sx1, sy1, sx2, sy2, seg[s], seg[s + 1], thr, inclusive, off, 0, 1.0, False, sup, keep, nk
            )
    mask = np.zeros(n, dtype=np.bool_)
    for k in range(nk):
        mask[grouped[keep[k]]] = True
    return emit_in_order(order, mask, out)


@jit
def emit_in_order(order, kept_mask, out):
    """Indices of ``order`` whose ``kept_mask`` is set, in ``order``'s order."""
    m = 0
    for t in range(order.shape[0]):
        i = order[t]
        if kept_mask[i]:
            out[m] = i
            m += 1
    return m


# ---------------------------------------------------------------------------
# static grid of all boxes and their intersecting pairs (Soft-NMS, float64)
# ---------------------------------------------------------------------------


@jit
def static_grid(x1, y1, x2, y2, pad, gx0, gy0, inv_w, inv_h, ncols, nrows, c0, c1, r0, r1, start):
    """Cell range of every box and CSR offsets ``start`` (ncells + 1) of the cell lists."""
    ncell = ncols * nrows
    for c in range(ncell + 1):
        start[c] = 0
    for i in range(x1.shape[0]):
        a, b, p, q = _box_cells(x1[i], y1[i], x2[i], y2[i], 0.0, pad, gx0, gy0, inv_w, inv_h, ncols, nrows)
        c0[i] = a
        c1[i] = b
        r0[i] = p
        r1[i] = q
        for r in range(p, q + 1):
            for c in range(a, b + 1):
                start[r * ncols + c + 1] += 1
    for c in range(ncell):
        start[c + 1] += start[c]


@jit
def static_fill(x1, y1, x2, y2, c0, c1, r0, r1, ncols, start, items, ic0, ir0, ix1, iy1, ix2, iy2, iarea):
    """Fill the cell lists: box id (increasing within a cell), its first cell and
    its coordinates and area copied inline so a cell scan reads memory in order."""
    ncell = start.shape[0] - 1
    fill = start[:ncell].copy()
    for i in range(c0.shape[0]):
        area = (x2[i] - x1[i]) * (y2[i] - y1[i])
        for r in range(r0[i], r1[i] + 1):
            for c in range(c0[i], c1[i] + 1):
                cell = r * ncols + c
                e = fill[cell]
                items[e] = i
                ic0[e] = c0[i]
                ir0[e] = r0[i]
                ix1[e] = x1[i]
                iy1[e] = y1[i]
                ix2[e] = x2[i]
                iy2[e] = y2[i]
                iarea[e] = area
                fill[cell] = e + 1


@jit
def soft_pairs(
    x1,
    y1,
    x2,
    y2,
    c0,
    c1,
    r0,
    r1,
    ncols,
    start,
    items,
    ic0,
    ir0,
    ix1,
    iy1,
    ix2,
    iy2,
    iarea,
    i_begin,
    pos,
    fwd_start,
    fwd_nbr,
    fwd_ovr,
):
    """Forward pair lists: for each box ``i``, the boxes ``j > i`` with positive
    intersection and their IoU, written from ``fwd_start[i]`` on.

    IoU is float64 and computed as ensemble-boxes' ``cpu_soft_nms_float`` does
    (areas ``(x2-x1)*(y2-y1)``; its x/y swap leaves the product unchanged).
    Each pair is visited once, in the first cell both boxes cover. Stops
    before box ``i`` if its candidates might not fit in ``fwd_nbr``; returns
    ``(next i, next write position)`` so the caller can grow and resume.
    """
    n = x1.shape[0]
    cap = fwd_nbr.shape[0]
    for i in range(i_begin, n):
        bound = 0
        for r in range(r0[i], r1[i] + 1):
            for c in range(c0[i], c1[i] + 1):
                cell = r * ncols + c
                bound += start[cell + 1] - start[cell]
        if pos + bound > cap:
            return i, pos
        fwd_start[i] = pos
        ax1 = x1[i]
        ay1 = y1[i]
        ax2 = x2[i]
        ay2 = y2[i]
        aarea = (ax2 - ax1) * (ay2 - ay1)
        ac0 = c0[i]
        ar0 = r0[i]
        for r in range(ar0, r1[i] + 1):
            for c in range(ac0, c1[i] + 1):
                cell = r * ncols + c
                hi = start[cell + 1]
                e0 = start[cell]
                while e0 < hi and items[e0] <= i:  # ids ascend: skip j <= i
                    e0 += 1
                for e in range(e0, hi):
                    # branch-free: always write, advance only for a valid pair
                    w = max(0.0, min(ay2, iy2[e]) - max(ay1, iy1[e]))
                    h = max(0.0, min(ax2, ix2[e]) - max(ax1, ix1[e]))
                    inter = w * h
                    ovr = inter / (aarea + iarea[e] - inter)
                    first = (max(ac0, ic0[e]) == c) & (max(ar0, ir0[e]) == r)
                    fwd_nbr[pos] = items[e]
                    fwd_ovr[pos] = ovr
                    pos += first & (inter > 0.0)
    fwd_start[n] = pos
    return n, pos


@jit
def soft_backward(fwd_start, fwd_nbr, fwd_w, bwd_start, bwd_src, bwd_w):
    """Transpose the forward pair lists: for each box ``j``, the boxes ``i < j``
    listing it (``bwd_src``) and the pair's weight (``bwd_w``)."""
    n = fwd_start.shape[0] - 1
    for i in range(n + 1):
        bwd_start[i] = 0
    for e in range(fwd_start[n]):
        bwd_start[fwd_nbr[e] + 1] += 1
    for i in range(n):
        bwd_start[i + 1] += bwd_start[i]
    fill = bwd_start[:n].copy()
    for i in range(n):
        for e in range(fwd_start[i], fwd_start[i + 1]):
            j = fwd_nbr[e]
            p = fill[j]
            bwd_src[p] = i
            bwd_w[p] = fwd_w[e]
            fill[j] = p + 1


# Soft-NMS selection state (arrays allocated by the caller):
#   pos_box[p] box at working position p      box_pos[b] position of box b
#   pscore[p]  current score at position p     done[b]    box b picked
#   bmax/barg  per-block max score / first position of it, dirty[blk] stale
#   st[0]      next step i


@jit(inline="always")
def _soft_pick(cur, thresh, block, pos_box, box_pos, pscore, done, bmax, barg, dirty, st):
    """Next pick of ensemble-boxes' loop: the box to keep, or -1 when the best
    remaining score is <= thresh (or nothing remains)."""
    n = cur.shape[0]
    i = st[0]
    if i >= n:
        return -1
    nb = bmax.shape[0]
    b0 = i // block
    best = -1
    for blk in range(b0, nb):
        if dirty[blk]:
            lo = blk * block
            if lo < i:
                lo = i
            hi = min(n, (blk + 1) * block)
            m = pscore[lo]
            a = lo
            for p in range(lo + 1, hi):
                v = pscore[p]
                if v > m:
                    m = v
                    a = p
            bmax[blk] = m
            barg[blk] = a
            dirty[blk] = False
        if best < 0 or bmax[blk] > bmax[best]:
            best = blk
    p = barg[best]
    m = bmax[best]
    if not m > thresh:
        return -1
    b = pos_box[p]
    if p != i:
        a = pos_box[i]
        pos_box[p] = a
        box_pos[a] = p
        pscore[p] = pscore[i]
        pos_box[i] = b
        box_pos[b] = i
    dirty[best] = True
    dirty[b0] = True
    done[b] = True
    st[0] = i + 1
    return b


@jit(inline="always")
def _soft_decay(cur, j, w, block, box_pos, pscore, bmax, barg, dirty):
    """Multiply box j's score by w (float64 product, stored in the score dtype)."""
    cur[j] = w * float(cur[j])
    nv = cur[j]
    q = box_pos[j]
    pscore[q] = nv
    blk = q // block
    if not dirty[blk]:
        if nv > bmax[blk] or (nv == bmax[blk] and q < barg[blk]):
            bmax[blk] = nv
            barg[blk] = q
        elif q == barg[blk]:
            dirty[blk] = True


@jit
def soft_select(
    cur,
    thresh,
    fwd_start,
    fwd_nbr,
    fwd_w,
    bwd_start,
    bwd_src,
    bwd_w,
    block,
    pos_box,
    box_pos,
    pscore,
    done,
    bmax,
    barg,
    dirty,
    st,
    out_idx,
):
    """Soft-NMS selection loop, step for step as ensemble-boxes runs it.

    ensemble-boxes keeps the boxes in a working array; at step ``i`` it picks
    the first position of the largest current score among positions
    ``i..N-1``, swaps that box into position ``i`` and multiplies the score of
    every later box by its weight to the picked one. This kernel replays the
    same positions (so equal scores resolve identically) but finds the maximum
    from per-block maxima (``block`` positions each, refreshed lazily) and
    only touches the picked box's intersecting neighbours: forward lists
    ``fwd_*`` (pairs ``i < j`` with precomputed weights) and their transpose
    ``bwd_*``; every other weight is exactly 1. It stops when the best
    remaining score is ``<= thresh`` (nothing later can be kept when
    ``thresh >= 0``). ``cur`` ends with the decayed scores. Returns the number
    of kept boxes, written to ``out_idx`` in pick order.
    """
    k = 0
    while True:
        b = _soft_pick(cur, thresh, block, pos_box, box_pos, pscore, done, bmax, barg, dirty, st)
        if b < 0:
            break
        out_idx[k] = b
        k += 1
        for e in range(fwd_start[b], fwd_start[b + 1]):
            j = fwd_nbr[e]
            w = fwd_w[e]
            if (not done[j]) and w != 1.0:
                _soft_decay(cur, j, w, block, box_pos, pscore, bmax, barg, dirty)
        for e in range(bwd_start[b], bwd_start[b + 1]):
            j = bwd_src[e]
            w = bwd_w[e]
            if (not done[j]) and w != 1.0:
                _soft_decay(cur, j, w, block, box_pos, pscore, bmax, barg, dirty)
    return k


@jit
def soft_step(
    cur,
    thresh,
    block,
    pos_box,
    box_pos,
    pscore,
    done,
    bmax,
    barg,
    dirty,
    st,
    x1,
    y1,
    x2,
    y2,
    c0,
    c1,
    r0,
    r1,
    ncols,
    start,
    items,
    stamp,
    nbr_buf,
    ovr_buf,
    w_buf,
    pending,
):
    """One pick of Soft-NMS for inputs too large to precompute all pairs.

    Applies the ``pending`` weights ``w_buf[:pending]`` of the previous pick to
    ``nbr_buf``, picks the next box (as :func:`soft_select`), and writes the
    IoU of its not yet picked, intersecting neighbours to
    ``nbr_buf``/``ovr_buf`` (all with positive intersection) for the caller to
    turn into weights with NumPy.
    Returns ``(picked box or -1, neighbour count)``.
    """
    for e in range(pending):
        j = nbr_buf[e]
        _soft_decay(cur, j, w_buf[e], block, box_pos, pscore, bmax, barg, dirty)
    b = _soft_pick(cur, thresh, block, pos_box, box_pos, pscore, done, bmax, barg, dirty, st)
    if b < 0:
        return -1, 0
    ax1 = x1[b]
    ay1 = y1[b]
    ax2 = x2[b]
    ay2 = y2[b]
    aarea = (ax2 - ax1) * (ay2 - ay1)
    cnt = 0
    for r in range(r0[b], r1[b] + 1):
        for c in range(c0[b], c1[b] + 1):
            cell = r * ncols + c
            for e in range(start[cell], start[cell + 1]):
                j = items[e]
                if done[j] or stamp[j] == b:
                    continue
                stamp[j] = b
                w = max(0.0, min(ay2, y2[j]) - max(ay1, y1[j]))
                h = max(0.0, min(ax2, x2[j]) - max(ax1, x1[j]))
                inter = w * h
                if inter > 0.0:
                    nbr_buf[cnt] = j
                    ovr_buf[cnt] = inter / (aarea + (x2[j] - x1[j]) * (y2[j] - y1[j]) - inter)
                    cnt += 1
    return b, cnt


# ---------------------------------------------------------------------------
# progressive grid over all boxes (Matrix NMS, Cluster-NMS)
# ---------------------------------------------------------------------------


@jit
def matrix_decay(sx1, sy1, sx2, sy2, off, gaussian, sigma, factor, cells_per_box, head, nxt, ent, stamp, comp, decay):
    """Matrix NMS decay factors for score-sorted boxes.

    For each box ``j`` (sorted position), over the higher-scored boxes ``i``
    that intersect it: ``comp[j] = max IoU(i, j)`` and ``decay[j] = min(1,
    min_i f(IoU(i, j), comp[i]))`` with ``f = exp(-sigma * (iou**2 -
    comp_i**2))`` (gaussian) or ``(1 - iou) / (1 - comp_i)`` (linear; rows
    with ``comp_i == 1`` are skipped). Non-intersecting pairs give ``f >= 1``
    and cannot lower the minimum, so only grid neighbours are visited. IoU is
    computed in the boxes' dtype (torchvision's arithmetic), ``f`` in float64.
    ``stamp`` (N, int64) de-duplicates boxes met in several cells.
    """
    n = sx1.shape[0]
    zero = sx1.dtype.type(0)
    offv = sx1.dtype.type(off)
    seg_pad, gx0, gy0, inv_w, inv_h, ncols, nrows = grid_geometry(
        sx1, sy1, sx2, sy2, 0, n, off, factor, max(64, cells_per_box * n)
    )
    for c in range(ncols * nrows):
        head[c] = -1
    for t in range(n):
        stamp[t] = -1
    ne = 0
    for t in range(n):
        bx1 = sx1[t]
        by1 = sy1[t]
        bx2 = sx2[t]
        by2 = sy2[t]
        barea = (bx2 - bx1 + offv) * (by2 - by1 + offv)
        c0, c1, r0, r1 = _box_cells(bx1, by1, bx2, by2, off, seg_pad, gx0, gy0, inv_w, inv_h, ncols, nrows)
        cmax = 0.0
        dmin = 1.0
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                e = head[r * ncols + c]
                while e >= 0:
                    i = ent[e]
                    e = nxt[e]
                    if stamp[i] == t:
                        continue
                    stamp[i] = t
                    aarea = (sx2[i] - sx1[i] + offv) * (sy2[i] - sy1[i] + offv)
                    inter, iou = _overlap(sx1[i], sy1[i], sx2[i], sy2[i], aarea, bx1, by1, bx2, by2, barea, zero, offv)
                    if not inter > zero:
                        continue
                    v = float(iou)
                    if v > cmax:
                        cmax = v
                    ci = comp[i]
                    if gaussian:
                        f = math.exp(-sigma * (v * v - ci * ci))
                    elif ci < 1.0:
                        f = (1.0 - v) / (1.0 - ci)
                    else:
                        continue
                    if f < dmin:
                        dmin = f
        comp[t] = cmax
        decay[t] = dmin
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                ent[ne] = t
                nxt[ne] = head[r * ncols + c]
                head[r * ncols + c] = ne
                ne += 1


@jit
def suppressor_lists(
    sx1, sy1, sx2, sy2, thr, inclusive, off, shrink, factor, cells_per_box, head, nxt, ent, stamp, fill, start, nbr
):
    """For each score-sorted box ``j``, the higher boxes ``i`` with
    ``IoU(i, j) > thr`` (``>=`` with ``inclusive``), found with a grid that
    registers every box. Count mode (``fill`` False): ``start`` gets CSR
    offsets. Fill mode: the lists are written to ``nbr``."""
    n = sx1.shape[0]
    zero = sx1.dtype.type(0)
    offv = sx1.dtype.type(off)
    pad, gx0, gy0, inv_w, inv_h, ncols, nrows = grid_geometry(
        sx1, sy1, sx2, sy2, 0, n, off, factor, max(64, cells_per_box * n)
    )
    for c in range(ncols * nrows):
        head[c] = -1
    for t in range(n):
        stamp[t] = -1
    if not fill:
        start[0] = 0
    ne = 0
    for t in range(n):
        bx1 = sx1[t]
        by1 = sy1[t]
        bx2 = sx2[t]
        by2 = sy2[t]
        barea = (bx2 - bx1 + offv) * (by2 - by1 + offv)
        c0, c1, r0, r1 = _core_cells(bx1, by1, bx2, by2, off, shrink, pad, gx0, gy0, inv_w, inv_h, ncols, nrows)
        cnt = 0
        p = start[t]
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                e = head[r * ncols + c]
                while e >= 0:
                    i = ent[e]
                    e = nxt[e]
                    if stamp[i] == t:
                        continue
                    stamp[i] = t
                    aarea = (sx2[i] - sx1[i] + offv) * (sy2[i] - sy1[i] + offv)
                    ax1 = sx1[i]
                    ay1 = sy1[i]
                    ax2 = sx2[i]
                    ay2 = sy2[i]
                    if _suppresses(
                        ax1, ay1, ax2, ay2, aarea, bx1, by1, bx2, by2, barea, zero, offv, thr, inclusive, 0, 1.0
                    ):
                        if fill:
                            nbr[p + cnt] = i
                        cnt += 1
        if not fill:
            start[t + 1] = start[t] + cnt
        c0, c1, r0, r1 = _box_cells(bx1, by1, bx2, by2, off, pad, gx0, gy0, inv_w, inv_h, ncols, nrows)
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                ent[ne] = t
                nxt[ne] = head[r * ncols + c]
                head[r * ncols + c] = ne
                ne += 1


@jit
def suppressor_lists_dense(sx1, sy1, sx2, sy2, thr, inclusive, off, fill, start, nbr):
    """:func:`suppressor_lists` by testing every higher box (any threshold)."""
    n = sx1.shape[0]
    zero = sx1.dtype.type(0)
    offv = sx1.dtype.type(off)
    if not fill:
        start[0] = 0
    for t in range(n):
        bx1 = sx1[t]
        by1 = sy1[t]
        bx2 = sx2[t]
        by2 = sy2[t]
        barea = (bx2 - bx1 + offv) * (by2 - by1 + offv)
        cnt = 0
        p = start[t]
        for i in range(t):
            aarea = (sx2[i] - sx1[i] + offv) * (sy2[i] - sy1[i] + offv)
            if _suppresses(
                sx1[i], sy1[i], sx2[i], sy2[i], aarea, bx1, by1, bx2, by2, barea, zero, offv, thr, inclusive, 0, 1.0
            ):
                if fill:
                    nbr[p + cnt] = i
                cnt += 1
        if not fill:
            start[t + 1] = start[t] + cnt


@jit
def cluster_iterate(start, nbr, keep, new_keep, max_iter):
    """Cluster-NMS iterations on the suppression lists (Jacobi form of the
    paper's matrix iteration): ``keep_{t+1}[j] = no i in list(j) has
    keep_t[i]``, from all-ones until nothing changes. Returns the number of
    iterations run."""
    n = keep.shape[0]
    for j in range(n):
        keep[j] = True
    it = 0
    while it < max_iter:
        it += 1
        changed = False
        for j in range(n):
            k = True
            for e in range(start[j], start[j + 1]):
                if keep[nbr[e]]:
                    k = False
                    break
            new_keep[j] = k
            if k != keep[j]:
                changed = True
        for j in range(n):
            keep[j] = new_keep[j]
        if not changed:
            break
    return it


# ---------------------------------------------------------------------------
# ensemble-boxes style fusion (float64 with its float32 accumulators)
# ---------------------------------------------------------------------------


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
def wbf_cluster(
    seg,
    score,
    wgt,
    model,
    x1,
    y1,
    x2,
    y2,
    thr,
    conf_type,
    allows_overflow,
    weights,
    wsum,
    wmax,
    nxt_member,
    cl_first,
    cl_last,
    cl_count,
    cl_w,
    out_score,
    out_box,
):
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
    sum float32. A single-member cluster keeps the raw row. Confidences are
    then rescaled by ``conf_type`` (0 avg, 1 max, 2 box_and_model_avg,
    3 absent_model_aware_avg), with NumPy's summation order for the sums of
    model weights. ``nxt_member`` (N) and ``cl_*`` (N) are scratch. Returns
    the number of fused boxes, written in group order then cluster order.
    Cost O(N * clusters per label).
    """
    nmodels = weights.shape[0]
    k = 0
    acc = np.zeros(4, dtype=np.float32)
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
                out_score[c] = float(np.float32(cmax))
            else:
                out_score[c] = float(np.float32(conf / cl_count[c]))
            cl_w[c] = float(np.float32(w))
            for q in range(4):
                out_box[c, q] = float(np.float32(float(acc[q]) / conf))
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
def nmw_cluster(seg, score, x1, y1, x2, y2, thr, nxt_member, cl_first, cl_last, out_score, out_box):
    """Non-maximum weighted (Zhou et al. 2017), step for step as
    ensemble-boxes' ``non_maximum_weighted`` runs it.

    Rows are grouped by label and sorted as ensemble-boxes sorts them. A row
    joins the cluster whose first (highest) box has the highest IoU with it
    when that IoU is ``> thr`` (first cluster on ties), else opens a cluster.
    Each cluster becomes one box: coordinates are the average of its members
    weighted by ``score * IoU(member, first)``, accumulated in float32 and
    divided by the float64 weight sum; its score is the first box's score,
    rounded to float32. Returns the number of boxes. Cost O(N * clusters).
    """
    k = 0
    acc = np.zeros(4, dtype=np.float32)
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
            out_score[c] = float(np.float32(score[f]))
            for q in range(4):
                out_box[c, q] = float(np.float32(float(acc[q]) / conf))
    return k
