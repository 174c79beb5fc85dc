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
