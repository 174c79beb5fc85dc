"""detbench.eval.VocEvaluator: update / merge / compute equal to the one-shot evaluate_pr, bit for bit."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detbench.eval import VocEvaluator, evaluate_pr, load_coco
from tests.test_eval_streaming import by_image, synthetic

FIELDS = ("ap_coco101", "ap_voc07", "ap_voc", "f1", "f1_threshold", "f1_precision", "f1_recall", "n_gt", "n_det")


def assert_same(a, b) -> None:
    for f in FIELDS:
        assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True), f
    assert np.array_equal(a._status, b._status)
    assert np.array_equal(a._scores, b._scores)
    assert np.array_equal(a._cls_off, b._cls_off)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_images=st.integers(1, 20),
    matching=st.sampled_from(["voc", "coco"]),
    decimals=st.sampled_from([None, 1]),
    max_dets=st.sampled_from([None, 3]),
    n_parts=st.integers(1, 5),
)
def test_any_split_and_merge_order_equals_one_shot(seed, n_images, matching, decimals, max_dets, n_parts):
    gt, res = synthetic(seed, n_images, 3, 0.1, decimals)
    g = load_coco(copy.deepcopy(gt))
    pos = {img: k for k, img in enumerate(g.image_ids)}
    res = sorted(res, key=lambda r: pos[r["image_id"]])  # image by image (the voc rule's ties)
    opts = {"iou_thresholds": (0.5, 0.75), "matching": matching, "max_dets": max_dets}
    ref = evaluate_pr(g, g.load_results(res), **opts)
    groups = by_image(res)
    ids = list(groups)
    rng = np.random.default_rng(seed)
    rng.shuffle(ids)
    parts = np.array_split(np.array(ids, dtype=object), n_parts)
    evs = []
    for part in parts:
        ev = VocEvaluator(g, **opts)
        ev.update([r for i in part for r in groups[i]])
        evs.append(pickle.loads(pickle.dumps(ev)))
    rng.shuffle(evs)
    out = evs[0]
    for ev in evs[1:]:
        out = out.merge(ev)
    assert_same(out.compute(), ref)


def test_arrays_and_refusals():
    gt, res = synthetic(3, 10, 3)
    g = load_coco(gt)
    ref = evaluate_pr(g, g.load_results(res), matching="coco")
    ev = VocEvaluator(g, matching="coco")
    for rs in by_image(res).values():
        ev.update(
            image_ids=np.array([r["image_id"] for r in rs]),
            category_ids=np.array([r["category_id"] for r in rs]),
            boxes=np.array([r["bbox"] for r in rs]),
            scores=np.array([r["score"] for r in rs]),
        )
    assert_same(ev.compute(), ref)
    img, rs = next(iter(by_image(res).items()))
    with pytest.raises(ValueError, match="already has detections"):
        ev.update(rs)
    with pytest.raises(ValueError, match="different ground truth or options"):
        ev.merge(VocEvaluator(g, matching="voc"))
    with pytest.raises(ValueError, match="matching"):
        VocEvaluator(g, matching="x")
    with pytest.raises(ValueError, match="boxes: expected shape"):
        ev.update(image_ids=[img], category_ids=[1], boxes=[[0, 0, 1]], scores=[0.5])
