"""The anchor core: Faster R-CNN reference anchors, anchor grids and the box coder.

Reference anchors (:func:`generate_anchors`) follow the original Faster R-CNN
recipe described in the seed notes (§4): start from the ``base_size`` ×
``base_size`` window ``(0, 0, base_size - 1, base_size - 1)`` in pixel-index
coordinates (width ``x2 - x1 + 1``), reshape it to each aspect ratio while
keeping its area (rounding the sides to whole pixels), then scale each shape.

The box coder (:func:`encode_boxes`, :func:`decode_boxes`) is the R-CNN
``(dx, dy, dw, dh)`` parameterisation used by Faster R-CNN, torchvision's
``BoxCoder`` and detectron2's ``Box2BoxTransform``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detbench._validate import as_float_array, check_boxes, check_choice, check_number, check_pair

__all__ = ["generate_anchors", "grid_anchors", "encode_boxes", "decode_boxes", "DEFAULT_BBOX_CLIP"]

#: Upper bound applied to dw and dh before ``exp`` in :func:`decode_boxes`
#: (``log(1000 / 16)``: no box grows more than 1000/16 times an anchor), as in
#: torchvision and detectron2.
DEFAULT_BBOX_CLIP = math.log(1000.0 / 16)


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
    sh, sw = check_pair(stride, "stride")
    offset = check_number(offset, "offset", low=0, high=1)
    t = base.dtype.type
    xs = (np.arange(w, dtype=np.float64) + offset) * sw
    ys = (np.arange(h, dtype=np.float64) + offset) * sh
    shift_y, shift_x = np.meshgrid(ys.astype(base.dtype), xs.astype(base.dtype), indexing="ij")
    shifts = np.stack([shift_x, shift_y, shift_x, shift_y], axis=-1).reshape(-1, 1, 4)
    out = (shifts + base[None, :, :]).reshape(-1, 4)
    return out.astype(t, copy=False)


def _coder_weights(weights: Any) -> np.ndarray:
    w = as_float_array(weights, "weights", dtype=np.float64).ravel()
    if w.shape != (4,):
        raise ValueError(f"weights: expected 4 values (wx, wy, ww, wh), got {w.shape[0]}")
    if (w <= 0).any():
        raise ValueError(f"weights: every value must be > 0, got {w.tolist()}")
    return w


def _centre_size(boxes: np.ndarray, offset: float) -> tuple[np.ndarray, ...]:
    widths = boxes[:, 2] - boxes[:, 0] + offset
    heights = boxes[:, 3] - boxes[:, 1] + offset
    half = boxes.dtype.type(0.5)
    return boxes[:, 0] + half * widths, boxes[:, 1] + half * heights, widths, heights


def _require_positive_size(widths: np.ndarray, heights: np.ndarray, name: str) -> None:
    for what, v in (("width", widths), ("height", heights)):
        bad = np.flatnonzero(v <= 0)
        if bad.size:
            raise ValueError(
                f"{name}: row {int(bad[0])} has zero {what}; the box coder divides by / takes the log of it"
            )


def encode_boxes(
    anchors: Any,
    gt: Any,
    weights: Any = (1.0, 1.0, 1.0, 1.0),
    *,
    offset: float = 0,
) -> np.ndarray:
    """Encode ground-truth boxes as regression targets relative to anchors.

    For anchor ``(xa, ya, wa, ha)`` (centre and size) and box ``(x, y, w, h)``::

        dx = wx · (x - xa) / wa      dy = wy · (y - ya) / ha
        dw = ww · log(w / wa)        dh = wh · log(h / ha)

    the parameterisation of R-CNN / Faster R-CNN, equal to torchvision's
    ``BoxCoder(weights).encode_single(gt, anchors)``.

    Parameters
    ----------
    anchors: (N, 4) xyxy, float32/float64, positive width and height.
    gt: (N, 4) xyxy boxes matched to the anchors row by row, positive size.
    weights: ``(wx, wy, ww, wh)``; Faster R-CNN's RPN uses ``(1, 1, 1, 1)``,
        its box head ``(10, 10, 5, 5)``.
    offset: 0, or 1 for legacy "+1 pixel" widths.

    Returns
    -------
    (N, 4) deltas ``(dx, dy, dw, dh)``, float32 if both inputs are, else float64.
    """
    a = check_boxes(anchors, "anchors")
    g = check_boxes(gt, "gt")
    if a.shape[0] != g.shape[0]:
        raise ValueError(f"gt: {g.shape[0]} boxes do not match the {a.shape[0]} anchors (one gt per anchor)")
    dtype = np.result_type(a.dtype, g.dtype)
    a = a.astype(dtype, copy=False)
    g = g.astype(dtype, copy=False)
    w = _coder_weights(weights).astype(dtype)
    off = float(check_choice(offset, "offset", (0, 1)))
    ax, ay, aw, ah = _centre_size(a, off)
    gx, gy, gw, gh = _centre_size(g, off)
    _require_positive_size(aw, ah, "anchors")
    _require_positive_size(gw, gh, "gt")
    out = np.empty_like(a)
    out[:, 0] = w[0] * (gx - ax) / aw
    out[:, 1] = w[1] * (gy - ay) / ah
    out[:, 2] = w[2] * np.log(gw / aw)
    out[:, 3] = w[3] * np.log(gh / ah)
    return out


def decode_boxes(
    anchors: Any,
    deltas: Any,
    weights: Any = (1.0, 1.0, 1.0, 1.0),
    *,
    clamp: float = DEFAULT_BBOX_CLIP,
    offset: float = 0,
) -> np.ndarray:
    """Apply regression deltas to anchors (the inverse of :func:`encode_boxes`).

    ``dw`` and ``dh`` are divided by their weights, then clamped to at most
    ``clamp`` before ``exp`` so a wild prediction cannot overflow, as
    torchvision's ``BoxCoder.decode_single`` does; ``decode(encode(b)) == b``
    up to rounding whenever the true log-ratio is below the clamp.

    Parameters
    ----------
    anchors: (N, 4) xyxy float32/float64 with positive size.
    deltas: (N, 4) ``(dx, dy, dw, dh)``.
    weights: as for :func:`encode_boxes`.
    clamp: upper bound on ``dw/ww`` and ``dh/wh`` (default ``log(1000/16)``).
    offset: 0, or 1 for legacy "+1 pixel" widths (then ``x2 = cx + w/2 - 1``).

    Returns
    -------
    (N, 4) xyxy boxes, float32 if both inputs are, else float64.
    """
    a = check_boxes(anchors, "anchors")
    d = as_float_array(deltas, "deltas")
    if d.ndim != 2 or d.shape[1] != 4:
        raise ValueError(f"deltas: expected shape (N, 4), got {d.shape}")
    if d.shape[0] != a.shape[0]:
        raise ValueError(f"deltas: {d.shape[0]} rows do not match the {a.shape[0]} anchors")
    dtype = np.result_type(a.dtype, d.dtype)
    a = a.astype(dtype, copy=False)
    d = d.astype(dtype, copy=False)
    w = _coder_weights(weights).astype(dtype)
    clamp = check_number(clamp, "clamp")
    off = float(check_choice(offset, "offset", (0, 1)))
    ax, ay, aw, ah = _centre_size(a, off)
    _require_positive_size(aw, ah, "anchors")
    dw = np.minimum(d[:, 2] / w[2], dtype.type(clamp))
    dh = np.minimum(d[:, 3] / w[3], dtype.type(clamp))
    cx = d[:, 0] / w[0] * aw + ax
    cy = d[:, 1] / w[1] * ah + ay
    pw = np.exp(dw) * aw
    ph = np.exp(dh) * ah
    half = dtype.type(0.5)
    out = np.empty_like(a)
    out[:, 0] = cx - half * pw
    out[:, 1] = cy - half * ph
    out[:, 2] = cx + half * pw - off
    out[:, 3] = cy + half * ph - off
    return out
