"""A tiny CNN engine (NumPy weights, Numba kernels) for the sliding-window study.

Image layout
------------
Images are **HWC** (height, width, channels), batches are **NHWC**: the seed
notes write the network input as ``14 x 14 x 3`` and the channel axis last
keeps every multiply-add loop contiguous (see :mod:`detbench._kernels.cnn`).
A convolution weight is ``(KH, KW, C_in, C_out)``, a dense weight is
``(in_features, out_features)`` and a :class:`Flatten` flattens HWC in C order,
so the dense feature index of pixel ``(i, j)``, channel ``c`` is
``(i * W + j) * C + c``.  That is exactly the order in which a ``KH x KW x C``
convolution visits its inputs, which is why :func:`to_fully_convolutional` is a
pure reshape of the weights.

Layers
------
:class:`Conv2D` (stride, zero padding), :class:`ReLU`, :class:`MaxPool2D`,
:class:`Flatten`, :class:`Dense`, :class:`Softmax` (over the last axis), chained
by :class:`Net`.  ``float32`` and ``float64`` weights are supported; inputs are
cast to the weights' dtype.  Weights are plain NumPy arrays; :func:`save_net`
and :func:`load_net` store a net in one ``.npz`` file (no pickling).

The seed's network (:func:`overfeat_net`)::

    14x14x3 -> conv 5x5, 16 -> ReLU -> maxpool 2x2 -> 5x5x16 -> flatten 400
            -> dense 400 -> ReLU -> dense 400 -> ReLU -> dense 4 -> softmax

and its fully convolutional twin (:func:`to_fully_convolutional`)::

    HxWx3 -> conv 5x5, 16 -> ReLU -> maxpool 2x2 -> conv 5x5x16, 400 -> ReLU
          -> conv 1x1x400, 400 -> ReLU -> conv 1x1x400, 4 -> softmax (channels)

Reference: P. Sermanet et al., "OverFeat: Integrated Recognition, Localization
and Detection using Convolutional Networks", ICLR 2014 (dense layers as 1x1
convolutions); the seed notes, section 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np

from detbench._kernels import cnn as _k
from detbench._validate import FLOAT_DTYPES, as_float_array, check_int

__all__ = [
    "Conv2D",
    "ReLU",
    "MaxPool2D",
    "Flatten",
    "Dense",
    "Softmax",
    "Net",
    "overfeat_net",
    "to_fully_convolutional",
    "save_net",
    "load_net",
]

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


class Net:
    """A chain of layers applied to HWC images.

    Parameters
    ----------
    layers:
        The layers, applied in order.
    input_shape:
        ``(H, W, C)`` the net expects (a classifier), or ``None`` when any image
        at least as large as the receptive field is accepted (a fully
        convolutional net).

    Calling the net on an ``(H, W, C)`` image returns the output without the batch
    axis; on an ``(N, H, W, C)`` batch it returns ``(N, ...)``.  A classifier ends
    in ``(1, 1, K)`` per image, which is returned as ``(K,)`` (``(N, K)`` for a
    batch); a fully convolutional net returns ``(H', W', K)``.
    """

    def __init__(self, layers: Sequence[Layer], input_shape: Shape | None = None) -> None:
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("layers: a net needs at least one layer")
        for layer in self.layers:
            if not isinstance(layer, tuple(_LAYER_TYPES.values())):
                raise ValueError(f"layers: unsupported layer {layer!r}")
        dtypes = {layer.weight.dtype for layer in self.layers if hasattr(layer, "weight")}
        if len(dtypes) > 1:
            raise ValueError(f"layers: weights mix dtypes {sorted(str(d) for d in dtypes)}")
        self.dtype = dtypes.pop() if dtypes else np.dtype(np.float64)
        if input_shape is not None:
            input_shape = tuple(check_int(v, "input_shape", low=1) for v in input_shape)
            if len(input_shape) != 3:
                raise ValueError(f"input_shape: expected (H, W, C), got {input_shape}")
            self.output_shape(input_shape)  # raises if the layers do not fit
        self.input_shape = input_shape

    # -- shapes and cost ---------------------------------------------------
    @property
    def in_channels(self) -> int:
        for layer in self.layers:
            if isinstance(layer, Conv2D):
                return int(layer.weight.shape[2])
            if isinstance(layer, Dense):
                return int(layer.weight.shape[0])
        raise ValueError("net has no weighted layer, its input channels are undefined")

    @property
    def is_fully_convolutional(self) -> bool:
        return not any(isinstance(layer, (Dense, Flatten)) for layer in self.layers)

    def output_shape(self, shape: Shape) -> Shape:
        """``(H', W', C')`` for an ``(H, W, C)`` input; ValueError if it does not fit."""
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def macs(self, shape: Shape) -> int:
        """Multiply-adds of one forward pass on an ``(H, W, C)`` input (conv and dense layers only)."""
        total = 0
        for layer in self.layers:
            total += layer.macs(shape)
            shape = layer.output_shape(shape)
        return total

    def geometry(self) -> tuple[int, int]:
        """``(receptive_field, total_stride)`` of the spatial layers (square kernels and pools).

        One output pixel of the net sees ``receptive_field`` input pixels per side and
        neighbouring output pixels are ``total_stride`` input pixels apart.  Dense
        layers have no spatial extent; for a classifier the field is its input size.
        For the seed's net: ``(14, 2)``.
        """
        field, stride = 1, 1
        for layer in self.layers:
            if isinstance(layer, Conv2D):
                if layer.weight.shape[0] != layer.weight.shape[1]:
                    raise ValueError("geometry: non-square kernels are not supported")
                field += (layer.weight.shape[0] - 1) * stride
                stride *= layer.stride
            elif isinstance(layer, MaxPool2D):
                field += (layer.size - 1) * stride
                stride *= layer.stride
            elif isinstance(layer, Flatten) and self.input_shape is not None:
                return int(self.input_shape[0]), stride
        return field, stride

    # -- evaluation --------------------------------------------------------
    def __call__(self, x: Any) -> np.ndarray:
        return self.forward(x)

    def forward(self, x: Any) -> np.ndarray:
        """Run the net on an HWC image or an NHWC batch (see the class docstring)."""
        arr = as_float_array(x, "x")
        if arr.ndim not in (3, 4):
            raise ValueError(f"x: expected an (H, W, C) image or (N, H, W, C) batch, got shape {arr.shape}")
        single = arr.ndim == 3
        batch = arr[None] if single else arr
        batch = np.ascontiguousarray(batch, dtype=self.dtype)
        if self.input_shape is not None and batch.shape[1:] != self.input_shape:
            raise ValueError(f"x: the net expects {self.input_shape} images, got {batch.shape[1:]}")
        self.output_shape(batch.shape[1:])  # clear error before any kernel runs
        if batch.shape[0] == 0:
            out_shape = self.output_shape(batch.shape[1:])
            y = np.empty((0,) + out_shape, dtype=self.dtype)
        else:
            y = batch
            i = 0
            while i < len(self.layers):
                layer = self.layers[i]
                fuse = isinstance(layer, (Conv2D, Dense)) and i + 1 < len(self.layers)
                fuse = fuse and isinstance(self.layers[i + 1], ReLU)
                if fuse:
                    y = layer.forward(y, relu=True)  # ReLU fused into the store
                    i += 2
                else:
                    y = layer.forward(y)
                    i += 1
        if not self.is_fully_convolutional:
            y = y.reshape(y.shape[0], y.shape[-1])
        return y[0] if single else y

    def __repr__(self) -> str:
        names = ", ".join(layer.kind for layer in self.layers)
        return f"Net([{names}], input_shape={self.input_shape}, dtype={self.dtype})"


def overfeat_net(seed: int = 0, dtype: Any = np.float32) -> Net:
    """The seed's classifier: ``14x14x3 -> conv5x5,16 -> ReLU -> maxpool2 -> dense 400 -> ReLU -> dense 400
    -> ReLU -> dense 4 -> softmax``.

    Weights are He-normal (``N(0, 2 / fan_in)``), biases ``N(0, 0.05^2)``, drawn from
    ``numpy.random.default_rng(seed)`` in layer order, then cast to ``dtype``
    (float32 or float64).  The ReLUs after the convolution and the hidden dense
    layers are the usual choice; the seed's figure does not draw activations.
    Forward cost: 441,600 multiply-adds per 14x14 window (323,620 parameters).
    """
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"dtype: expected float32 or float64, got {dt}")
    seed = check_int(seed, "seed", low=0)
    rng = np.random.default_rng(seed)

    def he(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dt)

    def bias(n: int) -> np.ndarray:
        return (rng.standard_normal(n) * 0.05).astype(dt)

    layers: list[Layer] = [
        Conv2D(he((5, 5, 3, 16), 75), bias(16)),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(he((400, 400), 400), bias(400)),
        ReLU(),
        Dense(he((400, 400), 400), bias(400)),
        ReLU(),
        Dense(he((400, 4), 400), bias(4)),
        Softmax(),
    ]
    return Net(layers, input_shape=(14, 14, 3))


