"""The GPU twins against the CPU functions (simulator), bit for bit, and the ``device="cuda"`` dispatch."""

import numpy as np
import pytest

import detbench
import detbench.cuda as dcuda
from tests.test_cuda_helpers import shrink


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    shrink(monkeypatch)


def random_boxes(rng, n, dtype, grid=None):
    xy = rng.uniform(0, 30, (n, 2))
    wh = rng.uniform(0, 15, (n, 2))
    b = np.concatenate([xy, xy + wh], axis=1)
    if grid:  # coordinates on a coarse grid: exact ties, touching edges, zero areas
        b = np.round(b / grid) * grid
    return b.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0, 1])
@pytest.mark.parametrize("grid", [None, 5.0])
def test_box_iou_gpu_equals_cpu(rng, dtype, offset, grid):
    a = random_boxes(rng, 10, dtype, grid)
    b = random_boxes(rng, 7, dtype, grid)
    cpu = detbench.box_iou(a, b, offset=offset)
    gpu = dcuda.box_iou(a, b, offset=offset)
    assert gpu.dtype == cpu.dtype == dtype
    np.testing.assert_array_equal(gpu, cpu)


def test_box_iou_edge_cases_gpu_equals_cpu(rng):
    zero_area = np.array([[1, 1, 1, 1], [2, 2, 2, 5], [0, 0, 3, 3]], np.float32)
    np.testing.assert_array_equal(dcuda.box_iou(zero_area, zero_area), detbench.box_iou(zero_area, zero_area))
    mixed = (random_boxes(rng, 4, np.float32), random_boxes(rng, 5, np.float64))
    np.testing.assert_array_equal(dcuda.box_iou(*mixed), detbench.box_iou(*mixed))
    for na, nb in [(0, 3), (3, 0), (1, 1)]:
        a, b = random_boxes(rng, na, np.float32), random_boxes(rng, nb, np.float32)
        g, c = dcuda.box_iou(a, b), detbench.box_iou(a, b)
        assert g.shape == c.shape and g.dtype == c.dtype
        np.testing.assert_array_equal(g, c)


def test_box_iou_device_dispatch(rng):
    a = random_boxes(rng, 6, np.float32)
    b = random_boxes(rng, 5, np.float32)
    via_cpu_api = detbench.box_iou(a, b, offset=1, device="cuda")
    np.testing.assert_array_equal(via_cpu_api, detbench.box_iou(a, b, offset=1))
    out = np.empty((6, 5), np.float32)
    assert detbench.box_iou(a, b, out=out, device="cuda") is out
    np.testing.assert_array_equal(out, detbench.box_iou(a, b))


def test_box_iou_same_errors_as_cpu():
    bad = np.array([[5, 0, 1, 1]], np.float32)
    good = np.array([[0, 0, 1, 1]], np.float32)
    for fn in (detbench.box_iou, dcuda.box_iou):
        with pytest.raises(ValueError, match="boxes1: row 0 has x2 < x1"):
            fn(bad, good)
        # the CPU side uses the one offset rule (_validate.check_offset); the GPU side still its older wording
        with pytest.raises(ValueError, match=r"offset: expected (0 or 1|one of \[0, 1\])"):
            fn(good, good, offset=2)


# ---------------------------------------------------------------------------------------------
# nms and roi_align: their CPU modules were written in parallel; these tests run as soon as the
# modules are importable (until then they are skipped, saying so).


def clustered_boxes(rng, n, dtype):
    centres = rng.uniform(10, 40, (4, 2))
    c = centres[rng.integers(0, 4, n)] + rng.normal(0, 3, (n, 2))
    wh = rng.uniform(4, 14, (n, 2))
    return np.concatenate([c - wh / 2, c + wh / 2], axis=1).astype(dtype)


@pytest.fixture
def cpu_nms():
    return detbench.nms


@pytest.fixture
def cpu_roi_align():
    return detbench.roi_align


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nms_gpu_equals_cpu(rng, monkeypatch, cpu_nms, dtype):
    boxes = clustered_boxes(rng, 33, dtype)
    scores = (rng.integers(0, 6, 33) / 6).astype(dtype)  # ties
    for kwargs in [{}, {"inclusive": True}, {"offset": 1}, {"score_threshold": 0.3}]:
        for thr in (0.0, 0.5):
            want = cpu_nms(boxes, scores, thr, **kwargs)
            got = dcuda.nms(boxes, scores, thr, **kwargs)
            assert got.dtype == want.dtype == np.int64
            np.testing.assert_array_equal(got, want)


