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

import numbers
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from detbench.eval._dictread import FastRead, read_annotations
from detbench.eval._json import TypedGT, decode_generic, gt_arrays, read_source, results_arrays

__all__ = ["CocoDataset", "load_coco", "load_results", "annotations_of", "clear_cache"]

_MAX_EXACT = float(2**53)


@dataclass
class Annotations:
    """Annotations as flat arrays (N entries, input order).

    ``image_id``/``category_id``: float64 when every id is a number (exact for
    integers below 2**53) else an object array; ``bbox``: ``(N, 4)`` float64
    ``[x, y, w, h]``; ``area``: float64; ``iscrowd``: bool (ground truth) or
    None; ``score``: float64 (detections) or None; ``ids`` (annotation ids) may
    be produced lazily by ``ids_fn`` (object or float64 array).
    """

    image_id: np.ndarray
    category_id: np.ndarray
    bbox: np.ndarray
    area: np.ndarray
    iscrowd: np.ndarray | None = None
    score: np.ndarray | None = None
    ids_: np.ndarray | None = None
    ids_fn: Callable[[], np.ndarray] | None = None
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.bbox.shape[0])

    @property
    def difficult(self) -> np.ndarray | None:
        """VOC 'difficult' flags (a truthy ``difficult`` or ``ignore`` key), or None if no annotation has one."""
        if "difficult" not in self.extra:
            fn = self.extra.get("difficult_fn")
            self.extra["difficult"] = fn() if fn is not None else None
        return self.extra["difficult"]

    @property
    def ids(self) -> np.ndarray:
        if self.ids_ is None:
            self.ids_ = self.ids_fn() if self.ids_fn is not None else np.arange(1, len(self) + 1, dtype=np.float64)
        return self.ids_


# --------------------------------------------------------------------------- ids


def _id_array(values: list, what: str, source: str) -> np.ndarray:
    """float64 array of numeric ids (exact), else an object array of the ids."""
    n = len(values)
    if n == 0:
        return np.zeros(0, np.float64)
    try:
        arr = np.array(values)
    except (TypeError, ValueError):
        arr = None
    if arr is not None and arr.ndim == 1 and arr.dtype.kind in "iuf":
        out = arr.astype(np.float64)
        if np.all(np.abs(out) < _MAX_EXACT):
            if arr.dtype.kind == "f" and not np.isfinite(out).all():
                k = int(np.flatnonzero(~np.isfinite(out))[0])
                raise ValueError(f"{source}: {what} {k} is {out[k]}")
            return out
    out = np.empty(n, dtype=object)
    for k, v in enumerate(values):
        try:
            hash(v)
        except TypeError:
            raise ValueError(f"{source}: {what} {k} is not hashable ({v!r})") from None
        out[k] = v
    return out


def _all_numbers(values: list) -> bool:
    types = set(map(type, values))
    return all(issubclass(t, (numbers.Real, np.number)) and not issubclass(t, (bool, np.bool_)) for t in types)


def _plain_numbers(values: Any) -> bool:
    """True when every value is a real number that is not a bool or a string (NumPy scalars included)."""
    for t in set(map(type, values)):
        if t is float or t is int:
            continue
        if issubclass(t, (bool, np.bool_, str, bytes)) or not issubclass(t, (numbers.Real, np.number)):
            return False
    return True


def sorted_unique_ids(ids: Any) -> list:
    """Sorted unique ids, like ``np.unique``; mixed types sort by (type name, value)."""
    vals = list(ids)
    if not vals:
        return []
    if _all_numbers(vals) or all(isinstance(v, str) for v in vals):
        try:
            return np.unique(np.asarray(vals)).tolist()
        except TypeError:
            pass
    seen = list(dict.fromkeys(vals))
    try:
        return sorted(seen)
    except TypeError:
        return sorted(seen, key=lambda v: (type(v).__name__, v))


