"""Numba kernels of the HOG + linear SVM detector (:mod:`detbench.hog.detector`).

One pyramid level (:func:`run_level`): resize (:mod:`detbench.hog._resize_kernels`), block grid
(:mod:`detbench.hog._descriptor_kernels`), then :func:`score_level` - each window's score is the
bias plus the correlation of the SVM weights (7 block columns x 15 blocks x 36) with the window's
blocks, read in place from the column-major block grid.  :func:`run_worker` runs one thread's list
of levels in its own scratch rows; the kernels are serial and release the GIL, so the Python layer
runs one worker per thread (:func:`detbench._parallel.run_tasks`), like OpenCV's ``parallel_for_``
over scales.

The arrays travel in four records built by :mod:`detbench.hog.detector`: :class:`PixelSource`
(the image), :class:`Svm`, :class:`LevelTables` (the geometry of every level) and
:class:`WorkerScratch` (one scratch row per thread).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from detbench._jit import jit
from detbench.hog._descriptor_kernels import BLOCK_HIST, NBINS, ZERO, BlockScratch, block_level, hbuf_width, pad_planar
from detbench.hog._resize_kernels import AxisTable, resize_float, resize_u8_exact, resize_u8_half

#: columns of :attr:`LevelTables.levels`, one row per pyramid level
(
    L_H,  # level image height
    L_W,  # level image width
    L_MODE,  # MODE_SAME / MODE_LINEAR / MODE_HALF: how the level image is made
    L_HP,  # padded height
    L_WP,  # padded width
    L_NBY,  # block grid rows
    L_NBX,  # block grid columns
    L_NY,  # window rows
    L_NX,  # window columns
    L_STEP_Y,  # block grid step in pixels (gcd(win_stride, 8))
    L_STEP_X,
    L_WSTEP_Y,  # window stride in grid steps
    L_WSTEP_X,
    L_BSTEP_Y,  # block stride (8 pixels) in grid steps
    L_BSTEP_X,
    L_XOFF,  # offset of the level's x resize table in LevelTables.xofs/xcoef/xfrac
    L_YOFF,  # offset of its y resize table
    L_XMOFF,  # offset of its column border map in LevelTables.xmaps
    L_YMOFF,  # offset of its row border map in LevelTables.ymaps
    L_SOFF,  # offset of its window scores in the flat score array
    L_XMIN,  # AxisTable.lo / .hi of the x and y resize tables
    L_XMAX,
    L_YMIN,
    L_YMAX,
) = range(24)
N_LEVEL_FIELDS = 24
MODE_SAME, MODE_LINEAR, MODE_HALF = 0, 1, 2


class PixelSource(NamedTuple):
    """The input image and how its pixels become gradient input.

    image_u8: ``(H, W, C)`` uint8 image, or a ``(1, 1, C)`` dummy when the image is float.
    image_f: ``(H, W, C)`` float32 image, or a ``(1, 1, C)`` dummy when the image is uint8
        (one compiled driver serves both input types).
    is_u8: which of the two is the image.
    lut: ``(256,)`` float32, uint8 value -> gradient input (square root with gamma correction).
    gamma: gamma correction (square root) for float images.
    """

    image_u8: np.ndarray
    image_f: np.ndarray
    is_u8: bool
    lut: np.ndarray
    gamma: bool


class Svm(NamedTuple):
    """The linear SVM in the scoring layout.

    weights: ``(7, 16 * 36)`` float32, per block column its 15 x 36 weights (OpenCV's
        descriptor order) then 36 zeros, so the contiguous dot product vectorises evenly.
    bias: the SVM bias.
    """

    weights: np.ndarray
    bias: float


class LevelTables(NamedTuple):
    """Geometry of a set of pyramid levels, concatenated over levels (read-only once built).

    levels: ``(L, N_LEVEL_FIELDS)`` int64, one row per level, columns ``L_*``.
    xofs, xcoef, xfrac / yofs, ycoef, yfrac: the resize tables (:class:`AxisTable` fields) of
        the MODE_LINEAR levels, at offsets ``L_XOFF`` / ``L_YOFF``.
    xmaps / ymaps: int64 reflect-101 source column / row of each padded pixel plus a 1-pixel
        border, at offsets ``L_XMOFF`` / ``L_YMOFF``.
    cells: the :class:`~detbench.hog._descriptor_kernels.CellWeights` vote weights.
    """

    levels: np.ndarray
    xofs: np.ndarray
    xcoef: np.ndarray
    xfrac: np.ndarray
    yofs: np.ndarray
    ycoef: np.ndarray
    yfrac: np.ndarray
    xmaps: np.ndarray
    ymaps: np.ndarray
    cells: tuple


class WorkerScratch(NamedTuple):
    """Per-thread work lists and scratch; row ``t`` of every array belongs to worker ``t``.

    worker_levels: ``(T, K)`` int64, the levels worker ``t`` runs, in order, ``-1`` padded.
    img_u8 / img_f: ``(T, n)`` uint8 / float32, the resized level image.
    f32: ``(T, n)`` float32, planes + :class:`BlockScratch` of the largest level.
    u32: ``(T, n)`` uint32, the uint8 resize's line buffer.
    """

    worker_levels: np.ndarray
    img_u8: np.ndarray
    img_f: np.ndarray
    f32: np.ndarray
    u32: np.ndarray


@jit(fastmath=True)
def score_level(blocks, svm, wstep_y, wstep_x, bstep_y, bstep_x, scores):  # pragma: no cover
    """scores[wy, wx] = svm.bias + sum over the window's 7x15 blocks of <svm block, image block>.

    blocks: (nbx, nby + 1, 36) grid, column-major so that a window's column of 15 blocks
    is contiguous when bstep_y == 1, plus one zero row; svm: :class:`Svm`, whose 576 = 18 x 32
    weights per block column let the contiguous dot product vectorise without a remainder.
    Window (wy, wx) starts at grid position (wy * wstep_y, wx * wstep_x); its block
    (bx, by) is (by * bstep_y, bx * bstep_x) positions further.  Each block column's dot
    product is summed in float32 (any order) and added to a float64 total.
    """
    weights = svm.weights
    bias = svm.bias
    ny, nx = scores.shape
    nbx_w = weights.shape[0]
    col = weights.shape[1]
    nrow = col // BLOCK_HIST
    for wy in range(ny):
        r0 = wy * wstep_y
        for wx in range(nx):
            c0 = wx * wstep_x
            s = bias
            for bx in range(nbx_w):
                wv = weights[bx]
                colb = blocks[c0 + bx * bstep_x]
                d = ZERO
                if bstep_y == 1:
                    src = colb[r0 : r0 + nrow].reshape(col)
                    for m in range(col):
                        d += src[m] * wv[m]
                else:
                    for by in range(nrow - 1):
                        blk = colb[r0 + by * bstep_y]
                        for m in range(BLOCK_HIST):
                            d += blk[m] * wv[by * BLOCK_HIST + m]
                s += d
            scores[wy, wx] = s


@jit
def run_level(t, lev, src, svm, tables, scratch, scores_flat):  # pragma: no cover
    """Level ``lev`` in worker ``t``'s scratch: resize, gradients, blocks, window scores.

    ``src``: :class:`PixelSource`; ``svm``: :class:`Svm`; ``tables``: :class:`LevelTables`;
    ``scratch``: :class:`WorkerScratch`.  The window scores go to the level's own slice of
    ``scores_flat`` (offset ``L_SOFF``).
    """
    info = tables.levels[lev]
    is_u8 = src.is_u8
    cn = src.image_u8.shape[2] if is_u8 else src.image_f.shape[2]
    h = info[L_H]
    w = info[L_W]
    mode = info[L_MODE]
    hp = info[L_HP]
    wp = info[L_WP]
    nby = info[L_NBY]
    nbx = info[L_NBX]
    xo = info[L_XOFF]
    yo = info[L_YOFF]
    xt = AxisTable(
        tables.xofs[xo : xo + w], tables.xcoef[xo : xo + w], tables.xfrac[xo : xo + w], info[L_XMIN], info[L_XMAX]
    )
    yt = AxisTable(
        tables.yofs[yo : yo + h], tables.ycoef[yo : yo + h], tables.yfrac[yo : yo + h], info[L_YMIN], info[L_YMAX]
    )
    xmap = tables.xmaps[info[L_XMOFF] : info[L_XMOFF] + wp + 2]
    ymap = tables.ymaps[info[L_YMOFF] : info[L_YMOFF] + hp + 2]
    bf = scratch.f32[t]
    o = 0
    n = cn * (hp + 2) * (wp + 2)
    planes = bf[o : o + n].reshape((cn, hp + 2, wp + 2))
    if is_u8:
        if mode == MODE_SAME:
            lvl8 = src.image_u8
        else:
            lvl8 = scratch.img_u8[t][: h * w * cn].reshape((h, w, cn))
            if mode == MODE_HALF:
                resize_u8_half(src.image_u8, lvl8)
            else:
                hb = scratch.u32[t][: 2 * w * cn].reshape((2, w * cn))
                resize_u8_exact(src.image_u8, lvl8, xt, yt, hb)
        pad_planar(lvl8, src.lut, True, src.gamma, xmap, ymap, planes)
    else:
        if mode == MODE_SAME:
            lvlf = src.image_f
        else:
            lvlf = scratch.img_f[t][: h * w * cn].reshape((h, w, cn))
            resize_float(src.image_f, lvlf, xt, yt)
        pad_planar(lvlf, src.lut, False, src.gamma, xmap, ymap, planes)
    o += n
    rows = bf[o : o + 6 * wp].reshape((6, wp))
    o += 6 * wp
    hw = hbuf_width(nbx)
    hbuf = bf[o : o + hp * hw].reshape((hp, hw))
    o += hp * hw
    vbuf = bf[o : o + 2 * nbx * 2 * NBINS].reshape((2, nbx * 2 * NBINS))
    o += 2 * nbx * 2 * NBINS
    blocks = bf[o : o + (nby + 1) * nbx * BLOCK_HIST].reshape((nbx, nby + 1, BLOCK_HIST))
    block_level(planes, info[L_STEP_Y], info[L_STEP_X], tables.cells, BlockScratch(rows, hbuf, vbuf, blocks), nby)
    so = info[L_SOFF]
    ny = info[L_NY]
    nx = info[L_NX]
    scores = scores_flat[so : so + ny * nx].reshape((ny, nx))
    score_level(blocks, svm, info[L_WSTEP_Y], info[L_WSTEP_X], info[L_BSTEP_Y], info[L_BSTEP_X], scores)


@jit
def run_worker(t, src, svm, tables, scratch, scores_flat):  # pragma: no cover
    """Score every window of worker ``t``'s pyramid levels (``scratch.worker_levels[t]``, -1 padded),
    one after the other in its own scratch rows (see :func:`run_level`)."""
    for q in range(scratch.worker_levels.shape[1]):
        lev = scratch.worker_levels[t, q]
        if lev < 0:
            break
        run_level(t, lev, src, svm, tables, scratch, scores_flat)
