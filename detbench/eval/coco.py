"""COCO bbox evaluation: a drop-in for pycocotools' ``COCOeval``.

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

Where detbench differs from pycocotools (``compat="pycocotools"`` restores it)
----------------------------------------------------------------------------
* ``stats[0]`` uses the same maxDets as the other AP entries
  (``maxDets[2]``, or the last when fewer than 3 are given). pycocotools hard-wires
  100 (giving -1 when 100 is not in ``maxDets``) and raises IndexError for
  fewer than 3 maxDets.
* Annotation ids do not matter: matches are tracked by position. pycocotools
  stores ids, so a ground truth with id 0 matched by a detection counts as a
  false positive, and a detection with id <= 0 does not mark its ground truth as
  taken. Duplicate annotation ids are evaluated as given (pycocotools evaluates
  the last annotation with that id once per occurrence); a warning is issued.
* ``accumulate()`` does not change ``params.catIds`` to ``[-1]`` when
  ``useCats=0``; with ``useCats=0`` duplicated ``catIds`` are used once.
* Mixed int/str image ids are accepted (sorted by type name, then value).
* ``__str__`` returns the summary text (pycocotools' returns None, which fails).
* ``iouType`` defaults to ``"bbox"``; "segm"/"keypoints" are not supported.
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
``evalImgs`` (pycocotools' per-image records) is built only when read. One
thread by default (``threads=`` splits categories over GIL-free threads).
"""

from __future__ import annotations

import copy
import datetime
import numbers
import threading
import time
import warnings
from typing import Any

import numpy as np

from detbench.eval import _kernels as K_
from detbench.eval.loader import CocoDataset, annotations_of, positions, sorted_unique_ids

__all__ = ["COCOeval", "Params"]


