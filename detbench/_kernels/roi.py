"""Numba kernels for ROI Align and ROI Pooling.

The kernels are serial and release the GIL; the public layer runs them on
several threads, each over its own run of rois (so each owns its ``out[k]``
slices) or of image rows. (Serial kernels compile in a fraction of the time
of ``prange`` ones, and idle threads do not spin on a shared 2-core machine.)

They keep the channel axis innermost: every bilinear tap (ROI Align) or cell
compare (ROI Pooling) is a contiguous loop over channels that LLVM turns into
SIMD code. The features are therefore read channels-last, in one of two ways:

* block mode: the map is already channels-last ``(N, H, W, C)``, or a block of
  its channels has been copied channels-last (:func:`pack_block_nchw`);
* window mode: features stay ``(N, C, H, W)`` and each roi copies only the
  window of cells it touches. Cheaper when the rois cover little of the map.

The sampling geometry (positions, cell indices and bilinear weights) depends
only on the roi and on one axis, so it is computed once per roi and axis and
shared by every bin and channel. Every scalar is computed in the features'
dtype with the same operation order as torchvision's CPU kernels, so the
results are bit-identical to them (no fastmath, no FMA contraction).
"""

from __future__ import annotations

import numpy as np

from detbench._jit import jit

#: mmcv's starting value for ``pool_mode="max"`` (a bin with no sample reports it).
MMCV_MAX_INIT = -10000.0
#: starting value of ROI Pooling's running max (C's ``-FLT_MAX``, also for float64).
NEG_FLT_MAX = -float(np.finfo(np.float32).max)
#: rounded roi corners are clamped to +-2**30 cells so the integer conversion stays defined.
_CELL_LIMIT = float(2**30)


