"""detbench: Numba-compiled object-detection primitives, benchmarked and evaluated.

NumPy arrays in, NumPy arrays out. Boxes are ``xyxy`` unless a function says
otherwise (COCO files use ``xywh``). Every public function is importable from
here; the evaluation harness lives in :mod:`detbench.eval` and the GPU kernels
in :mod:`detbench.cuda`.
"""

from detbench.anchors import DEFAULT_BBOX_CLIP, decode_boxes, encode_boxes, generate_anchors, grid_anchors
from detbench.boxes import (
    box_area,
    box_convert,
    box_iou,
    clip_boxes,
    complete_box_iou,
    distance_box_iou,
    generalized_box_iou,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BBOX_CLIP",
    "box_area",
    "box_convert",
    "box_iou",
    "clip_boxes",
    "complete_box_iou",
    "decode_boxes",
    "distance_box_iou",
    "encode_boxes",
    "generalized_box_iou",
    "generate_anchors",
    "grid_anchors",
]
