"""detbench.cuda.box_iou on Numba's CUDA simulator, against torchvision and a NumPy reference.

Blocks are shrunk (see the ``small_blocks`` fixture) so that these tiny inputs
span several blocks in both grid dimensions, with partial tiles at the edges.
"""

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st

import detbench.cuda as dcuda
from detbench.cuda import _common
from tests.test_cuda_helpers import shrink


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    shrink(monkeypatch)  # 4 x 3 threads, 2 rows per thread: 4 columns x 6 rows per block


def reference_iou(a, b, offset=0):
    """Pairwise IoU, written from the rule with NumPy broadcasting, same operation order."""
    a = np.asarray(a)
    b = np.asarray(b)
    dt = np.result_type(a, b)
    a = a.astype(dt)
    b = b.astype(dt)
    off = dt.type(offset)
    area_a = (a[:, 2] - a[:, 0] + off) * (a[:, 3] - a[:, 1] + off)
    area_b = (b[:, 2] - b[:, 0] + off) * (b[:, 3] - b[:, 1] + off)
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + off
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + off
    inter = np.where((w > 0) & (h > 0), w * h, dt.type(0))
    union = (area_a[:, None] + area_b[None, :]) - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def random_boxes(rng, n, dtype=np.float64, scale=40.0, integer=False):
    xy = rng.uniform(0, scale, (n, 2))
    wh = rng.uniform(0, scale / 2, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    if integer:
        boxes = np.round(boxes)
    return boxes.astype(dtype)


def tv_iou(a, b):
    return torchvision.ops.box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(9, 10), (13, 5)])
def test_random_equals_torchvision_bitwise(rng, dtype, shape):
    a = random_boxes(rng, shape[0], dtype)
    b = random_boxes(rng, shape[1], dtype)
    got = dcuda.box_iou(a, b)
    assert isinstance(got, np.ndarray)
    assert got.dtype == dtype and got.shape == shape
    np.testing.assert_array_equal(got, tv_iou(a, b))
    np.testing.assert_array_equal(got, reference_iou(a, b))
    assert (got > 0).any() and (got == 0).any()  # the data exercise both overlap and disjoint pairs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_offset_one_legacy_widths(rng, dtype):
    a = random_boxes(rng, 7, dtype, integer=True)
    b = random_boxes(rng, 5, dtype, integer=True)
    got = dcuda.box_iou(a, b, offset=1)
    np.testing.assert_array_equal(got, reference_iou(a, b, offset=1))
    # hand-checked: 1-pixel-wide boxes on the same pixel column, rows 0..1 and 1..2
    one = dcuda.box_iou(np.array([[0, 0, 0, 1]], dtype), np.array([[0, 1, 0, 2]], dtype), offset=1)
    assert one.dtype == dtype and one[0, 0] == dtype(1.0) / dtype(3.0)
    # with offset 0 the same boxes have zero area and the IoU is 0 (not NaN)
    assert dcuda.box_iou(np.array([[0, 0, 0, 1]], dtype), np.array([[0, 1, 0, 2]], dtype))[0, 0] == 0


def test_edge_cases_hand_checked():
    a = np.array(
        [
            [0, 0, 10, 10],  # reference box
            [0, 0, 10, 10],  # identical -> 1
            [10, 0, 20, 10],  # touching edge -> 0
            [5, 0, 15, 10],  # half overlap -> 50 / 150
            [2, 2, 2, 2],  # zero area inside -> 0
            [100, 100, 110, 110],  # disjoint -> 0
        ],
        dtype=np.float64,
    )
    got = dcuda.box_iou(a, a[:1])
    np.testing.assert_array_equal(got[:, 0], [1.0, 1.0, 0.0, 50.0 / 150.0, 0.0, 0.0])


def test_zero_area_pairs_give_zero_not_nan():
    a = np.array([[1, 1, 1, 1], [3, 3, 3, 5], [0, 0, 4, 4]], dtype=np.float32)
    got = dcuda.box_iou(a, a)
    assert np.isfinite(got).all()
    assert got[0, 0] == 0 and got[1, 1] == 0 and got[0, 1] == 0
    tv = tv_iou(a, a)
    assert np.isnan(tv[0, 0])  # torchvision's 0/0, the documented difference
    finite = np.isfinite(tv)
    np.testing.assert_array_equal(got[finite], tv[finite])


@pytest.mark.parametrize("na,nb", [(0, 5), (4, 0), (0, 0), (1, 1), (1, 7)])
def test_empty_and_single(rng, na, nb):
    a = random_boxes(rng, na, np.float32)
    b = random_boxes(rng, nb, np.float32)
    got = dcuda.box_iou(a, b)
    assert got.shape == (na, nb) and got.dtype == np.float32
    np.testing.assert_array_equal(got, reference_iou(a, b))


