"""The anchor core: the seed's table, torchvision's anchor grid and box coder (live), round trips."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.anchor_utils import AnchorGenerator

from detbench.anchors import DEFAULT_BBOX_CLIP, decode_boxes, encode_boxes, generate_anchors, grid_anchors
from tests.reference_boxes import reference_anchors

# The 9 anchors printed in the seed notes (§4, "Anchor 生成"), a test vector.
SEED_TABLE = np.array(
    [
        [-84, -40, 99, 55],
        [-176, -88, 191, 103],
        [-360, -184, 375, 199],
        [-56, -56, 71, 71],
        [-120, -120, 135, 135],
        [-248, -248, 263, 263],
        [-36, -80, 51, 95],
        [-80, -168, 95, 183],
        [-168, -344, 183, 359],
    ],
    dtype=np.float64,
)


def test_seed_anchor_table_exact():
    anchors = generate_anchors()
    assert anchors.shape == (9, 4) and anchors.dtype == np.float64
    np.testing.assert_array_equal(anchors, SEED_TABLE)
    np.testing.assert_array_equal(generate_anchors(16, [0.5, 1, 2], 2 ** np.arange(3, 6)), SEED_TABLE)


def test_seed_ratio_step():
    # The seed's intermediate shapes: widths 23, 16, 11 and heights 12, 16, 22 at scale 1.
    a = generate_anchors(scales=[1])
    np.testing.assert_array_equal(a[:, 2] - a[:, 0] + 1, [23, 16, 11])
    np.testing.assert_array_equal(a[:, 3] - a[:, 1] + 1, [12, 16, 22])
    np.testing.assert_array_equal(a, [[-3.5, 2, 18.5, 13], [0, 0, 15, 15], [2.5, -3, 12.5, 18]])


@pytest.mark.parametrize(
    "base,ratios,scales",
    [(16, (0.5, 1, 2), (8, 16, 32)), (8, (0.25, 1.5), (1, 3)), (32, (1,), (0.5, 2)), (10, (0.3, 0.7, 3.3), (2,))],
)
def test_generate_anchors_matches_step_by_step_reference(base, ratios, scales):
    np.testing.assert_array_equal(generate_anchors(base, ratios, scales), reference_anchors(base, ratios, scales))


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(base_size=0), "base_size"),
        (dict(ratios=[0.5, -1]), "ratios"),
        (dict(scales=[]), "scales: must not be empty"),
        (dict(ratios=[np.nan]), "ratios: 1 non-finite"),
    ],
)
def test_generate_anchors_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        generate_anchors(**kw)


@pytest.mark.parametrize("shape,stride", [((5, 7), 16), ((3, 4), (8, 12)), ((1, 1), 32), ((0, 3), 4)])
def test_grid_anchors_matches_torchvision(shape, stride):
    base = generate_anchors().astype(np.float32)
    gen = AnchorGenerator(sizes=((32,),), aspect_ratios=((1.0,),))
    gen.cell_anchors = [torch.from_numpy(base)]
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    want = gen.grid_anchors([list(shape)], [[torch.tensor(sh), torch.tensor(sw)]])[0].numpy()
    got = grid_anchors(base, shape, stride)
    assert got.shape == (shape[0] * shape[1] * 9, 4) and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_grid_anchors_order_and_offset():
    base = np.array([[-1, -2, 1, 2], [-3, -3, 3, 3]], dtype=np.float64)
    g = grid_anchors(base, (2, 3), 10)
    # row (y * W + x) * A + a is anchor a at cell (y, x)
    y, x, a = 1, 2, 1
    np.testing.assert_array_equal(g[(y * 3 + x) * 2 + a], base[a] + [20, 10, 20, 10])
    centred = grid_anchors(base, (2, 3), 10, offset=0.5)
    np.testing.assert_array_equal(centred - g, np.full_like(g, 5))


def test_grid_anchors_bad_input():
    with pytest.raises(ValueError, match="stride"):
        grid_anchors(generate_anchors(), (2, 2), 0)
    with pytest.raises(ValueError, match="feature_shape"):
        grid_anchors(generate_anchors(), (2, 2, 2), 16)
    with pytest.raises(ValueError, match="base_anchors"):
        grid_anchors(np.zeros((3, 3)), (2, 2), 16)


def _anchor_gt_pairs(rng, n, dtype):
    a_xy = rng.uniform(0, 500, (n, 2))
    anchors = np.hstack([a_xy, a_xy + rng.uniform(10, 200, (n, 2))])
    g_xy = a_xy + rng.uniform(-30, 30, (n, 2))
    gt = np.hstack([g_xy, g_xy + rng.uniform(2, 300, (n, 2))])
    return anchors.astype(dtype), gt.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_coder_matches_torchvision(dtype, weights):
    rng = np.random.default_rng(7)
    anchors, gt = _anchor_gt_pairs(rng, 300, dtype)
    coder = BoxCoder(weights)
    want = coder.encode_single(torch.from_numpy(gt), torch.from_numpy(anchors)).numpy()
    got = encode_boxes(anchors, gt, weights)
    assert got.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, want, **tol)
    deltas = rng.normal(0, 1.5, (300, 4)).astype(dtype)
    deltas[:5, 2:] = 20  # beyond the clamp
    want_boxes = coder.decode_single(torch.from_numpy(deltas), torch.from_numpy(anchors)).numpy()
    got_boxes = decode_boxes(anchors, deltas, weights)
    np.testing.assert_allclose(got_boxes, want_boxes, **tol)


def test_decode_clamps_log_ratio():
    anchors = np.array([[0, 0, 16, 16]], dtype=np.float64)
    out = decode_boxes(anchors, [[0, 0, 50, 50]])
    assert out[0, 2] - out[0, 0] == pytest.approx(16 * math.exp(DEFAULT_BBOX_CLIP)) == pytest.approx(1000)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([0, 1]))
def test_coder_round_trip(seed, offset):
    rng = np.random.default_rng(seed)
    anchors, gt = _anchor_gt_pairs(rng, 20, np.float64)
    w = rng.uniform(0.5, 10, 4)
    back = decode_boxes(anchors, encode_boxes(anchors, gt, w, offset=offset), w, offset=offset)
    np.testing.assert_allclose(back, gt, rtol=1e-10, atol=1e-9)


def test_coder_bad_input():
    a = np.array([[0, 0, 10, 10]], dtype=np.float64)
    with pytest.raises(ValueError, match="gt: row 0 has zero width"):
        encode_boxes(a, [[5, 5, 5, 9]])
    with pytest.raises(ValueError, match="anchors: row 0 has zero height"):
        encode_boxes([[0, 0, 3, 0]], a)
    with pytest.raises(ValueError, match="do not match"):
        encode_boxes(a, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="weights"):
        encode_boxes(a, a, (1, 1, 1))
    with pytest.raises(ValueError, match=r"deltas: expected shape \(N, 4\)"):
        decode_boxes(a, [0, 0, 0, 0])
    with pytest.raises(ValueError, match="deltas: 1 non-finite"):
        decode_boxes(a, [[0, np.nan, 0, 0]])
    assert decode_boxes(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0, 4)
    assert encode_boxes(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0, 4)


# ---------------------------------------------------------------------------
# issue 19: dtypes, weights in the compute dtype, bad grid shapes and sizes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [">f4", np.float16])
def test_coder_keeps_float32_for_other_float32_dtypes(dtype):
    rng = np.random.default_rng(19)
    anchors, gt = _anchor_gt_pairs(rng, 20, np.float32)
    a, g = anchors.astype(dtype), gt.astype(dtype)
    enc = encode_boxes(a, g)
    assert enc.dtype == np.float32
    np.testing.assert_array_equal(enc, encode_boxes(a.astype(np.float32), g.astype(np.float32)))
    dec = decode_boxes(a, enc.astype(dtype))
    assert dec.dtype == np.float32
    assert grid_anchors(a[:3], (2, 2), 8).dtype == np.float32


def test_coder_weights_are_checked_in_the_compute_dtype():
    a = np.array([[0, 0, 10, 10]], dtype=np.float32)
    d = np.zeros((1, 4), dtype=np.float32)
    for w in [(1e-300, 1, 1, 1), (1, 1, 1e-45, 1), (1, 1e300, 1, 1)]:
        with pytest.raises(ValueError, match="weights: .* in float32"):
            decode_boxes(a, d, weights=w)
        with pytest.raises(ValueError, match="weights: .* in float32"):
            encode_boxes(a, a, weights=w)
    # in float64 the same tiny weight is a number: accepted
    assert np.isfinite(decode_boxes(a.astype(np.float64), d.astype(np.float64), weights=(1e-300, 1, 1, 1))).all()


def test_grid_anchors_negative_and_huge_shapes_refused():
    base = generate_anchors()
    with pytest.raises(ValueError, match="feature_shape: must be >= 0"):
        grid_anchors(base, (-1, 5), 16)
    with pytest.raises(ValueError, match="feature_shape: must be >= 0"):
        grid_anchors(base, (5, -1), 16)
    with pytest.raises(ValueError, match=r"feature_shape: the anchor grid would need .*TiB"):
        grid_anchors(base, (10**5, 10**5), 16)
    assert grid_anchors(base, (0, 5), 16).shape == (0, 4)


def _native64(x):
    return np.asarray(x, dtype=x.dtype.newbyteorder("=")).astype(np.float64)


def _ref_encode(anchors, gt, offset):
    aw, ah = anchors[:, 2] - anchors[:, 0] + offset, anchors[:, 3] - anchors[:, 1] + offset
    gw, gh = gt[:, 2] - gt[:, 0] + offset, gt[:, 3] - gt[:, 1] + offset
    ax, ay = anchors[:, 0] + aw / 2, anchors[:, 1] + ah / 2
    gx, gy = gt[:, 0] + gw / 2, gt[:, 1] + gh / 2
    return np.stack([(gx - ax) / aw, (gy - ay) / ah, np.log(gw / aw), np.log(gh / ah)], axis=1)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.sampled_from(["<f4", ">f4", "<f8", ">f8", "<f2"]),
    st.sampled_from(["c", "fortran", "strided"]),
    st.integers(-60, 60),
)
def test_coder_property_any_dtype_layout_scale(seed, dtype, layout, exp):
    """encode_boxes: a named error, or the float64 formula on the native-order copy (scaled by a power of two)."""
    rng = np.random.default_rng(seed)
    anchors, gt = _anchor_gt_pairs(rng, 6, np.float64)
    with np.errstate(over="ignore", under="ignore"):
        a = np.ldexp(anchors, exp).astype(dtype)
        g = np.ldexp(gt, exp).astype(dtype)
    if layout == "fortran":
        a = np.asfortranarray(a)
    elif layout == "strided":
        a = np.repeat(a, 2, axis=0)[::2]
    try:
        got = encode_boxes(a, g)
    except ValueError as err:
        assert str(err).split(":")[0] in ("anchors", "gt")
        return
    assert got.dtype == (np.float64 if np.dtype(dtype).itemsize == 8 else np.float32)
    want = _ref_encode(_native64(a), _native64(g), 0.0)
    tol = 1e-12 if got.dtype == np.float64 else 2e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    back = decode_boxes(a, got)
    assert back.dtype == got.dtype
    scale = np.abs(_native64(g)).max()
    np.testing.assert_allclose(back / scale, _native64(g) / scale, rtol=0, atol=100 * tol)
