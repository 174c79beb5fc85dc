"""GPU box_iou: the twin of :func:`detbench.box_iou` (kernel and host wrapper).

Launch shape settings are module attributes (read at call time, so tests can shrink them):
:data:`IOU_BLOCK` and :data:`IOU_ROWS`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from detbench._validate import check_boxes, check_offset, check_out, result_float_dtype
from detbench.cuda import _common
from detbench.cuda._common import (
    cdiv,
    check_device,
    common_float,
    device_input,
    float_type,
    jit_options,
    mul_for,
    result_array,
)
from detbench.cuda._runtime import is_device_array, require_cuda

__all__ = ["box_iou", "IOU_BLOCK", "IOU_ROWS", "make_iou_kernel"]

#: Threads per block of the IoU kernel as (along the output's columns, i.e. boxes ``b``; along its
#: rows). Each thread keeps its column box (and area) in registers and computes :data:`IOU_ROWS`
#: rows, ``IOU_BLOCK[1]`` apart; a warp writes 32 consecutive columns of a row (128 bytes in
#: float32: whole cache lines), and reads each row box once for the warp (a broadcast).
IOU_BLOCK: tuple[int, int] = (128, 2)
#: Output rows per thread (the block covers ``IOU_BLOCK[1] * IOU_ROWS`` rows).
IOU_ROWS: int = 8

cuda: Any = None  # numba.cuda, bound on the first kernel build (see _common)


@cache
def make_iou_kernel(dtype_name: str, block: tuple[int, int], rows: int) -> Any:
    """IoU matrix kernel ``kernel[grid, block](a, b, offset, out)``.

    ``a`` (N, 4), ``b`` (M, 4) xyxy of any float dtype and strides (read and cast to the kernel
    dtype), ``offset`` a scalar of the kernel dtype (0 or 1), ``out`` (N, M). Launch with
    ``grid=(ceil(M / bx), min(ceil(N / (by * rows)), MAX_GRID_Y))``; rows beyond the grid loop.

    Per element, in this order (torchvision's ``box_iou``)::

        w = max(min(ax2, bx2) - max(ax1, bx1) + offset, 0)      (same for h)
        inter = w * h
        union = (area_a + area_b) - inter
        iou = inter / union            (0 where union == 0)

    No shared memory and no barrier: the write stream (N*M elements) is the whole cost at
    large sizes, so each thread does ``rows`` coalesced row writes per column box it loads.
    """
    global cuda
    cuda = _common.bind()
    ft = float_type(dtype_name)
    mul = mul_for(dtype_name)
    bx, by = block
    zero = ft(0.0)
    span = by * rows

    @cuda.jit(**jit_options())
    def iou_kernel(a, b, offset, out):
        n = a.shape[0]
        m = b.shape[0]
        j = cuda.blockIdx.x * bx + cuda.threadIdx.x
        if j >= m:
            return  # no barriers in this kernel
        cx1 = ft(b[j, 0])
        cy1 = ft(b[j, 1])
        cx2 = ft(b[j, 2])
        cy2 = ft(b[j, 3])
        carea = mul(cx2 - cx1 + offset, cy2 - cy1 + offset)
        ty = cuda.threadIdx.y
        for i0 in range(cuda.blockIdx.y * span, n, cuda.gridDim.y * span):
            for r in range(rows):
                i = i0 + r * by + ty
                if i < n:
                    ax1 = ft(a[i, 0])
                    ay1 = ft(a[i, 1])
                    ax2 = ft(a[i, 2])
                    ay2 = ft(a[i, 3])
                    aarea = mul(ax2 - ax1 + offset, ay2 - ay1 + offset)
                    w = min(ax2, cx2) - max(ax1, cx1) + offset
                    h = min(ay2, cy2) - max(ay1, cy1) + offset
                    inter = zero
                    if w > zero and h > zero:
                        inter = mul(w, h)
                    union = (aarea + carea) - inter
                    iou = zero
                    if union > zero:
                        iou = inter / union
                    out[i, j] = iou

    return iou_kernel


def launch_iou(cuda_mod: Any, da: Any, db: Any, offset: float, d_out: Any) -> None:
    dtype = np.dtype(d_out.dtype)
    block = tuple(int(v) for v in IOU_BLOCK)
    rows = int(IOU_ROWS)
    kernel = make_iou_kernel(dtype.name, block, rows)
    n, m = int(da.shape[0]), int(db.shape[0])
    grid = (cdiv(m, block[0]), min(cdiv(n, block[1] * rows), _common.MAX_GRID_Y))
    kernel[grid, block](da, db, dtype.type(offset), d_out)


def _device_boxes(cuda_mod: Any, x: Any, name: str) -> Any:
    """A device boxes array: GPU inputs wrapped and shape-checked, host inputs validated and copied."""
    if is_device_array(cuda_mod, x):
        x = device_input(cuda_mod, x)
        check_device(x, name, 2, 4)
        return x
    return cuda_mod.to_device(check_boxes(x, name))


def box_iou(boxes1: Any, boxes2: Any, *, offset: float = 0, out: Any = None) -> Any:
    """Pairwise IoU matrix of two sets of xyxy boxes, on the GPU: :func:`detbench.box_iou`'s twin.

    Parameters
    ----------
    boxes1, boxes2:
        ``(N, 4)`` and ``(M, 4)`` boxes ``[x1, y1, x2, y2]`` with ``x2 >= x1``, ``y2 >= y1``;
        float32/float64 (integers become float64). NumPy arrays or GPU arrays (any strides).
    offset:
        0 (default) or 1 (legacy "+1 pixel" widths ``x2 - x1 + 1``).
    out:
        Optional ``(N, M)`` result buffer of the result dtype: a C-contiguous NumPy array for
        host inputs, a device array for GPU inputs.

    Returns
    -------
    ``(N, M)`` IoU, float32 when both inputs are float32, else float64; a NumPy array for host
    inputs, a Numba device array when either input is on the GPU.

    Rule: torchvision's ``box_iou`` formula and operation order (see :func:`make_iou_kernel`),
    so results equal it (offset 0) and the CPU ``detbench.box_iou`` bit for bit; where
    ``union == 0`` (two zero-area boxes) the IoU is 0.0, not NaN (as the CPU function).
    GPU inputs are not validated value by value (that would need a pass over them).
    Cost: O(N*M), N*M result elements written; host inputs add the transfers (the N*M result
    coming back usually dominates: pass device arrays to avoid it). GPU inputs of different
    dtypes are read in their own dtype and converted in the kernel (no extra copy).
    """
    cuda_mod = require_cuda()
    offset = check_offset(offset)
    on_device = is_device_array(cuda_mod, boxes1) or is_device_array(cuda_mod, boxes2)
    if not on_device:
        ha = check_boxes(boxes1, "boxes1")
        hb = check_boxes(boxes2, "boxes2")
        dtype = result_float_dtype(ha, hb)
        n, m = ha.shape[0], hb.shape[0]
        out = check_out(out, (n, m), dtype) if out is not None else np.empty((n, m), dtype=dtype)
        if n and m:
            # the CPU twin's scale rule: float32 boxes whose areas would overflow or underflow are
            # computed in float64 and rounded once; float64 boxes out of range are refused here (the
            # CPU function has a scale-free kernel for them)
            from detbench.boxes.overlap import _risk

            ha, hb = ha.astype(dtype, copy=False), hb.astype(dtype, copy=False)
            work = dtype
            if _risk(ha, hb, offset):
                if dtype != np.float32:
                    raise ValueError(
                        "boxes1, boxes2: box areas at this scale overflow or underflow float64 in the GPU "
                        "kernel; rescale the boxes or use detbench.box_iou (its scale-free CPU kernel)"
                    )
                work = np.dtype(np.float64)
            d_out = cuda_mod.device_array((n, m), dtype=work)
            launch_iou(
                cuda_mod, cuda_mod.to_device(ha.astype(work)), cuda_mod.to_device(hb.astype(work)), offset, d_out
            )
            if work == dtype:
                d_out.copy_to_host(out)
            else:
                out[...] = d_out.copy_to_host().astype(dtype)
        return out

    da = _device_boxes(cuda_mod, boxes1, "boxes1")
    db = _device_boxes(cuda_mod, boxes2, "boxes2")
    dtype = common_float(da.dtype, db.dtype)
    n, m = int(da.shape[0]), int(db.shape[0])
    if out is None:
        out = result_array(cuda_mod, (n, m), dtype)
    else:
        if not is_device_array(cuda_mod, out):
            raise ValueError("out: expected a device array (the inputs are on the GPU)")
        out = device_input(cuda_mod, out)
        if tuple(out.shape) != (n, m) or np.dtype(out.dtype) != dtype:
            raise ValueError(f"out: expected a ({n}, {m}) {dtype} device array, got {tuple(out.shape)} {out.dtype}")
    if n and m:
        launch_iou(cuda_mod, da, db, offset, out)
    return out
