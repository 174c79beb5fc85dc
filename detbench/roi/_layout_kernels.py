"""Numba kernels that arrange the feature map for the ROI kernels, and the record naming that arrangement.

The ROI kernels keep the channel axis innermost (every bilinear tap or cell compare is a contiguous
loop over channels that LLVM turns into SIMD code), so they read the features channels-last, in one of
two ways, named by a :class:`RoiSource`:

* block mode: the map is already channels-last ``(N, H, W, C)``, or a block of its channels has been
  copied channels-last (:func:`pack_block_nchw`);
* window mode: features stay ``(N, C, H, W)`` and each roi copies only the window of cells it touches
  (:func:`copy_window`). Cheaper when the rois cover little of the map.

:func:`morton_order` orders the rois so that neighbours are processed one after the other and share
cached cells. Every kernel is serial and releases the GIL; :mod:`detbench.roi._inputs` runs them on
:func:`detbench._parallel.run_chunks`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from detbench._jit import jit


class RoiSource(NamedTuple):
    """Where a ROI kernel reads the features.

    feat: the ``(N, C, H, W)`` map; read (a window per roi) only when ``windowed``.
    blk: a channels-last ``(N, H, W, B)`` array holding channels ``c0 : c0 + B`` (block mode), or a
        ``(1, 1, 1, 1)`` placeholder of the same dtype (window mode: one compiled kernel for both).
    c0: the first channel held by ``blk``.
    windowed: ``True`` for window mode, ``False`` for block mode.
    """

    feat: np.ndarray
    blk: np.ndarray
    c0: int
    windowed: bool


@jit
def copy_window(feat, b, y0, y1, x0, x1, win):
    """``win[(y - y0) * ww + (x - x0), c] = feat[b, c, y, x]`` for the inclusive window, in tiles of
    16 cells x all channels (the tile's source lines stay in cache while each row is written)."""
    C = feat.shape[1]
    ww = x1 - x0 + 1
    for y in range(y0, y1 + 1):
        r = (y - y0) * ww - x0
        for t0 in range(x0, x1 + 1, 16):
            t1 = min(x1 + 1, t0 + 16)
            for x in range(t0, t1):
                for c in range(C):
                    win[r + x, c] = feat[b, c, y, x]


@jit
def morton_order(rois, scale, H, W):
    """Roi indices sorted by image, then by the Z-order (Morton) code of the roi centre on a 1024 x 1024
    grid over the map, so consecutive rois are spatial neighbours."""
    K = rois.shape[0]
    key = np.empty(K, np.int64)
    for k in range(K):
        cx = (float(rois[k, 1]) + float(rois[k, 3])) * 0.5 * float(scale) / max(W, 1)
        cy = (float(rois[k, 2]) + float(rois[k, 4])) * 0.5 * float(scale) / max(H, 1)
        ix = int(min(max(cx, 0.0), 1.0) * 1023.0)
        iy = int(min(max(cy, 0.0), 1.0) * 1023.0)
        code = 0
        for bit in range(10):
            code |= ((ix >> bit) & 1) << (2 * bit)
            code |= ((iy >> bit) & 1) << (2 * bit + 1)
        key[k] = (int(rois[k, 0]) << 20) | code
    return np.argsort(key, kind="mergesort")


@jit
def pack_block_nchw(feat, c0, blk, start, stop):
    """``blk[n, h, w, c] = feat[n, c0 + c, h, w]`` for image rows ``start <= n * H + h < stop``; channels
    past the end of ``feat`` are zero."""
    N, C, H, W = feat.shape
    B = blk.shape[3]
    nc = min(B, C - c0)
    for nh in range(start, stop):
        n = nh // H
        h = nh - n * H
        for w0 in range(0, W, 16):
            w1 = min(W, w0 + 16)
            for w in range(w0, w1):
                for c in range(nc):
                    blk[n, h, w, c] = feat[n, c0 + c, h, w]
                for c in range(nc, B):
                    blk[n, h, w, c] = 0
