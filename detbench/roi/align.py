"""ROI Align (He et al., *Mask R-CNN*, ICCV 2017) on the CPU.

No rounding: each of the ``ph x pw`` bins of a region of interest (roi) averages (or maxes) bilinear
samples at regular points. Equal to ``torchvision.ops.roi_align`` (``pool_mode="avg"``) and to mmcv's
``RoIAlign(pool_mode="max")`` rule (``pool_mode="max"``). The pixel model and how to reproduce other
libraries are described in :mod:`detbench.roi`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detbench._validate import check_bool, check_choice, check_int
from detbench.roi._align_kernels import AlignParams, roi_align_rois
from detbench.roi._inputs import prepare, run_split, sources
from detbench.roi._layout_kernels import morton_order

__all__ = ["roi_align"]

#: Largest number of sampling points along one axis of one roi, and in one roi in all.
_MAX_AXIS_SAMPLES = 2**24
_MAX_ROI_SAMPLES = 2**31


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
    aligned = check_bool(aligned, "aligned")
    channels_last = check_bool(channels_last, "channels_last")
    if check_choice(device, "device", ("cpu", "cuda")) == "cuda":
        if out is not None:
            raise ValueError("out: not supported with device='cuda'")
        from detbench import cuda

        return cuda.roi_align(
            features, rois, output_size, spatial_scale, sampling_ratio, aligned, pool_mode, channels_last=channels_last
        )
    sampling_ratio = check_int(sampling_ratio, "sampling_ratio")
    check_choice(pool_mode, "pool_mode", ("avg", "max"))
    feat, nhwc, rows, (N, C, H, W), ph, pw, scale, out = prepare(
        features, rois, output_size, spatial_scale, channels_last, out
    )
    K = rows.shape[0]
    if K == 0 or C == 0:
        return out
    _check_sampling(rows, scale, ph, pw, sampling_ratio, aligned)
    order = morton_order(rows, scale, H, W)
    params = AlignParams(feat.dtype.type(scale), sampling_ratio, aligned, pool_mode == "max")
    for src in sources(feat, nhwc, rows, scale):
        run_split(K, lambda a, b, src=src: roi_align_rois(src, params, rows, order[a:b], out))
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
