"""ROI Pooling (Girshick, *Fast R-CNN*, ICCV 2015) on the CPU.

The roi is rounded to whole feature cells and each bin, also rounded to whole cells, takes the max of
its cells: two quantizations. Equal to ``torchvision.ops.roi_pool`` (values and argmax) for rois within
``±2**30`` cells, where torchvision's int arithmetic is defined; beyond, detbench keeps the bins exact
(int64) up to ``2**60`` cells and refuses rois further out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detbench._validate import check_bool
from detbench.roi._inputs import prepare, run_split, sources
from detbench.roi._layout_kernels import morton_order
from detbench.roi._pool_kernels import CELL_LIMIT, PoolResult, roi_pool_rois

__all__ = ["roi_pool"]


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
    return_argmax = check_bool(return_argmax, "return_argmax")
    feat, nhwc, rows, (N, C, H, W), ph, pw, scale, out = prepare(
        features, rois, output_size, spatial_scale, channels_last, out
    )
    K = rows.shape[0]
    _check_cells(rows, feat.dtype.type(scale))
    arg = np.empty(out.shape if return_argmax else (0, 0, 0, 0), dtype=np.int32)
    if K and C:
        order = morton_order(rows, scale, H, W)
        res = PoolResult(out, arg)
        T = feat.dtype.type
        for src in sources(feat, nhwc, rows, scale):
            run_split(K, lambda a, b, src=src: roi_pool_rois(src, rows, order[a:b], T(scale), res))
    return (out, arg) if return_argmax else out


def _check_cells(rows: np.ndarray, scale: Any) -> None:
    """Refuse rois whose corners lie beyond ``CELL_LIMIT`` cells (there the bin edges would not be exact)."""
    if rows.shape[0] == 0:
        return
    cells = np.abs(rows[:, 1:] * scale)
    bad = (cells > CELL_LIMIT).any(axis=1)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"rois: row {r} ({rows[r].tolist()}) reaches {float(cells[r].max()):.3g} cells from the origin "
            f"(corner times spatial_scale); at most 2**60 is supported"
        )