def to_fully_convolutional(net: Net) -> Net:
    """The fully convolutional twin of a classifier, sharing its weights (OverFeat).

    ``Flatten`` + the first ``Dense`` (fed an ``h x w x c`` map) become an
    ``h x w`` convolution with ``c`` input channels (the dense weight reshaped to
    ``(h, w, c, out)``, valid because :class:`Flatten` is HWC order); every later
    ``Dense`` becomes a 1x1 convolution; all other layers are reused.  On the
    classifier's input size the twin returns a ``1 x 1 x K`` map equal to the
    classifier's output; on a larger image it returns every window's output at
    once, the windows being ``net.geometry()[1]`` (the total stride) pixels apart.
    The returned net's weights are views of ``net``'s (no copy); cost O(number of layers).
    """
    if not isinstance(net, Net):
        raise ValueError(f"net: expected a detbench.cnn.Net, got {type(net).__name__}")
    if net.is_fully_convolutional:
        return Net(list(net.layers), input_shape=None)
    if net.input_shape is None:
        raise ValueError("net: a classifier needs input_shape to be converted")
    shape: Shape = net.input_shape
    layers: list[Layer] = []
    pending: Shape | None = None  # map shape seen by the Flatten
    for layer in net.layers:
        if isinstance(layer, Flatten):
            pending = shape
        elif isinstance(layer, Dense):
            k, m = layer.weight.shape
            if pending is not None:
                h, w, c = pending
                layers.append(Conv2D(layer.weight.reshape(h, w, c, m), layer.bias))
                pending = None
            else:
                layers.append(Conv2D(layer.weight.reshape(1, 1, k, m), layer.bias))
        else:
            if pending is not None:
                raise ValueError(f"net: a {layer.kind} layer between Flatten and Dense cannot be converted")
            layers.append(layer)
        shape = layer.output_shape(shape)
    return Net(layers, input_shape=None)


