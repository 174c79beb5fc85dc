"""The RPN proposal layer of Faster R-CNN (Ren et al. 2015), with torchvision's semantics.

:func:`rpn_proposals` decodes anchors + predicted deltas and hands them to :func:`filter_proposals`
(top-k per level, sigmoid, clip, drop tiny, score threshold, per-level NMS, top-n);
:func:`rpn_proposals_from_maps` starts from the head's channel-first maps.  Dtypes follow
:mod:`detbench._validate`: float32 in any byte order (and float16) stays float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from detbench._validate import (
    as_float_array,
    check_bool,
    check_boxes,
    check_int,
    check_number,
    check_pair,
    check_scores,
)
from detbench.anchors import DEFAULT_BBOX_CLIP, decode_boxes

__all__ = ["RPNProposals", "filter_proposals", "rpn_proposals", "rpn_proposals_from_maps"]


class RPNProposals(NamedTuple):
    """Result of the RPN proposal layer.

    boxes: ``(M, 4)`` xyxy proposals, best first; scores: ``(M,)`` objectness
    probabilities; indices: ``(M,)`` int64 rows of the input anchors/proposals
    they came from.
    """

    boxes: np.ndarray
    scores: np.ndarray
    indices: np.ndarray


def _levels(num_anchors_per_level: Any, n: int) -> np.ndarray:
    if num_anchors_per_level is None:
        return np.array([n], dtype=np.int64)
    counts = np.array([check_int(c, "num_anchors_per_level", low=0) for c in num_anchors_per_level], dtype=np.int64)
    if counts.sum() != n:
        raise ValueError(f"num_anchors_per_level: counts sum to {int(counts.sum())}, expected {n}")
    return counts


def _top_n_per_level(score: np.ndarray, counts: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the top-k scores in each level (descending; lower index first on ties), and their levels."""
    idx, lvl = [], []
    start = 0
    for li, c in enumerate(counts.tolist()):
        s = score[start : start + c]
        kk = min(k, c)
        if kk > 0:
            if kk < c:
                part = np.argpartition(-s, kk - 1)[:kk]
                # keep ties at the boundary deterministic: take every index scoring above the k-th value,
                # then the lowest indices among those equal to it
                kth = s[part].min()
                above = np.flatnonzero(s > kth)
                equal = np.flatnonzero(s == kth)[: kk - above.size]
                part = np.concatenate([above, equal])
            else:
                part = np.arange(c)
            part = part[np.lexsort((part, -s[part]))]
            idx.append(part + start)
            lvl.append(np.full(kk, li, dtype=np.int64))
        start += c
    if not idx:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(idx), np.concatenate(lvl)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def filter_proposals(
    proposals: Any,
    objectness: Any,
    image_size: Any,
    *,
    num_anchors_per_level: Sequence[int] | None = None,
    pre_nms_top_n: int = 1000,
    post_nms_top_n: int = 1000,
    nms_thresh: float = 0.7,
    score_thresh: float = 0.0,
    min_size: float = 1e-3,
    objectness_is_logit: bool = True,
) -> RPNProposals:
    """Faster R-CNN proposal filtering for one image, as torchvision's ``RegionProposalNetwork.filter_proposals``.

    Steps (Ren et al. 2015; torchvision semantics):

    1. per feature level (``num_anchors_per_level``, default one level), keep
       the ``pre_nms_top_n`` highest objectness values (before the sigmoid);
    2. ``score = sigmoid(objectness)`` (skipped when ``objectness_is_logit``
       is False: the values are already probabilities; the flag must be
       ``True`` or ``False``);
    3. clip boxes to the image: x to ``[0, width]``, y to ``[0, height]``;
    4. drop boxes with width or height ``< min_size``;
    5. drop boxes with ``score < score_thresh``;
    6. NMS at ``nms_thresh`` independently per level (``batched_nms`` with the
       level as label) – the result is sorted by decreasing score;
    7. keep the first ``post_nms_top_n``.

    Differences from torchvision: one image per call (loop over a batch);
    ties in objectness are broken by the lower index (``torch.topk`` leaves
    the order of equal values unspecified); survivors with equal scores keep
    :func:`detbench.nms.batched_nms`'s order (increasing index), whereas
    torchvision re-sorts the per-level survivors with an unstable sort when
    there are more than 1000 boxes – float32 sigmoids of large logits tie
    often, so the two may list tied boxes in a different order and, when
    ``post_nms_top_n`` cuts through a tie, keep different members of it;
    ``min_size`` is a parameter (torchvision: the attribute ``min_size = 1e-3``);
    ``indices`` are returned too.

    ``proposals``: ``(N, 4)`` decoded xyxy boxes; ``objectness``: ``(N,)``;
    ``image_size``: ``(height, width)``. Output dtype follows ``proposals``
    (float32 stays float32). Cost O(N + L k log k) for the top-k plus the NMS
    on at most ``L * pre_nms_top_n`` boxes.
    """
    from detbench.nms import batched_nms  # lazy: the NMS module lands separately

    p = as_float_array(proposals, "proposals", ndim=2)
    if p.shape[1] != 4:
        raise ValueError(f"proposals: expected shape (N, 4), got {p.shape}")
    n = p.shape[0]
    obj = check_scores(objectness, n, "objectness")
    h, w = _image_pair(image_size)
    counts = _levels(num_anchors_per_level, n)
    pre = check_int(pre_nms_top_n, "pre_nms_top_n", low=0)
    post = check_int(post_nms_top_n, "post_nms_top_n", low=0)
    thr = check_number(nms_thresh, "nms_thresh", low=0, high=1)
    sthr = check_number(score_thresh, "score_thresh")
    msz = check_number(min_size, "min_size", low=0)
    is_logit = check_bool(objectness_is_logit, "objectness_is_logit")
    idx, lvl = _top_n_per_level(obj, counts, pre)
    dt = p.dtype
    s = obj[idx].astype(dt)
    if is_logit:
        s = _sigmoid(s)
    b = p[idx].copy()
    np.clip(b[:, 0::2], 0, w, out=b[:, 0::2])
    np.clip(b[:, 1::2], 0, h, out=b[:, 1::2])
    keep = ((b[:, 2] - b[:, 0]) >= msz) & ((b[:, 3] - b[:, 1]) >= msz) & (s >= sthr)
    b, s, lvl, idx = b[keep], s[keep], lvl[keep], idx[keep]
    if b.shape[0]:
        k = np.asarray(batched_nms(b, s, lvl, thr), dtype=np.int64)[:post]
    else:
        k = np.zeros(0, dtype=np.int64)
    return RPNProposals(np.ascontiguousarray(b[k]), np.ascontiguousarray(s[k]), idx[k])


