"""Soft-NMS (Bodla et al. 2017), equal to ensemble-boxes' ``soft_nms``.

Kernels: :mod:`detbench.nms._soft_kernels`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import check_choice, check_number
from detbench.nms import _soft_kernels as _k
from detbench.nms._common import boxes_scores
from detbench.nms._grid import Columns, grid_geometry

__all__ = ["soft_nms"]

# Soft-NMS precomputes the weights of all intersecting pairs up to this many pairs
_SOFT_PAIR_BUDGET = 8_000_000
# Soft-NMS's static grid: cell side = mean box side
_SOFT_CELL_FACTOR = 1.0


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

    Boxes whose float64 areas overflow or underflow are refused by name (see
    :mod:`detbench.nms`, "Box scale"); float32 and float16 scores give float32
    ``rescored`` in any byte order.

    Cost: a spatial grid lists the intersecting pairs (P of them, weights
    computed once in NumPy), then N picks that each scan per-block maxima
    (O(sqrt N)) and update only the picked box's neighbours: about
    O(N sqrt N + P) instead of ensemble-boxes' O(N^2). Inputs with more than
    8 million intersecting pairs are processed one pick at a time (same
    result, slower per pick, bounded memory).
    """
    b, s = boxes_scores(boxes, scores, promote=False)
    method = check_choice(method, "method", ("gaussian", "linear"))
    sig = check_number(sigma, "sigma", low=0.0, low_inclusive=False)
    nt = check_number(iou_threshold, "iou_threshold")
    st = check_number(score_threshold, "score_threshold", low=0.0)
    n = b.shape[0]
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, s.dtype)
    b64 = b.astype(np.float64)
    g = grid_geometry(Columns(*(b64[:, c] for c in range(4))), 0, n, 0.0, _SOFT_CELL_FACTOR, max(64, 4 * n))
    # internal ids follow a spatial order (row-major cell of the box's corner) so
    # that neighbours have nearby ids: better memory locality in every pass
    cell = (np.minimum(((b64[:, 1] - g.gy0) * g.inv_h).astype(np.int64), g.nrows - 1) * g.ncols) + np.minimum(
        ((b64[:, 0] - g.gx0) * g.inv_w).astype(np.int64), g.ncols - 1
    )
    perm = np.argsort(cell, kind="stable")
    cols = Columns(*(np.ascontiguousarray(b64[perm, c]) for c in range(4)))
    sg = _k.make_static_grid(n, g.ncols, g.nrows)
    _k.static_grid(cols, g, sg)
    # selection state: working positions are input indices, as in ensemble-boxes
    block = max(16, int(np.sqrt(n)))
    cur = s[perm]
    state = _k.make_soft_state(perm, s, block)
    thresh = s.dtype.type(st)
    pairs = _soft_pairs(cols, sg, method, sig, nt)
    if pairs is not None:
        out = np.empty(n, np.int64)
        k = _k.soft_select(cur, thresh, pairs, block, state, out)
        out = out[:k]
    else:
        out = _soft_stepwise(cur, thresh, block, state, cols, sg, method, sig, nt)
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


def _soft_pairs(cols: Columns, sg: _k.StaticGrid, method: str, sigma: float, nt: float) -> _k.PairLists | None:
    """Forward/backward lists of all intersecting pairs with their weights, or
    None past the pair budget."""
    n = cols.x1.shape[0]
    it = _k.make_items(sg)
    _k.static_fill(cols, sg, it)
    fwd_start = np.empty(n + 1, np.int64)
    counts = np.diff(sg.start)
    # sum over boxes of the candidates in their cells bounds the pair count: no regrowth
    cap = int(min(max(1024, int(np.dot(counts, counts))), _SOFT_PAIR_BUDGET))
    fwd_nbr = np.empty(cap, np.int32)
    fwd_ovr = np.empty(cap, np.float64)
    i, pos = 0, 0
    while True:
        i, pos = _k.soft_pairs(cols, sg, it, i, pos, fwd_start, fwd_nbr, fwd_ovr)
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
    return _k.PairLists(fwd_start, fwd_nbr, fwd_w, bwd_start, bwd_src, bwd_w)


def _soft_stepwise(cur, thresh, block, state, cols, sg, method, sigma, nt):
    """Soft-NMS one pick per compiled call (bounded memory; same result)."""
    n = cols.x1.shape[0]
    it = _k.make_items(sg)
    _k.static_fill(cols, sg, it)
    buf = _k.StepBuffers(np.full(n, -1, np.int64), np.empty(n, np.int32), np.empty(n, np.float64), np.empty(n))
    out = []
    pending = 0
    while True:
        b, cnt = _k.soft_step(cur, thresh, block, state, cols, sg, it.items, buf, pending)
        if b < 0:
            break
        out.append(b)
        buf.w[:cnt] = _soft_weights(buf.ovr[:cnt], method, sigma, nt)
        pending = cnt
    return np.array(out, dtype=np.int64)
