"""A mergeable, streaming COCO evaluator: ``update`` per batch, ``merge`` across ranks, ``compute`` once.

::

    from detbench.eval import CocoEvaluator
    ev = CocoEvaluator("instances_val2017.json")   # or a COCO / CocoDataset
    for batch in loader:                            # any image order, any batch split
        ev.update(results_of(batch))                # a list of COCO result dicts, or arrays
    res = ev.compute()                              # res.stats, res.eval["precision"], ...

``compute()`` gives the same ``eval`` arrays and ``stats`` as the one-shot
:class:`~detbench.eval.COCOeval` on all the results together, bit for bit,
for any split of the images into batches and any order of ``update`` and
``merge`` calls.

The rule for images
-------------------
Matching is per (image, category), so **all detections of an image must arrive
in one** ``update`` (or one evaluator, for ``merge``). An image that already
has detections in the evaluator (or in both evaluators of a ``merge``) raises
``ValueError`` naming the image: silently matching it twice would be wrong
(PyTorch's ``DistributedSampler`` repeats a few images to even out the ranks:
``CocoEvaluator(gt, duplicates="first")`` keeps the first detections of an
image and drops repeats). Ties in score inside an
image keep the order of that image's detections in its ``update`` call, like
the order in a results file for pycocotools. Ground truths count for every
image of the ground truth (``params.imgIds``), whether or not detections came
for it, as in the one-shot evaluation.

State and memory
----------------
``update`` matches its batch at once (detections beyond ``maxDets[-1]`` per
(image, category) are cut by score, as pycocotools does) and keeps only, per
kept detection: its category (int16/int32), image (int32), rank in its
(image, category) (uint8/uint16/int32), score (float64) and two bit masks per
area range (thresholds where it is a TP / an FP; uint16 each for 10
thresholds). With COCO's defaults that is **31 bytes per kept detection**
(:attr:`CocoEvaluator.nbytes` gives the total), plus five bytes per image (seen
flag and detection count) and ``K x A`` positive counts computed once from the ground truth.
No detection boxes and no dicts are kept.

Serialisation: ``pickle`` (the ground-truth arrays are left out; a loaded or
unpickled evaluator merges and computes, and ``attach(gt)`` lets it ``update``
again) and :meth:`CocoEvaluator.save` / :meth:`CocoEvaluator.load` (a compact
``.npz``), so data-parallel ranks can gather their states and merge them.

Protocol: COCO bbox with ``useCats=1`` (any ``iouThrs``, ``recThrs``,
``maxDets``, ``areaRng``, ``imgIds``, ``catIds``); not ``compat="pycocotools"``.
"""

from __future__ import annotations

import copy
import datetime
import os
from typing import Any

import numpy as np

from detbench._pages import with_small_pages
from detbench._parallel import num_threads, run_queue
from detbench._sort import segmented_desc_order
from detbench._validate import check_bool, check_choice
from detbench.eval._accumulate_kernels import AccScratch
from detbench.eval._streaming_kernels import MatchRows, RowScratch, accumulate_rows, collect_batch
from detbench.eval._streaming_util import _bits_dtype, _ids_array, _ids_list, _Lookup, _uint_for, check_result_arrays
from detbench.eval.accumulate import _MIN_PARALLEL_DETS, make_curves
from detbench.eval.coco import Params, _float_vector
from detbench.eval.grouping import Rows, group_rows
from detbench.eval.loader import CocoDataset, annotations_of, load_coco, load_results, positions, sorted_unique_ids
from detbench.eval.matching import Groups, make_match_scratch, make_segment_matches, make_settings, sizes_of
from detbench.eval.summary import compute_stats, per_class_table

__all__ = ["CocoEvaluator", "CocoResult"]

_STATE = ("cat", "img", "rank", "score", "tp", "fp")


