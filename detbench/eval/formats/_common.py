"""What the per-image readers share: class names, image sizes, file listing, line tables, dataset assembly.

Every reader turns its files into one :class:`Rows` record (flat arrays, one entry per box) and
:func:`ground_truth_dataset` / :func:`detections_dataset` turn that into a
:class:`~detbench.eval.loader.CocoDataset` that :class:`~detbench.eval.COCOeval` and
:func:`~detbench.eval.evaluate_pr` take directly.

Errors name the file, the line (or XML object) and the field: ``labels/0001.txt, line 3, field 'h': ...``.
Fast paths convert a whole folder at once; when a check fails the offending file is read again, line by
line, to word the error.
"""

from __future__ import annotations

import json
import os
import warnings
from collections import namedtuple
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from detbench.eval.annotations import Annotations
from detbench.eval.formats._table import where
from detbench.eval.loader import CocoDataset, _gt_ids

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")

#: boxes read from files, one entry per box, before they become a dataset
Rows = namedtuple(
    "Rows",
    [
        "file",  # int64 (N,): index into ``files`` of the file the box came from
        "label",  # (codes int64 (N,), distinct class names) or None (the caller knows the classes)
        "box",  # float64 (N, 4): xywh in pixels
        "score",  # float64 (N,) or None (ground truth)
        "difficult",  # bool (N,) or None
    ],
)


# --------------------------------------------------------------------------- class names


class ClassNames:
    """Class names <-> category ids.

    Build with :func:`load_names` from a list (ids 0..K-1 in list order, YOLO's convention), a dict
    (``{name: id}`` or ``{id: name}``), a names file (one name per line, like YOLO's ``obj.names``; a
    ``.json`` list or dict; a ``.yaml`` with a ``names:`` list or dict like ultralytics' ``data.yaml``).
    """

    def __init__(self, ids: Iterable[int], names: Iterable[str], source: str = "names") -> None:
        self.ids = [int(i) for i in ids]
        self.names = [str(n) for n in names]
        self.source = source
        if len(self.ids) != len(self.names):
            raise ValueError(f"{source}: {len(self.ids)} ids for {len(self.names)} names")
        for what, vals in (("name", self.names), ("id", self.ids)):
            seen: set = set()
            for v in vals:
                if v in seen:
                    raise ValueError(f"{source}: the {what} {v!r} is given twice")
                seen.add(v)
        self._by_name = dict(zip(self.names, self.ids))
        self._by_id = dict(zip(self.ids, self.names))

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"ClassNames({dict(zip(self.ids, self.names))!r})"

    def id_of(self, name: str) -> int:
        """Category id of a class name; ValueError (listing a few known names) if unknown."""
        try:
            return self._by_name[name]
        except KeyError:
            raise ValueError(f"class {name!r} is not in {self.source} ({self._few()})") from None

    def name_of(self, cid: int) -> str:
        """Class name of a category id; ValueError if unknown."""
        try:
            return self._by_id[cid]
        except KeyError:
            raise ValueError(f"class index {cid} is not in {self.source} ({self._few()})") from None

    def categories(self) -> list[dict]:
        """COCO ``categories`` entries, in id order of the source."""
        return [{"id": i, "name": n} for i, n in zip(self.ids, self.names)]

    def _few(self) -> str:
        shown = ", ".join(repr(n) for n in self.names[:8])
        return f"{len(self.names)} classes: {shown}{', ...' if len(self.names) > 8 else ''}"


def load_names(source: Any, what: str = "names") -> ClassNames | None:
    """:class:`ClassNames` from a list, a dict, a names file or a ClassNames; None stays None."""
    if source is None or isinstance(source, ClassNames):
        return source
    if isinstance(source, (str, os.PathLike)):
        return _names_file(os.fspath(source), what)
    if isinstance(source, dict):
        return _names_dict(source, what)
    if isinstance(source, (list, tuple)):
        for k, n in enumerate(source):
            if not isinstance(n, str) or not n.strip():
                raise ValueError(f"{what}: entry {k} must be a non-empty string, got {n!r}")
        return ClassNames(range(len(source)), source, what)
    raise ValueError(f"{what}: expected a list of names, a dict, or a names file, got {type(source).__name__}")


