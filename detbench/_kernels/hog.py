"""Numba kernels of the HOG people detector (:mod:`detbench.hog`).

One pyramid level (:func:`run_level`); :func:`run_worker` runs a list of levels
in one scratch area.  All kernels are serial and release the GIL: the Python
layer runs one worker per thread (whole levels per thread, each with its own
scratch, like OpenCV's ``parallel_for_`` over scales), which needs no parallel
compilation and no busy-waiting thread pool:

1. :func:`resize_u8_exact` - bilinear resize with OpenCV's ``INTER_LINEAR_EXACT``
   fixed-point arithmetic for ``uint8`` images (8-bit weights, horizontal then
   vertical pass, bit-exact; :func:`resize_u8_half` for an exact 2x
   reduction), :func:`resize_float` for float images; the coefficient tables
   come from the Python layer.
2. :func:`pad_planar` - the level image with its padding and a 1-pixel border
   (BORDER_REFLECT_101 index maps) as float32 channel planes, gamma
   (square root) applied, so the gradient loops below are plain contiguous
   loops that vectorise.
3. :func:`gradient_row` - centred ``[-1, 0, 1]`` gradients, the strongest
   channel of a colour pixel, magnitude and OpenCV's polynomial ``atan2``
   (branch-free); each pixel votes ``mag * (1 - f)`` for bin ``b`` and
   ``mag * f`` for bin ``b + 1`` (mod 9) of the 9 unsigned orientation bins
   (centres at 10, 30, ..., 170 degrees).
4. :func:`hist_row` + :func:`vertical_blocks` - every 16x16 block on a
   ``step``-pixel grid: votes weighted by a Gaussian (sigma 4) centred on the
   block and by the bilinear weights of the two nearest cell centres in x and
   y.  Both weights are separable, so a horizontal pass (each row's votes ->
   per-block cell-column sums; on the 8-pixel grid every pixel feeds exactly 3
   such sums) and a vertical pass (16 rows -> the block's 2x2x9 histogram) do
   the work; then L2-Hys.  :func:`block_level` runs the rows.
5. :func:`score_level` - each window's score is the bias plus the correlation
   of the SVM weights (7 block columns x 15 blocks x 36) with the window's
   blocks, read in place from the column-major block grid.
"""

from __future__ import annotations

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


# --------------------------------------------------------------------------- resize
@jit
def _hline_u8(row, line, xofs, xcoef, xmin, xmax):  # pragma: no cover
    """One source row resized horizontally into 8.8 fixed point (uint32 holds it)."""
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
def resize_u8_exact(src, dst, xofs, xcoef, xmin, xmax, yofs, ycoef, ymin, ymax, hbuf):  # pragma: no cover
    """Bit-exact twin of OpenCV's INTER_LINEAR_EXACT for uint8 images (HWC, any channel count).

    x/ycoef hold the 8-bit fixed-point weight of the right/lower neighbour (the other
    one gets 256 - c).  Columns < xmin copy the first pixel, >= xmax the pixel at
    xofs[-1]; rows likewise with the first/last row.  The horizontal pass gives 8.8
    fixed point, the vertical one 16.16, rounded half up to uint8.
    hbuf: (2, dst_w * C) uint32 scratch holding two horizontally resized rows.
    """
    sh = src.shape[0]
    dh, dw, cn = dst.shape
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
            _hline_u8(src[r0], hbuf[s0], xofs, xcoef, xmin, xmax)
            if s0 == 0:
                held0 = r0
            else:
                held1 = r0
        if not single and s1 < 0:
            s1 = 1 - s0
            _hline_u8(src[r1], hbuf[s1], xofs, xcoef, xmin, xmax)
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
def resize_float(src, dst, xofs, xfrac, xmin, xmax, yofs, yfrac, ymin, ymax):  # pragma: no cover
    """Bilinear resize of a float image with the same sample positions as :func:`resize_u8_exact`."""
    sh, sw, cn = src.shape
    dh, dw, _ = dst.shape
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
def hist_row(g0, g1, bins, step_x, nbx, wx, jlo, jhi, tap3, row):  # pragma: no cover
    """Horizontal pass of one row: row[(2 * bx + cx + 2) * 9 + b] = sum over the 16 pixels of
    block bx of wx[cx, j] * (their votes for bin b).  Slots 0, 1 and those past the last block
    are margins that absorb votes of pixels outside every block."""
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
def vertical_blocks(hbuf, step_y, wy, jlo, jhi, vbuf, blocks, nby):  # pragma: no cover
    """Vertical pass and L2-Hys: blocks[bx, by] (36 values, cell x, cell y, bin) from the row sums,
    for by < nby; grid rows from nby on (padding for :func:`score_level`) are set to 0."""
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
def block_level(planes, step_y, step_x, wx, jlo, jhi, tap3, rows, hbuf, vbuf, blocks, nby):  # pragma: no cover
    """Blocks of one level: gradients row by row (rows: (6, Wp) float32 scratch), horizontal
    pass into hbuf (Hp, hbuf_width), vertical pass + L2-Hys into blocks (nbx, >= nby, 36)."""
    hp = hbuf.shape[0]
    nbx = blocks.shape[0]
    for y in range(hp):
        gradient_row(planes, y, rows[0], rows[1], rows[2], rows[3], rows[4], rows[5].view(np.uint8))
        hist_row(rows[3], rows[4], rows[5].view(np.uint8), step_x, nbx, wx, jlo, jhi, tap3, hbuf[y])
    vertical_blocks(hbuf, step_y, wx, jlo, jhi, vbuf, blocks, nby)


