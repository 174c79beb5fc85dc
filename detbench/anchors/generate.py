"""Anchor generation: Faster R-CNN reference anchors and anchor grids over a feature map.

Reference anchors (:func:`generate_anchors`) follow the original Faster R-CNN
recipe described in the seed notes (§4): start from the ``base_size`` ×
``base_size`` window ``(0, 0, base_size - 1, base_size - 1)`` in pixel-index
coordinates (width ``x2 - x1 + 1``), reshape it to each aspect ratio while
keeping its area (rounding the sides to whole pixels), then scale each shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import as_float_array, check_alloc, check_boxes, check_int, check_number, check_pair

__all__ = ["generate_anchors", "grid_anchors"]


def _positive_vector(values: Any, name: str) -> np.ndarray:
    arr = as_float_array(values, name, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError(f"{name}: must not be empty")
    if (arr <= 0).any():
        raise ValueError(f"{name}: every value must be > 0, got {arr.tolist()}")
    return arr


def generate_anchors(
    base_size: float = 16,
    ratios: Any = (0.5, 1, 2),
    scales: Any = (8, 16, 32),
) -> np.ndarray:
    """Faster R-CNN reference anchors around one feature-map cell.

    For each aspect ratio ``r`` (height / width) the base window of area
    ``base_size²`` becomes ``w = round(sqrt(base_size² / r))``,
    ``h = round(w · r)``, centred on the base window's centre
    ``((base_size - 1) / 2, (base_size - 1) / 2)``; each shape is then
    multiplied by every scale. Corners use the pixel-index convention
    ``x1 = cx - (w - 1) / 2``, ``x2 = cx + (w - 1) / 2``.

    Parameters
    ----------
    base_size: side of the base window in image pixels (the feature stride).
    ratios: aspect ratios ``h / w`` (A_r values, > 0).
    scales: multipliers of the reshaped window's sides (A_s values, > 0);
        the default ``(8, 16, 32)`` is the paper's ``2 ** np.arange(3, 6)``.

    Returns
    -------
    (A_r · A_s, 4) float64 xyxy array, ratio-major (all scales of the first
    ratio, then the next ratio). The defaults give the 9 anchors of the paper:
    first row ``(-84, -40, 99, 55)``, last row ``(-168, -344, 183, 359)``.
    """
    base_size = check_number(base_size, "base_size", low=0, low_inclusive=False)
    ratios = _positive_vector(ratios, "ratios")
    scales = _positive_vector(scales, "scales")
    side = base_size
    centre = (side - 1) / 2
    widths = np.round(np.sqrt(side * side / ratios))
    heights = np.round(widths * ratios)
    ws = (widths[:, None] * scales[None, :]).ravel()
    hs = (heights[:, None] * scales[None, :]).ravel()
    return np.stack(
        [centre - (ws - 1) / 2, centre - (hs - 1) / 2, centre + (ws - 1) / 2, centre + (hs - 1) / 2], axis=1
    )


def grid_anchors(
    base_anchors: Any,
    feature_shape: Any,
    stride: Any,
    *,
    offset: float = 0.0,
) -> np.ndarray:
    """Place every base anchor at every cell of a feature map.

    The anchor of cell ``(y, x)`` is the base anchor shifted by
    ``((x + offset) · stride_w, (y + offset) · stride_h)``.

    Order (the one torchvision's ``AnchorGenerator`` and detectron2 use): cells
    in row-major order (y outer, x inner), and for each cell all ``A`` base
    anchors in their given order. Row ``(y · W + x) · A + a`` is anchor ``a`` at
    cell ``(y, x)``, so a head's output of shape ``(H, W, A, 4)`` reshaped to
    ``(-1, 4)`` lines up with it.

    Parameters
    ----------
    base_anchors: (A, 4) xyxy anchors around the origin cell (e.g. from
        :func:`generate_anchors`), float32 or float64.
    feature_shape: ``(H, W)`` of the feature map.
    stride: an int or ``(stride_h, stride_w)`` in image pixels per cell.
    offset: cell-centre offset in cells (0 like torchvision; 0.5 centres the
        anchors on the cells, detectron2's ``offset`` option).

    Returns
    -------
    (H · W · A, 4) xyxy array of the base anchors' dtype.
    """
    base = check_boxes(base_anchors, "base_anchors")
    h, w = check_pair(feature_shape, "feature_shape", positive=False)
    for v in (h, w):
        check_int(v, "feature_shape", low=0)
    sh, sw = check_pair(stride, "stride")
    offset = check_number(offset, "offset", low=0, high=1)
    # the result and the (H, W, A, 4) shifts built on the way
    check_alloc((h * w * base.shape[0], 4 * 2), base.dtype.itemsize, "feature_shape", "the anchor grid")
    t = base.dtype.type
    xs = (np.arange(w, dtype=np.float64) + offset) * sw
    ys = (np.arange(h, dtype=np.float64) + offset) * sh
    shift_y, shift_x = np.meshgrid(ys.astype(base.dtype), xs.astype(base.dtype), indexing="ij")
    shifts = np.stack([shift_x, shift_y, shift_x, shift_y], axis=-1).reshape(-1, 1, 4)
    out = (shifts + base[None, :, :]).reshape(-1, 4)
    return out.astype(t, copy=False)
