"""GPU inputs of every shape and layout the real device must take, checked on the simulator.

A real-GPU bug (``roi_align`` on ``x[None, None]`` features raised ``NotImplementedError:
operation requires copying`` from a device-array reshape) could not show on the simulator,
whose fake device arrays reshape like NumPy arrays. Here ``strict_reshapes`` gives them the
device's rule, and every function is fed singleton dimensions (with the stride-0 axes that
``[None]`` makes), non-contiguous device views (strided slices of a larger device array) and
objects that only expose ``__cuda_array_interface__`` (as CuPy arrays and torch CUDA tensors
do): results must equal the CPU twins.
"""

import numpy as np
import pytest

import detbench
import detbench.cuda as dc
from tests.test_cuda_helpers import as_interface, shrink, strict_reshapes, strided_device


@pytest.fixture(autouse=True)
def device_rules(monkeypatch):
    shrink(monkeypatch)
    strict_reshapes(monkeypatch)


def host(x):
    return x if isinstance(x, np.ndarray) else x.copy_to_host()


def boxes_case(rng, n, dtype=np.float32):
    xy = rng.uniform(0, 20, (n, 2))
    b = np.concatenate([xy, xy + rng.uniform(2, 12, (n, 2))], axis=1).astype(dtype)
    return b, rng.random(n).astype(dtype)


def linear_map():
    # f(y, x) = 10 * y + x, as (1, 1, 5, 5) with stride-0 singleton axes (NumPy's [None, None])
    f = (10 * np.arange(5)[:, None] + np.arange(5)[None, :]).astype(np.float64)[None, None]
    assert f.strides[:2] == (0, 0)
    return f


def test_strict_reshape_rule_catches_the_old_bug():
    from numba import cuda

    d = cuda.to_device(linear_map())
    with pytest.raises(NotImplementedError, match="requires copying"):
        d.reshape(1, 1, 25)  # what the old roi_align did: fails on a GPU, and now here too
    fresh = cuda.to_device(np.ascontiguousarray(np.zeros((1, 1, 5, 5))))
    assert fresh.reshape(1, 1, 25).shape == (1, 1, 25)  # a plain contiguous reshape is allowed


@pytest.mark.parametrize("kind", ["host", "device", "interface"])
def test_roi_align_singleton_axes(kind):
    from numba import cuda

    f = linear_map()
    feats = {"host": f, "device": cuda.to_device(f), "interface": as_interface(f)}[kind]
    rois = np.array([[0, 1.0, 1.0, 3.0, 3.0]])
    assert host(dc.roi_align(feats, rois, 1, 1.0, 2, False))[0, 0, 0, 0] == 22.0
    assert host(dc.roi_align(feats, rois, 1, 1.0, 2, True))[0, 0, 0, 0] == 16.5
    assert host(dc.roi_align(feats, rois, 1, 1.0, 2, False, pool_mode="max"))[0, 0, 0, 0] == 27.5
    assert host(dc.roi_pool(feats, rois, 1, 1.0))[0, 0, 0, 0] == 33.0


def test_roi_ops_strided_and_interface_features(rng):
    f = rng.standard_normal((2, 3, 5, 6))
    rois = np.array([[0, 1.0, 0.5, 7.0, 6.0], [1, -2.0, 1.0, 4.0, 9.5], [1, 3.0, 3.0, 3.0, 3.0]])
    want = detbench.roi_align(f, rois, (2, 3), 0.6, 2, True)
    want_pool = detbench.roi_pool(f, rois, (2, 3), 0.6)
    nhwc = np.ascontiguousarray(f.transpose(0, 2, 3, 1))
    for feats, cl in [
        (strided_device(f, axis=-1), False),  # every other column of a wider device map
        (strided_device(f, axis=1), False),  # every other channel
        (strided_device(nhwc, axis=-1), True),  # channels-last, every other channel
        (as_interface(f), False),
        (as_interface(nhwc), True),
    ]:
        np.testing.assert_array_equal(host(dc.roi_align(feats, rois, (2, 3), 0.6, 2, True, channels_last=cl)), want)
        np.testing.assert_array_equal(host(dc.roi_pool(feats, rois, (2, 3), 0.6, channels_last=cl)), want_pool)