# --------------------------------------------------------------------------- scores
@jit(fastmath=True)
def score_level(blocks, svm, bias, wstep_y, wstep_x, bstep_y, bstep_x, scores):  # pragma: no cover
    """scores[wy, wx] = bias + sum over the window's 7x15 blocks of <svm block, image block>.

    blocks: (nbx, nby + 1, 36) grid, column-major so that a window's column of 15 blocks
    is contiguous when bstep_y == 1, plus one zero row; svm: (7, 16 * 36) float32, each
    block column's 15 x 36 weights (OpenCV's descriptor order) then 36 zeros, so the
    contiguous dot product has 576 = 18 x 32 terms and vectorises without a remainder.
    Window (wy, wx) starts at grid position (wy * wstep_y, wx * wstep_x); its block
    (bx, by) is (by * bstep_y, bx * bstep_x) positions further.  Each block column's dot
    product is summed in float32 (any order) and added to a float64 total.
    """
    ny, nx = scores.shape
    nbx_w = svm.shape[0]
    col = svm.shape[1]
    nrow = col // BLOCK_HIST
    for wy in range(ny):
        r0 = wy * wstep_y
        for wx in range(nx):
            c0 = wx * wstep_x
            s = bias
            for bx in range(nbx_w):
                wv = svm[bx]
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


# --------------------------------------------------------------------------- driver
#: columns of the level table passed to :func:`run_worker`
(
    L_H,
    L_W,
    L_MODE,
    L_HP,
    L_WP,
    L_NBY,
    L_NBX,
    L_NY,
    L_NX,
    L_STEP_Y,
    L_STEP_X,
    L_WSTEP_Y,
    L_WSTEP_X,
    L_BSTEP_Y,
    L_BSTEP_X,
    L_XOFF,
    L_YOFF,
    L_XMOFF,
    L_YMOFF,
    L_SOFF,
    L_XMIN,
    L_XMAX,
    L_YMIN,
    L_YMAX,
) = range(24)
N_LEVEL_FIELDS = 24
MODE_SAME, MODE_LINEAR, MODE_HALF = 0, 1, 2


def float_scratch_size(hp: int, wp: int, nby: int, nbx: int, cn: int) -> int:
    """float32 scratch one level needs in :func:`run_level`."""
    return cn * (hp + 2) * (wp + 2) + 6 * wp + hp * hbuf_width(nbx) + 2 * nbx * 2 * NBINS + (nby + 1) * nbx * BLOCK_HIST


