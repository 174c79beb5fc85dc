"""Kernels shared by the NMS family: pair arithmetic and the spatial grid.

Pairwise overlap (greedy NMS and its hard variants, Matrix NMS) uses
torchvision's CPU arithmetic, in the boxes' own dtype::

    w = max(0, min(ax2, bx2) - max(ax1, bx1) + off)
    h = max(0, min(ay2, by2) - max(ay1, by1) + off)
    inter = w * h
    iou = inter / (area_a + area_b - inter)

with ``area = (x2 - x1 + off) * (y2 - y1 + off)`` and ``off`` 0 (or 1 for the
legacy pixel convention). Every expression is symmetric in ``a`` and ``b``, so
``iou(a, b)`` and ``iou(b, a)`` are the same bits, which is what lets the grid
strategies visit pairs in any order and still return exactly the plain greedy
answer.

Spatial grid
------------
A :class:`Grid` covers the boxes' bounding rectangle with ``ncols x nrows``
cells; a box is registered in every cell its padded extent touches. Two boxes
with a positive intersection overlap on an open interval in x and in y, and the
cell index ``floor((v - g0) * inv)`` is monotonic in ``v``, so they always share
a cell: testing only boxes found in the candidate's own cells is exact, not an
approximation. (Extents are padded by a tiny margin so rounding of the cell
index can only add candidates, never lose one.) Greedy kernels query an even
smaller rectangle: a box with ``IoU > t`` against a candidate covers more than
``t`` of the candidate's width and height, so it meets the candidate shrunk by
(slightly less than) ``t`` on each side, its centre when ``t >= 0.5``.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from detbench._jit import jit

#: Coordinate columns of boxes in working order (1-D arrays of one float dtype).
#: ``x1, y1, x2, y2``: corner coordinates.
Columns = namedtuple("Columns", ["x1", "y1", "x2", "y2"])

#: How a kept box ``a`` suppresses a candidate ``b``.
#: ``thr``: threshold (float); ``inclusive``: suppress at ``>=`` instead of ``>``;
#: ``off``: 0 or 1 added to extents, a scalar of the coordinates' dtype (so the
#: arithmetic stays in that dtype; see :func:`make_rule`); ``mode``: 0 IoU, 1 DIoU;
#: ``beta``: DIoU penalty exponent.
PairRule = namedtuple("PairRule", ["thr", "inclusive", "off", "mode", "beta"])

#: Geometry of a spatial grid (float64): ``pad`` margin added to extents,
#: ``gx0``/``gy0`` origin, ``inv_w``/``inv_h`` cells per unit length,
#: ``ncols``/``nrows`` grid size.
Grid = namedtuple("Grid", ["pad", "gx0", "gy0", "inv_w", "inv_h", "ncols", "nrows"])


def make_rule(thr: float, inclusive: bool, off: float, mode: int, beta: float, dtype: np.dtype) -> PairRule:
    """A :class:`PairRule` whose ``off`` has the coordinates' ``dtype``."""
    return PairRule(float(thr), bool(inclusive), np.dtype(dtype).type(off), int(mode), float(beta))


@jit
def gather_columns(boxes, order, cols):
    """Fill ``cols`` (:class:`Columns`) with the coordinates of ``boxes[order]`` (one pass)."""
    x1, y1, x2, y2 = cols
    for t in range(order.shape[0]):
        i = order[t]
        x1[t] = boxes[i, 0]
        y1[t] = boxes[i, 1]
        x2[t] = boxes[i, 2]
        y2[t] = boxes[i, 3]


def make_columns(boxes: np.ndarray, order: np.ndarray) -> Columns:
    """:class:`Columns` of ``boxes[order]``."""
    n = order.shape[0]
    cols = Columns(*(np.empty(n, boxes.dtype) for _ in range(4)))
    gather_columns(boxes, order, cols)
    return cols


@jit
def box_scale(boxes, off):
    """Scale statistics of ``boxes`` in float64: (largest |coordinate|, largest
    side (``+ off``), largest area, smallest area of a box with positive sides;
    inf when none)."""
    big = 0.0
    side = 0.0
    amax = 0.0
    amin = np.inf
    for i in range(boxes.shape[0]):  # selects, not branches: ~2 ns a box
        x1 = float(boxes[i, 0])
        y1 = float(boxes[i, 1])
        x2 = float(boxes[i, 2])
        y2 = float(boxes[i, 3])
        m = max(max(abs(x1), abs(y1)), max(abs(x2), abs(y2)))
        big = m if m > big else big
        w = x2 - x1 + off
        h = y2 - y1 + off
        sd = w if w > h else h
        side = sd if sd > side else side
        a = w * h
        amax = a if a > amax else amax
        ap = a if (w > 0.0) & (h > 0.0) else np.inf  # includes a product that underflowed to 0
        amin = ap if ap < amin else amin
    return big, side, amax, amin


