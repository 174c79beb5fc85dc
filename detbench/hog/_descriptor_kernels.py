"""Numba kernels of the HOG descriptor (:mod:`detbench.hog.descriptor`): the block grid of one image.

All kernels are serial and release the GIL (the detector runs whole pyramid levels on
threads, :mod:`detbench.hog.detector`):

1. :func:`pad_planar` - the level image with its padding and a 1-pixel border
   (BORDER_REFLECT_101 index maps) as float32 channel planes, gamma
   (square root) applied, so the gradient loops below are plain contiguous
   loops that vectorise.
2. :func:`gradient_row` - centred ``[-1, 0, 1]`` gradients, the strongest
   channel of a colour pixel, magnitude and OpenCV's polynomial ``atan2``
   (branch-free); each pixel votes ``mag * (1 - f)`` for bin ``b`` and
   ``mag * f`` for bin ``b + 1`` (mod 9) of the 9 unsigned orientation bins
   (centres at 10, 30, ..., 170 degrees).
3. :func:`hist_row` + :func:`vertical_blocks` - every 16x16 block on a
   ``step``-pixel grid: votes weighted by a Gaussian (sigma 4) centred on the
   block and by the bilinear weights of the two nearest cell centres in x and
   y (:class:`CellWeights`).  Both weights are separable, so a horizontal pass
   (each row's votes -> per-block cell-column sums; on the 8-pixel grid every
   pixel feeds exactly 3 such sums) and a vertical pass (16 rows -> the block's
   2x2x9 histogram) do the work; then L2-Hys.  :func:`block_level` runs the rows
   in a :class:`BlockScratch`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from detbench._jit import jit

NBINS = 9
CELL = 8
BLOCK = 16
BLOCK_HIST = 36  # 2 x 2 cells x 9 bins

# OpenCV's polynomial atan (degrees), single precision constants
_DEG = np.float32(180.0 / np.pi)
ATAN_P1 = np.float32(np.float32(0.9997878412794807) * _DEG)
ATAN_P3 = np.float32(np.float32(-0.3258083974640975) * _DEG)
ATAN_P5 = np.float32(np.float32(0.1555786518463281) * _DEG)
ATAN_P7 = np.float32(np.float32(-0.04432655554792128) * _DEG)
ATAN_EPS = np.float32(np.finfo(np.float64).eps)
DEG2RAD = np.float32(np.pi / 180.0)
ANGLE_SCALE = np.float32(NBINS / np.pi)  # unsigned orientation: [0, pi) -> [0, 9)
F90 = np.float32(90.0)
F180 = np.float32(180.0)
F360 = np.float32(360.0)
HALF = np.float32(0.5)
ONE = np.float32(1.0)
ZERO = np.float32(0.0)
L2HYS_EPS1 = np.float32(np.float32(BLOCK_HIST) * np.float32(0.1))
L2HYS_EPS2 = np.float32(1e-3)
L2HYS_CLIP = np.float32(0.2)


class CellWeights(NamedTuple):
    """Vote weights along one 16-pixel block axis (the same table serves x and y).

    wx: ``(2, 16)`` float32, ``wx[c, j]``: Gaussian (sigma 4, centred on the block) times the
        bilinear weight of cell ``c`` (centre 3.5 or 11.5) for block coordinate ``j``.
    jlo, jhi: ``(2,)`` int64, the non-zero range ``[jlo[c], jhi[c])`` of ``wx[c]``.
    tap3: ``(8, 3)`` float32, on the 8-pixel block grid: the weights of the 3 consecutive
        (block, cell column) slots a pixel at ``x % 8 == u`` votes into.
    """

    wx: np.ndarray
    jlo: np.ndarray
    jhi: np.ndarray
    tap3: np.ndarray


class BlockScratch(NamedTuple):
    """Working arrays of :func:`block_level` for one padded image of ``hp x wp`` pixels.

    rows: ``(6, wp)`` float32, one row's dx, dy, magnitude^2, the two votes and (viewed as uint8) bins.
    hbuf: ``(hp, hbuf_width(nbx))`` float32, the horizontal pass of every row.
    vbuf: ``(2, nbx * 18)`` float32, the vertical pass of one block row (one line per cell row).
    blocks: ``(nbx, nby + 1, 36)`` float32 output, column-major block grid plus a zero row.
    """

    rows: np.ndarray
    hbuf: np.ndarray
    vbuf: np.ndarray
    blocks: np.ndarray


def block_scratch(hp: int, wp: int, nby: int, nbx: int) -> BlockScratch:
    """A fresh :class:`BlockScratch` for a padded image of ``hp x wp`` with ``nby x nbx`` blocks."""
    return BlockScratch(
        np.empty((6, wp), np.float32),
        np.empty((hp, hbuf_width.py_func(nbx)), np.float32),
        np.empty((2, nbx * 2 * NBINS), np.float32),
        np.empty((nbx, nby + 1, BLOCK_HIST), np.float32),
    )


# --------------------------------------------------------------------------- gradients
@jit
def pad_planar(img, lut, use_lut, gamma, xmap, ymap, planes):  # pragma: no cover
    """planes[c, p, q] = value of img[ymap[p], xmap[q], c]: the padded image plus a 1-pixel
    reflect-101 border, channel planes, as float32 (lut for uint8, optional sqrt for floats)."""
    cn = img.shape[2]
    hq = planes.shape[1]
    wq = planes.shape[2]
    for p in range(hq):
        src = img[ymap[p]]
        for c in range(cn):
            dst = planes[c, p]
            if use_lut:
                for q in range(wq):
                    dst[q] = lut[np.intp(src[xmap[q], c])]
            elif gamma:
                for q in range(wq):
                    dst[q] = np.sqrt(np.float32(src[xmap[q], c]))
            else:
                for q in range(wq):
                    dst[q] = np.float32(src[xmap[q], c])


@jit
def gradient_row(planes, y, dxb, dyb, mb, g0, g1, bins):  # pragma: no cover
    """Orientation votes of padded row y (planes from :func:`pad_planar`).

    dxb/dyb/mb: (Wp,) float32 scratch.  Outputs g0/g1 (Wp,) float32: votes for bins[x]
    and bins[x] + 1 (mod 9).  Colour: the channel with the largest dx^2 + dy^2 wins; ties
    go to the lower channel index, except in the last Wp % 4 columns where they go to
    the higher one (OpenCV's 4-wide SIMD loop and its scalar tail).
    """
    cn = planes.shape[0]
    wp = g0.shape[0]
    wp4 = (wp // 4) * 4
    for c in range(cn):
        pm = planes[c, y + 1]
        pu = planes[c, y]
        pd = planes[c, y + 2]
        if c == 0:
            for x in range(wp):
                dx = pm[x + 2] - pm[x]
                dy = pd[x + 1] - pu[x + 1]
                dxb[x] = dx
                dyb[x] = dy
                mb[x] = dx * dx + dy * dy
        else:
            for x in range(wp4):
                dx = pm[x + 2] - pm[x]
                dy = pd[x + 1] - pu[x + 1]
                m = dx * dx + dy * dy
                take = m > mb[x]
                dxb[x] = dx if take else dxb[x]
                dyb[x] = dy if take else dyb[x]
                mb[x] = m if take else mb[x]
            for x in range(wp4, wp):
                dx = pm[x + 2] - pm[x]
                dy = pd[x + 1] - pu[x + 1]
                m = dx * dx + dy * dy
                take = m >= mb[x]
                dxb[x] = dx if take else dxb[x]
                dyb[x] = dy if take else dyb[x]
                mb[x] = m if take else mb[x]
    for x in range(wp):
        dx = dxb[x]
        dy = dyb[x]
        ax = abs(dx)
        ay = abs(dy)
        steep = ax < ay
        num = ax if steep else ay
        den = ay if steep else ax
        t = num / (den + ATAN_EPS)
        t2 = t * t
        a = (((ATAN_P7 * t2 + ATAN_P5) * t2 + ATAN_P3) * t2 + ATAN_P1) * t  # OpenCV's fastAtan2, degrees
        a = F90 - a if steep else a
        a = F180 - a if dx < ZERO else a
        a = F360 - a if dy < ZERO else a
        v = (a * DEG2RAD) * ANGLE_SCALE - HALF
        fl = np.floor(v)
        frac = v - fl
        h = np.int32(fl)
        h = h + NBINS if h < 0 else h
        h = h - NBINS if h >= NBINS else h
        mag = np.sqrt(mb[x])
        g0[x] = mag * (ONE - frac)
        g1[x] = mag * frac
        bins[x] = np.uint8(h)


@jit
def gradient_level(planes, g0, g1, bins):  # pragma: no cover
    """:func:`gradient_row` for every row: (Hp, Wp) votes of the padded image."""
    wp = g0.shape[1]
    dxb = np.empty(wp, dtype=np.float32)
    dyb = np.empty(wp, dtype=np.float32)
    mb = np.empty(wp, dtype=np.float32)
    for y in range(g0.shape[0]):
        gradient_row(planes, y, dxb, dyb, mb, g0[y], g1[y], bins[y])


# --------------------------------------------------------------------------- blocks
@jit
def hist_row(g0, g1, bins, step_x, nbx, cells, row):  # pragma: no cover
    """Horizontal pass of one row: row[(2 * bx + cx + 2) * 9 + b] = sum over the 16 pixels of
    block bx of cells.wx[cx, j] * (their votes for bin b).  Slots 0, 1 and those past the last
    block are margins that absorb votes of pixels outside every block."""
    wx = cells.wx
    jlo = cells.jlo
    jhi = cells.jhi
    tap3 = cells.tap3
    for k in range(row.shape[0]):
        row[k] = ZERO
    if step_x == CELL:
        # every pixel x votes into the 3 consecutive (block, cell column) slots starting at
        # 2 * (x // 8) - 2 + (x % 8 >= 4), with weights tap3[x % 8]
        for x in range(g0.shape[0]):
            u = x & 7
            base = (2 * (x >> 3) + (1 if u >= 4 else 0)) * NBINS
            b0 = np.intp(bins[x])
            b1 = b0 + 1 if b0 < NBINS - 1 else 0
            v0 = g0[x]
            v1 = g1[x]
            t0 = tap3[u, 0]
            t1 = tap3[u, 1]
            t2 = tap3[u, 2]
            row[base + b0] += t0 * v0
            row[base + b1] += t0 * v1
            row[base + NBINS + b0] += t1 * v0
            row[base + NBINS + b1] += t1 * v1
            row[base + 2 * NBINS + b0] += t2 * v0
            row[base + 2 * NBINS + b1] += t2 * v1
    else:
        for bx in range(nbx):
            x0 = bx * step_x
            for cx in range(2):
                off = (2 * bx + cx + 2) * NBINS
                for j in range(jlo[cx], jhi[cx]):
                    w = wx[cx, j]
                    x = x0 + j
                    b0 = np.intp(bins[x])
                    b1 = b0 + 1 if b0 < NBINS - 1 else 0
                    row[off + b0] += w * g0[x]
                    row[off + b1] += w * g1[x]


@jit
def vertical_blocks(hbuf, step_y, cells, vbuf, blocks, nby):  # pragma: no cover
    """Vertical pass and L2-Hys: blocks[bx, by] (36 values, cell x, cell y, bin) from the row sums,
    for by < nby; grid rows from nby on (padding for the window scores) are set to 0."""
    wy = cells.wx
    jlo = cells.jlo
    jhi = cells.jhi
    nbx = blocks.shape[0]
    n = nbx * 2 * NBINS
    for bx in range(nbx):
        for by in range(nby, blocks.shape[1]):
            for m in range(BLOCK_HIST):
                blocks[bx, by, m] = ZERO
    tmp = np.empty(BLOCK_HIST, dtype=np.float32)
    for by in range(nby):
        y0 = by * step_y
        for cy in range(2):
            acc = vbuf[cy]
            for k in range(n):
                acc[k] = ZERO
            for i in range(jlo[cy], jhi[cy]):
                w = wy[cy, i]
                src = hbuf[y0 + i]
                for k in range(n):
                    acc[k] += w * src[2 * NBINS + k]
        for bx in range(nbx):
            for cx in range(2):
                for cy in range(2):
                    src = vbuf[cy]
                    for b in range(NBINS):
                        tmp[(cx * 2 + cy) * NBINS + b] = src[(2 * bx + cx) * NBINS + b]
            s = ZERO
            for m in range(BLOCK_HIST):
                s += tmp[m] * tmp[m]
            scale = ONE / (np.sqrt(s) + L2HYS_EPS1)
            s = ZERO
            for m in range(BLOCK_HIST):
                v = min(tmp[m] * scale, L2HYS_CLIP)
                tmp[m] = v
                s += v * v
            scale = ONE / (np.sqrt(s) + L2HYS_EPS2)
            out = blocks[bx, by]
            for m in range(BLOCK_HIST):
                out[m] = tmp[m] * scale


@jit
def hbuf_width(nbx):  # pragma: no cover
    """Row length of the horizontal-pass buffer: 2 slots (cell columns) of 9 bins per block, 2 margin
    slots in front and 6 behind (with an 8-pixel grid, nbx = Wp // 8 - 1 and pixel x votes into
    slots up to 2 * (x // 8) + 3 < 2 * nbx + 8)."""
    return (2 * nbx + 8) * NBINS


@jit
def block_level(planes, step_y, step_x, cells, scratch, nby):  # pragma: no cover
    """Blocks of one level into ``scratch.blocks`` (nbx, >= nby, 36): gradients row by row
    (``scratch.rows``), horizontal pass into ``scratch.hbuf``, vertical pass + L2-Hys
    (``scratch.vbuf``).  ``cells``: :class:`CellWeights`; ``scratch``: :class:`BlockScratch`."""
    rows = scratch.rows
    hbuf = scratch.hbuf
    blocks = scratch.blocks
    hp = hbuf.shape[0]
    nbx = blocks.shape[0]
    for y in range(hp):
        gradient_row(planes, y, rows[0], rows[1], rows[2], rows[3], rows[4], rows[5].view(np.uint8))
        hist_row(rows[3], rows[4], rows[5].view(np.uint8), step_x, nbx, cells, hbuf[y])
    vertical_blocks(hbuf, step_y, cells, scratch.vbuf, blocks, nby)