class CocoResult:
    """What :meth:`CocoEvaluator.compute` returns.

    ``eval``: COCOeval's dict (``params``, ``counts``, ``date``, ``precision``
    (T,R,K,A,M), ``recall`` (T,K,A,M), ``scores``); ``stats``: the 12 numbers;
    ``summary``: the printed table as text; ``params``; ``n_images``: images
    that had detections; ``n_detections``: detections evaluated (of evaluated
    images and categories, before the maxDets cut); ``n_kept``: after it;
    ``n_shards``: results files read (:mod:`detbench.eval.shards`; else None).
    """

    def __init__(self, ev: dict, stats: np.ndarray, lines: list, n_images: int, n_dets: int, n_kept: int) -> None:
        self.eval = ev
        self.params = ev["params"]
        self.stats = stats
        self.summary = "\n".join(lines)
        self.n_images = n_images
        self.n_detections = n_dets
        self.n_kept = n_kept
        self.n_shards: int | None = None
        self.category_names: dict = {}

    def per_class(self) -> Any:
        """Per-category AP table (pandas DataFrame), like :meth:`detbench.eval.COCOeval.per_class`."""
        p = self.params
        return per_class_table(self.eval, p, p.areaRngLbl, list(p.catIds), self.category_names)

    def __str__(self) -> str:
        return self.summary

    def __repr__(self) -> str:
        return f"CocoResult(AP={self.stats[0]:.4f}, {self.n_images} images, {self.n_detections} detections)"


