"""detbench: Numba-compiled object-detection primitives, benchmarked and evaluated.

NumPy arrays in, NumPy arrays out. Boxes are ``xyxy`` unless a function says
otherwise (COCO files use ``xywh``). Every public function is importable from
here; the evaluation harness lives in :mod:`detbench.eval` and the GPU kernels
in :mod:`detbench.cuda`.
"""

from detbench.anchor_selection import ElbowResult, anchor_elbow, kmeans_anchors, mean_best_iou, shape_iou
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
from detbench.cnn import (
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    Net,
    ReLU,
    Softmax,
    load_net,
    overfeat_net,
    save_net,
    to_fully_convolutional,
)
from detbench.hog import (
    default_people_detector,
    hog_descriptor,
    hog_descriptors,
    hog_detect_multiscale,
    hog_pyramid_scales,
    hog_window_scores,
    resize_linear_exact,
)
from detbench.proposals import (
    COCO_IOU_THRESHOLDS,
    ProposalRecall,
    RPNProposals,
    felzenszwalb_segmentation,
    filter_proposals,
    proposal_recall,
    rpn_proposals,
    rpn_proposals_from_maps,
    selective_search,
    sliding_windows,
)
from detbench.sliding import (
    convolutional_sliding_window,
    sliding_window_classify,
    sliding_window_grid_shape,
    sliding_window_macs,
)
from detbench.targets import (
    YoloCollisionWarning,
    YoloTargets,
    decode_localization,
    decode_yolo_outputs,
    encode_localization,
    encode_yolo_targets,
    localization_loss,
)

__version__ = "0.1.0"

__all__ = [
    "Conv2D",
    "Dense",
    "Flatten",
    "MaxPool2D",
    "Net",
    "ReLU",
    "Softmax",
    "load_net",
    "overfeat_net",
    "save_net",
    "to_fully_convolutional",
    "default_people_detector",
    "hog_descriptor",
    "hog_descriptors",
    "hog_detect_multiscale",
    "hog_pyramid_scales",
    "hog_window_scores",
    "resize_linear_exact",
    "convolutional_sliding_window",
    "sliding_window_classify",
    "sliding_window_grid_shape",
    "sliding_window_macs",
    "COCO_IOU_THRESHOLDS",
    "ElbowResult",
    "ProposalRecall",
    "RPNProposals",
    "YoloCollisionWarning",
    "YoloTargets",
    "anchor_elbow",
    "decode_localization",
    "decode_yolo_outputs",
    "encode_localization",
    "encode_yolo_targets",
    "felzenszwalb_segmentation",
    "filter_proposals",
    "kmeans_anchors",
    "localization_loss",
    "mean_best_iou",
    "proposal_recall",
    "rpn_proposals",
    "rpn_proposals_from_maps",
    "selective_search",
    "shape_iou",
    "sliding_windows",
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
