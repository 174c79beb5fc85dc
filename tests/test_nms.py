"""Greedy NMS and its hard-decision variants: nms, batched_nms, diou_nms,
fast_nms, cluster_nms, matrix_nms.

Live parity against torchvision (distinct and tied scores), exact
comparison with the plain references in ``reference_nms.py``, hand-built
edge cases, hypothesis properties and bad-input errors.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st

from detbench.nms import batched_nms, cluster_nms, diou_nms, fast_nms, matrix_nms, nms
from tests import reference_nms as ref

# The package exports the function ``detbench.nms``, which shadows the package of the same name as an
# attribute; take the modules themselves from the import system.
nms_common = importlib.import_module("detbench.nms._common")

DTYPES = (np.float32, np.float64)


def random_boxes(rng, n, size=100.0, dtype=np.float64, integer=False, distinct=True):
    """Clusters of jittered boxes (sizes ~3-40 % of the image) and scores.

    ``distinct`` scores are a permutation (no ties); otherwise scores take a
    handful of values. ``integer`` rounds coordinates (exact IoUs, duplicates).
    """
    n_obj = max(1, n // 6)
    centre = rng.uniform(0, size, (n_obj, 2))
    wh = rng.uniform(0.03, 0.4, (n_obj, 2)) * size
    obj = rng.integers(0, n_obj, n)
    c = centre[obj] + rng.normal(0, 0.15, (n, 2)) * wh[obj]
    half = wh[obj] * np.exp(rng.normal(0, 0.2, (n, 2))) / 2
    boxes = np.concatenate([c - half, c + half], axis=1)
    if integer:
        boxes = np.round(boxes)
    if distinct:
        scores = (rng.permutation(n) + 1.0) / (n + 1.0)
    else:
        scores = rng.integers(0, 4, n) / 4.0
    return boxes.astype(dtype), scores.astype(dtype)


def tv_nms(boxes, scores, thr):
    return torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr).numpy()


# ---------------------------------------------------------------------------
# nms: live parity and references
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_nms_matches_torchvision_random(dtype):
    rng = np.random.default_rng(1)
    for trial in range(150):
        n = int(rng.integers(0, 260))
        boxes, scores = random_boxes(rng, n, size=rng.uniform(20, 500), dtype=dtype, integer=trial % 3 == 0)
        thr = float(rng.choice([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0, rng.uniform(0, 1)]))
        expected = tv_nms(boxes, scores, thr)
        for strategy in ("auto", "grid", "simple"):
            got = nms(boxes, scores, thr, strategy=strategy)
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got, expected, err_msg=f"trial {trial} {strategy}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, size", [(5000, 1000.0), (12000, 4000.0)])
def test_nms_grid_matches_simple_and_torchvision_at_scale(dtype, n, size):
    rng = np.random.default_rng(n)
    boxes, scores = random_boxes(rng, n, size=size, dtype=dtype)
    boxes *= dtype(0.15)  # boxes ~0.5-6 % of the image: many neighbours per cell
    boxes += dtype(size / 3)
    for thr in (0.5, 0.3):
        grid = nms(boxes, scores, thr, strategy="grid")
        np.testing.assert_array_equal(grid, nms(boxes, scores, thr, strategy="simple"))
        np.testing.assert_array_equal(grid, tv_nms(boxes, scores, thr))
        assert 0 < grid.size < n


@pytest.mark.parametrize("dtype", DTYPES)
def test_nms_matches_reference_all_options(dtype):
    rng = np.random.default_rng(2)
    for trial in range(60):
        n = int(rng.integers(0, 60))
        boxes, scores = random_boxes(rng, n, size=50.0, dtype=dtype, integer=trial % 2 == 0, distinct=trial % 4 != 0)
        thr = float(rng.choice([0.0, 0.25, 0.5, 1.0 / 3.0, 0.75]))
        inclusive = bool(trial % 2)
        offset = int(trial % 3 == 0)
        st_ = 0.3 if trial % 5 == 0 else None
        expected = ref.nms(boxes, scores, thr, inclusive, offset, st_)
        for strategy in ("grid", "simple"):
            got = nms(boxes, scores, thr, st_, inclusive=inclusive, offset=offset, strategy=strategy)
            np.testing.assert_array_equal(got, expected, err_msg=f"trial {trial} {strategy}")


def test_nms_iou_exactly_at_threshold():
    # IoU([0,0,1,1], [0,0,1,2]) = 1/2 exactly, in float32 and float64
    for dtype in DTYPES:
        boxes = np.array([[0, 0, 1, 1], [0, 0, 1, 2]], dtype=dtype)
        scores = np.array([0.9, 0.8], dtype=dtype)
        for strategy in ("grid", "simple"):
            assert nms(boxes, scores, 0.5, strategy=strategy).tolist() == [0, 1]  # not > 0.5
            assert nms(boxes, scores, 0.5, inclusive=True, strategy=strategy).tolist() == [0]  # >= 0.5
            assert nms(boxes, scores, np.nextafter(0.5, 0), strategy=strategy).tolist() == [0]  # just below
            assert nms(boxes, scores, np.nextafter(0.5, 1), inclusive=True, strategy=strategy).tolist() == [0, 1]
        np.testing.assert_array_equal(tv_nms(boxes, scores, 0.5), [0, 1])
        np.testing.assert_array_equal(tv_nms(boxes, scores, float(np.nextafter(0.5, 0))), [0])


def test_nms_offset_convention():
    # with +1 widths, [0,0,9,9] and [5,0,14,9] have IoU 50 / 150 = 1/3
    boxes = np.array([[0, 0, 9, 9], [5, 0, 14, 9]], dtype=np.float64)
    scores = np.array([0.9, 0.8])
    assert nms(boxes, scores, 0.3, offset=1).tolist() == [0]
    assert nms(boxes, scores, 0.34, offset=1).tolist() == [0, 1]
    assert nms(boxes, scores, 0.3).tolist() == [0, 1]  # 36 / 126 = 0.29 without offset
    # touching boxes do not overlap without offset, do with it
    touching = np.array([[0, 0, 10, 10], [10, 0, 20, 10]], dtype=np.float64)
    assert nms(touching, scores, 0.0).tolist() == [0, 1]
    assert nms(touching, scores, 0.0, offset=1).tolist() == [0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_nms_and_batched_nms_match_torchvision_with_ties(dtype):
    rng = np.random.default_rng(12)
    for trial in range(30):
        n = int(rng.choice([20, 300, 1000, 1500, 4000]))
        boxes, scores = random_boxes(rng, n, size=400.0, dtype=dtype, integer=trial % 2 == 0, distinct=False)
        labels = rng.integers(0, 5, n)
        tb, ts = torch.from_numpy(boxes), torch.from_numpy(scores)
        np.testing.assert_array_equal(nms(boxes, scores, 0.5), torchvision.ops.nms(tb, ts, 0.5).numpy())
        expected = torchvision.ops.batched_nms(tb, ts, torch.from_numpy(labels), 0.5).numpy()
        np.testing.assert_array_equal(batched_nms(boxes, scores, labels, 0.5), expected, err_msg=f"trial {trial}")


def test_torch_sort_replica_matches_torch_sort():
    from detbench.nms._torch_sort import torch_sort_desc

    rng = np.random.default_rng(13)
    for n in [*range(0, 40), 100, 257, 1000, 5000]:
        for kind in range(4):
            s = [rng.integers(0, 4, n), np.sort(rng.integers(0, 50, n)), np.arange(n) % 17, rng.random(n)][kind]
            s = np.ascontiguousarray(s, dtype=np.float32 if kind % 2 else np.float64)
            expected = torch.from_numpy(s.copy()).sort(descending=True)[1].numpy()
            v, ix = s.copy(), np.arange(n, dtype=np.int64)
            torch_sort_desc(v, ix)
            np.testing.assert_array_equal(ix, expected, err_msg=f"n={n} kind={kind}")


def test_nms_ties_are_stable_and_duplicates():
    boxes = np.array([[0, 0, 10, 10]] * 4 + [[50, 50, 60, 60]] * 2, dtype=np.float32)
    scores = np.array([0.5, 0.7, 0.7, 0.7, 0.7, 0.2], dtype=np.float32)
    # equal scores: lowest index first; duplicates suppress each other
    assert nms(boxes, scores, 0.5).tolist() == [1, 4]
    assert nms(boxes, scores, 1.0).tolist() == [1, 2, 3, 4, 0, 5]  # IoU 1 is not > 1
    assert nms(boxes, scores, 1.0, inclusive=True).tolist() == [1, 4]
    # -0.0 and 0.0 tie
    z = np.array([0.0, -0.0, 0.0], dtype=np.float64)
    far = np.array([[0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]], dtype=np.float64)
    assert nms(far, z, 0.5).tolist() == [0, 1, 2]
    big = np.tile(far, (200, 1)) + np.repeat(np.arange(200) * 20.0, 3)[:, None]
    assert nms(big, np.tile(z, 200), 0.5).tolist() == list(range(600))  # radix path


def test_nms_all_and_none_suppressed():
    rng = np.random.default_rng(3)
    for dtype in DTYPES:
        same = np.tile(np.array([[1, 2, 30, 40]], dtype=dtype), (300, 1))
        scores = rng.permutation(300).astype(dtype)
        assert nms(same, scores, 0.5).tolist() == [int(np.argmax(scores))]
        grid = np.array([[i * 10, j * 10, i * 10 + 9, j * 10 + 9] for i in range(20) for j in range(20)], dtype=dtype)
        s2 = rng.permutation(400).astype(dtype)
        np.testing.assert_array_equal(nms(grid, s2, 0.0), np.argsort(-s2, kind="stable"))


def test_nms_thresholds_where_zero_iou_suppresses():
    boxes = np.array([[0, 0, 1, 1], [5, 5, 6, 6], [0, 0, 1, 1]], dtype=np.float64)
    scores = np.array([0.1, 0.9, 0.5])
    assert nms(boxes, scores, -0.1).tolist() == [1]
    assert nms(boxes, scores, 0.0, inclusive=True).tolist() == [1]
    np.testing.assert_array_equal(nms(boxes, scores, -0.1), tv_nms(boxes, scores, -0.1))
    # zero-area boxes: 0/0 IoU never suppresses (as torchvision)
    pts = np.array([[3, 3, 3, 3], [3, 3, 3, 3]], dtype=np.float32)
    s = np.array([0.9, 0.8], dtype=np.float32)
    assert nms(pts, s, 0.5).tolist() == [0, 1]
    np.testing.assert_array_equal(tv_nms(pts, s, 0.5), [0, 1])


def test_nms_empty_single_dtypes_and_score_threshold():
    for dtype in DTYPES:
        out = nms(np.zeros((0, 4), dtype), np.zeros(0, dtype), 0.5)
        assert out.shape == (0,) and out.dtype == np.int64
        assert nms(np.array([[0, 0, 1, 1]], dtype), np.array([0.3], dtype), 0.5).tolist() == [0]
    ints = nms([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], [3, 2, 1], 0.5)
    assert ints.tolist() == [0, 2]
    boxes = np.array([[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5]], dtype=np.float64)
    assert nms(boxes, [0.2, 0.5, 0.9], 0.5, score_threshold=0.5).tolist() == [2]  # at threshold: dropped


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 40),
    st.integers(0, 10_000),
    st.floats(0.0, 1.0),
    st.sampled_from(DTYPES),
)
def test_nms_properties(n, seed, thr, dtype):
    rng = np.random.default_rng(seed)
    boxes, scores = random_boxes(rng, n, size=30.0, dtype=dtype, integer=seed % 2 == 0, distinct=seed % 3 != 0)
    keep = nms(boxes, scores, thr)
    # a subset, without repeats, by non-increasing score
    assert len(set(keep.tolist())) == keep.size and set(keep.tolist()) <= set(range(n))
    assert np.all(np.diff(scores[keep].astype(np.float64)) <= 0)
    # kept boxes pairwise IoU <= threshold
    for a in range(keep.size):
        for b in range(a + 1, keep.size):
            assert not ref.iou_pair(boxes[keep[a]], boxes[keep[b]]) > thr
    # every dropped box is suppressed by a kept box ranked before it
    rank = {i: r for r, i in enumerate(ref.score_order(scores))}
    for j in set(range(n)) - set(keep.tolist()):
        assert any(rank[i] < rank[j] and ref.iou_pair(boxes[i], boxes[j]) > thr for i in keep)
    # idempotence
    np.testing.assert_array_equal(keep[nms(boxes[keep], scores[keep], thr)], keep)
    np.testing.assert_array_equal(nms(boxes, scores, thr, strategy="simple"), keep)


def test_nms_bad_input():
    good_b = np.array([[0, 0, 1, 1], [0, 0, 2, 2]], dtype=np.float64)
    good_s = np.array([0.5, 0.6])
    with pytest.raises(ValueError, match="scores: 1 non-finite"):
        nms(good_b, [0.5, np.nan], 0.5)
    with pytest.raises(ValueError, match="x2 < x1"):
        nms([[0, 0, 1, 1], [3, 0, 2, 2]], good_s, 0.5)
    with pytest.raises(ValueError, match="does not match the 2 boxes"):
        nms(good_b, [0.5], 0.5)
    with pytest.raises(ValueError, match=r"expected shape \(N, 4\)"):
        nms(np.zeros((2, 5)), good_s, 0.5)
    with pytest.raises(ValueError, match="iou_threshold"):
        nms(good_b, good_s, float("nan"))
    with pytest.raises(ValueError, match="offset"):
        nms(good_b, good_s, 0.5, offset=2)
    with pytest.raises(ValueError, match="strategy"):
        nms(good_b, good_s, 0.5, strategy="fast")
    with pytest.raises(ValueError, match="inclusive"):
        nms(good_b, good_s, 0.5, inclusive="yes")
    with pytest.raises(ValueError, match="score_threshold"):
        nms(good_b, good_s, 0.5, score_threshold="high")
    with pytest.raises(ValueError, match="boxes: 1 non-finite"):
        nms([[0, 0, np.inf, 1], [0, 0, 1, 1]], good_s, 0.5)


def test_radix_argsort_matches_stable_argsort():
    rng = np.random.default_rng(4)
    for dtype in DTYPES:
        for n in (257, 1000, 5000):
            s = rng.choice(np.array([-2.5, -0.0, 0.0, 1e-30, 0.25, 0.5, 3.0, np.inf, -np.inf]), n).astype(dtype)
            s[: n // 3] = rng.normal(size=n // 3).astype(dtype)
            expected = np.argsort(-(s.astype(np.float64) + 0.0), kind="stable")
            np.testing.assert_array_equal(nms_common.argsort_desc(s), expected)


# ---------------------------------------------------------------------------
# batched_nms
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_nms_matches_torchvision(dtype):
    rng = np.random.default_rng(5)
    for trial in range(40):
        n = int(rng.choice([0, 1, 7, 150, 999, 1000, 1001, 2500]))
        boxes, scores = random_boxes(rng, n, size=300.0, dtype=dtype, integer=trial % 3 == 0)
        labels = rng.integers(0, int(rng.choice([1, 3, 80])), n)
        if trial % 4 == 0:
            labels = labels * 1000 - 7  # negative, sparse labels
        thr = float(rng.choice([0.3, 0.5, 0.7]))
        expected = torchvision.ops.batched_nms(
            torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels), thr
        ).numpy()
        np.testing.assert_array_equal(batched_nms(boxes, scores, labels, thr), expected, err_msg=f"trial {trial}")


def test_batched_nms_matches_reference_per_class():
    rng = np.random.default_rng(6)
    for trial in range(3):
        n = 1200  # the per-class path (torchvision's vanilla branch); ties: see the torchvision test
        boxes, scores = random_boxes(rng, n, size=200.0, integer=trial % 2 == 0)
        labels = rng.integers(0, 5, n)
        expected = ref.batched_nms(boxes, scores, labels, 0.5)
        np.testing.assert_array_equal(batched_nms(boxes, scores, labels, 0.5), expected)
    # classes never interact
    boxes = np.array([[0, 0, 10, 10]] * 3, dtype=np.float32)
    assert batched_nms(boxes, [0.9, 0.8, 0.7], [0, 1, 0], 0.5).tolist() == [0, 1]


def test_batched_nms_inclusive_and_bad_input():
    rng = np.random.default_rng(7)
    boxes, scores = random_boxes(rng, 1500, size=100.0, integer=True)
    labels = rng.integers(0, 4, 1500)
    for thr, inc in ((0.5, True), (0.0, True), (-1.0, False)):
        got = batched_nms(boxes, scores, labels, thr, inclusive=inc)
        per = []
        for lab in np.unique(labels):
            idx = np.flatnonzero(labels == lab)
            per.extend(idx[nms(boxes[idx], scores[idx], thr, inclusive=inc, strategy="simple")].tolist())
        assert got.tolist() == sorted(per, key=lambda i: (-scores[i], i))
    with pytest.raises(ValueError, match="labels: length 2"):
        batched_nms(boxes[:3], scores[:3], [0, 1], 0.5)
    with pytest.raises(ValueError, match="labels: expected integer"):
        batched_nms(boxes[:2], scores[:2], [0.5, 1.0], 0.5)
    assert batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), 0.5).shape == (0,)


# ---------------------------------------------------------------------------
# DIoU, Fast, Cluster, Matrix NMS
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_diou_nms_matches_reference(dtype):
    rng = np.random.default_rng(8)
    for trial in range(30):
        n = int(rng.choice([0, 3, 30, 140, 300]))
        boxes, scores = random_boxes(rng, n, size=80.0, dtype=dtype, integer=trial % 2 == 0, distinct=trial % 3 != 0)
        thr = float(rng.choice([0.2, 0.4, 0.6]))
        beta = float(rng.choice([1.0, 0.6, 2.0]))
        inc = bool(trial % 2)
        np.testing.assert_array_equal(
            diou_nms(boxes, scores, thr, beta, inclusive=inc), ref.diou_nms(boxes, scores, thr, beta, inc)
        )
    # centres far apart: DIoU keeps an overlapping box that NMS drops
    b = np.array([[0, 0, 10, 10], [4, 0, 14, 10]], dtype=np.float64)  # IoU 6/14, centres 4 apart, c^2 = 296
    assert nms(b, [0.9, 0.8], 0.4).tolist() == [0]
    assert diou_nms(b, [0.9, 0.8], 0.4).tolist() == [0, 1]
    with pytest.raises(ValueError, match="beta"):
        diou_nms(b, [0.9, 0.8], 0.4, beta=-1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_nms_matches_reference_and_is_subset_of_nms(dtype):
    rng = np.random.default_rng(9)
    for trial in range(30):
        n = int(rng.choice([0, 5, 60, 150]))
        boxes, scores = random_boxes(rng, n, size=100.0, dtype=dtype, integer=trial % 2 == 0, distinct=trial % 3 != 0)
        thr = float(rng.choice([0.0, 0.3, 0.5, 0.7]))
        got = fast_nms(boxes, scores, thr)
        np.testing.assert_array_equal(got, ref.fast_nms(boxes, scores, thr))
        assert set(got.tolist()) <= set(nms(boxes, scores, thr).tolist())
    # chain: A suppresses B, B (suppressed) still suppresses C in Fast NMS
    chain = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]], dtype=np.float64)
    s = [0.9, 0.8, 0.7]
    assert nms(chain, s, 0.3).tolist() == [0, 2]
    assert fast_nms(chain, s, 0.3).tolist() == [0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_cluster_nms_equals_greedy_nms(dtype):
    rng = np.random.default_rng(10)
    for trial in range(60):
        n = int(rng.choice([0, 1, 40, 129, 500, 2000]))
        boxes, scores = random_boxes(rng, n, size=150.0, dtype=dtype, integer=trial % 2 == 0, distinct=trial % 3 != 0)
        thr = float(rng.choice([-0.5, 0.0, 0.2, 0.5, 0.8]))
        inc = bool(trial % 2)
        off = int(trial % 5 == 0)
        got = cluster_nms(boxes, scores, thr, inclusive=inc, offset=off)
        np.testing.assert_array_equal(got, nms(boxes, scores, thr, inclusive=inc, offset=off), err_msg=str(trial))
        if n <= 129:
            np.testing.assert_array_equal(got, ref.cluster_nms(boxes, scores, thr, inc, off)[0])
    # a chain needs several iterations; capping them stops early (not greedy yet)
    chain = np.array([[i * 5, 0, i * 5 + 10, 10] for i in range(8)], dtype=np.float64)
    s = np.linspace(1, 0.2, 8)
    assert cluster_nms(chain, s, 0.3).tolist() == [0, 2, 4, 6]
    assert ref.cluster_nms(chain, s, 0.3)[1] > 3
    assert cluster_nms(chain, s, 0.3, max_iter=1).tolist() == [0]
    with pytest.raises(ValueError, match="max_iter"):
        cluster_nms(chain, s, 0.3, max_iter=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", ["gaussian", "linear"])
def test_matrix_nms_matches_reference(dtype, method):
    rng = np.random.default_rng(11)
    for trial in range(25):
        n = int(rng.choice([0, 1, 20, 90]))
        boxes, scores = random_boxes(rng, n, size=60.0, dtype=dtype, integer=trial % 2 == 0)
        sigma = float(rng.choice([0.5, 2.0]))
        idx, val = matrix_nms(boxes, scores, method, sigma)
        expected = ref.matrix_nms(boxes, scores, method, sigma)
        assert sorted(idx.tolist()) == sorted(expected)
        assert val.dtype == dtype
        rtol = 1e-6 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(val, [expected[i] for i in idx.tolist()], rtol=rtol, atol=1e-30)
        assert np.all(np.diff(val.astype(np.float64)) <= 0)
        assert np.all(val <= scores[idx])
        if n:
            top = int(np.argmax(scores))
            assert val[idx.tolist().index(top)] == scores[top]  # the best box is never decayed
    # duplicates of duplicates: linear rule with comp == 1 stays finite
    dup = np.array([[0, 0, 4, 4]] * 3, dtype=dtype)
    i2, v2 = matrix_nms(dup, np.array([0.9, 0.8, 0.7], dtype=dtype), "linear")
    assert i2.tolist() == [0, 1, 2] and v2.tolist() == [dtype(0.9), 0, 0]
    i3, v3 = matrix_nms(dup, np.array([0.9, 0.8, 0.7], dtype=dtype), "linear", score_threshold=0.1)
    assert i3.tolist() == [0]
    with pytest.raises(ValueError, match="sigma"):
        matrix_nms(dup, [0.1, 0.2, 0.3], sigma=0)
    with pytest.raises(ValueError, match="method"):
        matrix_nms(dup, [0.1, 0.2, 0.3], method="box")


def test_variants_empty_and_validation():
    for f in (diou_nms, fast_nms, cluster_nms):
        assert f(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).shape == (0,)
        with pytest.raises(ValueError, match="x2 < x1"):
            f([[2, 0, 1, 1]], [0.5], 0.5)
        with pytest.raises(ValueError, match="scores: 1 non-finite"):
            f([[0, 0, 1, 1]], [np.nan], 0.5)
    idx, val = matrix_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    assert idx.shape == (0,) and val.dtype == np.float32
