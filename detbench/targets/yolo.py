"""YOLO grid targets with anchor boxes, and decoding of YOLO grid outputs.

Seed notes §2/§4 ("Bounding box predictions", "Anchor boxes"). The target
vector of each (cell, anchor) slot is ``[pc, bx, by, bh, bw, c1..cK]`` (see
:mod:`detbench.targets`): ``bx, by`` the midpoint relative to the cell,
``bh, bw`` the size relative to the image.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

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
    check_pair,
)
from detbench.targets import _kernels as _k
from detbench.targets._common import from_xyxy as _from_xyxy
from detbench.targets._common import image_size as _image_size
from detbench.targets._common import to_xyxy as _to_xyxy
from detbench.targets.localization import _log_sigmoid

__all__ = ["encode_yolo_targets", "decode_yolo_outputs", "YoloTargets", "YoloCollisionWarning"]


class YoloCollisionWarning(UserWarning):
    """Two objects were assigned the same YOLO (cell, anchor) slot; the later one was dropped."""


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
    culprit = "num_classes" if 5 + k > rows * cols * na else "grid"
    check_alloc((rows, cols, na, 5 + k), b.dtype.itemsize, culprit, "the (rows, cols, A, 5 + num_classes) targets")
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
    raw = check_bool(raw, "raw")
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
