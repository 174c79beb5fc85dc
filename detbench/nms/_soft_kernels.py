"""Kernels of Soft-NMS (:mod:`detbench.nms.soft`), in ensemble-boxes' float64 arithmetic.

A static grid registers every box (:class:`StaticGrid`, :class:`CellItems`);
the intersecting pairs are listed once (:func:`soft_pairs`) with their
weights (:class:`PairLists`); the selection replays ensemble-boxes' working
order (:class:`SoftState`). IoU is computed as ensemble-boxes'
``cpu_soft_nms_float`` does (areas ``(x2-x1)*(y2-y1)``, no offset; its x/y swap
leaves the product unchanged).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from detbench._jit import jit
from detbench.nms._grid import box_cells

#: Cell range of every box and the cell lists' offsets.
#: ``c0, c1, r0, r1`` (N, int32): first/last column and row a box covers;
#: ``ncols``: grid columns; ``start`` (cells + 1, int64): CSR offsets of the cell lists.
StaticGrid = namedtuple("StaticGrid", ["c0", "c1", "r0", "r1", "ncols", "start"])

#: The cell lists (one entry per box and cell it covers, ids increasing within a cell).
#: ``items``: box id; ``ic0``/``ir0``: the box's first column/row; ``x1, y1, x2, y2,
#: area`` (float64): its coordinates and area copied inline so a cell scan reads memory in order.
CellItems = namedtuple("CellItems", ["items", "ic0", "ir0", "x1", "y1", "x2", "y2", "area"])

#: All intersecting pairs and their weights.
#: ``fwd_start`` (N + 1), ``fwd_nbr``, ``fwd_w``: for each box ``i`` the boxes ``j > i`` and
#: the pair's weight; ``bwd_start``, ``bwd_src``, ``bwd_w``: the transpose (boxes ``i < j``).
PairLists = namedtuple("PairLists", ["fwd_start", "fwd_nbr", "fwd_w", "bwd_start", "bwd_src", "bwd_w"])

#: Selection state (ensemble-boxes' working array).
#: ``pos_box[p]``: box at working position p; ``box_pos[b]``: position of box b;
#: ``pscore[p]``: current score at position p; ``done[b]``: box b picked;
#: ``bmax``/``barg``: per-block max score and first position of it; ``dirty[blk]``: stale;
#: ``st[0]``: next step i.
SoftState = namedtuple("SoftState", ["pos_box", "box_pos", "pscore", "done", "bmax", "barg", "dirty", "st"])

#: Buffers of :func:`soft_step`: ``stamp`` (N, int64, start at -1) de-duplicates boxes
#: met in several cells; ``nbr``/``ovr``/``w`` (N): neighbours of the last pick, their
#: IoU and their weight.
StepBuffers = namedtuple("StepBuffers", ["stamp", "nbr", "ovr", "w"])


def make_static_grid(n: int, ncols: int, nrows: int) -> StaticGrid:
    """Empty :class:`StaticGrid` for ``n`` boxes on ``ncols x nrows`` cells."""
    return StaticGrid(*(np.empty(n, np.int32) for _ in range(4)), int(ncols), np.empty(ncols * nrows + 1, np.int64))


def make_soft_state(perm: np.ndarray, scores: np.ndarray, block: int) -> SoftState:
    """Initial :class:`SoftState`: working positions are input indices (as in
    ensemble-boxes), ``perm`` maps internal ids to input indices, blocks of ``block``."""
    n = perm.shape[0]
    nb = (n + block - 1) // block
    pos_box = np.empty(n, np.int64)
    pos_box[perm] = np.arange(n, dtype=np.int64)
    return SoftState(
        pos_box,
        perm.astype(np.int64),
        scores.copy(),
        np.zeros(n, np.bool_),
        np.empty(nb, scores.dtype),
        np.empty(nb, np.int64),
        np.ones(nb, np.bool_),
        np.zeros(1, np.int64),
    )


def make_items(sg: StaticGrid) -> CellItems:
    """Empty :class:`CellItems` for the registrations counted in ``sg``."""
    m = int(sg.start[-1])
    return CellItems(
        np.empty(m, np.int32), np.empty(m, np.int32), np.empty(m, np.int32), *(np.empty(m) for _ in range(5))
    )


@jit
def static_grid(cols, g, sg):
    """Fill ``sg`` (:class:`StaticGrid`) for ``cols`` in grid ``g``: cell range of
    every box and CSR offsets of the cell lists."""
    x1, y1, x2, y2 = cols
    c0, c1, r0, r1, ncols, start = sg
    ncell = ncols * g.nrows
    for c in range(ncell + 1):
        start[c] = 0
    for i in range(x1.shape[0]):
        a, b, p, q = box_cells(x1[i], y1[i], x2[i], y2[i], 0.0, g)
        c0[i] = a
        c1[i] = b
        r0[i] = p
        r1[i] = q
        for r in range(p, q + 1):
            for c in range(a, b + 1):
                start[r * ncols + c + 1] += 1
    for c in range(ncell):
        start[c + 1] += start[c]


@jit
def static_fill(cols, sg, it):
    """Fill the cell lists ``it`` (:class:`CellItems`)."""
    x1, y1, x2, y2 = cols
    c0, c1, r0, r1, ncols, start = sg
    ncell = start.shape[0] - 1
    fill = start[:ncell].copy()
    for i in range(c0.shape[0]):
        area = (x2[i] - x1[i]) * (y2[i] - y1[i])
        for r in range(r0[i], r1[i] + 1):
            for c in range(c0[i], c1[i] + 1):
                cell = r * ncols + c
                e = fill[cell]
                it.items[e] = i
                it.ic0[e] = c0[i]
                it.ir0[e] = r0[i]
                it.x1[e] = x1[i]
                it.y1[e] = y1[i]
                it.x2[e] = x2[i]
                it.y2[e] = y2[i]
                it.area[e] = area
                fill[cell] = e + 1


@jit
def soft_pairs(cols, sg, it, i_begin, pos, fwd_start, fwd_nbr, fwd_ovr):
    """Forward pair lists: for each box ``i``, the boxes ``j > i`` with positive
    intersection and their IoU, written from ``fwd_start[i]`` on.

    Each pair is visited once, in the first cell both boxes cover. Stops
    before box ``i`` if its candidates might not fit in ``fwd_nbr``; returns
    ``(next i, next write position)`` so the caller can grow and resume.
    """
    x1, y1, x2, y2 = cols
    c0, c1, r0, r1, ncols, start = sg
    items, ic0, ir0, ix1, iy1, ix2, iy2, iarea = it
    n = x1.shape[0]
    cap = fwd_nbr.shape[0]
    for i in range(i_begin, n):
        bound = 0
        for r in range(r0[i], r1[i] + 1):
            for c in range(c0[i], c1[i] + 1):
                cell = r * ncols + c
                bound += start[cell + 1] - start[cell]
        if pos + bound > cap:
            return i, pos
        fwd_start[i] = pos
        ax1 = x1[i]
        ay1 = y1[i]
        ax2 = x2[i]
        ay2 = y2[i]
        aarea = (ax2 - ax1) * (ay2 - ay1)
        ac0 = c0[i]
        ar0 = r0[i]
        for r in range(ar0, r1[i] + 1):
            for c in range(ac0, c1[i] + 1):
                cell = r * ncols + c
                hi = start[cell + 1]
                e0 = start[cell]
                while e0 < hi and items[e0] <= i:  # ids ascend: skip j <= i
                    e0 += 1
                for e in range(e0, hi):
                    # branch-free: always write, advance only for a valid pair
                    w = max(0.0, min(ay2, iy2[e]) - max(ay1, iy1[e]))
                    h = max(0.0, min(ax2, ix2[e]) - max(ax1, ix1[e]))
                    inter = w * h
                    ovr = inter / (aarea + iarea[e] - inter)
                    first = (max(ac0, ic0[e]) == c) & (max(ar0, ir0[e]) == r)
                    fwd_nbr[pos] = items[e]
                    fwd_ovr[pos] = ovr
                    pos += first & (inter > 0.0)
    fwd_start[n] = pos
    return n, pos


@jit
def soft_backward(fwd_start, fwd_nbr, fwd_w, bwd_start, bwd_src, bwd_w):
    """Transpose the forward pair lists: for each box ``j``, the boxes ``i < j``
    listing it (``bwd_src``) and the pair's weight (``bwd_w``)."""
    n = fwd_start.shape[0] - 1
    for i in range(n + 1):
        bwd_start[i] = 0
    for e in range(fwd_start[n]):
        bwd_start[fwd_nbr[e] + 1] += 1
    for i in range(n):
        bwd_start[i + 1] += bwd_start[i]
    fill = bwd_start[:n].copy()
    for i in range(n):
        for e in range(fwd_start[i], fwd_start[i + 1]):
            j = fwd_nbr[e]
            p = fill[j]
            bwd_src[p] = i
            bwd_w[p] = fwd_w[e]
            fill[j] = p + 1


