"""What :class:`~detbench.eval.lvis.LVISEval` answers beyond its 13 numbers: matches, F1, intervals, tables.

:class:`LVISAnalysisMixin` is a base of :class:`~detbench.eval.lvis.LVISEval`. Every method reuses the
grouped arrays and the matching of the ``evaluate()`` that already ran (:meth:`~LVISAnalysisMixin.matches`:
:func:`~detbench.eval.matching.match_all` on ``LVISEval``'s own :class:`~detbench.eval.matching.Groups` and
:class:`~detbench.eval.matching.Settings`, computed once and cached); none runs a second matcher. The
functions are COCOeval's (:mod:`detbench.eval.analysis`, :mod:`detbench.eval.bootstrap`), fed with LVIS'
groups through a small record (:class:`LVISPrep`).

LVIS' federated rules carry over unchanged, because they live in the groups and the matches:

* detections of a category neither present in their image nor in its ``neg_category_ids`` are not in the
  groups (dropped before matching): they count nowhere - not in F1, intervals, ``n_dt``, nor the confusion
  matrix;
* a detection of a category in its image's ``not_exhaustive_category_ids`` that matches no ground truth is
  ignored by the matches (``AllMatches.dt_ign``): never a false positive in F1 or the intervals;
* ground truths with ``ignore`` and annotations outside LVIS' area rule (area 0) are left out like in AP.

Calls
-----
* :meth:`~LVISAnalysisMixin.matches` - every individual match (an :class:`~detbench.eval.matching.AllMatches`).
* :meth:`~LVISAnalysisMixin.f1_confidence` - precision / recall / F1 per category against the score
  threshold (:func:`detbench.eval.analysis.f1_curves`'s rules), at area ``"all"``.
* :meth:`~LVISAnalysisMixin.bootstrap` - image-resampling intervals of AP, AP50, AP75, APr, APc, APf and
  per-category AP (:class:`LVISBootstrap`). Resample ``b`` equals ``LVISEval`` re-run on a data set in which
  image ``i`` appears as many times as it was drawn (each copy a new image with the same annotations,
  detections, ``neg_category_ids`` and ``not_exhaustive_category_ids``, placed right after the original
  in image-id order): matching happens within an (image, category) pair and LVIS' 300-detection limit is
  per image, so every copy has the original's matches and only the accumulation changes - the COCO kernel
  re-accumulates the ranked matches with image multiplicities as weights. LVIS' means ("entries > -1")
  become means over the categories with positives in the resample (NaN where there is none; LVIS: -1).
* :meth:`~LVISAnalysisMixin.confusion_matrix` - COCOeval's rule (:mod:`detbench.eval.analysis`) on the
  evaluated boxes (after the federated filter; ignored ground truths left out like crowds). Its assignment
  is across categories, so LVIS' per-category not-exhaustive rule does not apply there: a not-exhaustive
  detection that takes no ground truth counts in the background column like any other.
* :meth:`~LVISAnalysisMixin.to_dataframe` - one row per category.
* :meth:`~LVISAnalysisMixin.tide` - the TIDE breakdown (:mod:`detbench.eval.tide`, tidecv's rules and
  numbers) of the detections LVIS evaluates, with the federated rules applied first: detections of a
  category neither present in the image nor negative are not evaluated (not in the groups), and a
  not-exhaustive detection that matches no ground truth at the foreground threshold is left out (LVIS
  ignores it: it is neither an error nor a true positive). Every detection TIDE sees is therefore judged
  against verified labels: a false positive of a negative category is a real error, and its error type
  (Cls / Loc / Both / Dupe / Bkg) names the annotated ground truths it overlaps. Ground truths with
  ``ignore`` act as tidecv's ignore regions. LVIS' 300 detections per image (applied when the results
  were loaded) replace tidecv's 100. The AP TIDE reports is tidecv's (categories with detections but no
  positives count as 0), not LVIS' AP.
"""

from __future__ import annotations

import types
from collections import namedtuple
from typing import Any

import numpy as np

from detbench._validate import check_number
from detbench.eval import analysis
from detbench.eval.bootstrap import Bootstrap, _ranges, bootstrap_ap
from detbench.eval.matching import AllMatches, make_settings, match_all
from detbench.eval.summary import per_class_table

__all__ = ["LVISAnalysisMixin", "LVISBootstrap", "LVISPrep"]

