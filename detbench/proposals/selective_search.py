"""Selective search object proposals (Uijlings, van de Sande, Gevers, Smeulders, IJCV 2013).

Felzenszwalb segments (:mod:`detbench.proposals.segmentation`) described by size, box, colour and
texture histograms, merged greedily by similarity; every region of every hierarchy is a proposal.
Kernels: :mod:`detbench.proposals._grouping_kernels` (descriptors, grouping) and
:mod:`detbench.proposals._image_kernels` (filters, colour spaces).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from detbench._validate import check_choice, check_int, check_number
from detbench.proposals import _grouping_kernels as _gk
from detbench.proposals import _image_kernels as _ik
from detbench.proposals._grouping_kernels import Regions, Similarity, new_regions
from detbench.proposals._image import (
    COLOR_SPACES,
    check_image,
    check_sigma,
    correlate,
    downscale,
    gaussian_kernel,
    to_color_space,
)
from detbench.proposals._segmentation_kernels import SortedEdges
from detbench.proposals.segmentation import fh_labels, sorted_edges

__all__ = ["selective_search"]

N_COLOR_BINS = 25
N_TEXTURE_BINS = 10
N_ORIENTATIONS = 8


def color_bins(img255: np.ndarray) -> np.ndarray:
    b = np.floor(img255 * (N_COLOR_BINS / 256.0)).astype(np.int64)
    return np.clip(b, 0, N_COLOR_BINS - 1).reshape(-1, 3)


def texture_bins(img255: np.ndarray) -> np.ndarray:
    """Per pixel, per (channel, orientation): bin of the rectified oriented Gaussian derivative (sigma 1)."""
    g0 = gaussian_kernel(1.0, 0)
    g1 = gaussian_kernel(1.0, 1)
    # correlating with the derivative-of-Gaussian kernel gives -d/dx; flip it to get d/dx
    gx = correlate(img255, -g1, g0)
    gy = correlate(img255, g0, -g1)
    h, w, c = img255.shape
    theta = np.arange(N_ORIENTATIONS) * (2 * np.pi / N_ORIENTATIONS)
    out = np.empty((h * w, c * N_ORIENTATIONS), dtype=np.int64)
    _ik.texture_bins(gx, gy, np.cos(theta), np.sin(theta), N_TEXTURE_BINS, out)
    return out


def neighbour_pairs(labels: np.ndarray, n: int) -> np.ndarray:
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    diff = a != b
    lo = np.minimum(a[diff], b[diff])
    hi = np.maximum(a[diff], b[diff])
    key = np.unique(lo * n + hi)
    return np.ascontiguousarray(np.stack([key // n, key % n], axis=1).astype(np.int64))


class Prepared(NamedTuple):
    """One colour space's image, ready for every ``k``: its sorted grid edges and per-pixel histogram bins."""

    edges: SortedEdges
    cbins: np.ndarray
    tbins: np.ndarray


def prepare(img_cs: np.ndarray, sigma: float) -> Prepared:
    """Per colour space: sorted grid edges and per-pixel histogram bins (shared by every k)."""
    return Prepared(sorted_edges(img_cs, sigma), color_bins(img_cs), texture_bins(img_cs))


