"""A plain NumPy HOG (Dalal-Triggs with OpenCV's default parameters), written from the rules.

Slow and simple: exact ``arctan2`` instead of OpenCV's polynomial (so expect
~1e-4 relative differences), direct per-block loops, float64 throughout.
"""

from __future__ import annotations

import numpy as np


def gradients(image: np.ndarray, gamma: bool = True, margin: bool = False):
    """Magnitude and unsigned orientation (degrees in [0, 180)) of the strongest channel, reflect-101 borders.

    With ``margin=True`` also returns, per pixel, the relative gap between the strongest and the
    second strongest channel's squared magnitude (near 0: a tie that float32 may break differently).
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 2:
        img = img[:, :, None]
    if gamma:
        img = np.sqrt(img)
    p = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="reflect")  # numpy's "reflect" is OpenCV's REFLECT_101
    dx = p[1:-1, 2:] - p[1:-1, :-2]
    dy = p[2:, 1:-1] - p[:-2, 1:-1]
    mag2 = dx**2 + dy**2
    best = np.argmax(mag2, axis=2)[..., None]  # first maximum: lowest channel index on ties
    dx = np.take_along_axis(dx, best, 2)[..., 0]
    dy = np.take_along_axis(dy, best, 2)[..., 0]
    ang = np.degrees(np.arctan2(dy, dx)) % 180.0
    if not margin:
        return np.hypot(dx, dy), ang
    gap = np.ones(dx.shape)
    if mag2.shape[2] > 1:
        top = np.sort(mag2, axis=2)
        gap = (top[..., -1] - top[..., -2]) / np.maximum(top[..., -1], 1e-12)
    return np.hypot(dx, dy), ang, gap


def block_histogram(mag: np.ndarray, ang: np.ndarray) -> np.ndarray:
    """The 36 L2-Hys-normalised values of one 16x16 block (order: cell x, cell y, bin)."""
    hist = np.zeros((2, 2, 9))
    coord = np.arange(16)
    gauss = np.exp(-((coord[:, None] - 8.0) ** 2 + (coord[None, :] - 8.0) ** 2) / (2 * 4.0**2))
    cell_pos = (coord + 0.5) / 8 - 0.5  # pixel position in cell units; cell centres at 0 and 1
    a = ang / 20.0 - 0.5  # bin centres at 10, 30, ..., 170 degrees
    b0 = np.floor(a).astype(int)
    f = a - b0
    for cx in range(2):
        wx = np.maximum(0.0, 1 - np.abs(cell_pos - cx))  # bilinear weight of the cell column
        for cy in range(2):
            wy = np.maximum(0.0, 1 - np.abs(cell_pos - cy))
            w = gauss * wy[:, None] * wx[None, :] * mag
            np.add.at(hist[cx, cy], b0 % 9, w * (1 - f))
            np.add.at(hist[cx, cy], (b0 + 1) % 9, w * f)
    v = hist.reshape(-1)
    v = v / (np.linalg.norm(v) + 36 * 0.1)
    v = np.minimum(v, 0.2)
    return v / (np.linalg.norm(v) + 1e-3)


def window_descriptor(window: np.ndarray, gamma: bool = True) -> np.ndarray:
    """3780-value descriptor of a 128x64 window image; blocks column by column (x outer, y inner)."""
    mag, ang = gradients(window, gamma)
    parts = []
    for bx in range(7):
        for by in range(15):
            sl = (slice(8 * by, 8 * by + 16), slice(8 * bx, 8 * bx + 16))
            parts.append(block_histogram(mag[sl], ang[sl]))
    return np.concatenate(parts)


def pyramid_ref(h: int, w: int, scale: float, nlevels: int = 64) -> list[tuple[float, int, int]]:
    """detectMultiScale's level loop, transcribed from its rule (push, test the pushed level, multiply)."""
    scales = []
    s = 1.0
    for _ in range(nlevels):
        scales.append(s)
        if round(w / s) < 64 or round(h / s) < 128 or scale <= 1:
            break
        s *= scale
    else:
        return [(s_, round(h / s_), round(w / s_)) for s_ in scales]
    kept = scales[: max(len(scales) - 1, 1)]
    return [(s_, round(h / s_), round(w / s_)) for s_ in kept]
