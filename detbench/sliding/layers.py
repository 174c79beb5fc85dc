"""The layers of the tiny CNN engine (NumPy weights, Numba kernels in :mod:`detbench.sliding._kernels`).

Images are **HWC** (height, width, channels), batches **NHWC**.  A convolution weight is
``(KH, KW, C_in, C_out)``, a dense weight ``(in_features, out_features)``, and :class:`Flatten`
flattens HWC in C order, so the dense feature index of pixel ``(i, j)``, channel ``c`` is
``(i * W + j) * C + c`` - the order in which a ``KH x KW x C`` convolution visits its inputs
(see :mod:`detbench.sliding` for the whole engine).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import FLOAT_DTYPES, as_float_array, check_int
from detbench.sliding import _kernels as _k

__all__ = ["Conv2D", "ReLU", "MaxPool2D", "Flatten", "Dense", "Softmax"]

Shape = tuple[int, int, int]


def _check_param(arr: Any, name: str, ndim: int) -> np.ndarray:
    a = as_float_array(arr, name, ndim=ndim)
    if a.dtype not in FLOAT_DTYPES:  # pragma: no cover - as_float_array guarantees it
        raise ValueError(f"{name}: expected float32 or float64, got {a.dtype}")
    return a


class Conv2D:
    """2-D convolution (cross-correlation) in HWC layout.

    ``out[y, x, o] = b[o] + sum_{i,j,c} in[s*y + i, s*x + j, c] * w[i, j, c, o]``.

    ``weight`` is ``(KH, KW, C_in, C_out)``, ``bias`` is ``(C_out,)``; ``stride``
    ``s >= 1``; ``padding`` zero pixels are added on every side first.  Output
    size ``(H + 2p - KH) // s + 1``.  Cost: ``Ho * Wo * KH * KW * C_in * C_out``
    multiply-adds (:meth:`macs`).
    """

    kind = "conv2d"

    def __init__(self, weight: Any, bias: Any, stride: int = 1, padding: int = 0) -> None:
        self.weight = _check_param(weight, "weight", 4)
        self.bias = _check_param(bias, "bias", 1).astype(self.weight.dtype, copy=False)
        if self.bias.shape != (self.weight.shape[3],):
            raise ValueError(f"bias: expected shape ({self.weight.shape[3]},), got {self.bias.shape}")
        if min(self.weight.shape) < 1:
            raise ValueError(f"weight: empty kernel shape {self.weight.shape}")
        self.stride = check_int(stride, "stride", low=1)
        self.padding = check_int(padding, "padding", low=0)

    def output_shape(self, shape: Shape) -> Shape:
        h, w, c = shape
        kh, kw, cin, cout = self.weight.shape
        if c != cin:
            raise ValueError(f"conv2d: input has {c} channels, the weights expect {cin}")
        hp, wp = h + 2 * self.padding, w + 2 * self.padding
        if hp < kh or wp < kw:
            raise ValueError(f"conv2d: input {h}x{w} (padding {self.padding}) is smaller than the {kh}x{kw} kernel")
        return ((hp - kh) // self.stride + 1, (wp - kw) // self.stride + 1, cout)

    def macs(self, shape: Shape) -> int:
        ho, wo, cout = self.output_shape(shape)
        kh, kw, cin, _ = self.weight.shape
        return ho * wo * kh * kw * cin * cout

    def forward(self, x: np.ndarray, relu: bool = False) -> np.ndarray:
        """NHWC batch in, NHWC batch out; ``relu=True`` fuses a following ReLU."""
        ho, wo, cout = self.output_shape(x.shape[1:])
        if self.padding:
            p = self.padding
            x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        out = np.empty((x.shape[0], ho, wo, cout), dtype=self.weight.dtype)
        kh, kw, cin, _ = self.weight.shape
        _k.pick("conv2d_nhwc", out.size * kh * kw * cin)(x, self.weight, self.bias, self.stride, relu, out)
        return out

    def params(self) -> dict[str, np.ndarray]:
        return {
            "weight": self.weight,
            "bias": self.bias,
            "stride": np.array(self.stride),
            "padding": np.array(self.padding),
        }


class ReLU:
    """``max(x, 0)`` elementwise (fused into the store of a preceding Conv2D/Dense by :class:`Net`).

    No multiply-adds."""

    kind = "relu"

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def macs(self, shape: Shape) -> int:
        return 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.array(x, copy=True, order="C")  # never modify the caller's array
        _k.pick("relu_inplace", out.size)(out.reshape(-1))
        return out

    def params(self) -> dict[str, np.ndarray]:
        return {}


class MaxPool2D:
    """Max over ``size x size`` windows with ``stride`` (no padding); output ``(H - size) // stride + 1``."""

    kind = "maxpool2d"

    def __init__(self, size: int = 2, stride: int | None = None) -> None:
        self.size = check_int(size, "size", low=1)
        self.stride = self.size if stride is None else check_int(stride, "stride", low=1)

    def output_shape(self, shape: Shape) -> Shape:
        h, w, c = shape
        if h < self.size or w < self.size:
            raise ValueError(f"maxpool2d: input {h}x{w} is smaller than the {self.size}x{self.size} window")
        return ((h - self.size) // self.stride + 1, (w - self.size) // self.stride + 1, c)

    def macs(self, shape: Shape) -> int:
        return 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        ho, wo, c = self.output_shape(x.shape[1:])
        out = np.empty((n, ho, wo, c), dtype=x.dtype)
        _k.pick("maxpool_nhwc", out.size * self.size * self.size)(x, self.size, self.stride, out)
        return out

    def params(self) -> dict[str, np.ndarray]:
        return {"size": np.array(self.size), "stride": np.array(self.stride)}


class Flatten:
    """HWC -> one feature axis of length ``H * W * C`` (C order). Only valid before :class:`Dense`."""

    kind = "flatten"

    def output_shape(self, shape: Shape) -> Shape:
        h, w, c = shape
        return (1, 1, h * w * c)

    def macs(self, shape: Shape) -> int:
        return 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x).reshape(x.shape[0], 1, 1, -1)

    def params(self) -> dict[str, np.ndarray]:
        return {}