class CocoEvaluator:
    """Mergeable COCO bbox evaluation (see the module docstring for the rules).

    Parameters
    ----------
    gt:
        the ground truth: a path / JSON bytes / dict (loaded with
        :func:`~detbench.eval.load_coco`), a :class:`~detbench.eval.CocoDataset`
        or a pycocotools-style ``COCO`` object.
    params:
        a :class:`~detbench.eval.Params` (default: COCO's, all images and
        categories of ``gt``). Only ``useCats=1``.
    threads:
        threads for ``compute`` (default ``numba.get_num_threads()``;
        categories from one queue, results identical for any count).
        ``update`` runs in the calling thread (a training loop has its own).
    duplicates:
        ``"error"`` (default): an image that already has detections (in an
        ``update`` or a ``merge``) raises ``ValueError``. ``"first"``: it keeps
        the detections it has and the repeated ones are dropped - for
        ``DistributedSampler``'s padding, where a few images are evaluated again
        by another rank with the same model; the result then does not depend
        on the merge order only if the repeated detections are identical.
    pycocotools_quirks:
        True (default, as :class:`~detbench.eval.COCOeval`): ``stats[0]`` follows
        pycocotools' maxDets=100 rule (with 3 maxDets). The id quirks (annotation
        id 0 never matched) do not arise: the state holds no annotation ids, so
        the evaluator equals ``COCOeval`` on sets whose ids are positive.
    """

    def __init__(
        self,
        gt: Any,
        params: Params | None = None,
        *,
        threads: int | None = None,
        duplicates: str = "error",
        pycocotools_quirks: bool = True,
    ) -> None:
        self.threads = None if threads is None else num_threads(threads)
        self.pycocotools_quirks = check_bool(pycocotools_quirks, "pycocotools_quirks")
        if isinstance(gt, (str, bytes, os.PathLike, dict)):
            gt = load_coco(gt)
        if not (hasattr(gt, "getImgIds") and hasattr(gt, "getCatIds")):
            raise ValueError(f"gt: expected a path, a dict, a CocoDataset or a COCO object, got {type(gt).__name__}")
        if params is not None and not isinstance(params, Params):
            raise ValueError(f"params: expected a detbench.eval.Params, got {type(params).__name__}")
        p = copy.deepcopy(params) if params is not None else Params()  # the caller's object is not modified
        if not p.imgIds:
            p.imgIds = gt.getImgIds()
        if not p.catIds:
            p.catIds = gt.getCatIds()
        if not p.useCats:
            raise ValueError("params.useCats: CocoEvaluator supports useCats=1 only")
        p.imgIds = sorted_unique_ids(p.imgIds)
        p.catIds = sorted_unique_ids(p.catIds)
        try:
            p.maxDets = sorted(int(m) for m in p.maxDets)
        except (TypeError, ValueError):
            raise ValueError(f"params.maxDets: expected integers, got {p.maxDets!r}") from None
        if not p.maxDets or p.maxDets[0] < 0:
            raise ValueError(f"params.maxDets: expected non-negative integers, got {p.maxDets!r}")
        if _float_vector(p.iouThrs, "iouThrs").size == 0:
            raise ValueError("params.iouThrs: must not be empty")
        _float_vector(p.recThrs, "recThrs")
        area = np.asarray(p.areaRng, dtype=np.float64)
        if area.ndim != 2 or area.shape[1] != 2 or area.shape[0] == 0 or np.isnan(area).any():
            raise ValueError(f"params.areaRng: expected shape (A, 2) numbers, got {p.areaRng!r}")
        self.params = p
        self._st = make_settings(p)
        self._img_ids = list(p.imgIds)
        self._cat_ids = list(p.catIds)
        self._seen = np.zeros(len(self._img_ids), np.uint8)
        self._chunks: list[dict] = []
        self._img_dets = np.zeros(len(self._img_ids), np.int32)  # detections evaluated per image
        self.duplicates = check_choice(duplicates, "duplicates", ("error", "first"))
        self._npig = np.zeros((len(self._cat_ids), area.shape[0]), np.int64)
        self._gt = None
        self.attach(gt, _count=True)

    # ------------------------------------------------------------ ground truth
    def attach(self, gt: Any, *, _count: bool = False) -> CocoEvaluator:
        """(Re)attach the ground truth (needed by :meth:`update` after ``load``/unpickling); returns self."""
        if isinstance(gt, (str, bytes, os.PathLike, dict)):
            gt = load_coco(gt)
        if not _count:
            imgs = set(gt.getImgIds())
            if not set(self._img_ids) <= imgs or not set(self._cat_ids) <= set(gt.getCatIds()):
                raise ValueError("gt: its images/categories do not include this evaluator's imgIds/catIds")
        ann = annotations_of(gt, "gt")
        ip = positions(ann.image_id, self._img_ids)
        cp = positions(ann.category_id, self._cat_ids)
        keep = np.flatnonzero((ip >= 0) & (cp >= 0))
        keep = keep[np.argsort(ip[keep], kind="stable")]  # image by image, input order inside
        crowd = ann.iscrowd.view(np.uint8) if ann.iscrowd is not None else np.zeros(len(ann), np.uint8)
        img_off = np.zeros(len(self._img_ids) + 1, np.int64)
        np.cumsum(np.bincount(ip[keep], minlength=len(self._img_ids)), out=img_off[1:])
        self._gt = gt
        if isinstance(gt, CocoDataset):
            self._cat_names = gt.category_names
        elif isinstance(getattr(gt, "cats", None), dict):
            self._cat_names = {k: v.get("name", str(k)) for k, v in gt.cats.items()}
        self._g = {
            "rows": keep,
            "off": img_off,
            "cat": cp[keep],
            "box": np.ascontiguousarray(ann.bbox[keep], dtype=np.float64),
            "area": np.ascontiguousarray(ann.area[keep], dtype=np.float64),
            "crowd": np.ascontiguousarray(crowd[keep]),
            "all_img_ids": ann.image_id,
        }
        self._all_imgs = _Lookup(gt.getImgIds())
        self._all_cats = _Lookup(gt.getCatIds())
        self._img_pos = _Lookup(self._img_ids)
        self._cat_pos = _Lookup(self._cat_ids)
        if _count:
            area = self._st.area_rng
            g_area, g_crowd, g_cat = self._g["area"], self._g["crowd"], self._g["cat"]
            for a in range(area.shape[0]):
                ok = (g_crowd == 0) & ~(g_area < area[a, 0]) & ~(g_area > area[a, 1])
                self._npig[:, a] = np.bincount(g_cat[ok], minlength=len(self._cat_ids))
        return self

    def empty_like(self) -> CocoEvaluator:
        """A new evaluator with nothing added, sharing this one's ground truth and parameters (cheap)."""
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)  # not copy.copy: that would go through __getstate__ (no ground truth)
        out._chunks = []
        out._seen = np.zeros_like(self._seen)
        out._img_dets = np.zeros_like(self._img_dets)
        return out

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for k in ("_gt", "_g", "_all_imgs", "_all_cats", "_img_pos", "_cat_pos"):
            state.pop(k, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._gt = None

    # ------------------------------------------------------------------ update
    @with_small_pages
    def update(
        self,
        results: Any = None,
        *,
        image_ids: Any = None,
        category_ids: Any = None,
        boxes: Any = None,
        scores: Any = None,
    ) -> None:
        """Match a batch and keep its per-detection results.

        ``results``: a list of COCO result dicts (``image_id``, ``category_id``,
        ``bbox`` xywh, ``score``), a results file, or an ``(N, 7)`` array
        (validated by :func:`~detbench.eval.load_results`); or the arrays
        ``image_ids`` (N,), ``category_ids`` (N,), ``boxes`` (N, 4) ``[x, y, w, h]``
        and ``scores`` (N,). Images of ``gt`` outside ``params.imgIds`` and
        categories outside ``params.catIds`` are not evaluated; unknown ones raise.
        """
        if getattr(self, "_gt", None) is None:
            raise ValueError("update: no ground truth attached (a loaded/unpickled evaluator): call attach(gt) first")
        arrays = image_ids is not None or category_ids is not None or boxes is not None or scores is not None
        if arrays:
            if results is not None:
                raise ValueError("update: pass either results or the arrays, not both")
            img, cat, box, score = self._check_arrays(image_ids, category_ids, boxes, scores)
            area = box[:, 2] * box[:, 3]
        else:
            if results is None:
                raise ValueError("update: results is missing")
            if isinstance(results, list) and not results:
                return
            ds = results if isinstance(results, CocoDataset) else load_results(results, self._gt)
            a = ds.annotations
            img, cat, box, score, area = a.image_id, a.category_id, a.bbox, a.score, a.area
        self._add(img, cat, np.ascontiguousarray(box, dtype=np.float64), score, area)

    def _check_arrays(self, image_ids: Any, category_ids: Any, boxes: Any, scores: Any) -> tuple:
        return check_result_arrays(self._all_imgs, self._all_cats, image_ids, category_ids, boxes, scores)

    def _add(self, img: np.ndarray, cat: np.ndarray, box: np.ndarray, score: np.ndarray, area: np.ndarray) -> None:
        ip = self._img_pos(img)
        cp = self._cat_pos(cat)
        ub = np.unique(ip[ip >= 0])
        if ub.size == 0:
            return
        dup = ub[self._seen[ub] != 0]
        if dup.size and self.duplicates == "first":  # keep what the evaluator has for these images
            ip = np.where(self._seen[np.maximum(ip, 0)] != 0, -1, ip)
            ub = np.unique(ip[ip >= 0])
            if ub.size == 0:
                return
        elif dup.size:
            raise ValueError(
                f"update: image {self._img_ids[int(dup[0])]!r} already has detections in this evaluator "
                f"({dup.size} image(s) repeated); all detections of an image must come in one update "
                "(duplicates='first' keeps the first ones, e.g. for DistributedSampler's padding)"
            )
        ipl = np.where(ip >= 0, np.searchsorted(ub, ip), -1).astype(np.int64)
        ipl[cp < 0] = -1
        n_img, n_cat = ub.size, len(self._cat_ids)
        # ground truths of the batch's images (image by image, input order inside)
        off = self._g["off"]
        starts, ends = off[ub], off[ub + 1]
        cnt = ends - starts
        sel = np.repeat(starts - np.cumsum(cnt) + cnt, cnt) + np.arange(int(cnt.sum()))
        gip = np.repeat(np.arange(n_img, dtype=np.int64), cnt)
        gcp = self._g["cat"][sel]
        g_rows = Rows(self._g["box"][sel], self._g["area"][sel], None, self._g["crowd"][sel], None, None)
        g_off, g = group_rows(gip, gcp, n_img, n_cat, True, np.arange(sel.size, dtype=np.int64), g_rows, threads=1)
        d_rows = Rows(box, np.asarray(area, np.float64), np.asarray(score, np.float64), None, None, None)
        d_off, d = group_rows(ipl, cp, n_img, n_cat, True, np.arange(ipl.size, dtype=np.int64), d_rows, threads=1)
        seg_off = d_off[::n_img].copy()
        gorder = segmented_desc_order(d.score, seg_off, threads=1)
        gr = Groups(
            n_img,
            g_off,
            g.box,
            g.area,
            g.flag,
            np.ones(g.src.size, np.uint8),
            d_off,
            d.box,
            d.area,
            d.score,
            np.ones(d.src.size, np.uint8),
            d.img,
            gorder,
            seg_off,
            np.zeros(0, np.float64),  # d_iou: none, box IoUs are computed by the matcher
            np.zeros(0, np.int64),
        )
        st = self._st
        max_last = int(st.max_dets[-1])
        sizes = sizes_of(gr, max_last)
        n_rows = int(np.minimum(np.diff(d_off), max_last).sum())
        A, W = st.area_rng.shape[0], (st.iou_thr.size + 63) // 64
        rows = MatchRows(
            np.empty(n_rows, np.int64),
            np.empty(n_rows, np.int64),
            np.empty(n_rows, np.int64),
            np.empty(n_rows, np.float64),
            np.empty((n_rows, A, W), np.uint64),
            np.empty((n_rows, A, W), np.uint64),
        )
        if n_rows:
            collect_batch(gr, st, make_segment_matches(st, sizes[0]), make_match_scratch(gr, st, sizes), rows)
        self._chunks.append(self._compact(rows, ub))
        self._seen[ub] = 1
        self._img_dets[ub] += np.bincount(ipl[ipl >= 0], minlength=ub.size).astype(np.int32)

    def _compact(self, rows: MatchRows, ub: np.ndarray) -> dict:
        T, A = self._st.iou_thr.size, self._st.area_rng.shape[0]
        bd = _bits_dtype(T)
        shape = (rows.tp.shape[0], A) if bd is not np.uint64 or T <= 64 else rows.tp.shape
        return {
            "cat": rows.cat.astype(np.int16 if len(self._cat_ids) < 2**15 else np.int32),
            "img": ub[rows.img].astype(np.int32 if len(self._img_ids) < 2**31 else np.int64),
            "rank": rows.rank.astype(_uint_for(int(self._st.max_dets[-1]))),
            "score": rows.score,
            "tp": rows.tp.astype(bd).reshape(shape),
            "fp": rows.fp.astype(bd).reshape(shape),
        }

    # ------------------------------------------------------------- merge etc.
    def _state(self) -> dict:
        """The stored rows as one set of arrays (concatenates the batches once)."""
        if len(self._chunks) != 1:
            if not self._chunks:
                self._chunks = [self._compact(self._empty_rows(), np.zeros(0, np.int64))]
            else:
                self._chunks = [{k: np.concatenate([c[k] for c in self._chunks]) for k in _STATE}]
        return self._chunks[0]

    def _empty_rows(self) -> MatchRows:
        A, W = self._st.area_rng.shape[0], (self._st.iou_thr.size + 63) // 64
        e = np.zeros(0, np.int64)
        return MatchRows(e, e, e, np.zeros(0), np.zeros((0, A, W), np.uint64), np.zeros((0, A, W), np.uint64))

    @property
    def nbytes(self) -> int:
        """Bytes held by the state (rows, images seen, positive counts)."""
        rows = sum(c[k].nbytes for c in self._chunks for k in _STATE)
        return rows + self._seen.nbytes + self._img_dets.nbytes + self._npig.nbytes

    def __len__(self) -> int:
        """Kept detections stored."""
        return sum(c["score"].size for c in self._chunks)

    def _check_compatible(self, other: CocoEvaluator) -> None:
        if not isinstance(other, CocoEvaluator):
            raise ValueError(f"other: expected a CocoEvaluator, got {type(other).__name__}")
        a, b = self._st, other._st
        same = (
            np.array_equal(a.iou_thr, b.iou_thr)
            and np.array_equal(a.area_rng, b.area_rng)
            and np.array_equal(a.max_dets, b.max_dets)
            and np.array_equal(a.rec_thr, b.rec_thr)
            and self._img_ids == other._img_ids
            and self._cat_ids == other._cat_ids
            and np.array_equal(self._npig, other._npig)
        )
        if not same:
            raise ValueError("other: evaluated with different ground truth or parameters; cannot merge")

    def merge(self, other: CocoEvaluator) -> CocoEvaluator:
        """Add the state of ``other`` (same ground truth and parameters, disjoint images); returns self."""
        self._check_compatible(other)
        both = np.flatnonzero(self._seen & other._seen)
        if both.size and self.duplicates == "first":  # keep this evaluator's rows for those images
            if other is self:
                return self
            drop = np.zeros(len(self._img_ids), bool)
            drop[both] = True
            chunks = [{k: c[k][~drop[c["img"]]] for k in _STATE} for c in other._chunks]
            self._chunks.extend(chunks)
            self._img_dets = self._img_dets + np.where(drop, 0, other._img_dets).astype(np.int32)
            self._seen = self._seen | other._seen
            return self
        if both.size:
            raise ValueError(
                f"other: image {self._img_ids[int(both[0])]!r} has detections in both evaluators "
                f"({both.size} image(s)); every image must be evaluated by one evaluator only"
            )
        if other is self:
            return self
        self._chunks.extend(other._chunks)
        self._seen = self._seen | other._seen
        self._img_dets = self._img_dets + other._img_dets
        return self

    # ----------------------------------------------------------------- compute
    @with_small_pages
    def compute(self) -> CocoResult:
        """Accumulate the stored matches: a :class:`CocoResult` equal to the one-shot COCOeval's."""
        s = self._state()
        st = self._st
        A, T, M = st.area_rng.shape[0], st.iou_thr.size, st.max_dets.size
        W = (T + 63) // 64
        K = len(self._cat_ids)
        # pycocotools' order: category, then score (descending), image, rank. Each batch's rows are
        # sorted by (category, image, rank) and an image lives in one batch, so a stable sort by
        # (category, image) (a merge of runs) then a stable descending sort by score per category
        key = s["cat"].astype(np.int64) * max(len(self._img_ids), 1) + s["img"]
        by_img = np.argsort(key, kind="stable")
        cat_off = np.searchsorted(s["cat"][by_img], np.arange(K + 1)).astype(np.int64)
        order = by_img[segmented_desc_order(np.ascontiguousarray(s["score"][by_img]), cat_off)]
        del key, by_img
        n = order.size
        tp = s["tp"].reshape(n, A * W)
        fp = s["fp"].reshape(n, A * W)
        seg_len = np.diff(cat_off)
        max_len = max(int(seg_len.max()) if K else 0, 1)

        def scratch() -> RowScratch:
            acc = AccScratch(
                np.empty((T, M, max_len), np.float64),
                np.empty((T, M, max_len), np.float64),
                np.zeros((M, T), np.int64),
                np.zeros((M, T), np.int64),
                np.zeros(M, np.int64),
            )
            z = np.zeros(M, np.int64)
            ln = max_len * A * W
            return RowScratch(
                np.empty(max_len, np.int64),
                np.arange(max_len),
                np.zeros(max_len),
                z,
                z * 0.0,
                np.empty(max_len),
                np.empty(ln, np.uint64),
                np.empty(ln, np.uint64),
                acc,
            )

        out = make_curves(K, st)
        cats = np.argsort(-seg_len, kind="stable").astype(np.int64)  # largest first
        rank, score, npig = s["rank"], s["score"], self._npig
        run_queue(
            K,
            lambda j, ws: accumulate_rows(st, cats[j : j + 1], order, cat_off, rank, score, tp, fp, npig, ws, out),
            threads=1 if n < _MIN_PARALLEL_DETS else self.threads,
            make_state=scratch,
        )
        p = self.params
        precision = out.precision.transpose(2, 4, 0, 1, 3)
        ev = {
            "params": p,
            "counts": list(precision.shape),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "precision": precision,
            "recall": out.recall.transpose(2, 0, 1, 3),
            "scores": out.scores.transpose(2, 4, 0, 1, 3),
        }
        # the summary follows COCOeval's default: pycocotools' stats[0]-at-maxDets=100 rule when there
        # are the 3 maxDets its summarize() reads (pycocotools_quirks=False: the corrected summary)
        stats, lines = compute_stats(ev, p, getattr(self, "pycocotools_quirks", True) and len(p.maxDets) >= 3)
        res = CocoResult(ev, stats, lines, int(self._seen.sum()), int(self._img_dets.sum()), n)
        res.category_names = dict(getattr(self, "_cat_names", {}))
        return res

    # ------------------------------------------------------------ save / load
    def save(self, path: Any) -> None:
        """Write the state to a compressed ``.npz`` (ids, parameters, rows, images seen, positives)."""
        s = self._state()
        p = self.params
        np.savez_compressed(
            path,
            img_ids=_ids_array(self._img_ids, "image ids"),
            cat_ids=_ids_array(self._cat_ids, "category ids"),
            iou_thrs=np.asarray(p.iouThrs, np.float64),
            rec_thrs=np.asarray(p.recThrs, np.float64),
            max_dets=np.asarray(p.maxDets, np.int64),
            area_rng=np.asarray(p.areaRng, np.float64),
            area_lbl=np.asarray(list(p.areaRngLbl), dtype=str),
            seen=np.packbits(self._seen),
            npig=self._npig,
            img_dets=self._img_dets,
            duplicates=np.asarray(self.duplicates),
            **{k: s[k] for k in _STATE},
        )

    @classmethod
    def load(cls, path: Any, gt: Any = None) -> CocoEvaluator:
        """Read a state written by :meth:`save`; with ``gt``, attach it (checked against the saved ids)."""
        with np.load(path, allow_pickle=False) as z:
            f = {k: z[k] for k in z.files}
        missing = [k for k in ("img_ids", "cat_ids", "npig", "seen", *_STATE) if k not in f]
        if missing:
            raise ValueError(f"path: {path!r} is not a CocoEvaluator state (missing {', '.join(missing)})")
        p = Params()
        p.imgIds = _ids_list(f["img_ids"])
        p.catIds = _ids_list(f["cat_ids"])
        p.iouThrs = f["iou_thrs"]
        p.recThrs = f["rec_thrs"]
        p.maxDets = f["max_dets"].tolist()
        p.areaRng = f["area_rng"].tolist()
        p.areaRngLbl = f["area_lbl"].tolist()
        self = cls.__new__(cls)
        self.threads = None
        self.params = p
        self._st = make_settings(p)
        self._img_ids = list(p.imgIds)
        self._cat_ids = list(p.catIds)
        self._seen = np.unpackbits(f["seen"], count=len(self._img_ids))
        self._npig = f["npig"]
        self._img_dets = f["img_dets"]
        self.duplicates = str(f["duplicates"])
        self._chunks = [{k: f[k] for k in _STATE}]
        self._gt = None
        if gt is not None:
            self.attach(gt)
        return self
