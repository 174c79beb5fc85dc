"""detbench: Numba-compiled object-detection primitives, benchmarked and evaluated."""

__version__ = "0.1.0"
