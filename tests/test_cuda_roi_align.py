"""detbench.cuda.roi_align on Numba's CUDA simulator, against torchvision and a plain-Python reference.

Blocks are shrunk so that C=3 channels and a 3x2 output span several blocks
(2 channels x 4 bins per block) and the features' transpose uses 8x1-thread
blocks over 8x8 tiles (4x4 in the grid-stride test). The simulator costs tens of
milliseconds per block, more with barriers: sizes stay tiny.
"""

import math

import numpy as np
import pytest
import torch
import torchvision

import detbench.cuda as dcuda
from detbench.cuda import _common
from tests.test_cuda_helpers import shrink, strict_reshapes


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    shrink(monkeypatch)  # 16 threads per block: a few blocks per call
    strict_reshapes(monkeypatch)  # device-array reshapes fail as on a GPU


def reference_roi_align(
    features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False, pool_mode="avg"
):
    """ROI Align written from the rule (torchvision's forward; max: mmcv's CPU rule, a running
    maximum from -10000 over the samples, outside samples being 0), scalar by scalar in the
    features' dtype."""
    t = features.dtype.type
    n_img, nch, height, width = features.shape
    ph_n, pw_n = output_size
    out = np.zeros((len(rois), nch, ph_n, pw_n), features.dtype)
    scale = t(spatial_scale)
    off = t(0.5) if aligned else t(0.0)
    for k, roi in enumerate(rois.astype(features.dtype)):
        n = int(roi[0])
        sw, sh = roi[1] * scale - off, roi[2] * scale - off
        rw, rh = roi[3] * scale - off - sw, roi[4] * scale - off - sh
        if not aligned:
            rw, rh = max(rw, t(1)), max(rh, t(1))
        bh, bw = rh / t(ph_n), rw / t(pw_n)
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / t(ph_n))
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / t(pw_n))
        count = t(max(gh * gw, 1))
        for ph in range(ph_n):
            for pw in range(pw_n):
                acc = np.zeros(nch, features.dtype)
                samples = []
                for iy in range(gh):
                    y = sh + t(ph) * bh + (t(iy) + t(0.5)) * bh / t(gh)
                    for ix in range(gw):
                        x = sw + t(pw) * bw + (t(ix) + t(0.5)) * bw / t(gw)
                        if not (-1 <= y <= height and -1 <= x <= width):
                            samples.append(np.zeros(nch, features.dtype))
                            continue
                        yy, xx = max(y, t(0)), max(x, t(0))
                        y0, x0 = int(yy), int(xx)
                        if y0 >= height - 1:
                            y0 = y1 = height - 1
                            yy = t(y0)
                        else:
                            y1 = y0 + 1
                        if x0 >= width - 1:
                            x0 = x1 = width - 1
                            xx = t(x0)
                        else:
                            x1 = x0 + 1
                        ly, lx = yy - t(y0), xx - t(x0)
                        hy, hx = t(1) - ly, t(1) - lx
                        f = features[n]
                        val = ((hy * hx * f[:, y0, x0] + hy * lx * f[:, y0, x1]) + ly * hx * f[:, y1, x0]) + (
                            ly * lx * f[:, y1, x1]
                        )
                        acc += val
                        samples.append(val)
                if pool_mode == "max":
                    out[k, :, ph, pw] = np.max([np.full(nch, -10000.0, features.dtype), *samples], axis=0)
                else:
                    out[k, :, ph, pw] = acc / count
    return out


def tv_roi_align(features, rois, output_size, spatial_scale, sampling_ratio, aligned):
    return torchvision.ops.roi_align(
        torch.from_numpy(features),
        torch.from_numpy(rois.astype(features.dtype)),
        output_size,
        spatial_scale,
        sampling_ratio,
        aligned,
    ).numpy()


