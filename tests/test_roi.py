"""ROI Align / ROI Pooling: parity with torchvision, the NumPy references, edge cases, bad input."""

from __future__ import annotations

import os
import platform
import signal
import time

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st

from detbench._jit import get_num_threads, set_num_threads
from detbench.roi import _inputs as roi_mod
from detbench.roi import roi_align, roi_pool
from tests.reference_roi import roi_align_reference, roi_pool_reference, round_half_away

# torchvision's CPU kernels and ours do the same float operations in the same order; on x86-64
# (no FMA contraction in either build) the results are bit-identical, elsewhere within tolerance.
EXACT = platform.machine().lower() in ("x86_64", "amd64")
TOL = {np.float32: 1e-5, np.float64: 1e-12}


def make_rois(rng, n_images, K, H, W, scale, dtype=np.float64):
    """Rois of every kind on an H x W map seen at ``scale``: inside, partly and wholly outside, tiny
    (zero and sub-cell extent) and huge (several times the map)."""
    iw, ih = W / scale, H / scale
    kinds = rng.integers(0, 5, K)
    x1 = rng.uniform(-0.3 * iw, 1.1 * iw, K)
    y1 = rng.uniform(-0.3 * ih, 1.1 * ih, K)
    w = rng.uniform(0, 0.8 * iw, K)
    h = rng.uniform(0, 0.8 * ih, K)
    w = np.where(kinds == 1, rng.uniform(0, 0.5 / scale, K), w)  # tiny: under one cell
    h = np.where(kinds == 1, rng.uniform(0, 0.5 / scale, K), h)
    w = np.where(kinds == 2, 0.0, w)  # degenerate
    x1 = np.where(kinds == 3, -2.5 * iw, x1)  # wholly outside (left)
    w = np.where(kinds == 4, rng.uniform(2, 4) * iw, w)  # huge
    h = np.where(kinds == 4, rng.uniform(2, 4) * ih, h)
    x1 = np.where(kinds == 4, -rng.uniform(0.5, 1.0) * iw, x1)
    b = rng.integers(0, n_images, K)
    return np.stack([b, x1, y1, x1 + w, y1 + h], axis=1).astype(dtype)


def tv_align(f, rois, out_size, scale, sr, aligned):
    return torchvision.ops.roi_align(torch.from_numpy(f), torch.from_numpy(rois), out_size, scale, sr, aligned).numpy()


def tv_pool(f, rois, out_size, scale):
    ph, pw = out_size
    v, a = torch.ops.torchvision.roi_pool(torch.from_numpy(f), torch.from_numpy(rois), scale, ph, pw)
    return v.numpy(), a.numpy()


def assert_matches(ours, theirs, dtype):
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    if EXACT:
        np.testing.assert_array_equal(ours, theirs)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOL[dtype])


@pytest.fixture(params=["blocks", "windows"])
def strategy(request, monkeypatch):
    """Run a test with each way of reading NCHW features: channel blocks (several, with a partial last
    one) and per-roi windows; rois are split over threads even when there are few of them."""
    monkeypatch.setattr(roi_mod, "_WINDOW_FRACTION", 0.0 if request.param == "blocks" else np.inf)
    monkeypatch.setattr(roi_mod, "_BLOCK_BYTES", 32)  # 8 float32 / 4 float64 channels per block
    monkeypatch.setattr(roi_mod, "_MIN_SPLIT", 1)
    return request.param


# --------------------------------------------------------------------------- ROI Align parity


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 0, 1, 2, 4])
def test_roi_align_matches_torchvision(dtype, aligned, sampling_ratio, strategy):
    rng = np.random.default_rng([np.dtype(dtype).itemsize, int(aligned), sampling_ratio + 2])
    f = rng.standard_normal((3, 10, 11, 13)).astype(dtype)
    rois = make_rois(rng, 3, 40, 11, 13, 0.25, dtype)
    for out_size in [(3, 3), (2, 5)]:
        ours = roi_align(f, rois, out_size, 0.25, sampling_ratio, aligned)
        assert_matches(ours, tv_align(f, rois, out_size, 0.25, sampling_ratio, aligned), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 2])
