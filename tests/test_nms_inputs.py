"""The NMS family on odd input (issue 19): byte orders, float16, box scales whose
areas overflow or underflow, labels and model ids beyond int64 or memory, array
offsets; and one hypothesis property over dtypes, byte orders, layouts and scales.

Each case below failed before the fix (wrong dtype, every box kept, a merged
class, an 8 TiB allocation, or an error that did not name the argument).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detbench._validate import check_labels
from detbench.nms import (
    batched_nms,
    cluster_nms,
    diou_nms,
    fast_nms,
    matrix_nms,
    nms,
    soft_nms,
    weighted_boxes_fusion,
    weighted_nms,
)
from tests import reference_nms as ref

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

# six boxes, three kept at IoU 0.5 (two pairs of near-duplicates, a near triple, one alone)
SIX = np.array(
    [[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 11], [50, 50, 60, 60], [51, 50, 61, 60], [100, 100, 110, 110]],
    dtype=np.float64,
)
SIX_SCORES = np.linspace(0.9, 0.4, 6)
HARD = (nms, diou_nms, fast_nms, cluster_nms)


# ---------------------------------------------------------------------------
# dtypes: any float32 byte order and float16 stay float32
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [">f4", "<f4", np.float16])
def test_soft_and_matrix_nms_keep_float32(dtype):
    b = SIX.astype(dtype)
    s = SIX_SCORES.astype(dtype)
    native_b = b.astype(np.float32)
    native_s = s.astype(np.float32)
    for fn in (soft_nms, matrix_nms):
        idx, val = fn(b, s)
        assert val.dtype == np.float32, fn.__name__
        ridx, rval = fn(native_b, native_s)
        np.testing.assert_array_equal(idx, ridx)
        np.testing.assert_array_equal(val, rval)
    assert b.dtype == np.dtype(dtype)  # input untouched


# ---------------------------------------------------------------------------
# box scale: areas that overflow or underflow
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1e20, 1e25, 1e30, 1e-30, 2.0**100, 2.0**-110])
def test_float32_boxes_at_extreme_scales_still_suppress(scale):
    b = (SIX * scale).astype(np.float32)
    s = SIX_SCORES.astype(np.float32)
    keep = [0, 3, 5]
    for fn in HARD:
        got = fn(b, s, 0.5)
        assert got.tolist() == keep, fn.__name__
        np.testing.assert_array_equal(got, fn(SIX.astype(np.float32), s, 0.5))
    assert batched_nms(b, s, np.zeros(6, np.int64), 0.5).tolist() == keep
    assert batched_nms(np.tile(b, (200, 1)), np.tile(s, 200), np.zeros(1200, np.int64), 0.5).tolist() == keep
    # exact comparison with the reference on the float64 copy of the same float32 values
    np.testing.assert_array_equal(nms(b, s, 0.5), ref.nms(b.astype(np.float64), s, 0.5))
    idx, val = matrix_nms(b, s)
    ridx, rval = matrix_nms(SIX.astype(np.float32), s)
    np.testing.assert_array_equal(idx, ridx)
    np.testing.assert_allclose(val, rval, rtol=2e-6)
    assert (val < s[idx]).sum() == 3  # the three boxes under a higher one decay (none did before)
    assert val.dtype == np.float32


@pytest.mark.parametrize("scale", [1e160, 1e-160])
def test_float64_boxes_beyond_float64_areas_are_refused(scale):
    b = SIX * scale
    for fn in HARD:
        with pytest.raises(ValueError, match="^boxes: box areas"):
            fn(b, SIX_SCORES, 0.5)
    with pytest.raises(ValueError, match="^boxes: box areas"):
        batched_nms(b, SIX_SCORES, np.zeros(6, np.int64), 0.5)
    for fn in (matrix_nms, soft_nms, weighted_nms, weighted_boxes_fusion):
        with pytest.raises(ValueError, match="^boxes: box areas"):
            fn(b, SIX_SCORES)


def test_extreme_scale_with_offset_and_zero_area_boxes():
    b = (SIX * 1e30).astype(np.float32)
    s = SIX_SCORES.astype(np.float32)
    assert nms(b, s, 0.5, offset=1).tolist() == [0, 3, 5]
    # sides 2**-80 > 0 whose float64 product still underflows float32: compared in float64
    tiny = np.array([[0, 0, 1, 1], [0, 0, 1, 1]], np.float32) * np.float32(2.0**-80)
    assert nms(tiny, s[:2], 0.5).tolist() == [0]
    pts = np.zeros((3, 4), np.float32)  # zero-area boxes never suppress (0/0 IoU, as torchvision)
    assert nms(pts, s[:3], 0.5).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="^boxes: box areas"):  # float64 sides whose product underflows to 0
        nms(np.array([[0, 0, 1, 1], [0, 0, 1, 1]]) * 2.0**-600, [0.9, 0.8], 0.5)


@pytest.mark.parametrize("scale", [1e50, 1e-50, 1e-40, 1e30])
def test_fusion_beyond_float32_accumulators(scale):
    # ensemble-boxes accumulates fused coordinates in float32: at 1e50 they were inf, at 1e-50 zero
    for dtype in (np.float64, np.float32) if scale == 1e30 else (np.float64,):
        b = (SIX * scale).astype(dtype)
        for fn in (weighted_boxes_fusion, weighted_nms):
            fb, fs, _ = fn(b, SIX_SCORES.astype(dtype))
            ub, us, _ = fn(SIX, SIX_SCORES)
            assert np.isfinite(fb).all() and fb.dtype == dtype
            np.testing.assert_allclose(fb.astype(np.float64) / scale, ub, rtol=1e-6, atol=1e-5)
            np.testing.assert_allclose(fs, us, rtol=1e-6)


# ---------------------------------------------------------------------------
# labels and model ids
# ---------------------------------------------------------------------------


def test_float_labels_beyond_int64_are_refused():
    labels = np.array([0, 1e30, 0, 0, 0, 0])
    with pytest.raises(ValueError, match=r"^labels: value 1e\+30 at index 1 does not fit in int64"):
        batched_nms(SIX, SIX_SCORES, labels, 0.5)
    for fn in (weighted_nms, weighted_boxes_fusion):
        with pytest.raises(ValueError, match="^labels: value 1e"):
            fn(SIX, SIX_SCORES, labels)
        with pytest.raises(ValueError, match="^model_ids: value"):
            fn(SIX, SIX_SCORES, None, np.array([0, 0, 2.0**63, 0, 0, 0]))
    # -2**63 is exact in float64 and fits
    np.testing.assert_array_equal(check_labels(np.array([-(2.0**63), 3.0]), 2), [-(2**63), 3])


def test_batched_nms_labels_near_2_63():
    with pytest.raises(ValueError, match="^labels: value 9223372036854775813 at index 1 does not fit in int64"):
        batched_nms(SIX, SIX_SCORES, np.array([0, 2**63 + 5, 0, 0, 0, 0], np.uint64), 0.5)
    # a span of labels that overflows int64 arithmetic (was "negative dimensions not allowed")
    lab = np.array([-(2**63), 2**63 - 1, -(2**63), 2**63 - 1, 5, 5], np.int64)
    tv = torchvision.ops.batched_nms(torch.from_numpy(SIX), torch.from_numpy(SIX_SCORES), torch.from_numpy(lab), 0.5)
    np.testing.assert_array_equal(batched_nms(SIX, SIX_SCORES, lab, 0.5), tv.numpy())  # torchvision's shift
    big = np.tile(SIX, (200, 1)) + np.repeat(np.arange(200) * 200.0, 6)[:, None]  # > 1000 boxes: per class
    big_s = np.linspace(1.0, 0.001, 1200)  # distinct: the large-N order among ties is std::sort's
    big_lab = np.tile(lab, 200)
    np.testing.assert_array_equal(batched_nms(big, big_s, big_lab, 0.5), ref.batched_nms(big, big_s, big_lab, 0.5))
    np.testing.assert_array_equal(batched_nms(big, big_s, big_lab.astype(np.uint64) >> np.uint64(1), 0.5).size, 200 * 5)


def test_batched_nms_shift_that_would_overflow_runs_per_class():
    # torchvision shifts boxes by label * (max + 1): 4e18 * 2**66 overflows float32 to inf
    b = (SIX * 2.0**44 + 2.0**66).astype(np.float32)  # exact in float32
    s = SIX_SCORES.astype(np.float32)
    lab = np.array([4 * 10**18, 4 * 10**18, 0, 0, 0, 0], np.int64)
    expected = ref.batched_nms(b.astype(np.float64), s, lab, 0.5)
    assert expected.tolist() == [0, 2, 3, 5]  # the shifted (inf) class kept both boxes before
    np.testing.assert_array_equal(batched_nms(b, s, lab, 0.5), expected)


def test_fusion_model_id_beyond_memory_is_refused():
    for fn in (weighted_nms, weighted_boxes_fusion):
        with pytest.raises(ValueError, match=r"^model_ids: the 1099511627777 models .* would need"):
            fn(SIX, SIX_SCORES, None, np.array([0, 2**40, 0, 0, 0, 0]))
        # with weights the ids index them: a clear weights error, no allocation
        with pytest.raises(ValueError, match="^weights: 2 weights for model ids up to 1099511627776"):
            fn(SIX, SIX_SCORES, None, np.array([0, 2**40, 0, 0, 0, 0]), weights=[1.0, 1.0])


# ---------------------------------------------------------------------------
# offset
# ---------------------------------------------------------------------------


def test_array_offset_is_refused_by_name():
    lab = np.zeros(6, np.int64)
    calls = [
        lambda o: nms(SIX, SIX_SCORES, 0.5, offset=o),
        lambda o: batched_nms(SIX, SIX_SCORES, lab, 0.5, offset=o),
        lambda o: fast_nms(SIX, SIX_SCORES, 0.5, offset=o),
        lambda o: cluster_nms(SIX, SIX_SCORES, 0.5, offset=o),
        lambda o: matrix_nms(SIX, SIX_SCORES, offset=o),
    ]
    for call in calls:
        for bad in (np.array([0, 1]), True, 2, "1"):
            with pytest.raises(ValueError, match="^offset: expected 0 or 1"):
                call(bad)
        assert call(np.int64(1)) is not None


# ---------------------------------------------------------------------------
# one property for the family
# ---------------------------------------------------------------------------

DTYPE_NAMES = ("<f4", ">f4", "<f8", ">f8", "<f2", "<i4")
SCALES = (1.0, 2.0**70, 2.0**-100, 1e20, 1e30, 1e-30, 1e160, 2.0**-1000)
FUNCS = ("nms", "diou_nms", "fast_nms", "cluster_nms", "batched_nms", "matrix_nms", "soft_nms", "weighted_nms")


def _layout(a: np.ndarray, layout: str) -> np.ndarray:
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.zeros((2 * a.shape[0],) + a.shape[1:], a.dtype)
        big[::2] = a
        return big[::2]
    return np.ascontiguousarray(a)


def _native(a: np.ndarray) -> np.ndarray:
    """The native-order copy under the dtype rule (float16 -> float32, integers -> float64)."""
    if a.dtype.kind == "f":
        return np.ascontiguousarray(a, dtype=np.float32 if a.dtype.itemsize <= 4 else np.float64)
    return np.ascontiguousarray(a, dtype=np.float64)


def _reference_meaningful(boxes64: np.ndarray) -> bool:
    """The float64 reference only means something when its areas are finite normal numbers."""
    if not np.isfinite(boxes64).all():
        return False
    if boxes64.shape[0] == 0:
        return True
    w = boxes64[:, 2] - boxes64[:, 0]
    h = boxes64[:, 3] - boxes64[:, 1]
    with np.errstate(over="ignore", under="ignore"):
        a = w * h
    pos = a[(w > 0) & (h > 0)]  # a product that underflowed to 0 counts
    fi = np.finfo(np.float64)
    return bool(a.max() <= fi.max / 4 and (pos.size == 0 or pos.min() >= fi.tiny) and np.abs(boxes64).max() <= 2.0**510)


@settings(max_examples=120, deadline=None)
@given(
    n=st.integers(0, 24),
    seed=st.integers(0, 2**31 - 1),
    dtype=st.sampled_from(DTYPE_NAMES),
    layout=st.sampled_from(("c", "fortran", "strided")),
    scale=st.sampled_from(SCALES),
    func=st.sampled_from(FUNCS),
    thr=st.sampled_from((0.25, 0.5, 0.625)),  # exact in float32 and float64
)
def test_nms_family_property(n, seed, dtype, layout, scale, func, thr):
    """A named ValueError, or the float64 reference's answer on the native-order copy.

    Coordinates are small integers times ``scale`` (a power of two keeps them
    exact; 1e20/1e30/1e-30 push float32 areas out of range) and thresholds
    are dyadic, so an IoU is a rational that equals a threshold exactly or lies
    far from it, and float32 and float64 decide alike.
    """
    if dtype == "<i4":
        scale = 1.0  # integers have no scale to overflow here
    if dtype == "<f2" and scale < 1.0:
        scale = 2.0**-10  # exact in float16; smaller scales underflow to zero-area boxes
    rng = np.random.default_rng(seed)
    base = np.round(rng.uniform(0, 24, (n, 2)))
    wh = np.round(rng.uniform(1, 10, (n, 2)))
    boxes = np.concatenate([base, base + wh], axis=1) * scale
    scores = (rng.permutation(n) + 1.0) / (n + 1.0)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        b = _layout(boxes.astype(dtype), layout)
        s = _layout(scores.astype(dtype if dtype != "<i4" else "<f8"), "strided" if layout == "strided" else "c")
    b_before, s_before = b.copy(), s.copy()
    nb, ns = _native(b), _native(s)
    b64 = nb.astype(np.float64)
    fn = {
        "nms": nms,
        "diou_nms": diou_nms,
        "fast_nms": fast_nms,
        "cluster_nms": cluster_nms,
        "batched_nms": batched_nms,
        "matrix_nms": matrix_nms,
        "soft_nms": soft_nms,
        "weighted_nms": weighted_nms,
    }[func]
    try:
        if func == "batched_nms":
            got = fn(b, s, np.zeros(n, np.int64), thr)
        elif func == "matrix_nms":
            got = fn(b, s, "gaussian", 2.0)
        elif func == "soft_nms":
            got = fn(b, s, "linear", 0.5, thr, 0.001)
        elif func == "weighted_nms":
            got = fn(b, s, iou_threshold=thr)
        else:
            got = fn(b, s, thr)
    except ValueError as exc:
        assert str(exc).startswith(("boxes: ", "scores: ")), str(exc)
        assert not _reference_meaningful(b64), f"refused a meaningful input: {exc}"
        return
    finally:
        np.testing.assert_array_equal(b, b_before)  # inputs never modified
        np.testing.assert_array_equal(s, s_before)
    assert _reference_meaningful(b64)
    if func in ("nms", "batched_nms"):
        np.testing.assert_array_equal(got, ref.nms(b64, ns, thr))
    elif func == "diou_nms":
        np.testing.assert_array_equal(got, ref.diou_nms(b64, ns, thr))
    elif func == "fast_nms":
        np.testing.assert_array_equal(got, ref.fast_nms(b64, ns, thr))
    elif func == "cluster_nms":
        np.testing.assert_array_equal(got, ref.cluster_nms(b64, ns, thr)[0])
    elif func == "matrix_nms":
        idx, val = got
        expected = ref.matrix_nms(b64, ns, "gaussian", 2.0)
        assert sorted(idx.tolist()) == sorted(expected)
        assert val.dtype == ns.dtype
        rtol = 2e-6 if ns.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(val, [expected[i] for i in idx.tolist()], rtol=rtol, atol=1e-30)
    elif func == "weighted_nms":
        fb, fs, fl = got
        assert fb.dtype == fs.dtype == ns.dtype and np.isfinite(fb).all()
        pos = (b64[:, 2] > b64[:, 0]) & (b64[:, 3] > b64[:, 1])  # zero-area boxes are dropped
        expected = ref.nmw_simple(b64[pos], ns[pos], np.zeros(int(pos.sum()), np.int64), thr)
        assert len(expected) == fb.shape[0]
        mine = sorted(zip(fs.tolist(), fb.tolist()), key=lambda r: (-r[0], r[1]))
        want = sorted(((sc, bx.tolist()) for _, sc, bx in expected), key=lambda r: (-r[0], r[1]))
        span = float(np.abs(b64).max()) if n else 0.0
        for (gs, gb), (ws, wb) in zip(mine, want):
            np.testing.assert_allclose(gs, ws, rtol=1e-7)  # the first box's score, rounded to float32
            np.testing.assert_allclose(gb, wb, rtol=1e-6, atol=2e-6 * span)  # ensemble-boxes' float32 sums
    else:
        idx, val = got
        ridx, rval = ref.soft_nms_ensemble(b64, ns, "linear", 0.5, thr, 0.001)
        np.testing.assert_array_equal(idx, ridx)
        np.testing.assert_array_equal(val, rval)
        assert val.dtype == ns.dtype
