"""Segmentation IoUs for ``COCOeval(gt, dt, "segm")``: the precomputed IoU source of the one matching pass.

pycocotools' ``segm`` evaluation differs from ``bbox`` only in the IoU: each
annotation's segmentation becomes an RLE (``annToRLE``: polygons rasterised
and merged, uncompressed RLE compressed, compressed RLE as is, in the size of
its image) and IoUs are ``maskUtils.iou`` (crowd: intersection over the
detection's mask area). Areas are the annotations' ``area`` fields, which
pycocotools' ``loadRes`` fills from the masks for segmentation results
(``maskUtils.area``) - read as given here, like every other field.

:func:`mask_iou_rows` turns the grouped annotations of a
:class:`~detbench.eval.grouping.Prepared` into the ``d_iou``/``d_iou_off``
fields of :class:`~detbench.eval.matching.Groups`: one row per detection with
its IoUs against the ground truths of its (image, category) group, computed
by :func:`group_mask_ious` on run lengths; the matching kernels copy a row
instead of computing box IoUs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._jit import jit
from detbench._parallel import run_weighted
from detbench.eval.annotations import _py
from detbench.eval.instances import image_sizes
from detbench.eval.loader import CocoDataset
from detbench.eval.mask_texts import rows_rles
from detbench.masks._rle_kernels import pair_iou
from detbench.masks.convert import rle_stats, segmentations_to_rles

__all__ = ["annotation_dicts", "mask_iou_rows", "group_mask_ious"]


def annotation_dicts(coco: Any, what: str) -> list:
    """The annotation dicts of ``coco`` in the row order of :func:`~detbench.eval.loader.annotations_of`."""
    ds = getattr(coco, "dataset", None)
    if not isinstance(ds, dict):
        raise ValueError(
            f"{what}: segm evaluation needs the annotation dicts (a pycocotools COCO object or detbench.eval.COCO); "
            f"a {type(coco).__name__} without .dataset keeps no segmentations"
        )
    anns = ds.get("annotations", [])
    if isinstance(coco, CocoDataset):
        return anns  # detbench's COCO: file order
    index = getattr(coco, "imgToAnns", None)
    if isinstance(index, dict) and index:
        lists = list(index.values())
        if sum(map(len, lists)) == len(anns) and isinstance(lists[0], list):
            return [a for lst in lists for a in lst]
    return anns


def _image_sizes(coco_gt: Any, image_ids: list, what: str, ids: list) -> tuple[np.ndarray, np.ndarray]:
    imgs = getattr(coco_gt, "imgs", None)
    if not isinstance(imgs, dict):
        ds = getattr(coco_gt, "dataset", None)
        images = ds.get("images", []) if isinstance(ds, dict) else (getattr(coco_gt, "images", None) or [])
        imgs = {im["id"]: im for im in images}
    hs = np.empty(len(image_ids), np.int64)
    ws = np.empty(len(image_ids), np.int64)
    cache: dict = {}
    for k, i in enumerate(image_ids):
        hw = cache.get(i)
        if hw is None:
            im = imgs.get(i)
            try:
                hw = (int(im["height"]), int(im["width"]))
            except (TypeError, KeyError, ValueError):
                raise ValueError(
                    f"{what} id {ids[k]!r}: image {i!r} has no integer 'height'/'width' (needed for its mask)"
                ) from None
            cache[i] = hw
        hs[k], ws[k] = hw
    return hs, ws


def _segmentations(anns: list, what: str) -> tuple[list, list, list]:
    segms, ids, img = [], [], []
    for a in anns:
        s = a.get("segmentation")
        if s is None:
            raise ValueError(f"{what} id {a.get('id')!r}: no 'segmentation' (segm evaluation needs masks)")
        segms.append(s)
        ids.append(a.get("id"))
        img.append(a.get("image_id"))
    return segms, ids, img


def _boxes_only(anns: list) -> bool:
    # results whose every segmentation is the box polygon pycocotools' loadRes adds to bbox results
    if not anns:
        return False
    for a in anns:
        s = a.get("segmentation")
        bb = a.get("bbox")
        if not (isinstance(s, list) and len(s) == 1 and isinstance(s[0], list) and len(s[0]) == 8 and bb):
            return False
        x1, y1, w, h = bb
        x2, y2 = x1 + w, y1 + h
        if s[0] != [x1, y1, x1, y2, x2, y2, x2, y1]:
            return False
    return True


def _fast_rles(coco_gt: Any, ann: Any, rows: np.ndarray, what: str) -> Any:
    # (rles, boxes, areas) of rows from the arrays a detbench reader filled (None: read the dicts)
    extra = ann.extra
    if "rles" not in extra and "segm_raw" not in extra:
        if extra.get("results_kind") == "keypoints":
            raise ValueError("cocoDt: keypoint results have no masks; segm evaluation needs mask results")
        return None

    def ids_fn(idx: Any = None) -> list:
        # ids of the selected rows (or of rows[idx]), for messages only
        sel = rows if idx is None else rows[np.asarray(idx, np.int64)]
        return [_py(v) for v in ann.ids[sel].tolist()]

    img = ann.image_id[rows]
    ds = getattr(coco_gt, "dataset", None) if not isinstance(coco_gt, CocoDataset) else None
    images = ds.get("images") if isinstance(ds, dict) else getattr(coco_gt, "images", None)
    hs, ws = image_sizes(img, images)
    if (hs < 0).any():
        hs, ws = _image_sizes(coco_gt, img.tolist(), what, ids_fn())  # names the image without a size
    return rows_rles(ann, rows, hs, ws, what, ids_fn)


def mask_iou_rows(prep: Any, coco_gt: Any, coco_dt: Any, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(d_iou, d_iou_off) mask IoU rows for the grouped annotations of ``prep`` (see the module docstring);
    ``threads`` as in :func:`group_mask_ious`."""
    fg = _fast_rles(coco_gt, prep.gt_ann, prep.g_src, "ground truth")
    fd = _fast_rles(coco_gt, prep.dt_ann, prep.d_src, "detection")
    if fg is None or fd is None:
        r2g, r2d = _dict_rles(prep, coco_gt, coco_dt, fg is None, fd is None)
        fg = (r2g, None, None) if fg is None else fg
        fd = (r2d, None, None) if fd is None else fd
    gr = prep.groups
    g_map = fg[3] if len(fg) > 3 else None
    d_map = fd[3] if len(fd) > 3 else None
    return group_mask_ious(
        gr.g_off,
        gr.d_off,
        fg[0],
        fd[0],
        gr.g_crowd,
        d_box=fd[1],
        d_area=fd[2],
        g_map=g_map,
        d_map=d_map,
        threads=threads,
    )


