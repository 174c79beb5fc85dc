"""ROI Pooling and ROI Align on the CPU, and a study of their quantization error.

Both operators turn each region of interest (roi) of a feature map into a fixed
``ph x pw`` grid of bins per channel, as the second stage of Fast/Faster/Mask
R-CNN does.

* :func:`roi_pool` -- ROI Pooling (Girshick, *Fast R-CNN*, ICCV 2015): the roi is
  rounded to whole feature cells and each bin, also rounded to whole cells,
  takes the max of its cells. Two quantizations. Equal to
  ``torchvision.ops.roi_pool`` (values and argmax).
* :func:`roi_align` -- ROI Align (He et al., *Mask R-CNN*, ICCV 2017): no
  rounding; each bin averages (or maxes) bilinear samples at regular points.
  Equal to ``torchvision.ops.roi_align`` (``pool_mode="avg"``) and to mmcv's
  ``RoIAlign(pool_mode="max")`` rule (``pool_mode="max"``).
* :func:`roi_quantization_error` -- the seed's worked example (how many image
  pixels each quantization loses) for any box, stride and output size.
* :func:`roi_error_study` -- the empirical version: pool and align outputs
  against the exact continuous bin average of a smooth synthetic feature map,
  over random boxes.

Pixel model
-----------
Feature cell ``(i, j)`` of a map with stride ``s`` (``spatial_scale = 1/s``)
summarises image pixels ``[j*s, (j+1)*s)``; an image coordinate ``x`` is the
feature coordinate ``x * spatial_scale``. With ``aligned=True`` cell ``j`` is a
sample at its centre ``j + 0.5``, so the roi is shifted by -0.5 cell before
sampling: a box covering image pixels ``[0, s)`` samples exactly cell 0. With
``aligned=False`` (the original Mask R-CNN / torchvision default) cell ``j`` is
taken to sit at ``j``, which shifts every sample half a cell right and down, and
rois narrower than one cell are widened to one cell.

Reproducing other libraries
---------------------------
* torchvision: the same defaults (``sampling_ratio=-1, aligned=False``);
  ``MultiScaleRoIAlign`` uses ``sampling_ratio=2, aligned=False``.
* detectron2 ``ROIAlignV2`` (the default of its R-CNN heads):
  ``aligned=True, sampling_ratio=0``; its legacy ``ROIAlign`` is
  ``aligned=False, sampling_ratio=0``.
* mmcv / mmdetection ``RoIAlign``: defaults ``aligned=True, sampling_ratio=0,
  pool_mode="avg"``; ``pool_mode="max"`` is mmcv's max mode.
* ``sampling_ratio`` 0 and -1 (any value <= 0) mean the same: an adaptive grid
  of ``ceil(roi_height / ph) x ceil(roi_width / pw)`` points per bin.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from detbench._jit import get_num_threads
from detbench._kernels import roi as _k
from detbench._validate import (
    FLOAT_DTYPES,
    as_float_array,
    check_boxes,
    check_choice,
    check_int,
    check_number,
    check_out,
    check_pair,
)

__all__ = [
    "roi_align",
    "roi_pool",
    "roi_quantization_error",
    "roi_error_study",
    "RoiQuantization",
    "QuantizationStudy",
]

#: NCHW input: each roi copies its own window channels-last when the rois' windows add up to less than
#: this fraction of the map's cells; otherwise the map is copied channels-last one block of channels at
#: a time and all rois read each block.
_WINDOW_FRACTION = 1.0
#: Bytes of channels per block: NCHW maps are processed a block of channels at a time (128 float32 or
#: 64 float64 channels), copied channels-last, so a block is small enough to stay largely in cache
#: while every roi reads it, and wide enough for full-width SIMD loops.
_BLOCK_BYTES = 512
#: Placeholder channels-last block for window mode (same type as a real block: one compiled kernel).
_DUMMY = {np.dtype(t): np.zeros((1, 1, 1, 1), dtype=t) for t in (np.float32, np.float64)}
#: Chunks of rois (or rows) per thread: a few, so threads that finish early pick up more.
_CHUNKS_PER_THREAD = 4
#: Below this many rois (or rows) everything runs on the calling thread.
_MIN_SPLIT = 8
#: Largest number of sampling points along one axis of one roi, and in one roi in all.
_MAX_AXIS_SAMPLES = 2**24
_MAX_ROI_SAMPLES = 2**31


# --------------------------------------------------------------------------- input handling


def _check_features(features: Any, channels_last: bool) -> tuple[np.ndarray, bool]:
    """Validate features; return a C-contiguous array and whether it is channels-last (N, H, W, C)."""
    if isinstance(features, (str, bytes)) or features is None:
        raise ValueError(f"features: expected a 4-D float array, got {type(features).__name__}")
    arr = np.asarray(features)
    if arr.dtype not in FLOAT_DTYPES:
        raise ValueError(f"features: expected dtype float32 or float64, got {arr.dtype}")
    layout = "(N, H, W, C)" if channels_last else "(N, C, H, W)"
    if arr.ndim != 4:
        raise ValueError(f"features: expected 4 dimensions {layout}, got shape {arr.shape}")
    if channels_last:
        nhwc = True
    elif arr.flags.c_contiguous:
        nhwc = False
    elif arr.transpose(0, 2, 3, 1).flags.c_contiguous:  # an NCHW view of channels-last memory: free
        arr = arr.transpose(0, 2, 3, 1)
        nhwc = True
    else:
        nhwc = False
    arr = as_float_array(arr, "features")  # C-contiguous (copy only if needed), finite
    H, W = (arr.shape[1], arr.shape[2]) if nhwc else (arr.shape[2], arr.shape[3])
    if H < 1 or W < 1:
        raise ValueError(f"features: the map must be at least 1x1, got shape {np.asarray(features).shape}")
    return arr, nhwc


def _check_rois(rois: Any, n_images: int, dtype: np.dtype) -> np.ndarray:
    """Validate rois and return them as a C-contiguous (K, 5) array of ``dtype``."""
    rows_list = isinstance(rois, (list, tuple)) and len(rois) > 0 and all(np.ndim(r) == 1 for r in rois)
    if isinstance(rois, (list, tuple)) and not rows_list:  # per-image (Ki, 4) arrays
        parts = []
        for i, r in enumerate(rois):
            boxes = check_boxes(r, f"rois[{i}]")
            if boxes.shape[0] and i >= n_images:
                raise ValueError(
                    f"rois: list entry {i} has {boxes.shape[0]} boxes but features hold only {n_images} images "
                    "(batch index out of range)"
                )
            col = np.full((boxes.shape[0], 1), i, dtype=np.float64)
            parts.append(np.concatenate([col, boxes.astype(np.float64)], axis=1))
        rows = np.concatenate(parts, axis=0) if parts else np.zeros((0, 5))
        return np.ascontiguousarray(rows, dtype=dtype)
    arr = as_float_array(rois, "rois", finite=False)
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise ValueError(
            f"rois: expected shape (K, 5) [batch_index, x1, y1, x2, y2] or a list of (Ki, 4) arrays, "
            f"got shape {arr.shape}"
        )
    check_boxes(arr[:, 1:], "rois[:, 1:]")
    b = arr[:, 0]
    if b.size:
        if not np.isfinite(b).all():
            raise ValueError(
                f"rois: batch index (column 0) is not finite in row {int(np.flatnonzero(~np.isfinite(b))[0])}"
            )
        bad = b != np.round(b)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise ValueError(f"rois: batch index (column 0) must be an integer, row {r} has {b[r]}")
        bad = (b < 0) | (b >= n_images)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"rois: batch index {int(b[r])} in row {r} is out of range for {n_images} image"
                f"{'s' if n_images != 1 else ''}"
            )
    # rounding to float32 is monotonic, so x2 >= x1 still holds afterwards
    return np.ascontiguousarray(arr, dtype=dtype)


def _window_cells(rows: np.ndarray, scale: float, H: int, W: int) -> float:
    """Approximate number of feature cells the rois' sampling windows cover, in all."""
    if rows.shape[0] == 0:
        return 0.0
    r = rows.astype(np.float64)
    w = np.clip(np.ceil(r[:, 3] * scale) + 2, 0, W) - np.clip(np.floor(r[:, 1] * scale) - 1, 0, W)
    h = np.clip(np.ceil(r[:, 4] * scale) + 2, 0, H) - np.clip(np.floor(r[:, 2] * scale) - 1, 0, H)
    return float(np.sum(np.maximum(w, 1.0) * np.maximum(h, 1.0)))