def make_case(rng, dtype, n_img=2, nch=3, height=7, width=9):
    """Features and rois (image coordinates, stride 2) that cover the edge cases:
    inside, partly outside, wholly outside, tiny (sub-pixel), huge (larger than the map), degenerate."""
    features = rng.standard_normal((n_img, nch, height, width)).astype(dtype)
    rois = np.array(
        [
            [0, 2.0, 3.0, 11.0, 9.5],  # inside
            [1, -5.0, -3.0, 6.0, 4.0],  # partly outside, top-left
            [1, 12.0, 8.0, 25.0, 20.0],  # partly outside, bottom-right
            [0, 30.0, 30.0, 40.0, 36.0],  # wholly outside
            [1, 4.3, 5.1, 4.9, 5.2],  # tiny
            [0, -10.0, -10.0, 40.0, 30.0],  # huge
            [1, 6.0, 2.0, 6.0, 8.0],  # zero width
        ]
    )
    return features, rois


@pytest.mark.parametrize(
    "dtype,aligned,sampling_ratio,output_size",
    [
        (np.float32, False, -1, (3, 2)),
        (np.float32, True, -1, (2, 3)),
        (np.float32, False, 2, (3, 2)),
        (np.float32, True, 1, (2, 2)),
        (np.float64, False, 0, (3, 2)),
        (np.float64, True, 4, (1, 3)),
    ],
)
def test_equals_torchvision_bitwise(rng, dtype, aligned, sampling_ratio, output_size):
    features, rois = make_case(rng, dtype)
    got = dcuda.roi_align(features, rois, output_size, 0.5, sampling_ratio, aligned)
    want = tv_roi_align(features, rois, output_size, 0.5, sampling_ratio, aligned)
    assert isinstance(got, np.ndarray) and got.dtype == dtype
    assert got.shape == (len(rois), 3, *output_size)
    np.testing.assert_array_equal(got, want)
    assert (got[3] == 0).all() and (np.abs(got[0]) > 0).all()  # the outside roi is 0; the inside one is not


def test_equals_plain_reference(rng):
    features, rois = make_case(rng, np.float32)
    got = dcuda.roi_align(features, rois, (2, 3), 0.5, 2, True)
    np.testing.assert_array_equal(got, reference_roi_align(features, rois, (2, 3), 0.5, 2, True))
    # and the reference is torchvision's rule (so the GPU, the reference and torchvision agree)
    ref = reference_roi_align(features, rois, (3, 2), 0.5, -1, False)
    np.testing.assert_array_equal(ref, tv_roi_align(features, rois, (3, 2), 0.5, -1, False))


@pytest.mark.parametrize("dtype,aligned,sampling_ratio", [(np.float32, False, 2), (np.float64, True, -1)])
def test_max_pool_mode_equals_reference(rng, dtype, aligned, sampling_ratio):
    features, rois = make_case(rng, dtype)
    got = dcuda.roi_align(features, rois, (3, 2), 0.5, sampling_ratio, aligned, pool_mode="max")
    want = reference_roi_align(features, rois, (3, 2), 0.5, sampling_ratio, aligned, "max")
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    avg = dcuda.roi_align(features, rois, (3, 2), 0.5, sampling_ratio, aligned)
    sampled = got != -10000  # bins with an empty grid (zero-width roi, aligned) keep the start value
    assert (got[sampled] >= avg[sampled]).all() and (got > avg).any()  # a maximum is at least the mean
    assert (got[3] == 0).all()  # wholly outside: every sample reads 0


