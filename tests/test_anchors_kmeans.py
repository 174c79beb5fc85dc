"""Tests for detbench.anchors.kmeans (YOLOv2 k-means anchors)."""

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou as tv_box_iou

from detbench.anchors.kmeans import anchor_elbow, kmeans_anchors, mean_best_iou, shape_iou

# ---------------------------------------------------------------------------
# plain reference written from the rule (YOLOv2 "Dimension Clusters" + k-means++)
# ---------------------------------------------------------------------------


def ref_iou(wh, c):
    inter = np.minimum(wh[:, None, 0], c[None, :, 0]) * np.minimum(wh[:, None, 1], c[None, :, 1])
    return inter / (wh[:, None, 0] * wh[:, None, 1] + c[None, :, 0] * c[None, :, 1] - inter)


def ref_kmeans(wh, k, seed, max_iter=300):
    rng = np.random.default_rng(seed)
    n = len(wh)
    cent = [wh[int(rng.integers(n))]]
    for _ in range(1, k):
        d2 = (1 - ref_iou(wh, np.array(cent)).max(1)) ** 2
        j = int(rng.integers(n)) if d2.sum() == 0 else int(rng.choice(n, p=d2 / d2.sum()))
        cent.append(wh[j])
    cent = np.array(cent, dtype=float)
    prev = None
    for _ in range(max_iter):
        iou = ref_iou(wh, cent)
        assign = iou.argmax(1)
        if prev is not None and (assign == prev).all():
            break
        prev = assign
        best = iou.max(1)
        for j in range(k):
            m = wh[assign == j]
            if len(m):
                cent[j] = m.mean(0)
            else:
                cent[j] = wh[best.argmin()]
                best[best.argmin()] = 1.0
    order = np.lexsort((cent[:, 0], cent[:, 0] * cent[:, 1]))
    cent = cent[order]
    return cent, ref_iou(wh, cent).max(1).mean()


def dataset_shapes(rng, n=3000):
    """Box shapes from a mix of object kinds (pedestrians, cars, small things, large scenes)."""
    kinds = [  # (median w, median h, log-sd, weight)
        (25, 70, 0.35, 0.3),
        (90, 45, 0.35, 0.3),
        (12, 12, 0.4, 0.25),
        (220, 180, 0.25, 0.15),
    ]
    p = np.array([k[3] for k in kinds])
    which = rng.choice(len(kinds), n, p=p / p.sum())
    med = np.array([[k[0], k[1]] for k in kinds])[which]
    sd = np.array([k[2] for k in kinds])[which, None]
    return med * np.exp(rng.normal(0, 1, (n, 2)) * sd)


def seed_hand_picked_anchors():
    """The seed's Faster R-CNN hand-picked set (ratios 0.5/1/2 x scales 8/16/32 of a 16 px base), as (w, h)."""
    out = []
    for r in (0.5, 1, 2):
        ws = np.round(np.sqrt(256 / r))
        hs = np.round(ws * r)
        for s in (8, 16, 32):
            out.append((ws * s, hs * s))
    return np.array(out, dtype=float)


# ---------------------------------------------------------------------------


def test_shape_iou_vs_torchvision_centred_boxes(rng):
    wh = rng.uniform(1, 100, (50, 2))
    c = rng.uniform(1, 100, (7, 2))
    to_boxes = lambda s: torch.from_numpy(np.concatenate([-s / 2, s / 2], 1))  # noqa: E731
    want = tv_box_iou(to_boxes(wh), to_boxes(c)).numpy()
    np.testing.assert_allclose(shape_iou(wh, c), want, rtol=1e-12)
    np.testing.assert_allclose(shape_iou(wh, c), ref_iou(wh, c), rtol=1e-12)
    assert mean_best_iou(wh, c) == pytest.approx(want.max(1).mean(), rel=1e-12)


@pytest.mark.parametrize("k,seed", [(1, 0), (5, 0), (5, 7), (9, 3)])
def test_kmeans_matches_reference(rng, k, seed):
    wh = dataset_shapes(rng, 800)
    got, v = kmeans_anchors(wh, k, seed)
    want, wv = ref_kmeans(wh, k, seed)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert v == pytest.approx(wv, rel=1e-12)
    assert v == pytest.approx(mean_best_iou(wh, got), rel=1e-12)


def test_kmeans_deterministic_and_seed_dependent(rng):
    wh = dataset_shapes(rng, 1000)
    a1, v1 = kmeans_anchors(wh, 6, seed=11)
    a2, v2 = kmeans_anchors(wh, 6, seed=11)
    np.testing.assert_array_equal(a1, a2)
    assert v1 == v2
    a3, _ = kmeans_anchors(wh, 6, seed=12)
    assert a3.shape == (6, 2)
    assert np.all(np.diff(a1[:, 0] * a1[:, 1]) >= 0)  # sorted by area


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kmeans_beats_hand_picked(seed):
    rng = np.random.default_rng(100 + seed)
    wh = dataset_shapes(rng)
    hand = seed_hand_picked_anchors()
    anchors, v = kmeans_anchors(wh, len(hand), seed=seed)
    hand_iou = mean_best_iou(wh, hand)
    assert v > hand_iou + 0.1, (v, hand_iou)
    # and a hand-picked set of 5 "typical" shapes vs k = 5 (YOLOv2's count)
    hand5 = np.array([[16, 16], [32, 64], [64, 32], [96, 96], [200, 200]], dtype=float)
    _, v5 = kmeans_anchors(wh, 5, seed=seed)
    assert v5 > mean_best_iou(wh, hand5)


