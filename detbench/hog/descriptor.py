"""HOG descriptors of windows on a grid (``cv2.HOGDescriptor().compute``) and of one window.

Each image's normalised blocks are computed once on the grid of block positions (step
``gcd(win_stride, 8)``, kernels in :mod:`detbench.hog._descriptor_kernels`); a window's 3780-value
descriptor is then a gather of its 7 x 15 blocks in OpenCV's order (block x outer, block y inner).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import check_alloc, check_bool
from detbench.hog import _descriptor_kernels as _k
from detbench.hog._params import (
    BLOCK_STRIDE,
    BLOCKS_X,
    BLOCKS_Y,
    DESCRIPTOR_SIZE,
    WINDOW,
    border_maps,
    cell_weights,
    check_fits,
    check_geometry,
    check_image,
    pixel_lut,
)

__all__ = ["hog_descriptors", "hog_descriptor"]


def block_grid(img: np.ndarray, is_u8: bool, gamma: bool, pad: tuple[int, int], step: tuple[int, int]) -> np.ndarray:
    """(nby, nbx, 36) normalised blocks of one image at (by*step_y - pad_y, bx*step_x - pad_x)."""
    h, w, cn = img.shape
    (py, px), (ty, tx) = pad, step
    hp, wp = h + 2 * py, w + 2 * px
    nby, nbx = (hp - 16) // ty + 1, (wp - 16) // tx + 1
    ym, xm = border_maps(h, w, pad)
    planes = np.empty((cn, hp + 2, wp + 2), np.float32)
    _k.pad_planar(img, pixel_lut(gamma), is_u8, gamma, xm, ym, planes)
    scratch = _k.block_scratch(hp, wp, nby, nbx)
    _k.block_level(planes, ty, tx, cell_weights(), scratch, nby)
    return scratch.blocks[:, :nby].transpose(1, 0, 2)


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
    gamma_correction:
        ``True`` or ``False``: square-root gamma before the gradients (OpenCV's default on).

    Returns
    -------
    ``(ny, nx, 3780)`` float32: ``[r, c]`` is the window with top-left corner
    ``(c * stride_x - pad_x, r * stride_y - pad_y)``, ``ny = (H + 2 pad_y - 128) // stride_y + 1``
    (same for nx), descriptor in OpenCV's order (see :mod:`detbench.hog`).

    Cost: the block grid once (O(padded pixels)), then a 3780-value gather per window.
    """
    return _descriptors(image, win_stride, padding, gamma_correction, "image")


def _descriptors(image: Any, win_stride: Any, padding: Any, gamma_correction: Any, name: str) -> np.ndarray:
    gamma = check_bool(gamma_correction, "gamma_correction")
    img, is_u8 = check_image(image, gamma, name)
    stride, pad, step = check_geometry(win_stride, padding)
    check_fits(img, pad, step, name)
    h, w = img.shape[:2]
    ny = (h + 2 * pad[0] - WINDOW[1]) // stride[0] + 1
    nx = (w + 2 * pad[1] - WINDOW[0]) // stride[1] + 1
    check_alloc((ny, nx, DESCRIPTOR_SIZE), 4, "padding" if pad != (0, 0) else name, "the descriptors")
    blocks = block_grid(img, is_u8, gamma, pad, step)
    r0 = (np.arange(ny) * stride[0] // step[0])[:, None, None, None]
    c0 = (np.arange(nx) * stride[1] // step[1])[None, :, None, None]
    bx = (np.arange(BLOCKS_X) * (BLOCK_STRIDE // step[1]))[None, None, :, None]
    by = (np.arange(BLOCKS_Y) * (BLOCK_STRIDE // step[0]))[None, None, None, :]
    desc = blocks[r0 + by, c0 + bx]  # (ny, nx, 7, 15, 36): block x outer, block y inner
    return np.ascontiguousarray(desc.reshape(ny, nx, DESCRIPTOR_SIZE))


def hog_descriptor(window: Any, *, gamma_correction: bool = True) -> np.ndarray:
    """The ``(3780,)`` float32 HOG descriptor of one 128x64 (height x width) window image.

    Equals ``cv2.HOGDescriptor().compute(window)`` (borders reflect-101 inside the
    window; to describe a window inside a larger image with the real neighbours, use
    :func:`hog_descriptors`).  Errors name the argument ``window``.  Cost: O(128 * 64).
    """
    gamma = check_bool(gamma_correction, "gamma_correction")
    img, _ = check_image(window, gamma, "window")
    if img.shape[:2] != (WINDOW[1], WINDOW[0]):
        raise ValueError(f"window: expected a {WINDOW[1]}x{WINDOW[0]} (height x width) image, got shape {img.shape}")
    return _descriptors(img, 8, 0, gamma, "window")[0, 0]
