"""Exhaustive sliding windows, the baseline that region proposals replace (seed notes, section 2)."""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import as_float_array, check_alloc, check_pair

__all__ = ["sliding_windows"]


def sliding_windows(image_size: Any, window_sizes: Any, stride: Any) -> np.ndarray:
    """Every window of each size placed every ``stride`` pixels, fully inside the image (seed §2).

    ``image_size``: ``(height, width)``; ``window_sizes``: ``(K, 2)`` window
    (width, height) in pixels; ``stride``: int or ``(stride_y, stride_x)``.
    Returns ``(M, 4)`` float64 xyxy windows, size-major then row-major (top
    to bottom, left to right). A result too large for memory is refused before
    anything is allocated. Cost O(M).
    """
    h, w = check_pair(image_size, "image_size")
    sy, sx = check_pair(stride, "stride")
    ws = as_float_array(window_sizes, "window_sizes", ndim=2, dtype=np.float64)
    if ws.shape[1] != 2 or (ws <= 0).any():
        raise ValueError(f"window_sizes: expected (K, 2) positive (width, height), got shape {ws.shape}")
    total = 0
    for ww, wh in ws.tolist():
        if ww <= w and wh <= h:
            total += (int((w - ww) // sx) + 1) * (int((h - wh) // sy) + 1)
    check_alloc((total, 4), 8 * 4, "image_size", f"the windows at stride {(sy, sx)}")  # result + meshgrid temporaries
    out = []
    for ww, wh in ws:
        xs = np.arange(0, w - ww + 1e-9, sx) if ww <= w else np.zeros(0)
        ys = np.arange(0, h - wh + 1e-9, sy) if wh <= h else np.zeros(0)
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
        xx, yy = xx.ravel(), yy.ravel()
        out.append(np.stack([xx, yy, xx + ww, yy + wh], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 4))
