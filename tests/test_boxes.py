"""The box core against torchvision.ops (live), plain references and properties."""

import numpy as np
import pytest
import torch
import torchvision.ops as tvops
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from detbench.boxes import (
    box_area,
    box_convert,
    box_iou,
    clip_boxes,
    complete_box_iou,
    distance_box_iou,
    generalized_box_iou,
)
from tests import reference_boxes as ref

PAIRWISE = [
    (box_iou, tvops.box_iou, ref.iou_pair),
    (generalized_box_iou, tvops.generalized_box_iou, ref.giou_pair),
    (distance_box_iou, tvops.distance_box_iou, ref.diou_pair),
    (complete_box_iou, tvops.complete_box_iou, ref.ciou_pair),
]
PAIRWISE_IDS = [f[0].__name__ for f in PAIRWISE]


def random_boxes(rng, n, dtype, scale=100.0, degenerate_every=0):
    xy = rng.uniform(0, scale, (n, 2))
    wh = rng.uniform(0, scale / 2, (n, 2))
    if degenerate_every:
        wh[::degenerate_every] = 0
        wh[1::degenerate_every, 0] = 0  # zero width, positive height
    return np.hstack([xy, xy + wh]).astype(dtype)


def edge_case_boxes(dtype):
    """Identical, disjoint, touching, nested, zero-area and line boxes."""
    return np.array(
        [
            [0, 0, 10, 10],
            [0, 0, 10, 10],  # identical to row 0
            [20, 20, 30, 30],  # disjoint
            [10, 0, 20, 10],  # touches row 0 along an edge
            [10, 10, 15, 15],  # touches row 0 at a corner
            [2, 2, 8, 8],  # nested in row 0
            [5, 5, 5, 5],  # a point inside row 0
            [0, 5, 10, 5],  # a horizontal line through row 0
            [5, 5, 5, 5],  # the same point again
            [-5, -5, 25, 25],  # encloses everything near the origin
        ],
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn,peer,_", PAIRWISE, ids=PAIRWISE_IDS)
def test_pairwise_matches_torchvision(fn, peer, _, dtype):
    rng = np.random.default_rng(1)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    for trial in range(5):
        a = np.vstack([random_boxes(rng, 60 + trial, dtype, degenerate_every=9), edge_case_boxes(dtype)])
        b = np.vstack([random_boxes(rng, 45, dtype, degenerate_every=7), edge_case_boxes(dtype)])
        got = fn(a, b)
        want = peer(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        assert got.dtype == dtype and got.shape == want.shape
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=tol)
        # Where torchvision divides 0 by 0 detbench returns a number (the reference's value).
        assert np.isfinite(got).all()
        assert (~finite).sum() > 0  # the degenerate rows really were exercised


@pytest.mark.parametrize("offset", [0, 1])
@pytest.mark.parametrize("fn,_,pair", PAIRWISE, ids=PAIRWISE_IDS)
def test_pairwise_matches_plain_reference(fn, _, pair, offset):
    rng = np.random.default_rng(2)
    a = np.vstack([random_boxes(rng, 25, np.float64, degenerate_every=6), edge_case_boxes(np.float64)])
    b = np.vstack([random_boxes(rng, 20, np.float64, degenerate_every=5), edge_case_boxes(np.float64)])
    np.testing.assert_allclose(fn(a, b, offset=offset), ref.pairwise(pair, a, b, offset=offset), rtol=0, atol=1e-12)


def test_iou_edge_values():
    e = edge_case_boxes(np.float64)
    iou = box_iou(e, e)
    assert iou[0, 1] == 1.0  # identical
    assert iou[0, 2] == 0.0  # disjoint
    assert iou[0, 3] == 0.0 and iou[0, 4] == 0.0  # touching
    assert iou[0, 5] == pytest.approx(36 / 100)  # nested: area ratio
    assert iou[6, 8] == 0.0  # two identical points: 0, not NaN
    np.testing.assert_allclose(generalized_box_iou(e[:1], e[2:3]), [[(100 + 100) / 900 - 1]])


def test_legacy_offset_widths():
    a = np.array([[0, 0, 9, 9]], dtype=np.float64)  # 10x10 pixels in the +1 convention
    b = np.array([[5, 0, 14, 9]], dtype=np.float64)
    assert box_iou(a, b, offset=1)[0, 0] == pytest.approx(50 / 150)
    assert box_iou(a, b)[0, 0] == pytest.approx(36 / 126)


def test_out_buffer_is_written_and_returned():
    rng = np.random.default_rng(3)
    a = random_boxes(rng, 30, np.float32)
    b = random_boxes(rng, 20, np.float32)
    for fn in (box_iou, generalized_box_iou, distance_box_iou, complete_box_iou):
        buf = np.full((30, 20), -7.0, dtype=np.float32)
        res = fn(a, b, out=buf)
        assert res is buf
        np.testing.assert_array_equal(buf, fn(a, b))


@pytest.mark.parametrize(
    "out,match",
    [
        (np.empty((3, 4), np.float32), r"out: expected shape \(3, 2\)"),
        (np.empty((3, 2), np.float64), "out: expected dtype float32"),
        (np.empty((2, 3), np.float32).T, "C-contiguous"),
        ([[0.0, 0.0]] * 3, "numpy.ndarray"),
    ],
)
def test_out_buffer_is_checked(out, match):
    a = np.zeros((3, 4), np.float32)
    b = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=match):
        box_iou(a, b, out=out)


