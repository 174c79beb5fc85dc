"""Fusion of overlapping boxes, equal to ensemble-boxes: :func:`weighted_boxes_fusion`
and :func:`weighted_nms` (non-maximum weighted).

Kernels: :mod:`detbench.nms._fusion_kernels`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import (
    as_float_array,
    check_alloc,
    check_bool,
    check_choice,
    check_labels,
    check_number,
)
from detbench.nms import _fusion_kernels as _k
from detbench.nms._common import boxes_scores

__all__ = ["weighted_boxes_fusion", "weighted_nms"]

# per model id: its weight, the normalised copy, the kernel's scratch (weight, seen flag)
_PER_MODEL_BYTES = 8 + 8 + 8 + 1
# ensemble-boxes' float32 accumulators are used while every product stays well inside float32
_F32_LOW = 2.0**-60
_F32_HIGH = 2.0**60

_CONF_TYPES = ("avg", "max", "box_and_model_avg", "absent_model_aware_avg")


def _fusion_rows(
    boxes: Any,
    scores: Any,
    labels: Any,
    model_ids: Any,
    weights: Any,
    skip_box_threshold: Any,
    normalise_weights: bool,
) -> tuple[np.dtype, np.ndarray, _k.FusionRows, _k.FusionModels, bool]:
    """Rows in ensemble-boxes' order: grouped by label (first appearance),
    sorted in each group with the same NumPy call ensemble-boxes makes.

    Returns (dtype, group labels, :class:`~detbench.nms._fusion_kernels.FusionRows`,
    :class:`~detbench.nms._fusion_kernels.FusionModels`, exact: accumulate in float64)."""
    b, s = boxes_scores(boxes, scores, promote=False)
    n = b.shape[0]
    lab = np.zeros(n, np.int64) if labels is None else check_labels(labels, n, "labels")
    if model_ids is None:
        mid = np.zeros(n, np.int64)
    else:
        mid = check_labels(model_ids, n, "model_ids")
        if n and mid.min() < 0:
            raise ValueError(f"model_ids: must be >= 0, got {int(mid.min())}")
    n_models = int(mid.max()) + 1 if n else 1
    if weights is None:
        # one weight per model id 0..max: refuse ids that imply more models than memory holds
        check_alloc((n_models,), _PER_MODEL_BYTES, "model_ids", f"the {n_models} models up to the largest id")
        w = np.ones(n_models, np.float64)
    else:
        w = as_float_array(weights, "weights", ndim=1, dtype=np.float64)
        if w.shape[0] < n_models:
            raise ValueError(f"weights: {w.shape[0]} weights for model ids up to {n_models - 1}")
        if w.shape[0] == 0 or (w < 0).any() or not w.max() > 0:
            raise ValueError("weights: expected non-negative weights with a positive maximum")
    thr = check_number(skip_box_threshold, "skip_box_threshold")
    if normalise_weights:
        w = w / w.max()
    # ensemble-boxes walks model 0's boxes, then model 1's, ...
    order = np.argsort(mid, kind="stable")
    b, s, lab, mid = b[order], s[order], lab[order], mid[order]
    b64 = b.astype(np.float64)
    area = (b64[:, 2] - b64[:, 0]) * (b64[:, 3] - b64[:, 1])
    # score < thr is compared in the scores' dtype (NumPy 2 scalar rules)
    ok = ~(s < s.dtype.type(thr)) & (area != 0.0)
    b64, s, lab, mid = b64[ok], s[ok], lab[ok], mid[ok]
    key = s.astype(np.float64) * w[mid]
    if not np.isfinite(key).all():
        raise ValueError("weights: score * weight overflows float64; rescale the scores or the weights")
    groups, first = np.unique(lab, return_index=True)
    groups = groups[np.argsort(first)]
    seg = np.zeros(groups.shape[0] + 1, np.int64)
    rows = []
    for g, label in enumerate(groups):
        r = np.flatnonzero(lab == label)
        rows.append(r[key[r].argsort()[::-1]])
        seg[g + 1] = seg[g] + r.shape[0]
    idx = np.concatenate(rows) if rows else np.empty(0, np.int64)
    bx = b64[idx]
    fr = _k.FusionRows(seg, key[idx], w[mid[idx]], mid[idx], *(np.ascontiguousarray(bx[:, c]) for c in range(4)))
    return b.dtype, groups, fr, _k.FusionModels(w, float(w.sum()), float(w.max())), not _float32_holds(bx, key, w)


def _float32_holds(bx: np.ndarray, key: np.ndarray, w: np.ndarray) -> bool:
    """Whether ensemble-boxes' float32 accumulators hold every product and sum here
    (nonzero coordinates, keys and weights within ``2**±60``, sums below ``2**120``).

    Outside that range ensemble-boxes' float32 rounding gives inf or 0 (boxes at
    1e50 scale fuse to inf); the kernels then accumulate and return float64."""
    n = key.shape[0]
    if n == 0:
        return True
    tops = []
    for v in (bx.reshape(-1), key, w):
        lo, hi = _k.magnitude_range(v)
        if (hi > 0.0 and hi > _F32_HIGH) or lo < _F32_LOW:
            return False
        tops.append(hi)
    return n * tops[0] * tops[1] <= 2.0**120


def weighted_boxes_fusion(
    boxes: Any,
    scores: Any,
    labels: Any = None,
    model_ids: Any = None,
    *,
    weights: Any = None,
    iou_threshold: float = 0.55,
    skip_box_threshold: float = 0.0,
    conf_type: str = "avg",
    allows_overflow: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted boxes fusion (Solovyev et al., 2021), equal to ensemble-boxes'
    ``weighted_boxes_fusion``.

    Boxes of several models (or one) are clustered per label: in decreasing
    ``score * weights[model]`` order, a box joins the cluster whose current
    fused box has the highest IoU with it if that IoU is ``> iou_threshold``,
    else it starts a new cluster. A cluster's fused box is the score-weighted
    mean of its members; its confidence is the mean score (``avg``), the max
    (``max``), or a model-aware average, rescaled by the number of models.

    Parameters
    ----------
    boxes : (N, 4) float32/float64, ``xyxy``: all models' boxes concatenated.
    scores : (N,) float32/float64.
    labels : (N,) integer labels (default all 0).
    model_ids : (N,) integer model of each box, ``0..M-1`` (default all 0).
        Without ``weights`` every id up to the largest is a model of weight 1,
        so an id whose model count cannot fit in memory is refused by name.
    weights : (M,) model weights (default ones; give it to declare models
        that produced no box, they count in the rescaling).
    iou_threshold : match IoU (strict ``>``).
    skip_box_threshold : boxes with ``score < skip_box_threshold`` are dropped.
    conf_type : ``"avg"``, ``"max"``, ``"box_and_model_avg"`` or
        ``"absent_model_aware_avg"``.
    allows_overflow : with ``avg``, let the confidence exceed 1.

    Returns
    -------
    boxes : (K, 4) fused boxes (input dtype), scores : (K,), labels : (K,)
    int64, by decreasing score (ensemble-boxes' order, ties included).

    Notes
    -----
    Mapping to ensemble-boxes (which takes lists per model of boxes
    normalised to [0, 1]): ``boxes_list[t] = boxes[model_ids == t]`` (same for
    scores and labels), ``weights`` as given. On the same input (coordinates
    in [0, 1], x2 >= x1) the outputs are equal: bit-identical for float64
    input, equal after casting to float32 for float32 input. ensemble-boxes'
    quirks reproduced: the fused coordinates and the fused score of a cluster
    with two or more members are accumulated and stored in float32, a
    one-member cluster keeps its float64 row; the sort within each label and
    the final sort use NumPy's default (unstable) ``argsort`` reversed, which
    this function calls on the same keys, so ties come out in the same
    order; labels come back as float there and int64 here. Differences: it
    clips coordinates to [0, 1] and swaps reversed corners (with warnings);
    this function never clips, so it also works on pixel coordinates, and
    rejects reversed corners. Zero-area boxes are dropped by both. Where
    float32 cannot hold the accumulated products (coordinates, scores or
    weights beyond ``2**±60``: boxes at 1e50 scale, where ensemble-boxes
    returns inf), everything is accumulated and returned in float64 instead;
    float64 boxes whose areas overflow are refused by name. Cost:
    O(N * clusters per label), plus a re-fusion of the cluster each time a
    box joins (as ensemble-boxes does; O(size of the cluster)).
    """
    ct = check_choice(conf_type, "conf_type", _CONF_TYPES)
    iou_thr = check_number(iou_threshold, "iou_threshold")
    overflow = check_bool(allows_overflow, "allows_overflow")
    dtype, groups, rows, models, exact = _fusion_rows(
        boxes, scores, labels, model_ids, weights, skip_box_threshold, False
    )
    cl = _k.make_clusters(rows.score.shape[0], exact)
    k = _k.wbf_cluster(rows, iou_thr, _CONF_TYPES.index(ct), overflow, models, cl)
    sc = cl.out_score[:k]
    order = sc.argsort()[::-1]
    # label of each cluster: clusters are written group by group
    grp = np.searchsorted(rows.seg, cl.first[:k], side="right") - 1
    return cl.out_box[:k][order].astype(dtype), sc[order].astype(dtype), groups[grp][order].astype(np.int64)