def _prepare(features, rois, output_size, spatial_scale, channels_last):
    feat, nhwc = _check_features(features, channels_last)
    ph, pw = check_pair(output_size, "output_size")
    scale = check_number(spatial_scale, "spatial_scale", low=0.0, low_inclusive=False)
    if nhwc:
        N, H, W, C = feat.shape
    else:
        N, C, H, W = feat.shape
    rows = _check_rois(rois, N, feat.dtype)
    return feat, nhwc, rows, (N, C, H, W), ph, pw, scale


def _few_rois(feat: np.ndarray, rows: np.ndarray, scale: float) -> bool:
    """True when the rois' windows of an NCHW map add up to less than a fraction of the map: then each roi
    copies its own window channels-last instead of the map being copied in channel blocks."""
    N, C, H, W = feat.shape
    return _window_cells(rows, scale, H, W) < _WINDOW_FRACTION * N * H * W


def _channel_blocks(feat: np.ndarray, nhwc: bool):
    """Yield ``(c0, block)``: channels ``c0 : c0 + B`` of the map as a channels-last ``(N, H, W, B)`` array
    (channels-last input is used in place, as one block)."""
    if nhwc:
        yield 0, feat
        return
    N, C, H, W = feat.shape
    B = min(max(_BLOCK_BYTES // feat.dtype.itemsize, 1), C)
    blk = np.empty((N, H, W, B), dtype=feat.dtype)
    for c0 in range(0, C, B):
        _run_split(N * H, lambda a, b, c0=c0: _k.pack_block_nchw(feat, c0, blk, a, b))
        yield c0, blk


_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _forget_pool() -> None:
    """In a forked child the parent's worker threads do not exist: start a new pool when needed."""
    global _POOL, _POOL_SIZE, _POOL_LOCK
    _POOL, _POOL_SIZE, _POOL_LOCK = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _executor(n: int) -> ThreadPoolExecutor:
    """The shared pool of ``n`` worker threads (recreated when the thread count changes)."""
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE != n:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL = ThreadPoolExecutor(max_workers=n, thread_name_prefix="detbench-roi")
            _POOL_SIZE = n
        return _POOL


def _run_split(n_items: int, work) -> None:
    """Run ``work(start, stop)`` over ``[0, n_items)`` in contiguous chunks on ``get_num_threads()``
    threads (the kernels release the GIL); serially for one thread or little work."""
    threads = min(get_num_threads(), n_items)
    if threads <= 1 or n_items < _MIN_SPLIT:
        if n_items:
            work(0, n_items)
        return
    chunks = min(n_items, threads * _CHUNKS_PER_THREAD)
    edges = [n_items * i // chunks for i in range(chunks + 1)]
    futures = [_executor(threads).submit(work, a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    for f in futures:
        f.result()


# --------------------------------------------------------------------------- ROI Align


def roi_align(
    features: Any,
    rois: Any,
    output_size: int | Sequence[int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
    pool_mode: str = "avg",
    *,
    channels_last: bool = False,
    out: np.ndarray | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """ROI Align (He et al., *Mask R-CNN*, 2017): bilinear sampling, no quantization.

    Parameters
    ----------
    features:
        ``(N, C, H, W)`` float32 or float64 feature maps (``(N, H, W, C)`` with
        ``channels_last=True``, which skips an internal transpose). Must be finite.
    rois:
        ``(K, 5)`` rows ``[batch_index, x1, y1, x2, y2]`` (xyxy, image coordinates; the batch
        index an integer in ``[0, N)``; a plain nested list of such rows works too), or a list of
        per-image ``(Ki, 4)`` xyxy arrays (entry ``i`` belongs to image ``i``, as in torchvision).
        Converted to the features' dtype. ``x2 >= x1`` and ``y2 >= y1`` are required.
    output_size:
        ``ph`` or ``(ph, pw)``: bins per roi.
    spatial_scale:
        Feature cells per image pixel (``1 / stride``).
    sampling_ratio:
        Points per bin and axis; ``<= 0`` (e.g. ``-1`` or ``0``) means adaptive:
        ``ceil(roi_h / ph) x ceil(roi_w / pw)`` (roi extent in cells).
    aligned:
        ``True``: half-pixel-correct model (roi shifted by -0.5 cell, see the module docstring);
        ``False``: the legacy model (rois narrower than one cell widened to one cell).
    pool_mode:
        ``"avg"``: the mean of the bin's samples (torchvision; samples outside the extended map
        ``[-1, H] x [-1, W]`` count as 0 and the divisor is the full grid, at least 1).
        ``"max"``: the largest sample (mmcv's max mode: outside samples count as 0, a bin with no
        sample at all, or with every sample below -10000, gives -10000).
    out:
        Optional C-contiguous ``(K, C, ph, pw)`` array of the features' dtype to write into
        (saves the allocation when called repeatedly).
    device:
        ``"cpu"`` (default) or ``"cuda"``: :func:`detbench.cuda.roi_align`, same arguments and
        results (``out`` is not supported there).

    Returns
    -------
    ``(K, C, ph, pw)`` array of the features' dtype (``out`` if given); ``(0, C, ph, pw)`` for no
    rois.

    Rule and reference
    ------------------
    Sample ``(iy, ix)`` of bin ``(i, j)`` sits at ``y = y1' + i*bh + (iy + 0.5) * bh / gh`` (same for
    x) with ``y1' = y1 * spatial_scale (- 0.5 if aligned)`` and ``bh = roi_h / ph``; points in
    ``[-1, 0]`` or past the last cell clamp to the edge cell. Equal to ``torchvision.ops.roi_align``
    (bit-identical on x86-64 CPUs in our tests); for mmcv in float64, pass
    ``float(np.float32(spatial_scale))`` since mmcv rounds the scale to float32.

    Cost
    ----
    ``O(K * C * ph * pw * gh * gw)`` multiply-adds (4 per sample), SIMD over channels, rois split
    over ``numba.get_num_threads()`` threads; sample positions and weights are computed once per
    roi and axis. NCHW input also pays one channels-last copy: of the whole map, a block of 128
    float32 / 64 float64 channels at a time, when many rois share it, or of each roi's window when
    few do; ``channels_last=True`` input is read in place. Memory: the output, one channel block of
    the map, ``O(ph * pw * C)`` per thread.
    """
    if check_choice(device, "device", ("cpu", "cuda")) == "cuda":
        if out is not None:
            raise ValueError("out: not supported with device='cuda'")
        from detbench import cuda

        return cuda.roi_align(
            features, rois, output_size, spatial_scale, sampling_ratio, aligned, pool_mode, channels_last=channels_last
        )
    feat, nhwc, rows, (N, C, H, W), ph, pw, scale = _prepare(features, rois, output_size, spatial_scale, channels_last)
    sampling_ratio = check_int(sampling_ratio, "sampling_ratio")
    if not isinstance(aligned, (bool, np.bool_)):
        raise ValueError(f"aligned: expected a bool, got {aligned!r}")
    check_choice(pool_mode, "pool_mode", ("avg", "max"))
    K = rows.shape[0]
    if out is None:
        out = np.empty((K, C, ph, pw), dtype=feat.dtype)
    else:
        out = check_out(out, (K, C, ph, pw), feat.dtype)
    if K == 0 or C == 0:
        return out
    _check_sampling(rows, scale, ph, pw, sampling_ratio, bool(aligned))
    order = _k.morton_order(rows, scale, H, W)
    T = feat.dtype.type
    if not nhwc and _few_rois(feat, rows, scale):
        blocks = [(0, _DUMMY[feat.dtype], True)]
    else:
        blocks = ((c0, blk, False) for c0, blk in _channel_blocks(feat, nhwc))
    for c0, blk, windowed in blocks:
        _run_split(
            K,
            lambda a, b, blk=blk, c0=c0, windowed=windowed: _k.roi_align_rois(
                feat,
                blk,
                rows,
                order[a:b],
                T(scale),
                sampling_ratio,
                bool(aligned),
                pool_mode == "max",
                c0,
                windowed,
                out,
            ),
        )
    return out


def _check_sampling(rows: np.ndarray, scale: float, ph: int, pw: int, sampling_ratio: int, aligned: bool) -> None:
    """Refuse sampling grids too large to compute (torchvision would overflow its int indices)."""
    if sampling_ratio > 0:
        gh = gw = float(sampling_ratio)
    else:
        ext_w = (rows[:, 3].astype(np.float64) - rows[:, 1]) * scale
        ext_h = (rows[:, 4].astype(np.float64) - rows[:, 2]) * scale
        if not aligned:
            ext_w, ext_h = np.maximum(ext_w, 1.0), np.maximum(ext_h, 1.0)
        gw = float(np.max(np.ceil(ext_w / pw))) + 1
        gh = float(np.max(np.ceil(ext_h / ph))) + 1
    if max(gh * ph, gw * pw) > _MAX_AXIS_SAMPLES or gh * gw * ph * pw > _MAX_ROI_SAMPLES:
        raise ValueError(
            f"sampling_ratio: {sampling_ratio} gives up to {int(gh)} x {int(gw)} points per bin for these rois, "
            f"more than the {_MAX_ROI_SAMPLES} points per roi supported; use a small positive sampling_ratio"
        )


# --------------------------------------------------------------------------- ROI Pooling


def roi_pool(
    features: Any,
    rois: Any,
    output_size: int | Sequence[int],
    spatial_scale: float = 1.0,
    *,
    channels_last: bool = False,
    return_argmax: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """ROI Pooling (Girshick, *Fast R-CNN*, 2015): max over whole-cell bins (two quantizations).

    Parameters
    ----------
    features, rois, output_size, spatial_scale, channels_last:
        As in :func:`roi_align`.
    return_argmax:
        Also return, per output value, the flat index ``h * W + w`` of the winning cell in its
        image's ``H x W`` plane (``-1`` for an empty bin), as int32 like torchvision.
    out:
        Optional output array for the values, as in :func:`roi_align`.

    Returns
    -------
    ``(K, C, ph, pw)`` values of the features' dtype, and with ``return_argmax`` the int32 argmax
    of the same shape.

    Rule and reference
    ------------------
    Corners are rounded to cells, ``round(x * spatial_scale)`` with halves away from zero (first
    quantization); the inclusive cell range (at least one cell) is split into bins
    ``floor(i * size / ph) .. ceil((i + 1) * size / ph)`` (second quantization; neighbouring
    bins may share a row or column), shifted to the roi and clipped to the map. A bin is the max of
    its cells (the first cell in row-major order wins ties; values below ``-FLT_MAX`` are never
    picked); a bin clipped away entirely is 0 with argmax -1. Equal to ``torchvision.ops.roi_pool``
    (and ``torch.ops.torchvision.roi_pool`` for the argmax).

    Cost
    ----
    ``O(K * C * cells covered by the bins)`` compares, SIMD over channels, rois split over threads,
    plus the channels-last copy described in :func:`roi_align`.
    """
    feat, nhwc, rows, (N, C, H, W), ph, pw, scale = _prepare(features, rois, output_size, spatial_scale, channels_last)
    if not isinstance(return_argmax, (bool, np.bool_)):
        raise ValueError(f"return_argmax: expected a bool, got {return_argmax!r}")
    K = rows.shape[0]
    if out is None:
        out = np.empty((K, C, ph, pw), dtype=feat.dtype)
    else:
        out = check_out(out, (K, C, ph, pw), feat.dtype)
    arg = np.empty((K, C, ph, pw) if return_argmax else (0, 0, 0, 0), dtype=np.int32)
    if K and C:
        order = _k.morton_order(rows, scale, H, W)
        T = feat.dtype.type
        if not nhwc and _few_rois(feat, rows, scale):
            blocks = [(0, _DUMMY[feat.dtype], True)]
        else:
            blocks = ((c0, blk, False) for c0, blk in _channel_blocks(feat, nhwc))
        for c0, blk, windowed in blocks:
            _run_split(
                K,
                lambda a, b, blk=blk, c0=c0, windowed=windowed: _k.roi_pool_rois(
                    feat, blk, rows, order[a:b], T(scale), bool(return_argmax), c0, windowed, out, arg
                ),
            )
    return (out, arg) if return_argmax else out


# --------------------------------------------------------------------------- quantization study


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
    hs, he = np.empty(ph, np.int64), np.empty(ph, np.int64)
    ws, we = np.empty(pw, np.int64), np.empty(pw, np.int64)
    T = plane.dtype.type
    for k in range(rows.shape[0]):
        _k.pool_one(rows, k, T(scale), H, W, hs, he, ws, we)
        for i in range(ph):
            for j in range(pw):
                cells = (he[i] - hs[i]) * (we[j] - ws[j])
                if cells > 0:
                    total = sat[:, he[i], we[j]] - sat[:, hs[i], we[j]] - sat[:, he[i], ws[j]] + sat[:, hs[i], ws[j]]
                    out[k, :, i, j] = total / cells
    return out
