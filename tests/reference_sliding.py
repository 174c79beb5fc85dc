"""Plain NumPy references for the CNN engine and the sliding-window scans (float64, written from the formulas)."""

from __future__ import annotations

import numpy as np


def conv2d_ref(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """out[y, x, o] = b[o] + sum_{i,j,c} xp[s*y + i, s*x + j, c] * w[i, j, c, o] on one HWC image."""
    x = np.asarray(x, dtype=np.float64)
    if padding:
        x = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    kh, kw, _, cout = w.shape
    ho = (x.shape[0] - kh) // stride + 1
    wo = (x.shape[1] - kw) // stride + 1
    out = np.empty((ho, wo, cout))
    wf = np.asarray(w, dtype=np.float64)
    for yy in range(ho):
        for xx in range(wo):
            patch = x[yy * stride : yy * stride + kh, xx * stride : xx * stride + kw, :]
            out[yy, xx] = b + np.tensordot(patch, wf, axes=([0, 1, 2], [0, 1, 2]))
    return out


def maxpool_ref(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    ho = (x.shape[0] - size) // stride + 1
    wo = (x.shape[1] - size) // stride + 1
    out = np.empty((ho, wo, x.shape[2]))
    for yy in range(ho):
        for xx in range(wo):
            out[yy, xx] = x[yy * stride : yy * stride + size, xx * stride : xx * stride + size].max(axis=(0, 1))
    return out


def softmax_ref(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def forward_ref(net, image: np.ndarray) -> np.ndarray:
    """Run a detbench.cnn.Net layer by layer with the references above (one HWC image, float64)."""
    y = np.asarray(image, dtype=np.float64)
    for layer in net.layers:
        kind = layer.kind
        if kind == "conv2d":
            y = conv2d_ref(y, layer.weight, layer.bias.astype(np.float64), layer.stride, layer.padding)
        elif kind == "relu":
            y = np.maximum(y, 0.0)
        elif kind == "maxpool2d":
            y = maxpool_ref(y, layer.size, layer.stride)
        elif kind == "flatten":
            y = y.reshape(-1)
        elif kind == "dense":
            y = layer.bias.astype(np.float64) + y.reshape(-1) @ layer.weight.astype(np.float64)
        elif kind == "softmax":
            y = softmax_ref(y)
        else:  # pragma: no cover
            raise AssertionError(kind)
    return y


def naive_scan_ref(image: np.ndarray, net, window: int, stride: int) -> np.ndarray:
    """Crop every window with Python loops and run forward_ref on it."""
    h, w = image.shape[:2]
    rows = range(0, h - window + 1, stride)
    cols = range(0, w - window + 1, stride)
    return np.array([[forward_ref(net, image[r : r + window, c : c + window]) for c in cols] for r in rows])
