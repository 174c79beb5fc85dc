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
