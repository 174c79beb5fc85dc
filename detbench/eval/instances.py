"""Mask and keypoint annotations: pycocotools' ``loadRes`` branches and the per-annotation data segm/OKS read.

pycocotools' ``loadRes`` picks a branch from the first result: a non-empty
``bbox`` -> box results (area ``w*h``, the box polygon as segmentation);
else ``segmentation`` -> mask results (area ``maskUtils.area``, bbox
``maskUtils.toBbox`` unless given); else ``keypoints`` -> keypoint results
(bbox ``[x0, y0, x1 - x0, y1 - y0]`` of all keypoints, area its product; no
``iscrowd``). :func:`results_kind` is that choice; :func:`segm_results` /
:func:`keypoint_results` derive the fields the same way, from dicts or from
what :func:`typed_results` read off a file.

The masks / keypoints themselves travel in :attr:`Annotations.extra`
(``"rles"``: a :class:`~detbench.masks.Rles` of every row; ``"keypoints"``:
an ``(N, 3k)`` array; ``"segm_raw"`` / ``"kp_raw"``: the JSON text of each
ground truth's field, read only when a segm / keypoints evaluation asks: masks by
:mod:`detbench.eval.mask_texts`, keypoints by :func:`rows_keypoints`),
so :mod:`detbench.eval.segm` and :mod:`detbench.eval.keypoints` evaluate
files read by detbench without building a dict per annotation.
"""

from __future__ import annotations

import math
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

from detbench.eval import _instances_kernels as _ik
from detbench.eval._json import NO_RAW, _gc_paused, decode_rows, number_rows
from detbench.masks.convert import Rles, rle_stats, segmentations_to_rles, strings_to_rles

__all__ = [
    "results_kind",
    "typed_results",
    "segm_results",
    "keypoint_results",
    "rows_keypoints",
    "strings_rles",
    "mask_boxes_areas",
    "image_sizes",
]


class _Rle(msgspec.Struct, gc=False):
    size: tuple[int, int]
    counts: str  # a compressed RLE code (msgspec unescapes the JSON string)


class _InstDet(msgspec.Struct, gc=False):
    image_id: int
    category_id: int
    score: float
    bbox: tuple[float, float, float, float] | None = None
    segmentation: _Rle | None = None
    keypoints: msgspec.Raw = NO_RAW  # the JSON text: read by _json.number_rows


class _InstDict(msgspec.Struct, gc=False):
    annotations: list[_InstDet]


_DETS = msgspec.json.Decoder(list[_InstDet])
_DETS_DICT = msgspec.json.Decoder(_InstDict)


def results_kind(first: Any) -> str:
    """pycocotools' ``loadRes`` branch for results whose first entry is ``first``: bbox, segm or keypoints."""
    if not isinstance(first, dict):
        return "bbox"
    bb = first.get("bbox", None)
    if "bbox" in first and not (isinstance(bb, list) and bb == []):
        return "bbox"
    if "segmentation" in first:
        return "segm"
    if "keypoints" in first:
        return "keypoints"
    return "bbox"  # the box reader names what is missing


def typed_results(raw: bytes) -> dict | None:
    with _gc_paused():
        return _typed_results(raw)


def _typed_results(raw: bytes) -> dict | None:
    """Mask or keypoint results (no ``bbox`` in the first) read with msgspec in the common case, else None.

    Common case: integer ids, a number score, compressed RLEs with a string
    ``counts`` (segm) or lists of numbers (keypoints); every row of the first
    row's kind. Keys: ``kind``, ``image_id``, ``category_id``, ``score``
    (float64), ``bbox`` (given boxes, NaN rows where absent, or None), and
    ``strings`` (``(buf, s_off)``: every RLE code, one after another) +
    ``size`` (segm) or ``kp_vals`` + ``kp_off`` (keypoints: every number, and
    where each detection's start).
    """
    rows = decode_rows(raw, _DETS, _DETS_DICT)
    if rows is None:
        return None
    n = len(rows)
    if n == 0 or rows[0].bbox is not None:
        return None
    f = np.float64
    try:
        out: dict = {
            "image_id": np.fromiter(map(attrgetter("image_id"), rows), f, n),
            "category_id": np.fromiter(map(attrgetter("category_id"), rows), f, n),
        }
    except OverflowError:
        return None
    if not (np.abs(out["image_id"]) < 2.0**53).all() or not (np.abs(out["category_id"]) < 2.0**53).all():
        return None
    out["score"] = np.fromiter(map(attrgetter("score"), rows), f, n)
    out["bbox"] = None
    if any(map(attrgetter("bbox"), rows)):  # (a given box is a 4-tuple: true)
        boxes = [r.bbox for r in rows]
        out["bbox"] = np.array([b if b is not None else (math.nan,) * 4 for b in boxes], f).reshape(n, 4)
    if rows[0].segmentation is not None:
        try:  # one pass over the rows for the codes, one for the sizes
            texts = list(map(attrgetter("segmentation.counts"), rows))
        except AttributeError:  # a row without a segmentation
            return None
        strings = _texts_buffer(texts)
        if strings is None:
            return None  # a code that is not ASCII: the general path names it
        out["kind"] = "segm"
        out["strings"] = strings
        out["size"] = _sizes(rows, "segmentation.size")
        return out
    kps = [r.keypoints for r in rows]
    if min(map(len, kps)) == 0:  # a detection without keypoints
        return None
    parsed = number_rows(kps)
    if parsed is None or np.diff(parsed[1]).min() == 0:
        return None
    out["kind"] = "keypoints"
    out["kp_vals"], out["kp_off"] = parsed
    return out