def test_dtypes():
    a32 = np.array([[0, 0, 2, 2]], np.float32)
    a64 = a32.astype(np.float64)
    assert box_iou(a32, a32).dtype == np.float32
    assert box_iou(a64, a64).dtype == np.float64
    assert box_iou(a32, a64).dtype == np.float64
    ints = np.array([[0, 0, 2, 2]], np.int32)
    assert box_iou(ints, ints).dtype == np.float64
    assert box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3]])[0, 0] == pytest.approx(1 / 7)


@pytest.mark.parametrize("fn", [p[0] for p in PAIRWISE], ids=PAIRWISE_IDS)
def test_empty_inputs(fn):
    z = np.zeros((0, 4), np.float32)
    b = np.ones((5, 4), np.float32)
    assert fn(z, b).shape == (0, 5)
    assert fn(b, z).shape == (5, 0)
    assert fn(z, z).shape == (0, 0)
    assert fn(z, b).dtype == np.float32


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.zeros((3, 5)), r"boxes1: expected shape \(N, 4\), got \(3, 5\)"),
        (np.zeros(4), r"expected shape \(N, 4\), got \(4,\)"),
        (np.zeros((2, 2, 4)), r"expected shape \(N, 4\)"),
        (np.array([[0, 0, 1, np.nan]]), "boxes1: 1 non-finite value"),
        (np.array([[0, 0, np.inf, 1]]), "non-finite"),
        (np.array([[5, 0, 1, 1]]), "boxes1: row 0 has x2 < x1"),
        (np.array([[0, 0, 1, 1], [0, 5, 1, 1]]), "row 1 has y2 < y1"),
        (np.array([["a", "b", "c", "d"]]), "real numeric dtype"),
        (np.array([[1 + 1j, 0, 1, 1]]), "real numeric dtype"),
        ("boxes", "expected a numeric array"),
    ],
)
def test_bad_boxes_are_named(bad, match):
    good = np.zeros((1, 4))
    for fn in (box_iou, generalized_box_iou, distance_box_iou, complete_box_iou):
        with pytest.raises(ValueError, match=match):
            fn(bad, good)
    with pytest.raises(ValueError, match=match.replace("boxes1", "boxes2")):
        box_iou(good, bad)


def test_bad_options():
    a = np.zeros((1, 4))
    with pytest.raises(ValueError, match="offset"):
        box_iou(a, a, offset=2)
    with pytest.raises(ValueError, match="device"):
        box_iou(a, a, device="tpu")
    with pytest.raises(ValueError, match="eps"):
        distance_box_iou(a, a, eps=-1)


# ---------------------------------------------------------------- properties

