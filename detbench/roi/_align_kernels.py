"""Numba kernels of ROI Align, and the records they take.

The kernels are serial and release the GIL; the public layer runs them on
several threads, each over its own run of rois (so each owns its ``out[k]``
slices) or of image rows. (Serial kernels compile in a fraction of the time
of ``prange`` ones, and idle threads do not spin on a shared 2-core machine.)

They keep the channel axis innermost: every bilinear tap is a contiguous loop
over channels that LLVM turns into SIMD code; the features are read
channels-last as a :class:`~detbench.roi._layout_kernels.RoiSource` says.

The sampling geometry (positions, cell indices and bilinear weights) depends
only on the roi and on one axis, so it is computed once per roi and axis and
shared by every bin and channel. Every scalar is computed in the features'
dtype with the same operation order as torchvision's CPU kernels, so the
results are bit-identical to them (no fastmath, no FMA contraction).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from detbench._jit import jit
from detbench.roi._layout_kernels import copy_window

#: mmcv's starting value for ``pool_mode="max"`` (a bin with no sample reports it).
MMCV_MAX_INIT = -10000.0


class AlignParams(NamedTuple):
    """The sampling rule of one :func:`detbench.roi.roi_align` call.

    scale: ``spatial_scale`` in the features' dtype.
    sampling_ratio: points per bin and axis; ``<= 0`` adaptive (``ceil(bin size)``).
    aligned: shift the roi by -0.5 cell (``True``) or widen degenerate rois to one cell (``False``).
    max_mode: bins take the max of their samples (mmcv) instead of the mean.
    """

    scale: float
    sampling_ratio: int
    aligned: bool
    max_mode: bool


class AxisSamples(NamedTuple):
    """The sampling points of every bin along one axis of one roi (``P`` bins, room for ``G`` points each).

    lo, hi: ``(P, G)`` int64, the two neighbouring cells of each point.
    frac_hi, frac_lo: ``(P, G)`` of the features' dtype, the bilinear weights of ``hi`` and ``lo``.
    n: ``(P,)`` int64, the points kept in each bin (points outside the extended map are dropped).
    """

    lo: np.ndarray
    hi: np.ndarray
    frac_hi: np.ndarray
    frac_lo: np.ndarray
    n: np.ndarray


@jit
def new_axis_samples(pooled, cap, like):
    """Empty :class:`AxisSamples` for ``pooled`` bins of up to ``cap`` points, weights of ``like``'s dtype."""
    T = like.dtype.type
    return AxisSamples(
        np.empty((pooled, cap), np.int64),
        np.empty((pooled, cap), np.int64),
        np.empty((pooled, cap), T),
        np.empty((pooled, cap), T),
        np.empty(pooled, np.int64),
    )


@jit
def align_frame(roi, scale, pooled_h, pooled_w, sampling_ratio, aligned):
    """Start corner, bin size and sampling grid of one roi ``[b, x1, y1, x2, y2]`` (dtype T)."""
    T = roi.dtype.type
    off = T(0.5) if aligned else T(0.0)
    start_x = roi[1] * scale - off
    start_y = roi[2] * scale - off
    end_x = roi[3] * scale - off
    end_y = roi[4] * scale - off
    roi_w = end_x - start_x
    roi_h = end_y - start_y
    if not aligned:  # legacy model: degenerate rois are widened to one cell
        if roi_w < T(1.0):
            roi_w = T(1.0)
        if roi_h < T(1.0):
            roi_h = T(1.0)
    bin_h = roi_h / T(pooled_h)
    bin_w = roi_w / T(pooled_w)
    if sampling_ratio > 0:
        grid_h = sampling_ratio
        grid_w = sampling_ratio
    else:  # adaptive: about one sample per cell
        grid_h = int(np.ceil(bin_h))
        grid_w = int(np.ceil(bin_w))
    return start_x, start_y, bin_w, bin_h, grid_w, grid_h


