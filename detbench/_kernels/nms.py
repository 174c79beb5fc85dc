"""Numba kernels behind :mod:`detbench.nms`.

All kernels take plain 1-D coordinate arrays (``x1, y1, x2, y2``) of one float
dtype and never allocate their large outputs: the Python layer in
:mod:`detbench.nms` validates, allocates and calls them.

Pairwise overlap is always evaluated with the same arithmetic as torchvision's
CPU NMS kernel, in the boxes' own dtype::

    w = max(0, min(ax2, bx2) - max(ax1, bx1) + off)
    h = max(0, min(ay2, by2) - max(ay1, by1) + off)
    inter = w * h
    iou = inter / (area_a + area_b - inter)

with ``area = (x2 - x1 + off) * (y2 - y1 + off)`` and ``off`` 0 (or 1 for the
legacy pixel convention). Every expression is symmetric in ``a`` and ``b``, so
``iou(a, b)`` and ``iou(b, a)`` are the same bits, which is what lets the grid
strategies visit pairs in any order and still return exactly the plain greedy
answer.

Spatial grid
------------
The grid kernels cover the boxes' bounding rectangle with ``ncols x nrows``
cells; a box is registered in every cell its padded extent touches. Two boxes
with a positive intersection overlap on an open interval in x and in y, and the
cell index ``floor((v - g0) * inv)`` is monotonic in ``v``, so they always share
a cell: testing only boxes found in the candidate's own cells is exact, not an
approximation. (The extents are padded by a tiny margin so rounding of the cell
index can only add candidates, never lose one.) Pairs with zero intersection
never suppress under the thresholds the grid is used for (the Python layer
falls back to the simple loop otherwise).
"""

from __future__ import annotations

import math

import numpy as np

from detbench._jit import jit

# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


@jit(inline="always")
def _cell(v, g0, inv, n):
    """Grid cell of coordinate ``v`` (float64 arithmetic), clamped to ``[0, n)``."""
    t = (v - g0) * inv
    if t <= 0.0:
        return 0
    c = int(t)
    if c >= n:
        return n - 1
    return c


@jit(inline="always")
def _overlap(ax1, ay1, ax2, ay2, aarea, bx1, by1, bx2, by2, barea, zero, off):
    """(inter, iou) of two boxes with torchvision's arithmetic, in their dtype."""
    w = max(zero, min(ax2, bx2) - max(ax1, bx1) + off)
    h = max(zero, min(ay2, by2) - max(ay1, by1) + off)
    inter = w * h
    return inter, inter / (aarea + barea - inter)


@jit(inline="always")
def _diou_penalty(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, beta):
    """DIoU penalty ``(d^2 / c^2) ** beta`` in float64 (0 when ``c == 0``)."""
    dx = (float(ax1) + float(ax2)) - (float(bx1) + float(bx2))
    dy = (float(ay1) + float(ay2)) - (float(by1) + float(by2))
    d2 = 0.25 * (dx * dx + dy * dy)
    cw = float(max(ax2, bx2)) - float(min(ax1, bx1))
    ch = float(max(ay2, by2)) - float(min(ay1, by1))
    c2 = cw * cw + ch * ch
    if c2 <= 0.0:
        return 0.0
    r = d2 / c2
    if beta == 1.0:
        return r
    return r**beta


@jit(inline="always")
def _suppresses(ax1, ay1, ax2, ay2, aarea, bx1, by1, bx2, by2, barea, zero, off, thr, inclusive, mode, beta):
    """Does kept box ``a`` suppress candidate ``b``? mode 0: IoU, mode 1: DIoU."""
    inter, iou = _overlap(ax1, ay1, ax2, ay2, aarea, bx1, by1, bx2, by2, barea, zero, off)
    if mode == 0:
        v = float(iou)
    else:
        v = float(iou) - _diou_penalty(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, beta)
    if inclusive:
        return v >= thr
    return v > thr


