"""Numba kernels on run-length encoded masks (pycocotools' RLE conventions).

An RLE is a vector of run lengths over the mask in column-major order,
starting with a run of zeros (possibly of length 0) and alternating. A set of
RLEs is held flat: ``cnts`` (uint32, all runs one after the other) with
``off`` (int64, n + 1): the runs of mask ``i`` are ``cnts[off[i]:off[i + 1]]``.

The arithmetic follows pycocotools' ``maskApi.c`` step for step (integer
truncation, the 5x up-sampled polygon walk, the LEB128-like 6-bit string
code), so the run lengths come out identical.
"""

from __future__ import annotations

import numpy as np

from detbench._jit import jit
from detbench.masks._poly_kernels import poly_bound, poly_to_rle, poly_to_rle_fast, polys_to_rles  # noqa: F401


@jit
def encode_masks(masks, h, w, n):
    """RLEs of ``n`` binary masks given column-major, flat (``masks[i * h * w + k]``); returns (cnts, off)."""
    a = h * w
    off = np.zeros(n + 1, np.int64)
    # first pass: run counts
    for i in range(n):
        base = i * a
        k = 1
        p = 0
        for j in range(a):
            v = 1 if masks[base + j] != 0 else 0
            if v != p:
                k += 1
                p = v
        off[i + 1] = off[i] + k
    cnts = np.empty(off[n], np.uint32)
    for i in range(n):
        base = i * a
        k = off[i]
        p = 0
        c = 0
        for j in range(a):
            v = 1 if masks[base + j] != 0 else 0
            if v != p:
                cnts[k] = c
                k += 1
                c = 0
                p = v
            c += 1
        cnts[k] = c
    return cnts, off


@jit
def decode_masks(cnts, off, a, out):
    """Write the masks of ``cnts``/``off`` (``a`` = h * w pixels each) into ``out`` (flat, column-major)."""
    n = off.shape[0] - 1
    for i in range(n):
        pos = i * a
        v = 0
        for j in range(off[i], off[i + 1]):
            c = cnts[j]
            for _ in range(c):
                out[pos] = v
                pos += 1
            v = 1 - v


@jit(inline="always")
def _area_one(cnts, o0, o1):
    # rleArea of the runs cnts[o0:o1]: the sum of the odd runs
    s = 0
    for j in range(o0 + 1, o1, 2):
        s += cnts[j]
    return s


@jit(inline="always")
def _sum_one(cnts, o0, o1):
    # every run of cnts[o0:o1] summed (h * w for a well-formed mask)
    s = 0
    for j in range(o0, o1):
        s += cnts[j]
    return s


@jit
def areas(cnts, off, out):
    """Pixels set in every mask (the sum of the odd runs), like ``rleArea``."""
    n = off.shape[0] - 1
    for i in range(n):
        out[i] = _area_one(cnts, off[i], off[i + 1])


@jit
def to_bboxes(cnts, off, hs, ws, out):
    """``[x, y, w, h]`` of every mask (``rleToBbox``: zeros for an empty mask); ``out`` float64 (n, 4)."""
    n = off.shape[0] - 1
    for i in range(n):
        _bbox_one(cnts, off[i], off[i + 1], hs[i], ws[i], out, i)


