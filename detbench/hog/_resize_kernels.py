"""Numba kernels of the pyramid resize (:mod:`detbench.hog.resize`).

:func:`resize_u8_exact` is OpenCV's ``INTER_LINEAR_EXACT`` fixed-point arithmetic for ``uint8``
images (8-bit weights, horizontal then vertical pass, bit-exact); :func:`resize_u8_half` the exact
2x reduction OpenCV takes for it; :func:`resize_float` plain bilinear interpolation of float images
at the same sample positions.  The sample positions of one axis come as an :class:`AxisTable`
built by the Python layer (:func:`detbench.hog.resize.linear_tables`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from detbench._jit import jit


class AxisTable(NamedTuple):
    """Bilinear sample positions along one axis of a resize (``dst`` output pixels).

    ofs: ``(dst,)`` int64, the left/upper source neighbour of each output pixel.
    coef: ``(dst,)`` int64, the 8-bit fixed-point weight (0..256) of the right/lower neighbour
        (the other one gets ``256 - coef``); used for uint8 images.
    frac: ``(dst,)`` float64, the exact weight of the right/lower neighbour; used for float images.
    lo: output pixels ``< lo`` copy source pixel 0 (their position is left of the first centre).
    hi: output pixels ``>= hi`` copy the source pixel ``ofs[-1]`` (right of the last centre).
    """

    ofs: np.ndarray
    coef: np.ndarray
    frac: np.ndarray
    lo: int
    hi: int


def u8_line_buffer(dst_w: int, channels: int) -> np.ndarray:
    """Scratch of :func:`resize_u8_exact`: two horizontally resized rows, ``(2, dst_w * channels)`` uint32."""
    return np.empty((2, dst_w * channels), dtype=np.uint32)


@jit
def _hline_u8(row, line, xt):  # pragma: no cover
    """One source row resized horizontally into 8.8 fixed point (uint32 holds it)."""
    xofs = xt.ofs
    xcoef = xt.coef
    xmin = xt.lo
    xmax = xt.hi
    dw = xofs.shape[0]
    cn = row.shape[1]
    flat = row.reshape(row.shape[0] * cn)
    last = xofs[dw - 1] * cn
    for dx in range(min(xmin, dw)):
        for c in range(cn):
            line[dx * cn + c] = np.uint32(flat[c]) << 8
    if cn == 3:
        for dx in range(xmin, xmax):
            k = xofs[dx] * 3
            c1 = np.uint32(xcoef[dx])
            c0 = np.uint32(256) - c1
            line[dx * 3] = c0 * np.uint32(flat[k]) + c1 * np.uint32(flat[k + 3])
            line[dx * 3 + 1] = c0 * np.uint32(flat[k + 1]) + c1 * np.uint32(flat[k + 4])
            line[dx * 3 + 2] = c0 * np.uint32(flat[k + 2]) + c1 * np.uint32(flat[k + 5])
    else:
        for dx in range(xmin, xmax):
            k = xofs[dx] * cn
            c1 = np.uint32(xcoef[dx])
            c0 = np.uint32(256) - c1
            for c in range(cn):
                line[dx * cn + c] = c0 * np.uint32(flat[k + c]) + c1 * np.uint32(flat[k + cn + c])
    for dx in range(max(xmax, xmin), dw):
        for c in range(cn):
            line[dx * cn + c] = np.uint32(flat[last + c]) << 8


@jit
def resize_u8_exact(src, dst, xt, yt, hbuf):  # pragma: no cover
    """Bit-exact twin of OpenCV's INTER_LINEAR_EXACT for uint8 images (HWC, any channel count).

    xt / yt: the :class:`AxisTable` of each axis.  The horizontal pass gives 8.8 fixed point,
    the vertical one 16.16, rounded half up to uint8.  hbuf: :func:`u8_line_buffer` scratch
    holding two horizontally resized rows.
    """
    sh = src.shape[0]
    dh, dw, cn = dst.shape
    yofs = yt.ofs
    ycoef = yt.coef
    ymin = yt.lo
    ymax = yt.hi
    held0 = -1  # source row held by hbuf[0] / hbuf[1]
    held1 = -1
    for dy in range(dh):
        single = dy < ymin or dy >= ymax
        if dy < ymin:
            r0 = 0
        elif dy >= ymax:
            r0 = sh - 1
        else:
            r0 = yofs[dy]
        r1 = r0 + 1
        s0 = -1
        if held0 == r0:
            s0 = 0
        elif held1 == r0:
            s0 = 1
        s1 = -1
        if not single:
            if held0 == r1:
                s1 = 0
            elif held1 == r1:
                s1 = 1
        if s0 < 0:
            s0 = 1 if s1 == 0 else 0
            _hline_u8(src[r0], hbuf[s0], xt)
            if s0 == 0:
                held0 = r0
            else:
                held1 = r0
        if not single and s1 < 0:
            s1 = 1 - s0
            _hline_u8(src[r1], hbuf[s1], xt)
            if s1 == 0:
                held0 = r1
            else:
                held1 = r1
        out = dst[dy].reshape(dw * cn)
        line0 = hbuf[s0]
        if single:
            for k in range(dw * cn):
                out[k] = np.uint8((line0[k] + np.uint32(128)) >> 8)
        else:
            line1 = hbuf[s1]
            w1 = np.uint32(ycoef[dy])
            w0 = np.uint32(256) - w1
            for k in range(dw * cn):
                out[k] = np.uint8((line0[k] * w0 + line1[k] * w1 + np.uint32(32768)) >> 16)


@jit
def resize_u8_half(src, dst):  # pragma: no cover
    """Exact 2x downscale of a uint8 image (OpenCV uses INTER_AREA for it): (a + b + c + d + 2) >> 2."""
    dh, dw, cn = dst.shape
    for dy in range(dh):
        for dx in range(dw):
            for c in range(cn):
                s = (
                    np.int32(src[2 * dy, 2 * dx, c])
                    + np.int32(src[2 * dy, 2 * dx + 1, c])
                    + np.int32(src[2 * dy + 1, 2 * dx, c])
                    + np.int32(src[2 * dy + 1, 2 * dx + 1, c])
                )
                dst[dy, dx, c] = np.uint8((s + 2) >> 2)


@jit
def resize_float(src, dst, xt, yt):  # pragma: no cover
    """Bilinear resize of a float image with the same sample positions as :func:`resize_u8_exact`."""
    sh, sw, cn = src.shape
    dh, dw, _ = dst.shape
    xofs = xt.ofs
    xfrac = xt.frac
    xmin = xt.lo
    xmax = xt.hi
    yofs = yt.ofs
    yfrac = yt.frac
    ymin = yt.lo
    ymax = yt.hi
    last_x = xofs[dw - 1]
    for dy in range(dh):
        if dy < ymin:
            r0 = 0
            fy = 0.0
        elif dy >= ymax:
            r0 = sh - 1
            fy = 0.0
        else:
            r0 = yofs[dy]
            fy = yfrac[dy]
        r1 = min(r0 + 1, sh - 1)
        for dx in range(dw):
            if dx < xmin:
                x0 = 0
                fx = 0.0
            elif dx >= xmax:
                x0 = last_x
                fx = 0.0
            else:
                x0 = xofs[dx]
                fx = xfrac[dx]
            x1 = min(x0 + 1, sw - 1)
            for c in range(cn):
                top = src[r0, x0, c] * (1.0 - fx) + src[r0, x1, c] * fx
                bot = src[r1, x0, c] * (1.0 - fx) + src[r1, x1, c] * fx
                dst[dy, dx, c] = top * (1.0 - fy) + bot * fy