@jit
def align_axis(start, bin_size, grid, size, samples):
    """Fill ``samples`` (an :class:`AxisSamples`) with the sampling points of every bin along one axis.

    Bin ``p`` samples at ``start + p * bin + (i + 1/2) * bin / grid`` for ``i < grid``. A point
    outside ``[-1, size]`` is dropped (it adds nothing); others are clamped to the first/last cell.
    Returns the first and last cell used.
    """
    lo, hi, frac_hi, frac_lo, nvalid = samples
    T = frac_hi.dtype.type
    pooled = nvalid.shape[0]
    gT = T(grid)
    top = T(size)
    first = size
    last = -1
    for p in range(pooled):
        base = start + T(p) * bin_size
        n = 0
        for i in range(grid):
            v = base + (T(i) + T(0.5)) * bin_size / gT
            if not (v >= T(-1.0) and v <= top):
                continue
            if v <= T(0.0):
                v = T(0.0)
            c0 = int(v)
            if c0 >= size - 1:
                c0 = size - 1
                c1 = c0
                v = T(c0)
            else:
                c1 = c0 + 1
            f = v - T(c0)
            lo[p, n] = c0
            hi[p, n] = c1
            frac_hi[p, n] = f
            frac_lo[p, n] = T(1.0) - f
            n += 1
            if c0 < first:
                first = c0
            if c1 > last:
                last = c1
        nvalid[p] = n
    return first, last


@jit
def align_bins(src, rowbase, rowstride, ys, xs, full, max_mode, out, k, acc, c0):
    """Fill ``out[k, c0:c0 + B]`` (``B = src.shape[1]``, clipped to the channels of ``out``) from a
    channels-last source whose cell (y, x) is row ``rowbase + y * rowstride + x``.

    ``ys``, ``xs``: the roi's :class:`AxisSamples` along y and x; ``full``: the points per bin of the
    complete grid (the divisor in avg mode); ``max_mode``: max instead of avg. ``acc`` is a
    ``(ph * pw, B)`` scratch: bins accumulate there channels-last and are written to ``out``
    (channels-first) at the end, one contiguous ``ph * pw`` run per channel."""
    ylo, yhi, yfh, yfl, ny = ys
    xlo, xhi, xfh, xfl, nx = xs
    T = acc.dtype.type
    C = src.shape[1]
    nc = min(C, out.shape[1] - c0)
    ph = out.shape[2]
    pw = out.shape[3]
    count = T(max(full, 1))
    for i in range(ph):
        for j in range(pw):
            if max_mode:
                # a dropped sample is a value of 0 in mmcv's max; -10000 when there is no sample at all
                init = T(0.0) if ny[i] * nx[j] < full else T(MMCV_MAX_INIT)
            else:
                init = T(0.0)
            q = i * pw + j
            for c in range(C):
                acc[q, c] = init
        # one sample row at a time across the whole bin row: long contiguous runs of cells for the
        # prefetcher; each bin still receives its samples row by row, left to right
        for a in range(ny[i]):
            r0 = rowbase + ylo[i, a] * rowstride
            r1 = rowbase + yhi[i, a] * rowstride
            wy0 = yfl[i, a]
            wy1 = yfh[i, a]
            for j in range(pw):
                q = i * pw + j
                n = nx[j]
                b = 0
                # two consecutive samples per pass over the channels: (acc + v) + u rounds exactly
                # like two passes, and halves the traffic on acc and the loop overhead
                while b + 2 <= n:
                    w1 = wy0 * xfl[j, b]
                    w2 = wy0 * xfh[j, b]
                    w3 = wy1 * xfl[j, b]
                    w4 = wy1 * xfh[j, b]
                    u1 = wy0 * xfl[j, b + 1]
                    u2 = wy0 * xfh[j, b + 1]
                    u3 = wy1 * xfl[j, b + 1]
                    u4 = wy1 * xfh[j, b + 1]
                    p1 = r0 + xlo[j, b]
                    p2 = r0 + xhi[j, b]
                    p3 = r1 + xlo[j, b]
                    p4 = r1 + xhi[j, b]
                    q1 = r0 + xlo[j, b + 1]
                    q2 = r0 + xhi[j, b + 1]
                    q3 = r1 + xlo[j, b + 1]
                    q4 = r1 + xhi[j, b + 1]
                    if max_mode:
                        for c in range(C):  # unconditional stores of selects let LLVM use SIMD max
                            v = ((w1 * src[p1, c] + w2 * src[p2, c]) + w3 * src[p3, c]) + w4 * src[p4, c]
                            u = ((u1 * src[q1, c] + u2 * src[q2, c]) + u3 * src[q3, c]) + u4 * src[q4, c]
                            m = acc[q, c]
                            m = v if v > m else m
                            acc[q, c] = u if u > m else m
                    else:
                        for c in range(C):
                            v = ((w1 * src[p1, c] + w2 * src[p2, c]) + w3 * src[p3, c]) + w4 * src[p4, c]
                            u = ((u1 * src[q1, c] + u2 * src[q2, c]) + u3 * src[q3, c]) + u4 * src[q4, c]
                            acc[q, c] = (acc[q, c] + v) + u
                    b += 2
                if b < n:
                    w1 = wy0 * xfl[j, b]
                    w2 = wy0 * xfh[j, b]
                    w3 = wy1 * xfl[j, b]
                    w4 = wy1 * xfh[j, b]
                    p1 = r0 + xlo[j, b]
                    p2 = r0 + xhi[j, b]
                    p3 = r1 + xlo[j, b]
                    p4 = r1 + xhi[j, b]
                    if max_mode:
                        for c in range(C):
                            v = ((w1 * src[p1, c] + w2 * src[p2, c]) + w3 * src[p3, c]) + w4 * src[p4, c]
                            acc[q, c] = v if v > acc[q, c] else acc[q, c]
                    else:
                        for c in range(C):
                            acc[q, c] += ((w1 * src[p1, c] + w2 * src[p2, c]) + w3 * src[p3, c]) + w4 * src[p4, c]
    if not max_mode:
        for q in range(ph * pw):  # SIMD divisions in the channels-last scratch
            for c in range(C):
                acc[q, c] = acc[q, c] / count
    for c in range(nc):  # contiguous writes of each channel's ph * pw bins
        for i in range(ph):
            for j in range(pw):
                out[k, c0 + c, i, j] = acc[i * pw + j, c]


