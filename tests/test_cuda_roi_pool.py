"""detbench.cuda.roi_pool on the simulator: equal to the CPU roi_pool and to torchvision (values and argmax)."""

import numpy as np
import pytest
import torch
import torchvision

import detbench
import detbench.cuda as dc
from tests.test_cuda_helpers import shrink


@pytest.fixture(autouse=True)
def small(monkeypatch):
    shrink(monkeypatch)


def case(rng, dtype):
    f = rng.standard_normal((2, 3, 6, 7)).astype(dtype)
    f[0, 1, 2, 2:4] = 5.0  # a tie: the first cell (row-major) wins
    rois = np.array(
        [
            [0, 1.0, 1.5, 9.0, 8.0],
            [1, -4.0, -2.0, 5.0, 3.0],  # partly outside
            [0, 20.0, 20.0, 30.0, 26.0],  # outside: empty bins, 0 and -1
            [1, 2.5, 3.5, 2.5, 3.5],  # one cell
            [0, 0.0, 0.0, 13.0, 11.0],  # whole map
        ]
    )
    return f, rois


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("output_size", [(2, 3), (3, 3)])
def test_equals_cpu_and_torchvision(rng, dtype, output_size):
    f, rois = case(rng, dtype)
    vals, arg = dc.roi_pool(f, rois, output_size, 0.5, return_argmax=True)
    cvals, carg = detbench.roi_pool(f, rois, output_size, 0.5, return_argmax=True)
    assert vals.dtype == dtype and arg.dtype == np.int32
    np.testing.assert_array_equal(vals, cvals)
    np.testing.assert_array_equal(arg, carg)
    tv = torchvision.ops.roi_pool(torch.from_numpy(f), torch.from_numpy(rois.astype(dtype)), output_size, 0.5)
    np.testing.assert_array_equal(vals, tv.numpy())
    assert (arg[2] == -1).all() and (vals[2] == 0).all()


def test_channels_last_out_and_device(rng):
    from numba import cuda

    f, rois = case(rng, np.float32)
    want = detbench.roi_pool(f, rois, 2, 0.5)
    nhwc = np.ascontiguousarray(f.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(dc.roi_pool(nhwc, rois, 2, 0.5, channels_last=True), want)
    out = np.empty_like(want)
    assert dc.roi_pool(f, rois, 2, 0.5, out=out) is out
    np.testing.assert_array_equal(out, want)
    dev = dc.roi_pool(cuda.to_device(f), rois, 2, 0.5)
    np.testing.assert_array_equal(dev.copy_to_host(), want)
    assert dc.roi_pool(f, np.zeros((0, 5)), 2).shape == (0, 3, 2, 2)


def test_bad_input():
    f = np.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(ValueError, match="return_argmax: expected a bool"):
        dc.roi_pool(f, np.array([[0, 0, 0, 1, 1]]), 2, return_argmax=1)
    with pytest.raises(ValueError, match=r"rois: row 0 has batch index 1.0"):
        dc.roi_pool(f, np.array([[1, 0, 0, 1, 1]]), 2)
    with pytest.raises(ValueError, match="out: expected shape"):
        dc.roi_pool(f, np.array([[0, 0, 0, 1, 1]]), 2, out=np.empty((1, 2, 3, 3), np.float32))
