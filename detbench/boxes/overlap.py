"""Pairwise overlaps of two sets of ``xyxy`` boxes: IoU, generalized, distance and complete IoU.

Results are in the boxes' compute dtype (float32 when both sets are float32 in any byte order or
float16, else float64; see :mod:`detbench._validate`). Areas that would overflow or underflow that
dtype (float32 coordinates beyond ~1e18, or extents below ~1e-19) are detected before the kernel
runs: float32 input is then computed in float64 and rounded once to float32 at the end; float64 input
that far out is refused with a ``ValueError`` naming the argument. So an IoU is always in [0, 1] and
the other measures in [-1, 1].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detbench._validate import (
    check_alloc,
    check_boxes,
    check_choice,
    check_number,
    check_offset,
    check_out,
    result_float_dtype,
)
from detbench.boxes import _overlap_kernels as _k

__all__ = ["box_iou", "generalized_box_iou", "distance_box_iou", "complete_box_iou"]


def _safe_range(dtype: np.dtype) -> tuple[float, float]:
    """``(lo, hi)``: with every coordinate within ``±hi`` and every positive extent at least ``lo``, no
    area, union, hull area or squared hull diagonal of the kernels overflows or becomes subnormal in
    ``dtype`` (they are at most ``2 (2 hi + 1)**2`` and at least ``lo**2``)."""
    fi = np.finfo(dtype)
    return math.sqrt(float(fi.tiny)) * 8, math.sqrt(float(fi.max)) / 8


def _out_of_range(boxes: np.ndarray, offset: float, dtype: np.dtype) -> str | None:
    """Why ``boxes`` cannot be computed in ``dtype`` (or ``None``): a coordinate too large or a positive
    extent too small for the areas to stay normal, finite numbers."""
    if boxes.shape[0] == 0:
        return None
    lo, hi = _safe_range(dtype)
    big = float(np.abs(boxes).max())
    if big > hi:
        return f"coordinate magnitude {big:.3g} is beyond {hi:.3g}, where areas overflow {dtype}"
    ext = np.concatenate([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]]) + boxes.dtype.type(offset)
    pos = ext[ext > 0]
    if pos.size:
        small = float(pos.min())
        if small < lo:
            return f"a width or height of {small:.3g} is below {lo:.3g}, where areas underflow {dtype}"
    return None


def _work_dtype(a: np.ndarray, b: np.ndarray, dtype: np.dtype, offset: float) -> np.dtype:
    """The dtype the kernel runs in: ``dtype``, or float64 for float32 boxes whose areas do not fit float32
    (float64 holds every product of float32 extents exactly enough). float64 boxes that do not fit are
    refused by name."""
    for name, x in (("boxes1", a), ("boxes2", b)):
        why = _out_of_range(x, offset, dtype)
        if why is None:
            continue
        if dtype == np.float32:
            return np.dtype(np.float64)
        raise ValueError(f"{name}: {why}; rescale the boxes (IoU is scale-invariant with offset=0)")
    return dtype


class _Pair:
    """Validated inputs of a pairwise measure: ``a`` (N, 4) and ``bt`` (4, M) in the work dtype ``t``,
    the (N, M) ``result`` to return, and ``buf``, where the kernel writes (``result`` itself unless
    the work dtype is wider)."""

    def __init__(self, boxes1: Any, boxes2: Any, offset: Any, out: Any) -> None:
        self.offset = check_offset(offset)
        a = check_boxes(boxes1, "boxes1")
        b = check_boxes(boxes2, "boxes2")
        dtype = result_float_dtype(a, b)
        shape = (a.shape[0], b.shape[0])
        if out is None:
            check_alloc(shape, dtype.itemsize, "boxes1, boxes2", "the (N, M) result")
            self.result = np.empty(shape, dtype=dtype)
        else:
            self.result = check_out(out, shape, dtype)
            for name, x in (("boxes1", boxes1), ("boxes2", boxes2)):
                if isinstance(x, np.ndarray) and np.shares_memory(self.result, x):
                    raise ValueError(f"out: shares memory with {name}; the kernel would overwrite its input")
        work = _work_dtype(a, b, dtype, self.offset)
        self.a = a.astype(work, copy=False)
        self.bt = np.ascontiguousarray(b.T, dtype=work)
        self.t = work.type
        if work == dtype:
            self.buf = self.result
        else:
            check_alloc(shape, work.itemsize, "boxes1, boxes2", "the float64 work array")
            self.buf = np.empty(shape, dtype=work)

    def finish(self) -> np.ndarray:
        if self.buf is not self.result:
            self.result[...] = self.buf
        return self.result


def _check_eps(eps: Any, dtype: type) -> Any:
    v = check_number(eps, "eps", low=0)
    if not np.isfinite(dtype(v)):
        raise ValueError(f"eps: {v} does not fit {np.dtype(dtype)}")
    return dtype(v)


def _kernel(name: str, size: int) -> Any:
    """The parallel kernel for big outputs, its serial twin for small ones."""
    return getattr(_k, name if size >= _k.PARALLEL_MIN_ELEMENTS else name + "_serial")


def _check_device(device: Any) -> str:
    return check_choice(device, "device", ("cpu", "cuda"))


def box_iou(
    boxes1: Any,
    boxes2: Any,
    *,
    offset: float = 0,
    out: np.ndarray | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """Pairwise intersection over union of two sets of ``xyxy`` boxes.

    ``iou[i, j] = area(a_i ∩ b_j) / area(a_i ∪ b_j)``, the formula of
    ``torchvision.ops.box_iou`` evaluated in the same order, so float32 results
    agree with it to rounding.

    Parameters
    ----------
    boxes1: (N, 4) float32/float64 xyxy array.
    boxes2: (M, 4) float32/float64 xyxy array.
    offset: 0 (default) or 1 for the legacy "+1 pixel" widths
        (``w = x2 - x1 + 1``, as in the VOC devkit and old Faster R-CNN code).
    out: optional C-contiguous (N, M) buffer of the result dtype to write into
        (avoids allocating and page-faulting a fresh result; 2x faster at 5000²).
    device: ``"cpu"`` (Numba, parallel over rows) or ``"cuda"``
        (:func:`detbench.cuda.box_iou`).

    Returns
    -------
    (N, M) array, float32 if both inputs are float32, else float64; values in
    [0, 1]. Where both boxes have zero area the union is 0: detbench returns 0
    there (torchvision returns NaN).

    Cost: O(N·M) time, memory-bound on writing the result.
    """
    if _check_device(device) == "cuda":
        from detbench import cuda

        return cuda.box_iou(boxes1, boxes2, offset=offset, out=out)
    p = _Pair(boxes1, boxes2, offset, out)
    t = p.t
    if p.buf.size:
        _kernel("iou_matrix", p.buf.size)(p.a, p.bt, t(p.offset), t(1), p.buf)
    return p.finish()


def generalized_box_iou(boxes1: Any, boxes2: Any, *, offset: float = 0, out: np.ndarray | None = None) -> np.ndarray:
    """Pairwise generalized IoU (Rezatofighi et al., CVPR 2019).

    ``giou = iou - (area(C) - area(A ∪ B)) / area(C)`` with ``C`` the smallest
    box enclosing both; values in [-1, 1]. Same formula as
    ``torchvision.ops.generalized_box_iou``. Where ``area(C) == 0`` (both boxes
    collapse onto one point or line) the penalty is taken as 0, so the result is
    0 (torchvision: NaN).

    Parameters and returns as :func:`box_iou`: (N, 4) and (M, 4) xyxy in,
    (N, M) out.
    """
    p = _Pair(boxes1, boxes2, offset, out)
    t = p.t
    if p.buf.size:
        _kernel("giou_matrix", p.buf.size)(p.a, p.bt, t(p.offset), t(1), p.buf)
    return p.finish()


def distance_box_iou(
    boxes1: Any, boxes2: Any, *, eps: float = 1e-7, offset: float = 0, out: np.ndarray | None = None
) -> np.ndarray:
    """Pairwise distance IoU (Zheng et al., AAAI 2020).

    ``diou = iou - d² / (c² + eps)`` where ``d`` is the distance between the
    box centres and ``c`` the diagonal of the smallest enclosing box. Same
    formula and default ``eps`` as ``torchvision.ops.distance_box_iou``;
    values in [-1, 1].

    Parameters and returns as :func:`box_iou`: (N, 4) and (M, 4) xyxy in,
    (N, M) out.
    """
    p = _Pair(boxes1, boxes2, offset, out)
    t = p.t
    eps = _check_eps(eps, p.result.dtype.type)
    if p.buf.size:
        _kernel("diou_matrix", p.buf.size)(p.a, p.bt, t(p.offset), t(eps), t(0.5), t(1), p.buf)
    return p.finish()


def complete_box_iou(
    boxes1: Any, boxes2: Any, *, eps: float = 1e-7, offset: float = 0, out: np.ndarray | None = None
) -> np.ndarray:
    """Pairwise complete IoU (Zheng et al., AAAI 2020).

    ``ciou = diou - alpha * v`` with the aspect-ratio term
    ``v = 4/pi² (atan(w_a/h_a) - atan(w_b/h_b))²`` and
    ``alpha = v / (1 - iou + v + eps)``; same as
    ``torchvision.ops.complete_box_iou``. The angle is computed as
    ``atan2(w, h)``, equal to ``atan(w / h)`` for non-negative sizes and 0 for
    a 0x0 box (where torchvision's ``atan(0/0)`` is NaN).

    Parameters and returns as :func:`box_iou`: (N, 4) and (M, 4) xyxy in,
    (N, M) out.
    """
    p = _Pair(boxes1, boxes2, offset, out)
    t = p.t
    eps = _check_eps(eps, p.result.dtype.type)
    if p.buf.size:
        _kernel("ciou_matrix", p.buf.size)(p.a, p.bt, t(p.offset), t(eps), t(0.5), t(1), t(4.0 / math.pi**2), p.buf)
    return p.finish()
