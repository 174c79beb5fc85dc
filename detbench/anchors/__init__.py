"""Anchors: generation (:mod:`.generate`), the box coder (:mod:`.coder`) and data-driven shapes (:mod:`.kmeans`).

The centred-shape IoU kernels used by k-means and by YOLO target assignment live in ``_shape_kernels``.
"""

from detbench.anchors.coder import DEFAULT_BBOX_CLIP, decode_boxes, encode_boxes
from detbench.anchors.generate import generate_anchors, grid_anchors
from detbench.anchors.kmeans import ElbowResult, anchor_elbow, kmeans_anchors, mean_best_iou, shape_iou

__all__ = [
    "generate_anchors",
    "grid_anchors",
    "encode_boxes",
    "decode_boxes",
    "DEFAULT_BBOX_CLIP",
    "kmeans_anchors",
    "mean_best_iou",
    "shape_iou",
    "anchor_elbow",
    "ElbowResult",
]