class Params:
    """Evaluation parameters, the fields of pycocotools' ``Params`` (bbox).

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
            raise ValueError(f"iouType: expected 'bbox', got {iouType!r}")
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


class _Prepared:
    """The flat, grouped arrays of one evaluate() call (kept for evalImgs)."""

    __slots__ = (
        "n_img",
        "img_ids",
        "cat_ids",
        "n_seg",
        "use_cats",
        "g_off",
        "g_box",
        "g_area",
        "g_crowd",
        "g_idok",
        "g_src",
        "d_off",
        "d_box",
        "d_area",
        "d_score",
        "d_idok",
        "d_img",
        "d_src",
        "gorder",
        "seg_off",
        "gt_ann",
        "dt_ann",
    )


class COCOeval:
    """Drop-in replacement for ``pycocotools.cocoeval.COCOeval`` (bbox).

    Parameters
    ----------
    cocoGt, cocoDt:
        pycocotools ``COCO`` objects (ground truth, and results from
        ``cocoGt.loadRes``) or :class:`~detbench.eval.loader.CocoDataset`.
    iouType:
        ``"bbox"`` (the only type supported).
    compat:
        ``None`` (default) or ``"pycocotools"`` to reproduce pycocotools where it
        is wrong (see the module docstring): ``stats[0]`` at maxDets=100,
        id-based matching bookkeeping (id 0), duplicate ids, catIds mutation.
    cache:
        reuse the arrays pulled out of a ``COCO`` object by an earlier
        evaluation of the same object (default True).
    verbose:
        print pycocotools' progress lines in evaluate()/accumulate()
        (``summarize()`` always prints its table, like pycocotools).
    threads:
        number of threads for matching/accumulation (default 1). Categories
        are split between plain Python threads running GIL-free kernels (no
        OpenMP, so no busy-waiting). Worth it on an idle multi-core machine;
        on a shared 2-core machine it was measured to gain nothing.

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
        compat: str | None = None,
        cache: bool = True,
        verbose: bool = False,
        threads: int | None = None,
    ) -> None:
        if iouType != "bbox":
            raise ValueError(f"iouType: only 'bbox' is supported by detbench.eval.COCOeval, got {iouType!r}")
        if compat not in (None, "pycocotools"):
            raise ValueError(f"compat: expected None or 'pycocotools', got {compat!r}")
        self.cocoGt = cocoGt
        self.cocoDt = cocoDt
        self.compat = compat
        self.cache = bool(cache)
        self.verbose = bool(verbose)
        self.threads = threads
        self.params = Params(iouType=iouType)
        self.eval: dict = {}
        self.stats: Any = []
        self._paramsEval: Any = {}
        self._prep: _Prepared | None = None
        self._evalImgs: list | None = None
        self._result: tuple | None = None
        self._result_recthrs: np.ndarray | None = None
        self.summary: str = ""
        if cocoGt is not None:
            img_ids = cocoGt.getImgIds()
            cat_ids = cocoGt.getCatIds()
            if compat == "pycocotools":
                self.params.imgIds = sorted(img_ids)
                self.params.catIds = sorted(cat_ids)
            else:
                self.params.imgIds = sorted_unique_ids(img_ids)
                self.params.catIds = sorted_unique_ids(cat_ids)

    # ------------------------------------------------------------ evaluate
    def _log(self, msg: str) -> None:
        if self.verbose:
            print(msg)

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
        if p.iouType != "bbox":
            raise ValueError(f"params.iouType: only 'bbox' is supported, got {p.iouType!r}")
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
        self._prep = self._prepare(p)
        self._evalImgs = None
        self._paramsEval = _copy_params(p)
        self._result = None
        self._run_core(np.asarray(p.recThrs, dtype=np.float64))
        self.eval = {}
        self._log(f"DONE (t={time.time() - tic:0.2f}s).")

    def _prepare(self, p: Params) -> _Prepared:
        compat = self.compat == "pycocotools"
        gt = annotations_of(self.cocoGt, "gt", cache=self.cache)
        dt = annotations_of(self.cocoDt, "dt", cache=self.cache)
        img_ids = list(p.imgIds)
        use_cats = bool(p.useCats)
        if use_cats:
            cat_ids = list(p.catIds)
        else:
            cat_ids = list(dict.fromkeys(p.catIds))
        n_img = len(img_ids)
        n_cat = len(cat_ids)
        ipg = positions(gt.image_id, img_ids)
        cpg = positions(gt.category_id, cat_ids)
        ipd = positions(dt.image_id, img_ids)
        cpd = positions(dt.category_id, cat_ids)
        g_src = np.arange(len(gt), dtype=np.int64)
        d_src = np.arange(len(dt), dtype=np.int64)
        g_ids = gt.ids
        if compat:
            g_src, ipg, cpg = _pycocotools_duplicates(g_ids, g_src, ipg, cpg, use_cats)
            d_src, ipd, cpd = _pycocotools_duplicates(dt.ids, d_src, ipd, cpd, use_cats)
        else:
            _warn_duplicates(g_ids, "ground-truth")
        pr = _Prepared()
        pr.n_img = n_img
        pr.img_ids = img_ids
        pr.cat_ids = cat_ids if use_cats else [-1]
        pr.use_cats = use_cats
        pr.n_seg = n_cat if use_cats else 1
        crowd = gt.iscrowd.view(np.uint8) if gt.iscrowd is not None else np.zeros(len(gt), np.uint8)
        g = _group_rows(ipg, cpg, n_img, n_cat, use_cats, g_src, gt.bbox, gt.area, None, crowd)
        d = _group_rows(ipd, cpd, n_img, n_cat, use_cats, d_src, dt.bbox, dt.area, dt.score, None)
        pr.g_off, pr.g_box, pr.g_area, _, pr.g_crowd, _, pr.g_src = g
        pr.d_off, pr.d_box, pr.d_area, pr.d_score, _, pr.d_img, pr.d_src = d
        gsel, dsel = pr.g_src, pr.d_src
        if compat:
            pr.g_idok = _truthy(g_ids)[gsel].view(np.uint8)
            pr.d_idok = _positive(dt.ids)[dsel].view(np.uint8)
        else:
            pr.g_idok = np.ones(gsel.size, np.uint8)
            pr.d_idok = np.ones(dsel.size, np.uint8)
        off_d = pr.d_off
        if use_cats:
            pr.seg_off = off_d[::n_img].copy() if n_img else np.zeros(n_cat + 1, np.int64)
        else:
            pr.seg_off = np.array([0, dsel.size], np.int64)
        pr.gorder = K_.score_order(pr.d_score, pr.seg_off)
        pr.gt_ann = gt
        pr.dt_ann = dt
        return pr

    def _run_core(self, rec_thrs: np.ndarray) -> None:
        pr = self._prep
        pe = self._paramsEval
        iou = np.asarray(pe.iouThrs, dtype=np.float64).reshape(-1)
        thr = np.array([min(float(t), 1 - 1e-10) for t in iou], np.float64)
        area = np.ascontiguousarray(np.asarray(pe.areaRng, dtype=np.float64))
        max_dets = np.asarray(pe.maxDets, dtype=np.int64)
        rec = np.ascontiguousarray(rec_thrs.reshape(-1), dtype=np.float64)
        T, R, A, M = thr.size, rec.size, area.shape[0], max_dets.size
        K = len(pr.cat_ids)
        # the kernel writes (K, A, T, M, R) buffers contiguously; pycocotools'
        # (T, R, K, A, M) arrays are transposed views of them
        prec_buf = np.full((K, A, T, M, R), -1.0)
        rec_buf = np.full((K, A, T, M), -1.0)
        score_buf = np.full((K, A, T, M, R), -1.0)
        precision = prec_buf.transpose(2, 4, 0, 1, 3)
        recall = rec_buf.transpose(2, 0, 1, 3)
        scores = score_buf.transpose(2, 4, 0, 1, 3)
        n_d = pr.d_score.size
        seg_len = np.diff(pr.seg_off)
        if pr.n_img and pr.n_seg and (pr.g_off[-1] > 0 or n_d > 0):
            max_last = int(max_dets[-1])
            ng = np.diff(pr.g_off)
            nd = np.minimum(np.diff(pr.d_off), max_last)
            max_g = max(int(ng.max()) if ng.size else 0, 1)
            max_nd = max(int(nd.max()) if nd.size else 0, 1)
            max_iou = max(int((ng * nd).max()) if ng.size else 0, 1)
            rec_sorted = bool(np.all(np.diff(rec) >= 0))
            W = (T + 63) // 64
            parts = _partition(seg_len, _threads_for(self.threads, n_d, pr.n_seg))

            def work(segs: np.ndarray) -> None:
                max_l = max(int(seg_len[segs].max()) if segs.size else 0, 1)
                K_.coco_eval_core(
                    pr.n_img,
                    pr.g_off,
                    pr.g_box,
                    pr.g_area,
                    pr.g_crowd,
                    pr.g_idok,
                    pr.d_off,
                    pr.d_box,
                    pr.d_area,
                    pr.d_score,
                    pr.d_idok,
                    pr.d_img,
                    pr.gorder,
                    pr.seg_off,
                    segs,
                    thr,
                    area,
                    max_dets,
                    rec,
                    rec_sorted,
                    prec_buf,
                    rec_buf,
                    score_buf,
                    np.empty(max_l, np.int64),
                    np.empty(max_l, np.int64),
                    np.empty(max_l, np.int64),
                    np.zeros(pr.n_img, np.int64),
                    np.empty(max_l, np.int64),
                    np.empty(max_l, np.int64),
                    np.empty(max_l, np.float64),
                    np.empty(max_l, np.float64),
                    np.empty(max_l * A * W, np.uint64),
                    np.empty(max_l * A * W, np.uint64),
                    np.empty(max_iou, np.float64),
                    np.empty(max_nd, np.float64),
                    np.empty(max_g, np.int64),
                    np.empty(max_g, np.uint8),
                    np.empty(max_g, np.uint8),
                    np.empty(max_nd, np.int64),
                    np.empty(max_nd, np.int64),
                    np.empty(max_nd, np.int64),
                    np.empty(A, np.uint64),
                    np.empty((A, max_g), np.int64),
                    np.empty((A, max_nd, T), np.int64),
                    np.empty((T, M, max_l), np.float64),
                    np.empty((T, M, max_l), np.float64),
                    np.empty(max_l, np.float64),
                    np.empty(max_nd, np.uint64),
                )

            if len(parts) == 1:
                work(parts[0])
            else:
                threads = [threading.Thread(target=work, args=(segs,)) for segs in parts[1:]]
                for th in threads:
                    th.start()
                work(parts[0])
                for th in threads:
                    th.join()
        self._result = (precision, recall, scores)
        self._result_recthrs = rec.copy()

    # ---------------------------------------------------------- accumulate
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
        if self.compat == "pycocotools" and not p.useCats:
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
    def _summarize_one(self, ap: int, iouThr: float | None, areaRng: str, maxDets: int) -> tuple[float, str]:  # noqa: N803
        p = self.params
        title = "Average Precision" if ap == 1 else "Average Recall"
        kind = "(AP)" if ap == 1 else "(AR)"
        iou_str = f"{p.iouThrs[0]:0.2f}:{p.iouThrs[-1]:0.2f}" if iouThr is None else f"{iouThr:0.2f}"
        aind = [i for i, lbl in enumerate(p.areaRngLbl) if lbl == areaRng]
        mind = [i for i, m in enumerate(p.maxDets) if m == maxDets]
        if ap == 1:
            s = self.eval["precision"]
            if iouThr is not None:
                s = s[np.where(iouThr == np.asarray(p.iouThrs))[0]]
            s = s[:, :, :, aind, mind]
        else:
            s = self.eval["recall"]
            if iouThr is not None:
                s = s[np.where(iouThr == np.asarray(p.iouThrs))[0]]
            s = s[:, :, aind, mind]
        valid = s[s > -1]
        mean_s = -1 if len(valid) == 0 else np.mean(valid)
        line = f" {title:<18} {kind} @[ IoU={iou_str:<9} | area={areaRng:>6s} | maxDets={maxDets:>3d} ] = {mean_s:0.3f}"
        return mean_s, line

    def _compute_stats(self) -> tuple[np.ndarray, list[str]]:
        if not self.eval:
            raise RuntimeError("Please run accumulate() first")
        md = list(self.params.maxDets)
        if self.compat == "pycocotools":
            main, first, m0, m1 = md[2], 100, md[0], md[1]
        else:
            main = md[min(2, len(md) - 1)]
            first, m0, m1 = main, md[0], md[min(1, len(md) - 1)]
        spec = [
            (1, None, "all", first),
            (1, 0.5, "all", main),
            (1, 0.75, "all", main),
            (1, None, "small", main),
            (1, None, "medium", main),
            (1, None, "large", main),
            (0, None, "all", m0),
            (0, None, "all", m1),
            (0, None, "all", main),
            (0, None, "small", main),
            (0, None, "medium", main),
            (0, None, "large", main),
        ]
        stats = np.zeros((12,))
        lines = []
        for k, (ap, thr, lbl, m) in enumerate(spec):
            stats[k], line = self._summarize_one(ap, thr, lbl, int(m))
            lines.append(line)
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
        import pandas as pd

        if not self.eval:
            raise RuntimeError("Please run accumulate() first")
        p = self._paramsEval
        prec = self.eval["precision"]
        rec = self.eval["recall"]
        iou = np.asarray(p.iouThrs)
        lbl = list(self.params.areaRngLbl)
        m = prec.shape[4] - 1

        def mean(x: np.ndarray) -> float:
            v = x[x > -1]
            return float(np.mean(v)) if v.size else float("nan")

        names = {}
        gt = self.cocoGt
        if isinstance(gt, CocoDataset):
            names = gt.category_names
        elif hasattr(gt, "cats"):
            names = {k: v.get("name", str(k)) for k, v in gt.cats.items()}
        cats = self._prep.cat_ids
        rows = []
        for k, cid in enumerate(cats):
            row: dict[str, Any] = {"category_id": cid, "name": names.get(cid, str(cid))}
            a_all = lbl.index("all") if "all" in lbl else 0
            row["AP"] = mean(prec[:, :, k, a_all, m])
            for name, t in (("AP50", 0.5), ("AP75", 0.75)):
                w = np.where(iou == t)[0]
                row[name] = mean(prec[w][:, :, k, a_all, m]) if w.size else float("nan")
            for name, a in (("APs", "small"), ("APm", "medium"), ("APl", "large")):
                row[name] = mean(prec[:, :, k, lbl.index(a), m]) if a in lbl else float("nan")
            row["AR"] = mean(rec[:, k, a_all, m])
            rows.append(row)
        return pd.DataFrame(rows)

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
        pr = self._prep
        pe = self._paramsEval
        iou = np.asarray(pe.iouThrs, dtype=np.float64).reshape(-1)
        thr = np.array([min(float(t), 1 - 1e-10) for t in iou], np.float64)
        area = np.ascontiguousarray(np.asarray(pe.areaRng, dtype=np.float64))
        max_last = int(max(pe.maxDets))
        T, A = thr.size, area.shape[0]
        n_g = pr.g_box.shape[0]
        n_d = pr.d_box.shape[0]
        n_groups = pr.g_off.size - 1
        gsorted = np.full(n_d, -1, np.int64)
        d_count = np.zeros(n_groups, np.int64)
        dt_match = np.full((A, T, n_d), -1, np.int32)
        dt_ign = np.zeros((A, T, n_d), np.bool_)
        gt_match = np.full((A, T, n_g), -1, np.int32)
        gt_order = np.zeros((A, n_g), np.int64)
        gt_ign = np.zeros((A, n_g), np.uint8)
        ng_all = np.diff(pr.g_off)
        nd_all = np.minimum(np.diff(pr.d_off), max_last)
        max_g = int(ng_all.max()) if ng_all.size else 0
        max_iou = int((ng_all * nd_all).max()) if ng_all.size else 0
        if pr.n_img and n_groups:
            K_.coco_match_all(
                pr.n_img,
                pr.g_off,
                pr.g_box,
                pr.g_area,
                pr.g_crowd,
                pr.g_idok,
                pr.d_off,
                pr.d_box,
                pr.d_area,
                pr.d_score,
                pr.d_idok,
                pr.d_img,
                pr.gorder,
                pr.seg_off,
                thr,
                area,
                max_last,
                gsorted,
                d_count,
                np.zeros(pr.n_img, np.int64),
                np.empty(max(max_iou, 1), np.float64),
                np.empty(max(max_g, 1), np.int64),
                np.empty(max(max_g, 1), np.uint8),
                np.empty(max(max_g, 1), np.uint8),
                dt_match,
                dt_ign,
                gt_match,
                gt_order,
                gt_ign,
            )
        g_ids = _python_ids(pr.gt_ann.ids[pr.g_src]) if n_g else []
        d_ids = _python_ids(pr.dt_ann.ids[pr.d_src]) if n_d else []
        g_ids_arr = np.asarray(g_ids + [0], dtype=object)
        d_ids_arr = np.asarray(d_ids + [0], dtype=object)
        area_list = list(pe.areaRng)
        out: list = []
        for k in range(len(pr.cat_ids)):
            cat = pr.cat_ids[k]
            for a in range(A):
                for i in range(pr.n_img):
                    g = k * pr.n_img + i if pr.use_cats else i
                    gs, ge = pr.g_off[g], pr.g_off[g + 1]
                    ds = pr.d_off[g]
                    nd = int(d_count[g])
                    if ge == gs and nd == 0:
                        out.append(None)
                        continue
                    dts = gsorted[ds : ds + nd]
                    gord = gt_order[a, gs:ge]
                    dm = dt_match[a, :, ds : ds + nd]
                    gm = gt_match[a, :, gs:ge]
                    dtm = np.where(dm >= 0, g_ids_arr[np.where(dm >= 0, dm, -1)], 0).astype(np.float64)
                    gtm = np.where(gm >= 0, d_ids_arr[np.where(gm >= 0, gm, -1)], 0).astype(np.float64)
                    out.append(
                        {
                            "image_id": pr.img_ids[i],
                            "category_id": cat,
                            "aRng": area_list[a],
                            "maxDet": max_last,
                            "dtIds": [d_ids[d] for d in dts.tolist()],
                            "gtIds": [g_ids[q] for q in gord.tolist()],
                            "dtMatches": dtm.reshape(T, nd),
                            "gtMatches": gtm.reshape(T, ge - gs),
                            "dtScores": pr.d_score[dts].tolist(),
                            "gtIgnore": gt_ign[a, gs:ge].astype(np.int64),
                            "dtIgnore": dt_ign[a, :, ds : ds + nd].copy(),
                        }
                    )
        return out


