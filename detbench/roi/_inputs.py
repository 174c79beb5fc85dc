"""Input handling shared by ROI Align and ROI Pooling: validation, the channels-last layout, threads.

Features are float32 or float64 in any byte order (computed in the native one); float16 is refused,
since the operators return the features' dtype. Rois are converted to the features' dtype and must stay
finite there, also once multiplied by ``spatial_scale``. The kernels read the map channels-last (see
:mod:`detbench.roi._layout_kernels`): NCHW input is either copied a block of channels at a time or, when
the rois cover little of it, one window per roi. Rois are split over :func:`detbench._parallel.run_chunks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from detbench._parallel import run_chunks
from detbench._validate import (
    as_float_array,
    check_alloc,
    check_bool,
    check_boxes,
    check_number,
    check_out,
    check_pair,
)
from detbench.roi import _layout_kernels as _lk
from detbench.roi._layout_kernels import RoiSource

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


def _check_features(features: Any, channels_last: bool) -> tuple[np.ndarray, bool]:
    """Validate features; return a C-contiguous array and whether it is channels-last (N, H, W, C)."""
    if isinstance(features, (str, bytes)) or features is None:
        raise ValueError(f"features: expected a 4-D float array, got {type(features).__name__}")
    arr = np.asarray(features)
    if arr.dtype.kind != "f" or arr.dtype.itemsize not in (4, 8):  # any byte order; float16 is refused
        raise ValueError(f"features: expected dtype float32 or float64 (any byte order), got {arr.dtype}")
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
        with np.errstate(over="ignore"):
            return _fits(np.ascontiguousarray(rows, dtype=dtype), rows)
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
    with np.errstate(over="ignore"):
        return _fits(np.ascontiguousarray(arr, dtype=dtype), arr)


def _fits(rows: np.ndarray, given: np.ndarray) -> np.ndarray:
    """``rows`` (rois converted to the features' dtype), refused by row when a value overflowed there."""
    if rows.size and not np.isfinite(rows).all():
        r = int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0])
        raise ValueError(
            f"rois: row {r} ({np.asarray(given[r], dtype=np.float64).tolist()}) overflows the features' dtype "
            f"{rows.dtype}"
        )
    return rows


def _window_cells(rows: np.ndarray, scale: float, H: int, W: int) -> float:
    """Approximate number of feature cells the rois' sampling windows cover, in all."""
    if rows.shape[0] == 0:
        return 0.0
    r = rows.astype(np.float64)
    w = np.clip(np.ceil(r[:, 3] * scale) + 2, 0, W) - np.clip(np.floor(r[:, 1] * scale) - 1, 0, W)
    h = np.clip(np.ceil(r[:, 4] * scale) + 2, 0, H) - np.clip(np.floor(r[:, 2] * scale) - 1, 0, H)
    return float(np.sum(np.maximum(w, 1.0) * np.maximum(h, 1.0)))


def prepare(features, rois, output_size, spatial_scale, channels_last, out):
    """Validate the arguments shared by the ROI operators.

    Returns ``(feat, nhwc, rows, (N, C, H, W), ph, pw, scale, out)``: the features (C-contiguous,
    channels-last when ``nhwc``), the rois as a ``(K, 5)`` array of their dtype, the output size, the
    scale as a float and the ``(K, C, ph, pw)`` output (``out`` checked, or a new array)."""
    channels_last = check_bool(channels_last, "channels_last")
    feat, nhwc = _check_features(features, channels_last)
    ph, pw = check_pair(output_size, "output_size")
    scale = check_number(spatial_scale, "spatial_scale", low=0.0, low_inclusive=False)
    if nhwc:
        N, H, W, C = feat.shape
    else:
        N, C, H, W = feat.shape
    rows = _check_rois(rois, N, feat.dtype)
    T = feat.dtype.type
    if not np.isfinite(T(scale)) or T(scale) == 0:
        raise ValueError(f"spatial_scale: {scale} is not a positive finite {feat.dtype}")
    if rows.shape[0]:
        with np.errstate(over="ignore", invalid="ignore"):
            cells = rows[:, 1:] * T(scale)
            ext = np.concatenate([cells[:, 2:] - cells[:, :2], cells], axis=1)
        bad = ~np.isfinite(ext).all(axis=1)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise ValueError(f"rois: row {r} ({rows[r].tolist()}) times spatial_scale {scale} overflows {feat.dtype}")
    K = rows.shape[0]
    if out is None:
        check_alloc((K, C, ph, pw), feat.dtype.itemsize, "output_size", "the (K, C, ph, pw) output")
        out = np.empty((K, C, ph, pw), dtype=feat.dtype)
    else:
        out = check_out(out, (K, C, ph, pw), feat.dtype)
        for name, x in (("features", features), ("rois", rois)):
            if isinstance(x, np.ndarray) and np.shares_memory(out, x):
                raise ValueError(f"out: shares memory with {name}; the kernel would overwrite its input")
    if K and C:  # per-thread scratch: (ph * pw) bins x the channels of one block
        check_alloc((ph * pw, C), feat.dtype.itemsize, "output_size", "the per-thread bin scratch")
    return feat, nhwc, rows, (N, C, H, W), ph, pw, scale, out


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
        run_split(N * H, lambda a, b, c0=c0: _lk.pack_block_nchw(feat, c0, blk, a, b))
        yield c0, blk


def sources(feat: np.ndarray, nhwc: bool, rows: np.ndarray, scale: float) -> Iterator[RoiSource]:
    """The :class:`RoiSource` records to run the rois over, in turn: one window-mode record when few rois
    share an NCHW map, else one per channel block (each block is filled just before it is yielded)."""
    if not nhwc and _few_rois(feat, rows, scale):
        yield RoiSource(feat, _DUMMY[feat.dtype], 0, True)
        return
    for c0, blk in _channel_blocks(feat, nhwc):
        yield RoiSource(feat, blk, c0, False)


def run_split(n_items: int, work: Callable[[int, int], object]) -> None:
    """Run ``work(start, stop)`` over ``[0, n_items)`` on detbench's thread pool (the kernels release the
    GIL): a few contiguous chunks per thread, serially for little work."""
    run_chunks(n_items, work, min_items=_MIN_SPLIT, chunks_per_thread=_CHUNKS_PER_THREAD)
