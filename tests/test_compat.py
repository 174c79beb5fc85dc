"""The Numba internals detbench relies on (detbench/_compat.py) still exist and behave."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from detbench._compat import cgutils, trailing_zeros


@numba.njit(cache=False)
def _ctz(x):
    return trailing_zeros(x)


@pytest.mark.parametrize("value", [1, 2, 3, 8, 12, 1 << 40, (1 << 63) + (1 << 5)])
def test_trailing_zeros_counts_low_zero_bits(value):
    expected = (value & -value).bit_length() - 1
    assert _ctz(np.uint64(value)) == expected


def test_cgutils_declares_functions():
    assert callable(cgutils.get_or_insert_function)


def test_numba_version_inside_the_tested_bound():
    # pyproject.toml bounds numba below the first release this module has not been tested on.
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    bound = re.search(r'"numba>=[\d.]+,<([\d.]+)"', text)
    assert bound, "pyproject.toml must give numba an upper bound"
    upper = tuple(int(p) for p in bound.group(1).split("."))
    have = tuple(int(p) for p in numba.__version__.split(".")[:2])
    assert have < upper