def _dict_rles(prep: Any, coco_gt: Any, coco_dt: Any, need_g: bool, need_d: bool) -> tuple:
    # the masks of the grouped annotations from the annotation dicts (pycocotools objects)
    rg = rd = None
    if need_g:
        gt_all = annotation_dicts(coco_gt, "cocoGt")
        if len(gt_all) != len(prep.gt_ann):
            raise ValueError("segm: the annotation dicts changed since they were read; pass cache=False")
        g_anns = [gt_all[k] for k in prep.g_src.tolist()]
        gs, g_ids, g_img = _segmentations(g_anns, "ground truth")
        gh, gw = _image_sizes(coco_gt, g_img, "ground truth", g_ids)
        rg = segmentations_to_rles(gs, gh, gw, g_ids, what="ground truth")
    if need_d:
        dt_all = annotation_dicts(coco_dt, "cocoDt")
        if len(dt_all) != len(prep.dt_ann):
            raise ValueError("segm: the annotation dicts changed since they were read; pass cache=False")
        d_anns = [dt_all[k] for k in prep.d_src.tolist()]
        if _boxes_only(d_anns):
            raise ValueError(
                f"cocoDt: detection id {d_anns[0].get('id')!r} (and every other) has only a box (its segmentation "
                "is the box polygon loadRes adds to bbox results): segm evaluation needs mask results"
            )
        ds, d_ids, d_img = _segmentations(d_anns, "detection")
        dh, dw = _image_sizes(coco_gt, d_img, "detection", d_ids)
        rd = segmentations_to_rles(ds, dh, dw, d_ids, what="detection")
    return rg, rd


