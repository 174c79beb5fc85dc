"""Proposal recall against the number of proposals kept (Hosang, Benenson, Dollár, Schiele, TPAMI 2016)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from detbench._validate import as_float_array, check_boxes, check_int
from detbench.targets import _kernels as _kt  # first_hits: the fused IoU-threshold kernel (targets family)

__all__ = ["COCO_IOU_THRESHOLDS", "ProposalRecall", "proposal_recall"]


#: 0.50, 0.55, ..., 0.95: the thresholds of COCO's AP and of Hosang et al.'s average recall.
COCO_IOU_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


class ProposalRecall(NamedTuple):
    """Result of :func:`proposal_recall`.

    counts: ``(C,)`` numbers of proposals; iou_thresholds: ``(T,)``;
    recall: ``(T, C)`` fraction of ground-truth boxes covered at IoU >= t by
    one of the first ``counts[c]`` proposals of their image; average_recall:
    ``(C,)`` mean of ``recall`` over the thresholds (Hosang et al.'s AR when
    the thresholds are 0.5:0.05:0.95); num_gt: number of ground-truth boxes.
    """

    counts: np.ndarray
    iou_thresholds: np.ndarray
    recall: np.ndarray
    average_recall: np.ndarray
    num_gt: int


def proposal_recall(
    proposals: Any,
    gt: Any,
    iou_thresholds: Any = COCO_IOU_THRESHOLDS,
    counts: Any = None,
) -> ProposalRecall:
    """Recall of ranked proposals against the number of proposals kept.

    ``proposals``: ``(P, 4)`` xyxy boxes, best first, or a list of such
    arrays (one per image); ``gt``: ``(G, 4)`` xyxy or a list of the same
    length. A ground-truth box counts as recalled at threshold ``t`` with
    ``n`` proposals when ``IoU >= t`` with one of the first ``n`` proposals of
    its image (Hosang, Benenson, Dollár, Schiele, TPAMI 2016); recall pools
    the ground truth of all images. ``counts`` defaults to about 40 values
    spaced geometrically from 1 to the largest ``P``. With no ground truth the
    recall is NaN.

    IoU as :func:`detbench.boxes.box_iou` (``inter / union``), computed by a
    fused serial kernel that stops scanning a ground-truth box once every
    threshold is reached. Cost O(sum P G + T G).
    """
    if isinstance(proposals, (list, tuple)):
        props = [check_boxes(p, f"proposals[{i}]") for i, p in enumerate(proposals)]
        if not isinstance(gt, (list, tuple)) or len(gt) != len(props):
            raise ValueError("gt: expected a list with one array per image, like proposals")
        gts = [check_boxes(g, f"gt[{i}]") for i, g in enumerate(gt)]
    else:
        props = [check_boxes(proposals, "proposals")]
        gts = [check_boxes(gt, "gt")]
    thr = as_float_array(iou_thresholds, "iou_thresholds", dtype=np.float64).ravel()
    if thr.size == 0 or (thr < 0).any() or (thr > 1).any():
        raise ValueError(f"iou_thresholds: expected values in [0, 1], got {thr.tolist()}")
    p_max = max(p.shape[0] for p in props)
    if counts is None:
        cnt = np.unique(np.round(np.geomspace(1, max(p_max, 1), 40)).astype(np.int64))
    else:
        cnt = np.array([check_int(c, "counts", low=0) for c in np.ravel(counts)], dtype=np.int64)
    # first_hit[t, g]: rank of the first proposal reaching IoU >= t with gt g (never counted when none does)
    order = np.argsort(thr, kind="stable")
    never = np.iinfo(np.int64).max
    hits = []
    for p, g in zip(props, gts):
        if g.shape[0] == 0:
            continue
        fh = np.empty((thr.size, g.shape[0]), dtype=np.int64)
        _kt.first_hits(p.astype(np.float64), g.astype(np.float64), thr[order], fh)
        fh[fh >= p.shape[0]] = never
        out = np.empty_like(fh)
        out[order] = fh
        hits.append(out)
    num_gt = int(sum(g.shape[0] for g in gts))
    if num_gt == 0:
        rec = np.full((thr.size, cnt.size), np.nan)
    else:
        allh = np.concatenate(hits, axis=1)
        rec = (allh[:, None, :] < cnt[None, :, None]).sum(axis=2) / num_gt
    return ProposalRecall(cnt, thr, rec, rec.mean(axis=0), num_gt)
