"""Input checks and score order shared by every NMS function.

Dtypes follow :mod:`detbench._validate` (float32 in any byte order and float16
-> native float32; integers -> float64), boxes and scores are brought to one
common dtype, and then one NMS-specific rule (:func:`working_boxes`):

Box scale
---------
Pairwise overlap divides an intersection area by a union area. Finite
coordinates can still give areas that overflow (float32 boxes at 1e20 scale:
``1e40 > 3.4e38``) or underflow (1e-30 scale: ``1e-60`` is below float32's
smallest normal number), and the IoU then comes out inf, NaN or 0/0, which a
threshold test reads as "never suppress". So before any pair is compared, the
largest side, the largest area and the smallest area of a box with positive
sides are measured in float64. Float32 boxes outside the safe range (sides and
areas at most a quarter of the largest float32, those areas at least its
smallest normal number) are compared in float64, where a product of float32
values can neither overflow nor underflow, so the result equals the float64
reference on the same values. Float64 boxes outside the same range for
float64 (or with coordinates beyond ``2**510``, where DIoU's squared diagonal
overflows) are refused with a
``ValueError`` naming ``boxes``. Scores keep their dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench import _sort
from detbench._validate import check_boxes, check_number, check_scores
from detbench.nms._grid import box_scale

#: Greedy NMS (and DIoU/Fast NMS) use the simple O(N*K) loop up to this many
#: boxes and the spatial grid above it.
SIMPLE_MAX_N = 128

#: Grid tuning: cell side = CELL_FACTOR * mean box side, at most CELLS_PER_BOX * N cells.
CELL_FACTOR = 0.5
CELLS_PER_BOX = 4

#: Largest |coordinate| accepted in float64 (DIoU squares the enclosing diagonal).
MAX_COORD64 = 2.0**510


def boxes_scores(
    boxes: Any, scores: Any, *, offset: float = 0.0, promote: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Validate boxes/scores, bring them to one float dtype, then apply the box-scale rule.

    Returns ``(boxes, scores)``; ``boxes`` may come back float64 when they were
    float32 (``promote``; see :func:`working_boxes`), ``scores`` keep the common dtype.
    """
    b = check_boxes(boxes, "boxes")
    s = check_scores(scores, b.shape[0], "scores")
    dtype = np.result_type(b.dtype, s.dtype)
    b = b.astype(dtype, copy=False)
    s = s.astype(dtype, copy=False)
    return working_boxes(b, offset, promote=promote), s


def working_boxes(b: np.ndarray, offset: float = 0.0, *, promote: bool = True, name: str = "boxes") -> np.ndarray:
    """``b`` when its areas fit its dtype; float32 outside that range -> float64
    (``promote``); otherwise a ``ValueError`` naming ``name`` (see the module notes)."""
    if b.shape[0] == 0:
        return b
    big, side, amax, amin = box_scale(b, float(offset))
    if _fits(b.dtype, big, side, amax, amin):
        return b
    if promote and b.dtype == np.float32:
        return b.astype(np.float64)
    if b.dtype == np.float32 and _fits(np.dtype(np.float64), big, side, amax, amin):
        return b
    raise ValueError(
        f"{name}: box areas at this scale overflow or underflow float64 (largest |coordinate| {big:.3g}, "
        f"largest side {side:.3g}, largest area {amax:.3g}, smallest area of a box with positive sides {amin:.3g}); "
        "rescale the boxes"
    )


def _fits(dtype: np.dtype, big: float, side: float, amax: float, amin: float) -> bool:
    fi = np.finfo(dtype)
    hi = float(fi.max) / 4
    ok = side <= hi and amax <= hi and (amin == np.inf or amin >= float(fi.tiny))
    if dtype == np.float64:
        ok = ok and big <= MAX_COORD64
    return bool(ok)


def prefilter(scores: np.ndarray, score_threshold: Any) -> np.ndarray | None:
    """Indices with ``score > score_threshold`` (None when no threshold)."""
    if score_threshold is None:
        return None
    st = check_number(score_threshold, "score_threshold")
    return np.flatnonzero(scores > st)


def grid_valid(thr: float, inclusive: bool) -> bool:
    """The grid only visits intersecting pairs: valid when a zero IoU never suppresses."""
    return thr > 0.0 or (thr == 0.0 and not inclusive)


def argsort_desc(scores: np.ndarray) -> np.ndarray:
    """Stable argsort by decreasing score (equal scores: increasing index).

    The radix sort of :mod:`detbench._sort` (O(N)) for N > 256, NumPy's
    stable sort below that. ``-0.0`` ties with ``0.0``, as in a comparison sort.
    """
    n = scores.shape[0]
    if n <= 256:
        return np.argsort(-(scores + 0.0), kind="stable").astype(np.int64, copy=False)
    if scores.dtype == np.float32:
        keys = np.empty(n, np.uint32)
        _sort.desc_keys32(scores, keys)
        nbits = 32
    else:
        keys = np.empty(n, np.uint64)
        _sort.desc_keys64(scores, keys)
        nbits = 64
    idx = np.empty(n, np.int64)
    _sort.radix_argsort(keys, nbits, idx, np.empty(n, np.int64), np.empty_like(keys))
    return idx
