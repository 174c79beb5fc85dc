"""Device kernels of the GPU ROI Align / ROI Pool (:mod:`detbench.roi.gpu_roi`): one thread per output
bin (and a few channels), the roi checks folded into the kernels. Each factory builds (and caches)
one kernel for a dtype and a layout."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

from detbench.cuda import _common
from detbench.cuda._common import (
    float_type,
    jit_options,
    mul_for,
)

#: Starting value of the running maximum of ROI Align's ``pool_mode="max"`` (mmcv's CPU value).
MMCV_MAX_INIT: float = -10000.0
#: ROI Pool's starting value for a non-empty bin (torchvision's ``-FLT_MAX``).
NEG_FLT_MAX: float = -float(np.finfo(np.float32).max)
#: ROI Pool clamps scaled corners to +-2**30 before rounding (as the CPU kernel).
CELL_LIMIT: float = float(2**30)

cuda: Any = None  # numba.cuda, bound on the first kernel build (see _common)


@cache
def _reader(nhwc: bool) -> Any:
    """Device function ``at(feat, n, c, y, x)`` for the layout. The indices (never negative) are
    read as unsigned, so Numba emits no negative-index wraparound for them."""
    global cuda
    cuda = _common.bind()
    u64 = np.uint64
    if nhwc:

        @cuda.jit(device=True)
        def at(feat, n, c, y, x):
            return feat[u64(n), u64(y), u64(x), u64(c)]

    else:

        @cuda.jit(device=True)
        def at(feat, n, c, y, x):
            return feat[u64(n), u64(c), u64(y), u64(x)]

    return at


@cache
def _roi_valid() -> Any:
    """Device function ``valid(rois, k, n_img, report, info) -> bool``: row ``k`` of the rois is
    finite, its batch index an integer in ``[0, n_img)``, ``x2 >= x1`` and ``y2 >= y1`` (values
    read as float64, any dtype). With ``report``, a bad row is recorded in ``info`` as
    :func:`make_roi_check_kernel` does (first bad row per problem, then counts)."""
    global cuda
    cuda = _common.bind()
    isinf = math.isinf
    isnan = math.isnan
    floor = math.floor

    @cuda.jit(device=True)
    def valid(rois, k, n_img, report, info):
        bad = False
        for c in range(5):
            v = float(rois[k, c])
            if isinf(v) or isnan(v):
                bad = True
        if bad:
            if report:
                cuda.atomic.min(info, 0, k)
                cuda.atomic.add(info, 4, 1)
            return False
        ok = True
        b = float(rois[k, 0])
        if not (b == floor(b) and b >= 0.0 and b < float(n_img)):
            ok = False
            if report:
                cuda.atomic.min(info, 1, k)
                cuda.atomic.add(info, 5, 1)
        if float(rois[k, 3]) < float(rois[k, 1]):
            ok = False
            if report:
                cuda.atomic.min(info, 2, k)
                cuda.atomic.add(info, 6, 1)
        if float(rois[k, 4]) < float(rois[k, 2]):
            ok = False
            if report:
                cuda.atomic.min(info, 3, k)
                cuda.atomic.add(info, 7, 1)
        return ok

    return valid


@cache
def make_roi_align_kernel(dtype_name: str, nhwc: bool, pool_max: bool = False, cpt: int = 1) -> Any:
    """ROI Align ``kernel[blocks, threads](feat, rois, scale, ph_n, pw_n, sampling_ratio, aligned, out)``.

    ``feat`` (N, C, H, W), or (N, H, W, C) when built with ``nhwc``; ``rois`` (K, 5)
    ``[batch, x1, y1, x2, y2]`` in the kernel dtype; ``scale`` a kernel-dtype scalar; ``out``
    (K, C, ph_n, pw_n). Any grid size: the threads stride over the ``K * G * ph * pw`` work
    items, ``G = ceil(C / cpt)``.

    Each thread computes ``cpt`` outputs of one bin ``(k, ph, pw)``: channels ``g, g + G, ...``
    (``g < G``). The sample positions, bilinear weights and the four tap offsets are computed
    once per sample and reused for those channels (they do not depend on the channel), so the
    index and weight arithmetic is paid once per ``cpt`` outputs. Consecutive threads take
    consecutive bins (NCHW: reads stay in one feature plane, writes are coalesced) or, with
    ``nhwc``, consecutive channels ``g`` (each tap is one coalesced read).

    The arithmetic of each output is torchvision's ROI Align forward, operation for operation:
    bin origin ``(start + ph * bin_h) + (iy + 0.5) * bin_h / grid_h``, samples outside
    ``[-1, H] x [-1, W]`` contribute nothing, coordinates clamped at 0 and at the last
    row/column, ``acc += ((w1*v1 + w2*v2) + w3*v3) + w4*v4`` in sample order, then
    ``acc / max(grid_h * grid_w, 1)`` (every product rounded on its own, see :mod:`detbench.cuda._common`).

    ``pool_max=True`` builds mmcv's CPU ``pool_mode='max'`` rule as the CPU twin implements it:
    a running maximum from :data:`MMCV_MAX_INIT` over the samples in order (strictly greater
    wins); a sample outside the map counts as 0.
    """
    global cuda
    cuda = _common.bind()
    at = _reader(nhwc)
    valid = _roi_valid()
    ft = float_type(dtype_name)
    mul = mul_for(dtype_name)
    zero = ft(0.0)
    one = ft(1.0)
    half = ft(0.5)
    minus_one = ft(-1.0)
    max_init = ft(MMCV_MAX_INIT)
    ceil = math.ceil
    u64 = np.uint64
    u32 = np.uint32
    i64 = np.int64
    cpt = int(cpt)

    @cuda.jit(**jit_options())
    def roi_align_kernel(feat, rois, scale, ph_n, pw_n, sampling_ratio, aligned, out, info):
        if nhwc:
            height = feat.shape[1]
            width = feat.shape[2]
            nch = feat.shape[3]
        else:
            nch = feat.shape[1]
            height = feat.shape[2]
            width = feat.shape[3]
        groups = (nch + cpt - 1) // cpt
        total = rois.shape[0] * groups * ph_n * pw_n
        small = total < 2**31  # 32-bit index arithmetic (the usual case)
        fh = ft(height)
        fw = ft(width)
        offset = zero
        if aligned:
            offset = half
        acc = cuda.local.array(cpt, ft)
        for idx in range(cuda.grid(1), total, cuda.gridsize(1)):
            if small:
                r = u32(idx)
                if nhwc:
                    g = i64(r % u32(groups))
                    r = r // u32(groups)
                    pw = i64(r % u32(pw_n))
                    r = r // u32(pw_n)
                    ph = i64(r % u32(ph_n))
                    k = i64(r // u32(ph_n))
                else:
                    pw = i64(r % u32(pw_n))
                    r = r // u32(pw_n)
                    ph = i64(r % u32(ph_n))
                    r = r // u32(ph_n)
                    g = i64(r % u32(groups))
                    k = i64(r // u32(groups))
            else:
                if nhwc:
                    g = idx % groups
                    t = idx // groups
                    pw = t % pw_n
                    t = t // pw_n
                    ph = t % ph_n
                    k = t // ph_n
                else:
                    pw = idx % pw_n
                    t = idx // pw_n
                    ph = t % ph_n
                    t = t // ph_n
                    g = t % groups
                    k = t // groups
            if not valid(rois, k, feat.shape[0], g == 0 and ph == 0 and pw == 0, info):
                continue  # the host raises ValueError for it
            n = int(rois[k, 0])
            start_w = mul(ft(rois[k, 1]), scale) - offset
            start_h = mul(ft(rois[k, 2]), scale) - offset
            end_w = mul(ft(rois[k, 3]), scale) - offset
            end_h = mul(ft(rois[k, 4]), scale) - offset
            roi_w = end_w - start_w
            roi_h = end_h - start_h
            if not aligned:  # malformed rois are forced to 1x1
                roi_w = max(roi_w, one)
                roi_h = max(roi_h, one)
            bin_h = roi_h / ft(ph_n)
            bin_w = roi_w / ft(pw_n)
            if sampling_ratio > 0:
                grid_h = sampling_ratio
                grid_w = sampling_ratio
            else:
                grid_h = int(ceil(roi_h / ft(ph_n)))
                grid_w = int(ceil(roi_w / ft(pw_n)))
            count = max(grid_h * grid_w, 1)
            base_h = start_h + mul(ft(ph), bin_h)
            base_w = start_w + mul(ft(pw), bin_w)
            for j in range(cpt):
                if pool_max:
                    acc[j] = max_init  # max mode: running maximum of the in-map samples
                else:
                    acc[j] = zero
            dropped = False  # max mode: a sample outside the map (value 0) was seen
            for iy in range(grid_h):
                y = base_h + mul(ft(iy) + half, bin_h) / ft(grid_h)
                if not (y >= minus_one and y <= fh):
                    if grid_w > 0:
                        dropped = True
                    continue
                if y <= zero:
                    y = zero
                y_low = int(y)
                if y_low >= height - 1:
                    y_low = height - 1
                    y_high = y_low
                    y = ft(y_low)
                else:
                    y_high = y_low + 1
                ly = y - ft(y_low)
                hy = one - ly
                for ix in range(grid_w):
                    x = base_w + mul(ft(ix) + half, bin_w) / ft(grid_w)
                    if not (x >= minus_one and x <= fw):
                        dropped = True
                        continue
                    if x <= zero:
                        x = zero
                    x_low = int(x)
                    if x_low >= width - 1:
                        x_low = width - 1
                        x_high = x_low
                        x = ft(x_low)
                    else:
                        x_high = x_low + 1
                    lx = x - ft(x_low)
                    hx = one - lx
                    w1 = mul(hy, hx)
                    w2 = mul(hy, lx)
                    w3 = mul(ly, hx)
                    w4 = mul(ly, lx)
                    for j in range(cpt):
                        c = g + j * groups
                        if c < nch:
                            val = (
                                (mul(w1, at(feat, n, c, y_low, x_low)) + mul(w2, at(feat, n, c, y_low, x_high)))
                                + mul(w3, at(feat, n, c, y_high, x_low))
                            ) + mul(w4, at(feat, n, c, y_high, x_high))
                            if pool_max:
                                if val > acc[j]:
                                    acc[j] = val
                            else:
                                acc[j] = acc[j] + val
            for j in range(cpt):
                c = g + j * groups
                if c < nch:
                    if pool_max:
                        best = acc[j]
                        if dropped and not best > zero:
                            best = zero  # the outside samples' 0 is the maximum
                        out[u64(k), u64(c), u64(ph), u64(pw)] = best
                    else:
                        out[u64(k), u64(c), u64(ph), u64(pw)] = acc[j] / ft(count)

    return roi_align_kernel


@cache
def make_roi_pool_kernel(dtype_name: str, nhwc: bool) -> Any:
    """ROI Pool ``kernel[blocks, threads](feat, rois, scale, ph_n, pw_n, want_arg, out, arg)``.

    ``feat`` and ``rois`` as for :func:`make_roi_align_kernel`; ``scale`` a float64 scalar;
    ``out`` (K, C, ph_n, pw_n) of the kernel dtype, ``arg`` the same shape int32 (written only
    when ``want_arg``). The CPU twin's rule, step for step: corners ``round(x * scale)`` in
    float64 with halves away from zero (clamped to +-2**30 first); the inclusive cell range
    (at least one cell) split into bins ``floor(p * b) .. ceil((p + 1) * b)`` with
    ``b = cells / pooled`` in the kernel dtype, shifted to the roi and clipped to the map; the
    max over the bin's cells in row-major order (strictly greater wins, so the first cell wins
    ties) from ``-FLT_MAX``; an empty bin is 0 with argmax -1. Argmax is ``h * W + w``.
    """
    global cuda
    cuda = _common.bind()
    at = _reader(nhwc)
    valid = _roi_valid()
    ft = float_type(dtype_name)
    mul = mul_for(dtype_name)
    mul64 = mul_for("float64")
    zero = ft(0.0)
    neg_max = ft(NEG_FLT_MAX)
    limit = CELL_LIMIT
    floor = math.floor
    ceil = math.ceil

    @cuda.jit(device=True)
    def round_half_away(v):
        x = min(max(v, -limit), limit)
        r = int(x)  # truncation toward zero, exact for |x| <= 2**30
        if abs(x - float(r)) >= 0.5:
            if x > 0.0:
                r += 1
            else:
                r -= 1
        return r

    @cuda.jit(**jit_options())
    def roi_pool_kernel(feat, rois, scale, ph_n, pw_n, want_arg, out, arg, info):
        if nhwc:
            height = feat.shape[1]
            width = feat.shape[2]
            nch = feat.shape[3]
        else:
            nch = feat.shape[1]
            height = feat.shape[2]
            width = feat.shape[3]
        total = rois.shape[0] * nch * ph_n * pw_n
        for idx in range(cuda.grid(1), total, cuda.gridsize(1)):
            if nhwc:
                c = idx % nch
                t = idx // nch
                pw = t % pw_n
                t = t // pw_n
                ph = t % ph_n
                k = t // ph_n
            else:
                pw = idx % pw_n
                t = idx // pw_n
                ph = t % ph_n
                t = t // ph_n
                c = t % nch
                k = t // nch
            if not valid(rois, k, feat.shape[0], c == 0 and ph == 0 and pw == 0, info):
                continue  # the host raises ValueError for it
            n = int(rois[k, 0])
            x1 = round_half_away(mul64(float(ft(rois[k, 1])), scale))
            y1 = round_half_away(mul64(float(ft(rois[k, 2])), scale))
            x2 = round_half_away(mul64(float(ft(rois[k, 3])), scale))
            y2 = round_half_away(mul64(float(ft(rois[k, 4])), scale))
            bh = ft(max(y2 - y1 + 1, 1)) / ft(ph_n)
            bw = ft(max(x2 - x1 + 1, 1)) / ft(pw_n)
            hs = min(max(int(floor(mul(ft(ph), bh))) + y1, 0), height)
            he = min(max(int(ceil(mul(ft(ph + 1), bh))) + y1, 0), height)
            ws = min(max(int(floor(mul(ft(pw), bw))) + x1, 0), width)
            we = min(max(int(ceil(mul(ft(pw + 1), bw))) + x1, 0), width)
            best = neg_max
            where = -1
            if he <= hs or we <= ws:
                best = zero
            for h in range(hs, he):
                for w in range(ws, we):
                    v = at(feat, n, c, h, w)
                    if v > best:
                        best = v
                        where = h * width + w
            out[k, c, ph, pw] = best
            if want_arg:
                arg[k, c, ph, pw] = where

    return roi_pool_kernel


@cache
def make_roi_check_kernel() -> Any:
    """``kernel(rois, n_img, info)``: validation of GPU rois on the GPU (any float dtype and
    strides). ``info`` int64[8]: first bad row for non-finite values, batch index (not an
    integer in ``[0, n_img)``), ``x2 < x1``, ``y2 < y1`` (start at the largest int64), then
    the four counts (start at 0)."""
    global cuda
    cuda = _common.bind()
    isinf = math.isinf
    isnan = math.isnan
    floor = math.floor

    @cuda.jit(**jit_options())
    def roi_check(rois, n_img, info):
        for k in range(cuda.grid(1), rois.shape[0], cuda.gridsize(1)):
            bad = False
            for c in range(5):
                v = float(rois[k, c])
                if isinf(v) or isnan(v):
                    bad = True
            if bad:
                cuda.atomic.min(info, 0, k)
                cuda.atomic.add(info, 4, 1)
                continue
            b = float(rois[k, 0])
            if not (b == floor(b) and b >= 0.0 and b < n_img):
                cuda.atomic.min(info, 1, k)
                cuda.atomic.add(info, 5, 1)
            if float(rois[k, 3]) < float(rois[k, 1]):
                cuda.atomic.min(info, 2, k)
                cuda.atomic.add(info, 6, 1)
            if float(rois[k, 4]) < float(rois[k, 2]):
                cuda.atomic.min(info, 3, k)
                cuda.atomic.add(info, 7, 1)

    return roi_check