# ----------------------------------------------------------------- helpers


def _threads_for(requested: int | None, n_det: int, n_seg: int) -> int:
    # Serial by default, deliberately: on the shared 2-core machine this was
    # measured on, 2 threads gave no gain at 5,000 images (174 vs 182 ms for the
    # kernel) and lost 10-90 % at 500 images, the second core being busy.
    if requested is None or n_det == 0:
        return 1
    return max(1, min(int(requested), n_seg))


def _partition(sizes: np.ndarray, n_parts: int) -> list[np.ndarray]:
    """Split segment indices into ``n_parts`` lists of about equal total size (largest first, greedy)."""
    if n_parts <= 1:
        return [np.arange(sizes.size, dtype=np.int64)]
    load = [0] * n_parts
    parts: list[list[int]] = [[] for _ in range(n_parts)]
    for s in np.argsort(-sizes, kind="stable").tolist():
        j = load.index(min(load))
        parts[j].append(s)
        load[j] += int(sizes[s]) + 1
    return [np.array(sorted(p), dtype=np.int64) for p in parts if p]


def _copy_params(p: Any) -> Any:
    """A deep-enough copy of the parameters (pycocotools deep-copies; ids and numbers are immutable)."""
    q = copy.copy(p)
    for name, value in vars(p).items():
        if isinstance(value, np.ndarray):
            setattr(q, name, value.copy())
        elif isinstance(value, list):
            setattr(q, name, [list(v) if isinstance(v, list) else v for v in value])
    return q


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except Exception:  # pragma: no cover - exotic parameter types
        return a == b