finite_coord = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def box_sets(draw, max_n=12):
    n = draw(st.integers(0, max_n))
    xy = draw(arrays(np.float64, (n, 2), elements=finite_coord))
    wh = draw(arrays(np.float64, (n, 2), elements=st.floats(0, 500, width=64)))
    return np.hstack([xy, xy + wh])


@settings(max_examples=60, deadline=None)
@given(box_sets(), box_sets())
def test_iou_properties(a, b):
    iou = box_iou(a, b)
    assert iou.shape == (len(a), len(b))
    assert ((iou >= 0) & (iou <= 1)).all()
    np.testing.assert_allclose(iou, box_iou(b, a).T, rtol=0, atol=1e-15)
    giou = generalized_box_iou(a, b)
    assert ((giou >= -1 - 1e-12) & (giou <= iou + 1e-12)).all()


@settings(max_examples=60, deadline=None)
@given(box_sets())
def test_iou_is_one_on_identical_boxes(a):
    area = box_area(a)
    diag = np.diag(box_iou(a, a))
    np.testing.assert_allclose(diag[area > 0], 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.diag(distance_box_iou(a, a))[area > 0], 1.0, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(box_sets(), st.sampled_from(["xyxy", "xywh", "cxcywh"]), st.sampled_from(["xyxy", "xywh", "cxcywh"]))
def test_convert_round_trip(a, f1, f2):
    there = box_convert(box_convert(a, "xyxy", f1), f1, f2)
    back = box_convert(there, f2, "xyxy")
    np.testing.assert_allclose(back, a, rtol=1e-12, atol=1e-9)


# ---------------------------------------------------------------- convert / area / clip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("in_fmt", ["xyxy", "xywh", "cxcywh"])
@pytest.mark.parametrize("out_fmt", ["xyxy", "xywh", "cxcywh"])
def test_convert_matches_torchvision(in_fmt, out_fmt, dtype):
    rng = np.random.default_rng(4)
    boxes = box_convert(random_boxes(rng, 50, dtype, degenerate_every=4), "xyxy", in_fmt)
    got = box_convert(boxes, in_fmt, out_fmt)
    want = tvops.box_convert(torch.from_numpy(boxes), in_fmt, out_fmt).numpy()
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-5)
    assert got is not boxes


def test_convert_checks_format_and_extent():
    with pytest.raises(ValueError, match="in_fmt"):
        box_convert(np.zeros((1, 4)), "xyhw", "xyxy")
    with pytest.raises(ValueError, match="negative width"):
        box_convert(np.array([[0, 0, -1, 2]]), "xywh", "xyxy")
    with pytest.raises(ValueError, match="negative height"):
        box_convert(np.array([[0, 0, 1, -2]]), "cxcywh", "xyxy")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_area_matches_torchvision(dtype):
    rng = np.random.default_rng(5)
    boxes = random_boxes(rng, 40, dtype, degenerate_every=3)
    np.testing.assert_array_equal(box_area(boxes), tvops.box_area(torch.from_numpy(boxes)).numpy())
    np.testing.assert_allclose(box_area(box_convert(boxes, "xyxy", "xywh"), "xywh"), box_area(boxes), rtol=1e-5)
    np.testing.assert_allclose(
        box_area(boxes, offset=1), (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1), rtol=1e-6
    )


def test_clip_matches_torchvision():
    rng = np.random.default_rng(6)
    xy = rng.uniform(-50, 150, (80, 2))
    boxes = np.hstack([xy, xy + rng.uniform(0, 80, (80, 2))]).astype(np.float32)
    got = clip_boxes(boxes, (90, 120))
    want = tvops.clip_boxes_to_image(torch.from_numpy(boxes), (90, 120)).numpy()
    np.testing.assert_array_equal(got, want)
    legacy = clip_boxes(boxes, (90, 120), offset=1)
    assert legacy[:, 0::2].max() <= 119 and legacy[:, 1::2].max() <= 89
    with pytest.raises(ValueError, match="image_size"):
        clip_boxes(boxes, 90)
    with pytest.raises(ValueError, match="height"):
        clip_boxes(boxes, (-1, 10))


