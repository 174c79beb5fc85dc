"""Numba kernels of COCO accumulation: pycocotools' ``accumulate`` from one matching pass.

:func:`accumulate_segment` turns the :class:`~detbench.eval.matching.SegmentMatches`
of one segment into its precision / recall / score curves;
:func:`evaluate_segments` runs matching then accumulation over a list of
segments with one workspace (one call per thread), and
:func:`evaluate_segments_prange` is the same split over ``prange`` (kept to
measure the two threading mechanisms against each other).

Only true positives are needed: pycocotools' precision envelope is reached at
true positives and the first index with recall >= r is a true positive (or
index 0, for r <= 0). Static detections (that cannot match) add to
per-``maxDets``-level FP counts shared by every threshold; dynamic ones add
their FP bits and, for each TP bit, record precision tp/(tp+fp+spacing(1)) and
the score, per level.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import prange

from detbench._compat import trailing_zeros
from detbench._jit import jit
from detbench.eval._greedy_kernels import _ALL
from detbench.eval._match_kernels import match_segment
from detbench.eval.matching import Groups, MatchScratch, SegmentMatches, Settings

Curves = namedtuple(
    "Curves",
    [
        "precision",  # float64 (K, A, T, M, R), prefilled with -1
        "recall",  # float64 (K, A, T, M), prefilled with -1
        "scores",  # float64 (K, A, T, M, R), prefilled with -1
    ],
)
Curves.__doc__ = "Contiguous output buffers; pycocotools' (T, R, K, A, M) arrays are transposed views of them."

AccScratch = namedtuple(
    "AccScratch",
    [
        "prbuf",  # float64 (T, M, L): precision at the c-th TP per (threshold, level)
        "scbuf",  # float64 (T, M, L): score at the c-th TP
        "tpl",  # int64 (M, T): TPs per (level, threshold) of the current area range
        "fpl",  # int64 (M, T): FPs of dynamic detections per (level, threshold)
        "sfpl",  # int64 (M,): FPs of static detections per level
    ],
)
AccScratch.__doc__ = "Per-thread scratch of :func:`_accumulate_kernels.accumulate_segment`."

Workspace = namedtuple(
    "Workspace",
    [
        "matches",  # SegmentMatches: the one matching pass of the current segment
        "match_tmp",  # MatchScratch
        "acc_tmp",  # AccScratch
    ],
)
Workspace.__doc__ = "Everything one thread needs to evaluate segments; built by :func:`make_workspace`."

#: ``np.spacing(1)``: pycocotools adds it to the precision denominator
EPS = float(np.spacing(1))


@jit(inline="always")
def _walk_area(st, a, L, sm, at):
    """One walk of the segment in global score order for area range ``a``.

    Leaves the TP counts per (level, threshold) in ``at.tpl`` and, for the
    c-th TP at threshold t and level m, precision/score at ``at.prbuf[t, m, c]``
    / ``at.scbuf[t, m, c]``.
    """
    fpl = at.fpl
    prbuf = at.prbuf
    scbuf = at.scbuf
    sfpl = at.sfpl
    tpl = at.tpl
    dyn_pos = sm.dyn_pos
    fpbits = sm.fpbits
    mlev = sm.mlev
    p_area = sm.p_area
    p_score = sm.p_score
    tpbits = sm.tpbits
    area_rng = st.area_rng
    iou_thr = st.iou_thr
    max_dets = st.max_dets
    T = iou_thr.shape[0]
    A = area_rng.shape[0]
    M = max_dets.shape[0]
    W = (T + 63) // 64
    lo_a = area_rng[a, 0]
    hi_a = area_rng[a, 1]
    one = np.uint64(1)
    zero = np.uint64(0)
    full = _ALL if T >= 64 else (one << np.uint64(T)) - one  # every threshold (used where W == 1)
    for m in range(M):
        sfpl[m] = 0
        for t in range(T):
            tpl[m, t] = 0
            fpl[m, t] = 0
    for j in range(L):
        k = dyn_pos[j]
        ml = mlev[j]
        if k < 0:
            ar = p_area[j]
            if k == -1 and not (ar < lo_a or ar > hi_a):  # -2: never a FP (LVIS not-exhaustive)
                sfpl[ml] += 1
            continue
        kb = (k * A + a) * W
        for w in range(W):
            t0 = w * 64
            fw = fpbits[kb + w]
            if W == 1 and fw == full:
                sfpl[ml] += 1  # a FP at every threshold counts like a static one (the usual dynamic FP)
            elif fw != zero:
                nb = min(64, T - t0)
                for bb in range(nb):
                    fpl[ml, t0 + bb] += np.int64((fw >> np.uint64(bb)) & one)
            tw = tpbits[kb + w]
            while tw != zero:
                t = t0 + np.int64(trailing_zeros(tw))
                tw &= tw - one
                tpl[ml, t] += 1
                tpc = 0
                fpc = 0
                sc = p_score[j]
                for m in range(M):
                    tpc += tpl[m, t]
                    fpc += fpl[m, t] + sfpl[m]
                    if m >= ml:
                        prbuf[t, m, tpc - 1] = tpc / (float(fpc + tpc) + EPS)
                        scbuf[t, m, tpc - 1] = sc


@jit(inline="always")
def _reach_table(fnp, n_max, rec_thr, rec_sorted, reach):
    """``reach[ri]``: the 1-based index of the first TP with recall ``c / fnp >= rec_thr[ri]`` (0 where
    ``rec_thr[ri] <= 0``; ``n_max + 1`` where no count up to ``n_max`` reaches it).

    The recall of the c-th TP is ``c / fnp`` whatever the threshold and level
    (``fnp`` = positives of the area range), so one table per (segment, area
    range) serves every (threshold, level): a level with ``ntp <= n_max`` TPs
    reaches ``rec_thr[ri]`` iff ``reach[ri] <= ntp`` (``c / fnp`` increases with
    ``c``), pycocotools' ``searchsorted(rc, recThrs, "left")``. One division per
    count and threshold here instead of per (threshold, level, recall threshold).
    """
    c = 1
    for ri in range(rec_thr.shape[0]):
        v = rec_thr[ri]
        if v <= 0.0:
            reach[ri] = 0
            continue
        if rec_sorted:  # a linear walk from the previous answer
            while c <= n_max and c / fnp < v:
                c += 1
            reach[ri] = c
        else:
            lo_c = 1
            hi_c = n_max + 1
            while lo_c < hi_c:
                mid = (lo_c + hi_c) >> 1
                if mid / fnp < v:
                    lo_c = mid + 1
                else:
                    hi_c = mid
            reach[ri] = lo_c


@jit(inline="always")
def _sample_curves(st, s, a, fnp, sm, at, out, reach):
    # recall per (threshold, level); the precision envelope sampled at the
    # recall thresholds with pycocotools' stop past the last recall
    prbuf = at.prbuf
    scbuf = at.scbuf
    tpl = at.tpl
    precision = out.precision
    recall = out.recall
    scores = out.scores
    first_score = sm.first_score
    ndm = sm.ndm
    iou_thr = st.iou_thr
    max_dets = st.max_dets
    rec_thr = st.rec_thr
    T = iou_thr.shape[0]
    M = max_dets.shape[0]
    R = rec_thr.shape[0]
    n_max = 0  # most TPs of any (threshold, level)
    for t in range(T):
        ntp = 0
        for m in range(M):
            ntp += tpl[m, t]
        n_max = max(n_max, ntp)
    _reach_table(fnp, n_max, rec_thr, st.rec_sorted, reach)
    for t in range(T):
        ntp = 0
        for m in range(M):
            ntp += tpl[m, t]
            if ndm[m] > 0:
                recall[s, a, t, m] = ntp / fnp
            else:
                recall[s, a, t, m] = 0.0
            for c in range(ntp - 2, -1, -1):
                if prbuf[t, m, c + 1] > prbuf[t, m, c]:
                    prbuf[t, m, c] = prbuf[t, m, c + 1]
            pr_out = precision[s, a, t, m]
            sc_out = scores[s, a, t, m]
            first = first_score[m]
            empty = ndm[m] == 0
            ri = 0
            while ri < R:
                c = reach[ri]
                if c == 0:  # recall threshold <= 0: index 0 (nothing kept: stop)
                    if empty:
                        break
                    pr_out[ri] = prbuf[t, m, 0] if ntp > 0 else 0.0
                    sc_out[ri] = first
                elif c > ntp:  # not reached: pycocotools stops here
                    break
                else:
                    pr_out[ri] = prbuf[t, m, c - 1]
                    sc_out[ri] = scbuf[t, m, c - 1]
                ri += 1
            while ri < R:
                pr_out[ri] = 0.0
                sc_out[ri] = 0.0
                ri += 1


@jit
def accumulate_segment(st, s, L, sm, at, out):
    """Precision / recall / scores of segment ``s`` from its matches ``sm`` (``L`` detections).

    ``st``: :class:`~detbench.eval.matching.Settings`; ``at``:
    :class:`~detbench.eval.accumulate.AccScratch`; ``out``:
    :class:`~detbench.eval.accumulate.Curves` (``(K, A, T, M, R)`` precision
    and scores, ``(K, A, T, M)`` recall; every entry of segment ``s`` is
    written, -1 for area ranges without positives). O(A*(D + T*D_dynamic) + A*T*M*R).
    """
    precision = out.precision
    recall = out.recall
    scores = out.scores
    npig = sm.npig
    area_rng = st.area_rng
    reach = np.empty(st.rec_thr.shape[0], np.int64)
    for a in range(area_rng.shape[0]):
        npa = npig[a]
        if npa == 0:
            # no positives: pycocotools leaves -1 (written here, by the thread that owns the slice)
            precision[s, a] = -1.0
            recall[s, a] = -1.0
            scores[s, a] = -1.0
            continue
        _walk_area(st, a, L, sm, at)
        _sample_curves(st, s, a, float(npa), sm, at, out, reach)


@jit
def evaluate_segments(gr, st, segs, ws, out):
    """Match then accumulate every segment listed in ``segs``, with one workspace ``ws``.

    ``ws``: :class:`~detbench.eval.accumulate.Workspace`. Each segment writes
    only its own slices of ``out``, so disjoint ``segs`` lists may run in
    parallel threads, each with its own workspace (the kernel releases the GIL).
    """
    for si in range(segs.shape[0]):
        s = segs[si]
        L = match_segment(gr, st, s, ws.matches, ws.match_tmp)
        accumulate_segment(st, s, L, ws.matches, ws.acc_tmp, out)


@jit
def _new_workspace(max_len, max_g, max_nd, max_iou, n_img, A, M, T):
    # the arrays of :func:`detbench.eval.accumulate.make_workspace`, allocated in compiled code
    W = (T + 63) // 64
    i8 = np.int64
    sm = SegmentMatches(
        np.empty(max_len, i8), np.empty(max_len, i8), np.empty(max_len, np.float64), np.empty(max_len, np.float64),
        np.empty(max_len * A * W, np.uint64), np.empty(max_len * A * W, np.uint64), np.zeros(A, i8), np.zeros(M, i8),
        np.zeros(M, np.float64),
    )  # fmt: skip
    mt = MatchScratch(
        np.zeros(1, i8), np.zeros(max(n_img, 1), i8), np.empty(max_len, i8), np.empty(max_len, i8),
        np.empty(max_len, np.float64), np.zeros(M, i8), np.zeros(M, i8), np.empty(max_iou, np.float64),
        np.empty(max_nd, np.float64), np.empty(max_g, i8), np.empty(max_g, np.uint8), np.empty(max_g, np.uint8),
        np.zeros(max_g, np.int8), np.empty(max_nd, i8), np.empty(max_nd, i8), np.empty(max_nd, i8),
        np.empty(A, np.uint64), np.empty((A, max_g), i8), np.empty((A, max_nd, T), i8), np.empty(max_nd, np.uint64),
    )  # fmt: skip
    at = AccScratch(
        np.empty((T, M, max_len), np.float64), np.empty((T, M, max_len), np.float64), np.zeros((M, T), i8),
        np.zeros((M, T), i8), np.zeros(M, i8),
    )  # fmt: skip
    return Workspace(sm, mt, at)


@jit(parallel=True)
def evaluate_segments_prange(gr, st, segs, part_off, sizes, out):
    """:func:`evaluate_segments` over the parts ``segs[part_off[p]:part_off[p + 1]]`` in a ``prange``.

    Each part allocates its own workspace (``sizes``: :func:`~detbench.eval.matching.sizes_of`).
    Numba's parallel loops cannot capture tuples, so the records are taken
    apart here and rebuilt inside the loop body.
    """
    (
        n_img,
        g_off,
        g_box,
        g_area,
        g_crowd,
        g_idok,
        d_off,
        d_box,
        d_area,
        d_score,
        d_idok,
        d_img,
        gorder,
        seg_off,
        d_iou,
        d_iou_off,
        d_nexh,
    ) = gr
    iou_thr, area_rng, max_dets, rec_thr, rec_sorted = st
    precision, recall, scores = out
    max_len, max_g, max_nd, max_iou = sizes
    A = area_rng.shape[0]
    M = max_dets.shape[0]
    T = iou_thr.shape[0]
    for p in prange(part_off.shape[0] - 1):
        gr_p = Groups(
            n_img,
            g_off,
            g_box,
            g_area,
            g_crowd,
            g_idok,
            d_off,
            d_box,
            d_area,
            d_score,
            d_idok,
            d_img,
            gorder,
            seg_off,
            d_iou,
            d_iou_off,
            d_nexh,
        )
        st_p = Settings(iou_thr, area_rng, max_dets, rec_thr, rec_sorted)
        ws = _new_workspace(max_len, max_g, max_nd, max_iou, n_img, A, M, T)
        evaluate_segments(gr_p, st_p, segs[part_off[p] : part_off[p + 1]], ws, Curves(precision, recall, scores))