def _image_pair(image_size: Any) -> tuple[float, float]:
    try:
        h, w = image_size
    except (TypeError, ValueError):
        raise ValueError(f"image_size: expected (height, width), got {image_size!r}") from None
    return (
        check_number(h, "image_size[0] (height)", low=0),
        check_number(w, "image_size[1] (width)", low=0),
    )


def rpn_proposals(
    anchors: Any,
    objectness: Any,
    deltas: Any,
    image_size: Any,
    *,
    num_anchors_per_level: Sequence[int] | None = None,
    pre_nms_top_n: int = 1000,
    post_nms_top_n: int = 1000,
    nms_thresh: float = 0.7,
    score_thresh: float = 0.0,
    min_size: float = 1e-3,
    weights: Any = (1.0, 1.0, 1.0, 1.0),
    clamp: float = DEFAULT_BBOX_CLIP,
    objectness_is_logit: bool = True,
) -> RPNProposals:
    """RPN proposal layer for one image: anchors + predicted deltas -> ranked proposals.

    ``decode_boxes(anchors, deltas, weights, clamp)`` (Faster R-CNN box coder,
    torchvision's ``BoxCoder`` with the RPN's weights ``(1, 1, 1, 1)``), then
    :func:`filter_proposals` (top-k per level, sigmoid, clip, drop tiny, score
    threshold, per-level NMS, top-n). Only the top-k anchors are decoded
    (decoding is element-wise, so this equals decoding all of them first, as
    torchvision does).

    ``anchors``: ``(N, 4)`` xyxy, e.g. :func:`detbench.anchors.grid_anchors`
    output concatenated over levels; ``objectness``: ``(N,)`` logits;
    ``deltas``: ``(N, 4)`` ``(dx, dy, dw, dh)``. Returns :class:`RPNProposals`
    (dtype float32 when anchors and deltas are float32). Cost: as
    :func:`filter_proposals` plus O(L * pre_nms_top_n) decoding.
    """
    check_bool(objectness_is_logit, "objectness_is_logit")
    a = check_boxes(anchors, "anchors")
    n = a.shape[0]
    d = as_float_array(deltas, "deltas")
    if d.ndim != 2 or d.shape[1] != 4:
        raise ValueError(f"deltas: expected shape (N, 4), got {d.shape}")
    if d.shape[0] != n:
        raise ValueError(f"deltas: {d.shape[0]} rows do not match the {n} anchors")
    obj = check_scores(objectness, n, "objectness")
    counts = _levels(num_anchors_per_level, n)
    pre = check_int(pre_nms_top_n, "pre_nms_top_n", low=0)
    idx, _ = _top_n_per_level(obj, counts, pre)
    boxes = decode_boxes(a[idx], d[idx], weights, clamp=clamp)
    sub_counts = np.array([min(pre, c) for c in counts.tolist()], dtype=np.int64)
    res = filter_proposals(
        boxes,
        obj[idx],
        image_size,
        num_anchors_per_level=sub_counts,
        pre_nms_top_n=pre,
        post_nms_top_n=post_nms_top_n,
        nms_thresh=nms_thresh,
        score_thresh=score_thresh,
        min_size=min_size,
        objectness_is_logit=objectness_is_logit,
    )
    return RPNProposals(res.boxes, res.scores, idx[res.indices])