def positions(values: np.ndarray, table: list) -> np.ndarray:
    """Position of every value in ``table`` (a list of unique ids), -1 if absent."""
    n = values.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    if not table:
        return np.full(n, -1, np.int64)
    tab = None
    if values.dtype != object:
        try:
            tab = np.asarray(table, dtype=np.float64)
            if not (_all_numbers(table) and np.all(np.abs(tab) < _MAX_EXACT)):
                tab = None
        except (TypeError, ValueError):
            tab = None
    if tab is not None:
        order = np.argsort(tab, kind="stable")
        st = tab[order]
        lo, hi = st[0], st[-1]
        span = hi - lo
        if np.all(st == np.round(st)) and span < 4 * n + 4 * len(table) + 1_000_000:
            # dense integer ids: look-up table
            lut = np.full(int(span) + 1, -1, np.int64)
            lut[(st - lo).astype(np.int64)] = order
            v = values - lo
            ok = (v >= 0) & (v <= span) & (v == np.round(v))
            out = np.full(n, -1, np.int64)
            out[ok] = lut[v[ok].astype(np.int64)]
            return out
        idx = np.searchsorted(st, values)
        idx_c = np.minimum(idx, st.shape[0] - 1)
        found = st[idx_c] == values
        return np.where(found, order[idx_c], -1).astype(np.int64)
    lookup = {}
    for k, v in enumerate(table):
        lookup.setdefault(v, k)
    get = lookup.get
    return np.fromiter((get(v, -1) for v in values.tolist()), np.int64, n)


# ------------------------------------------------------------------ extraction


def _describe(anns: list, k: int) -> str:
    a = anns[k]
    if isinstance(a, dict) and "id" in a:
        return f"annotation {k} (id {a['id']!r})"
    return f"annotation {k}"


def _slow_check(anns: list, keys: tuple, source: str, *, kind: str) -> None:
    """Find the first malformed annotation and raise a precise ValueError."""
    for k, a in enumerate(anns):
        if not isinstance(a, dict):
            raise ValueError(f"{source}: {_describe(anns, k)} is not a JSON object (got {type(a).__name__})")
        for key in keys:
            if key not in a:
                raise ValueError(f"{source}: {_describe(anns, k)} is missing the key {key!r}")
        bb = a["bbox"]
        if not isinstance(bb, (list, tuple, np.ndarray)) or len(bb) != 4:
            raise ValueError(
                f"{source}: {_describe(anns, k)}: bbox must be a list of 4 numbers [x, y, w, h], got {bb!r}"
            )
        for v in bb:
            if isinstance(v, (bool, str)) or not isinstance(v, (numbers.Real, np.number)):
                raise ValueError(f"{source}: {_describe(anns, k)}: bbox must be 4 numbers, got {bb!r}")
            _check_float(v, "bbox", anns, k, source)
        for key in ("score", "area"):
            if key in keys or (key == "area" and key in a):
                v = a[key]
                if isinstance(v, (bool, str)) or not isinstance(v, (numbers.Real, np.number)):
                    raise ValueError(f"{source}: {_describe(anns, k)}: {key} must be a number, got {v!r}")
                _check_float(v, key, anns, k, source)
        if kind == "gt" and "iscrowd" in a and a["iscrowd"] not in (0, 1, True, False):
            raise ValueError(f"{source}: {_describe(anns, k)}: iscrowd must be 0 or 1, got {a['iscrowd']!r}")


def _check_float(v: Any, key: str, anns: list, k: int, source: str) -> None:
    try:
        float(v)
    except OverflowError:
        raise ValueError(f"{source}: {_describe(anns, k)}: {key} value {v} is too large for a float") from None


def _floats(values: Any, n: int) -> np.ndarray:
    return np.fromiter(values, np.float64, n)


def _bboxes(anns: list, n: int, source: str, keys: tuple, kind: str) -> np.ndarray:
    try:
        bbl = list(map(itemgetter("bbox"), anns))
    except (KeyError, TypeError):
        _slow_check(anns, keys, source, kind=kind)
        raise
    try:
        lens = set(map(len, bbl))
    except TypeError:
        lens = {-1}
    if n and lens != {4}:
        _slow_check(anns, keys, source, kind=kind)
        raise ValueError(f"{source}: a bbox is not 4 numbers")  # pragma: no cover - _slow_check raises
    try:
        out = np.fromiter(chain.from_iterable(bbl), np.float64, 4 * n)
    except (TypeError, ValueError, OverflowError):
        _slow_check(anns, keys, source, kind=kind)
        raise
    return out.reshape(n, 4)


