"""Numba kernels of the tiny CNN engine and the naive scan (:mod:`detbench.sliding`).

Layout is NHWC everywhere (batch, row, column, channel) and convolution weights
are ``(KH, KW, C_in, C_out)``: the channel axes are the last, contiguous ones,
so the innermost loop of every multiply-add kernel runs over ``C_out`` with
unit stride and vectorises.

The convolution is direct (no im2col buffer).  One work item is a tile of
``TILE`` neighbouring output pixels of one output row; ``prange`` runs over
work items, each thread owns its tile of the output.  Inside a tile the
reduction runs ``(i, j, c)`` outermost and the tile's pixels next, so one row
``w[i, j, c, :]`` of the weights is loaded once and used ``TILE`` times from L1
while the ``TILE x C_out`` accumulators (a per-item buffer) stay in L1 as well.
A following ReLU is fused into the store.

Every output is ``bias + sum_k x_k w_k`` with ``k = (i, j, c)`` visited in
increasing order, exactly the order of a dense layer on the HWC-flattened
input, so a dense layer and the convolution it becomes (same weights) give
bit-identical results.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import prange

from detbench._jit import jit_twins

#: output pixels per work item of :func:`conv2d_nhwc`.
TILE = 8
#: Below this much work the serial twin of a kernel is used: waking the thread pool
#: costs more than the work, and on a loaded machine far more.  Elements for the
#: memory-bound kernels; multiply-adds for the convolution (2^22 is ~0.4 ms of work).
PARALLEL_MIN_WORK = 1 << 18
PARALLEL_MIN_MACS = 1 << 22


def _conv2d_nhwc(x, w, b, stride, relu, out):  # pragma: no cover - compiled
    """Valid (unpadded) strided convolution, NHWC in and out, optionally followed by ReLU.

    x: (N, H, W, Cin); w: (KH, KW, Cin, Cout); b: (Cout,); relu: apply max(., 0);
    out: (N, Ho, Wo, Cout) with Ho = (H - KH) // stride + 1 (same for Wo).
    """
    n_img = x.shape[0]
    cin = x.shape[3]
    kh = w.shape[0]
    kw = w.shape[1]
    cout = w.shape[3]
    ho = out.shape[1]
    wo = out.shape[2]
    ntile = (wo + TILE - 1) // TILE
    total = n_img * ho * ntile
    wflat = w.reshape(kh * kw * cin, cout)
    for item in prange(total):
        t = item % ntile
        r = item // ntile
        n = r // ho
        oy = r - n * ho
        ox0 = t * TILE
        nt = min(TILE, wo - ox0)
        acc = np.empty((TILE, cout), dtype=out.dtype)
        for p in range(nt):
            for co in range(cout):
                acc[p, co] = b[co]
        k = 0
        for i in range(kh):
            xrow = x[n, oy * stride + i]
            for j in range(kw):
                for c in range(cin):
                    wk = wflat[k]
                    for p in range(nt):
                        v = xrow[(ox0 + p) * stride + j, c]
                        for co in range(cout):
                            acc[p, co] += v * wk[co]
                    k += 1
        orow = out[n, oy]
        for p in range(nt):
            dst = orow[ox0 + p]
            for co in range(cout):
                a = acc[p, co]
                if relu and a < 0:
                    a = 0
                dst[co] = a


def _relu_inplace(x):  # pragma: no cover - compiled
    """max(x, 0) in place on a 1-D (flattened) array."""
    n = x.shape[0]
    chunk = 4096
    nchunk = (n + chunk - 1) // chunk
    for t in prange(nchunk):
        lo = t * chunk
        hi = min(lo + chunk, n)
        for k in range(lo, hi):
            if x[k] < 0:
                x[k] = 0


def _maxpool_nhwc(x, size, stride, out):  # pragma: no cover - compiled
    """Valid max-pooling over ``size x size`` windows with ``stride``, NHWC."""
    n_img = x.shape[0]
    c_ = x.shape[3]
    ho = out.shape[1]
    wo = out.shape[2]
    for r in prange(n_img * ho):
        n = r // ho
        oy = r - n * ho
        for ox in range(wo):
            acc = out[n, oy, ox]
            src = x[n, oy * stride, ox * stride]
            for c in range(c_):
                acc[c] = src[c]
            for i in range(size):
                xrow = x[n, oy * stride + i]
                for j in range(size):
                    px = xrow[ox * stride + j]
                    for c in range(c_):
                        if px[c] > acc[c]:
                            acc[c] = px[c]


def _softmax_rows(x, out):  # pragma: no cover - compiled
    """Softmax over the last axis of a 2-D array (max subtracted first)."""
    n = x.shape[0]
    k = x.shape[1]
    for r in prange(n):
        m = x[r, 0]
        for j in range(1, k):
            if x[r, j] > m:
                m = x[r, j]
        s = 0.0
        for j in range(k):
            e = np.exp(x[r, j] - m)
            out[r, j] = e
            s += e
        inv = 1.0 / s
        for j in range(k):
            out[r, j] = out[r, j] * inv


def _crop_windows(image, rows, cols, window, out):  # pragma: no cover - compiled
    """Copy the windows with top-left corners ``(rows[k], cols[k])`` of an HWC image into ``out[k]``."""
    c_ = image.shape[2]
    for k in prange(rows.shape[0]):
        r0 = rows[k]
        c0 = cols[k]
        for i in range(window):
            for j in range(window):
                for c in range(c_):
                    out[k, i, j, c] = image[r0 + i, c0 + j, c]


# Each kernel is compiled twice from one body (see ``detbench._jit.jit_twins``).
conv2d_nhwc, conv2d_nhwc_serial = jit_twins(_conv2d_nhwc)
relu_inplace, relu_inplace_serial = jit_twins(_relu_inplace)
maxpool_nhwc, maxpool_nhwc_serial = jit_twins(_maxpool_nhwc)
softmax_rows, softmax_rows_serial = jit_twins(_softmax_rows)
crop_windows, crop_windows_serial = jit_twins(_crop_windows)


def pick(name: str, work: int) -> Any:
    """The parallel kernel ``name`` for enough work (:data:`PARALLEL_MIN_MACS` multiply-adds for the
    convolution, :data:`PARALLEL_MIN_WORK` elements otherwise), else its serial twin."""
    least = PARALLEL_MIN_MACS if name == "conv2d_nhwc" else PARALLEL_MIN_WORK
    return globals()[name if work >= least else name + "_serial"]
