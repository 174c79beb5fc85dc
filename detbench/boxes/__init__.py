"""Boxes: formats (:mod:`.convert`) and pairwise overlaps (:mod:`.overlap`, kernels in ``_overlap_kernels``).

Box formats (all arrays are ``(N, 4)``): ``xyxy`` (corners, the default everywhere in detbench),
``xywh`` (COCO files), ``cxcywh`` (centre and size). Coordinates are continuous (``w = x2 - x1``);
functions whose result depends on the legacy "+1 pixel" widths take an explicit ``offset`` (0 or 1).
"""

from detbench.boxes.convert import box_area, box_convert, clip_boxes
from detbench.boxes.overlap import box_iou, complete_box_iou, distance_box_iou, generalized_box_iou

__all__ = [
    "box_convert",
    "box_area",
    "clip_boxes",
    "box_iou",
    "generalized_box_iou",
    "distance_box_iou",
    "complete_box_iou",
]