@pytest.mark.parametrize("fn,peer,_", PAIRWISE, ids=PAIRWISE_IDS)
def test_parallel_and_serial_kernels_agree(fn, peer, _, monkeypatch):
    from detbench.boxes import _overlap_kernels as kernels

    rng = np.random.default_rng(8)
    a = random_boxes(rng, 70, np.float32, degenerate_every=9)
    b = random_boxes(rng, 90, np.float32, degenerate_every=7)
    serial = fn(a, b)
    monkeypatch.setattr(kernels, "PARALLEL_MIN_ELEMENTS", 0)
    parallel = fn(a, b)
    np.testing.assert_array_equal(parallel, serial)
    want = peer(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    finite = np.isfinite(want)
    np.testing.assert_allclose(parallel[finite], want[finite], rtol=0, atol=1e-6)


# ---------------------------------------------------------------- issue 19: dtypes, scales, aliasing

KINDS = {box_iou: "iou", generalized_box_iou: "giou", distance_box_iou: "diou", complete_box_iou: "ciou"}


def exact_matrix(fn, a, b, **kw):
    kind = KINDS[fn]
    return np.array([[ref.exact_pair(x, y, kind, **kw) for y in b] for x in a], dtype=np.float64).reshape(
        len(a), len(b)
    )


@pytest.mark.parametrize("fn", list(KINDS), ids=[f.__name__ for f in KINDS])
@pytest.mark.parametrize("dtype", [">f4", np.float16])
def test_other_float32_dtypes_keep_float32(fn, dtype):
    rng = np.random.default_rng(19)
    a = random_boxes(rng, 7, np.float32).astype(dtype)
    b = random_boxes(rng, 5, np.float32).astype(dtype)
    got = fn(a, b)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, fn(a.astype(np.float32), b.astype(np.float32)))
    mixed = fn(a, b.astype(np.float64))  # float64 on either side still gives float64
    assert mixed.dtype == np.float64


@pytest.mark.parametrize("fn", list(KINDS), ids=[f.__name__ for f in KINDS])
@pytest.mark.parametrize("scale", [1e20, 1e25, 1e30, 1e-30, 1e-38])
def test_float32_boxes_far_from_unit_scale(fn, scale):
    """Areas of such boxes overflow (or underflow) float32: computed in float64, never inf/NaN or out of range."""
    base = edge_case_boxes(np.float64)
    a = (base * scale).astype(np.float32)
    got = fn(a, a)
    assert got.dtype == np.float32
    assert np.isfinite(got).all()
    low = {box_iou: 0.0, generalized_box_iou: -1.0, distance_box_iou: -1.0, complete_box_iou: -1.5}[fn]
    assert ((got >= low) & (got <= 1.0)).all()
    np.testing.assert_allclose(
        got, exact_matrix(fn, a, a, **({} if fn in (box_iou, generalized_box_iou) else {})), rtol=0, atol=2e-6
    )
    if fn is box_iou:
        area = box_area(a.astype(np.float64))
        np.testing.assert_array_equal(np.diag(got)[area > 0], 1.0)  # identical boxes: IoU 1, never 0


@pytest.mark.parametrize("fn", list(KINDS), ids=[f.__name__ for f in KINDS])
@pytest.mark.parametrize("scale", [1e-200, 1e-300, 1e160, 1e300])
def test_float64_boxes_far_from_unit_scale(fn, scale):
    a = edge_case_boxes(np.float64) * scale
    got = fn(a, a)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, exact_matrix(fn, a, a), rtol=0, atol=1e-12)


def test_float64_coordinates_beyond_the_extent_limit_are_refused():
    a = np.array([[-1e308, 0.0, 1e308, 1.0]])
    with pytest.raises(ValueError, match="boxes1: coordinate magnitude"):
        box_iou(a, np.array([[0.0, 0.0, 1.0, 1.0]]))


@pytest.mark.parametrize("fn", list(KINDS), ids=[f.__name__ for f in KINDS])
def test_out_aliasing_an_input_is_refused(fn):
    a = np.array([[0, 0, 2, 2], [1, 1, 3, 3], [0, 0, 1, 1], [2, 2, 4, 4]], dtype=np.float64)
    b = a.copy()
    before = a.copy()
    with pytest.raises(ValueError, match="out: shares memory with boxes1"):
        fn(a, b, out=a)
    with pytest.raises(ValueError, match="out: shares memory with boxes2"):
        fn(b[:, :], a, out=a.reshape(4, 4))
    np.testing.assert_array_equal(a, before)


