"""LVIS ground truth and detection results as flat arrays: lvis-api's ``LVIS`` and ``LVISResults``.

:class:`LVIS` reads an LVIS annotation file (path, JSON bytes, a parsed ``dict``
or lvis-api's own ``LVIS`` object) through detbench's COCO loader: msgspec
straight to arrays for a file in the common shape, the compiled dict reader
otherwise, with the loader's checks (ValueError naming the annotation and the
problem). LVIS adds to COCO, per image, ``neg_category_ids`` (categories
verified absent) and ``not_exhaustive_category_ids`` (categories whose
instances may be missing), per category ``frequency`` (``r``/``c``/``f``) and,
per annotation, an optional ``ignore`` flag; LVIS has no crowd regions.

:class:`LVISResults` is lvis-api's rule for results: at most ``max_dets``
detections per image *across categories* (the highest scores; equal scores keep
file order, like Python's stable sort), ``area = w * h`` for results with a
``bbox``, and for results with only an RLE ``segmentation`` the mask area and
``toBbox`` box. Unlike lvis-api, the caller's dicts are never modified, an empty
result list is allowed, and detections of images or categories the ground truth
does not list raise ValueError (lvis-api asserts on unknown images and drops
unknown categories silently).

The lvis-api-shaped index methods (``get_img_ids``, ``load_cats``,
``get_ann_ids``, ``load_anns``, ``dataset``, ...) are built only when called.
"""

from __future__ import annotations

import math
import os
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

from detbench._pages import with_small_pages
from detbench._validate import check_int
from detbench.eval._json import TypedGT, _gc_paused, decode_generic, read_source, results_arrays
from detbench.eval.annotations import Annotations, positions
from detbench.eval.instances import strings_rles
from detbench.eval.loader import CocoDataset, _gt_from_typed, _results_from_arrays, load_coco_source, load_results
from detbench.masks.convert import Rles, rle_stats, segmentations_to_rles

__all__ = ["LVIS", "LVISResults", "is_lvis_api"]


class _Ann(msgspec.Struct, gc=False):
    id: int
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    area: float = math.nan  # absent: w*h (JSON cannot hold NaN)
    ignore: Any = None


class _File(msgspec.Struct, gc=False):
    images: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    annotations: list[_Ann]


class _Segm(msgspec.Struct, gc=False):
    segmentation: Any = None


class _SegmFile(msgspec.Struct, gc=False):
    annotations: list[_Segm]


class _SegmResults(msgspec.Struct, gc=False):
    annotations: list[_Segm]


class _Rle(msgspec.Struct, gc=False):
    size: tuple[int, int]
    counts: str


class _Det(msgspec.Struct, gc=False):
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    score: float
    segmentation: msgspec.Raw = msgspec.Raw(b"null")  # the mask's JSON text, decoded only where needed


_GT = msgspec.json.Decoder(_File)
_DETS = msgspec.json.Decoder(list[_Det])
_RLES = msgspec.json.Decoder(list[_Rle | None])
_GT_SEGM = msgspec.json.Decoder(_SegmFile)
_DT_SEGM = msgspec.json.Decoder(list[_Segm])
_DT_SEGM_DICT = msgspec.json.Decoder(_SegmResults)


def is_lvis_api(obj: Any, cls: str) -> bool:
    """True for an object of lvis-api's class ``cls`` (``"LVIS"`` or ``"LVISResults"``), without importing lvis."""
    return any(c.__name__ == cls and c.__module__.startswith("lvis.") for c in type(obj).__mro__)


def _typed_results(raw: bytes) -> tuple[dict, list] | None:
    """(arrays, rows) of a results file in the common shape (boxes and compressed RLEs), else None.

    The rows (``_Det`` records) are kept whole: keeping only their masks while the rest is freed
    fragments the allocator's arenas and slowed every later decode (measured: 2x after 8 loads).
    """
    with _gc_paused():
        try:
            rows = _DETS.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return None
        n = len(rows)
        try:
            img = np.fromiter(map(attrgetter("image_id"), rows), np.float64, n)
            cat = np.fromiter(map(attrgetter("category_id"), rows), np.float64, n)
        except OverflowError:
            return None
        if n and not (np.abs(np.concatenate([img, cat])) < 2.0**53).all():
            return None
        arrays = {
            "image_id": img,
            "category_id": cat,
            "bbox": np.fromiter(chain.from_iterable(map(attrgetter("bbox"), rows)), np.float64, 4 * n).reshape(n, 4),
            "score": np.fromiter(map(attrgetter("score"), rows), np.float64, n),
        }
        return arrays, rows


