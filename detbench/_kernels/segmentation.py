"""Numba kernels for selective search (Uijlings et al. 2013).

* Felzenszwalb–Huttenlocher graph segmentation (IJCV 2004) on an
  8-connected pixel grid: :func:`grid_edge_weights`, :func:`sort_edges`,
  :func:`fh_segment`.
* Region descriptors (size, bounding box, colour and texture histograms):
  :func:`region_features`.
* Greedy hierarchical grouping with a max-heap of neighbour similarities and
  doubly linked adjacency lists: :func:`hierarchical_grouping`.

All allocation of outputs is done by the caller (:mod:`detbench.proposals`);
the grouping kernel grows its internal heap and adjacency pools by doubling.
"""

from __future__ import annotations

import numpy as np

from detbench._jit import jit

# ---------------------------------------------------------------------------
# Felzenszwalb-Huttenlocher
# ---------------------------------------------------------------------------


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

    LSD radix sort (3 passes of 11 bits) of the float32-rounded keys carrying
    the edge index, then an insertion-sort fix-up of each run of equal
    float32 keys by the exact float64 weight (rounding is monotone, so this
    restores the float64 order; runs are short). order: (N,) int64 out;
    sorted_w: (N,) float64 out, ``ew[order]``. Returns the number of finite
    weights (they come first). O(N).
    """
    n = ew.shape[0]
    k32 = ew.astype(np.float32).view(np.uint32)
    ka = np.empty(n, dtype=np.uint32)
    kb = np.empty(n, dtype=np.uint32)
    ia = np.empty(n, dtype=np.int64)
    ib = np.empty(n, dtype=np.int64)
    for i in range(n):
        ka[i] = k32[i]
        ia[i] = i
    count = np.empty(2049, dtype=np.int64)
    mask = np.uint32(0x7FF)
    for p in range(3):
        shift = np.uint32(11 * p)
        count[:] = 0
        for i in range(n):
            count[((ka[i] >> shift) & mask) + 1] += 1
        for d in range(2048):
            count[d + 1] += count[d]
        for i in range(n):
            d = (ka[i] >> shift) & mask
            j = count[d]
            kb[j] = ka[i]
            ib[j] = ia[i]
            count[d] += 1
        ka, kb = kb, ka
        ia, ib = ib, ia
    # fix-up: inside runs of equal float32 keys order by (float64 weight, index)
    start = 0
    while start < n:
        stop = start + 1
        while stop < n and ka[stop] == ka[start]:
            stop += 1
        if stop - start > 1:
            for i in range(start + 1, stop):
                cur = ia[i]
                wc = ew[cur]
                j = i - 1
                while j >= start and ew[ia[j]] > wc:
                    ia[j + 1] = ia[j]
                    j -= 1
                ia[j + 1] = cur
        start = stop
    n_finite = 0
    for i in range(n):
        order[i] = ia[i]
        v = ew[ia[i]]
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
def fh_segment(order, sorted_w, n_edges, width, n_pixels, k, min_size, labels):
    """Felzenszwalb–Huttenlocher segmentation of the grid graph of :func:`grid_edge_weights`.

    Visits the first ``n_edges`` edges of ``order`` (ascending weight
    ``sorted_w``, from :func:`sort_edges`). Components ``C1 != C2`` joined by
    an edge of weight ``w`` merge when ``w <= min(Int(C1) + k/|C1|, Int(C2) +
    k/|C2|)`` (``Int`` = largest MST edge inside = the weight of the edge
    that last merged it). Then, in the same order, an edge whose components
    are different and one of them smaller than ``min_size`` merges them.
    ``labels`` (n_pixels,) int64 receives component ids ``0..R-1`` numbered
    in raster order of their first pixel; returns R. O(E alpha(E)).
    """
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


# ---------------------------------------------------------------------------
# region descriptors
# ---------------------------------------------------------------------------


@jit
def region_features(labels, width, cbins, tbins, n_color, n_tex, size, bbox, chist, thist):
    """Accumulate per-region descriptors.

    labels: (P,) region id per pixel (raster order, P = H * width);
    cbins: (P, Cc) colour histogram bin index per pixel and channel;
    tbins: (P, Ct) texture bin index per pixel and (channel, orientation);
    n_color / n_tex: bins per channel / per (channel, orientation).
    Outputs (zeroed by the caller except bbox): size (R,), bbox (R, 4) as
    (xmin, ymin, xmax, ymax) inclusive pixel indices (init to (big, big, -1,
    -1)), chist (R, Cc n_color) and thist (R, Ct n_tex) L1-normalised
    histograms. O(P (Cc + Ct)).
    """
    npx = labels.shape[0]
    cc = cbins.shape[1]
    ct = tbins.shape[1]
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
def _similarity(a, b, slot, size, bbox, chist, thist, im_size, wc, wt, ws, wf):
    s = 0.0
    sa = slot[a]
    sb = slot[b]
    if wc:
        acc = 0.0
        for j in range(chist.shape[1]):
            acc += min(chist[sa, j], chist[sb, j])
        s += acc
    if wt:
        acc = 0.0
        for j in range(thist.shape[1]):
            acc += min(thist[sa, j], thist[sb, j])
        s += acc
    if ws:
        s += 1.0 - (size[a] + size[b]) / im_size
    if wf:
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
def hierarchical_grouping(n0, pairs, size, bbox, chist, thist, im_size, wc, wt, ws, wf):
    """Greedy hierarchical grouping (Uijlings et al. 2013, Algorithm 1).

    n0: number of initial regions; pairs: (E, 2) int64 unique neighbour pairs
    (a < b); size: (2 n0 - 1,) int64 and bbox: (2 n0 - 1, 4) int64 with the
    first n0 rows filled (inclusive pixel boxes); chist/thist: (n0, .) float64
    normalised histograms (overwritten). wc/wt/ws/wf: use colour, texture,
    size, fill similarity. Repeatedly merges the most similar neighbouring
    pair (ties: the pair whose similarity was computed first) into a new
    region ``n0, n0 + 1, ...`` whose size/bbox are written to size/bbox, whose
    histograms are the size-weighted mean, and whose neighbours are the union
    of its parts' neighbours. Returns the number of regions created in total
    (``2 n0 - 1`` when the neighbour graph is connected).

    Cost: O((E + sum of merged-region degrees) (log E + D)) with D the
    histogram length; memory O(n0 D + E).
    """
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
        hs[hn] = _similarity(a, b, slot, size, bbox, chist, thist, im_size, wc, wt, ws, wf)
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
            hs[hn] = _similarity(t, v, slot, size, bbox, chist, thist, im_size, wc, wt, ws, wf)
            ha[hn] = t
            hb[hn] = v
            hq[hn] = seq
            seq += 1
            _sift_up(hs, ha, hb, hq, hn)
            hn += 1
    return nxt


# ---------------------------------------------------------------------------
# image filtering and sorting helpers
# ---------------------------------------------------------------------------


@jit(inline="always")
def _reflect(i, n):
    # half-sample symmetric extension (scipy.ndimage mode "reflect"): d c b a | a b c d | d c b a
    period = 2 * n
    i = i % period
    if i < 0:
        i += period
    if i >= n:
        i = period - 1 - i
    return i


@jit
def separable_correlate(img, kx, ky, tmp, out):
    """out = img correlated with ky along rows (axis 0) and kx along columns (axis 1).

    img, tmp, out: (H, W, C) float64; kx, ky: odd-length kernels; symmetric
    (half-sample) borders. O(HW C (len kx + len ky)).
    """
    h, w, c = img.shape
    nx = kx.shape[0]
    ny = ky.shape[0]
    rx = nx // 2
    ry = ny // 2
    ix = np.empty((w, nx), dtype=np.int64)
    for x in range(w):
        for t in range(nx):
            ix[x, t] = _reflect(x + t - rx, w)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                s = 0.0
                for t in range(nx):
                    s += kx[t] * img[y, ix[x, t], ch]
                tmp[y, x, ch] = s
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                out[y, x, ch] = 0.0
        for t in range(ny):
            row = _reflect(y + t - ry, h)
            k = ky[t]
            for x in range(w):
                for ch in range(c):
                    out[y, x, ch] += k * tmp[row, x, ch]


@jit
def texture_bins(gx, gy, cos_t, sin_t, n_bins, out):
    """Bin the rectified oriented derivatives max(0, cos t gx + sin t gy).

    gx, gy: (H, W, C); cos_t, sin_t: (O,); out: (H*W, C*O) int64, column
    ``c*O + o``. The bin range per channel is [0, largest response of that
    channel]. O(HW C O).
    """
    h, w, c = gx.shape
    no = cos_t.shape[0]
    for ch in range(c):
        top = 0.0
        for y in range(h):
            for x in range(w):
                for o in range(no):
                    r = cos_t[o] * gx[y, x, ch] + sin_t[o] * gy[y, x, ch]
                    if r > top:
                        top = r
        scale = n_bins / top if top > 0 else 0.0
        for y in range(h):
            for x in range(w):
                p = y * w + x
                for o in range(no):
                    r = cos_t[o] * gx[y, x, ch] + sin_t[o] * gy[y, x, ch]
                    b = 0
                    if r > 0:
                        b = int(r * scale)
                        if b >= n_bins:
                            b = n_bins - 1
                    out[p, ch * no + o] = b


@jit
def rgb_to_hsv(rgb, out):
    """RGB (H, W, 3) in [0, 255] -> HSV with each channel in [0, 255] (hue 0..360 deg -> 0..255). O(HW)."""
    h, w, _ = rgb.shape
    for y in range(h):
        for x in range(w):
            r = rgb[y, x, 0] / 255.0
            g = rgb[y, x, 1] / 255.0
            b = rgb[y, x, 2] / 255.0
            v = max(r, g, b)
            c = v - min(r, g, b)
            s = c / v if v > 0.0 else 0.0
            if c <= 0.0:
                hue = 0.0
            elif v == r:
                hue = ((g - b) / c) % 6.0
            elif v == g:
                hue = (b - r) / c + 2.0
            else:
                hue = (r - g) / c + 4.0
            out[y, x, 0] = hue / 6.0 * 255.0
            out[y, x, 1] = s * 255.0
            out[y, x, 2] = v * 255.0


@jit(inline="always")
def _srgb_linear(c):
    if c > 0.04045:
        return ((c + 0.055) / 1.055) ** 2.4
    return c / 12.92


@jit(inline="always")
def _lab_f(t):
    if t > 0.008856451679035631:  # (6/29)^3
        return np.cbrt(t)
    return t / 0.12841854934601665 + 4.0 / 29.0  # t / (3 (6/29)^2) + 4/29


@jit
def rgb_to_lab(rgb, m, white, out):
    """sRGB (H, W, 3) in [0, 255] -> CIE L*a*b*, scaled to [0, 255] as (2.55 L, a + 128, b + 128), clipped.

    m: (3, 3) linear-RGB -> XYZ matrix; white: (3,) reference white. O(HW).
    """
    h, w, _ = rgb.shape
    for y in range(h):
        for x in range(w):
            r = _srgb_linear(rgb[y, x, 0] / 255.0)
            g = _srgb_linear(rgb[y, x, 1] / 255.0)
            b = _srgb_linear(rgb[y, x, 2] / 255.0)
            fx = _lab_f((m[0, 0] * r + m[0, 1] * g + m[0, 2] * b) / white[0])
            fy = _lab_f((m[1, 0] * r + m[1, 1] * g + m[1, 2] * b) / white[1])
            fz = _lab_f((m[2, 0] * r + m[2, 1] * g + m[2, 2] * b) / white[2])
            vals = (2.55 * (116.0 * fy - 16.0), 500.0 * (fx - fy) + 128.0, 200.0 * (fy - fz) + 128.0)
            for ch in range(3):
                v = vals[ch]
                out[y, x, ch] = min(max(v, 0.0), 255.0)