@jit(inline="always")
def _soft_pick(cur, thresh, block, state):
    """Next pick of ensemble-boxes' loop: the box to keep, or -1 when the best
    remaining score is <= thresh (or nothing remains)."""
    pos_box, box_pos, pscore, done, bmax, barg, dirty, st = state
    n = cur.shape[0]
    i = st[0]
    if i >= n:
        return -1
    nb = bmax.shape[0]
    b0 = i // block
    best = -1
    for blk in range(b0, nb):
        if dirty[blk]:
            lo = blk * block
            if lo < i:
                lo = i
            hi = min(n, (blk + 1) * block)
            m = pscore[lo]
            a = lo
            for p in range(lo + 1, hi):
                v = pscore[p]
                if v > m:
                    m = v
                    a = p
            bmax[blk] = m
            barg[blk] = a
            dirty[blk] = False
        if best < 0 or bmax[blk] > bmax[best]:
            best = blk
    p = barg[best]
    m = bmax[best]
    if not m > thresh:
        return -1
    b = pos_box[p]
    if p != i:
        a = pos_box[i]
        pos_box[p] = a
        box_pos[a] = p
        pscore[p] = pscore[i]
        pos_box[i] = b
        box_pos[b] = i
    dirty[best] = True
    dirty[b0] = True
    done[b] = True
    st[0] = i + 1
    return b


