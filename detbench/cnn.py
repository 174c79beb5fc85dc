"""A tiny CNN engine (NumPy weights, Numba kernels) for the sliding-window study: the public path.

The code lives in the sliding-window family, :mod:`detbench.sliding` (``layers``, ``net``,
``_kernels``); this module keeps the documented ``detbench.cnn`` names importable.

Image layout
------------
Images are **HWC** (height, width, channels), batches are **NHWC**: the seed
notes write the network input as ``14 x 14 x 3`` and the channel axis last
keeps every multiply-add loop contiguous (see :mod:`detbench.sliding._kernels`).
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

from detbench.sliding.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Softmax
from detbench.sliding.net import Net, load_net, overfeat_net, save_net, to_fully_convolutional

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