def test_roi_rois_on_device_strided(rng):
    f = rng.standard_normal((2, 2, 4, 4)).astype(np.float32)
    rois = np.array([[0, 0.0, 0.0, 3.0, 3.0], [1, 1.0, 0.5, 2.5, 3.5]], np.float32)
    got = dc.roi_align(strided_device(f, axis=2), strided_device(rois, axis=0), 2, 1.0, 2, False)
    np.testing.assert_array_equal(host(got), detbench.roi_align(f, rois, 2, 1.0, 2, False))


def test_box_iou_strided_and_interface(rng):
    a, _ = boxes_case(rng, 7)
    b, _ = boxes_case(rng, 5)
    want = detbench.box_iou(a, b)
    np.testing.assert_array_equal(host(dc.box_iou(strided_device(a, axis=0), as_interface(b))), want)
    np.testing.assert_array_equal(host(dc.box_iou(as_interface(a), strided_device(b, axis=1))), want)
    one = a[0][None]  # (1, 4) with a stride-0 row axis
    np.testing.assert_array_equal(host(dc.box_iou(as_interface(one), as_interface(one))), [[1.0]])


def test_nms_family_strided_and_interface(rng):
    boxes, scores = boxes_case(rng, 21)
    labels = rng.integers(0, 3, 21)
    want = detbench.nms(boxes, scores, 0.3)
    got = dc.nms(strided_device(boxes, axis=0), strided_device(scores, axis=0), 0.3)
    np.testing.assert_array_equal(host(got), want)
    np.testing.assert_array_equal(host(dc.nms(as_interface(boxes), as_interface(scores), 0.3)), want)
    got = dc.batched_nms(as_interface(boxes), strided_device(scores, axis=0), as_interface(labels), 0.3)
    np.testing.assert_array_equal(host(got), detbench.batched_nms(boxes, scores, labels, 0.3))
    gi, gs = dc.soft_nms(strided_device(boxes, axis=0), as_interface(scores), "linear", 0.5, 0.3, 0.01)
    ci, cs = detbench.soft_nms(boxes, scores, "linear", 0.5, 0.3, 0.01)
    np.testing.assert_array_equal(host(gi), ci)
    np.testing.assert_array_equal(host(gs), cs)
    single = dc.nms(as_interface(boxes[:1]), as_interface(scores[:1]), 0.5)
    np.testing.assert_array_equal(host(single), [0])


def test_device_rois_validated_on_the_gpu(rng):
    from numba import cuda

    f = rng.standard_normal((2, 2, 4, 4)).astype(np.float32)
    rois64 = np.array([[0, 0.3, 0.1, 3.0, 2.9], [1, 1.0, 0.5, 2.5, 3.5]])  # float64 rois, float32 features
    np.testing.assert_array_equal(
        host(dc.roi_align(f, cuda.to_device(rois64), 2, 1.0, 2, False)), detbench.roi_align(f, rois64, 2, 1.0, 2, False)
    )
    np.testing.assert_array_equal(
        host(dc.roi_pool(f, as_interface(rois64), 2, 1.0)), detbench.roi_pool(f, rois64, 2, 1.0)
    )
    bad = rois64.copy()
    bad[1, 0] = 2
    with pytest.raises(ValueError, match=r"rois: row 1 has batch index 2.0; expected an integer in \[0, 2\)"):
        dc.roi_align(f, cuda.to_device(bad), 2)
    bad = rois64.copy()
    bad[0, 4] = -1
    with pytest.raises(ValueError, match="rois: row 0 has y2 < y1"):
        dc.roi_pool(f, cuda.to_device(bad), 2)
    bad = rois64.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="rois: 1 rows with non-finite values"):
        dc.roi_align(f, cuda.to_device(bad), 2)
    with pytest.raises(ValueError, match=r"rois: expected shape \(N, 5\)"):
        dc.roi_align(f, cuda.to_device(np.ascontiguousarray(rois64[:, :4])), 2)
