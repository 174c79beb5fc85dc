"""Selective search (detbench.proposals.selective_search): descriptors, grouping, ranking, size policies."""

import math

import numpy as np
import pytest
import scipy.ndimage as ndi

from detbench.boxes import box_iou
from detbench.proposals import felzenszwalb_segmentation, selective_search
from detbench.proposals._image import downscale, to_color_space
from detbench.proposals.selective_search import group, initial_regions, prepare
from tests.reference_proposals import rectangles_image, ref_grouping, ref_region_features


def test_region_features_vs_reference(rng):
    img = (ndi.gaussian_filter(rng.random((24, 30, 3)), (1, 1, 0)) * 255).astype(np.uint8).astype(float)
    reg = initial_regions(prepare(img, 0.8), 100.0, 10)
    labels = felzenszwalb_segmentation(img / 255, 100.0, 0.8, 10)
    ch, th = ref_region_features(img, labels)
    assert reg.n == labels.max() + 1
    np.testing.assert_allclose(reg.chist, ch, atol=1e-12)
    np.testing.assert_allclose(reg.thist, th, atol=1e-12)
    np.testing.assert_array_equal(reg.size[: reg.n], np.bincount(labels.ravel()))


@pytest.mark.parametrize("sims", ["ctsf", "tsf", "cf", "ct"])
def test_grouping_vs_reference(rng, sims):
    img = rng.random((26, 34, 3)) * 255
    img = ndi.gaussian_filter(img, (0.7, 0.7, 0))
    reg = initial_regions(prepare(img, 0.8), 10.0, 8)
    labels = felzenszwalb_segmentation(img / 255, 10.0, 0.8, 8)
    assert 10 <= reg.n <= 200
    got = group(reg, sims, img.shape[0] * img.shape[1])
    want = ref_grouping(labels, reg.chist, reg.thist, sims)
    assert got.shape == (2 * reg.n - 1, 4)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got[-1], [0, 0, img.shape[1] - 1, img.shape[0] - 1])  # last = whole image


def test_selective_search_ranking_matches_paper_rule(rng):
    img = (ndi.gaussian_filter(rng.random((30, 40, 3)), (1, 1, 0)) * 255).astype(np.uint8)
    seed = 3
    got = selective_search(
        img, seed=seed, color_spaces=["rgb", "hsv"], scales=[50], similarities=["ctsf", "s"], min_size=5
    )
    r = np.random.default_rng(seed)
    boxes, vals = [], []
    for cs in ("rgb", "hsv"):
        reg = initial_regions(prepare(to_color_space(img.astype(float), cs), 0.8), 50.0, 5)
        for s in ("ctsf", "s"):
            hb = group(reg, s, 1200)
            vals.append(r.random(len(hb)) * np.arange(len(hb), 0, -1))
            boxes.append(hb)
    b, v = np.concatenate(boxes), np.concatenate(vals)
    want, seen = [], set()
    for i in np.argsort(v, kind="stable"):
        t = (b[i, 0], b[i, 1], b[i, 2] + 1, b[i, 3] + 1)
        if t not in seen:
            seen.add(t)
            want.append(t)
    np.testing.assert_array_equal(got, np.array(want, dtype=float))


@pytest.mark.parametrize("mode", ["single", "fast"])
def test_selective_search_recovers_rectangles(rng, mode):
    img, rects = rectangles_image(rng)
    boxes = selective_search(img, mode=mode, seed=0)
    assert boxes.dtype == np.float64 and boxes.ndim == 2 and boxes.shape[1] == 4
    assert len(np.unique(boxes, axis=0)) == len(boxes)  # duplicates removed
    iou = box_iou(boxes, rects)
    assert (iou.max(0) > 0.9).all(), iou.max(0)
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 320).all() and (boxes[:, 3] <= 240).all()


def test_selective_search_deterministic_and_seeded(rng):
    img, _ = rectangles_image(rng, 120, 160)
    a = selective_search(img, seed=1)
    np.testing.assert_array_equal(a, selective_search(img, seed=1))
    b = selective_search(img, seed=2)
    # same proposals, different (randomised) ranking
    assert {tuple(x) for x in a} == {tuple(x) for x in b}
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(selective_search(img.astype(np.float64) / 255, seed=1), a)