def group_mask_ious(
    g_off: np.ndarray,
    d_off: np.ndarray,
    rg: Any,
    rd: Any,
    g_crowd: np.ndarray,
    *,
    d_box: Any = None,
    d_area: Any = None,
    g_map: Any = None,
    d_map: Any = None,
    threads: int | None = None,
) -> tuple:
    """Mask IoU rows of every detection against the ground truths of its group (pycocotools' ``rleIou``).

    ``d_box``/``d_area``: the detection masks' boxes and areas when already known (else computed here).
    ``g_map``/``d_map``: mask of each grouped ground truth / detection in ``rg``/``rd`` (default: the
    i-th mask), so a set read once need not be copied into group order. ``threads``: default
    ``numba.get_num_threads()``; the rows do not depend on it."""
    g_map = np.arange(rg.off.size - 1, dtype=np.int64) if g_map is None else np.asarray(g_map, np.int64)
    d_map = np.arange(rd.off.size - 1, dtype=np.int64) if d_map is None else np.asarray(d_map, np.int64)
    n_d = d_map.size
    g_box = rle_stats(rg, threads, areas=False)[0]
    if d_box is None or d_area is None:
        box, area, _ = rle_stats(rd, threads, boxes=d_box is None, areas=d_area is None)
        d_box = box if d_box is None else d_box
        d_area = area if d_area is None else d_area.astype(np.int64)
    else:
        d_area = d_area.astype(np.int64)
    ng = np.diff(g_off)
    nd = np.diff(d_off)
    per_d = np.repeat(ng, nd)
    d_iou_off = np.zeros(n_d, np.int64)
    if n_d:
        np.cumsum(per_d[:-1], out=d_iou_off[1:])
    d_iou = np.empty(int(per_d.sum()), np.float64)
    masks = (rg.cnts, rg.off, g_box, g_map, rd.cnts, rd.off, d_box, d_area, d_map)
    # groups split over threads by their pairs (each detection's row is its own): the same rows for any count
    cost = np.zeros(ng.size + 1, np.int64)
    np.cumsum(nd * ng + nd, out=cost[1:])
    run_weighted(
        cost,
        lambda a, b: _rows(g_off[a : b + 1], d_off[a : b + 1], masks, g_crowd, d_iou_off, d_iou),
        threads,
        min_total=_PARALLEL_PAIRS,
    )
    return d_iou, d_iou_off


#: work (pairs + detections; ~0.6 us a pair of synthetic masks) from which mask IoU rows are computed on several threads
_PARALLEL_PAIRS = 4_000


@jit
def _rows(g_off, d_off, masks, g_crowd, d_iou_off, d_iou):
    # d_iou[d_iou_off[d] + gi]: IoU of detection d with ground truth g_off[group] + gi (masks g_map[g], d_map[d])
    g_cnts, g_roff, g_box, g_map, d_cnts, d_roff, d_box, d_area, d_map = masks
    n_groups = g_off.shape[0] - 1
    for k in range(n_groups):
        gs = g_off[k]
        ng = g_off[k + 1] - gs
        if ng == 0:
            continue
        for d in range(d_off[k], d_off[k + 1]):
            o = d_iou_off[d]
            dm = d_map[d]
            for gi in range(ng):
                g = gs + gi
                gm = g_map[g]
                d_iou[o + gi] = pair_iou(d_cnts, d_roff, dm, d_box, d_area, g_cnts, g_roff, gm, g_box, g_crowd[g] != 0)
