"""The RPN proposal layer (detbench.proposals.rpn) against torchvision and a plain pipeline."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import AnchorGenerator, RegionProposalNetwork, concat_box_prediction_layers

from detbench.proposals import filter_proposals, rpn_proposals, rpn_proposals_from_maps
from tests.reference_proposals import iou


class _FixedHead(nn.Module):
    def __init__(self, logits, deltas):
        super().__init__()
        self.logits, self.deltas = logits, deltas

    def forward(self, x):
        return self.logits, self.deltas


def _tv_rpn(head, sizes, ratios, pre, post, nms_thresh, score_thresh):
    ag = AnchorGenerator(sizes=sizes, aspect_ratios=ratios)
    rpn = RegionProposalNetwork(
        ag,
        head,
        0.7,
        0.3,
        256,
        0.5,
        dict(training=pre, testing=pre),
        dict(training=post, testing=post),
        nms_thresh,
        score_thresh,
    )
    return rpn.eval(), ag


def assert_same_proposals(b1, s1, b2, s2, post):
    """Same proposals up to the order of equal scores.

    torchvision orders the NMS survivors of several levels with an unstable sort, so boxes with equal
    (float32) scores may come in any order, and when ``post`` cuts through such a tie the boxes kept
    from it may differ. Scores must match in sequence; boxes as multisets, except the tie at the cut.
    """
    assert b1.shape == b2.shape and s1.shape == s2.shape
    np.testing.assert_allclose(s1, s2, rtol=1e-6)
    assert np.all(np.diff(s1) <= 0) and np.all(np.diff(s2) <= 0)
    keep1 = np.ones(len(s1), bool)
    keep2 = np.ones(len(s2), bool)
    if len(s1) == post and post > 0:
        keep1 = s1 > s1[-1] * (1 + 1e-6)
        keep2 = s2 > s2[-1] * (1 + 1e-6)
    r1, r2 = b1[keep1], b2[keep2]
    assert len(r1) == len(r2)
    r1 = r1[np.lexsort(r1.T[::-1])]
    r2 = r2[np.lexsort(r2.T[::-1])]
    np.testing.assert_allclose(r1, r2, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize(
    "pre,post,nms_thresh,score_thresh",
    [(1000, 1000, 0.7, 0.0), (300, 100, 0.5, 0.0), (50, 20, 0.7, 0.55), (5000, 2000, 0.3, 0.0)],
)
def test_rpn_matches_torchvision_forward(rng, pre, post, nms_thresh, score_thresh):
    H, W = 256, 320
    image_sizes = [(250, 300), (256, 320)]
    levels = [(32, 40), (16, 20), (8, 10)]
    sizes, ratios = ((16, 32), (64,), (128, 256)), ((0.5, 1.0, 2.0),) * 3
    A = [len(s) * 3 for s in sizes]
    logits = [torch.from_numpy(rng.normal(0, 2, (2, a, h, w)).astype(np.float32)) for a, (h, w) in zip(A, levels)]
    deltas = [torch.from_numpy(rng.normal(0, 0.4, (2, 4 * a, h, w)).astype(np.float32)) for a, (h, w) in zip(A, levels)]
    rpn, ag = _tv_rpn(_FixedHead(logits, deltas), sizes, ratios, pre, post, nms_thresh, score_thresh)
    feats = {str(i): torch.zeros(2, 1, h, w) for i, (h, w) in enumerate(levels)}
    images = ImageList(torch.zeros(2, 3, H, W), image_sizes)
    with torch.no_grad():
        tv_boxes, _ = rpn(images, feats)
        # the same pipeline step by step, to get torchvision's scores too
        anchors = rpn.anchor_generator(images, list(feats.values()))
        obj, pred = concat_box_prediction_layers(logits, deltas)
        props = rpn.box_coder.decode(pred, anchors).view(2, -1, 4)
        counts = [a * h * w for a, (h, w) in zip(A, levels)]
        fb, fs = rpn.filter_proposals(props, obj, image_sizes, counts)
    cell = [c.numpy() for c in ag.cell_anchors]
    strides = [(H // h, W // w) for h, w in levels]
    for i in range(2):
        res = rpn_proposals_from_maps(
            [lg[i].numpy() for lg in logits],
            [d[i].numpy() for d in deltas],
            cell,
            strides,
            image_sizes[i],
            pre_nms_top_n=pre,
            post_nms_top_n=post,
            nms_thresh=nms_thresh,
            score_thresh=score_thresh,
        )
        assert res.boxes.dtype == np.float32 and len(res.boxes) <= post
        assert_same_proposals(res.boxes, res.scores, fb[i].numpy(), fs[i].numpy(), post)
        assert_same_proposals(res.boxes, res.scores, tv_boxes[i].numpy(), fs[i].numpy(), post)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rpn_from_maps_equals_flat_pipeline(rng, dtype):
    from detbench.anchors import grid_anchors

    levels, strides = [(12, 16), (6, 8)], [8, (16, 16)]
    cells = [np.array([[-8, -4, 8, 4], [-6, -6, 6, 6]], dtype), np.array([[-20, -10, 20, 10]], dtype)]
    o = [rng.normal(size=(c.shape[0], h, w)).astype(dtype) for c, (h, w) in zip(cells, levels)]
    d = [rng.normal(0, 0.5, (4 * c.shape[0], h, w)).astype(dtype) for c, (h, w) in zip(cells, levels)]
    kw = dict(pre_nms_top_n=60, post_nms_top_n=50, nms_thresh=0.6)
    got = rpn_proposals_from_maps(o, d, cells, strides, (96, 128), **kw)
    anchors = np.concatenate([grid_anchors(c, lv, s) for c, lv, s in zip(cells, levels, strides)])
    flat_o = np.concatenate([m.transpose(1, 2, 0).reshape(-1) for m in o])
    flat_d = np.concatenate([m.reshape(-1, 4, m.shape[1], m.shape[2]).transpose(2, 3, 0, 1).reshape(-1, 4) for m in d])
    counts = [h * w * c.shape[0] for c, (h, w) in zip(cells, levels)]
    want = rpn_proposals(anchors, flat_o, flat_d, (96, 128), num_anchors_per_level=counts, **kw)
    np.testing.assert_array_equal(got.boxes, want.boxes)
    np.testing.assert_array_equal(got.scores, want.scores)
    np.testing.assert_array_equal(got.indices, want.indices)
    assert got.boxes.dtype == dtype and len(got.boxes) == 50


def test_filter_proposals_matches_torchvision(rng):
    n_levels = [600, 300, 100]
    N = sum(n_levels)
    props = rng.uniform(-20, 220, (2, N, 2)).astype(np.float32)
    wh = rng.uniform(0, 60, (2, N, 2)).astype(np.float32)
    wh[:, :20] = 0.0005  # tiny boxes are dropped
    proposals = np.concatenate([props, props + wh], -1)
    obj = rng.normal(0, 3, (2, N)).astype(np.float32)
    head = _FixedHead(None, None)
    rpn, _ = _tv_rpn(head, ((32,),), ((1.0,),), 250, 120, 0.6, 0.2)
    sizes = [(200, 180), (210, 210)]
    tv_b, tv_s = rpn.filter_proposals(torch.from_numpy(proposals), torch.from_numpy(obj), sizes, n_levels)
    for i in range(2):
        res = filter_proposals(
            proposals[i],
            obj[i],
            sizes[i],
            num_anchors_per_level=n_levels,
            pre_nms_top_n=250,
            post_nms_top_n=120,
            nms_thresh=0.6,
            score_thresh=0.2,
        )
        assert_same_proposals(res.boxes, res.scores, tv_b[i].numpy(), tv_s[i].numpy(), 120)
        # indices point at the proposals that were kept (before clipping)
        clipped = proposals[i][res.indices].copy()
        clipped[:, 0::2] = np.clip(clipped[:, 0::2], 0, sizes[i][1])
        clipped[:, 1::2] = np.clip(clipped[:, 1::2], 0, sizes[i][0])
        np.testing.assert_array_equal(clipped, res.boxes)


def test_rpn_reference_pipeline(rng):
    """rpn_proposals against a plain NumPy pipeline written from the steps (float64, one level)."""
    from detbench.anchors import decode_boxes

    anchors = np.concatenate([rng.uniform(0, 100, (400, 2)), rng.uniform(0, 100, (400, 2)) + 120], 1) / 2
    anchors[:, 2:] += 5
    obj = rng.normal(size=400)
    deltas = rng.normal(0, 0.3, (400, 4))
    res = rpn_proposals(
        anchors, obj, deltas, (90, 100), pre_nms_top_n=150, post_nms_top_n=40, nms_thresh=0.5, min_size=3.0
    )
    top = np.argsort(-obj, kind="stable")[:150]
    b = decode_boxes(anchors[top], deltas[top])
    b[:, 0::2] = b[:, 0::2].clip(0, 100)
    b[:, 1::2] = b[:, 1::2].clip(0, 90)
    s = 1 / (1 + np.exp(-obj[top]))
    ok = ((b[:, 2] - b[:, 0]) >= 3) & ((b[:, 3] - b[:, 1]) >= 3)
    b, s, top = b[ok], s[ok], top[ok]
    keep = []
    for i in np.argsort(-s, kind="stable"):
        if all(iou(b[i], b[j]) <= 0.5 for j in keep):
            keep.append(i)
    keep = keep[:40]
    np.testing.assert_allclose(res.boxes, b[keep], rtol=1e-12)
    np.testing.assert_allclose(res.scores, s[keep], rtol=1e-12)
    np.testing.assert_array_equal(res.indices, top[keep])


def test_rpn_edge_cases_and_bad_input(rng):
    empty = rpn_proposals(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 4)), (10, 10))
    assert empty.boxes.shape == (0, 4) and empty.scores.shape == (0,) and empty.indices.shape == (0,)
    a = np.array([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    # everything outside the image -> clipped to zero size -> dropped
    out = rpn_proposals(a + 100, np.zeros(2), np.zeros((2, 4)), (50, 50))
    assert out.boxes.shape == (0, 4)
    # ties in objectness: lower index first
    res = rpn_proposals(a, np.zeros(2), np.zeros((2, 4)), (50, 50), pre_nms_top_n=1)
    np.testing.assert_array_equal(res.indices, [0])
    with pytest.raises(ValueError, match="num_anchors_per_level"):
        rpn_proposals(a, np.zeros(2), np.zeros((2, 4)), (50, 50), num_anchors_per_level=[1, 2])
    with pytest.raises(ValueError, match="deltas"):
        rpn_proposals(a, np.zeros(2), np.zeros((3, 4)), (50, 50))
    with pytest.raises(ValueError, match="objectness"):
        rpn_proposals(a, np.zeros(3), np.zeros((2, 4)), (50, 50))
    with pytest.raises(ValueError, match="nms_thresh"):
        rpn_proposals(a, np.zeros(2), np.zeros((2, 4)), (50, 50), nms_thresh=1.5)
    with pytest.raises(ValueError, match="image_size"):
        rpn_proposals(a, np.zeros(2), np.zeros((2, 4)), 50)
    with pytest.raises(ValueError, match="delta_maps"):
        rpn_proposals_from_maps([np.zeros((3, 2, 2))], [np.zeros((8, 2, 2))], [np.zeros((3, 4))], [16], (32, 32))
    with pytest.raises(ValueError, match="same non-zero number of levels"):
        rpn_proposals_from_maps([], [], [], [], (32, 32))


# ---------------------------------------------------------------------------
# issue 19: dtypes, flags, a property over odd inputs
# ---------------------------------------------------------------------------


def _native(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.astype(a.dtype.newbyteorder("=")))


def _random_proposals(rng, n=300):
    xy = rng.uniform(0, 90, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(1, 30, (n, 2))], 1), rng.normal(size=n)


@pytest.mark.parametrize("dtype", [">f4", "<f4", "<f2", ">f2"])
def test_float32_in_any_byte_order_and_float16_stay_float32(rng, dtype):
    p, obj = _random_proposals(rng)
    res = filter_proposals(p.astype(dtype), obj.astype(dtype), (100, 100), nms_thresh=0.5)
    want = filter_proposals(
        _native(p.astype(dtype)).astype(np.float32), _native(obj.astype(dtype)), (100, 100), nms_thresh=0.5
    )
    assert res.boxes.dtype == np.float32 and res.scores.dtype == np.float32
    np.testing.assert_array_equal(res.boxes, want.boxes)
    np.testing.assert_array_equal(res.indices, want.indices)
    a = p.copy()
    d = rng.normal(0, 0.1, (len(p), 4))
    res = rpn_proposals(a.astype(dtype), obj.astype(dtype), d.astype(dtype), (100, 100))
    assert res.boxes.dtype == np.float32 and res.scores.dtype == np.float32
    maps = rpn_proposals_from_maps(
        [obj[:12].reshape(3, 2, 2).astype(dtype)],
        [d[:12].reshape(12, 2, 2).astype(dtype)],
        [np.array([[-8, -8, 8, 8], [-16, -8, 16, 8], [-8, -16, 8, 16]], dtype=dtype)],
        [16],
        (32, 32),
    )
    assert maps.boxes.dtype == np.float32


@pytest.mark.parametrize("flag", ["no", None, 1, 0.0, np.array([True])])
def test_objectness_is_logit_must_be_a_bool(rng, flag):
    p, obj = _random_proposals(rng, 10)
    with pytest.raises(ValueError, match="objectness_is_logit: expected True or False"):
        filter_proposals(p, obj, (100, 100), objectness_is_logit=flag)
    with pytest.raises(ValueError, match="objectness_is_logit: expected True or False"):
        rpn_proposals(p, obj, np.zeros((10, 4)), (100, 100), objectness_is_logit=flag)
    with pytest.raises(ValueError, match="objectness_is_logit: expected True or False"):
        rpn_proposals_from_maps(
            [np.zeros((3, 2, 2))], [np.zeros((12, 2, 2))], [np.zeros((3, 4))], [16], (32, 32), objectness_is_logit=flag
        )
    probs = 1 / (1 + np.exp(-obj))
    a = filter_proposals(p, obj, (100, 100), objectness_is_logit=np.bool_(True))
    b = filter_proposals(p, probs, (100, 100), objectness_is_logit=False)
    np.testing.assert_array_equal(a.indices, b.indices)


@settings(max_examples=40, deadline=None)
@given(
    dtype=st.sampled_from(["<f4", ">f4", "<f2", ">f2", "<f8", ">f8", ">i4"]),
    obj_dtype=st.sampled_from(["<f4", ">f4", "<f8", ">f8", "<f2"]),
    layout=st.sampled_from(["c", "fortran", "strided"]),
    scale=st.sampled_from([1.0, 1e-30, 1e30, 1e300]),
    n=st.integers(0, 80),
    seed=st.integers(0, 2**16),
)
def test_property_filter_proposals_odd_inputs(dtype, obj_dtype, layout, scale, n, seed):
    """A named error, or exactly the result on the native-order copies (dtype by the written rule)."""
    rng = np.random.default_rng(seed)
    p, obj = _random_proposals(rng, n)
    with np.errstate(over="ignore", invalid="ignore"):
        p, obj = (p * scale).astype(dtype), obj.astype(obj_dtype)
    if layout == "fortran":
        p = np.asfortranarray(p)
    elif layout == "strided":
        p, obj = np.repeat(p, 2, axis=0)[::2], np.repeat(obj, 2)[::2]
    size = (100 * scale, 100 * scale) if scale < 1e300 else (100, 100)
    try:
        got = filter_proposals(p, obj, size, nms_thresh=0.5, pre_nms_top_n=50)
    except ValueError as exc:
        assert str(exc).split(":")[0] in ("proposals", "objectness"), exc
        with pytest.raises(ValueError, match="^(proposals|objectness)"):
            filter_proposals(_native(p), _native(obj), size, nms_thresh=0.5, pre_nms_top_n=50)
        return
    want = filter_proposals(_native(p), _native(obj), size, nms_thresh=0.5, pre_nms_top_n=50)
    expected = np.float64 if dtype in ("<f8", ">f8", ">i4") else np.float32
    assert got.boxes.dtype == expected and got.scores.dtype == expected
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(got.scores).all() and ((got.scores >= 0) & (got.scores <= 1)).all()
