"""Small helpers of :mod:`detbench.eval.streaming`: id look-ups prepared once, storage dtypes, ids in an ``.npz``."""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench.eval.loader import positions


def _uint_for(n: int) -> type:
    for t in (np.uint8, np.uint16, np.uint32):
        if n <= np.iinfo(t).max:
            return t
    return np.int64


def _bits_dtype(T: int) -> type:
    for bits, t in ((8, np.uint8), (16, np.uint16), (32, np.uint32)):
        if T <= bits:
            return t
    return np.uint64


def _ids_array(ids: list, what: str) -> np.ndarray:
    # ids as an array for the .npz (numbers -> float64, strings -> unicode)
    if all(isinstance(v, str) for v in ids) and ids:
        return np.asarray(ids, dtype=str)
    try:
        arr = np.asarray(ids, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"save: {what} must be all numbers or all strings to be saved in an .npz") from None
    return arr.reshape(-1)


def _ids_list(arr: np.ndarray) -> list:
    if arr.dtype.kind == "f":
        return [int(v) if v == int(v) else float(v) for v in arr.tolist()]
    return arr.tolist()


class _Lookup:
    """Position of ids in a fixed list, -1 if absent (:func:`~detbench.eval.loader.positions`, table prepared once)."""

    def __init__(self, ids: list) -> None:
        self.ids = ids
        self.sorted = self.order = self.lut = None
        if ids and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in ids):
            tab = np.asarray(ids, dtype=np.float64)
            if np.all(np.abs(tab) < 2.0**53):
                self.order = np.argsort(tab, kind="stable")
                self.sorted = tab[self.order]
                self.lo, span = self.sorted[0], self.sorted[-1] - self.sorted[0]
                if np.all(tab == np.round(tab)) and span < 4 * tab.size + 1_000_000:
                    self.lut = np.full(int(span) + 1, -1, np.int64)  # dense integer ids: a look-up table
                    self.lut[(tab - self.lo).astype(np.int64)[::-1]] = np.arange(tab.size)[::-1]

    def __call__(self, values: np.ndarray) -> np.ndarray:
        if self.sorted is None or values.dtype == object:
            return positions(values, self.ids)
        if self.lut is not None:
            v = values - self.lo
            ok = (v >= 0) & (v < self.lut.size) & (v == np.floor(v))
            out = np.full(values.shape[0], -1, np.int64)
            out[ok] = self.lut[v[ok].astype(np.int64)]
            return out
        idx = np.minimum(np.searchsorted(self.sorted, values), self.sorted.size - 1)
        return np.where(self.sorted[idx] == values, self.order[idx], -1).astype(np.int64)


def check_result_arrays(
    all_imgs: _Lookup, all_cats: _Lookup, image_ids: Any, category_ids: Any, boxes: Any, scores: Any
) -> tuple:
    """Validated (image ids, category ids, xywh boxes float64, scores float64) of a batch given as arrays."""
    for name, v in (("image_ids", image_ids), ("category_ids", category_ids), ("boxes", boxes), ("scores", scores)):
        if v is None:
            raise ValueError(f"update: {name} is missing (image_ids, category_ids, boxes, scores go together)")
    box = np.asarray(boxes, dtype=np.float64)
    if box.ndim != 2 or box.shape[1] != 4:
        raise ValueError(f"boxes: expected shape (N, 4) [x, y, w, h], got {box.shape}")
    n = box.shape[0]
    score = np.asarray(scores, dtype=np.float64).reshape(-1)
    img = np.asarray(image_ids).reshape(-1)
    cat = np.asarray(category_ids).reshape(-1)
    for name, v in (("image_ids", img), ("category_ids", cat), ("scores", score)):
        if v.shape[0] != n:
            raise ValueError(f"{name}: expected {n} values (one per box), got {v.shape[0]}")
    if not np.isfinite(box).all():
        raise ValueError("boxes: contain NaN or inf")
    if (box[:, 2:] < 0).any():
        raise ValueError("boxes: negative width or height (expected [x, y, w, h])")
    if not np.isfinite(score).all():
        raise ValueError("scores: contain NaN or inf")
    img = img.astype(np.float64) if img.dtype.kind in "iuf" else img.astype(object)
    cat = cat.astype(np.float64) if cat.dtype.kind in "iuf" else cat.astype(object)
    bad = all_imgs(img) < 0
    if bad.any():
        raise ValueError(f"image_ids: {img[np.flatnonzero(bad)[0]]!r} is not an image of the ground truth")
    bad = all_cats(cat) < 0
    if bad.any():
        raise ValueError(f"category_ids: {cat[np.flatnonzero(bad)[0]]!r} is not a category of the ground truth")
    return img, cat, box, score
