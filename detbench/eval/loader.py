"""COCO JSON loading straight to flat arrays, with validation.

:func:`load_coco` reads a ground-truth file (or an already-parsed ``dict``) and
:meth:`CocoDataset.load_results` / :func:`load_results` a detection results file
(or a ``list`` of dicts, or an ``(N, 7)`` array like pycocotools'
``loadNumpyAnnotations``). Both return a :class:`CocoDataset` whose annotations
are NumPy arrays, one value per annotation, in file order. Nothing is dropped
silently: every problem raises :class:`ValueError` naming the file, the
annotation (index and id) and the problem (missing key, bbox that is not 4
numbers, a string or bool where a number belongs, negative width/height,
NaN/inf, detection for an unknown image or category, duplicate ids) or the
file (not JSON, truncated, nested too deeply: with the byte offset).

Files are parsed with msgspec straight into typed records and then arrays,
without a Python dict per annotation (:mod:`detbench.eval._json`); a file
outside that common case (string ids, say) is decoded generically and read
by the general path below, which also words the errors.

The same extraction code pulls the arrays out of pycocotools ``COCO`` objects
(and look-alikes such as faster-coco-eval's) for :class:`detbench.eval.COCOeval`;
there it is lenient where pycocotools is (annotations of images or categories
outside the evaluated ids are simply not evaluated) and the arrays are cached
per object (see :func:`annotations_of`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._pages import with_small_pages
from detbench.eval._json import TypedGT, decode_generic, gt_arrays, read_source, results_arrays
from detbench.eval.annotations import (  # noqa: F401 - re-exported: the loader's historical names
    _MAX_EXACT,
    Annotations,
    _check_values,
    _describe,
    _difficult_flags,
    _py,
    annotations_of,
    clear_cache,
    extract_annotations,
    positions,
    sorted_unique_ids,
)
from detbench.eval.instances import keypoint_results, results_kind, segm_results, typed_results

__all__ = ["CocoDataset", "load_coco", "load_results", "annotations_of", "clear_cache"]


class CocoDataset:
    """A COCO ground-truth set or detection results set as flat arrays.

    Attributes
    ----------
    image_ids: list of image ids (file order).
    categories: list of ``{"id", "name", ...}`` dicts (file order).
    annotations: :class:`Annotations` (flat arrays, file order).
    is_results: True for detection results (have scores).
    source: where it came from (a file name or ``"<dict>"``), used in messages.

    ``getImgIds()``/``getCatIds()`` mirror pycocotools so that
    :class:`detbench.eval.COCOeval` takes this object where it takes a ``COCO``.
    """

    def __init__(
        self,
        image_ids: list,
        categories: list[dict],
        annotations: Annotations,
        *,
        is_results: bool,
        source: str,
        images: list[dict] | None = None,
    ) -> None:
        self.image_ids = list(image_ids)
        self.categories = list(categories)
        self.annotations = annotations
        self.is_results = is_results
        self.source = source
        self.images = images

    def __repr__(self) -> str:
        kind = "results" if self.is_results else "ground truth"
        return (
            f"CocoDataset({kind}, {len(self.image_ids)} images, {len(self.categories)} categories, "
            f"{len(self.annotations)} annotations, source={self.source!r})"
        )

    def getImgIds(self) -> list:  # noqa: N802 - pycocotools' name
        """All image ids (pycocotools' ``COCO.getImgIds()`` without filters)."""
        return list(self.image_ids)

    def getCatIds(self) -> list:  # noqa: N802 - pycocotools' name
        """All category ids (pycocotools' ``COCO.getCatIds()`` without filters)."""
        return [c["id"] for c in self.categories]

    @property
    def category_names(self) -> dict:
        """``{category id: name}``."""
        return {c["id"]: c.get("name", str(c["id"])) for c in self.categories}

    def load_results(self, results: Any, *, compat: str | None = None) -> CocoDataset:
        """Load detection results against this ground truth (see :func:`load_results`)."""
        return load_results(results, self, compat=compat)

    loadRes = load_results  # noqa: N815 - pycocotools' name


def _duplicates(values: list) -> tuple[Any, int] | None:
    seen: dict = {}
    for k, v in enumerate(values):
        if v in seen:
            return v, k
        seen[v] = k
    return None


@with_small_pages
def load_coco(source: Any) -> CocoDataset:
    """Load a COCO ground-truth set (path, JSON bytes or parsed dict) to flat arrays.

    Required: a JSON object with ``images`` (each with ``id``), ``categories``
    (each with ``id``) and ``annotations`` (each with ``id``, ``image_id``,
    ``category_id``, ``bbox`` = 4 numbers ``[x, y, w, h]`` with ``w, h >= 0``).
    Optional per annotation: ``area`` (default ``w*h``), ``iscrowd`` (0/1,
    default 0). Raises ValueError naming the problem for malformed JSON,
    missing keys, bad boxes, NaN/inf, duplicate image/category/annotation ids,
    and annotations of unknown images or categories. Cost: JSON parsing plus
    O(N) array conversion.
    """
    raw, data, name = read_source(source, "load_coco")
    return load_coco_source(raw, data, name)


def load_coco_source(raw: bytes | None, data: Any, name: str, *, strict: bool = True) -> CocoDataset:
    """:func:`load_coco` of what :func:`detbench.eval._json.read_source` returned.

    ``strict=False`` (the ``COCO`` drop-in) accepts what pycocotools accepts:
    duplicate image or annotation ids, annotations of images or categories not
    listed (never evaluated), negative sizes and any truthy ``iscrowd``.
    """
    if raw is not None:
        typed = gt_arrays(raw)
        if typed is not None:
            return _gt_from_typed(typed, name, strict)
        data = decode_generic(raw, name)
    if not isinstance(data, dict):
        raise ValueError(
            f"{name}: a ground-truth file must be a JSON object with 'images', 'annotations' and 'categories'; "
            f"got a {type(data).__name__} (is this a results file? use load_results)"
        )
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise ValueError(f"{name}: missing the top-level key {key!r}")
        if not isinstance(data[key], list):
            raise ValueError(f"{name}: {key!r} must be a list, got {type(data[key]).__name__}")
    images = data["images"]
    cats = data["categories"]
    image_ids, cat_ids = _image_and_category_ids(images, cats, name, strict)
    anns = extract_annotations(data["annotations"], "gt", name, strict=strict)
    if strict:
        _check_unique_ann_ids(anns.ids, name)
        _check_known(anns, image_ids, cat_ids, name, data["annotations"])
    return CocoDataset(image_ids, cats, anns, is_results=False, source=name, images=images)


def _image_and_category_ids(images: list, cats: list, name: str, strict: bool) -> tuple[list, list]:
    for k, im in enumerate(images):
        if not isinstance(im, dict) or "id" not in im:
            raise ValueError(f"{name}: image {k} has no 'id'")
    for k, c in enumerate(cats):
        if not isinstance(c, dict) or "id" not in c:
            raise ValueError(f"{name}: category {k} has no 'id'")
    image_ids = [im["id"] for im in images]
    cat_ids = [c["id"] for c in cats]
    for what, vals in (("image id", image_ids), ("category id", cat_ids)):
        for k, v in enumerate(vals):
            try:
                hash(v)
            except TypeError:
                raise ValueError(f"{name}: {what} {k} is not hashable ({v!r})") from None
        dup = _duplicates(vals) if strict else None
        if dup is not None:
            raise ValueError(f"{name}: duplicate {what} {dup[0]!r} (entry {dup[1]})")
    return image_ids, cat_ids


def _check_unique_ann_ids(ids: np.ndarray, name: str) -> None:
    if ids.dtype != object and ids.size:
        order = np.argsort(ids, kind="stable")
        same = ids[order[1:]] == ids[order[:-1]]
        if not same.any():
            return
    dup = _duplicates(ids.tolist())
    if dup is not None:
        raise ValueError(f"{name}: duplicate annotation id {_py(dup[0])!r} (annotation {dup[1]})")


def _gt_from_typed(typed: TypedGT, name: str, strict: bool) -> CocoDataset:
    """:func:`load_coco` of a file msgspec read into arrays (same checks as the dict path)."""
    image_ids, cat_ids = _image_and_category_ids(typed.images, typed.categories, name, strict)
    a = typed.arrays
    crowd = a["iscrowd"]
    bad = (crowd != 0) & (crowd != 1) & strict
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}: annotation {k} (id {_py(a['ids'][k])!r}): iscrowd must be 0 or 1, got {crowd[k]}")
    anns = Annotations(a["image_id"], a["category_id"], a["bbox"], a["area"], crowd != 0, None, a["ids"])
    anns.extra["difficult"] = a["difficult"]
    for key in ("segm_raw", "kp_raw", "num_keypoints"):
        if a.get(key) is not None:  # absent: a reader without masks / keypoints (e.g. LVIS' ground truth)
            anns.extra[key] = a[key]
    _check_values(anns, None, name, strict=strict)
    if strict:
        _check_unique_ann_ids(anns.ids, name)
        _check_known(anns, image_ids, cat_ids, name, None)
    return CocoDataset(image_ids, typed.categories, anns, is_results=False, source=name, images=typed.images)


