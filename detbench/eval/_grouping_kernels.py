"""Numba kernels that put annotations in evaluation-group order (see :mod:`detbench.eval.grouping`)."""

from __future__ import annotations

from detbench._jit import jit


@jit
def group_keys(ip, cp, n_img, n_cat, use_cats, offsets, cursor, dest):
    """Stable counting sort of annotations by evaluation group.

    ``ip``/``cp`` are image/category positions (-1: not evaluated). The key is
    ``cp * n_img + ip`` with ``use_cats`` (groups = (category, image)), else
    ``ip * n_cat + cp`` (groups = images, categories in ``catIds`` order inside).
    ``offsets`` (``n_img * n_cat + 1``, zeroed) receives the start of every key
    and ``dest`` the output slot of every input (-1: not evaluated); ``cursor``
    is scratch. Returns the number of annotations kept. O(N + n_img * n_cat).
    """
    n = ip.shape[0]
    n_keys = n_img * n_cat
    for i in range(n):
        a = ip[i]
        b = cp[i]
        if a >= 0 and b >= 0:
            k = b * n_img + a if use_cats else a * n_cat + b
            offsets[k + 1] += 1
    for k in range(n_keys):
        offsets[k + 1] += offsets[k]
        cursor[k] = offsets[k]
    for i in range(n):
        a = ip[i]
        b = cp[i]
        o = -1
        if a >= 0 and b >= 0:
            k = b * n_img + a if use_cats else a * n_cat + b
            o = cursor[k]
            cursor[k] = o + 1
        dest[i] = o
    return offsets[n_keys]


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
    box = rows_in.box
    box_out = rows_out.box
    has_score = rows_in.score.shape[0] > 0
    has_flag = rows_in.flag.shape[0] > 0
    for i in range(i0, i1):
        o = dest[i]
        if o < 0:
            continue
        j = src[i]
        box_out[o, 0] = box[j, 0]
        box_out[o, 1] = box[j, 1]
        box_out[o, 2] = box[j, 2]
        box_out[o, 3] = box[j, 3]
        rows_out.area[o] = rows_in.area[j]
        if has_score:
            rows_out.score[o] = rows_in.score[j]
        if has_flag:
            rows_out.flag[o] = rows_in.flag[j]
        rows_out.img[o] = ip[i]
        rows_out.src[o] = j
