"""The common text layout: one file per image, one box per line, the class by name.

Ground truth ``<class> <a> <b> <c> <d>`` (optionally ``difficult`` as a sixth field), detections
``<class> <score> <a> <b> <c> <d>``, separated by white space, as in the toy sets of the widely used
"Object-Detection-Metrics" and "mAP" repositories. ``a b c d`` are pixel coordinates in ``box_format``:
``xyxy`` (x1 y1 x2 y2, the default), ``xywh`` (x y width height) or ``cxcywh``. Coordinates are taken
as they are (no +1 pixel convention; give ``plus_one=True`` to :func:`~detbench.eval.evaluate_pr` for
that). The image of a file is its name without the ``.txt`` extension; blank lines are skipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import check_box_format
from detbench.eval.formats._common import (
    ClassNames,
    Rows,
    gt_image_keys,
    gt_names,
    image_key,
    list_files,
    per_row,
    unknown_image,
)
from detbench.eval.formats._table import FieldError, first_bad, locate, number, read_columns

__all__ = ["read_text_ground_truth", "read_text_detections", "FIELDS", "to_xywh"]

#: the names of the four coordinates of each box format (used in error messages)
FIELDS = {"xyxy": ("x1", "y1", "x2", "y2"), "xywh": ("x", "y", "w", "h"), "cxcywh": ("cx", "cy", "w", "h")}


def to_xywh(v: np.ndarray, fmt: str) -> np.ndarray:
    """(N, 4) boxes in ``fmt`` -> COCO ``[x, y, w, h]`` (a new array)."""
    if fmt == "xywh":
        return v.copy()
    out = np.empty_like(v)
    if fmt == "xyxy":
        out[:, :2] = v[:, :2]
        out[:, 2:] = v[:, 2:] - v[:, :2]
    else:
        out[:, :2] = v[:, :2] - v[:, 2:] / 2
        out[:, 2:] = v[:, 2:]
    return out


def check_box(vals: list[float], fmt: str) -> None:
    """One box's sizes: FieldError naming the coordinate that makes a width or height negative."""
    f = FIELDS[fmt]
    if fmt == "xyxy":
        for a, b in ((0, 2), (1, 3)):
            if vals[b] < vals[a]:
                raise FieldError(f[b], f"{f[b]} < {f[a]} ({vals[b]:g} < {vals[a]:g})")
    else:
        for b in (2, 3):
            if vals[b] < 0:
                raise FieldError(f[b], f"negative size {vals[b]:g}")


def _line_checker(fmt: str, detections: bool, known: set | None):
    f = FIELDS[fmt]
    layout = "class score " + " ".join(f) if detections else "class " + " ".join(f) + " [difficult]"

    def check(parts: list[str]) -> None:
        n_ok = (6,) if detections else (5, 6)
        if len(parts) not in n_ok:
            raise ValueError(f"expected {' or '.join(map(str, n_ok))} fields '{layout}', got {len(parts)}")
        if not detections and len(parts) == 6 and parts[5] != "difficult":
            raise FieldError("difficult", f"the sixth field may only be the word 'difficult', got {parts[5]!r}")
        if known is not None and parts[0] not in known:
            raise FieldError("class", f"unknown class name {parts[0]!r} ({_few(known)})")
        if detections:
            number(parts[1], "score")
        vals = [number(t, name) for t, name in zip(parts[-4:] if detections else parts[1:5], f)]
        check_box(vals, fmt)

    return check


def _few(known: set) -> str:
    names = sorted(known)
    return f"known: {', '.join(repr(n) for n in names[:8])}{', ...' if len(names) > 8 else ''}"


def _read(files: list[str], fmt: str, detections: bool, known: set | None) -> Rows:
    check = _line_checker(fmt, detections, known)
    n = 6
    cols, counts = read_columns(files, n, check, text_cols=(0,) if detections else (0, 5), pad_last=not detections)

    def fail(bad: np.ndarray, problem: str) -> ValueError:
        return locate(first_bad(bad, files, counts), check, problem)

    codes, uniques = cols[0]
    difficult = None
    if not detections:
        dcodes, dvals = cols[5]
        word = np.array([u in ("", "difficult") for u in dvals], bool)
        if dcodes.size and not word[dcodes].all():
            raise fail(~word[dcodes], "the sixth field may only be 'difficult'")
        is_d = np.array([u == "difficult" for u in dvals], bool)
        difficult = is_d[dcodes] if dcodes.size and is_d.any() else None
    if known is not None:
        unknown = np.array([u not in known for u in uniques], bool)
        if unknown.any():
            raise fail(unknown[codes], "unknown class")
    v = np.stack(cols[2:6] if detections else cols[1:5], axis=1) if codes.size else np.zeros((0, 4))
    score = cols[1] if detections else None
    bad = ~np.isfinite(v).all(axis=1)
    if score is not None:
        bad |= ~np.isfinite(score)
    if bad.any():
        raise fail(bad, "a value is not finite")
    box = to_xywh(v, fmt)
    bad = (box[:, 2] < 0) | (box[:, 3] < 0)
    if bad.any():
        raise fail(bad, "negative width or height")
    file = np.repeat(np.arange(len(files)), counts)
    return Rows(file, (codes, uniques), box, score, difficult)


def read_text_ground_truth(path: Any, *, names: ClassNames | None, box_format: str = "xyxy") -> tuple:
    """``(rows, files, keys, names, images)`` of a folder (or one file) of ground-truth text files."""
    fmt = check_box_format(box_format, "box_format")
    files = list_files(path, ".txt", "gt")
    rows = _read(files, fmt, False, None if names is None else set(names.names))
    if names is None:
        found = sorted(rows.label[1])
        names = ClassNames(range(len(found)), found, "the class names found in the ground truth")
    keys = [image_key(f) for f in files]
    return rows, files, keys, names, {k: {} for k in keys}


def read_text_detections(path: Any, gt: Any, *, box_format: str = "xyxy") -> tuple:
    """``(rows, files, image ids, category ids)`` of a folder (or one file) of detection text files."""
    fmt = check_box_format(box_format, "box_format")
    files = list_files(path, ".txt", "dt")
    names = gt_names(gt)
    keymap = gt_image_keys(gt)
    file_img = []
    for f in files:
        k = image_key(f)
        if k not in keymap:
            raise unknown_image(f, k, keymap)
        file_img.append(keymap[k])
    rows = _read(files, fmt, True, set(names.names))
    codes, uniques = rows.label
    cats = np.array([names.id_of(u) for u in uniques], np.float64)[codes] if codes.size else np.zeros(0)
    return rows, files, per_row(file_img, rows.file), cats
