"""Single-object localisation targets ``[pc, bx, by, bh, bw, c1..cK]`` and their loss.

Seed notes §1 ("object localization"). The target vector layout, shared with the YOLO
encoder, and the coordinate conventions are described once, in :mod:`detbench.targets`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import (
    as_float_array,
    check_alloc,
    check_bool,
    check_box_format,
    check_boxes,
    check_choice,
    check_int,
    check_labels,
    check_number,
)
from detbench.targets._common import from_xyxy as _from_xyxy
from detbench.targets._common import image_size as _image_size
from detbench.targets._common import to_xyxy as _to_xyxy

__all__ = ["encode_localization", "decode_localization", "localization_loss"]


def encode_localization(
    boxes: Any,
    labels: Any,
    num_classes: int,
    image_size: Any,
    *,
    fmt: str = "xyxy",
    point: str = "center",
) -> np.ndarray:
    """Single-object localisation targets ``y = [pc, bx, by, bh, bw, c1..cK]``, one row per image.

    Parameters
    ----------
    boxes:
        ``(N, 4)`` float32/float64, one box per image (batch of ``N`` images), in
        format ``fmt``. Rows whose label is ``-1`` are ignored (any finite box).
    labels:
        ``(N,)`` integers: the class in ``[0, num_classes)``, or ``-1`` for
        "no object" (background image).
    num_classes:
        ``K >= 0``, number of classes (``K`` one-hot entries).
    image_size:
        ``(height, width)`` in pixels (or one int for a square image).
    point:
        ``"center"`` (default): ``bx, by`` are the box midpoint; ``"top_left"``:
        the top-left corner (the seed's wording). Both divided by the image
        width/height.

    Returns
    -------
    ``(N, 5 + K)`` array of the boxes' dtype. ``bh = h / height`` and
    ``bw = w / width``. Rows with label ``-1`` are ``pc = 0`` and zeros (don't
    care). Boxes are not clipped: a box reaching outside the image gives values
    outside ``[0, 1]``.

    Rule: deeplearning.ai "Object localization" (seed §1). Cost O(N K).
    """
    fmt = check_box_format(fmt)
    point = check_choice(point, "point", ("center", "top_left"))
    k = check_int(num_classes, "num_classes", low=0)
    h_img, w_img = _image_size(image_size)
    b = _to_xyxy(check_boxes(boxes, "boxes", fmt=fmt), fmt)
    lab = check_labels(labels, b.shape[0], "labels")
    if lab.size and (lab.min() < -1 or lab.max() >= k):
        bad = int(np.flatnonzero((lab < -1) | (lab >= k))[0])
        raise ValueError(f"labels: expected -1 (no object) or a class in [0, {k}), got {int(lab[bad])} at index {bad}")
    n = b.shape[0]
    check_alloc((n, 5 + k), b.dtype.itemsize, "num_classes", "the (N, 5 + num_classes) targets")
    y = np.zeros((n, 5 + k), dtype=b.dtype)
    obj = lab >= 0
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    if point == "center":
        px = b[:, 0] + 0.5 * w
        py = b[:, 1] + 0.5 * h
    else:
        px = b[:, 0]
        py = b[:, 1]
    y[:, 0] = obj
    y[:, 1] = np.where(obj, px / w_img, 0)
    y[:, 2] = np.where(obj, py / h_img, 0)
    y[:, 3] = np.where(obj, h / h_img, 0)
    y[:, 4] = np.where(obj, w / w_img, 0)
    rows = np.flatnonzero(obj)
    y[rows, 5 + lab[rows]] = 1
    return y


def decode_localization(
    y: Any,
    image_size: Any,
    *,
    point: str = "center",
    fmt: str = "xyxy",
    threshold: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_localization`.

    ``y``: ``(N, 5 + K)``. Returns ``(boxes (N, 4) in fmt, labels (N,) int64)``;
    ``labels`` is the argmax of ``c1..cK`` where ``pc > threshold`` and ``-1``
    elsewhere (with ``K == 0`` it is ``0`` where an object is present). Boxes
    are returned for every row (meaningless where the label is ``-1``). O(N K).
    """
    fmt = check_box_format(fmt)
    point = check_choice(point, "point", ("center", "top_left"))
    thr = check_number(threshold, "threshold")
    h_img, w_img = _image_size(image_size)
    arr = as_float_array(y, "y", ndim=2)
    if arr.shape[1] < 5:
        raise ValueError(f"y: expected shape (N, 5 + K), got {arr.shape}")
    w = arr[:, 4] * w_img
    h = arr[:, 3] * h_img
    px = arr[:, 1] * w_img
    py = arr[:, 2] * h_img
    if point == "center":
        x1, y1 = px - 0.5 * w, py - 0.5 * h
    else:
        x1, y1 = px, py
    boxes = np.stack([x1, y1, x1 + w, y1 + h], axis=1)
    present = arr[:, 0] > thr
    if arr.shape[1] > 5:
        cls = np.argmax(arr[:, 5:], axis=1).astype(np.int64)
    else:
        cls = np.zeros(arr.shape[0], dtype=np.int64)
    labels = np.where(present, cls, -1).astype(np.int64)
    return _from_xyxy(boxes, fmt), labels


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    # log(sigmoid(x)) computed without overflow
    return -np.logaddexp(0.0, -x)


def localization_loss(
    y_pred: Any,
    y_true: Any,
    *,
    kind: str = "squared",
    from_logits: bool = True,
    reduction: str = "mean",
    eps: float = 1e-7,
) -> np.ndarray | float:
    """Loss between predictions and targets ``[pc, bx, by, bh, bw, c1..cK]``, masked by ``pc``.

    Works on any leading shape ``(..., 5 + K)``: a batch of localisation targets
    ``(N, 5 + K)`` or YOLO grids ``(S, S, A, 5 + K)`` / ``(B, S, S, A, 5 + K)``.

    kind="squared" (the seed's loss)
        ``sum_j (ŷ_j - y_j)^2`` over all ``5 + K`` entries where ``pc = 1``;
        only ``(ŷ_1 - y_1)^2`` where ``pc = 0`` (the rest is don't care).
    kind="mixed" (the practical mix the seed mentions)
        logistic loss on ``pc`` (binary cross-entropy; ``ŷ_pc`` is a logit when
        ``from_logits`` else a probability) for every slot, plus, where
        ``pc = 1`` only, squared error on ``bx, by, bh, bw`` and the log-loss
        (cross-entropy ``-sum_c y_c log p_c``) on the classes, with
        ``p = softmax(ŷ_c)`` when ``from_logits`` else ``ŷ_c`` itself (clipped
        to ``[eps, 1]``).

    ``y_true[..., 0]`` must be 0 or 1. ``reduction``: ``"none"`` returns the
    per-slot losses (shape ``y.shape[:-1]``), ``"sum"`` / ``"mean"`` (over
    slots) return a float. Cost O(size of y).
    """
    kind = check_choice(kind, "kind", ("squared", "mixed"))
    from_logits = check_bool(from_logits, "from_logits")
    reduction = check_choice(reduction, "reduction", ("none", "sum", "mean"))
    eps = check_number(eps, "eps", low=0.0, high=0.5)
    yp = as_float_array(y_pred, "y_pred")
    yt = as_float_array(y_true, "y_true")
    if yt.ndim < 1 or yt.shape[-1] < 5:
        raise ValueError(f"y_true: expected shape (..., 5 + K), got {yt.shape}")
    if yp.shape != yt.shape:
        raise ValueError(f"y_pred: shape {yp.shape} does not match y_true {yt.shape}")
    pc = yt[..., 0]
    if not np.isin(pc, (0.0, 1.0)).all():
        raise ValueError("y_true: pc (entry 0) must be 0 or 1")
    dtype = np.result_type(yp.dtype, yt.dtype)
    yp = yp.astype(dtype, copy=False)
    yt = yt.astype(dtype, copy=False)
    obj = pc == 1.0
    if kind == "squared":
        sq = (yp - yt) ** 2
        loss = np.where(obj, sq.sum(axis=-1), sq[..., 0])
    else:
        z = yp[..., 0]
        if from_logits:
            l_pc = -(pc * _log_sigmoid(z) + (1.0 - pc) * _log_sigmoid(-z))
        else:
            p = np.clip(z, eps, 1.0 - eps)
            l_pc = -(pc * np.log(p) + (1.0 - pc) * np.log1p(-p))
        l_box = ((yp[..., 1:5] - yt[..., 1:5]) ** 2).sum(axis=-1)
        if yt.shape[-1] > 5:
            c = yp[..., 5:]
            if from_logits:
                m = c.max(axis=-1, keepdims=True)
                logp = c - m - np.log(np.exp(c - m).sum(axis=-1, keepdims=True))
            else:
                logp = np.log(np.clip(c, eps, 1.0))
            l_cls = -(yt[..., 5:] * logp).sum(axis=-1)
        else:
            l_cls = np.zeros_like(l_box)
        loss = l_pc + np.where(obj, l_box + l_cls, 0.0)
    loss = np.asarray(loss, dtype=dtype)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return float(loss.sum())
    return float(loss.mean()) if loss.size else 0.0


# ---------------------------------------------------------------------------
# YOLO grid targets (seed §2 "Bounding box predictions", §4 anchors)