def _names_dict(d: dict, what: str) -> ClassNames:
    def as_id(v: Any) -> int | None:
        if isinstance(v, bool):
            return None
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, str) and v.strip().lstrip("-").isdigit():
            return int(v)
        return None

    keys, vals = list(d), list(d.values())
    if all(isinstance(v, str) for v in vals) and all(as_id(k) is not None for k in keys):
        return ClassNames([as_id(k) for k in keys], vals, what)  # {id: name}
    if all(isinstance(k, str) for k in keys) and all(as_id(v) is not None for v in vals):
        return ClassNames([as_id(v) for v in vals], keys, what)  # {name: id}
    raise ValueError(f"{what}: a dict must map names to integer ids or integer ids to names")


def _names_file(path: str, what: str) -> ClassNames:
    label = f"{what} file {path!r}"
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {path!r} ({exc.strerror or exc})") from None
    ext = os.path.splitext(path)[1].lower()
    if ext in (".json", ".yaml", ".yml"):
        if ext == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{label}: not JSON (line {exc.lineno}: {exc.msg})") from None
        else:
            try:
                import yaml
            except ImportError:
                raise ValueError(f"{label}: reading YAML needs PyYAML (pip install pyyaml)") from None
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ValueError(f"{label}: not YAML ({exc})") from None
        if isinstance(data, dict) and "names" in data:
            data = data["names"]
        if not isinstance(data, (list, dict)):
            raise ValueError(f"{label}: expected a list or dict of names (or a 'names' entry)")
        return load_names(data, label)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    names = []
    for k, line in enumerate(lines, 1):
        name = line.strip()
        if not name:
            raise ValueError(f"{where(path, k)}: empty class name (one name per line, the line number - 1 is its id)")
        names.append(name)
    return ClassNames(range(len(names)), names, label)


# --------------------------------------------------------------------------- image sizes


def image_key(name: str) -> str:
    """The key of an image: its file name without folder and without an image extension."""
    base = os.path.basename(str(name))
    stem, ext = os.path.splitext(base)
    return stem if ext.lower() in IMAGE_EXTENSIONS or ext.lower() in (".txt", ".xml") else base


def load_image_sizes(source: Any, what: str = "image_sizes") -> dict[str, tuple[float, float]]:
    """``{image key: (width, height)}`` from a dict, a folder of images, a JSON or a text file.

    * dict: ``{key or file name: (width, height)}``;
    * a folder: every image file in it (sizes read from the file headers with Pillow);
    * ``.json``: ``{key: [width, height]}`` or a COCO file (its ``images``' ``file_name``, ``width``, ``height``);
    * any other file: one ``name width height`` per line.
    """
    if source is None:
        return {}
    if isinstance(source, dict):
        return {image_key(k): _size(v, f"{what}[{k!r}]") for k, v in source.items()}
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"{what}: expected a dict, a folder of images or a file, got {type(source).__name__}")
    path = os.fspath(source)
    if os.path.isdir(path):
        return _sizes_from_images(path, what)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {path!r} ({exc.strerror or exc})") from None
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{what}: {where(path, exc.lineno)}: not JSON ({exc.msg})") from None
        if isinstance(data, dict) and isinstance(data.get("images"), list):
            out = {}
            for k, im in enumerate(data["images"]):
                if not isinstance(im, dict) or "width" not in im or "height" not in im:
                    raise ValueError(f"{what}: {path}: image {k} has no 'width'/'height'")
                key = image_key(im.get("file_name", im.get("id")))
                out[key] = _size((im["width"], im["height"]), f"{what}: {path}: image {k}")
            return out
        if isinstance(data, dict):
            return {image_key(k): _size(v, f"{what}: {path}: {k!r}") for k, v in data.items()}
        raise ValueError(f"{what}: {path}: expected an object {{name: [width, height]}} or a COCO file")
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise ValueError(f"{what}: {where(path, n)}: expected 'name width height', got {len(parts)} fields")
        out[image_key(parts[0])] = _size(parts[1:], f"{what}: {where(path, n)}")
    return out


def _size(v: Any, label: str) -> tuple[float, float]:
    try:
        w, h = (float(x) for x in v)
    except (TypeError, ValueError):
        raise ValueError(f"{label}: expected (width, height) numbers, got {v!r}") from None
    if not (np.isfinite(w) and np.isfinite(h) and w > 0 and h > 0):
        raise ValueError(f"{label}: width and height must be finite and > 0, got ({w}, {h})")
    return w, h


