"""Kernels of Matrix NMS and Cluster-NMS (:mod:`detbench.nms.matrix_cluster`).

Both register every score-sorted box in a progressive grid (boxes are added
as they are visited, so a box only meets higher-scored ones) and visit only
intersecting neighbours. Pair arithmetic: :mod:`detbench.nms._grid`.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from detbench._jit import jit
from detbench.nms._grid import box_cells, core_cells, grid_geometry, overlap, suppresses

#: Grid tuning: ``factor`` cell side / mean box side; ``cells_per_box`` cap on cells per box.
GridPlan = namedtuple("GridPlan", ["factor", "cells_per_box"])

#: Scratch of a progressive grid. ``head`` (cells, int32): first entry of each cell's
#: list; ``nxt``/``ent`` (registrations, int32): next entry and box of each entry;
#: ``stamp`` (N, int64): de-duplicates boxes met in several cells.
GridScratch = namedtuple("GridScratch", ["head", "nxt", "ent", "stamp"])


def make_grid_scratch(n: int, max_cells: int, cap: int) -> GridScratch:
    """Scratch for ``n`` boxes, ``max_cells`` cells and ``cap`` registrations."""
    i32 = np.int32
    return GridScratch(np.empty(max_cells, i32), np.empty(cap, i32), np.empty(cap, i32), np.empty(n, np.int64))


@jit
def matrix_decay(cols, off, gaussian, sigma, plan, scratch, comp, decay):
    """Matrix NMS decay factors for score-sorted boxes.

    For each box ``j`` (sorted position), over the higher-scored boxes ``i``
    that intersect it: ``comp[j] = max IoU(i, j)`` and ``decay[j] = min(1,
    min_i f(IoU(i, j), comp[i]))`` with ``f = exp(-sigma * (iou**2 -
    comp_i**2))`` (gaussian) or ``(1 - iou) / (1 - comp_i)`` (linear; rows
    with ``comp_i == 1`` are skipped). Non-intersecting pairs give ``f >= 1``
    and cannot lower the minimum, so only grid neighbours are visited. IoU is
    computed in the boxes' dtype (torchvision's arithmetic), ``f`` in float64.
    ``plan`` is a :class:`GridPlan`, ``scratch`` a :class:`GridScratch`.
    """
    sx1, sy1, sx2, sy2 = cols
    head, nxt, ent, stamp = scratch
    n = sx1.shape[0]
    zero = sx1.dtype.type(0)
    offv = sx1.dtype.type(off)
    g = grid_geometry(cols, 0, n, off, plan.factor, max(64, plan.cells_per_box * n))
    ncols = g.ncols
    for c in range(ncols * g.nrows):
        head[c] = -1
    for t in range(n):
        stamp[t] = -1
    ne = 0
    for t in range(n):
        bx1 = sx1[t]
        by1 = sy1[t]
        bx2 = sx2[t]
        by2 = sy2[t]
        barea = (bx2 - bx1 + offv) * (by2 - by1 + offv)
        c0, c1, r0, r1 = box_cells(bx1, by1, bx2, by2, off, g)
        cmax = 0.0
        dmin = 1.0
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                e = head[r * ncols + c]
                while e >= 0:
                    i = ent[e]
                    e = nxt[e]
                    if stamp[i] == t:
                        continue
                    stamp[i] = t
                    aarea = (sx2[i] - sx1[i] + offv) * (sy2[i] - sy1[i] + offv)
                    inter, iou = overlap(sx1[i], sy1[i], sx2[i], sy2[i], aarea, bx1, by1, bx2, by2, barea, zero, offv)
                    if not inter > zero:
                        continue
                    v = float(iou)
                    if v > cmax:
                        cmax = v
                    ci = comp[i]
                    if gaussian:
                        f = math.exp(-sigma * (v * v - ci * ci))
                    elif ci < 1.0:
                        f = (1.0 - v) / (1.0 - ci)
                    else:
                        continue
                    if f < dmin:
                        dmin = f
        comp[t] = cmax
        decay[t] = dmin
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                ent[ne] = t
                nxt[ne] = head[r * ncols + c]
                head[r * ncols + c] = ne
                ne += 1


@jit
def suppressor_lists(cols, rule, shrink, plan, scratch, fill, start, nbr):
    """For each score-sorted box ``j`` of ``cols``, the higher boxes ``i`` that
    suppress it under ``rule`` (:class:`~detbench.nms._grid.PairRule`), found
    with a grid (``plan``, ``scratch``) that registers every box and queries
    each box's centre part (shrunk by ``shrink``). Count mode (``fill``
    False): ``start`` gets CSR offsets. Fill mode: the lists are written to ``nbr``."""
    sx1, sy1, sx2, sy2 = cols
    head, nxt, ent, stamp = scratch
    off = float(rule.off)
    n = sx1.shape[0]
    offv = rule.off
    g = grid_geometry(cols, 0, n, off, plan.factor, max(64, plan.cells_per_box * n))
    ncols = g.ncols
    for c in range(ncols * g.nrows):
        head[c] = -1
    for t in range(n):
        stamp[t] = -1
    if not fill:
        start[0] = 0
    ne = 0
    for t in range(n):
        bx1 = sx1[t]
        by1 = sy1[t]
        bx2 = sx2[t]
        by2 = sy2[t]
        barea = (bx2 - bx1 + offv) * (by2 - by1 + offv)
        c0, c1, r0, r1 = core_cells(bx1, by1, bx2, by2, off, shrink, g)
        cnt = 0
        p = start[t]
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                e = head[r * ncols + c]
                while e >= 0:
                    i = ent[e]
                    e = nxt[e]
                    if stamp[i] == t:
                        continue
                    stamp[i] = t
                    aarea = (sx2[i] - sx1[i] + offv) * (sy2[i] - sy1[i] + offv)
                    ax1 = sx1[i]
                    ay1 = sy1[i]
                    ax2 = sx2[i]
                    ay2 = sy2[i]
                    if suppresses(ax1, ay1, ax2, ay2, aarea, bx1, by1, bx2, by2, barea, rule):
                        if fill:
                            nbr[p + cnt] = i
                        cnt += 1
        if not fill:
            start[t + 1] = start[t] + cnt
        c0, c1, r0, r1 = box_cells(bx1, by1, bx2, by2, off, g)
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                ent[ne] = t
                nxt[ne] = head[r * ncols + c]
                head[r * ncols + c] = ne
                ne += 1


@jit
def suppressor_lists_dense(cols, rule, fill, start, nbr):
    """:func:`suppressor_lists` by testing every higher box (any threshold)."""
    sx1, sy1, sx2, sy2 = cols
    n = sx1.shape[0]
    offv = rule.off
    if not fill:
        start[0] = 0
    for t in range(n):
        bx1 = sx1[t]
        by1 = sy1[t]
        bx2 = sx2[t]
        by2 = sy2[t]
        barea = (bx2 - bx1 + offv) * (by2 - by1 + offv)
        cnt = 0
        p = start[t]
        for i in range(t):
            aarea = (sx2[i] - sx1[i] + offv) * (sy2[i] - sy1[i] + offv)
            if suppresses(sx1[i], sy1[i], sx2[i], sy2[i], aarea, bx1, by1, bx2, by2, barea, rule):
                if fill:
                    nbr[p + cnt] = i
                cnt += 1
        if not fill:
            start[t + 1] = start[t] + cnt


@jit
def cluster_iterate(start, nbr, keep, new_keep, max_iter):
    """Cluster-NMS iterations on the suppression lists (Jacobi form of the
    paper's matrix iteration): ``keep_{t+1}[j] = no i in list(j) has
    keep_t[i]``, from all-ones until nothing changes. Returns the number of
    iterations run."""
    n = keep.shape[0]
    for j in range(n):
        keep[j] = True
    it = 0
    while it < max_iter:
        it += 1
        changed = False
        for j in range(n):
            k = True
            for e in range(start[j], start[j + 1]):
                if keep[nbr[e]]:
                    k = False
                    break
            new_keep[j] = k
            if k != keep[j]:
                changed = True
        for j in range(n):
            keep[j] = new_keep[j]
        if not changed:
            break
    return it
