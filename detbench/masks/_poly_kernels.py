"""Polygon rasterisation on run lengths: pycocotools' ``rleFrPoly``, step by step and in one pass.

:func:`poly_to_rle` follows ``maskApi.c`` literally (the 5x up-sampled
boundary walk stored, then down-sampled, sorted and turned into runs);
:func:`poly_to_rle_fast` gives the same runs without storing the walk (only
the steps that keep a point are visited: every fifth step on shallow edges,
the column changes on steep ones; the points are bucketed by value range and
insertion-sorted) and :func:`polys_to_rles` runs it over many polygons with
one scratch buffer, writing the runs in place. Re-exported by
:mod:`detbench.masks._rle_kernels`.
"""

from __future__ import annotations

import numpy as np

from detbench._jit import jit

#: the value C's ``(int)`` conversion gives for NaN on x86 (a zero-length polygon edge)
_INT_NAN = -(2**31)


@jit
def poly_to_rle(xy, x0, k, h, w):
    """``rleFrPoly``: RLE (uint32 runs) of the polygon ``xy[x0:x0 + 2k]`` rasterised into an ``h`` x ``w`` image."""
    scale = 5.0
    x = np.empty(k + 1, np.int64)
    y = np.empty(k + 1, np.int64)
    for j in range(k):
        x[j] = np.int64(scale * xy[x0 + 2 * j] + 0.5)
        y[j] = np.int64(scale * xy[x0 + 2 * j + 1] + 0.5)
    x[k] = x[0]
    y[k] = y[0]
    m = 0
    for j in range(k):
        m += max(abs(x[j] - x[j + 1]), abs(y[j] - y[j + 1])) + 1
    u = np.empty(m, np.int64)
    v = np.empty(m, np.int64)
    m = 0
    for j in range(k):
        xs = x[j]
        xe = x[j + 1]
        ys = y[j]
        ye = y[j + 1]
        dx = abs(xe - xs)
        dy = abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe = xe, xs
            ys, ye = ye, ys
        if dx >= dy:
            if dx == 0:
                # 0/0 slope: C's (int)NaN
                u[m] = xs
                v[m] = _INT_NAN
                m += 1
                continue
            s = np.float64(ye - ys) / dx
            for d in range(dx + 1):
                t = dx - d if flip else d
                u[m] = t + xs
                v[m] = np.int64(ys + s * t + 0.5)
                m += 1
        else:
            s = np.float64(xe - xs) / dy
            for d in range(dy + 1):
                t = dy - d if flip else d
                v[m] = t + ys
                u[m] = np.int64(xs + s * t + 0.5)
                m += 1
    # points along the y-boundary, down-sampled
    kk = m
    a = np.empty(kk + 1, np.int64)
    m = 0
    for j in range(1, kk):
        if u[j] != u[j - 1]:
            xd = np.float64(u[j] if u[j] < u[j - 1] else u[j] - 1)
            xd = (xd + 0.5) / scale - 0.5
            if np.floor(xd) != xd or xd < 0 or xd > w - 1:
                continue
            yd = np.float64(v[j] if v[j] < v[j - 1] else v[j - 1])
            yd = (yd + 0.5) / scale - 0.5
            if yd < 0:
                yd = 0.0
            elif yd > h:
                yd = np.float64(h)
            yd = np.ceil(yd)
            a[m] = np.int64(xd) * h + np.int64(yd)
            m += 1
    a[m] = h * w
    m += 1
    a = np.sort(a[:m])
    p = 0
    for j in range(m):
        t = a[j]
        a[j] -= p
        p = t
    b = np.empty(m, np.uint32)
    j = 0
    nb = 0
    b[nb] = a[j]
    nb += 1
    j += 1
    while j < m:
        if a[j] > 0:
            b[nb] = a[j]
            nb += 1
            j += 1
        else:
            j += 1
            if j < m:
                b[nb - 1] += a[j]
                j += 1
    return b[:nb].copy()


@jit(inline="always")
def _boundary_point(pu, pv, cu, cv, h, w, a, m):
    # rleFrPoly's down-sampling of the step (pu, pv) -> (cu, cv) of the 5x walk: appends to a, returns m
    if cu == pu:
        return m
    xi = cu if cu < pu else cu - 1
    # (xi + 0.5) / 5 - 0.5 is an integer exactly when xi = 5q + 2, and then equals q
    r = xi - 2
    q = r // 5
    if r - 5 * q != 0 or q < 0 or q > w - 1:
        return m
    yd = np.float64(cv if cv < pv else pv)
    yd = (yd + 0.5) / 5.0 - 0.5
    if yd < 0:
        yd = 0.0
    elif yd > h:
        yd = np.float64(h)
    yd = np.ceil(yd)
    a[m] = q * h + np.int64(yd)
    return m + 1