def _sizes(records: list, attr: str = "size") -> np.ndarray:
    # the (n, 2) RLE ``size`` of records (``attr``: its path in a record; one pass over the (h, w) tuples)
    return np.fromiter(chain.from_iterable(map(attrgetter(attr), records)), np.int64, 2 * len(records)).reshape(-1, 2)


def _rle_strings(rles: list) -> tuple[np.ndarray, np.ndarray] | None:
    # (buf, s_off) of the ``counts`` strings of RLE records, one after another; None if one is not ASCII
    return _texts_buffer([r.counts for r in rles])


def _texts_buffer(texts: list) -> tuple[np.ndarray, np.ndarray] | None:
    # (buf, s_off) of strings, one after another; None if one is not ASCII
    try:
        buf = np.frombuffer("".join(texts).encode("ascii"), np.uint8)
    except UnicodeEncodeError:
        return None
    s_off = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)), out=s_off[1:])
    return buf, s_off


# ------------------------------------------------------------------ segm results


def image_sizes(image_ids: np.ndarray, gt_images: list | None) -> tuple[np.ndarray, np.ndarray]:
    """(h, w) of each row's image (``image_ids``) from the ground truth's image dicts; -1 where unknown."""
    n = image_ids.shape[0]
    hs = np.full(n, -1, np.int64)
    ws = np.full(n, -1, np.int64)
    if not gt_images:
        return hs, ws
    table = {}
    for im in gt_images:
        try:
            table[im["id"]] = (int(im["height"]), int(im["width"]))
        except (KeyError, TypeError, ValueError):
            continue
    if not table:
        return hs, ws
    ids = np.fromiter(table.keys(), np.float64, len(table)) if image_ids.dtype != object else None
    if ids is not None and (ids == np.round(ids)).all():
        hw = np.array(list(table.values()), np.int64).reshape(-1, 2)
        order = np.argsort(ids)
        pos = np.searchsorted(ids[order], image_ids)
        pos_c = np.minimum(pos, ids.size - 1)
        found = ids[order][pos_c] == image_ids
        hs[found] = hw[order[pos_c[found]], 0]
        ws[found] = hw[order[pos_c[found]], 1]
        return hs, ws
    for k, i in enumerate(image_ids.tolist()):
        hw = table.get(i)
        if hw is not None:
            hs[k], ws[k] = hw
    return hs, ws


def _mask_boxes_areas(r: Rles) -> tuple[np.ndarray, np.ndarray]:
    box, area, _ = rle_stats(r)
    return box, area.astype(np.float64)


def segm_results(
    segms: list | None,
    strings: list | None,
    size: np.ndarray | None,
    given_bbox: np.ndarray | None,
    image_ids: np.ndarray,
    gt_images: list | None,
) -> tuple[np.ndarray, np.ndarray, Rles, np.ndarray]:
    """(bbox, area, rles, mask boxes) of mask results, like pycocotools' ``loadRes``: the mask's area and, where no
    box is given (NaN row), its box.

    ``segms``: the segmentation of every row (dicts path), or ``strings`` +
    ``size`` (compressed strings read by :func:`typed_results`). Each mask
    takes its image's size from ``gt_images`` (an RLE whose size disagrees,
    or a polygon of an image without a size, is a ValueError naming the
    detection id, i.e. its row + 1).
    """
    n = image_ids.shape[0]
    hs, ws = image_sizes(image_ids, gt_images)
    ids = list(range(1, n + 1))
    if segms is not None:
        r = segmentations_to_rles(segms, hs, ws, ids, what="detection")
        mask_box, area = _mask_boxes_areas(r)
    else:
        bad = np.flatnonzero((hs >= 0) & ((size[:, 0] != hs) | (size[:, 1] != ws)))
        if bad.size:
            k = int(bad[0])
            raise ValueError(
                f"detection id {k + 1}: RLE size [{int(size[k, 0])}, {int(size[k, 1])}] disagrees with its image "
                f"({int(hs[k])} x {int(ws[k])})"
            )
        r, mask_box, area = _strings_rles(strings, size, "detection")
        area = area.astype(np.float64)
    box = mask_box
    if given_bbox is not None:
        keep = ~np.isnan(given_bbox).any(axis=1)
        box = mask_box.copy()
        box[keep] = given_bbox[keep]
    return box, area, r, mask_box


