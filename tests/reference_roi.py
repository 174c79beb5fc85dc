"""Plain NumPy references for the ROI operators, written from the formulas.

These are deliberately slow and literal: Python loops over rois, bins and
sampling points, NumPy vectors over channels only. Every scalar is kept in the
features' dtype (``T``) so float32 results round exactly as a float32 kernel
written from the same formulas does.

Pixel model (the one torchvision uses): feature cell ``j`` holds the value at
continuous feature coordinate ``j`` (``aligned=False``) or ``j + 0.5``
(``aligned=True``); an image coordinate ``x`` maps to ``x * spatial_scale``.
"""

from __future__ import annotations

import math

import numpy as np

FLT_MAX = float(np.finfo(np.float32).max)
MMCV_MAX_INIT = -10000.0


def rois_from_any(rois, dtype) -> np.ndarray:
    """(K, 5) rows ``[batch, x1, y1, x2, y2]`` from a (K, 5) array or a list of (Ki, 4) arrays."""
    if isinstance(rois, (list, tuple)):
        rows = []
        for b, r in enumerate(rois):
            r = np.asarray(r, dtype=dtype).reshape(-1, 4)
            rows.append(np.concatenate([np.full((len(r), 1), b, dtype=dtype), r], axis=1))
        return np.concatenate(rows, axis=0) if rows else np.zeros((0, 5), dtype)
    return np.asarray(rois, dtype=dtype).reshape(-1, 5)


def _axis_points(start, bin_size, p, grid, T):
    """Sampling coordinates of bin ``p`` along one axis: centres of ``grid`` equal sub-cells."""
    base = start + T(p) * bin_size
    return [base + (T(i) + T(0.5)) * bin_size / T(grid) for i in range(grid)]


def bilinear(plane: np.ndarray, y, x, T):
    """Bilinear value at continuous index (y, x) of a (C, H, W) plane, or None when the point is
    outside the extended map ``[-1, H] x [-1, W]``. Coordinates in ``[-1, 0]`` clamp to 0 and beyond
    the last cell clamp to the last cell (the edge value is repeated)."""
    _, H, W = plane.shape
    if not (y >= -1.0 and y <= H and x >= -1.0 and x <= W):
        return None
    if y <= 0:
        y = T(0)
    if x <= 0:
        x = T(0)
    y0, x0 = int(y), int(x)
    if y0 >= H - 1:
        y0 = y1 = H - 1
        y = T(y0)
    else:
        y1 = y0 + 1
    if x0 >= W - 1:
        x0 = x1 = W - 1
        x = T(x0)
    else:
        x1 = x0 + 1
    ly = y - T(y0)
    lx = x - T(x0)
    hy = T(1) - ly
    hx = T(1) - lx
    w1, w2, w3, w4 = hy * hx, hy * lx, ly * hx, ly * lx
    return ((w1 * plane[:, y0, x0] + w2 * plane[:, y0, x1]) + w3 * plane[:, y1, x0]) + w4 * plane[:, y1, x1]