@jit(inline="always")
def _steep_u(xs, s, t):
    # the column of step t of a steep edge (rleFrPoly's expression)
    return np.int64(xs + s * t + 0.5)


@jit(inline="always")
def _steep_points(xs, ys, dy, s, h, w, a, m):
    # the points a steep edge (dy > dx) keeps, appended to a (returns m): the step pair t - 1, t keeps one
    # when its columns differ and the smaller, xi, is 5q + 2 (q in [0, w - 1]); the row is ys + t - 1 (the
    # smaller of the two). That does not depend on the walking direction, and the points are sorted
    # afterwards, so only the column changes are visited: u(t) is monotonic in t and moves by at most 1
    u0 = _steep_u(xs, s, 0)
    u1 = _steep_u(xs, s, dy)
    lo = min(u0, u1)
    hi = max(u0, u1)  # a change from xi to xi + 1 for every xi in [lo, hi - 1]
    xi = max(lo, 2)
    xi += (2 - xi) % 5
    top = min(hi - 1, 5 * (w - 1) + 2)
    up = u1 > u0
    while xi <= top:
        # the first t whose column is past xi (up: >= xi + 1; down: <= xi), from an estimate, then exactly
        t = np.int64((np.float64(xi) + 0.5 - np.float64(xs)) / s)
        t = min(max(t, 1), dy)
        if up:
            while t > 1 and _steep_u(xs, s, t - 1) >= xi + 1:
                t -= 1
            while _steep_u(xs, s, t) < xi + 1:
                t += 1
        else:
            while t > 1 and _steep_u(xs, s, t - 1) <= xi:
                t -= 1
            while _steep_u(xs, s, t) > xi:
                t += 1
        if min(_steep_u(xs, s, t - 1), _steep_u(xs, s, t)) == xi:  # (not when rounding skipped a column)
            yd = np.float64(ys + t - 1)
            yd = (yd + 0.5) / 5.0 - 0.5
            if yd < 0:
                yd = 0.0
            elif yd > h:
                yd = np.float64(h)
            a[m] = ((xi - 2) // 5) * h + np.int64(np.ceil(yd))
            m += 1
        xi += 5
    return m


@jit
def poly_to_rle_fast(xy, x0, k, h, w, a, bucket):
    """:func:`poly_to_rle` in one pass: the 5x boundary walk is not stored, only the down-sampled points
    (scratch ``a``: at least :func:`poly_bound` entries; ``bucket``: ``w + 2`` zeros, left zeroed), sorted by
    column buckets. Same runs as :func:`poly_to_rle`."""
    m = _poly_points(xy, x0, k, h, w, a, bucket)
    b = np.empty(m + 1, np.uint32)
    nb = _point_runs(a, m, h, w, b, 0)
    return b[:nb].copy()


@jit
def _poly_points(xy, x0, k, h, w, a, bucket):
    # the down-sampled boundary points of the polygon, sorted, into a[cap:cap + m] (cap = len(a) // 2); returns m
    scale = 5.0
    m = 0
    have = False
    pu = np.int64(0)
    pv = np.int64(0)
    fx = np.int64(scale * xy[x0] + 0.5)
    fy = np.int64(scale * xy[x0 + 1] + 0.5)
    xa = fx
    ya = fy
    for j in range(k):
        if j + 1 < k:
            xb = np.int64(scale * xy[x0 + 2 * j + 2] + 0.5)
            yb = np.int64(scale * xy[x0 + 2 * j + 3] + 0.5)
        else:
            xb = fx
            yb = fy
        xs = xa
        xe = xb
        ys = ya
        ye = yb
        xa = xb
        ya = yb
        dx = abs(xe - xs)
        dy = abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe = xe, xs
            ys, ye = ye, ys
        if dx >= dy:
            if dx == 0:
                cu = xs
                cv = np.int64(_INT_NAN)
                if have:
                    m = _boundary_point(pu, pv, cu, cv, h, w, a, m)
                pu = cu
                pv = cv
                have = True
                continue
            s = np.float64(ye - ys) / dx
            # the first point joins the previous edge's last one
            t = dx if flip else 0
            cu = t + xs
            cv = np.int64(ys + s * t + 0.5)
            if have:
                m = _boundary_point(pu, pv, cu, cv, h, w, a, m)
            # inside the edge u moves by one per step: only steps whose left column xi is 5q + 2 keep a
            # point (xi = xs + t - 1 for steps t - 1 -> t, either direction); visit just those t
            t0 = (2 - xs) % 5 + 1  # the first t >= 1 with xs + t - 3 divisible by 5
            for t in range(t0, dx + 1, 5):
                q = (xs + t - 3) // 5
                if q < 0 or q > w - 1:
                    continue
                va = np.int64(ys + s * t + 0.5)
                vb = np.int64(ys + s * (t - 1) + 0.5)
                yd = np.float64(va if va < vb else vb)
                yd = (yd + 0.5) / 5.0 - 0.5
                if yd < 0:
                    yd = 0.0
                elif yd > h:
                    yd = np.float64(h)
                a[m] = q * h + np.int64(np.ceil(yd))
                m += 1
            t = 0 if flip else dx
            pu = t + xs
            pv = np.int64(ys + s * t + 0.5)
            have = True
        else:
            s = np.float64(xe - xs) / dy
            # the first point joins the previous edge's last one
            t = dy if flip else 0
            cu = np.int64(xs + s * t + 0.5)
            if have:
                m = _boundary_point(pu, pv, cu, t + ys, h, w, a, m)
            m = _steep_points(xs, ys, dy, s, h, w, a, m)
            t = 0 if flip else dy
            pu = np.int64(xs + s * t + 0.5)
            pv = t + ys
            have = True
    # sort a[:m] (values q * h + y >= 0) by buckets of equal value ranges (key (value - lowest) >> shift, at
    # most min(m, w + 1) of them: no division), then by insertion within each bucket
    cap = a.shape[0] // 2
    srt = a[cap : cap + m]
    if h > 0 and m > 0:
        v_lo = a[0]
        v_hi = a[0]
        for j in range(1, m):
            v_lo = min(v_lo, a[j])
            v_hi = max(v_hi, a[j])
        n_bk = min(bucket.shape[0] - 1, m)
        sh = 0
        while ((v_hi - v_lo) >> sh) >= n_bk:
            sh += 1
        top = (v_hi - v_lo) >> sh
        for j in range(m):
            bucket[((a[j] - v_lo) >> sh) + 1] += 1
        for c in range(top + 1):
            bucket[c + 1] += bucket[c]
        for j in range(m):
            c = (a[j] - v_lo) >> sh
            srt[bucket[c]] = a[j]
            bucket[c] += 1
        for j in range(top + 2):
            bucket[j] = 0
        for c_start in range(1, m):  # insertion sort: buckets hold few points
            v = srt[c_start]
            i = c_start - 1
            while i >= 0 and srt[i] > v:
                srt[i + 1] = srt[i]
                i -= 1
            srt[i + 1] = v
    elif m > 0:
        srt[:] = np.sort(a[:m])
    return m


@jit(inline="always")
def _point_runs(a, m, h, w, b, o):
    # run lengths of the m sorted points a[cap:cap + m] (:func:`_poly_points`) into b[o:]: the differences of
    # the points and h * w, zero-length runs merged; returns how many (at most m + 1)
    cap = a.shape[0] // 2
    nb = 0
    p = 0
    pend = False  # a zero difference seen: the next difference is added to the last run
    for j in range(m + 1):
        t = a[cap + j] if j < m else h * w
        dlt = t - p
        p = t
        if j == 0:
            b[o] = dlt
            nb = 1
            continue
        if pend:
            b[o + nb - 1] += dlt
            pend = False
        elif dlt > 0:
            b[o + nb] = dlt
            nb += 1
        else:
            pend = True
    return nb


@jit
def poly_bound(xy, x0, k):
    """Scratch size for :func:`poly_to_rle_fast`: twice an upper bound of the down-sampled points."""
    n = 2
    for j in range(k):
        j2 = (j + 1) % k
        xa = np.int64(5.0 * xy[x0 + 2 * j] + 0.5)
        xb = np.int64(5.0 * xy[x0 + 2 * j2] + 0.5)
        n += abs(xb - xa) // 5 + 3
    return 2 * n


@jit
def polys_to_rles(xy, p_off, hs, ws):
    """RLE of every polygon ``xy[p_off[i]:p_off[i + 1]]`` (flat x, y pairs) in an ``hs[i]`` x ``ws[i]`` image."""
    n = p_off.shape[0] - 1
    off = np.zeros(n + 1, np.int64)
    a = np.empty(64, np.int64)
    bucket = np.zeros(1, np.int64)
    cnts = np.empty(max(64, 64 * n), np.uint32)  # grown by doubling; runs written in place
    for i in range(n):
        k = (p_off[i + 1] - p_off[i]) // 2
        need = poly_bound(xy, p_off[i], k)
        if need > a.shape[0]:
            a = np.empty(2 * need, np.int64)
        if ws[i] + 2 > bucket.shape[0]:
            bucket = np.zeros(ws[i] + 2, np.int64)
        m = _poly_points(xy, p_off[i], k, hs[i], ws[i], a, bucket)
        o = off[i]
        if o + m + 1 > cnts.shape[0]:
            grown = np.empty(max(2 * cnts.shape[0], o + m + 1), np.uint32)
            grown[:o] = cnts[:o]
            cnts = grown
        off[i + 1] = o + _point_runs(a, m, hs[i], ws[i], cnts, o)
    return cnts[: off[n]].copy(), off
