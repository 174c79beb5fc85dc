"""Numba kernels of :mod:`detbench.eval.instances`."""

from __future__ import annotations

import math

from detbench._jit import jit


@jit
def row_extents(kp, x0, x1, y0, y1):
    """Min / max of every row's x (columns ``0::3``) and y (``1::3``) of ``kp`` (n, 3k) float64, finite,
    k >= 1, into ``x0``/``x1``/``y0``/``y1`` (n,). Returns True when a -0.0 is among them: its result would
    depend on the order of comparisons (-0.0 == 0.0), so the caller then takes NumPy's row reductions."""
    n, m = kp.shape
    negative_zero = False
    for i in range(n):
        a = kp[i, 0]
        b = a
        c = kp[i, 1]
        d = c
        for j in range(0, m, 3):
            v = kp[i, j]
            w = kp[i, j + 1]
            if v < a:
                a = v
            if v > b:
                b = v
            if w < c:
                c = w
            if w > d:
                d = w
            if (v == 0.0 and math.copysign(1.0, v) < 0.0) or (w == 0.0 and math.copysign(1.0, w) < 0.0):
                negative_zero = True
        x0[i] = a
        x1[i] = b
        y0[i] = c
        y1[i] = d
    return negative_zero
