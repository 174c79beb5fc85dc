"""COCO matching: the records its kernels take, their factories, and pycocotools' ``evalImgs``.

The matching rule is pycocotools' ``evaluateImg`` (greedy, in score order, from
``min(t, 1 - 1e-10)``; see :mod:`detbench.eval._greedy_kernels` and
:mod:`detbench.eval._match_kernels`). Matching runs
once per segment (category) and leaves a :class:`SegmentMatches` record from
which :mod:`detbench.eval.accumulate` computes every metric.

Records (namedtuples; Numba compiles attribute access on them):

* :class:`Groups` - the annotations, grouped (built by :mod:`detbench.eval.grouping`);
* :class:`Settings` - the evaluation parameters as arrays (:func:`make_settings`);
* :class:`SegmentMatches` - the output of matching one segment, input of accumulation;
* :class:`MatchScratch` - per-thread scratch of the matching kernel;
* :class:`AllMatches` - every individual match, for ``evalImgs``.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from detbench.eval._greedy_kernels import coco_match_all
from detbench.eval._match_kernels import group_sizes

__all__ = [
    "Groups",
    "Settings",
    "SegmentMatches",
    "MatchScratch",
    "AllMatches",
    "make_settings",
    "make_segment_matches",
    "make_match_scratch",
    "match_all",
    "sizes_of",
    "eval_imgs",
]

Groups = namedtuple(
    "Groups",
    [
        "n_img",  # int: images evaluated (groups of a segment)
        "g_off",  # int64 (n_groups + 1): ground truths of group g are g_off[g]:g_off[g + 1]
        "g_box",  # float64 (G, 4): xywh boxes of the ground truths, in group order
        "g_area",  # float64 (G,): their areas (the annotations' ``area``)
        "g_crowd",  # uint8 (G,): 0 regular, 1 crowd (ignored; matched any number of times), 2 ignored but not a
        # crowd (keypoints: num_keypoints == 0)
        "g_idok",  # uint8 (G,): 1 where a match with this ground truth counts as a TP (id rule)
        "d_off",  # int64 (n_groups + 1): detections of group g are d_off[g]:d_off[g + 1]
        "d_box",  # float64 (D, 4): xywh boxes of the detections, in group order
        "d_area",  # float64 (D,): their areas
        "d_score",  # float64 (D,): their scores
        "d_idok",  # uint8 (D,): 1 where a match marks its ground truth as taken (id rule)
        "d_img",  # int64 (D,): image position of every detection
        "gorder",  # int64 (D,): detections of every segment by decreasing score (stable)
        "seg_off",  # int64 (n_seg + 1): detections of segment s are seg_off[s]:seg_off[s + 1]
        "d_iou",  # float64 (sum over detections of their group's G_g,): precomputed IoUs (segm), or empty
        "d_iou_off",  # int64 (D,): detection d's IoUs with its group's ground truths start at d_iou[d_iou_off[d]];
        # empty: IoUs from the boxes (bbox)
        "d_nexh",  # uint8 (D,) or (0,): 1 where a detection that matches no ground truth whose id counts is ignored
        # (never a FP) at every area range: LVIS' categories not exhaustively annotated in the detection's image;
        # empty (the default): none
    ],
    defaults=(np.zeros(0, np.uint8),),
)
Groups.__doc__ = "The flat, grouped annotation arrays every evaluation kernel reads (fields documented in source)."

Settings = namedtuple(
    "Settings",
    [
        "iou_thr",  # float64 (T,): IoU thresholds, each min(t, 1 - 1e-10) like pycocotools
        "area_rng",  # float64 (A, 2): area ranges, bounds inclusive
        "max_dets",  # int64 (M,): maxDets levels, sorted ascending
        "rec_thr",  # float64 (R,): recall thresholds
        "rec_sorted",  # bool: rec_thr is non-decreasing (linear instead of binary search)
    ],
)
Settings.__doc__ = "pycocotools' parameters as the arrays the kernels read (fields documented in source)."

SegmentMatches = namedtuple(
    "SegmentMatches",
    [
        "mlev",  # int64 (L,): maxDets level of the j-th kept detection of the segment, in score order
        "dyn_pos",  # int64 (L,): its index among the dynamic (matchable) detections, -1 if static (-2: static and
        # never a FP, see Groups.d_nexh)
        "p_area",  # float64 (L,): its area
        "p_score",  # float64 (L,): its score
        "tpbits",  # uint64 (L * A * W,): thresholds where dynamic detection k is a TP, at [(k*A + a)*W + w]
        "fpbits",  # uint64 (L * A * W,): thresholds where it is a FP (neither: ignored)
        "npig",  # int64 (A,): positives (not-ignored ground truths) per area range
        "ndm",  # int64 (M,): detections kept up to each maxDets level
        "first_score",  # float64 (M,): score of the first detection kept up to each level
    ],
)
SegmentMatches.__doc__ = "The result of matching one segment; accumulation reads nothing else (W = ceil(T/64))."

MatchScratch = namedtuple(
    "MatchScratch",
    [
        "tick",  # int64 (1,): segments matched with this scratch (stamps the rank counters)
        "cnt",  # int64 (n_img,): stamp + rank of the last detection kept per image
        "lpos",  # int64 (L,): position in score order of each detection of the segment
        "gsorted",  # int64 (L,): the detections of every group of the segment by rank
        "p_best",  # float64 (L,): best IoU of each kept detection
        "ndl",  # int64 (M,): detections per maxDets level
        "first_pos",  # int64 (M,): position of the first detection of each level
        "iou_buf",  # float64 (max D_g * G_g,): IoUs of one group, row per detection
        "max_iou",  # float64 (max D_g,): best IoU of each dynamic detection of a group
        "gidx",  # int64 (max G_g,): ground truths of a group in matching order
        "gig",  # uint8 (max G_g,): their ignore flags
        "gtaken",  # uint8 (max G_g,): taken flags during the greedy pass
        "gcode",  # int8 (max G_g,): status a match with each ordered ground truth gives
        "dl_di",  # int64 (max D_g,): rank in its group of each dynamic detection
        "dl_d",  # int64 (max D_g,): its base index
        "dl_k",  # int64 (max D_g,): its dynamic index
        "slot_mask",  # uint64 (A,): ground-truth ignore pattern of each matching slot
        "slot_gi",  # int64 (A, max G_g): ground-truth order of each slot
        "mbuf",  # int64 (A, max D_g, T): ordered ground truth matched per (slot, detection, threshold)
        "mq",  # uint64 (max D_g,): thresholds matched, one-ground-truth groups
    ],
)
MatchScratch.__doc__ = "Per-thread scratch of :func:`_match_kernels.match_segment` (fields documented in source)."

AllMatches = namedtuple(
    "AllMatches",
    [
        "gsorted",  # int64 (D,): detections of every group by decreasing score (first d_count[g] valid)
        "d_count",  # int64 (n_groups,): detections kept per group
        "dt_match",  # int32 (A, T, D): base index of the matched ground truth per sorted slot, -1 none
        "dt_ign",  # bool (A, T, D): final ignore flag per sorted slot
        "gt_match",  # int32 (A, T, G): base index of the detection matched per ordered ground-truth slot
        "gt_order",  # int64 (A, G): base index of the ground truth at each ordered slot
        "gt_ign",  # uint8 (A, G): its ignore flag
    ],
)
AllMatches.__doc__ = "Every individual match, for pycocotools' per-image records (fields documented in source)."


def make_settings(params: Any, rec_thrs: np.ndarray | None = None) -> Settings:
    """A :class:`Settings` from pycocotools-style ``params`` (``recThrs`` overridden by ``rec_thrs``)."""
    iou = np.asarray(params.iouThrs, dtype=np.float64).reshape(-1)
    thr = np.array([min(float(t), 1 - 1e-10) for t in iou], np.float64)
    area = np.ascontiguousarray(np.asarray(params.areaRng, dtype=np.float64))
    max_dets = np.asarray(params.maxDets, dtype=np.int64)
    rec = params.recThrs if rec_thrs is None else rec_thrs
    rec = np.ascontiguousarray(np.asarray(rec, dtype=np.float64).reshape(-1))
    return Settings(thr, area, max_dets, rec, bool(np.all(np.diff(rec) >= 0)))


def sizes_of(gr: Groups, max_last: int) -> tuple[int, int, int, int]:
    """(longest segment, most ground truths in a group, most kept detections in a group, largest D_g*G_g)."""
    g_off, d_off, seg_off = (np.ascontiguousarray(a, np.int64) for a in (gr.g_off, gr.d_off, gr.seg_off))
    if g_off.size != d_off.size:
        raise ValueError(f"sizes_of: {g_off.size} ground-truth and {d_off.size} detection group offsets")
    return tuple(int(v) for v in group_sizes(g_off, d_off, seg_off, int(max_last)))


def make_segment_matches(st: Settings, max_len: int) -> SegmentMatches:
    """An empty :class:`SegmentMatches` for segments of up to ``max_len`` detections."""
    A, M = st.area_rng.shape[0], st.max_dets.size
    W = (st.iou_thr.size + 63) // 64
    return SegmentMatches(
        np.empty(max_len, np.int64),
        np.empty(max_len, np.int64),
        np.empty(max_len, np.float64),
        np.empty(max_len, np.float64),
        np.empty(max_len * A * W, np.uint64),
        np.empty(max_len * A * W, np.uint64),
        np.zeros(A, np.int64),
        np.zeros(M, np.int64),
        np.zeros(M, np.float64),
    )


def make_match_scratch(gr: Groups, st: Settings, sizes: tuple[int, int, int, int]) -> MatchScratch:
    """A :class:`MatchScratch` for ``gr`` (``sizes`` from :func:`sizes_of`)."""
    max_len, max_g, max_nd, max_iou = sizes
    A, M, T = st.area_rng.shape[0], st.max_dets.size, st.iou_thr.size
    return MatchScratch(
        np.zeros(1, np.int64),
        np.zeros(max(gr.n_img, 1), np.int64),
        np.empty(max_len, np.int64),
        np.empty(max_len, np.int64),
        np.empty(max_len, np.float64),
        np.zeros(M, np.int64),
        np.zeros(M, np.int64),
        np.empty(max_iou, np.float64),
        np.empty(max_nd, np.float64),
        np.empty(max_g, np.int64),
        np.empty(max_g, np.uint8),
        np.empty(max_g, np.uint8),
        np.zeros(max_g, np.int8),
        np.empty(max_nd, np.int64),
        np.empty(max_nd, np.int64),
        np.empty(max_nd, np.int64),
        np.empty(A, np.uint64),
        np.empty((A, max_g), np.int64),
        np.empty((A, max_nd, T), np.int64),
        np.empty(max_nd, np.uint64),
    )


def match_all(gr: Groups, st: Settings) -> AllMatches:
    """Every individual match (pycocotools' ``evaluateImg`` for all groups), as an :class:`AllMatches`."""
    A, T = st.area_rng.shape[0], st.iou_thr.size
    n_g, n_d = gr.g_box.shape[0], gr.d_box.shape[0]
    n_groups = gr.g_off.size - 1
    max_last = int(st.max_dets[-1])
    out = AllMatches(
        np.full(n_d, -1, np.int64),
        np.zeros(n_groups, np.int64),
        np.full((A, T, n_d), -1, np.int32),
        np.zeros((A, T, n_d), np.bool_),
        np.full((A, T, n_g), -1, np.int32),
        np.zeros((A, n_g), np.int64),
        np.zeros((A, n_g), np.uint8),
    )
    if gr.n_img and n_groups:
        _, max_g, _, max_iou = sizes_of(gr, max_last)
        coco_match_all(
            gr,
            st.iou_thr,
            st.area_rng,
            max_last,
            out,
            np.zeros(gr.n_img, np.int64),
            np.empty(max_iou, np.float64),
            np.empty(max_g, np.int64),
            np.empty(max_g, np.uint8),
            np.empty(max_g, np.uint8),
        )
    return out


def _python_ids(ids: np.ndarray) -> list:
    # annotation ids as Python values (ints where every id is integral)
    if ids.dtype != object and ids.size and np.all(ids == np.round(ids)):
        return ids.astype(np.int64).tolist()
    return ids.tolist()


def eval_imgs(prep: Any, st: Settings, area_list: list) -> list:
    """pycocotools' ``evalImgs``: a list over (category, area range, image) of per-image records.

    ``prep``: :class:`~detbench.eval.grouping.Prepared`. Each record is a dict
    with image_id, category_id, aRng, maxDet, dtIds, gtIds, dtMatches (T x D
    ids), gtMatches (T x G ids), dtScores, gtIgnore, dtIgnore (T x D), or None
    for an (image, category) with neither ground truths nor detections.
    """
    gr = prep.groups
    mt = match_all(gr, st)
    T, A = st.iou_thr.size, st.area_rng.shape[0]
    max_last = int(st.max_dets[-1])
    n_g, n_d = gr.g_box.shape[0], gr.d_box.shape[0]
    g_ids = _python_ids(prep.gt_ann.ids[prep.g_src]) if n_g else []
    d_ids = _python_ids(prep.dt_ann.ids[prep.d_src]) if n_d else []
    g_ids_arr = np.asarray(g_ids + [0], dtype=object)
    d_ids_arr = np.asarray(d_ids + [0], dtype=object)
    out: list = []
    for k in range(len(prep.cat_ids)):
        cat = prep.cat_ids[k]
        for a in range(A):
            for i in range(gr.n_img):
                g = k * gr.n_img + i if prep.use_cats else i
                gs, ge = gr.g_off[g], gr.g_off[g + 1]
                ds = gr.d_off[g]
                nd = int(mt.d_count[g])
                if ge == gs and nd == 0:
                    out.append(None)
                    continue
                dts = mt.gsorted[ds : ds + nd]
                gord = mt.gt_order[a, gs:ge]
                dm = mt.dt_match[a, :, ds : ds + nd]
                gm = mt.gt_match[a, :, gs:ge]
                dtm = np.where(dm >= 0, g_ids_arr[np.where(dm >= 0, dm, -1)], 0).astype(np.float64)
                gtm = np.where(gm >= 0, d_ids_arr[np.where(gm >= 0, gm, -1)], 0).astype(np.float64)
                out.append(
                    {
                        "image_id": prep.img_ids[i],
                        "category_id": cat,
                        "aRng": area_list[a],
                        "maxDet": max_last,
                        "dtIds": [d_ids[d] for d in dts.tolist()],
                        "gtIds": [g_ids[q] for q in gord.tolist()],
                        "dtMatches": dtm.reshape(T, nd),
                        "gtMatches": gtm.reshape(T, ge - gs),
                        "dtScores": gr.d_score[dts].tolist(),
                        "gtIgnore": mt.gt_ign[a, gs:ge].astype(np.int64),
                        "dtIgnore": mt.dt_ign[a, :, ds : ds + nd].copy(),
                    }
                )
    return out
