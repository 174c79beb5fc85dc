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
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from detbench._kernels import roi as _k
from detbench._validate import (
    FLOAT_DTYPES,
    as_float_array,
    check_boxes,
    check_choice,
    check_int,
    check_number,
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

#: Use the per-roi window copy when the rois' windows add up to less than this fraction of the map's
#: cells; otherwise transpose the whole map to channels-last once.
_WINDOW_FRACTION = 1.0
#: Bytes of channels per block: NCHW maps are processed a block of channels at a time (128 float32 or
#: 64 float64 channels), copied channels-last, so a block is small enough to stay largely in cache
#: while every roi reads it, and wide enough for full-width SIMD loops.
_BLOCK_BYTES = 512
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
    if isinstance(rois, (list, tuple)):
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
            raise ValueError(f"rois: batch index (column 0) is not finite in row {int(np.flatnonzero(~np.isfinite(b))[0])}")
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
        _k.pack_block_nchw(feat, c0, blk)
        yield c0, blk


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
) -> np.ndarray:
    """ROI Align (He et al., *Mask R-CNN*, 2017): bilinear sampling, no quantization.

    Parameters
    ----------
    features:
        ``(N, C, H, W)`` float32 or float64 feature maps (``(N, H, W, C)`` with
        ``channels_last=True``, which skips an internal transpose). Must be finite.
    rois:
        ``(K, 5)`` rows ``[batch_index, x1, y1, x2, y2]`` (xyxy, image coordinates; the batch
        index an integer in ``[0, N)``), or a list of per-image ``(Ki, 4)`` xyxy arrays (entry ``i``
        belongs to image ``i``). Converted to the features' dtype.
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

    Returns
    -------
    ``(K, C, ph, pw)`` array of the features' dtype; ``(0, C, ph, pw)`` for no rois.

    Rule and reference
    ------------------
    Sample ``(iy, ix)`` of bin ``(i, j)`` sits at ``y = y1' + i*bh + (iy + 0.5) * bh / gh`` (same for
    x) with ``y1' = y1 * spatial_scale (- 0.5 if aligned)`` and ``bh = roi_h / ph``; points in
    ``[-1, 0]`` or past the last cell clamp to the edge cell. Equal to ``torchvision.ops.roi_align``
    (bit-identical on x86-64 CPUs in our tests); for mmcv in float64, pass
    ``float(np.float32(spatial_scale))`` since mmcv rounds the scale to float32.

    Cost
    ----
    ``O(K * C * ph * pw * gh * gw)`` multiply-adds (4 per sample), SIMD over channels and parallel
    over rois, plus one ``O(N*C*H*W)`` transpose when many rois share an NCHW map (skipped with
    ``channels_last=True``). Memory: the output, the transposed map if made, ``O(C)`` per thread.
    """
    feat, nhwc, rows, (N, C, H, W), ph, pw, scale = _prepare(features, rois, output_size, spatial_scale, channels_last)
    sampling_ratio = check_int(sampling_ratio, "sampling_ratio")
    if not isinstance(aligned, (bool, np.bool_)):
        raise ValueError(f"aligned: expected a bool, got {aligned!r}")
    check_choice(pool_mode, "pool_mode", ("avg", "max"))
    K = rows.shape[0]
    out = np.empty((K, C, ph, pw), dtype=feat.dtype)
    if K == 0 or C == 0:
        return out
    _check_sampling(rows, scale, ph, pw, sampling_ratio, bool(aligned))
    order = _k.morton_order(rows, scale, H, W)
    args = (rows, order, feat.dtype.type(scale), sampling_ratio, bool(aligned), pool_mode == "max")
    if not nhwc and _few_rois(feat, rows, scale):
        _k.roi_align_nchw(feat, *args, out)
    else:
        for c0, blk in _channel_blocks(feat, nhwc):
            _k.roi_align_block(blk, *args, c0, out)
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
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """ROI Pooling (Girshick, *Fast R-CNN*, 2015): max over whole-cell bins (two quantizations).

    Parameters
    ----------
    features, rois, output_size, spatial_scale, channels_last:
        As in :func:`roi_align`.
    return_argmax:
        Also return, per output value, the flat index ``h * W + w`` of the winning cell in its
        image's ``H x W`` plane (``-1`` for an empty bin), as int32 like torchvision.

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
    ``O(K * C * cells covered by the bins)`` compares, SIMD over channels and parallel over rois,
    plus the transpose noted in :func:`roi_align`.
    """
    feat, nhwc, rows, (N, C, H, W), ph, pw, scale = _prepare(features, rois, output_size, spatial_scale, channels_last)
    if not isinstance(return_argmax, (bool, np.bool_)):
        raise ValueError(f"return_argmax: expected a bool, got {return_argmax!r}")
    K = rows.shape[0]
    out = np.empty((K, C, ph, pw), dtype=feat.dtype)
    arg = np.empty((K, C, ph, pw) if return_argmax else (0, 0, 0, 0), dtype=np.int32)
    if K and C:
        order = _k.morton_order(rows, scale, H, W)
        args = (rows, order, feat.dtype.type(scale), bool(return_argmax))
        if not nhwc and _few_rois(feat, rows, scale):
            _k.roi_pool_nchw(feat, *args, out, arg)
        else:
            for c0, blk in _channel_blocks(feat, nhwc):
                _k.roi_pool_block(blk, *args, c0, out, arg)
    return (out, arg) if return_argmax else out