@pytest.mark.parametrize("fn", [distance_box_iou, complete_box_iou])
def test_eps_zero_gives_no_nan(fn):
    a = edge_case_boxes(np.float64)
    got = fn(a, a, eps=0)
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, exact_matrix(fn, a, a, eps=0.0), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="eps"):
        fn(a.astype(np.float32), a.astype(np.float32), eps=1e300)  # not a float32


@pytest.mark.parametrize("offset", [np.array([0, 1]), True, "1", 0.5])
def test_offset_rule(offset):
    a = np.zeros((1, 4))
    with pytest.raises(ValueError, match="offset: expected 0 or 1"):
        box_iou(a, a, offset=offset)
    with pytest.raises(ValueError, match="offset: expected 0 or 1"):
        box_area(a, offset=offset)


# one property per family: random dtypes, byte orders, layouts and scales against the exact reference
BOX_DTYPES = ["<f4", ">f4", "<f8", ">f8", "<f2", "<i4"]


def _layout(arr, how):
    if how == "fortran":
        return np.asfortranarray(arr)
    if how == "strided":
        big = np.repeat(arr, 2, axis=0)
        return big[::2]
    return arr


@settings(max_examples=150, deadline=None)
@given(
    box_sets(max_n=5),
    box_sets(max_n=5),
    st.sampled_from(BOX_DTYPES),
    st.sampled_from(BOX_DTYPES),
    st.sampled_from(["c", "fortran", "strided"]),
    st.one_of(st.sampled_from([-45, -38, -30, -20, 19, 20, 25, 30, 38]), st.integers(-40, 40)),
    st.sampled_from(list(KINDS)),
    st.sampled_from([0, 1]),
)
def test_overlaps_property_any_dtype_layout_scale(a, b, da, db, layout, exp, fn, offset):
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        a = _layout((a * 10.0**exp).astype(da), layout)
        b = (b * 10.0**exp).astype(db)
    try:
        got = fn(a, b, offset=offset)
    except ValueError as err:
        assert str(err).split(":")[0] in ("boxes1", "boxes2")
        return
    native = [np.asarray(x, dtype=x.dtype.newbyteorder("=")) for x in (a, b)]
    want_dtype = np.float32 if all(x.dtype.kind == "f" and x.dtype.itemsize <= 4 for x in native) else np.float64
    assert got.dtype == want_dtype
    want = exact_matrix(fn, native[0].astype(np.float64), native[1].astype(np.float64), offset=offset)
    atol = 2e-6 if want_dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)
    low = {box_iou: 0.0, generalized_box_iou: -1.0, distance_box_iou: -1.0, complete_box_iou: -1.5}[fn]
    assert ((got >= low) & (got <= 1)).all()  # CIoU subtracts up to v**2 / (1 + v) <= 1/2 from DIoU


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hull_of_degenerate_boxes_that_underflows(dtype):
    """Two zero-width lines (or points) a hair apart: their hull's area underflows although no box extent
    does; GIoU is -1 there, not 0."""
    tiny = float(np.finfo(dtype).smallest_subnormal)
    a = np.array([[0.0, 0.0, 0.0, 1e-18], [0.0, 0.0, 0.0, 0.0]], dtype=dtype)
    b = np.array([[tiny, 0.0, tiny, 1e-18], [tiny, tiny, tiny, tiny]], dtype=dtype)
    np.testing.assert_array_equal(np.diag(generalized_box_iou(a, b)), [-1.0, -1.0])
    # DIoU with eps=0: the centres are the hull's corners for the points (-1), nearly nothing for the lines
    np.testing.assert_allclose(np.diag(distance_box_iou(a, b, eps=0)), [0.0, -1.0], rtol=0, atol=1e-30)
    np.testing.assert_array_equal(box_iou(a, b), 0.0)