def _group_rows(
    ip: np.ndarray,
    cp: np.ndarray,
    n_img: int,
    n_cat: int,
    use_cats: bool,
    src: np.ndarray,
    box: np.ndarray,
    area: np.ndarray,
    score: np.ndarray | None,
    flag: np.ndarray | None,
) -> tuple:
    """Group the annotations (counting sort) and put their arrays in group order.

    Returns (group offsets, box, area, score, flag, image position, source index);
    group offsets have ``n_cat * n_img + 1`` entries with ``use_cats``, else
    ``n_img + 1`` (one group per image).
    """
    n_keys = n_img * n_cat
    offsets = np.zeros(n_keys + 1, np.int64)
    dest = np.empty(ip.size, np.int64)
    cursor = np.empty(max(n_keys, 1), np.int64)
    n = K_.group_keys(ip, cp, n_img, n_cat, use_cats, offsets, cursor, dest)
    box_o = np.empty((n, 4), np.float64)
    area_o = np.empty(n, np.float64)
    score_o = np.empty(n if score is not None else 0, np.float64)
    flag_o = np.empty(n if flag is not None else 0, np.uint8)
    ip_o = np.empty(n, np.int64)
    src_o = np.empty(n, np.int64)
    K_.scatter_rows(
        dest,
        src,
        np.ascontiguousarray(box, dtype=np.float64),
        np.ascontiguousarray(area, dtype=np.float64),
        score if score is not None else np.empty(0, np.float64),
        ip,
        flag if flag is not None else np.empty(0, np.uint8),
        box_o,
        area_o,
        score_o,
        ip_o,
        flag_o,
        src_o,
    )
    if not use_cats:
        offsets = offsets[::n_cat].copy() if n_cat else np.zeros(n_img + 1, np.int64)
    return offsets, box_o, area_o, (score_o if score is not None else None), flag_o, ip_o, src_o


