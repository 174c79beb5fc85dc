"""Training targets for single-object localisation and YOLO grids, and their losses.

Seed notes §1 ("object localization") and §2/§4 ("Bounding box predictions",
"Anchor boxes").

Target vector layout (both encoders), following the seed's order::

    y = [pc, bx, by, bh, bw, c1, ..., cK]

* ``pc``   – 1 if an object is present, 0 otherwise. When ``pc == 0`` every
  other entry is "don't care": the encoders write 0 there and the losses
  ignore it.
* ``bx, by`` – the box midpoint (or its top-left corner for
  ``encode_localization(..., point="top_left")``, the other convention the seed
  mentions). For single-object localisation they are divided by the image
  width/height (so the image is the unit square); for YOLO grids they are the
  offset inside the responsible cell (the cell is the unit square, ``[0, 1)``).
* ``bh, bw`` – box height and width divided by the image height and width
  (both encoders; note the order h before w, as in the seed).
* ``c1..cK`` – one-hot class indicator.

Coordinates are pixels with the image spanning ``[0, width] x [0, height]``;
``image_size`` is always ``(height, width)``.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

from detbench._kernels import targets as _k
from detbench._validate import (
    as_float_array,
    check_box_format,
    check_boxes,
    check_choice,
    check_int,
    check_labels,
    check_number,
    check_pair,
)

__all__ = [
    "encode_localization",
    "decode_localization",
    "localization_loss",
    "encode_yolo_targets",
    "decode_yolo_outputs",
    "YoloTargets",
    "YoloCollisionWarning",
]


class YoloCollisionWarning(UserWarning):
    """Two objects were assigned the same YOLO (cell, anchor) slot; the later one was dropped."""


def _to_xyxy(b: np.ndarray, fmt: str) -> np.ndarray:
    if fmt == "xyxy":
        return b
    out = np.empty_like(b)
    if fmt == "xywh":
        out[:, :2] = b[:, :2]
        out[:, 2:] = b[:, :2] + b[:, 2:]
    else:  # cxcywh
        out[:, :2] = b[:, :2] - 0.5 * b[:, 2:]
        out[:, 2:] = b[:, :2] + 0.5 * b[:, 2:]
    return out


def _from_xyxy(b: np.ndarray, fmt: str) -> np.ndarray:
    if fmt == "xyxy":
        return b
    out = np.empty_like(b)
    wh = b[:, 2:] - b[:, :2]
    if fmt == "xywh":
        out[:, :2] = b[:, :2]
    else:
        out[:, :2] = b[:, :2] + 0.5 * wh
    out[:, 2:] = wh
    return out


def _image_size(image_size: Any) -> tuple[int, int]:
    return check_pair(image_size, "image_size")


# ---------------------------------------------------------------------------
# single-object localisation (seed §1)
# ---------------------------------------------------------------------------


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
# ---------------------------------------------------------------------------


class YoloTargets(NamedTuple):
    """Result of :func:`encode_yolo_targets`.

    targets: ``(rows, cols, A, 5 + K)`` target tensor.
    slots: ``(N, 3)`` int64, the ``(row, col, anchor)`` each object was assigned to
        (also for objects dropped by a collision).
    collisions: ``(M, 2)`` int64, ``(kept, dropped)`` object index pairs: object
        ``dropped`` wanted the slot already holding object ``kept``.
    """

    targets: np.ndarray
    slots: np.ndarray
    collisions: np.ndarray


def _check_anchors(anchors: Any, name: str = "anchors") -> np.ndarray:
    a = as_float_array(anchors, name, ndim=2, dtype=np.float64)
    if a.shape[1] != 2 or a.shape[0] < 1:
        raise ValueError(f"{name}: expected shape (A, 2) with A >= 1 (width, height), got {a.shape}")
    if (a <= 0).any():
        raise ValueError(f"{name}: widths and heights must be > 0")
    return a


def encode_yolo_targets(
    boxes: Any,
    labels: Any,
    image_size: Any,
    grid: Any,
    anchors: Any,
    num_classes: int,
    *,
    fmt: str = "xyxy",
    on_collision: str = "warn",
) -> YoloTargets:
    """YOLO grid targets with anchor boxes: ``(rows, cols, A, 5 + K)``.

    Each object goes to the grid cell holding its midpoint (cell ``(r, c)``
    covers ``[c W/cols, (c+1) W/cols) x [r H/rows, (r+1) H/rows)``; a midpoint
    on the right/bottom image edge goes to the last cell) and, inside that
    cell, to the anchor whose shape has the highest IoU with the box when both
    are centred on one point (YOLOv2; first anchor on ties). The slot
    ``[r, c, a]`` receives ``[1, bx, by, bh, bw, one-hot]`` where

    * ``bx = cx * cols / W - c`` and ``by = cy * rows / H - r``: the midpoint
      relative to the cell (``[0, 1)``, the cell is the unit square);
    * ``bh = h / H`` and ``bw = w / W``: the size relative to the **image**.

    All other slots are zero (``pc = 0``: don't care).

    Parameters
    ----------
    boxes: ``(N, 4)`` in ``fmt`` (pixels); midpoints must lie inside the image
        (up to a rounding tolerance of ``1e-9`` of its size; such a midpoint
        goes to the edge cell).
    labels: ``(N,)`` classes in ``[0, num_classes)``.
    image_size: ``(height, width)``.
    grid: ``S`` or ``(rows, cols)``.
    anchors: ``(A, 2)`` anchor (width, height) in pixels, > 0.
    num_classes: ``K >= 0``.
    on_collision:
        What to do when two objects want the same (cell, anchor) slot – the
        failure the seed names (3 objects for 2 anchors, or two objects of the
        same shape in one cell). The first object in input order keeps the
        slot in every mode; ``"raise"``: ``ValueError``; ``"warn"`` (default):
        :class:`YoloCollisionWarning`; ``"keep_first"``: no warning. The
        collisions are always reported in the result.

    Returns
    -------
    :class:`YoloTargets` ``(targets, slots, collisions)``; ``targets`` has the
    boxes' dtype. Inverse: :func:`decode_yolo_outputs`. Cost O(N A + rows cols A K).
    Reference: Redmon et al. 2016 (YOLO), Redmon & Farhadi 2017 (YOLOv2 anchors).
    """
    fmt = check_box_format(fmt)
    on_collision = check_choice(on_collision, "on_collision", ("raise", "warn", "keep_first"))
    k = check_int(num_classes, "num_classes", low=0)
    h_img, w_img = _image_size(image_size)
    rows, cols = check_pair(grid, "grid")
    anc = _check_anchors(anchors)
    b = _to_xyxy(check_boxes(boxes, "boxes", fmt=fmt), fmt)
    n = b.shape[0]
    lab = check_labels(labels, n, "labels")
    if lab.size and (lab.min() < 0 or lab.max() >= k):
        bad = int(np.flatnonzero((lab < 0) | (lab >= k))[0])
        raise ValueError(f"labels: expected classes in [0, {k}), got {int(lab[bad])} at index {bad}")
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    cx = b[:, 0] + 0.5 * w
    cy = b[:, 1] + 0.5 * h
    # a midpoint may overshoot an image edge by float rounding (1e-9 of the image size is tolerated)
    tol_x, tol_y = 1e-9 * w_img, 1e-9 * h_img
    outside = (cx < -tol_x) | (cx > w_img + tol_x) | (cy < -tol_y) | (cy > h_img + tol_y)
    if outside.any():
        r = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"boxes: row {r} has its midpoint ({float(cx[r])}, {float(cy[r])}) outside the image "
            f"(width {w_img}, height {h_img})"
        )
    na = anc.shape[0]
    targets = np.zeros((rows, cols, na, 5 + k), dtype=b.dtype)
    slots = np.zeros((n, 3), dtype=np.int64)
    coll = np.zeros((n, 2), dtype=np.int64)
    f64 = np.float64
    ncol = _k.yolo_assign(
        cx.astype(f64),
        cy.astype(f64),
        w.astype(f64),
        h.astype(f64),
        anc,
        rows,
        cols,
        float(h_img),
        float(w_img),
        slots,
        coll,
    )
    coll = coll[:ncol].copy()
    if ncol:
        first = coll[0]
        r, c, a = slots[first[1]]
        msg = (
            f"{ncol} YOLO target collision{'s' if ncol > 1 else ''}: object {int(first[1])} wants cell "
            f"(row {int(r)}, col {int(c)}) anchor {int(a)}, already taken by object {int(first[0])}"
        )
        if on_collision == "raise":
            raise ValueError(msg + "; use more anchors / a finer grid, or on_collision='keep_first'")
        if on_collision == "warn":
            warnings.warn(msg + "; the later objects were dropped", YoloCollisionWarning, stacklevel=2)
    keep = np.ones(n, dtype=bool)
    keep[coll[:, 1]] = False
    idx = np.flatnonzero(keep)
    r, c, a = slots[idx, 0], slots[idx, 1], slots[idx, 2]
    t = targets
    t[r, c, a, 0] = 1
    t[r, c, a, 1] = np.clip(cx[idx] * cols / w_img - c, 0, 1)
    t[r, c, a, 2] = np.clip(cy[idx] * rows / h_img - r, 0, 1)
    t[r, c, a, 3] = h[idx] / h_img
    t[r, c, a, 4] = w[idx] / w_img
    if k:
        t[r, c, a, 5 + lab[idx]] = 1
    return YoloTargets(targets, slots, coll)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(_log_sigmoid(x))


def decode_yolo_outputs(
    grid_output: Any,
    image_size: Any,
    anchors: Any,
    score_threshold: float = 0.5,
    *,
    raw: bool = False,
    score: str = "objectness",
    fmt: str = "xyxy",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes, scores and labels from a YOLO grid ``(rows, cols, A, 5 + K)``.

    raw=False (default)
        ``grid_output`` uses the target layout of :func:`encode_yolo_targets`:
        ``pc`` a probability, ``bx, by`` in cell units, ``bh, bw`` relative to
        the image, class scores. ``decode_yolo_outputs(encode_yolo_targets(...).targets)``
        returns the encoded boxes (up to float rounding).
    raw=True
        ``grid_output`` holds raw network outputs ``[t_o, t_x, t_y, t_h, t_w,
        class logits]`` in YOLOv2's parameterisation: ``pc = sigmoid(t_o)``,
        ``bx = sigmoid(t_x)``, ``by = sigmoid(t_y)``, box width
        ``= anchor_w * exp(t_w)`` and height ``= anchor_h * exp(t_h)`` pixels,
        class probabilities ``softmax(logits)``.

    The box of slot ``[r, c, a]`` has midpoint ``((c + bx) W / cols, (r + by) H / rows)``
    and size ``(bw W, bh H)``. ``score="objectness"``: score ``= pc``;
    ``"class"``: ``pc * max class probability`` (YOLO's class-specific
    confidence). Slots with score ``> score_threshold`` are kept (the seed's
    "discard pc <= threshold"); ``labels`` = argmax over classes (0 when K = 0).

    ``anchors``: ``(A, 2)`` (width, height) pixels, must match the grid's ``A``
    (used by ``raw=True``).

    Returns ``(boxes (M, 4) in fmt, scores (M,), labels (M,) int64)`` sorted by
    score descending (grid order ``(row, col, anchor)`` on ties), in the input
    dtype. No NMS is applied. Cost O(rows cols A K + M log M).
    """
    fmt = check_box_format(fmt)
    score = check_choice(score, "score", ("objectness", "class"))
    thr = check_number(score_threshold, "score_threshold")
    h_img, w_img = _image_size(image_size)
    g = as_float_array(grid_output, "grid_output", ndim=4)
    if g.shape[3] < 5:
        raise ValueError(f"grid_output: expected shape (rows, cols, A, 5 + K), got {g.shape}")
    rows, cols, na, depth = g.shape
    anc = _check_anchors(anchors)
    if anc.shape[0] != na:
        raise ValueError(f"anchors: {anc.shape[0]} anchors do not match grid_output's {na} per cell")
    k = depth - 5
    dt = g.dtype
    if raw:
        pc = _sigmoid(g[..., 0])
        bx = _sigmoid(g[..., 1])
        by = _sigmoid(g[..., 2])
        hh = anc[:, 1].astype(dt) * np.exp(g[..., 3])
        ww = anc[:, 0].astype(dt) * np.exp(g[..., 4])
        if k:
            c = g[..., 5:]
            e = np.exp(c - c.max(axis=-1, keepdims=True))
            probs = e / e.sum(axis=-1, keepdims=True)
    else:
        pc = g[..., 0]
        bx = g[..., 1]
        by = g[..., 2]
        hh = g[..., 3] * h_img
        ww = g[..., 4] * w_img
        probs = g[..., 5:]
    if k:
        labels = np.argmax(probs, axis=-1).astype(np.int64)
        cmax = np.max(probs, axis=-1)
    else:
        labels = np.zeros(pc.shape, dtype=np.int64)
        cmax = np.ones(pc.shape, dtype=dt)
    sc = pc * cmax if score == "class" else pc
    ci = np.arange(cols, dtype=dt)[None, :, None]
    ri = np.arange(rows, dtype=dt)[:, None, None]
    cx = (ci + bx) * (w_img / cols)
    cy = (ri + by) * (h_img / rows)
    keep = sc > thr
    cx, cy, ww, hh, sc, labels = cx[keep], cy[keep], ww[keep], hh[keep], sc[keep], labels[keep]
    order = np.argsort(-sc, kind="stable")
    boxes = np.stack([cx - 0.5 * ww, cy - 0.5 * hh, cx + 0.5 * ww, cy + 0.5 * hh], axis=1)[order].astype(dt)
    return _from_xyxy(boxes, fmt), sc[order].astype(dt), labels[order]
