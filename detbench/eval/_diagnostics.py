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

from typing import TYPE_CHECKING, Any

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
        return tide_breakdown(self, pos_threshold, background_threshold, max_dets)

    # ------------------------------------------------------- tables, matrices
    # (to_dataframe(), confusion_matrix(), f1_confidence(), bootstrap() go here)