def test_roi_align_matches_reference(dtype, aligned, sampling_ratio):
    rng = np.random.default_rng(7)
    f = rng.standard_normal((2, 3, 7, 9)).astype(dtype)
    rois = make_rois(rng, 2, 12, 7, 9, 0.5, dtype)
    rois[:, 3:] = np.minimum(rois[:, 3:], rois[:, 1:3] + 40)  # keep the adaptive grids small for Python
    ours = roi_align(f, rois, (2, 3), 0.5, sampling_ratio, aligned)
    ref = roi_align_reference(f, rois, (2, 3), 0.5, sampling_ratio, aligned)
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_allclose(ref, tv_align(f, rois, (2, 3), 0.5, sampling_ratio, aligned), rtol=0, atol=TOL[dtype])


def test_roi_align_channels_last_and_layouts(strategy):
    rng = np.random.default_rng(3)
    f = rng.standard_normal((2, 12, 9, 10)).astype(np.float32)
    rois = make_rois(rng, 2, 30, 9, 10, 0.5, np.float32)
    expected = roi_align(f, rois, 4, 0.5, 2, True)
    nhwc = np.ascontiguousarray(f.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(roi_align(nhwc, rois, 4, 0.5, 2, True, channels_last=True), expected)
    # an NCHW view of channels-last memory (e.g. a torch channels_last tensor) is read in place
    view = nhwc.transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(roi_align(view, rois, 4, 0.5, 2, True), expected)
    strided = np.zeros((2, 24, 9, 10), np.float32)
    strided[:, ::2] = f
    np.testing.assert_array_equal(roi_align(strided[:, ::2], rois, 4, 0.5, 2, True), expected)
    assert_matches(expected, tv_align(f, rois, (4, 4), 0.5, 2, True), np.float32)


def test_roi_align_list_of_boxes_and_threads(monkeypatch):
    monkeypatch.setattr(roi_mod, "_MIN_SPLIT", 1)
    rng = np.random.default_rng(4)
    f = rng.standard_normal((3, 5, 8, 8))
    per_image = [rng.uniform(0, 30, (n, 2)) for n in (4, 0, 6)]
    boxes = [np.concatenate([p, p + rng.uniform(0, 20, p.shape)], axis=1) for p in per_image]
    ours = roi_align(f, boxes, 3, 0.25, 2, False)
    tv = torchvision.ops.roi_align(torch.from_numpy(f), [torch.from_numpy(b) for b in boxes], 3, 0.25, 2, False)
    assert_matches(ours, tv.numpy(), np.float64)
    rows = np.concatenate([np.concatenate([np.full((len(b), 1), i), b], axis=1) for i, b in enumerate(boxes)])
    np.testing.assert_array_equal(roi_align(f, rows, 3, 0.25, 2, False), ours)
    # a plain nested list of [b, x1, y1, x2, y2] rows is read as (K, 5)
    np.testing.assert_array_equal(roi_align(f, rows.tolist(), 3, 0.25, 2, False), ours)
    np.testing.assert_array_equal(roi_pool(f, [list(r) for r in rows], 3, 0.25), roi_pool(f, rows, 3, 0.25))
    before = get_num_threads()
    try:
        set_num_threads(1)
        np.testing.assert_array_equal(roi_align(f, rows, 3, 0.25, 2, False), ours)
    finally:
        set_num_threads(before)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_thread_pool_survives_fork(monkeypatch):
    monkeypatch.setattr(roi_mod, "_MIN_SPLIT", 1)
    f = np.random.default_rng(6).standard_normal((1, 4, 8, 8))
    rows = np.array([[0, 1.0, 1.0, 20.0, 20.0]] * 4)
    expected = roi_align(f, rows, 2, 0.25, 2, True)  # the pool exists now
    pid = os.fork()
    if pid == 0:  # child: must not wait forever on the parent's (absent) worker threads
        ok = np.array_equal(roi_align(f, rows, 2, 0.25, 2, True), expected)
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("roi_align hung in a forked child")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0


def test_out_argument():
    rng = np.random.default_rng(8)
    f = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    rows = np.array([[0, 1.0, 1.0, 9.0, 7.0], [0, 0.0, 2.0, 4.0, 11.0]], np.float32)
    buf = np.full((2, 3, 2, 2), np.nan, np.float32)
    assert roi_align(f, rows, 2, 0.5, out=buf) is buf
    np.testing.assert_array_equal(buf, roi_align(f, rows, 2, 0.5))
    v, a = roi_pool(f, rows, 2, 0.5, return_argmax=True, out=buf)
    assert v is buf
    np.testing.assert_array_equal(buf, roi_pool(f, rows, 2, 0.5))
    with pytest.raises(ValueError, match=r"out: expected shape \(2, 3, 3, 3\), got \(2, 3, 2, 2\)"):
        roi_align(f, rows, 3, 0.5, out=buf)
    with pytest.raises(ValueError, match="out: expected dtype float32"):
        roi_pool(f, rows, 2, 0.5, out=buf.astype(np.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        roi_align(f, rows, 2, 0.5, out=np.zeros((2, 3, 2, 4), np.float32)[..., ::2])


def test_roi_align_pixel_model():
    """Cell j holds j (a ramp in x). aligned=True puts cell j's value at x = j + 0.5, so the mean over
    the image box [2, 6] is 3.5; aligned=False puts it at x = j and gives 4.0."""
    f = np.broadcast_to(np.arange(12.0), (1, 1, 12, 12)).copy()
    box = np.array([[0, 2.0, 2.0, 6.0, 6.0]])
    assert roi_align(f, box, 1, 1.0, 4, aligned=True)[0, 0, 0, 0] == pytest.approx(3.5, abs=1e-12)
    assert roi_align(f, box, 1, 1.0, 4, aligned=False)[0, 0, 0, 0] == pytest.approx(4.0, abs=1e-12)
    # bins split the box evenly: 4 bins over [2, 6] have centres 2.5, 3.5, 4.5, 5.5 -> values - 0.5
    np.testing.assert_allclose(roi_align(f, box, (1, 4), 1.0, 2, True)[0, 0, 0], [2.0, 3.0, 4.0, 5.0])


def test_roi_align_seed_example():
    """The seed's example: an 800x800 image, a 665x665 box, stride 32 (a 25x25 map), 7x7 output."""
    rng = np.random.default_rng(5)
    f = rng.standard_normal((1, 4, 25, 25)).astype(np.float32)
    box = np.array([[0, 60.0, 70.0, 725.0, 735.0]], np.float32)
    for sr, aligned in [(-1, False), (0, True), (2, True)]:
        assert_matches(
            roi_align(f, box, 7, 1 / 32, sr, aligned), tv_align(f, box, (7, 7), 1 / 32, sr, aligned), np.float32
        )
    values, arg = roi_pool(f, box, 7, 1 / 32, return_argmax=True)
    tv_v, tv_a = tv_pool(f, box, (7, 7), 1 / 32)
    np.testing.assert_array_equal(values, tv_v)
    np.testing.assert_array_equal(arg, tv_a)


def test_roi_align_empty_and_edge_rois():
    f = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    for rois in (np.zeros((0, 5)), [], [np.zeros((0, 4)), np.zeros((0, 4))]):
        out = roi_align(f, rois, (2, 3))
        assert out.shape == (0, 3, 2, 3) and out.dtype == np.float32
        assert roi_pool(f, rois, (2, 3)).shape == (0, 3, 2, 3)
        v, a = roi_pool(f, rois, (2, 3), return_argmax=True)
        assert v.shape == a.shape == (0, 3, 2, 3) and a.dtype == np.int32
    # zero-size roi with aligned=True and adaptive sampling: no sample at all -> 0 (avg), -10000 (max)
    point = np.array([[1, 2.0, 2.0, 2.0, 2.0]], np.float32)
    assert (roi_align(f, point, 2, 1.0, 0, True) == 0).all()
    assert (roi_align(f, point, 2, 1.0, 0, True, pool_mode="max") == -10000).all()
    assert_matches(roi_align(f, point, 2, 1.0, 0, True), tv_align(f, point, (2, 2), 1.0, 0, True), np.float32)
    # wholly outside: every sample is dropped -> 0
    far = np.array([[0, 100.0, 100.0, 120.0, 130.0]], np.float32)
    assert (roi_align(f, far, 2) == 0).all()
    assert (roi_pool(f, far, 2) == 0).all()
    # a 1x1 map: every sample clamps to the single cell
    one = np.full((1, 2, 1, 1), 3.0)
    np.testing.assert_array_equal(roi_align(one, np.array([[0, -0.5, -0.5, 0.9, 0.9]]), 2, 1.0, 2, True), 3.0)
    # zero channels
    assert roi_align(np.zeros((1, 0, 4, 4)), np.array([[0, 0, 0, 2, 2.0]]), 2).shape == (1, 0, 2, 2)


# --------------------------------------------------------------------------- pool_mode="max" (mmcv's rule)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [0, 1, 3])
def test_roi_align_max_mode_matches_reference(aligned, sampling_ratio, strategy):
    rng = np.random.default_rng(11)
    f = rng.standard_normal((2, 9, 7, 9)).astype(np.float32) - 0.5
    rois = make_rois(rng, 2, 10, 7, 9, 0.5, np.float32)
    rois[:, 3:] = np.minimum(rois[:, 3:], rois[:, 1:3] + 40)
    ours = roi_align(f, rois, (2, 3), 0.5, sampling_ratio, aligned, pool_mode="max")
    np.testing.assert_array_equal(ours, roi_align_reference(f, rois, (2, 3), 0.5, sampling_ratio, aligned, "max"))


def test_roi_align_max_mode_hand_built():
    f = np.zeros((1, 1, 4, 4))
    f[0, 0, 1, 2] = 5.0
    # one sample per bin, exactly on cell centres (aligned=True): max mode reads single cells
    out = roi_align(f, np.array([[0, 0.0, 0.0, 4.0, 4.0]]), 4, 1.0, 1, True, pool_mode="max")
    assert out[0, 0, 1, 2] == 5.0 and out.sum() == 5.0
    # all values very negative: an in-map bin reports its max; a bin with samples outside the map
    # counts those as 0 (mmcv), so its max is 0
    g = np.full((1, 1, 4, 4), -50000.0)
    inside = roi_align(g, np.array([[0, 1.0, 1.0, 3.0, 3.0]]), 1, 1.0, 2, True, pool_mode="max")
    partly = roi_align(g, np.array([[0, -6.0, 1.0, 3.0, 3.0]]), 1, 1.0, 2, True, pool_mode="max")
    assert inside[0, 0, 0, 0] == -10000.0  # mmcv starts from -10000
    assert partly[0, 0, 0, 0] == 0.0


# --------------------------------------------------------------------------- ROI Pooling


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_roi_pool_matches_torchvision(dtype, strategy):
    rng = np.random.default_rng(21)
    f = rng.standard_normal((3, 10, 11, 13)).astype(dtype)
    f[0, :, 2:5, 3:6] = 1.0  # ties: the first cell in row-major order wins
    rois = make_rois(rng, 3, 60, 11, 13, 0.25, dtype)
    rois[:5, 1:] = np.array([10.0, 10.0, 22.0, 18.0]) / 1.0  # corners on half cells (x * 0.25 = 2.5, ...)
    rois[:5, 0] = 0
    for out_size in [(3, 3), (2, 5), (7, 7)]:
        v, a = roi_pool(f, rois, out_size, 0.25, return_argmax=True)
        tv_v, tv_a = tv_pool(f, rois, out_size, 0.25)
        np.testing.assert_array_equal(v, tv_v)
        np.testing.assert_array_equal(a, tv_a)
        np.testing.assert_array_equal(roi_pool(f, rois, out_size, 0.25), tv_v)
        np.testing.assert_array_equal(
            roi_pool(np.ascontiguousarray(f.transpose(0, 2, 3, 1)), rois, out_size, 0.25, channels_last=True), tv_v
        )


def test_roi_pool_matches_reference():
    rng = np.random.default_rng(22)
    f = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    rois = make_rois(rng, 2, 15, 6, 7, 0.5, np.float32)
    v, a = roi_pool(f, rois, (3, 2), 0.5, return_argmax=True)
    rv, ra = roi_pool_reference(f, rois, (3, 2), 0.5)
    np.testing.assert_array_equal(v, rv)
    np.testing.assert_array_equal(a, ra)


def test_roi_pool_rounding_and_values():
    # C's round: halves away from zero (NumPy rounds halves to even)
    assert [round_half_away(v) for v in (0.5, 1.5, 2.5, -0.5, -2.5, 0.49999997)] == [1, 2, 3, -1, -3, 0]
    f = np.arange(16.0).reshape(1, 1, 4, 4)
    # roi [2.5, 2.5, 6, 6] at scale 0.5 -> cells round(1.25)=1 .. round(3)=3, 3x3 cells, 1 bin: max = f[3, 3]
    v, a = roi_pool(f, np.array([[0, 2.5, 2.5, 6.0, 6.0]]), 1, 0.5, return_argmax=True)
    assert v[0, 0, 0, 0] == 15.0 and a[0, 0, 0, 0] == 15
    # values below -FLT_MAX are never picked (torchvision starts from -FLT_MAX in float64 too)
    g = np.full((1, 1, 2, 2), -1e300)
    v, a = roi_pool(g, np.array([[0, 0.0, 0.0, 1.0, 1.0]]), 1, 1.0, return_argmax=True)
    assert v[0, 0, 0, 0] == -np.finfo(np.float32).max and a[0, 0, 0, 0] == -1
    tv_v, tv_a = tv_pool(g, np.array([[0, 0.0, 0.0, 1.0, 1.0]]), (1, 1), 1.0)
    np.testing.assert_array_equal(v, tv_v)
    np.testing.assert_array_equal(a, tv_a)


# --------------------------------------------------------------------------- property test


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    H=st.integers(1, 6),
    W=st.integers(1, 6),
    ph=st.integers(1, 3),
    pw=st.integers(1, 3),
    scale=st.sampled_from([0.25, 0.5, 1.0, 1 / 3]),
    sr=st.sampled_from([-1, 0, 1, 2]),
    aligned=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_property_matches_reference_and_torchvision(seed, H, W, ph, pw, scale, sr, aligned, dtype):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((2, 2, H, W)).astype(dtype)
    rois = make_rois(rng, 2, 4, H, W, scale, dtype)
    rois[:, 3:] = np.minimum(rois[:, 3:], rois[:, 1:3] + 12 / scale)
    ours = roi_align(f, rois, (ph, pw), scale, sr, aligned)
    np.testing.assert_array_equal(ours, roi_align_reference(f, rois, (ph, pw), scale, sr, aligned))
    assert_matches(ours, tv_align(f, rois, (ph, pw), scale, sr, aligned), dtype)
    v, a = roi_pool(f, rois, (ph, pw), scale, return_argmax=True)
    tv_v, tv_a = tv_pool(f, rois, (ph, pw), scale)
    np.testing.assert_array_equal(v, tv_v)
    np.testing.assert_array_equal(a, tv_a)


# --------------------------------------------------------------------------- bad input

F = np.zeros((2, 3, 8, 8), np.float32)
GOOD = np.array([[0, 1.0, 1.0, 5.0, 5.0]])


@pytest.mark.parametrize("fn", [roi_align, roi_pool])
@pytest.mark.parametrize(
    "features, rois, kwargs, message",
    [
        (F, np.array([[2, 1.0, 1.0, 5.0, 5.0]]), {}, "batch index 2 in row 0 is out of range"),
        (F, np.array([[-1, 1.0, 1.0, 5.0, 5.0]]), {}, "out of range"),
        (F, np.array([[0.5, 1.0, 1.0, 5.0, 5.0]]), {}, "must be an integer"),
        (F, np.array([[np.nan, 1.0, 1.0, 5.0, 5.0]]), {}, "not finite"),
        (F, np.array([[0, 1.0, np.nan, 5.0, 5.0]]), {}, "non-finite"),
        (F, np.array([[0, 1.0, 1.0, np.inf, 5.0]]), {}, "non-finite"),
        (F, np.array([[0, 6.0, 1.0, 5.0, 5.0]]), {}, "x2 < x1"),
        (F, np.array([[0, 1.0, 6.0, 5.0, 5.0]]), {}, "y2 < y1"),
        (F, np.array([[1.0, 1.0, 5.0, 5.0]]), {}, "expected shape (K, 5)"),
        (F, np.zeros((2, 5, 1)), {}, "expected shape (K, 5)"),
        (F, [GOOD[:, 1:], GOOD[:, 1:], GOOD[:, 1:]], {}, "list entry 2"),
        (F, [np.array([[1.0, 1.0, 5.0]])], {}, "rois[0]: expected shape (N, 4)"),
        (F[0], GOOD, {}, "expected 4 dimensions"),
        (F.astype(np.int64), GOOD, {}, "float32 or float64"),
        (F.astype(np.float16), GOOD, {}, "float32 or float64"),
        (np.full((1, 1, 2, 2), np.nan), GOOD, {}, "features: 4 non-finite values"),
        (np.zeros((1, 1, 0, 4)), GOOD, {}, "at least 1x1"),
        ("abc", GOOD, {}, "features"),
        (F, GOOD, {"output_size": 0}, "output_size: must be >= 1"),
        (F, GOOD, {"output_size": (2, 3, 4)}, "output_size"),
        (F, GOOD, {"spatial_scale": 0.0}, "spatial_scale: must be > 0"),
        (F, GOOD, {"spatial_scale": float("nan")}, "spatial_scale"),
    ],
)
def test_bad_input(fn, features, rois, kwargs, message):
    kwargs = {"output_size": 2, **kwargs}
    with pytest.raises(ValueError) as err:
        fn(features, rois, **kwargs)
    assert message in str(err.value)


def test_bad_options():
    with pytest.raises(ValueError, match="pool_mode"):
        roi_align(F, GOOD, 2, pool_mode="median")
    with pytest.raises(ValueError, match="aligned"):
        roi_align(F, GOOD, 2, aligned="yes")
    with pytest.raises(ValueError, match="sampling_ratio"):
        roi_align(F, GOOD, 2, sampling_ratio=1.5)
    with pytest.raises(ValueError, match="sampling_ratio"):  # an adaptive grid far too large
        roi_align(F, np.array([[0, 0, 0, 1e9, 1e9]]), 2, sampling_ratio=-1)
    with pytest.raises(ValueError, match="return_argmax"):
        roi_pool(F, GOOD, 2, return_argmax=1)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        roi_align(F[0], GOOD, 2, channels_last=True)


# --------------------------------------------------------------------------- issue 19


@pytest.mark.parametrize("flag", ["channels_last", "aligned"])
@pytest.mark.parametrize("bad", ["no", None, 0])
def test_roi_align_flags_are_bools(flag, bad):
    with pytest.raises(ValueError, match=f"{flag}: expected True or False"):
        roi_align(F, GOOD, 2, **{flag: bad})


@pytest.mark.parametrize("flag", ["channels_last", "return_argmax"])
def test_roi_pool_flags_are_bools(flag):
    with pytest.raises(ValueError, match=f"{flag}: expected True or False"):
        roi_pool(F, GOOD, 2, **{flag: "no"})


@pytest.mark.parametrize("corner", [2.0**30 + 3, 2.0**31, 2.0**40, 2.0**52])
@pytest.mark.parametrize("axis", ["x", "y"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_roi_pool_far_corners_pool_into_the_right_bins(corner, axis, dtype):
    """Rois reaching beyond +-2**30 cells: their bins are those of the rule (int64 arithmetic), not those of
    a roi whose corners were clamped first. The two-sided rois put a bin boundary inside the map."""
    rng = np.random.default_rng(30)
    f = rng.standard_normal((1, 3, 9, 11)).astype(dtype)
    lo, hi = (1, 3) if axis == "x" else (2, 4)
    for a, b in [(-corner, 7.0), (2.0, corner), (-corner, corner + 10), (-corner - 6, corner)]:
        roi = np.array([[0, 2.0, 3.0, 7.0, 6.0]])
        roi[0, lo], roi[0, hi] = a, b
        for ph, pw in [(1, 1), (2, 2), (3, 2), (7, 7)]:
            got, arg = roi_pool(f, roi, (ph, pw), 1.0, return_argmax=True)
            want, want_arg = roi_pool_reference(f, roi, (ph, pw), 1.0)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(arg, want_arg)


def test_roi_pool_corners_beyond_2_60_cells_are_refused():
    with pytest.raises(ValueError, match=r"rois: row 0 .* cells from the origin"):
        roi_pool(F, np.array([[0, -(2.0**61), 1.0, 5.0, 5.0]]), 2)


def test_rois_that_overflow_the_features_dtype_are_named():
    with pytest.raises(ValueError, match="rois: row 0 .* overflows the features' dtype float32"):
        roi_align(F, np.array([[0, 0.0, 0.0, 1e300, 1e300]]), 2)
    with pytest.raises(ValueError, match="rois: row 0 .* overflows the features' dtype float32"):
        roi_pool(F, [np.array([[0.0, 0.0, 1e300, 1e300]])], 2)
    with pytest.raises(ValueError, match="rois: row 0 .* times spatial_scale"):
        roi_align(F, np.array([[0, 0.0, 0.0, 3e38, 3e38]], np.float32), 2, 100.0)


@pytest.mark.parametrize("fn", [roi_align, roi_pool])
def test_output_sizes_that_cannot_fit_are_refused(fn):
    with pytest.raises(ValueError, match=r"output_size: the \(K, C, ph, pw\) output would need"):
        fn(F, GOOD, 2**31)
    with pytest.raises(ValueError, match=r"output_size: the \(K, C, ph, pw\) output would need"):
        fn(F, GOOD, (1, 2**40))


@pytest.mark.parametrize("fn", [roi_align, roi_pool])
def test_roi_out_aliasing_features_refused(fn):
    buf = np.zeros(2 * 3 * 8 * 8, np.float32)
    f = buf.reshape(2, 3, 8, 8)
    with pytest.raises(ValueError, match="out: shares memory with features"):
        fn(f, GOOD, 2, out=buf[:12].reshape(1, 3, 2, 2))


@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_roi_ops_read_any_byte_order(dtype):
    rng = np.random.default_rng(12)
    f = rng.standard_normal((2, 4, 7, 9))
    rois = make_rois(rng, 2, 10, 7, 9, 0.5)
    native = f.astype(np.dtype(dtype).newbyteorder("="))
    got = roi_align(f.astype(dtype), rois, 3, 0.5, 2, True)
    assert got.dtype == native.dtype
    np.testing.assert_array_equal(got, roi_align(native, rois, 3, 0.5, 2, True))
    np.testing.assert_array_equal(roi_pool(f.astype(dtype), rois, 3, 0.5), roi_pool(native, rois, 3, 0.5))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.sampled_from(["<f4", ">f4", "<f8", ">f8", "<f2"]),
    st.sampled_from(["c", "strided", "nhwc_view"]),
    st.integers(-8, 40),
    st.sampled_from(["align", "align_max", "pool"]),
    st.booleans(),
)
def test_roi_property_any_dtype_layout_scale(seed, dtype, layout, exp, op, aligned):
    """A named error, or exactly the reference on the native-order copy (rois scaled by 10**exp)."""
    rng = np.random.default_rng(seed)
    f64 = rng.standard_normal((2, 3, 5, 6))
    rois = make_rois(rng, 2, 3, 5, 6, 1.0) * np.array([1.0] + [10.0**exp] * 4)
    f = f64.astype(dtype)
    if layout == "strided":
        big = np.zeros((2, 6, 5, 6), dtype=dtype)
        big[:, ::2] = f
        f = big[:, ::2]
    elif layout == "nhwc_view":
        f = np.ascontiguousarray(f.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    try:
        if op == "pool":
            got = roi_pool(f, rois, (2, 3), 1.0, return_argmax=True)
        else:
            got = roi_align(f, rois, (2, 3), 1.0, 2, aligned, "max" if op == "align_max" else "avg")
    except ValueError as err:
        assert str(err).split(":")[0] in ("features", "rois")
        return
    native = np.ascontiguousarray(f, dtype=f.dtype.newbyteorder("="))
    if op == "pool":
        want = roi_pool_reference(native, rois, (2, 3), 1.0)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    else:
        want = roi_align_reference(native, rois, (2, 3), 1.0, 2, aligned, "max" if op == "align_max" else "avg")
        assert got.dtype == native.dtype
        np.testing.assert_array_equal(got, want)
