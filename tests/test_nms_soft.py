"""Soft-NMS: live parity with ensemble-boxes (including its tie order and the
decayed scores it keeps internally), the plain reference, both code paths."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
from ensemble_boxes import soft_nms as eb_soft_nms
from ensemble_boxes.ensemble_boxes_nms import cpu_soft_nms_float

from detbench.nms import soft_nms
from tests import reference_nms as ref

# The package exports the function ``detbench.nms``, which shadows the package of the same name as an
# attribute; take the module itself from the import system.
nms_soft = importlib.import_module("detbench.nms.soft")

DTYPES = (np.float32, np.float64)


def unit_boxes(rng, n, dtype, spread=1.0, ties=False):
    """Clustered boxes inside [0, 1] with positive area (ensemble-boxes' domain)."""
    n_obj = max(1, n // 5)
    centre = rng.uniform(0.05, 0.95, (n_obj, 2))
    wh = rng.uniform(0.02, 0.25, (n_obj, 2)) * spread
    obj = rng.integers(0, n_obj, n)
    c = centre[obj] + rng.normal(0, 0.1, (n, 2)) * wh[obj]
    half = wh[obj] * np.exp(rng.normal(0, 0.2, (n, 2))) / 2
    boxes = np.clip(np.concatenate([c - half, c + half], axis=1), 0.0, 1.0).astype(dtype)
    ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes = boxes[ok]
    m = boxes.shape[0]
    scores = (rng.integers(1, 5, m) / 5.0) if ties else rng.uniform(0.0, 1.0, m)
    return boxes, scores.astype(dtype)


def eb_run(boxes, scores, method, sigma, nt, thresh):
    """ensemble-boxes' public soft_nms and its internal decayed scores."""
    code = {"linear": 1, "gaussian": 2}[method]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out_b, out_s, _ = eb_soft_nms(
            [boxes], [scores], [np.zeros(len(scores))], method=code, iou_thr=nt, sigma=sigma, thresh=thresh
        )
    work = scores.copy()
    cpu_soft_nms_float(boxes.copy(), work, Nt=nt, sigma=sigma, thresh=thresh, method=code)
    return out_b, out_s, work[work > work.dtype.type(thresh)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", ["gaussian", "linear"])
def test_soft_nms_matches_ensemble_boxes(dtype, method):
    rng = np.random.default_rng(20)
    for trial in range(30):
        n = int(rng.choice([1, 2, 10, 80, 300]))
        boxes, scores = unit_boxes(rng, n, dtype, ties=trial % 3 == 0)
        sigma = float(rng.choice([0.1, 0.5, 2.0]))
        nt = float(rng.choice([0.1, 0.3, 0.5]))
        thresh = float(rng.choice([0.0, 0.001, 0.05, 0.3]))
        idx, rescored = soft_nms(boxes, scores, method, sigma, nt, thresh)
        eb_b, eb_s, eb_rescored = eb_run(boxes, scores, method, sigma, nt, thresh)
        assert idx.dtype == np.int64 and rescored.dtype == dtype
        np.testing.assert_array_equal(boxes[idx], eb_b, err_msg=f"trial {trial}")
        np.testing.assert_array_equal(scores[idx], eb_s)  # ensemble-boxes returns the original scores
        np.testing.assert_array_equal(rescored, eb_rescored)  # ... and keeps the decayed ones internally


@pytest.mark.parametrize("dtype", DTYPES)
def test_soft_nms_matches_ensemble_boxes_larger(dtype):
    rng = np.random.default_rng(21)
    boxes, scores = unit_boxes(rng, 2500, dtype, spread=0.5)
    for method in ("gaussian", "linear"):
        idx, rescored = soft_nms(boxes, scores, method, 0.5, 0.3, 0.001)
        eb_b, eb_s, eb_rescored = eb_run(boxes, scores, method, 0.5, 0.3, 0.001)
        np.testing.assert_array_equal(boxes[idx], eb_b)
        np.testing.assert_array_equal(rescored, eb_rescored)


@pytest.mark.parametrize("dtype", DTYPES)
def test_soft_nms_matches_reference_and_stepwise_path(dtype, monkeypatch):
    rng = np.random.default_rng(22)
    cases = []
    for trial in range(12):
        n = int(rng.choice([0, 5, 60, 200]))
        boxes, scores = unit_boxes(rng, n, dtype, ties=trial % 2 == 0)
        boxes = boxes * dtype(640)  # pixel coordinates work too
        method = "gaussian" if trial % 2 else "linear"
        cases.append((boxes, scores, method))
        idx, rescored = soft_nms(boxes, scores, method, 0.5, 0.3, 0.01)
        ridx, rres = ref.soft_nms_ensemble(boxes, scores, method, 0.5, 0.3, 0.01)
        np.testing.assert_array_equal(idx, ridx)
        np.testing.assert_array_equal(rescored, rres)
    # past the pair budget the selection runs one pick per call: same result
    monkeypatch.setattr(nms_soft, "_SOFT_PAIR_BUDGET", 16)
    for boxes, scores, method in cases:
        ridx, rres = ref.soft_nms_ensemble(boxes, scores, method, 0.5, 0.3, 0.01)
        idx, rescored = soft_nms(boxes, scores, method, 0.5, 0.3, 0.01)
        np.testing.assert_array_equal(idx, ridx)
        np.testing.assert_array_equal(rescored, rres)


def test_soft_nms_rules_by_hand():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 20], [50, 50, 60, 60]], dtype=np.float64)
    scores = np.array([0.9, 0.8, 0.7])
    # gaussian: IoU 0.5 -> weight exp(-0.25 / 0.5)
    idx, res = soft_nms(boxes, scores, "gaussian", 0.5, 0.3, 0.001)
    assert idx.tolist() == [0, 2, 1]
    np.testing.assert_allclose(res, [0.9, 0.7, 0.8 * np.exp(-0.5)], rtol=1e-15)
    # linear: weight 1 - 0.5 only because IoU 0.5 > 0.3; with Nt = 0.5 no decay
    idx, res = soft_nms(boxes, scores, "linear", 0.5, 0.3, 0.001)
    np.testing.assert_allclose(res, [0.9, 0.7, 0.4])
    idx, res = soft_nms(boxes, scores, "linear", 0.5, 0.5, 0.001)
    assert idx.tolist() == [0, 1, 2] and res.tolist() == [0.9, 0.8, 0.7]
    # score threshold is strict: a decayed score equal to it is dropped
    idx, res = soft_nms(boxes, scores, "linear", 0.5, 0.3, 0.4)
    assert idx.tolist() == [0, 2]
    # identical boxes: weight 1 - 1 = 0 drops the copies
    same = np.array([[0, 0, 1, 1]] * 3, dtype=np.float32)
    idx, res = soft_nms(same, np.array([0.5, 0.5, 0.5], np.float32), "linear", 0.5, 0.3, 0.0)
    assert idx.tolist() == [0] and res.tolist() == [0.5]
    # equal scores follow ensemble-boxes' swap order, not a stable sort:
    # picking box 2 swaps it with box 0, so box 1 now comes first
    far = np.array([[0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]], dtype=np.float64)
    s3 = np.array([0.5, 0.5, 0.9])
    idx, _ = soft_nms(far, s3)
    assert idx.tolist() == [2, 1, 0]
    assert ref.soft_nms_ensemble(far, s3, "gaussian", 0.5, 0.3, 0.001)[0].tolist() == [2, 1, 0]
    np.testing.assert_array_equal(eb_run(far / 10, s3, "gaussian", 0.5, 0.3, 0.001)[0], far[[2, 1, 0]] / 10)


def test_soft_nms_empty_and_bad_input():
    idx, res = soft_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    assert idx.shape == (0,) and res.shape == (0,) and res.dtype == np.float32
    b = np.array([[0, 0, 1, 1]], dtype=np.float64)
    with pytest.raises(ValueError, match="sigma"):
        soft_nms(b, [0.5], sigma=0.0)
    with pytest.raises(ValueError, match="score_threshold"):
        soft_nms(b, [0.5], score_threshold=-0.1)
    with pytest.raises(ValueError, match="method"):
        soft_nms(b, [0.5], method=2)
    with pytest.raises(ValueError, match="scores: 1 non-finite"):
        soft_nms(b, [np.nan])
    with pytest.raises(ValueError, match="x2 < x1"):
        soft_nms([[1, 0, 0, 1]], [0.5])
    with pytest.raises(ValueError, match="does not match"):
        soft_nms(b, [0.5, 0.4])