def _typed_gt(raw: bytes) -> tuple[TypedGT, np.ndarray] | None:
    with _gc_paused():
        try:
            doc = _GT.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return None
        rows = doc.annotations
        n = len(rows)
        try:
            ids = np.fromiter((r.id for r in rows), np.float64, n)
            img = np.fromiter((r.image_id for r in rows), np.float64, n)
            cat = np.fromiter((r.category_id for r in rows), np.float64, n)
        except OverflowError:
            return None
        if n and not (np.abs(np.concatenate([ids, img, cat])) < 2.0**53).all():
            return None
        bbox = np.fromiter((v for r in rows for v in r.bbox), np.float64, 4 * n).reshape(n, 4)
        area = np.fromiter((r.area for r in rows), np.float64, n)
        ignore = np.fromiter((bool(r.ignore) for r in rows), bool, n)
    absent = np.isnan(area)
    if absent.any():
        area[absent] = bbox[absent, 2] * bbox[absent, 3]
    arrays = {
        "ids": ids,
        "image_id": img,
        "category_id": cat,
        "bbox": bbox,
        "area": area,
        "iscrowd": np.zeros(n, np.int64),
        "difficult": None,
    }
    return TypedGT(doc.images, doc.categories, arrays), ignore


class LVIS:
    """An LVIS ground-truth set (lvis-api's ``LVIS``): path, JSON bytes, ``dict`` or lvis-api ``LVIS`` object.

    Attributes: ``images``, ``categories`` (the dicts, file order),
    ``image_ids``, ``annotations`` (:class:`~detbench.eval.annotations.Annotations`,
    file order), ``ignore`` (bool per annotation: a truthy ``ignore`` key),
    ``source``. Raises ValueError naming the problem for what detbench's COCO
    loader rejects, and for an image without ``neg_category_ids`` or
    ``not_exhaustive_category_ids`` (lists of category ids).
    """

    @with_small_pages
    def __init__(self, annotation_path: Any) -> None:
        src = annotation_path
        if isinstance(src, LVIS):
            self.__dict__.update(src.__dict__)
            return
        if is_lvis_api(src, "LVIS"):
            src = src.dataset
        raw, data, name = read_source(src, "LVIS")
        self.source = name
        self._raw = raw if isinstance(annotation_path, (bytes, bytearray, memoryview)) else None
        self._path = name if isinstance(annotation_path, (str, os.PathLike)) else None
        self._dataset: dict | None = None
        self._segms: list | None = None
        typed = _typed_gt(raw) if raw is not None else None
        if typed is not None:
            coco = _gt_from_typed(typed[0], name, True)
            self.ignore = typed[1]
        else:
            if raw is not None:
                data = decode_generic(raw, name)
            coco = load_coco_source(None, data, name)
            self._dataset = data
            self.ignore = np.fromiter((bool(a.get("ignore", 0)) for a in data["annotations"]), bool)
        self._coco = coco
        self.images: list = coco.images
        self.categories: list = coco.categories
        self.image_ids: list = coco.image_ids
        self.annotations: Annotations = coco.annotations
        self._index: dict | None = None
        for k, im in enumerate(self.images):
            for key in ("neg_category_ids", "not_exhaustive_category_ids"):
                v = im.get(key)
                if not isinstance(v, list):
                    got = "missing" if v is None else f"a {type(v).__name__}"
                    raise ValueError(
                        f"{name}: image {k} (id {im['id']!r}): {key!r} must be a list of category ids, got {got} "
                        "(LVIS' federated evaluation needs it)"
                    )

    def __repr__(self) -> str:
        return (
            f"LVIS({len(self.image_ids)} images, {len(self.categories)} categories, "
            f"{len(self.annotations)} annotations, source={self.source!r})"
        )

    # ------------------------------------------------------------ lvis-api's index API
    @property
    def dataset(self) -> dict:
        """The parsed JSON document (decoded on first access for a file read the fast way)."""
        if self._dataset is None:
            raw = self._raw if self._raw is not None else read_source(self._path, "LVIS")[0]
            self._dataset = decode_generic(raw, self.source)
        return self._dataset

    def _idx(self) -> dict:
        if self._index is None:
            self._index = {
                "imgs": {im["id"]: im for im in self.images},
                "cats": {c["id"]: c for c in self.categories},
            }
        return self._index

    @property
    def imgs(self) -> dict:
        return self._idx()["imgs"]

    @property
    def cats(self) -> dict:
        return self._idx()["cats"]

    @property
    def anns(self) -> dict:
        return {a["id"]: a for a in self.dataset["annotations"]}

    def get_img_ids(self) -> list:
        """All image ids (file order)."""
        return list(self.image_ids)

    def get_cat_ids(self) -> list:
        """All category ids (file order)."""
        return [c["id"] for c in self.categories]

    def load_imgs(self, ids: Any = None) -> list:
        """Image dicts of ``ids`` (all when None)."""
        return list(self.images) if ids is None else [self.imgs[i] for i in ids]

    def load_cats(self, ids: Any = None) -> list:
        """Category dicts of ``ids`` (all when None)."""
        return list(self.categories) if ids is None else [self.cats[i] for i in ids]

    def load_anns(self, ids: Any = None) -> list:
        """Annotation dicts of ``ids`` (all when None)."""
        if ids is None:
            return list(self.dataset["annotations"])
        anns = self.anns
        return [anns[i] for i in ids]

    def get_ann_ids(self, img_ids: Any = None, cat_ids: Any = None, area_rng: Any = None) -> list:
        """Annotation ids as lvis-api selects them: image by image (in ``img_ids`` order), then file order;
        with ``cat_ids`` or ``area_rng``, only those categories and areas strictly inside the range
        (default ``(0, inf)``)."""
        a = self.annotations
        if img_ids is None:
            rows = np.arange(len(a))
        else:
            ip = positions(a.image_id, list(img_ids))
            rows = np.flatnonzero(ip >= 0)
            rows = rows[np.argsort(ip[rows], kind="stable")]
        if cat_ids is not None or area_rng is not None:
            lo, hi = (0.0, math.inf) if area_rng is None else (float(area_rng[0]), float(area_rng[1]))
            keep = (a.area[rows] > lo) & (a.area[rows] < hi)
            if cat_ids is not None:
                keep &= positions(a.category_id[rows], list(dict.fromkeys(cat_ids))) >= 0
            rows = rows[keep]
        ids = a.ids[rows]
        return [int(v) if isinstance(v, float) and v.is_integer() else v for v in ids.tolist()]

    # ------------------------------------------------------------ masks
    def segmentations(self) -> list:
        """The ``segmentation`` of every annotation (file order; None where absent), read once."""
        if self._segms is not None:
            return self._segms
        if self._dataset is not None:
            return [a.get("segmentation") for a in self._dataset["annotations"]]
        raw = self._raw if self._raw is not None else read_source(self._path, "LVIS")[0]
        with _gc_paused():
            try:
                self._segm_rows = _GT_SEGM.decode(raw).annotations  # kept whole (see _typed_results)
                self._segms = list(map(attrgetter("segmentation"), self._segm_rows))
            except (msgspec.DecodeError, msgspec.ValidationError):
                return [a.get("segmentation") for a in self.dataset["annotations"]]
        return self._segms

    def image_sizes(self, img_pos: np.ndarray, ids: list, what: str) -> tuple[np.ndarray, np.ndarray]:
        """(heights, widths) of the images at positions ``img_pos``; ValueError naming a missing size."""
        hw = np.empty((len(self.images), 2), np.int64)
        for k, im in enumerate(self.images):
            try:
                hw[k] = int(im["height"]), int(im["width"])
            except (KeyError, TypeError, ValueError):
                hw[k] = -2
        bad = hw[img_pos, 0] == -2
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            im = self.images[int(img_pos[j])]
            raise ValueError(
                f"{what} id {ids[j]!r}: its image {im['id']!r} has no integer 'height'/'width' (needed for its mask)"
            )
        return hw[img_pos, 0].copy(), hw[img_pos, 1].copy()


