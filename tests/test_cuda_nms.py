"""detbench.cuda.nms (bitmask kernel) on Numba's CUDA simulator, against torchvision and a plain reference.

``NMS_TILE`` is shrunk to 8 so that 20-40 boxes make 3-5 tiles per axis (the
real kernel uses 64-box tiles, one uint64 word per box and tile).
"""

import numpy as np
import pytest
import torch
import torchvision

import detbench.cuda as dcuda
from detbench.nms import gpu_greedy as gpu_nms
from tests.test_cuda_helpers import shrink


@pytest.fixture(autouse=True)
def small_tiles(monkeypatch):
    shrink(monkeypatch)  # 8-box tiles, 16-box chunks, 16-element sort blocks


def reference_nms(boxes, scores, iou_threshold, inclusive=False, offset=0):
    """Greedy NMS from the rule: stable descending score order; a box survives unless a kept
    box has IoU > threshold (>= if inclusive) with it (IoU in the boxes' dtype, compared as
    Python floats; widths x2 - x1 + offset)."""
    dt = boxes.dtype.type
    off = dt(offset)
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))  # sorted() is stable
    keep = []
    for i in order:
        x1, y1, x2, y2 = boxes[i]
        area_i = (x2 - x1 + off) * (y2 - y1 + off)
        suppressed = False
        for k in keep:
            u1, v1, u2, v2 = boxes[k]
            w = min(x2, u2) - max(x1, u1) + off
            h = min(y2, v2) - max(y1, v1) + off
            inter = w * h if (w > 0 and h > 0) else dt(0)
            union = (area_i + (u2 - u1 + off) * (v2 - v1 + off)) - inter
            if union > 0:
                iou = float(inter / union)
                if iou >= iou_threshold if inclusive else iou > iou_threshold:
                    suppressed = True
                    break
        if not suppressed:
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def tv_nms(boxes, scores, thr):
    return torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr).numpy()


def clustered_boxes(rng, n, dtype):
    """Boxes around a few centres, so that many pairs overlap at all levels of IoU."""
    centres = rng.uniform(10, 40, (4, 2))
    c = centres[rng.integers(0, 4, n)] + rng.normal(0, 3, (n, 2))
    wh = rng.uniform(4, 14, (n, 2))
    return np.concatenate([c - wh / 2, c + wh / 2], axis=1).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("thr", [0.0, 0.3, 0.7])
def test_random_equals_torchvision(rng, dtype, thr):
    boxes = clustered_boxes(rng, 37, dtype)
    scores = rng.random(37).astype(dtype)
    got = dcuda.nms(boxes, scores, thr)
    want = tv_nms(boxes, scores, thr)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, reference_nms(boxes, scores, thr))
    assert 1 < got.size < 37  # something was kept and something suppressed


def test_ties_broken_by_index_like_torchvision(rng):
    boxes = clustered_boxes(rng, 30, np.float32)
    scores = rng.integers(0, 4, 30).astype(np.float32) / np.float32(4)  # many equal scores
    got = dcuda.nms(boxes, scores, 0.4)
    np.testing.assert_array_equal(got, tv_nms(boxes, scores, 0.4))
    np.testing.assert_array_equal(got, reference_nms(boxes, scores, 0.4))
    # all scores equal: the order is the input order
    same = np.full(30, 0.5, np.float32)
    np.testing.assert_array_equal(dcuda.nms(boxes, same, 0.4), tv_nms(boxes, same, 0.4))


def test_iou_exactly_at_threshold_is_kept():
    boxes = np.array([[0, 0, 4, 1], [0, 0, 2, 1]], np.float64)  # IoU exactly 0.5
    scores = np.array([0.9, 0.8])
    np.testing.assert_array_equal(dcuda.nms(boxes, scores, 0.5), [0, 1])
    np.testing.assert_array_equal(dcuda.nms(boxes, scores, np.nextafter(0.5, 0)), [0])
    np.testing.assert_array_equal(tv_nms(boxes, scores, 0.5), [0, 1])


def test_inclusive_and_offset_options(rng):
    boxes = np.array([[0, 0, 4, 1], [0, 0, 2, 1]], np.float64)  # IoU exactly 0.5
    scores = np.array([0.9, 0.8])
    np.testing.assert_array_equal(dcuda.nms(boxes, scores, 0.5, inclusive=True), [0])
    pix = np.round(clustered_boxes(rng, 30, np.float32))
    scores = rng.random(30).astype(np.float32)
    for inclusive, offset, thr in [(True, 0, 0.3), (False, 1, 0.4), (True, 1, 0.0)]:
        got = dcuda.nms(pix, scores, thr, inclusive=inclusive, offset=offset)
        np.testing.assert_array_equal(got, reference_nms(pix, scores, thr, inclusive, offset))
    # offset 1: pixel boxes [0, 0, 1, 1] and [1, 0, 2, 1] share a column of 2 pixels: IoU 2/6
    two = np.array([[0, 0, 1, 1], [1, 0, 2, 1]], np.float32)
    np.testing.assert_array_equal(dcuda.nms(two, np.array([0.9, 0.8]), 0.3, offset=1), [0])
    np.testing.assert_array_equal(dcuda.nms(two, np.array([0.9, 0.8]), 0.3), [0, 1])
    with pytest.raises(ValueError, match="offset: expected 0 or 1"):
        dcuda.nms(two, np.array([0.9, 0.8]), 0.3, offset=2)
    with pytest.raises(ValueError, match="inclusive: expected True or False"):
        dcuda.nms(two, np.array([0.9, 0.8]), 0.3, inclusive="yes")


