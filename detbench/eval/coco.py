"""COCO bbox and segm evaluation: a drop-in for pycocotools' ``COCOeval``.

::

    from detbench.eval import COCOeval        # instead of pycocotools.cocoeval
    E = COCOeval(coco_gt, coco_dt, "bbox")
    E.evaluate(); E.accumulate(); E.summarize()
    E.stats, E.eval["precision"]

``coco_gt``/``coco_dt`` are pycocotools ``COCO`` objects (``coco_dt`` from
``coco_gt.loadRes(...)``) or detbench's own :class:`~detbench.eval.loader.CocoDataset`
(:func:`~detbench.eval.loader.load_coco`, ``.load_results``).

Numbers
-------
``eval["precision"]`` (T x R x K x A x M), ``eval["recall"]`` (T x K x A x M),
``eval["scores"]`` and ``stats`` are equal to pycocotools 2.0's, bit for bit, for
any parameters (iouThrs, recThrs, areaRng, maxDets, useCats, imgIds, catIds):
same IoU arithmetic (maskApi's ``bbIou``, crowd regions use the detection's
area as the union), same stable score order and tie-breaking across images,
area ranges inclusive at both ends, greedy matching from ``min(t, 1 - 1e-10)``,
``np.spacing(1)`` in the precision, recall sampled with ``searchsorted(...,
"left")`` and -1 for absent entries.

pycocotools' quirks (the default) and ``pycocotools_quirks=False``
------------------------------------------------------------------
By default (``pycocotools_quirks=True``) the numbers are pycocotools', quirks
included. Each known quirk, and what ``pycocotools_quirks=False`` does instead:

* ``stats[0]`` at maxDets=100: pycocotools hard-wires 100 for the first AP
  (giving -1 when 100 is not in ``maxDets``) and raises IndexError for fewer
  than 3 maxDets. Corrected: the same maxDets as the other AP entries
  (``maxDets[2]``, or the last when fewer than 3 are given).
* Annotation id 0: pycocotools records matches by annotation id with 0 meaning
  "unmatched", so a ground truth with id 0 matched by a detection stays
  unmatched (its detection counts as a false positive), and a detection with id
  <= 0 does not mark its ground truth as taken. Corrected: matches are tracked
  by position; ids do not matter.
* Duplicate annotation ids: pycocotools evaluates the last annotation with a
  repeated id once per occurrence. Corrected: every annotation once (a warning
  says the ids repeat).
* ``accumulate()`` sets ``params.catIds`` to ``[-1]`` when ``useCats=0``.
  Corrected: left alone, and duplicated ``catIds`` are used once.

When one of the first three changes a number under the default, a
``UserWarning`` names the quirk and the option (once per quirk and
``COCOeval`` object; the id and duplicate checks evaluate the corrected way too,
only when such ids are present). ``compat="pycocotools"`` (the earlier
spelling) is the same as ``pycocotools_quirks=True``.

Other differences (no number changes)
-------------------------------------
* Mixed int/str image ids are accepted (sorted by type name, then value;
  pycocotools raises TypeError).
* ``__str__`` returns the summary text (pycocotools' returns None, which fails).
* ``iouType`` defaults to ``"bbox"``; ``"segm"`` evaluates masks (see
  :mod:`detbench.eval.segm`; needs pycocotools ``COCO`` objects or
  :class:`detbench.eval.COCO` for the ground truth, whose dicts hold the
  segmentations); ``"keypoints"`` evaluates OKS (:mod:`detbench.eval.keypoints`).
* ``ious`` (pycocotools' per-(image, category) IoU matrices) is not kept, and
  ``accumulate()`` accepts changed ``recThrs`` only (other parameters need a
  new ``evaluate()``; pycocotools silently mis-indexes then).

Detbench's own loader returns an empty result for ``loadRes([])`` (pycocotools
raises IndexError).

Speed
-----
Annotations are pulled out of the ``COCO`` dicts once into flat arrays by a
compiled reader that walks the dicts through the CPython C API (~75 ns per
annotation; anything unusual such as string ids falls back to a Python path,
see :mod:`detbench.eval._dictread`). The arrays are cached per object (see
:func:`~detbench.eval.loader.annotations_of`; detbench's own loader parses
straight to arrays), grouped by (category, image) with a counting sort
(scattered in input order, which is cache-friendly) and ordered by score with a
radix sort. One compiled kernel per category
then ranks, matches and accumulates: detections whose best IoU is below the
lowest threshold (most of them) are settled once per area range, the others
are matched once per threshold and per distinct ground-truth ignore pattern
and leave TP/FP bit masks; precision is recorded at true positives only.
``evalImgs`` (pycocotools' per-image records) is built only when read.
Categories are evaluated in parallel (``threads=``, default
``numba.get_num_threads()``; see :mod:`detbench.eval.accumulate`), with
bit-identical results for any thread count. The code is split by idea:
:mod:`~detbench.eval.grouping` (arrays), :mod:`~detbench.eval.matching`,
:mod:`~detbench.eval.accumulate`, :mod:`~detbench.eval.summary`.
"""