def _sizes_from_images(folder: str, what: str) -> dict[str, tuple[float, float]]:
    try:
        from PIL import Image
    except ImportError:
        raise ValueError(f"{what}: reading sizes from image files needs Pillow; give a sizes file instead") from None
    out = {}
    for p in sorted(Path(folder).iterdir()):
        if p.suffix.lower() not in IMAGE_EXTENSIONS or p.name.startswith("."):
            continue
        try:
            with Image.open(p) as im:  # reads the header only
                out[image_key(p.name)] = (float(im.size[0]), float(im.size[1]))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{what}: cannot read the size of {str(p)!r} ({exc})") from None
    if not out:
        raise ValueError(f"{what}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in {folder!r}")
    return out


# --------------------------------------------------------------------------- files and line tables


def list_files(path: Any, ext: str, what: str) -> list[str]:
    """The ``ext`` files of a folder (sorted, hidden ones skipped), or ``[path]`` for one file.

    Only the folder's own files are read (an image's key is its file name, so files of the same name
    in two subfolders would collide). Subfolders that hold ``ext`` files are named rather than left
    out in silence: a ValueError for a ground-truth folder with none at its top level (reading it
    would evaluate an empty set; so is a ground-truth folder without any), a warning otherwise.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"{what}: expected a folder or a file path, got {type(path).__name__}")
    p = os.fspath(path)
    if os.path.isfile(p):
        return [p]
    if not os.path.isdir(p):
        raise ValueError(f"{what}: no such folder or file {p!r}")
    files, subdirs = [], []
    with os.scandir(p) as it:
        for e in it:
            if e.name.startswith("."):
                continue
            if e.is_dir():
                subdirs.append(e.path)
            elif e.name.lower().endswith(ext) and e.is_file():
                files.append(e.path)
    files.sort()
    nested = _first_nested(sorted(subdirs), ext)
    if nested is not None:
        sub = os.path.relpath(os.path.dirname(nested), p)
        msg = (
            f"{what}: {p!r} has {ext} files in subfolders (e.g. {os.path.relpath(nested, p)!r}), which are not "
            f"read: only the folder's own files are; pass the subfolder ({os.path.join(p, sub)!r}) instead"
        )
        if not files and what == "gt":
            raise ValueError(msg)
        warnings.warn(msg + (f" (read: {len(files)} files at the top level)" if files else ""), stacklevel=4)
    elif not files and what == "gt":
        raise ValueError(f"{what}: no {ext} files in {p!r}")
    return files


def _first_nested(subdirs: list[str], ext: str) -> str | None:
    # the first ``ext`` file below any of ``subdirs`` (hidden folders and files skipped), else None
    for d in subdirs:
        for root, dirs, names in os.walk(d):
            dirs[:] = sorted(x for x in dirs if not x.startswith("."))
            for name in sorted(names):
                if name.lower().endswith(ext) and not name.startswith("."):
                    return os.path.join(root, name)
    return None


# --------------------------------------------------------------------------- datasets


def ground_truth_dataset(
    rows: Rows, files: list[str], keys: list[str], names: ClassNames, source: str, images: dict[str, dict]
) -> CocoDataset:
    """A ground-truth :class:`CocoDataset`: images ``1..N`` in sorted key order, category ids from ``names``.

    ``keys``: the image key of every file; ``images``: ``{key: extra image fields}`` for every image
    (width, height, file_name), including images without boxes.
    """
    order = sorted(images)
    img_id = {k: i + 1 for i, k in enumerate(order)}
    file_img = np.array([img_id[k] for k in keys], np.float64)
    image_id = file_img[rows.file]
    codes, uniques = rows.label
    cat = np.array([names.id_of(u) for u in uniques], np.float64)[codes] if len(codes) else np.zeros(0)
    box = rows.box
    n = box.shape[0]
    anns = Annotations(image_id, cat, box, box[:, 2] * box[:, 3], np.zeros(n, bool), None, np.arange(1.0, n + 1))
    anns.extra["difficult"] = rows.difficult
    image_dicts = [{"id": img_id[k], "file_name": k, **images[k]} for k in order]
    ds = CocoDataset(list(range(1, len(order) + 1)), names.categories(), anns, is_results=False, source=source)
    ds.images = image_dicts
    ds.image_keys = img_id  # detections are matched by file name only (never by the ids 1..N)
    return ds


def gt_image_keys(gt: Any) -> dict[str, Any]:
    """``{image key: image id}`` of a ground truth: each image's file name stem, and its id as text.

    A ground truth read from per-image files has only its file names as keys.
    """
    keys = getattr(gt, "image_keys", None)
    if isinstance(keys, dict):
        return keys
    images = gt.images if isinstance(gt, CocoDataset) else getattr(gt, "dataset", {}).get("images")
    out: dict[str, Any] = {}
    if images:
        for im in images:
            out.setdefault(str(im["id"]), im["id"])
        for im in images:
            if im.get("file_name") is not None:
                out[image_key(im["file_name"])] = im["id"]
    else:
        for i in _gt_ids(gt)[0]:
            out[str(i)] = i
    return out


def gt_image_sizes(gt: Any) -> dict[Any, tuple[float, float]]:
    """``{image id: (width, height)}`` of the ground truth's images that state both."""
    images = gt.images if isinstance(gt, CocoDataset) else getattr(gt, "dataset", {}).get("images")
    return {
        im["id"]: (float(im["width"]), float(im["height"])) for im in images or () if "width" in im and "height" in im
    }


