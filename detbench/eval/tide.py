"""TIDE error breakdown (Bolya et al., ECCV 2020) on the matches of a COCO evaluation.

::

    E = COCOeval(gt, dt, "bbox"); E.evaluate()
    E.tide()          # {'Cls': ..., 'Loc': ..., 'Both': ..., 'Dupe': ..., 'Bkg': ..., 'Miss': ...,
                      #  'FalsePos': ..., 'FalseNeg': ...}  dAP in AP points, as tidecv reports them

The numbers are tidecv's (``tidecv`` 1.0.1, ``TIDE().evaluate(gt, dt)`` then
``get_main_errors()`` / ``get_special_errors()``, bbox mode), computed from the
matches of the ``evaluate()`` that already ran: pycocotools' greedy matching at
the IoU threshold equal to the foreground threshold, area range ``all``. They
are read from :meth:`COCOeval.matches` when that is cached; otherwise the
evaluation's own matcher (:func:`~detbench.eval.matching.match_all`) runs with
the evaluation's settings restricted to that one (area range, threshold) slot -
the same numbers as that slice of ``matches()`` (its slots are independent), at
1/40 of the cost with COCO's defaults - and is cached per ``evaluate()``. There
is no second matcher. Only IoUs are computed here: a detection that is not a
true positive against every ground truth of its image (any class), to name its
error.

How tidecv's rules map onto pycocotools' matches
------------------------------------------------
* **Images and classes**: the evaluated images (``params.imgIds``) in the
  ground truth's file order (tidecv walks its images in that order; it only
  matters for equal scores) and the evaluated categories (``params.catIds``);
  ``useCats=1`` is required. Annotations of other categories are left out
  (tidecv would count detections of a category absent from the ground truth
  as a class of AP 0; detbench's loader refuses such detections).
* **Max detections**: tidecv keeps the ``max_dets`` (100) highest-scoring
  detections *per image, all classes together* (pycocotools: per image and
  class). Detections past that rank are dropped, with their matches: greedy
  matching in score order makes the kept detections' matches independent of
  the dropped ones, so the evaluation's matches stay valid. Needs
  ``max_dets <= params.maxDets[-1]``.
* **Matching**: both match each detection, in score order, to the unmatched
  same-class ground truth of highest IoU if that IoU >= the foreground
  threshold. Between two ground truths of exactly equal IoU, tidecv takes the
  first and pycocotools the last; the breakdown follows the evaluation, and a
  warning counts such ties (none in real data; identical ground-truth boxes
  make them).
* **Crowds**: pycocotools matches a detection to a crowd region (ignored) when
  no regular ground truth matched and the crowd IoU (intersection over the
  detection's area) is >= the threshold; tidecv ignores it only when that IoU
  is > the threshold. A crowd match at exactly the threshold is a false
  positive here, as in tidecv. Ignored detections leave the AP but still get
  an error type (tidecv does that too; a fixed Loc/Cls error of an ignored
  detection becomes a true positive).
* **Area ranges**: tidecv has none. The area range of ``params.areaRng`` that
  holds every annotation (``all``) is used; ValueError if there is none.
* **AP**: tidecv's own: precision ``TP / (TP + FP)`` (no epsilon), running
  maximum from the right, the precision at the first recall >= x for
  ``x = 0, 0.01, ..., 1`` (0 past the last), times 100; classes with ground
  truths or detections are averaged (a class with detections but no ground
  truth counts as AP 0). Equal scores keep tidecv's insertion order: visit
  order (image, then score) for the plain AP; for a fixed AP, the error
  detections before the true positives.
* **Errors** of a detection that is not a true positive, first rule that
  holds: no regular ground truth in the image -> ``Bkg``; best same-class IoU
  in ``[bg, fg]`` -> ``Loc``; best other-class IoU >= fg -> ``Cls``; best IoU
  with a matched same-class ground truth >= fg -> ``Dupe``; best IoU with any
  ground truth <= bg -> ``Bkg``; else ``Both``. An unmatched ground truth no
  Cls/Loc error points at -> ``Miss``. Fixing an error type: Cls/Loc errors
  become true positives (one per ground truth, the highest score; errors on
  matched ground truths are removed), Both/Dupe/Bkg detections are removed,
  Miss ground truths leave the denominator. ``dAP = max(AP_fixed - AP, 0)``.
  ``FalsePos``: true positives scored 1, false positives 0; ``FalseNeg``: the
  unmatched ground truths removed (no clamp at 0 for these two). Where tidecv
  would divide by zero (no class left to average, e.g. ``Miss`` and
  ``FalseNeg`` without any detection) the value is NaN.

Cost: O(D log D) to order the detections, O(sum over images of D_i * G_i) for
the IoUs of the detections that are not true positives, O(9 * (D + K * 101))
for the nine APs.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from detbench._parallel import num_threads
from detbench._sort import segmented_desc_order
from detbench._validate import check_int, check_number
from detbench.eval._tide_kernels import (
    E_BKG,
    E_BOTH,
    E_CLS,
    E_DUPE,
    E_LOC,
    N_SCENARIOS,
    SC_BASE,
    SC_FALSE_NEG,
    SC_FALSE_POS,
    TideImages,
    build_images,
    classify_images,
    fix_order,
    make_tide_errors,
    scenario_aps,
)
from detbench.eval.matching import make_settings, match_all

__all__ = ["TideResult", "MAIN_ERRORS", "SPECIAL_ERRORS", "tide_breakdown", "check_tide_thresholds"]

#: tidecv's main error names, in its order
MAIN_ERRORS = ("Cls", "Loc", "Both", "Dupe", "Bkg", "Miss")
#: tidecv's special error names
SPECIAL_ERRORS = ("FalsePos", "FalseNeg")

_MAIN_CODES = (E_CLS, E_LOC, E_BOTH, E_DUPE, E_BKG)
#: tidecv's recall points (x / 100 in Python, as it builds them)
_X_RANGE = np.array([x / 100 for x in range(101)], np.float64)


class TideResult(Mapping):
    """The TIDE breakdown: a read-only mapping ``{error name: dAP in AP points}`` plus details.

    Keys: :data:`MAIN_ERRORS` then :data:`SPECIAL_ERRORS` (tidecv's names).

    Attributes
    ----------
    main, special: dicts of the main and special errors' dAP (AP points).
    ap: tidecv's AP at the foreground threshold (AP points, its interpolation).
    fixed_ap: AP with each main error type fixed, and with the special fixes.
    counts: number of errors of each main type (tidecv's ``count_errors``).
    class_counts: the same per category, ``{error name: int64 (K,)}`` in the evaluation's category order
        (errors of a detection by its class, Miss by the ground truth's); ``COCOeval.to_dataframe()`` shows
        them as ``tide_<error>`` columns after ``tide()``.
    pos_threshold, background_threshold, max_dets: the settings.
    n_images, n_detections: images and kept detections (at most ``max_dets`` per image).
    n_true_positives, n_ground_truths: matched and regular (not crowd) ground truths.
    ties: true positives whose match tidecv could take differently (equal IoUs; see :mod:`detbench.eval.tide`).
    """

    def __init__(self, main: dict, special: dict, **details: Any) -> None:
        self.main = dict(main)
        self.special = dict(special)
        self._values = {**self.main, **self.special}
        self.ap: float = details.pop("ap")
        self.fixed_ap: dict = details.pop("fixed_ap")
        self.counts: dict = details.pop("counts")
        self.class_counts: dict = details.pop("class_counts", {})
        self.pos_threshold: float = details.pop("pos_threshold")
        self.background_threshold: float = details.pop("background_threshold")
        self.max_dets: int = details.pop("max_dets")
        self.n_images: int = details.pop("n_images")
        self.n_detections: int = details.pop("n_detections")
        self.n_true_positives: int = details.pop("n_true_positives")
        self.n_ground_truths: int = details.pop("n_ground_truths")
        self.ties: int = details.pop("ties")
        if details:
            raise TypeError(f"unexpected fields {sorted(details)}")

    def __getitem__(self, key: str) -> float:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def to_dict(self) -> dict:
        """Everything as plain Python values (JSON-ready)."""
        return {
            "main": dict(self.main),
            "special": dict(self.special),
            "ap": self.ap,
            "fixed_ap": dict(self.fixed_ap),
            "counts": dict(self.counts),
            "pos_threshold": self.pos_threshold,
            "background_threshold": self.background_threshold,
            "max_dets": self.max_dets,
            "n_images": self.n_images,
            "n_detections": self.n_detections,
            "n_true_positives": self.n_true_positives,
            "n_ground_truths": self.n_ground_truths,
        }

    def table(self) -> str:
        """tidecv-like text: AP, then the main and special errors (dAP, AP points)."""
        head = f"bbox AP @ {self.pos_threshold:g}: {self.ap:.2f}"
        main = "  ".join(f"{k} {v:6.2f}" for k, v in self.main.items())
        spec = "  ".join(f"{k} {v:6.2f}" for k, v in self.special.items())
        return f"{head}\nMain errors (dAP):    {main}\nSpecial errors (dAP): {spec}"

    def __repr__(self) -> str:
        vals = ", ".join(f"{k!r}: {v:.4f}" for k, v in self._values.items())
        return f"TideResult({{{vals}}}, ap={self.ap:.4f})"


def check_tide_thresholds(pos_threshold: Any, background_threshold: Any, max_dets: Any) -> tuple[float, float, int]:
    """Validate TIDE's settings: thresholds in [0, 1] (ValueError naming the argument), ``max_dets >= 1``."""
    pos = check_number(pos_threshold, "pos_threshold", low=0.0, high=1.0)
    bg = check_number(background_threshold, "background_threshold", low=0.0, high=1.0)
    md = check_int(max_dets, "max_dets", low=1)
    return pos, bg, md


def tide_breakdown(
    evaluator: Any, pos_threshold: float = 0.5, background_threshold: float = 0.1, max_dets: int = 100
) -> TideResult:
    """The TIDE breakdown of ``evaluator`` (a :class:`~detbench.eval.coco.COCOeval` after ``evaluate()``).

    See the module docstring for the rules; :meth:`COCOeval.tide` is the public entry.
    """
    pos, bg, max_dets = check_tide_thresholds(pos_threshold, background_threshold, max_dets)
    prep = evaluator._prep
    if prep is None:
        raise RuntimeError("tide(): run evaluate() first (TIDE reuses the evaluation's matches)")
    p = evaluator._paramsEval
    if getattr(p, "iouType", "bbox") != "bbox":
        raise ValueError(f"tide(): supports iouType 'bbox' only, this evaluation is {p.iouType!r}")
    if not prep.use_cats:
        raise ValueError("tide(): needs params.useCats=1 (TIDE's errors are about classes)")
    st = make_settings(p)
    if int(st.max_dets[-1]) < max_dets:
        raise ValueError(
            f"max_dets: {max_dets} is more than the evaluation kept per image and class (params.maxDets[-1] = "
            f"{int(st.max_dets[-1])}); evaluate() again with a larger maxDets or pass a smaller max_dets"
        )
    t = _threshold_index(st.iou_thr, pos)
    gr = prep.groups
    a = _area_index(gr, st.area_rng)
    if not gr.d_idok.all():
        warnings.warn(
            "tide(): detections with id <= 0 do not take their ground truth in pycocotools' matching (its id "
            "quirk); tidecv ignores ids, so its numbers may differ (COCOeval(..., pycocotools_quirks=False) avoids "
            "this)",
            UserWarning,
            stacklevel=3,
        )
    im, n_cls = _tide_images(evaluator, gr, st, a, t, max_dets)
    return _breakdown(im, n_cls, pos, bg, max_dets, gr.n_img, getattr(evaluator, "threads", None))


def _threshold_index(iou_thr: np.ndarray, pos: float) -> int:
    want = min(pos, 1 - 1e-10)
    hit = np.flatnonzero(np.abs(iou_thr - want) <= 1e-9)
    if hit.size == 0:
        raise ValueError(
            f"pos_threshold: {pos} is not one of the evaluation's IoU thresholds (params.iouThrs = "
            f"{[float(x) for x in iou_thr]}); TIDE reuses the evaluation's matches, so add it to params.iouThrs "
            "and evaluate() again"
        )
    return int(hit[0])


def _area_index(gr: Any, area_rng: np.ndarray) -> int:
    regular = gr.g_crowd == 0
    areas = np.concatenate([gr.g_area[regular], gr.d_area])
    lo = float(areas.min()) if areas.size else 0.0
    hi = float(areas.max()) if areas.size else 0.0
    for a in range(area_rng.shape[0]):
        if area_rng[a, 0] <= lo and area_rng[a, 1] >= hi:
            return a
    raise ValueError(
        f"tide(): no area range in params.areaRng holds every annotation (areas {lo:g}..{hi:g}); TIDE has no "
        "area ranges, so it needs one such as pycocotools' 'all' = [0, 1e10]"
    )


def _image_ranks(evaluator: Any, img_ids: list) -> np.ndarray:
    # tidecv walks the ground truth's images in file order
    try:
        listed = list(evaluator.cocoGt.getImgIds())
    except AttributeError:
        listed = []
    first: dict = {}
    for r, x in enumerate(listed):
        first.setdefault(x, r)
    n = len(listed)
    return np.array([first.get(x, n + j) for j, x in enumerate(img_ids)], np.int64)


def _slot_matches(evaluator: Any, gr: Any, st: Any, a: int, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gsorted, d_count, dt_match[a, t]) of the evaluation's matching.

    From :meth:`COCOeval.matches` when it is cached; otherwise the same matcher
    (:func:`~detbench.eval.matching.match_all`) with the evaluation's settings restricted to the one area range
    and threshold TIDE reads (its (area range, threshold) passes are independent, so the result is that slice
    of ``matches()``), cached per ``evaluate()``.
    """
    prep = evaluator._prep
    full = getattr(evaluator, "_all_matches", None)
    if full is not None and getattr(evaluator, "_all_matches_key", None) is prep:
        return full.gsorted, full.d_count, full.dt_match[a, t]
    key = (a, t)
    cache = getattr(evaluator, "_tide_matches", None)
    if cache is None or cache[0] is not prep or cache[1] != key:
        one = st._replace(iou_thr=st.iou_thr[t : t + 1], area_rng=st.area_rng[a : a + 1])
        mt = match_all(gr, one)
        cache = (prep, key, (mt.gsorted, mt.d_count, mt.dt_match[0, 0]))
        evaluator._tide_matches = cache
    return cache[2]


def _tide_images(evaluator: Any, gr: Any, st: Any, a: int, t: int, max_dets: int) -> tuple[TideImages, int]:
    prep = evaluator._prep
    n_img = gr.n_img
    n_cls = len(prep.cat_ids)
    n_d = gr.d_box.shape[0]
    n_g = gr.g_box.shape[0]
    gsorted, d_count, slot_match = _slot_matches(evaluator, gr, st, a, t)
    visit = np.argsort(_image_ranks(evaluator, list(prep.img_ids)), kind="stable").astype(np.int64)
    room = min(n_d, n_img * max_dets)
    im = TideImages(
        np.zeros(n_img + 1, np.int64),
        np.empty((room, 4), np.float64),
        np.empty(room, np.float64),
        np.empty(room, np.int64),
        np.empty(room, np.int64),
        np.empty(room, np.float64),
        np.zeros(n_img + 1, np.int64),
        np.empty((n_g, 4), np.float64),
        np.empty(n_g, np.int64),
    )
    lens = np.zeros(2, np.int64)
    build_images(
        gr,
        gsorted,
        d_count,
        np.ascontiguousarray(slot_match, dtype=np.int64),
        np.ascontiguousarray(prep.g_src, dtype=np.int64),
        np.ascontiguousarray(prep.d_src, dtype=np.int64),
        visit,
        n_cls,
        max_dets,
        np.full(max(n_g, 1), -1, np.int64),
        im,
        lens,
    )
    nd, ng = int(lens[0]), int(lens[1])
    im = im._replace(
        d_box=im.d_box[:nd],
        d_score=im.d_score[:nd],
        d_cls=im.d_cls[:nd],
        d_match=im.d_match[:nd],
        d_crowd_iou=im.d_crowd_iou[:nd],
        g_box=im.g_box[:ng],
        g_cls=im.g_cls[:ng],
    )
    return im, n_cls


def _breakdown(
    im: TideImages, n_cls: int, pos: float, bg: float, max_dets: int, n_img: int, threads: int | None
) -> TideResult:
    n_d = im.d_score.size
    n_g = im.g_cls.size
    er = make_tide_errors(n_d, n_g, n_img)
    max_g = int(np.diff(im.g_off).max()) if n_img else 0
    n_thr = max(1, min(num_threads(threads), n_img))
    classify_images(im, pos, bg, er, np.empty((n_thr, max(max_g, 1))), np.empty((n_thr, max(max_g, 1)), np.int64))
    if int(er.ties.sum()):
        warnings.warn(
            f"tide(): {int(er.ties.sum())} true positive(s) had an unmatched ground truth of the same class with "
            "exactly the same IoU earlier in the image; tidecv matches the first of equal IoUs, pycocotools (whose "
            "matches this breakdown reuses) the last, so tidecv's numbers may differ",
            UserWarning,
            stacklevel=4,
        )
    used = er.g_used.astype(bool)
    missed = ~used & (er.g_usable == 0)
    n_gt = np.bincount(im.g_cls, minlength=n_cls).astype(np.int64)
    n_tp = np.bincount(im.g_cls[used], minlength=n_cls).astype(np.int64)
    n_missed = np.bincount(im.g_cls[missed], minlength=n_cls).astype(np.int64)
    score = im.d_score
    ord_base = segmented_desc_order(score, np.array([0, n_d], np.int64))
    ord_fix = np.empty(n_d, np.int64)
    fix_order(ord_base, score, er.status, ord_fix)
    aps = np.zeros(N_SCENARIOS, np.float64)
    n_used = np.zeros(N_SCENARIOS, np.int64)
    scenario_aps(im, er, n_cls, n_gt, n_missed, n_tp, ord_base, ord_fix, _X_RANGE, aps, n_used)
    base = float(aps[SC_BASE])
    if n_used[SC_BASE] == 0:  # nothing to average (tidecv divides by zero)
        main = dict.fromkeys(MAIN_ERRORS, 0.0)
        special = dict.fromkeys(SPECIAL_ERRORS, 0.0)
    else:
        main = {name: max(float(aps[s]) - base, 0.0) for s, name in enumerate(MAIN_ERRORS)}
        special = {"FalsePos": float(aps[SC_FALSE_POS]) - base, "FalseNeg": float(aps[SC_FALSE_NEG]) - base}
    counts = {name: int(np.count_nonzero(er.err == code)) for name, code in zip(MAIN_ERRORS, _MAIN_CODES)}
    counts["Miss"] = int(missed.sum())
    per_class = {
        name: np.bincount(im.d_cls[er.err == code], minlength=n_cls).astype(np.int64)
        for name, code in zip(MAIN_ERRORS, _MAIN_CODES)
    }
    per_class["Miss"] = n_missed
    fixed = {name: float(aps[s]) for s, name in enumerate(MAIN_ERRORS)}
    fixed["FalsePos"] = float(aps[SC_FALSE_POS])
    fixed["FalseNeg"] = float(aps[SC_FALSE_NEG])
    return TideResult(
        main,
        special,
        ap=base,
        fixed_ap=fixed,
        counts=counts,
        class_counts=per_class,
        pos_threshold=pos,
        background_threshold=bg,
        max_dets=max_dets,
        n_images=n_img,
        n_detections=n_d,
        n_true_positives=int(used.sum()),
        n_ground_truths=n_g,
        ties=int(er.ties.sum()),
    )
