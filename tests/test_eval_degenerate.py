"""COCO evaluation on boxes whose areas underflow or overflow float64 (issue 19): pycocotools' numbers.

pycocotools' bbIou divides 0 by 0 when both areas underflow (boxes scaled by
1e-300): the IoU is NaN, and its greedy rule ``if iou < best: continue`` never
skips a NaN. detbench reproduces that (it gave AP 0.0 here, 0.634 for
pycocotools). Areas that overflow to inf are refused when loaded.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval as PyCOCOeval

from detbench.eval import COCOeval
from tests.test_eval_coco import DT_FILE, GT_FILE, assert_same_eval, make_coco, quiet


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e-155])
def test_scaled_boxes_match_pycocotools(scale):
    gt = json.load(open(GT_FILE))
    dets = json.load(open(DT_FILE))
    for a in gt["annotations"]:
        a["bbox"] = [v * scale for v in a["bbox"]]
    for d in dets:
        d["bbox"] = [v * scale for v in d["bbox"]]
    c_gt = make_coco(gt, "pycocotools")
    c_dt = quiet(c_gt.loadRes, copy.deepcopy(dets))
    ref = PyCOCOeval(c_gt, c_dt, "bbox")
    quiet(ref.evaluate)
    quiet(ref.accumulate)
    quiet(ref.summarize)
    ours = COCOeval(c_gt, c_dt, "bbox")
    ours.evaluate()
    ours.accumulate()
    quiet(ours.summarize)
    assert_same_eval(ref, ours)
    assert np.array_equal(ours.stats, ref.stats)
    for e_ref, e_ours in zip(ref.evalImgs, ours.evalImgs):
        if e_ref is None:
            assert e_ours is None
            continue
        for key in ("dtMatches", "gtMatches", "dtIgnore"):
            assert np.array_equal(np.asarray(e_ours[key]), np.asarray(e_ref[key])), key


def test_overflowing_areas_are_refused():
    gt = json.load(open(GT_FILE))
    dets = json.load(open(DT_FILE))
    for d in dets:
        d["bbox"] = [v * 1e200 for v in d["bbox"]]
    c_gt = make_coco(gt, "pycocotools")
    c_dt = quiet(c_gt.loadRes, copy.deepcopy(dets))
    with pytest.raises(ValueError, match="annotation 0 .*: area is inf"):
        COCOeval(c_gt, c_dt, "bbox").evaluate()