def per_row(file_values: list, file: np.ndarray) -> np.ndarray:
    """The value of each row's file (gt image ids: float64 when numeric, else objects)."""
    v = np.asarray(file_values)
    v = v.astype(np.float64) if v.dtype.kind in "iuf" else np.asarray(file_values, dtype=object)
    return v[file] if v.size else np.zeros(0)


def detections_dataset(rows: Rows, files: list[str], image_ids: Any, gt: Any, category: np.ndarray, source: str):
    """A results :class:`CocoDataset` against ``gt`` (``image_ids``: the gt image id of each box)."""
    ids, cats = _gt_ids(gt)
    box = rows.box
    n = box.shape[0]
    anns = Annotations(
        image_ids if n else np.zeros(0),
        category.astype(np.float64),
        box,
        box[:, 2] * box[:, 3],
        None,
        rows.score,
        np.arange(1.0, n + 1),
    )
    return CocoDataset(ids, cats, anns, is_results=True, source=source)


def gt_names(gt: Any) -> ClassNames:
    """The ground truth's categories as :class:`ClassNames` (names default to the id as text)."""
    _, cats = _gt_ids(gt)
    return ClassNames(
        [c["id"] for c in cats], [str(c.get("name", c["id"])) for c in cats], "the ground truth's categories"
    )


def unknown_image(path: str, key: str, keymap: dict) -> ValueError:
    """The error for a detection of an image the ground truth does not have."""
    some = ", ".join(repr(k) for k in list(keymap)[:5]) + (", ..." if len(keymap) > 5 else "")
    return ValueError(f"{path}: image {key!r} is not in the ground truth ({len(keymap)} image names, e.g. {some})")


def _is_text_labels(labels: Any) -> bool:
    arr = labels if isinstance(labels, np.ndarray) else None
    if arr is not None:
        return arr.dtype.kind in "USO" and any(isinstance(v, (str, np.str_)) for v in arr.ravel()[:1].tolist())
    try:
        first = next(iter(labels), None)
    except TypeError:
        return False
    return isinstance(first, (str, np.str_))


def labels_to_ids(gt_labels: Any, det_labels: Any, class_names: Any) -> tuple[Any, Any, dict[int, str] | None]:
    """Class-name labels -> integer ids for :func:`~detbench.eval.evaluate_pr` (arrays given as names).

    With ``class_names`` (anything :func:`load_names` takes) names map through it (an unknown name is
    an error naming the argument and the index); without it the sorted names of both sides get ids
    ``0..K-1``. Integer labels pass unchanged. Returns ``(gt ids, det ids, {id: name} or None)``.
    """
    cn = load_names(class_names, "class_names")
    text = [_is_text_labels(x) for x in (gt_labels, det_labels)]
    if not any(text):
        return gt_labels, det_labels, (dict(zip(cn.ids, cn.names)) if cn is not None else None)
    if cn is None:
        found = sorted({str(v) for x, t in zip((gt_labels, det_labels), text) if t for v in x})
        cn = ClassNames(range(len(found)), found, "the label names")
    out = []
    for x, t, what in zip((gt_labels, det_labels), text, ("gt_labels", "det_labels")):
        if not t:
            out.append(x)
            continue
        ids = np.empty(len(x), np.int64)
        for k, v in enumerate(x):
            if not isinstance(v, (str, np.str_)):
                raise ValueError(f"{what}: mixes class names and other values (index {k}: {v!r})")
            try:
                ids[k] = cn.id_of(str(v))
            except ValueError as exc:
                raise ValueError(f"{what}: index {k}: {exc}") from None
        out.append(ids)
    return out[0], out[1], dict(zip(cn.ids, cn.names))
