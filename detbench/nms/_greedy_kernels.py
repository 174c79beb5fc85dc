"""Kernels of greedy NMS (:mod:`detbench.nms.greedy`; DIoU-NMS and Fast NMS reuse them).

Boxes arrive as :class:`~detbench.nms._grid.Columns` sorted by decreasing
score within each segment (a class); the suppression test is a
:class:`~detbench.nms._grid.PairRule`, the strategy a :class:`GreedyPlan`,
the scratch a :class:`GreedyScratch` built by :func:`make_greedy_scratch`.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from detbench._jit import jit
from detbench.nms._grid import Columns, box_cells, core_cells, gather_columns, grid_geometry, suppresses

#: How greedy NMS visits pairs.
#: ``suppress_all``: suppressed boxes suppress too (Fast NMS);
#: ``shrink``: fraction of a candidate's size cut from each side of its grid query
#: (slightly below the threshold); ``factor``: cell side / mean box side;
#: ``cells_per_box``: cap on cells per box; ``simple_max``: segments of at most
#: this many boxes run the simple loop.
GreedyPlan = namedtuple("GreedyPlan", ["suppress_all", "shrink", "factor", "cells_per_box", "simple_max"])

#: Scratch of :func:`greedy_segments`.
#: ``sup`` (N, bool): simple loop's suppressed flags; ``head`` (cells, int32): first
#: entry of each cell's list; ``nxt``/``ent`` (registrations, int32): next entry and
#: registered box of each entry; ``kx1, ky1, kx2, ky2, karea`` (N, coordinate dtype):
#: the registered boxes, copied in registration order.
GreedyScratch = namedtuple("GreedyScratch", ["sup", "head", "nxt", "ent", "kx1", "ky1", "kx2", "ky2", "karea"])


def make_greedy_scratch(n: int, max_cells: int, cap: int, dtype: np.dtype) -> GreedyScratch:
    """Scratch for ``n`` boxes, a grid of ``max_cells`` cells and ``cap`` registrations."""
    return GreedyScratch(
        np.empty(n, np.bool_),
        np.empty(max_cells, np.int32),
        np.empty(cap, np.int32),
        np.empty(cap, np.int32),
        *(np.empty(n, dtype) for _ in range(5)),
    )


@jit(inline="always")
def _greedy_simple_segment(cols, lo, hi, rule, suppress_all, sup, keep, nk):
    """Simple greedy loop on sorted boxes ``lo:hi``: each surviving box tests
    every later box in a branch-free (vectorisable) loop. O(n * kept)."""
    sx1, sy1, sx2, sy2 = cols
    offv = rule.off
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
            s = suppresses(ax1, ay1, ax2, ay2, aarea, sx1[j], sy1[j], sx2[j], sy2[j], barea, rule)
            sup[j] = sup[j] | s
    return nk


@jit
def greedy_segments(cols, seg, rule, plan, scratch, keep):
    """Greedy NMS independently on each segment ``seg[s]:seg[s+1]`` (a class)
    of ``cols`` (sorted by decreasing score within each segment).

    A segment of at most ``plan.simple_max`` boxes runs the simple loop
    (:func:`_greedy_simple_segment`); a larger one the spatial grid: each
    candidate is tested only against the kept boxes (all boxes with
    ``plan.suppress_all``) registered in the cells under its query rectangle:
    the box shrunk by ``plan.shrink`` of its size on each side (collapsed to the
    centre when ``shrink >= 0.5``). A box ``a`` with ``IoU(a, b) > t`` overlaps
    ``b`` by more than ``t`` of ``b``'s width and of its height, so it meets
    that rectangle whenever ``shrink`` is slightly below the threshold (the
    caller passes ``0.99999 * t``). Kept boxes are registered in every cell
    their extent touches.

    ``keep`` receives sorted positions of kept boxes (segment by segment);
    returns their count. Cost about O(N * boxes met per query), near-linear
    for realistic detections.
    """
    sx1, sy1, sx2, sy2 = cols
    sup, head, nxt, ent, kx1, ky1, kx2, ky2, karea = scratch
    offv = rule.off
    off = float(offv)
    suppress_all = plan.suppress_all
    nk = 0
    for s in range(seg.shape[0] - 1):
        lo = seg[s]
        hi = seg[s + 1]
        if hi <= lo:
            continue
        if hi - lo <= plan.simple_max:
            nk = _greedy_simple_segment(cols, lo, hi, rule, suppress_all, sup, keep, nk)
            continue
        g = grid_geometry(cols, lo, hi, off, plan.factor, max(64, plan.cells_per_box * (hi - lo)))
        ncols = g.ncols
        for c in range(ncols * g.nrows):
            head[c] = -1
        nreg = 0
        ne = 0
        for t in range(lo, hi):
            bx1 = sx1[t]
            by1 = sy1[t]
            bx2 = sx2[t]
            by2 = sy2[t]
            barea = (bx2 - bx1 + offv) * (by2 - by1 + offv)
            c0, c1, r0, r1 = core_cells(bx1, by1, bx2, by2, off, plan.shrink, g)
            hit = False
            for r in range(r0, r1 + 1):
                base = r * ncols
                for c in range(c0, c1 + 1):
                    e = head[base + c]
                    while e >= 0:
                        k = ent[e]
                        if suppresses(kx1[k], ky1[k], kx2[k], ky2[k], karea[k], bx1, by1, bx2, by2, barea, rule):
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
                c0, c1, r0, r1 = box_cells(bx1, by1, bx2, by2, off, g)
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
def label_and_box_range(boxes, labels):
    """(smallest label, largest label, largest coordinate, largest |coordinate|) in one pass."""
    lo = labels[0]
    hi = labels[0]
    top = float(boxes[0, 0])
    big = 0.0
    for i in range(labels.shape[0]):
        v = labels[i]
        lo = v if v < lo else lo
        hi = v if v > hi else hi
        for c in range(4):
            x = float(boxes[i, c])
            top = x if x > top else top
            ax = abs(x)
            big = ax if ax > big else big
    return lo, hi, top, big


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
def batched_small(boxes, labels, order, rule, simple_max, out):
    """torchvision's small-N ``batched_nms`` path in one call (N <= 1000):
    shift boxes by ``label * (max + 1)`` in their dtype, group the
    score-sorted ``order`` by label, check that the shifted classes cannot
    touch, run the simple greedy loop per class and write the kept indices to
    ``out`` in ``order``'s order. Returns their count, or -1 when the general
    path is needed (labels spread too widely, a class larger than
    ``simple_max``, or shifted classes that may touch). The caller checks
    that the label span fits int64. Scratch is allocated here: it is small
    at this size."""
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
    if not classes_separated(shifted, grouped, seg, float(rule.off)):
        return -1
    cols = Columns(
        np.empty(n, dtype=boxes.dtype),
        np.empty(n, dtype=boxes.dtype),
        np.empty(n, dtype=boxes.dtype),
        np.empty(n, dtype=boxes.dtype),
    )
    gather_columns(shifted, grouped, cols)
    sup = np.empty(n, dtype=np.bool_)
    keep = np.empty(n, dtype=np.int64)
    nk = 0
    for s in range(span):
        if seg[s + 1] > seg[s]:
            nk = _greedy_simple_segment(cols, seg[s], seg[s + 1], rule, False, sup, keep, nk)
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
