"""Annotations to grouped flat arrays: the input of every COCO evaluation kernel.

:func:`prepare` selects the annotations of the evaluated images and categories,
groups them by (category, image) with a counting sort (scattered in input
order, which is cache-friendly), orders every category's detections by score
with the shared segmented radix sort (:func:`detbench._sort.segmented_desc_order`)
and returns a :class:`Prepared` whose ``groups`` is a
:class:`~detbench.eval.matching.Groups` record. It also applies pycocotools'
annotation-id rules when ``compat="pycocotools"`` (duplicate ids, id 0).
"""

from __future__ import annotations

import warnings
from collections import namedtuple
from typing import Any

import numpy as np

from detbench._parallel import num_threads, run_chunks_inline, run_tasks_inline, split_range
from detbench._sort import segmented_desc_order
from detbench.eval._grouping_kernels import chunk_cursors, count_keys, group_keys, place_keys, scatter_rows
from detbench.eval.annotations import annotations_of, positions
from detbench.eval.matching import Groups

__all__ = ["Rows", "Prepared", "prepare", "group_rows", "ids_unique"]

Rows = namedtuple(
    "Rows",
    [
        "box",  # float64 (N, 4): xywh boxes
        "area",  # float64 (N,)
        "score",  # float64 (N,) or (0,): detection scores (empty for ground truths)
        "flag",  # uint8 (N,) or (0,): iscrowd (empty for detections)
        "img",  # int64 (N,): image position (output only)
        "src",  # int64 (N,): input row (output only)
    ],
)
Rows.__doc__ = "Per-annotation arrays moved together by :func:`_grouping_kernels.scatter_rows`."

#: inputs above this many rows are scattered by several threads
_PARALLEL_ROWS = 200_000
#: rows from which the scatter into group order is split over threads (~0.6 ms at 50,000)
_PARALLEL_SORT = 20_000


class Prepared:
    """The grouped arrays of one ``evaluate()`` call, and what ``evalImgs`` needs to name them.

    ``groups`` (:class:`~detbench.eval.matching.Groups`), ``img_ids``/``cat_ids``
    (``[-1]`` without categories), ``n_seg``, ``use_cats``, ``g_src``/``d_src``
    (input row of every grouped annotation), ``gt_ann``/``dt_ann`` (the
    :class:`~detbench.eval.loader.Annotations`).
    """

    __slots__ = ("groups", "img_ids", "cat_ids", "n_seg", "use_cats", "g_src", "d_src", "gt_ann", "dt_ann")

    def __init__(self, **fields: Any) -> None:
        for k, v in fields.items():
            setattr(self, k, v)

    @property
    def n_img(self) -> int:
        return self.groups.n_img


def prepare(
    coco_gt: Any,
    coco_dt: Any,
    img_ids: list,
    cat_ids: list,
    use_cats: bool,
    *,
    compat: bool = False,
    cache: bool = True,
    threads: int | None = None,
) -> Prepared:
    """Group the annotations of ``coco_gt``/``coco_dt`` for evaluation (see the module docstring)."""
    gt = annotations_of(coco_gt, "gt", cache=cache)
    dt = annotations_of(coco_dt, "dt", cache=cache)
    if not use_cats:
        cat_ids = list(dict.fromkeys(cat_ids))
    n_img, n_cat = len(img_ids), len(cat_ids)
    big = len(gt) + len(dt) >= _PARALLEL_ROWS
    # the big look-ups first: the calling thread runs the first task itself
    ipd, cpd, ipg, cpg = run_tasks_inline(
        [
            lambda: positions(dt.image_id, img_ids),
            lambda: positions(dt.category_id, cat_ids),
            lambda: positions(gt.image_id, img_ids),
            lambda: positions(gt.category_id, cat_ids),
        ],
        threads=threads if big else 1,
    )
    g_src = np.arange(len(gt), dtype=np.int64)
    d_src = np.arange(len(dt), dtype=np.int64)
    if compat:
        g_src, ipg, cpg = _pycocotools_duplicates(gt.ids, g_src, ipg, cpg, use_cats)
        d_src, ipd, cpd = _pycocotools_duplicates(dt.ids, d_src, ipd, cpd, use_cats)
    else:
        _warn_duplicates(gt.ids, "ground-truth")
    crowd = gt.iscrowd.view(np.uint8) if gt.iscrowd is not None else np.zeros(len(gt), np.uint8)
    g_rows = Rows(gt.bbox, gt.area, None, crowd, None, None)
    g_off, g = group_rows(ipg, cpg, n_img, n_cat, use_cats, g_src, g_rows, threads=threads)
    d_rows = Rows(dt.bbox, dt.area, dt.score, None, None, None)
    d_off, d = group_rows(ipd, cpd, n_img, n_cat, use_cats, d_src, d_rows, threads=threads)
    if compat:
        g_idok = _id_flags(_truthy, gt.ids, g.src)
        d_idok = _id_flags(_positive, dt.ids, d.src)
    else:
        g_idok = np.ones(g.src.size, np.uint8)
        d_idok = np.ones(d.src.size, np.uint8)
    if use_cats:
        seg_off = d_off[::n_img].copy() if n_img else np.zeros(n_cat + 1, np.int64)
    else:
        seg_off = np.array([0, d.src.size], np.int64)
    gorder = segmented_desc_order(d.score, seg_off, threads=threads)
    groups = Groups(
        n_img,
        g_off,
        g.box,
        g.area,
        g.flag,
        g_idok,
        d_off,
        d.box,
        d.area,
        d.score,
        d_idok,
        d.img,
        gorder,
        seg_off,
        np.zeros(0, np.float64),
        np.zeros(0, np.int64),
    )
    return Prepared(
        groups=groups,
        img_ids=img_ids,
        cat_ids=cat_ids if use_cats else [-1],
        n_seg=n_cat if use_cats else 1,
        use_cats=use_cats,
        g_src=g.src,
        d_src=d.src,
        gt_ann=gt,
        dt_ann=dt,
    )


