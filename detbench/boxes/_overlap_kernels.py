"""Pairwise box-overlap kernels (IoU, GIoU, DIoU, CIoU).

Layout: the first set ``a`` is an (N, 4) xyxy array; the second set is passed
transposed as ``bt`` (4, M) so that the inner loop over ``j`` reads four
contiguous rows and vectorises. Each ``prange`` iteration writes its own output
row, so there are no races.

Degenerate pairs (both boxes of zero area) have a zero union; these kernels
return IoU 0 there instead of 0/0 = NaN (see ``detbench.boxes.box_iou``); with
``eps == 0`` DIoU and CIoU treat their other 0/0 cases the same way.

The callers (:mod:`detbench.boxes.overlap`) have checked that no area overflows or underflows the
arrays' dtype.

Every scalar argument (``offset``, ``eps``, ``half``, ``one``, ``k``) must already
have the arrays' dtype: Numba types ``float32 op int`` as float64, so literal
constants inside the loops would silently promote float32 work to float64.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from detbench._jit import jit, jit_twins

#: Below this many output elements the serial twin of a kernel is used: waking a
#: thread pool costs more than the work, and on a loaded machine far more.
PARALLEL_MIN_ELEMENTS = 1 << 18


def _iou_matrix(a, bt, offset, one, out):  # pragma: no cover - compiled
    n = a.shape[0]
    m = bt.shape[1]
    zero = offset - offset
    bx1 = bt[0]
    by1 = bt[1]
    bx2 = bt[2]
    by2 = bt[3]
    area_b = (bx2 - bx1 + offset) * (by2 - by1 + offset)
    for i in prange(n):
        ax1 = a[i, 0]
        ay1 = a[i, 1]
        ax2 = a[i, 2]
        ay2 = a[i, 3]
        area_a = (ax2 - ax1 + offset) * (ay2 - ay1 + offset)
        row = out[i]
        for j in range(m):
            iw = min(ax2, bx2[j]) - max(ax1, bx1[j]) + offset
            ih = min(ay2, by2[j]) - max(ay1, by1[j]) + offset
            iw = max(iw, zero)
            ih = max(ih, zero)
            inter = iw * ih
            union = area_a + area_b[j] - inter
            # union == 0 implies inter == 0: divide by 1 there so 0/0 becomes 0.
            # (A select, not a branch: the loop still vectorises.)
            row[j] = inter / (union if union > zero else one)


@jit(inline="always")
def _pair_iou_and_hull(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, offset, one):  # pragma: no cover
    area_a = (ax2 - ax1 + offset) * (ay2 - ay1 + offset)
    area_b = (bx2 - bx1 + offset) * (by2 - by1 + offset)
    zero = offset - offset
    iw = max(min(ax2, bx2) - max(ax1, bx1) + offset, zero)
    ih = max(min(ay2, by2) - max(ay1, by1) + offset, zero)
    inter = iw * ih
    union = area_a + area_b - inter
    iou = inter / (union if union > zero else one)
    # smallest enclosing box ("hull")
    hw = max(max(ax2, bx2) - min(ax1, bx1) + offset, zero)
    hh = max(max(ay2, by2) - min(ay1, by1) + offset, zero)
    return iou, union, hw, hh


def _giou_matrix(a, bt, offset, one, out):  # pragma: no cover - compiled
    n = a.shape[0]
    zero = offset - offset
    m = bt.shape[1]
    for i in prange(n):
        for j in range(m):
            iou, union, hw, hh = _pair_iou_and_hull(
                a[i, 0], a[i, 1], a[i, 2], a[i, 3], bt[0, j], bt[1, j], bt[2, j], bt[3, j], offset, one
            )
            hull = hw * hh
            # hull == 0 only when both boxes collapse onto one line/point: no penalty.
            out[i, j] = iou - (hull - union) / (hull if hull > zero else one)


@jit(inline="always")
def _diou_terms(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, offset, eps, half, one):  # pragma: no cover
    iou, union, hw, hh = _pair_iou_and_hull(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, offset, one)
    diag2 = hw * hw + hh * hh + eps
    # x * 0.5 is bit-identical to x / 2
    dx = (ax1 + ax2) * half - (bx1 + bx2) * half
    dy = (ay1 + ay2) * half - (by1 + by2) * half
    # diag2 == 0 only with eps == 0 and both boxes one point (then dx == dy == 0): no penalty, not 0/0
    zero = one - one
    return iou, iou - (dx * dx + dy * dy) / (diag2 if diag2 > zero else one)


def _diou_matrix(a, bt, offset, eps, half, one, out):  # pragma: no cover - compiled
    n = a.shape[0]
    m = bt.shape[1]
    for i in prange(n):
        for j in range(m):
            _, d = _diou_terms(
                a[i, 0], a[i, 1], a[i, 2], a[i, 3], bt[0, j], bt[1, j], bt[2, j], bt[3, j], offset, eps, half, one
            )
            out[i, j] = d


def _ciou_matrix(a, bt, offset, eps, half, one, k, out):  # pragma: no cover - compiled
    """``k`` is 4 / pi**2 in the arrays' dtype."""
    n = a.shape[0]
    m = bt.shape[1]
    zero = one - one
    # atan2(w, h) == atan(w / h) for w, h >= 0, and is 0 (not NaN) for a 0x0 box.
    ang_b = np.empty(m, dtype=out.dtype)
    for j in range(m):
        ang_b[j] = math.atan2(bt[2, j] - bt[0, j] + offset, bt[3, j] - bt[1, j] + offset)
    for i in prange(n):
        ax1 = a[i, 0]
        ay1 = a[i, 1]
        ax2 = a[i, 2]
        ay2 = a[i, 3]
        ang_a = math.atan2(ax2 - ax1 + offset, ay2 - ay1 + offset)
        for j in range(m):
            iou, d = _diou_terms(ax1, ay1, ax2, ay2, bt[0, j], bt[1, j], bt[2, j], bt[3, j], offset, eps, half, one)
            v = k * (ang_a - ang_b[j]) * (ang_a - ang_b[j])
            den = one - iou + v + eps
            # den == 0 only with eps == 0 and iou == 1, v == 0 (identical boxes): alpha 0, not 0/0
            alpha = v / (den if den > zero else one)
            out[i, j] = d - alpha * v


