"""The network of the tiny CNN engine: :class:`Net`, the seed's classifier, its fully convolutional twin, storage.

The seed's network (:func:`overfeat_net`)::

    14x14x3 -> conv 5x5, 16 -> ReLU -> maxpool 2x2 -> 5x5x16 -> flatten 400
            -> dense 400 -> ReLU -> dense 400 -> ReLU -> dense 4 -> softmax

and its fully convolutional twin (:func:`to_fully_convolutional`)::

    HxWx3 -> conv 5x5, 16 -> ReLU -> maxpool 2x2 -> conv 5x5x16, 400 -> ReLU
          -> conv 1x1x400, 400 -> ReLU -> conv 1x1x400, 4 -> softmax (channels)

Weights are plain NumPy arrays; :func:`save_net` and :func:`load_net` store a net in one
``.npz`` file (no pickling).
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np

from detbench._validate import FLOAT_DTYPES, as_float_array, check_int
from detbench.sliding.layers import _LAYER_TYPES, Conv2D, Dense, Flatten, Layer, MaxPool2D, ReLU, Shape, Softmax

__all__ = ["Net", "overfeat_net", "to_fully_convolutional", "save_net", "load_net"]


def cast_input(arr: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """``arr`` (finite) as a C-contiguous array of the net's ``dtype``; values that overflow it are refused."""
    with np.errstate(over="ignore"):  # reported below, by name
        out = np.ascontiguousarray(arr, dtype=dtype)
    if out.dtype != arr.dtype and out.size and not np.isfinite(out).all():
        raise ValueError(f"{name}: values overflow the net's dtype {np.dtype(dtype)}")
    return out


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
        batch = cast_input(batch, self.dtype, "x")
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
