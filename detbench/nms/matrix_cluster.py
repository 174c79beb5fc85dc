"""The other hard-decision variants: DIoU-NMS, Fast NMS, Cluster-NMS, and Matrix NMS.

DIoU-NMS and Fast NMS run the greedy driver of :mod:`detbench.nms.greedy`
with another pair rule; Cluster-NMS and Matrix NMS register every box in a
progressive grid (kernels: :mod:`detbench.nms._matrix_cluster_kernels`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import check_bool, check_choice, check_int, check_number, check_offset
from detbench.nms import _matrix_cluster_kernels as _k
from detbench.nms._common import (
    CELL_FACTOR,
    CELLS_PER_BOX,
    SIMPLE_MAX_N,
    argsort_desc,
    boxes_scores,
    grid_valid,
    prefilter,
)
from detbench.nms._grid import make_columns, make_rule, plan_segments
from detbench.nms.greedy import greedy_indices

__all__ = ["diou_nms", "fast_nms", "cluster_nms", "matrix_nms"]


def diou_nms(
    boxes: Any,
    scores: Any,
    iou_threshold: float,
    beta: float = 1.0,
    score_threshold: float | None = None,
    *,
    inclusive: bool = False,
) -> np.ndarray:
    """DIoU-NMS (Zheng et al., AAAI 2020, "Distance-IoU Loss").

    Greedy NMS in which a kept box ``M`` suppresses ``B`` when
    ``IoU(M, B) - (d**2 / c**2) ** beta > iou_threshold`` (``>=`` with
    ``inclusive``), where ``d`` is the distance between the box centres and
    ``c`` the diagonal of the smallest box enclosing both. Boxes that overlap
    but whose centres are far apart (two adjacent objects) survive more often
    than with plain NMS. ``beta = 1`` is the AAAI paper's rule; the journal
    version (Zheng et al., TCYB 2021) tunes ``beta`` (e.g. 0.6).

    Parameters
    ----------
    boxes : (N, 4) float32/float64, ``xyxy``.
    scores : (N,) float32/float64.
    iou_threshold : any finite float.
    beta : >= 0; exponent of the penalty.
    score_threshold : drop boxes with ``score <= score_threshold`` first.
    inclusive : suppress at ``>=``.

    Returns
    -------
    (K,) int64 indices by decreasing score (ties: increasing index).

    Notes
    -----
    IoU uses torchvision's arithmetic in the input dtype, the penalty is
    float64 (0 when ``c == 0``). Same strategies as :func:`nms` (a suppressor
    must have ``IoU > iou_threshold``, so the grid query still applies):
    simple loop up to 128 boxes, spatial grid above; near O(N) for detector
    output, O(N * K) worst case.
    """
    b, s = boxes_scores(boxes, scores)
    thr = check_number(iou_threshold, "iou_threshold")
    be = check_number(beta, "beta", low=0.0)
    inclusive = check_bool(inclusive, "inclusive")
    subset = prefilter(s, score_threshold)
    return greedy_indices(b, s, make_rule(thr, inclusive, 0.0, 1, be, b.dtype), False, "auto", subset)


def fast_nms(
    boxes: Any,
    scores: Any,
    iou_threshold: float,
    score_threshold: float | None = None,
    *,
    inclusive: bool = False,
    offset: int = 0,
) -> np.ndarray:
    """Fast NMS (Bolya et al., ICCV 2019, YOLACT).

    Keep box ``j`` when no higher-scored box at all, kept or suppressed, has
    ``IoU > iou_threshold`` with it (YOLACT takes the column maximum of the
    upper-triangular IoU matrix). It suppresses at least as much as greedy
    NMS, and its kept set is a subset of greedy NMS's.

    Parameters and returns as for :func:`nms`.

    Notes
    -----
    YOLACT evaluates the whole IoU matrix (O(N^2), parallel on a GPU); here
    the spatial grid registers every box and each candidate is tested against
    the boxes in the cells under its centre part, stopping at the first
    suppressor: near O(N) for detector output. Simple loop up to 128 boxes.
    """
    off = check_offset(offset)
    b, s = boxes_scores(boxes, scores, offset=off)
    thr = check_number(iou_threshold, "iou_threshold")
    inclusive = check_bool(inclusive, "inclusive")
    subset = prefilter(s, score_threshold)
    return greedy_indices(b, s, make_rule(thr, inclusive, off, 0, 1.0, b.dtype), True, "auto", subset)


def cluster_nms(
    boxes: Any,
    scores: Any,
    iou_threshold: float,
    score_threshold: float | None = None,
    *,
    inclusive: bool = False,
    offset: int = 0,
    max_iter: int | None = None,
) -> np.ndarray:
    """Cluster-NMS (Zheng et al., TCYB 2021): exactly greedy NMS's result.

    With boxes sorted by score and ``X`` the strictly upper-triangular
    suppression matrix (``X[i, j] = IoU(i, j) > iou_threshold``), start from
    ``keep = 1`` and iterate ``keep[j] = not any(keep[i] and X[i, j])`` with
    the previous iteration's ``keep`` (the paper's matrix form) until it stops
    changing. The fixed point is unique and equals greedy NMS, reached after
    at most N iterations (usually a handful).

    Parameters and returns as for :func:`nms`; ``max_iter`` caps the
    iterations (default N, which always converges).

    Notes
    -----
    Uses the same IoU arithmetic as :func:`nms`, so ``cluster_nms(...)`` and
    ``nms(...)`` are identical (tested). The sparse suppression lists come
    from a spatial grid that registers every box (all pairs for thresholds at
    which a zero IoU suppresses); each iteration costs O(pairs).
    """
    off = check_offset(offset)
    b, s = boxes_scores(boxes, scores, offset=off)
    thr = check_number(iou_threshold, "iou_threshold")
    inclusive = check_bool(inclusive, "inclusive")
    subset = prefilter(s, score_threshold)
    if subset is not None:
        b = b[subset]
        s = s[subset]
    n = b.shape[0]
    it_cap = n if max_iter is None else check_int(max_iter, "max_iter", low=1)
    order = argsort_desc(s)
    cols = make_columns(b, order)
    rule = make_rule(thr, inclusive, off, 0, 1.0, b.dtype)
    start = np.empty(n + 1, np.int64)
    nbr = np.empty(0, np.int64)
    if grid_valid(thr, inclusive) and n > SIMPLE_MAX_N:
        max_cells, cap = plan_segments(cols, np.array([0, n], np.int64), off, CELL_FACTOR, CELLS_PER_BOX, 0)
        plan = _k.GridPlan(CELL_FACTOR, CELLS_PER_BOX)
        scratch = _k.make_grid_scratch(n, max_cells, cap)
        shrink = min(thr, 1.0) * (1.0 - 1e-5)
        _k.suppressor_lists(cols, rule, shrink, plan, scratch, False, start, nbr)
        nbr = np.empty(int(start[-1]), np.int64)
        _k.suppressor_lists(cols, rule, shrink, plan, scratch, True, start, nbr)
    else:
        _k.suppressor_lists_dense(cols, rule, False, start, nbr)
        nbr = np.empty(int(start[-1]), np.int64)
        _k.suppressor_lists_dense(cols, rule, True, start, nbr)
    keep = np.empty(n, np.bool_)
    _k.cluster_iterate(start, nbr, keep, np.empty(n, np.bool_), max(it_cap, 1))
    out = order[keep]
    if subset is not None:
        out = subset[out]
    return out


def matrix_nms(
    boxes: Any,
    scores: Any,
    method: str = "gaussian",
    sigma: float = 2.0,
    score_threshold: float | None = None,
    *,
    offset: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Matrix NMS (Wang et al., NeurIPS 2020, SOLOv2), on boxes.

    Every box's score is decayed in one parallel step instead of being
    suppressed. With boxes sorted by score, ``iou[i, j]`` (``i < j``) and
    ``comp[i] = max_{k < i} iou[k, i]`` (how much box ``i`` is itself
    suppressed), the decay of box ``j`` is::

        decay[j] = min(1, min_{i < j} f(iou[i, j], comp[i]))
        gaussian: f = exp(-sigma * (iou**2 - comp**2))
        linear:   f = (1 - iou) / (1 - comp)

    and its new score ``scores[j] * decay[j]``.

    Parameters
    ----------
    boxes : (N, 4) float32/float64, ``xyxy``.
    scores : (N,) float32/float64.
    method : ``"gaussian"`` or ``"linear"``.
    sigma : > 0 (gaussian; SOLOv2 uses 2.0).
    score_threshold : keep only decayed scores ``> score_threshold``.
    offset : 0 or 1 (pixel convention for the IoU).

    Returns
    -------
    indices : (K,) int64, by decreasing decayed score (ties: by rank of the
        original score, then index).
    decayed : (K,) decayed scores, in the scores' dtype.

    Notes
    -----
    SOLOv2 writes the gaussian as ``exp(-sigma iou^2) / exp(-sigma comp^2)``
    (same value; one ``exp`` here). Rows with ``comp[i] == 1`` (an exact
    duplicate of a higher box) are skipped in the linear rule, where SOLOv2
    divides by zero. Non-intersecting pairs have ``f >= 1`` and do not count,
    so only grid neighbours are visited: O(N + intersecting pairs) instead of
    the O(N^2) matrix. IoU uses torchvision's arithmetic in the input dtype
    (float64 for float32 boxes whose areas leave float32's range; see
    :mod:`detbench.nms`, "Box scale"), the decay float64. float32 and float16
    scores give float32 ``decayed`` in any byte order.
    """
    off = check_offset(offset)
    b, s = boxes_scores(boxes, scores, offset=off)
    method = check_choice(method, "method", ("gaussian", "linear"))
    sig = check_number(sigma, "sigma", low=0.0, low_inclusive=False)
    n = b.shape[0]
    order = argsort_desc(s)
    cols = make_columns(b, order)
    max_cells, cap = plan_segments(cols, np.array([0, n], np.int64), off, 1.0, CELLS_PER_BOX, 0)
    comp = np.empty(n, np.float64)
    decay = np.empty(n, np.float64)
    plan = _k.GridPlan(1.0, CELLS_PER_BOX)
    _k.matrix_decay(cols, off, method == "gaussian", sig, plan, _k.make_grid_scratch(n, max_cells, cap), comp, decay)
    new = (s[order].astype(np.float64) * decay).astype(s.dtype)
    rank = argsort_desc(new)
    idx = order[rank]
    val = new[rank]
    if score_threshold is not None:
        st = check_number(score_threshold, "score_threshold")
        m = val > st
        idx, val = idx[m], val[m]
    return idx, val
