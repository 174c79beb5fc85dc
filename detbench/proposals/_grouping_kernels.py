"""Numba kernels of selective search's region descriptors and greedy grouping (Uijlings et al. 2013).

* :func:`region_features` - size, bounding box, colour and texture histograms of every
  Felzenszwalb segment, into a :class:`Regions` record made by :func:`new_regions`;
* :func:`hierarchical_grouping` - greedy merging with a max-heap of neighbour similarities
  (:class:`Similarity` selects the terms) and doubly linked adjacency lists, grown by doubling.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from detbench._jit import jit


class Regions(NamedTuple):
    """The regions of one segmentation and room for every region grouping can create.

    n: number of initial regions (segments).
    pairs: ``(E, 2)`` int64 unique 4-connected neighbour pairs ``(a, b)``, ``a < b``.
    size: ``(2n - 1,)`` int64 pixel counts.
    bbox: ``(2n - 1, 4)`` int64 ``(xmin, ymin, xmax, ymax)`` inclusive pixel boxes.
    chist: ``(n, 3 * n_color_bins)`` float64 L1-normalised colour histograms.
    thist: ``(n, 3 * n_orientations * n_texture_bins)`` float64 L1-normalised texture histograms.
    A merged region reuses the histogram row of its first part.
    """

    n: int
    pairs: np.ndarray
    size: np.ndarray
    bbox: np.ndarray
    chist: np.ndarray
    thist: np.ndarray

    def copy(self) -> Regions:
        """A copy whose arrays grouping may overwrite (``pairs`` is only read, it is shared)."""
        return Regions(self.n, self.pairs, self.size.copy(), self.bbox.copy(), self.chist.copy(), self.thist.copy())


def new_regions(n: int, pairs: np.ndarray, color_width: int, texture_width: int) -> Regions:
    """Empty :class:`Regions` for ``n`` segments: zero sizes and histograms, boxes ready for min/max."""
    total = 2 * n - 1
    bbox = np.empty((total, 4), dtype=np.int64)
    bbox[:, :2] = np.iinfo(np.int64).max
    bbox[:, 2:] = -1
    return Regions(
        n,
        pairs,
        np.zeros(total, dtype=np.int64),
        bbox,
        np.zeros((n, color_width), dtype=np.float64),
        np.zeros((n, texture_width), dtype=np.float64),
    )


class Similarity(NamedTuple):
    """Which terms the grouping similarity sums (the paper's C, T, S, F)."""

    colour: bool
    texture: bool
    size: bool
    fill: bool


@jit
def region_features(labels, width, cbins, tbins, regions):
    """Accumulate per-region descriptors into a fresh :class:`Regions` (from :func:`new_regions`).

    labels: (P,) region id per pixel (raster order, P = H * width);
    cbins: (P, Cc) colour histogram bin index per pixel and channel;
    tbins: (P, Ct) texture bin index per pixel and (channel, orientation).
    Fills the first ``regions.n`` rows of size, bbox (inclusive pixel boxes) and the
    L1-normalised chist / thist histograms. O(P (Cc + Ct)).
    """
    size = regions.size
    bbox = regions.bbox
    chist = regions.chist
    thist = regions.thist
    npx = labels.shape[0]
    cc = cbins.shape[1]
    ct = tbins.shape[1]
    n_color = chist.shape[1] // cc
    n_tex = thist.shape[1] // ct
    for p in range(npx):
        r = labels[p]
        y = p // width
        x = p - y * width
        size[r] += 1
        if x < bbox[r, 0]:
            bbox[r, 0] = x
        if y < bbox[r, 1]:
            bbox[r, 1] = y
        if x > bbox[r, 2]:
            bbox[r, 2] = x
        if y > bbox[r, 3]:
            bbox[r, 3] = y
        for c in range(cc):
            chist[r, c * n_color + cbins[p, c]] += 1.0
        for c in range(ct):
            thist[r, c * n_tex + tbins[p, c]] += 1.0
    for r in range(size.shape[0]):
        if size[r] > 0:
            sc = 1.0 / (size[r] * cc)
            for j in range(chist.shape[1]):
                chist[r, j] *= sc
            st = 1.0 / (size[r] * ct)
            for j in range(thist.shape[1]):
                thist[r, j] *= st


# ---------------------------------------------------------------------------
# hierarchical grouping
# ---------------------------------------------------------------------------


@jit(inline="always")
def _heap_less(hs, hq, i, j):
    # True when entry i has lower priority than j: smaller similarity, or equal
    # similarity and later insertion.
    return hs[i] < hs[j] or (hs[i] == hs[j] and hq[i] > hq[j])


@jit
def _heap_swap(hs, ha, hb, hq, i, j):
    hs[i], hs[j] = hs[j], hs[i]
    ha[i], ha[j] = ha[j], ha[i]
    hb[i], hb[j] = hb[j], hb[i]
    hq[i], hq[j] = hq[j], hq[i]


@jit
def _sift_up(hs, ha, hb, hq, i):
    while i > 0:
        p = (i - 1) // 2
        if _heap_less(hs, hq, p, i):
            _heap_swap(hs, ha, hb, hq, p, i)
            i = p
        else:
            break


@jit
def _sift_down(hs, ha, hb, hq, i, n):
    while True:
        left = 2 * i + 1
        if left >= n:
            break
        big = left
        right = left + 1
        if right < n and _heap_less(hs, hq, left, right):
            big = right
        if _heap_less(hs, hq, i, big):
            _heap_swap(hs, ha, hb, hq, i, big)
            i = big
        else:
            break


@jit
def _similarity(a, b, slot, reg, sims, im_size):
    size = reg.size
    bbox = reg.bbox
    chist = reg.chist
    thist = reg.thist
    s = 0.0
    sa = slot[a]
    sb = slot[b]
    if sims.colour:
        acc = 0.0
        for j in range(chist.shape[1]):
            acc += min(chist[sa, j], chist[sb, j])
        s += acc
    if sims.texture:
        acc = 0.0
        for j in range(thist.shape[1]):
            acc += min(thist[sa, j], thist[sb, j])
        s += acc
    if sims.size:
        s += 1.0 - (size[a] + size[b]) / im_size
    if sims.fill:
        bw = max(bbox[a, 2], bbox[b, 2]) - min(bbox[a, 0], bbox[b, 0]) + 1
        bh = max(bbox[a, 3], bbox[b, 3]) - min(bbox[a, 1], bbox[b, 1]) + 1
        s += 1.0 - (bw * bh - size[a] - size[b]) / im_size
    return s


@jit
def _grow(arr, new_len):
    out = np.empty(new_len, dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out


@jit
def hierarchical_grouping(reg, sims, im_size):
    """Greedy hierarchical grouping (Uijlings et al. 2013, Algorithm 1).

    reg: a :class:`Regions` whose first ``reg.n`` rows are filled (its arrays are
    overwritten: pass a copy to keep them); sims: a :class:`Similarity`; im_size: the
    image's pixel count. Repeatedly merges the most similar neighbouring pair (ties: the
    pair whose similarity was computed first) into a new region ``n, n + 1, ...`` whose
    size/bbox are written to ``reg.size`` / ``reg.bbox``, whose histograms are the
    size-weighted mean, and whose neighbours are the union of its parts' neighbours.
    Returns the number of regions created in total (``2 n - 1`` when the neighbour
    graph is connected).

    Cost: O((E + sum of merged-region degrees) (log E + D)) with D the
    histogram length; memory O(n D + E).
    """
    n0 = reg.n
    pairs = reg.pairs
    size = reg.size
    bbox = reg.bbox
    chist = reg.chist
    thist = reg.thist
    total = 2 * n0 - 1 if n0 > 0 else 0
    slot = np.arange(total)
    alive = np.zeros(total, dtype=np.bool_)
    alive[:n0] = True
    ne = pairs.shape[0]

    # adjacency: doubly linked lists of half-edges; twin = the reverse half-edge
    cap = max(2 * ne, 16)
    nval = np.empty(cap, dtype=np.int64)
    nnext = np.empty(cap, dtype=np.int64)
    nprev = np.empty(cap, dtype=np.int64)
    ntwin = np.empty(cap, dtype=np.int64)
    head = np.full(total, -1, dtype=np.int64)
    free_top = -1  # free list threaded through nnext
    used = 0

    # heap of candidate merges
    hcap = max(ne, 16)
    hs = np.empty(hcap, dtype=np.float64)
    ha = np.empty(hcap, dtype=np.int64)
    hb = np.empty(hcap, dtype=np.int64)
    hq = np.empty(hcap, dtype=np.int64)
    hn = 0
    seq = 0

    # stamp array for neighbour de-duplication, and a scratch neighbour list
    stamp = np.full(total, -1, dtype=np.int64)
    scratch = np.empty(total, dtype=np.int64)

    for e in range(ne):
        a = pairs[e, 0]
        b = pairs[e, 1]
        for side in range(2):
            u = a if side == 0 else b
            v = b if side == 0 else a
            node = used
            used += 1
            nval[node] = v
            nprev[node] = -1
            nnext[node] = head[u]
            if head[u] >= 0:
                nprev[head[u]] = node
            head[u] = node
        ntwin[used - 1] = used - 2
        ntwin[used - 2] = used - 1
        hs[hn] = _similarity(a, b, slot, reg, sims, im_size)
        ha[hn] = a
        hb[hn] = b
        hq[hn] = seq
        seq += 1
        hn += 1
    for i in range(hn // 2 - 1, -1, -1):
        _sift_down(hs, ha, hb, hq, i, hn)

    nxt = n0
    while hn > 0:
        a = ha[0]
        b = hb[0]
        hn -= 1
        if hn > 0:
            _heap_swap(hs, ha, hb, hq, 0, hn)
            _sift_down(hs, ha, hb, hq, 0, hn)
        if not (alive[a] and alive[b]):
            continue
        t = nxt
        nxt += 1
        sa = size[a]
        sb = size[b]
        size[t] = sa + sb
        bbox[t, 0] = min(bbox[a, 0], bbox[b, 0])
        bbox[t, 1] = min(bbox[a, 1], bbox[b, 1])
        bbox[t, 2] = max(bbox[a, 2], bbox[b, 2])
        bbox[t, 3] = max(bbox[a, 3], bbox[b, 3])
        pa = slot[a]
        pb = slot[b]
        inv = 1.0 / (sa + sb)
        for j in range(chist.shape[1]):
            chist[pa, j] = (sa * chist[pa, j] + sb * chist[pb, j]) * inv
        for j in range(thist.shape[1]):
            thist[pa, j] = (sa * thist[pa, j] + sb * thist[pb, j]) * inv
        slot[t] = pa
        alive[a] = False
        alive[b] = False
        alive[t] = True

        # collect the neighbours of a and b, unlinking their half-edges
        nn = 0
        first = -1
        for side in range(2):
            u = a if side == 0 else b
            node = head[u]
            while node >= 0:
                v = nval[node]
                tw = ntwin[node]
                # unlink twin from v's list
                if nprev[tw] >= 0:
                    nnext[nprev[tw]] = nnext[tw]
                else:
                    head[v] = nnext[tw]
                if nnext[tw] >= 0:
                    nprev[nnext[tw]] = nprev[tw]
                after = nnext[node]
                # free node and twin
                nnext[tw] = free_top
                free_top = tw
                nnext[node] = free_top
                free_top = node
                if alive[v] and stamp[v] != t:
                    stamp[v] = t
                    scratch[nn] = v
                    nn += 1
                node = after
            head[u] = -1

        # link t to its neighbours and queue the new similarities
        for q in range(nn):
            v = scratch[q]
            for side in range(2):
                u = t if side == 0 else v
                w = v if side == 0 else t
                if free_top >= 0:
                    node = free_top
                    free_top = nnext[node]
                else:
                    if used >= nval.shape[0]:
                        newc = 2 * nval.shape[0]
                        nval = _grow(nval, newc)
                        nnext = _grow(nnext, newc)
                        nprev = _grow(nprev, newc)
                        ntwin = _grow(ntwin, newc)
                    node = used
                    used += 1
                nval[node] = w
                nprev[node] = -1
                nnext[node] = head[u]
                if head[u] >= 0:
                    nprev[head[u]] = node
                head[u] = node
                if side == 0:
                    first = node
                else:
                    ntwin[node] = first
                    ntwin[first] = node
            if hn >= hs.shape[0]:
                # drop stale entries first; grow only if the heap stays over half full
                m = 0
                for i in range(hn):
                    if alive[ha[i]] and alive[hb[i]]:
                        hs[m] = hs[i]
                        ha[m] = ha[i]
                        hb[m] = hb[i]
                        hq[m] = hq[i]
                        m += 1
                hn = m
                for i in range(hn // 2 - 1, -1, -1):
                    _sift_down(hs, ha, hb, hq, i, hn)
                if hn * 2 >= hs.shape[0]:
                    newc = 2 * hs.shape[0]
                    hs = _grow(hs, newc)
                    ha = _grow(ha, newc)
                    hb = _grow(hb, newc)
                    hq = _grow(hq, newc)
            hs[hn] = _similarity(t, v, slot, reg, sims, im_size)
            ha[hn] = t
            hb[hn] = v
            hq[hn] = seq
            seq += 1
            _sift_up(hs, ha, hb, hq, hn)
            hn += 1
    return nxt
