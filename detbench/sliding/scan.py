"""Sliding-window classification: the naive scan and its convolutional implementation (OverFeat).

The naive detector (seed notes, section 2) crops every ``window x window``
window of an HWC image, ``stride`` pixels apart, and runs a classifier on each
crop.  Its convolutional implementation (OverFeat) runs the classifier's fully
convolutional twin (:func:`detbench.cnn.to_fully_convolutional`) once on the
whole image: overlapping windows share the convolution work, and output pixel
``(r, c)`` is the classifier's output on the window whose top-left corner is
``(stride * r, stride * c)``.

The stride of the convolutional scan is not a free parameter: it is the
network's total stride (the product of its layers' strides; 2 for the seed's
net, from the 2x2 max-pool), and the window is its receptive field (14).  The
naive scan equals it exactly when it is run with ``window, stride =
net.geometry()``; any other stride is a different (denser or sparser) scan.

Grid size: ``H' = (H - window) // stride + 1`` rows and ``W' = (W - window) //
stride + 1`` columns (:func:`sliding_window_grid_shape`), for both scans.

Cost (:func:`sliding_window_macs`): the naive scan pays the classifier's
multiply-adds once per window; the convolutional scan pays the twin's
multiply-adds on the whole image, where only the layers before the first dense
layer are shared between overlapping windows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import as_float_array, check_int
from detbench.sliding import _kernels as _k
from detbench.sliding.net import Net, cast_input, to_fully_convolutional

__all__ = [
    "sliding_window_grid_shape",
    "sliding_window_classify",
    "convolutional_sliding_window",
    "sliding_window_macs",
]


def sliding_window_grid_shape(image_shape: Any, window: int = 14, stride: int = 2) -> tuple[int, int]:
    """Number of window rows and columns ``((H - window) // stride + 1, (W - window) // stride + 1)``.

    ``image_shape`` is ``(H, W)`` or ``(H, W, C)``.  Raises ValueError when the window
    is larger than the image or ``stride < 1``.  O(1).
    """
    try:
        dims = tuple(image_shape)
    except TypeError:
        raise ValueError(f"image_shape: expected (H, W) or (H, W, C), got {image_shape!r}") from None
    if len(dims) not in (2, 3):
        raise ValueError(f"image_shape: expected (H, W) or (H, W, C), got {image_shape!r}")
    h = check_int(dims[0], "image_shape", low=0)
    w = check_int(dims[1], "image_shape", low=0)
    window = check_int(window, "window", low=1)
    stride = check_int(stride, "stride", low=1)
    if h < window or w < window:
        raise ValueError(f"window: {window}x{window} is larger than the {h}x{w} image")
    return (h - window) // stride + 1, (w - window) // stride + 1


def _check_image(image: Any, channels: int, dtype: np.dtype) -> np.ndarray:
    arr = as_float_array(image, "image")
    if arr.ndim != 3:
        raise ValueError(f"image: expected an (H, W, C) array (HWC layout), got shape {arr.shape}")
    if arr.shape[2] != channels:
        raise ValueError(f"image: the net expects {channels} channels, got shape {arr.shape}")
    return cast_input(arr, dtype, "image")


def _check_net(net: Any, name: str) -> Net:
    if not isinstance(net, Net):
        raise ValueError(f"{name}: expected a detbench.cnn.Net, got {type(net).__name__}")
    return net


def sliding_window_classify(
    image: Any,
    net: Net,
    window: int = 14,
    stride: int = 2,
    *,
    batch_size: int = 4096,
) -> np.ndarray:
    """Run the classifier ``net`` on every ``window x window`` crop of ``image`` (the naive scan).

    Parameters
    ----------
    image:
        ``(H, W, C)`` array (HWC); cast to the net's dtype.  Non-finite values are rejected.
    net:
        A classifier whose ``input_shape`` is ``(window, window, C)`` (e.g. :func:`detbench.cnn.overfeat_net`).
    window, stride:
        Window side and step in pixels.  Use ``stride = net.geometry()[1]`` (2 for the seed's
        net) to get the grid :func:`convolutional_sliding_window` computes in one pass.
    batch_size:
        Windows cropped and classified per batch (bounds the working memory).

    Returns
    -------
    ``(H', W', K)`` array of the net's dtype: entry ``[r, c]`` is the net's output on
    ``image[stride*r : stride*r + window, stride*c : stride*c + window]``.  Grid size as in
    :func:`sliding_window_grid_shape`.

    Cost: ``H' * W' * net.macs((window, window, C))`` multiply-adds (no sharing).
    """
    net = _check_net(net, "net")
    window = check_int(window, "window", low=1)
    stride = check_int(stride, "stride", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    if net.input_shape is None:
        raise ValueError("net: expected a classifier with a fixed input_shape (use convolutional_sliding_window)")
    if net.input_shape[:2] != (window, window):
        raise ValueError(f"window: the net classifies {net.input_shape[0]}x{net.input_shape[1]} crops, got {window}")
    img = _check_image(image, net.input_shape[2], net.dtype)
    gh, gw = sliding_window_grid_shape(img.shape, window, stride)
    n_out = net.output_shape(net.input_shape)[2]
    out = np.empty((gh * gw, n_out), dtype=net.dtype)
    idx = np.arange(gh * gw, dtype=np.int64)
    rows = (idx // gw) * stride
    cols = (idx % gw) * stride
    buf = np.empty((min(batch_size, gh * gw), window, window, img.shape[2]), dtype=net.dtype)
    for lo in range(0, gh * gw, batch_size):
        hi = min(lo + batch_size, gh * gw)
        crops = buf[: hi - lo]
        _k.pick("crop_windows", crops.size)(img, rows[lo:hi], cols[lo:hi], window, crops)
        out[lo:hi] = net.forward(crops)
    return out.reshape(gh, gw, n_out)


def convolutional_sliding_window(image: Any, fcn: Net) -> np.ndarray:
    """Every window's output in one pass of a fully convolutional net (OverFeat).

    Parameters
    ----------
    image:
        ``(H, W, C)`` array (HWC), at least as large as the net's receptive field.
    fcn:
        A fully convolutional net, e.g. ``to_fully_convolutional(overfeat_net())``.

    Returns
    -------
    ``(H', W', K)`` array: entry ``[r, c]`` belongs to the window with top-left corner
    ``(s*r, s*c)`` and side ``f``, where ``(f, s) = fcn.geometry()`` (14 and 2 for the
    seed's net); it equals ``sliding_window_classify(image, net, f, s)[r, c]``.
    ``H' = (H - f) // s + 1`` (same for W').

    Cost: ``fcn.macs(image.shape)`` multiply-adds; see :func:`sliding_window_macs`.
    """
    fcn = _check_net(fcn, "fcn")
    if not fcn.is_fully_convolutional:
        raise ValueError("fcn: the net has dense layers; convert it with detbench.cnn.to_fully_convolutional")
    img = _check_image(image, fcn.in_channels, fcn.dtype)
    field, stride = fcn.geometry()
    expected = sliding_window_grid_shape(img.shape, field, stride)
    out = fcn.forward(img)
    if out.shape[:2] != expected:  # pragma: no cover - guaranteed by the layer arithmetic
        raise AssertionError(f"grid {out.shape[:2]} differs from the sliding-window grid {expected}")
    return out


def sliding_window_macs(image_shape: Any, net: Net, window: int = 14, stride: int = 2) -> dict[str, float]:
    """Multiply-adds of the naive and the convolutional scan of an image.

    ``image_shape`` is ``(H, W, C)``; ``net`` the classifier.  Returns
    ``{"windows": H'*W', "naive": windows * net.macs(window^2 x C),
    "convolutional": to_fully_convolutional(net).macs(image_shape), "ratio": naive / convolutional}``.
    Counts the multiply-adds of convolution and dense layers (pooling, ReLU and
    softmax are not multiply-adds).  The convolutional count assumes
    ``stride == net.geometry()[1]`` (otherwise the two scans differ and a
    ValueError is raised).  O(number of layers).
    """
    net = _check_net(net, "net")
    window = check_int(window, "window", low=1)
    stride = check_int(stride, "stride", low=1)
    if net.input_shape is None or net.input_shape[:2] != (window, window):
        raise ValueError(f"window: the net classifies {net.input_shape} crops, got {window}")
    try:
        dims = tuple(int(v) for v in image_shape)
    except (TypeError, ValueError):
        raise ValueError(f"image_shape: expected (H, W, C), got {image_shape!r}") from None
    if len(dims) != 3 or dims[2] != net.input_shape[2]:
        raise ValueError(f"image_shape: expected (H, W, {net.input_shape[2]}), got {image_shape!r}")
    fcn = to_fully_convolutional(net)
    if fcn.geometry()[1] != stride:
        raise ValueError(f"stride: the convolutional scan has the net's total stride {fcn.geometry()[1]}, got {stride}")
    gh, gw = sliding_window_grid_shape(dims, window, stride)
    naive = gh * gw * net.macs(net.input_shape)
    conv = fcn.macs(dims)
    return {"windows": gh * gw, "naive": naive, "convolutional": conv, "ratio": naive / conv}
