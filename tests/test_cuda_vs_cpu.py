"""The GPU twins against the CPU functions (simulator), bit for bit, and the ``device="cuda"`` dispatch."""

import numpy as np
import pytest

import detbench.cuda as dcuda
from detbench import boxes as cpu_boxes
from detbench.cuda import _kernels


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(_kernels, "IOU_BLOCK", (4, 3))


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
    cpu = cpu_boxes.box_iou(a, b, offset=offset)
    gpu = dcuda.box_iou(a, b, offset=offset)
    assert gpu.dtype == cpu.dtype == dtype
    np.testing.assert_array_equal(gpu, cpu)


def test_box_iou_edge_cases_gpu_equals_cpu(rng):
    zero_area = np.array([[1, 1, 1, 1], [2, 2, 2, 5], [0, 0, 3, 3]], np.float32)
    np.testing.assert_array_equal(dcuda.box_iou(zero_area, zero_area), cpu_boxes.box_iou(zero_area, zero_area))
    mixed = (random_boxes(rng, 4, np.float32), random_boxes(rng, 5, np.float64))
    np.testing.assert_array_equal(dcuda.box_iou(*mixed), cpu_boxes.box_iou(*mixed))
    for na, nb in [(0, 3), (3, 0), (1, 1)]:
        a, b = random_boxes(rng, na, np.float32), random_boxes(rng, nb, np.float32)
        g, c = dcuda.box_iou(a, b), cpu_boxes.box_iou(a, b)
        assert g.shape == c.shape and g.dtype == c.dtype
        np.testing.assert_array_equal(g, c)


def test_box_iou_device_dispatch(rng):
    a = random_boxes(rng, 6, np.float32)
    b = random_boxes(rng, 5, np.float32)
    via_cpu_api = cpu_boxes.box_iou(a, b, offset=1, device="cuda")
    np.testing.assert_array_equal(via_cpu_api, cpu_boxes.box_iou(a, b, offset=1))
    out = np.empty((6, 5), np.float32)
    assert cpu_boxes.box_iou(a, b, out=out, device="cuda") is out
    np.testing.assert_array_equal(out, cpu_boxes.box_iou(a, b))


def test_box_iou_same_errors_as_cpu():
    bad = np.array([[5, 0, 1, 1]], np.float32)
    good = np.array([[0, 0, 1, 1]], np.float32)
    for fn in (cpu_boxes.box_iou, dcuda.box_iou):
        with pytest.raises(ValueError, match="boxes1: row 0 has x2 < x1"):
            fn(bad, good)
        with pytest.raises(ValueError, match=r"offset: expected one of \[0, 1\]"):
            fn(good, good, offset=2)
