"""JSON arrays of numbers (keypoints, polygons) parsed from raw bytes in one Numba pass.

msgspec hands over the raw JSON text of a field (``msgspec.Raw``) for free;
turning half a million keypoint numbers into Python floats and then an array
costs ~10x more than reading them here. Each item is the text of a flat
array ``[n, n, ...]`` (``depth=1``) or an array of flat arrays ``[[n, ...],
[n, ...]]`` (``depth=2``, polygons). A number is converted only where the
result is provably the correctly rounded double (what Python's ``float()``
and every JSON reader give): a decimal mantissa below 2**53 and a power of ten
up to 22, one IEEE multiplication or division of two exact doubles (Clinger's
fast path). Anything else (more digits, large exponents, ``true``, nested
objects, a malformed item) marks the item for the caller's general path.
"""

from __future__ import annotations

import numpy as np

from detbench._jit import jit
from detbench._parallel import num_threads, run_tasks_inline, split_range

__all__ = ["parse_arrays"]

_POW10 = np.array([10.0**k for k in range(23)])
_MANT_MAX = 2**53


@jit(inline="always")
def _ws(buf, p, e):
    while p < e and buf[p] <= 32 and (buf[p] == 32 or buf[p] == 10 or buf[p] == 13 or buf[p] == 9):
        p += 1
    return p


@jit
def _parse(buf, starts, ends, depth, pow10, vals, leaf_len, item_leaves):
    # one flat loop (no helper returning tuples: ~4x faster); see parse_arrays
    n = starts.shape[0]
    q = 0
    nl = 0
    for i in range(n):
        p = _ws(buf, starts[i], ends[i])
        e = ends[i]
        q0 = q
        nl0 = nl
        ok = True
        more = True  # leaves left to read
        if depth == 2:
            if p >= e or buf[p] != 91:  # '['
                ok = False
            else:
                p = _ws(buf, p + 1, e)
                if p < e and buf[p] == 93:  # ']': no polygons
                    p += 1
                    more = False
        while ok and more:
            # one flat array "[n, n, ...]"
            p = _ws(buf, p, e)
            if p >= e or buf[p] != 91:
                ok = False
                break
            p = _ws(buf, p + 1, e)
            c = 0
            if p < e and buf[p] == 93:
                p += 1
            else:
                while True:
                    # a JSON number, converted only where one IEEE operation is exact-rounded
                    neg = False
                    if p < e and buf[p] == 45:  # '-'
                        neg = True
                        p += 1
                    if p >= e or buf[p] < 48 or buf[p] > 57:
                        ok = False
                        break
                    if buf[p] == 48 and p + 1 < e and 48 <= buf[p + 1] <= 57:
                        ok = False  # "01" is not JSON
                        break
                    mant = np.int64(0)
                    p0 = p
                    while p < e and 48 <= buf[p] <= 57:
                        mant = mant * 10 + (buf[p] - 48)
                        p += 1
                    nd = p - p0
                    exp10 = 0
                    is_int = True
                    if p < e and buf[p] == 46:  # '.'
                        is_int = False
                        p += 1
                        f0 = p
                        while p < e and 48 <= buf[p] <= 57:
                            mant = mant * 10 + (buf[p] - 48)
                            p += 1
                        if p == f0:
                            ok = False
                            break
                        exp10 = f0 - p
                        nd += p - f0
                    if p < e and (buf[p] == 101 or buf[p] == 69):  # 'e' / 'E'
                        is_int = False
                        p += 1
                        eneg = False
                        if p < e and (buf[p] == 43 or buf[p] == 45):
                            eneg = buf[p] == 45
                            p += 1
                        if p >= e or buf[p] < 48 or buf[p] > 57:
                            ok = False
                            break
                        ex = 0
                        while p < e and 48 <= buf[p] <= 57:
                            if ex < 10000:
                                ex = ex * 10 + (buf[p] - 48)
                            p += 1
                        exp10 += -ex if eneg else ex
                    # more than 18 digits (leading zeros included) may have overflowed; 2**53 is exact
                    if nd > 18 or mant > _MANT_MAX:
                        ok = False
                        break
                    if mant == 0:
                        v = 0.0
                        if is_int:
                            neg = False  # "-0" is the integer 0 in JSON readers, not -0.0
                    elif 0 <= exp10 <= 22:
                        v = np.float64(mant) * pow10[exp10]
                    elif -22 <= exp10 < 0:
                        v = np.float64(mant) / pow10[-exp10]
                    else:
                        ok = False
                        break
                    vals[q] = -v if neg else v
                    q += 1
                    c += 1
                    if p + 2 < e and buf[p] == 44 and buf[p + 1] == 32 and buf[p + 2] > 32:
                        p += 2  # ", " then the next value: the common case
                        continue
                    p = _ws(buf, p, e)
                    if p < e and buf[p] == 44:  # ','
                        p = _ws(buf, p + 1, e)
                        continue
                    if p < e and buf[p] == 93:
                        p += 1
                        break
                    ok = False
                    break
            if not ok:
                break
            leaf_len[nl] = c
            nl += 1
            if depth == 1:
                break
            p = _ws(buf, p, e)
            if p < e and buf[p] == 44:
                p += 1
                continue
            if p < e and buf[p] == 93:
                p += 1
                break
            ok = False
        if ok and _ws(buf, p, e) != e:
            ok = False
        if ok:
            item_leaves[i] = nl - nl0
        else:
            item_leaves[i] = -1
            q = q0
            nl = nl0
    return q, nl


#: items at or above this many bytes in all are parsed on several threads (measured on the 2-core machine:
#: 6 MB of keypoints took 16 ms on one thread and 22 ms on two, the hand-off and concatenation included)
_PARALLEL_BYTES = 64 << 20


def parse_arrays(raws: list, depth: int, threads: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numbers of the JSON array texts ``raws`` (bytes-like; ``depth`` 1 or 2).

    Returns ``(vals, leaf_len, item_leaves)``: the numbers of every innermost
    array one after another, each innermost array's length, and each item's
    number of innermost arrays (1 for depth 1), or -1 for an item the fast
    path does not take (its numbers are then absent; read it generically).
    Large inputs are parsed in contiguous pieces on detbench's thread pool
    (``threads``, default ``numba.get_num_threads()``; same result).
    """
    n = len(raws)
    lens = np.fromiter(map(len, raws), np.int64, n)
    ends = np.cumsum(lens)
    starts = ends - lens
    buf = np.frombuffer(b"".join(raws), np.uint8)
    n_par = num_threads(threads) if buf.size >= _PARALLEL_BYTES else 1
    pieces = split_range(n, n_par) if n_par > 1 else [(0, n)]

    def piece(a: int, b: int) -> tuple:
        lo = int(starts[a]) if a < n else 0
        hi = int(ends[b - 1]) if b > a else lo
        cap = (hi - lo) // 2 + 1
        vals = np.empty(cap, np.float64)
        leaf_len = np.empty(cap, np.int64)
        item_leaves = np.empty(b - a, np.int64)
        q, nl = _parse(buf, starts[a:b], ends[a:b], depth, _POW10, vals, leaf_len, item_leaves)
        return vals[:q], leaf_len[:nl], item_leaves

    if len(pieces) == 1:
        return piece(0, n)
    parts = run_tasks_inline([(lambda a=a, b=b: piece(a, b)) for a, b in pieces], threads=n_par)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))
