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
    cnt = np.zeros(n_cls + 1, np.int64)
    seq = np.zeros(max(n, 1), np.bool_)
    cls_of = np.empty(max(n, 1), np.int64)
    true_of = np.zeros(max(n, 1), np.bool_)
    prec = np.empty(max(n, 1), np.float64)
    rec = np.empty(max(n, 1), np.float64)
    ngt = np.empty(n_cls, np.int64)
    pos = np.empty(n_cls + 1, np.int64)
    for s in range(N_SCENARIOS):
        order = ord_base if s == SC_BASE else ord_fix
        for c in range(n_cls + 1):
            cnt[c] = 0
        for c in range(n_cls):
            ngt[c] = n_gt[c]
            if s == E_MISS:
                ngt[c] = n_gt[c] - n_missed[c]
            elif s == SC_FALSE_NEG:
                ngt[c] = n_tp[c]
        # the points of this scenario, in its order: class and TP flag (class -1: absent)
        for q in range(n):
            d = order[q]
            st = er.status[d]
            c = -1
            t = False
            if st == S_TP:
                c = im.d_cls[d]
                t = True
            elif s < SC_BASE and er.err[d] == s:
                if s <= E_LOC and er.fix_cls[d] >= 0:
                    c = er.fix_cls[d]
                    t = True
            elif st == S_FP:
                c = im.d_cls[d]
            cls_of[q] = c
            true_of[q] = t
            if c >= 0:
                cnt[c + 1] += 1
        for c in range(n_cls):
            cnt[c + 1] += cnt[c]
        for c in range(n_cls + 1):
            pos[c] = cnt[c]
        if s == SC_FALSE_POS:
            # scores become 1 (TP) and 0 (FP): every TP of a class comes before its FPs
            for q in range(n):
                c = cls_of[q]
                if c >= 0 and true_of[q]:
                    seq[pos[c]] = True
                    pos[c] += 1
            for q in range(n):
                c = cls_of[q]
                if c >= 0 and not true_of[q]:
                    seq[pos[c]] = False
                    pos[c] += 1
        else:
            for q in range(n):
                c = cls_of[q]
                if c >= 0:
                    seq[pos[c]] = true_of[q]
                    pos[c] += 1
        total = 0.0
        used = 0
        for c in range(n_cls):
            a = cnt[c]
            b = cnt[c + 1]
            if b == a and ngt[c] == 0:
                continue
            used += 1
            total += _class_ap(seq, a, b, ngt[c], x_range, prec, rec)
        n_classes_used[s] = used
        out_ap[s] = total / used if used > 0 else np.nan


@jit(inline="always")
def _class_ap(seq, a, b, ngt, x_range, prec, rec):
    # tidecv's APDataObject.get_ap: precision num_true / (num_true + num_false),
    # running maximum from the right, precision at the first recall >= x for
    # each x of x_range (0 past the end), mean times 100
    if ngt == 0:
        return 0.0
    n = b - a
    nt = 0
    for q in range(n):
        if seq[a + q]:
            nt += 1
        prec[q] = nt / (q + 1)
        rec[q] = nt / ngt
    for q in range(n - 1, 0, -1):
        if prec[q] > prec[q - 1]:
            prec[q - 1] = prec[q]
    s = 0.0
    q = 0
    for r in range(x_range.shape[0]):
        x = x_range[r]
        while q < n and rec[q] < x:
            q += 1
        if q < n:
            s += prec[q]
    return s / x_range.shape[0] * 100.0


@jit
def crowd_ious(d_box, d_idx, g_box, g_idx, out):
    """``out[q]``: IoU (pycocotools' crowd rule: the detection's area as the union) of detection ``d_idx[q]``
    with crowd region ``g_idx[q]``."""
    for q in range(d_idx.shape[0]):
        d = d_idx[q]
        g = g_idx[q]
        out[q] = _bbox_iou(
            d_box[d, 0], d_box[d, 1], d_box[d, 2], d_box[d, 3], g_box[g, 0], g_box[g, 1], g_box[g, 2], g_box[g, 3], 1
        )
