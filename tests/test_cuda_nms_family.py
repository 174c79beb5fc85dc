"""detbench.cuda.batched_nms and soft_nms on the simulator, against the CPU twins; the tiled NMS's chunks."""

import numpy as np
import pytest

import detbench
import detbench.cuda as dc
from detbench.nms import gpu_greedy as gpu_nms
from tests.test_cuda_helpers import shrink


@pytest.fixture(autouse=True)
def small(monkeypatch):
    shrink(monkeypatch)


def clustered(rng, n, dtype):
    centres = rng.uniform(10, 40, (4, 2))
    c = centres[rng.integers(0, 4, n)] + rng.normal(0, 3, (n, 2))
    wh = rng.uniform(4, 14, (n, 2))
    return np.concatenate([c - wh / 2, c + wh / 2], axis=1).astype(dtype)


def per_class_nms(boxes, scores, labels, thr, **kw):
    """Per-class greedy NMS from the public CPU nms, merged by decreasing score (ties: index)."""
    keep = [
        np.flatnonzero(labels == c)[detbench.nms(boxes[labels == c], scores[labels == c], thr, **kw)]
        for c in set(labels)
    ]
    keep = np.concatenate(keep) if keep else np.empty(0, np.int64)
    return keep[np.lexsort((keep, -scores[keep].astype(np.float64)))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nms_spans_chunks_and_equals_cpu(rng, dtype):
    # 45 boxes: 3 chunks of 16, so the cross-chunk pass and the in-chunk masks both decide
    boxes = clustered(rng, 45, dtype)
    scores = (rng.integers(0, 9, 45) / 9).astype(dtype)  # ties
    for thr, kw in [(0.5, {}), (0.0, {}), (0.3, {"inclusive": True, "offset": 1}), (0.5, {"score_threshold": 0.4})]:
        np.testing.assert_array_equal(dc.nms(boxes, scores, thr, **kw), detbench.nms(boxes, scores, thr, **kw))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batched_small_path_equals_cpu(rng, dtype):
    boxes = clustered(rng, 37, dtype)
    scores = rng.random(37).astype(dtype)
    labels = rng.integers(0, 3, 37)
    for thr, kw in [(0.5, {}), (0.2, {"inclusive": True}), (0.4, {"offset": 1})]:
        got = dc.batched_nms(boxes, scores, labels, thr, **kw)
        np.testing.assert_array_equal(got, detbench.batched_nms(boxes, scores, labels, thr, **kw))
    neg = boxes - 30  # negative coordinates: shifted classes may touch, as in torchvision
    np.testing.assert_array_equal(
        dc.batched_nms(neg, scores, labels, 0.5), detbench.batched_nms(neg, scores, labels, 0.5)
    )


def test_batched_label_aware_path(rng, monkeypatch):
    # the path the GPU takes above 1000 boxes, run on 37: NMS within each class, unshifted boxes
    monkeypatch.setattr(gpu_nms, "BATCHED_SHIFT_MAX", 10)
    boxes = clustered(rng, 37, np.float32)
    scores = (rng.integers(0, 12, 37) / 12).astype(np.float32)
    labels = rng.integers(0, 3, 37)
    got = dc.batched_nms(boxes, scores, labels, 0.4)
    np.testing.assert_array_equal(got, per_class_nms(boxes, scores, labels, 0.4))
    assert len(set(labels[got])) == 3


def test_batched_bad_labels():
    boxes = np.array([[0, 0, 1, 1], [0, 0, 2, 2]], np.float32)
    with pytest.raises(ValueError, match="labels: length 3 does not match the 2 boxes"):
        dc.batched_nms(boxes, np.zeros(2), np.zeros(3, int), 0.5)
    with pytest.raises(ValueError, match="labels: expected integer labels"):
        dc.batched_nms(boxes, np.zeros(2), np.array([0.5, 1.0]), 0.5)
    assert dc.batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), 0.5).shape == (0,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_soft_nms_linear_bitwise(rng, dtype):
    boxes = clustered(rng, 23, dtype)
    scores = rng.random(23).astype(dtype)
    for nt, st in [(0.3, 0.001), (0.0, 0.2)]:
        gi, gs = dc.soft_nms(boxes, scores, "linear", 0.5, nt, st)
        ci, cs = detbench.soft_nms(boxes, scores, "linear", 0.5, nt, st)
        assert gi.dtype == np.int64 and gs.dtype == dtype
        np.testing.assert_array_equal(gi, ci)
        np.testing.assert_array_equal(gs, cs)


def test_soft_nms_gaussian_and_ties(rng):
    boxes = clustered(rng, 23, np.float64)
    scores = rng.random(23)
    gi, gs = dc.soft_nms(boxes, scores, "gaussian", 0.5)
    ci, cs = detbench.soft_nms(boxes, scores, "gaussian", 0.5)
    np.testing.assert_array_equal(gi, ci)
    np.testing.assert_allclose(gs, cs, rtol=1e-15, atol=0)  # exp may differ in the last bit on a GPU
    same = np.full(23, 0.5)  # all equal: ensemble-boxes' working-order swaps decide
    gi, gs = dc.soft_nms(boxes, same, "linear", 0.5, 0.3, 0.1)
    ci, cs = detbench.soft_nms(boxes, same, "linear", 0.5, 0.3, 0.1)
    np.testing.assert_array_equal(gi, ci)
    np.testing.assert_array_equal(gs, cs)


def test_soft_nms_device_and_bad_input(rng):
    from numba import cuda

    boxes = clustered(rng, 9, np.float32)
    scores = rng.random(9).astype(np.float32)
    gi, gs = dc.soft_nms(cuda.to_device(boxes), cuda.to_device(scores), "linear")
    ci, cs = detbench.soft_nms(boxes, scores, "linear")
    np.testing.assert_array_equal(gi.copy_to_host(), ci)
    np.testing.assert_array_equal(gs.copy_to_host(), cs)
    e_i, e_s = dc.soft_nms(np.zeros((0, 4)), np.zeros(0))
    assert e_i.shape == (0,) and e_s.shape == (0,)
    with pytest.raises(ValueError, match="method"):
        dc.soft_nms(boxes, scores, "hard")
    with pytest.raises(ValueError, match="sigma: must be > 0"):
        dc.soft_nms(boxes, scores, sigma=0.0)
    bad = boxes.copy()
    bad[3, 2] = bad[3, 0] - 1
    with pytest.raises(ValueError, match="boxes: row 3 has x2 < x1"):
        dc.soft_nms(cuda.to_device(bad), cuda.to_device(scores))
    s = scores.copy()
    s[4] = np.nan
    with pytest.raises(ValueError, match=r"scores: 1 non-finite value \(first at index 4\)"):
        dc.nms(cuda.to_device(boxes), cuda.to_device(s), 0.5)
