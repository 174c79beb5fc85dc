"""Greedy NMS: :func:`nms` and :func:`batched_nms`, identical to torchvision's,
and the greedy driver that DIoU-NMS and Fast NMS share (:func:`greedy_indices`).

Kernels: :mod:`detbench.nms._greedy_kernels`; torchvision's non-stable final
sort: :mod:`detbench.nms._torch_sort`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import check_bool, check_choice, check_labels, check_number, check_offset
from detbench.nms import _greedy_kernels as _k
from detbench.nms._common import (
    CELL_FACTOR,
    CELLS_PER_BOX,
    SIMPLE_MAX_N,
    argsort_desc,
    boxes_scores,
    grid_valid,
    prefilter,
)
from detbench.nms._grid import Columns, PairRule, make_columns, make_rule, plan_segments
from detbench.nms._torch_sort import torch_sort_desc

__all__ = ["nms", "batched_nms"]

_STRATEGIES = ("auto", "grid", "simple")

#: torchvision's ``batched_nms`` shifts boxes by label (one NMS) up to this many boxes
#: and runs NMS class by class above it.
TORCHVISION_SHIFT_MAX_N = 1000


def greedy_sorted(cols: Columns, seg: np.ndarray, rule: PairRule, suppress_all: bool, strategy: str) -> np.ndarray:
    """Kept positions (into the sorted ``cols``) of greedy NMS on each segment ``seg``."""
    n = cols.x1.shape[0]
    keep = np.empty(n, np.int64)
    if n == 0:
        return keep
    if strategy == "simple" or not grid_valid(rule.thr, rule.inclusive):
        simple_max = n
    elif strategy == "grid":
        simple_max = 0
    else:
        simple_max = SIMPLE_MAX_N
    off = float(rule.off)
    max_cells, cap = plan_segments(cols, seg, off, CELL_FACTOR, CELLS_PER_BOX, simple_max)
    shrink = min(rule.thr, 1.0) * (1.0 - 1e-5)
    plan = _k.GreedyPlan(bool(suppress_all), shrink, CELL_FACTOR, CELLS_PER_BOX, simple_max)
    scratch = _k.make_greedy_scratch(n, max_cells, cap, cols.x1.dtype)
    nk = _k.greedy_segments(cols, seg, rule, plan, scratch, keep)
    return keep[:nk]


def greedy_indices(
    boxes: np.ndarray,
    scores: np.ndarray,
    rule: PairRule,
    suppress_all: bool,
    strategy: str,
    subset: np.ndarray | None,
) -> np.ndarray:
    """Input indices kept by greedy NMS of ``boxes[subset]`` by decreasing score."""
    if subset is not None:
        boxes = boxes[subset]
        scores = scores[subset]
    order = argsort_desc(scores)
    seg = np.array([0, order.shape[0]], np.int64)
    kept = greedy_sorted(make_columns(boxes, order), seg, rule, suppress_all, strategy)
    out = order[kept]
    if subset is not None:
        out = subset[out]
    return out


def nms(
    boxes: Any,
    scores: Any,
    iou_threshold: float,
    score_threshold: float | None = None,
    *,
    inclusive: bool = False,
    offset: int = 0,
    strategy: str = "auto",
    device: str = "cpu",
) -> np.ndarray:
    """Greedy non-maximum suppression, identical to ``torchvision.ops.nms``.

    Visit the boxes by decreasing score; keep a box unless an already kept box
    overlaps it with ``IoU > iou_threshold``. The seed's wording suppresses at
    ``IoU >= iou_threshold``: pass ``inclusive=True`` for that rule.

    Parameters
    ----------
    boxes : (N, 4) float32/float64, ``xyxy``.
    scores : (N,) float32/float64.
    iou_threshold : any finite float (torchvision accepts any value too).
    score_threshold : if given, boxes with ``score <= score_threshold`` are
        dropped first (the seed's rule).
    inclusive : suppress at ``IoU >= iou_threshold`` instead of ``>``.
    offset : 0, or 1 for the legacy pixel convention (``w = x2 - x1 + 1``).
    strategy : ``"auto"`` (default), ``"grid"`` or ``"simple"``.

    Returns
    -------
    (K,) int64 indices of kept boxes, by decreasing score; equal scores by
    increasing index, as torchvision (see the module's tie rule).

    Notes
    -----
    IoU is evaluated in the input dtype with torchvision's arithmetic
    (``inter / (area_i + area_j - inter)``); a 0/0 IoU (two zero-area boxes)
    never suppresses. Scores are sorted with a stable O(N) radix sort on
    their bit pattern. ``strategy="auto"`` runs the simple O(N*K) loop
    (K kept) for ``N <= SIMPLE_MAX_N`` (128) and the spatial grid above: each
    candidate, in score order, is tested only against kept boxes registered in
    the grid cells under the centre part of the candidate (a suppressor must
    overlap more than ``iou_threshold`` of its width and height), which is
    near O(N) for detector output (N = 100,000 boxes in tens of ms); the
    worst case (every box piled into a few cells, or a few far outliers that
    stretch the grid) degrades towards the simple loop's O(N*K). Memory O(N).
    Thresholds at which a zero IoU suppresses (``< 0``, or ``<= 0`` with
    ``inclusive``) always use the simple loop. Both strategies give exactly
    the same result. Boxes whose areas leave float32's range are compared in
    float64, float64 ones outside float64's are refused (see
    :mod:`detbench.nms`, "Box scale"). Reference: torchvision ``ops.nms`` (CPU kernel
    ``nms_kernel.cpp``); ``offset=1`` is mmcv's / old Detectron's convention.
    ``device="cuda"`` runs :func:`detbench.cuda.nms` (a 64-box-tile bitmask
    kernel, same result; ``strategy`` does not apply there).
    """
    if check_choice(device, "device", ("cpu", "cuda")) == "cuda":
        from detbench import cuda

        return cuda.nms(boxes, scores, iou_threshold, score_threshold, inclusive=inclusive, offset=offset)
    off = check_offset(offset)
    b, s = boxes_scores(boxes, scores, offset=off)
    thr = check_number(iou_threshold, "iou_threshold")
    inclusive = check_bool(inclusive, "inclusive")
    check_choice(strategy, "strategy", _STRATEGIES)
    subset = prefilter(s, score_threshold)
    return greedy_indices(b, s, make_rule(thr, inclusive, off, 0, 1.0, b.dtype), False, strategy, subset)


def _class_slots(labels: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, int]:
    """Map labels (in ``[lo, hi]``) to dense slots 0..C-1 (order of label value)."""
    span = hi - lo + 1
    if span <= 4 * labels.shape[0] + 1024:
        return (labels - lo).astype(np.int64, copy=False), span
    uniq, inv = np.unique(labels, return_inverse=True)
    return inv.astype(np.int64, copy=False).reshape(-1), int(uniq.shape[0])


def _shift_fits(b: np.ndarray, lo: int, hi: int, top: float, big: float) -> bool:
    """Whether torchvision's shift ``label * (max + 1)`` stays far inside the boxes' dtype
    (labels in ``[lo, hi]``, largest coordinate ``top``, largest |coordinate| ``big``)."""
    reach = max(abs(lo), abs(hi)) * abs(top + 1.0) + big
    return reach <= float(np.finfo(b.dtype).max) / 4


def batched_nms(
    boxes: Any,
    scores: Any,
    labels: Any,
    iou_threshold: float,
    *,
    inclusive: bool = False,
    offset: int = 0,
) -> np.ndarray:
    """Per-class greedy NMS, identical to ``torchvision.ops.batched_nms``.

    Boxes with different ``labels`` never suppress each other.

    Parameters
    ----------
    boxes : (N, 4) float32/float64, ``xyxy``.
    scores : (N,) float32/float64.
    labels : (N,) integer class of each box.
    iou_threshold, inclusive, offset : as for :func:`nms`.

    Returns
    -------
    (K,) int64 indices by decreasing score. Equal scores: increasing index for
    N <= 1000; for N > 1000 the order of torchvision's final non-stable sort
    (``std::sort``), reproduced.

    Notes
    -----
    Follows torchvision's two code paths so the result is the same bits:
    for ``N <= 1000`` (``boxes.numel() <= 4000``) torchvision shifts each box
    by ``label * (max coordinate + 1)`` in the input dtype and runs one NMS;
    this function does the same shift and runs :func:`nms` on the shifted
    boxes (the shift rounds coordinates, which can change borderline IoUs, and
    boxes with negative coordinates or labels may then interact across classes
    exactly as in torchvision; when the shifted classes provably cannot touch,
    the NMS runs class by class, which gives the same result faster). For
    larger N it runs NMS within each class on the unshifted boxes, all classes
    in one compiled call (simple loop for classes of at most 128 boxes, a
    spatial grid per class above), and orders the union by decreasing score
    as torchvision's ``Tensor.sort`` does. Cost: a radix sort, a counting sort
    by class, near O(N) NMS work, an O(K log K) sort of the K kept boxes.
    When the shift itself would overflow the dtype (huge labels or
    coordinates), no shift is made: NMS runs class by class, the result the
    shift stands for. Labels must fit int64 (larger ones are refused by name).
    """
    off = check_offset(offset)
    b, s = boxes_scores(boxes, scores, offset=off)
    lab = check_labels(labels, b.shape[0], "labels")
    thr = check_number(iou_threshold, "iou_threshold")
    inclusive = check_bool(inclusive, "inclusive")
    n = b.shape[0]
    if n == 0:
        return np.empty(0, np.int64)
    rule = make_rule(thr, inclusive, off, 0, 1.0, b.dtype)
    small = n <= TORCHVISION_SHIFT_MAX_N
    lo, hi, top, big = _k.label_and_box_range(b, lab)
    lo, hi = int(lo), int(hi)  # Python ints: the span of int64 labels may not fit int64
    shift = small and _shift_fits(b, lo, hi, float(top), float(big))
    if shift and grid_valid(thr, inclusive) and hi - lo < 4 * n + 1024:
        # fast path: shift, group, check separation, per-class loops in one call
        order = argsort_desc(s)
        out = np.empty(n, np.int64)
        m = _k.batched_small(b, lab, order, rule, SIMPLE_MAX_N, out)
        if m >= 0:
            return out[:m]
    if shift:
        # torchvision's coordinate trick, reproduced in the input dtype
        shifted = np.empty_like(b)
        _k.shift_by_label(b, lab, shifted)
        b = shifted
    slot, nslots = _class_slots(lab, lo, hi)
    order = argsort_desc(s)
    grouped = np.empty(n, np.int64)
    seg = np.empty(nslots + 1, np.int64)
    _k.group_by_class(order, slot, nslots, grouped, seg)
    if shift and not (grid_valid(thr, inclusive) and _k.classes_separated(b, grouped, seg, off)):
        # shifted classes may touch (negative coordinates or labels): one NMS on all boxes, as torchvision
        return order[greedy_sorted(make_columns(b, order), np.array([0, n]), rule, False, "auto")]
    if not grid_valid(thr, inclusive):
        strategy = "simple"  # a zero IoU suppresses: every pair within a class
    else:
        strategy = "auto"
    kept = grouped[greedy_sorted(make_columns(b, grouped), seg, rule, False, strategy)]
    if small:  # one NMS over all (shifted) boxes in torchvision: stable score order
        mask = np.zeros(n, np.bool_)
        mask[kept] = True
        out = np.empty(kept.shape[0], np.int64)
        m = _k.emit_in_order(order, mask, out)
        return out[:m]
    # torchvision: keep_indices (increasing) sorted by torch.sort(descending=True),
    # whose order among equal scores is that of std::sort; reproduce it
    out = np.sort(kept)
    vals = s[out]
    torch_sort_desc(vals, out)
    return out
