"""Non-maximum suppression: greedy NMS and the variants detectors use.

Every function takes NumPy arrays: ``boxes`` of shape ``(N, 4)`` in ``xyxy``
format (``x1 <= x2``, ``y1 <= y2``), ``scores`` of shape ``(N,)``, float32 or
float64 (integers are promoted to float64; boxes and scores are brought to a
common dtype). Index results are int64 arrays into the input; float results
keep the common dtype. ``N = 0`` gives empty results of the right shape.

Functions
---------
:func:`nms`                    greedy NMS, identical to ``torchvision.ops.nms``
:func:`batched_nms`            per-class greedy NMS, identical to ``torchvision.ops.batched_nms``
:func:`soft_nms`               Soft-NMS (Bodla et al. 2017), equal to ensemble-boxes' ``soft_nms``
:func:`diou_nms`               DIoU-NMS (Zheng et al. 2020)
:func:`matrix_nms`             Matrix NMS (SOLOv2, Wang et al. 2020) on boxes
:func:`fast_nms`               Fast NMS (YOLACT, Bolya et al. 2019)
:func:`cluster_nms`            Cluster-NMS (Zheng et al. 2021): exactly greedy NMS
:func:`weighted_nms`           weighted NMS, equal to ensemble-boxes' ``non_maximum_weighted``
:func:`weighted_boxes_fusion`  WBF (Solovyev et al. 2021), equal to ensemble-boxes' ``weighted_boxes_fusion``

Tie rule
--------
Equal scores are ordered by increasing index (a stable sort). This is also
torchvision's rule: its CPU NMS kernel sorts the scores with
``sort(stable=True, descending=True)``, so :func:`nms` and the small-N path
of :func:`batched_nms` are identical to torchvision with ties too. The one
exception is torchvision's large-N ``batched_nms`` (N > 1000), which orders
the union of kept boxes with a *non-stable* ``Tensor.sort(descending=True)``;
on CPU that runs libstdc++'s ``std::sort`` (introsort), whose deterministic
order among equal scores :func:`batched_nms` reproduces (tested against
torch). Soft-NMS and the fusion functions follow ensemble-boxes' own orders
(see their notes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench import _sort
from detbench._kernels import nms as _k
from detbench._validate import (
    as_float_array,
    check_boxes,
    check_choice,
    check_int,
    check_labels,
    check_number,
    check_scores,
)

__all__ = [
    "nms",
    "batched_nms",
    "soft_nms",
    "diou_nms",
    "matrix_nms",
    "fast_nms",
    "cluster_nms",
    "weighted_nms",
    "weighted_boxes_fusion",
]

#: Greedy NMS (and DIoU/Fast NMS) use the simple O(N*K) loop up to this many
#: boxes and the spatial grid above it.
SIMPLE_MAX_N = 128

# grid tuning: cell side = _CELL_FACTOR * mean box side, at most _CELLS_PER_BOX * N cells
_CELL_FACTOR = 0.5
_CELLS_PER_BOX = 4
# Soft-NMS precomputes the weights of all intersecting pairs up to this many pairs
_SOFT_PAIR_BUDGET = 8_000_000

_STRATEGIES = ("auto", "grid", "simple")
# Soft-NMS's static grid: cell side = mean box side
_SOFT_CELL_FACTOR = 1.0


# ---------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------


def _boxes_scores(boxes: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate boxes/scores and bring them to one float dtype."""
    b = check_boxes(boxes, "boxes")
    s = check_scores(scores, b.shape[0], "scores")
    dtype = np.result_type(b.dtype, s.dtype)
    return b.astype(dtype, copy=False), s.astype(dtype, copy=False)


def _check_offset(offset: Any) -> float:
    if isinstance(offset, (bool, np.bool_)) or offset not in (0, 1):
        raise ValueError(f"offset: expected 0 or 1, got {offset!r}")
    return float(offset)


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _prefilter(scores: np.ndarray, score_threshold: Any) -> np.ndarray | None:
    """Indices with ``score > score_threshold`` (None when no threshold)."""
    if score_threshold is None:
        return None
    st = check_number(score_threshold, "score_threshold")
    return np.flatnonzero(scores > st)