# --------------------------------------------------------------------------- ROI Align


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
def align_axis(start, bin_size, grid, size, lo, hi, frac_hi, frac_lo, nvalid):
    """Sampling points of every bin along one axis.

    Bin ``p`` samples at ``start + p * bin + (i + 1/2) * bin / grid`` for ``i < grid``. A point
    outside ``[-1, size]`` is dropped (it adds nothing); others are clamped to the first/last cell.
    For the ``nvalid[p]`` kept points, ``lo``/``hi`` are the two neighbouring cells and ``frac_hi``
    (``frac_lo``) the weight of ``hi`` (``lo``). Returns the first and last cell used.
    """
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
def align_bins(
    src, rowbase, rowstride, ylo, yhi, yfh, yfl, ny, xlo, xhi, xfh, xfl, nx, full, max_mode, out, k, acc, c0
):
    """Fill ``out[k, c0:c0 + B]`` (``B = src.shape[1]``, clipped to the channels of ``out``) from a
    channels-last source whose cell (y, x) is row ``rowbase + y * rowstride + x``.

    ``acc`` is a ``(ph * pw, B)`` scratch: bins accumulate there channels-last and are written to
    ``out`` (channels-first) at the end, one contiguous ``ph * pw`` run per channel."""
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
def roi_align_rois(feat, blk, rois, order, scale, sampling_ratio, aligned, max_mode, c0, windowed, out):
    """ROI Align of the rois ``order`` (in that sequence; neighbours one after the other share cached
    cells) into ``out`` ``(K, C, ph, pw)``.

    ``windowed``: ``feat`` is the ``(N, C, H, W)`` map and each roi first copies the window of cells it
    touches channels-last (all channels). Otherwise ``blk`` is a channels-last ``(N, H, W, B)`` block
    holding channels ``c0 : c0 + B`` (``feat`` is unused).
    """
    T = out.dtype.type
    ph = out.shape[2]
    pw = out.shape[3]
    if windowed:
        N, C, H, W = feat.shape
    else:
        N, H, W, C = blk.shape
        src = blk.reshape((N * H * W, C))
    acc = np.empty((ph * pw, C), out.dtype)
    # per-axis sample tables, reused from roi to roi and grown when a roi needs more points
    cap_h = 4
    cap_w = 4
    ylo = np.empty((ph, cap_h), np.int64)
    yhi = np.empty((ph, cap_h), np.int64)
    yfh = np.empty((ph, cap_h), T)
    yfl = np.empty((ph, cap_h), T)
    xlo = np.empty((pw, cap_w), np.int64)
    xhi = np.empty((pw, cap_w), np.int64)
    xfh = np.empty((pw, cap_w), T)
    xfl = np.empty((pw, cap_w), T)
    ny = np.empty(ph, np.int64)
    nx = np.empty(pw, np.int64)
    for t in range(order.shape[0]):
        k = order[t]
        sx, sy, bw, bh, gw, gh = align_frame(rois[k], scale, ph, pw, sampling_ratio, aligned)
        if gh > cap_h:
            cap_h = max(gh, 2 * cap_h)
            ylo = np.empty((ph, cap_h), np.int64)
            yhi = np.empty((ph, cap_h), np.int64)
            yfh = np.empty((ph, cap_h), T)
            yfl = np.empty((ph, cap_h), T)
        if gw > cap_w:
            cap_w = max(gw, 2 * cap_w)
            xlo = np.empty((pw, cap_w), np.int64)
            xhi = np.empty((pw, cap_w), np.int64)
            xfh = np.empty((pw, cap_w), T)
            xfl = np.empty((pw, cap_w), T)
        y0, y1 = align_axis(sy, bh, gh, H, ylo, yhi, yfh, yfl, ny)
        x0, x1 = align_axis(sx, bw, gw, W, xlo, xhi, xfh, xfl, nx)
        full = gh * gw
        b = int(rois[k, 0])
        if windowed:
            if y1 < y0 or x1 < x0:  # no sample inside the map: nothing is read
                y0 = y1 = x0 = x1 = 0
            ww = x1 - x0 + 1
            win = np.empty(((y1 - y0 + 1) * ww, C), out.dtype)
            copy_window(feat, b, y0, y1, x0, x1, win)
            base = -(y0 * ww + x0)
            align_bins(win, base, ww, ylo, yhi, yfh, yfl, ny, xlo, xhi, xfh, xfl, nx, full, max_mode, out, k, acc, 0)
        else:
            base = b * H * W
            align_bins(src, base, W, ylo, yhi, yfh, yfl, ny, xlo, xhi, xfh, xfl, nx, full, max_mode, out, k, acc, c0)


@jit
def copy_window(feat, b, y0, y1, x0, x1, win):
    """``win[(y - y0) * ww + (x - x0), c] = feat[b, c, y, x]`` for the inclusive window, in tiles of
    16 cells x all channels (the tile's source lines stay in cache while each row is written)."""
    C = feat.shape[1]
    ww = x1 - x0 + 1
    for y in range(y0, y1 + 1):
        r = (y - y0) * ww - x0
        for t0 in range(x0, x1 + 1, 16):
            t1 = min(x1 + 1, t0 + 16)
            for x in range(t0, t1):
                for c in range(C):
                    win[r + x, c] = feat[b, c, y, x]


# --------------------------------------------------------------------------- ROI Pooling


@jit
def round_half_away(v):
    """C's ``round`` (halves away from zero) as an int; the argument is clamped to +-2**30 first."""
    x = min(max(float(v), -_CELL_LIMIT), _CELL_LIMIT)  # exact for float32 input
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
def pool_one(rois, k, scale, H, W, hs, he, ws, we):
    """Rounded corners of roi ``k`` and its bin edges; returns the cell window covered."""
    roi = rois[k]
    x1 = round_half_away(roi[1] * scale)
    y1 = round_half_away(roi[2] * scale)
    x2 = round_half_away(roi[3] * scale)
    y2 = round_half_away(roi[4] * scale)
    # inclusive cell range; malformed rois become one cell
    y0, y_1 = pool_axis(roi, y1, max(y2 - y1 + 1, 1), H, hs, he)
    x0, x_1 = pool_axis(roi, x1, max(x2 - x1 + 1, 1), W, ws, we)
    return y0, y_1, x0, x_1


