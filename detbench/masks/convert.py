"""COCO segmentations (polygons, uncompressed and compressed RLE) to one flat set of RLEs, validated.

:func:`segmentations_to_rles` is what :func:`detbench.masks.fr_py_objects`
and ``COCOeval(..., "segm")`` use: pycocotools' ``annToRLE`` for many
annotations at once (all polygons rasterised in one kernel call, all strings
decoded in another). Bad input raises ValueError naming the annotation (its id
where there is one) and the problem: a polygon of odd length or with fewer
than 3 points, non-finite coordinates, an RLE whose size disagrees with its
image or whose runs do not add up to h * w, a corrupt RLE string.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from detbench._parallel import num_threads, run_tasks_inline, run_weighted, split_range
from detbench.masks import _rle_kernels as _k

__all__ = ["Rles", "segmentations_to_rles", "rles_from_dicts", "rles_to_dicts", "strings_to_rles", "rle_stats"]

Rles = namedtuple(
    "Rles",
    [
        "cnts",  # uint32 (total runs,): the run lengths of every mask, one after the other
        "off",  # int64 (n + 1,): runs of mask i are cnts[off[i]:off[i + 1]]
        "h",  # int64 (n,): image heights
        "w",  # int64 (n,): image widths
    ],
)
Rles.__doc__ = "A set of run-length encoded masks, flat (fields documented in source)."


def _name(ids: Any, k: int, what: str) -> str:
    if ids is None:
        return f"{what} {k}"
    return f"{what} id {ids[k]!r}"


def _bytes_of(counts: Any) -> bytes | None:
    if isinstance(counts, bytes):
        return counts
    if isinstance(counts, str):
        try:
            return counts.encode("ascii")
        except UnicodeEncodeError:
            return None
    return None


def _check_size(segm: dict, h: int, w: int, who: str) -> tuple[int, int]:
    size = segm.get("size")
    try:
        sh, sw = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: RLE 'size' must be [height, width], got {size!r}") from None
    if h >= 0 and (sh, sw) != (h, w):
        raise ValueError(f"{who}: RLE size [{sh}, {sw}] disagrees with its image ({h} x {w})")
    if sh < 0 or sw < 0:
        raise ValueError(f"{who}: RLE size must not be negative, got {size!r}")
    return sh, sw


def segmentations_to_rles(
    segms: list,
    hs: Any,
    ws: Any,
    ids: Any = None,
    *,
    what: str = "annotation",
    allow_boxes: bool = False,
    threads: int | None = None,
) -> Rles:
    """One :class:`Rles` for the segmentations ``segms`` (image sizes ``hs``/``ws``; -1: take the RLE's size).

    Each segmentation is a list of polygons (flat ``[x0, y0, x1, y1, ...]``,
    merged by union), an uncompressed RLE ``{"size": [h, w], "counts": [...]}``
    or a compressed one (``counts`` a str or bytes). ``ids`` names the
    annotations in error messages. ``allow_boxes``: a list whose first entry
    has 4 numbers is a list of ``[x, y, w, h]`` boxes (pycocotools'
    ``frPyObjects`` rule) instead of an error. ``threads``: polygons are
    rasterised in that many chunks on detbench's thread pool when there are
    many (default ``numba.get_num_threads()``; the result does not depend on it).
    """
    n = len(segms)
    hs = np.asarray(hs, np.int64).reshape(-1)
    ws = np.asarray(ws, np.int64).reshape(-1)
    hs_l = hs.tolist()
    ws_l = ws.tolist()
    h_out = hs.copy()
    w_out = ws.copy()
    kind = [0] * n  # 0 polygons, 1 compressed, 2 uncompressed
    poly_xy: list = []
    poly_len: list = []
    poly_ann: list = []
    poly_n = [0] * n
    strings: list = []
    str_rows: list = []
    unc: list = []
    unc_rows: list = []
    asarray = np.asarray
    f64 = np.float64
    for k, s in enumerate(segms):
        if type(s) is dict or isinstance(s, dict):
            c = s.get("counts")
            if c is None:
                raise ValueError(f"{_name(ids, k, what)}: segmentation dict has no 'counts'")
            size = s.get("size")
            h, w = hs_l[k], ws_l[k]
            if not (type(size) is list and len(size) == 2 and size[0] == h and size[1] == w and h >= 0 and w >= 0):
                h_out[k], w_out[k] = _check_size(s, h, w, _name(ids, k, what))
            if type(c) is str:
                try:
                    b = c.encode("ascii")
                except UnicodeEncodeError:
                    raise ValueError(
                        f"{_name(ids, k, what)}: corrupt compressed RLE string (a character outside '0'..'o')"
                    ) from None
            elif type(c) is bytes:
                b = c
            elif isinstance(c, (list, tuple, np.ndarray)):
                who = _name(ids, k, what)
                try:
                    arr = asarray(c, dtype=f64).reshape(-1)
                except (TypeError, ValueError):
                    raise ValueError(f"{who}: uncompressed RLE counts must be numbers") from None
                if arr.size and (not np.isfinite(arr).all() or (arr < 0).any() or (arr != np.round(arr)).any()):
                    raise ValueError(f"{who}: uncompressed RLE counts must be non-negative integers")
                if arr.size and arr.max() > 0xFFFFFFFF:
                    raise ValueError(f"{who}: uncompressed RLE count above 2**32 - 1")
                kind[k] = 2
                unc.append(arr.astype(np.uint32))
                unc_rows.append(k)
                continue
            else:
                b = _bytes_of(c)
                if b is None:
                    raise ValueError(
                        f"{_name(ids, k, what)}: RLE counts must be a list, str or bytes, got {type(c).__name__}"
                    )
            kind[k] = 1
            strings.append(b)
            str_rows.append(k)
            continue
        if not isinstance(s, (list, tuple)) or len(s) == 0:
            raise ValueError(
                f"{_name(ids, k, what)}: segmentation must be a non-empty list of polygons or an RLE dict, "
                f"got {s!r:.60}"
            )
        if allow_boxes and not isinstance(s[0], (int, float)) and len(s[0]) == 4:
            polys = []
            for b in s:
                x, y, bw, bh = (float(v) for v in b)
                polys.append([x, y, x, y + bh, x + bw, y + bh, x + bw, y])
            s = polys
        for j, p in enumerate(s):
            try:
                arr = asarray(p, dtype=f64)
            except (TypeError, ValueError):
                raise ValueError(f"{_name(ids, k, what)}: polygon {j} must be a flat list of numbers") from None
            m = arr.size
            if arr.ndim != 1 or m % 2 or m < 6:
                who = _name(ids, k, what)
                if arr.ndim != 1:
                    raise ValueError(f"{who}: polygon {j} must be a flat list [x0, y0, x1, y1, ...], got {arr.shape}")
                if m % 2:
                    raise ValueError(f"{who}: polygon {j} has an odd number of coordinates ({m})")
                raise ValueError(f"{who}: polygon {j} has {m // 2} points; at least 3 are needed")
            poly_xy.append(arr)
            poly_len.append(m)
            poly_ann.append((k, j))
        poly_n[k] = len(s)
        if hs_l[k] < 0:
            raise ValueError(f"{_name(ids, k, what)}: a polygon needs the image size")
    kind = np.array(kind, np.int8)
    poly_n = np.array(poly_n, np.int64)
    xy = np.concatenate(poly_xy) if poly_xy else np.zeros(0, np.float64)
    if xy.size and not (np.abs(xy).max() <= 1e8):  # also catches NaN
        for (k, j), arr in zip(poly_ann, poly_xy):
            if not np.isfinite(arr).all():
                raise ValueError(f"{_name(ids, k, what)}: polygon {j} has NaN or infinite coordinates")
            if np.abs(arr).max() > 1e8:
                raise ValueError(f"{_name(ids, k, what)}: polygon {j} has coordinates beyond 1e8")
    empty_runs = (np.zeros(0, np.uint32), np.zeros(1, np.int64))
    # polygons: one kernel call, then a union per annotation
    rows_poly = np.flatnonzero(kind == 0)
    mc, mo = empty_runs
    if rows_poly.size:
        p_off = np.zeros(len(poly_len) + 1, np.int64)
        np.cumsum(poly_len, out=p_off[1:])
        poly_h = np.repeat(hs[rows_poly], poly_n[rows_poly])
        poly_w = np.repeat(ws[rows_poly], poly_n[rows_poly])
        pc, po = _polys_to_rles(xy, p_off, poly_h, poly_w, threads)
        grp = np.zeros(rows_poly.size + 1, np.int64)
        np.cumsum(poly_n[rows_poly], out=grp[1:])
        mc, mo = _k.merge_groups(pc, po, grp, False)
    # compressed strings: one kernel call
    sc, so = empty_runs
    if strings:
        s_off = np.zeros(len(strings) + 1, np.int64)
        np.cumsum([len(b) for b in strings], out=s_off[1:])
        buf = np.frombuffer(b"".join(strings), np.uint8)
        sc, so, err = strings_to_rles(buf, s_off, threads)
        bad = np.flatnonzero(err)
        if bad.size:
            k = str_rows[int(bad[0])]
            why = {1: "a character outside '0'..'o'", 2: "a value cut off at the end", 3: "a run length out of range"}
            raise ValueError(f"{_name(ids, k, what)}: corrupt compressed RLE string ({why[int(err[bad[0]])]})")
    # assemble in annotation order (one kind only: already in order)
    if rows_poly.size == n:
        cnts, off = mc, mo
    elif len(strings) == n:
        cnts, off = sc, so
    else:
        str_idx = np.asarray(str_rows, np.int64)
        unc_idx = np.asarray(unc_rows, np.int64)
        lens = np.zeros(n, np.int64)
        lens[rows_poly] = np.diff(mo)
        lens[str_idx] = np.diff(so)
        lens[unc_idx] = [a.size for a in unc]
        off = np.zeros(n + 1, np.int64)
        np.cumsum(lens, out=off[1:])
        cnts = np.empty(off[-1], np.uint32)
        _k.scatter_runs(cnts, off, rows_poly, mc, mo)
        _k.scatter_runs(cnts, off, str_idx, sc, so)
        if unc:
            uo = np.zeros(len(unc) + 1, np.int64)
            np.cumsum([a.size for a in unc], out=uo[1:])
            _k.scatter_runs(cnts, off, unc_idx, np.concatenate(unc), uo)
    out = Rles(cnts, off, h_out, w_out)
    tot = rle_stats(out, threads, boxes=False, areas=False, totals=True)[2]
    wrong = np.flatnonzero((tot != h_out * w_out) & (kind != 0))
    if wrong.size:
        k = int(wrong[0])
        raise ValueError(
            f"{_name(ids, k, what)}: RLE runs add up to {int(tot[k])} pixels, expected {int(h_out[k])} x "
            f"{int(w_out[k])} = {int(h_out[k] * w_out[k])}"
        )
    return out


#: polygons at or above this many are rasterised on several threads
_PARALLEL_POLYGONS = 2000


def _polys_to_rles(xy: np.ndarray, p_off: np.ndarray, hs: np.ndarray, ws: np.ndarray, threads: int | None) -> tuple:
    n = p_off.size - 1
    n_par = num_threads(threads) if n >= _PARALLEL_POLYGONS else 1
    if n_par <= 1:
        return _k.polys_to_rles(xy, p_off, hs, ws)
    pieces = split_range(n, n_par)
    parts = run_tasks_inline(
        [(lambda a=a, b=b: _k.polys_to_rles(xy, p_off[a : b + 1], hs[a:b], ws[a:b])) for a, b in pieces],
        threads=n_par,
    )
    cnts = np.concatenate([c for c, _ in parts])
    off = np.zeros(n + 1, np.int64)
    pos = 0
    for (a, b), (_, o) in zip(pieces, parts):
        off[a + 1 : b + 1] = o[1:] + pos
        pos += int(o[-1])
    return cnts, off


def rles_from_dicts(objs: list, what: str = "rle") -> Rles:
    """:class:`Rles` of RLE dicts (compressed or uncompressed; each with its own ``size``)."""
    for k, o in enumerate(objs):
        if not isinstance(o, dict):
            raise ValueError(f"{what} {k}: expected an RLE dict with 'size' and 'counts', got {type(o).__name__}")
    m1 = np.full(len(objs), -1, np.int64)
    return segmentations_to_rles(objs, m1, m1, what=what)


def rles_to_dicts(r: Rles) -> list:
    """pycocotools' RLE dicts ``{"size": [h, w], "counts": bytes}`` (compressed) of ``r``."""
    buf, s_off = _k.rles_to_strings(r.cnts, r.off)
    raw = buf.tobytes()
    return [{"size": [int(r.h[i]), int(r.w[i])], "counts": raw[s_off[i] : s_off[i + 1]]} for i in range(r.off.size - 1)]


#: string bytes / runs at or above which RLE strings are decoded / masks measured on several threads
_PARALLEL_BYTES = 1 << 18
_PARALLEL_RUNS = 1 << 17


def strings_to_rles(
    buf: np.ndarray, s_off: np.ndarray, threads: int | None = None, sizes: tuple | None = None
) -> tuple:
    """``_rle_kernels.strings_to_rles`` (cnts, off, err) of the strings ``buf[s_off[i]:s_off[i + 1]]``, rows
    split over ``threads`` (default ``numba.get_num_threads()``) from 256 kB of text on; the same arrays for
    any thread count (each row is decoded into its own slots).

    ``sizes``: ``(hs, ws)`` of the masks: then also (totals, areas, boxes) as :func:`rle_stats` gives them
    (every run summed, int64; ``rleArea``, int64; ``rleToBbox``, (n, 4) float64), measured while each row's
    runs are still in cache (rows with an error are left unmeasured)."""
    n = s_off.size - 1
    if sizes is None and (num_threads(threads) <= 1 or int(s_off[-1] - s_off[0]) < _PARALLEL_BYTES):
        return _k.strings_to_rles(buf, s_off)
    if int(s_off[-1] - s_off[0]) < _PARALLEL_BYTES:
        threads = 1
    off = np.zeros(n + 1, np.int64)
    run_weighted(s_off, lambda a, b: _k.string_run_counts(buf, s_off[a : b + 1], off[a + 1 : b + 1]), threads)
    np.cumsum(off, out=off)
    cnts = np.zeros(off[n], np.uint32)
    err = np.zeros(n, np.int64)
    if sizes is None:
        run_weighted(
            s_off, lambda a, b: _k.strings_into_rles(buf, s_off[a : b + 1], off[a : b + 1], cnts, err[a:b]), threads
        )
        return cnts, off, err
    hs, ws = (np.ascontiguousarray(v, np.int64) for v in sizes)
    tot = np.zeros(n, np.int64)
    area = np.zeros(n, np.int64)
    box = np.zeros((n, 4))

    def work(a: int, b: int) -> None:
        _k.strings_into_rles_stats(
            buf, s_off[a : b + 1], off[a : b + 1], cnts, err[a:b], hs[a:b], ws[a:b], tot[a:b], area[a:b], box[a:b]
        )

    run_weighted(s_off, work, threads)
    return cnts, off, err, tot, area, box


def rle_stats(
    r: Rles, threads: int | None = None, *, boxes: bool = True, areas: bool = True, totals: bool = False
) -> tuple:
    """(boxes (n, 4) float64 ``rleToBbox``, areas int64 ``rleArea``, totals int64: every run summed) of the
    masks of ``r`` (None for what is not asked), rows split over ``threads`` from 128 k runs on."""
    n = r.off.size - 1
    box = np.empty((n, 4)) if boxes else None
    area = np.empty(n, np.int64) if areas else None
    tot = np.empty(n, np.int64) if totals else None
    cnts, off = r.cnts, r.off

    def work(a: int, b: int) -> None:
        o = off[a : b + 1]
        if boxes:
            _k.to_bboxes(cnts, o, r.h[a:b], r.w[a:b], box[a:b])
        if areas:
            _k.areas(cnts, o, area[a:b])
        if totals:
            _k.sums(cnts, o, tot[a:b])

    run_weighted(off, work, threads, min_total=_PARALLEL_RUNS)
    return box, area, tot
