"""LVIS federated evaluation: lvis-api's ``LVISEval`` on detbench's COCO kernels.

::

    from detbench.eval import LVISEval        # instead of lvis.LVISEval
    E = LVISEval("lvis_v1_val.json", "results.json", "bbox")   # or "segm"
    E.run()
    E.print_results()
    E.get_results()["AP"], E.eval["precision"]     # (T, R, K, A)

``lvis_gt``: a path, JSON bytes, ``dict``, :class:`~detbench.eval.lvis_data.LVIS`
or lvis-api's ``LVIS``; ``lvis_dt``: a path, a list of result dicts, an ``(N, 7)``
array, :class:`~detbench.eval.lvis_data.LVISResults` or lvis-api's
``LVISResults``.

Numbers
-------
``eval["precision"]`` (T x R x K x A), ``eval["recall"]`` (T x K x A) and
every entry of ``get_results()`` equal lvis-api 0.5.3's. Its rules, each
reproduced:

* Results keep at most 300 detections per image across categories
  (:class:`~detbench.eval.lvis_data.LVISResults`); evaluation then keeps
  every detection of an (image, category) pair (no per-category maxDets).
* Annotations (ground truths and detections) are evaluated only with an
  area strictly between 0 and infinity (lvis-api's ``get_ann_ids``).
* Federated filter: a detection counts only where its category is present in
  its image (a ground truth of it survives the area filter) or listed in the
  image's ``neg_category_ids``; the others are dropped before matching.
* A detection of a category in its image's ``not_exhaustive_category_ids``
  that matches no ground truth is ignored (never a false positive).
* No crowd regions (``iscrowd`` is not read); a ground truth with a truthy
  ``ignore`` is ignored; ground truths of id 0 are never counted as matched
  (lvis-api, like pycocotools, records matches by id with 0 meaning "none").
* Matching and accumulation are pycocotools' (greedy from ``min(t, 1 - 1e-10)``,
  inclusive area bounds, ``np.spacing(1)`` in the precision, ``searchsorted``
  recall sampling, -1 for a (category, area) without positives).
* AP/AP50/AP75/APs/APm/APl and APr/APc/APf (categories grouped by their
  ``frequency``) are means of the precision entries > -1; AR@300 and
  ARs/ARm/ARl@300 of the recall entries > -1.

Differences (no number changes): ``use_cats`` must stay 1 (lvis-api's
``use_cats=0`` evaluates nothing), duplicate ``params.cat_ids`` raise
ValueError, the per-image records (``eval_imgs``), ``ious`` and
``eval["dt_pointers"]`` are not kept, ``eval["precision"]``/``["recall"]`` are
transposed views of the kernels' buffers, segm reads the masks of the detections
that meet a ground truth of their category only (lvis-api converts every selected
detection's mask, those the federated rule drops included), and bad
input raises ValueError naming the problem (lvis-api: KeyError / AssertionError),
e.g. a corrupt or wrongly sized mask, results with boxes only for segm, a
category without ``frequency``, a result of an unknown image or category. The work is detbench's COCO
pipeline (:mod:`~detbench.eval.grouping`, :mod:`~detbench.eval.matching`,
:mod:`~detbench.eval.accumulate`) with the federated filter applied to the
grouped arrays and the not-exhaustive flag carried per detection
(``Groups.d_nexh``); segm IoUs are mask IoUs on run lengths (:mod:`detbench.masks`).
"""

from __future__ import annotations

import datetime
import math
import warnings
from collections import OrderedDict
from typing import Any

import numpy as np

from detbench._pages import with_small_pages
from detbench._parallel import num_threads
from detbench._sort import segmented_desc_order
from detbench.eval.accumulate import evaluate_curves
from detbench.eval.annotations import positions
from detbench.eval.grouping import Rows, group_rows
from detbench.eval.lvis_analysis import LVISAnalysisMixin
from detbench.eval.lvis_data import LVIS, LVISResults
from detbench.eval.matching import Groups, Settings
from detbench.eval.segm import group_mask_ious
from detbench.masks.convert import segmentations_to_rles

__all__ = ["LVISEval", "Params"]

_FREQUENCIES = ("r", "c", "f")