def extract_annotations(
    anns: list, kind: str, source: str, *, strict: bool, image_id: np.ndarray | None = None
) -> Annotations:
    """Flat arrays from a list of annotation dicts.

    ``image_id``: the image ids when already known (from pycocotools'
    ``imgToAnns`` index), else read from the dicts.

    kind ``"gt"``: needs id, image_id, category_id, bbox; ``area`` defaults to
    ``w*h`` and ``iscrowd`` to 0 when absent. kind ``"dt"``: needs image_id,
    category_id, bbox, score; ``area`` is read when present (pycocotools'
    ``loadRes`` sets it to ``w*h``) else computed; ids are read lazily.
    ``strict`` (the JSON loader) also rejects non-finite values and negative
    widths/heights, and ``iscrowd`` values other than 0/1.
    """
    if not isinstance(anns, list):
        raise ValueError(f"{source}: annotations must be a list of objects, got {type(anns).__name__}")
    return _extract([anns], len(anns), kind, source, strict=strict, image_id=image_id)


def _flatten(parts: list) -> list:
    return parts[0] if len(parts) == 1 else list(chain.from_iterable(parts))


def _extract(parts: list, n: int, kind: str, source: str, *, strict: bool, image_id: np.ndarray | None) -> Annotations:
    """:func:`extract_annotations` of the ``n`` dicts held in ``parts`` (lists read one after another).

    The compiled reader is tried once on ``parts`` in place; only when it declines
    are the lists concatenated for the general Python path.
    """
    if kind == "gt":
        keys = ("id", "image_id", "category_id", "bbox")
    else:
        keys = ("image_id", "category_id", "bbox", "score")
    if n == 0:
        z = np.zeros(0, np.float64)
        return Annotations(
            image_id=z,
            category_id=z.copy(),
            bbox=np.zeros((0, 4), np.float64),
            area=z.copy(),
            iscrowd=np.zeros(0, bool) if kind == "gt" else None,
            score=z.copy() if kind == "dt" else None,
            ids_=z.copy(),
        )
    fast = read_annotations(parts, n, kind, read_image_id=image_id is None)
    if fast is not None:
        return _from_fast_read(fast, kind, source, image_id, lambda: _flatten(parts), strict=strict)
    anns = _flatten(parts)
    if len(anns) != n:  # e.g. emptied by Python code run inside a dict lookup (a key's __eq__)
        raise ValueError(
            f"{source}: the annotation lists changed while they were read ({n} -> {len(anns)} annotations)"
        )
    out = _python_read(anns, kind, source, keys, strict=strict, image_id=image_id)
    _add_lazy_fields(out, kind, source, lambda: anns)
    try:
        _check_values(out, anns, source, strict=strict)
    except ValueError:
        _slow_check(anns, keys, source, kind=kind)  # a non-number (None, "1") reads as NaN: say so
        raise
    return out


def _add_lazy_fields(out: Annotations, kind: str, source: str, flat: Callable[[], list]) -> None:
    # detection ids and VOC 'difficult' flags are read only when asked for
    if kind == "dt":
        out.ids_fn = lambda: _id_array([a.get("id", k + 1) for k, a in enumerate(flat())], "id of annotation", source)
    else:
        out.extra["difficult_fn"] = lambda: _difficult_flags(flat())


def _from_fast_read(
    fast: FastRead, kind: str, source: str, image_id: np.ndarray | None, flat: Callable[[], list], *, strict: bool
) -> Annotations:
    """Annotations from the fast reader's arrays; ``flat()`` gives the dicts (for messages and lazy fields)."""
    gt = kind == "gt"
    out = Annotations(
        image_id if image_id is not None else fast.image_id,
        fast.category_id,
        fast.bbox,
        fast.area,
        fast.iscrowd if gt else None,
        None if gt else fast.score,
        fast.ids if gt else None,
    )
    _add_lazy_fields(out, kind, source, flat)
    if strict or not fast.finite:
        _check_values(out, flat(), source, strict=strict)
    return out


