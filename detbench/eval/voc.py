"""VOC-style average precision, and every AP definition from one matching pass.

:func:`evaluate_pr` matches the detections once per IoU threshold (the VOC
devkit's rule by default, pycocotools' greedy rule with ``matching="coco"``)
and computes, from the same true/false-positive sequence of every class:

* ``ap_coco101`` - pycocotools' 101-point interpolated AP;
* ``ap_voc07`` - PASCAL VOC2007 11-point AP;
* ``ap_voc`` - PASCAL VOC2010+ all-point AP (area under the precision envelope);

plus precision-recall curves and the F1-optimal score threshold per class, so
one can see which part of a difference between tools comes from matching and
which from interpolation. :func:`average_precision` computes one AP from a
given precision/recall curve. The result keeps its matches, so
``confusion_matrix()``, ``f1_confidence()``, ``bootstrap()`` and ``tide()`` answer
from them (:mod:`detbench.eval.voc_analysis`).

VOC devkit rules (VOCevaldet.m): detections of a class sorted by decreasing
confidence; each takes the ground truth of its image with the highest IoU (used
or not); if that IoU >= t the detection is ignored when the ground truth is
*difficult*, a true positive if the ground truth is still unused (it becomes
used), else a false positive (duplicate); below t, a false positive. Difficult
objects do not count as positives. ``plus_one=True`` uses the devkit's pixel
convention (widths ``x2 - x1 + 1``).

The 11 recall points of VOC07 are, by default (``voc07_points="tenths"``),
the exact tenths 0, 0.1, ..., 1 (the nearest doubles of k/10). The Python
ports (py-faster-rcnn's ``voc_eval``, mmdet, detectron2) use
``np.arange(0, 1.1, 0.1)``, whose points include 0.30000000000000004,
0.6000000000000001 and 0.7000000000000001, so their AP differs when a recall
is exactly 0.3, 0.6 or 0.7 (the point then takes the precision of a higher
recall); ``voc07_points="arange"`` reproduces them.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from typing import Any

import numpy as np

from detbench._pages import with_small_pages
from detbench._sort import segmented_desc_order
from detbench._validate import as_float_array, check_boxes, check_choice, check_labels, check_scores
from detbench.eval._greedy_kernels import ST_FP, ST_IGN, ST_TP
from detbench.eval._grouping_kernels import group_keys
from detbench.eval._voc_kernels import pr_accumulate, pr_match
from detbench.eval.annotations import annotations_of, positions, sorted_unique_ids
from detbench.eval.loader import CocoDataset
from detbench.eval.voc_analysis import PRAnalysisMixin, PRInputs

__all__ = ["evaluate_pr", "average_precision", "PRResult"]

#: inputs of :func:`_evaluate`: ground truths (xyxy boxes, xywh sides or None, ignore and crowd
#: flags, image and class positions) and detections (same, with scores)
_GtInput = namedtuple("_GtInput", ["box", "wh", "ign", "crowd", "img", "cls"])
_DetInput = namedtuple("_DetInput", ["box", "wh", "score", "img", "cls"])

#: the detections of :func:`_voc_kernels.pr_match`, fields by input index except ``order``
PRDets = namedtuple(
    "PRDets",
    [
        "order",  # int64 (N,): detections to match, by class then decreasing score
        "box",  # float64 (D, 4): xyxy boxes (the VOC rule's arithmetic)
        "wh",  # float64 (D, 4): xywh boxes (pycocotools' arithmetic, for the COCO rule)
        "img",  # int64 (D,): image position
        "cls",  # int64 (D,): class position
    ],
)
#: the ground truths of :func:`_voc_kernels.pr_match`, grouped by (class, image)
PRGts = namedtuple(
    "PRGts",
    [
        "off",  # int64 (n_cls * n_img + 1): group class * n_img + image is off[g]:off[g + 1]
        "box",  # float64 (G, 4): xyxy boxes
        "wh",  # float64 (G, 4): xywh boxes
        "ign",  # uint8 (G,): difficult / ignored
        "crowd",  # uint8 (G,): crowd regions (COCO rule)
    ],
)
#: the matching rule of :func:`_voc_kernels.pr_match`
PRRule = namedtuple(
    "PRRule",
    [
        "n_img",  # int: images
        "iou_thr",  # float64 (T,): IoU thresholds
        "coco_rule",  # bool: pycocotools' greedy rule instead of the VOC devkit's
        "plus_one",  # bool: the devkit's +1 pixel convention
    ],
)
#: scratch of :func:`_voc_kernels.pr_match`
PRScratch = namedtuple(
    "PRScratch",
    [
        "used",  # uint8 (T, G): ground truth taken, per threshold
        "gidx",  # int64 (max G per group,): ordered ground truths of a group
        "iou_buf",  # float64 (max G per group,): their IoUs with the current detection
    ],
)
#: outputs of :func:`_voc_kernels.pr_accumulate`, each (K, T)
PRCurves = namedtuple("PRCurves", ["ap_coco", "ap_voc07", "ap_voc", "f1", "f1_thr", "f1_p", "f1_r"])


def _pr_scratch(T: int, n_gt: int, max_g: int) -> PRScratch:
    return PRScratch(
        np.zeros((T, max(n_gt, 1)), np.uint8), np.empty(max(max_g, 1), np.int64), np.empty(max(max_g, 1), np.float64)
    )


_REC101 = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)

#: the 11 VOC07 recall points: the devkit's exact tenths, or the Python ports' ``np.arange(0, 1.1, 0.1)``
VOC07_POINTS = {
    "tenths": np.array([k / 10.0 for k in range(11)], np.float64),
    "arange": np.arange(0.0, 1.1, 0.1),
}


def _voc07_points(points: str) -> np.ndarray:
    return VOC07_POINTS[check_choice(points, "voc07_points", tuple(VOC07_POINTS))]


def average_precision(recall: Any, precision: Any, method: str = "voc", *, voc07_points: str = "tenths") -> float:
    """AP of one precision-recall curve.

    ``recall``/``precision``: 1-D arrays, one value per detection in decreasing
    score order (cumulative, as returned in :class:`PRResult` curves). ``method``:

    * ``"voc07"``: mean over r in {0, 0.1, ..., 1} of max(precision[recall >= r]) (0 if none);
      ``voc07_points``: ``"tenths"`` (default, the exact tenths) or ``"arange"``
      (``np.arange(0, 1.1, 0.1)`` like py-faster-rcnn / mmdet / detectron2);
    * ``"voc"`` (VOC2010+): sum of recall steps times the upper envelope of precision,
      with sentinels (0, 0) before and (1, 0) after;
    * ``"coco101"``: mean over the 101 points r of ``np.linspace(0, 1, 101)`` of the
      envelope at the first index with recall >= r (0 past the last recall).

    Cost O(N).
    """
    method = check_choice(method, "method", ("voc07", "voc", "coco101"))
    rec11 = _voc07_points(voc07_points)
    rec = as_float_array(recall, "recall", ndim=1, dtype=np.float64)
    prec = as_float_array(precision, "precision", ndim=1, dtype=np.float64)
    if rec.shape != prec.shape:
        raise ValueError(f"precision: length {prec.shape[0]} does not match recall's {rec.shape[0]}")
    if rec.size and np.any(np.diff(rec) < 0):
        raise ValueError("recall: must be non-decreasing (cumulative, in decreasing score order)")
    n = rec.size
    if method == "voc07":
        total = 0.0
        for r in rec11:
            sel = prec[rec >= r]
            total += (float(sel.max()) if sel.size else 0.0) / 11.0
        return total
    env = np.maximum.accumulate(prec[::-1])[::-1] if n else prec
    if method == "coco101":
        idx = np.searchsorted(rec, _REC101, side="left")
        q = np.where(idx < n, env[np.minimum(idx, max(n - 1, 0))] if n else 0.0, 0.0)
        return float(np.mean(q))
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


@dataclass
class PRResult(PRAnalysisMixin):
    """Precision-recall results of :func:`evaluate_pr`.

    Arrays are indexed ``[class, threshold]`` (``K x T``), classes in
    ``category_ids`` order, thresholds in ``iou_thresholds`` order; NaN for a
    class without positives. The analyses ``confusion_matrix()``, ``f1_confidence()``,
    ``bootstrap()`` and ``tide()`` reuse its matches (:mod:`detbench.eval.voc_analysis`).
    """

    iou_thresholds: np.ndarray
    category_ids: list
    names: dict
    matching: str
    n_gt: np.ndarray  # (K,) positives (not difficult / not crowd)
    n_det: np.ndarray  # (K,) detections evaluated
    ap_coco101: np.ndarray
    ap_voc07: np.ndarray
    ap_voc: np.ndarray
    f1: np.ndarray
    f1_threshold: np.ndarray
    f1_precision: np.ndarray
    f1_recall: np.ndarray
    _status: np.ndarray
    _scores: np.ndarray
    _cls_off: np.ndarray
    _inputs: PRInputs | None = None  # boxes, images and matches for the analyses (None from VocEvaluator)

    def _tidx(self, iou: float | None) -> int:
        if iou is None:
            return 0
        w = np.flatnonzero(np.isclose(self.iou_thresholds, iou, rtol=0, atol=1e-12))
        if w.size == 0:
            raise ValueError(f"iou: {iou} is not one of the thresholds {self.iou_thresholds.tolist()}")
        return int(w[0])

    def curve(self, category_id: Any, iou: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(precision, recall, scores) of one class (id, or name) at one threshold (default: the first).

        One entry per non-ignored detection in decreasing score order;
        precision = tp/(tp+fp), recall = tp/positives (NaN without positives).
        """
        if isinstance(category_id, str) and category_id not in self.category_ids:
            by_name = [c for c in self.category_ids if self.names.get(c) == category_id]
            category_id = by_name[0] if len(by_name) == 1 else category_id
        try:
            k = self.category_ids.index(category_id)
        except ValueError:
            raise ValueError(f"category_id: {category_id!r} is not evaluated") from None
        t = self._tidx(iou)
        lo, hi = int(self._cls_off[k]), int(self._cls_off[k + 1])
        st = self._status[t, lo:hi]
        keep = st != ST_IGN
        tp = np.cumsum(st[keep] == ST_TP)
        fp = np.cumsum(st[keep] == ST_FP)
        npos = int(self.n_gt[k])
        with np.errstate(invalid="ignore", divide="ignore"):
            prec = tp / np.maximum(tp + fp, 1)
            rec = tp / npos if npos else np.full(tp.shape, np.nan)
        return prec.astype(np.float64), np.asarray(rec, np.float64), self._scores[lo:hi][keep].copy()

    def mean(self) -> dict:
        """mAP per definition and threshold: ``{"ap_coco101": (T,), "ap_voc07": (T,), "ap_voc": (T,)}``."""
        out = {}
        for name in ("ap_coco101", "ap_voc07", "ap_voc"):
            arr = getattr(self, name)
            vals = []
            for t in range(arr.shape[1]):
                col = arr[:, t]
                vals.append(float(np.mean(col[np.isfinite(col)])) if np.isfinite(col).any() else float("nan"))
            out[name] = np.array(vals)
        return out

    def to_dataframe(self) -> Any:
        """Per-class table (pandas DataFrame), one row per (class, IoU threshold).

        Columns: category_id, name, iou, n_gt, n_det, ap_coco101, ap_voc07,
        ap_voc, f1, f1_threshold, f1_precision, f1_recall; after :meth:`bootstrap`
        also ``ap_coco101_lo``/``_hi``, ``ap_voc07_lo``/``_hi``, ``ap_voc_lo``/``_hi``,
        after :meth:`tide` ``tide_Cls`` ... ``tide_Miss`` (error counts, on the rows of
        its threshold).
        """
        import pandas as pd

        rows = []
        for k, cid in enumerate(self.category_ids):
            for t, thr in enumerate(self.iou_thresholds):
                rows.append(
                    {
                        "category_id": cid,
                        "name": self.names.get(cid, str(cid)),
                        "iou": float(thr),
                        "n_gt": int(self.n_gt[k]),
                        "n_det": int(self.n_det[k]),
                        "ap_coco101": float(self.ap_coco101[k, t]),
                        "ap_voc07": float(self.ap_voc07[k, t]),
                        "ap_voc": float(self.ap_voc[k, t]),
                        "f1": float(self.f1[k, t]),
                        "f1_threshold": float(self.f1_threshold[k, t]),
                        "f1_precision": float(self.f1_precision[k, t]),
                        "f1_recall": float(self.f1_recall[k, t]),
                    }
                )
        return self._analysis_columns(pd.DataFrame(rows))

    def summary_text(self) -> str:
        """mAP of the three definitions at every threshold, one line each."""
        means = self.mean()
        lines = []
        labels = {"ap_voc07": "VOC07 11-point", "ap_voc": "VOC2010+ all-point", "ap_coco101": "COCO 101-point"}
        for name in ("ap_voc07", "ap_voc", "ap_coco101"):
            for t, thr in enumerate(self.iou_thresholds):
                lines.append(
                    f" Mean Average Precision (mAP) @[ IoU={thr:<4.2f} | {labels[name]:<18s} | "
                    f"matching={self.matching} ] = {means[name][t]:0.3f}"
                )
        return "\n".join(lines)