def _top_per_image(img_pos: np.ndarray, score: np.ndarray, n_img: int, max_dets: int) -> np.ndarray | None:
    """Rows kept by lvis-api's ``limit_dets_per_image`` (None: all), in input order."""
    count = np.bincount(img_pos, minlength=n_img)
    over = count > max_dets
    if not over.any():
        return None
    rows = np.flatnonzero(over[img_pos])
    order = np.lexsort((rows, -score[rows], img_pos[rows]))  # image, score descending, input order
    ranked = rows[order]
    starts = np.cumsum(count[over]) - count[over]
    run = np.repeat(starts, count[over])
    keep_over = ranked[np.arange(ranked.size) - run < max_dets]
    keep = np.ones(img_pos.size, bool)
    keep[rows] = False
    keep[keep_over] = True
    return np.flatnonzero(keep)


class LVISResults:
    """Detection results for an LVIS set (lvis-api's ``LVISResults``; see the module docstring).

    ``lvis_gt``: :class:`LVIS`, or what it takes. ``results``: a results file
    path, JSON bytes, a list of dicts (``image_id``, ``category_id``,
    ``score`` and ``bbox`` and/or an RLE ``segmentation``) or an ``(N, 7)``
    array ``[image_id, x, y, w, h, score, category_id]``. ``max_dets``: most
    detections kept per image (lvis-api's 300; negative: all).

    Attributes: ``annotations`` (arrays of the kept detections, input
    order), ``kept`` (their rows in the input), ``gt``, ``source``.
    """

    @with_small_pages
    def __init__(self, lvis_gt: Any, results: Any, max_dets: int = 300) -> None:
        gt = lvis_gt if isinstance(lvis_gt, LVIS) else LVIS(lvis_gt)
        max_dets = check_int(max_dets, "max_dets")
        self.gt = gt
        self.max_dets = max_dets
        self._segms: list | None = None
        self._det_rows: list | None = None
        self._raw: bytes | None = None
        area_given = False
        if is_lvis_api(results, "LVISResults"):  # lvis-api's own: limited already, areas set
            results = results.dataset["annotations"]
            area_given = True
            max_dets = -1
        if isinstance(results, np.ndarray):
            dets = load_results(results, gt._coco)
            self.source = "<ndarray>"
            self._segms = []  # boxes only
        else:
            raw, data, name = read_source(results, "results")
            self.source = name
            dets = None
            if raw is not None:
                self._raw = raw
                one_pass = _typed_results(raw)
                typed = one_pass[0] if one_pass is not None else results_arrays(raw)
                if one_pass is not None:
                    self._det_rows = one_pass[1]
                if typed is not None:
                    dets = _results_from_arrays(typed, gt._coco, name, None, False)
                else:
                    data = decode_generic(raw, name)
            if dets is None:
                if isinstance(data, dict) and isinstance(data.get("annotations"), list):
                    data = data["annotations"]
                if isinstance(data, list):
                    self._segms = [d.get("segmentation") if isinstance(d, dict) else None for d in data]
                if isinstance(data, list) and data and isinstance(data[0], dict) and "bbox" not in data[0]:
                    dets = self._from_masks(data, name)
                else:
                    dets = load_results(data, gt._coco)
                    if area_given:
                        dets.annotations.area = np.array([d["area"] for d in data], np.float64)
        a = dets.annotations
        img_pos = positions(a.image_id, gt.image_ids)
        kept = None if max_dets < 0 else _top_per_image(img_pos, a.score, len(gt.image_ids), max_dets)
        if kept is None:
            kept = np.arange(len(a))
        else:
            a = Annotations(a.image_id[kept], a.category_id[kept], a.bbox[kept], a.area[kept], None, a.score[kept])
            img_pos = img_pos[kept]
        a.ids_ = np.arange(1, len(a) + 1, dtype=np.float64)
        self.annotations = a
        self.kept = kept
        self.img_pos = img_pos

    def __repr__(self) -> str:
        return f"LVISResults({len(self.annotations)} detections, max_dets={self.max_dets}, source={self.source!r})"

    def __len__(self) -> int:
        return len(self.annotations)

    def _from_masks(self, data: list, name: str) -> CocoDataset:
        # segmentation-only results: lvis-api takes the area and box from the (compressed RLE) masks
        segms = []
        for k, d in enumerate(data):
            s = d.get("segmentation") if isinstance(d, dict) else None
            if s is None:
                raise ValueError(
                    f"{name}: detection {k} has neither 'bbox' nor 'segmentation' (the first detection has no "
                    "'bbox', so every detection needs a mask)"
                )
            segms.append(s)
        m1 = np.full(len(segms), -1, np.int64)
        r = segmentations_to_rles(segms, m1, m1, what="detection")
        box, area, _ = rle_stats(r)
        rows = []
        for k, d in enumerate(data):
            rows.append({key: d[key] for key in ("image_id", "category_id", "score") if key in d})
            rows[-1]["bbox"] = box[k].tolist()
        dets = load_results(rows, self.gt._coco)
        dets.annotations.area = area.astype(np.float64)
        return dets

    def segmentations(self) -> list:
        """The ``segmentation`` of every kept detection (None where a result has only a box)."""
        if self._segms is None and self._det_rows is not None:
            self._segms = _decode_masks(list(map(attrgetter("segmentation"), self._det_rows)), self.source)
        if self._segms is None:
            with _gc_paused():
                try:
                    rows = _DT_SEGM.decode(self._raw)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    rows = _DT_SEGM_DICT.decode(self._raw).annotations
            self._segms = [s.segmentation for s in rows]
        if len(self._segms) == 0 and len(self.kept):  # (N, 7) arrays: boxes only
            return [None] * len(self.kept)
        segms = self._segms
        return [segms[k] for k in self.kept.tolist()]

    def det_rles(self, rows: np.ndarray) -> Rles:
        """RLEs of the kept detections ``rows`` (box polygons where a result has only a box, as lvis-api)."""
        a = self.annotations
        if self._segms is None and self._det_rows is not None:  # straight from the kept rows, in one decode
            get = self._det_rows.__getitem__
            segms = _decode_masks([get(k).segmentation for k in self.kept[rows].tolist()], self.source)
        else:
            segms_all = self.segmentations()
            segms = [segms_all[k] for k in rows.tolist()]
        if segms and all(s is None for s in segms):
            raise ValueError(
                f"{self.source}: detection id {int(rows[0]) + 1} (and every other) has only a box: segm evaluation "
                "needs mask results ('segmentation')"
            )
        for j, s in enumerate(segms):
            if s is None:
                x1, y1, w, h = a.bbox[rows[j]].tolist()
                x2, y2 = x1 + w, y1 + h
                segms[j] = [[x1, y1, x1, y2, x2, y2, x2, y1]]
        ids = (rows + 1).tolist()
        hs, ws = self.gt.image_sizes(self.img_pos[rows], ids, "detection")
        if set(map(type, segms)) == {_Rle}:
            return _strings_to_rles(segms, hs, ws, ids)
        segms = [{"size": list(s.size), "counts": s.counts} if type(s) is _Rle else s for s in segms]
        return segmentations_to_rles(segms, hs, ws, ids, what="detection")


