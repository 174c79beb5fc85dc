"""PASCAL VOC: ``Annotations/*.xml`` ground truth and the devkit's per-class detection files.

Ground truth: one XML file per image (its name without ``.xml`` is the image), with ``size``
(``width``, ``height``) and one ``object`` per box: ``name``, ``difficult`` (0/1, default 0) and
``bndbox`` (``xmin``, ``ymin``, ``xmax``, ``ymax``). Detections: the devkit's results files, one per
class (``comp4_det_test_<class>.txt``, or ``<class>.txt``), one ``<image> <score> <xmin> <ymin> <xmax>
<ymax>`` per line.

Coordinates are the devkit's 1-based inclusive pixel indices. With ``one_based=True`` (the default)
they become COCO's continuous coordinates, ``[xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]``,
so that plain IoU (``plus_one=False``) equals the devkit's +1 arithmetic exactly; do not add
``plus_one=True`` on top. ``one_based=False`` keeps the numbers: ``[xmin, ymin, xmax - xmin, ymax - ymin]``.
Difficult objects become the ``difficult`` flags that :func:`~detbench.eval.evaluate_pr` ignores (the
COCO protocol, like pycocotools on converted VOC data, counts them as ordinary objects).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np

from detbench.eval.formats._common import (
    ClassNames,
    Rows,
    gt_image_keys,
    gt_names,
    image_key,
    list_files,
    per_row,
)
from detbench.eval.formats._table import FieldError, first_bad, locate, number, read_columns

__all__ = ["read_voc_ground_truth", "read_voc_detections", "voc_boxes"]

_BND = ("xmin", "ymin", "xmax", "ymax")


def voc_boxes(v: np.ndarray, one_based: bool) -> np.ndarray:
    """(N, 4) ``xmin ymin xmax ymax`` -> COCO ``[x, y, w, h]`` (see the module docstring)."""
    out = np.empty_like(v)
    off = 1.0 if one_based else 0.0
    out[:, :2] = v[:, :2] - off
    out[:, 2:] = v[:, 2:] - v[:, :2] + off
    return out


def _text(node: ET.Element | None, path: str) -> str | None:
    el = node.find(path) if node is not None else None
    return None if el is None or el.text is None else el.text.strip()


def _read_xml(path: str, known: set | None) -> tuple[str | None, tuple | None, list, list, list]:
    """``(filename, (w, h) or None, names, difficult, boxes)`` of one annotation file."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path}: not valid XML ({exc})") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None
    size = root.find("size")
    wh = None
    if size is not None and _text(size, "width") and _text(size, "height"):
        try:
            wh = (number(_text(size, "width"), "size/width"), number(_text(size, "height"), "size/height"))
        except FieldError as exc:
            raise ValueError(f"{path}: {exc}") from None
    names, diff, boxes = [], [], []
    for k, obj in enumerate(root.iter("object")):
        name = _text(obj, "name")
        label = f"{path}, object {k}" + (f" ({name})" if name else "")
        if not name:
            raise ValueError(f"{label}, field 'name': missing or empty")
        if known is not None and name not in known:
            raise ValueError(f"{label}, field 'name': unknown class name {name!r}")
        d = _text(obj, "difficult")
        if d is None or d == "":
            dv = False
        elif d in ("0", "1"):
            dv = d == "1"
        else:
            raise ValueError(f"{label}, field 'difficult': expected 0 or 1, got {d!r}")
        bb = obj.find("bndbox")
        if bb is None:
            raise ValueError(f"{label}, field 'bndbox': missing")
        vals = []
        for f in _BND:
            t = _text(bb, f)
            if t is None:
                raise ValueError(f"{label}, field 'bndbox/{f}': missing")
            try:
                vals.append(number(t, f"bndbox/{f}"))
            except FieldError as exc:
                raise ValueError(f"{label}, {exc}") from None
        for a, b in ((0, 2), (1, 3)):
            if vals[b] < vals[a]:
                raise ValueError(
                    f"{label}, field 'bndbox/{_BND[b]}': {_BND[b]} < {_BND[a]} ({vals[b]:g} < {vals[a]:g})"
                )
        names.append(name)
        diff.append(dv)
        boxes.append(vals)
    return _text(root, "filename"), wh, names, diff, boxes


