"""The public names are a contract: other tools call them."""

import importlib
import subprocess
import sys

import detbench

CONTRACT = [
    # foundation
    "box_convert",
    "box_area",
    "clip_boxes",
    "box_iou",
    "generalized_box_iou",
    "distance_box_iou",
    "complete_box_iou",
    "generate_anchors",
    "grid_anchors",
    "encode_boxes",
    "decode_boxes",
    # NMS
    "nms",
    "batched_nms",
    "soft_nms",
    "diou_nms",
    "matrix_nms",
    "fast_nms",
    "cluster_nms",
    "weighted_nms",
    "weighted_boxes_fusion",
    # ROI
    "roi_pool",
    "roi_align",
    "roi_quantization_error",
    "roi_error_study",
    # sliding windows
    "overfeat_net",
    "to_fully_convolutional",
    "sliding_window_classify",
    "convolutional_sliding_window",
    "sliding_window_macs",
    "hog_descriptor",
    "hog_detect_multiscale",
    # targets and proposals
    "encode_localization",
    "localization_loss",
    "encode_yolo_targets",
    "decode_yolo_outputs",
    "kmeans_anchors",
    "anchor_elbow",
    "selective_search",
    "rpn_proposals",
    "filter_proposals",
    "proposal_recall",
]


def test_contract_names_are_top_level():
    missing = [n for n in CONTRACT if not hasattr(detbench, n)]
    assert not missing
    assert set(CONTRACT) <= set(detbench.__all__)


def test_every_public_name_is_documented():
    for name in detbench.__all__:
        obj = getattr(detbench, name)
        if callable(obj):
            assert obj.__doc__ and len(obj.__doc__.strip()) > 20, name


def test_subpackages():
    ev = importlib.import_module("detbench.eval")
    assert hasattr(ev, "COCOeval")
    cuda = importlib.import_module("detbench.cuda")
    assert callable(cuda.is_available)
    for name in ("box_iou", "roi_align", "nms"):
        assert callable(getattr(cuda, name))
    for name in ("encode", "decode", "iou", "area", "to_bbox", "merge", "fr_py_objects", "frPyObjects", "toBbox"):
        assert callable(getattr(detbench.masks, name)), name


def test_import_does_not_compile_or_initialise_cuda():
    code = (
        "import os, sys; os.environ.pop('NUMBA_ENABLE_CUDASIM', None)\n"
        "import detbench, detbench.cuda\n"
        "import numba.core.registry as r\n"
        "print('cuda_initialised' if 'numba.cuda.cudadrv.driver' in sys.modules and "
        "getattr(sys.modules['numba.cuda.cudadrv.driver'].driver, 'is_initialized', False) else 'ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
