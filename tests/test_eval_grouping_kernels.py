"""The evaluation-group counting sort (``_grouping_kernels.group_keys``) against a NumPy reference.

Its ``offsets`` and ``dest`` must be those of a stable argsort by key, for both key orders (category-major
with ``use_cats``, image-major without), with entries left out (-1 positions), inputs untouched.
"""

from __future__ import annotations

import numpy as np
import pytest

from detbench.eval import _grouping_kernels as gk


def _reference(ip, cp, n_img, n_cat, use_cats):
    valid = (ip >= 0) & (cp >= 0)
    key = np.where(use_cats, cp * n_img + ip, ip * n_cat + cp)
    idx = np.flatnonzero(valid)
    order = idx[np.argsort(key[idx], kind="stable")]
    dest = np.full(ip.size, -1, np.int64)
    dest[order] = np.arange(order.size)
    offsets = np.searchsorted(key[order], np.arange(n_img * n_cat + 1), side="left").astype(np.int64)
    return offsets, dest, order.size


def _inputs(seed, n, n_img, n_cat, invalid=0.1, image_major=False):
    rng = np.random.default_rng(seed)
    ip = rng.integers(0, n_img, n)
    if image_major:  # results files list an image's detections together
        ip = np.sort(ip)
    cp = rng.integers(0, n_cat, n)
    ip[rng.random(n) < invalid] = -1
    cp[rng.random(n) < invalid] = -1
    return ip.astype(np.int64), cp.astype(np.int64)


@pytest.mark.parametrize("use_cats", [True, False])
@pytest.mark.parametrize(
    "n, n_img, n_cat, image_major",
    [(0, 3, 4, False), (1, 1, 1, False), (500, 7, 11, False), (2_000, 300, 200, True), (50, 40, 30, False)],
)
def test_group_keys_matches_stable_argsort(use_cats, n, n_img, n_cat, image_major):
    ip, cp = _inputs(n + n_img, n, n_img, n_cat, image_major=image_major)
    ip0, cp0 = ip.copy(), cp.copy()
    offsets = np.zeros(n_img * n_cat + 1, np.int64)  # zeroed, as the kernel asks
    dest = np.full(n, 99, np.int64)
    kept = gk.group_keys(ip, cp, n_img, n_cat, use_cats, offsets, dest)
    ref_off, ref_dest, ref_kept = _reference(ip, cp, n_img, n_cat, use_cats)
    assert kept == ref_kept
    np.testing.assert_array_equal(offsets, ref_off)
    np.testing.assert_array_equal(dest, ref_dest)
    np.testing.assert_array_equal(ip, ip0)  # inputs untouched
    np.testing.assert_array_equal(cp, cp0)