from __future__ import annotations

import copy
import datetime
import numbers
import time
import warnings
from itertools import repeat
from typing import Any

import numpy as np

from detbench._pages import with_small_pages
from detbench._parallel import num_threads
from detbench._validate import check_bool
from detbench.eval._diagnostics import DiagnosticsMixin
from detbench.eval.accumulate import evaluate_curves
from detbench.eval.annotations import sorted_unique_ids
from detbench.eval.grouping import Prepared, ids_unique, prepare
from detbench.eval.keypoints import COCO_SIGMAS, oks_rows
from detbench.eval.loader import CocoDataset
from detbench.eval.matching import eval_imgs, make_settings
from detbench.eval.segm import mask_iou_rows
from detbench.eval.summary import compute_stats, per_class_table

__all__ = ["COCOeval", "Params"]


class Params:
    """Evaluation parameters, the fields of pycocotools' ``Params`` (bbox, segm; keypoints: maxDets ``[20]``,
    areas ``all, medium, large`` and ``kpt_oks_sigmas``, pycocotools' 17 COCO sigmas).

    imgIds, catIds: ids to evaluate (default: all of the ground truth, sorted).
    iouThrs: IoU thresholds, default ``np.linspace(.5, .95, 10)``.
    recThrs: recall thresholds, default ``np.linspace(0, 1, 101)``.
    maxDets: detections kept per image (per category), default ``[1, 10, 100]``.
    areaRng / areaRngLbl: ``[[0, 1e10], [0, 32**2], [32**2, 96**2], [96**2, 1e10]]``
    with labels ``all, small, medium, large`` (bounds inclusive).
    useCats: 1 to match within categories, 0 to ignore categories.
    """

    def __init__(self, iouType: str = "bbox") -> None:  # noqa: N803 - pycocotools' name
        if iouType not in ("bbox", "segm", "keypoints"):
            raise ValueError(f"iouType: expected 'bbox', 'segm' or 'keypoints', got {iouType!r}")
        self.imgIds: list = []
        self.catIds: list = []
        self.iouThrs = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
        self.recThrs = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
        self.maxDets = [1, 10, 100]
        self.areaRng = [[0**2, 1e5**2], [0**2, 32**2], [32**2, 96**2], [96**2, 1e5**2]]
        self.areaRngLbl = ["all", "small", "medium", "large"]
        self.useCats = 1
        self.iouType = iouType
        self.useSegm = None
        if iouType == "keypoints":
            self.maxDets = [20]
            self.areaRng = [[0**2, 1e5**2], [32**2, 96**2], [96**2, 1e5**2]]
            self.areaRngLbl = ["all", "medium", "large"]
            self.kpt_oks_sigmas = COCO_SIGMAS.copy()

    def __repr__(self) -> str:
        return (
            f"Params(iouType={self.iouType!r}, {len(self.imgIds)} imgIds, {len(self.catIds)} catIds, "
            f"iouThrs={np.asarray(self.iouThrs).tolist()}, maxDets={list(self.maxDets)}, "
            f"areaRngLbl={list(self.areaRngLbl)}, useCats={self.useCats})"
        )