def _python_read(
    anns: list, kind: str, source: str, keys: tuple, *, strict: bool, image_id: np.ndarray | None
) -> Annotations:
    """The general path of :func:`extract_annotations` (any id types, precise errors)."""
    n = len(anns)
    try:
        img_l = list(map(itemgetter("image_id"), anns)) if image_id is None else None
        cat_l = list(map(itemgetter("category_id"), anns))
    except (KeyError, TypeError):
        _slow_check(anns, keys, source, kind=kind)
        raise
    bbox = _bboxes(anns, n, source, keys, kind)
    if image_id is None:
        image_id = _id_array(img_l, "image_id of annotation", source)
    category_id = _id_array(cat_l, "category_id of annotation", source)
    score = None
    iscrowd = None
    ids_arr = None
    try:
        if kind == "dt":
            score = _floats(map(itemgetter("score"), anns), n)
        else:
            ids_arr = _id_array(list(map(itemgetter("id"), anns)), "id of annotation", source)
    except (KeyError, TypeError, ValueError, OverflowError):
        _slow_check(anns, keys, source, kind=kind)
        raise
    try:
        try:
            area = _floats(map(itemgetter("area"), anns), n)
        except KeyError:
            area = np.array([a["area"] if "area" in a else a["bbox"][2] * a["bbox"][3] for a in anns], np.float64)
    except (TypeError, ValueError, OverflowError):
        _slow_check(anns, keys, source, kind=kind)
        raise
    # np.fromiter converts "0.9" and True to numbers: the general path refuses them like _slow_check does
    numeric = [chain.from_iterable(map(itemgetter("bbox"), anns)), (a.get("area", 0.0) for a in anns)]
    if kind == "dt":
        numeric.append(map(itemgetter("score"), anns))
    if not all(_plain_numbers(values) for values in numeric):
        _slow_check(anns, keys, source, kind=kind)
        raise ValueError(f"{source}: a bbox, area or score is not a number")  # pragma: no cover - _slow_check raises
    if kind == "gt":
        try:
            crowd_l = list(map(itemgetter("iscrowd"), anns))
        except KeyError:
            crowd_l = [a.get("iscrowd", 0) for a in anns]
        try:
            iscrowd = np.fromiter(map(bool, crowd_l), bool, n)
        except TypeError:
            _slow_check(anns, keys, source, kind=kind)
            raise
        if strict:
            bad = [k for k, v in enumerate(crowd_l) if v not in (0, 1, True, False)]
            if bad:
                k = bad[0]
                raise ValueError(f"{source}: {_describe(anns, k)}: iscrowd must be 0 or 1, got {crowd_l[k]!r}")
    return Annotations(image_id, category_id, bbox, area, iscrowd, score, ids_arr)


