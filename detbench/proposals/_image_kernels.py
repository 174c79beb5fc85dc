"""Numba kernels of selective search's image preparation: separable Gaussian filtering with
symmetric borders, texture bins of oriented derivatives, and RGB -> HSV / CIE Lab conversion.
"""

from __future__ import annotations

import numpy as np

from detbench._jit import jit


@jit(inline="always")
def _reflect(i, n):
    # half-sample symmetric extension (scipy.ndimage mode "reflect"): d c b a | a b c d | d c b a
    period = 2 * n
    i = i % period
    if i < 0:
        i += period
    if i >= n:
        i = period - 1 - i
    return i


@jit
def separable_correlate(img, kx, ky, tmp, out):
    """out = img correlated with ky along rows (axis 0) and kx along columns (axis 1).

    img, tmp, out: (H, W, C) float64; kx, ky: odd-length kernels; symmetric
    (half-sample) borders. O(HW C (len kx + len ky)).
    """
    h, w, c = img.shape
    nx = kx.shape[0]
    ny = ky.shape[0]
    rx = nx // 2
    ry = ny // 2
    ix = np.empty((w, nx), dtype=np.int64)
    for x in range(w):
        for t in range(nx):
            ix[x, t] = _reflect(x + t - rx, w)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                s = 0.0
                for t in range(nx):
                    s += kx[t] * img[y, ix[x, t], ch]
                tmp[y, x, ch] = s
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                out[y, x, ch] = 0.0
        for t in range(ny):
            row = _reflect(y + t - ry, h)
            k = ky[t]
            for x in range(w):
                for ch in range(c):
                    out[y, x, ch] += k * tmp[row, x, ch]


@jit
def texture_bins(gx, gy, cos_t, sin_t, n_bins, out):
    """Bin the rectified oriented derivatives max(0, cos t gx + sin t gy).

    gx, gy: (H, W, C); cos_t, sin_t: (O,); out: (H*W, C*O) int64, column
    ``c*O + o``. The bin range per channel is [0, largest response of that
    channel]. O(HW C O).
    """
    h, w, c = gx.shape
    no = cos_t.shape[0]
    for ch in range(c):
        top = 0.0
        for y in range(h):
            for x in range(w):
                for o in range(no):
                    r = cos_t[o] * gx[y, x, ch] + sin_t[o] * gy[y, x, ch]
                    if r > top:
                        top = r
        scale = n_bins / top if top > 0 else 0.0
        for y in range(h):
            for x in range(w):
                p = y * w + x
                for o in range(no):
                    r = cos_t[o] * gx[y, x, ch] + sin_t[o] * gy[y, x, ch]
                    b = 0
                    if r > 0:
                        b = int(r * scale)
                        if b >= n_bins:
                            b = n_bins - 1
                    out[p, ch * no + o] = b


@jit
def rgb_to_hsv(rgb, out):
    """RGB (H, W, 3) in [0, 255] -> HSV with each channel in [0, 255] (hue 0..360 deg -> 0..255). O(HW)."""
    h, w, _ = rgb.shape
    for y in range(h):
        for x in range(w):
            r = rgb[y, x, 0] / 255.0
            g = rgb[y, x, 1] / 255.0
            b = rgb[y, x, 2] / 255.0
            v = max(r, g, b)
            c = v - min(r, g, b)
            s = c / v if v > 0.0 else 0.0
            if c <= 0.0:
                hue = 0.0
            elif v == r:
                hue = ((g - b) / c) % 6.0
            elif v == g:
                hue = (b - r) / c + 2.0
            else:
                hue = (r - g) / c + 4.0
            out[y, x, 0] = hue / 6.0 * 255.0
            out[y, x, 1] = s * 255.0
            out[y, x, 2] = v * 255.0


@jit(inline="always")
def _srgb_linear(c):
    if c > 0.04045:
        return ((c + 0.055) / 1.055) ** 2.4
    return c / 12.92


@jit(inline="always")
def _lab_f(t):
    if t > 0.008856451679035631:  # (6/29)^3
        return np.cbrt(t)
    return t / 0.12841854934601665 + 4.0 / 29.0  # t / (3 (6/29)^2) + 4/29


@jit
def rgb_to_lab(rgb, m, white, out):
    """sRGB (H, W, 3) in [0, 255] -> CIE L*a*b*, scaled to [0, 255] as (2.55 L, a + 128, b + 128), clipped.

    m: (3, 3) linear-RGB -> XYZ matrix; white: (3,) reference white. O(HW).
    """
    h, w, _ = rgb.shape
    for y in range(h):
        for x in range(w):
            r = _srgb_linear(rgb[y, x, 0] / 255.0)
            g = _srgb_linear(rgb[y, x, 1] / 255.0)
            b = _srgb_linear(rgb[y, x, 2] / 255.0)
            fx = _lab_f((m[0, 0] * r + m[0, 1] * g + m[0, 2] * b) / white[0])
            fy = _lab_f((m[1, 0] * r + m[1, 1] * g + m[1, 2] * b) / white[1])
            fz = _lab_f((m[2, 0] * r + m[2, 1] * g + m[2, 2] * b) / white[2])
            vals = (2.55 * (116.0 * fy - 16.0), 500.0 * (fx - fy) + 128.0, 200.0 * (fy - fz) + 128.0)
            for ch in range(3):
                v = vals[ch]
                out[y, x, ch] = min(max(v, 0.0), 255.0)
