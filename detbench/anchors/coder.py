"""The box coder: R-CNN ``(dx, dy, dw, dh)`` regression targets relative to anchors.

The parameterisation of R-CNN / Faster R-CNN, torchvision's ``BoxCoder`` and
detectron2's ``Box2BoxTransform``. Dtypes follow :mod:`detbench._validate`
(float32 in any byte order and float16 -> float32); the weights are checked in
the dtype the coder computes in.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detbench._validate import as_float_array, check_boxes, check_number, check_offset

__all__ = ["encode_boxes", "decode_boxes", "DEFAULT_BBOX_CLIP"]


#: Upper bound applied to dw and dh before ``exp`` in :func:`decode_boxes`
#: (``log(1000 / 16)``: no box grows more than 1000/16 times an anchor), as in
#: torchvision and detectron2.
DEFAULT_BBOX_CLIP = math.log(1000.0 / 16)


def _coder_weights(weights: Any, dtype: np.dtype) -> np.ndarray:
    """``(wx, wy, ww, wh)`` as an array of the compute ``dtype``; each must be > 0 with a finite
    reciprocal there (``1e-300`` is > 0 in float64 but 0 in float32, and the coder divides by it)."""
    w = as_float_array(weights, "weights", dtype=np.float64).ravel()
    if w.shape != (4,):
        raise ValueError(f"weights: expected 4 values (wx, wy, ww, wh), got {w.shape[0]}")
    if (w <= 0).any():
        raise ValueError(f"weights: every value must be > 0, got {w.tolist()}")
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        wt = w.astype(dtype)
        inv = np.ones_like(wt) / np.where(wt > 0, wt, 1)
    bad = (wt <= 0) | ~np.isfinite(wt) | ~np.isfinite(inv)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"weights: {float(w[i])!r} (entry {i}) is {float(wt[i])!r} in {np.dtype(dtype)}, the dtype the "
            "coder computes in; every weight must be positive with a finite reciprocal there"
        )
    return wt


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
    (N, 4) deltas ``(dx, dy, dw, dh)``, float32 if both inputs are float32 (any byte order) or float16, else float64.
    """
    a = check_boxes(anchors, "anchors")
    g = check_boxes(gt, "gt")
    if a.shape[0] != g.shape[0]:
        raise ValueError(f"gt: {g.shape[0]} boxes do not match the {a.shape[0]} anchors (one gt per anchor)")
    dtype = np.result_type(a.dtype, g.dtype)
    a = a.astype(dtype, copy=False)
    g = g.astype(dtype, copy=False)
    w = _coder_weights(weights, dtype)
    off = check_offset(offset)
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
    (N, 4) xyxy boxes, float32 if both inputs are float32 (any byte order) or float16, else float64.
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
    w = _coder_weights(weights, dtype)
    clamp = check_number(clamp, "clamp")
    off = check_offset(offset)
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