def rpn_proposals_from_maps(
    objectness_maps: Sequence[Any],
    delta_maps: Sequence[Any],
    cell_anchors: Sequence[Any],
    strides: Sequence[Any],
    image_size: Any,
    *,
    pre_nms_top_n: int = 1000,
    post_nms_top_n: int = 1000,
    nms_thresh: float = 0.7,
    score_thresh: float = 0.0,
    min_size: float = 1e-3,
    weights: Any = (1.0, 1.0, 1.0, 1.0),
    clamp: float = DEFAULT_BBOX_CLIP,
    objectness_is_logit: bool = True,
) -> RPNProposals:
    """RPN proposals from per-level head outputs of one image (channel-first, as an RPN head emits them).

    ``objectness_maps[l]``: ``(A, H, W)`` logits; ``delta_maps[l]``:
    ``(4A, H, W)`` with channel ``4a + j`` = delta ``j`` of anchor ``a``;
    ``cell_anchors[l]``: ``(A, 4)`` base anchors around the origin cell;
    ``strides[l]``: int or ``(stride_h, stride_w)``.

    Equivalent to :func:`rpn_proposals` on the anchors of
    :func:`detbench.anchors.grid_anchors` concatenated over levels and on the
    maps flattened in the same ``(y, x, a)`` order (torchvision's
    ``concat_box_prediction_layers``); ``indices`` refer to that flattened
    order. Only the objectness maps are flattened: the anchors and deltas of
    the top-k positions are computed / gathered directly, so the full anchor
    grid is never built. Cost O(total anchors) for the flatten and top-k plus
    :func:`filter_proposals`.
    """
    nl = len(objectness_maps)
    if not (nl == len(delta_maps) == len(cell_anchors) == len(strides)) or nl == 0:
        raise ValueError("objectness_maps, delta_maps, cell_anchors, strides: need the same non-zero number of levels")
    pre = check_int(pre_nms_top_n, "pre_nms_top_n", low=0)
    check_bool(objectness_is_logit, "objectness_is_logit")
    sel_idx, sel_obj, sel_anchor, sel_delta, sub_counts = [], [], [], [], []
    offset = 0
    for li in range(nl):
        o = as_float_array(objectness_maps[li], f"objectness_maps[{li}]", ndim=3)
        dmap = as_float_array(delta_maps[li], f"delta_maps[{li}]", ndim=3)
        na, hh, ww = o.shape
        if dmap.shape != (4 * na, hh, ww):
            raise ValueError(f"delta_maps[{li}]: expected shape {(4 * na, hh, ww)}, got {dmap.shape}")
        base = check_boxes(cell_anchors[li], f"cell_anchors[{li}]")
        if base.shape[0] != na:
            raise ValueError(f"cell_anchors[{li}]: {base.shape[0]} anchors do not match the map's {na}")
        sh, sw = check_pair(strides[li], f"strides[{li}]")
        flat = o.transpose(1, 2, 0).reshape(-1)  # (y, x, a) order
        idx, _ = _top_n_per_level(flat, np.array([flat.size], dtype=np.int64), pre)
        cell, a = np.divmod(idx, na)
        y, x = np.divmod(cell, ww)
        dt = np.result_type(base.dtype, dmap.dtype)
        # the same arithmetic as grid_anchors: float64 shifts cast to the anchors' dtype, plus the base anchor
        sx = (x.astype(np.float64) * sw).astype(base.dtype)
        sy = (y.astype(np.float64) * sh).astype(base.dtype)
        sel_anchor.append((np.stack([sx, sy, sx, sy], axis=1) + base[a]).astype(dt, copy=False))
        sel_delta.append(dmap.reshape(na, 4, hh, ww)[a, :, y, x].astype(dt, copy=False))
        sel_obj.append(flat[idx])
        sel_idx.append(idx + offset)
        sub_counts.append(idx.size)
        offset += flat.size
    idx = np.concatenate(sel_idx)
    boxes = decode_boxes(np.concatenate(sel_anchor), np.concatenate(sel_delta), weights, clamp=clamp)
    res = filter_proposals(
        boxes,
        np.concatenate(sel_obj),
        image_size,
        num_anchors_per_level=sub_counts,
        pre_nms_top_n=pre,
        post_nms_top_n=post_nms_top_n,
        nms_thresh=nms_thresh,
        score_thresh=score_thresh,
        min_size=min_size,
        objectness_is_logit=objectness_is_logit,
    )
    return RPNProposals(res.boxes, res.scores, idx[res.indices])