def test_mixed_dtypes_compute_in_float64(rng):
    boxes = clustered_boxes(rng, 20, np.float32)
    scores = rng.random(20)  # float64
    want = tv_nms(boxes.astype(np.float64), scores, 0.5)
    np.testing.assert_array_equal(dcuda.nms(boxes, scores, 0.5), want)


def test_float32_iou_compared_in_float64():
    # a float64 threshold just below a float32 IoU, that rounds to the same float32:
    # torchvision compares in float64 and suppresses; a float32 comparison would not
    boxes = np.array([[0, 0, 10, 10], [3, 0, 13, 10]], np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    iou32 = dcuda.box_iou(boxes[:1], boxes[1:])[0, 0]
    thr = float(np.nextafter(np.float64(iou32), 0))
    assert np.float32(thr) == iou32
    want = tv_nms(boxes, scores, thr)
    np.testing.assert_array_equal(want, [0])
    np.testing.assert_array_equal(dcuda.nms(boxes, scores, thr), want)


def test_all_and_none_suppressed(rng):
    same = np.tile(np.array([[1, 2, 5, 7]], np.float32), (20, 1))
    scores = rng.random(20).astype(np.float32)
    np.testing.assert_array_equal(dcuda.nms(same, scores, 0.5), [int(np.argmax(scores))])
    far = np.array([[10 * i, 0, 10 * i + 5, 5] for i in range(20)], np.float32)
    got = dcuda.nms(far, scores, 0.0)
    np.testing.assert_array_equal(got, np.argsort(-scores, kind="stable"))
    np.testing.assert_array_equal(got, tv_nms(far, scores, 0.0))


def test_zero_area_duplicates_never_suppress_each_other():
    boxes = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 2, 2]], np.float32)
    scores = np.array([0.5, 0.4, 0.3], np.float32)
    got = dcuda.nms(boxes, scores, 0.1)
    np.testing.assert_array_equal(got, [0, 1, 2])
    np.testing.assert_array_equal(got, tv_nms(boxes, scores, 0.1))


def test_empty_and_one():
    got = dcuda.nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5)
    assert got.dtype == np.int64 and got.shape == (0,)
    np.testing.assert_array_equal(dcuda.nms(np.array([[0, 0, 1, 1]]), np.array([0.3]), 0.5), [0])


def test_score_threshold_drops_at_or_below(rng):
    boxes = clustered_boxes(rng, 20, np.float64)
    scores = rng.random(20)
    st = float(np.sort(scores)[7])  # exactly one score equals the threshold: it is dropped
    got = dcuda.nms(boxes, scores, 0.5, score_threshold=st)
    sel = np.flatnonzero(scores > st)
    want = sel[tv_nms(boxes[sel], scores[sel], 0.5)]
    np.testing.assert_array_equal(got, want)
    assert not np.isin(np.flatnonzero(scores <= st), got).any()


def test_device_in_device_out(rng):
    from numba import cuda

    boxes = clustered_boxes(rng, 21, np.float32)
    scores = rng.random(21).astype(np.float32)
    got = dcuda.nms(cuda.to_device(boxes), cuda.to_device(scores), 0.5)
    assert not isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got.copy_to_host(), tv_nms(boxes, scores, 0.5))


def test_full_64_box_tile(rng, monkeypatch):
    # the production tile size, with 70 boxes: a full 64-bit word and a partial second tile
    monkeypatch.setattr(gpu_nms, "NMS_TILE", 64)
    monkeypatch.setattr(gpu_nms, "NMS_CHUNK", 64)
    boxes = clustered_boxes(rng, 70, np.float32)
    scores = rng.random(70).astype(np.float32)
    np.testing.assert_array_equal(dcuda.nms(boxes, scores, 0.5), tv_nms(boxes, scores, 0.5))