def _argsort_desc(scores: np.ndarray) -> np.ndarray:
    """Stable argsort by decreasing score (equal scores: increasing index).

    An LSD radix sort on the float bit pattern (O(N); 8-bit digits below
    8192 scores, 11-bit above; constant digits skipped) for N > 256, NumPy's
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


def _columns(boxes: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, ...]:
    """x1, y1, x2, y2 columns of ``boxes[order]``."""
    n = order.shape[0]
    cols = tuple(np.empty(n, boxes.dtype) for _ in range(4))
    _k.gather_columns(boxes, order, *cols)
    return cols


# ---------------------------------------------------------------------------
# greedy driver (shared by nms, batched_nms, diou_nms, fast_nms)
# ---------------------------------------------------------------------------


def _grid_valid(thr: float, inclusive: bool) -> bool:
    """The grid only visits intersecting pairs: valid when a zero IoU never suppresses."""
    return thr > 0.0 or (thr == 0.0 and not inclusive)


def _greedy_sorted(
    cols: tuple[np.ndarray, ...],
    seg: np.ndarray,
    thr: float,
    inclusive: bool,
    off: float,
    mode: int,
    beta: float,
    suppress_all: bool,
    strategy: str,
) -> np.ndarray:
    """Kept positions (into the sorted columns) of greedy NMS on each segment."""
    sx1, sy1, sx2, sy2 = cols
    n = sx1.shape[0]
    keep = np.empty(n, np.int64)
    if n == 0:
        return keep
    if strategy == "simple" or not _grid_valid(thr, inclusive):
        simple_max = n
    elif strategy == "grid":
        simple_max = 0
    else:
        simple_max = SIMPLE_MAX_N
    max_cells, cap = _k.plan_segments(sx1, sy1, sx2, sy2, seg, off, _CELL_FACTOR, _CELLS_PER_BOX, simple_max)
    kk = [np.empty(n, sx1.dtype) for _ in range(5)]
    shrink = min(thr, 1.0) * (1.0 - 1e-5)
    nk = _k.greedy_segments(
        sx1, sy1, sx2, sy2, seg, thr, inclusive, off, mode, beta, suppress_all, shrink, _CELL_FACTOR,
        _CELLS_PER_BOX, simple_max, np.empty(n, np.bool_), np.empty(max_cells, np.int32), np.empty(cap, np.int32),
        np.empty(cap, np.int32), kk[0], kk[1], kk[2], kk[3], kk[4], keep,
    )  # fmt: skip
    return keep[:nk]


def _greedy_indices(
    boxes: np.ndarray,
    scores: np.ndarray,
    thr: float,
    inclusive: bool,
    off: float,
    mode: int,
    beta: float,
    suppress_all: bool,
    strategy: str,
    subset: np.ndarray | None,
) -> np.ndarray:
    if subset is not None:
        boxes = boxes[subset]
        scores = scores[subset]
    order = _argsort_desc(scores)
    seg = np.array([0, order.shape[0]], np.int64)
    kept = _greedy_sorted(_columns(boxes, order), seg, thr, inclusive, off, mode, beta, suppress_all, strategy)
    out = order[kept]
    if subset is not None:
        out = subset[out]
    return out


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


def nms(
    boxes: Any,
    scores: Any,
    iou_threshold: float,
    score_threshold: float | None = None,
    *,
    inclusive: bool = False,
    offset: int = 0,
    strategy: str = "auto",
    device: str = "cpu",
) -> np.ndarray:
    """Greedy non-maximum suppression, identical to ``torchvision.ops.nms``.

    Visit the boxes by decreasing score; keep a box unless an already kept box
    overlaps it with ``IoU > iou_threshold``. The seed's wording suppresses at
    ``IoU >= iou_threshold``: pass ``inclusive=True`` for that rule.

    Parameters
    ----------
    boxes : (N, 4) float32/float64, ``xyxy``.
    scores : (N,) float32/float64.
    iou_threshold : any finite float (torchvision accepts any value too).
    score_threshold : if given, boxes with ``score <= score_threshold`` are
        dropped first (the seed's rule).
    inclusive : suppress at ``IoU >= iou_threshold`` instead of ``>``.
    offset : 0, or 1 for the legacy pixel convention (``w = x2 - x1 + 1``).
    strategy : ``"auto"`` (default), ``"grid"`` or ``"simple"``.

    Returns
    -------
    (K,) int64 indices of kept boxes, by decreasing score; equal scores by
    increasing index, as torchvision (see the module's tie rule).

    Notes
    -----
    IoU is evaluated in the input dtype with torchvision's arithmetic
    (``inter / (area_i + area_j - inter)``); a 0/0 IoU (two zero-area boxes)
    never suppresses. Scores are sorted with a stable O(N) radix sort on
    their bit pattern. ``strategy="auto"`` runs the simple O(N*K) loop
    (K kept) for ``N <= SIMPLE_MAX_N`` (128) and the spatial grid above: each
    candidate, in score order, is tested only against kept boxes registered in
    the grid cells under the centre part of the candidate (a suppressor must
    overlap more than ``iou_threshold`` of its width and height), which is
    near O(N) for detector output (N = 100,000 boxes in tens of ms); the
    worst case (every box piled into a few cells, or a few far outliers that
    stretch the grid) degrades towards the simple loop's O(N*K). Memory O(N).
    Thresholds at which a zero IoU suppresses (``< 0``, or ``<= 0`` with
    ``inclusive``) always use the simple loop. Both strategies give exactly
    the same result. Reference: torchvision ``ops.nms`` (CPU kernel
    ``nms_kernel.cpp``); ``offset=1`` is mmcv's / old Detectron's convention.
    ``device="cuda"`` runs :func:`detbench.cuda.nms` (a 64-box-tile bitmask
    kernel, same result; ``strategy`` does not apply there).
    """
    if check_choice(device, "device", ("cpu", "cuda")) == "cuda":
        from detbench import cuda

        return cuda.nms(boxes, scores, iou_threshold, score_threshold, inclusive=inclusive, offset=offset)
    b, s = _boxes_scores(boxes, scores)
    thr = check_number(iou_threshold, "iou_threshold")
    inclusive = _check_flag(inclusive, "inclusive")
    off = _check_offset(offset)
    check_choice(strategy, "strategy", _STRATEGIES)
    subset = _prefilter(s, score_threshold)
    return _greedy_indices(b, s, thr, inclusive, off, 0, 1.0, False, strategy, subset)


def _class_slots(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Map labels to dense slots 0..C-1 (order of label value)."""
    if labels.shape[0] == 0:
        return labels.astype(np.int64), 0
    lo = int(labels.min())
    hi = int(labels.max())
    span = hi - lo + 1
    if span <= 4 * labels.shape[0] + 1024:
        return (labels - lo).astype(np.int64, copy=False), span
    uniq, inv = np.unique(labels, return_inverse=True)
    return inv.astype(np.int64, copy=False).reshape(-1), int(uniq.shape[0])


def batched_nms(
    boxes: Any,
    scores: Any,
    labels: Any,
    iou_threshold: float,
    *,
    inclusive: bool = False,
    offset: int = 0,
) -> np.ndarray:
    """Per-class greedy NMS, identical to ``torchvision.ops.batched_nms``.

    Boxes with different ``labels`` never suppress each other.

    Parameters
    ----------
    boxes : (N, 4) float32/float64, ``xyxy``.
    scores : (N,) float32/float64.
    labels : (N,) integer class of each box.
    iou_threshold, inclusive, offset : as for :func:`nms`.

    Returns
    -------
    (K,) int64 indices by decreasing score. Equal scores: increasing index for
    N <= 1000; for N > 1000 the order of torchvision's final non-stable sort
    (``std::sort``), reproduced.

    Notes
    -----
    Follows torchvision's two code paths so the result is the same bits:
    for ``N <= 1000`` (``boxes.numel() <= 4000``) torchvision shifts each box
    by ``label * (max coordinate + 1)`` in the input dtype and runs one NMS;
    this function does the same shift and runs :func:`nms` on the shifted
    boxes (the shift rounds coordinates, which can change borderline IoUs, and
    boxes with negative coordinates or labels may then interact across classes
    exactly as in torchvision; when the shifted classes provably cannot touch,
    the NMS runs class by class, which gives the same result faster). For
    larger N it runs NMS within each class on the unshifted boxes, all classes
    in one compiled call (simple loop for classes of at most 128 boxes, a
    spatial grid per class above), and orders the union by decreasing score
    as torchvision's ``Tensor.sort`` does. Cost: a radix sort, a counting sort
    by class, near O(N) NMS work, an O(K log K) sort of the K kept boxes.
    """
    b, s = _boxes_scores(boxes, scores)
    lab = check_labels(labels, b.shape[0], "labels")
    thr = check_number(iou_threshold, "iou_threshold")
    inclusive = _check_flag(inclusive, "inclusive")
    off = _check_offset(offset)
    n = b.shape[0]
    if n == 0:
        return np.empty(0, np.int64)
    if n <= 1000 and _grid_valid(thr, inclusive):
        # fast path: shift, group, check separation, per-class loops in one call
        order = _argsort_desc(s)
        out = np.empty(n, np.int64)
        m = _k.batched_small(b, lab, order, thr, inclusive, off, SIMPLE_MAX_N, out)
        if m >= 0:
            return out[:m]
    if n <= 1000:
        # torchvision's coordinate trick, reproduced in the input dtype
        shifted = np.empty_like(b)
        _k.shift_by_label(b, lab, shifted)
        b = shifted
    slot, nslots = _class_slots(lab)
    order = _argsort_desc(s)
    grouped = np.empty(n, np.int64)
    seg = np.empty(nslots + 1, np.int64)
    _k.group_by_class(order, slot, nslots, grouped, seg)
    if n <= 1000 and not (_grid_valid(thr, inclusive) and _k.classes_separated(b, grouped, seg, off)):
        # shifted classes may touch (negative coordinates or labels): one NMS on all boxes, as torchvision
        return order[_greedy_sorted(_columns(b, order), np.array([0, n]), thr, inclusive, off, 0, 1.0, False, "auto")]
    if not _grid_valid(thr, inclusive):
        strategy = "simple"  # a zero IoU suppresses: every pair within a class
    else:
        strategy = "auto"
    kept = grouped[_greedy_sorted(_columns(b, grouped), seg, thr, inclusive, off, 0, 1.0, False, strategy)]
    if n <= 1000:  # one NMS over all (shifted) boxes in torchvision: stable score order
        mask = np.zeros(n, np.bool_)
        mask[kept] = True
        out = np.empty(kept.shape[0], np.int64)
        m = _k.emit_in_order(order, mask, out)
        return out[:m]
    # torchvision: keep_indices (increasing) sorted by torch.sort(descending=True),
    # whose order among equal scores is that of std::sort; reproduce it
    out = np.sort(kept)
    vals = s[out]
    _k.torch_sort_desc(vals, out)
    return out


def soft_nms(
    boxes: Any,
    scores: Any,
    method: str = "gaussian",
    sigma: float = 0.5,
    iou_threshold: float = 0.3,
    score_threshold: float = 0.001,
) -> tuple[np.ndarray, np.ndarray]:
    """Soft-NMS (Bodla et al., ICCV 2017), equal to ensemble-boxes' ``soft_nms``.

    Repeatedly pick the box with the highest current score and multiply the
    score of every remaining box ``j`` by a weight that decreases with
    ``o = IoU(picked, j)``:

    * ``"gaussian"`` (ensemble-boxes ``method=2``): ``exp(-o**2 / sigma)`` for
      every remaining box (``iou_threshold`` is not used);
    * ``"linear"`` (``method=1``): ``1 - o`` when ``o > iou_threshold``, else 1.

    A picked box is kept when its score (final at that point) is
    ``> score_threshold``.

    Parameters
    ----------
    boxes : (N, 4) float32/float64, ``xyxy``.
    scores : (N,) float32/float64.
    method : ``"gaussian"`` or ``"linear"``.
    sigma : > 0.
    iou_threshold : linear method's threshold.
    score_threshold : >= 0; compared in the scores' dtype, as NumPy does.

    Returns
    -------
    indices : (K,) int64 kept boxes in pick order (non-increasing rescored).
    rescored : (K,) decayed scores of those boxes, in the scores' dtype.

    Notes
    -----
    Equality with ensemble-boxes ``soft_nms([boxes], [scores], [zeros],
    method=1|2, iou_thr=iou_threshold, sigma=sigma, thresh=score_threshold)``
    on boxes already inside ``[0, 1]`` with positive area: its boxes and scores
    equal ``boxes[indices]`` and ``scores[indices]``. Its quirks, reproduced or
    documented:

    * it returns the *original* scores of the kept boxes, not the decayed
      ones (``rescored`` here are the decayed ones; its internal array holds
      the same values);
    * its IoU swaps the x and y columns (``inter = h * w``), which changes
      nothing because the product is symmetric; IoU is float64 even for
      float32 input, and decayed float32 scores are rounded after each step;
    * equal current scores resolve by its selection-with-swap working order,
      which this function replays exactly;
    * boxes whose score already fell below the threshold still decay later
      ones (irrelevant to the output, so this function stops early);
    * it clips coordinates to ``[0, 1]`` and drops zero-area boxes before
      running; this function does neither (it works on pixel coordinates; a
      zero-area box overlaps nothing). Drop zero-area boxes first to
      reproduce its output exactly: they occupy slots of its working order;
    * Gaussian weights come from NumPy's ``exp`` on the pair IoUs, as in
      ensemble-boxes (NumPy's SIMD ``exp`` differs from the C library's in
      the last bit on AVX512 machines, so a compiled ``exp`` would not match);
    * it runs per label and accepts per-model weights (scores multiplied by
      ``weight / sum(weights)``); here call once per label and scale the
      scores yourself.

    Cost: a spatial grid lists the intersecting pairs (P of them, weights
    computed once in NumPy), then N picks that each scan per-block maxima
    (O(sqrt N)) and update only the picked box's neighbours: about
    O(N sqrt N + P) instead of ensemble-boxes' O(N^2). Inputs with more than
    8 million intersecting pairs are processed one pick at a time (same
    result, slower per pick, bounded memory).
    """
    b, s = _boxes_scores(boxes, scores)
    method = check_choice(method, "method", ("gaussian", "linear"))
    sig = check_number(sigma, "sigma", low=0.0, low_inclusive=False)
    nt = check_number(iou_threshold, "iou_threshold")
    st = check_number(score_threshold, "score_threshold", low=0.0)
    n = b.shape[0]
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, s.dtype)
    b64 = b.astype(np.float64)
    pad, gx0, gy0, inv_w, inv_h, ncols, nrows = _k.grid_geometry(
        b64[:, 0], b64[:, 1], b64[:, 2], b64[:, 3], 0, n, 0.0, _SOFT_CELL_FACTOR, max(64, 4 * n)
    )
    # internal ids follow a spatial order (row-major cell of the box's corner) so
    # that neighbours have nearby ids: better memory locality in every pass
    cell = (np.minimum(((b64[:, 1] - gy0) * inv_h).astype(np.int64), nrows - 1) * ncols) + np.minimum(
        ((b64[:, 0] - gx0) * inv_w).astype(np.int64), ncols - 1
    )
    perm = np.argsort(cell, kind="stable")
    x1, y1, x2, y2 = (np.ascontiguousarray(b64[perm, c]) for c in range(4))
    c0, c1, r0, r1 = (np.empty(n, np.int32) for _ in range(4))
    start = np.empty(ncols * nrows + 1, np.int64)
    _k.static_grid(x1, y1, x2, y2, pad, gx0, gy0, inv_w, inv_h, ncols, nrows, c0, c1, r0, r1, start)
    grid = (c0, c1, r0, r1, ncols, start)
    # selection state: working positions are input indices, as in ensemble-boxes
    block = max(16, int(np.sqrt(n)))
    nb = (n + block - 1) // block
    cur = s[perm]
    pos_box = np.empty(n, np.int64)
    pos_box[perm] = np.arange(n, dtype=np.int64)
    state = (
        pos_box,
        perm.astype(np.int64),
        s.copy(),
        np.zeros(n, np.bool_),
        np.empty(nb, s.dtype),
        np.empty(nb, np.int64),
        np.ones(nb, np.bool_),
        np.zeros(1, np.int64),
    )
    thresh = s.dtype.type(st)
    pairs = _soft_pairs(x1, y1, x2, y2, grid, method, sig, nt)
    if pairs is not None:
        out = np.empty(n, np.int64)
        k = _k.soft_select(cur, thresh, *pairs, block, *state, out)
        out = out[:k]
    else:
        out = _soft_stepwise(cur, thresh, block, state, x1, y1, x2, y2, grid, method, sig, nt)
    return perm[out], cur[out]


def _soft_weights(ovr: np.ndarray, method: str, sigma: float, nt: float) -> np.ndarray:
    """ensemble-boxes' weights for IoUs ``ovr`` (overwritten), with NumPy's own
    ``exp`` so the bits are the same."""
    if method == "gaussian":
        np.multiply(ovr, ovr, out=ovr)
        ovr /= sigma
        np.negative(ovr, out=ovr)  # -(o*o)/sigma == -((o*o)/sigma) exactly
        return np.exp(ovr, out=ovr)
    keep = ovr > nt
    np.subtract(1.0, ovr, out=ovr)
    ovr[~keep] = 1.0
    return ovr


def _soft_pairs(x1, y1, x2, y2, grid, method, sigma, nt):
    """Forward/backward lists of all intersecting pairs with their weights, or
    None past the pair budget."""
    c0, c1, r0, r1, ncols, start = grid
    n = x1.shape[0]
    nreg = int(start[-1])
    items = np.empty(nreg, np.int32)
    ic0 = np.empty(nreg, np.int32)
    ir0 = np.empty(nreg, np.int32)
    ic = [np.empty(nreg, np.float64) for _ in range(5)]
    _k.static_fill(x1, y1, x2, y2, c0, c1, r0, r1, ncols, start, items, ic0, ir0, *ic)
    fwd_start = np.empty(n + 1, np.int64)
    counts = np.diff(start)
    # sum over boxes of the candidates in their cells bounds the pair count: no regrowth
    cap = int(min(max(1024, int(np.dot(counts, counts))), _SOFT_PAIR_BUDGET))
    fwd_nbr = np.empty(cap, np.int32)
    fwd_ovr = np.empty(cap, np.float64)
    i, pos = 0, 0
    while True:
        i, pos = _k.soft_pairs(
            x1, y1, x2, y2, c0, c1, r0, r1, ncols, start, items, ic0, ir0, *ic, i, pos,
            fwd_start, fwd_nbr, fwd_ovr,
        )  # fmt: skip
        if i >= n:
            break
        if cap >= _SOFT_PAIR_BUDGET:
            return None
        cap = min(2 * cap, _SOFT_PAIR_BUDGET)
        fwd_nbr = np.concatenate([fwd_nbr[:pos], np.empty(cap - pos, np.int32)])
        fwd_ovr = np.concatenate([fwd_ovr[:pos], np.empty(cap - pos, np.float64)])
    fwd_w = _soft_weights(fwd_ovr[:pos], method, sigma, nt)
    bwd_start = np.empty(n + 1, np.int64)
    bwd_src = np.empty(pos, np.int32)
    bwd_w = np.empty(pos, np.float64)
    _k.soft_backward(fwd_start, fwd_nbr, fwd_w, bwd_start, bwd_src, bwd_w)
    return fwd_start, fwd_nbr, fwd_w, bwd_start, bwd_src, bwd_w


def _soft_stepwise(cur, thresh, block, state, x1, y1, x2, y2, grid, method, sigma, nt):
    """Soft-NMS one pick per compiled call (bounded memory; same result)."""
    c0, c1, r0, r1, ncols, start = grid
    n = x1.shape[0]
    items = np.empty(int(start[-1]), np.int32)
    ic = [np.empty(int(start[-1]), np.float64) for _ in range(5)]
    ic0 = np.empty(int(start[-1]), np.int32)
    ir0 = np.empty(int(start[-1]), np.int32)
    _k.static_fill(x1, y1, x2, y2, c0, c1, r0, r1, ncols, start, items, ic0, ir0, *ic)
    stamp = np.full(n, -1, np.int64)
    nbr = np.empty(n, np.int32)
    ovr = np.empty(n, np.float64)
    w = np.empty(n, np.float64)
    out = []
    pending = 0
    while True:
        b, cnt = _k.soft_step(
            cur, thresh, block, *state, x1, y1, x2, y2, c0, c1, r0, r1, ncols, start, items, stamp,
            nbr, ovr, w, pending,
        )  # fmt: skip
        if b < 0:
            break
        out.append(b)
        w[:cnt] = _soft_weights(ovr[:cnt], method, sigma, nt)
        pending = cnt
    return np.array(out, dtype=np.int64)


def diou_nms(
    boxes: Any,
    scores: Any,
    iou_threshold: float,
    beta: float = 1.0,
    score_threshold: float | None = None,
    *,
    inclusive: bool = False,
) -> np.ndarray:
    """DIoU-NMS (Zheng et al., AAAI 2020, "Distance-IoU Loss").

    Greedy NMS in which a kept box ``M`` suppresses ``B`` when
    ``IoU(M, B) - (d**2 / c**2) ** beta > iou_threshold`` (``>=`` with
    ``inclusive``), where ``d`` is the distance between the box centres and
    ``c`` the diagonal of the smallest box enclosing both. Boxes that overlap
    but whose centres are far apart (two adjacent objects) survive more often
    than with plain NMS. ``beta = 1`` is the AAAI paper's rule; the journal
    version (Zheng et al., TCYB 2021) tunes ``beta`` (e.g. 0.6).

    Parameters
    ----------
    boxes : (N, 4) float32/float64, ``xyxy``.
    scores : (N,) float32/float64.
    iou_threshold : any finite float.
    beta : >= 0; exponent of the penalty.
    score_threshold : drop boxes with ``score <= score_threshold`` first.
    inclusive : suppress at ``>=``.

    Returns
    -------
    (K,) int64 indices by decreasing score (ties: increasing index).

    Notes
    -----
    IoU uses torchvision's arithmetic in the input dtype, the penalty is
    float64 (0 when ``c == 0``). Same strategies as :func:`nms` (a suppressor
    must have ``IoU > iou_threshold``, so the grid query still applies):
    simple loop up to 128 boxes, spatial grid above; near O(N) for detector
    output, O(N * K) worst case.
    """
    b, s = _boxes_scores(boxes, scores)
    thr = check_number(iou_threshold, "iou_threshold")
    be = check_number(beta, "beta", low=0.0)
    inclusive = _check_flag(inclusive, "inclusive")
    subset = _prefilter(s, score_threshold)
    return _greedy_indices(b, s, thr, inclusive, 0.0, 1, be, False, "auto", subset)


def fast_nms(
    boxes: Any,
    scores: Any,
    iou_threshold: float,
    score_threshold: float | None = None,
    *,
    inclusive: bool = False,
    offset: int = 0,
) -> np.ndarray:
    """Fast NMS (Bolya et al., ICCV 2019, YOLACT).

    Keep box ``j`` when no higher-scored box at all, kept or suppressed, has
    ``IoU > iou_threshold`` with it (YOLACT takes the column maximum of the
    upper-triangular IoU matrix). It suppresses at least as much as greedy
    NMS, and its kept set is a subset of greedy NMS's.

    Parameters and returns as for :func:`nms`.

    Notes
    -----
    YOLACT evaluates the whole IoU matrix (O(N^2), parallel on a GPU); here
    the spatial grid registers every box and each candidate is tested against
    the boxes in the cells under its centre part, stopping at the first
    suppressor: near O(N) for detector output. Simple loop up to 128 boxes.
    """
    b, s = _boxes_scores(boxes, scores)
    thr = check_number(iou_threshold, "iou_threshold")
    inclusive = _check_flag(inclusive, "inclusive")
    off = _check_offset(offset)
    subset = _prefilter(s, score_threshold)
    return _greedy_indices(b, s, thr, inclusive, off, 0, 1.0, True, "auto", subset)


def cluster_nms(
    boxes: Any,
    scores: Any,
    iou_threshold: float,
    score_threshold: float | None = None,
    *,
    inclusive: bool = False,
    offset: int = 0,
    max_iter: int | None = None,
) -> np.ndarray:
    """Cluster-NMS (Zheng et al., TCYB 2021): exactly greedy NMS's result.

    With boxes sorted by score and ``X`` the strictly upper-triangular
    suppression matrix (``X[i, j] = IoU(i, j) > iou_threshold``), start from
    ``keep = 1`` and iterate ``keep[j] = not any(keep[i] and X[i, j])`` with
    the previous iteration's ``keep`` (the paper's matrix form) until it stops
    changing. The fixed point is unique and equals greedy NMS, reached after
    at most N iterations (usually a handful).

    Parameters and returns as for :func:`nms`; ``max_iter`` caps the
    iterations (default N, which always converges).

    Notes
    -----
    Uses the same IoU arithmetic as :func:`nms`, so ``cluster_nms(...)`` and
    ``nms(...)`` are identical (tested). The sparse suppression lists come
    from a spatial grid that registers every box (all pairs for thresholds at
    which a zero IoU suppresses); each iteration costs O(pairs).
    """
    b, s = _boxes_scores(boxes, scores)
    thr = check_number(iou_threshold, "iou_threshold")
    inclusive = _check_flag(inclusive, "inclusive")
    off = _check_offset(offset)
    subset = _prefilter(s, score_threshold)
    if subset is not None:
        b = b[subset]
        s = s[subset]
    n = b.shape[0]
    it_cap = n if max_iter is None else check_int(max_iter, "max_iter", low=1)
    order = _argsort_desc(s)
    sx1, sy1, sx2, sy2 = _columns(b, order)
    start = np.empty(n + 1, np.int64)
    nbr = np.empty(0, np.int64)
    if _grid_valid(thr, inclusive) and n > SIMPLE_MAX_N:
        geo = _k.grid_geometry(sx1, sy1, sx2, sy2, 0, n, off, _CELL_FACTOR, max(64, _CELLS_PER_BOX * n))
        max_cells = geo[5] * geo[6]
        cap = _k.plan_segments(sx1, sy1, sx2, sy2, np.array([0, n], np.int64), off, _CELL_FACTOR, _CELLS_PER_BOX, 0)[1]
        head = np.empty(max_cells, np.int32)
        nxt = np.empty(cap, np.int32)
        ent = np.empty(cap, np.int32)
        stamp = np.empty(n, np.int64)
        shrink = min(thr, 1.0) * (1.0 - 1e-5)
        args = (sx1, sy1, sx2, sy2, thr, inclusive, off, shrink, _CELL_FACTOR, _CELLS_PER_BOX, head, nxt, ent, stamp)
        _k.suppressor_lists(*args, False, start, nbr)
        nbr = np.empty(int(start[-1]), np.int64)
        _k.suppressor_lists(*args, True, start, nbr)
    else:
        _k.suppressor_lists_dense(sx1, sy1, sx2, sy2, thr, inclusive, off, False, start, nbr)
        nbr = np.empty(int(start[-1]), np.int64)
        _k.suppressor_lists_dense(sx1, sy1, sx2, sy2, thr, inclusive, off, True, start, nbr)
    keep = np.empty(n, np.bool_)
    _k.cluster_iterate(start, nbr, keep, np.empty(n, np.bool_), max(it_cap, 1))
    out = order[keep]
    if subset is not None:
        out = subset[out]
    return out


def matrix_nms(
    boxes: Any,
    scores: Any,
    method: str = "gaussian",
    sigma: float = 2.0,
    score_threshold: float | None = None,
    *,
    offset: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Matrix NMS (Wang et al., NeurIPS 2020, SOLOv2), on boxes.

    Every box's score is decayed in one parallel step instead of being
    suppressed. With boxes sorted by score, ``iou[i, j]`` (``i < j``) and
    ``comp[i] = max_{k < i} iou[k, i]`` (how much box ``i`` is itself
    suppressed), the decay of box ``j`` is::

        decay[j] = min(1, min_{i < j} f(iou[i, j], comp[i]))
        gaussian: f = exp(-sigma * (iou**2 - comp**2))
        linear:   f = (1 - iou) / (1 - comp)

    and its new score ``scores[j] * decay[j]``.

    Parameters
    ----------
    boxes : (N, 4) float32/float64, ``xyxy``.
    scores : (N,) float32/float64.
    method : ``"gaussian"`` or ``"linear"``.
    sigma : > 0 (gaussian; SOLOv2 uses 2.0).
    score_threshold : keep only decayed scores ``> score_threshold``.
    offset : 0 or 1 (pixel convention for the IoU).

    Returns
    -------
    indices : (K,) int64, by decreasing decayed score (ties: by rank of the
        original score, then index).
    decayed : (K,) decayed scores, in the scores' dtype.

    Notes
    -----
    SOLOv2 writes the gaussian as ``exp(-sigma iou^2) / exp(-sigma comp^2)``
    (same value; one ``exp`` here). Rows with ``comp[i] == 1`` (an exact
    duplicate of a higher box) are skipped in the linear rule, where SOLOv2
    divides by zero. Non-intersecting pairs have ``f >= 1`` and do not count,
    so only grid neighbours are visited: O(N + intersecting pairs) instead of
    the O(N^2) matrix. IoU uses torchvision's arithmetic in the input dtype,
    the decay float64.
    """
    b, s = _boxes_scores(boxes, scores)
    method = check_choice(method, "method", ("gaussian", "linear"))
    sig = check_number(sigma, "sigma", low=0.0, low_inclusive=False)
    off = _check_offset(offset)
    n = b.shape[0]
    order = _argsort_desc(s)
    sx1, sy1, sx2, sy2 = _columns(b, order)
    max_cells, cap = _k.plan_segments(sx1, sy1, sx2, sy2, np.array([0, n], np.int64), off, 1.0, _CELLS_PER_BOX, 0)
    comp = np.empty(n, np.float64)
    decay = np.empty(n, np.float64)
    _k.matrix_decay(
        sx1, sy1, sx2, sy2, off, method == "gaussian", sig, 1.0, _CELLS_PER_BOX,
        np.empty(max_cells, np.int32), np.empty(cap, np.int32), np.empty(cap, np.int32), np.empty(n, np.int64),
        comp, decay,
    )  # fmt: skip
    new = (s[order].astype(np.float64) * decay).astype(s.dtype)
    rank = _argsort_desc(new)
    idx = order[rank]
    val = new[rank]
    if score_threshold is not None:
        st = check_number(score_threshold, "score_threshold")
        m = val > st
        idx, val = idx[m], val[m]
    return idx, val


_CONF_TYPES = ("avg", "max", "box_and_model_avg", "absent_model_aware_avg")


def _fusion_rows(
    boxes: Any,
    scores: Any,
    labels: Any,
    model_ids: Any,
    weights: Any,
    skip_box_threshold: Any,
    normalise_weights: bool,
) -> tuple[np.dtype, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows in ensemble-boxes' order: grouped by label (first appearance),
    sorted in each group with the same NumPy call ensemble-boxes makes.

    Returns (dtype, seg, group labels, key (score * weight), weight of the
    row's model, model id, float64 boxes, model weights)."""
    b, s = _boxes_scores(boxes, scores)
    n = b.shape[0]
    lab = np.zeros(n, np.int64) if labels is None else check_labels(labels, n, "labels")
    if model_ids is None:
        mid = np.zeros(n, np.int64)
    else:
        mid = check_labels(model_ids, n, "model_ids")
        if n and mid.min() < 0:
            raise ValueError(f"model_ids: must be >= 0, got {int(mid.min())}")
    n_models = int(mid.max()) + 1 if n else 1
    if weights is None:
        w = np.ones(n_models, np.float64)
    else:
        w = as_float_array(weights, "weights", ndim=1, dtype=np.float64)
        if w.shape[0] < n_models:
            raise ValueError(f"weights: {w.shape[0]} weights for model ids up to {n_models - 1}")
        if w.shape[0] == 0 or (w < 0).any() or not w.max() > 0:
            raise ValueError("weights: expected non-negative weights with a positive maximum")
    thr = check_number(skip_box_threshold, "skip_box_threshold")
    if normalise_weights:
        w = w / w.max()
    # ensemble-boxes walks model 0's boxes, then model 1's, ...
    order = np.argsort(mid, kind="stable")
    b, s, lab, mid = b[order], s[order], lab[order], mid[order]
    b64 = b.astype(np.float64)
    area = (b64[:, 2] - b64[:, 0]) * (b64[:, 3] - b64[:, 1])
    # score < thr is compared in the scores' dtype (NumPy 2 scalar rules)
    ok = ~(s < s.dtype.type(thr)) & (area != 0.0)
    b64, s, lab, mid = b64[ok], s[ok], lab[ok], mid[ok]
    key = s.astype(np.float64) * w[mid]
    groups, first = np.unique(lab, return_index=True)
    groups = groups[np.argsort(first)]
    seg = np.zeros(groups.shape[0] + 1, np.int64)
    rows = []
    for g, label in enumerate(groups):
        r = np.flatnonzero(lab == label)
        rows.append(r[key[r].argsort()[::-1]])
        seg[g + 1] = seg[g] + r.shape[0]
    idx = np.concatenate(rows) if rows else np.empty(0, np.int64)
    return b.dtype, seg, groups, key[idx], w[mid[idx]], mid[idx], b64[idx], w


def weighted_boxes_fusion(
    boxes: Any,
    scores: Any,
    labels: Any = None,
    model_ids: Any = None,
    *,
    weights: Any = None,
    iou_threshold: float = 0.55,
    skip_box_threshold: float = 0.0,
    conf_type: str = "avg",
    allows_overflow: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted boxes fusion (Solovyev et al., 2021), equal to ensemble-boxes'
    ``weighted_boxes_fusion``.

    Boxes of several models (or one) are clustered per label: in decreasing
    ``score * weights[model]`` order, a box joins the cluster whose current
    fused box has the highest IoU with it if that IoU is ``> iou_threshold``,
    else it starts a new cluster. A cluster's fused box is the score-weighted
    mean of its members; its confidence is the mean score (``avg``), the max
    (``max``), or a model-aware average, rescaled by the number of models.

    Parameters
    ----------
    boxes : (N, 4) float32/float64, ``xyxy``: all models' boxes concatenated.
    scores : (N,) float32/float64.
    labels : (N,) integer labels (default all 0).
    model_ids : (N,) integer model of each box, ``0..M-1`` (default all 0).
    weights : (M,) model weights (default ones; give it to declare models
        that produced no box, they count in the rescaling).
    iou_threshold : match IoU (strict ``>``).
    skip_box_threshold : boxes with ``score < skip_box_threshold`` are dropped.
    conf_type : ``"avg"``, ``"max"``, ``"box_and_model_avg"`` or
        ``"absent_model_aware_avg"``.
    allows_overflow : with ``avg``, let the confidence exceed 1.

    Returns
    -------
    boxes : (K, 4) fused boxes (input dtype), scores : (K,), labels : (K,)
    int64, by decreasing score (ensemble-boxes' order, ties included).

    Notes
    -----
    Mapping to ensemble-boxes (which takes lists per model of boxes
    normalised to [0, 1]): ``boxes_list[t] = boxes[model_ids == t]`` (same for
    scores and labels), ``weights`` as given. On the same input (coordinates
    in [0, 1], x2 >= x1) the outputs are equal: bit-identical for float64
    input, equal after casting to float32 for float32 input. ensemble-boxes'
    quirks reproduced: the fused coordinates and the fused score of a cluster
    with two or more members are accumulated and stored in float32, a
    one-member cluster keeps its float64 row; the sort within each label and
    the final sort use NumPy's default (unstable) ``argsort`` reversed, which
    this function calls on the same keys, so ties come out in the same
    order; labels come back as float there and int64 here. Differences: it
    clips coordinates to [0, 1] and swaps reversed corners (with warnings);
    this function never clips, so it also works on pixel coordinates, and
    rejects reversed corners. Zero-area boxes are dropped by both. Cost:
    O(N * clusters per label), plus a re-fusion of the cluster each time a
    box joins (as ensemble-boxes does; O(size of the cluster)).
    """
    ct = check_choice(conf_type, "conf_type", _CONF_TYPES)
    iou_thr = check_number(iou_threshold, "iou_threshold")
    overflow = _check_flag(allows_overflow, "allows_overflow")
    dtype, seg, groups, key, wgt, mid, b64, w = _fusion_rows(
        boxes, scores, labels, model_ids, weights, skip_box_threshold, False
    )
    n = key.shape[0]
    out_score = np.empty(n, np.float64)
    out_box = np.empty((n, 4), np.float64)
    cl = [np.empty(n, np.int64) for _ in range(4)]
    k = _k.wbf_cluster(
        seg, key, wgt, mid, b64[:, 0].copy(), b64[:, 1].copy(), b64[:, 2].copy(), b64[:, 3].copy(), iou_thr,
        _CONF_TYPES.index(ct), overflow, w, float(w.sum()), float(w.max()), np.empty(n, np.int64),
        cl[0], cl[1], cl[2], np.empty(n, np.float64), out_score, out_box,
    )  # fmt: skip
    sc = out_score[:k]
    order = sc.argsort()[::-1]
    # label of each cluster: clusters are written group by group
    first_row = cl[0][:k]
    grp = np.searchsorted(seg, first_row, side="right") - 1
    return out_box[:k][order].astype(dtype), sc[order].astype(dtype), groups[grp][order].astype(np.int64)


def weighted_nms(
    boxes: Any,
    scores: Any,
    labels: Any = None,
    model_ids: Any = None,
    *,
    weights: Any = None,
    iou_threshold: float = 0.55,
    skip_box_threshold: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted NMS ("non-maximum weighted", Zhou et al., ICCVW 2017, CAD),
    equal to ensemble-boxes' ``non_maximum_weighted``.

    Per label, boxes in decreasing ``score * weights[model] / max(weights)``
    order either join the cluster whose first (highest) box has the highest
    IoU ``> iou_threshold`` with them or start a new cluster. Each cluster
    gives one box: the average of its members weighted by ``score *
    IoU(member, first box)``, with the first box's score.

    Parameters
    ----------
    boxes, scores, labels, model_ids, weights, iou_threshold,
    skip_box_threshold : as for :func:`weighted_boxes_fusion`.

    Returns
    -------
    boxes : (K, 4), scores : (K,) (input dtype), labels : (K,) int64, by
    decreasing score (ensemble-boxes' order, ties included).

    Notes
    -----
    Same mapping to ensemble-boxes as :func:`weighted_boxes_fusion`; outputs
    equal on the same input (ensemble-boxes returns float32 arrays here: the
    fused boxes are accumulated in float32 and the score rounded to float32;
    this function returns those values in the input dtype). It never clips
    to [0, 1]. Cost O(N * clusters per label).
    """
    iou_thr = check_number(iou_threshold, "iou_threshold")
    dtype, seg, groups, key, _, _, b64, _ = _fusion_rows(
        boxes, scores, labels, model_ids, weights, skip_box_threshold, True
    )
    n = key.shape[0]
    out_score = np.empty(n, np.float64)
    out_box = np.empty((n, 4), np.float64)
    first = np.empty(n, np.int64)
    k = _k.nmw_cluster(
        seg, key, b64[:, 0].copy(), b64[:, 1].copy(), b64[:, 2].copy(), b64[:, 3].copy(), iou_thr,
        np.empty(n, np.int64), first, np.empty(n, np.int64), out_score, out_box,
    )  # fmt: skip
    sc32 = out_score[:k].astype(np.float32)
    order = sc32.argsort()[::-1]
    grp = np.searchsorted(seg, first[:k], side="right") - 1
    return out_box[:k][order].astype(dtype), out_score[:k][order].astype(dtype), groups[grp][order].astype(np.int64)
