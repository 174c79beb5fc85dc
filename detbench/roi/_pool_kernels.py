"""Numba kernels of ROI Pooling, and the records they take.

Serial, GIL-free kernels; the public layer (:mod:`detbench.roi.pool`) runs them on several threads,
each over its own run of rois. The channel axis is innermost (every cell compare is a SIMD loop over
channels); the features are read channels-last as a :class:`~detbench.roi._layout_kernels.RoiSource`
says. Bin edges follow torchvision's CPU kernel (``floor``/``ceil`` of ``p * bin`` in the features'
dtype), in int64 so that rois far outside the map still land in the right bins.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from detbench._jit import jit
from detbench.roi._layout_kernels import copy_window

#: starting value of ROI Pooling's running max (C's ``-FLT_MAX``, also for float64).
NEG_FLT_MAX = -float(np.finfo(np.float32).max)
#: the largest |roi corner * spatial_scale| in cells: the public layer refuses rois beyond it, so every
#: bin edge (at most about ``3 * CELL_LIMIT``) is exact in int64.
CELL_LIMIT = float(2**60)


class PoolEdges(NamedTuple):
    """Bin edges of one roi: bin ``(i, j)`` covers rows ``hs[i] <= h < he[i]`` and columns ``ws[j] <= w < we[j]``
    (int64, clipped to the map; empty when ``he <= hs`` or ``we <= ws``)."""

    hs: np.ndarray
    he: np.ndarray
    ws: np.ndarray
    we: np.ndarray


class PoolScratch(NamedTuple):
    """Per-thread scratch: ``best`` ``(ph * pw, B)`` running maxima (features' dtype) and ``where``
    ``(ph * pw, B)`` int32 their cells (``(0, 0)`` when no argmax is wanted)."""

    best: np.ndarray
    where: np.ndarray


class PoolResult(NamedTuple):
    """The outputs: ``out`` ``(K, C, ph, pw)`` values and ``arg`` the int32 argmax of the same shape
    (``(0, 0, 0, 0)`` when not wanted)."""

    out: np.ndarray
    arg: np.ndarray


@jit
def new_pool_edges(ph, pw):
    """Empty :class:`PoolEdges` for ``ph x pw`` bins."""
    return PoolEdges(np.empty(ph, np.int64), np.empty(ph, np.int64), np.empty(pw, np.int64), np.empty(pw, np.int64))


@jit
def round_half_away(v):
    """C's ``round`` (halves away from zero) as an int64. The caller keeps ``|v| <= CELL_LIMIT``; the clamp
    only keeps the integer conversion defined."""
    x = min(max(float(v), -CELL_LIMIT), CELL_LIMIT)  # exact for float32 input
    t = np.trunc(x)
    r = int(t)
    if abs(x - t) >= 0.5:  # x - t, the fraction, is exact
        r += 1 if x > 0.0 else -1
    return r


@jit
def pool_axis(like, start, cells, size, lo, hi):
    """Bin ``p`` of an axis covers cells ``[lo[p], hi[p])``: ``floor(p*b)``..``ceil((p+1)*b)`` with
    ``b = cells / pooled`` (in the dtype of the array ``like``), shifted by ``start`` and clipped to
    ``[0, size]``. Returns the first and last cell covered (``last < first`` when none)."""
    T = like.dtype.type
    pooled = lo.shape[0]
    b = T(cells) / T(pooled)
    first = size
    last = -1
    for p in range(pooled):
        a = min(max(int(np.floor(T(p) * b)) + start, 0), size)
        e = min(max(int(np.ceil(T(p + 1) * b)) + start, 0), size)
        lo[p] = a
        hi[p] = e
        if e > a:
            if a < first:
                first = a
            if e - 1 > last:
                last = e - 1
    return first, last


@jit
def pool_one(rois, k, scale, H, W, edges):
    """Rounded corners of roi ``k`` and its bin edges (written to the :class:`PoolEdges` ``edges``);
    returns the cell window covered. All in int64: exact for corners within ``CELL_LIMIT`` cells."""
    roi = rois[k]
    x1 = round_half_away(roi[1] * scale)
    y1 = round_half_away(roi[2] * scale)
    x2 = round_half_away(roi[3] * scale)
    y2 = round_half_away(roi[4] * scale)
    # inclusive cell range; malformed rois become one cell
    y0, y_1 = pool_axis(roi, y1, max(y2 - y1 + 1, 1), H, edges.hs, edges.he)
    x0, x_1 = pool_axis(roi, x1, max(x2 - x1 + 1, 1), W, edges.ws, edges.we)
    return y0, y_1, x0, x_1


@jit
def roi_pool_rois(src, rois, order, scale, res):
    """ROI Pooling of the rois ``order`` into the :class:`PoolResult` ``res`` (its ``arg`` too when it is
    not empty), reading the features as ``src`` (a :class:`~detbench.roi._layout_kernels.RoiSource`)
    says."""
    feat, blk, c0, windowed = src
    want_arg = res.arg.size > 0
    if windowed:
        N, C, H, W = feat.shape
    else:
        N, H, W, C = blk.shape
        flat = blk.reshape((N * H * W, C))
    ph = res.out.shape[2]
    pw = res.out.shape[3]
    scratch = PoolScratch(
        np.empty((ph * pw, C), res.out.dtype), np.empty((ph * pw, C) if want_arg else (0, 0), np.int32)
    )
    edges = new_pool_edges(ph, pw)
    for t in range(order.shape[0]):
        k = order[t]
        y0, y1, x0, x1 = pool_one(rois, k, scale, H, W, edges)
        b = int(rois[k, 0])
        if windowed:
            if y1 < y0 or x1 < x0:  # every bin is empty
                y0 = y1 = x0 = x1 = 0
            ww = x1 - x0 + 1
            win = np.empty(((y1 - y0 + 1) * ww, C), res.out.dtype)
            copy_window(feat, b, y0, y1, x0, x1, win)
            pool_bins(win, -(y0 * ww + x0), ww, W, edges, scratch, want_arg, res, k, 0)
        else:
            pool_bins(flat, b * H * W, W, W, edges, scratch, want_arg, res, k, c0)


@jit
def pool_bins(src, rowbase, rowstride, W, edges, scratch, want_arg, res, k, c0):
    """Fill ``res.out[k, c0:c0 + B]`` (and ``res.arg`` when ``want_arg``) with the max over each bin's cells
    (bin edges in the :class:`PoolEdges` ``edges``), from a channels-last source of ``B`` channels whose
    cell (y, x) is row ``rowbase + y * rowstride + x``; ``W`` is the map's width (for the argmax).

    ``scratch`` (a :class:`PoolScratch`) holds the bins channels-last; they are copied to ``res``
    (channels-first) at the end."""
    hs, he, ws, we = edges
    best, where = scratch
    out, arg = res
    T = best.dtype.type
    C = src.shape[1]
    nc = min(C, out.shape[1] - c0)
    ph = out.shape[2]
    pw = out.shape[3]
    for i in range(ph):
        for j in range(pw):
            q = i * pw + j
            empty = he[i] <= hs[i] or we[j] <= ws[j]
            init = T(0.0) if empty else T(NEG_FLT_MAX)
            for c in range(C):
                best[q, c] = init
            if want_arg:
                for c in range(C):
                    where[q, c] = -1
            for h in range(hs[i], he[i]):
                r = rowbase + h * rowstride
                w = ws[j]
                # two cells per pass; unconditional stores of selects let LLVM use SIMD max / blend
                while w + 2 <= we[j]:
                    p1 = r + w
                    p2 = p1 + 1
                    if want_arg:
                        i1 = np.int32(h * W + w)
                        i2 = np.int32(h * W + w + 1)
                        for c in range(C):
                            m = best[q, c]
                            a = where[q, c]
                            v = src[p1, c]
                            up = v > m
                            m = v if up else m
                            a = i1 if up else a
                            v = src[p2, c]
                            up = v > m
                            best[q, c] = v if up else m
                            where[q, c] = i2 if up else a
                    else:
                        for c in range(C):
                            m = best[q, c]
                            v = src[p1, c]
                            m = v if v > m else m
                            v = src[p2, c]
                            best[q, c] = v if v > m else m
                    w += 2
                if w < we[j]:
                    p1 = r + w
                    if want_arg:
                        i1 = np.int32(h * W + w)
                        for c in range(C):
                            v = src[p1, c]
                            up = v > best[q, c]
                            where[q, c] = i1 if up else where[q, c]
                            best[q, c] = v if up else best[q, c]
                    else:
                        for c in range(C):
                            v = src[p1, c]
                            best[q, c] = v if v > best[q, c] else best[q, c]
    for c in range(nc):
        for i in range(ph):
            for j in range(pw):
                out[k, c0 + c, i, j] = best[i * pw + j, c]
    if want_arg:
        for c in range(nc):
            for i in range(ph):
                for j in range(pw):
                    arg[k, c0 + c, i, j] = where[i * pw + j, c]
