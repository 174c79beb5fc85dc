"""The box core: format conversion, area, clipping and pairwise overlaps.

Box formats (all arrays are ``(N, 4)``, float32 or float64):

* ``xyxy`` – ``(x1, y1, x2, y2)``, corners; the default everywhere in detbench.
* ``xywh`` – ``(x1, y1, w, h)``, top-left corner and size; the COCO file format.
* ``cxcywh`` – ``(cx, cy, w, h)``, centre and size.

Coordinates are continuous: a box's width is ``x2 - x1``. Code of the VOC era
treated coordinates as pixel indices and used ``x2 - x1 + 1``; every function
whose result depends on it takes an explicit ``offset`` (0 by default, 1 for
that legacy convention) instead of a hidden constant.

Integer input is converted to float64; float32 stays float32 (results have the
input dtype, or float64 when the two inputs differ).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detbench._kernels import boxes as _k
from detbench._validate import (
    check_box_format,
    check_boxes,
    check_choice,
    check_number,
    check_out,
    result_float_dtype,
)

__all__ = [
    "box_convert",
    "box_area",
    "clip_boxes",
    "box_iou",
    "generalized_box_iou",
    "distance_box_iou",
    "complete_box_iou",
]


def box_convert(boxes: Any, in_fmt: str, out_fmt: str) -> np.ndarray:
    """Convert boxes between ``xyxy``, ``xywh`` and ``cxcywh``.

    Parameters
    ----------
    boxes: (N, 4) float32/float64 array in ``in_fmt``. Widths and heights must
        be non-negative (``x2 >= x1`` for ``xyxy``).
    in_fmt, out_fmt: one of ``"xyxy"``, ``"xywh"``, ``"cxcywh"``.

    Returns
    -------
    (N, 4) array in ``out_fmt``, same dtype; always a new array.
    """
    in_fmt = check_box_format(in_fmt, "in_fmt")
    out_fmt = check_box_format(out_fmt, "out_fmt")
    b = check_boxes(boxes, fmt=in_fmt)
    if in_fmt == out_fmt:
        return b.copy()
    xyxy = b if in_fmt == "xyxy" else _to_xyxy(b, in_fmt)
    return xyxy if out_fmt == "xyxy" else _from_xyxy(xyxy, out_fmt)


def _to_xyxy(b: np.ndarray, fmt: str) -> np.ndarray:
    out = np.empty_like(b)
    if fmt == "xywh":
        out[:, :2] = b[:, :2]
        out[:, 2:] = b[:, :2] + b[:, 2:]
    else:  # cxcywh
        half = b[:, 2:] * b.dtype.type(0.5)
        out[:, :2] = b[:, :2] - half
        out[:, 2:] = b[:, :2] + half
    return out


def _from_xyxy(b: np.ndarray, fmt: str) -> np.ndarray:
    out = np.empty_like(b)
    if fmt == "xywh":
        out[:, :2] = b[:, :2]
        out[:, 2:] = b[:, 2:] - b[:, :2]
    else:  # cxcywh
        out[:, :2] = (b[:, :2] + b[:, 2:]) * b.dtype.type(0.5)
        out[:, 2:] = b[:, 2:] - b[:, :2]
    return out


def box_area(boxes: Any, fmt: str = "xyxy", *, offset: float = 0) -> np.ndarray:
    """Area of each box.

    Parameters
    ----------
    boxes: (N, 4) float32/float64 array in ``fmt``.
    fmt: box format, ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
    offset: added to each width and height (1 for the legacy "+1 pixel"
        convention, ``(x2 - x1 + 1) * (y2 - y1 + 1)``); 0 by default.

    Returns
    -------
    (N,) array of the boxes' dtype.
    """
    b = check_boxes(boxes, fmt=fmt)
    off = b.dtype.type(_check_offset(offset))
    if check_box_format(fmt) == "xyxy":
        return (b[:, 2] - b[:, 0] + off) * (b[:, 3] - b[:, 1] + off)
    return (b[:, 2] + off) * (b[:, 3] + off)


def clip_boxes(boxes: Any, image_size: Any, *, offset: float = 0) -> np.ndarray:
    """Clip ``xyxy`` boxes to an image.

    Parameters
    ----------
    boxes: (N, 4) float32/float64 xyxy array.
    image_size: ``(height, width)`` of the image (the order of NumPy's
        ``image.shape[:2]`` and of ``torchvision.ops.clip_boxes_to_image``).
    offset: 0 clips x to ``[0, width]`` and y to ``[0, height]``; 1 clips to
        ``[0, width - 1]`` and ``[0, height - 1]`` (pixel-index convention).

    Returns
    -------
    (N, 4) clipped copy, same dtype.
    """
    b = check_boxes(boxes)
    try:
        height, width = image_size
    except (TypeError, ValueError):
        raise ValueError(f"image_size: expected (height, width), got {image_size!r}") from None
    height = check_number(height, "image_size[0] (height)", low=0)
    width = check_number(width, "image_size[1] (width)", low=0)
    off = _check_offset(offset)
    out = b.copy()
    np.clip(out[:, 0::2], 0, max(width - off, 0), out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, max(height - off, 0), out=out[:, 1::2])
    return out


def _check_offset(offset: Any) -> float:
    return float(check_choice(offset, "offset", (0, 1)))


def _prepare_pair(boxes1: Any, boxes2: Any, offset: Any, out: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    a = check_boxes(boxes1, "boxes1")
    b = check_boxes(boxes2, "boxes2")
    dtype = result_float_dtype(a, b)
    a = a.astype(dtype, copy=False)
    bt = np.ascontiguousarray(b.T, dtype=dtype)
    shape = (a.shape[0], b.shape[0])
    if out is None:
        result = np.empty(shape, dtype=dtype)
    else:
        result = check_out(out, shape, dtype)
    return a, bt, result, dtype.type


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
    a, bt, result, t = _prepare_pair(boxes1, boxes2, offset, out)
    if result.size:
        _kernel("iou_matrix", result.size)(a, bt, t(_check_offset(offset)), t(1), result)
    return result


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
    a, bt, result, t = _prepare_pair(boxes1, boxes2, offset, out)
    if result.size:
        _kernel("giou_matrix", result.size)(a, bt, t(_check_offset(offset)), t(1), result)
    return result


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
    a, bt, result, t = _prepare_pair(boxes1, boxes2, offset, out)
    eps = check_number(eps, "eps", low=0)
    if result.size:
        _kernel("diou_matrix", result.size)(a, bt, t(_check_offset(offset)), t(eps), t(0.5), t(1), result)
    return result


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
    a, bt, result, t = _prepare_pair(boxes1, boxes2, offset, out)
    eps = check_number(eps, "eps", low=0)
    if result.size:
        _kernel("ciou_matrix", result.size)(
            a, bt, t(_check_offset(offset)), t(eps), t(0.5), t(1), t(4.0 / math.pi**2), result
        )
    return result