# ---------------------------------------------------------------------------
# stable descending argsort (LSD radix on the float bit pattern)
# ---------------------------------------------------------------------------


@jit
def desc_keys32(scores, keys):
    """uint32 keys whose ascending order is the descending order of float32 ``scores``.

    ``-0.0`` is folded onto ``+0.0`` (they compare equal, so they must tie).
    """
    u = scores.view(np.uint32)
    for i in range(scores.shape[0]):
        b = u[i]
        if scores[i] == 0:
            b = np.uint32(0)
        if b >= np.uint32(0x80000000):
            keys[i] = b
        else:
            keys[i] = ~b & np.uint32(0x7FFFFFFF)


@jit
def desc_keys64(scores, keys):
    """uint64 keys whose ascending order is the descending order of float64 ``scores``."""
    u = scores.view(np.uint64)
    for i in range(scores.shape[0]):
        b = u[i]
        if scores[i] == 0:
            b = np.uint64(0)
        if b >= np.uint64(0x8000000000000000):
            keys[i] = b
        else:
            keys[i] = ~b & np.uint64(0x7FFFFFFFFFFFFFFF)


@jit
def radix_argsort(keys, nbits, idx, tmp_idx, tmp_keys):
    """Stable ascending argsort of unsigned ``keys`` (LSD radix, 11-bit digits).

    ``idx`` receives the permutation; ``tmp_idx``/``tmp_keys`` are scratch of the
    same length. ``keys`` is overwritten. Digits whose value is the same for
    every key are skipped. Cost O(N * passes + 2048 * passes).
    """
    n = keys.shape[0]
    for i in range(n):
        idx[i] = i
    if n < 2:
        return
    radix = 11
    nb = 1 << radix
    npass = (nbits + radix - 1) // radix
    hist = np.zeros((npass, nb), dtype=np.int64)
    mask = keys.dtype.type(nb - 1)
    for i in range(n):
        k = keys[i]
        for p in range(npass):
            hist[p, int((k >> keys.dtype.type(p * radix)) & mask)] += 1
    src_k = keys
    src_i = idx
    dst_k = tmp_keys
    dst_i = tmp_idx
    swapped = False
    for p in range(npass):
        h = hist[p]
        single = False
        for b in range(nb):
            if h[b] == n:
                single = True
                break
            if h[b] != 0:
                break
        if single:
            continue
        total = 0
        for b in range(nb):
            c = h[b]
            h[b] = total
            total += c
        shift = keys.dtype.type(p * radix)
        for i in range(n):
            k = src_k[i]
            d = int((k >> shift) & mask)
            o = h[d]
            h[d] = o + 1
            dst_k[o] = k
            dst_i[o] = src_i[i]
        src_k, dst_k = dst_k, src_k
        src_i, dst_i = dst_i, src_i
        swapped = not swapped
    if swapped:
        for i in range(n):
            idx[i] = tmp_idx[i]


# ---------------------------------------------------------------------------
# greedy NMS: simple loop (small N)
# ---------------------------------------------------------------------------


@jit
def greedy_simple(sx1, sy1, sx2, sy2, thr, inclusive, off, mode, beta, suppress_all, sup, keep):
    """Greedy NMS on boxes already sorted by decreasing score (simple loop).

    Each surviving box, in order, is tested against every later box in a
    branch-free loop and marks the ones it suppresses. With ``suppress_all``
    every box suppresses, kept or not (Fast NMS). ``keep`` receives sorted
    positions of kept boxes; returns their count. Cost O(N * K) tests for K
    kept boxes; valid for any threshold.
    """
    n = sx1.shape[0]
    zero = sx1.dtype.type(0)
    offv = sx1.dtype.type(off)
    nk = 0
    for i in range(n):
        sup[i] = False
    for i in range(n):
        if not sup[i]:
            keep[nk] = i
            nk += 1
        elif not suppress_all:
            continue
        ax1 = sx1[i]
        ay1 = sy1[i]
        ax2 = sx2[i]
        ay2 = sy2[i]
        aarea = (ax2 - ax1 + offv) * (ay2 - ay1 + offv)
        for j in range(i + 1, n):
            barea = (sx2[j] - sx1[j] + offv) * (sy2[j] - sy1[j] + offv)
            s = _suppresses(
                ax1, ay1, ax2, ay2, aarea, sx1[j], sy1[j], sx2[j], sy2[j], barea, zero, offv, thr, inclusive, mode, beta
            )
            sup[j] = sup[j] | s
    return nk