# ------------------------------------------------------------- keypoint results


def _keypoint_lists(kps: list, what: str, raw: bool) -> tuple[np.ndarray, np.ndarray]:
    # (flat values, per-row offsets) of keypoint lists (Python lists, or JSON texts when raw)
    n = len(kps)
    if raw and n:
        parsed = number_rows(kps)
        if parsed is not None:
            return parsed
        # the one that is not a list of numbers is named below
    parts = []
    for k, kp in enumerate(kps):
        if raw:
            kp = msgspec.json.decode(kp)
        try:
            arr = np.asarray(kp, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"{what} id {k + 1}: 'keypoints' must be a list of numbers") from None
        if isinstance(kp, (str, bytes, dict)) or (isinstance(kp, list) and any(isinstance(v, bool) for v in kp)):
            raise ValueError(f"{what} id {k + 1}: 'keypoints' must be a list of numbers")
        parts.append(arr)
    off = np.zeros(n + 1, np.int64)
    np.cumsum([a.size for a in parts], out=off[1:])
    vals = np.concatenate(parts) if parts else np.zeros(0)
    return vals, off


def _row_extents(kp: np.ndarray) -> tuple:
    # (x0, x1, y0, y1): min / max of every row's x (columns 0::3) and y (1::3), in one kernel pass; NumPy's
    # row reductions where a -0.0 is among them (its result depends on the comparison order)
    n = kp.shape[0]
    x0, x1, y0, y1 = (np.empty(n) for _ in range(4))
    if not _ik.row_extents(np.ascontiguousarray(kp), x0, x1, y0, y1):
        return x0, x1, y0, y1
    x, y = kp[:, 0::3], kp[:, 1::3]
    return x.min(1), x.max(1), y.min(1), y.max(1)