def initial_regions(prep: Prepared, scale: float, min_size: int, max_regions: int | None = None) -> Regions:
    """Felzenszwalb segments at ``k = scale`` and their descriptors (``max_regions``: see :func:`selective_search`)."""
    h, w = prep.edges.height, prep.edges.width
    labels = fh_labels(prep.edges, scale, min_size)
    n = int(labels.max()) + 1
    if max_regions is not None and n > max_regions:
        # every segment then has >= ceil(HW / max_regions) pixels, so there are at most max_regions of them
        labels = fh_labels(prep.edges, scale, max(min_size, -(-h * w // max_regions)))
        n = int(labels.max()) + 1
    reg = new_regions(n, neighbour_pairs(labels, n), 3 * N_COLOR_BINS, 3 * N_ORIENTATIONS * N_TEXTURE_BINS)
    _gk.region_features(labels.ravel(), w, prep.cbins, prep.tbins, reg)
    return reg


def group(reg: Regions, sim: str, im_size: int) -> np.ndarray:
    """Run one grouping strategy; returns (regions, 4) inclusive pixel boxes in creation order."""
    work = reg.copy()
    sims = Similarity("c" in sim, "t" in sim, "s" in sim, "f" in sim)
    count = _gk.hierarchical_grouping(work, sims, float(im_size))
    return work.bbox[:count]


_MODES = {
    # Uijlings et al. 2013, Sec. 5.2: "Single Strategy" and "Selective Search Fast"
    "single": (("hsv",), (100.0,), ("ctsf",)),
    "fast": (("hsv", "lab"), (50.0, 100.0), ("ctsf", "tsf")),
}


def _strategy_list(value: Any, default: tuple, name: str) -> tuple:
    """The mode's list when ``value`` is None, else ``value`` as a non-empty list."""
    if value is None:
        return default
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name}: expected a list, got the string {value!r} (wrap it: [{value!r}])")
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"{name}: expected a list, got {value!r}") from None
    if not items:
        raise ValueError(f"{name}: expected a non-empty list (None takes the mode's list)")
    return items


def _check_similarity(s: Any) -> str:
    if not isinstance(s, str) or not s or set(s.lower()) - set("ctsf") or len(set(s.lower())) != len(s):
        raise ValueError(
            f"similarities: each entry must be a non-empty string of distinct letters from 'ctsf', got {s!r}"
        )
    return s.lower()


def selective_search(
    image: Any,
    *,
    mode: str = "single",
    seed: int = 0,
    color_spaces: Sequence[str] | None = None,
    scales: Sequence[float] | None = None,
    similarities: Sequence[str] | None = None,
    sigma: float = 0.8,
    min_size: int | None = None,
    max_side: int | None = 1000,
    max_regions: int | None = 2000,
) -> np.ndarray:
    """Selective search object proposals (Uijlings, van de Sande, Gevers, Smeulders, IJCV 2013).

    For each strategy (colour space × Felzenszwalb ``k`` × similarity set):

    1. Convert the image to the colour space (``"rgb"``, ``"hsv"``, ``"lab"``;
       each channel scaled to 0..255) and over-segment it with
       :func:`felzenszwalb_segmentation` (``scale = k``).
    2. Describe each region by its size, bounding box, a colour histogram
       (25 bins per channel, L1-normalised) and a texture histogram: Gaussian
       derivatives (sigma 1) in 8 orientations per channel, half-wave
       rectified, 10 bins each (bin range ``[0, max response of the channel]``),
       L1-normalised – a simplified SIFT-like descriptor (the paper's
       orientation handling is not specified further).
    3. Greedily merge the most similar pair of neighbouring regions (4-connected)
       until one region is left, with ``s = [c] s_colour + [t] s_texture +
       [s] s_size + [f] s_fill``: histogram intersections,
       ``s_size = 1 - (|a| + |b|) / |image|``,
       ``s_fill = 1 - (|BB(a ∪ b)| - |a| - |b|) / |image|``. A merged region's
       histograms are the size-weighted mean of its parts'.

    Every region of every hierarchy is a proposal. Ranking (paper Sec. 3.3):
    in hierarchy ``j`` the region created at position ``i`` counted from the
    top (``i = 1`` is the last merge, the whole image) gets ``v = RND * i``
    with ``RND`` uniform in ``[0, 1)`` from ``numpy.random.default_rng(seed)``;
    proposals are sorted by increasing ``v`` (stable), and exact duplicate
    boxes keep their best-ranked copy. Deterministic for a given seed.

    Parameters
    ----------
    image: ``(H, W)`` or ``(H, W, 3)`` RGB, uint8 (0..255) or float in ``[0, 1]``.
    mode: ``"single"`` (HSV, k = 100, C+T+S+F: the paper's single best
        strategy) or ``"fast"`` (HSV and Lab × k = 50, 100 × C+T+S+F and
        T+S+F: "Selective Search Fast", 8 strategies). ``color_spaces``,
        ``scales`` and ``similarities`` (strings over ``"ctsf"``), when given,
        replace the mode's lists; an empty list is refused.
    sigma: Felzenszwalb pre-smoothing, at most ``max(8, longer side / 4)`` of the
        (downscaled) image, see :func:`felzenszwalb_segmentation`.
    min_size: Felzenszwalb minimum segment size in pixels (default: ``k``,
        rounded, at least 1).
    max_side: size policy. An image whose longer side exceeds ``max_side`` is
        first shrunk by the integer factor ``s = ceil(longer / max_side)``
        (``s x s`` block means, edge-padded) and the boxes are scaled back by
        ``s`` and clipped to the image. ``None`` disables it.
    max_regions: second part of the size policy. Greedy grouping costs about
        O(R^2 D) on textures where one region keeps absorbing its neighbours
        (pure noise with ``min_size=1`` gives R > 10^4 and minutes of work).
        When the segmentation has more than ``max_regions`` segments it is
        recomputed with ``min_size = ceil(HW / max_regions)``, which bounds R
        by ``max_regions`` (worst case measured: ~0.1 s of grouping per
        strategy at R = 2000). Natural 640 x 480 photos give a few hundred
        segments and are unaffected. ``None`` disables it.

    Returns
    -------
    ``(M, 4)`` float64 ``xyxy`` boxes in pixel-edge coordinates (see module
    doc), best ranked first.

    Cost per strategy: O(HW log(HW)) for the segmentation, O(HW * 27) for the
    descriptors, O(R D + (E + sum of merged degrees) (log E + D)) for the
    grouping with R initial regions, E neighbour pairs and D = 315 histogram
    bins. A 640 x 480 photo takes well under a second in ``"single"`` mode.
    """
    mode = check_choice(mode, "mode", tuple(_MODES))
    seed = check_int(seed, "seed", low=0)
    sigma = check_number(sigma, "sigma", low=0)
    if max_side is not None:
        max_side = check_int(max_side, "max_side", low=16)
    d_cs, d_k, d_sim = _MODES[mode]
    cs_names = _strategy_list(color_spaces, d_cs, "color_spaces")
    cs_list = tuple(check_choice(str(c).lower(), "color_spaces", COLOR_SPACES) for c in cs_names)
    k_list = tuple(check_number(k, "scales", low=0, low_inclusive=False) for k in _strategy_list(scales, d_k, "scales"))
    sim_list = tuple(_check_similarity(s) for s in _strategy_list(similarities, d_sim, "similarities"))
    if min_size is not None:
        min_size = check_int(min_size, "min_size", low=1)
    if max_regions is not None:
        max_regions = check_int(max_regions, "max_regions", low=1)
    rgb = check_image(image)
    h0, w0 = rgb.shape[:2]
    if rgb.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    small, factor = downscale(rgb, max_side)
    check_sigma(sigma, small.shape[0], small.shape[1])
    im_size = small.shape[0] * small.shape[1]
    rng = np.random.default_rng(seed)
    all_boxes, all_v = [], []
    for cs in cs_list:
        prep = prepare(np.ascontiguousarray(to_color_space(small, cs)), sigma)
        for k in k_list:
            # default min_size = k; beyond the pixel count it acts as the pixel count (see fh_labels)
            ms = min_size if min_size is not None else max(1, int(round(min(k, im_size))))
            reg = initial_regions(prep, k, ms, max_regions)
            for sim in sim_list:
                hb = group(reg, sim, im_size)
                pos = np.arange(hb.shape[0], 0, -1, dtype=np.float64)  # last created -> 1
                all_v.append(rng.random(hb.shape[0]) * pos)
                all_boxes.append(hb)
    boxes = np.concatenate(all_boxes).astype(np.float64)
    v = np.concatenate(all_v)
    order = np.argsort(v, kind="stable")
    boxes = boxes[order]
    boxes[:, 2:] += 1.0
    _, first = np.unique(boxes, axis=0, return_index=True)
    boxes = boxes[np.sort(first)]
    if factor > 1:
        boxes *= factor
        np.clip(boxes[:, 0::2], 0, w0, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0, h0, out=boxes[:, 1::2])
        _, first = np.unique(boxes, axis=0, return_index=True)
        boxes = boxes[np.sort(first)]
    return np.ascontiguousarray(boxes)
