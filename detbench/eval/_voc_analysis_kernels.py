"""Numba kernel of :mod:`detbench.eval.voc_analysis`: bootstrap of ``evaluate_pr``'s three AP definitions.

:func:`pr_bootstrap_chunk` re-accumulates the stored match statuses of one evaluation with image
multiplicities as weights (no matching, no IoU), giving the same COCO-101, VOC07 and VOC2010+ APs as
:func:`detbench.eval._voc_kernels.pr_accumulate` on the resampled data set.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from detbench._jit import jit
from detbench.eval._accumulate_kernels import EPS
from detbench.eval._analysis_kernels import _reach
from detbench.eval._greedy_kernels import ST_FP, ST_TP

PRRanked = namedtuple(
    "PRRanked",
    [
        "cls_off",  # int64 (K + 1,): entries of class k are cls_off[k]:cls_off[k + 1]
        "img",  # int64 (N,): image position of each entry; entries of a class by decreasing score, then image,
        # then input row (the order of the re-evaluated data set)
        "run",  # int64 (N,): L > 1 at the first of L entries of one image with one score (cycled copy by copy when
        # the image is drawn several times), 0 at the others of that run, 1 elsewhere
        "status",  # int8 (T, N): ST_FP / ST_TP / ST_IGN of each entry at each IoU threshold
        "pos_off",  # int64 (K + 1,): images with positives of class k are pos_off[k]:pos_off[k + 1]
        "pos_img",  # int64 (P,): their image positions
        "pos_cnt",  # int64 (P,): positives (not difficult) of that (class, image)
    ],
)
PRRanked.__doc__ = "Stored statuses of ``evaluate_pr`` in resampling order (fields documented in source)."


@jit(inline="always")
def _point(ptp, pfp, n, tp, fp):
    # a true positive at counts (tp, fp): right after another TP (no FP between) it replaces that point,
    # since precision rises along a run of TPs and every envelope read inside the run equals its end's
    if n > 0 and pfp[n - 1] == fp:
        ptp[n - 1] = tp
        return n
    ptp[n] = tp
    pfp[n] = fp
    return n + 1


@jit(inline="always")
def _aps(ptp, pfp, n, npos, rec101, r101, rec11, r11, envc, envv):
    # (COCO-101, VOC07, VOC2010+) from the TP points, with pr_accumulate's divisions and summation order
    for p in range(n):
        envc[p] = ptp[p] / (float(pfp[p] + ptp[p]) + EPS)
        envv[p] = ptp[p] / float(pfp[p] + ptp[p])
    for p in range(n - 2, -1, -1):
        if envc[p + 1] > envc[p]:
            envc[p] = envc[p + 1]
        if envv[p + 1] > envv[p]:
            envv[p] = envv[p + 1]
    s = 0.0
    c = 0
    for ri in range(rec101.shape[0]):
        while c < n and ptp[c] < r101[ri]:
            c += 1
        if c >= n:
            break
        s += envc[c]
    coco = s / rec101.shape[0]
    s = 0.0
    c = 0
    for ri in range(rec11.shape[0]):
        while c < n and ptp[c] < r11[ri]:
            c += 1
        best = envv[c] if c < n else 0.0
        s += best / 11.0
    voc07 = s
    area = 0.0
    fn = float(npos)
    for p in range(n - 1, -1, -1):
        prev = ptp[p - 1] if p > 0 else 0
        for tp in range(ptp[p], prev, -1):
            area += (tp / fn - (tp - 1) / fn) * envv[p]
    return coco, voc07, area


@jit
def pr_bootstrap_chunk(rk, counts, rec101, rec11, out):
    """APs of the resamples ``counts`` (B, n_img multiplicities) into ``out`` (3, B, K, T).

    ``out[0]`` COCO-101, ``out[1]`` VOC07 11-point, ``out[2]`` VOC2010+ all-point AP of class k at threshold t
    when image i appears ``counts[b, i]`` times (NaN without positives). ``rk``: :class:`PRRanked`. An entry
    seen w times is one step of weight w; runs of one image with one score are cycled copy by copy.
    O(B * K * T * (N_k + P_k + 112)).
    """
    K = rk.cls_off.shape[0] - 1
    T = rk.status.shape[0]
    B = counts.shape[0]
    cap = 64
    ptp = np.empty(cap, np.int64)
    pfp = np.empty(cap, np.int64)
    envc = np.empty(cap, np.float64)
    envv = np.empty(cap, np.float64)
    r101 = np.empty(rec101.shape[0], np.int64)
    r11 = np.empty(rec11.shape[0], np.int64)
    for b in range(B):
        cb = counts[b]
        for k in range(K):
            npos = 0
            for q in range(rk.pos_off[k], rk.pos_off[k + 1]):
                npos += cb[rk.pos_img[q]] * rk.pos_cnt[q]
            if npos == 0:
                for t in range(T):
                    out[0, b, k, t] = np.nan
                    out[1, b, k, t] = np.nan
                    out[2, b, k, t] = np.nan
                continue
            if npos + 1 > cap:  # points <= true positives <= positives
                cap = 2 * (npos + 1)
                ptp = np.empty(cap, np.int64)
                pfp = np.empty(cap, np.int64)
                envc = np.empty(cap, np.float64)
                envv = np.empty(cap, np.float64)
            _reach(npos, rec101, r101)
            _reach(npos, rec11, r11)
            lo = rk.cls_off[k]
            hi = rk.cls_off[k + 1]
            for t in range(T):
                n = 0
                tp = 0
                fp = 0
                j = lo
                while j < hi:
                    L = rk.run[j]
                    w = cb[rk.img[j]]
                    if w > 0:
                        if L == 1:
                            s = rk.status[t, j]
                            if s == ST_TP:
                                tp += w
                                n = _point(ptp, pfp, n, tp, fp)
                            elif s == ST_FP:
                                fp += w
                        else:
                            for _ in range(w):
                                for e in range(j, j + L):
                                    s = rk.status[t, e]
                                    if s == ST_TP:
                                        tp += 1
                                        n = _point(ptp, pfp, n, tp, fp)
                                    elif s == ST_FP:
                                        fp += 1
                    j += L
                a, v7, v = _aps(ptp, pfp, n, npos, rec101, r101, rec11, r11, envc, envv)
                out[0, b, k, t] = a
                out[1, b, k, t] = v7
                out[2, b, k, t] = v