def keypoint_results(
    kps: list | None, raw: bool = False, parsed: tuple | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(bbox, area, keypoints) of keypoint results like pycocotools' ``loadRes``.

    ``bbox = [x0, y0, x1 - x0, y1 - y0]`` over every keypoint's x and y (all
    of them, visible or not), ``area = (x1 - x0) * (y1 - y0)``; keypoints as
    an ``(N, 3k)`` array when every row has the same length, else None.
    ``kps``: Python lists, or their JSON texts (``raw``), or ``parsed`` =
    ``(values, offsets)`` already read (:func:`typed_results`). A list that is
    empty, not a multiple of 3 long, or has NaN/inf: ValueError naming the
    detection id (row + 1).
    """
    vals, off = parsed if parsed is not None else _keypoint_lists(kps, "detection", raw)
    n = off.size - 1
    lens = np.diff(off)
    bad = np.flatnonzero((lens == 0) | (lens % 3 != 0))
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"detection id {k + 1}: 'keypoints' has {int(lens[k])} values; expected x, y, v for each keypoint"
        )
    if vals.size and not np.isfinite(vals).all():
        k = int(np.searchsorted(off, int(np.flatnonzero(~np.isfinite(vals))[0]), side="right") - 1)
        raise ValueError(f"detection id {k + 1}: 'keypoints' has NaN or infinite values")
    box = np.empty((n, 4))
    area = np.empty(n)
    if n and (lens == lens[0]).all():
        kp = vals.reshape(n, int(lens[0]))
        x0, x1, y0, y1 = _row_extents(kp)
    else:
        kp = None
        x0, x1, y0, y1 = (np.empty(n) for _ in range(4))
        for k in range(n):
            row = vals[off[k] : off[k + 1]]
            x0[k], x1[k], y0[k], y1[k] = row[0::3].min(), row[0::3].max(), row[1::3].min(), row[1::3].max()
    box[:, 0], box[:, 1], box[:, 2], box[:, 3] = x0, y0, x1 - x0, y1 - y0
    area[:] = (x1 - x0) * (y1 - y0)
    return box, area, kp


# ------------------------------------------------------- what the evaluators read


def mask_boxes_areas(r: Rles) -> tuple[np.ndarray, np.ndarray]:
    """(``rleToBbox`` boxes (n, 4), ``rleArea`` areas as float64) of every mask of ``r``."""
    return _mask_boxes_areas(r)


def strings_rles(strings: Any, size: np.ndarray, what: str, ids: Any = None) -> Rles:
    """:class:`Rles` of compressed RLE strings (a list of bytes, or ``(buf, s_off)``) with their ``(n, 2)``
    sizes, in one kernel call; a corrupt string or runs that do not add up to h * w: ValueError naming
    ``what`` id ``ids[row]`` (default: row + 1)."""
    return _strings_rles(strings, size, what, ids)[0]


def _strings_rles(strings: Any, size: np.ndarray, what: str, ids: Any = None) -> tuple:
    # (rles, mask boxes (n, 4), mask areas int64) of :func:`strings_rles`: the runs' totals, areas and boxes
    # taken by the decoding kernel while each row's runs are in cache

    def name(k: int) -> str:
        return f"{what} id {k + 1}" if ids is None else f"{what} id {ids[k]!r}"

    n = size.shape[0]
    h = np.ascontiguousarray(size[:, 0], np.int64)
    w = np.ascontiguousarray(size[:, 1], np.int64)
    neg = np.flatnonzero((h < 0) | (w < 0))
    if neg.size:
        k = int(neg[0])
        raise ValueError(f"{name(k)}: RLE size must not be negative, got {size[k].tolist()}")
    if isinstance(strings, tuple):
        buf, s_off = strings
    else:
        s_off = np.zeros(n + 1, np.int64)
        np.cumsum(np.fromiter(map(len, strings), np.int64, n), out=s_off[1:])
        buf = np.frombuffer(b"".join(strings), np.uint8)
    cnts, off, err, tot, area, box = strings_to_rles(buf, s_off, sizes=(h, w))
    bad = np.flatnonzero(err)
    if bad.size:
        k = int(bad[0])
        why = {1: "a character outside '0'..'o'", 2: "a value cut off at the end", 3: "a run length out of range"}
        raise ValueError(f"{name(k)}: corrupt compressed RLE string ({why[int(err[k])]})")
    wrong = np.flatnonzero(tot != h * w)
    if wrong.size:
        k = int(wrong[0])
        raise ValueError(
            f"{name(k)}: RLE runs add up to {int(tot[k])} pixels, expected {int(h[k])} x {int(w[k])} = "
            f"{int(h[k] * w[k])}"
        )
    return Rles(cnts, off, h, w), box, area


def rows_keypoints(ann: Any, rows: np.ndarray, k: int, what: str, ids_fn: Any) -> tuple | None:
    """``(keypoints, map)`` of the annotation rows from ``ann.extra`` (None when it has none): selected row
    i is ``keypoints[map[i]]`` (``map`` None: ``keypoints[i]``, an ``(len(rows), 3k)`` array); ``ids_fn(idx)``
    gives the ids of the selected rows ``idx``, asked only for a message."""
    extra = ann.extra
    kp = extra.get("keypoints")
    if kp is None and "kp_raw" in extra:
        raws = extra["kp_raw"]
        sel = [raws[r] for r in rows.tolist()]
        if sel and min(map(len, sel)) == 0:
            j = next(j for j, t in enumerate(sel) if len(t) == 0)
            raise ValueError(f"{what} id {ids_fn([j])[0]!r}: no 'keypoints' (keypoints evaluation needs them)")
        vals, off = _keypoint_lists(sel, what, True)
        lens = np.diff(off)
        bad = np.flatnonzero(lens != 3 * k)
        if bad.size:
            j = int(bad[0])
            raise ValueError(
                f"{what} id {ids_fn([j])[0]!r}: 'keypoints' has {int(lens[j])} values, expected {3 * k} "
                f"(x, y, v for each of the {k} sigmas)"
            )
        out = vals.reshape(len(sel), 3 * k)
        if not np.isfinite(out).all():
            j = int(np.flatnonzero(~np.isfinite(out).all(1))[0])
            raise ValueError(f"{what} id {ids_fn([j])[0]!r}: 'keypoints' has NaN or infinite values")
        return out, None
    if kp is None:
        return None
    if kp.shape[1] != 3 * k:
        raise ValueError(
            f"{what} id {ids_fn([0])[0]!r}: 'keypoints' has {kp.shape[1]} values, expected {3 * k} "
            f"(x, y, v for each of the {k} sigmas)"
        )
    return kp, np.asarray(rows, np.int64)