def _check_known(anns: Annotations, image_ids: list, cat_ids: list | None, name: str, raw: list | None) -> None:
    """Every annotation's image (and category, unless ``cat_ids`` is None) must be listed."""

    def where(k: int) -> str:
        return _describe(raw, k) if raw is not None else f"annotation {k}"

    def value(k: int, key: str, arr: np.ndarray) -> Any:
        if raw is not None and isinstance(raw[k], dict) and key in raw[k]:
            return raw[k][key]
        return _py(arr[k])

    ip = positions(anns.image_id, image_ids)
    bad = ip < 0
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}: {where(k)} refers to image_id {value(k, 'image_id', anns.image_id)!r}, which is not in the "
            f"ground truth's images ({int(bad.sum())} annotation(s) in all)"
        )
    if cat_ids is None:
        return
    cp = positions(anns.category_id, cat_ids)
    bad = cp < 0
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}: {where(k)} has category_id {value(k, 'category_id', anns.category_id)!r}, which is not in the "
            f"ground truth's categories ({int(bad.sum())} annotation(s) in all)"
        )


@with_small_pages
def load_results(results: Any, gt: Any, *, compat: str | None = None, _any_category: bool = False) -> CocoDataset:
    """Load detection results (path, JSON bytes, list of dicts or ``(N, 7)`` array).

    Each detection needs ``image_id``, ``category_id``, ``bbox`` (4 numbers,
    ``w, h >= 0``) and a finite ``score``; like pycocotools' ``loadRes`` the
    area is ``w*h`` and ids are ``1..N`` in file order. Like ``loadRes``, when
    the first detection has no ``bbox`` the results are mask results (each
    with a ``segmentation``: area and, unless given, bbox of the mask, which
    must have its image's size) or else keypoint results (each with
    ``keypoints``: bbox and area of all keypoints); see
    :mod:`detbench.eval.instances`. An ``(N, 7)`` array is
    ``[image_id, x, y, w, h, score, category_id]`` per row. Every image and
    category must exist in ``gt`` (a :class:`CocoDataset` or pycocotools
    ``COCO``), else ValueError naming the first offender.

    An empty list gives an empty result (pycocotools' ``loadRes([])`` raises
    IndexError); ``compat="pycocotools"`` reproduces that error.
    """
    if compat not in (None, "pycocotools"):
        raise ValueError(f"compat: expected None or 'pycocotools', got {compat!r}")
    if isinstance(results, np.ndarray):
        arr = np.asarray(results, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 7:
            raise ValueError(
                f"results: expected an (N, 7) array [image_id, x, y, w, h, score, category_id], got {arr.shape}"
            )
        data: Any = [
            {"image_id": int(r[0]), "bbox": [r[1], r[2], r[3], r[4]], "score": r[5], "category_id": int(r[6])}
            for r in arr.tolist()
        ]
        name = "<ndarray>"
    else:
        raw, data, name = read_source(results, "load_results")
        if raw is not None:
            typed = results_arrays(raw)
            if typed is not None:
                return _results_from_arrays(typed, gt, name, compat, _any_category)
            inst = typed_results(raw)
            if inst is not None:
                return _instance_results(inst, None, gt, name, _any_category)
            data = decode_generic(raw, name)
    if isinstance(data, dict):
        if not isinstance(data.get("annotations"), list):
            keys = ", ".join(repr(k) for k in list(data)[:8])
            raise ValueError(
                f"{name}: results must be a JSON list of detections (pycocotools' loadRes), or a COCO-format "
                f"object whose 'annotations' is that list; got an object with keys {keys or 'none'}"
            )
        data = data["annotations"]
    if not isinstance(data, list):
        raise ValueError(f"{name}: results must be a JSON list of detections, got {type(data).__name__}")
    if not data and compat == "pycocotools":
        raise IndexError("list index out of range (pycocotools' loadRes([]) fails on empty results)")
    kind = results_kind(data[0]) if data else "bbox"
    if kind != "bbox":
        return _instance_results(None, (kind, data), gt, name, _any_category)
    anns = extract_annotations(data, "dt", name, strict=True)
    anns.area = anns.bbox[:, 2] * anns.bbox[:, 3]  # loadRes overwrites any given area
    anns.ids_ = np.arange(1, len(anns) + 1, dtype=np.float64)
    anns.ids_fn = None
    image_ids, cats = _gt_ids(gt)
    _check_known(anns, image_ids, None if _any_category else [c["id"] for c in cats], name, data)
    return CocoDataset(image_ids, cats, anns, is_results=True, source=name)


def _results_from_arrays(arrays: dict, gt: Any, name: str, compat: str | None, any_category: bool) -> CocoDataset:
    """:func:`load_results` of a file msgspec read into arrays (same checks as the dict path)."""
    n = arrays["score"].shape[0]
    if not n and compat == "pycocotools":
        raise IndexError("list index out of range (pycocotools' loadRes([]) fails on empty results)")
    bbox = arrays["bbox"]
    ids = np.arange(1, n + 1, dtype=np.float64)
    anns = Annotations(arrays["image_id"], arrays["category_id"], bbox, bbox[:, 2] * bbox[:, 3], None, arrays["score"])
    anns.ids_ = ids
    if arrays.get("segm_raw") is not None:
        anns.extra["segm_raw"] = arrays["segm_raw"]  # masks of box results, for a segm evaluation
    _check_values(anns, None, name, strict=True)
    image_ids, cats = _gt_ids(gt)
    _check_known(anns, image_ids, None if any_category else [c["id"] for c in cats], name, None)
    return CocoDataset(image_ids, cats, anns, is_results=True, source=name)


def _gt_ids(gt: Any) -> tuple[list, list]:
    if isinstance(gt, CocoDataset):
        return gt.image_ids, gt.categories
    if hasattr(gt, "dataset") and isinstance(gt.dataset, dict):
        return [im["id"] for im in gt.dataset.get("images", [])], list(gt.dataset.get("categories", []))
    raise ValueError(f"gt: expected a CocoDataset or a pycocotools COCO object, got {type(gt).__name__}")


def _gt_images(gt: Any) -> list | None:
    if isinstance(gt, CocoDataset):
        return gt.images
    ds = getattr(gt, "dataset", None)
    return ds.get("images") if isinstance(ds, dict) else None


def _instance_results(typed: dict | None, dicts: tuple | None, gt: Any, name: str, any_category: bool) -> CocoDataset:
    """:func:`load_results` of mask or keypoint results (pycocotools' ``loadRes`` branches; see
    :mod:`detbench.eval.instances`): from :func:`typed_results`' arrays or from ``(kind, dicts)``."""
    if typed is not None:
        kind = typed["kind"]
        n = typed["score"].shape[0]
        anns = Annotations(typed["image_id"], typed["category_id"], np.zeros((n, 4)), np.zeros(n), None, typed["score"])
        given = typed["bbox"]
        raw = None
    else:
        kind, raw = dicts
        key = "segmentation" if kind == "segm" else "keypoints"
        for k, d in enumerate(raw):
            if not isinstance(d, dict):
                raise ValueError(f"{name}: detection {k} is not a JSON object (got {type(d).__name__})")
            if key not in d:
                raise ValueError(
                    f"{name}: detection {k} (id {k + 1}) has no {key!r}; the first one has one, so all are read as "
                    f"{kind} results (pycocotools' loadRes)"
                )
        # the ids and scores through the box reader (a placeholder box: the real one is derived below)
        anns = extract_annotations([dict(d, bbox=(0.0, 0.0, 0.0, 0.0)) for d in raw], "dt", name, strict=True)
        n = len(raw)
        given = None
        if kind == "segm" and any("bbox" in d for d in raw):
            given = np.full((n, 4), np.nan)
            for k, d in enumerate(raw):
                bb = d.get("bbox")
                if bb is None or (isinstance(bb, list) and bb == []):
                    continue
                try:
                    given[k] = np.asarray(bb, dtype=np.float64).reshape(4)
                except (TypeError, ValueError):
                    msg = f"{name}: detection {k} (id {k + 1}): bbox must be 4 numbers, got {bb!r}"
                    raise ValueError(msg) from None
    anns.ids_ = np.arange(1, n + 1, dtype=np.float64)
    anns.ids_fn = None
    image_ids, cats = _gt_ids(gt)
    _check_known(anns, image_ids, None if any_category else [c["id"] for c in cats], name, raw)
    try:
        if kind == "segm":
            segms = [d["segmentation"] for d in raw] if raw is not None else None
            strings = typed["strings"] if typed is not None else None
            size = typed["size"] if typed is not None else None
            box, area, rles, mask_box = segm_results(segms, strings, size, given, anns.image_id, _gt_images(gt))
            anns.extra["rles"] = rles
            anns.extra["mask_box"] = mask_box
            anns.extra["mask_area"] = area
        else:
            if typed is not None:
                box, area, kp = keypoint_results(None, parsed=(typed["kp_vals"], typed["kp_off"]))
            else:
                box, area, kp = keypoint_results([d["keypoints"] for d in raw])
            if kp is not None:
                anns.extra["keypoints"] = kp
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    anns.bbox = box
    anns.area = area
    anns.extra["results_kind"] = kind
    _check_values(anns, None, name, strict=True)
    return CocoDataset(image_ids, cats, anns, is_results=True, source=name)