def test_hand_computed_linear_map():
    # f(y, x) = 10 * y + x is reproduced exactly by bilinear sampling inside the map
    f = (10 * np.arange(5)[:, None] + np.arange(5)[None, :]).astype(np.float64)[None, None]
    rois = np.array([[0, 1.0, 1.0, 3.0, 3.0]])
    # aligned=False, 1x1 output, 2x2 samples at 1.5 and 2.5: mean is f(2, 2) = 22
    assert dcuda.roi_align(f, rois, 1, 1.0, 2, False)[0, 0, 0, 0] == 22.0
    # aligned=True shifts by half a pixel: samples at 1.0 and 2.0, mean f(1.5, 1.5) = 16.5
    assert dcuda.roi_align(f, rois, 1, 1.0, 2, True)[0, 0, 0, 0] == 16.5
    # max: the sample at (2.5, 2.5) gives 27.5
    assert dcuda.roi_align(f, rois, 1, 1.0, 2, False, pool_mode="max")[0, 0, 0, 0] == 27.5
    # zero-width roi with aligned=True and adaptive sampling: an empty grid gives 0 (avg), -10000 (max)
    flat = np.array([[0, 2.0, 1.0, 2.0, 3.0]])
    assert dcuda.roi_align(f, flat, 1, 1.0, -1, True)[0, 0, 0, 0] == 0.0
    assert dcuda.roi_align(f, flat, 1, 1.0, -1, True, pool_mode="max")[0, 0, 0, 0] == -10000.0
    # samples all below -10000: the running maximum keeps its start value; samples outside the map give 0
    low = f - 1e6
    assert dcuda.roi_align(low, rois, 1, 1.0, 2, False, pool_mode="max")[0, 0, 0, 0] == -10000.0
    edge = np.array([[0, 3.0, 3.0, 7.0, 7.0]])  # half of the samples fall outside the 5x5 map
    assert dcuda.roi_align(low, edge, 1, 1.0, 2, False, pool_mode="max")[0, 0, 0, 0] == 0.0


def test_rois_as_per_image_list(rng):
    features, rois = make_case(rng, np.float32)
    per_image = [rois[rois[:, 0] == i, 1:] for i in range(2)]
    stacked = np.concatenate([np.concatenate([np.full((len(r), 1), i), r], 1) for i, r in enumerate(per_image)])
    got = dcuda.roi_align(features, per_image, 2, 0.5)
    np.testing.assert_array_equal(got, tv_roi_align(features, stacked, (2, 2), 0.5, -1, False))


def test_empty_rois_and_channels(rng):
    features, _ = make_case(rng, np.float32)
    got = dcuda.roi_align(features, np.zeros((0, 5)), (2, 3))
    assert got.shape == (0, 3, 2, 3) and got.dtype == np.float32
    no_ch = dcuda.roi_align(np.zeros((1, 0, 4, 4), np.float32), np.array([[0, 0, 0, 2, 2]]), 2)
    assert no_ch.shape == (1, 0, 2, 2)
    assert dcuda.roi_align(features, [], 2).shape == (0, 3, 2, 2)
    assert dcuda.roi_align(features, [np.zeros((0, 4))] * 3, 2).shape == (0, 3, 2, 2)  # empty extra entries


def test_one_roi_one_channel_single_block(rng):
    f = rng.standard_normal((1, 1, 3, 4)).astype(np.float32)
    rois = np.array([[0, 0.5, 0.25, 3.0, 2.0]], np.float32)
    got = dcuda.roi_align(f, rois, 1)
    np.testing.assert_array_equal(got, tv_roi_align(f, rois, (1, 1), 1.0, -1, False))


def test_grid_stride_loops(rng, monkeypatch):
    # fewer threads than outputs: every thread loops over several outputs
    monkeypatch.setattr(_common, "MAX_GRID_X", 2)
    features, rois = make_case(rng, np.float32, nch=5)
    got = dcuda.roi_align(features, rois[:5], (2, 2), 0.5, 2, True)
    np.testing.assert_array_equal(got, tv_roi_align(features, rois[:5], (2, 2), 0.5, 2, True))


