"""Felzenszwalb–Huttenlocher efficient graph-based segmentation (IJCV 2004), the over-segmentation
selective search starts from.  Kernels: :mod:`detbench.proposals._segmentation_kernels`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import check_int, check_number
from detbench.proposals import _segmentation_kernels as _k
from detbench.proposals._image import check_image, check_sigma, gaussian_blur
from detbench.proposals._segmentation_kernels import SortedEdges

__all__ = ["felzenszwalb_segmentation"]


def sorted_edges(img255: np.ndarray, sigma: float) -> SortedEdges:
    """Smooth, weight and sort the 8-connected grid edges (independent of k and min_size)."""
    h, w = img255.shape[:2]
    sm = np.ascontiguousarray(gaussian_blur(img255, sigma))
    ew = np.empty(4 * h * w, dtype=np.float64)
    _k.grid_edge_weights(sm, ew)
    order = np.empty(ew.shape[0], dtype=np.int64)
    sorted_w = np.empty(ew.shape[0], dtype=np.float64)
    n = _k.sort_edges(ew, order, sorted_w)
    return SortedEdges(order, sorted_w, int(n), h, w)


def fh_labels(edges: SortedEdges, scale: float, min_size: int) -> np.ndarray:
    """``(H, W)`` int64 segment labels of the sorted grid graph for the paper's ``k = scale``.

    ``min_size`` above the pixel count acts as the pixel count (every component is then smaller),
    so it is clamped there before it reaches the int64 kernel.
    """
    labels = np.empty(edges.height * edges.width, dtype=np.int64)
    _k.fh_segment(edges, float(scale), min(int(min_size), max(labels.shape[0], 1)), labels)
    return labels.reshape(edges.height, edges.width)


def felzenszwalb_segmentation(
    image: Any,
    scale: float = 100.0,
    sigma: float = 0.8,
    min_size: int = 20,
) -> np.ndarray:
    """Felzenszwalb–Huttenlocher efficient graph-based segmentation.

    Rule (Felzenszwalb & Huttenlocher, IJCV 2004): smooth each channel with a
    Gaussian of ``sigma`` (radius ``int(4 sigma + 0.5)``, symmetric borders);
    build the 8-connected pixel graph with edge weight = Euclidean colour
    distance (channel values on the 0..255 scale); visit edges by increasing
    weight (stable order) and join components ``C1, C2`` when the weight is
    ``<= min(Int(Ci) + scale / |Ci|)``; finally join, in the same order, any
    edge one of whose components is smaller than ``min_size``.

    This is the same graph, weights and ``scale`` convention as
    ``skimage.segmentation.felzenszwalb`` (which compares with ``<`` instead
    of the paper's ``<=``: they differ only on exact ties).

    Parameters
    ----------
    image: ``(H, W)`` or ``(H, W, 3)``, uint8 (0..255) or float in ``[0, 1]``.
    scale: the paper's ``k`` (> 0); larger gives larger segments.
    sigma: Gaussian pre-smoothing, ``0 <= sigma <= max(8, max(H, W) / 4)`` (0 = none); a
        wider Gaussian only flattens the image further, and its kernel would outgrow the image.
    min_size: minimum component size in pixels (>= 1; values above ``H * W`` act as ``H * W``).

    Returns
    -------
    ``(H, W)`` int64 labels ``0..R-1``, numbered in raster order of each
    segment's first pixel. Cost O(HW log(HW)) (the edge sort) plus O(HW sigma) for the smoothing.
    """
    img = check_image(image)
    scale = check_number(scale, "scale", low=0, low_inclusive=False)
    sigma = check_number(sigma, "sigma", low=0)
    min_size = check_int(min_size, "min_size", low=1)
    check_sigma(sigma, img.shape[0], img.shape[1])
    if img.size == 0:
        return np.zeros(img.shape[:2], dtype=np.int64)
    return fh_labels(sorted_edges(img, sigma), scale, min_size)
