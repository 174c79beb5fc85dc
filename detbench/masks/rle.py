"""The public mask API: pycocotools.mask's functions on Numba kernels, same inputs and outputs.

* :func:`encode` / :func:`decode` - binary masks (h, w) or (h, w, n) <-> compressed RLE dicts
  ``{"size": [h, w], "counts": bytes}``;
* :func:`area`, :func:`to_bbox` (``toBbox``), :func:`merge`, :func:`iou` (crowd semantics:
  a crowd ground truth's union is the detection's area);
* :func:`fr_py_objects` (``frPyObjects``): polygons, boxes or uncompressed RLEs -> compressed RLEs;
  :func:`fr_polygons`, :func:`fr_bbox`;
* :func:`rle_to_string` / :func:`rle_from_string`: run lengths <-> the compressed string code.

Results equal pycocotools' (run lengths, strings, areas, boxes, IoUs bit for bit).
Where detbench refuses what pycocotools takes: polygons of odd length or with fewer
than 3 points, RLEs whose runs do not add up to h * w, corrupt strings -> ValueError.
Costs: O(pixels) for encode/decode, O(runs) for the rest (iou: O(D * G * runs)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench.masks import _rle_kernels as _k
from detbench.masks.convert import Rles, rles_from_dicts, rles_to_dicts, segmentations_to_rles

__all__ = [
    "encode",
    "decode",
    "area",
    "to_bbox",
    "toBbox",
    "merge",
    "iou",
    "fr_py_objects",
    "frPyObjects",
    "fr_polygons",
    "fr_bbox",
    "rle_to_string",
    "rle_from_string",
]


def _as_list(objs: Any, name: str) -> tuple[list, bool]:
    if isinstance(objs, dict):
        return [objs], True
    if isinstance(objs, (list, tuple)):
        return list(objs), False
    raise ValueError(f"{name}: expected an RLE dict or a list of them, got {type(objs).__name__}")


def encode(bimask: Any) -> Any:
    """Compressed RLE of a binary mask (h, w) -> dict, or of masks (h, w, n) -> list of dicts."""
    m = np.asarray(bimask)
    if m.ndim not in (2, 3):
        raise ValueError(f"bimask: expected shape (h, w) or (h, w, n), got {m.shape}")
    single = m.ndim == 2
    if single:
        m = m[:, :, None]
    h, w, n = m.shape
    flat = np.ascontiguousarray(np.transpose(m != 0, (2, 1, 0)), dtype=np.uint8).reshape(-1)
    cnts, off = _k.encode_masks(flat, h, w, n)
    out = rles_to_dicts(Rles(cnts, off, np.full(n, h, np.int64), np.full(n, w, np.int64)))
    return out[0] if single else out


def decode(rle_objs: Any) -> np.ndarray:
    """Binary masks of RLE dicts: (h, w) uint8 for one dict, (h, w, n) for a list (Fortran order, like pycocotools)."""
    objs, single = _as_list(rle_objs, "rle_objs")
    r = rles_from_dicts(objs, "rle_objs")
    n = len(objs)
    if n == 0:
        raise ValueError("rle_objs: empty list")
    h, w = int(r.h[0]), int(r.w[0])
    if np.any(r.h != h) or np.any(r.w != w):
        raise ValueError("rle_objs: masks of different sizes cannot be decoded into one array")
    out = np.empty(n * h * w, np.uint8)
    _k.decode_masks(r.cnts, r.off, h * w, out)
    arr = out.reshape(n, w, h).transpose(2, 1, 0)  # (h, w, n), Fortran order
    return arr[:, :, 0] if single else arr


def area(rle_objs: Any) -> Any:
    """Pixels set: a uint32 array for a list of RLE dicts, a scalar for one dict."""
    objs, single = _as_list(rle_objs, "rle_objs")
    r = rles_from_dicts(objs, "rle_objs")
    out = np.empty(len(objs), np.uint32)
    _k.areas(r.cnts, r.off, out)
    return out[0] if single else out


def to_bbox(rle_objs: Any) -> np.ndarray:
    """``[x, y, w, h]`` boxes (float64) of RLE dicts: (n, 4) for a list, (4,) for one dict."""
    objs, single = _as_list(rle_objs, "rle_objs")
    r = rles_from_dicts(objs, "rle_objs")
    out = np.empty((len(objs), 4), np.float64)
    _k.to_bboxes(r.cnts, r.off, r.h, r.w, out)
    return out[0] if single else out


toBbox = to_bbox  # noqa: N816 - pycocotools' name


def merge(rle_objs: Any, intersect: bool = False) -> dict:
    """Union (or intersection) of a list of RLE dicts of one size, as one compressed RLE dict."""
    objs, _ = _as_list(rle_objs, "rle_objs")
    r = rles_from_dicts(objs, "rle_objs")
    if len(objs) and (np.any(r.h != r.h[0]) or np.any(r.w != r.w[0])):
        raise ValueError("rle_objs: masks of different sizes cannot be merged")
    cnts, off = _k.merge_groups(r.cnts, r.off, np.array([0, len(objs)], np.int64), bool(intersect))
    h = int(r.h[0]) if len(objs) else 0
    w = int(r.w[0]) if len(objs) else 0
    return rles_to_dicts(Rles(cnts, off, np.array([h]), np.array([w])))[0]


def _boxes(x: Any, name: str) -> np.ndarray | None:
    if isinstance(x, np.ndarray) or (isinstance(x, (list, tuple)) and x and not isinstance(x[0], dict)):
        b = np.asarray(x, dtype=np.float64)
        if b.ndim != 2 or b.shape[1] != 4:
            raise ValueError(f"{name}: expected (N, 4) boxes or a list of RLE dicts, got shape {b.shape}")
        return b
    return None


def iou(dt: Any, gt: Any, iscrowd: Any) -> Any:
    """IoU (len(dt), len(gt)) of masks (lists of RLE dicts) or of ``[x, y, w, h]`` boxes, like pycocotools.

    ``iscrowd`` (one flag per ground truth): a crowd ground truth's IoU is the
    intersection over the detection's area. Returns ``[]`` when either side is
    empty (as pycocotools). Masks of different sizes: ValueError (pycocotools
    gives -1).
    """
    dl = dt if isinstance(dt, (list, tuple, np.ndarray)) else [dt]
    gl = gt if isinstance(gt, (list, tuple, np.ndarray)) else [gt]
    if len(dl) == 0 or len(gl) == 0:
        return []
    crowd = np.asarray(iscrowd if iscrowd is not None else np.zeros(len(gl)), dtype=np.uint8).reshape(-1)
    if crowd.size != len(gl):
        raise ValueError(f"iscrowd: expected {len(gl)} flags (one per ground truth), got {crowd.size}")
    db, gb = _boxes(dl, "dt"), _boxes(gl, "gt")
    if (db is None) != (gb is None):
        raise ValueError("dt, gt: both must be masks (RLE dicts) or both boxes")
    out = np.zeros((len(dl), len(gl)), np.float64)
    if db is not None:
        from detbench.eval._greedy_kernels import _bbox_iou

        for d in range(len(dl)):
            for g in range(len(gl)):
                out[d, g] = _bbox_iou(*db[d], *gb[g], crowd[g])
        return out
    rd = rles_from_dicts(list(dl), "dt")
    rg = rles_from_dicts(list(gl), "gt")
    bad = np.argwhere((rd.h[:, None] != rg.h[None, :]) | (rd.w[:, None] != rg.w[None, :]))
    if bad.size:
        d, g = (int(v) for v in bad[0])
        raise ValueError(f"dt {d} and gt {g}: masks of different sizes ({rd.h[d]}x{rd.w[d]} vs {rg.h[g]}x{rg.w[g]})")
    return mask_iou_matrix(rd, rg, crowd)


def mask_iou_matrix(rd: Rles, rg: Rles, crowd: np.ndarray) -> np.ndarray:
    """(D, G) mask IoUs of two :class:`Rles` of equal sizes (pycocotools' ``rleIou``)."""
    nd, ng = rd.off.size - 1, rg.off.size - 1
    dbox = np.empty((nd, 4)), np.empty((ng, 4))
    _k.to_bboxes(rd.cnts, rd.off, rd.h, rd.w, dbox[0])
    _k.to_bboxes(rg.cnts, rg.off, rg.h, rg.w, dbox[1])
    darea = np.empty(nd, np.int64)
    _k.areas(rd.cnts, rd.off, darea)
    out = np.empty((nd, ng), np.float64)
    _k.iou_matrix(rd.cnts, rd.off, dbox[0], darea, rg.cnts, rg.off, dbox[1], np.asarray(crowd, np.uint8), out)
    return out


def fr_polygons(polygons: list, h: int, w: int) -> list:
    """One compressed RLE dict per polygon (flat ``[x0, y0, x1, y1, ...]``) in an ``h`` x ``w`` image."""
    hs = np.full(len(polygons), int(h), np.int64)
    ws = np.full(len(polygons), int(w), np.int64)
    r = segmentations_to_rles([[p] for p in polygons], hs, ws, what="polygon")
    return rles_to_dicts(r)


def fr_bbox(boxes: Any, h: int, w: int) -> list:
    """One compressed RLE dict per ``[x, y, w, h]`` box (rasterised as pycocotools' 4-point polygon)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    polys = [[x, y, x, y + bh, x + bw, y + bh, x + bw, y] for x, y, bw, bh in b.tolist()]
    return fr_polygons(polys, h, w)


def fr_py_objects(pyobj: Any, h: int, w: int) -> Any:
    """pycocotools' ``frPyObjects``: polygons (list of flat lists), boxes ((N, 4) array or list of 4-lists),
    uncompressed RLE dicts (a list, or one dict -> one dict) to compressed RLE dicts (one per input).

    A list of polygons gives one RLE *per polygon* (merge them with :func:`merge`
    for one object, as pycocotools' ``annToRLE`` does).
    """
    if isinstance(pyobj, np.ndarray):
        return fr_bbox(pyobj, h, w)
    if isinstance(pyobj, dict):
        return rles_to_dicts(segmentations_to_rles([pyobj], [h], [w], what="rle"))[0]
    if isinstance(pyobj, (list, tuple)) and pyobj:
        first = pyobj[0]
        if isinstance(first, dict):
            n = len(pyobj)
            return rles_to_dicts(segmentations_to_rles(list(pyobj), [h] * n, [w] * n, what="rle"))
        if isinstance(first, (list, tuple, np.ndarray)):
            if len(first) == 4:
                return fr_bbox(np.asarray(pyobj, dtype=np.float64), h, w)
            return fr_polygons(list(pyobj), h, w)
    raise ValueError(f"pyobj: expected polygons, boxes or RLE dicts, got {pyobj!r:.60}")


frPyObjects = fr_py_objects  # noqa: N816 - pycocotools' name


def rle_to_string(counts: Any) -> bytes:
    """The compressed string code (pycocotools' ``rleToString``) of one vector of run lengths."""
    c = np.asarray(counts)
    if c.ndim != 1 or (c.size and (c.min() < 0 or c.max() > 0xFFFFFFFF)):
        raise ValueError("counts: expected a 1-D vector of run lengths in 0..2**32 - 1")
    buf, _ = _k.rles_to_strings(c.astype(np.uint32), np.array([0, c.size], np.int64))
    return buf.tobytes()


def rle_from_string(s: Any, h: int, w: int) -> np.ndarray:
    """The run lengths (uint32) of one compressed RLE string of an ``h`` x ``w`` mask (checked: they sum to h*w)."""
    r = segmentations_to_rles([{"size": [h, w], "counts": s}], [h], [w], what="string")
    return r.cnts.copy()