class Dense:
    """Fully connected layer ``out[o] = b[o] + sum_k in[k] w[k, o]``; ``weight`` is ``(in, out)``.

    Its input must be ``1 x 1 x in`` (after :class:`Flatten`).  Cost ``in * out`` multiply-adds.
    Computed by the convolution kernel (a dense layer is a 1x1 convolution over the batch).
    """

    kind = "dense"

    def __init__(self, weight: Any, bias: Any) -> None:
        self.weight = _check_param(weight, "weight", 2)
        self.bias = _check_param(bias, "bias", 1).astype(self.weight.dtype, copy=False)
        if self.bias.shape != (self.weight.shape[1],):
            raise ValueError(f"bias: expected shape ({self.weight.shape[1]},), got {self.bias.shape}")

    def output_shape(self, shape: Shape) -> Shape:
        h, w, c = shape
        if (h, w) != (1, 1):
            raise ValueError(f"dense: input must be flattened (1x1xC), got {h}x{w}x{c}; add a Flatten layer")
        if c != self.weight.shape[0]:
            raise ValueError(f"dense: input has {c} features, the weights expect {self.weight.shape[0]}")
        return (1, 1, self.weight.shape[1])

    def macs(self, shape: Shape) -> int:
        self.output_shape(shape)
        return int(self.weight.shape[0] * self.weight.shape[1])

    def forward(self, x: np.ndarray, relu: bool = False) -> np.ndarray:
        """``(N, 1, 1, in)`` in, ``(N, 1, 1, out)`` out; ``relu=True`` fuses a following ReLU."""
        n = x.shape[0]
        self.output_shape(x.shape[1:])
        k, m = self.weight.shape
        out = np.empty((1, 1, n, m), dtype=self.weight.dtype)
        conv = _k.pick("conv2d_nhwc", n * k * m)
        conv(x.reshape(1, 1, n, k), self.weight.reshape(1, 1, k, m), self.bias, 1, relu, out)
        return out.reshape(n, 1, 1, m)

    def params(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight, "bias": self.bias}


class Softmax:
    """Softmax over the last (channel) axis: ``exp(x - max) / sum exp(x - max)``. No multiply-adds counted."""

    kind = "softmax"

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def macs(self, shape: Shape) -> int:
        return 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        flat = x.reshape(-1, x.shape[-1])
        out = np.empty_like(flat)
        _k.pick("softmax_rows", flat.size)(flat, out)
        return out.reshape(x.shape)

    def params(self) -> dict[str, np.ndarray]:
        return {}


_LAYER_TYPES = {cls.kind: cls for cls in (Conv2D, ReLU, MaxPool2D, Flatten, Dense, Softmax)}
Layer = Conv2D | ReLU | MaxPool2D | Flatten | Dense | Softmax