def save_net(net: Net, path: str | PathLike[str]) -> None:
    """Write ``net`` to one ``.npz`` file (layer kinds as strings, weights as arrays; no pickle).

    Keys: ``n_layers``, ``input_shape`` (classifiers only), ``layer{i}_kind`` and the layer's
    parameters ``layer{i}_weight`` / ``_bias`` / ``_stride`` / ``_padding`` / ``_size``.
    Cost: O(number of parameters).
    """
    if not isinstance(net, Net):
        raise ValueError(f"net: expected a detbench.cnn.Net, got {type(net).__name__}")
    arrays: dict[str, np.ndarray] = {"n_layers": np.array(len(net.layers))}
    if net.input_shape is not None:
        arrays["input_shape"] = np.array(net.input_shape, dtype=np.int64)
    for i, layer in enumerate(net.layers):
        arrays[f"layer{i}_kind"] = np.array(layer.kind)
        for key, value in layer.params().items():
            arrays[f"layer{i}_{key}"] = value
    np.savez(path, **arrays)


def load_net(path: str | PathLike[str]) -> Net:
    """Read a net written by :func:`save_net` (``allow_pickle=False``); weights keep their dtype.

    Raises ValueError for an unknown layer kind or inconsistent shapes.  Cost: O(number of parameters).
    """
    with np.load(path, allow_pickle=False) as data:
        n = int(data["n_layers"])
        input_shape = tuple(int(v) for v in data["input_shape"]) if "input_shape" in data.files else None
        layers: list[Layer] = []
        for i in range(n):
            kind = str(data[f"layer{i}_kind"])
            if kind not in _LAYER_TYPES:
                raise ValueError(f"{path}: layer {i} has unknown kind {kind!r}")

            def get(key: str, i: int = i) -> np.ndarray:
                return data[f"layer{i}_{key}"]

            if kind == "conv2d":
                layers.append(Conv2D(get("weight"), get("bias"), int(get("stride")), int(get("padding"))))
            elif kind == "dense":
                layers.append(Dense(get("weight"), get("bias")))
            elif kind == "maxpool2d":
                layers.append(MaxPool2D(int(get("size")), int(get("stride"))))
            else:
                layers.append(_LAYER_TYPES[kind]())
    return Net(layers, input_shape=input_shape)  # type: ignore[arg-type]
