"""Numba kernels of the mergeable COCO evaluator (:mod:`detbench.eval.streaming`).

:func:`collect_batch` runs the one matching pass of every category of a batch
(:func:`~detbench.eval._match_kernels.match_segment`) and writes, per kept
detection, the row the evaluator stores (:class:`MatchRows`): category,
image, rank in its (image, category), score and TP/FP bit masks per area
range. :func:`accumulate_rows` turns rows sorted in pycocotools' order back
into :class:`~detbench.eval.matching.SegmentMatches` records and accumulates
them with :func:`~detbench.eval._accumulate_kernels.accumulate_segment`.

Every stored detection is *dynamic* (carries explicit bits): a detection the
one-shot kernel settles as static (an FP at every threshold inside the area
range) gets all-ones FP bits there instead, which adds the same integers to the
same FP counts, so the precision comes out bit-identical.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from detbench._jit import jit
from detbench.eval._accumulate_kernels import accumulate_segment
from detbench.eval._greedy_kernels import _ALL
from detbench.eval._match_kernels import match_segment
from detbench.eval.matching import SegmentMatches

MatchRows = namedtuple(
    "MatchRows",
    [
        "cat",  # int64 (N,): category position (segment) of each kept detection
        "img",  # int64 (N,): image position in the batch
        "rank",  # int64 (N,): rank by score inside its (image, category), < max_dets[-1]
        "score",  # float64 (N,): its score
        "tp",  # uint64 (N, A, W): thresholds where it is a TP, per area range (W = ceil(T / 64))
        "fp",  # uint64 (N, A, W): thresholds where it is a FP (neither: ignored)
    ],
)
MatchRows.__doc__ = "Per kept detection of a batch: what accumulation needs (fields documented in source)."


@jit(inline="always")
def _word_mask(T, w):
    # the bits of word w that stand for thresholds
    nb = min(64, T - 64 * w)
    if nb >= 64:
        return _ALL
    return (np.uint64(1) << np.uint64(nb)) - np.uint64(1)


@jit
def collect_batch(gr, st, sm, mt, rows):
    """Match every segment of ``gr`` and write one :class:`MatchRows` row per kept detection.

    Rows come segment by segment, image by image, rank by rank. ``sm``/``mt``:
    a :class:`~detbench.eval.matching.SegmentMatches` / ``MatchScratch`` sized
    for ``gr``. Returns the number of rows written.
    """
    d_off = gr.d_off
    d_area = gr.d_area
    d_score = gr.d_score
    n_img = gr.n_img
    seg_off = gr.seg_off
    area_rng = st.area_rng
    max_dets = st.max_dets
    A = area_rng.shape[0]
    T = st.iou_thr.shape[0]
    W = (T + 63) // 64
    max_last = max_dets[max_dets.shape[0] - 1]
    zero = np.uint64(0)
    o = 0
    for s in range(seg_off.shape[0] - 1):
        lo = seg_off[s]
        if seg_off[s + 1] == lo:
            continue
        match_segment(gr, st, s, sm, mt)
        gsorted = mt.gsorted
        lpos = mt.lpos
        dyn_pos = sm.dyn_pos
        tpbits = sm.tpbits
        fpbits = sm.fpbits
        for i in range(n_img):
            g = s * n_img + i
            nd = min(d_off[g + 1] - d_off[g], max_last)
            ds = d_off[g] - lo
            for r in range(nd):
                d = gsorted[ds + r]
                k = dyn_pos[lpos[d - lo]]
                rows.cat[o] = s
                rows.img[o] = i
                rows.rank[o] = r
                rows.score[o] = d_score[d]
                for a in range(A):
                    if k >= 0:
                        for w in range(W):
                            rows.tp[o, a, w] = tpbits[(k * A + a) * W + w]
                            rows.fp[o, a, w] = fpbits[(k * A + a) * W + w]
                    else:
                        ar = d_area[d]
                        inside = not (ar < area_rng[a, 0] or ar > area_rng[a, 1])
                        for w in range(W):
                            rows.tp[o, a, w] = zero
                            rows.fp[o, a, w] = _word_mask(T, w) if inside else zero
                o += 1
    return o


RowScratch = namedtuple(
    "RowScratch",
    [
        "mlev",  # int64 (L,): maxDets level of each row of the category
        "dyn_pos",  # int64 (L,): 0..L-1 (every stored row carries its bits)
        "p_area",  # float64 (L,): unused (no static rows), zeros
        "ndm",  # int64 (M,): rows up to each level
        "first_score",  # float64 (M,): score of the first row up to each level
        "p_score",  # float64 (L,): scores of the category's rows, in order
        "tp",  # uint64 (L * A * W,): their TP bits, widened from the stored dtype
        "fp",  # uint64 (L * A * W,): their FP bits
        "acc",  # AccScratch for categories of up to L rows
    ],
)
RowScratch.__doc__ = "Per-thread scratch of :func:`accumulate_rows` (fields documented in source)."


@jit
def accumulate_rows(st, cats, order, cat_off, rank, score, tp, fp, npig, ws, out):
    """Precision / recall / scores of the categories listed in ``cats``, from the stored rows.

    ``order[cat_off[k]:cat_off[k + 1]]`` are the rows of category ``k`` sorted
    by decreasing score, then image, then rank (the order of pycocotools'
    ``accumulate``). ``tp``/``fp``: ``(N, A * W)`` bit masks in their stored
    (unsigned) dtype, widened here per category; ``npig``: ``(K, A)``
    positives; ``ws``: a :class:`RowScratch` for the longest category;
    ``out``: ``Curves``. Every entry of the listed categories is written, so
    disjoint ``cats`` may run in parallel threads.
    """
    M = st.max_dets.shape[0]
    AW = tp.shape[1]
    max_dets = st.max_dets
    mlev = ws.mlev
    ndm = ws.ndm
    first_score = ws.first_score
    p_score = ws.p_score
    tpw = ws.tp
    fpw = ws.fp
    for ci in range(cats.shape[0]):
        k = cats[ci]
        lo = cat_off[k]
        L = cat_off[k + 1] - lo
        for m in range(M):
            ndm[m] = 0
        for j in range(L):
            row = order[lo + j]
            r = rank[row]
            ml = 0
            while r >= max_dets[ml]:
                ml += 1
            mlev[j] = ml
            ndm[ml] += 1
            p_score[j] = score[row]
            for q in range(AW):
                tpw[j * AW + q] = np.uint64(tp[row, q])
                fpw[j * AW + q] = np.uint64(fp[row, q])
        c = 0
        for m in range(M):
            c += ndm[m]
            ndm[m] = c
        for m in range(M):
            for j in range(L):
                if mlev[j] <= m:
                    first_score[m] = p_score[j]
                    break
        sm = SegmentMatches(mlev, ws.dyn_pos, ws.p_area, p_score, tpw, fpw, npig[k], ndm, first_score)
        accumulate_segment(st, k, L, sm, ws.acc, out)