def test_grid_stride_over_row_tiles(rng, monkeypatch):
    # fewer grid rows than row tiles: each block loops over several row tiles
    monkeypatch.setattr(_common, "MAX_GRID_Y", 1)
    a = random_boxes(rng, 11, np.float32)  # 2 row tiles of 6 for one grid row
    b = random_boxes(rng, 6, np.float32)
    np.testing.assert_array_equal(dcuda.box_iou(a, b), tv_iou(a, b))


def test_dtype_rules(rng):
    a32 = random_boxes(rng, 5, np.float32)
    b64 = random_boxes(rng, 4, np.float64)
    mixed = dcuda.box_iou(a32, b64)
    assert mixed.dtype == np.float64
    np.testing.assert_array_equal(mixed, reference_iou(a32.astype(np.float64), b64))
    ints = dcuda.box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3]])
    assert ints.dtype == np.float64 and ints[0, 0] == 1.0 / 7.0


def test_out_buffer_host(rng):
    a = random_boxes(rng, 5, np.float32)
    b = random_boxes(rng, 6, np.float32)
    out = np.full((5, 6), -1.0, dtype=np.float32)
    res = dcuda.box_iou(a, b, out=out)
    assert res is out
    np.testing.assert_array_equal(out, tv_iou(a, b))
    with pytest.raises(ValueError, match="out: expected shape"):
        dcuda.box_iou(a, b, out=np.empty((6, 5), np.float32))
    with pytest.raises(ValueError, match="out: expected dtype"):
        dcuda.box_iou(a, b, out=np.empty((5, 6), np.float64))


def test_device_in_device_out(rng):
    from numba import cuda

    a = random_boxes(rng, 7, np.float32)
    b = random_boxes(rng, 5, np.float32)
    da, db = cuda.to_device(a), cuda.to_device(b)
    got = dcuda.box_iou(da, db)
    assert not isinstance(got, np.ndarray) and hasattr(got, "copy_to_host")
    np.testing.assert_array_equal(got.copy_to_host(), tv_iou(a, b))
    # one side on the host is uploaded; a device result comes back
    mixed = dcuda.box_iou(a, db)
    np.testing.assert_array_equal(mixed.copy_to_host(), tv_iou(a, b))
    # device out buffer
    dout = cuda.device_array((7, 5), np.float32)
    assert dcuda.box_iou(da, db, out=dout) is dout
    np.testing.assert_array_equal(dout.copy_to_host(), tv_iou(a, b))
    # device float32 with device float64 -> float64 result
    res64 = dcuda.box_iou(da, cuda.to_device(b.astype(np.float64)))
    assert np.dtype(res64.dtype) == np.float64
    np.testing.assert_array_equal(res64.copy_to_host(), reference_iou(a.astype(np.float64), b.astype(np.float64)))


def test_device_array_checks(rng):
    from numba import cuda

    with pytest.raises(ValueError, match=r"boxes1: expected shape \(N, 4\)"):
        dcuda.box_iou(cuda.to_device(np.zeros((3, 5), np.float32)), np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="float32 or float64"):
        dcuda.box_iou(cuda.to_device(np.zeros((3, 4), np.int32)), np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="out: expected a device array"):
        dcuda.box_iou(cuda.to_device(np.zeros((3, 4), np.float32)), np.zeros((2, 4), np.float32), out=np.zeros((3, 2)))


def test_bad_input_messages():
    good = np.array([[0, 0, 1, 1]], np.float32)
    with pytest.raises(ValueError, match="boxes1: row 0 has x2 < x1"):
        dcuda.box_iou(np.array([[5, 0, 1, 1]], np.float32), good)
    with pytest.raises(ValueError, match="boxes2: 1 non-finite value"):
        dcuda.box_iou(good, np.array([[0, 0, np.nan, 1]], np.float32))
    with pytest.raises(ValueError, match=r"boxes1: expected shape \(N, 4\)"):
        dcuda.box_iou(np.zeros((2, 5)), good)
    with pytest.raises(ValueError, match=r"offset: expected 0 or 1, got 2"):
        dcuda.box_iou(good, good, offset=2)
    with pytest.raises(ValueError, match="offset: expected 0 or 1"):
        dcuda.box_iou(good, good, offset=0.5)


coord = st.integers(0, 12)


@st.composite
def box_lists(draw, max_n=5):
    n = draw(st.integers(1, max_n))
    rows = []
    for _ in range(n):
        x1, y1, w, h = draw(coord), draw(coord), draw(st.integers(0, 6)), draw(st.integers(0, 6))
        rows.append([x1, y1, x1 + w, y1 + h])
    return np.array(rows, dtype=np.float32) / np.float32(4)


@settings(max_examples=8, deadline=None)
@given(a=box_lists(), b=box_lists(), offset=st.sampled_from([0, 1]))
def test_property_matches_reference_symmetric_and_bounded(a, b, offset):
    got = dcuda.box_iou(a, b, offset=offset)
    np.testing.assert_array_equal(got, reference_iou(a, b, offset))
    np.testing.assert_array_equal(got, dcuda.box_iou(b, a, offset=offset).T)  # IoU is symmetric, bit for bit
    assert ((got >= 0) & (got <= 1)).all()