@jit(inline="always")
def _soft_decay(cur, j, w, block, state):
    """Multiply box j's score by w (float64 product, stored in the score dtype)."""
    box_pos = state.box_pos
    pscore = state.pscore
    bmax = state.bmax
    barg = state.barg
    dirty = state.dirty
    cur[j] = w * float(cur[j])
    nv = cur[j]
    q = box_pos[j]
    pscore[q] = nv
    blk = q // block
    if not dirty[blk]:
        if nv > bmax[blk] or (nv == bmax[blk] and q < barg[blk]):
            bmax[blk] = nv
            barg[blk] = q
        elif q == barg[blk]:
            dirty[blk] = True


@jit
def soft_select(cur, thresh, pairs, block, state, out_idx):
    """Soft-NMS selection loop, step for step as ensemble-boxes runs it.

    ensemble-boxes keeps the boxes in a working array; at step ``i`` it picks
    the first position of the largest current score among positions
    ``i..N-1``, swaps that box into position ``i`` and multiplies the score of
    every later box by its weight to the picked one. This kernel replays the
    same positions (so equal scores resolve identically) but finds the maximum
    from per-block maxima (``block`` positions each, refreshed lazily) and
    only touches the picked box's intersecting neighbours (``pairs``,
    :class:`PairLists`); every other weight is exactly 1. It stops when the
    best remaining score is ``<= thresh`` (nothing later can be kept when
    ``thresh >= 0``). ``cur`` ends with the decayed scores. Returns the number
    of kept boxes, written to ``out_idx`` in pick order.
    """
    fwd_start, fwd_nbr, fwd_w, bwd_start, bwd_src, bwd_w = pairs
    done = state.done
    k = 0
    while True:
        b = _soft_pick(cur, thresh, block, state)
        if b < 0:
            break
        out_idx[k] = b
        k += 1
        for e in range(fwd_start[b], fwd_start[b + 1]):
            j = fwd_nbr[e]
            w = fwd_w[e]
            if (not done[j]) and w != 1.0:
                _soft_decay(cur, j, w, block, state)
        for e in range(bwd_start[b], bwd_start[b + 1]):
            j = bwd_src[e]
            w = bwd_w[e]
            if (not done[j]) and w != 1.0:
                _soft_decay(cur, j, w, block, state)
    return k


@jit
def soft_step(cur, thresh, block, state, cols, sg, items, buf, pending):
    """One pick of Soft-NMS for inputs too large to precompute all pairs.

    Applies the ``pending`` weights ``buf.w[:pending]`` of the previous pick to
    ``buf.nbr``, picks the next box (as :func:`soft_select`), and writes the
    IoU of its not yet picked, intersecting neighbours to ``buf.nbr``/``buf.ovr``
    for the caller to turn into weights with NumPy. ``items`` are the cell
    lists' box ids. Returns ``(picked box or -1, neighbour count)``.
    """
    x1, y1, x2, y2 = cols
    c0, c1, r0, r1, ncols, start = sg
    stamp, nbr_buf, ovr_buf, w_buf = buf
    done = state.done
    for e in range(pending):
        j = nbr_buf[e]
        _soft_decay(cur, j, w_buf[e], block, state)
    b = _soft_pick(cur, thresh, block, state)
    if b < 0:
        return -1, 0
    ax1 = x1[b]
    ay1 = y1[b]
    ax2 = x2[b]
    ay2 = y2[b]
    aarea = (ax2 - ax1) * (ay2 - ay1)
    cnt = 0
    for r in range(r0[b], r1[b] + 1):
        for c in range(c0[b], c1[b] + 1):
            cell = r * ncols + c
            for e in range(start[cell], start[cell + 1]):
                j = items[e]
                if done[j] or stamp[j] == b:
                    continue
                stamp[j] = b
                w = max(0.0, min(ay2, y2[j]) - max(ay1, y1[j]))
                h = max(0.0, min(ax2, x2[j]) - max(ax1, x1[j]))
                inter = w * h
                if inter > 0.0:
                    nbr_buf[cnt] = j
                    ovr_buf[cnt] = inter / (aarea + (x2[j] - x1[j]) * (y2[j] - y1[j]) - inter)
                    cnt += 1
    return b, cnt
