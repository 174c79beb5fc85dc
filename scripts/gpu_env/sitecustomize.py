"""Put on PYTHONPATH by scripts/run_gpu_benchmarks.sh: NumPy >= 2.5 removed ``numpy.row_stack``,
which numba-cuda <= 0.30.4 overloads when it first compiles; restore the alias (it was exactly
``numpy.vstack``) before anything imports numba.cuda. detbench.cuda does the same on its own
first use; this also covers the tests and peers that import numba.cuda first."""

try:
    import numpy

    if not hasattr(numpy, "row_stack"):
        setattr(numpy, "row_stack", numpy.vstack)  # noqa: B010
except Exception:  # never break interpreter start-up
    pass
