"""HOG descriptors and the HOG + linear SVM people detector, matching OpenCV's ``HOGDescriptor`` defaults.

Parameters (OpenCV's defaults, fixed here): 64x128 window (width x height),
8x8-pixel cells, 16x16-pixel blocks of 2x2 cells, 8-pixel block stride, 9
unsigned orientation bins over [0, 180) degrees, ``winSigma = (16 + 16) / 8 = 4``,
L2-Hys with threshold 0.2, square-root gamma correction (``gammaCorrection=True``).
A window's descriptor has 7 x 15 blocks x 36 = 3780 values.

The rules, as OpenCV implements them (``modules/objdetect/src/hog.cpp``):

* **Gradients**: ``dx = I[y, x+1] - I[y, x-1]``, ``dy = I[y+1, x] - I[y-1, x]`` on
  ``sqrt(pixel)`` (gamma), image borders reflected (BORDER_REFLECT_101, also for
  the ``padding`` around the image); in a colour image the channel with the
  largest ``dx^2 + dy^2`` wins.  The orientation comes from OpenCV's polynomial
  ``atan2`` (error about 0.01 degree), reduced to [0, 180).
* **Orientation voting**: with ``a = angle * 9 / pi - 0.5``, a pixel of
  magnitude ``m`` votes ``m * (1 - frac(a))`` for bin ``floor(a)`` and
  ``m * frac(a)`` for the next bin (circularly), i.e. linear interpolation
  between bin centres 10, 30, ..., 170 degrees.
* **Spatial voting** inside a 16x16 block: every vote is weighted by a
  Gaussian ``exp(-((i - 8)^2 + (j - 8)^2) / (2 * 4^2))`` of its block
  coordinates and split bilinearly between the cells whose centres
  (3.5 and 11.5) surround it (the share of a cell that is outside the block
  is dropped).
* **L2-Hys**: ``v /= (||v||_2 + 3.6)``, ``v = min(v, 0.2)``, ``v /= (||v||_2 + 1e-3)``
  over the block's 36 values.
* **Descriptor order** (OpenCV's): blocks column by column (block x outer, block
  y inner), inside a block cell x, then cell y, then bin.
* **Detection**: window score ``<w, descriptor> + b`` with the 3780 SVM weights
  ``w`` and bias ``b`` (OpenCV's ``svmDetector``: 3781 values, bias last); a hit
  when ``score >= hit_threshold``.

How the scan is organised (:mod:`detbench.hog.detector`; the "convolutional" idea of
:mod:`detbench.sliding` applied to HOG): each pyramid level's block histograms are computed once on
the grid of block positions (step ``gcd(win_stride, 8)``), and every window's
score is the correlation of the SVM weights, viewed as a 7 x 15 x 36 filter,
with that grid, read in place.  The pyramid follows ``detectMultiScale``:
level ``k`` has scale ``scale**k``, image size
``round(W / scale**k) x round(H / scale**k)`` (uint8 images resized bit-exactly
like OpenCV's ``INTER_LINEAR_EXACT``), while both sides stay >= the window;
a hit at level position ``(x, y)`` is the box
``(round(x s), round(y s), round(64 s), round(128 s))`` clipped to the image.
Instead of OpenCV's ``groupRectangles``, the boxes are grouped with NMS
(:func:`detbench.nms.nms`).

Input images are ``(H, W)`` grey or ``(H, W, 3)`` colour arrays.  ``uint8``
reproduces OpenCV exactly (up to float rounding); other real dtypes are used as
float32 values (non-negative when gamma correction is on) and resized with
plain bilinear interpolation.

Modules: :mod:`~detbench.hog.descriptor` (descriptors), :mod:`~detbench.hog.detector`
(window scores, pyramid, multi-scale detection), :mod:`~detbench.hog.resize` (the pyramid's
resize); each with its Numba kernels beside it (``_descriptor_kernels``, ``_detector_kernels``,
``_resize_kernels``) and ``_params`` (the fixed parameters, input checks and shared tables).

Reference: N. Dalal and B. Triggs, "Histograms of Oriented Gradients for Human
Detection", CVPR 2005; OpenCV 4.x ``HOGDescriptor``.
"""

from detbench.hog._params import DESCRIPTOR_SIZE, WINDOW
from detbench.hog.descriptor import hog_descriptor, hog_descriptors
from detbench.hog.detector import default_people_detector, hog_detect_multiscale, hog_pyramid_scales, hog_window_scores
from detbench.hog.resize import resize_linear_exact

__all__ = [
    "WINDOW",
    "DESCRIPTOR_SIZE",
    "default_people_detector",
    "hog_descriptor",
    "hog_descriptors",
    "hog_window_scores",
    "hog_pyramid_scales",
    "hog_detect_multiscale",
    "resize_linear_exact",
]