# ---------------------------------------------------------------------------
# pair arithmetic
# ---------------------------------------------------------------------------


@jit(inline="always")
def overlap(ax1, ay1, ax2, ay2, aarea, bx1, by1, bx2, by2, barea, zero, off):
    """(inter, iou) of two boxes with torchvision's arithmetic, in their dtype."""
    w = max(zero, min(ax2, bx2) - max(ax1, bx1) + off)
    h = max(zero, min(ay2, by2) - max(ay1, by1) + off)
    inter = w * h
    return inter, inter / (aarea + barea - inter)


@jit(inline="always")
def diou_penalty(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, beta):
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
def suppresses(ax1, ay1, ax2, ay2, aarea, bx1, by1, bx2, by2, barea, rule):
    """Does kept box ``a`` suppress candidate ``b`` under ``rule`` (:class:`PairRule`)?"""
    offv = rule.off
    zero = offv - offv
    inter, iou = overlap(ax1, ay1, ax2, ay2, aarea, bx1, by1, bx2, by2, barea, zero, offv)
    if rule.mode == 0:
        v = float(iou)
    else:
        v = float(iou) - diou_penalty(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, rule.beta)
    if rule.inclusive:
        return v >= rule.thr
    return v > rule.thr


# ---------------------------------------------------------------------------
# grid geometry
# ---------------------------------------------------------------------------


@jit(inline="always")
def cell(v, g0, inv, n):
    """Grid cell of coordinate ``v`` (float64 arithmetic), clamped to ``[0, n)``."""
    t = (v - g0) * inv
    if not t > 0.0:  # also NaN (inf * 0 from absurd coordinates)
        return 0
    if t >= n:
        return n - 1
    return int(t)


@jit(inline="always")
def box_cells(x1, y1, x2, y2, off, g):
    """Cells ``(c0, c1, r0, r1)`` covered by a box's padded extent in grid ``g``."""
    c0 = cell(float(x1) - g.pad, g.gx0, g.inv_w, g.ncols)
    c1 = cell(float(x2) + off + g.pad, g.gx0, g.inv_w, g.ncols)
    r0 = cell(float(y1) - g.pad, g.gy0, g.inv_h, g.nrows)
    r1 = cell(float(y2) + off + g.pad, g.gy0, g.inv_h, g.nrows)
    return c0, c1, r0, r1


@jit(inline="always")
def core_cells(bx1, by1, bx2, by2, off, shrink, g):
    """Cells ``(c0, c1, r0, r1)`` under a box's centre part (shrunk by ``shrink`` of its size per
    side, collapsed to its midpoint when that inverts), widened by ``g.pad``; float64 arithmetic."""
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
        cell(qx1 - g.pad, g.gx0, g.inv_w, g.ncols),
        cell(qx2 + g.pad, g.gx0, g.inv_w, g.ncols),
        cell(qy1 - g.pad, g.gy0, g.inv_h, g.nrows),
        cell(qy2 + g.pad, g.gy0, g.inv_h, g.nrows),
    )


@jit
def grid_geometry(cols, lo, hi, off, factor, max_cells):
    """:class:`Grid` over boxes ``lo:hi`` of ``cols`` (:class:`Columns`).

    Cells are ``factor`` times the mean box size (``off`` added to extents),
    at most ``max_cells`` in all (the larger side is halved until it fits).
    ``pad`` is a margin far above float64 rounding of the coordinates.
    """
    x1, y1, x2, y2 = cols
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
    return Grid(pad, gx0, gy0, inv_w, inv_h, ncols, nrows)


@jit
def plan_segments(cols, seg, off, factor, cells_per_box, simple_max):
    """Largest cell count and registration count over the segments ``seg``
    of ``cols`` that use the grid (more than ``simple_max`` boxes)."""
    x1, y1, x2, y2 = cols
    max_cells = 1
    max_cap = 1
    for s in range(seg.shape[0] - 1):
        lo = seg[s]
        hi = seg[s + 1]
        if hi - lo <= simple_max:
            continue
        g = grid_geometry(cols, lo, hi, off, factor, max(64, cells_per_box * (hi - lo)))
        cap = 0
        for i in range(lo, hi):
            c0, c1, r0, r1 = box_cells(x1[i], y1[i], x2[i], y2[i], off, g)
            cap += (c1 - c0 + 1) * (r1 - r0 + 1)
        max_cells = max(max_cells, g.ncols * g.nrows)
        max_cap = max(max_cap, cap)
    return max_cells, max_cap
