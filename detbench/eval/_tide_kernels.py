"""Numba kernels of the TIDE error breakdown (:mod:`detbench.eval.tide`).

Two records (namedtuples) carry the data:

* :class:`TideImages` - the kept detections and the regular ground truths of
  every image, in tidecv's order, with the evaluation's matches;
* :class:`TideErrors` - what :func:`classify_images` finds per detection and
  per ground truth (the error types and their fixes).

:func:`classify_images` reproduces tidecv's per-image error rules;
:func:`scenario_aps` computes tidecv's AP (its own interpolation) with the
errors of one type fixed, or the special errors. Neither matches anything: the
matches come from the evaluation (``COCOeval.matches()``).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import prange

from detbench._jit import jit
from detbench.eval._greedy_kernels import _bbox_iou

#: detection status (tidecv's ``used``: True, False, None)
S_FP = 0
S_TP = 1
S_IGN = 2

#: error codes, in tidecv's order of its main errors
E_NONE = -1
E_CLS = 0
E_LOC = 1
E_BOTH = 2
E_DUPE = 3
E_BKG = 4
E_MISS = 5

#: scenarios of :func:`scenario_aps` beyond the six main errors (0..5)
SC_BASE = 6
SC_FALSE_POS = 7
SC_FALSE_NEG = 8
N_SCENARIOS = 9

TideImages = namedtuple(
    "TideImages",
    [
        "d_off",  # int64 (n_img + 1,): kept detections of image i are d_off[i]:d_off[i + 1], tidecv's order
        # (score descending, then input order), at most max_dets per image
        "d_box",  # float64 (D, 4): their xywh boxes
        "d_score",  # float64 (D,): their scores
        "d_cls",  # int64 (D,): their category index (0..K-1)
        "d_match",  # int64 (D,): the evaluation's match at the foreground threshold: local index (in the image's
        # regular ground truths) of the matched regular ground truth, -1 none, -2 matched a crowd region
        "d_crowd_iou",  # float64 (D,): IoU (crowd rule) with the matched crowd region where d_match == -2
        "g_off",  # int64 (n_img + 1,): regular ground truths of image i are g_off[i]:g_off[i + 1], input order
        "g_box",  # float64 (G, 4): their xywh boxes
        "g_cls",  # int64 (G,): their category index
    ],
)
TideImages.__doc__ = "Detections and regular ground truths per image, in tidecv's order (fields documented in source)."

TideErrors = namedtuple(
    "TideErrors",
    [
        "status",  # int8 (D,): S_FP, S_TP or S_IGN (matched a crowd region: left out of the AP)
        "err",  # int8 (D,): error type of a detection that is not a TP (E_*), E_NONE for TPs
        "fix_cls",  # int64 (D,): category index of the TP a fixed Cls/Loc error becomes, -1 if fixing removes it
        "err_gt",  # int64 (D,): the ground truth (index into TideImages.g_*) a Cls/Loc error points at, else -1
        "g_used",  # uint8 (G,): 1 if matched (a TP)
        "g_usable",  # uint8 (G,): 1 if a Cls/Loc error points at it while it is unmatched
        "ties",  # int64 (n_img,): TPs per image for which an earlier unmatched ground truth of the class had
        # exactly the same IoU (tidecv takes the first of equal IoUs, pycocotools the last)
    ],
)
TideErrors.__doc__ = "Per-detection and per-ground-truth results of :func:`classify_images` (fields in source)."


def make_tide_errors(n_det: int, n_gt: int, n_img: int) -> TideErrors:
    """An empty :class:`TideErrors` for ``n_det`` detections, ``n_gt`` ground truths and ``n_img`` images."""
    return TideErrors(
        np.zeros(n_det, np.int8),
        np.full(n_det, E_NONE, np.int8),
        np.full(n_det, -1, np.int64),
        np.full(n_det, -1, np.int64),
        np.zeros(n_gt, np.uint8),
        np.zeros(n_gt, np.uint8),
        np.zeros(n_img, np.int64),
    )


@jit(inline="always")
def _iou(d_box, d, g_box, g):
    return _bbox_iou(
        d_box[d, 0], d_box[d, 1], d_box[d, 2], d_box[d, 3], g_box[g, 0], g_box[g, 1], g_box[g, 2], g_box[g, 3], 0
    )


@jit(parallel=True)
def classify_images(im, pos, bg, out, scratch_best, scratch_bestd):
    """tidecv's per-image rules on the evaluation's matches; fills ``out`` (a :class:`TideErrors`).

    ``im``: :class:`TideImages`; ``pos``/``bg``: foreground and background
    thresholds. ``scratch_best`` (float64) and ``scratch_bestd`` (int64), both
    (n_threads, most regular ground truths in an image), are per-thread buffers:
    best score of the errors pointing at each ground truth, and that error.
    For each detection that is not a TP, in score order: no regular ground
    truth in the image -> Bkg; best same-class IoU (tidecv's argmax: the first
    of equal values, over the class-masked row) in [bg, pos] -> Loc; best
    other-class IoU >= pos -> Cls; best IoU with a matched same-class ground
    truth >= pos -> Dupe; best IoU with any ground truth <= bg -> Bkg; else
    Both. A Cls/Loc error pointing at an unmatched ground truth marks it
    usable; only the highest-scoring such error (the first of equal scores)
    turns into a TP when fixed.
    """
    n_img = im.d_off.shape[0] - 1
    n_thr = scratch_best.shape[0]
    for c in prange(n_thr):
        best = scratch_best[c]
        best_d = scratch_bestd[c]
        for i in range(c, n_img, n_thr):
            _classify_one(im, pos, bg, out, best, best_d, i)


@jit
def _classify_one(im, pos, bg, out, best, best_d, i):
    # one image. Called, not inlined: with inline="always" this body inside the prange of
    # classify_images compiled wrongly here (Numba 0.68.1, fresh cache: Cls/Loc fixes kept that the last loop drops;
    # the same code from Python was right), so keep it a separate compiled function.
    ds = im.d_off[i]
    de = im.d_off[i + 1]
    gs = im.g_off[i]
    ng = im.g_off[i + 1] - gs
    d_box = im.d_box
    g_box = im.g_box
    g_cls = im.g_cls
    status = out.status
    err = out.err
    fix_cls = out.fix_cls
    used = out.g_used
    usable = out.g_usable
    # matches, in score order (a TP's tie check sees the ground truths taken so far)
    ties = 0
    for d in range(ds, de):
        m = im.d_match[d]
        if m >= 0:
            status[d] = S_TP
            k = im.d_cls[d]
            v = _iou(d_box, d, g_box, gs + m)
            for j in range(m):
                if used[gs + j] == 0 and g_cls[gs + j] == k and _iou(d_box, d, g_box, gs + j) == v:
                    ties += 1
                    break
            used[gs + m] = 1
        elif m == -2 and im.d_crowd_iou[d] > pos:
            status[d] = S_IGN  # tidecv ignores a detection over a crowd region only above the threshold
        else:
            status[d] = S_FP
    out.ties[i] = ties
    for j in range(ng):
        best[j] = -1.0
        best_d[j] = -1
    for d in range(ds, de):
        if status[d] == S_TP:
            continue
        if ng == 0:
            err[d] = E_BKG
            continue
        k = im.d_cls[d]
        a = 0
        va = -1.0
        b = 0
        vb = -1.0
        vu = -1.0
        vmax = -1.0
        for j in range(ng):
            v = _iou(d_box, d, g_box, gs + j)
            same = g_cls[gs + j] == k
            vc = v if same else 0.0
            vn = 0.0 if same else v
            vd = v if (same and used[gs + j] != 0) else 0.0
            if vc > va:
                va = vc
                a = j
            if vn > vb:
                vb = vn
                b = j
            if vd > vu:
                vu = vd
            if v > vmax:
                vmax = v
        g = -1
        if bg <= va and va <= pos:
            err[d] = E_LOC
            g = a
            fix_cls[d] = k
        elif vb >= pos:
            err[d] = E_CLS
            g = b
            fix_cls[d] = g_cls[gs + b]
        elif vu >= pos:
            err[d] = E_DUPE
        elif vmax <= bg:
            err[d] = E_BKG
        else:
            err[d] = E_BOTH
        if g >= 0:
            out.err_gt[d] = gs + g
            if used[gs + g] != 0:
                fix_cls[d] = -1
            else:
                usable[gs + g] = 1
                if best[g] < im.d_score[d]:
                    best[g] = im.d_score[d]
                    best_d[g] = d
    # only the best-scoring error per ground truth (the first of equal scores) is fixed into a TP
    for d in range(ds, de):
        g = out.err_gt[d]
        if g >= 0 and fix_cls[d] >= 0 and best_d[g - gs] != d:
            fix_cls[d] = -1


@jit
def scenario_aps(im, er, n_cls, n_gt, n_missed, n_tp, ord_base, ord_fix, x_range, out_ap, n_classes_used):
    """tidecv's mAP (AP points) for every scenario: ``out_ap[s]`` for s in 0..5 (main error s fixed),
    SC_BASE (nothing fixed), SC_FALSE_POS, SC_FALSE_NEG.

    ``n_gt``/``n_missed``/``n_tp`` (n_cls,): regular ground truths, Miss errors
    and matched ground truths per class. ``ord_base``: detections by (score
    descending, visit order), the order of tidecv's unfixed AP data;
    ``ord_fix``: by (score descending, TPs after the others, visit order),
    the order of its fixed AP data (errors are pushed before the TPs).
    ``x_range``: tidecv's 101 recall points. ``n_classes_used[s]`` receives
    the number of classes averaged (tidecv skips classes with neither
    detections nor ground truths).
    """
    n = ord_base.shape[0]
    cls_of = np.empty(max(n, 1), np.int64)
    true_of = np.zeros(max(n, 1), np.bool_)
    tp_pos = np.empty(max(n, 1), np.int64)
    smax = np.empty(max(n, 1), np.float64)
    ngt = np.empty(n_cls, np.int64)
    npt = np.zeros(n_cls, np.int64)
    ntp = np.zeros(n_cls + 1, np.int64)
    wpos = np.zeros(n_cls, np.int64)
    k_in = np.zeros(n_cls, np.int64)
    # the per-detection fields gathered once into each order (sequential reads below)
    b_cls = np.empty(max(n, 1), np.int64)
    b_st = np.empty(max(n, 1), np.int8)
    f_cls = np.empty(max(n, 1), np.int64)
    f_st = np.empty(max(n, 1), np.int8)
    f_err = np.empty(max(n, 1), np.int8)
    f_fix = np.empty(max(n, 1), np.int64)
    for q in range(n):
        d = ord_base[q]
        b_cls[q] = im.d_cls[d]
        b_st[q] = er.status[d]
        d = ord_fix[q]
        f_cls[q] = im.d_cls[d]
        f_st[q] = er.status[d]
        f_err[q] = er.err[d]
        f_fix[q] = er.fix_cls[d]
    for s in range(N_SCENARIOS):
        d_cls = b_cls if s == SC_BASE else f_cls
        status = b_st if s == SC_BASE else f_st
        for c in range(n_cls):
            ngt[c] = n_gt[c]
            if s == E_MISS:
                ngt[c] = n_gt[c] - n_missed[c]
            elif s == SC_FALSE_NEG:
                ngt[c] = n_tp[c]
        # the points of this scenario, in its order: class and TP flag (class -1: absent)
        for c in range(n_cls):
            npt[c] = 0
            ntp[c + 1] = 0
        for q in range(n):
            st = status[q]
            c = -1
            t = False
            if st == S_TP:
                c = d_cls[q]
                t = True
            elif s < SC_BASE and f_err[q] == s:
                if s <= E_LOC and f_fix[q] >= 0:
                    c = f_fix[q]
                    t = True
            elif st == S_FP:
                c = d_cls[q]
            cls_of[q] = c
            true_of[q] = t
            if c >= 0:
                npt[c] += 1
                if t:
                    ntp[c + 1] += 1
        for c in range(n_cls):
            ntp[c + 1] += ntp[c]
            wpos[c] = ntp[c]
            k_in[c] = 0
        # the position of every TP among its class's points (the AP needs nothing else)
        if s == SC_FALSE_POS:
            # scores become 1 (TP) and 0 (FP): every TP of a class comes before its FPs
            for c in range(n_cls):
                for j in range(ntp[c + 1] - ntp[c]):
                    tp_pos[ntp[c] + j] = j
        else:
            for q in range(n):
                c = cls_of[q]
                if c >= 0:
                    if true_of[q]:
                        tp_pos[wpos[c]] = k_in[c]
                        wpos[c] += 1
                    k_in[c] += 1
        total = 0.0
        used = 0
        for c in range(n_cls):
            if npt[c] == 0 and ngt[c] == 0:
                continue
            used += 1
            total += _class_ap(tp_pos, ntp[c], ntp[c + 1], npt[c], ngt[c], x_range, smax)
        n_classes_used[s] = used
        out_ap[s] = total / used if used > 0 else np.nan


@jit(inline="always")
def _class_ap(tp_pos, a, b, n, ngt, x_range, smax):
    # tidecv's APDataObject.get_ap for a class of n points whose TPs sit at tp_pos[a:b]
    # (their indices among the points): precision num_true / (num_true + num_false),
    # running maximum from the right, precision at the first recall >= x for each x of
    # x_range (0 past the end), mean times 100. The running maximum from any point is
    # reached at a TP (precision only drops between TPs), and the first recall >= x > 0
    # is at a TP, so only the TPs are visited; same divisions, same sums as tidecv.
    if ngt == 0:
        return 0.0
    nt = b - a
    for k in range(nt):
        smax[k] = (k + 1) / (tp_pos[a + k] + 1)
    for k in range(nt - 1, 0, -1):
        if smax[k] > smax[k - 1]:
            smax[k - 1] = smax[k]
    s = 0.0
    k = 0
    for r in range(x_range.shape[0]):
        x = x_range[r]
        while k < nt and (k + 1) / ngt < x:
            k += 1
        if k < nt:
            s += smax[k]
    return s / x_range.shape[0] * 100.0


@jit
def build_images(gr, gsorted, d_count, slot_match, g_src, d_src, visit, n_cat, max_dets, local, out, lens):
    """Fill ``out`` (a :class:`TideImages` with room for every detection and ground truth) in tidecv's order.

    ``gr``: the evaluation's :class:`~detbench.eval.matching.Groups` (with categories);
    ``gsorted``/``d_count``: its detections by group and score (``AllMatches``);
    ``slot_match``: ``AllMatches.dt_match[a, t]`` (matched ground truth per sorted slot, -1 none);
    ``g_src``/``d_src``: input rows; ``visit``: image positions in tidecv's order. Each image takes its
    regular ground truths by input row and its ``max_dets`` best detections (score descending, then input
    row: a merge of its categories' sorted lists). ``local`` (G,) is scratch; ``lens`` (2,) receives the
    numbers of detections and ground truths written.
    """
    n_img = gr.n_img
    most = 1
    for i in range(n_img):
        c = 0
        cg = 0
        for k in range(n_cat):
            g = k * n_img + i
            c += min(d_count[g], max_dets)
            cg += gr.g_off[g + 1] - gr.g_off[g]
        most = max(most, c, cg)
    cand = np.empty(most, np.int64)
    ckey = np.empty(most, np.int64)
    cscore = np.empty(most, np.float64)
    ccls = np.empty(most, np.int64)
    idx = np.empty(most, np.int64)
    tmp = np.empty(most, np.int64)
    runs = np.empty(n_cat + 1, np.int64)
    nd = 0
    ng = 0
    out.d_off[0] = 0
    out.g_off[0] = 0
    for r in range(n_img):
        i = visit[r]
        c = 0
        nr = 0
        for k in range(n_cat):
            g = k * n_img + i
            c0 = c
            for q in range(gr.g_off[g], gr.g_off[g + 1]):
                if gr.g_crowd[q] == 0:
                    cand[c] = q
                    ckey[c] = g_src[q]
                    cscore[c] = 0.0
                    ccls[c] = k
                    c += 1
            if c > c0:
                runs[nr] = c0
                nr += 1
        runs[nr] = c
        _merge_runs(cscore, ckey, idx, tmp, runs, nr, c)
        for j in range(c):
            q = cand[idx[j]]
            local[q] = j
            for e in range(4):
                out.g_box[ng + j, e] = gr.g_box[q, e]
            out.g_cls[ng + j] = ccls[idx[j]]
        ng += c
        out.g_off[r + 1] = ng
        # the image's detections: its categories' kept lists merged by (score descending, input row)
        c = 0
        nr = 0
        for k in range(n_cat):
            g = k * n_img + i
            p0 = gr.d_off[g]
            n_k = min(d_count[g], max_dets)
            if n_k > 0:
                runs[nr] = c
                nr += 1
            for p in range(p0, p0 + n_k):
                cand[c] = p
                ckey[c] = d_src[gsorted[p]]
                cscore[c] = gr.d_score[gsorted[p]]
                ccls[c] = k
                c += 1
        runs[nr] = c
        _merge_runs(cscore, ckey, idx, tmp, runs, nr, c)
        for j in range(min(c, max_dets)):
            q = idx[j]
            p = cand[q]
            d = gsorted[p]
            for e in range(4):
                out.d_box[nd, e] = gr.d_box[d, e]
            out.d_score[nd] = gr.d_score[d]
            out.d_cls[nd] = ccls[q]
            m = slot_match[p]
            out.d_crowd_iou[nd] = 0.0
            if m < 0:
                out.d_match[nd] = -1
            elif gr.g_crowd[m] != 0:
                out.d_match[nd] = -2
                out.d_crowd_iou[nd] = _bbox_iou(
                    gr.d_box[d, 0],
                    gr.d_box[d, 1],
                    gr.d_box[d, 2],
                    gr.d_box[d, 3],
                    gr.g_box[m, 0],
                    gr.g_box[m, 1],
                    gr.g_box[m, 2],
                    gr.g_box[m, 3],
                    1,
                )
            else:
                out.d_match[nd] = local[m]
            nd += 1
        out.d_off[r + 1] = nd
    lens[0] = nd
    lens[1] = ng


@jit
def _merge_runs(kf, ki, idx, tmp, runs, nr, n):
    """``idx[:n]``: the positions 0..n-1 ordered by (``kf`` descending, ``ki`` ascending), given that
    ``runs[:nr + 1]`` delimits runs already in that order (bottom-up merges; ``tmp`` is scratch; ``runs``
    is overwritten). O(n log nr)."""
    for j in range(n):
        idx[j] = j
    a_in = idx
    a_out = tmp
    flipped = False
    while nr > 1:
        w = 0
        j = 0
        while j < nr:
            lo = runs[j]
            if j + 1 < nr:
                mid = runs[j + 1]
                hi = runs[j + 2]
                x = lo
                y = mid
                o = lo
                while x < mid and y < hi:
                    u = a_in[x]
                    v = a_in[y]
                    if kf[v] > kf[u] or (kf[v] == kf[u] and ki[v] < ki[u]):
                        a_out[o] = v
                        y += 1
                    else:
                        a_out[o] = u
                        x += 1
                    o += 1
                while x < mid:
                    a_out[o] = a_in[x]
                    x += 1
                    o += 1
                while y < hi:
                    a_out[o] = a_in[y]
                    y += 1
                    o += 1
                j += 2
            else:
                for o in range(lo, runs[j + 1]):
                    a_out[o] = a_in[o]
                j += 1
            runs[w] = lo
            w += 1
        runs[w] = runs[nr]
        nr = w
        a_in, a_out = a_out, a_in
        flipped = not flipped
    if flipped:
        for j in range(n):
            idx[j] = tmp[j]


@jit
def fix_order(ord_base, score, status, out):
    """``out``: ``ord_base`` (score descending, then visit order) with, inside every run of equal scores,
    the detections that are not TPs first (tidecv pushes errors before TPs into its fixed AP data)."""
    n = ord_base.shape[0]
    q = 0
    w = 0
    while q < n:
        e = q + 1
        s = score[ord_base[q]]
        while e < n and score[ord_base[e]] == s:
            e += 1
        for j in range(q, e):
            if status[ord_base[j]] != S_TP:
                out[w] = ord_base[j]
                w += 1
        for j in range(q, e):
            if status[ord_base[j]] == S_TP:
                out[w] = ord_base[j]
                w += 1
        q = e
