"""The resize of the HOG detector's image pyramid: OpenCV's ``INTER_LINEAR_EXACT``, bit for bit on uint8.

Sample position of output pixel ``d`` along an axis of ``src`` -> ``dst`` pixels:
``f = (d + 0.5) * src / dst - 0.5`` (double precision, as OpenCV's softdouble); left neighbour
``floor(f)``, right weight ``round_half_even(frac(f) * 256)`` in 8-bit fixed point for uint8
images (the exact fraction for float images).  Kernels: :mod:`detbench.hog._resize_kernels`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import as_float_array, check_pair
from detbench.hog import _resize_kernels as _k
from detbench.hog._resize_kernels import AxisTable

__all__ = ["resize_linear_exact"]


def linear_tables(src: int, dst: int) -> AxisTable:
    """OpenCV INTER_LINEAR_EXACT sample positions along one axis (see :class:`AxisTable`)."""
    scale = 1.0 / (dst / src)
    d = np.arange(dst, dtype=np.float64)
    f = scale * (d + 0.5) - 0.5
    i = np.floor(f)
    frac = f - i
    ofs = i.astype(np.int64)
    lo, hi = 0, dst
    if src > 1:
        neg = np.flatnonzero(ofs < 0)
        if neg.size:
            lo = int(neg[-1]) + 1
        right = np.flatnonzero(ofs >= src - 1)
        if right.size:
            hi = int(right[0])
            ofs[right] = src - 1
    else:
        lo, hi = dst, dst  # everything copies the single source pixel
        ofs[:] = 0
    ofs = np.clip(ofs, 0, src - 1)
    coef = np.rint(frac * 256.0).astype(np.int64)
    return AxisTable(ofs, coef, frac, lo, hi)


def resize_linear_exact(image: Any, size: Any) -> np.ndarray:
    """Bilinear resize to ``size = (width, height)`` with OpenCV's pixel-centre convention.

    ``uint8`` images reproduce ``cv2.resize(image, size, interpolation=cv2.INTER_LINEAR_EXACT)``
    bit for bit (8-bit fixed-point weights; an exact 2x reduction is the 2x2 mean,
    rounded, as OpenCV does); float images use exact weights.  ``(H, W)`` or
    ``(H, W, C)`` in, same layout and dtype (float32 for non-uint8) out.  O(output pixels).
    This is the resize of the detector's image pyramid.
    """
    if isinstance(image, np.ndarray) and image.dtype == np.uint8:
        arr = image
    else:
        arr = as_float_array(image, "image").astype(np.float32)
    if arr.ndim not in (2, 3):
        raise ValueError(f"image: expected (H, W) or (H, W, C), got shape {arr.shape}")
    dw, dh = check_pair(size, "size")
    grey = arr.ndim == 2
    src = np.ascontiguousarray(arr[:, :, None] if grey else arr)
    if src.shape[0] == 0 or src.shape[1] == 0:
        raise ValueError(f"image: empty image of shape {arr.shape}")
    out = resize_level(src, src.dtype == np.uint8, dh, dw)
    return out[:, :, 0] if grey else out


def resize_level(src: np.ndarray, is_u8: bool, dh: int, dw: int) -> np.ndarray:
    """``src`` (HWC, C-contiguous uint8 or float32) resized to ``dh x dw``, a new array."""
    sh, sw, cn = src.shape
    out = np.empty((dh, dw, cn), dtype=src.dtype)
    if (dh, dw) == (sh, sw):
        out[...] = src
        return out
    if is_u8 and sw == 2 * dw and sh == 2 * dh:
        _k.resize_u8_half(src, out)
        return out
    xt = linear_tables(sw, dw)
    yt = linear_tables(sh, dh)
    if is_u8:
        _k.resize_u8_exact(src, out, xt, yt, _k.u8_line_buffer(dw, cn))
    else:
        _k.resize_float(src, out, xt, yt)
    return out
