"""How much ROI Pooling's quantization loses, in theory and in practice.

* :func:`roi_quantization_error` -- the seed's worked example (how many image pixels each quantization
  loses) for any box, stride and output size.
* :func:`roi_error_study` -- the empirical version: pool and align outputs against the exact continuous
  bin average of a smooth synthetic feature map, over random boxes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detbench._validate import check_boxes, check_int, check_number, check_pair
from detbench.roi._pool_kernels import new_pool_edges, pool_one
from detbench.roi.align import roi_align
from detbench.roi.pool import roi_pool

__all__ = ["roi_quantization_error", "roi_error_study", "RoiQuantization", "QuantizationStudy", "STUDY_METHODS"]


@dataclass(frozen=True)
class RoiQuantization:
    """How one pipeline turns a box into output bins, per axis ``(x, y)``.

    Extents are in feature cells unless the name ends in ``_px`` (image pixels = cells * stride).

    * ``feature_extent``: box extent / stride, the exact extent on the feature map.
    * ``map_extent``: the extent the pipeline uses on the map (ROI Pooling: rounded down to whole
      cells, the first quantization; ROI Align: unchanged).
    * ``map_error_px``: ``(feature_extent - map_extent) * stride``, pixels lost by the first step.
    * ``bin_extent``: ``map_extent / output``, the exact bin size.
    * ``bin_used``: the bin size the pipeline pools over (ROI Pooling: rounded down, the second
      quantization; ROI Align: unchanged).
    * ``bin_error_px``: ``(bin_extent - bin_used) * stride``, pixels lost per bin by the second step.
    * ``covered_px``: ``bin_used * output * stride``, the image extent the output grid covers.
    * ``lost_px``: ``box extent - covered_px``, everything the two steps lose together.
    """

    pipeline: str
    feature_extent: tuple[float, float]
    map_extent: tuple[float, float]
    map_error_px: tuple[float, float]
    bin_extent: tuple[float, float]
    bin_used: tuple[float, float]
    bin_error_px: tuple[float, float]
    covered_px: tuple[float, float]
    lost_px: tuple[float, float]


@dataclass(frozen=True)
class QuantizationStudy:
    """Result of :func:`roi_quantization_error`: the inputs, the feature-map size and both pipelines."""

    box: tuple[float, float, float, float]
    stride: float
    output_size: tuple[int, int]
    image_size: tuple[int, int] | None
    feature_map_size: tuple[float, float] | None
    roi_pool: RoiQuantization
    roi_align: RoiQuantization


def roi_quantization_error(
    box: Sequence[float],
    stride: float,
    output_size: int | Sequence[int] = 7,
    image_size: int | Sequence[int] | None = None,
) -> QuantizationStudy:
    """Quantization error of ROI Pooling and ROI Align for one box, in image pixels (the seed's §6 example).

    Parameters
    ----------
    box:
        ``[x1, y1, x2, y2]`` (xyxy) in image pixels; only its extent ``(x2 - x1, y2 - y1)`` matters.
    stride:
        Image pixels per feature cell (``1 / spatial_scale``), > 0.
    output_size:
        ``ph`` or ``(ph, pw)`` bins (7 in Faster R-CNN).
    image_size:
        Optional ``H`` or ``(H, W)`` of the image: checks the box lies inside it and reports the
        feature-map size ``(W / stride, H / stride)``.

    Returns
    -------
    :class:`QuantizationStudy` with one :class:`RoiQuantization` per pipeline; every per-axis pair
    is ``(x, y)``.

    Rule
    ----
    The seed's model of ROI Pooling (Fast R-CNN) quantizes twice, both times rounding down: the box
    extent on the feature map, ``floor(extent / stride)`` cells, then the bin size,
    ``floor(cells / output)``. ROI Align (Mask R-CNN) keeps both as real numbers, so it loses 0
    pixels. Example (the seed's): an 800x800 image, a 665x665 box, stride 32, 7x7 output:
    665 / 32 = 20.78 -> 20 cells (0.78 * 32 = 25 px lost), 20 / 7 = 2.857 -> 2 cells per bin
    (0.857 * 32 = 27.43 px lost per bin; the seed rounds 0.857 to 0.86 first and writes 27.52 px);
    the 7x7 grid then covers 2 * 7 * 32 = 448 of the 665 pixels. torchvision's ``roi_pool``
    rounds the corners to the nearest cell instead and lets bins overlap; :func:`roi_error_study`
    measures that real pipeline.

    Cost
    ----
    O(1).
    """
    b = check_boxes(np.asarray(box, dtype=np.float64).reshape(1, -1) if np.ndim(box) == 1 else box, "box")
    if b.shape[0] != 1:
        raise ValueError(f"box: expected one box [x1, y1, x2, y2], got shape {np.shape(box)}")
    x1, y1, x2, y2 = (float(v) for v in b[0])
    s = check_number(stride, "stride", low=0.0, low_inclusive=False)
    ph, pw = check_pair(output_size, "output_size")
    img: tuple[int, int] | None = None
    fmap: tuple[float, float] | None = None
    if image_size is not None:
        H, W = check_pair(image_size, "image_size")
        img = (H, W)
        if x1 < 0 or y1 < 0 or x2 > W or y2 > H:
            raise ValueError(f"box: {[x1, y1, x2, y2]} is not inside the {H}x{W} (HxW) image")
        fmap = (W / s, H / s)
    extent = (x2 - x1, y2 - y1)
    bins = (pw, ph)
    feat = tuple(e / s for e in extent)

    def pair(f):
        return tuple(float(f(a)) for a in range(2))

    pool_map = pair(lambda a: math.floor(feat[a]))
    pool_bin = pair(lambda a: pool_map[a] / bins[a])
    pool_used = pair(lambda a: math.floor(pool_bin[a]))
    pool_cov = pair(lambda a: pool_used[a] * bins[a] * s)
    pool = RoiQuantization(
        pipeline="roi_pool",
        feature_extent=pair(lambda a: feat[a]),
        map_extent=pool_map,
        map_error_px=pair(lambda a: (feat[a] - pool_map[a]) * s),
        bin_extent=pool_bin,
        bin_used=pool_used,
        bin_error_px=pair(lambda a: (pool_bin[a] - pool_used[a]) * s),
        covered_px=pool_cov,
        lost_px=pair(lambda a: extent[a] - pool_cov[a]),
    )
    align_bin = pair(lambda a: feat[a] / bins[a])
    align = RoiQuantization(
        pipeline="roi_align",
        feature_extent=pair(lambda a: feat[a]),
        map_extent=pair(lambda a: feat[a]),
        map_error_px=(0.0, 0.0),
        bin_extent=align_bin,
        bin_used=align_bin,
        bin_error_px=(0.0, 0.0),
        covered_px=pair(lambda a: extent[a]),
        lost_px=(0.0, 0.0),
    )
    return QuantizationStudy(
        box=(x1, y1, x2, y2),
        stride=s,
        output_size=(ph, pw),
        image_size=img,
        feature_map_size=fmap,
        roi_pool=pool,
        roi_align=align,
    )


#: Pipelines compared by :func:`roi_error_study`: name -> description.
STUDY_METHODS = {
    "roi_pool": "roi_pool (max over whole-cell bins, torchvision's rounding)",
    "roi_pool_avg": "roi_pool's whole-cell bins, averaged: the quantization alone",
    "roi_align": "roi_align aligned=True, adaptive sampling (detectron2 / mmcv default)",
    "roi_align_sr2": "roi_align aligned=True, sampling_ratio=2",
    "roi_align_legacy": "roi_align aligned=False, adaptive sampling (torchvision default)",
}


def _smooth_map(H: int, W: int, channels: int, rng: np.random.Generator, wavelengths: tuple[float, float]):
    """Channels ``g_c(u, v) = sin(a_c u + p_c) * sin(b_c v + q_c)`` sampled at cell centres, and their parameters.

    ``u, v`` are continuous feature-map coordinates (cell ``j`` spans ``[j, j + 1)``, its centre is
    ``j + 0.5``)."""
    lo, hi = wavelengths
    a = 2 * np.pi / rng.uniform(lo, hi, channels)
    b = 2 * np.pi / rng.uniform(lo, hi, channels)
    p = rng.uniform(0, 2 * np.pi, channels)
    q = rng.uniform(0, 2 * np.pi, channels)
    u = np.arange(W) + 0.5
    v = np.arange(H) + 0.5
    fx = np.sin(a[:, None] * u[None, :] + p[:, None])  # (C, W)
    fy = np.sin(b[:, None] * v[None, :] + q[:, None])  # (C, H)
    feat = fy[:, :, None] * fx[:, None, :]
    return feat[None], (a, b, p, q)


def _mean_sin(freq: np.ndarray, phase: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """Exact mean of ``sin(freq * t + phase)`` over ``[t0, t1]`` (broadcast; the value at t0 when t1 == t0)."""
    width = t1 - t0
    safe = np.where(width > 0, width, 1.0)
    integral = (np.cos(freq * t0 + phase) - np.cos(freq * t1 + phase)) / (freq * safe)
    return np.where(width > 0, integral, np.sin(freq * t0 + phase))


def roi_error_study(
    n_boxes: int = 200,
    *,
    image_size: int | Sequence[int] = (800, 800),
    stride: float = 32.0,
    output_size: int | Sequence[int] = 7,
    size_range: Sequence[float] | None = None,
    channels: int = 8,
    wavelengths: Sequence[float] = (4.0, 12.0),
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Empirical quantization error: pooled outputs against the exact continuous bin average.

    A smooth synthetic feature map (``channels`` products of sines with wavelengths in
    ``wavelengths`` cells, sampled at cell centres) has a closed-form integral, so the exact average
    of every output bin of a box is known. For ``n_boxes`` random boxes (uniform position inside the
    image, width and height log-uniform in ``size_range`` pixels, default ``[2 * stride, 0.9 *
    min(H, W)]``) each pipeline of :data:`STUDY_METHODS` is run at ``spatial_scale = 1 / stride`` and
    compared with the exact bin averages of the box mapped to the map (``x * spatial_scale``).

    Returns
    -------
    dict with ``"boxes"`` (n, 4) xyxy image pixels, ``"exact_rms"`` (n,) the RMS of the exact bin
    averages (the signal level), and one (n,) array per method name: the mean absolute error over
    the box's bins and channels. ``"roi_pool"`` includes the max-vs-mean difference;
    ``"roi_pool_avg"`` isolates ROI Pooling's two quantizations; ``"roi_align_legacy"`` shows the
    half-cell shift of ``aligned=False``.

    Cost
    ----
    ``O(n_boxes * channels * cells per box)`` plus one map of ``(H/stride) x (W/stride)`` cells.
    """
    n = check_int(n_boxes, "n_boxes", low=1)
    H, W = check_pair(image_size, "image_size")
    s = check_number(stride, "stride", low=0.0, low_inclusive=False)
    ph, pw = check_pair(output_size, "output_size")
    C = check_int(channels, "channels", low=1)
    lo_w, hi_w = (check_number(v, "wavelengths", low=0.0, low_inclusive=False) for v in wavelengths)
    if size_range is None:
        size_range = (2 * s, 0.9 * min(H, W))
    smin, smax = (check_number(v, "size_range", low=0.0, low_inclusive=False) for v in size_range)
    if smin > smax or smax > min(H, W):
        raise ValueError(f"size_range: expected 0 < min <= max <= {min(H, W)}, got {tuple(size_range)}")
    rng = np.random.default_rng(seed)
    fh, fw = max(int(math.ceil(H / s)), 1), max(int(math.ceil(W / s)), 1)
    feat, (a, bf, p, q) = _smooth_map(fh, fw, C, rng, (lo_w, hi_w))
    wh = np.exp(rng.uniform(np.log(smin), np.log(smax), (n, 2)))
    xy = rng.uniform(0.0, 1.0, (n, 2)) * (np.array([W, H]) - wh)
    boxes = np.concatenate([xy, xy + wh], axis=1)
    rois = np.concatenate([np.zeros((n, 1)), boxes], axis=1)
    scale = 1.0 / s

    # exact bin averages: separable means of the sines over each bin's interval
    fx0, fy0, fx1, fy1 = (boxes[:, i] * scale for i in range(4))
    tx = fx0[:, None] + (fx1 - fx0)[:, None] * np.arange(pw + 1)[None, :] / pw  # (n, pw + 1) bin edges
    ty = fy0[:, None] + (fy1 - fy0)[:, None] * np.arange(ph + 1)[None, :] / ph
    mx = _mean_sin(a[None, :, None], p[None, :, None], tx[:, None, :-1], tx[:, None, 1:])  # (n, C, pw)
    my = _mean_sin(bf[None, :, None], q[None, :, None], ty[:, None, :-1], ty[:, None, 1:])  # (n, C, ph)
    exact = my[:, :, :, None] * mx[:, :, None, :]  # (n, C, ph, pw)

    outputs = {
        "roi_pool": roi_pool(feat, rois, (ph, pw), scale),
        "roi_pool_avg": _pool_bin_means(feat[0], rois, (ph, pw), scale),
        "roi_align": roi_align(feat, rois, (ph, pw), scale, -1, True),
        "roi_align_sr2": roi_align(feat, rois, (ph, pw), scale, 2, True),
        "roi_align_legacy": roi_align(feat, rois, (ph, pw), scale, -1, False),
    }
    result = {"boxes": boxes, "exact_rms": np.sqrt(np.mean(exact**2, axis=(1, 2, 3)))}
    for name, out in outputs.items():
        result[name] = np.mean(np.abs(out - exact), axis=(1, 2, 3))
    return result


def _pool_bin_means(plane: np.ndarray, rois: np.ndarray, output_size: tuple[int, int], scale: float) -> np.ndarray:
    """Mean (instead of max) over each of :func:`roi_pool`'s whole-cell bins (0 for an empty bin)."""
    C, H, W = plane.shape
    ph, pw = output_size
    rows = np.ascontiguousarray(rois, dtype=plane.dtype)
    sat = np.zeros((C, H + 1, W + 1))
    sat[:, 1:, 1:] = plane.cumsum(axis=1).cumsum(axis=2)
    out = np.zeros((rows.shape[0], C, ph, pw))
    edges = new_pool_edges(ph, pw)
    hs, he, ws, we = edges
    T = plane.dtype.type
    for k in range(rows.shape[0]):
        pool_one(rows, k, T(scale), H, W, edges)
        for i in range(ph):
            for j in range(pw):
                cells = (he[i] - hs[i]) * (we[j] - ws[j])
                if cells > 0:
                    total = sat[:, he[i], we[j]] - sat[:, hs[i], we[j]] - sat[:, he[i], ws[j]] + sat[:, hs[i], ws[j]]
                    out[k, :, i, j] = total / cells
    return out
