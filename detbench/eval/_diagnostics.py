"""What ``COCOeval`` answers beyond the 12 stats: why a detector loses points.

:class:`DiagnosticsMixin` is a base of :class:`~detbench.eval.coco.COCOeval`. Every
method here reuses the matching of the evaluation that already ran
(:meth:`DiagnosticsMixin.matches`: pycocotools' greedy rule, computed once by
:func:`~detbench.eval.matching.match_all` on the grouped arrays of the last
``evaluate()`` and cached); none runs a second matcher.

* :meth:`~DiagnosticsMixin.tide` - TIDE error breakdown (:mod:`detbench.eval.tide`).
* :meth:`~DiagnosticsMixin.to_dataframe`, :meth:`~DiagnosticsMixin.confusion_matrix`,
  F1 against confidence and bootstrap intervals (:mod:`detbench.eval.analysis`).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

from detbench.eval import analysis
from detbench.eval.bootstrap import bootstrap_ap
from detbench.eval.matching import AllMatches, make_settings, match_all

if TYPE_CHECKING:
    from detbench.eval.tide import TideResult

__all__ = ["DiagnosticsMixin"]


class DiagnosticsMixin:
    """Methods of :class:`~detbench.eval.coco.COCOeval` built on its matches (see the module docstring)."""

    _prep: Any
    _paramsEval: Any
    _all_matches: AllMatches | None = None
    _all_matches_key: Any = None

    def matches(self) -> AllMatches:
        """Every individual match of the last ``evaluate()`` (an :class:`~detbench.eval.matching.AllMatches`).

        Computed once per ``evaluate()`` with the evaluation's own matcher and
        parameters, then cached. Indices are into ``self._prep.groups``.
        """
        if self._prep is None:
            raise RuntimeError("Please run evaluate() first")
        if self._all_matches is None or self._all_matches_key is not self._prep:
            self._all_matches = match_all(self._prep.groups, make_settings(self._paramsEval))
            self._all_matches_key = self._prep
        return self._all_matches

    # ------------------------------------------------------------------ TIDE
    #: (prepared arrays, (area, threshold), matches at that one slot) when matches() was not cached
    _tide_matches: Any = None
    _tide_columns: Any = None  # (prepared arrays, {"tide_<error>": K counts}) of the last tide()

    def tide(self, pos_threshold: float = 0.5, background_threshold: float = 0.1, *, max_dets: int = 100) -> TideResult:
        """TIDE error breakdown (tidecv's numbers) from the matches of the last ``evaluate()``.

        Returns a :class:`~detbench.eval.tide.TideResult`: a mapping with tidecv's keys
        ``Cls``, ``Loc``, ``Both``, ``Dupe``, ``Bkg``, ``Miss`` (main errors) and ``FalsePos``,
        ``FalseNeg`` (special errors), each a dAP in AP points, plus ``.ap``, ``.counts`` and the
        other details. ``pos_threshold`` (foreground IoU, one of ``params.iouThrs``) and
        ``background_threshold`` lie in [0, 1]; ``max_dets``: detections kept per image (all
        classes together, tidecv's rule; at most ``params.maxDets[-1]``). bbox only. The rules, and
        how they map onto pycocotools' matching, are in :mod:`detbench.eval.tide`.
        """
        from detbench.eval.tide import check_tide_thresholds, tide_breakdown

        check_tide_thresholds(pos_threshold, background_threshold, max_dets)
        if self._prep is None:
            raise RuntimeError("tide(): run evaluate() first (TIDE reuses the evaluation's matches)")
        result = tide_breakdown(self, pos_threshold, background_threshold, max_dets)
        self._tide_columns = (self._prep, {f"tide_{k}": v for k, v in result.class_counts.items()})
        return result

    # ------------------------------------------------------- tables, matrices
    _bootstrap: Any = None
    _bootstrap_key: Any = None
    _class_columns: dict | None = None  # name -> K values: extra per-class columns of to_dataframe()

    def confusion_matrix(
        self, iou_threshold: float = 0.45, score_threshold: float = 0.25, *, convention: str = "ultralytics"
    ) -> np.ndarray:
        """(K+1) x (K+1) int64 counts: **rows = predicted category, columns = true category**, background last.

        K = the evaluated categories in ``params.catIds`` order. Row K counts missed ground truths, column K
        detections that took no ground truth. The assignment across categories is its own documented rule,
        not the evaluation's per-category matching: ``convention="ultralytics"`` (default) equals
        ``ultralytics.utils.metrics.ConfusionMatrix.matrix``; ``"supervision"`` equals the transpose of
        ``supervision.ConfusionMatrix.matrix`` (see :mod:`detbench.eval.analysis` for both rules, the
        strict / inclusive thresholds and the IoU precision). Crowd regions are left out; ``maxDets`` does
        not apply. Needs ``evaluate()`` (bbox, ``useCats=1``).
        """
        if self._prep is None:
            raise RuntimeError("confusion_matrix: run evaluate() first")
        if self._paramsEval.iouType != "bbox":
            raise ValueError(f"confusion_matrix: needs iouType 'bbox', got {self._paramsEval.iouType!r}")
        return analysis.confusion_matrix(self._prep, iou_threshold, score_threshold, convention)

    def f1_confidence(self, iou_threshold: float = 0.5, *, points: int = 1000, convention: str = "step") -> Any:
        """Precision, recall and F1 per category against the score threshold, with the best threshold.

        An :class:`~detbench.eval.analysis.F1Curves`, from the matches of ``evaluate()`` at
        ``iou_threshold`` (one of ``params.iouThrs``), area ``"all"``, the largest ``maxDets``.
        ``convention="step"``: exact counts of the detections scoring >= each threshold;
        ``"ultralytics"``: ultralytics' ``ap_per_class`` curves (interpolated between detections).
        """
        if self._prep is None:
            raise RuntimeError("f1_confidence: run evaluate() first")
        return analysis.f1_confidence(self._prep, self.matches(), self._paramsEval, iou_threshold, points, convention)

    def bootstrap(self, n: int = 1000, *, seed: int = 0, ci: float = 0.95, threads: int | None = None) -> Any:
        """Bootstrap of AP, AP50, AP75 and per-category AP over ``n`` image resamples (a
        :class:`~detbench.eval.bootstrap.Bootstrap`; ``.intervals()`` gives the percentile intervals at ``ci``).

        Resample b draws the images with replacement from ``np.random.default_rng([seed, b])``; each equals
        ``COCOeval`` re-run on the resampled images (see :mod:`detbench.eval.bootstrap`), computed from the
        matches of ``evaluate()`` without matching again. Later ``to_dataframe()`` calls add the per-class
        interval columns ``AP_lo``, ``AP_hi``, ``AP50_lo``, ...
        """
        if self._prep is None:
            raise RuntimeError("bootstrap: run evaluate() first")
        rec = getattr(self, "_result_recthrs", None)
        p = self._paramsEval
        if rec is not None:
            p = copy.copy(p)
            p.recThrs = rec
        threads = threads if threads is not None else getattr(self, "threads", None)
        self._bootstrap = bootstrap_ap(
            self._prep, self.matches(), p, analysis.area_index(p), n=n, seed=seed, ci=ci, threads=threads
        )
        self._bootstrap_key = self._prep  # a later evaluate() makes it stale
        return self._bootstrap

    def to_dataframe(self, by: str = "class") -> Any:
        """Results as a pandas DataFrame: ``by="class"`` (default) one row per category, ``by="area"`` one row per
        area range.

        Per category: category_id, name, AP, AP50, AP75, APs, APm, APl, AR (as ``per_class()``), n_gt
        (not-ignored ground truths), n_dt (detections kept by the largest maxDets), then ``AP_lo``/``AP_hi``,
        ``AP50_lo``, ... after :meth:`bootstrap`, and any further per-class columns other diagnostics
        registered in ``_class_columns``, and ``tide_Cls`` ... ``tide_Miss`` (error counts per category)
        after :meth:`tide`. Per area range: area, min_area, max_area, AP, AP50, AP75, AR,
        n_gt, n_dt. Needs ``accumulate()``.
        """
        if not getattr(self, "eval", None):
            raise RuntimeError("to_dataframe: run evaluate() and accumulate() first")
        if by == "class":
            extra = dict(self._class_columns or {})
            if self._tide_columns is not None and self._tide_columns[0] is self._prep:
                extra.update(self._tide_columns[1])
            return analysis.class_table(self, extra)
        if by == "area":
            return analysis.area_table(self)
        raise ValueError(f"by: expected 'class' or 'area', got {by!r}")