def _xyxy(boxes: np.ndarray, fmt: str) -> np.ndarray:
    if fmt == "xyxy":
        return boxes
    if fmt == "xywh":
        return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
    c = boxes[:, :2]
    h = boxes[:, 2:] / 2
    return np.concatenate([c - h, c + h], axis=1)


@with_small_pages
def evaluate_pr(
    gt: Any,
    dt: Any = None,
    *,
    iou_thresholds: Any = (0.5,),
    matching: str = "voc",
    plus_one: bool = False,
    max_dets: int | None = None,
    gt_boxes: Any = None,
    gt_labels: Any = None,
    gt_images: Any = None,
    gt_difficult: Any = None,
    det_boxes: Any = None,
    det_scores: Any = None,
    det_labels: Any = None,
    det_images: Any = None,
    box_format: str = "xyxy",
    voc07_points: str = "tenths",
    class_names: Any = None,
) -> PRResult:
    """Match once per IoU threshold and report COCO-101, VOC07 and VOC2010+ AP per class.

    Inputs, either
      * ``gt``, ``dt``: COCO ground truth and results (:class:`CocoDataset` or
        pycocotools ``COCO``; boxes ``[x, y, w, h]``). Difficult objects are
        annotations with ``iscrowd`` set, or a truthy ``difficult``/``ignore`` key
        (read by :func:`~detbench.eval.loader.load_coco`); or
      * arrays (pass ``gt=None``): ``gt_boxes`` (G, 4), ``gt_labels`` (G,),
        ``gt_images`` (G,), optional ``gt_difficult`` (G,) bool, ``det_boxes``
        (D, 4), ``det_scores`` (D,), ``det_labels`` (D,), ``det_images`` (D,), boxes in
        ``box_format`` (xyxy default, xywh, cxcywh), float32 or float64.

    ``matching``: ``"voc"`` (devkit: max-IoU ground truth, duplicates are false
    positives) or ``"coco"`` (pycocotools' greedy rule with crowd regions).
    ``plus_one``: the VOC-era +1 pixel widths. ``max_dets``: keep only the
    best ``max_dets`` detections per (image, class) (pycocotools' maxDets;
    None = all, the VOC rule). Ties in score keep input order.
    ``voc07_points``: the 11 recall points of ``ap_voc07``, ``"tenths"``
    (default: the exact tenths) or ``"arange"`` (``np.arange(0, 1.1, 0.1)``,
    the Python ports' sampling; see the module docstring).

    ``class_names`` (array input): class names, a list (ids 0..K-1), a dict or
    a names file (:func:`detbench.eval.formats.load_names`). Labels may then be
    the names themselves (an unknown name is an error naming the argument and
    index); names without ``class_names`` get ids 0..K-1 in sorted order. The
    result's ``names`` carry them and :meth:`PRResult.curve` takes a name. For
    files (VOC XML, YOLO, text) read datasets with :mod:`detbench.eval.formats`.

    Classes are the ground truth's categories (dataset input) or the sorted
    union of labels (array input). Cost O(N log N) to sort plus
    O(T * sum over (class, image) of D*G).
    """
    matching = check_choice(matching, "matching", ("voc", "coco"))
    rec11 = _voc07_points(voc07_points)
    thr = as_float_array(iou_thresholds, "iou_thresholds", dtype=np.float64).reshape(-1)
    if thr.size == 0:
        raise ValueError("iou_thresholds: must not be empty")
    if np.any((thr < 0) | (thr > 1)):
        raise ValueError(f"iou_thresholds: must be in [0, 1], got {thr.tolist()}")
    if max_dets is not None:
        from detbench._validate import check_int

        max_dets = check_int(max_dets, "max_dets", low=1)
    if gt is not None:
        if class_names is not None:
            raise ValueError("class_names: only with label arrays (a dataset names its own categories)")
        if dt is None:
            raise ValueError("dt: detections are required with a ground-truth dataset")
        g = annotations_of(gt, "gt")
        d = annotations_of(dt, "dt")
        if isinstance(gt, CocoDataset):
            image_ids = list(gt.image_ids)
            cat_ids = sorted_unique_ids(gt.getCatIds())
            names = gt.category_names
            diff = g.difficult
        else:
            image_ids = sorted_unique_ids(gt.getImgIds())
            cat_ids = sorted_unique_ids(gt.getCatIds())
            names = {c: v.get("name", str(c)) for c, v in getattr(gt, "cats", {}).items()}
            diff = g.difficult
        g_box = _xyxy(g.bbox, "xywh")
        d_box = _xyxy(d.bbox, "xywh")
        g_wh = g.bbox[:, 2:]
        d_wh = d.bbox[:, 2:]
        g_ign = g.iscrowd.copy() if g.iscrowd is not None else np.zeros(len(g), bool)
        if diff is not None:
            g_ign |= diff
        g_crowd = g.iscrowd if g.iscrowd is not None else np.zeros(len(g), bool)
        gi = positions(g.image_id, image_ids)
        gc = positions(g.category_id, cat_ids)
        di = positions(d.image_id, image_ids)
        dc = positions(d.category_id, cat_ids)
        scores = d.score
    else:
        if gt_boxes is None or det_boxes is None:
            raise ValueError("gt_boxes/det_boxes: pass either datasets (gt, dt) or the box arrays")
        gb = check_boxes(gt_boxes, "gt_boxes", fmt=box_format)
        db = check_boxes(det_boxes, "det_boxes", fmt=box_format)
        g_box = _xyxy(gb.astype(np.float64), box_format)
        d_box = _xyxy(db.astype(np.float64), box_format)
        g_wh = gb[:, 2:].astype(np.float64) if box_format != "xyxy" else None
        d_wh = db[:, 2:].astype(np.float64) if box_format != "xyxy" else None
        G, D = g_box.shape[0], d_box.shape[0]
        from detbench.eval.formats._common import labels_to_ids

        gt_labels, det_labels, label_names = labels_to_ids(gt_labels, det_labels, class_names)
        gl = check_labels(gt_labels, G, "gt_labels")
        dl = check_labels(det_labels, D, "det_labels")
        gim = check_labels(gt_images, G, "gt_images")
        dim = check_labels(det_images, D, "det_images")
        scores = check_scores(det_scores, D, "det_scores", dtype=np.float64)
        if gt_difficult is None:
            g_ign = np.zeros(G, bool)
        else:
            g_ign = np.asarray(gt_difficult)
            if g_ign.shape != (G,):
                raise ValueError(f"gt_difficult: expected shape ({G},), got {g_ign.shape}")
            g_ign = g_ign.astype(bool)
        g_crowd = np.zeros(G, bool)
        cat_ids = np.unique(np.concatenate([gl, dl])).tolist()
        image_ids = np.unique(np.concatenate([gim, dim])).tolist()
        names = {c: (label_names or {}).get(c, str(c)) for c in cat_ids}
        gi = positions(gim.astype(np.float64), image_ids)
        gc = positions(gl.astype(np.float64), cat_ids)
        di = positions(dim.astype(np.float64), image_ids)
        dc = positions(dl.astype(np.float64), cat_ids)
    n_img = len(image_ids)
    return _evaluate(
        _GtInput(g_box, g_wh, g_ign, g_crowd, gi, gc),
        _DetInput(d_box, d_wh, scores, di, dc),
        n_img,
        cat_ids,
        names,
        thr,
        matching=matching,
        plus_one=plus_one,
        max_dets=max_dets,
        rec11=rec11,
    )