@jit
def roi_align_rois(src, params, rois, order, out):
    """ROI Align of the rois ``order`` (in that sequence; neighbours one after the other share cached
    cells) into ``out`` ``(K, C, ph, pw)``, reading the features as ``src`` (a
    :class:`~detbench.roi._layout_kernels.RoiSource`) says, with the :class:`AlignParams` ``params``.
    """
    feat, blk, c0, windowed = src
    scale, sampling_ratio, aligned, max_mode = params
    ph = out.shape[2]
    pw = out.shape[3]
    if windowed:
        N, C, H, W = feat.shape
    else:
        N, H, W, C = blk.shape
        flat = blk.reshape((N * H * W, C))
    acc = np.empty((ph * pw, C), out.dtype)
    # per-axis sample tables, reused from roi to roi and grown when a roi needs more points
    cap_h = 4
    cap_w = 4
    ys = new_axis_samples(ph, cap_h, out)
    xs = new_axis_samples(pw, cap_w, out)
    for t in range(order.shape[0]):
        k = order[t]
        sx, sy, bw, bh, gw, gh = align_frame(rois[k], scale, ph, pw, sampling_ratio, aligned)
        if gh > cap_h:
            cap_h = max(gh, 2 * cap_h)
            ys = new_axis_samples(ph, cap_h, out)
        if gw > cap_w:
            cap_w = max(gw, 2 * cap_w)
            xs = new_axis_samples(pw, cap_w, out)
        y0, y1 = align_axis(sy, bh, gh, H, ys)
        x0, x1 = align_axis(sx, bw, gw, W, xs)
        full = gh * gw
        b = int(rois[k, 0])
        if windowed:
            if y1 < y0 or x1 < x0:  # no sample inside the map: nothing is read
                y0 = y1 = x0 = x1 = 0
            ww = x1 - x0 + 1
            win = np.empty(((y1 - y0 + 1) * ww, C), out.dtype)
            copy_window(feat, b, y0, y1, x0, x1, win)
            align_bins(win, -(y0 * ww + x0), ww, ys, xs, full, max_mode, out, k, acc, 0)
        else:
            align_bins(flat, b * H * W, W, ys, xs, full, max_mode, out, k, acc, c0)
