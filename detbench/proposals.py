"""Region proposals: selective search, an RPN-style proposal layer, and proposal recall.

Seed notes §5 ("候选区域", region proposals): R-CNN classifies a few thousand
regions found by a segmentation algorithm (selective search) instead of every
sliding window; Faster R-CNN replaces selective search by a Region Proposal
Network (anchors + predicted deltas). :func:`proposal_recall` compares the
methods on the same images (recall against the number of proposals).

Boxes are ``xyxy`` in continuous pixel coordinates: pixel ``(row y, col x)``
covers ``[x, x + 1) x [y, y + 1)``, so a region spanning columns ``x0..x1`` and
rows ``y0..y1`` (inclusive) has the box ``(x0, y0, x1 + 1, y1 + 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from detbench._kernels import segmentation as _seg
from detbench._validate import (
    as_float_array,
    check_boxes,
    check_choice,
    check_int,
    check_number,
    check_pair,
    check_scores,
)
from detbench.anchors import DEFAULT_BBOX_CLIP, decode_boxes
from detbench.targets import _kernels as _kt

__all__ = [
    "felzenszwalb_segmentation",
    "selective_search",
    "sliding_windows",
    "filter_proposals",
    "rpn_proposals",
    "rpn_proposals_from_maps",
    "RPNProposals",
    "proposal_recall",
    "ProposalRecall",
]

# ---------------------------------------------------------------------------
# image preparation
# ---------------------------------------------------------------------------


def _check_image(image: Any, name: str = "image") -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 [0, 255] or float [0, 1] -> (H, W, 3) float64 in [0, 255]."""
    if isinstance(image, (str, bytes)) or image is None:
        raise ValueError(f"{name}: expected an image array, got {type(image).__name__}")
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{name}: expected shape (H, W) or (H, W, 3), got {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float64)
    if arr.dtype.kind == "f":
        if arr.size and not np.isfinite(arr).all():
            raise ValueError(f"{name}: contains NaN or inf")
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(
                f"{name}: float images must lie in [0, 1] (got [{float(arr.min())}, {float(arr.max())}]); "
                "pass uint8 for 0..255 data"
            )
        return arr.astype(np.float64) * 255.0
    raise ValueError(f"{name}: expected dtype uint8 or float, got {arr.dtype}")


def _gaussian_kernel(sigma: float, order: int) -> np.ndarray:
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    g /= g.sum()
    if order == 1:
        g = -x / (sigma * sigma) * g
    return g


def _correlate(img: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
    """Separable correlation (ky along rows, kx along columns), symmetric borders (scipy's 'reflect')."""
    img = np.ascontiguousarray(img, dtype=np.float64)
    tmp = np.empty_like(img)
    out = np.empty_like(img)
    _seg.separable_correlate(img, kx, ky, tmp, out)
    return out


def _gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return img
    g = _gaussian_kernel(sigma, 0)
    return _correlate(img, g, g)


def _rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 255] -> HSV with every channel scaled to [0, 255] (hue 0..360 deg -> 0..255)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.float64)
    out = np.empty_like(rgb)
    _seg.rgb_to_hsv(rgb, out)
    return out


#: sRGB (linear) -> XYZ, and the D65 2-degree white point (the constants scikit-image uses).
_XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])


def _rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 255] -> CIE L*a*b* (D65, 2 deg), scaled to [0, 255]: L * 2.55, a + 128, b + 128 (clipped)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.float64)
    out = np.empty_like(rgb)
    _seg.rgb_to_lab(rgb, _XYZ_FROM_RGB, _D65_WHITE, out)
    return out


_COLOR_SPACES = ("rgb", "hsv", "lab")


def _to_color_space(rgb: np.ndarray, space: str) -> np.ndarray:
    if space == "rgb":
        return rgb
    if space == "hsv":
        return _rgb_to_hsv(rgb)
    return _rgb_to_lab(rgb)


