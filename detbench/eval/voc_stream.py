"""A mergeable VOC / PR evaluator: :func:`~detbench.eval.evaluate_pr` with ``update`` / ``merge`` / ``compute``.

::

    ev = VocEvaluator(gt, iou_thresholds=(0.5,), matching="voc")
    for batch in loader:
        ev.update(results_of(batch))        # COCO result dicts or arrays (xywh boxes)
    res = ev.compute()                      # a PRResult: ap_voc07, ap_voc, ap_coco101, curves, ...

Matching (the VOC devkit's rule, or pycocotools' with ``matching="coco"``)
depends only on the order of the detections inside their (image, class), so it
runs in ``update``; the state keeps per kept detection its class, image, rank
in its (image, class), score and one status byte (TP / FP / ignored) per IoU
threshold: **21 bytes per detection for one threshold** (+1 per further
threshold). ``compute`` sorts every class by decreasing score and accumulates.

Equal to the one-shot :func:`evaluate_pr` on the same ground truth and all
results, bit for bit, for any batch split and merge order: with
``matching="coco"`` always (ties in score go by image, then by the order inside
the image, in both); with ``matching="voc"`` the one-shot breaks ties in score
by the order of the whole results list, the streaming one by image (ground
truth order) then the order inside the image — the same whenever the results
list is grouped image by image in the ground truth's order, or has no ties
across images. As for :class:`~detbench.eval.CocoEvaluator`, all detections of
an image come in one ``update`` (a repeated image raises ``ValueError``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from detbench._validate import as_float_array, check_choice, check_int
from detbench.eval._grouping_kernels import group_keys
from detbench.eval._streaming_util import _Lookup, check_result_arrays
from detbench.eval._voc_kernels import pr_accumulate, pr_match
from detbench.eval.loader import CocoDataset, annotations_of, load_coco, load_results, sorted_unique_ids
from detbench.eval.voc import _REC101, VOC07_POINTS, PRCurves, PRDets, PRGts, PRResult, PRRule, _pr_scratch, _xyxy

__all__ = ["VocEvaluator"]

_STATE = ("cls", "img", "rank", "score", "status")


class VocEvaluator:
    """Mergeable :func:`~detbench.eval.evaluate_pr` on a COCO-format ground truth (see the module docstring).

    ``gt``: a path / dict / :class:`~detbench.eval.CocoDataset` / ``COCO``;
    ``iou_thresholds``, ``matching`` (``"voc"`` or ``"coco"``), ``plus_one``,
    ``max_dets``: as in :func:`~detbench.eval.evaluate_pr`. Difficult ground
    truths: ``iscrowd`` or a truthy ``difficult``/``ignore`` key.
    """

    def __init__(
        self,
        gt: Any,
        *,
        iou_thresholds: Any = (0.5,),
        matching: str = "voc",
        plus_one: bool = False,
        max_dets: int | None = None,
    ) -> None:
        if isinstance(gt, (str, bytes, os.PathLike, dict)):
            gt = load_coco(gt)
        self.matching = check_choice(matching, "matching", ("voc", "coco"))
        thr = as_float_array(iou_thresholds, "iou_thresholds", dtype=np.float64).reshape(-1)
        if thr.size == 0 or np.any((thr < 0) | (thr > 1)):
            raise ValueError(f"iou_thresholds: expected values in [0, 1], got {thr.tolist()}")
        self.iou_thresholds = thr
        self.plus_one = bool(plus_one)
        self.max_dets = None if max_dets is None else check_int(max_dets, "max_dets", low=1)
        # image order of evaluate_pr: file order of a CocoDataset, sorted ids of a COCO object
        self._img_ids = list(gt.image_ids) if isinstance(gt, CocoDataset) else sorted_unique_ids(gt.getImgIds())
        self._cat_ids = sorted_unique_ids(gt.getCatIds())
        if isinstance(gt, CocoDataset):
            self._names = gt.category_names
        else:
            self._names = {c: v.get("name", str(c)) for c, v in getattr(gt, "cats", {}).items()}
        self._gt = gt
        self._img_pos, self._cat_pos = _Lookup(self._img_ids), _Lookup(self._cat_ids)
        self._all_cats = _Lookup(gt.getCatIds())
        g = annotations_of(gt, "gt")
        ign = g.iscrowd.copy() if g.iscrowd is not None else np.zeros(len(g), bool)
        if g.difficult is not None:
            ign |= g.difficult
        crowd = g.iscrowd if g.iscrowd is not None else np.zeros(len(g), bool)
        gi, gc = self._img_pos(g.image_id), self._cat_pos(g.category_id)
        keep = np.flatnonzero((gi >= 0) & (gc >= 0))
        self._n_pos = np.bincount(gc[keep][~ign[keep]], minlength=len(self._cat_ids)).astype(np.int64)
        keep = keep[np.argsort(gi[keep], kind="stable")]  # image by image, input order inside
        off = np.zeros(len(self._img_ids) + 1, np.int64)
        np.cumsum(np.bincount(gi[keep], minlength=len(self._img_ids)), out=off[1:])
        self._g = {
            "off": off,
            "cls": gc[keep],
            "xyxy": np.ascontiguousarray(_xyxy(g.bbox[keep], "xywh"), dtype=np.float64),
            "xywh": np.ascontiguousarray(g.bbox[keep], dtype=np.float64),
            "ign": ign[keep].astype(np.uint8),
            "crowd": np.asarray(crowd)[keep].astype(np.uint8),
        }
        self._seen = np.zeros(len(self._img_ids), np.uint8)
        self._chunks: list[dict] = []

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for k in ("_gt", "_g", "_img_pos", "_cat_pos", "_all_cats"):
            state.pop(k, None)
        return state

    def update(
        self,
        results: Any = None,
        *,
        image_ids: Any = None,
        category_ids: Any = None,
        boxes: Any = None,
        scores: Any = None,
    ) -> None:
        """Match a batch: result dicts / a results file, or the arrays (``boxes`` xywh), as in CocoEvaluator."""
        if getattr(self, "_gt", None) is None:
            raise ValueError("update: no ground truth (an unpickled evaluator merges and computes only)")
        if results is None:
            img, cat, box, score = check_result_arrays(
                _Lookup(self._gt.getImgIds()), self._all_cats, image_ids, category_ids, boxes, scores
            )
        else:
            if isinstance(results, list) and not results:
                return
            a = load_results(results, self._gt).annotations
            img, cat, box, score = a.image_id, a.category_id, np.asarray(a.bbox, np.float64), a.score
        self._add(img, cat, box, np.asarray(score, np.float64))

    def _add(self, img: np.ndarray, cat: np.ndarray, box: np.ndarray, score: np.ndarray) -> None:
        di, dc = self._img_pos(img), self._cat_pos(cat)
        ub = np.unique(di[di >= 0])
        if ub.size == 0:
            return
        dup = ub[self._seen[ub] != 0]
        if dup.size:
            raise ValueError(
                f"update: image {self._img_ids[int(dup[0])]!r} already has detections in this evaluator; "
                "all detections of an image must come in one update"
            )
        n_img, n_cat = ub.size, len(self._cat_ids)
        dil = np.where(di >= 0, np.searchsorted(ub, di), -1).astype(np.int64)
        # ground truths of the batch, grouped by (class, image) in input order
        off = self._g["off"]
        starts, cnt = off[ub], off[ub + 1] - off[ub]
        sel = np.repeat(starts - np.cumsum(cnt) + cnt, cnt) + np.arange(int(cnt.sum()))
        gil = np.repeat(np.arange(n_img, dtype=np.int64), cnt)
        n_keys = n_img * n_cat
        g_off = np.zeros(n_keys + 1, np.int64)
        dest = np.empty(sel.size, np.int64)
        group_keys(gil, self._g["cls"][sel], n_img, n_cat, True, g_off, dest)
        perm = np.empty(sel.size, np.int64)
        perm[dest] = sel
        # detections: by (class, image), decreasing score, input order on ties; the maxDets cut
        idx = np.flatnonzero((dil >= 0) & (dc >= 0))
        idx = idx[np.lexsort((idx, -score[idx], dil[idx], dc[idx]))]
        key = dc[idx] * n_img + dil[idx]
        starts_k = np.r_[0, np.flatnonzero(key[1:] != key[:-1]) + 1] if idx.size else np.zeros(0, np.int64)
        rank = np.arange(idx.size) - np.repeat(starts_k, np.diff(np.r_[starts_k, idx.size]))
        if self.max_dets is not None:
            idx, rank = idx[rank < self.max_dets], rank[rank < self.max_dets]
        T = self.iou_thresholds.size
        status = np.empty((T, idx.size), np.int8)
        if idx.size:
            max_g = int(np.diff(g_off).max()) if n_keys else 0
            gg = {k: self._g[k][perm] for k in ("xyxy", "xywh", "ign", "crowd")}
            pr_match(
                PRDets(idx, np.ascontiguousarray(_xyxy(box, "xywh")), np.ascontiguousarray(box), dil, dc),
                PRGts(g_off, gg["xyxy"], gg["xywh"], gg["ign"], gg["crowd"]),
                PRRule(n_img, self.iou_thresholds, self.matching == "coco", self.plus_one),
                status,
                _pr_scratch(T, perm.size, max_g),
                np.empty((T, 0), np.int32),
            )
        self._chunks.append(
            {
                "cls": dc[idx].astype(np.int32),
                "img": ub[dil[idx]].astype(np.int32),
                "rank": rank.astype(np.int32),
                "score": score[idx].astype(np.float64),
                "status": np.ascontiguousarray(status.T),
            }
        )
        self._seen[ub] = 1

    def _state(self) -> dict:
        if len(self._chunks) != 1:
            T = self.iou_thresholds.size
            empty = {"cls": np.zeros(0, np.int32), "img": np.zeros(0, np.int32), "rank": np.zeros(0, np.int32)}
            empty.update(score=np.zeros(0), status=np.zeros((0, T), np.int8))
            parts = self._chunks or [empty]
            self._chunks = [{k: np.concatenate([c[k] for c in parts]) for k in _STATE}]
        return self._chunks[0]

    @property
    def nbytes(self) -> int:
        """Bytes held by the state."""
        return sum(c[k].nbytes for c in self._chunks for k in _STATE) + self._seen.nbytes + self._n_pos.nbytes

    def merge(self, other: VocEvaluator) -> VocEvaluator:
        """Add the state of ``other`` (same ground truth and options, disjoint images); returns self."""
        if not isinstance(other, VocEvaluator):
            raise ValueError(f"other: expected a VocEvaluator, got {type(other).__name__}")
        same = (
            np.array_equal(self.iou_thresholds, other.iou_thresholds)
            and (self.matching, self.plus_one, self.max_dets) == (other.matching, other.plus_one, other.max_dets)
            and self._img_ids == other._img_ids
            and self._cat_ids == other._cat_ids
            and np.array_equal(self._n_pos, other._n_pos)
        )
        if not same:
            raise ValueError("other: evaluated with different ground truth or options; cannot merge")
        both = np.flatnonzero(self._seen & other._seen)
        if both.size:
            raise ValueError(f"other: image {self._img_ids[int(both[0])]!r} has detections in both evaluators")
        if other is not self:
            self._chunks = self._chunks + other._chunks
            self._seen = self._seen | other._seen
        return self

    def compute(self) -> PRResult:
        """The :class:`~detbench.eval.voc.PRResult` of everything added (see the module docstring)."""
        s = self._state()
        n_cat, T = len(self._cat_ids), self.iou_thresholds.size
        order = np.lexsort((s["rank"], s["img"], -s["score"], s["cls"]))
        cls_off = np.searchsorted(s["cls"][order], np.arange(n_cat + 1)).astype(np.int64)
        status = np.ascontiguousarray(s["status"][order].T)
        scores = np.ascontiguousarray(s["score"][order])
        out = PRCurves(*(np.empty((n_cat, T)) for _ in PRCurves._fields))
        pr_accumulate(status, scores, cls_off, self._n_pos, _REC101, VOC07_POINTS["tenths"], out)
        return PRResult(
            iou_thresholds=self.iou_thresholds.copy(),
            category_ids=list(self._cat_ids),
            names=dict(self._names),
            matching=self.matching,
            n_gt=self._n_pos.copy(),
            n_det=np.diff(cls_off),
            ap_coco101=out.ap_coco,
            ap_voc07=out.ap_voc07,
            ap_voc=out.ap_voc,
            f1=out.f1,
            f1_threshold=out.f1_thr,
            f1_precision=out.f1_p,
            f1_recall=out.f1_r,
            _status=status,
            _scores=scores,
            _cls_off=cls_off,
        )
