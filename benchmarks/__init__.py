"""asv benchmark suites for detbench; one module per package module (see asv.conf.json).

asv imports every suite as ``benchmarks.<module>``, so this runs first in each benchmark process: it
applies detbench's threading setup for shared machines (:func:`detbench._parallel.polite_threads`:
``OMP_WAIT_POLICY=passive`` unless set; README, "Threading") before Numba or torch starts an OpenMP runtime.
"""

try:
    from detbench._parallel import polite_threads
except ImportError:  # asv runs this suite against older commits too, which lack the helper

    def polite_threads():
        import os

        os.environ.setdefault("OMP_WAIT_POLICY", "passive")


polite_threads()

try:  # large temporaries reuse heap pages in every benchmark process (detbench._timing.steady_allocator)
    from detbench._timing import steady_allocator
except ImportError:  # older commits

    def steady_allocator():
        return False


steady_allocator()
