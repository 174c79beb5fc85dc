"""Readers for the annotation formats users have: COCO JSON, PASCAL VOC, YOLO txt and the common text layout.

::

    from detbench.eval import COCOeval, evaluate_pr
    from detbench.eval.formats import read_ground_truth, read_detections

    gt = read_ground_truth("VOC2007/Annotations", "voc")                      # names from the files
    dt = read_detections("results/", "text", gt, box_format="xywh")           # class score x y w h
    res = evaluate_pr(gt, dt)                                                  # difficult objects ignored
    E = COCOeval(gt, dt, "bbox"); E.evaluate(); E.accumulate(); E.summarize()

Both return a :class:`~detbench.eval.CocoDataset` (flat arrays) that :class:`~detbench.eval.COCOeval`,
:func:`~detbench.eval.evaluate_pr` and the streaming evaluators take as they take a COCO file's.

Formats (``fmt``): ``"coco"`` (:func:`~detbench.eval.load_coco` / :func:`~detbench.eval.load_results`),
``"voc"`` (:mod:`.voc_xml`: ``Annotations/*.xml``; detections in the devkit's per-class results files),
``"yolo"`` (:mod:`.yolo`: normalised ``class cx cy w h [score]``, needs image sizes) and ``"text"``
(:mod:`.text`: ``class [score] a b c d`` with the box in ``box_format``). Each side has its own
``box_format`` (only ``text`` takes one: VOC is xyxy, YOLO normalised cxcywh, COCO xywh).

Images: in the per-image formats an image is the name of its file without extension; the ground
truth's images get ids ``1..N`` in sorted name order (``images[i]["file_name"]`` holds the name), and
a detection file (or devkit line) is matched to the ground-truth image of the same name, or of a COCO
ground truth image's ``file_name`` without extension, or of its id written out. A detection of an
image that is not in the ground truth is an error naming the file (and line).

Classes: ``names`` (a list: ids 0..K-1; a dict ``{name: id}`` or ``{id: name}``; or a names file: one
name per line, ``.json``, or a ``.yaml`` with ``names:``) fixes the categories; without it the ground
truth's class names (VOC, text: sorted, ids 0..K-1) or class indices (YOLO, named by their number) are
the categories. Detections name classes as the ground truth does (text, VOC: by name; YOLO: by index,
through ``names`` when given). An unknown class is an error naming file, line and field.
"""

from __future__ import annotations

import os
from typing import Any

from detbench._validate import check_bool, check_choice
from detbench.eval.formats._common import (
    ClassNames,
    detections_dataset,
    ground_truth_dataset,
    load_image_sizes,
    load_names,
)
from detbench.eval.formats.text import read_text_detections, read_text_ground_truth
from detbench.eval.formats.voc_xml import read_voc_detections, read_voc_ground_truth
from detbench.eval.formats.yolo import read_yolo_detections, read_yolo_ground_truth
from detbench.eval.loader import CocoDataset, load_coco, load_results

__all__ = ["FORMATS", "read_ground_truth", "read_detections", "load_names", "load_image_sizes", "ClassNames"]

#: the formats :func:`read_ground_truth` and :func:`read_detections` read
FORMATS = ("coco", "voc", "yolo", "text")


def _no_box_format(fmt: str, box_format: str | None) -> None:
    if box_format is not None and fmt != "text":
        fixed = {"coco": "xywh", "voc": "xyxy (1-based)", "yolo": "normalised cxcywh"}[fmt]
        raise ValueError(f"box_format: the {fmt} format fixes its boxes ({fixed}); box_format is for 'text'")


def read_ground_truth(
    path: Any,
    fmt: str = "coco",
    *,
    names: Any = None,
    image_sizes: Any = None,
    box_format: str | None = None,
    one_based: bool = True,
) -> CocoDataset:
    """Read a ground truth in ``fmt`` (``coco``, ``voc``, ``yolo``, ``text``) into a :class:`CocoDataset`.

    ``path``: a COCO JSON file, or a folder of per-image files (``.xml`` for voc, ``.txt`` for yolo
    and text), or one such file. ``names``: the class names (see the module docstring).
    ``image_sizes``: yolo only, ``{image: (width, height)}``, a sizes file (``name width height``
    lines, a JSON object or a COCO file) or a folder of images. ``box_format``: text only, ``xyxy``
    (default), ``xywh`` or ``cxcywh``. ``one_based``: voc only, see :mod:`.voc_xml`.
    """
    fmt = check_choice(fmt, "fmt", FORMATS)
    _no_box_format(fmt, box_format)
    one_based = check_bool(one_based, "one_based")
    cn = load_names(names)
    if fmt == "coco":
        if cn is not None:
            raise ValueError("names: a COCO file names its own categories")
        return load_coco(path)
    if image_sizes is not None and fmt != "yolo":
        raise ValueError(f"image_sizes: only the yolo format needs image sizes (got fmt={fmt!r})")
    if fmt == "voc":
        got = read_voc_ground_truth(path, names=cn, one_based=one_based)
    elif fmt == "yolo":
        if image_sizes is None:
            raise ValueError(
                "image_sizes: the yolo format needs the image sizes (a dict, a sizes file or an image folder)"
            )
        got = read_yolo_ground_truth(path, names=cn, sizes=load_image_sizes(image_sizes))
    else:
        got = read_text_ground_truth(path, names=cn, box_format=box_format or "xyxy")
    rows, files, keys, cn, images = got
    return ground_truth_dataset(rows, files, keys, cn, os.fspath(path), images)


def read_detections(
    path: Any,
    fmt: str,
    gt: Any,
    *,
    names: Any = None,
    image_sizes: Any = None,
    box_format: str | None = None,
    one_based: bool = True,
) -> CocoDataset:
    """Read detections in ``fmt`` against the ground truth ``gt`` into a results :class:`CocoDataset`.

    ``gt``: what :func:`read_ground_truth` returned (or a :class:`CocoDataset` / pycocotools ``COCO``).
    ``path``: a COCO results JSON, a folder of per-image files (yolo, text), a folder of the VOC
    devkit's per-class results files (voc), or one file. ``names``: yolo only, the names of the class
    indices (matched to ``gt``'s category names; without it an index is ``gt``'s category id).
    ``image_sizes``: yolo only, overrides the ground truth's image sizes. ``box_format``: text only.
    Images and classes must exist in ``gt`` (ValueError naming the file, line and field).
    """
    fmt = check_choice(fmt, "fmt", FORMATS)
    _no_box_format(fmt, box_format)
    one_based = check_bool(one_based, "one_based")
    if gt is None:
        raise ValueError("gt: detections are read against a ground truth (read_ground_truth)")
    cn = load_names(names)
    if cn is not None and fmt != "yolo":
        raise ValueError(f"names: detections in {fmt!r} name their classes as the ground truth does")
    if image_sizes is not None and fmt != "yolo":
        raise ValueError(f"image_sizes: only the yolo format needs image sizes (got fmt={fmt!r})")
    if fmt == "coco":
        return load_results(path, gt)
    if fmt == "voc":
        rows, files, img, cats = read_voc_detections(path, gt, one_based=one_based)
    elif fmt == "yolo":
        rows, files, img, cats = read_yolo_detections(path, gt, names=cn, sizes=load_image_sizes(image_sizes))
    else:
        rows, files, img, cats = read_text_detections(path, gt, box_format=box_format or "xyxy")
    return detections_dataset(rows, files, img, gt, cats, os.fspath(path))
