"""Image preparation shared by Felzenszwalb segmentation and selective search.

Input rule (:func:`check_image`): ``(H, W)`` or ``(H, W, 3)`` (or ``(H, W, 1)``), uint8 on
0..255 or float on ``[0, 1]`` in any byte order; the kernels see ``(H, W, 3)`` float64 on
0..255.  Gaussian filtering uses symmetric (half-sample) borders, scipy's ``"reflect"``;
colour spaces are scaled so every channel spans 0..255.  Kernels: :mod:`._image_kernels`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detbench.proposals import _image_kernels as _k

#: the colour spaces selective search can segment in
COLOR_SPACES = ("rgb", "hsv", "lab")
#: sRGB (linear) -> XYZ, and the D65 2-degree white point (the constants scikit-image uses).
XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
D65_WHITE = np.array([0.95047, 1.0, 1.08883])
#: smallest bound on the pre-smoothing sigma (see :func:`check_sigma`)
SIGMA_FLOOR = 8.0


def check_image(image: Any, name: str = "image") -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 [0, 255] or float [0, 1] -> (H, W, 3) float64 in [0, 255]."""
    if isinstance(image, (str, bytes)) or image is None:
        raise ValueError(f"{name}: expected an image array, got {type(image).__name__}")
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{name}: expected shape (H, W) or (H, W, 3), got {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float64)
    if arr.dtype.kind == "f":
        if arr.size and not np.isfinite(arr).all():
            raise ValueError(f"{name}: contains NaN or inf")
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(
                f"{name}: float images must lie in [0, 1] (got [{float(arr.min())}, {float(arr.max())}]); "
                "pass uint8 for 0..255 data"
            )
        return arr.astype(np.float64) * 255.0
    raise ValueError(f"{name}: expected dtype uint8 or float, got {arr.dtype}")


def sigma_limit(height: int, width: int) -> float:
    """The largest pre-smoothing sigma accepted for an ``height x width`` image: ``max(8, max(H, W) / 4)``.

    A Gaussian whose sigma is a quarter of the image's longer side already spans it
    (``+-2 sigma``), so a wider one only blurs the image further towards its mean; the bound
    keeps the kernel (radius ``int(4 sigma + 0.5)``) at most about the image's side, so the blur
    costs O(H W max(H, W)) at worst.  The floor of 8 keeps every usual sigma valid on tiny images.
    """
    return max(SIGMA_FLOOR, max(height, width) / 4.0)


def check_sigma(sigma: float, height: int, width: int, name: str = "sigma") -> float:
    """``sigma`` if it lies in ``[0, sigma_limit(height, width)]``, else a ValueError naming it."""
    limit = sigma_limit(height, width)
    if sigma > limit:
        raise ValueError(
            f"{name}: {sigma} is larger than the limit {limit} for a {height}x{width} image "
            "(max(8, longer side / 4); a wider Gaussian only flattens the image)"
        )
    return sigma


def gaussian_kernel(sigma: float, order: int) -> np.ndarray:
    """Sampled Gaussian (``order=0``, sums to 1) or its derivative (``order=1``), radius ``int(4 sigma + 0.5)``."""
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    g /= g.sum()
    if order == 1:
        g = -x / (sigma * sigma) * g
    return g


def correlate(img: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
    """Separable correlation (ky along rows, kx along columns), symmetric borders (scipy's 'reflect')."""
    img = np.ascontiguousarray(img, dtype=np.float64)
    tmp = np.empty_like(img)
    out = np.empty_like(img)
    _k.separable_correlate(img, kx, ky, tmp, out)
    return out


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of each channel (``sigma = 0``: the image itself)."""
    if sigma <= 0:
        return img
    g = gaussian_kernel(sigma, 0)
    return correlate(img, g, g)


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 255] -> HSV with every channel scaled to [0, 255] (hue 0..360 deg -> 0..255)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.float64)
    out = np.empty_like(rgb)
    _k.rgb_to_hsv(rgb, out)
    return out


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 255] -> CIE L*a*b* (D65, 2 deg), scaled to [0, 255]: L * 2.55, a + 128, b + 128 (clipped)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.float64)
    out = np.empty_like(rgb)
    _k.rgb_to_lab(rgb, XYZ_FROM_RGB, D65_WHITE, out)
    return out


def to_color_space(rgb: np.ndarray, space: str) -> np.ndarray:
    """``rgb`` (0..255) in one of :data:`COLOR_SPACES`, each channel on 0..255."""
    if space == "rgb":
        return rgb
    if space == "hsv":
        return rgb_to_hsv(rgb)
    return rgb_to_lab(rgb)


def downscale(img: np.ndarray, max_side: int | None) -> tuple[np.ndarray, int]:
    """Integer-factor block-average downscale so that the longer side is <= max_side."""
    h, w = img.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return img, 1
    s = math.ceil(max(h, w) / max_side)
    hp, wp = -(-h // s) * s, -(-w // s) * s
    p = np.pad(img, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")
    return p.reshape(hp // s, s, wp // s, s, 3).mean(axis=(1, 3)), s
