"""Stable descending orders of float scores, shared by NMS and evaluation.

Scores are mapped to unsigned keys whose *ascending* order is the scores'
*descending* order (the IEEE-754 bit pattern, sign-folded; ``-0.0`` ties with
``0.0`` as in a comparison sort), then sorted by an LSD radix sort.
"""

from __future__ import annotations

import numpy as np

from detbench._jit import jit


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
    """Stable ascending argsort of unsigned ``keys`` (LSD radix sort).

    ``idx`` receives the permutation; ``tmp_idx``/``tmp_keys`` are scratch of the
    same length. ``keys`` is overwritten. Digits are 8 bits below 8192 keys
    (small histograms), 11 bits above (fewer passes); a digit whose value is
    the same for every key is skipped. Cost O(N * passes + 2**digit * passes).
    """
    n = keys.shape[0]
    for i in range(n):
        idx[i] = i
    if n < 2:
        return
    radix = 8 if n < 8192 else 11
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


@jit
def radix_argsort_keys(keys, nbits, idx, tmp_idx, tmp_keys):
    """:func:`radix_argsort`, also handing back the sorted keys without a gather through ``idx``.

    Returns the array, ``keys`` or ``tmp_keys``, that holds the keys in ascending order. The passes
    alternate between the two buffers, so once a pass has run both hold permutations of the keys
    (when every pass was skipped, ``keys`` is untouched and all its keys are equal); the only
    non-decreasing permutation is the sorted one, so one sequential check tells which it is.
    """
    radix_argsort(keys, nbits, idx, tmp_idx, tmp_keys)
    for i in range(1, keys.shape[0]):
        if keys[i] < keys[i - 1]:
            return tmp_keys
    return keys


# ---------------------------------------------------------------- segmented sort
#: digit width of the segmented sort: 11-bit digits, 6 passes cover a 64-bit key
SEG_RADIX_BITS = 11
SEG_RADIX = 1 << SEG_RADIX_BITS
SEG_RADIX_PASSES = 6
_SEG_MASK = np.uint64(SEG_RADIX - 1)
#: segments up to this length use insertion sort (cheaper than clearing the histograms)
_SEG_SMALL = 48
#: inputs of at least this many scores are sorted by several threads
_SEG_PARALLEL = 20_000


@jit(inline="always")
def _insertion_segment(keys, lo, hi, order):
    for j in range(lo + 1, hi):
        kk = keys[j]
        oo = order[j]
        q = j - 1
        while q >= lo and keys[q] > kk:
            keys[q + 1] = keys[q]
            order[q + 1] = order[q]
            q -= 1
        keys[q + 1] = kk
        order[q + 1] = oo


@jit(inline="always")
def _radix_segment(keys, lo, hi, order, order_tmp, keys_tmp, hist):
    # LSD radix passes over keys[lo:hi], ping-ponging with the *_tmp slices;
    # a pass whose digit is the same for every key is skipped
    n = hi - lo
    hist[:, :] = 0
    for j in range(lo, hi):
        kk = keys[j]
        for p in range(SEG_RADIX_PASSES):
            hist[p, (kk >> np.uint64(p * SEG_RADIX_BITS)) & _SEG_MASK] += 1
    in_tmp = False
    for p in range(SEG_RADIX_PASSES):
        shift = np.uint64(p * SEG_RADIX_BITS)
        src_k = keys_tmp if in_tmp else keys
        d0 = (src_k[lo] >> shift) & _SEG_MASK
        if hist[p, d0] == n:
            continue
        total = lo
        for b in range(SEG_RADIX):
            c = hist[p, b]
            hist[p, b] = total
            total += c
        if in_tmp:
            for j in range(lo, hi):
                kk = keys_tmp[j]
                b = (kk >> shift) & _SEG_MASK
                dst = hist[p, b]
                hist[p, b] = dst + 1
                keys[dst] = kk
                order[dst] = order_tmp[j]
        else:
            for j in range(lo, hi):
                kk = keys[j]
                b = (kk >> shift) & _SEG_MASK
                dst = hist[p, b]
                hist[p, b] = dst + 1
                keys_tmp[dst] = kk
                order_tmp[dst] = order[j]
        in_tmp = not in_tmp
    if in_tmp:
        for j in range(lo, hi):
            order[j] = order_tmp[j]
            keys[j] = keys_tmp[j]


@jit
def segmented_radix_argsort(keys, seg_off, s0, s1, order, order_tmp, keys_tmp, hist):
    """Stable ascending argsort of uint64 ``keys`` inside segments ``s0 <= s < s1``.

    ``seg_off`` (``n_seg + 1``) delimits the segments; ``keys`` is sorted in place
    and ``order[seg_off[s]:seg_off[s + 1]]`` receives the (global) indices of
    segment ``s`` in key order, ties in index order. ``order_tmp``/``keys_tmp``
    are scratch as long as ``keys``; ``hist`` is ``(SEG_RADIX_PASSES, SEG_RADIX)``
    int64 scratch. Disjoint segment ranges touch disjoint slices, so they may
    run in parallel threads, each with its own ``hist``. Short segments use
    insertion sort. O(n) per radix pass.
    """
    for s in range(s0, s1):
        lo = seg_off[s]
        hi = seg_off[s + 1]
        if hi <= lo:
            continue
        for j in range(lo, hi):
            order[j] = j
        if hi - lo <= _SEG_SMALL:
            _insertion_segment(keys, lo, hi, order)
        else:
            _radix_segment(keys, lo, hi, order, order_tmp, keys_tmp, hist)


def segmented_desc_order(scores, seg_off, threads=None):
    """Indices ordering float64 ``scores`` by decreasing value inside every segment (stable).

    ``seg_off`` (``n_seg + 1``, int64) delimits the segments; ties keep index
    order, as a stable ``argsort(-scores)`` of each segment. Segments are split
    over :func:`detbench._parallel.run_queue` in runs of about equal size
    (``threads``: default ``numba.get_num_threads()``; inputs under 20,000 scores,
    where the sort takes ~1 ms, stay in the calling thread); the result does not
    depend on the split.
    """
    from detbench._parallel import num_threads, run_queue, split_weighted

    n = scores.size
    order = np.empty(n, np.int64)
    if n == 0:
        return order
    keys = np.empty(n, np.uint64)
    desc_keys64(scores, keys)
    order_tmp = np.empty(n, np.int64)
    keys_tmp = np.empty(n, np.uint64)

    pieces = split_weighted(seg_off, 4 * num_threads(threads) if n >= _SEG_PARALLEL else 1)

    def work(j, hist):
        segmented_radix_argsort(keys, seg_off, pieces[j][0], pieces[j][1], order, order_tmp, keys_tmp, hist)

    run_queue(
        len(pieces),
        work,
        threads=threads,
        make_state=lambda: np.empty((SEG_RADIX_PASSES, SEG_RADIX), np.int64),
    )
    return order
