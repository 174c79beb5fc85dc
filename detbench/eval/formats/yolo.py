"""YOLO txt: one file per image, ``<class index> <cx> <cy> <w> <h> [<score>]`` per line, normalised.

The class is an integer index (into the names list when one is given: ``names[index]``); the centre
and size are fractions of the image's width and height, each in [0, 1] (as ultralytics requires of
labels); detections carry the score last (ultralytics' ``save_conf``). Pixel boxes need each image's
size: ``image_sizes`` (a dict, a sizes file or a folder of images, see
:func:`~detbench.eval.formats.load_image_sizes`) or, for detections, the ground truth's image sizes.
A ground-truth image listed in ``image_sizes`` without a label file is an image without objects
(YOLO's background images).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench.eval.formats._common import (
    ClassNames,
    Rows,
    gt_image_keys,
    gt_image_sizes,
    gt_names,
    image_key,
    list_files,
    per_row,
    unknown_image,
)
from detbench.eval.formats._table import FieldError, first_bad, locate, number, read_columns

__all__ = ["read_yolo_ground_truth", "read_yolo_detections"]

_FIELDS = ("class", "cx", "cy", "w", "h", "score")
#: how far past [0, 1] a normalised value may go (text rounding)
_SLACK = 1e-6


def _class_index(token: str) -> int:
    try:
        v = float(token)
    except ValueError:
        raise FieldError("class", f"expected an integer class index, got {token!r}") from None
    if not (np.isfinite(v) and v == int(v) and v >= 0):
        raise FieldError("class", f"expected an integer class index >= 0, got {token!r}")
    return int(v)


def _line_checker(detections: bool, known: set | None):
    n = 6 if detections else 5
    layout = " ".join(_FIELDS[:n])

    def check(parts: list[str]) -> None:
        if len(parts) != n:
            raise ValueError(f"expected {n} fields '{layout}', got {len(parts)}")
        c = _class_index(parts[0])
        if known is not None and c not in known:
            raise FieldError("class", f"class index {c} is not among the {len(known)} known classes")
        for tok, field in zip(parts[1:5], _FIELDS[1:5]):
            v = number(tok, field)
            if not (-_SLACK <= v <= 1 + _SLACK):
                raise FieldError(field, f"expected a normalised value in [0, 1], got {tok!r} (pixels?)")
        if detections:
            number(parts[5], "score")

    return check


def _read(files: list[str], detections: bool, known: set | None) -> tuple[Rows, np.ndarray, np.ndarray]:
    """Rows with normalised cxcywh boxes (scaled later), the class indices and the rows per file."""
    check = _line_checker(detections, known)
    n = 6 if detections else 5
    cols, counts = read_columns(files, n, check, text_cols=())

    def fail(bad: np.ndarray, problem: str) -> ValueError:
        return locate(first_bad(bad, files, counts), check, problem)

    v = np.stack(cols, axis=1) if cols[0].size else np.zeros((0, n))
    cls = v[:, 0]
    bad = ~np.isfinite(v).all(axis=1) | (cls != np.floor(cls)) | (cls < 0)
    bad |= ((v[:, 1:5] < -_SLACK) | (v[:, 1:5] > 1 + _SLACK)).any(axis=1)
    if bad.any():
        raise fail(bad, "a value is out of range")
    idx = cls.astype(np.int64)
    if known is not None:
        bad = ~np.isin(idx, np.fromiter(known, np.int64, len(known)))
        if bad.any():
            raise fail(bad, "unknown class index")
    file = np.repeat(np.arange(len(files)), counts)
    score = np.ascontiguousarray(v[:, 5]) if detections else None
    return Rows(file, None, np.ascontiguousarray(v[:, 1:5]), score, None), idx, counts


def _to_pixels(cxcywh: np.ndarray, wh: np.ndarray) -> np.ndarray:
    """Normalised cxcywh -> pixel xywh, ``wh`` (N, 2) the image size of each box."""
    out = np.empty_like(cxcywh)
    out[:, 2:] = cxcywh[:, 2:] * wh
    out[:, :2] = cxcywh[:, :2] * wh - out[:, 2:] / 2
    return out


def read_yolo_ground_truth(path: Any, *, names: ClassNames | None, sizes: dict) -> tuple:
    """``(rows, files, keys, names, images)`` of a folder (or one file) of YOLO label files."""
    files = list_files(path, ".txt", "gt")
    files = [f for f in files if image_key(f) != "classes"]  # a names file beside the labels
    rows, idx, counts = _read(files, False, None if names is None else set(names.ids))
    keys = [image_key(f) for f in files]
    wh = np.zeros((len(files), 2))
    for k, (f, key) in enumerate(zip(files, keys)):
        if key not in sizes:
            raise ValueError(
                f"{f}: no image size for {key!r} (give image_sizes: a dict, a sizes file or an image folder)"
            )
        wh[k] = sizes[key]
    box = _to_pixels(rows.box, wh[rows.file])
    if names is None:
        found = sorted(set(idx.tolist()))
        names = ClassNames(found, [str(c) for c in found], "the class indices found in the ground truth")
    uniq, codes = np.unique(idx, return_inverse=True)
    label = (codes.astype(np.int64).reshape(-1), [names.name_of(c) for c in uniq.tolist()])
    images = {key: {"width": w, "height": h} for key, (w, h) in sizes.items()}
    for key, (w, h) in zip(keys, wh.tolist()):
        images[key] = {"width": w, "height": h}
    return rows._replace(box=box, label=label), files, keys, names, images


def read_yolo_detections(path: Any, gt: Any, *, names: ClassNames | None, sizes: dict) -> tuple:
    """``(rows, files, image ids, category ids)`` of a folder (or one file) of YOLO detection files.

    The class index is ``names``' id when names are given (mapped to the ground truth's category of
    the same name), else the ground truth's category id itself.
    """
    files = list_files(path, ".txt", "dt")
    files = [f for f in files if image_key(f) != "classes"]
    g_names = gt_names(gt)
    keymap = gt_image_keys(gt)
    g_sizes = gt_image_sizes(gt)
    file_img, wh = [], np.zeros((len(files), 2))
    for k, f in enumerate(files):
        key = image_key(f)
        if key not in keymap:
            raise unknown_image(f, key, keymap)
        file_img.append(keymap[key])
        size = sizes.get(key, g_sizes.get(keymap[key]))
        if size is None:
            raise ValueError(f"{f}: no image size for {key!r} (give image_sizes, or a ground truth with sizes)")
        wh[k] = size
    known = set(names.ids) if names is not None else set(g_names.ids)
    rows, idx, counts = _read(files, True, known)
    if names is not None:
        uniq, codes = np.unique(idx, return_inverse=True)
        to_gt = np.array([g_names.id_of(names.name_of(c)) for c in uniq.tolist()], np.float64)
        cats = to_gt[codes.reshape(-1)] if idx.size else np.zeros(0)
    else:
        cats = idx.astype(np.float64)
    box = _to_pixels(rows.box, wh[rows.file])
    return rows._replace(box=box), files, per_row(file_img, rows.file), cats
