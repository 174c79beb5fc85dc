"""Test configuration.

``NUMBA_ENABLE_CUDASIM`` must be set before numba is imported anywhere, so it
is set here (pytest imports conftest.py first). GPU kernels then run on Numba's
CUDA simulator and are compared with the CPU kernels.
"""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(0)