def _truthy(ids: np.ndarray) -> np.ndarray:
    if ids.dtype != object:
        return ids != 0
    return np.fromiter((bool(v) for v in ids.tolist()), bool, ids.size)


def _positive(ids: np.ndarray) -> np.ndarray:
    if ids.dtype != object:
        return ids > 0
    out = np.empty(ids.size, bool)
    for k, v in enumerate(ids.tolist()):
        try:
            out[k] = v > 0
        except TypeError:
            out[k] = False
    return out


def _python_ids(ids: np.ndarray) -> list:
    if ids.dtype != object and ids.size and np.all(ids == np.round(ids)):
        return ids.astype(np.int64).tolist()
    return ids.tolist()


def _warn_duplicates(ids: np.ndarray, what: str) -> None:
    if ids.size < 2:
        return
    if ids.dtype != object:
        u = np.unique(ids)
        dup = u.size != ids.size
    else:
        try:
            dup = len(set(ids.tolist())) != ids.size
        except TypeError:
            dup = False
    if dup:
        warnings.warn(
            f"duplicate {what} annotation ids: detbench evaluates every annotation once; pycocotools would "
            "evaluate the last annotation with a repeated id once per occurrence (compat='pycocotools' does that)",
            stacklevel=4,
        )


def _pycocotools_duplicates(
    ids: np.ndarray, src: np.ndarray, ip: np.ndarray, cp: np.ndarray, use_cats: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reproduce pycocotools' ``loadAnns(getAnnIds(...))`` with repeated ids.

    pycocotools selects annotations by their own image/category, in image
    order, then replaces each by the last annotation carrying the same id
    (``COCO.anns`` is a dict). Returns the new source indices and positions.
    """
    n = ids.size
    if n < 2:
        return src, ip, cp
    if ids.dtype != object:
        uniq, inv = np.unique(ids, return_inverse=True)
        if uniq.size == n:
            return src, ip, cp
        last = np.zeros(uniq.size, np.int64)
        last[inv] = np.arange(n)  # later writes win
        repl = last[inv]
    else:
        table: dict = {}
        for k, v in enumerate(ids.tolist()):
            table[v] = k
        if len(table) == n:
            return src, ip, cp
        repl = np.array([table[v] for v in ids.tolist()], np.int64)
    sel = np.flatnonzero(ip >= 0)
    sel = sel[np.argsort(ip[sel], kind="stable")]  # getAnnIds: image by image
    # the selection is filtered by the *original* annotation's category; the
    # loaded one (repl) supplies image, category and everything else
    keep = sel[cp[sel] >= 0] if use_cats else sel
    new = repl[keep]
    ip_new = ip[new]
    cp_new = cp[new]
    return src[new], ip_new, cp_new
