"""HOG descriptors and the HOG + linear SVM people detector, matching OpenCV's ``HOGDescriptor`` defaults.

Parameters (OpenCV's defaults, fixed here): 64x128 window (width x height),
8x8-pixel cells, 16x16-pixel blocks of 2x2 cells, 8-pixel block stride, 9
unsigned orientation bins over [0, 180) degrees, ``winSigma = (16 + 16) / 8 = 4``,
L2-Hys with threshold 0.2, square-root gamma correction (``gammaCorrection=True``).
A window's descriptor has 7 x 15 blocks x 36 = 3780 values.

The rules, as OpenCV implements them (``modules/objdetect/src/hog.cpp``):

* **Gradients**: ``dx = I[y, x+1] - I[y, x-1]``, ``dy = I[y+1, x] - I[y-1, x]`` on
  ``sqrt(pixel)`` (gamma), image borders reflected (BORDER_REFLECT_101, also for
  the ``padding`` around the image); in a colour image the channel with the
  largest ``dx^2 + dy^2`` wins.  The orientation comes from OpenCV's polynomial
  ``atan2`` (error about 0.01 degree), reduced to [0, 180).
* **Orientation voting**: with ``a = angle * 9 / pi - 0.5``, a pixel of
  magnitude ``m`` votes ``m * (1 - frac(a))`` for bin ``floor(a)`` and
  ``m * frac(a)`` for the next bin (circularly), i.e. linear interpolation
  between bin centres 10, 30, ..., 170 degrees.
* **Spatial voting** inside a 16x16 block: every vote is weighted by a
  Gaussian ``exp(-((i - 8)^2 + (j - 8)^2) / (2 * 4^2))`` of its block
  coordinates and split bilinearly between the cells whose centres
  (3.5 and 11.5) surround it (the share of a cell that is outside the block
  is dropped).
* **L2-Hys**: ``v /= (||v||_2 + 3.6)``, ``v = min(v, 0.2)``, ``v /= (||v||_2 + 1e-3)``
  over the block's 36 values.
* **Descriptor order** (OpenCV's): blocks column by column (block x outer, block
  y inner), inside a block cell x, then cell y, then bin.
* **Detection**: window score ``<w, descriptor> + b`` with the 3780 SVM weights
  ``w`` and bias ``b`` (OpenCV's ``svmDetector``: 3781 values, bias last); a hit
  when ``score >= hit_threshold``.

How the scan is organised (the "convolutional" idea of :mod:`detbench.sliding`
applied to HOG): each pyramid level's block histograms are computed once on
the grid of block positions (step ``gcd(win_stride, 8)``), and every window's
score is the correlation of the SVM weights, viewed as a 7 x 15 x 36 filter,
with that grid, read in place.  The pyramid follows ``detectMultiScale``:
level ``k`` has scale ``scale**k``, image size
``round(W / scale**k) x round(H / scale**k)`` (uint8 images resized bit-exactly
like OpenCV's ``INTER_LINEAR_EXACT``), while both sides stay >= the window;
a hit at level position ``(x, y)`` is the box
``(round(x s), round(y s), round(64 s), round(128 s))`` clipped to the image.
Instead of OpenCV's ``groupRectangles``, the boxes are grouped with NMS
(:func:`detbench.nms.nms`).

Input images are ``(H, W)`` grey or ``(H, W, 3)`` colour arrays.  ``uint8``
reproduces OpenCV exactly (up to float rounding); other real dtypes are used as
float32 values (non-negative when gamma correction is on) and resized with
plain bilinear interpolation.

Reference: N. Dalal and B. Triggs, "Histograms of Oriented Gradients for Human
Detection", CVPR 2005; OpenCV 4.x ``HOGDescriptor``.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np

from detbench._kernels import hog as _k
from detbench._validate import as_float_array, check_int, check_number, check_pair

__all__ = [
    "WINDOW",
    "DESCRIPTOR_SIZE",
    "default_people_detector",
    "hog_descriptor",
    "hog_descriptors",
    "hog_window_scores",
    "hog_pyramid_scales",
    "hog_detect_multiscale",
    "resize_linear_exact",
]

#: detection window (width, height) in pixels
WINDOW = (64, 128)
#: length of one window's descriptor: 7 x 15 blocks x 36
DESCRIPTOR_SIZE = 3780
_BLOCKS_X, _BLOCKS_Y = 7, 15
_BLOCK_STRIDE = 8
_SIGMA = 4.0


def default_people_detector() -> np.ndarray:
    """OpenCV's trained people detector: ``(3781,)`` float32, 3780 SVM weights then the bias.

    Read from ``cv2.HOGDescriptor_getDefaultPeopleDetector()`` (requires
    ``opencv-python(-headless) < 5``; OpenCV 5 dropped ``HOGDescriptor``).
    detbench does not ship OpenCV's trained weights itself.  Reference: Dalal and Triggs
    (CVPR 2005), trained on INRIA Person.  O(1).
    """
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("default_people_detector needs OpenCV: pip install 'opencv-python-headless<5'") from exc
    if not hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector"):  # pragma: no cover
        raise ImportError("this OpenCV has no HOGDescriptor (OpenCV 5 removed it); install opencv-python-headless<5")
    return np.asarray(cv2.HOGDescriptor_getDefaultPeopleDetector(), dtype=np.float32).reshape(-1)


# --------------------------------------------------------------------------- validation and tables
def _check_image(image: Any, gamma: bool) -> tuple[np.ndarray, bool]:
    """HWC C-contiguous uint8 or float32 array with 1 or 3 channels, and whether it is uint8."""
    if isinstance(image, np.ndarray) and image.dtype == np.uint8:
        arr = image
    else:
        arr = as_float_array(image, "image")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise ValueError(f"image: expected an (H, W) grey or (H, W, 3) colour image, got shape {arr.shape}")
    is_u8 = arr.dtype == np.uint8
    if not is_u8:
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():  # finite in float64 but overflowing float32
            raise ValueError("image: values overflow float32")
        if gamma and arr.size and arr.min() < 0:
            raise ValueError(f"image: negative pixel values ({arr.min()}) with gamma_correction=True (sqrt)")
    return np.ascontiguousarray(arr), is_u8


def _check_svm(svm: Any) -> tuple[np.ndarray, float]:
    if svm is None:
        svm = default_people_detector()
    arr = as_float_array(svm, "svm").reshape(-1) if np.ndim(svm) else None
    if arr is None or arr.shape[0] not in (DESCRIPTOR_SIZE, DESCRIPTOR_SIZE + 1):
        shape = np.shape(svm)
        raise ValueError(f"svm: expected {DESCRIPTOR_SIZE} weights (+ 1 bias), got shape {shape}")
    bias = float(arr[DESCRIPTOR_SIZE]) if arr.shape[0] > DESCRIPTOR_SIZE else 0.0
    # per block column: its 15 x 36 weights then 36 zeros (the kernel's vector-friendly layout)
    weights = np.zeros((_BLOCKS_X, (_BLOCKS_Y + 1) * 36), dtype=np.float32)
    weights[:, : _BLOCKS_Y * 36] = arr[:DESCRIPTOR_SIZE].reshape(_BLOCKS_X, _BLOCKS_Y * 36)
    return weights, bias


def _check_geometry(win_stride: Any, padding: Any) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(stride_y, stride_x), (pad_y, pad_x) aligned like OpenCV, (step_y, step_x) of the block grid."""
    sy, sx = _pair(win_stride, "win_stride", low=1)
    py, px = _pair(padding, "padding", low=0)
    step_y, step_x = math.gcd(sy, _BLOCK_STRIDE), math.gcd(sx, _BLOCK_STRIDE)
    # OpenCV rounds the padding up to a multiple of the block-grid step
    py = -(-py // step_y) * step_y
    px = -(-px // step_x) * step_x
    return (sy, sx), (py, px), (step_y, step_x)


def _pair(value: Any, name: str, low: int) -> tuple[int, int]:
    """An int or an (x, y) pair as OpenCV's cv::Size, returned as (y, x)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        v = check_int(value, name, low=low)
        return v, v
    vx, vy = check_pair(value, name, positive=False)
    check_int(vx, name, low=low)
    check_int(vy, name, low=low)
    return vy, vx


def _pixel_lut(gamma: bool) -> np.ndarray:
    v = np.arange(256, dtype=np.float32)
    return np.sqrt(v) if gamma else v


def _cell_weights() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """wx[c, j]: Gaussian x bilinear cell weight of block coordinate j for cell c; non-zero range [lo, hi);
    tap3[u]: the weights of the 3 (block, cell) slots a pixel at x % 8 == u votes into (8-pixel grid)."""
    j = np.arange(16, dtype=np.float32)
    gauss = np.exp(-((j - np.float32(8.0)) ** 2) / np.float32(2.0 * _SIGMA * _SIGMA)).astype(np.float32)
    pos = (j + np.float32(0.5)) / np.float32(8.0) - np.float32(0.5)  # in cell units; centres at 0 and 1
    w = np.stack([np.maximum(np.float32(0.0), np.float32(1.0) - np.abs(pos - np.float32(c))) for c in (0, 1)])
    w = (w * gauss).astype(np.float32)
    lo = np.array([np.flatnonzero(w[c])[0] for c in (0, 1)], dtype=np.int64)
    hi = np.array([np.flatnonzero(w[c])[-1] + 1 for c in (0, 1)], dtype=np.int64)
    u = np.arange(8)
    first_half = np.stack([w[0, u + 8], w[1, u + 8], w[0, u]], axis=1)  # x % 8 < 4
    second_half = np.stack([w[1, u + 8], w[0, u], w[1, u]], axis=1)  # x % 8 >= 4
    tap3 = np.where((u < 4)[:, None], first_half, second_half).astype(np.float32)
    return np.ascontiguousarray(w), lo, hi, np.ascontiguousarray(tap3)


def _reflect101(p: np.ndarray, n: int) -> np.ndarray:
    """OpenCV's BORDER_REFLECT_101 index (…, 2, 1 | 0, 1, …, n-1 | n-2, …), folded as often as needed."""
    if n == 1:
        return np.zeros_like(p)
    period = 2 * n - 2
    q = np.mod(p, period)
    return np.where(q < n, q, period - q)


def _linear_tables(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """OpenCV INTER_LINEAR_EXACT sample positions along one axis.

    Position ``f = (d + 0.5) * src / dst - 0.5`` (double precision, as OpenCV's
    softdouble); left neighbour ``floor(f)``, right weight ``round_half_even(frac(f) * 256)``.
    Destination indices < lo copy source 0 (f < 0), indices >= hi copy the last source pixel.
    Returns (offsets, 8-bit weights, float weights, lo, hi).
    """
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
    return ofs, coef, frac, lo, hi


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
    out = _resize(src, src.dtype == np.uint8, dh, dw)
    return out[:, :, 0] if grey else out


def _resize(src: np.ndarray, is_u8: bool, dh: int, dw: int) -> np.ndarray:
    sh, sw, cn = src.shape
    out = np.empty((dh, dw, cn), dtype=src.dtype)
    if (dh, dw) == (sh, sw):
        out[...] = src
        return out
    if is_u8 and sw == 2 * dw and sh == 2 * dh:
        _k.resize_u8_half(src, out)
        return out
    xo, xc, xf, xlo, xhi = _linear_tables(sw, dw)
    yo, yc, yf, ylo, yhi = _linear_tables(sh, dh)
    if is_u8:
        hbuf = np.empty((2, dw * cn), dtype=np.uint32)
        _k.resize_u8_exact(src, out, xo, xc, xlo, xhi, yo, yc, ylo, yhi, hbuf)
    else:
        _k.resize_float(src, out, xo, xf, xlo, xhi, yo, yf, ylo, yhi)
    return out


# --------------------------------------------------------------------------- one level, Python side
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """Process-wide thread pool for the pyramid workers (created on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="detbench-hog")
        return _POOL


@functools.lru_cache(maxsize=16)
def _plan(
    shape: tuple[int, int, int],
    is_u8: bool,
    sizes: tuple[tuple[int, int], ...],
    stride: tuple[int, int],
    pad: tuple[int, int],
    step: tuple[int, int],
) -> _Plan:
    """Plans are read-only once built, so repeated calls on same-sized images share one."""
    return _Plan(shape, is_u8, sizes, stride, pad, step)


class _Plan:
    """Geometry and tables of a set of pyramid levels, ready for the kernels (read-only once built)."""

    def __init__(
        self,
        shape: tuple[int, int, int],
        is_u8: bool,
        sizes: tuple[tuple[int, int], ...],
        stride: tuple[int, int],
        pad: tuple[int, int],
        step: tuple[int, int],
    ) -> None:
        sh, sw, cn = shape
        (sy, sx), (py, px), (ty, tx) = stride, pad, step
        rows = []
        xofs, xcoef, xfrac, yofs, ycoef, yfrac, xmaps, ymaps = ([] for _ in range(8))
        x_off = y_off = xm_off = ym_off = s_off = 0
        for h, w in sizes:
            hp, wp = h + 2 * py, w + 2 * px
            nby, nbx = (hp - 16) // ty + 1, (wp - 16) // tx + 1
            ny, nx = (hp - WINDOW[1]) // sy + 1, (wp - WINDOW[0]) // sx + 1
            if (h, w) == (sh, sw):
                mode, lims = _k.MODE_SAME, (0, 0, 0, 0)
            elif is_u8 and sw == 2 * w and sh == 2 * h:
                mode, lims = _k.MODE_HALF, (0, 0, 0, 0)
            else:
                mode = _k.MODE_LINEAR
                xo, xc, xf, xlo, xhi = _linear_tables(sw, w)
                yo, yc, yf, ylo, yhi = _linear_tables(sh, h)
                xofs.append(xo), xcoef.append(xc), xfrac.append(xf)
                yofs.append(yo), ycoef.append(yc), yfrac.append(yf)
                lims = (xlo, xhi, ylo, yhi)
            xmaps.append(_reflect101(np.arange(-1, wp + 1) - px, w))
            ymaps.append(_reflect101(np.arange(-1, hp + 1) - py, h))
            row = [h, w, mode, hp, wp, nby, nbx, ny, nx, ty, tx, sy // ty, sx // tx]
            row += [_BLOCK_STRIDE // ty, _BLOCK_STRIDE // tx, x_off, y_off, xm_off, ym_off, s_off, *lims]
            rows.append(row)
            if mode == _k.MODE_LINEAR:
                x_off += w
                y_off += h
            xm_off += wp + 2
            ym_off += hp + 2
            s_off += ny * nx
        self.levels = np.array(rows, dtype=np.int64).reshape(-1, _k.N_LEVEL_FIELDS)

        def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
            return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(1), dtype=dtype)

        self.xofs, self.yofs = cat(xofs, np.int64), cat(yofs, np.int64)
        self.xcoef, self.ycoef = cat(xcoef, np.int64), cat(ycoef, np.int64)
        self.xfrac, self.yfrac = cat(xfrac, np.float64), cat(yfrac, np.float64)
        self.xmaps, self.ymaps = cat(xmaps, np.int64), cat(ymaps, np.int64)
        self.n_scores = s_off

    def run(
        self, img: np.ndarray, is_u8: bool, gamma: bool, svm: np.ndarray, bias: float, n_workers: int
    ) -> list[np.ndarray]:
        """Window scores of every level: list of (ny, nx) float64 arrays."""
        lv = self.levels
        n_levels = lv.shape[0]
        n_workers = max(1, min(n_workers, n_levels))
        # longest-processing-time assignment of levels to workers (cost ~ padded area)
        cost = (lv[:, _k.L_HP] * lv[:, _k.L_WP]).astype(np.float64)
        load = np.zeros(n_workers)
        assign: list[list[int]] = [[] for _ in range(n_workers)]
        for lev in np.argsort(-cost, kind="stable"):
            t = int(np.argmin(load))
            assign[t].append(int(lev))
            load[t] += cost[lev]
        worker_levels = np.full((n_workers, max(len(a) for a in assign)), -1, dtype=np.int64)
        for t, a in enumerate(assign):
            worker_levels[t, : len(a)] = a
        cn = img.shape[2]
        n_img = int((lv[:, _k.L_H] * lv[:, _k.L_W]).max()) * cn
        n_f = max(_k.float_scratch_size(r[_k.L_HP], r[_k.L_WP], r[_k.L_NBY], r[_k.L_NBX], cn) for r in lv.tolist())
        n_u = int((2 * lv[:, _k.L_W]).max()) * cn
        # one compiled driver for both input types: the unused image / scratch is a dummy
        dummy_img = np.zeros((1, 1, cn), dtype=np.float32 if is_u8 else np.uint8)
        img_u8, img_f = (img, dummy_img) if is_u8 else (dummy_img, img)
        buf_u8 = np.empty((n_workers, n_img if is_u8 else 1), dtype=np.uint8)
        buf_imf = np.empty((n_workers, 1 if is_u8 else n_img), dtype=np.float32)
        buf_f = np.empty((n_workers, int(n_f)), dtype=np.float32)
        buf_u = np.empty((n_workers, n_u), dtype=np.uint32)
        scores = np.empty(max(self.n_scores, 1), dtype=np.float64)
        wx, lo, hi, tap3 = _cell_weights()
        args = (
            img_u8,
            img_f,
            is_u8,
            _pixel_lut(gamma),
            gamma,
            svm,
            float(bias),
            lv,
            self.xofs,
            self.xcoef,
            self.xfrac,
            self.yofs,
            self.ycoef,
            self.yfrac,
            self.xmaps,
            self.ymaps,
            worker_levels,
            buf_u8,
            buf_imf,
            buf_f,
            buf_u,
            wx,
            lo,
            hi,
            tap3,
            scores,
        )
        if n_workers == 1:
            _k.run_worker(0, *args)
        else:  # the kernels release the GIL: one thread per worker
            futures = [_pool().submit(_k.run_worker, t, *args) for t in range(n_workers)]
            for f in futures:
                f.result()
        out = []
        for r in lv.tolist():
            so, ny, nx = r[_k.L_SOFF], r[_k.L_NY], r[_k.L_NX]
            out.append(scores[so : so + ny * nx].reshape(ny, nx))
        return out


def _block_grid(img: np.ndarray, is_u8: bool, gamma: bool, pad: tuple[int, int], step: tuple[int, int]) -> np.ndarray:
    """(nby, nbx, 36) normalised blocks of one image at (by*step_y - pad_y, bx*step_x - pad_x)."""
    h, w, cn = img.shape
    (py, px), (ty, tx) = pad, step
    hp, wp = h + 2 * py, w + 2 * px
    nby, nbx = (hp - 16) // ty + 1, (wp - 16) // tx + 1
    xm = np.ascontiguousarray(_reflect101(np.arange(-1, wp + 1) - px, w), dtype=np.int64)
    ym = np.ascontiguousarray(_reflect101(np.arange(-1, hp + 1) - py, h), dtype=np.int64)
    planes = np.empty((cn, hp + 2, wp + 2), np.float32)
    _k.pad_planar(img, _pixel_lut(gamma), is_u8, gamma, xm, ym, planes)
    wx, lo, hi, tap3 = _cell_weights()
    rows = np.empty((6, wp), np.float32)
    hbuf = np.empty((hp, _k.hbuf_width(nbx)), np.float32)
    vbuf = np.empty((2, nbx * 18), np.float32)
    blocks = np.empty((nbx, nby + 1, 36), np.float32)
    _k.block_level(planes, ty, tx, wx, lo, hi, tap3, rows, hbuf, vbuf, blocks, nby)
    return blocks[:, :nby].transpose(1, 0, 2)


def _check_fits(img: np.ndarray, pad: tuple[int, int]) -> None:
    h, w = img.shape[:2]
    if h + 2 * pad[0] < WINDOW[1] or w + 2 * pad[1] < WINDOW[0]:
        raise ValueError(
            f"image: the {WINDOW[0]}x{WINDOW[1]} window (width x height) is larger than the "
            f"{w}x{h} image (padding {pad[1]}, {pad[0]})"
        )


# --------------------------------------------------------------------------- public API
def hog_descriptors(image: Any, *, win_stride: Any = 8, padding: Any = 0, gamma_correction: bool = True) -> np.ndarray:
    """HOG descriptors of every window on a grid, as ``cv2.HOGDescriptor().compute(image, winStride, padding)``.

    Parameters
    ----------
    image:
        ``(H, W)`` grey or ``(H, W, 3)`` colour image (uint8 = OpenCV's exact input).
    win_stride:
        Window step in pixels, an int or ``(x, y)`` pair (>= 1).
    padding:
        Pixels added around the image (reflect-101), int or ``(x, y)``; rounded up to a
        multiple of ``gcd(win_stride, 8)`` as OpenCV does.

    Returns
    -------
    ``(ny, nx, 3780)`` float32: ``[r, c]`` is the window with top-left corner
    ``(c * stride_x - pad_x, r * stride_y - pad_y)``, ``ny = (H + 2 pad_y - 128) // stride_y + 1``
    (same for nx), descriptor in OpenCV's order (see the module docstring).

    Cost: the block grid once (O(padded pixels)), then a 3780-value gather per window.
    """
    gamma = bool(gamma_correction)
    img, is_u8 = _check_image(image, gamma)
    stride, pad, step = _check_geometry(win_stride, padding)
    _check_fits(img, pad)
    blocks = _block_grid(img, is_u8, gamma, pad, step)
    h, w = img.shape[:2]
    ny = (h + 2 * pad[0] - WINDOW[1]) // stride[0] + 1
    nx = (w + 2 * pad[1] - WINDOW[0]) // stride[1] + 1
    r0 = (np.arange(ny) * stride[0] // step[0])[:, None, None, None]
    c0 = (np.arange(nx) * stride[1] // step[1])[None, :, None, None]
    bx = (np.arange(_BLOCKS_X) * (_BLOCK_STRIDE // step[1]))[None, None, :, None]
    by = (np.arange(_BLOCKS_Y) * (_BLOCK_STRIDE // step[0]))[None, None, None, :]
    desc = blocks[r0 + by, c0 + bx]  # (ny, nx, 7, 15, 36): block x outer, block y inner
    return np.ascontiguousarray(desc.reshape(ny, nx, DESCRIPTOR_SIZE))


def hog_descriptor(window: Any, *, gamma_correction: bool = True) -> np.ndarray:
    """The ``(3780,)`` float32 HOG descriptor of one 128x64 (height x width) window image.

    Equals ``cv2.HOGDescriptor().compute(window)`` (borders reflect-101 inside the
    window; to describe a window inside a larger image with the real neighbours, use
    :func:`hog_descriptors`).  Cost: O(128 * 64).
    """
    img, _ = _check_image(window, bool(gamma_correction))
    if img.shape[:2] != (WINDOW[1], WINDOW[0]):
        raise ValueError(f"window: expected a {WINDOW[1]}x{WINDOW[0]} (height x width) image, got shape {img.shape}")
    return hog_descriptors(img, gamma_correction=gamma_correction)[0, 0]


def hog_window_scores(
    image: Any,
    svm: Any = None,
    *,
    win_stride: Any = 8,
    padding: Any = 0,
    gamma_correction: bool = True,
) -> np.ndarray:
    """Linear-SVM score of every window on one scale, as ``cv2.HOGDescriptor.detect`` weights.

    ``svm``: ``(3780,)`` weights or ``(3781,)`` weights + bias in OpenCV's descriptor order
    (default: :func:`default_people_detector`).  Returns ``(ny, nx)`` float64,
    ``[r, c]`` = ``<w, descriptor of window (c * stride_x - pad_x, r * stride_y - pad_y)> + bias``
    (grid as in :func:`hog_descriptors`).  Cost: one block grid plus 3780 multiply-adds per window.
    """
    gamma = bool(gamma_correction)
    img, is_u8 = _check_image(image, gamma)
    stride, pad, step = _check_geometry(win_stride, padding)
    weights, bias = _check_svm(svm)
    _check_fits(img, pad)
    plan = _plan(img.shape, is_u8, (img.shape[:2],), stride, pad, step)
    return plan.run(img, is_u8, gamma, weights, bias, n_workers=1)[0]


def hog_pyramid_scales(image_size: Any, *, scale: float = 1.05, nlevels: int = 64) -> list[tuple[float, int, int]]:
    """``detectMultiScale``'s pyramid: ``[(scale_k, height_k, width_k), ...]`` for an image of ``(height, width)``.

    ``scale_k = scale**k`` (repeated multiplication), sizes ``round(side / scale_k)``
    (half to even); a level is kept while both sides are >= the 64x128 window, at most
    ``nlevels`` levels, and always the first.  ``scale == 1`` gives one level.  O(levels).
    """
    try:
        h, w = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size: expected (height, width), got {image_size!r}") from None
    scale = check_number(scale, "scale", low=1.0)
    nlevels = check_int(nlevels, "nlevels", low=1)
    out: list[tuple[float, int, int]] = []
    s = 1.0
    for _ in range(nlevels):
        lh, lw = int(np.rint(h / s)), int(np.rint(w / s))
        if out and (lw < WINDOW[0] or lh < WINDOW[1]):
            break
        out.append((s, lh, lw))
        if lw < WINDOW[0] or lh < WINDOW[1] or scale <= 1.0:
            break
        s *= scale
    return out


def hog_detect_multiscale(
    image: Any,
    svm: Any = None,
    *,
    hit_threshold: float = 0.0,
    win_stride: Any = 8,
    padding: Any = 0,
    scale: float = 1.05,
    nlevels: int = 64,
    nms_threshold: float | None = 0.3,
    gamma_correction: bool = True,
    n_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Multi-scale HOG + linear-SVM detection (``cv2.HOGDescriptor.detectMultiScale`` with NMS grouping).

    Parameters
    ----------
    image:
        ``(H, W)`` grey or ``(H, W, 3)`` colour image (uint8 for OpenCV-exact results).
    svm:
        ``(3780,)`` or ``(3781,)`` (bias last) SVM; default :func:`default_people_detector`.
    hit_threshold:
        Windows with ``score >= hit_threshold`` are candidates.
    win_stride, padding:
        As in :func:`hog_descriptors` (int or ``(x, y)``).
    scale, nlevels:
        Pyramid as in :func:`hog_pyramid_scales` (``scale >= 1``).
    nms_threshold:
        IoU threshold of the NMS that groups the candidates (:func:`detbench.nms.nms`);
        ``None`` returns every candidate, which equals OpenCV's output with ``groupThreshold=0``.
    n_threads:
        Threads sharing the pyramid levels (default: ``numba.get_num_threads()``, i.e.
        ``NUMBA_NUM_THREADS``).  Whole levels go to threads (largest first, to the least
        loaded), each thread with its own scratch; the kernels release the GIL.

    Returns
    -------
    ``(boxes, scores)``: ``(K, 4)`` float64 ``xyxy`` boxes in image pixels (clipped to the
    image) and their ``(K,)`` float64 scores; by decreasing score after NMS, in
    level / row / column order when ``nms_threshold`` is ``None``.

    Cost: per level O(padded pixels) for the block grid plus 3780 multiply-adds per
    window; the levels run in parallel.
    """
    gamma = bool(gamma_correction)
    img, is_u8 = _check_image(image, gamma)
    stride, pad, step = _check_geometry(win_stride, padding)
    weights, bias = _check_svm(svm)
    hit_threshold = check_number(hit_threshold, "hit_threshold")
    if nms_threshold is not None:
        nms_threshold = check_number(nms_threshold, "nms_threshold", low=0.0, high=1.0)
    threads = numba.get_num_threads() if n_threads is None else check_int(n_threads, "n_threads", low=1)
    _check_fits(img, pad)
    h, w = img.shape[:2]
    levels = hog_pyramid_scales((h, w), scale=scale, nlevels=nlevels)
    plan = _plan(img.shape, is_u8, tuple((lh, lw) for _, lh, lw in levels), stride, pad, step)
    grids = plan.run(img, is_u8, gamma, weights, bias, n_workers=threads)
    boxes_l, scores_l = [], []
    for (s, _, _), grid in zip(levels, grids):
        rr, cc = np.nonzero(grid >= hit_threshold)
        if rr.size == 0:
            continue
        x = np.rint((cc * stride[1] - pad[1]) * s)
        y = np.rint((rr * stride[0] - pad[0]) * s)
        bw, bh = np.rint(WINDOW[0] * s), np.rint(WINDOW[1] * s)
        boxes_l.append(np.stack([x, y, x + bw, y + bh], axis=1))
        scores_l.append(grid[rr, cc])
    if not boxes_l:
        return np.zeros((0, 4)), np.zeros(0)
    boxes = np.concatenate(boxes_l)
    scores = np.concatenate(scores_l)
    # clip to the image like OpenCV's clipObjects; drop boxes left empty
    np.clip(boxes[:, 0::2], 0, w, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, h, out=boxes[:, 1::2])
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores = boxes[keep], scores[keep]
    if nms_threshold is None or boxes.shape[0] == 0:
        return boxes, scores
    from detbench.nms import nms  # lazy: detbench.nms is a sibling module

    kept = np.asarray(nms(boxes, scores, nms_threshold), dtype=np.int64)
    return boxes[kept], scores[kept]