def test_bad_input_messages():
    boxes = np.array([[0, 0, 1, 1], [0, 0, 2, 2]], np.float32)
    with pytest.raises(ValueError, match="scores: length 3 does not match the 2 boxes"):
        dcuda.nms(boxes, np.zeros(3), 0.5)
    with pytest.raises(ValueError, match="scores: 1 non-finite value"):
        dcuda.nms(boxes, np.array([0.1, np.nan]), 0.5)
    with pytest.raises(ValueError, match="boxes: row 1 has y2 < y1"):
        dcuda.nms(np.array([[0, 0, 1, 1], [0, 3, 2, 2]]), np.zeros(2), 0.5)
    with pytest.raises(ValueError, match="iou_threshold: expected a finite number"):
        dcuda.nms(boxes, np.zeros(2), float("nan"))
    with pytest.raises(ValueError, match="NMS_TILE must be in"):
        gpu_nms.NMS_TILE = 65  # restored by the fixture's monkeypatch
        dcuda.nms(boxes, np.zeros(2), 0.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_launch_small_path_equals_chunked_path(rng, monkeypatch, dtype):
    """The one-block path (N <= NMS_SMALL_MAX) and the chunked path give the same indices,
    equal to the reference, with ties, a score threshold, inclusive and offset options."""
    for n in (1, 2, 5, 37, 64):
        boxes = clustered_boxes(rng, n, dtype)
        scores = (rng.integers(0, 5, n) / 5).astype(dtype)  # ties
        for kwargs in [{}, {"inclusive": True}, {"offset": 1}, {"score_threshold": 0.3}]:
            for thr in (0.0, 0.5):
                monkeypatch.setattr(gpu_nms, "NMS_SMALL_MAX", 64)
                monkeypatch.setattr(gpu_nms, "NMS_SMALL_THREADS", 8)
                small = dcuda.nms(boxes, scores, thr, **kwargs)
                monkeypatch.setattr(gpu_nms, "NMS_SMALL_MAX", 0)
                chunked = dcuda.nms(boxes, scores, thr, **kwargs)
                np.testing.assert_array_equal(small, chunked)
                if "score_threshold" not in kwargs:
                    want = reference_nms(boxes, scores, thr, kwargs.get("inclusive", False), kwargs.get("offset", 0))
                    np.testing.assert_array_equal(small, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_launch_mask_pass_several_words_and_tiles(rng, monkeypatch, dtype):
    """The one-launch kernel's mask pass with a mask row of several 64-bit words and several staged
    tiles (float32 tiles of 64 boxes, float64 of 16): the reference's indices."""
    monkeypatch.setattr(gpu_nms, "NMS_SMALL_MAX", 256)
    monkeypatch.setattr(gpu_nms, "NMS_SMALL_THREADS", 16)
    monkeypatch.setattr(gpu_nms, "NMS_SMALL_METHOD", "mask")
    n = 150
    boxes = clustered_boxes(rng, n, dtype)
    scores = rng.random(n).astype(dtype)
    for thr in (0.3, 0.7):
        want = reference_nms(boxes, scores, thr, False, 0)
        assert 1 < want.size < n  # some suppressed, some kept: the walk's both branches
        np.testing.assert_array_equal(dcuda.nms(boxes, scores, thr), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_launch_barrier_pass_equals_reference(rng, monkeypatch, dtype):
    """The first version of the one-launch greedy pass (kept to be timed against the mask pass on a
    GPU): the reference's indices, with ties and each option."""
    monkeypatch.setattr(gpu_nms, "NMS_SMALL_MAX", 64)
    monkeypatch.setattr(gpu_nms, "NMS_SMALL_THREADS", 8)
    monkeypatch.setattr(gpu_nms, "NMS_SMALL_METHOD", "barrier")
    n = 37
    boxes = clustered_boxes(rng, n, dtype)
    scores = (rng.integers(0, 5, n) / 5).astype(dtype)  # ties
    for kwargs in [{}, {"inclusive": True}, {"offset": 1}]:
        want = reference_nms(boxes, scores, 0.5, kwargs.get("inclusive", False), kwargs.get("offset", 0))
        np.testing.assert_array_equal(dcuda.nms(boxes, scores, 0.5, **kwargs), want)


def test_one_launch_method_refused(monkeypatch):
    monkeypatch.setattr(gpu_nms, "NMS_SMALL_METHOD", "fast")
    with pytest.raises(ValueError, match="method: expected one of"):
        dcuda.nms(np.zeros((2, 4), np.float32), np.zeros(2, np.float32), 0.5)


def test_one_launch_small_path_bad_input_messages(monkeypatch):
    monkeypatch.setattr(gpu_nms, "NMS_SMALL_MAX", 64)
    boxes = np.array([[0, 0, 1, 1], [2, 2, 1, 3], [0, 0, np.nan, 1]], np.float32)
    scores = np.array([0.5, 0.4, 0.3], np.float32)
    for b, s, msg in [
        (boxes[:2], scores[:2], "row 1 has x2 < x1"),
        (boxes, scores, "non-finite"),
        (boxes[:1], np.array([np.inf], np.float32), "scores: 1 non-finite value"),
    ]:
        with pytest.raises(ValueError, match=msg):
            dcuda.nms(dcuda_device(b), dcuda_device(s), 0.5)


def dcuda_device(x):
    from numba import cuda

    return cuda.to_device(x)
