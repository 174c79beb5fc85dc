"""The sliding-window family: a tiny CNN engine and the naive and convolutional (OverFeat) scans.

* :mod:`detbench.sliding.layers` - :class:`Conv2D`, :class:`ReLU`, :class:`MaxPool2D`,
  :class:`Flatten`, :class:`Dense`, :class:`Softmax` in HWC layout;
* :mod:`detbench.sliding.net` - :class:`Net`, the seed's classifier (:func:`overfeat_net`), its
  fully convolutional twin (:func:`to_fully_convolutional`), :func:`save_net` / :func:`load_net`;
* :mod:`detbench.sliding.scan` - :func:`sliding_window_classify` (crop every window, classify each)
  and :func:`convolutional_sliding_window` (one pass of the twin), their grid and multiply-add counts;
* :mod:`detbench.sliding._kernels` - the Numba kernels (NHWC convolution, pooling, softmax, crops),
  each compiled as a parallel and a serial twin.

The layers and the net are also importable as :mod:`detbench.cnn` (their documented public path).

Reference: P. Sermanet et al., "OverFeat: Integrated Recognition, Localization and Detection using
Convolutional Networks", ICLR 2014; the seed notes, section 2.
"""

from detbench.sliding.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Softmax
from detbench.sliding.net import Net, load_net, overfeat_net, save_net, to_fully_convolutional
from detbench.sliding.scan import (
    convolutional_sliding_window,
    sliding_window_classify,
    sliding_window_grid_shape,
    sliding_window_macs,
)

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
    "sliding_window_grid_shape",
    "sliding_window_classify",
    "convolutional_sliding_window",
    "sliding_window_macs",
]
