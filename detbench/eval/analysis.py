"""Why a detector loses points: confusion matrix, F1 against confidence, result tables.

Everything here starts from an evaluation that already ran (:class:`~detbench.eval.coco.COCOeval`
after ``evaluate()``) and, except the confusion matrix, from its matches
(:meth:`~detbench.eval.coco.COCOeval.matches`, pycocotools' greedy rule); bootstrap intervals are in
:mod:`detbench.eval.bootstrap`.

* :func:`confusion_matrix` - (K+1) x (K+1) counts, **rows = predicted class, columns = true class**,
  background last (row K: missed ground truths; column K: detections of nothing). A confusion matrix
  asks which class a detection took *across* classes, which the per-class COCO matching cannot answer,
  so it uses its own documented assignment rule at one IoU and one score threshold:

  - ``convention="ultralytics"`` (default; ``ultralytics.utils.metrics.ConfusionMatrix``, which also
    indexes ``[predicted, true]``): detections with score **>** ``score_threshold``, taken in decreasing
    score (ties in file order); each takes the not yet taken ground truth of its image with the
    highest IoU (any class) when that IoU is **>** ``iou_threshold``. IoU in float32 with ultralytics'
    ``1e-7`` in the denominator.
  - ``convention="supervision"`` (``supervision.ConfusionMatrix``, whose ``matrix`` is indexed
    ``[true, predicted]``: ours is its transpose): detections with score **>=** ``score_threshold``;
    all (ground truth, detection) pairs with IoU **>** ``iou_threshold`` are taken greedily, pairs of
    the same class first, then by decreasing IoU (ties: ground-truth, then detection order); IoU in
    float64 rounded to float32.

  In both a ground truth taken by a detection of class c adds 1 at ``[c, its class]``, an untaken
  ground truth at ``[K, its class]``, an untaken detection at ``[its class, K]``. Crowd regions
  (``iscrowd=1``) are left out (they are not objects); every detection of the evaluated images and
  categories counts (``maxDets`` does not apply), boxes ``[x, y, w, h]`` become ``[x, y, x + w, y + h]``.
* :func:`f1_confidence` - precision, recall and F1 of every category against the score threshold at
  one of the evaluation's IoU thresholds, and the best threshold.
* :func:`class_table`, :func:`area_table` - the per-category and per-area-range DataFrames.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from detbench._validate import check_choice, check_int, check_number
from detbench.eval._analysis_kernels import ST_IGN, ST_TP, confusion_counts
from detbench.eval.bootstrap import _py_ids, ranked_matches

__all__ = [
    "confusion_matrix",
    "normalize_confusion",
    "F1Curves",
    "f1_confidence",
    "f1_curves",
    "iou_index",
    "area_index",
    "class_table",
    "area_table",
]

F1Curves = namedtuple(
    "F1Curves",
    [
        "confidence",  # float64 (P,): the score thresholds of the curves, 0..1
        "precision",  # float64 (K, P): precision of the detections kept at each threshold (1 where none is kept)
        "recall",  # float64 (K, P): their recall (NaN for a category without positives)
        "f1",  # float64 (K, P): 2 P R / (P + R) (NaN for a category without positives)
        "best_threshold",  # float64 (K,): score threshold of the highest F1 (NaN when F1 is 0 everywhere)
        "best_f1",  # float64 (K,): that F1
        "best_precision",  # float64 (K,): precision there
        "best_recall",  # float64 (K,): recall there
        "mean_best_threshold",  # float: the grid threshold where the mean F1 over categories is highest
        "cat_ids",  # list: category id of each row
        "iou_threshold",  # float: the IoU threshold of the matches used
    ],
)
F1Curves.__doc__ = "Precision, recall and F1 against the score threshold, per category (fields documented in source)."


def _unit(value: Any, name: str) -> float:
    return check_number(value, name, low=0.0, high=1.0)


def iou_index(params: Any, iou_threshold: Any) -> int:
    """Position of ``iou_threshold`` in ``params.iouThrs`` (ValueError naming the argument when absent)."""
    thr = _unit(iou_threshold, "iou_threshold")
    iou = np.asarray(params.iouThrs, dtype=np.float64)
    hit = np.flatnonzero(np.abs(iou - thr) <= 1e-12)
    if not hit.size:
        raise ValueError(
            f"iou_threshold: {thr} is not one of the evaluation's params.iouThrs {iou.tolist()} "
            "(these curves reuse its matches)"
        )
    return int(hit[0])


def area_index(params: Any) -> int:
    """Position of the area range labelled ``"all"`` (0 when there is none, like ``per_class()``)."""
    lbl = list(params.areaRngLbl)
    return lbl.index("all") if "all" in lbl else 0


# ---------------------------------------------------------------- confusion matrix


def _per_image(n_img: int, img: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # order by (image, input row) and the offsets of each image
    order = np.lexsort((src, img))
    off = np.searchsorted(img[order], np.arange(n_img + 1)).astype(np.int64)
    return order, off


def _xyxy(box: np.ndarray) -> np.ndarray:
    out = np.array(box, dtype=np.float64, copy=True).reshape(-1, 4)
    out[:, 2] += out[:, 0]
    out[:, 3] += out[:, 1]
    return out


def confusion_inputs(prep: Any) -> tuple[np.ndarray, ...]:
    """Per-image arrays of the confusion matrix (g_off, g_xyxy, g_cls, d_off, d_xyxy, d_cls, d_score), file order.

    Crowd ground truths are dropped. Image i's ground truths are ``g_off[i]:g_off[i+1]``.
    """
    gr = prep.groups
    n_img = int(gr.n_img)
    n_groups = gr.g_off.size - 1
    g_grp = np.repeat(np.arange(n_groups, dtype=np.int64), np.diff(gr.g_off))
    d_grp = np.repeat(np.arange(n_groups, dtype=np.int64), np.diff(gr.d_off))
    div = max(n_img, 1)
    regular = gr.g_crowd == 0
    g_img, g_cls = (g_grp % div)[regular], (g_grp // div)[regular]
    g_order, g_off = _per_image(n_img, g_img, np.asarray(prep.g_src)[regular])
    d_order, d_off = _per_image(n_img, d_grp % div, np.asarray(prep.d_src))
    return (
        g_off,
        _xyxy(gr.g_box[regular][g_order]),
        g_cls[g_order],
        d_off,
        _xyxy(gr.d_box[d_order]),
        (d_grp // div)[d_order],
        np.ascontiguousarray(gr.d_score[d_order], dtype=np.float64),
    )


def confusion_matrix(
    prep: Any, iou_threshold: float = 0.45, score_threshold: float = 0.25, convention: str = "ultralytics"
) -> np.ndarray:
    """(K+1) x (K+1) int64 counts, rows predicted, columns true, background last (rule: module docstring)."""
    iou_thr = _unit(iou_threshold, "iou_threshold")
    score_thr = _unit(score_threshold, "score_threshold")
    check_choice(convention, "convention", ("ultralytics", "supervision"))
    if not prep.use_cats:
        raise ValueError("confusion_matrix needs categories: params.useCats is 0")
    K = len(prep.cat_ids)
    out = np.zeros((K + 1, K + 1), np.int64)
    g_off, g_box, g_cls, d_off, d_box, d_cls, d_score = confusion_inputs(prep)
    confusion_counts(
        g_off, g_box, g_cls, d_off, d_box, d_cls, d_score, iou_thr, score_thr, convention == "supervision", out
    )
    return out


def normalize_confusion(matrix: np.ndarray, axis: str = "true") -> np.ndarray:
    """Fractions of each true class (``axis="true"``: columns sum to 1) or of each predicted class (rows)."""
    check_choice(axis, "axis", ("true", "predicted"))
    m = np.asarray(matrix, dtype=np.float64)
    tot = m.sum(axis=0 if axis == "true" else 1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, m / np.where(tot > 0, tot, 1.0), 0.0)


# ---------------------------------------------------------------- F1 against confidence


def _positives(rk: Any) -> np.ndarray:
    K = rk.pos_off.size - 1
    seg = np.repeat(np.arange(K), np.diff(rk.pos_off))
    return np.bincount(seg, weights=rk.pos_cnt, minlength=K).astype(np.int64)


def f1_confidence(
    prep: Any, mt: Any, params: Any, iou_threshold: float = 0.5, points: int = 1000, convention: str = "step"
) -> F1Curves:
    """Precision / recall / F1 of each category against the score threshold, from the evaluation's matches.

    A detection is a TP, FP or ignored as in the evaluation at ``iou_threshold`` (one of
    ``params.iouThrs``), area range ``"all"``, the largest ``maxDets``; ignored ones do not count.
    ``convention="step"`` (default): the exact counts of the detections with score >= each threshold;
    the best threshold is the detection score with the highest F1 = 2 TP / (kept + positives) (the
    highest such score on ties). ``convention="ultralytics"``: ultralytics' ``ap_per_class`` curves
    (precision and recall at each detection, linearly interpolated in score, ``eps`` 1e-16), the best
    threshold the grid point with the highest F1. ``points``: size of the grid ``linspace(0, 1, points)``.
    """
    t = iou_index(params, iou_threshold)
    points = check_int(points, "points", low=2)
    check_choice(convention, "convention", ("step", "ultralytics"))
    rk, status, seg, score = ranked_matches(prep, mt, area_index(params))
    npig = _positives(rk)
    seg_off = np.searchsorted(seg, np.arange(npig.size + 1))
    thr = float(np.asarray(params.iouThrs)[t])
    return f1_curves(status[:, t], seg_off, score, npig, points, convention, _py_ids(prep.cat_ids), thr)


def f1_curves(
    status: np.ndarray,
    seg_off: np.ndarray,
    score: np.ndarray,
    npig: np.ndarray,
    points: int,
    convention: str,
    cat_ids: list,
    iou_threshold: float,
) -> F1Curves:
    """The :class:`F1Curves` of ranked detections (the rules of :func:`f1_confidence`).

    ``status`` (E,): ST_FP / ST_TP / ST_IGN of each detection at one IoU threshold, category k's detections at
    ``seg_off[k]:seg_off[k + 1]`` in decreasing ``score``; ``npig`` (K,): positives per category. Shared by
    COCOeval and :class:`~detbench.eval.voc.PRResult` (their matches, never a new one).
    """
    K = npig.size
    x = np.linspace(0.0, 1.0, points)
    prec = np.ones((K, points))
    rec = np.zeros((K, points))
    f1 = np.zeros((K, points))
    best = np.full((4, K), np.nan)
    for k in range(K):
        s0, s1 = seg_off[k], seg_off[k + 1]
        st = status[s0:s1]
        keep = st != ST_IGN
        sc = score[s0:s1][keep]
        tp = (st[keep] == ST_TP).astype(np.float64)
        tpc = np.cumsum(tp)
        n = np.arange(1, sc.size + 1, dtype=np.float64)
        P = float(npig[k])
        if convention == "ultralytics":
            if sc.size and P > 0:
                r_det = tpc / (P + 1e-16)
                p_det = tpc / n
                rec[k] = np.interp(-x, -sc, r_det, left=0)
                prec[k] = np.interp(-x, -sc, p_det, left=1)
                f1[k] = 2 * prec[k] * rec[k] / (prec[k] + rec[k] + 1e-16)
            else:
                prec[k] = 0.0
            i = int(np.argmax(f1[k]))
            if f1[k, i] > 0:
                best[:, k] = (x[i], f1[k, i], prec[k, i], rec[k, i])
            else:
                best[1:, k] = 0.0
            continue
        kept = np.searchsorted(-sc, -x, side="right")  # detections with score >= x
        tk = np.where(kept > 0, tpc[np.maximum(kept, 1) - 1] if sc.size else 0.0, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            prec[k] = np.where(kept > 0, tk / np.maximum(kept, 1), 1.0)
            rec[k] = tk / P if P > 0 else np.nan
            f1[k] = 2.0 * tk / (kept + P) if P > 0 else np.nan
        if P == 0:
            continue
        if sc.size:
            last = np.flatnonzero(np.append(sc[1:] != sc[:-1], True))  # end of each group of equal scores
            f = 2.0 * tpc[last] / (n[last] + P)
            i = int(np.argmax(f))
            if f[i] > 0:
                j = last[i]
                best[:, k] = (sc[j], f[i], tpc[j] / n[j], tpc[j] / P)
                continue
        best[1:, k] = (0.0, np.nan, 0.0)
    rows = ~np.isnan(f1).all(axis=1)
    mean_best = float(x[int(np.argmax(f1[rows].mean(axis=0)))]) if rows.any() else float("nan")
    return F1Curves(x, prec, rec, f1, best[0], best[1], best[2], best[3], mean_best, cat_ids, iou_threshold)


# ---------------------------------------------------------------- tables


def _counts(prep: Any, mt: Any, a: int) -> tuple[np.ndarray, np.ndarray]:
    # not-ignored ground truths and kept detections per segment, at area range a
    gr = prep.groups
    n_groups = gr.g_off.size - 1
    div = max(int(gr.n_img), 1)
    g_grp = np.repeat(np.arange(n_groups), np.diff(gr.g_off))
    n_seg = int(prep.n_seg)
    n_gt = np.bincount(g_grp // div, weights=(mt.gt_ign[a] == 0), minlength=n_seg).astype(np.int64)
    n_dt = np.bincount(np.arange(n_groups) // div, weights=mt.d_count, minlength=n_seg).astype(np.int64)
    return n_gt, n_dt


def class_table(ev_obj: Any, extra: dict | None = None) -> Any:
    """``COCOeval.per_class()`` plus ``n_gt`` (positives, area ``"all"``), ``n_dt`` (detections kept by the largest
    ``maxDets``), the bootstrap interval columns when ``bootstrap()`` ran, and ``extra`` columns (name -> K values)."""
    df = ev_obj.per_class()
    mt = ev_obj.matches()
    n_gt, n_dt = _counts(ev_obj._prep, mt, area_index(ev_obj._paramsEval))
    df["n_gt"] = n_gt
    df["n_dt"] = n_dt
    bs = getattr(ev_obj, "_bootstrap", None)
    if bs is not None and getattr(ev_obj, "_bootstrap_key", None) is ev_obj._prep:
        for which in ("AP", "AP50", "AP75"):
            lo, hi = bs.interval(bs.per_class(which))
            df[f"{which}_lo"] = lo
            df[f"{which}_hi"] = hi
    for name, values in (extra or {}).items():
        df[name] = np.asarray(values)
    return df


def area_table(ev_obj: Any) -> Any:
    """One row per area range: AP, AP50, AP75, AR (largest ``maxDets``, means over categories like ``summarize()``),
    ``n_gt`` (positives in the range) and ``n_dt`` (kept detections whose area lies in the range)."""
    import pandas as pd

    ev = ev_obj.eval
    p = ev_obj._paramsEval
    prec, recl = ev["precision"], ev["recall"]
    iou = np.asarray(p.iouThrs)
    m = prec.shape[4] - 1
    mt = ev_obj.matches()
    gr = ev_obj._prep.groups

    def mean(x: np.ndarray) -> float:
        v = x[x > -1]
        return float(np.mean(v)) if v.size else float("nan")

    kept = np.concatenate(
        [mt.gsorted[s : s + c] for s, c in zip(gr.d_off[:-1].tolist(), mt.d_count.tolist())] or [np.zeros(0, int)]
    )
    d_area = gr.d_area[kept]
    rows = []
    for a, (lbl, (lo, hi)) in enumerate(zip(p.areaRngLbl, p.areaRng)):
        row: dict[str, Any] = {"area": lbl, "min_area": float(lo), "max_area": float(hi)}
        row["AP"] = mean(prec[:, :, :, a, m])
        for name, t in (("AP50", 0.5), ("AP75", 0.75)):
            w = np.flatnonzero(iou == t)
            row[name] = mean(prec[w][:, :, :, a, m]) if w.size else float("nan")
        row["AR"] = mean(recl[:, :, a, m])
        row["n_gt"] = int((mt.gt_ign[a] == 0).sum())
        row["n_dt"] = int(((d_area >= lo) & (d_area <= hi)).sum())
        rows.append(row)
    return pd.DataFrame(rows)
