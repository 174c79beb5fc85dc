"""numba.cuda kernels of detbench (IoU matrix, NMS bitmask, ROI Align, batched transpose).

Compilation is lazy and memoised: each ``make_*`` factory imports ``numba.cuda``
only when called and builds one kernel per (dtype, block shape), so that

* float32 kernels compute in float32 (constants are cast to the kernel's dtype;
  no silent promotion to float64), float64 kernels in float64;
* shared-memory tiles have compile-time sizes taken from the block settings
  below, which are plain module attributes: the tests shrink them so that tiny
  inputs span several blocks (read at call time, so a change takes effect on
  the next call).

Exactness on a real GPU
-----------------------
NVVM fuses ``a * b + c`` into one fused multiply-add by default (CUDA's
``-fmad=true``); the fused result is rounded once instead of twice and so can
differ in the last bit from the CPU kernels and from torchvision's CPU ops,
which round every product. Every product that feeds a sum is therefore
written with ``mul`` (:func:`mul_for`), which is libdevice's ``__fmul_rn`` /
``__dmul_rn`` on a device (never fused) and a plain product under the
simulator. Divisions use IEEE round-to-nearest (``fastmath`` is off). With
these, each kernel performs the same float operations in the same order as
its CPU reference, so results are meant to be bit-identical, not merely
close: the simulator tests show the order is right, ``python -m
detbench.cuda._ptx`` (and a test) shows no fused multiply-add is emitted, and
the ``CudaParity`` benchmarks measure the differences on a device.

No kernel uses atomics; each thread owns the output element(s) it writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from ._runtime import get_cuda, simulating

__all__ = [
    "IOU_BLOCK",
    "NMS_TILE",
    "ROI_BLOCK",
    "TRANSPOSE_TILE",
    "TRANSPOSE_ROWS",
    "MAX_GRID_Y",
    "MAX_GRID_Z",
    "MMCV_MAX_INIT",
    "make_iou_kernel",
    "make_nms_mask_kernel",
    "make_roi_align_kernel",
    "make_transpose_kernel",
]

#: Threads per block of the IoU kernel as (along the columns of the output,
#: i.e. boxes ``b``; along its rows, boxes ``a``). A block computes a
#: ``IOU_BLOCK[1] x IOU_BLOCK[0]`` tile of the output after staging those boxes
#: (coordinates and area) in shared memory; the threads of a warp write
#: consecutive columns, so stores are coalesced.
IOU_BLOCK: tuple[int, int] = (32, 8)

#: Boxes per NMS tile (threads per block of the mask kernel), at most 64: one
#: ``uint64`` mask word holds one box's suppression bits against a tile.
NMS_TILE: int = 64

#: Threads per block of the ROI Align kernel as (channels, output bins). A warp
#: covers consecutive channels of one output bin of one roi, so all its
#: threads share the sample positions and weights (no divergence) and read the
#: channels-last features at consecutive addresses (coalesced).
ROI_BLOCK: tuple[int, int] = (32, 8)

#: Tile edge of the shared-memory transpose (NCHW features -> channels-last).
TRANSPOSE_TILE: int = 32
#: Thread rows of a transpose block (each thread moves TILE / ROWS elements).
TRANSPOSE_ROWS: int = 8

#: Starting value of the running maximum of ROI Align's ``pool_mode="max"`` (mmcv's CPU value).
MMCV_MAX_INIT: float = -10000.0

#: Largest grid y / z extents CUDA allows; bigger problems loop inside the kernel.
MAX_GRID_Y: int = 65535
MAX_GRID_Z: int = 65535


#: ``numba.cuda``, bound on the first kernel build. Kernels must name it as a module
#: global: the simulator swaps that global for its fake ``cuda`` module, and
#: Numba reads globals when it compiles; a closure variable would escape both.
cuda: Any = None


def _bind_cuda() -> None:
    global cuda
    if cuda is None:
        cuda = get_cuda()


def _float_type(dtype: np.dtype) -> Any:
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return np.float32
    if dtype == np.float64:
        return np.float64
    raise TypeError(f"unsupported dtype {dtype}")  # the public layer never lets this happen


def _sim_mul(x: Any, y: Any) -> Any:
    return x * y


@cache
def mul_for(dtype_name: str) -> Callable[[Any, Any], Any]:
    """The product ``x * y`` rounded on its own (never fused into an FMA) for ``dtype``."""
    _bind_cuda()
    if simulating():
        return _sim_mul
    from numba.cuda import libdevice

    return libdevice.fmul_rn if dtype_name == "float32" else libdevice.dmul_rn


# --------------------------------------------------------------------------- IoU
@cache
def make_iou_kernel(dtype_name: str, block: tuple[int, int]) -> Any:
    """IoU matrix kernel ``kernel[grid, block](a, b, offset, out)``.

    ``a`` (N, 4), ``b`` (M, 4) xyxy, ``offset`` a scalar of the kernel dtype
    (0 or 1: widths are ``x2 - x1 + offset``), ``out`` (N, M). Launch with
    ``block=(bx, by)`` and ``grid=(ceil(M / bx), min(ceil(N / by), MAX_GRID_Y))``.

    Per element, in this order (torchvision's ``box_iou``)::

        w = max(min(ax2, bx2) - max(ax1, bx1) + offset, 0)      (same for h)
        inter = w * h
        union = (area_a + area_b) - inter
        iou = inter / union            (0 where union == 0)
    """
    _bind_cuda()
    ft = _float_type(np.dtype(dtype_name))
    mul = mul_for(dtype_name)
    bx, by = block
    nthreads = bx * by
    zero = ft(0.0)

    @cuda.jit
    def iou_kernel(a, b, offset, out):
        sa = cuda.shared.array((by, 5), ft)
        sb = cuda.shared.array((bx, 5), ft)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * bx + tx
        n = a.shape[0]
        m = b.shape[0]
        j0 = cuda.blockIdx.x * bx
        # columns: staged once, reused for every row tile this block visits
        for s in range(tid, bx, nthreads):
            jj = j0 + s
            if jj < m:
                x1 = b[jj, 0]
                y1 = b[jj, 1]
                x2 = b[jj, 2]
                y2 = b[jj, 3]
                sb[s, 0] = x1
                sb[s, 1] = y1
                sb[s, 2] = x2
                sb[s, 3] = y2
                sb[s, 4] = mul(x2 - x1 + offset, y2 - y1 + offset)
        j = j0 + tx
        n_row_tiles = (n + by - 1) // by
        for ti in range(cuda.blockIdx.y, n_row_tiles, cuda.gridDim.y):
            i0 = ti * by
            cuda.syncthreads()  # the previous row tile is no longer read
            for s in range(tid, by, nthreads):
                ii = i0 + s
                if ii < n:
                    x1 = a[ii, 0]
                    y1 = a[ii, 1]
                    x2 = a[ii, 2]
                    y2 = a[ii, 3]
                    sa[s, 0] = x1
                    sa[s, 1] = y1
                    sa[s, 2] = x2
                    sa[s, 3] = y2
                    sa[s, 4] = mul(x2 - x1 + offset, y2 - y1 + offset)
            cuda.syncthreads()
            i = i0 + ty
            if i < n and j < m:
                w = min(sa[ty, 2], sb[tx, 2]) - max(sa[ty, 0], sb[tx, 0]) + offset
                h = min(sa[ty, 3], sb[tx, 3]) - max(sa[ty, 1], sb[tx, 1]) + offset
                inter = zero
                if w > zero and h > zero:
                    inter = mul(w, h)
                union = (sa[ty, 4] + sb[tx, 4]) - inter
                iou = zero
                if union > zero:
                    iou = inter / union
                out[i, j] = iou

    return iou_kernel


# --------------------------------------------------------------------------- NMS
@cache
def make_nms_mask_kernel(dtype_name: str, tile: int, inclusive: bool = False) -> Any:
    """Suppression bitmask kernel ``kernel[(col_blocks, col_blocks), tile](boxes, thr, offset, mask)``.

    ``boxes`` (N, 4) xyxy sorted by decreasing score, ``thr`` a float64 scalar,
    ``offset`` (0 or 1) a scalar of the box dtype, ``mask`` (N, col_blocks)
    uint64 with ``col_blocks = ceil(N / tile)``. Block (col, row) with
    ``row <= col`` stages the ``tile`` boxes of column tile ``col`` (and their
    areas) in shared memory; thread ``t`` takes box ``i = row * tile + t`` and
    sets bit ``k`` of ``mask[i, col]`` when ``IoU(i, col * tile + k) > thr``
    (``>=`` when built with ``inclusive=True``) for the boxes after ``i``.
    Blocks with ``row > col`` return at once (the host reduction never reads
    those words). IoU is computed exactly like torchvision's CPU NMS:
    ``inter / ((area_i + area_j) - inter)`` in the box dtype, widths
    ``x2 - x1 + offset``, compared in float64 with the threshold; a pair with
    zero union is never suppressed (torchvision's 0/0 is NaN, and every
    comparison with NaN is false).
    """
    _bind_cuda()
    ft = _float_type(np.dtype(dtype_name))
    mul = mul_for(dtype_name)
    zero = ft(0.0)
    u0 = np.uint64(0)
    u1 = np.uint64(1)

    @cuda.jit
    def nms_mask_kernel(boxes, thr, offset, mask):
        row = cuda.blockIdx.y
        col = cuda.blockIdx.x
        if row > col:
            return  # the whole block leaves together, before any barrier
        sb = cuda.shared.array((tile, 5), ft)
        n = boxes.shape[0]
        t = cuda.threadIdx.x
        row_size = min(n - row * tile, tile)
        col_size = min(n - col * tile, tile)
        if t < col_size:
            jj = col * tile + t
            x1 = boxes[jj, 0]
            y1 = boxes[jj, 1]
            x2 = boxes[jj, 2]
            y2 = boxes[jj, 3]
            sb[t, 0] = x1
            sb[t, 1] = y1
            sb[t, 2] = x2
            sb[t, 3] = y2
            sb[t, 4] = mul(x2 - x1 + offset, y2 - y1 + offset)
        cuda.syncthreads()
        if t < row_size:
            i = row * tile + t
            ax1 = boxes[i, 0]
            ay1 = boxes[i, 1]
            ax2 = boxes[i, 2]
            ay2 = boxes[i, 3]
            area = mul(ax2 - ax1 + offset, ay2 - ay1 + offset)
            bits = u0
            start = 0
            if row == col:
                start = t + 1
            for k in range(start, col_size):
                w = min(ax2, sb[k, 2]) - max(ax1, sb[k, 0]) + offset
                h = min(ay2, sb[k, 3]) - max(ay1, sb[k, 1]) + offset
                inter = zero
                if w > zero and h > zero:
                    inter = mul(w, h)
                union = (area + sb[k, 4]) - inter
                if union > zero:
                    iou = inter / union
                    if inclusive:
                        hit = iou >= thr
                    else:
                        hit = iou > thr
                    if hit:
                        bits |= u1 << np.uint64(k)
            mask[i, col] = bits

    return nms_mask_kernel


# --------------------------------------------------------------------------- transpose
@cache
def make_transpose_kernel(dtype_name: str, tile: int, rows: int) -> Any:
    """Batched transpose ``kernel[grid, (tile, rows)](src, dst)``: ``dst[b, c, r] = src[b, r, c]``.

    ``src`` (B, R, C), ``dst`` (B, C, R). Classic shared-memory tiling: a block
    reads a ``tile x tile`` tile with consecutive threads on consecutive ``c``
    and writes it with consecutive threads on consecutive ``r``, so both global
    accesses are coalesced; the tile row has one padding element so the
    transposed read of shared memory has no bank conflicts. Launch with
    ``grid=(ceil(C / tile), min(ceil(R / tile), MAX_GRID_Y), min(B, MAX_GRID_Z))``.
    """
    _bind_cuda()
    ft = _float_type(np.dtype(dtype_name))
    padded = tile + 1  # a closure int is a compile-time literal; ``tile + 1`` in the kernel is not

    @cuda.jit
    def transpose_kernel(src, dst):
        buf = cuda.shared.array((tile, padded), ft)
        nb = src.shape[0]
        nr = src.shape[1]
        nc = src.shape[2]
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        c0 = cuda.blockIdx.x * tile
        n_row_tiles = (nr + tile - 1) // tile
        for bb in range(cuda.blockIdx.z, nb, cuda.gridDim.z):
            for rt in range(cuda.blockIdx.y, n_row_tiles, cuda.gridDim.y):
                r0 = rt * tile
                cuda.syncthreads()  # buf is free again
                for k in range(ty, tile, rows):
                    r = r0 + k
                    c = c0 + tx
                    if r < nr and c < nc:
                        buf[k, tx] = src[bb, r, c]
                cuda.syncthreads()
                for k in range(ty, tile, rows):
                    c = c0 + k
                    r = r0 + tx
                    if c < nc and r < nr:
                        dst[bb, c, r] = buf[tx, k]

    return transpose_kernel


# --------------------------------------------------------------------------- ROI Align
@cache
def make_roi_align_kernel(dtype_name: str, block: tuple[int, int], pool_max: bool = False) -> Any:
    """ROI Align kernel ``kernel[grid, block](feat, rois, scale, ph_n, pw_n, sampling_ratio, aligned, out)``.

    ``feat`` channels-last (N, H, W, C); ``rois`` (K, 5) ``[batch, x1, y1, x2, y2]``
    in the kernel dtype; ``scale`` a scalar of the kernel dtype; ``out``
    (K, C, ph_n, pw_n). Launch with ``block=(bc, bb)`` and
    ``grid=(ceil(C / bc), ceil(ph_n * pw_n / bb), min(K, MAX_GRID_Z))``.

    One thread per output element (roi k, bin, channel c), the threads of a warp
    on consecutive channels of one bin: they share the roi, the sample positions
    and the weights (no divergence), and each bilinear tap is one coalesced read
    of consecutive channels. Reads dominate the traffic (4 per sample, gh * gw
    samples per output); the one write per output is strided by ph * pw across
    a warp, but the ``bb`` bins of a block are adjacent in memory for each
    channel, so L2 can merge those partial writes. (A transposing epilogue
    would make the writes fully coalesced at the cost of a second pass over
    the output; not measured: no GPU was at hand when this was written.)

    The arithmetic is torchvision's ROI Align forward, operation for operation
    (see :func:`detbench.cuda.roi_align`): bin origin
    ``(start + ph * bin_h) + (iy + 0.5) * bin_h / grid_h``, samples outside
    ``[-1, H] x [-1, W]`` contribute nothing, coordinates clamped at 0 and at the
    last row/column, ``acc += ((w1*v1 + w2*v2) + w3*v3) + w4*v4`` in sample
    order, then ``acc / max(grid_h * grid_w, 1)``.

    ``pool_max=True`` builds the max-pooling variant, mmcv's CPU
    ``pool_mode='max'`` rule as the CPU twin implements it: a running maximum
    that starts at :data:`MMCV_MAX_INIT` (-10000) and takes each bilinear sample
    that is strictly greater, in sample order; a sample outside the map counts
    as 0. So a bin with no sample at all (an empty grid: a zero-size roi with
    ``aligned=True`` and adaptive sampling) gives -10000, as do bins whose
    samples are all below -10000. (mmcv's CUDA kernel starts at ``-FLT_MAX``.)
    """
    _bind_cuda()
    ft = _float_type(np.dtype(dtype_name))
    mul = mul_for(dtype_name)
    bc, bbins = block
    zero = ft(0.0)
    one = ft(1.0)
    half = ft(0.5)
    minus_one = ft(-1.0)
    max_init = ft(MMCV_MAX_INIT)
    ceil = math.ceil

    @cuda.jit
    def roi_align_kernel(feat, rois, scale, ph_n, pw_n, sampling_ratio, aligned, out):
        c = cuda.blockIdx.x * bc + cuda.threadIdx.x
        b = cuda.blockIdx.y * bbins + cuda.threadIdx.y
        height = feat.shape[1]
        width = feat.shape[2]
        nch = feat.shape[3]
        if c >= nch or b >= ph_n * pw_n:
            return  # no barriers in this kernel, so idle threads may leave
        ph = b // pw_n
        pw = b - ph * pw_n
        fh = ft(height)
        fw = ft(width)
        offset = zero
        if aligned:
            offset = half
        for k in range(cuda.blockIdx.z, rois.shape[0], cuda.gridDim.z):
            n = int(rois[k, 0])
            start_w = mul(rois[k, 1], scale) - offset
            start_h = mul(rois[k, 2], scale) - offset
            end_w = mul(rois[k, 3], scale) - offset
            end_h = mul(rois[k, 4], scale) - offset
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
            acc = zero
            best = max_init  # max mode: running maximum of the in-map samples
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
                    w1 = hy * hx
                    w2 = hy * lx
                    w3 = ly * hx
                    w4 = ly * lx
                    val = (
                        (mul(w1, feat[n, y_low, x_low, c]) + mul(w2, feat[n, y_low, x_high, c]))
                        + mul(w3, feat[n, y_high, x_low, c])
                    ) + mul(w4, feat[n, y_high, x_high, c])
                    if pool_max:
                        if val > best:
                            best = val
                    else:
                        acc = acc + val
            if pool_max:
                if dropped and not best > zero:
                    best = zero  # the outside samples' 0 is the maximum
                out[k, c, ph, pw] = best
            else:
                out[k, c, ph, pw] = acc / ft(count)

    return roi_align_kernel
