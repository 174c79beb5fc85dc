"""Seeded data generators shared by the benchmark suites.

Append new generators; never change an existing one's output (old results must
stay comparable across commits).
"""

import numpy as np


def random_boxes(n, image_size=1000.0, seed=0, dtype=np.float32, min_side=10.0, max_side=200.0):
    """``n`` xyxy boxes with sides uniform in [min_side, max_side] inside a square image."""
    rng = np.random.default_rng(seed)
    wh = rng.uniform(min_side, max_side, (n, 2))
    xy = rng.uniform(0, 1, (n, 2)) * (image_size - wh)
    return np.hstack([xy, xy + wh]).astype(dtype)


def peer_available(module):
    """True if ``module`` can be imported (peers are optional at benchmark time)."""
    import importlib.util

    return importlib.util.find_spec(module) is not None