def test_nms_edge_cases_gpu_equals_cpu(cpu_nms):
    cases = [
        (np.zeros((0, 4), np.float32), np.zeros(0, np.float32)),
        (np.array([[0, 0, 1, 1]], np.float32), np.array([0.5], np.float32)),
        (np.array([[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 2, 2]], np.float32), np.array([0.5, 0.5, 0.3], np.float32)),
        (np.array([[0, 0, 4, 1], [0, 0, 2, 1]], np.float32), np.array([0.9, 0.8])),  # IoU exactly 0.5, mixed dtype
    ]
    for boxes, scores in cases:
        np.testing.assert_array_equal(dcuda.nms(boxes, scores, 0.5), cpu_nms(boxes, scores, 0.5))


def roi_case(rng, dtype):
    features = rng.standard_normal((2, 3, 7, 9)).astype(dtype)
    rois = np.array(
        [
            [0, 2.0, 3.0, 11.0, 9.5],
            [1, -5.0, -3.0, 6.0, 4.0],
            [1, 12.0, 8.0, 25.0, 20.0],
            [0, 30.0, 30.0, 40.0, 36.0],
            [1, 4.3, 5.1, 4.9, 5.2],
            [1, 6.0, 2.0, 6.0, 8.0],
        ]
    )
    return features, rois


@pytest.mark.parametrize(
    "dtype,aligned,sampling_ratio,pool_mode",
    [
        (np.float32, False, -1, "avg"),
        (np.float32, True, 2, "avg"),
        (np.float64, True, 0, "avg"),
        (np.float32, False, 2, "max"),
        (np.float64, True, -1, "max"),
    ],
)
def test_roi_align_gpu_equals_cpu(rng, monkeypatch, cpu_roi_align, dtype, aligned, sampling_ratio, pool_mode):
    features, rois = roi_case(rng, dtype)
    args = (features, rois, (3, 2), 0.5, sampling_ratio, aligned, pool_mode)
    want = cpu_roi_align(*args)
    got = dcuda.roi_align(*args)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_roi_align_channels_last_gpu_equals_cpu(rng, monkeypatch, cpu_roi_align):
    features, rois = roi_case(rng, np.float32)
    nhwc = np.ascontiguousarray(features.transpose(0, 2, 3, 1))
    want = cpu_roi_align(nhwc, rois, 2, 0.5, 2, True, channels_last=True)
    np.testing.assert_array_equal(dcuda.roi_align(nhwc, rois, 2, 0.5, 2, True, channels_last=True), want)


def test_nms_and_roi_align_device_dispatch(rng, cpu_nms, cpu_roi_align):
    boxes = clustered_boxes(rng, 30, np.float32)
    scores = rng.random(30).astype(np.float32)
    np.testing.assert_array_equal(cpu_nms(boxes, scores, 0.5, device="cuda"), cpu_nms(boxes, scores, 0.5))
    features = rng.random((1, 2, 9, 11)).astype(np.float32)
    rois = np.array([[0, 1.0, 2.0, 8.5, 7.0], [0, -2.0, 0.5, 4.0, 12.0]], np.float32)
    np.testing.assert_array_equal(
        cpu_roi_align(features, rois, (2, 3), 0.8, 2, True, device="cuda"),
        cpu_roi_align(features, rois, (2, 3), 0.8, 2, True),
    )
    with pytest.raises(ValueError, match="device"):
        cpu_nms(boxes, scores, 0.5, device="tpu")


@pytest.mark.parametrize("scale", [np.float32(1e25), np.float32(1e-30)])
def test_far_scale_float32_boxes_agree_with_cpu(scale):
    # issue 19: areas that overflow/underflow float32 are computed in float64 on both sides
    base = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [1, 1, 11, 11], [100, 100, 110, 110]], np.float32)
    boxes = base * scale
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    cpu_iou = detbench.box_iou(boxes, boxes)
    gpu_iou = dcuda.box_iou(boxes, boxes)
    assert gpu_iou.dtype == np.float32
    np.testing.assert_array_equal(gpu_iou, cpu_iou)
    assert np.all((cpu_iou >= 0) & (cpu_iou <= 1))
    np.testing.assert_array_equal(dcuda.nms(boxes, scores, 0.3), detbench.nms(boxes, scores, 0.3))
    np.testing.assert_array_equal(dcuda.nms(boxes, scores, 0.3), detbench.nms(base, scores, 0.3))


def test_far_scale_float64_boxes_refused_by_gpu_box_iou():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15]], np.float64) * 1e200
    with pytest.raises(ValueError, match="boxes1, boxes2: box areas at this scale"):
        dcuda.box_iou(boxes, boxes)


def test_far_scale_float32_batched_nms_agrees_and_soft_nms_refuses():
    base = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [1, 1, 11, 11], [100, 100, 110, 110]], np.float32)
    boxes = base * np.float32(1e25)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    labels = np.array([0, 0, 1, 0])
    np.testing.assert_array_equal(
        dcuda.batched_nms(boxes, scores, labels, 0.3), detbench.batched_nms(boxes, scores, labels, 0.3)
    )
    with pytest.raises(ValueError, match="boxes: box areas at this scale overflow or underflow float32"):
        dcuda.soft_nms(boxes, scores)