@jit
def roi_pool_rois(feat, blk, rois, order, scale, want_arg, c0, windowed, out, arg):
    """ROI Pooling of the rois ``order`` into ``out`` (and ``arg`` when ``want_arg``); ``feat``, ``blk``,
    ``c0`` and ``windowed`` as in :func:`roi_align_rois`."""
    if windowed:
        N, C, H, W = feat.shape
    else:
        N, H, W, C = blk.shape
        src = blk.reshape((N * H * W, C))
    ph = out.shape[2]
    pw = out.shape[3]
    best = np.empty((ph * pw, C), out.dtype)
    where = np.empty((ph * pw, C) if want_arg else (0, 0), np.int32)
    hs = np.empty(ph, np.int64)
    he = np.empty(ph, np.int64)
    ws = np.empty(pw, np.int64)
    we = np.empty(pw, np.int64)
    for t in range(order.shape[0]):
        k = order[t]
        y0, y1, x0, x1 = pool_one(rois, k, scale, H, W, hs, he, ws, we)
        b = int(rois[k, 0])
        if windowed:
            if y1 < y0 or x1 < x0:  # every bin is empty
                y0 = y1 = x0 = x1 = 0
            ww = x1 - x0 + 1
            win = np.empty(((y1 - y0 + 1) * ww, C), out.dtype)
            copy_window(feat, b, y0, y1, x0, x1, win)
            pool_bins(win, -(y0 * ww + x0), ww, W, hs, he, ws, we, want_arg, out, arg, k, best, where, 0)
        else:
            pool_bins(src, b * H * W, W, W, hs, he, ws, we, want_arg, out, arg, k, best, where, c0)


@jit
def pool_bins(src, rowbase, rowstride, W, hs, he, ws, we, want_arg, out, arg, k, best, where, c0):
    """Fill ``out[k, c0:c0 + B]`` (and ``arg``) with the max over each bin's cells, from a channels-last
    source of ``B`` channels whose cell (y, x) is row ``rowbase + y * rowstride + x``.

    ``best`` and ``where`` are ``(ph * pw, B)`` scratch arrays (bins channels-last), copied to
    ``out``/``arg`` (channels-first) at the end."""
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


# --------------------------------------------------------------------------- layout


@jit
def morton_order(rois, scale, H, W):
    """Roi indices sorted by image, then by the Z-order (Morton) code of the roi centre on a 1024 x 1024
    grid over the map, so consecutive rois are spatial neighbours."""
    K = rois.shape[0]
    key = np.empty(K, np.int64)
    for k in range(K):
        cx = (float(rois[k, 1]) + float(rois[k, 3])) * 0.5 * float(scale) / max(W, 1)
        cy = (float(rois[k, 2]) + float(rois[k, 4])) * 0.5 * float(scale) / max(H, 1)
        ix = int(min(max(cx, 0.0), 1.0) * 1023.0)
        iy = int(min(max(cy, 0.0), 1.0) * 1023.0)
        code = 0
        for bit in range(10):
            code |= ((ix >> bit) & 1) << (2 * bit)
            code |= ((iy >> bit) & 1) << (2 * bit + 1)
        key[k] = (int(rois[k, 0]) << 20) | code
    return np.argsort(key, kind="mergesort")


@jit
def pack_block_nchw(feat, c0, blk, start, stop):
    """``blk[n, h, w, c] = feat[n, c0 + c, h, w]`` for image rows ``start <= n * H + h < stop``; channels
    past the end of ``feat`` are zero."""
    N, C, H, W = feat.shape
    B = blk.shape[3]
    nc = min(B, C - c0)
    for nh in range(start, stop):
        n = nh // H
        h = nh - n * H
        for w0 in range(0, W, 16):
            w1 = min(W, w0 + 16)
            for w in range(w0, w1):
                for c in range(nc):
                    blk[n, h, w, c] = feat[n, c0 + c, h, w]
                for c in range(nc, B):
                    blk[n, h, w, c] = 0