def test_selective_search_downscale_policy(rng):
    # a 1200 x 800 image is shrunk by 3 to 400 x 267 (max_side=500); boxes come back in full-size pixels
    img, rects = rectangles_image(rng, 200, 300)
    big = np.repeat(np.repeat(img, 4, axis=0), 4, axis=1)  # 800 x 1200
    boxes = selective_search(big, max_side=500)
    iou = box_iou(boxes, rects * 4)
    assert (iou.max(0) > 0.9).all()
    assert boxes[:, 2].max() <= 1200 and boxes[:, 3].max() <= 800
    small, f = downscale(big.astype(float), 500)
    assert f == 3 and small.shape == (267, 400, 3)
    np.testing.assert_allclose(small[10, 10], big[30:33, 30:33].mean(axis=(0, 1)))


def test_selective_search_max_regions_policy(rng):
    # pure noise with min_size=1 gives thousands of segments; max_regions bounds them (and the grouping cost)
    noise = rng.integers(0, 256, (96, 128, 3)).astype(np.uint8)
    prep = prepare(noise.astype(float), 0.8)
    assert initial_regions(prep, 100.0, 1).n > 400
    reg = initial_regions(prep, 100.0, 1, max_regions=150)
    assert reg.n <= 150 and reg.size[: reg.n].min() >= math.ceil(96 * 128 / 150)
    boxes = selective_search(noise, min_size=1, max_regions=150)
    assert 0 < len(boxes) <= 2 * 150 - 1


def test_selective_search_edge_cases_and_bad_input():
    np.testing.assert_array_equal(selective_search(np.zeros((1, 1, 3), np.uint8)), [[0, 0, 1, 1]])
    assert selective_search(np.zeros((0, 5, 3), np.uint8)).shape == (0, 4)
    assert selective_search(np.zeros((8, 9), np.uint8)).tolist() == [[0, 0, 9, 8]]
    with pytest.raises(ValueError, match="mode"):
        selective_search(np.zeros((4, 4, 3)), mode="quality")
    with pytest.raises(ValueError, match="color_spaces"):
        selective_search(np.zeros((4, 4, 3)), color_spaces=["xyz"])
    with pytest.raises(ValueError, match="similarities"):
        selective_search(np.zeros((4, 4, 3)), similarities=["cx"])
    with pytest.raises(ValueError, match="max_side"):
        selective_search(np.zeros((4, 4, 3)), max_side=2)
    with pytest.raises(ValueError, match="image"):
        selective_search("picture.png")


# ---------------------------------------------------------------------------
# issue 19: empty strategy lists, huge k, sigma bound
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("arg", ["color_spaces", "scales", "similarities"])
def test_empty_or_string_strategy_lists_are_refused(arg):
    img = np.zeros((10, 12, 3), np.uint8)
    with pytest.raises(ValueError, match=f"^{arg}: expected a non-empty list"):
        selective_search(img, **{arg: []})
    with pytest.raises(ValueError, match=f"^{arg}: expected a non-empty list"):
        selective_search(img, **{arg: ()})
    with pytest.raises(ValueError, match=f"^{arg}: expected a list, got the string"):
        selective_search(img, **{arg: "hsv"})


def test_huge_scale_merges_everything_instead_of_failing(rng):
    img, _ = rectangles_image(rng, 30, 40)
    # default min_size = k; a k beyond int64 used to end in a Numba error. Every segment merges: the whole image.
    np.testing.assert_array_equal(selective_search(img, scales=[1e300]), [[0, 0, 40, 30]])
    np.testing.assert_array_equal(selective_search(img, scales=[1e300], min_size=2**70), [[0, 0, 40, 30]])
    np.testing.assert_array_equal(
        selective_search(img, scales=[50.0], min_size=2**70), selective_search(img, scales=[50.0], min_size=30 * 40)
    )


def test_sigma_is_bounded_by_the_image(rng):
    img, _ = rectangles_image(rng, 30, 40)
    with pytest.raises(ValueError, match="^sigma: 1000000.0 is larger than the limit 10.0 for a 30x40 image"):
        selective_search(img, sigma=1e6)
    assert len(selective_search(img, sigma=10.0)) > 0
    big = np.repeat(np.repeat(img, 40, axis=0), 40, axis=1)  # 1200 x 1600, downscaled by 2 (max_side=1000)
    with pytest.raises(ValueError, match="limit 200.0 for a 600x800 image"):
        selective_search(big, sigma=201.0)