def _check_values(a: Annotations, anns: list | None, source: str, *, strict: bool) -> None:
    def where(k: int) -> str:
        if anns is not None:
            return _describe(anns, k)
        if a.ids_ is not None:
            return f"annotation {k} (id {_py(a.ids_[k])!r})"
        return f"annotation {k}"

    bad = ~np.isfinite(a.bbox).all(axis=1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{source}: {where(k)}: bbox has a non-finite value {a.bbox[k].tolist()}")
    if a.score is not None:
        bad = ~np.isfinite(a.score)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{source}: {where(k)}: score is {a.score[k]} (NaN/inf scores cannot be ranked)")
    bad = ~np.isfinite(a.area)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{source}: {where(k)}: area is {a.area[k]}")
    if strict:
        neg = (a.bbox[:, 2] < 0) | (a.bbox[:, 3] < 0)
        if neg.any():
            k = int(np.flatnonzero(neg)[0])
            raise ValueError(f"{source}: {where(k)}: bbox has a negative width or height {a.bbox[k].tolist()}")
        neg = a.area < 0
        if neg.any():
            k = int(np.flatnonzero(neg)[0])
            raise ValueError(f"{source}: {where(k)}: area is negative ({a.area[k]})")


# ---------------------------------------------------------------- the dataset


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
    _check_values(anns, None, name, strict=strict)
    if strict:
        _check_unique_ann_ids(anns.ids, name)
        _check_known(anns, image_ids, cat_ids, name, None)
    return CocoDataset(image_ids, typed.categories, anns, is_results=False, source=name, images=typed.images)


def _py(v: Any) -> Any:
    """A NumPy scalar as the Python number it was read from (integers back to int)."""
    v = v.item() if isinstance(v, np.generic) else v
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _difficult_flags(anns: list) -> np.ndarray | None:
    # VOC 'difficult' objects converted to COCO: a 'difficult' or 'ignore' key
    if not anns or not any(("difficult" in a or "ignore" in a) for a in anns):
        return None
    return np.array([bool(a.get("difficult", 0)) or bool(a.get("ignore", 0)) for a in anns], bool)


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


def load_results(results: Any, gt: Any, *, compat: str | None = None, _any_category: bool = False) -> CocoDataset:
    """Load detection results (path, JSON bytes, list of dicts or ``(N, 7)`` array).

    Each detection needs ``image_id``, ``category_id``, ``bbox`` (4 numbers,
    ``w, h >= 0``) and a finite ``score``; like pycocotools' ``loadRes`` the
    area is ``w*h`` and ids are ``1..N`` in file order. An ``(N, 7)`` array is
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


# --------------------------------------------------- pycocotools COCO objects

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def clear_cache() -> None:
    """Forget the arrays cached for pycocotools ``COCO`` objects."""
    _cache.clear()


def _fingerprint(anns: list) -> tuple:
    n = len(anns)
    return (id(anns), n, id(anns[0]) if n else 0, id(anns[-1]) if n else 0, id(anns[n // 2]) if n else 0)


def annotations_of(coco: Any, kind: str, *, cache: bool = True) -> Annotations:
    """Flat arrays of a :class:`CocoDataset` or a pycocotools ``COCO`` object.

    For a ``COCO`` object the annotations are read through its ``imgToAnns``
    index when that covers ``coco.dataset["annotations"]`` (image by image, file
    order within an image: the order pycocotools evaluates them in), else from
    the list in order. The arrays are cached per object (weakly) and reused while
    the list is the same object with the same length and the same first,
    middle and last dicts; editing annotation dicts in place after a first
    evaluation is not detected: pass ``cache=False`` or call
    :func:`clear_cache` then.
    """
    if isinstance(coco, CocoDataset):
        return coco.annotations
    ds = getattr(coco, "dataset", None)
    if not isinstance(ds, dict):
        raise ValueError(
            "expected a pycocotools COCO object (with a .dataset dict) or a detbench CocoDataset, "
            f"got {type(coco).__name__}"
        )
    anns = ds.get("annotations", [])
    if not isinstance(anns, list):
        raise ValueError(f"COCO.dataset['annotations'] must be a list, got {type(anns).__name__}")
    fp = (kind, id(getattr(coco, "imgToAnns", None))) + _fingerprint(anns)
    if cache:
        try:
            hit = _cache.get(coco)
        except TypeError:  # not weak-referenceable
            hit = None
        if hit is not None and hit[0] == fp:
            return hit[1]
    source = "ground truth" if kind == "gt" else "detections"
    index = getattr(coco, "imgToAnns", None)
    out = None
    if isinstance(index, dict) and index:
        # pycocotools selects annotations through its imgToAnns index (image by
        # image, file order within an image): read them that way, which also
        # gives every annotation's image id without touching the dicts
        lists = list(index.values())
        counts = np.fromiter(map(len, lists), np.int64, len(lists))
        if int(counts.sum()) == len(anns) and all(isinstance(v, list) for v in lists[:1]):
            keys = _id_array(list(index.keys()), "image id", source)
            out = _extract(lists, len(anns), kind, source, strict=False, image_id=np.repeat(keys, counts))
    if out is None:
        out = extract_annotations(anns, kind, source, strict=False)
    if cache:
        try:
            _cache[coco] = (fp, out)
        except TypeError:
            pass
    return out