def _downscale(img: np.ndarray, max_side: int | None) -> tuple[np.ndarray, int]:
    """Integer-factor block-average downscale so that the longer side is <= max_side."""
    h, w = img.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return img, 1
    s = math.ceil(max(h, w) / max_side)
    hp, wp = -(-h // s) * s, -(-w // s) * s
    p = np.pad(img, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")
    return p.reshape(hp // s, s, wp // s, s, 3).mean(axis=(1, 3)), s


# ---------------------------------------------------------------------------
# Felzenszwalb-Huttenlocher
# ---------------------------------------------------------------------------


class _SortedEdges(NamedTuple):
    order: np.ndarray
    weights: np.ndarray
    n: int
    height: int
    width: int


def _sorted_edges(img255: np.ndarray, sigma: float) -> _SortedEdges:
    """Smooth, weight and sort the 8-connected grid edges (independent of k and min_size)."""
    h, w = img255.shape[:2]
    sm = np.ascontiguousarray(_gaussian_blur(img255, sigma))
    ew = np.empty(4 * h * w, dtype=np.float64)
    _seg.grid_edge_weights(sm, ew)
    order = np.empty(ew.shape[0], dtype=np.int64)
    sorted_w = np.empty(ew.shape[0], dtype=np.float64)
    n = _seg.sort_edges(ew, order, sorted_w)
    return _SortedEdges(order, sorted_w, int(n), h, w)


def _fh_labels(edges: _SortedEdges, scale: float, min_size: int) -> np.ndarray:
    labels = np.empty(edges.height * edges.width, dtype=np.int64)
    _seg.fh_segment(
        edges.order, edges.weights, edges.n, edges.width, labels.shape[0], float(scale), int(min_size), labels
    )
    return labels.reshape(edges.height, edges.width)


def _fh(img255: np.ndarray, scale: float, sigma: float, min_size: int) -> np.ndarray:
    return _fh_labels(_sorted_edges(img255, sigma), scale, min_size)


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
    sigma: Gaussian pre-smoothing (>= 0; 0 = none).
    min_size: minimum component size in pixels (>= 1).

    Returns
    -------
    ``(H, W)`` int64 labels ``0..R-1``, numbered in raster order of each
    segment's first pixel. Cost O(HW log(HW)) (the edge sort).
    """
    img = _check_image(image)
    scale = check_number(scale, "scale", low=0, low_inclusive=False)
    sigma = check_number(sigma, "sigma", low=0)
    min_size = check_int(min_size, "min_size", low=1)
    if img.size == 0:
        return np.zeros(img.shape[:2], dtype=np.int64)
    return _fh(img, scale, sigma, min_size)


# ---------------------------------------------------------------------------
# selective search
# ---------------------------------------------------------------------------

N_COLOR_BINS = 25
N_TEXTURE_BINS = 10
N_ORIENTATIONS = 8


def _color_bins(img255: np.ndarray) -> np.ndarray:
    b = np.floor(img255 * (N_COLOR_BINS / 256.0)).astype(np.int64)
    return np.clip(b, 0, N_COLOR_BINS - 1).reshape(-1, 3)


def _texture_bins(img255: np.ndarray) -> np.ndarray:
    """Per pixel, per (channel, orientation): bin of the rectified oriented Gaussian derivative (sigma 1)."""
    g0 = _gaussian_kernel(1.0, 0)
    g1 = _gaussian_kernel(1.0, 1)
    # correlating with the derivative-of-Gaussian kernel gives -d/dx; flip it to get d/dx
    gx = _correlate(img255, -g1, g0)
    gy = _correlate(img255, g0, -g1)
    h, w, c = img255.shape
    theta = np.arange(N_ORIENTATIONS) * (2 * np.pi / N_ORIENTATIONS)
    out = np.empty((h * w, c * N_ORIENTATIONS), dtype=np.int64)
    _seg.texture_bins(gx, gy, np.cos(theta), np.sin(theta), N_TEXTURE_BINS, out)
    return out


def _neighbour_pairs(labels: np.ndarray, n: int) -> np.ndarray:
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    diff = a != b
    lo = np.minimum(a[diff], b[diff])
    hi = np.maximum(a[diff], b[diff])
    key = np.unique(lo * n + hi)
    return np.ascontiguousarray(np.stack([key // n, key % n], axis=1).astype(np.int64))


class _Regions(NamedTuple):
    n: int
    pairs: np.ndarray
    size: np.ndarray
    bbox: np.ndarray
    chist: np.ndarray
    thist: np.ndarray


class _Prepared(NamedTuple):
    edges: _SortedEdges
    cbins: np.ndarray
    tbins: np.ndarray


def _prepare(img_cs: np.ndarray, sigma: float) -> _Prepared:
    """Per colour space: sorted grid edges and per-pixel histogram bins (shared by every k)."""
    return _Prepared(_sorted_edges(img_cs, sigma), _color_bins(img_cs), _texture_bins(img_cs))


def _initial_regions(prep: _Prepared, scale: float, min_size: int, max_regions: int | None = None) -> _Regions:
    h, w = prep.edges.height, prep.edges.width
    labels = _fh_labels(prep.edges, scale, min_size)
    n = int(labels.max()) + 1
    if max_regions is not None and n > max_regions:
        # every segment then has >= ceil(HW / max_regions) pixels, so there are at most max_regions of them
        labels = _fh_labels(prep.edges, scale, max(min_size, -(-h * w // max_regions)))
        n = int(labels.max()) + 1
    total = 2 * n - 1
    size = np.zeros(total, dtype=np.int64)
    bbox = np.empty((total, 4), dtype=np.int64)
    bbox[:, :2] = np.iinfo(np.int64).max
    bbox[:, 2:] = -1
    chist = np.zeros((n, 3 * N_COLOR_BINS), dtype=np.float64)
    thist = np.zeros((n, 3 * N_ORIENTATIONS * N_TEXTURE_BINS), dtype=np.float64)
    _seg.region_features(
        labels.ravel(),
        w,
        prep.cbins,
        prep.tbins,
        N_COLOR_BINS,
        N_TEXTURE_BINS,
        size,
        bbox,
        chist,
        thist,
    )
    return _Regions(n, _neighbour_pairs(labels, n), size, bbox, chist, thist)


def _group(reg: _Regions, sim: str, im_size: int) -> np.ndarray:
    """Run one grouping strategy; returns (regions, 4) inclusive pixel boxes in creation order."""
    size = reg.size.copy()
    bbox = reg.bbox.copy()
    count = _seg.hierarchical_grouping(
        reg.n,
        reg.pairs,
        size,
        bbox,
        reg.chist.copy(),
        reg.thist.copy(),
        float(im_size),
        "c" in sim,
        "t" in sim,
        "s" in sim,
        "f" in sim,
    )
    return bbox[:count]


_MODES = {
    # Uijlings et al. 2013, Sec. 5.2: "Single Strategy" and "Selective Search Fast"
    "single": (("hsv",), (100.0,), ("ctsf",)),
    "fast": (("hsv", "lab"), (50.0, 100.0), ("ctsf", "tsf")),
}


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
        replace the mode's lists.
    sigma: Felzenszwalb pre-smoothing.
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
    cs_list = tuple(check_choice(str(c).lower(), "color_spaces", _COLOR_SPACES) for c in (color_spaces or d_cs))
    k_list = tuple(check_number(k, "scales", low=0, low_inclusive=False) for k in (scales or d_k))
    sim_list = tuple(_check_similarity(s) for s in (similarities or d_sim))
    if min_size is not None:
        min_size = check_int(min_size, "min_size", low=1)
    if max_regions is not None:
        max_regions = check_int(max_regions, "max_regions", low=1)
    rgb = _check_image(image)
    h0, w0 = rgb.shape[:2]
    if rgb.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    small, factor = _downscale(rgb, max_side)
    im_size = small.shape[0] * small.shape[1]
    rng = np.random.default_rng(seed)
    all_boxes, all_v = [], []
    for cs in cs_list:
        prep = _prepare(np.ascontiguousarray(_to_color_space(small, cs)), sigma)
        for k in k_list:
            ms = min_size if min_size is not None else max(1, int(round(k)))
            reg = _initial_regions(prep, k, ms, max_regions)
            for sim in sim_list:
                hb = _group(reg, sim, im_size)
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


def sliding_windows(image_size: Any, window_sizes: Any, stride: Any) -> np.ndarray:
    """Every window of each size placed every ``stride`` pixels, fully inside the image (seed §2).

    ``image_size``: ``(height, width)``; ``window_sizes``: ``(K, 2)`` window
    (width, height) in pixels; ``stride``: int or ``(stride_y, stride_x)``.
    Returns ``(M, 4)`` float64 xyxy windows, size-major then row-major (top
    to bottom, left to right). Cost O(M).
    """
    h, w = check_pair(image_size, "image_size")
    sy, sx = check_pair(stride, "stride")
    ws = as_float_array(window_sizes, "window_sizes", ndim=2, dtype=np.float64)
    if ws.shape[1] != 2 or (ws <= 0).any():
        raise ValueError(f"window_sizes: expected (K, 2) positive (width, height), got shape {ws.shape}")
    out = []
    for ww, wh in ws:
        xs = np.arange(0, w - ww + 1e-9, sx) if ww <= w else np.zeros(0)
        ys = np.arange(0, h - wh + 1e-9, sy) if wh <= h else np.zeros(0)
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
        xx, yy = xx.ravel(), yy.ravel()
        out.append(np.stack([xx, yy, xx + ww, yy + wh], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 4))


# ---------------------------------------------------------------------------
# RPN proposal layer
# ---------------------------------------------------------------------------


class RPNProposals(NamedTuple):
    """Result of the RPN proposal layer.

    boxes: ``(M, 4)`` xyxy proposals, best first; scores: ``(M,)`` objectness
    probabilities; indices: ``(M,)`` int64 rows of the input anchors/proposals
    they came from.
    """

    boxes: np.ndarray
    scores: np.ndarray
    indices: np.ndarray


def _levels(num_anchors_per_level: Any, n: int) -> np.ndarray:
    if num_anchors_per_level is None:
        return np.array([n], dtype=np.int64)
    counts = np.array([check_int(c, "num_anchors_per_level", low=0) for c in num_anchors_per_level], dtype=np.int64)
    if counts.sum() != n:
        raise ValueError(f"num_anchors_per_level: counts sum to {int(counts.sum())}, expected {n}")
    return counts


def _top_n_per_level(score: np.ndarray, counts: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the top-k scores in each level (descending; lower index first on ties), and their levels."""
    idx, lvl = [], []
    start = 0
    for li, c in enumerate(counts.tolist()):
        s = score[start : start + c]
        kk = min(k, c)
        if kk > 0:
            if kk < c:
                part = np.argpartition(-s, kk - 1)[:kk]
                # keep ties at the boundary deterministic: take every index scoring above the k-th value,
                # then the lowest indices among those equal to it
                kth = s[part].min()
                above = np.flatnonzero(s > kth)
                equal = np.flatnonzero(s == kth)[: kk - above.size]
                part = np.concatenate([above, equal])
            else:
                part = np.arange(c)
            part = part[np.lexsort((part, -s[part]))]
            idx.append(part + start)
            lvl.append(np.full(kk, li, dtype=np.int64))
        start += c
    if not idx:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(idx), np.concatenate(lvl)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def filter_proposals(
    proposals: Any,
    objectness: Any,
    image_size: Any,
    *,
    num_anchors_per_level: Sequence[int] | None = None,
    pre_nms_top_n: int = 1000,
    post_nms_top_n: int = 1000,
    nms_thresh: float = 0.7,
    score_thresh: float = 0.0,
    min_size: float = 1e-3,
    objectness_is_logit: bool = True,
) -> RPNProposals:
    """Faster R-CNN proposal filtering for one image, as torchvision's ``RegionProposalNetwork.filter_proposals``.

    Steps (Ren et al. 2015; torchvision semantics):

    1. per feature level (``num_anchors_per_level``, default one level), keep
       the ``pre_nms_top_n`` highest objectness values (before the sigmoid);
    2. ``score = sigmoid(objectness)`` (skipped when ``objectness_is_logit``
       is False: the values are already probabilities);
    3. clip boxes to the image: x to ``[0, width]``, y to ``[0, height]``;
    4. drop boxes with width or height ``< min_size``;
    5. drop boxes with ``score < score_thresh``;
    6. NMS at ``nms_thresh`` independently per level (``batched_nms`` with the
       level as label) – the result is sorted by decreasing score;
    7. keep the first ``post_nms_top_n``.

    Differences from torchvision: one image per call (loop over a batch);
    ties in objectness are broken by the lower index (``torch.topk`` leaves
    the order of equal values unspecified); survivors with equal scores keep
    :func:`detbench.nms.batched_nms`'s order (increasing index), whereas
    torchvision re-sorts the per-level survivors with an unstable sort when
    there are more than 1000 boxes – float32 sigmoids of large logits tie
    often, so the two may list tied boxes in a different order and, when
    ``post_nms_top_n`` cuts through a tie, keep different members of it;
    ``min_size`` is a parameter (torchvision: the attribute ``min_size = 1e-3``);
    ``indices`` are returned too.

    ``proposals``: ``(N, 4)`` decoded xyxy boxes; ``objectness``: ``(N,)``;
    ``image_size``: ``(height, width)``. Output dtype follows ``proposals``
    (float32 stays float32). Cost O(N + L k log k) for the top-k plus the NMS
    on at most ``L * pre_nms_top_n`` boxes.
    """
    from detbench.nms import batched_nms  # lazy: the NMS module lands separately

    p = as_float_array(proposals, "proposals", ndim=2)
    if p.shape[1] != 4:
        raise ValueError(f"proposals: expected shape (N, 4), got {p.shape}")
    n = p.shape[0]
    obj = check_scores(objectness, n, "objectness")
    h, w = _image_pair(image_size)
    counts = _levels(num_anchors_per_level, n)
    pre = check_int(pre_nms_top_n, "pre_nms_top_n", low=0)
    post = check_int(post_nms_top_n, "post_nms_top_n", low=0)
    thr = check_number(nms_thresh, "nms_thresh", low=0, high=1)
    sthr = check_number(score_thresh, "score_thresh")
    msz = check_number(min_size, "min_size", low=0)
    idx, lvl = _top_n_per_level(obj, counts, pre)
    dt = p.dtype
    s = obj[idx].astype(dt)
    if objectness_is_logit:
        s = _sigmoid(s)
    b = p[idx].copy()
    np.clip(b[:, 0::2], 0, w, out=b[:, 0::2])
    np.clip(b[:, 1::2], 0, h, out=b[:, 1::2])
    keep = ((b[:, 2] - b[:, 0]) >= msz) & ((b[:, 3] - b[:, 1]) >= msz) & (s >= sthr)
    b, s, lvl, idx = b[keep], s[keep], lvl[keep], idx[keep]
    if b.shape[0]:
        k = np.asarray(batched_nms(b, s, lvl, thr), dtype=np.int64)[:post]
    else:
        k = np.zeros(0, dtype=np.int64)
    return RPNProposals(np.ascontiguousarray(b[k]), np.ascontiguousarray(s[k]), idx[k])


def _image_pair(image_size: Any) -> tuple[float, float]:
    try:
        h, w = image_size
    except (TypeError, ValueError):
        raise ValueError(f"image_size: expected (height, width), got {image_size!r}") from None
    return (
        check_number(h, "image_size[0] (height)", low=0),
        check_number(w, "image_size[1] (width)", low=0),
    )


def rpn_proposals(
    anchors: Any,
    objectness: Any,
    deltas: Any,
    image_size: Any,
    *,
    num_anchors_per_level: Sequence[int] | None = None,
    pre_nms_top_n: int = 1000,
    post_nms_top_n: int = 1000,
    nms_thresh: float = 0.7,
    score_thresh: float = 0.0,
    min_size: float = 1e-3,
    weights: Any = (1.0, 1.0, 1.0, 1.0),
    clamp: float = DEFAULT_BBOX_CLIP,
    objectness_is_logit: bool = True,
) -> RPNProposals:
    """RPN proposal layer for one image: anchors + predicted deltas -> ranked proposals.

    ``decode_boxes(anchors, deltas, weights, clamp)`` (Faster R-CNN box coder,
    torchvision's ``BoxCoder`` with the RPN's weights ``(1, 1, 1, 1)``), then
    :func:`filter_proposals` (top-k per level, sigmoid, clip, drop tiny, score
    threshold, per-level NMS, top-n). Only the top-k anchors are decoded
    (decoding is element-wise, so this equals decoding all of them first, as
    torchvision does).

    ``anchors``: ``(N, 4)`` xyxy, e.g. :func:`detbench.anchors.grid_anchors`
    output concatenated over levels; ``objectness``: ``(N,)`` logits;
    ``deltas``: ``(N, 4)`` ``(dx, dy, dw, dh)``. Returns :class:`RPNProposals`
    (dtype float32 when anchors and deltas are float32). Cost: as
    :func:`filter_proposals` plus O(L * pre_nms_top_n) decoding.
    """
    a = check_boxes(anchors, "anchors")
    n = a.shape[0]
    d = as_float_array(deltas, "deltas")
    if d.ndim != 2 or d.shape[1] != 4:
        raise ValueError(f"deltas: expected shape (N, 4), got {d.shape}")
    if d.shape[0] != n:
        raise ValueError(f"deltas: {d.shape[0]} rows do not match the {n} anchors")
    obj = check_scores(objectness, n, "objectness")
    counts = _levels(num_anchors_per_level, n)
    pre = check_int(pre_nms_top_n, "pre_nms_top_n", low=0)
    idx, _ = _top_n_per_level(obj, counts, pre)
    boxes = decode_boxes(a[idx], d[idx], weights, clamp=clamp)
    sub_counts = np.array([min(pre, c) for c in counts.tolist()], dtype=np.int64)
    res = filter_proposals(
        boxes,
        obj[idx],
        image_size,
        num_anchors_per_level=sub_counts,
        pre_nms_top_n=pre,
        post_nms_top_n=post_nms_top_n,
        nms_thresh=nms_thresh,
        score_thresh=score_thresh,
        min_size=min_size,
        objectness_is_logit=objectness_is_logit,
    )
    return RPNProposals(res.boxes, res.scores, idx[res.indices])


def rpn_proposals_from_maps(
    objectness_maps: Sequence[Any],
    delta_maps: Sequence[Any],
    cell_anchors: Sequence[Any],
    strides: Sequence[Any],
    image_size: Any,
    *,
    pre_nms_top_n: int = 1000,
    post_nms_top_n: int = 1000,
    nms_thresh: float = 0.7,
    score_thresh: float = 0.0,
    min_size: float = 1e-3,
    weights: Any = (1.0, 1.0, 1.0, 1.0),
    clamp: float = DEFAULT_BBOX_CLIP,
    objectness_is_logit: bool = True,
) -> RPNProposals:
    """RPN proposals from per-level head outputs of one image (channel-first, as an RPN head emits them).

    ``objectness_maps[l]``: ``(A, H, W)`` logits; ``delta_maps[l]``:
    ``(4A, H, W)`` with channel ``4a + j`` = delta ``j`` of anchor ``a``;
    ``cell_anchors[l]``: ``(A, 4)`` base anchors around the origin cell;
    ``strides[l]``: int or ``(stride_h, stride_w)``.

    Equivalent to :func:`rpn_proposals` on the anchors of
    :func:`detbench.anchors.grid_anchors` concatenated over levels and on the
    maps flattened in the same ``(y, x, a)`` order (torchvision's
    ``concat_box_prediction_layers``); ``indices`` refer to that flattened
    order. Only the objectness maps are flattened: the anchors and deltas of
    the top-k positions are computed / gathered directly, so the full anchor
    grid is never built. Cost O(total anchors) for the flatten and top-k plus
    :func:`filter_proposals`.
    """
    nl = len(objectness_maps)
    if not (nl == len(delta_maps) == len(cell_anchors) == len(strides)) or nl == 0:
        raise ValueError("objectness_maps, delta_maps, cell_anchors, strides: need the same non-zero number of levels")
    pre = check_int(pre_nms_top_n, "pre_nms_top_n", low=0)
    sel_idx, sel_obj, sel_anchor, sel_delta, sub_counts = [], [], [], [], []
    offset = 0
    for li in range(nl):
        o = as_float_array(objectness_maps[li], f"objectness_maps[{li}]", ndim=3)
        dmap = as_float_array(delta_maps[li], f"delta_maps[{li}]", ndim=3)
        na, hh, ww = o.shape
        if dmap.shape != (4 * na, hh, ww):
            raise ValueError(f"delta_maps[{li}]: expected shape {(4 * na, hh, ww)}, got {dmap.shape}")
        base = check_boxes(cell_anchors[li], f"cell_anchors[{li}]")
        if base.shape[0] != na:
            raise ValueError(f"cell_anchors[{li}]: {base.shape[0]} anchors do not match the map's {na}")
        sh, sw = check_pair(strides[li], f"strides[{li}]")
        flat = o.transpose(1, 2, 0).reshape(-1)  # (y, x, a) order
        idx, _ = _top_n_per_level(flat, np.array([flat.size], dtype=np.int64), pre)
        cell, a = np.divmod(idx, na)
        y, x = np.divmod(cell, ww)
        dt = np.result_type(base.dtype, dmap.dtype)
        # the same arithmetic as grid_anchors: float64 shifts cast to the anchors' dtype, plus the base anchor
        sx = (x.astype(np.float64) * sw).astype(base.dtype)
        sy = (y.astype(np.float64) * sh).astype(base.dtype)
        sel_anchor.append((np.stack([sx, sy, sx, sy], axis=1) + base[a]).astype(dt, copy=False))
        sel_delta.append(dmap.reshape(na, 4, hh, ww)[a, :, y, x].astype(dt, copy=False))
        sel_obj.append(flat[idx])
        sel_idx.append(idx + offset)
        sub_counts.append(idx.size)
        offset += flat.size
    idx = np.concatenate(sel_idx)
    boxes = decode_boxes(np.concatenate(sel_anchor), np.concatenate(sel_delta), weights, clamp=clamp)
    res = filter_proposals(
        boxes,
        np.concatenate(sel_obj),
        image_size,
        num_anchors_per_level=sub_counts,
        pre_nms_top_n=pre,
        post_nms_top_n=post_nms_top_n,
        nms_thresh=nms_thresh,
        score_thresh=score_thresh,
        min_size=min_size,
        objectness_is_logit=objectness_is_logit,
    )
    return RPNProposals(res.boxes, res.scores, idx[res.indices])


# ---------------------------------------------------------------------------
# proposal recall
# ---------------------------------------------------------------------------


#: 0.50, 0.55, ..., 0.95: the thresholds of COCO's AP and of Hosang et al.'s average recall.
COCO_IOU_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


class ProposalRecall(NamedTuple):
    """Result of :func:`proposal_recall`.

    counts: ``(C,)`` numbers of proposals; iou_thresholds: ``(T,)``;
    recall: ``(T, C)`` fraction of ground-truth boxes covered at IoU >= t by
    one of the first ``counts[c]`` proposals of their image; average_recall:
    ``(C,)`` mean of ``recall`` over the thresholds (Hosang et al.'s AR when
    the thresholds are 0.5:0.05:0.95); num_gt: number of ground-truth boxes.
    """

    counts: np.ndarray
    iou_thresholds: np.ndarray
    recall: np.ndarray
    average_recall: np.ndarray
    num_gt: int


def proposal_recall(
    proposals: Any,
    gt: Any,
    iou_thresholds: Any = COCO_IOU_THRESHOLDS,
    counts: Any = None,
) -> ProposalRecall:
    """Recall of ranked proposals against the number of proposals kept.

    ``proposals``: ``(P, 4)`` xyxy boxes, best first, or a list of such
    arrays (one per image); ``gt``: ``(G, 4)`` xyxy or a list of the same
    length. A ground-truth box counts as recalled at threshold ``t`` with
    ``n`` proposals when ``IoU >= t`` with one of the first ``n`` proposals of
    its image (Hosang, Benenson, Dollár, Schiele, TPAMI 2016); recall pools
    the ground truth of all images. ``counts`` defaults to about 40 values
    spaced geometrically from 1 to the largest ``P``. With no ground truth the
    recall is NaN.

    IoU as :func:`detbench.boxes.box_iou` (``inter / union``), computed by a
    fused serial kernel that stops scanning a ground-truth box once every
    threshold is reached. Cost O(sum P G + T G).
    """
    if isinstance(proposals, (list, tuple)):
        props = [check_boxes(p, f"proposals[{i}]") for i, p in enumerate(proposals)]
        if not isinstance(gt, (list, tuple)) or len(gt) != len(props):
            raise ValueError("gt: expected a list with one array per image, like proposals")
        gts = [check_boxes(g, f"gt[{i}]") for i, g in enumerate(gt)]
    else:
        props = [check_boxes(proposals, "proposals")]
        gts = [check_boxes(gt, "gt")]
    thr = as_float_array(iou_thresholds, "iou_thresholds", dtype=np.float64).ravel()
    if thr.size == 0 or (thr < 0).any() or (thr > 1).any():
        raise ValueError(f"iou_thresholds: expected values in [0, 1], got {thr.tolist()}")
    p_max = max(p.shape[0] for p in props)
    if counts is None:
        cnt = np.unique(np.round(np.geomspace(1, max(p_max, 1), 40)).astype(np.int64))
    else:
        cnt = np.array([check_int(c, "counts", low=0) for c in np.ravel(counts)], dtype=np.int64)
    # first_hit[t, g]: rank of the first proposal reaching IoU >= t with gt g (never counted when none does)
    order = np.argsort(thr, kind="stable")
    never = np.iinfo(np.int64).max
    hits = []
    for p, g in zip(props, gts):
        if g.shape[0] == 0:
            continue
        fh = np.empty((thr.size, g.shape[0]), dtype=np.int64)
        _kt.first_hits(p.astype(np.float64), g.astype(np.float64), thr[order], fh)
        fh[fh >= p.shape[0]] = never
        out = np.empty_like(fh)
        out[order] = fh
        hits.append(out)
    num_gt = int(sum(g.shape[0] for g in gts))
    if num_gt == 0:
        rec = np.full((thr.size, cnt.size), np.nan)
    else:
        allh = np.concatenate(hits, axis=1)
        rec = (allh[:, None, :] < cnt[None, :, None]).sum(axis=2) / num_gt
    return ProposalRecall(cnt, thr, rec, rec.mean(axis=0), num_gt)