# ---------------------------------------------------------------------------
# grid geometry
# ---------------------------------------------------------------------------


@jit
def grid_geometry(x1, y1, x2, y2, lo, hi, off, factor, max_cells):
    """Grid over boxes ``lo:hi``: (pad, gx0, gy0, inv_w, inv_h, ncols, nrows).

    Cells are ``factor`` times the mean box size (``off`` added to extents),
    at most ``max_cells`` in all (the larger side is halved until it fits).
    ``pad`` is a margin far above float64 rounding of the coordinates.
    """
    gx0 = np.inf
    gy0 = np.inf
    gx1 = -np.inf
    gy1 = -np.inf
    sw = 0.0
    sh = 0.0
    for i in range(lo, hi):
        a = float(x1[i])
        b = float(y1[i])
        c = float(x2[i])
        d = float(y2[i])
        gx0 = min(gx0, a)
        gy0 = min(gy0, b)
        gx1 = max(gx1, c)
        gy1 = max(gy1, d)
        sw += c - a
        sh += d - b
    n = max(hi - lo, 1)
    if hi <= lo:
        gx0 = 0.0
        gy0 = 0.0
        gx1 = 0.0
        gy1 = 0.0
    gx1 += off
    gy1 += off
    ex = gx1 - gx0
    ey = gy1 - gy0
    cw = (sw / n + off) * factor
    ch = (sh / n + off) * factor
    ncols = 1
    nrows = 1
    if ex > 0.0 and cw > 0.0:
        ncols = int(min(max(ex / cw, 1.0), 65536.0))
    if ey > 0.0 and ch > 0.0:
        nrows = int(min(max(ey / ch, 1.0), 65536.0))
    while ncols * nrows > max_cells:
        if ncols >= nrows:
            ncols = (ncols + 1) // 2
        else:
            nrows = (nrows + 1) // 2
    inv_w = ncols / ex if ex > 0.0 else 0.0
    inv_h = nrows / ey if ey > 0.0 else 0.0
    pad = 1e-9 * (abs(gx0) + abs(gx1) + abs(gy0) + abs(gy1)) + 1e-30
    return pad, gx0, gy0, inv_w, inv_h, ncols, nrows


@jit(inline="always")
def _box_cells(x1, y1, x2, y2, off, pad, gx0, gy0, inv_w, inv_h, ncols, nrows):
    c0 = _cell(float(x1) - pad, gx0, inv_w, ncols)
    c1 = _cell(float(x2) + off + pad, gx0, inv_w, ncols)
    r0 = _cell(float(y1) - pad, gy0, inv_h, nrows)
    r1 = _cell(float(y2) + off + pad, gy0, inv_h, nrows)
    return c0, c1, r0, r1


@jit
def plan_segments(sx1, sy1, sx2, sy2, seg, off, factor, cells_per_box):
    """Largest cell count and registration count over the segments ``seg``."""
    max_cells = 1
    max_cap = 1
    for s in range(seg.shape[0] - 1):
        lo = seg[s]
        hi = seg[s + 1]
        if hi <= lo:
            continue
        pad, gx0, gy0, inv_w, inv_h, ncols, nrows = grid_geometry(
            sx1, sy1, sx2, sy2, lo, hi, off, factor, max(64, cells_per_box * (hi - lo))
        )
        cap = 0
        for i in range(lo, hi):
            c0, c1, r0, r1 = _box_cells(sx1[i], sy1[i], sx2[i], sy2[i], off, pad, gx0, gy0, inv_w, inv_h, ncols, nrows)
            cap += (c1 - c0 + 1) * (r1 - r0 + 1)
        max_cells = max(max_cells, ncols * nrows)
        max_cap = max(max_cap, cap)
    return max_cells, max_cap