def _unique_like_numpy(ids: Any) -> list:
    # pycocotools: list(np.unique(ids)); keep its element types where the ids
    # are all numbers or all strings (np.unique would turn mixed ids into strings)
    vals = list(ids)
    if not vals:
        return []
    types = set(map(type, vals))
    numeric = all(issubclass(t, (numbers.Real, np.number)) and not issubclass(t, (bool, np.bool_)) for t in types)
    if numeric or all(issubclass(t, str) for t in types):
        try:
            arr = np.asarray(vals)
            if arr.dtype != object and arr.ndim == 1:
                return list(np.unique(arr))
        except (TypeError, ValueError):
            pass
    return sorted_unique_ids(vals)


def _float_vector(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"params.{name}: expected a 1-D sequence of numbers, got {x!r}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"params.{name}: expected a 1-D sequence of numbers, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"params.{name}: contains NaN or inf ({arr.tolist()})")
    return arr


class COCOeval(DiagnosticsMixin):
    """Drop-in replacement for ``pycocotools.cocoeval.COCOeval`` (bbox).

    Parameters
    ----------
    cocoGt, cocoDt:
        pycocotools ``COCO`` objects (ground truth, and results from
        ``cocoGt.loadRes``) or :class:`~detbench.eval.loader.CocoDataset`.
    iouType:
        ``"bbox"``, ``"segm"`` (mask IoUs on run lengths, :mod:`detbench.eval.segm`) or
        ``"keypoints"`` (OKS, :mod:`detbench.eval.keypoints`).
    pycocotools_quirks:
        True (default): pycocotools' numbers, its quirks included (``stats[0]``
        at maxDets=100, id-based match bookkeeping with id 0, duplicate ids,
        catIds mutation; see the module docstring), with a warning when one
        changes a number. False: the corrected behaviour.
    compat:
        ``None`` (default) or ``"pycocotools"`` (the earlier spelling of
        ``pycocotools_quirks=True``; it overrides ``pycocotools_quirks``).
    cache:
        reuse the arrays pulled out of a ``COCO`` object by an earlier
        evaluation of the same object (default True).
    verbose:
        print pycocotools' progress lines in evaluate()/accumulate()
        (``summarize()`` always prints its table, like pycocotools).
    threads:
        threads for grouping, matching and accumulation (default
        ``numba.get_num_threads()``; small inputs run serially). Categories
        are taken from one queue by GIL-free kernels on detbench's thread pool
        (:mod:`detbench._parallel`); the results are bit-identical for any
        count.

    Attributes
    ----------
    params, eval (``params``, ``counts``, ``date``, ``precision``, ``recall``,
    ``scores``), stats (12 numbers), evalImgs (built on first access),
    _paramsEval.

    Cost: O(N) to extract and group the annotations, O(sum over (image,
    category) of D*G*A*T) to match and O(D*A*T + K*A*T*M*R) to accumulate.
    """

    def __init__(
        self,
        cocoGt: Any = None,  # noqa: N803 - pycocotools' names
        cocoDt: Any = None,  # noqa: N803
        iouType: str = "bbox",  # noqa: N803
        *,
        pycocotools_quirks: bool = True,
        compat: str | None = None,
        cache: bool = True,
        verbose: bool = False,
        threads: int | None = None,
    ) -> None:
        if iouType not in ("bbox", "segm", "keypoints"):
            raise ValueError(f"iouType: expected 'bbox', 'segm' or 'keypoints', got {iouType!r}")
        if compat not in (None, "pycocotools"):
            raise ValueError(f"compat: expected None or 'pycocotools', got {compat!r}")
        self.cocoGt = cocoGt
        self.cocoDt = cocoDt
        quirks = check_bool(pycocotools_quirks, "pycocotools_quirks") or compat == "pycocotools"
        self.pycocotools_quirks = quirks
        self.compat = "pycocotools" if quirks else None
        self._warned: set = set()
        self.cache = bool(cache)
        self.verbose = bool(verbose)
        self.threads = threads if threads is None else num_threads(threads)
        self.params = Params(iouType=iouType)
        self.eval: dict = {}
        self.stats: Any = []
        self._paramsEval: Any = {}
        self._prep: Prepared | None = None
        self._evalImgs: list | None = None
        self._result: tuple | None = None
        self._result_recthrs: np.ndarray | None = None
        self.summary: str = ""
        if cocoGt is not None:
            img_ids = cocoGt.getImgIds()
            cat_ids = cocoGt.getCatIds()
            try:
                if not quirks:
                    raise TypeError
                self.params.imgIds = sorted(img_ids)
                self.params.catIds = sorted(cat_ids)
            except TypeError:  # mixed id types (pycocotools fails) or corrected mode
                self.params.imgIds = sorted_unique_ids(img_ids)
                self.params.catIds = sorted_unique_ids(cat_ids)

    # ------------------------------------------------------------ evaluate
    def _log(self, msg: str) -> None:
        if self.verbose:
            print(msg)

    @with_small_pages
    def evaluate(self) -> None:
        """Match detections to ground truths for every image, category, area range and threshold.

        Normalises ``params`` like pycocotools (sorted unique imgIds/catIds,
        sorted maxDets) and computes what ``accumulate()`` needs. Per-image
        records (``evalImgs``) are built only when that attribute is read.
        """
        tic = time.time()
        self._log("Running per image evaluation...")
        p = self.params
        if p.useSegm is not None:
            p.iouType = "segm" if p.useSegm == 1 else "bbox"
        if p.iouType not in ("bbox", "segm", "keypoints"):
            raise ValueError(f"params.iouType: expected 'bbox', 'segm' or 'keypoints', got {p.iouType!r}")
        self._log(f"Evaluate annotation type *{p.iouType}*")
        if self.cocoGt is None or self.cocoDt is None:
            raise ValueError("COCOeval needs both cocoGt and cocoDt")
        p.imgIds = _unique_like_numpy(p.imgIds)
        if p.useCats:
            p.catIds = _unique_like_numpy(p.catIds)
        try:
            p.maxDets = sorted(int(m) for m in p.maxDets)
        except (TypeError, ValueError):
            raise ValueError(f"params.maxDets: expected integers, got {p.maxDets!r}") from None
        if not p.maxDets:
            raise ValueError("params.maxDets: must not be empty")
        if p.maxDets[0] < 0:
            raise ValueError(f"params.maxDets: must be >= 0, got {p.maxDets}")
        iou = _float_vector(p.iouThrs, "iouThrs")
        if iou.size == 0:
            raise ValueError("params.iouThrs: must not be empty")
        _float_vector(p.recThrs, "recThrs")
        try:
            area = np.asarray(p.areaRng, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"params.areaRng: expected [[lo, hi], ...] numbers, got {p.areaRng!r}") from None
        if area.ndim != 2 or area.shape[1] != 2 or area.shape[0] == 0:
            raise ValueError(f"params.areaRng: expected shape (A, 2) with A >= 1, got {area.shape}")
        if np.isnan(area).any():
            raise ValueError("params.areaRng: contains NaN")
        self.params = p
        self._prep = self._prepare(p, self.pycocotools_quirks)
        self._evalImgs = None
        self._paramsEval = _copy_params(p)
        self._result = None
        self._run_core(np.asarray(p.recThrs, dtype=np.float64))
        if self.pycocotools_quirks:
            self._check_id_quirks()
        self.eval = {}
        self._log(f"DONE (t={time.time() - tic:0.2f}s).")

    def _prepare(self, p: Any, compat: bool) -> Prepared:
        prep = prepare(
            self.cocoGt,
            self.cocoDt,
            list(p.imgIds),
            list(p.catIds),
            bool(p.useCats),
            compat=compat,
            cache=self.cache,
            threads=self.threads,
        )
        if p.iouType == "segm":
            d_iou, d_iou_off = mask_iou_rows(prep, self.cocoGt, self.cocoDt, threads=self.threads)
            prep.groups = prep.groups._replace(d_iou=d_iou, d_iou_off=d_iou_off)
        elif p.iouType == "keypoints":
            sig = getattr(p, "kpt_oks_sigmas", COCO_SIGMAS)
            d_iou, d_iou_off, crowd = oks_rows(prep, self.cocoGt, self.cocoDt, sig, threads=self.threads)
            prep.groups = prep.groups._replace(d_iou=d_iou, d_iou_off=d_iou_off, g_crowd=crowd)
        return prep

    def _warn_quirk(self, quirk: str, text: str) -> None:
        if quirk in self._warned:
            return
        self._warned.add(quirk)
        warnings.warn(
            f"pycocotools quirk '{quirk}' changes the result: {text}; COCOeval(..., pycocotools_quirks=False) "
            "gives the corrected numbers",
            UserWarning,
            stacklevel=4,
        )

    def _check_id_quirks(self) -> None:
        # the id-0 and duplicate-id quirks: evaluate the corrected way too, only
        # when such ids are present, and warn when a number differs
        prep = self._prep
        gr = prep.groups
        id0 = not (gr.g_idok.all() and gr.d_idok.all())
        dup = _has_duplicates(prep.gt_ann.ids) or _has_duplicates(prep.dt_ann.ids)
        if not (id0 or dup):
            return
        p = self._paramsEval
        if dup:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fixed = self._prepare(p, False).groups
        else:
            fixed = gr._replace(g_idok=np.ones_like(gr.g_idok), d_idok=np.ones_like(gr.d_idok))
        out = evaluate_curves(fixed, make_settings(p, self._result_recthrs), threads=self.threads)
        mine = self._result
        same = (
            np.array_equal(mine[0], out.precision.transpose(2, 4, 0, 1, 3))
            and np.array_equal(mine[1], out.recall.transpose(2, 0, 1, 3))
            and np.array_equal(mine[2], out.scores.transpose(2, 4, 0, 1, 3))
        )
        if same:
            return
        if id0:
            self._warn_quirk(
                "annotation id 0",
                "pycocotools records matches by annotation id with 0 meaning unmatched, so a ground truth with "
                "id 0 (or a detection with id <= 0) is never marked as matched",
            )
        if dup:
            self._warn_quirk(
                "duplicate annotation ids",
                "pycocotools evaluates the last annotation with a repeated id once per occurrence",
            )

    def _run_core(self, rec_thrs: np.ndarray) -> None:
        # match + accumulate; the kernel writes (K, A, T, M, R) buffers
        # contiguously, pycocotools' (T, R, K, A, M) arrays are transposed views
        st = make_settings(self._paramsEval, rec_thrs)
        out = evaluate_curves(self._prep.groups, st, threads=self.threads)
        self._result = (
            out.precision.transpose(2, 4, 0, 1, 3),
            out.recall.transpose(2, 0, 1, 3),
            out.scores.transpose(2, 4, 0, 1, 3),
        )
        self._result_recthrs = st.rec_thr.copy()

    # ---------------------------------------------------------- accumulate
    @with_small_pages
    def accumulate(self, p: Params | None = None) -> None:
        """Fill ``self.eval`` with precision (T,R,K,A,M), recall (T,K,A,M) and scores (T,R,K,A,M).

        Uses the parameters of the last ``evaluate()``; only ``recThrs`` may be
        changed in between (or given through ``p``).
        """
        self._log("Accumulating evaluation results...")
        tic = time.time()
        if self._prep is None:
            raise RuntimeError("Please run evaluate() first")
        if p is None:
            p = self.params
        pe = self._paramsEval
        for name in ("iouThrs", "maxDets", "areaRng", "imgIds", "useCats"):
            if not _same(getattr(p, name), getattr(pe, name)):
                raise ValueError(
                    f"params.{name} changed after evaluate(); run evaluate() again (only recThrs may change)"
                )
        if pe.useCats and not _same(p.catIds, pe.catIds):
            raise ValueError("params.catIds changed after evaluate(); run evaluate() again")
        rec = _float_vector(p.recThrs, "recThrs")
        if self._result is None or not np.array_equal(rec, self._result_recthrs):
            self._run_core(rec)
        precision, recall, scores = self._result
        if self.pycocotools_quirks and not p.useCats:
            p.catIds = [-1]
        T, R, K, A, M = precision.shape
        self.eval = {
            "params": p,
            "counts": [T, R, K, A, M],
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "precision": precision,
            "recall": recall,
            "scores": scores,
        }
        self._log(f"DONE (t={time.time() - tic:0.2f}s).")

    # ----------------------------------------------------------- summarize
    def _compute_stats(self) -> tuple[np.ndarray, list[str]]:
        if not self.eval:
            raise RuntimeError("Please run accumulate() first")
        quirks = self.pycocotools_quirks
        md = list(self.params.maxDets)
        kps = self.params.iouType == "keypoints"
        if quirks and len(md) < 3 and not kps:
            raise IndexError(
                f"params.maxDets has {len(md)} entries: pycocotools' summarize() needs 3 (it raises IndexError); "
                "COCOeval(..., pycocotools_quirks=False) summarizes any maxDets"
            )
        stats, lines = compute_stats(self.eval, self.params, quirks)
        if quirks and not kps and md[2] != 100:
            fixed, _ = compute_stats(self.eval, self.params, False)
            if not np.array_equal(fixed[:1], stats[:1]):
                self._warn_quirk(
                    "stats[0] at maxDets=100",
                    f"pycocotools computes stats[0] (AP) at maxDets=100 whatever params.maxDets says "
                    f"(-1 when 100 is absent; maxDets here: {md})",
                )
        return stats, lines

    def summarize(self) -> None:
        """Compute ``self.stats`` (the 12 COCO numbers) and print the table like pycocotools.

        The text is also kept in ``self.summary``; :meth:`summary_text`
        returns it without printing.
        """
        stats, lines = self._compute_stats()
        self.stats = stats
        self.summary = "\n".join(lines)
        for line in lines:
            print(line)

    def summary_text(self) -> str:
        """Compute ``self.stats`` and return the summary table as a string (no printing)."""
        stats, lines = self._compute_stats()
        self.stats = stats
        self.summary = "\n".join(lines)
        return self.summary

    def __str__(self) -> str:
        if not self.eval:
            return f"<detbench COCOeval: {self.params!r} (not accumulated)>"
        return self.summary_text()

    # ------------------------------------------------------------- extras
    def per_class(self) -> Any:
        """Per-category AP table (pandas DataFrame) from ``self.eval``.

        Columns: category_id, name, AP (IoU .50:.95), AP50, AP75, APs, APm, APl
        and AR at the largest maxDets, each the mean of the entries > -1 like
        ``summarize()`` (NaN where there is none).
        """
        if not self.eval:
            raise RuntimeError("Please run accumulate() first")
        names = {}
        gt = self.cocoGt
        if isinstance(gt, CocoDataset):
            names = gt.category_names
        elif hasattr(gt, "cats"):
            names = {k: v.get("name", str(k)) for k, v in gt.cats.items()}
        return per_class_table(self.eval, self._paramsEval, self.params.areaRngLbl, self._prep.cat_ids, names)

    @property
    def evalImgs(self) -> list:  # noqa: N802 - pycocotools' name
        """pycocotools' per-image records, built on first access (slow for big sets).

        A list over (category, area range, image) of dicts with image_id,
        category_id, aRng, maxDet, dtIds, gtIds, dtMatches (T x D ids),
        gtMatches (T x G ids), dtScores, gtIgnore, dtIgnore (T x D), or None for
        an (image, category) with neither ground truth nor detections.
        """
        if self._evalImgs is None:
            if self._prep is None:
                return []
            self._evalImgs = self._build_eval_imgs()
        return self._evalImgs

    @evalImgs.setter
    def evalImgs(self, value: list) -> None:  # noqa: N802
        self._evalImgs = value

    def _build_eval_imgs(self) -> list:
        pe = self._paramsEval
        return eval_imgs(self._prep, make_settings(pe), list(pe.areaRng))


# ----------------------------------------------------------------- helpers


def _copy_params(p: Any) -> Any:
    """A deep-enough copy of the parameters (pycocotools deep-copies; ids and numbers are immutable)."""
    q = copy.copy(p)
    for name, value in vars(p).items():
        if isinstance(value, np.ndarray):
            setattr(q, name, value.copy())
        elif isinstance(value, list):
            if any(map(isinstance, value, repeat(list))):
                setattr(q, name, [list(v) if isinstance(v, list) else v for v in value])
            else:
                setattr(q, name, value.copy())  # ids and numbers are immutable
    return q


def _has_duplicates(ids: np.ndarray) -> bool:
    return not ids_unique(ids)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except Exception:  # pragma: no cover - exotic parameter types
        return a == b