class Params:
    """lvis-api's evaluation parameters (same names and defaults).

    img_ids, cat_ids: evaluated ids (default: all of the ground truth, sorted);
    iou_thrs ``np.linspace(.5, .95, 10)``; rec_thrs ``np.linspace(0, 1, 101)``;
    max_dets 300 (a label: the limit is :class:`LVISResults`' ``max_dets``);
    area_rng / area_rng_lbl ``all, small, medium, large``; use_cats 1;
    img_count_lbl ``["r", "c", "f"]``; iou_type.
    """

    def __init__(self, iou_type: str) -> None:
        self.img_ids: list = []
        self.cat_ids: list = []
        self.iou_thrs = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
        self.rec_thrs = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
        self.max_dets = 300
        self.area_rng = [[0**2, 1e5**2], [0**2, 32**2], [32**2, 96**2], [96**2, 1e5**2]]
        self.area_rng_lbl = ["all", "small", "medium", "large"]
        self.use_cats = 1
        self.img_count_lbl = ["r", "c", "f"]
        self.iou_type = iou_type


def _vector(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"params.{name}: expected a sequence of numbers, got {x!r}") from None
    if arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(f"params.{name}: expected a non-empty sequence of finite numbers, got {arr.tolist()}")
    return arr


class LVISEval(LVISAnalysisMixin):
    """Drop-in for lvis-api's ``LVISEval`` (see the module docstring).

    Parameters
    ----------
    lvis_gt, lvis_dt:
        ground truth and results (paths, dicts / result lists, detbench or lvis-api objects).
    iou_type:
        ``"segm"`` (lvis-api's default) or ``"bbox"``.
    threads:
        threads for matching and accumulation (default ``numba.get_num_threads()``); results do not depend on it.

    Attributes: ``params``, ``eval`` (``params``, ``counts``, ``date``,
    ``precision`` (T, R, K, A), ``recall`` (T, K, A)), ``results`` (OrderedDict),
    ``freq_groups`` (category positions per frequency), ``lvis_gt``, ``lvis_dt``.
    """

    def __init__(self, lvis_gt: Any, lvis_dt: Any, iou_type: str = "segm", *, threads: int | None = None) -> None:
        if iou_type not in ("bbox", "segm"):
            raise ValueError(f"iou_type: expected 'bbox' or 'segm', got {iou_type!r}")
        self.lvis_gt = lvis_gt if isinstance(lvis_gt, LVIS) else LVIS(lvis_gt)
        if isinstance(lvis_dt, LVISResults):
            if lvis_dt.gt is not self.lvis_gt and lvis_dt.gt.image_ids != self.lvis_gt.image_ids:
                raise ValueError("lvis_dt: these LVISResults were loaded against another ground truth")
            self.lvis_dt = lvis_dt
        else:
            self.lvis_dt = LVISResults(self.lvis_gt, lvis_dt)
        self.threads = threads if threads is None else num_threads(threads)
        self.params = Params(iou_type=iou_type)
        self.params.img_ids = sorted(self.lvis_gt.get_img_ids())
        self.params.cat_ids = sorted(self.lvis_gt.get_cat_ids())
        self.eval: dict = {}
        self.results: OrderedDict = OrderedDict()
        self.freq_groups: list = []

    # ------------------------------------------------------------ evaluate
    @with_small_pages
    def evaluate(self) -> None:
        """Group, filter (federated rule) and match every (category, image); accumulation runs here too."""
        p = self.params
        if p.iou_type not in ("bbox", "segm"):
            raise ValueError(f"params.iou_type: expected 'bbox' or 'segm', got {p.iou_type!r}")
        if p.use_cats != 1:
            raise ValueError("params.use_cats: only 1 is supported (lvis-api's use_cats=0 evaluates nothing)")
        p.img_ids = list(np.unique(p.img_ids))
        cat_ids = list(p.cat_ids)
        if len(set(cat_ids)) != len(cat_ids):
            raise ValueError("params.cat_ids: contains duplicates")
        gt = self.lvis_gt
        img_pos = positions(np.asarray(p.img_ids, dtype=object if _non_numeric(p.img_ids) else np.float64),
                            gt.image_ids)  # fmt: skip
        if (img_pos < 0).any():
            bad = p.img_ids[int(np.flatnonzero(img_pos < 0)[0])]
            bad = bad.item() if isinstance(bad, np.generic) else bad
            raise ValueError(f"params.img_ids: image {bad!r} is not in the ground truth")
        self.freq_groups = self._freq_groups(cat_ids)
        self._settings = self._make_settings(p)
        self._groups = self._group(p.img_ids, img_pos, cat_ids)
        self._accumulate_core()

    def _freq_groups(self, cat_ids: list) -> list:
        cats = self.lvis_gt.cats
        groups: list = [[] for _ in self.params.img_count_lbl]
        for k, c in enumerate(cat_ids):
            cat = cats.get(c)
            if cat is None:
                raise ValueError(f"params.cat_ids: category {c!r} is not in the ground truth")
            f = cat.get("frequency")
            if f not in self.params.img_count_lbl:
                raise ValueError(
                    f"{self.lvis_gt.source}: category {c!r} has frequency {f!r}; expected one of "
                    f"{list(self.params.img_count_lbl)} (LVIS' rare / common / frequent groups)"
                )
            groups[self.params.img_count_lbl.index(f)].append(k)
        return groups

    @staticmethod
    def _make_settings(p: Params) -> Settings:
        thr = np.array([min(float(t), 1 - 1e-10) for t in _vector(p.iou_thrs, "iou_thrs")], np.float64)
        rec = _vector(p.rec_thrs, "rec_thrs")
        try:
            area = np.ascontiguousarray(np.asarray(p.area_rng, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"params.area_rng: expected [[lo, hi], ...] numbers, got {p.area_rng!r}") from None
        if area.ndim != 2 or area.shape[1] != 2 or area.shape[0] == 0 or np.isnan(area).any():
            raise ValueError(f"params.area_rng: expected shape (A, 2) with A >= 1 and no NaN, got {area.tolist()}")
        if len(p.area_rng_lbl) != area.shape[0]:
            raise ValueError(f"params.area_rng_lbl: {len(p.area_rng_lbl)} labels for {area.shape[0]} area ranges")
        return Settings(thr, area, np.zeros(1, np.int64), rec, bool(np.all(np.diff(rec) >= 0)))

    def _group(self, img_ids: list, img_pos: np.ndarray, cat_ids: list) -> Groups:
        gt, dt = self.lvis_gt, self.lvis_dt
        n_img, n_cat = len(img_ids), len(cat_ids)
        g, d = gt.annotations, dt.annotations
        # image position in the evaluated list, per ground-truth image position
        eval_of = np.full(len(gt.image_ids), -1, np.int64)
        eval_of[img_pos] = np.arange(n_img)
        ipg = eval_of[positions(g.image_id, gt.image_ids)]
        cpg = positions(g.category_id, cat_ids)
        ok = (g.area > 0) & (g.area < math.inf)
        ipg = np.where(ok & (cpg >= 0), ipg, -1)
        g_flag = (gt.ignore.astype(np.uint8) * 2) if len(g) else np.zeros(0, np.uint8)
        g_off, gg = group_rows(
            ipg, cpg, n_img, n_cat, True, np.arange(len(g)), Rows(g.bbox, g.area, None, g_flag, None, None),
            threads=self.threads,
        )  # fmt: skip
        # federated filter: (image, category) pairs with a ground truth or in the image's negative list
        fed = (np.diff(g_off) > 0).astype(np.uint8)
        nexh = np.zeros(n_cat * n_img, np.uint8)
        neg_c, neg_i, nel_c, nel_i = [], [], [], []
        for i, k in enumerate(img_pos.tolist()):
            im = gt.images[k]
            neg = im["neg_category_ids"]
            nel = im["not_exhaustive_category_ids"]
            neg_c += neg
            neg_i += [i] * len(neg)
            nel_c += nel
            nel_i += [i] * len(nel)
        for c_list, i_list, out in ((neg_c, neg_i, fed), (nel_c, nel_i, nexh)):
            cp = positions(np.asarray(c_list, dtype=object if _non_numeric(c_list) else np.float64), cat_ids)
            ip = np.asarray(i_list, np.int64)
            out[cp[cp >= 0] * n_img + ip[cp >= 0]] = 1
        ipd = eval_of[dt.img_pos]
        cpd = positions(d.category_id, cat_ids)
        ok = (d.area > 0) & (d.area < math.inf) & (ipd >= 0) & (cpd >= 0)
        key = np.where(ok, cpd * n_img + ipd, 0)
        ok &= fed[key] != 0 if key.size else ok
        ipd = np.where(ok, ipd, -1)
        d_off, dd = group_rows(
            ipd, cpd, n_img, n_cat, True, np.arange(len(d)), Rows(d.bbox, d.area, d.score, None, None, None),
            threads=self.threads,
        )  # fmt: skip
        d_nexh = nexh[cpd[dd.src] * n_img + dd.img] if dd.src.size else np.zeros(0, np.uint8)
        self._g_src, self._d_src = gg.src, dd.src  # annotation rows of the groups (analyses: lvis_analysis)
        seg_off = d_off[::n_img].copy() if n_img else np.zeros(n_cat + 1, np.int64)
        gorder = segmented_desc_order(dd.score, seg_off, threads=self.threads)
        ids = g.ids[gg.src]
        g_idok = (ids != 0) if ids.dtype != object else np.array([bool(v) for v in ids.tolist()], bool)
        d_iou, d_iou_off = np.zeros(0, np.float64), np.zeros(0, np.int64)
        if self.params.iou_type == "segm":
            d_iou, d_iou_off = self._mask_ious(gg.src, g_off, dd.src, d_off)
        max_group = int(np.diff(d_off).max()) if d_off.size > 1 else 0
        self._settings = self._settings._replace(max_dets=np.array([max(max_group, 1)], np.int64))
        return Groups(
            n_img, g_off, gg.box, gg.area, gg.flag, g_idok.view(np.uint8), d_off, dd.box, dd.area, dd.score,
            np.ones(dd.src.size, np.uint8), dd.img, gorder, seg_off, d_iou, d_iou_off, d_nexh,
        )  # fmt: skip

    def _mask_ious(self, g_src: np.ndarray, g_off: np.ndarray, d_src: np.ndarray, d_off: np.ndarray) -> tuple:
        gt = self.lvis_gt
        segms_all = gt.segmentations()
        ids = gt.annotations.ids[g_src]
        g_ids = [int(v) if isinstance(v, float) and v.is_integer() else v for v in ids.tolist()]
        segms = [segms_all[k] for k in g_src.tolist()]
        for j, s in enumerate(segms):
            if s is None:
                raise ValueError(f"ground truth id {g_ids[j]!r}: no 'segmentation' (segm evaluation needs masks)")
        g_img = positions(gt.annotations.image_id[g_src], gt.image_ids)
        hs, ws = gt.image_sizes(g_img, g_ids, "ground truth")
        rg = segmentations_to_rles(segms, hs, ws, g_ids, what="ground truth", threads=self.threads)
        # masks are read only where an IoU is needed: detections of groups with ground truths (lvis-api
        # also reads those of the other evaluated groups and those the federated rule drops)
        ng, nd = np.diff(g_off), np.diff(d_off)
        need = np.flatnonzero(np.repeat(ng > 0, nd))
        rd = self.lvis_dt.det_rles(d_src[need])
        d_map = np.full(d_src.size, -1, np.int64)
        d_map[need] = np.arange(need.size)
        no_crowd = np.zeros(g_src.size, np.uint8)  # LVIS has no crowd regions: every IoU is over the union
        return group_mask_ious(g_off, d_off, rg, rd, no_crowd, d_map=d_map, threads=self.threads)

    # ---------------------------------------------------------- accumulate
    def _accumulate_core(self) -> None:
        out = evaluate_curves(self._groups, self._settings, threads=self.threads)
        p = self.params
        # the kernels write (K, A, T, M, R) buffers contiguously; lvis-api's arrays are transposed views of them
        precision = out.precision[:, :, :, 0, :].transpose(2, 3, 0, 1)
        recall = out.recall[:, :, :, 0].transpose(2, 0, 1)
        T, R, K, A = precision.shape
        self.eval = {
            "params": p,
            "counts": [T, R, K, A],
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "precision": precision,
            "recall": recall,
        }

    @with_small_pages
    def accumulate(self) -> None:
        """Fill ``self.eval`` (done by :meth:`evaluate`; here only ``rec_thrs`` may have changed since)."""
        if not self.eval:
            raise RuntimeError("Please run evaluate() first")
        rec = _vector(self.params.rec_thrs, "rec_thrs")
        if not np.array_equal(rec, self._settings.rec_thr):
            self._settings = self._settings._replace(rec_thr=rec, rec_sorted=bool(np.all(np.diff(rec) >= 0)))
            self._accumulate_core()

    # ----------------------------------------------------------- summarize
    def _summarize(self, summary_type: str, iou_thr: float | None = None, area_rng: str = "all",
                   freq_group_idx: int | None = None) -> float:  # fmt: skip
        # lvis-api's mean of the entries > -1, over the same entries in the same order (so the same double);
        # read from the kernel's (K, A, T, R) buffer: a (category, area) has no positives (all -1) or none is -1
        p = self.params
        aidx = [k for k, lbl in enumerate(p.area_rng_lbl) if lbl == area_rng]
        T = self.eval["recall"].shape[0]
        tidx = np.arange(T) if iou_thr is None else np.where(iou_thr == np.asarray(p.iou_thrs))[0]
        if len(aidx) != 1:
            return self._summarize_masked(summary_type, tidx, aidx, freq_group_idx)
        a = aidx[0]
        buf = self.eval["recall"].transpose(1, 2, 0)  # (K, A, T)
        cats = np.arange(buf.shape[0])
        if summary_type == "ap" and freq_group_idx is not None:
            cats = np.asarray(self.freq_groups[freq_group_idx], np.int64)
        cats = cats[buf[cats, a, 0] > -1]
        if summary_type == "ap":
            vals = self.eval["precision"].transpose(2, 3, 0, 1)[cats, a][:, tidx]  # (n, T', R)
            vals = vals.transpose(1, 2, 0).ravel()  # lvis-api's order: threshold, recall, category
        else:
            vals = buf[cats, a][:, tidx].T.ravel()  # threshold, category
        return -1 if vals.size == 0 else np.mean(vals)

    def _summarize_masked(self, summary_type: str, tidx: np.ndarray, aidx: list, freq_group_idx: Any) -> float:
        # lvis-api's own indexing (area labels that repeat or are absent)
        s = self.eval["precision"] if summary_type == "ap" else self.eval["recall"]
        s = s[tidx]
        if summary_type == "ap":
            s = s[:, :, self.freq_groups[freq_group_idx], aidx] if freq_group_idx is not None else s[:, :, :, aidx]
        else:
            s = s[:, :, aidx]
        sel = s[s > -1]
        return -1 if sel.size == 0 else np.mean(sel)

    def summarize(self) -> None:
        """Compute ``self.results``: AP, AP50, AP75, APs, APm, APl, APr, APc, APf, AR@300, ARs/ARm/ARl@300."""
        if not self.eval:
            raise RuntimeError("Please run accumulate() first.")
        md = self.params.max_dets
        r = self.results
        r["AP"] = self._summarize("ap")
        r["AP50"] = self._summarize("ap", iou_thr=0.50)
        r["AP75"] = self._summarize("ap", iou_thr=0.75)
        r["APs"] = self._summarize("ap", area_rng="small")
        r["APm"] = self._summarize("ap", area_rng="medium")
        r["APl"] = self._summarize("ap", area_rng="large")
        r["APr"] = self._summarize("ap", freq_group_idx=0)
        r["APc"] = self._summarize("ap", freq_group_idx=1)
        r["APf"] = self._summarize("ap", freq_group_idx=2)
        r[f"AR@{md}"] = self._summarize("ar")
        for lbl in ("small", "medium", "large"):
            r[f"AR{lbl[0]}@{md}"] = self._summarize("ar", area_rng=lbl)

    @with_small_pages
    def run(self) -> None:
        """evaluate(), accumulate(), summarize()."""
        self.evaluate()
        self.accumulate()
        self.summarize()

    def results_text(self) -> str:
        """The table :meth:`print_results` prints."""
        template = " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} catIds={:>3s}] = {:0.3f}"
        p = self.params
        lines = []
        for key, value in self.results.items():
            title, kind = ("Average Precision", "(AP)") if "AP" in key else ("Average Recall", "(AR)")
            if len(key) > 2 and key[2].isdigit():
                iou = f"{float(key[2:]) / 100:0.2f}"
            else:
                iou = f"{p.iou_thrs[0]:0.2f}:{p.iou_thrs[-1]:0.2f}"
            group = key[2] if len(key) > 2 and key[2] in _FREQUENCIES else "all"
            area = key[2] if len(key) > 2 and key[2] in ("s", "m", "l") else "all"
            lines.append(template.format(title, kind, iou, area, p.max_dets, group, value))
        return "\n".join(lines)

    def print_results(self) -> None:
        """Print the results table like lvis-api."""
        print(self.results_text())

    def get_results(self) -> OrderedDict:
        """``self.results`` (run() first)."""
        if not self.results:
            warnings.warn("LVISEval.results is empty: call run() first", UserWarning, stacklevel=2)
        return self.results

    def __str__(self) -> str:
        return self.results_text() if self.results else f"<detbench LVISEval {self.params.iou_type} (not run)>"


def _non_numeric(ids: list) -> bool:
    return any(isinstance(v, (str, bytes, bool)) or not isinstance(v, (int, float, np.number)) for v in ids)