LVISPrep = namedtuple(
    "LVISPrep",
    [
        "groups",  # matching.Groups: LVISEval's grouped arrays (segment = category, group = category * n_img + image)
        "n_seg",  # int: segments (evaluated categories)
        "cat_ids",  # list: evaluated category ids, in params.cat_ids order
        "img_ids",  # list: evaluated image ids, sorted
        "use_cats",  # bool: always True (LVIS evaluates per category)
        "g_src",  # int64 (G,): row of each grouped ground truth in lvis_gt's annotations (file order)
        "d_src",  # int64 (D,): row of each grouped detection in lvis_dt's annotations
    ],
)
LVISPrep.__doc__ = "LVISEval's groups in the shape COCOeval's analysis functions read (fields documented in source)."


class LVISBootstrap(Bootstrap):
    """:class:`~detbench.eval.bootstrap.Bootstrap` of an LVIS evaluation, plus the frequency groups.

    ``apr``, ``apc``, ``apf``: float64 (n,) - APr / APc / APf of each resample (mean over the IoU thresholds
    and the categories of the group with positives in that resample; NaN where none has). ``intervals()``
    adds ``"APr"``, ``"APc"``, ``"APf"``.
    """

    def __init__(
        self, ap_kt: np.ndarray, cat_ids: list, iou_thrs: np.ndarray, seed: int, ci: float, freq_groups: list
    ) -> None:
        super().__init__(ap_kt, cat_ids, iou_thrs, seed, ci)
        self.freq_groups = [list(g) for g in freq_groups]
        self.apr, self.apc, self.apf = (self._group_mean(g) for g in self.freq_groups)

    def _group_mean(self, cats: list) -> np.ndarray:
        x = self.ap_kt[:, np.asarray(cats, np.int64), :]
        valid = ~np.isnan(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(valid.any((1, 2)), np.nansum(x, (1, 2)) / valid.sum((1, 2)), np.nan)

    def intervals(self) -> dict[str, tuple[float, float]]:
        """``{"AP": (lo, hi), "AP50", "AP75", "APr", "APc", "APf"}``: percentile intervals at ``ci``."""
        out = super().intervals()
        for k, x in (("APr", self.apr), ("APc", self.apc), ("APf", self.apf)):
            out[k] = tuple(float(v) for v in self.interval(x))
        return out


class LVISAnalysisMixin:
    """Methods of :class:`~detbench.eval.lvis.LVISEval` built on its matches (see the module docstring)."""

    params: Any
    eval: dict
    freq_groups: list
    lvis_gt: Any
    threads: Any
    _groups: Any = None
    _settings: Any = None
    _g_src: Any = None
    _d_src: Any = None
    _all_matches: AllMatches | None = None
    _all_matches_key: Any = None
    _bootstrap: LVISBootstrap | None = None
    _bootstrap_key: Any = None
    _tide_columns: Any = None  # (groups, {"tide_<error>": K counts}) of the last tide()

    # ------------------------------------------------------------ inputs
    def _require(self, what: str) -> None:
        if self._groups is None:
            raise RuntimeError(f"{what}: run evaluate() first (it reuses the evaluation's matches)")

    def _prep(self) -> LVISPrep:
        p = self.params
        return LVISPrep(self._groups, len(p.cat_ids), list(p.cat_ids), list(p.img_ids), True, self._g_src, self._d_src)

    def _params_view(self) -> Any:
        # the pycocotools-style names COCOeval's functions read
        p = self.params
        return types.SimpleNamespace(
            iouThrs=np.asarray(p.iou_thrs, dtype=np.float64),
            recThrs=self._settings.rec_thr,
            areaRngLbl=list(p.area_rng_lbl),
            areaRng=p.area_rng,
        )

    def matches(self) -> AllMatches:
        """Every individual match of the last ``evaluate()`` (an :class:`~detbench.eval.matching.AllMatches`).

        :func:`~detbench.eval.matching.match_all` on the evaluation's groups and settings (federated filter and
        not-exhaustive flags included), computed once per ``evaluate()`` and cached. Indices are into the groups.
        """
        self._require("matches")
        if self._all_matches is None or self._all_matches_key is not self._groups:
            self._all_matches = match_all(self._groups, self._settings)
            self._all_matches_key = self._groups
        return self._all_matches

    # ------------------------------------------------------------ analyses
    def f1_confidence(self, iou_threshold: float = 0.5, *, points: int = 1000, convention: str = "step") -> Any:
        """Precision, recall and F1 per category against the score threshold, with the best threshold.

        An :class:`~detbench.eval.analysis.F1Curves` from the matches of ``evaluate()`` at ``iou_threshold``
        (one of ``params.iou_thrs``), area ``"all"``: a detection is a TP, FP or ignored as in LVIS' AP
        (not-exhaustive detections without a match are ignored). ``convention``: ``"step"`` (exact counts of
        the detections scoring >= each threshold) or ``"ultralytics"`` (``ap_per_class``'s interpolated curves).
        """
        check_number(iou_threshold, "iou_threshold", low=0.0, high=1.0)
        self._require("f1_confidence")
        return analysis.f1_confidence(
            self._prep(), self.matches(), self._params_view(), iou_threshold, points, convention
        )

    def bootstrap(self, n: int = 1000, *, seed: int = 0, ci: float = 0.95, threads: int | None = None) -> LVISBootstrap:
        """Bootstrap of AP, AP50, AP75, APr/APc/APf and per-category AP over ``n`` image resamples.

        An :class:`LVISBootstrap` (``.intervals()``: percentile intervals at ``ci``). Resample b draws the
        evaluated images with replacement from ``np.random.default_rng([seed, b])``
        (:func:`~detbench.eval.bootstrap.resample_counts`); each equals ``LVISEval`` re-run on the resampled
        images (module docstring), from the matches of ``evaluate()`` without matching again. Later
        ``to_dataframe()`` calls add ``AP_lo``, ``AP_hi``, ``AP50_lo``, ... per category.
        """
        self._require("bootstrap")
        pv = self._params_view()
        threads = threads if threads is not None else self.threads
        bs = bootstrap_ap(
            self._prep(), self.matches(), pv, analysis.area_index(pv), n=n, seed=seed, ci=ci, threads=threads
        )
        self._bootstrap = LVISBootstrap(bs.ap_kt, bs.cat_ids, bs.iou_thrs, bs.seed, bs.ci, self.freq_groups)
        self._bootstrap_key = self._groups  # a later evaluate() makes it stale
        return self._bootstrap

    def confusion_matrix(
        self, iou_threshold: float = 0.45, score_threshold: float = 0.25, *, convention: str = "ultralytics"
    ) -> np.ndarray:
        """(K+1) x (K+1) int64 counts: **rows = predicted category, columns = true category**, background last.

        COCOeval's rule (:func:`detbench.eval.analysis.confusion_matrix`: ``"ultralytics"`` or
        ``"supervision"``) on the boxes LVIS evaluates: the detections kept by the federated filter and the
        ground truths within LVIS' area rule, ignored ones left out. K = ``params.cat_ids``. bbox only.
        """
        check_number(iou_threshold, "iou_threshold", low=0.0, high=1.0)
        check_number(score_threshold, "score_threshold", low=0.0, high=1.0)
        self._require("confusion_matrix")
        if self.params.iou_type != "bbox":
            raise ValueError(f"confusion_matrix: needs iou_type 'bbox', got {self.params.iou_type!r}")
        return analysis.confusion_matrix(self._prep(), iou_threshold, score_threshold, convention)

    def tide(self, pos_threshold: float = 0.5, background_threshold: float = 0.1) -> Any:
        """TIDE error breakdown (a :class:`~detbench.eval.tide.TideResult` with tidecv's keys ``Cls``, ``Loc``,
        ``Both``, ``Dupe``, ``Bkg``, ``Miss``, ``FalsePos``, ``FalseNeg`` in AP points) of the evaluated detections.

        The federated treatment is in the module docstring: detections the federated filter drops are not
        seen, not-exhaustive detections without a match at ``pos_threshold`` (one of ``params.iou_thrs``) are
        left out, then tidecv's rules apply to what remains, from the evaluation's matches at ``pos_threshold``,
        area ``"all"``. ``background_threshold`` in [0, 1]. bbox only. Later ``to_dataframe()`` calls add the
        per-category error counts ``tide_Cls`` ... ``tide_Miss``.
        """
        from detbench.eval import tide as _tide

        _tide.check_tide_thresholds(pos_threshold, background_threshold, 1)
        self._require("tide")
        if self.params.iou_type != "bbox":
            raise ValueError(f"tide(): supports iou_type 'bbox' only, this evaluation is {self.params.iou_type!r}")
        gr = self._groups
        per_img = np.bincount(gr.d_img, minlength=max(gr.n_img, 1)) if gr.d_img.size else np.zeros(1, np.int64)
        max_dets = max(int(per_img.max()), 1)  # every evaluated detection (LVIS' limit was applied on loading)
        pv = self._params_view()
        pv.iouType, pv.maxDets = "bbox", [max_dets]
        st = make_settings(pv)
        t = _tide._threshold_index(st.iou_thr, float(pos_threshold))
        a = _tide._area_index(gr, st.area_rng)
        prep = self._prep()
        shim = types.SimpleNamespace(
            _prep=prep,
            _paramsEval=pv,
            _all_matches=self._tide_slot_matches(a, t),
            _all_matches_key=prep,
            cocoGt=types.SimpleNamespace(getImgIds=self.lvis_gt.get_img_ids),  # tidecv's visit order: file order
            threads=self.threads,
        )
        result = _tide.tide_breakdown(shim, pos_threshold, background_threshold, max_dets)
        self._tide_columns = (self._groups, {f"tide_{k}": v for k, v in result.class_counts.items()})
        return result

    def _tide_slot_matches(self, a: int, t: int) -> AllMatches:
        # the matches at (area a, threshold t) without the not-exhaustive detections that matched no ground
        # truth (LVIS ignores them), each group's remaining detections packed to its front in score order
        mt, gr = self.matches(), self._groups
        n_groups = gr.d_off.size - 1
        counts = mt.d_count.astype(np.int64)
        slots = _ranges(gr.d_off[:-1].astype(np.int64), counts)
        grp = np.repeat(np.arange(n_groups, dtype=np.int64), counts)
        det = mt.gsorted[slots]
        m = mt.dt_match[a, t, slots].astype(np.int64)
        keep = np.ones(slots.size, bool)
        if gr.d_nexh.size:
            counted = (m >= 0) & (gr.g_idok[np.maximum(m, 0)] != 0)
            keep = ~((gr.d_nexh[det] != 0) & ~counted)
        grp, det, m = grp[keep], det[keep], m[keep]
        d_count = np.bincount(grp, minlength=n_groups).astype(np.int64)
        start = np.zeros(n_groups, np.int64)
        np.cumsum(d_count[:-1], out=start[1:])
        new = gr.d_off[grp] + np.arange(grp.size) - start[grp]
        gsorted = np.full(mt.gsorted.size, -1, np.int64)
        gsorted[new] = det
        dt_match = np.full((a + 1, t + 1, mt.gsorted.size), -1, np.int32)
        dt_match[a, t, new] = m
        return mt._replace(gsorted=gsorted, d_count=d_count, dt_match=dt_match)

    def to_dataframe(self) -> Any:
        """One row per category (pandas DataFrame).

        Columns: category_id, name, frequency, AP (IoU .50:.95), AP50, AP75, APs, APm, APl, AR (each the mean of
        the entries > -1 of ``eval["precision"]`` / ``["recall"]``, NaN where none), n_gt (not-ignored ground
        truths, area ``"all"``), n_dt (detections evaluated: kept by the federated filter), then ``AP_lo``,
        ``AP_hi``, ``AP50_lo``, ``AP50_hi``, ``AP75_lo``, ``AP75_hi`` after :meth:`bootstrap`, and ``tide_Cls`` ...
        ``tide_Miss`` (error counts per category) after :meth:`tide`.
        """
        if not self.eval or self._groups is None:
            raise RuntimeError("to_dataframe: run evaluate() first")
        p = self.params
        pv = self._params_view()
        ev = {"precision": self.eval["precision"][..., None], "recall": self.eval["recall"][..., None]}
        cats = self.lvis_gt.cats
        cat_ids = list(p.cat_ids)
        names = {c: cats[c].get("name", str(c)) for c in cat_ids}
        df = per_class_table(ev, pv, list(p.area_rng_lbl), cat_ids, names)
        df.insert(2, "frequency", [cats[c].get("frequency") for c in cat_ids])
        n_gt, n_dt = analysis._counts(self._prep(), self.matches(), analysis.area_index(pv))
        df["n_gt"] = n_gt
        df["n_dt"] = n_dt
        bs = self._bootstrap
        if bs is not None and self._bootstrap_key is self._groups:
            for which in ("AP", "AP50", "AP75"):
                lo, hi = bs.interval(bs.per_class(which))
                df[f"{which}_lo"] = lo
                df[f"{which}_hi"] = hi
        if self._tide_columns is not None and self._tide_columns[0] is self._groups:
            for name, values in self._tide_columns[1].items():
                df[name] = np.asarray(values)
        return df
