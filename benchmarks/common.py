"""Seeded data generators shared by the benchmark suites.

Append new generators; never change an existing one's output (old results must
stay comparable across commits).
"""

from detbench.synthetic import random_boxes  # noqa: F401  (the IoU suites' data; output unchanged)


def peer_available(module):
    """True if ``module`` can be imported (peers are optional at benchmark time)."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


def same_run_timings(fns, rounds=7, budget_s=30.0):
    """Same-run tables (``python -m benchmarks.bench_x``): detbench's timing helper, interleaved rounds.

    ``fns`` maps a name to a zero-argument callable; returns ``{name: detbench._timing.Timing}`` (median,
    min, max per call, warm-up excluded). asv's own ``time_*`` benchmarks are timed by asv; this helper's name
    must not start with ``time_`` (asv would collect it as a benchmark).
    """
    from detbench._timing import compare

    return compare(fns, rounds=rounds, budget_s=budget_s)
