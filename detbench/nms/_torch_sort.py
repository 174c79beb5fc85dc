"""libstdc++'s ``std::sort`` replayed, so :func:`detbench.nms.batched_nms` reproduces
torchvision's order among equal scores.

torchvision's large-N ``batched_nms`` orders the union of kept boxes with a
non-stable ``Tensor.sort(descending=True)``; on CPU that runs ``std::sort``
(introsort), whose order among equal values is deterministic. This module is
that algorithm, step for step, and nothing else.
"""

from __future__ import annotations

import numpy as np

from detbench._jit import jit


@jit(inline="always")
def _swap(v, ix, a, b):
    t = v[a]
    v[a] = v[b]
    v[b] = t
    u = ix[a]
    ix[a] = ix[b]
    ix[b] = u


@jit(inline="always")
def _adjust_heap(v, ix, first, hole, length, val, vix):
    top = hole
    second = hole
    while second < (length - 1) // 2:
        second = 2 * (second + 1)
        if v[first + second] > v[first + second - 1]:
            second -= 1
        v[first + hole] = v[first + second]
        ix[first + hole] = ix[first + second]
        hole = second
    if (length & 1) == 0 and second == (length - 2) // 2:
        second = 2 * (second + 1)
        v[first + hole] = v[first + second - 1]
        ix[first + hole] = ix[first + second - 1]
        hole = second - 1
    parent = (hole - 1) // 2
    while hole > top and v[first + parent] > val:
        v[first + hole] = v[first + parent]
        ix[first + hole] = ix[first + parent]
        hole = parent
        parent = (hole - 1) // 2
    v[first + hole] = val
    ix[first + hole] = vix


@jit
def torch_sort_desc(v, ix):
    """Sort ``v`` (with its companion ``ix``) by decreasing value exactly as
    ``torch.sort(descending=True)`` does on CPU when it runs ``std::sort``
    (libstdc++ introsort: median-of-three quicksort down to 16-element runs,
    heapsort past a depth of ``2 * floor(log2 N)``, then insertion sort) with
    the comparator ``a > b``. Equal values come out in that algorithm's
    deterministic, non-stable order. The recursion uses an explicit stack."""
    n = v.shape[0]
    if n < 2:
        return
    depth0 = 0
    m = n
    while m > 1:
        m >>= 1
        depth0 += 1
    st_first = np.empty(128, dtype=np.int64)
    st_last = np.empty(128, dtype=np.int64)
    st_depth = np.empty(128, dtype=np.int64)
    top = 1
    st_first[0] = 0
    st_last[0] = n
    st_depth[0] = 2 * depth0
    while top > 0:
        top -= 1
        first = st_first[top]
        last = st_last[top]
        depth = st_depth[top]
        while last - first > 16:
            if depth == 0:
                # heapsort: make_heap, then sort_heap (std::__partial_sort(first, last, last))
                length = last - first
                parent = (length - 2) // 2
                while True:
                    _adjust_heap(v, ix, first, parent, length, v[first + parent], ix[first + parent])
                    if parent == 0:
                        break
                    parent -= 1
                end = last
                while end - first > 1:
                    end -= 1
                    val = v[end]
                    vix = ix[end]
                    v[end] = v[first]
                    ix[end] = ix[first]
                    _adjust_heap(v, ix, first, 0, end - first, val, vix)
                break
            depth -= 1
            # median of (first + 1, mid, last - 1) moved to first
            a = first + 1
            b = first + (last - first) // 2
            c = last - 1
            if v[a] > v[b]:
                if v[b] > v[c]:
                    _swap(v, ix, first, b)
                elif v[a] > v[c]:
                    _swap(v, ix, first, c)
                else:
                    _swap(v, ix, first, a)
            elif v[a] > v[c]:
                _swap(v, ix, first, a)
            elif v[b] > v[c]:
                _swap(v, ix, first, c)
            else:
                _swap(v, ix, first, b)
            # unguarded partition around v[first]
            lo = first + 1
            hi = last
            while True:
                while v[lo] > v[first]:
                    lo += 1
                hi -= 1
                while v[first] > v[hi]:
                    hi -= 1
                if not lo < hi:
                    break
                _swap(v, ix, lo, hi)
                lo += 1
            st_first[top] = lo
            st_last[top] = last
            st_depth[top] = depth
            top += 1
            last = lo
    # final insertion sort: guarded on the first 16, unguarded after
    lim = min(n, 16)
    for i in range(1, n):
        val = v[i]
        vix = ix[i]
        if i < lim and val > v[0]:
            for k in range(i, 0, -1):
                v[k] = v[k - 1]
                ix[k] = ix[k - 1]
            v[0] = val
            ix[0] = vix
        else:
            j = i
            while val > v[j - 1]:
                v[j] = v[j - 1]
                ix[j] = ix[j - 1]
                j -= 1
            v[j] = val
            ix[j] = vix
