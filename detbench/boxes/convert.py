"""Box formats: conversion between them, area and clipping.

Box formats (all arrays are ``(N, 4)``, float32 or float64):

* ``xyxy`` – ``(x1, y1, x2, y2)``, corners; the default everywhere in detbench.
* ``xywh`` – ``(x1, y1, w, h)``, top-left corner and size; the COCO file format.
* ``cxcywh`` – ``(cx, cy, w, h)``, centre and size.

Coordinates are continuous: a box's width is ``x2 - x1``. Code of the VOC era
treated coordinates as pixel indices and used ``x2 - x1 + 1``; every function
whose result depends on it takes an explicit ``offset`` (0 by default, 1 for
that legacy convention) instead of a hidden constant.

Dtypes follow :mod:`detbench._validate`: float32 in any byte order and float16
give native float32, integers float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import check_box_format, check_boxes, check_number, check_offset

__all__ = ["box_convert", "box_area", "clip_boxes"]


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
    off = b.dtype.type(check_offset(offset))
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
    off = check_offset(offset)
    out = b.copy()
    np.clip(out[:, 0::2], 0, max(width - off, 0), out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, max(height - off, 0), out=out[:, 1::2])
    return out