# ---------------------------------------------------------------------------
# greedy NMS: spatial grid (large N), per segment (class)
# ---------------------------------------------------------------------------


@jit
def greedy_grid(
    sx1,
    sy1,
    sx2,
    sy2,
    seg,
    thr,
    inclusive,
    off,
    mode,
    beta,
    suppress_all,
    shrink,
    factor,
    cells_per_box,
    head,
    nxt,
    ent,
    kx1,
    ky1,
    kx2,
    ky2,
    karea,
    keep,
):
    """Greedy NMS with a spatial grid, independently on each segment.

    Boxes are sorted so that each segment ``seg[s]:seg[s+1]`` (a class) is in
    decreasing score order. Each candidate is tested only against the kept
    boxes (all boxes with ``suppress_all``) registered in the cells under its
    query rectangle: the box shrunk by ``shrink`` of its size on each side
    (collapsed to the centre when ``shrink >= 0.5``). A box ``a`` with
    ``IoU(a, b) > t`` overlaps ``b`` by more than ``t`` of ``b``'s width and of
    its height, so it meets that rectangle whenever ``shrink`` is slightly
    below the threshold (the caller passes ``0.99999 * t``). Kept boxes are
    registered in every cell their extent touches.

    ``keep`` receives sorted positions of kept boxes (segment by segment);
    returns their count. Cost about O(N * boxes met per query), near-linear
    for realistic detections.
    """
    zero = sx1.dtype.type(0)
    offv = sx1.dtype.type(off)
    nk = 0
    for s in range(seg.shape[0] - 1):
        lo = seg[s]
        hi = seg[s + 1]
        if hi <= lo:
            continue
        pad, gx0, gy0, inv_w, inv_h, ncols, nrows = grid_geometry(
            sx1, sy1, sx2, sy2, lo, hi, off, factor, max(64, cells_per_box * (hi - lo))
        )
        for c in range(ncols * nrows):
            head[c] = -1
        nreg = 0
        ne = 0
        for t in range(lo, hi):
            bx1 = sx1[t]
            by1 = sy1[t]
            bx2 = sx2[t]
            by2 = sy2[t]
            barea = (bx2 - bx1 + offv) * (by2 - by1 + offv)
            fx1 = float(bx1)
            fy1 = float(by1)
            fx2 = float(bx2) + off
            fy2 = float(by2) + off
            sw = shrink * (fx2 - fx1)
            sh = shrink * (fy2 - fy1)
            qx1 = fx1 + sw
            qx2 = fx2 - sw
            if qx1 > qx2:
                qx1 = 0.5 * (qx1 + qx2)
                qx2 = qx1
            qy1 = fy1 + sh
            qy2 = fy2 - sh
            if qy1 > qy2:
                qy1 = 0.5 * (qy1 + qy2)
                qy2 = qy1
            c0 = _cell(qx1 - pad, gx0, inv_w, ncols)
            c1 = _cell(qx2 + pad, gx0, inv_w, ncols)
            r0 = _cell(qy1 - pad, gy0, inv_h, nrows)
            r1 = _cell(qy2 + pad, gy0, inv_h, nrows)
            sup = False
            for r in range(r0, r1 + 1):
                base = r * ncols
                for c in range(c0, c1 + 1):
                    e = head[base + c]
                    while e >= 0:
                        k = ent[e]
                        if _suppresses(
                            kx1[k],
                            ky1[k],
                            kx2[k],
                            ky2[k],
                            karea[k],
                            bx1,
                            by1,
                            bx2,
                            by2,
                            barea,
                            zero,
                            offv,
                            thr,
                            inclusive,
                            mode,
                            beta,
                        ):
                            sup = True
                            break
                        e = nxt[e]
                    if sup:
                        break
                if sup:
                    break
            if not sup:
                keep[nk] = t
                nk += 1
            if (not sup) or suppress_all:
                kx1[nreg] = bx1
                ky1[nreg] = by1
                kx2[nreg] = bx2
                ky2[nreg] = by2
                karea[nreg] = barea
                c0, c1, r0, r1 = _box_cells(bx1, by1, bx2, by2, off, pad, gx0, gy0, inv_w, inv_h, ncols, nrows)
                for r in range(r0, r1 + 1):
                    base = r * ncols
                    for c in range(c0, c1 + 1):
                        ent[ne] = nreg
                        nxt[ne] = head[base + c]
                        head[base + c] = ne
                        ne += 1
                nreg += 1
    return nk