@jit
def magnitude_range(boxes, offset):  # pragma: no cover - compiled
    """``(largest |coordinate|, smallest positive width or height, any zero width, any zero height)`` of
    ``(N, 4)`` xyxy boxes (``inf`` when no extent is positive): one pass, so the overflow check costs little
    next to an ``N x M`` result."""
    big = offset - offset
    small = np.inf
    zero_w = False
    zero_h = False
    for i in range(boxes.shape[0]):
        for c in range(4):
            big = max(big, abs(boxes[i, c]))
        w = boxes[i, 2] - boxes[i, 0] + offset
        h = boxes[i, 3] - boxes[i, 1] + offset
        if w > 0 and w < small:
            small = w
        if h > 0 and h < small:
            small = h
        zero_w = zero_w or w == 0
        zero_h = zero_h or h == 0
    return float(big), float(small), zero_w, zero_h


#: ``kind`` codes of :func:`robust_matrix`.
IOU, GIOU, DIOU, CIOU = 0, 1, 2, 3


def _robust_matrix(a, bt, offset, eps, kind, out):  # pragma: no cover - compiled
    """The four measures, free of overflow and underflow: float64 boxes whose areas do not fit float64.

    Every extent is divided by the matching side of the pair's enclosing box (``hw``, ``hh``) before
    any product, so the relative areas ``A``, ``B``, ``I`` of the two boxes and of their intersection
    lie in [0, 1]: ``iou = I / (A + B - I)`` and the GIoU penalty ``1 - (A + B - I)``. The DIoU penalty
    divides the centre offsets and hull sides by ``m = max(hw, hh)`` first. Equal to the plain kernels
    up to rounding wherever those do not overflow; a few times slower (only the rare out-of-range
    inputs come here). ``kind``: :data:`IOU`, :data:`GIOU`, :data:`DIOU` or :data:`CIOU`.
    """
    n = a.shape[0]
    m = bt.shape[1]
    zero = offset - offset
    one = zero + 1.0
    half = zero + 0.5
    k = 4.0 / math.pi**2
    for i in prange(n):
        ax1 = a[i, 0]
        ay1 = a[i, 1]
        ax2 = a[i, 2]
        ay2 = a[i, 3]
        wa = ax2 - ax1 + offset
        ha = ay2 - ay1 + offset
        for j in range(m):
            bx1 = bt[0, j]
            by1 = bt[1, j]
            bx2 = bt[2, j]
            by2 = bt[3, j]
            wb = bx2 - bx1 + offset
            hb = by2 - by1 + offset
            iw = max(min(ax2, bx2) - max(ax1, bx1) + offset, zero)
            ih = max(min(ay2, by2) - max(ay1, by1) + offset, zero)
            hw = max(max(ax2, bx2) - min(ax1, bx1) + offset, zero)
            hh = max(max(ay2, by2) - min(ay1, by1) + offset, zero)
            iou = zero
            u = zero
            if hw > zero and hh > zero:
                ra = (wa / hw) * (ha / hh)
                rb = (wb / hw) * (hb / hh)
                ri = (iw / hw) * (ih / hh)
                u = ra + rb - ri
                if u > zero:
                    iou = min(ri / u, one)
            if kind == 0:
                out[i, j] = iou
            elif kind == 1:
                # hull == 0: both boxes collapse onto one line/point, no penalty (as the plain kernel)
                out[i, j] = iou - (one - u) if hw > zero and hh > zero else iou
            else:
                s = max(hw, hh)
                d = iou
                if s > zero:
                    dx = ((ax1 + ax2) * half - (bx1 + bx2) * half) / s
                    dy = ((ay1 + ay2) * half - (by1 + by2) * half) / s
                    cw = hw / s
                    ch = hh / s
                    d = iou - (dx * dx + dy * dy) / (cw * cw + ch * ch + (eps / s) / s)
                if kind == 2:
                    out[i, j] = d
                else:
                    v = k * (math.atan2(wa, ha) - math.atan2(wb, hb)) ** 2
                    den = one - iou + v + eps
                    out[i, j] = d - (v / den if den > zero else zero) * v


# Each kernel is compiled twice from one body (see ``jit_twins``).
iou_matrix, iou_matrix_serial = jit_twins(_iou_matrix)
giou_matrix, giou_matrix_serial = jit_twins(_giou_matrix)
diou_matrix, diou_matrix_serial = jit_twins(_diou_matrix)
ciou_matrix, ciou_matrix_serial = jit_twins(_ciou_matrix)
robust_matrix, robust_matrix_serial = jit_twins(_robust_matrix)