def test_kmeans_exact_clusters_and_n_init():
    shapes = np.array([[10.0, 30.0], [50.0, 20.0], [80.0, 80.0]])
    wh = np.repeat(shapes, 20, axis=0)
    anchors, v = kmeans_anchors(wh, 3, seed=0, n_init=3)
    np.testing.assert_allclose(anchors, shapes[np.argsort(shapes.prod(1))])
    assert v == pytest.approx(1.0)
    # k = N with distinct shapes: every shape is its own anchor
    a, v = kmeans_anchors(shapes, 3, seed=5)
    assert v == pytest.approx(1.0)
    # more anchors than distinct shapes: duplicates allowed, still IoU 1
    a, v = kmeans_anchors(np.repeat(shapes[:1], 5, 0), 3, seed=0)
    assert v == pytest.approx(1.0) and a.shape == (3, 2)


def test_kmeans_dtype_and_median():
    wh = dataset_shapes(np.random.default_rng(3), 500).astype(np.float32)
    a, v = kmeans_anchors(wh, 4, seed=1)
    assert a.dtype == np.float32 and isinstance(v, float)
    am, vm = kmeans_anchors(wh, 4, seed=1, update="median")
    assert am.shape == (4, 2) and 0 < vm <= 1


def test_elbow():
    wh = dataset_shapes(np.random.default_rng(4), 1500)
    res = anchor_elbow(wh, range(1, 9), seed=0)
    np.testing.assert_array_equal(res.ks, np.arange(1, 9))
    assert len(res.anchors) == 8 and res.anchors[4].shape == (5, 2)
    assert res.mean_iou[-1] > res.mean_iou[0] + 0.2
    assert np.all(np.diff(res.mean_iou) > -0.02)  # (nearly) increasing in k
    assert 2 <= res.knee <= 6
    # the knee is the point farthest above the chord (Kneedle), recomputed here
    x = (res.ks - 1) / 7
    y = (res.mean_iou - res.mean_iou.min()) / np.ptp(res.mean_iou)
    assert res.knee == res.ks[np.argmax(y - (y[0] + (y[-1] - y[0]) * x))]
    assert anchor_elbow(wh, [3], seed=0).knee == 3


def test_bad_input():
    with pytest.raises(ValueError, match="wh: expected shape"):
        kmeans_anchors(np.ones((5, 3)), 2)
    with pytest.raises(ValueError, match="must be > 0"):
        kmeans_anchors(np.array([[1.0, 0.0], [2, 2]]), 1)
    with pytest.raises(ValueError, match="k: must be <="):
        kmeans_anchors(np.ones((3, 2)), 4)
    with pytest.raises(ValueError, match="k: must be >= 1"):
        kmeans_anchors(np.ones((3, 2)), 0)
    with pytest.raises(ValueError, match="non-finite"):
        kmeans_anchors(np.array([[1.0, np.nan]]), 1)
    with pytest.raises(ValueError, match="update"):
        kmeans_anchors(np.ones((3, 2)), 1, update="mode")
    with pytest.raises(ValueError, match="ks: must be strictly increasing"):
        anchor_elbow(np.ones((5, 2)), [3, 2])
    with pytest.raises(ValueError, match="ks: 9 exceeds"):
        anchor_elbow(np.ones((5, 2)), [1, 9])
    with pytest.raises(ValueError, match="anchors"):
        mean_best_iou(np.ones((5, 2)), np.ones((0, 2)))
    assert mean_best_iou(np.ones((0, 2)), np.ones((1, 2))) == 0.0


# ---------------------------------------------------------------------------
# issue 19: dtypes and scales
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [">f4", np.float16])
def test_kmeans_keeps_float32(dtype):
    wh = np.random.default_rng(3).uniform(2, 100, (60, 2))
    got, v = kmeans_anchors(wh.astype(dtype), 3)
    assert got.dtype == np.float32
    want, v2 = kmeans_anchors(wh.astype(dtype).astype(np.float32), 3)
    np.testing.assert_array_equal(got, want)
    assert v == v2


@pytest.mark.parametrize("exp", [-1000, -600, 600, 1000])
def test_kmeans_far_from_unit_scale_is_the_scaled_result(exp):
    """Centred IoU is scale-free: shapes scaled by 2**exp give the same anchors scaled by 2**exp, exactly."""
    wh = np.random.default_rng(4).uniform(2, 100, (80, 2))
    want, v = kmeans_anchors(wh, 4, n_init=2)
    got, v2 = kmeans_anchors(np.ldexp(wh, exp), 4, n_init=2)
    np.testing.assert_array_equal(got, np.ldexp(want, exp))
    assert v2 == v
    np.testing.assert_array_equal(shape_iou(np.ldexp(wh, exp), np.ldexp(want, exp)), shape_iou(wh, want))
    assert mean_best_iou(np.ldexp(wh, exp), np.ldexp(want, exp)) == mean_best_iou(wh, want)


def test_kmeans_1e300_sizes_and_impossible_spans():
    wh = np.random.default_rng(5).uniform(2, 100, (40, 2))
    got, v = kmeans_anchors(wh * 1e300, 3)
    assert np.isfinite(got).all() and 0 < v <= 1
    with pytest.raises(ValueError, match="wh: widths and heights span"):
        kmeans_anchors(np.array([[1e-300, 1e-300], [1e300, 1e300], [1.0, 1.0]]), 2)
    with pytest.raises(ValueError, match="wh, anchors: widths and heights span"):
        shape_iou([[1e-300, 1e-300]], [[1e300, 1e300]])
