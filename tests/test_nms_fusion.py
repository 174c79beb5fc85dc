"""weighted_boxes_fusion and weighted_nms: live parity with ensemble-boxes
(several models, weights, every conf_type, ties) and the plain references."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from ensemble_boxes import non_maximum_weighted as eb_nmw
from ensemble_boxes import weighted_boxes_fusion as eb_wbf

from detbench.nms import _fusion_kernels as kernels
from detbench.nms import weighted_boxes_fusion, weighted_nms
from tests import reference_nms as ref

DTYPES = (np.float32, np.float64)
CONF_TYPES = ("avg", "max", "box_and_model_avg", "absent_model_aware_avg")


def model_outputs(rng, n, n_models, dtype, ties=False, n_classes=3):
    """Detections of several models around shared objects, boxes in [0, 1]."""
    n_obj = max(1, n // (2 * n_models))
    centre = rng.uniform(0.1, 0.9, (n_obj, 2))
    wh = rng.uniform(0.03, 0.3, (n_obj, 2))
    cls = rng.integers(0, n_classes, n_obj)
    obj = rng.integers(0, n_obj, n)
    c = centre[obj] + rng.normal(0, 0.08, (n, 2)) * wh[obj]
    half = wh[obj] * np.exp(rng.normal(0, 0.15, (n, 2))) / 2
    boxes = np.clip(np.concatenate([c - half, c + half], axis=1), 0.0, 1.0).astype(dtype)
    scores = (rng.integers(1, 6, n) / 5.0) if ties else rng.uniform(0.01, 1.0, n)
    labels = cls[obj]
    labels[rng.random(n) < 0.1] = rng.integers(0, n_classes)  # some label noise
    return boxes, scores.astype(dtype), labels.astype(np.int64), rng.integers(0, n_models, n)


def as_lists(boxes, scores, labels, mid, n_models):
    pick = [mid == t for t in range(n_models)]
    return [boxes[p] for p in pick], [scores[p] for p in pick], [labels[p] for p in pick]


def assert_same(ours, theirs, dtype):
    ob, os_, ol = ours
    tb, ts, tl = theirs
    assert ob.dtype == dtype and os_.dtype == dtype and ol.dtype == np.int64
    np.testing.assert_array_equal(ob, np.asarray(tb).astype(dtype))
    np.testing.assert_array_equal(os_, np.asarray(ts).astype(dtype))
    np.testing.assert_array_equal(ol, np.asarray(tl).astype(np.int64))


@pytest.mark.parametrize("dtype", DTYPES)
def test_wbf_matches_ensemble_boxes(dtype):
    rng = np.random.default_rng(30)
    for trial in range(24):
        n_models = int(rng.integers(1, 5))
        n = int(rng.choice([0, 1, 12, 80, 250]))
        boxes, scores, labels, mid = model_outputs(rng, n, n_models, dtype, ties=trial % 2 == 0)
        weights = rng.uniform(0.5, 3.0, n_models) if trial % 3 else np.ones(n_models)
        thr = float(rng.choice([0.4, 0.55, 0.7]))
        skip = float(rng.choice([0.0, 0.2]))
        for conf_type in CONF_TYPES:
            for overflow in (False, True) if conf_type == "avg" else (False,):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    theirs = eb_wbf(
                        *as_lists(boxes, scores, labels, mid, n_models),
                        weights=list(weights),
                        iou_thr=thr,
                        skip_box_thr=skip,
                        conf_type=conf_type,
                        allows_overflow=overflow,
                    )
                ours = weighted_boxes_fusion(
                    boxes,
                    scores,
                    labels,
                    mid,
                    weights=weights,
                    iou_threshold=thr,
                    skip_box_threshold=skip,
                    conf_type=conf_type,
                    allows_overflow=overflow,
                )
                assert_same(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_weighted_nms_matches_ensemble_boxes(dtype):
    rng = np.random.default_rng(31)
    for trial in range(30):
        n_models = int(rng.integers(1, 4))
        n = int(rng.choice([0, 1, 12, 80, 250]))
        boxes, scores, labels, mid = model_outputs(rng, n, n_models, dtype, ties=trial % 2 == 0)
        weights = rng.uniform(0.5, 3.0, n_models) if trial % 3 else np.ones(n_models)
        thr = float(rng.choice([0.3, 0.55, 0.7]))
        skip = float(rng.choice([0.0, 0.2]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = eb_nmw(
                *as_lists(boxes, scores, labels, mid, n_models), weights=list(weights), iou_thr=thr, skip_box_thr=skip
            )
        ours = weighted_nms(boxes, scores, labels, mid, weights=weights, iou_threshold=thr, skip_box_threshold=skip)
        assert_same(ours, theirs, dtype)


def test_fusion_match_simple_references():
    rng = np.random.default_rng(32)
    for _ in range(10):
        boxes, scores, labels, _ = model_outputs(rng, 60, 1, np.float64)
        boxes = boxes * 500  # pixel coordinates are fine (no clipping)
        for fn, reference in ((weighted_boxes_fusion, ref.wbf_simple), (weighted_nms, ref.nmw_simple)):
            ob, os_, ol = fn(boxes, scores, labels, iou_threshold=0.5)
            expected = reference(boxes, scores, labels, 0.5)
            assert len(expected) == len(ob)
            got = sorted(zip(ol.tolist(), os_.tolist(), ob.tolist()), key=lambda r: (-r[1], r[0], r[2]))
            want = sorted(((lab, s, b.tolist()) for lab, s, b in expected), key=lambda r: (-r[1], r[0], r[2]))
            for (gl, gs, gb), (wl, ws, wb) in zip(got, want):
                assert gl == wl
                np.testing.assert_allclose(gs, ws, rtol=1e-6)
                np.testing.assert_allclose(gb, wb, rtol=1e-6, atol=1e-4)  # float32 accumulation


def test_fusion_by_hand_and_edge_cases():
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.12, 0.1, 0.32, 0.3], [0.6, 0.6, 0.7, 0.7], [0.5, 0.5, 0.5, 0.9]])
    scores = np.array([0.9, 0.6, 0.8, 0.99])
    b, s, lab = weighted_boxes_fusion(boxes, scores)  # the zero-area box is dropped
    assert lab.tolist() == [0, 0] and s.tolist() == [0.8, 0.75]  # lone box, then mean of 0.9 and 0.6
    acc = np.float32(float(np.float32(0.9 * 0.1)) + 0.6 * 0.12)  # float32 accumulation, as ensemble-boxes
    assert b[1, 0] == np.float32(float(acc) / (0.9 + 0.6))
    assert b[0].tolist() == [0.6, 0.6, 0.7, 0.7]
    b, s, lab = weighted_nms(boxes, scores)
    assert s.tolist() == [np.float32(0.9), np.float32(0.8)]
    for fn in (weighted_boxes_fusion, weighted_nms):
        e_b, e_s, e_l = fn(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
        assert e_b.shape == (0, 4) and e_b.dtype == np.float32 and e_s.shape == (0,) and e_l.dtype == np.int64
        e_b, _, _ = fn(boxes, scores, skip_box_threshold=1.0)  # everything filtered
        assert e_b.shape == (0, 4)
        with pytest.raises(ValueError, match="weights"):
            fn(boxes, scores, model_ids=[0, 1, 2, 2], weights=[1.0, 1.0])
        with pytest.raises(ValueError, match="weights"):
            fn(boxes, scores, weights=[-1.0])
        with pytest.raises(ValueError, match="model_ids"):
            fn(boxes, scores, model_ids=[0, -1, 0, 0])
        with pytest.raises(ValueError, match="x2 < x1"):
            fn([[0.5, 0, 0.4, 1]], [0.5])
        with pytest.raises(ValueError, match="labels: length"):
            fn(boxes, scores, labels=[1, 2])
    with pytest.raises(ValueError, match="conf_type"):
        weighted_boxes_fusion(boxes, scores, conf_type="mean")


def test_interleaved_model_ids_follow_ensemble_boxes_order():
    rng = np.random.default_rng(33)
    boxes, scores, labels, mid = model_outputs(rng, 120, 3, np.float64, ties=True)
    perm = rng.permutation(120)  # rows in any order: grouping is by model id
    a = weighted_boxes_fusion(boxes, scores, labels, mid, weights=[1, 2, 3])
    b = weighted_boxes_fusion(boxes[perm], scores[perm], labels[perm], mid[perm], weights=[1, 2, 3])
    order = np.argsort(mid, kind="stable")
    c = weighted_boxes_fusion(boxes[order], scores[order], labels[order], mid[order], weights=[1, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = eb_wbf(*as_lists(boxes, scores, labels, mid, 3), weights=[1, 2, 3])
    assert_same(a, theirs, np.float64)
    assert_same(c, theirs, np.float64)
    # a different within-model order may only change tie order, not the fused set
    assert sorted(b[1].tolist()) == sorted(a[1].tolist())


def test_numpy_pairwise_sum_replica():
    rng = np.random.default_rng(34)
    for n in list(range(0, 40)) + [127, 128, 129, 255, 256, 300, 1000, 1031]:
        a = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 9, n)
        assert kernels.np_pairwise_sum(a, 0, n) == np.sum(a), n