@jit
def group_by_class(order, slot, nslots, grouped, seg):
    """Stable counting sort of ``order`` by ``slot[order]``; ``seg`` gets class bounds."""
    cnt = np.zeros(nslots + 1, dtype=np.int64)
    for t in range(order.shape[0]):
        cnt[slot[order[t]] + 1] += 1
    for c in range(nslots):
        cnt[c + 1] += cnt[c]
    for c in range(nslots + 1):
        seg[c] = cnt[c]
    for t in range(order.shape[0]):
        i = order[t]
        c = slot[i]
        grouped[cnt[c]] = i
        cnt[c] += 1


@jit
def emit_in_order(order, kept_mask, out):
    """Indices of ``order`` whose ``kept_mask`` is set, in ``order``'s order."""
    m = 0
    for t in range(order.shape[0]):
        i = order[t]
        if kept_mask[i]:
            out[m] = i
            m += 1
    return m


# ---------------------------------------------------------------------------
# static grid of all boxes and the intersecting pairs (Soft-NMS, float64)
# ---------------------------------------------------------------------------


@jit
def static_grid(x1, y1, x2, y2, pad, gx0, gy0, inv_w, inv_h, ncols, nrows, c0, c1, r0, r1, start):
    """Cell ranges of every box and CSR offsets ``start`` (ncells + 1) of the cell lists."""
    ncell = ncols * nrows
    for c in range(ncell + 1):
        start[c] = 0
    for i in range(x1.shape[0]):
        a, b, p, q = _box_cells(x1[i], y1[i], x2[i], y2[i], 0.0, pad, gx0, gy0, inv_w, inv_h, ncols, nrows)
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
def static_fill(c0, c1, r0, r1, ncols, start, items):
    """Fill the cell lists (box ids in increasing order within each cell)."""
    ncell = start.shape[0] - 1
    fill = start[:ncell].copy()
    for i in range(c0.shape[0]):
        for r in range(r0[i], r1[i] + 1):
            for c in range(c0[i], c1[i] + 1):
                cell = r * ncols + c
                items[fill[cell]] = i
                fill[cell] += 1