@jit(inline="always")
def _bbox_one(cnts, o0, o1, h, w, out, i):
    # rleToBbox of the runs cnts[o0:o1] into out[i]
    m = ((o1 - o0) // 2) * 2
    if m == 0:
        out[i, 0] = 0.0
        out[i, 1] = 0.0
        out[i, 2] = 0.0
        out[i, 3] = 0.0
        return
    xs = w
    ys = h
    xe = 0
    ye = 0
    cc = 0
    xp = 0
    x = 0
    base = 0  # x * h: column and row follow t without a division per run when t moves less than a column
    for j in range(m):
        cc += cnts[o0 + j]
        t = cc - j % 2
        d = t - base
        if d < 0 or d >= 2 * h:
            x = t // h
            base = x * h
        elif d >= h:
            x += 1
            base += h
        y = t - base
        if j % 2 == 0:
            xp = x
        elif xp < x:
            ys = 0
            ye = h - 1
        xs = min(xs, x)
        xe = max(xe, x)
        ys = min(ys, y)
        ye = max(ye, y)
    out[i, 0] = xs
    out[i, 2] = xe - xs + 1
    out[i, 1] = ys
    out[i, 3] = ye - ys + 1


@jit(inline="always")
def _inter_union(ca_arr, a0, ka, cb_arr, b0, kb):
    # intersection and union pixel counts of two RLEs of the same size (rleIou's walk)
    ca = np.int64(ca_arr[a0])
    cb = np.int64(cb_arr[b0])
    va = False
    vb = False
    a = 1
    b = 1
    inter = 0
    uni = 0
    ct = 1
    while ct > 0:
        c = min(ca, cb)
        if va or vb:
            uni += c
            if va and vb:
                inter += c
        ct = 0
        ca -= c
        if ca == 0 and a < ka:
            ca = np.int64(ca_arr[a0 + a])
            a += 1
            va = not va
        ct += ca
        cb -= c
        if cb == 0 and b < kb:
            cb = np.int64(cb_arr[b0 + b])
            b += 1
            vb = not vb
        ct += cb
    return inter, uni


@jit(inline="always")
def _box_overlap(db, d, gb, g):
    # bbIou's "> 0" test on the masks' boxes
    w = min(db[d, 2] + db[d, 0], gb[g, 2] + gb[g, 0]) - max(db[d, 0], gb[g, 0])
    if w <= 0.0:
        return False
    h = min(db[d, 3] + db[d, 1], gb[g, 3] + gb[g, 1]) - max(db[d, 1], gb[g, 1])
    return h > 0.0


@jit(inline="always")
def pair_iou(d_cnts, d_off, d, d_box, d_area, g_cnts, g_off, g, g_box, crowd):
    """``rleIou`` of detection mask ``d`` and ground-truth mask ``g`` (same size): crowd uses the detection's area."""
    if not _box_overlap(d_box, d, g_box, g):
        return 0.0
    ka = d_off[d + 1] - d_off[d]
    kb = g_off[g + 1] - g_off[g]
    if ka == 0 or kb == 0:
        return 0.0
    inter, uni = _inter_union(d_cnts, d_off[d], ka, g_cnts, g_off[g], kb)
    if inter == 0:
        uni = 1
    elif crowd:
        uni = d_area[d]
    return np.float64(inter) / np.float64(uni)


@jit
def iou_matrix(d_cnts, d_off, d_box, d_area, g_cnts, g_off, g_box, crowd, out):
    """``out[d, g]``: pycocotools' mask IoU of every detection / ground-truth pair (sizes checked by the caller)."""
    nd = d_off.shape[0] - 1
    ng = g_off.shape[0] - 1
    for d in range(nd):
        for g in range(ng):
            out[d, g] = pair_iou(d_cnts, d_off, d, d_box, d_area, g_cnts, g_off, g, g_box, crowd[g] != 0)


@jit
def merge_pair(a_cnts, a0, ka, b_cnts, b0, kb, intersect, out):
    """``rleMerge`` of two RLEs into ``out`` (length >= ka + kb); returns the number of runs."""
    ca = np.int64(a_cnts[a0])
    cb = np.int64(b_cnts[b0])
    v = False
    va = False
    vb = False
    m = 0
    a = 1
    b = 1
    cc = 0
    ct = 1
    while ct > 0:
        c = min(ca, cb)
        cc += c
        ct = 0
        ca -= c
        if ca == 0 and a < ka:
            ca = np.int64(a_cnts[a0 + a])
            a += 1
            va = not va
        ct += ca
        cb -= c
        if cb == 0 and b < kb:
            cb = np.int64(b_cnts[b0 + b])
            b += 1
            vb = not vb
        ct += cb
        vp = v
        if intersect:
            v = va and vb
        else:
            v = va or vb
        if v != vp or ct == 0:
            out[m] = cc
            m += 1
            cc = 0
    return m


@jit
def merge_groups(cnts, off, grp, intersect):
    """Merge the RLEs ``grp[k]:grp[k + 1]`` of ``cnts``/``off`` into one each (union, or intersection); (cnts, off)."""
    n = grp.shape[0] - 1
    out_off = np.zeros(n + 1, np.int64)
    total = 0
    for k in range(n):
        s = 0
        for i in range(grp[k], grp[k + 1]):
            s += off[i + 1] - off[i]
        total += s
    res = np.empty(total, np.uint32)
    buf_a = np.empty(total + 1, np.uint32)
    buf_b = np.empty(total + 1, np.uint32)
    pos = 0
    for k in range(n):
        i0 = grp[k]
        i1 = grp[k + 1]
        if i1 - i0 == 0:
            out_off[k + 1] = pos
            continue
        m = off[i0 + 1] - off[i0]
        for j in range(m):
            buf_a[j] = cnts[off[i0] + j]
        for i in range(i0 + 1, i1):
            m = merge_pair(buf_a, 0, m, cnts, off[i], off[i + 1] - off[i], intersect, buf_b)
            for j in range(m):
                buf_a[j] = buf_b[j]
        for j in range(m):
            res[pos + j] = buf_a[j]
        pos += m
        out_off[k + 1] = pos
    return res[:pos].copy(), out_off


@jit
def strings_to_rles(buf, s_off):
    """Decode the compressed RLE strings ``buf[s_off[i]:s_off[i + 1]]`` (``rleFrString``).

    Returns (cnts, off, err): ``err[i]`` is 0, 1 for a character outside
    '0'..'o', 2 for a string that ends inside a value, 3 for a run length
    outside 0..2**32 - 1.
    """
    n = s_off.shape[0] - 1
    off = np.zeros(n + 1, np.int64)
    string_run_counts(buf, s_off, off[1:])
    for i in range(n):
        off[i + 1] += off[i]
    cnts = np.zeros(off[n], np.uint32)
    err = np.zeros(n, np.int64)
    strings_into_rles(buf, s_off, off, cnts, err)
    return cnts, off, err


@jit
def string_run_counts(buf, s_off, out):
    """``out[i]``: the number of runs of compressed string i (its characters without the continuation bit).

    ``s_off`` may be a slice of a longer offsets array (rows of one thread), ``out`` the matching slice."""
    for i in range(s_off.shape[0] - 1):
        c = 0
        for p in range(s_off[i], s_off[i + 1]):
            if ((buf[p] - 48) & 0x20) == 0:
                c += 1
        out[i] = c


@jit
def strings_into_rles(buf, s_off, off, cnts, err):
    """:func:`strings_to_rles` into given arrays: string i into ``cnts[off[i]:off[i + 1]]`` (``off`` from
    :func:`string_run_counts`), its error code into ``err[i]``; ``s_off``/``off``/``err`` may be matching
    slices (rows of one thread) of the whole arrays."""
    for i in range(s_off.shape[0] - 1):
        err[i] = _decode_one(buf, s_off[i], s_off[i + 1], cnts, off[i])


@jit
def strings_into_rles_stats(buf, s_off, off, cnts, err, hs, ws, tot, area, box):
    """:func:`strings_into_rles`, and each mask's run total (``tot``), area and ``[x, y, w, h]`` box (sizes
    ``hs``/``ws``) taken while its runs are still in cache (rows with an error: not measured)."""
    for i in range(s_off.shape[0] - 1):
        e = _decode_one(buf, s_off[i], s_off[i + 1], cnts, off[i])
        err[i] = e
        if e == 0:
            tot[i] = _sum_one(cnts, off[i], off[i + 1])
            area[i] = _area_one(cnts, off[i], off[i + 1])
            _bbox_one(cnts, off[i], off[i + 1], hs[i], ws[i], box, i)


@jit(inline="always")
def _decode_one(buf, p, end, cnts, m):
    # rleFrString of buf[p:end] into cnts[m:]; returns the error code (0: none)
    k0 = m
    while p < end:
        x = np.int64(0)
        k = 0
        more = True
        e = 0
        while more:
            if p >= end:
                e = 2
                break
            ch = np.int64(buf[p]) - 48
            if ch < 0 or ch > 63:
                e = 1
                break
            if k > 12:
                e = 3
                break
            x |= (ch & 0x1F) << (5 * k)
            more = (ch & 0x20) != 0
            p += 1
            k += 1
            if not more and (ch & 0x10) != 0:
                x |= np.int64(-1) << (5 * k)
        if e != 0:
            return e
        if m - k0 > 2:
            x += np.int64(cnts[m - 2])
        if x < 0 or x > 0xFFFFFFFF:
            return 3
        cnts[m] = x
        m += 1
    return 0


@jit
def rles_to_strings(cnts, off):
    """``rleToString`` of every RLE: (buf uint8, s_off) with string ``i`` at ``buf[s_off[i]:s_off[i + 1]]``."""
    n = off.shape[0] - 1
    cap = 0
    for i in range(n):
        cap += (off[i + 1] - off[i]) * 7
    buf = np.empty(cap, np.uint8)
    s_off = np.zeros(n + 1, np.int64)
    p = 0
    for i in range(n):
        o = off[i]
        for j in range(off[i + 1] - o):
            x = np.int64(cnts[o + j])
            if j > 2:
                x -= np.int64(cnts[o + j - 2])
            more = True
            while more:
                c = x & 0x1F
                x >>= 5
                if (c & 0x10) != 0:
                    more = x != -1
                else:
                    more = x != 0
                if more:
                    c |= 0x20
                buf[p] = c + 48
                p += 1
        s_off[i + 1] = p
    return buf[:p].copy(), s_off


@jit
def sums(cnts, off, out):
    """Total pixels of every RLE (the sum of all runs), to check it against h * w."""
    n = off.shape[0] - 1
    for i in range(n):
        out[i] = _sum_one(cnts, off[i], off[i + 1])


@jit
def scatter_runs(cnts, off, rows, src, src_off):
    """Copy RLE ``i`` of ``src``/``src_off`` to slot ``rows[i]`` of ``cnts``/``off``."""
    for i in range(rows.shape[0]):
        r = rows[i]
        o = off[r]
        s0 = src_off[i]
        for j in range(src_off[i + 1] - s0):
            cnts[o + j] = src[s0 + j]
