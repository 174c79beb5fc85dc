"""Numba kernels of Felzenszwalb–Huttenlocher graph segmentation (IJCV 2004) on an 8-connected pixel grid.

:func:`grid_edge_weights` (colour distances), :func:`sort_edges` (stable order, on the shared radix
sort of :mod:`detbench._sort`), :func:`fh_segment` (union-find over a :class:`SortedEdges`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from detbench._jit import jit
from detbench._sort import radix_argsort_keys


class SortedEdges(NamedTuple):
    """The grid graph's edges by increasing weight (independent of ``k`` and ``min_size``).

    order: ``(4HW,)`` int64 edge ids ``4p + d`` (pixel ``p``, direction ``d``, see
        :func:`grid_edge_weights`), stably sorted by weight.
    weights: ``(4HW,)`` float64, the weights in that order (``+inf`` for missing neighbours, last).
    n: number of finite weights (the edges that exist).
    height, width: the image size.
    """

    order: np.ndarray
    weights: np.ndarray
    n: int
    height: int
    width: int


@jit
def grid_edge_weights(img, ew):
    """Edge weights of the 8-connected grid graph of an (H, W, C) float64 image.

    Edge ``4p + d`` joins pixel ``p = y W + x`` (raster order) to its
    right (d=0), down (1), down-right (2) and up-right (3) neighbour; its
    weight is the Euclidean colour distance, ``+inf`` where the neighbour is
    outside the image. ew: (4HW,) float64 out. O(HW C).
    """
    h, w, c = img.shape
    inf = np.inf
    for y in range(h):
        for x in range(w):
            p = y * w + x
            for d in range(4):
                if d == 0:
                    yy, xx = y, x + 1
                elif d == 1:
                    yy, xx = y + 1, x
                elif d == 2:
                    yy, xx = y + 1, x + 1
                else:
                    yy, xx = y - 1, x + 1
                if yy < 0 or yy >= h or xx >= w:
                    ew[4 * p + d] = inf
                    continue
                s = 0.0
                for ch in range(c):
                    diff = img[y, x, ch] - img[yy, xx, ch]
                    s += diff * diff
                ew[4 * p + d] = np.sqrt(s)


@jit
def sort_edges(ew, order, sorted_w):
    """Stable ascending sort of non-negative weights (``+inf`` allowed), i.e. ``np.argsort(ew, kind="stable")``.

    The float32-rounded weights' bit patterns (non-negative, so they ascend with the value) are
    sorted by :func:`detbench._sort.radix_argsort_keys` carrying the edge index, then each run of
    equal float32 keys is fixed up by insertion sort on the exact float64 weight (rounding is
    monotone, so this restores the float64 order; runs are short). order: (N,) int64 out;
    sorted_w: (N,) float64 out, ``ew[order]``. Returns the number of finite weights (they come
    first). O(N).
    """
    n = ew.shape[0]
    keys = ew.astype(np.float32).view(np.uint32)
    sk = radix_argsort_keys(keys, 32, order, np.empty(n, dtype=np.int64), np.empty(n, dtype=np.uint32))
    # fix-up: inside runs of equal float32 keys order by (float64 weight, index)
    start = 0
    while start < n:
        stop = start + 1
        while stop < n and sk[stop] == sk[start]:
            stop += 1
        if stop - start > 1:
            for i in range(start + 1, stop):
                cur = order[i]
                wc = ew[cur]
                j = i - 1
                while j >= start and ew[order[j]] > wc:
                    order[j + 1] = order[j]
                    j -= 1
                order[j + 1] = cur
        start = stop
    n_finite = 0
    for i in range(n):
        v = ew[order[i]]
        sorted_w[i] = v
        if v < np.inf:
            n_finite += 1
    return n_finite


@jit(inline="always")
def _find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@jit(inline="always")
def _edge_ends(e, width):
    p = e >> 2
    d = e & 3
    if d == 0:
        q = p + 1
    elif d == 1:
        q = p + width
    elif d == 2:
        q = p + width + 1
    else:
        q = p - width + 1
    return p, q


@jit
def fh_segment(edges, k, min_size, labels):
    """Felzenszwalb–Huttenlocher segmentation of the grid graph of :func:`grid_edge_weights`.

    ``edges``: a :class:`SortedEdges`; visits its first ``edges.n`` edges (ascending weight,
    from :func:`sort_edges`). Components ``C1 != C2`` joined by
    an edge of weight ``w`` merge when ``w <= min(Int(C1) + k/|C1|, Int(C2) +
    k/|C2|)`` (``Int`` = largest MST edge inside = the weight of the edge
    that last merged it). Then, in the same order, an edge whose components
    are different and one of them smaller than ``min_size`` merges them.
    ``labels`` (H * W,) int64 receives component ids ``0..R-1`` numbered
    in raster order of their first pixel; returns R. O(E alpha(E)).
    """
    order = edges.order
    sorted_w = edges.weights
    n_edges = edges.n
    width = edges.width
    n_pixels = labels.shape[0]
    parent = np.arange(n_pixels)
    size = np.ones(n_pixels, dtype=np.int64)
    thr = np.full(n_pixels, k, dtype=np.float64)  # Int(C) + k/|C| with Int = 0, |C| = 1
    for t in range(n_edges):
        pa, pb = _edge_ends(order[t], width)
        a = _find(parent, pa)
        b = _find(parent, pb)
        if a == b:
            continue
        wgt = sorted_w[t]
        if wgt <= thr[a] and wgt <= thr[b]:
            if size[a] < size[b]:
                a, b = b, a
            parent[b] = a
            size[a] += size[b]
            thr[a] = wgt + k / size[a]
    if min_size > 1:
        for t in range(n_edges):
            pa, pb = _edge_ends(order[t], width)
            a = _find(parent, pa)
            b = _find(parent, pb)
            if a != b and (size[a] < min_size or size[b] < min_size):
                if size[a] < size[b]:
                    a, b = b, a
                parent[b] = a
                size[a] += size[b]
    remap = np.full(n_pixels, -1, dtype=np.int64)
    r = 0
    for p in range(n_pixels):
        root = _find(parent, p)
        if remap[root] < 0:
            remap[root] = r
            r += 1
        labels[p] = remap[root]
    return r
