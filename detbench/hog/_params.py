"""HOG's fixed parameters (OpenCV's defaults), input checks and the small tables every level shares."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detbench._validate import as_float_array, check_alloc, check_int, check_pair
from detbench.hog._descriptor_kernels import BLOCK_HIST, NBINS, CellWeights, hbuf_width

#: detection window (width, height) in pixels
WINDOW = (64, 128)
#: length of one window's descriptor: 7 x 15 blocks x 36
DESCRIPTOR_SIZE = 3780
BLOCKS_X, BLOCKS_Y = 7, 15
BLOCK_STRIDE = 8
SIGMA = 4.0


def check_image(image: Any, gamma: bool, name: str = "image") -> tuple[np.ndarray, bool]:
    """HWC C-contiguous uint8 or float32 array with 1 or 3 channels, and whether it is uint8."""
    if isinstance(image, np.ndarray) and image.dtype == np.uint8:
        arr = image
    else:
        arr = as_float_array(image, name)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise ValueError(f"{name}: expected an (H, W) grey or (H, W, 3) colour image, got shape {arr.shape}")
    is_u8 = arr.dtype == np.uint8
    if not is_u8:
        with np.errstate(over="ignore"):  # reported below, by name
            arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():  # finite in float64 but overflowing float32
            raise ValueError(f"{name}: values overflow float32")
        if gamma and arr.size and arr.min() < 0:
            raise ValueError(f"{name}: negative pixel values ({arr.min()}) with gamma_correction=True (sqrt)")
    return np.ascontiguousarray(arr), is_u8


def check_geometry(win_stride: Any, padding: Any) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(stride_y, stride_x), (pad_y, pad_x) aligned like OpenCV, (step_y, step_x) of the block grid."""
    sy, sx = _pair(win_stride, "win_stride", low=1)
    py, px = _pair(padding, "padding", low=0)
    step_y, step_x = math.gcd(sy, BLOCK_STRIDE), math.gcd(sx, BLOCK_STRIDE)
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


def level_scratch_floats(hp: int, wp: int, nby: int, nbx: int, cn: int) -> int:
    """float32 scratch one level of ``hp x wp`` padded pixels needs (planes, rows, both passes, blocks)."""
    return (
        cn * (hp + 2) * (wp + 2)
        + 6 * wp
        + hp * hbuf_width.py_func(nbx)
        + 2 * nbx * 2 * NBINS
        + (nby + 1) * nbx * BLOCK_HIST
    )


def check_fits(img: np.ndarray, pad: tuple[int, int], step: tuple[int, int], name: str = "image", workers: int = 1):
    """Refuse an image smaller than the window, and padding whose scratch cannot fit in memory."""
    h, w, cn = img.shape
    if h + 2 * pad[0] < WINDOW[1] or w + 2 * pad[1] < WINDOW[0]:
        raise ValueError(
            f"{name}: the {WINDOW[0]}x{WINDOW[1]} window (width x height) is larger than the "
            f"{w}x{h} image (padding {pad[1]}, {pad[0]})"
        )
    hp, wp = h + 2 * pad[0], w + 2 * pad[1]
    nby, nbx = (hp - 16) // step[0] + 1, (wp - 16) // step[1] + 1
    culprit = "padding" if pad != (0, 0) else name
    check_alloc((workers, level_scratch_floats(hp, wp, nby, nbx, cn)), 4, culprit, "the padded image's scratch")


def pixel_lut(gamma: bool) -> np.ndarray:
    """uint8 pixel value -> the float32 the gradients see (its square root with gamma correction)."""
    v = np.arange(256, dtype=np.float32)
    return np.sqrt(v) if gamma else v


def cell_weights() -> CellWeights:
    """The Gaussian x bilinear vote weights of a 16-pixel block axis (see :class:`CellWeights`)."""
    j = np.arange(16, dtype=np.float32)
    gauss = np.exp(-((j - np.float32(8.0)) ** 2) / np.float32(2.0 * SIGMA * SIGMA)).astype(np.float32)
    pos = (j + np.float32(0.5)) / np.float32(8.0) - np.float32(0.5)  # in cell units; centres at 0 and 1
    w = np.stack([np.maximum(np.float32(0.0), np.float32(1.0) - np.abs(pos - np.float32(c))) for c in (0, 1)])
    w = (w * gauss).astype(np.float32)
    lo = np.array([np.flatnonzero(w[c])[0] for c in (0, 1)], dtype=np.int64)
    hi = np.array([np.flatnonzero(w[c])[-1] + 1 for c in (0, 1)], dtype=np.int64)
    u = np.arange(8)
    first_half = np.stack([w[0, u + 8], w[1, u + 8], w[0, u]], axis=1)  # x % 8 < 4
    second_half = np.stack([w[1, u + 8], w[0, u], w[1, u]], axis=1)  # x % 8 >= 4
    tap3 = np.where((u < 4)[:, None], first_half, second_half).astype(np.float32)
    return CellWeights(np.ascontiguousarray(w), lo, hi, np.ascontiguousarray(tap3))


def reflect101(p: np.ndarray, n: int) -> np.ndarray:
    """OpenCV's BORDER_REFLECT_101 index (…, 2, 1 | 0, 1, …, n-1 | n-2, …), folded as often as needed."""
    if n == 1:
        return np.zeros_like(p)
    period = 2 * n - 2
    q = np.mod(p, period)
    return np.where(q < n, q, period - q)


def border_maps(h: int, w: int, pad: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column source indices of the padded image plus its 1-pixel border (reflect-101)."""
    hp, wp = h + 2 * pad[0], w + 2 * pad[1]
    ym = np.ascontiguousarray(reflect101(np.arange(-1, hp + 1) - pad[0], h), dtype=np.int64)
    xm = np.ascontiguousarray(reflect101(np.arange(-1, wp + 1) - pad[1], w), dtype=np.int64)
    return ym, xm