def group_rows(
    ip: np.ndarray,
    cp: np.ndarray,
    n_img: int,
    n_cat: int,
    use_cats: bool,
    src: np.ndarray,
    rows: Rows,
    threads: int | None = None,
) -> tuple[np.ndarray, Rows]:
    """Group annotations (counting sort) and put the ``rows`` (``score``/``flag`` may be None) in group order.

    Returns (group offsets, grouped :class:`Rows`); the offsets have
    ``n_cat * n_img + 1`` entries with ``use_cats``, else ``n_img + 1`` (one
    group per image). Absent ``score``/``flag`` come back as None.
    """
    n_keys = n_img * n_cat
    offsets = np.zeros(n_keys + 1, np.int64)
    dest = np.empty(ip.size, np.int64)
    f64 = np.float64
    r_in = Rows(
        np.ascontiguousarray(rows.box, dtype=f64),
        np.ascontiguousarray(rows.area, dtype=f64),
        rows.score if rows.score is not None else np.empty(0, f64),
        rows.flag if rows.flag is not None else np.empty(0, np.uint8),
        np.empty(0, np.int64),
        np.empty(0, np.int64),
    )

    def new_rows(n: int) -> Rows:
        return Rows(
            np.empty((n, 4), f64),
            np.empty(n, f64),
            np.empty(n if rows.score is not None else 0, f64),
            np.empty(n if rows.flag is not None else 0, np.uint8),
            np.empty(n, np.int64),
            np.empty(n, np.int64),
        )

    n_par = num_threads(threads) if ip.size >= _PARALLEL_ROWS else 1
    if n_par > 1 and n_keys <= ip.size:
        # chunked counting sort: per-chunk counts, one prefix sum, then each chunk
        # places its entries and scatters their rows (n_keys * threads counters, so
        # only where the keys are no more than the entries)
        pieces = split_range(ip.size, n_par)
        counts = np.zeros((len(pieces), n_keys), np.int64)
        run_tasks_inline(
            [
                (lambda c=c, a=a, b=b: count_keys(ip, cp, n_img, n_cat, use_cats, a, b, counts[c]))
                for c, (a, b) in enumerate(pieces)
            ],
            threads=n_par,
        )
        r_out = new_rows(chunk_cursors(counts, offsets))

        def place(c: int, a: int, b: int) -> None:
            place_keys(ip, cp, n_img, n_cat, use_cats, a, b, counts[c], dest)
            scatter_rows(a, b, dest, src, r_in, ip, r_out)

        run_tasks_inline([(lambda c=c, a=a, b=b: place(c, a, b)) for c, (a, b) in enumerate(pieces)], threads=n_par)
    else:
        n = group_keys(ip, cp, n_img, n_cat, use_cats, offsets, dest)
        r_out = new_rows(n)
        run_chunks_inline(
            ip.size,
            lambda i0, i1: scatter_rows(i0, i1, dest, src, r_in, ip, r_out),
            threads=num_threads(threads),
            min_items=_PARALLEL_SORT,  # the scatter alone is worth a hand-off from here (~0.6 ms at 50,000)
        )
    if not use_cats:
        offsets = offsets[::n_cat].copy() if n_cat else np.zeros(n_img + 1, np.int64)
    r_out = r_out._replace(
        score=r_out.score if rows.score is not None else None, flag=r_out.flag if rows.flag is not None else None
    )
    return offsets, r_out


def ids_unique(ids: np.ndarray) -> bool:
    """True if no annotation id repeats (O(N) when the ids increase, as ``loadRes`` numbers them)."""
    if ids.size < 2:
        return True
    if ids.dtype != object:
        if bool(np.all(ids[1:] > ids[:-1])):
            return True
        return np.unique(ids).size == ids.size
    try:
        return len(set(ids.tolist())) == ids.size
    except TypeError:
        return True


def _id_flags(rule: Any, ids: np.ndarray, src: np.ndarray) -> np.ndarray:
    # uint8 rule(ids)[src]; all ones without the gather when every id passes (the usual case)
    ok = rule(ids)
    if ok.all():
        return np.ones(src.size, np.uint8)
    return ok[src].view(np.uint8)


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
    if n < 2 or ids_unique(ids):
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