def _decode_masks(raws: list, name: str) -> list:
    """The masks whose JSON texts (``msgspec.Raw``) are ``raws``: ``_Rle`` records for compressed RLEs (one
    decode call), else Python objects (polygons, uncompressed RLE) for the general path; None where absent."""
    blob = b"[" + b",".join(raws) + b"]"
    try:
        return _RLES.decode(blob)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return decode_generic(blob, name)


def _strings_to_rles(segms: list, hs: np.ndarray, ws: np.ndarray, ids: list) -> Rles:
    """:func:`~detbench.masks.convert.segmentations_to_rles` of compressed RLEs read by msgspec, in one call."""
    n = len(segms)
    size = np.fromiter(chain.from_iterable(map(attrgetter("size"), segms)), np.int64, 2 * n).reshape(n, 2)
    bad = np.flatnonzero((size[:, 0] != hs) | (size[:, 1] != ws))
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"detection id {ids[k]!r}: RLE size {size[k].tolist()} disagrees with its image ({hs[k]} x {ws[k]})"
        )
    counts = list(map(attrgetter("counts"), segms))
    text = "".join(counts)
    lens = np.fromiter(map(len, counts), np.int64, n)
    try:
        buf = np.frombuffer(text.encode("ascii"), np.uint8)
    except UnicodeEncodeError:
        k = next(k for k, s in enumerate(segms) if not s.counts.isascii())
        raise ValueError(
            f"detection id {ids[k]!r}: corrupt compressed RLE string (a character outside '0'..'o')"
        ) from None
    s_off = np.zeros(n + 1, np.int64)
    np.cumsum(lens, out=s_off[1:])
    return strings_rles((buf, s_off), size, "detection", ids)
