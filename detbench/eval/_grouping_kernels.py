"""Numba kernels that put annotations in evaluation-group order (see :mod:`detbench.eval.grouping`)."""

from __future__ import annotations

import numpy as np

from detbench._jit import jit


@jit
def scatter_rows(i0, i1, dest, src, rows_in, ip, rows_out):
    """Put the per-annotation arrays in group order, entries ``i0 <= i < i1``.

    Entry ``i`` with ``o = dest[i] >= 0`` writes row ``src[i]`` of ``rows_in``
    (a :class:`~detbench.eval.grouping.Rows`; ``score``/``flag`` may be empty)
    and ``ip[i]`` to output slot ``o`` of ``rows_out`` (its ``img``/``src``
    fields receive ``ip[i]``/``src[i]``). Reading in input order and writing
    one sequential stream per group run (a scatter) is cache-friendly; distinct
    entries write distinct slots, so disjoint ranges may run in parallel.
    """
    # record fields bound once: attribute reads inside the loop cost refcount traffic
    box, area, score, flag = rows_in.box, rows_in.area, rows_in.score, rows_in.flag
    box_out, area_out, score_out, flag_out = rows_out.box, rows_out.area, rows_out.score, rows_out.flag
    img_out, src_out = rows_out.img, rows_out.src
    has_score = score.shape[0] > 0
    has_flag = flag.shape[0] > 0
    for i in range(i0, i1):
        o = dest[i]
        if o < 0:
            continue
        j = src[i]
        box_out[o, 0] = box[j, 0]
        box_out[o, 1] = box[j, 1]
        box_out[o, 2] = box[j, 2]
        box_out[o, 3] = box[j, 3]
        area_out[o] = area[j]
        if has_score:
            score_out[o] = score[j]
        if has_flag:
            flag_out[o] = flag[j]
        img_out[o] = ip[i]
        src_out[o] = j


@jit(inline="always")
def _key(a, b, n_img, n_cat, use_cats):
    return b * n_img + a if use_cats else a * n_cat + b


@jit
def count_keys(ip, cp, n_img, n_cat, use_cats, i0, i1, counts):
    """Chunk ``i0 <= i < i1`` of :func:`group_keys`' first pass: ``counts[k]`` += entries with key ``k``."""
    for i in range(i0, i1):
        a = ip[i]
        b = cp[i]
        if a >= 0 and b >= 0:
            counts[_key(a, b, n_img, n_cat, use_cats)] += 1


@jit
def chunk_cursors(counts, offsets):
    """Offsets of every key and, in place, the first slot of every (chunk, key): the chunked prefix sum.

    ``counts`` is ``(P, n_keys)`` (chunk ``c``'s count of key ``k``); on return
    ``counts[c, k]`` is where chunk ``c`` writes its first entry of key ``k``, so
    the chunks together reproduce the serial stable order. Returns the total.
    """
    P, n_keys = counts.shape
    total = 0
    for k in range(n_keys):
        offsets[k] = total
        for c in range(P):
            n = counts[c, k]
            counts[c, k] = total
            total += n
    offsets[n_keys] = total
    return total


@jit
def place_keys(ip, cp, n_img, n_cat, use_cats, i0, i1, cursor, dest):
    """Chunk ``i0 <= i < i1`` of :func:`group_keys`' second pass, from that chunk's ``cursor`` row."""
    for i in range(i0, i1):
        a = ip[i]
        b = cp[i]
        o = -1
        if a >= 0 and b >= 0:
            k = _key(a, b, n_img, n_cat, use_cats)
            o = cursor[k]
            cursor[k] = o + 1
        dest[i] = o


@jit
def lut_positions(values, lo, span, lut, out):
    """``out[i] = lut[values[i] - lo]`` where ``values[i] - lo`` is an integer in ``[0, span]``, else -1.

    The one-pass form of :func:`detbench.eval.annotations.positions`' look-up
    table for dense integer ids (``values`` any real dtype; NaN gives -1).
    """
    for i in range(values.shape[0]):
        v = values[i] - lo
        o = -1
        if v >= 0 and v <= span and v == np.floor(v):
            o = lut[np.int64(v)]
        out[i] = o


@jit
def group_keys(ip, cp, n_img, n_cat, use_cats, offsets, dest):
    """Stable counting sort of annotations by evaluation group.

    ``ip``/``cp`` are image/category positions (-1: not evaluated). The key is
    ``cp * n_img + ip`` with ``use_cats`` (groups = (category, image)), else
    ``ip * n_cat + cp`` (groups = images, categories in ``catIds`` order inside).
    ``offsets`` (``n_img * n_cat + 1``, zeroed) receives the start of every key
    and ``dest`` the output slot of every input (-1: not evaluated). Returns the
    number of annotations kept. O(N + n_img * n_cat).

    The second pass advances ``offsets[k]`` itself as key ``k``'s cursor, which leaves it at
    the end of group ``k``; one backward shift restores the starts. No ``n_img * n_cat``
    cursor array (190 MB of fresh pages at LVIS size).
    """
    n = ip.shape[0]
    n_keys = n_img * n_cat
    count_keys(ip, cp, n_img, n_cat, use_cats, 0, n, offsets[1:])  # key k counted at offsets[k + 1]
    for k in range(n_keys):
        offsets[k + 1] += offsets[k]
    place_keys(ip, cp, n_img, n_cat, use_cats, 0, n, offsets, dest)  # offsets as the cursors
    # offsets[k] is now the end of group k = the start of group k + 1
    for k in range(n_keys - 1, -1, -1):
        offsets[k + 1] = offsets[k]
    offsets[0] = 0
    return offsets[n_keys]