@jit
def soft_pairs(x1, y1, x2, y2, c0, c1, r0, r1, ncols, start, items, min_iou, fill_mode, adj_start, adj_nbr, adj_ovr):
    """Enumerate pairs ``i < j`` with positive intersection and IoU > ``min_iou``.

    IoU is computed in float64 exactly as ensemble-boxes' ``cpu_soft_nms_float``
    does (areas ``(x2-x1)*(y2-y1)``, no offset). Each pair is visited once,
    in the first cell the two boxes share. Count mode (``fill_mode`` False):
    ``adj_start[i + 1]`` gets the degree of ``i``; returns the pair count.
    Fill mode: ``adj_start`` holds CSR offsets and both directions of every
    pair are written to ``adj_nbr``/``adj_ovr``.
    """
    n = x1.shape[0]
    npairs = 0
    if fill_mode:
        pos = adj_start[:n].copy()
    else:
        pos = np.zeros(1, dtype=np.int64)
        for i in range(n + 1):
            adj_start[i] = 0
    for i in range(n):
        ax1 = x1[i]
        ay1 = y1[i]
        ax2 = x2[i]
        ay2 = y2[i]
        aarea = (ax2 - ax1) * (ay2 - ay1)
        for r in range(r0[i], r1[i] + 1):
            for c in range(c0[i], c1[i] + 1):
                cell = r * ncols + c
                for e in range(start[cell], start[cell + 1]):
                    j = items[e]
                    if j <= i:
                        continue
                    if max(c0[i], c0[j]) != c or max(r0[i], r0[j]) != r:
                        continue
                    w = max(0.0, min(ay2, y2[j]) - max(ay1, y1[j]))
                    h = max(0.0, min(ax2, x2[j]) - max(ax1, x1[j]))
                    inter = w * h
                    if not inter > 0.0:
                        continue
                    ovr = inter / (aarea + (x2[j] - x1[j]) * (y2[j] - y1[j]) - inter)
                    if not ovr > min_iou:
                        continue
                    if fill_mode:
                        p = pos[i]
                        adj_nbr[p] = j
                        adj_ovr[p] = ovr
                        pos[i] = p + 1
                        p = pos[j]
                        adj_nbr[p] = i
                        adj_ovr[p] = ovr
                        pos[j] = p + 1
                    else:
                        adj_start[i + 1] += 1
                        adj_start[j + 1] += 1
                    npairs += 1
    if not fill_mode:
        for i in range(n):
            adj_start[i + 1] += adj_start[i]
    return npairs


@jit(inline="always")
def _block_refresh(pscore, lo, hi, bmax, barg, blk):
    m = pscore[lo]
    a = lo
    for p in range(lo + 1, hi):
        v = pscore[p]
        if v > m:
            m = v
            a = p
    bmax[blk] = m
    barg[blk] = a


@jit
def soft_select(cur, thresh, adj_start, adj_nbr, adj_w, block, out_idx, out_score):
    """Soft-NMS selection loop, step for step as ensemble-boxes runs it.

    ensemble-boxes keeps the boxes in a working array; at step ``i`` it picks
    the first position of the largest current score among positions
    ``i..N-1``, swaps that box into position ``i``, and multiplies the score of
    every later box by its weight to the picked one. This kernel replays the
    same positions (so equal scores resolve identically) but finds the maximum
    with per-block maxima (``block`` positions each, refreshed lazily) and only
    touches the picked box's intersecting neighbours (``adj_*`` CSR with the
    precomputed weights; every other weight is exactly 1). It stops when the
    best remaining score is ``<= thresh`` (nothing after it can be kept when
    ``thresh >= 0``). Scores are updated as ``S(w * float64(s))`` in the score
    dtype ``S``, like NumPy's in-place assignment. Returns the kept count.
    """
    n = cur.shape[0]
    if n == 0:
        return 0
    nb = (n + block - 1) // block
    pos_box = np.empty(n, dtype=np.int64)
    box_pos = np.empty(n, dtype=np.int64)
    pscore = cur.copy()
    done = np.zeros(n, dtype=np.bool_)
    bmax = np.empty(nb, dtype=cur.dtype)
    barg = np.empty(nb, dtype=np.int64)
    dirty = np.ones(nb, dtype=np.bool_)
    for p in range(n):
        pos_box[p] = p
        box_pos[p] = p
    i = 0
    while i < n:
        b0 = i // block
        best = -1
        for blk in range(b0, nb):
            if dirty[blk]:
                lo = blk * block
                if lo < i:
                    lo = i
                _block_refresh(pscore, lo, min(n, (blk + 1) * block), bmax, barg, blk)
                dirty[blk] = False
            if best < 0 or bmax[blk] > bmax[best]:
                best = blk
        p = barg[best]
        m = bmax[best]
        if not m > thresh:
            break
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
        out_idx[i] = b
        out_score[i] = m
        for e in range(adj_start[b], adj_start[b + 1]):
            j = adj_nbr[e]
            if done[j]:
                continue
            v = adj_w[e] * float(cur[j])
            cur[j] = v
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
        i += 1
    return i