def read_voc_ground_truth(path: Any, *, names: ClassNames | None, one_based: bool = True) -> tuple:
    """``(rows, files, keys, names, images)`` of a folder (or one file) of VOC XML annotations."""
    files = list_files(path, ".xml", "gt")
    known = None if names is None else set(names.names)
    labels: list = []
    diff: list = []
    boxes: list = []
    counts = np.zeros(len(files), np.int64)
    keys = [image_key(f) for f in files]
    images = {}
    for k, f in enumerate(files):
        filename, wh, n, d, b = _read_xml(f, known)
        labels += n
        diff += d
        boxes += b
        counts[k] = len(n)
        images[keys[k]] = {"width": wh[0], "height": wh[1]} if wh else {}
        if filename:
            images[keys[k]]["voc_filename"] = filename
    uniques = sorted(set(labels))
    if names is None:
        names = ClassNames(range(len(uniques)), uniques, "the class names found in the ground truth")
    pos = {u: k for k, u in enumerate(uniques)}
    codes = np.array([pos[lab] for lab in labels], np.int64)
    v = np.array(boxes, np.float64).reshape(-1, 4)
    file = np.repeat(np.arange(len(files)), counts)
    rows = Rows(file, (codes, uniques), voc_boxes(v, one_based), None, np.array(diff, bool))
    return rows, files, keys, names, images


def _class_of_file(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    if "_det_" in stem:  # comp4_det_test_<class>: drop the competition and the image set
        rest = stem.split("_det_", 1)[1]
        return rest.split("_", 1)[1] if "_" in rest else rest
    return stem


def read_voc_detections(path: Any, gt: Any, *, one_based: bool = True) -> tuple:
    """``(rows, files, image ids, category ids)`` of the devkit's per-class results files."""
    files = list_files(path, ".txt", "dt")
    g_names = gt_names(gt)
    keymap = gt_image_keys(gt)
    cls = []
    for f in files:
        c = _class_of_file(f)
        if c not in g_names.names:
            raise ValueError(f"{f}: the class {c!r} of this results file is not in the ground truth ({g_names._few()})")
        cls.append(g_names.id_of(c))

    def check(parts: list[str]) -> None:
        if len(parts) != 6:
            raise ValueError(f"expected 6 fields 'image score xmin ymin xmax ymax', got {len(parts)}")
        if image_key(parts[0]) not in keymap:
            raise FieldError("image", f"image {parts[0]!r} is not in the ground truth")
        number(parts[1], "score")
        vals = [number(t, f) for t, f in zip(parts[2:], _BND)]
        for a, b in ((0, 2), (1, 3)):
            if vals[b] < vals[a]:
                raise FieldError(_BND[b], f"{_BND[b]} < {_BND[a]} ({vals[b]:g} < {vals[a]:g})")

    def fail(bad: np.ndarray, problem: str) -> ValueError:
        return locate(first_bad(bad, files, counts), check, problem)

    cols, counts = read_columns(files, 6, check)
    codes, uniques = cols[0]
    u_img = [keymap.get(image_key(u)) for u in uniques]
    missing = np.array([i is None for i in u_img], bool)
    if missing.any():
        raise fail(missing[codes], "unknown image")
    img = per_row(u_img, codes)
    v = np.stack(cols[1:], axis=1) if codes.size else np.zeros((0, 5))
    bad = ~np.isfinite(v).all(axis=1) | (v[:, 3] < v[:, 1]) | (v[:, 4] < v[:, 2])
    if bad.any():
        raise fail(bad, "a value is out of range")
    file = np.repeat(np.arange(len(files)), counts)
    box = voc_boxes(np.ascontiguousarray(v[:, 1:]), one_based)
    rows_out = Rows(file, None, box, np.ascontiguousarray(v[:, 0]), None)
    return rows_out, files, img, np.array(cls, np.float64)[file] if len(file) else np.zeros(0)
