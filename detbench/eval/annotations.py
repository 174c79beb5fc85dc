"""Annotations as flat arrays: extraction from COCO annotation dicts and pycocotools objects.

:func:`extract_annotations` turns a list of COCO annotation dicts into an :class:`Annotations`
record (one value per annotation, file order), through the compiled reader of
:mod:`detbench.eval._dictread` when every dict is of the common shape and through the general
Python path otherwise (which also words the errors: annotation index, id and problem).
:func:`annotations_of` does the same for a pycocotools ``COCO`` object (or a look-alike such as
faster-coco-eval's), caching the arrays per object. :func:`positions` and
:func:`sorted_unique_ids` map ids to table positions for the grouping step.
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
from detbench.eval._grouping_kernels import lut_positions

__all__ = [
    "Annotations",
    "annotations_of",
    "clear_cache",
    "extract_annotations",
    "positions",
    "sorted_unique_ids",
]

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
            out = np.empty(n, np.int64)
            dt = values.dtype
            if dt.isnative and (dt.kind in "iu" or (dt.kind == "f" and dt.itemsize in (4, 8))):
                lut_positions(values, float(lo), float(span), lut, out)  # one compiled pass
                return out
            v = values - lo
            ok = (v >= 0) & (v <= span) & (v == np.round(v))
            out.fill(-1)
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


def _py(v: Any) -> Any:
    """A NumPy scalar as the Python number it was read from (integers back to int)."""
    v = v.item() if isinstance(v, np.generic) else v
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _difficult_flags(anns: list) -> np.ndarray | None:
    # VOC 'difficult' objects converted to COCO: a 'difficult' or 'ignore' key
    if not anns or not any(("difficult" in a or "ignore" in a) for a in anns):
        return None
    return np.array([bool(a.get("difficult", 0)) or bool(a.get("ignore", 0)) for a in anns], bool)


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
    from detbench.eval.loader import CocoDataset  # the dataset module imports this one

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