def roi_align_reference(
    features: np.ndarray,
    rois,
    output_size,
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
    pool_mode: str = "avg",
) -> np.ndarray:
    """ROI Align (He et al., Mask R-CNN 2017) from the formula.

    Each roi ``[b, x1, y1, x2, y2]`` is scaled by ``spatial_scale`` (minus 0.5 when ``aligned``),
    split into ``ph x pw`` equal bins; each bin holds ``gh x gw`` sampling points at the centres of
    equal sub-cells (``g = sampling_ratio`` if > 0, else ``ceil(roi_extent / pooled)``). The bin
    value is the mean of the bilinear samples (points outside the extended map count as 0 in the
    sum and the divisor is ``max(gh * gw, 1)``), or in ``max`` mode the largest sample value
    (outside points count as 0), starting from -10000 as mmcv does.
    """
    T = features.dtype.type
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    rows = rois_from_any(rois, features.dtype)
    K, C = rows.shape[0], features.shape[1]
    out = np.zeros((K, C, ph, pw), dtype=features.dtype)
    s = T(spatial_scale)
    off = T(0.5) if aligned else T(0)
    for k in range(K):
        b = int(rows[k, 0])
        sx = rows[k, 1] * s - off
        sy = rows[k, 2] * s - off
        ex = rows[k, 3] * s - off
        ey = rows[k, 4] * s - off
        rw, rh = ex - sx, ey - sy
        if not aligned:
            rw, rh = max(rw, T(1)), max(rh, T(1))
        bh, bw = rh / T(ph), rw / T(pw)
        gh = sampling_ratio if sampling_ratio > 0 else int(math.ceil(rh / T(ph)))
        gw = sampling_ratio if sampling_ratio > 0 else int(math.ceil(rw / T(pw)))
        count = T(max(gh * gw, 1))
        plane = features[b]
        for i in range(ph):
            ys = _axis_points(sy, bh, i, gh, T)
            for j in range(pw):
                xs = _axis_points(sx, bw, j, gw, T)
                if pool_mode == "avg":
                    acc = np.zeros(C, dtype=features.dtype)
                    for y in ys:
                        for x in xs:
                            v = bilinear(plane, y, x, T)
                            if v is not None:
                                acc = acc + v
                    out[k, :, i, j] = acc / count
                else:
                    m = np.full(C, MMCV_MAX_INIT, dtype=features.dtype)
                    for y in ys:
                        for x in xs:
                            v = bilinear(plane, y, x, T)
                            if v is None:
                                v = np.zeros(C, dtype=features.dtype)
                            m = np.where(v > m, v, m)
                    out[k, :, i, j] = m
    return out


def round_half_away(v: float) -> int:
    """C's ``round``: halves go away from zero (NumPy's ``round`` goes to even)."""
    t = math.trunc(v)
    if abs(v - t) >= 0.5:  # v - t is exact: the fraction of a float is a float
        t += 1 if v > 0 else -1
    return int(t)


def roi_pool_reference(features: np.ndarray, rois, output_size, spatial_scale: float = 1.0):
    """ROI Pooling (Girshick, Fast R-CNN 2015) from the rule; returns (values, argmax).

    The roi's corners are rounded to feature cells (``round(x * scale)``, halves away from zero),
    the inclusive cell range is split into ``ph x pw`` bins with ``floor(i * size / ph)`` ..
    ``ceil((i + 1) * size / ph)`` (clipped to the map), and each bin takes the max over its cells
    (first cell in row-major order wins ties; -FLT_MAX start). Empty bins give 0 and argmax -1.
    The argmax is the flat index ``h * W + w`` in the roi's image plane.
    """
    T = features.dtype.type
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    rows = rois_from_any(rois, features.dtype)
    K = rows.shape[0]
    _, C, H, W = features.shape
    out = np.zeros((K, C, ph, pw), dtype=features.dtype)
    arg = np.full((K, C, ph, pw), -1, dtype=np.int32)
    s = T(spatial_scale)
    for k in range(K):
        b = int(rows[k, 0])
        x1, y1, x2, y2 = (round_half_away(float(rows[k, c] * s)) for c in (1, 2, 3, 4))
        rw = max(x2 - x1 + 1, 1)
        rh = max(y2 - y1 + 1, 1)
        bh, bw = T(rh) / T(ph), T(rw) / T(pw)
        for i in range(ph):
            hs = min(max(int(math.floor(T(i) * bh)) + y1, 0), H)
            he = min(max(int(math.ceil(T(i + 1) * bh)) + y1, 0), H)
            for j in range(pw):
                ws = min(max(int(math.floor(T(j) * bw)) + x1, 0), W)
                we = min(max(int(math.ceil(T(j + 1) * bw)) + x1, 0), W)
                if he <= hs or we <= ws:
                    continue
                for c in range(C):
                    best, idx = -FLT_MAX, -1
                    for h in range(hs, he):
                        for w in range(ws, we):
                            v = features[b, c, h, w]
                            if v > best:
                                best, idx = v, h * W + w
                    out[k, c, i, j] = best
                    arg[k, c, i, j] = idx
    return out, arg