def test_device_in_device_out_and_dtype_rules(rng):
    from numba import cuda

    features, rois = make_case(rng, np.float32)
    got = dcuda.roi_align(cuda.to_device(features), cuda.to_device(rois[:3]), (2, 2), 0.5)
    assert not isinstance(got, np.ndarray) and got.shape == (3, 3, 2, 2)
    # float64 rois are cast to the features' float32, as torchvision would need
    np.testing.assert_array_equal(got.copy_to_host(), tv_roi_align(features, rois[:3], (2, 2), 0.5, -1, False))
    f64 = dcuda.roi_align(features.astype(np.float64), rois[:3].astype(np.float32), (2, 2), 0.5)
    assert f64.dtype == np.float64  # the features' dtype decides


def test_channels_last_input(rng):
    features, rois = make_case(rng, np.float32)
    want = tv_roi_align(features, rois, (2, 3), 0.5, 2, True)
    nhwc = np.ascontiguousarray(features.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(dcuda.roi_align(nhwc, rois, (2, 3), 0.5, 2, True, channels_last=True), want)
    # an NCHW view of channels-last memory is used as it lies (no transpose), same result
    view = nhwc.transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(dcuda.roi_align(view, rois, (2, 3), 0.5, 2, True), want)
    from numba import cuda

    dev = dcuda.roi_align(cuda.to_device(nhwc), rois, (2, 3), 0.5, 2, True, channels_last=True)
    np.testing.assert_array_equal(dev.copy_to_host(), want)


def test_bad_input_messages(rng):
    features, rois = make_case(rng, np.float32)
    with pytest.raises(ValueError, match=r"rois: row 0 has batch index 2.0; expected an integer in \[0, 2\)"):
        dcuda.roi_align(features, np.array([[2, 0, 0, 1, 1]]), 2)
    with pytest.raises(ValueError, match="rois: row 1 has batch index 0.5"):
        dcuda.roi_align(features, np.array([[0, 0, 0, 1, 1], [0.5, 0, 0, 1, 1]]), 2)
    with pytest.raises(ValueError, match="rois: row 0 has x2 < x1"):
        dcuda.roi_align(features, np.array([[0, 5, 0, 1, 1]]), 2)
    with pytest.raises(ValueError, match=r"rois: expected shape \(K, 5\)"):
        dcuda.roi_align(features, np.zeros((3, 4)), 2)
    bad = features.copy()
    bad[1, 2, 3, 4] = np.inf
    with pytest.raises(ValueError, match="features: 1 non-finite value"):
        dcuda.roi_align(bad, rois, 2)
    with pytest.raises(ValueError, match=r"features: expected 4 dimensions \(N, C, H, W\)"):
        dcuda.roi_align(features[0], rois, 2)
    with pytest.raises(ValueError, match="features: expected dtype float32 or float64, got int64"):
        dcuda.roi_align(np.zeros((1, 1, 4, 4), np.int64), rois[:1], 2)
    with pytest.raises(ValueError, match="channels_last: expected a bool"):
        dcuda.roi_align(features, rois, 2, channels_last=1)
    with pytest.raises(ValueError, match="output_size: must be >= 1"):
        dcuda.roi_align(features, rois, (0, 2))
    with pytest.raises(ValueError, match="spatial_scale: must be > 0"):
        dcuda.roi_align(features, rois, 2, spatial_scale=0.0)
    with pytest.raises(ValueError, match=r"pool_mode: expected one of \['avg', 'max'\]"):
        dcuda.roi_align(features, rois, 2, pool_mode="sum")
    with pytest.raises(ValueError, match="aligned: expected a bool"):
        dcuda.roi_align(features, rois, 2, aligned="yes")
    with pytest.raises(ValueError, match="features: the map must be at least 1x1"):
        dcuda.roi_align(np.zeros((1, 2, 0, 3)), rois[:1], 2)
    with pytest.raises(ValueError, match="rois: list entry 2 has 1 boxes but features hold only 2 images"):
        dcuda.roi_align(features, [np.zeros((0, 4)), np.zeros((0, 4)), np.array([[0, 0, 1, 1]])], 2)
