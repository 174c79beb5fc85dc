"""Why a detector loses points, on the VOC protocol: the analyses of :class:`~detbench.eval.voc.PRResult`.

:func:`~detbench.eval.voc.evaluate_pr` keeps, beside its APs, the match of every detection at every IoU
threshold and the boxes, classes and images it matched (:class:`PRInputs`). The methods of
:class:`PRAnalysisMixin` (a base of ``PRResult``) answer from those, with the names and return types of
``COCOeval``'s (:mod:`detbench.eval._diagnostics`); none runs a second matcher:

* ``confusion_matrix(iou_threshold, score_threshold, convention=...)`` - the (K+1) x (K+1) matrix of
  :func:`detbench.eval.analysis.confusion_matrix` (ultralytics' or supervision's assignment rule, which is
  across classes and so its own rule, not the evaluation's). Difficult (and crowd) ground truths are left
  out, as COCO leaves crowds out; every evaluated detection counts (``max_dets`` does not apply).
* ``f1_confidence(iou_threshold, points=..., convention=...)`` - an :class:`~detbench.eval.analysis.F1Curves`
  from the stored statuses (detections matched to a difficult object are ignored, as in the AP).
* ``bootstrap(n, seed=..., ci=...)`` - a :class:`PRBootstrap` of the three AP definitions of ``PRResult``
  (COCO-101, VOC07 11-point, VOC2010+ all-point) over image resamples drawn as
  :func:`detbench.eval.bootstrap.resample_counts` draws them. Resample b equals ``evaluate_pr`` run again,
  with the same options, on the data set in which image i appears as often as it was drawn, each copy a new
  image placed right after the original in image order, an image's rows in their input order. Matching is
  within an image, so every copy keeps the original's statuses; only the accumulation runs again.
* ``tide(pos_threshold, background_threshold, max_dets=...)`` - tidecv's error rules
  (:mod:`detbench.eval.tide`) applied to the VOC protocol's matches at ``pos_threshold`` (one of the
  evaluated IoU thresholds). What differs from ``COCOeval.tide()`` is only what the matches differ in:

  - ``matching="voc"``: a detection whose best ground truth is already taken is a false positive (the
    devkit's duplicate), where tidecv would try the next ground truth; TIDE then calls it ``Dupe`` (or
    whatever its IoUs say). ``matching="coco"`` gives pycocotools' greedy matches, so on data without
    difficult objects and with ``plus_one=False`` the breakdown equals ``COCOeval.tide()``.
  - **Difficult objects** are treated as the VOC protocol treats them: they are not objects to find (not
    in TIDE's ground truths, never ``Miss``), and a detection the evaluation matched to one is left out
    (out of every AP and of the error counts; it still takes its place in tidecv's ``max_dets`` cut).
    Crowd regions (dataset input) keep tidecv's rule: a detection matched to one is ignored only above the
    threshold, and ignored detections still get an error type, as in tidecv.
  - ``max_dets`` is tidecv's (per image, all classes) on top of ``evaluate_pr``'s own ``max_dets``.
  - IoUs that name the errors use ``[x, y, w, h]`` arithmetic without the +1 pixel convention.

  Images are visited in the evaluation's image order (ground-truth order for a dataset, sorted ids for
  arrays); ties in score within an image keep input order.

After ``bootstrap()`` and ``tide()``, ``PRResult.to_dataframe()`` adds the per-class interval columns and the
TIDE error counts per class.

``VocEvaluator.compute()`` results keep no boxes or images: there ``f1_confidence()`` works and the other
analyses raise a RuntimeError saying so.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from detbench._parallel import num_threads, run_chunks
from detbench._validate import check_choice, check_int, check_number
from detbench.eval._analysis_kernels import confusion_counts
from detbench.eval._greedy_kernels import ST_IGN, ST_TP
from detbench.eval._voc_analysis_kernels import PRRanked, pr_bootstrap_chunk
from detbench.eval.bootstrap import Bootstrap, resample_counts

__all__ = ["PRInputs", "PRAnalysisMixin", "PRBootstrap"]

PRInputs = namedtuple(
    "PRInputs",
    [
        "n_img",  # int: images evaluated (positions 0..n_img-1)
        "g_box",  # float64 (G, 4): ground-truth xyxy boxes, grouped by (class, image), input order inside
        "g_wh",  # float64 (G, 2): their widths and heights as the COCO rule computes IoUs
        "g_cls",  # int64 (G,): class position
        "g_img",  # int64 (G,): image position
        "g_ign",  # uint8 (G,): difficult / ignored (crowd regions included)
        "g_crowd",  # uint8 (G,): crowd regions
        "g_src",  # int64 (G,): input row
        "d_box",  # float64 (D, 4): detection xyxy boxes, input order (every row)
        "d_wh",  # float64 (D, 2): their widths and heights as given (xywh / cxcywh / dataset input), or None: the
        # matching then used x2 - x1, y2 - y1 (recomputed the same way here, so nothing is stored twice)
        "d_cls",  # int64 (D,): class position (-1: not evaluated)
        "d_img",  # int64 (D,): image position (-1: not evaluated)
        "d_score",  # float64 (D,): scores
        "order",  # int64 (N,): input row of each evaluated detection, in PRResult._status's column order
        "match",  # int32 (T, N): grouped ground truth each one took (TP or ignored), -1 for a FP
        "rec11",  # float64 (11,): the VOC07 recall points of the evaluation
    ],
)
PRInputs.__doc__ = "What PRResult keeps for its analyses (fields documented in source)."


def _unit(value: Any, name: str) -> float:
    return check_number(value, name, low=0.0, high=1.0)


class PRBootstrap:
    """Bootstrap samples of :func:`~detbench.eval.voc.evaluate_pr`'s APs and their percentile intervals.

    Attributes
    ----------
    ap_coco101, ap_voc07, ap_voc: float64 (n, K, T): AP of class k at IoU threshold t in each resample (NaN where
        the class has no positives in it), the definitions of :class:`~detbench.eval.voc.PRResult`.
    category_ids, iou_thresholds, n, seed, ci.
    """

    NAMES = ("ap_coco101", "ap_voc07", "ap_voc")
    interval = Bootstrap.interval

    def __init__(self, aps: np.ndarray, category_ids: list, iou_thresholds: np.ndarray, seed: int, ci: float) -> None:
        self.ap_coco101, self.ap_voc07, self.ap_voc = aps
        self.category_ids = list(category_ids)
        self.iou_thresholds = np.asarray(iou_thresholds, dtype=np.float64)
        self.n = aps.shape[1]
        self.seed = seed
        self.ci = ci

    def _t(self, iou: Any) -> int:
        if iou is None:
            return 0
        hit = np.flatnonzero(np.abs(self.iou_thresholds - _unit(iou, "iou")) <= 1e-12)
        if not hit.size:
            raise ValueError(f"iou: {iou} is not one of the thresholds {self.iou_thresholds.tolist()}")
        return int(hit[0])

    def _which(self, which: str) -> np.ndarray:
        return getattr(self, check_choice(which, "which", self.NAMES))

    def mean(self, which: str = "ap_voc") -> np.ndarray:
        """(n, T) mAP of each resample: the mean over classes with positives (``PRResult.mean()``'s rule)."""
        x = self._which(which)
        valid = ~np.isnan(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(valid.any(1), np.nansum(x, 1) / valid.sum(1), np.nan)

    def per_class(self, which: str = "ap_voc", iou: Any = None) -> np.ndarray:
        """(n, K) samples of one definition's per-class AP at ``iou`` (default: the first threshold)."""
        return self._which(which)[:, :, self._t(iou)]

    def intervals(self, iou: Any = None) -> dict[str, tuple[float, float]]:
        """``{"ap_coco101": (lo, hi), "ap_voc07": ..., "ap_voc": ...}``: intervals of the mAP at ``iou``."""
        t = self._t(iou)
        return {k: tuple(float(v) for v in self.interval(self.mean(k)[:, t])) for k in self.NAMES}

    def __repr__(self) -> str:
        parts = ", ".join(f"{k} [{lo:.4f}, {hi:.4f}]" for k, (lo, hi) in self.intervals().items())
        return f"PRBootstrap(n={self.n}, seed={self.seed}, ci={self.ci}: {parts})"


class PRAnalysisMixin:
    """Analyses of :class:`~detbench.eval.voc.PRResult` built on its matches (see the module docstring)."""

    _inputs: Any
    _status: np.ndarray
    _scores: np.ndarray
    _cls_off: np.ndarray
    iou_thresholds: np.ndarray
    category_ids: list
    n_gt: np.ndarray

    _last_bootstrap: Any = None  # PRBootstrap of the last bootstrap() (to_dataframe() columns)
    _last_tide: Any = None  # (threshold index, {"tide_<error>": K counts}) of the last tide()

    def _analysis_columns(self, df: Any) -> Any:
        # interval and TIDE columns of to_dataframe(): rows are (class, threshold), class-major
        K, T = len(self.category_ids), len(self.iou_thresholds)
        bs = self._last_bootstrap
        if bs is not None:
            for name in bs.NAMES:
                lo, hi = bs.interval(getattr(bs, name))  # (K, T) each
                df[f"{name}_lo"] = np.asarray(lo).reshape(K * T)
                df[f"{name}_hi"] = np.asarray(hi).reshape(K * T)
        if self._last_tide is not None:
            t, cols = self._last_tide
            for name, counts in cols.items():
                v = np.full((K, T), np.nan)
                v[:, t] = counts
                df[name] = v.reshape(K * T)
        return df

    def _need_inputs(self, what: str) -> PRInputs:
        if self._inputs is None:
            raise RuntimeError(
                f"{what}: this PRResult keeps no boxes or images (VocEvaluator.compute() results do not); "
                "use evaluate_pr() for this analysis"
            )
        return self._inputs

    def _thr_index(self, value: Any, name: str) -> int:
        v = _unit(value, name)
        hit = np.flatnonzero(np.abs(np.asarray(self.iou_thresholds) - v) <= 1e-12)
        if not hit.size:
            raise ValueError(
                f"{name}: {v} is not one of the evaluated iou_thresholds {np.asarray(self.iou_thresholds).tolist()} "
                "(this analysis reuses the evaluation's matches)"
            )
        return int(hit[0])

    def confusion_matrix(
        self, iou_threshold: float = 0.45, score_threshold: float = 0.25, *, convention: str = "ultralytics"
    ) -> np.ndarray:
        """(K+1) x (K+1) int64 counts: rows = predicted class, columns = true class, background last.

        The rule of :func:`detbench.eval.analysis.confusion_matrix` (``convention="ultralytics"`` equals
        ``ultralytics``' ``ConfusionMatrix.matrix``, ``"supervision"`` the transpose of supervision's) on the
        stored boxes; difficult ground truths are left out; classes in ``category_ids`` order.
        """
        inp = self._need_inputs("confusion_matrix")
        iou_thr = _unit(iou_threshold, "iou_threshold")
        score_thr = _unit(score_threshold, "score_threshold")
        check_choice(convention, "convention", ("ultralytics", "supervision"))
        n_img = int(inp.n_img)
        K = len(self.category_ids)
        reg = np.flatnonzero(inp.g_ign == 0)
        g = reg[np.lexsort((inp.g_src[reg], inp.g_img[reg]))]
        g_off = np.searchsorted(inp.g_img[g], np.arange(n_img + 1)).astype(np.int64)
        dv = np.flatnonzero((inp.d_img >= 0) & (inp.d_cls >= 0))
        d = dv[np.argsort(inp.d_img[dv], kind="stable")]
        d_off = np.searchsorted(inp.d_img[d], np.arange(n_img + 1)).astype(np.int64)
        out = np.zeros((K + 1, K + 1), np.int64)
        confusion_counts(
            g_off,
            np.ascontiguousarray(inp.g_box[g]),
            inp.g_cls[g],
            d_off,
            np.ascontiguousarray(inp.d_box[d]),
            inp.d_cls[d],
            np.ascontiguousarray(inp.d_score[d]),
            iou_thr,
            score_thr,
            convention == "supervision",
            out,
        )
        return out

    def f1_confidence(self, iou_threshold: float = 0.5, *, points: int = 1000, convention: str = "step") -> Any:
        """Precision, recall and F1 per class against the score threshold, with the best threshold.

        An :class:`~detbench.eval.analysis.F1Curves` from the stored statuses at ``iou_threshold`` (one of
        ``iou_thresholds``); the rules of :func:`detbench.eval.analysis.f1_confidence` (``"step"``: exact
        counts of the detections scoring >= each threshold; ``"ultralytics"``: ``ap_per_class``' curves).
        """
        from detbench.eval.analysis import f1_curves

        t = self._thr_index(iou_threshold, "iou_threshold")
        points = check_int(points, "points", low=2)
        check_choice(convention, "convention", ("step", "ultralytics"))
        ids = [c.item() if hasattr(c, "item") else c for c in self.category_ids]
        thr = float(self.iou_thresholds[t])
        st = np.ascontiguousarray(self._status[t])
        return f1_curves(st, self._cls_off, self._scores, np.asarray(self.n_gt), points, convention, ids, thr)

    def _ranked(self) -> PRRanked:
        inp = self._need_inputs("bootstrap")
        K = len(self.category_ids)
        n_img = max(int(inp.n_img), 1)
        cls = np.repeat(np.arange(K, dtype=np.int64), np.diff(self._cls_off))
        img = inp.d_img[inp.order].astype(np.int64)
        sc = self._scores
        perm = np.lexsort((inp.order, img, -sc, cls))
        cls, img, sc = cls[perm], img[perm], sc[perm]
        same = np.zeros(perm.size, bool)
        if perm.size > 1:
            same[1:] = (cls[1:] == cls[:-1]) & (img[1:] == img[:-1]) & (sc[1:] == sc[:-1])
        run = np.ones(perm.size, np.int64)
        if same.any():
            starts = np.flatnonzero(~same)
            run[:] = 0
            run[starts] = np.diff(np.append(starts, perm.size))
        key = inp.g_cls.astype(np.int64) * n_img + inp.g_img
        npig = np.bincount(key[inp.g_ign == 0], minlength=K * n_img).astype(np.int64)
        has = np.flatnonzero(npig)
        pos_off = np.searchsorted(has // n_img, np.arange(K + 1)).astype(np.int64)
        status = np.ascontiguousarray(self._status[:, perm])
        return PRRanked(self._cls_off.astype(np.int64), img, run, status, pos_off, has % n_img, npig[has])

    def bootstrap(self, n: int = 1000, *, seed: int = 0, ci: float = 0.95, threads: int | None = None) -> PRBootstrap:
        """Bootstrap of the COCO-101, VOC07 and VOC2010+ APs over ``n`` image resamples (a :class:`PRBootstrap`;
        ``.intervals()`` gives the percentile intervals of the mAP at ``ci``).

        Resample b draws the images with replacement from ``np.random.default_rng([seed, b])`` and equals
        ``evaluate_pr`` re-run on the resampled images (module docstring), from the stored matches.
        """
        n = check_int(n, "n", low=1)
        seed = check_int(seed, "seed", low=0)
        ci = check_number(ci, "ci", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        rk = self._ranked()
        from detbench.eval.voc import _REC101

        rec11 = np.ascontiguousarray(self._inputs.rec11, dtype=np.float64)
        K, T = len(self.category_ids), self._status.shape[0]
        n_img = int(self._inputs.n_img)
        out = np.empty((3, n, K, T), np.float64)

        def work(b0: int, b1: int) -> None:
            for c0 in range(b0, b1, 16):
                c1 = min(c0 + 16, b1)
                pr_bootstrap_chunk(rk, resample_counts(n_img, seed, c0, c1), _REC101, rec11, out[:, c0:c1])

        run_chunks(n, work, threads=num_threads(threads), min_items=2)
        ids = [c.item() if hasattr(c, "item") else c for c in self.category_ids]
        self._last_bootstrap = PRBootstrap(out, ids, self.iou_thresholds, seed, ci)
        return self._last_bootstrap

    def tide(self, pos_threshold: float = 0.5, background_threshold: float = 0.1, *, max_dets: int = 100) -> Any:
        """TIDE error breakdown (a :class:`~detbench.eval.tide.TideResult`, tidecv's keys) of the VOC matches.

        ``pos_threshold`` must be one of ``iou_thresholds``; how difficult objects and the VOC rule's duplicates
        are treated is in :mod:`detbench.eval.voc_analysis`. With ``matching="coco"``, no difficult objects and
        ``plus_one=False`` it equals ``COCOeval.tide()``.
        """
        from detbench.eval.tide import _breakdown, check_tide_thresholds

        pos, bg, max_dets = check_tide_thresholds(pos_threshold, background_threshold, max_dets)
        t = self._thr_index(pos, "pos_threshold")
        inp = self._need_inputs("tide")
        im = _tide_images(self, inp, t, max_dets)
        result = _breakdown(im, len(self.category_ids), pos, bg, max_dets, int(inp.n_img), None)
        self._last_tide = (t, {f"tide_{k}": v for k, v in result.class_counts.items()})
        return result


def _tide_images(res: Any, inp: PRInputs, t: int, max_dets: int) -> Any:
    # TideImages (detbench.eval._tide_kernels) from the stored matches at threshold t
    from detbench.eval._greedy_kernels import _bbox_iou
    from detbench.eval._tide_kernels import TideImages

    n_img = int(inp.n_img)
    K = len(res.category_ids)
    reg = np.flatnonzero(inp.g_ign == 0)
    g = reg[np.lexsort((inp.g_src[reg], inp.g_img[reg]))]
    g_img = inp.g_img[g]
    g_off = np.searchsorted(g_img, np.arange(n_img + 1)).astype(np.int64)
    local = np.full(inp.g_ign.size + 1, -1, np.int64)  # last slot: the -1 of "no match"
    local[g] = np.arange(g.size) - g_off[g_img]
    g_xywh = np.ascontiguousarray(np.c_[inp.g_box[g, :2], inp.g_wh[g]], dtype=np.float64)
    cls = np.repeat(np.arange(K, dtype=np.int64), np.diff(res._cls_off))
    img = inp.d_img[inp.order]
    perm = np.lexsort((inp.order, -res._scores, img))
    first = np.searchsorted(img[perm], np.arange(n_img + 1))
    rank = np.arange(perm.size) - first[img[perm]]
    keep = perm[rank < max_dets]
    st = res._status[t, keep]
    m = inp.match[t, keep].astype(np.int64)
    # a detection on a difficult object is out of the evaluation (after tidecv's max_dets cut): no error either
    on_difficult = (st == ST_IGN) & (inp.g_crowd[m] == 0)
    keep, st, m = keep[~on_difficult], st[~on_difficult], m[~on_difficult]
    d_off = np.searchsorted(img[keep], np.arange(n_img + 1)).astype(np.int64)
    d_match = np.where(st == ST_TP, local[m], -1).astype(np.int64)
    crowd_iou = np.zeros(keep.size, np.float64)
    rows = inp.order[keep]
    d_wh = inp.d_box[rows, 2:] - inp.d_box[rows, :2] if inp.d_wh is None else inp.d_wh[rows]
    d_xywh = np.ascontiguousarray(np.c_[inp.d_box[rows, :2], d_wh], dtype=np.float64)
    for q in np.flatnonzero(st == ST_IGN):
        d_match[q] = -2
        gq = int(m[q])  # a crowd region: tidecv's rule, ignored only above the threshold
        gb = np.r_[inp.g_box[gq, :2], inp.g_wh[gq]]
        crowd_iou[q] = _bbox_iou(*d_xywh[q], *gb, 1)
    return TideImages(
        d_off,
        d_xywh,
        np.ascontiguousarray(res._scores[keep]),
        cls[keep],
        d_match,
        crowd_iou,
        g_off,
        g_xywh,
        inp.g_cls[g].astype(np.int64),
    )
