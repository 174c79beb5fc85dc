"""Seeded data generators shared by the benchmark suites.

Append new generators; never change an existing one's output (old results must
stay comparable across commits).
"""

from detbench.synthetic import random_boxes  # noqa: F401  (the IoU suites' data; output unchanged)


def peer_available(module):
    """True if ``module`` can be imported (peers are optional at benchmark time)."""
    import importlib.util

    return importlib.util.find_spec(module) is not None
