"""Binary masks as run-length encodings: pycocotools.mask's API on Numba kernels.

``from detbench import masks``; ``masks.encode(m)``, ``masks.decode(rle)``,
``masks.iou(dt, gt, iscrowd)``, ``masks.area(rle)``, ``masks.to_bbox(rle)``,
``masks.merge(rles)``, ``masks.fr_py_objects(polygons, h, w)`` (polygons, boxes or
uncompressed RLE -> compressed RLE), ``masks.rle_to_string`` / ``rle_from_string``.
pycocotools' camel-case names (``toBbox``, ``frPyObjects``) are aliases. See
:mod:`detbench.masks.rle` (API), :mod:`detbench.masks.convert` (COCO
segmentations to flat RLE sets) and :mod:`detbench.masks._rle_kernels`.
"""

from detbench.masks.convert import Rles, segmentations_to_rles
from detbench.masks.rle import (
    area,
    decode,
    encode,
    fr_bbox,
    fr_polygons,
    fr_py_objects,
    frPyObjects,
    iou,
    merge,
    rle_from_string,
    rle_to_string,
    to_bbox,
    toBbox,
)

__all__ = [
    "encode",
    "decode",
    "area",
    "to_bbox",
    "toBbox",
    "merge",
    "iou",
    "fr_py_objects",
    "frPyObjects",
    "fr_polygons",
    "fr_bbox",
    "rle_to_string",
    "rle_from_string",
    "Rles",
    "segmentations_to_rles",
]
