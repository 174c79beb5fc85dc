"""Exhaustive sliding windows (detbench.proposals.windows)."""

import numpy as np
import pytest

from detbench.proposals import sliding_windows


def test_sliding_windows():
    w = sliding_windows((10, 20), [[10, 10], [20, 5]], 5)
    want = [[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10], [0, 0, 20, 5], [0, 5, 20, 10]]
    np.testing.assert_array_equal(w, want)
    assert sliding_windows((10, 10), [[20, 20]], 4).shape == (0, 4)
    with pytest.raises(ValueError, match="window_sizes"):
        sliding_windows((10, 10), [[0, 2]], 4)


@pytest.mark.parametrize(
    ("size", "windows", "stride"), [((10**6, 10**6), [[10, 10]], 1), ((10**9, 10**9), [[1, 1], [2, 2]], (3, 5))]
)
def test_windows_that_cannot_fit_are_refused_before_allocating(size, windows, stride):
    with pytest.raises(ValueError, match="^image_size: the windows at stride .* would need .* more than this machine"):
        sliding_windows(size, windows, stride)


def test_window_count_matches_the_check():
    w = sliding_windows((100, 130), [[10, 20], [33.5, 7], [200, 5]], (7, 9))
    expected = sum(
        len(np.arange(0, 130 - ww + 1e-9, 9)) * len(np.arange(0, 100 - wh + 1e-9, 7))
        for ww, wh in [[10, 20], [33.5, 7]]
    )
    assert w.shape == (expected, 4)
