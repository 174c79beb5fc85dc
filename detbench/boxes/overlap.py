"""Pairwise overlaps of two sets of ``xyxy`` boxes: IoU, generalized, distance and complete IoU.

Results are in the boxes' compute dtype (float32 when both sets are float32 in any byte order or
float16, else float64; see :mod:`detbench._validate`). Areas that would overflow or underflow that
dtype (float32 coordinates beyond ~2e18, or positive extents and hull sides below ~9e-19) are detected
before the kernels run: float32 boxes are then computed in float64 and rounded once to float32 at the
end; float64 boxes go to a scale-free kernel (extents relative to the enclosing box); float64
coordinates beyond ``max / 8`` are refused by name. So IoU is always in [0, 1], GIoU and DIoU in
[-1, 1] and CIoU in [-1.5, 1], with the value of the formula.
"""

from __future__ import annotations

import functools
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
from detbench.boxes._overlap_kernels import CIOU, DIOU, GIOU, IOU

__all__ = ["box_iou", "generalized_box_iou", "distance_box_iou", "complete_box_iou"]


@functools.cache
def _safe_range(dtype: np.dtype) -> tuple[float, float]:
    """``(lo, hi)``: with every coordinate within ``±hi`` and every positive extent at least ``lo``, no
    area, union, hull area or squared hull diagonal of the plain kernels overflows or becomes subnormal
    in ``dtype`` (they are at most ``2 (2 hi + 1)**2`` and at least ``lo**2``)."""
    fi = np.finfo(dtype)
    return math.sqrt(float(fi.tiny)) * 8, math.sqrt(float(fi.max)) / 8


def _risk(a: np.ndarray, b: np.ndarray, offset: float) -> bool:
    """Whether the plain kernels could overflow or underflow on this pair of box sets (in their dtype).

    They cannot when every coordinate is within ``±hi`` and every positive width, height and hull side is
    at least ``lo`` (:func:`_safe_range`). Hull sides are at least the widths/heights of the two boxes,
    so only pairs of boxes that both have zero width (or both zero height) need a look at the gaps
    between their coordinates."""
    lo, hi = _safe_range(a.dtype)
    t = a.dtype.type(offset)  # a and b share one dtype
    big_a, small_a, zw_a, zh_a = _k.magnitude_range(a, t)
    big_b, small_b, zw_b, zh_b = _k.magnitude_range(b, t)
    if max(big_a, big_b) > hi or min(small_a, small_b) < lo:
        return True
    for both_zero, col in ((zw_a and zw_b, 0), (zh_a and zh_b, 1)):
        if both_zero:
            lines = [x[x[:, col + 2] - x[:, col] + t == 0, col] for x in (a, b)]
            gaps = np.diff(np.unique(np.concatenate(lines)))
            if gaps.size and float(gaps.min()) < lo:
                return True
    return False


#: float64 coordinates beyond this are refused: a difference of two of them (plus ``offset``) overflows.
_F64_LIMIT = float(np.finfo(np.float64).max) / 8


class _Pair:
    """Validated inputs of a pairwise measure, and how to compute it.

    ``a`` (N, 4) and ``bt`` (4, M) are the boxes in the work dtype ``t``; ``result`` the (N, M) array to
    return; ``buf`` where the kernel writes (``result`` itself unless the work dtype is wider);
    ``robust`` whether the scale-free kernel must run. The plain kernels run whenever every area fits the
    dtype (the fast path). Otherwise float32 boxes are computed in float64 (where every float32 area
    fits), and float64 boxes with the scale-free kernel (extents taken relative to the enclosing box,
    so nothing overflows or underflows); float64 coordinates beyond ``_F64_LIMIT`` are refused by name.
    """

    def __init__(self, boxes1: Any, boxes2: Any, offset: Any, out: Any) -> None:
        self.offset = check_offset(offset)
        a = check_boxes(boxes1, "boxes1")
        b = check_boxes(boxes2, "boxes2")
        dtype = result_float_dtype(a, b)
        a = a.astype(dtype, copy=False)
        b = b.astype(dtype, copy=False)
        shape = (a.shape[0], b.shape[0])
        if out is None:
            check_alloc(shape, dtype.itemsize, "boxes1, boxes2", "the (N, M) result")
            self.result = np.empty(shape, dtype=dtype)
        else:
            self.result = check_out(out, shape, dtype)
            for name, x in (("boxes1", boxes1), ("boxes2", boxes2)):
                if isinstance(x, np.ndarray) and np.shares_memory(self.result, x):
                    raise ValueError(f"out: shares memory with {name}; the kernel would overwrite its input")
        work, self.robust = dtype, False
        if a.shape[0] and b.shape[0] and _risk(a, b, self.offset):
            if dtype == np.float32:
                work = np.dtype(np.float64)
            else:
                for name, x in (("boxes1", a), ("boxes2", b)):
                    big = float(np.abs(x).max())
                    if big > _F64_LIMIT:
                        raise ValueError(
                            f"{name}: coordinate magnitude {big:.3g} is beyond {_F64_LIMIT:.3g}, where box "
                            "extents overflow float64; rescale the boxes"
                        )
                self.robust = True
        self.a = np.ascontiguousarray(a, dtype=work)
        self.bt = np.ascontiguousarray(b.T, dtype=work)
        self.t = work.type
        if work == dtype:
            self.buf = self.result
        else:
            check_alloc(shape, work.itemsize, "boxes1, boxes2", "the float64 work array")
            self.buf = np.empty(shape, dtype=work)

    def run(self, name: str, kind: int, eps: float, *scalars: float) -> np.ndarray:
        """Run kernel ``name`` with the work-dtype ``scalars`` after ``a, bt, offset`` (or the scale-free
        kernel for measure ``kind``), and return the result."""
        t = self.t
        if self.buf.size:
            if self.robust:
                _kernel("robust_matrix", self.buf.size)(self.a, self.bt, t(self.offset), t(eps), kind, self.buf)
            else:
                _kernel(name, self.buf.size)(self.a, self.bt, t(self.offset), *(t(v) for v in scalars), self.buf)
        if self.buf is not self.result:
            self.result[...] = self.buf
        return self.result


def _check_eps(eps: Any, dtype: type) -> Any:
    v = check_number(eps, "eps", low=0)
    with np.errstate(over="ignore"):
        fits = np.isfinite(dtype(v))
    if not fits:
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
    return _Pair(boxes1, boxes2, offset, out).run("iou_matrix", IOU, 0.0, 1)


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
    return _Pair(boxes1, boxes2, offset, out).run("giou_matrix", GIOU, 0.0, 1)


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
    eps = _check_eps(eps, p.result.dtype.type)
    return p.run("diou_matrix", DIOU, eps, eps, 0.5, 1)


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
    eps = _check_eps(eps, p.result.dtype.type)
    return p.run("ciou_matrix", CIOU, eps, eps, 0.5, 1, 4.0 / math.pi**2)