def _xywh(xyxy: np.ndarray, wh: np.ndarray | None) -> np.ndarray:
    out = np.empty_like(xyxy, dtype=np.float64)
    out[:, :2] = xyxy[:, :2]
    out[:, 2:] = wh if wh is not None else xyxy[:, 2:] - xyxy[:, :2]
    return out


def _evaluate(gts, dets, n_img, cat_ids, names, thr, *, matching, plus_one, max_dets, rec11) -> PRResult:
    g_box, g_wh, g_ign, g_crowd, gi, gc = gts
    d_box, d_wh, scores, di, dc = dets
    n_cat = len(cat_ids)
    # ground truths grouped by (class, image)
    n_keys = n_cat * n_img
    g_off = np.zeros(n_keys + 1, np.int64)
    dest = np.empty(gi.size, np.int64)
    ng = group_keys(gi, gc, n_img, n_cat, True, g_off, dest)
    kept = dest >= 0
    g_perm = np.empty(ng, np.int64)
    g_perm[dest[kept]] = np.flatnonzero(kept)  # the input index of every grouped slot
    gb = np.ascontiguousarray(g_box[g_perm], dtype=np.float64)
    g_ign_s = g_ign[g_perm].astype(np.uint8)
    g_crowd_s = np.asarray(g_crowd)[g_perm].astype(np.uint8)
    n_pos = np.bincount(gc[g_perm][g_ign_s == 0], minlength=n_cat).astype(np.int64)
    # detections by class, then decreasing score (ties: input order)
    valid = (di >= 0) & (dc >= 0)
    d_idx = np.flatnonzero(valid)
    # ties in score: input order (VOC devkit), or image order then input order
    # within an image (pycocotools)
    key = dc[d_idx] * n_img + di[d_idx] if matching == "coco" else dc[d_idx]
    d_idx = d_idx[np.argsort(key, kind="stable")]
    cls_off = np.zeros(n_cat + 1, np.int64)
    np.cumsum(np.bincount(dc[d_idx], minlength=n_cat), out=cls_off[1:])
    sc = np.ascontiguousarray(scores[d_idx], dtype=np.float64)
    order_local = segmented_desc_order(sc, cls_off, threads=1)
    order = d_idx[order_local]
    if max_dets is not None and order.size:
        key = dc[order] * n_img + di[order]
        srt = np.argsort(key, kind="stable")
        sk = key[srt]
        starts = np.r_[0, np.flatnonzero(sk[1:] != sk[:-1]) + 1]
        first = np.repeat(starts, np.diff(np.r_[starts, sk.size]))
        rank = np.empty(order.size, np.int64)
        rank[srt] = np.arange(order.size) - first
        order = order[rank < max_dets]
        cls_off = np.zeros(n_cat + 1, np.int64)
        np.cumsum(np.bincount(dc[order], minlength=n_cat), out=cls_off[1:])
    T = thr.size
    status = np.empty((T, order.size), np.int8)
    match = np.empty((T, order.size), np.int32)  # pr_match writes every entry
    d_xyxy = np.ascontiguousarray(d_box, dtype=np.float64)
    d_xywh = _xywh(d_box, d_wh)
    g_xywh = _xywh(g_box, g_wh)[g_perm]
    max_g = int(np.diff(g_off).max()) if n_keys else 0
    if order.size:
        pr_match(
            PRDets(order, d_xyxy, d_xywh, di, dc),
            PRGts(g_off, gb, g_xywh, g_ign_s, g_crowd_s),
            PRRule(n_img, thr, matching == "coco", bool(plus_one)),
            status,
            _pr_scratch(T, gb.shape[0], max_g),
            match,
        )
    scores_sorted = np.ascontiguousarray(scores[order], dtype=np.float64)
    out = PRCurves(*(np.empty((n_cat, T)) for _ in PRCurves._fields))
    pr_accumulate(status, scores_sorted, cls_off, n_pos, _REC101, rec11, out)
    return PRResult(
        iou_thresholds=thr,
        category_ids=list(cat_ids),
        names=dict(names),
        matching=matching,
        n_gt=n_pos,
        n_det=np.diff(cls_off),
        ap_coco101=out.ap_coco,
        ap_voc07=out.ap_voc07,
        ap_voc=out.ap_voc,
        f1=out.f1,
        f1_threshold=out.f1_thr,
        f1_precision=out.f1_p,
        f1_recall=out.f1_r,
        _status=status,
        _scores=scores_sorted,
        _cls_off=cls_off,
        _inputs=PRInputs(
            n_img,
            gb,
            g_xywh[:, 2:],
            gc[g_perm],
            gi[g_perm],
            g_ign_s,
            g_crowd_s,
            g_perm,
            d_xyxy,
            d_wh,
            dc,
            di,
            np.array(scores, dtype=np.float64),
            order,
            match,
            rec11,
        ),
    )
