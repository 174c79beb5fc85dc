"""Naive vs convolutional sliding window (detbench.sliding): agreement, grid size, multiply-add counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detbench.sliding import (
    convolutional_sliding_window,
    overfeat_net,
    sliding_window_classify,
    sliding_window_grid_shape,
    sliding_window_macs,
    to_fully_convolutional,
)
from tests.reference_sliding import forward_ref, naive_scan_ref

DTYPES = [np.float32, np.float64]


@pytest.fixture(scope="module")
def nets():
    out = {}
    for dt in DTYPES:
        net = overfeat_net(seed=0, dtype=dt)
        out[dt] = (net, to_fully_convolutional(net))
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("size", "grid"), [(16, 2), (28, 8)])
def test_seed_examples_agree(nets, rng, dtype, size, grid):
    """The seed's 16x16x3 (2x2 output) and 28x28x3 (8x8 output) examples."""
    net, fcn = nets[dtype]
    img = rng.random((size, size, 3)).astype(dtype)
    naive = sliding_window_classify(img, net, window=14, stride=2)
    conv = convolutional_sliding_window(img, fcn)
    assert naive.shape == conv.shape == (grid, grid, 4)
    assert naive.dtype == conv.dtype == dtype
    np.testing.assert_allclose(conv, naive, rtol=0, atol=1e-5)
    # every window really is the classifier on that crop, checked against the float64 reference
    ref = naive_scan_ref(img, net, 14, 2)
    np.testing.assert_allclose(naive, ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(conv.sum(axis=-1), 1.0, rtol=1e-5)


def test_random_sizes_agree(nets):
    rng = np.random.default_rng(11)
    net, fcn = nets[np.float32]
    for _ in range(12):
        h, w = (int(v) for v in rng.integers(14, 48, size=2))
        img = (rng.random((h, w, 3)) * 255).astype(np.float32)
        naive = sliding_window_classify(img, net)
        conv = convolutional_sliding_window(img, fcn)
        assert conv.shape == naive.shape == (*sliding_window_grid_shape((h, w), 14, 2), 4)
        np.testing.assert_allclose(conv, naive, rtol=0, atol=1e-5)


def test_window_positions_and_strides(nets, rng):
    """Entry [r, c] is the crop at (stride*r, stride*c); stride 1 is a denser scan whose even entries are stride 2's."""
    net, fcn = nets[np.float64]
    img = rng.random((19, 23, 3))
    s1 = sliding_window_classify(img, net, stride=1)
    s2 = sliding_window_classify(img, net, stride=2)
    s3 = sliding_window_classify(img, net, stride=3, batch_size=5)  # several small batches
    assert s1.shape == (6, 10, 4) and s2.shape == (3, 5, 4) and s3.shape == (2, 4, 4)
    np.testing.assert_array_equal(s1[::2, ::2], s2)
    np.testing.assert_array_equal(s1[::3, ::3], s3)
    np.testing.assert_allclose(s3[1, 2], forward_ref(net, img[3:17, 6:20]), atol=1e-12)
    np.testing.assert_allclose(convolutional_sliding_window(img, fcn), s2, atol=1e-12)


def test_minimum_image_is_one_window(nets, rng):
    net, fcn = nets[np.float64]
    img = rng.random((14, 14, 3))
    assert convolutional_sliding_window(img, fcn).shape == (1, 1, 4)
    np.testing.assert_allclose(convolutional_sliding_window(img, fcn)[0, 0], net(img), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(0, 60), w=st.integers(0, 60), window=st.integers(1, 20), stride=st.integers(1, 7))
def test_grid_shape_formula(h, w, window, stride):
    if h < window or w < window:
        with pytest.raises(ValueError, match="larger than"):
            sliding_window_grid_shape((h, w), window, stride)
        return
    rows = len(range(0, h - window + 1, stride))  # brute-force enumeration of the windows
    cols = len(range(0, w - window + 1, stride))
    assert sliding_window_grid_shape((h, w, 3), window, stride) == (rows, cols)


def test_fcn_grid_follows_the_formula(nets):
    _, fcn = nets[np.float32]
    for h, w in [(14, 14), (15, 14), (17, 30), (33, 20)]:
        out = convolutional_sliding_window(np.zeros((h, w, 3), np.float32), fcn)
        assert out.shape[:2] == sliding_window_grid_shape((h, w), 14, 2) == ((h - 14) // 2 + 1, (w - 14) // 2 + 1)


def test_macs_counts(nets):
    net, fcn = nets[np.float32]
    m = sliding_window_macs((16, 16, 3), net)
    # hand count: 4 windows x 441,600; FCN: conv 12*12*16*75 + 2*2*400*400 * 2 + 2*2*4*400
    assert m["windows"] == 4
    assert m["naive"] == 4 * 441_600
    assert m["convolutional"] == 12 * 12 * 16 * 75 + 2 * 2 * 400 * 400 * 2 + 2 * 2 * 4 * 400
    assert m["ratio"] == pytest.approx(m["naive"] / m["convolutional"])
    assert m["convolutional"] == fcn.macs((16, 16, 3))
    ratios = [sliding_window_macs((n, n, 3), net)["ratio"] for n in (14, 16, 28, 64, 128, 512)]
    assert ratios[0] == pytest.approx(1.0)  # one window: nothing to share
    assert all(a < b for a, b in zip(ratios, ratios[1:]))  # sharing grows with the image
    # only the first conv is shared: per window (4 input pixels at stride 2) the FCN still pays
    # 4 * 16 * 75 (conv1) + 2 * 400 * 400 + 4 * 400, so the ratio tends to 441,600 / 326,400
    limit = 441_600 / (4 * 16 * 75 + 2 * 400 * 400 + 4 * 400)
    assert 0.999 * limit < ratios[-1] < limit


def test_bad_input(nets, rng):
    net, fcn = nets[np.float32]
    img = rng.random((20, 20, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="image: expected an \\(H, W, C\\) array"):
        sliding_window_classify(img[..., 0], net)
    with pytest.raises(ValueError, match="image: expected an \\(H, W, C\\) array"):
        convolutional_sliding_window(img[None], fcn)
    with pytest.raises(ValueError, match="expects 3 channels"):
        sliding_window_classify(img[..., :2], net)
    with pytest.raises(ValueError, match="expects 3 channels"):
        convolutional_sliding_window(np.zeros((20, 20, 4)), fcn)
    with pytest.raises(ValueError, match="window: 14x14 is larger than the 10x20 image"):
        sliding_window_classify(img[:10], net)
    with pytest.raises(ValueError, match="larger than the 13x20 image"):
        convolutional_sliding_window(img[:13], fcn)
    with pytest.raises(ValueError, match="stride: must be >= 1"):
        sliding_window_classify(img, net, stride=0)
    with pytest.raises(ValueError, match="window: the net classifies 14x14 crops"):
        sliding_window_classify(img, net, window=12)
    bad = img.copy()
    bad[3, 4, 1] = np.inf
    with pytest.raises(ValueError, match="image: 1 non-finite value"):
        sliding_window_classify(bad, net)
    with pytest.raises(ValueError, match="image: 1 non-finite value"):
        convolutional_sliding_window(bad, fcn)
    with pytest.raises(ValueError, match="convert it with detbench.cnn.to_fully_convolutional"):
        convolutional_sliding_window(img, net)
    with pytest.raises(ValueError, match="expected a classifier"):
        sliding_window_classify(img, fcn)
    with pytest.raises(ValueError, match="net: expected a detbench.cnn.Net"):
        sliding_window_classify(img, None)
    with pytest.raises(ValueError, match="stride: the convolutional scan has the net's total stride 2"):
        sliding_window_macs((20, 20, 3), net, stride=1)
    with pytest.raises(ValueError, match="image_shape"):
        sliding_window_grid_shape((20,))


# --------------------------------------------------------------------------- issue 19: odd dtypes and scales
_DTYPES = ["<f4", ">f4", "<f2", ">f2", "<f8", ">f8", ">i2", "u1"]


def _native(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.astype(a.dtype.newbyteorder("=")))


@settings(max_examples=25, deadline=None)
@given(
    dtype=st.sampled_from(_DTYPES),
    layout=st.sampled_from(["c", "fortran", "strided"]),
    scale=st.sampled_from([1.0, 1e-30, 1e30, 1e300]),
    net_dtype=st.sampled_from(DTYPES),
    h=st.integers(14, 21),
    w=st.integers(14, 21),
    seed=st.integers(0, 2**16),
)
def test_property_dtypes_byte_orders_layouts_scales(nets, dtype, layout, scale, net_dtype, h, w, seed):
    """Both scans: a named error, or exactly the output on the native-order copy, close to the float64 reference."""
    net, fcn = nets[net_dtype]
    base = np.random.default_rng(seed).random((h, w, 3)) * scale
    with np.errstate(over="ignore", invalid="ignore"):
        img = base.astype(dtype)
    if layout == "fortran":
        img = np.asfortranarray(img)
    elif layout == "strided":
        img = np.repeat(img, 2, axis=1)[:, ::2]
    for scan in (lambda x: convolutional_sliding_window(x, fcn), lambda x: sliding_window_classify(x, net, 14, 2)):
        try:
            got = scan(img)
        except ValueError as exc:
            assert str(exc).startswith("image: "), exc
            with pytest.raises(ValueError, match="^image: "):
                scan(_native(img))
            continue
        assert got.dtype == net_dtype
        np.testing.assert_array_equal(got, scan(_native(img)))
        assert np.isfinite(got).all()
        if scale == 1.0:
            want = naive_scan_ref(_native(img).astype(np.float64), net, 14, 2)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_values_overflowing_the_net_dtype_are_refused(nets):
    net, fcn = nets[np.float32]
    img = np.full((16, 16, 3), 1e300)
    with pytest.raises(ValueError, match="^image: values overflow the net's dtype float32"):
        convolutional_sliding_window(img, fcn)
    with pytest.raises(ValueError, match="^image: values overflow"):
        sliding_window_classify(img, net, 14, 2)
    with pytest.raises(ValueError, match="^x: values overflow"):
        net(img[:14, :14])
