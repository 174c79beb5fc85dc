"""Masks of the segmentation JSON texts a detbench reader kept (``Annotations.extra["segm_raw"]``).

A ground-truth file's ``segmentation`` values stay JSON text until a segm
evaluation asks for them (:func:`rows_rles`). Then, in bulk:

* the texts that are lists of polygons are read by simdjson
  (:func:`detbench.eval._json.polygon_rows`: every coordinate into one float64
  buffer, no Python list or float per value), rasterised and merged in two
  kernel calls. At 5,000 synthetic images (35,110 ground truths, 34,765 of them
  polygons) this read took ~25 ms against ~80 ms for msgspec's typed decode
  into lists (the decode, the collection of ~100 k lists it left behind, and
  the lists' values into an array);
* the rest (compressed RLEs, crowd RLEs with uncompressed counts, anything
  else) are decoded by msgspec: compressed codes in one kernel call, the others
  by the general converter, which also names whatever is malformed. Whenever the
  simdjson read refuses a polygon text, every text takes this path.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import msgspec
import numpy as np

from detbench.eval._json import _gc_paused, polygon_rows
from detbench.eval.instances import _rle_strings, _sizes, strings_rles
from detbench.masks import _rle_kernels as _k
from detbench.masks.convert import Rles, _polys_to_rles, segmentations_to_rles

__all__ = ["rows_rles"]


class _AnyRle(msgspec.Struct, gc=False):
    size: tuple[int, int]
    counts: str | list[int]  # compressed, or uncompressed run lengths (crowd ground truths)


_SEGMS = msgspec.json.Decoder(list[list[list[float]] | _AnyRle])  # polygons or RLEs
_SEGM = msgspec.json.Decoder(list[list[float]] | _AnyRle)

_LIST = 0  # polygons (decoded by msgspec)
_CODE = 1  # a compressed RLE
_OTHER = 2  # anything else: the general converter
_READ = 3  # polygons already read by simdjson


def rows_rles(ann: Any, rows: np.ndarray, hs: np.ndarray, ws: np.ndarray, what: str, ids_fn: Any) -> tuple | None:
    """``(rles, boxes, areas, rows)`` for the annotation rows ``rows`` from ``ann.extra`` (None when it has
    none): the mask of selected row i is ``rows[i]`` of ``rles`` (``rows`` None: the i-th).

    ``hs``/``ws``: each selected row's image size (a mask of another size is a
    ValueError naming ``what`` and the id; ``ids_fn(idx)`` gives the ids of
    the selected rows ``idx``, asked only for a message). ``boxes``/``areas``
    are the masks' (indexed like ``rles``) when they were computed on reading,
    else None.
    """
    extra = ann.extra
    rows = np.asarray(rows, np.int64)
    if "rles" in extra:
        r = extra["rles"]
        h, w = r.h[rows], r.w[rows]
        bad = np.flatnonzero((h != hs) | (w != ws))
        if bad.size:
            k = int(bad[0])
            raise ValueError(
                f"{what} id {ids_fn([k])[0]!r}: RLE size [{int(h[k])}, {int(w[k])}] disagrees with its image "
                f"({int(hs[k])} x {int(ws[k])})"
            )
        # the whole set, indexed through rows (no copy into group order)
        return r, extra.get("mask_box"), extra.get("mask_area"), rows
    raws = extra.get("segm_raw")
    if raws is None:
        return None
    return _raw_rles([raws[k] for k in rows.tolist()], hs, ws, what, ids_fn), None, None, None


def _raw_rles(raws: list, hs: np.ndarray, ws: np.ndarray, what: str, ids_fn: Any) -> Rles:
    # masks of segmentation JSON texts (see the module docstring)
    n = len(raws)
    if n and min(map(len, raws)) == 0:
        k = next(k for k, t in enumerate(raws) if len(t) == 0)
        raise ValueError(f"{what} id {ids_fn([k])[0]!r}: no 'segmentation' (segm evaluation needs masks)")
    kinds = np.full(n, _READ, np.int64)
    parts = []  # (rows, Rles)
    rows_s, read = _simdjson_polygons(raws)
    if read is not None:
        parts.append((rows_s, _polygon_rles(*read, rows_s, n, hs, ws, what, ids_fn)))
    rest = np.setdiff1d(np.arange(n, dtype=np.int64), rows_s, assume_unique=True)
    objs: list = [None] * n
    if rest.size:
        with _gc_paused():  # tens of thousands of polygon lists: no collections that find nothing
            decoded, typed = _decode_segms([raws[k] for k in rest.tolist()])
        for k, o in zip(rest.tolist(), decoded):
            objs[k] = o
        kinds[rest] = [_kind(o) for o in decoded]
        kinds[rest[~typed]] = _OTHER
    rows_c = np.flatnonzero(kinds == _CODE)
    if rows_c.size:
        rc = _rle_texts(objs, rows_c, hs, ws, what, ids_fn)
        if rc is None:
            kinds[rows_c] = _OTHER  # a corrupt code: the general path names it
        else:
            parts.append((rows_c, rc))
    rows_g = np.flatnonzero(kinds == _OTHER)
    if rows_g.size:
        gen = [objs[k] for k in rows_g.tolist()]
        gen = [{"size": list(o.size), "counts": o.counts} if type(o) is _AnyRle else o for o in gen]
        parts.append((rows_g, segmentations_to_rles(gen, hs[rows_g], ws[rows_g], ids_fn(rows_g), what=what)))
    rows_p = np.flatnonzero(kinds == _LIST)
    if rows_p.size:
        parts.append((rows_p, _polygon_rles(*_polygon_lists(objs, rows_p), rows_p, n, hs, ws, what, ids_fn)))
    if len(parts) == 1:
        return parts[0][1]
    lens_all = np.zeros(n, np.int64)
    for rows, r in parts:
        lens_all[rows] = np.diff(r.off)
    off = np.zeros(n + 1, np.int64)
    np.cumsum(lens_all, out=off[1:])
    cnts = np.empty(off[-1], np.uint32)
    h_out, w_out = hs.copy(), ws.copy()
    for rows, r in parts:
        _k.scatter_runs(cnts, off, rows, r.cnts, r.off)
        h_out[rows], w_out[rows] = r.h, r.w
    return Rles(cnts, off, h_out, w_out)


def _kind(o: Any) -> int:
    if type(o) is list:
        return _LIST if o else _OTHER
    return _CODE if type(o) is _AnyRle and type(o.counts) is str else _OTHER


def _simdjson_polygons(raws: list) -> tuple[np.ndarray, tuple | None]:
    # (rows, (values, n_polygons, lengths)) of the texts that start with "[" (polygon lists), read by
    # simdjson; (no rows, None) when there are none or the read refuses one (msgspec then reads them)
    n = len(raws)
    none = np.zeros(0, np.int64)
    if n == 0:
        return none, None
    sizes = np.fromiter(map(len, raws), np.int64, n)
    body = b",".join(raws)
    starts = np.zeros(n, np.int64)
    np.cumsum(sizes[:-1] + 1, out=starts[1:])
    rows = np.flatnonzero(np.frombuffer(body, np.uint8)[starts] == ord("["))
    if rows.size == 0:
        return none, None
    read = polygon_rows(raws if rows.size == n else [raws[k] for k in rows.tolist()])
    if read is None or not read[1].all():  # an empty list: the general path (as pycocotools reads it)
        return none, None
    return rows, read


def _decode_segms(raws: list) -> tuple[list, np.ndarray]:
    # (objects, typed) of segmentation texts: polygon lists and _AnyRle records in one msgspec call; where that
    # fails, item by item, with msgspec's generic objects (typed False) for the items outside those two types
    try:
        objs = _SEGMS.decode(b"[" + b",".join(raws) + b"]")
        return objs, np.ones(len(objs), bool)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        pass
    objs = []
    typed = np.ones(len(raws), bool)
    for k, t in enumerate(raws):
        try:
            objs.append(_SEGM.decode(t))
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            objs.append(msgspec.json.decode(t))
            typed[k] = False
    return objs, typed


def _polygon_lists(objs: list, rows_p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # (values, n_polygons, lengths) of the polygon lists objs[rows_p] (lists of lists of floats)
    polys = [objs[k] for k in rows_p.tolist()]
    n_p = np.fromiter(map(len, polys), np.int64, len(polys))
    leaves = list(chain.from_iterable(polys))
    lens = np.fromiter(map(len, leaves), np.int64, len(leaves))
    return np.fromiter(chain.from_iterable(leaves), np.float64, int(lens.sum())), n_p, lens


def _polygon_rles(vals, n_p, lens, rows_p: np.ndarray, n: int, hs: np.ndarray, ws: np.ndarray, what: str, ids_fn: Any):
    # the masks of rows rows_p from their polygons (every coordinate, polygons per row, coordinates per polygon),
    # rasterised and merged in bulk; a bad polygon is a ValueError naming the row's id
    bad = (lens % 2 != 0) | (lens < 6)
    if bad.any() or not (np.abs(vals).max(initial=0.0) <= 1e8) or (hs[rows_p] < 0).any():
        n_leaf = np.zeros(n, np.int64)
        n_leaf[rows_p] = n_p
        _polygon_errors(vals, lens, n_leaf, hs, what, ids_fn)
    p_off = np.zeros(lens.size + 1, np.int64)
    np.cumsum(lens, out=p_off[1:])
    pc, po = _polys_to_rles(vals, p_off, np.repeat(hs[rows_p], n_p), np.repeat(ws[rows_p], n_p), None)
    grp = np.zeros(rows_p.size + 1, np.int64)
    np.cumsum(n_p, out=grp[1:])
    mc, mo = _k.merge_groups(pc, po, grp, False)
    return Rles(mc, mo, hs[rows_p].copy(), ws[rows_p].copy())


def _rle_texts(objs: list, rows: np.ndarray, hs: np.ndarray, ws: np.ndarray, what: str, ids_fn: Any) -> Rles | None:
    # the compressed RLE records objs[rows] in one kernel call; None if a code is corrupt (the general path names it)
    rles = [objs[k] for k in rows.tolist()]
    strings = _rle_strings(rles)
    if strings is None:
        return None
    size = _sizes(rles)
    h, w = hs[rows], ws[rows]
    bad = np.flatnonzero((size[:, 0] != h) | (size[:, 1] != w))
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"{what} id {ids_fn([int(rows[k])])[0]!r}: RLE size {size[k].tolist()} disagrees with its image "
            f"({int(h[k])} x {int(w[k])})"
        )
    try:
        return strings_rles(strings, size, what)
    except ValueError:
        return None


def _polygon_errors(vals: np.ndarray, lens: np.ndarray, n_leaf: np.ndarray, hs: np.ndarray, what: str, ids_fn: Any):
    # the first bad polygon of parsed segmentations, named
    q = 0
    li = 0
    for k, nl in enumerate(n_leaf.tolist()):
        if nl <= 0:
            continue
        who = f"{what} id {ids_fn([k])[0]!r}"
        for j in range(nl):
            m = int(lens[li])
            arr = vals[q : q + m]
            if m % 2:
                raise ValueError(f"{who}: polygon {j} has an odd number of coordinates ({m})")
            if m < 6:
                raise ValueError(f"{who}: polygon {j} has {m // 2} points; at least 3 are needed")
            if arr.size and np.abs(arr).max() > 1e8:
                raise ValueError(f"{who}: polygon {j} has coordinates beyond 1e8")
            q += m
            li += 1
        if hs[k] < 0:
            raise ValueError(f"{who}: a polygon needs the image size")