def weighted_nms(
    boxes: Any,
    scores: Any,
    labels: Any = None,
    model_ids: Any = None,
    *,
    weights: Any = None,
    iou_threshold: float = 0.55,
    skip_box_threshold: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted NMS ("non-maximum weighted", Zhou et al., ICCVW 2017, CAD),
    equal to ensemble-boxes' ``non_maximum_weighted``.

    Per label, boxes in decreasing ``score * weights[model] / max(weights)``
    order either join the cluster whose first (highest) box has the highest
    IoU ``> iou_threshold`` with them or start a new cluster. Each cluster
    gives one box: the average of its members weighted by ``score *
    IoU(member, first box)``, with the first box's score.

    Parameters
    ----------
    boxes, scores, labels, model_ids, weights, iou_threshold,
    skip_box_threshold : as for :func:`weighted_boxes_fusion`.

    Returns
    -------
    boxes : (K, 4), scores : (K,) (input dtype), labels : (K,) int64, by
    decreasing score (ensemble-boxes' order, ties included).

    Notes
    -----
    Same mapping to ensemble-boxes as :func:`weighted_boxes_fusion`; outputs
    equal on the same input (ensemble-boxes returns float32 arrays here: the
    fused boxes are accumulated in float32 and the score rounded to float32;
    this function returns those values in the input dtype). It never clips
    to [0, 1]. Out of float32's range it accumulates in float64, as
    :func:`weighted_boxes_fusion` does. Cost O(N * clusters per label).
    """
    iou_thr = check_number(iou_threshold, "iou_threshold")
    dtype, groups, rows, _, exact = _fusion_rows(boxes, scores, labels, model_ids, weights, skip_box_threshold, True)
    cl = _k.make_clusters(rows.score.shape[0], exact)
    k = _k.nmw_cluster(rows, iou_thr, cl)
    sc = cl.out_score[:k]
    order = (sc if exact else sc.astype(np.float32)).argsort()[::-1]
    grp = np.searchsorted(rows.seg, cl.first[:k], side="right") - 1
    return cl.out_box[:k][order].astype(dtype), sc[order].astype(dtype), groups[grp][order].astype(np.int64)
