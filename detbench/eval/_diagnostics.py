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

from typing import Any

from detbench.eval.matching import AllMatches, make_settings, match_all

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
    # (tide() goes here)

    # ------------------------------------------------------- tables, matrices
    # (to_dataframe(), confusion_matrix(), f1_confidence(), bootstrap() go here)