@jit
def run_level(
    image_u8,
    image_f,
    is_u8,
    lut,
    gamma,
    svm,
    bias,
    info,
    xofs,
    xcoef,
    xfrac,
    yofs,
    ycoef,
    yfrac,
    xmap,
    ymap,
    bimg_u8,
    bimg_f,
    bf,
    bu,
    wx,
    jlo,
    jhi,
    tap3,
    scores,
):  # pragma: no cover
    """One pyramid level: resize, gradients, blocks, window scores (all in the scratch rows).

    The image comes as ``image_u8`` (uint8) or ``image_f`` (float32), the other one a
    dummy, so that one compiled driver serves both input types.
    """
    cn = image_u8.shape[2] if is_u8 else image_f.shape[2]
    h = info[L_H]
    w = info[L_W]
    mode = info[L_MODE]
    hp = info[L_HP]
    wp = info[L_WP]
    nby = info[L_NBY]
    nbx = info[L_NBX]
    o = 0
    n = cn * (hp + 2) * (wp + 2)
    planes = bf[o : o + n].reshape((cn, hp + 2, wp + 2))
    if is_u8:
        if mode == MODE_SAME:
            lvl8 = image_u8
        else:
            lvl8 = bimg_u8[: h * w * cn].reshape((h, w, cn))
            if mode == MODE_HALF:
                resize_u8_half(image_u8, lvl8)
            else:
                hb = bu[: 2 * w * cn].reshape((2, w * cn))
                xlim = (info[L_XMIN], info[L_XMAX])
                ylim = (info[L_YMIN], info[L_YMAX])
                resize_u8_exact(image_u8, lvl8, xofs, xcoef, xlim[0], xlim[1], yofs, ycoef, ylim[0], ylim[1], hb)
        pad_planar(lvl8, lut, True, gamma, xmap, ymap, planes)
    else:
        if mode == MODE_SAME:
            lvlf = image_f
        else:
            lvlf = bimg_f[: h * w * cn].reshape((h, w, cn))
            resize_float(
                image_f, lvlf, xofs, xfrac, info[L_XMIN], info[L_XMAX], yofs, yfrac, info[L_YMIN], info[L_YMAX]
            )
        pad_planar(lvlf, lut, False, gamma, xmap, ymap, planes)
    o += n
    rows = bf[o : o + 6 * wp].reshape((6, wp))
    o += 6 * wp
    hw = hbuf_width(nbx)
    hbuf = bf[o : o + hp * hw].reshape((hp, hw))
    o += hp * hw
    vbuf = bf[o : o + 2 * nbx * 2 * NBINS].reshape((2, nbx * 2 * NBINS))
    o += 2 * nbx * 2 * NBINS
    blocks = bf[o : o + (nby + 1) * nbx * BLOCK_HIST].reshape((nbx, nby + 1, BLOCK_HIST))
    block_level(planes, info[L_STEP_Y], info[L_STEP_X], wx, jlo, jhi, tap3, rows, hbuf, vbuf, blocks, nby)
    score_level(blocks, svm, bias, info[L_WSTEP_Y], info[L_WSTEP_X], info[L_BSTEP_Y], info[L_BSTEP_X], scores)
    return blocks


@jit
def run_worker(
    t,
    image_u8,
    image_f,
    is_u8,
    lut,
    gamma,
    svm,
    bias,
    levels,
    xofs,
    xcoef,
    xfrac,
    yofs,
    ycoef,
    yfrac,
    xmaps,
    ymaps,
    worker_levels,
    buf_img_u8,
    buf_img_f,
    buf_f,
    buf_u32,
    wx,
    jlo,
    jhi,
    tap3,
    scores_flat,
):  # pragma: no cover
    """Score every window of worker t's pyramid levels.

    Worker t processes the levels listed in ``worker_levels[t]`` (-1 padded) one after
    the other in its own scratch rows ``buf_*[t]``; window scores go to
    ``scores_flat[levels[l, L_SOFF]:]`` (each level owns its slice).  ``levels`` is the
    int64 table described by the ``L_*`` columns; the resize tables, reflect-101 maps and
    scores of all levels are concatenated.  The image is ``image_u8`` when ``is_u8`` else
    ``image_f`` (the other is a dummy): one compiled kernel serves both input types.
    """
    for q in range(worker_levels.shape[1]):
        lev = worker_levels[t, q]
        if lev < 0:
            break
        info = levels[lev]
        xo = info[L_XOFF]
        yo = info[L_YOFF]
        xmo = info[L_XMOFF]
        ymo = info[L_YMOFF]
        so = info[L_SOFF]
        ny = info[L_NY]
        nx = info[L_NX]
        w = info[L_W]
        h = info[L_H]
        run_level(
            image_u8,
            image_f,
            is_u8,
            lut,
            gamma,
            svm,
            bias,
            info,
            xofs[xo : xo + w],
            xcoef[xo : xo + w],
            xfrac[xo : xo + w],
            yofs[yo : yo + h],
            ycoef[yo : yo + h],
            yfrac[yo : yo + h],
            xmaps[xmo : xmo + info[L_WP] + 2],
            ymaps[ymo : ymo + info[L_HP] + 2],
            buf_img_u8[t],
            buf_img_f[t],
            buf_f[t],
            buf_u32[t],
            wx,
            jlo,
            jhi,
            tap3,
            scores_flat[so : so + ny * nx].reshape((ny, nx)),
        )
