"""Felzenszwalb–Huttenlocher segmentation (detbench.proposals.segmentation), its edge sort and image helpers."""

import time

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.color
import skimage.segmentation

from detbench._sort import radix_argsort_keys
from detbench.proposals import felzenszwalb_segmentation
from detbench.proposals._image import gaussian_blur, rgb_to_hsv, rgb_to_lab
from detbench.proposals._segmentation_kernels import sort_edges
from tests.reference_proposals import ref_felzenszwalb


def test_felzenszwalb_vs_reference(rng):
    for k, ms in ((50.0, 1), (200.0, 5), (20.0, 3)):
        img = rng.random((9, 11, 3))
        got = felzenszwalb_segmentation(img, k, 0.0, ms)
        want = ref_felzenszwalb(img * 255, k, ms)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("scale,sigma,min_size", [(100, 0.8, 20), (300, 0.5, 10), (50, 0.0, 1)])
def test_felzenszwalb_matches_skimage(rng, scale, sigma, min_size):
    for _ in range(2):
        img = ndi.gaussian_filter(rng.random((48, 64, 3)), (2, 2, 0))
        img = (img - img.min()) / (img.max() - img.min())
        want = skimage.segmentation.felzenszwalb(img, scale=scale, sigma=sigma, min_size=min_size)
        got = felzenszwalb_segmentation(img, scale, sigma, min_size)
        # same partition (label numbering differs)
        pairs = np.unique(np.stack([want.ravel(), got.ravel()], 1), axis=0)
        assert len(pairs) == want.max() + 1 == got.max() + 1


def test_gaussian_and_colour_helpers_match_peers(rng):
    img = rng.random((13, 17, 3)) * 255
    for s in (0.8, 3.0):
        np.testing.assert_allclose(
            gaussian_blur(img, s), ndi.gaussian_filter(img, (s, s, 0), mode="reflect"), atol=1e-9
        )
    u8 = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    np.testing.assert_allclose(rgb_to_hsv(u8.astype(float)) / 255, skimage.color.rgb2hsv(u8), atol=1e-9)
    lab = skimage.color.rgb2lab(u8)
    want = np.clip(np.stack([lab[..., 0] * 2.55, lab[..., 1] + 128, lab[..., 2] + 128], -1), 0, 255)
    np.testing.assert_allclose(rgb_to_lab(u8.astype(float)), want, atol=1e-3)


def test_felzenszwalb_edge_cases():
    assert felzenszwalb_segmentation(np.zeros((1, 1, 3), np.uint8)).tolist() == [[0]]
    lab = felzenszwalb_segmentation(np.zeros((5, 7), np.uint8))  # grey, constant -> one segment
    assert lab.shape == (5, 7) and lab.max() == 0
    assert felzenszwalb_segmentation(np.zeros((0, 4, 3), np.uint8)).shape == (0, 4)
    with pytest.raises(ValueError, match="image: float images must lie in"):
        felzenszwalb_segmentation(np.full((4, 4, 3), 2.0))
    with pytest.raises(ValueError, match="image: expected shape"):
        felzenszwalb_segmentation(np.zeros((4, 4, 4)))
    with pytest.raises(ValueError, match="image: expected dtype"):
        felzenszwalb_segmentation(np.zeros((4, 4, 3), np.int32))
    with pytest.raises(ValueError, match="scale"):
        felzenszwalb_segmentation(np.zeros((4, 4, 3)), scale=0)
    with pytest.raises(ValueError, match="NaN"):
        felzenszwalb_segmentation(np.full((4, 4, 3), np.nan))


def test_sort_edges_is_stable_argsort(rng):
    w = rng.uniform(0, 400, 20000)
    w[::3] = np.round(w[::3])  # many exact ties
    w[1::7] = np.inf  # out-of-image edges
    w[2::11] = np.nextafter(w[5::11][: len(w[2::11])], np.inf)  # equal as float32, different as float64
    order, sw = np.empty(w.size, np.int64), np.empty(w.size)
    n = sort_edges(w, order, sw)
    want = np.argsort(w, kind="stable")
    np.testing.assert_array_equal(order, want)
    np.testing.assert_array_equal(sw, w[want])
    assert n == np.isfinite(w).sum()


# ---------------------------------------------------------------------------
# issue 19: a bounded sigma, min_size beyond int64
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [1e9, 1e6, 8.5])
def test_sigma_above_the_limit_is_refused_quickly(sigma):
    img = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    t = time.perf_counter()
    with pytest.raises(ValueError, match="^sigma: .* is larger than the limit 8.0 for a 24x24 image"):
        felzenszwalb_segmentation(img, sigma=sigma)
    assert time.perf_counter() - t < 1.0


def test_sigma_limit_follows_the_image_size(rng):
    img = (rng.random((40, 100, 3)) * 255).astype(np.uint8)
    assert felzenszwalb_segmentation(img, sigma=25.0).shape == (40, 100)  # limit max(8, 100 / 4) = 25
    with pytest.raises(ValueError, match="limit 25.0 for a 40x100 image"):
        felzenszwalb_segmentation(img, sigma=25.5)
    assert felzenszwalb_segmentation(np.zeros((1, 1, 3), np.uint8), sigma=8.0).tolist() == [[0]]
    # at the limit the smoothing still equals scipy's
    want = ndi.gaussian_filter(img.astype(float), (25.0, 25.0, 0), mode="reflect")
    np.testing.assert_allclose(gaussian_blur(img.astype(float), 25.0), want, atol=1e-9)


def test_min_size_beyond_the_pixel_count_acts_as_the_pixel_count(rng):
    img = rng.random((9, 11, 3))
    whole = felzenszwalb_segmentation(img, 50.0, 0.0, 99)
    assert whole.max() == 0
    np.testing.assert_array_equal(felzenszwalb_segmentation(img, 50.0, 0.0, 2**70), whole)
    np.testing.assert_array_equal(felzenszwalb_segmentation(img, 1e300, 0.0, 1), whole)


@pytest.mark.parametrize("n", [0, 1, 2, 100, 9000])
@pytest.mark.parametrize("kind", ["random", "constant", "few", "sorted"])
def test_radix_argsort_keys_hands_back_the_sorted_keys(n, kind):
    """The shared sort's variant that sort_edges uses: stable order and the keys in that order."""
    rng = np.random.default_rng(n)
    keys = {
        "random": rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32),
        "constant": np.full(n, 77, np.uint32),
        "few": rng.integers(0, 3, n).astype(np.uint32) << np.uint32(20),
        "sorted": np.arange(n, dtype=np.uint32),
    }[kind]
    idx = np.empty(n, np.int64)
    out = radix_argsort_keys(keys.copy(), 32, idx, np.empty(n, np.int64), np.empty(n, np.uint32))
    np.testing.assert_array_equal(idx, np.argsort(keys, kind="stable"))
    np.testing.assert_array_equal(out, keys[idx])
