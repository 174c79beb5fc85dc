"""Numba kernels of :mod:`detbench.eval.bootstrap` and :mod:`detbench.eval.analysis`.

* :func:`bootstrap_chunk` - AP sums of a block of image resamples from the ranked matches of one evaluation
  (the record :class:`~detbench.eval.bootstrap.Ranked`);
* :func:`confusion_counts` - the (K+1) x (K+1) confusion matrix with ultralytics' or supervision's assignment rule.
"""

from __future__ import annotations

import numpy as np

from detbench._jit import jit

#: ``np.spacing(1)``: pycocotools adds it to the precision denominator
EPS = float(np.spacing(1))

#: status codes of a ranked detection at one IoU threshold (see :mod:`detbench.eval._greedy_kernels`)
ST_FP = 0
ST_TP = 1
ST_IGN = 2


@jit
def ranked_status(dt_match, dt_ign, g_idok, slots, status):
    """``status[e, t]`` (ST_FP / ST_TP / ST_IGN) of the detection in sorted slot ``slots[e]`` at threshold t.

    ``dt_match``/``dt_ign``: one area range of :class:`~detbench.eval.matching.AllMatches` (T, D); a match
    counts as a TP where ``g_idok`` of the ground truth is set (pycocotools' id rule).
    """
    T = dt_match.shape[0]
    for e in range(slots.shape[0]):
        d = slots[e]
        for t in range(T):
            if dt_ign[t, d]:
                status[e, t] = ST_IGN
            else:
                m = dt_match[t, d]
                status[e, t] = ST_TP if m >= 0 and g_idok[m] != 0 else ST_FP


@jit(inline="always")
def _push(ptp, pfp, npt, t, tp, fp):
    # record a true positive of threshold t at counts (tp, fp); a TP right after a TP (no FP in between)
    # replaces the previous point: the precision envelope sampled at the recall thresholds is the same
    n = npt[t]
    if n > 0 and pfp[t, n - 1] == fp:
        ptp[t, n - 1] = tp
        return True
    if n >= ptp.shape[1]:
        return False
    ptp[t, n] = tp
    pfp[t, n] = fp
    npt[t] = n + 1
    return True


@jit(inline="always")
def _entry(r, wgt, fps, rk, tpc, fpc, ptp, pfp, npt):
    # dynamic entry r seen ``wgt`` times in a row after ``fps`` weighted static false positives; returns
    # False when the point buffers are full
    T = tpc.shape[0]
    for t in range(T):
        s = rk.status[r, t]
        if s == ST_TP:
            tpc[t] += wgt
            if not _push(ptp, pfp, npt, t, tpc[t], fpc[t] + fps):
                return False
        elif s == ST_FP:
            fpc[t] += wgt
    return True


@jit(inline="always")
def _reach(npig, rec_thr, out):
    # out[r]: the fewest true positives whose recall tp / npig (pycocotools' division) reaches rec_thr[r]
    fnp = float(npig)
    for ri in range(rec_thr.shape[0]):
        v = rec_thr[ri]
        if v <= 0.0:
            out[ri] = 0
            continue
        m = np.int64(np.ceil(v * fnp))
        while m > 0 and (m - 1) / fnp >= v:
            m -= 1
        while m / fnp < v:
            m += 1
        out[ri] = m


@jit(inline="always")
def _sampled_sum(ptp, pfp, n, t, npig, rec_thr, rec_sorted, reach):
    # sum over the recall thresholds of pycocotools' interpolated precision (the running maximum of the
    # precision from the right, read at the first point whose recall reaches each threshold), from the
    # TP points of threshold t; ``reach`` from _reach
    R = rec_thr.shape[0]
    if n == 0:
        return 0.0
    total = 0.0
    if rec_sorted:
        # one pass from the right; thresholds beyond the last point give 0 (pycocotools stops there)
        ri = R - 1
        last = ptp[t, n - 1]
        while ri >= 0 and reach[ri] > last:
            ri -= 1
        best = 0.0
        for j in range(n - 1, -1, -1):
            tp = ptp[t, j]
            pr = tp / (float(pfp[t, j] + tp) + EPS)
            if pr > best:
                best = pr
            prev = ptp[t, j - 1] if j > 0 else -1
            while ri >= 0 and reach[ri] > prev:
                total += best
                ri -= 1
        return total
    env = np.empty(n, np.float64)
    for j in range(n):
        tp = ptp[t, j]
        env[j] = tp / (float(pfp[t, j] + tp) + EPS)
    for j in range(n - 2, -1, -1):
        if env[j + 1] > env[j]:
            env[j] = env[j + 1]
    for ri in range(R):
        c = 0
        hi = n
        while c < hi:
            mid = (c + hi) >> 1
            if ptp[t, mid] < reach[ri]:
                c = mid + 1
            else:
                hi = mid
        if c >= n:
            break  # pycocotools stops at the first recall threshold out of reach
        total += env[c]
    return total


@jit
def bootstrap_chunk(rk, rec_thr, rec_sorted, counts, out):
    """AP sums of the resamples in ``counts`` (B, N image multiplicities) into ``out`` (B, K, T).

    ``out[b, k, t]`` = the sum over ``rec_thr`` of pycocotools' interpolated precision of segment k at
    threshold t when image i appears ``counts[b, i]`` times (its copies next to each other in image
    order), or -1 when the segment has no positives. ``rk``: :class:`~detbench.eval.bootstrap.Ranked`.
    A detection seen c times is one step of weight c (same envelope samples as c single steps);
    detections of one image tied in score are cycled copy by copy as the re-evaluated set orders them.
    The static false positives before each dynamic detection are summed for all B resamples at once
    (contiguous rows of the transposed counts). O(B * (S + T * E_dynamic + K * T * (P + R))).
    """
    K = rk.dseg_off.shape[0] - 1
    T = rk.status.shape[1]
    B = counts.shape[0]
    N = counts.shape[1]
    wt = np.empty((N, B), np.int64)  # counts transposed: one image's multiplicities in all B resamples
    for b in range(B):
        for i in range(N):
            wt[i, b] = counts[b, i]
    cap = 64  # points of one threshold: at most one per dynamic entry, except in tie runs (grown when needed)
    for k in range(K):
        cap = max(cap, rk.dseg_off[k + 1] - rk.dseg_off[k] + 1)
    ptp = np.empty((T, cap), np.int64)
    pfp = np.empty((T, cap), np.int64)
    snap = np.empty((cap, B), np.int64)  # weighted static false positives before each dynamic entry
    acc = np.zeros(B, np.int64)
    npig = np.zeros(B, np.int64)
    reach = np.empty(rec_thr.shape[0], np.int64)
    npt = np.zeros(T, np.int64)
    tpc = np.zeros(T, np.int64)
    fpc = np.zeros(T, np.int64)
    s_img = rk.s_img
    for k in range(K):
        npig[:] = 0
        for q in range(rk.pos_off[k], rk.pos_off[k + 1]):
            c = rk.pos_cnt[q]
            row = wt[rk.pos_img[q]]
            for b in range(B):
                npig[b] += row[b] * c
        d0 = rk.dseg_off[k]
        d1 = rk.dseg_off[k + 1]
        acc[:] = 0
        sp = rk.sseg_off[k]
        for j in range(d0, d1):
            se = rk.d_sbefore[j]
            for z in range(sp, se):
                row = wt[s_img[z]]
                for b in range(B):
                    acc[b] += row[b]
            sp = se
            for b in range(B):
                snap[j - d0, b] = acc[b]
        for b in range(B):
            if npig[b] == 0:
                for t in range(T):
                    out[b, k, t] = -1.0
                continue
            while True:
                npt[:] = 0
                tpc[:] = 0
                fpc[:] = 0
                ok = True
                j = d0
                while j < d1 and ok:
                    L = rk.d_run[j]
                    wgt = wt[rk.d_img[j], b]
                    if wgt == 0:
                        j += L
                        continue
                    fps = snap[j - d0, b]
                    if L == 1:
                        ok = _entry(j, wgt, fps, rk, tpc, fpc, ptp, pfp, npt)
                    else:
                        for _ in range(wgt):
                            for e in range(j, j + L):
                                if ok:
                                    ok = _entry(e, 1, fps, rk, tpc, fpc, ptp, pfp, npt)
                    j += L
                if ok:
                    break
                cap *= 2  # rare: more true-positive steps than the buffers hold
                ptp = np.empty((T, cap), np.int64)
                pfp = np.empty((T, cap), np.int64)
            _reach(npig[b], rec_thr, reach)
            for t in range(T):
                out[b, k, t] = _sampled_sum(ptp, pfp, npt[t], t, npig[b], rec_thr, rec_sorted, reach)


@jit(inline="always")
def _iou_ultralytics(g, d):
    # ultralytics' box_iou on float32 xyxy boxes, operation for operation (eps 1e-7)
    zero = np.float32(0.0)
    iw = min(g[2], d[2]) - max(g[0], d[0])
    ih = min(g[3], d[3]) - max(g[1], d[1])
    iw = max(iw, zero)
    ih = max(ih, zero)
    inter = iw * ih
    a1 = (g[2] - g[0]) * (g[3] - g[1])
    a2 = (d[2] - d[0]) * (d[3] - d[1])
    return inter / (a1 + a2 - inter + np.float32(1e-7))


@jit(inline="always")
def _iou_supervision(g, d):
    # supervision's box_iou_batch: float64 arithmetic, the ratio stored as float32 (0 for an empty union)
    iw = max(min(g[2], d[2]) - max(g[0], d[0]), 0.0)
    ih = max(min(g[3], d[3]) - max(g[1], d[1]), 0.0)
    inter = iw * ih
    norm = (g[2] - g[0]) * (g[3] - g[1]) + (d[2] - d[0]) * (d[3] - d[1]) - inter
    if norm > 0.0:
        return np.float32(inter / norm)
    return np.float32(0.0)


@jit
def confusion_counts(g_off, g_box, g_cls, d_off, d_box, d_cls, d_score, iou_thr, score_thr, supervision, out):
    """Add every image's assignments to ``out`` ((K+1) x (K+1), rows predicted, columns true, K = background).

    Image i has ground truths ``g_off[i]:g_off[i+1]`` and detections ``d_off[i]:d_off[i+1]`` (xyxy float64
    boxes, class indices, in file order). ``supervision`` False: ultralytics' rule (detections with score
    > ``score_thr``; in decreasing score, stable, each takes its best remaining ground truth when that IoU
    > ``iou_thr``; float32 IoU with eps 1e-7). True: supervision's rule (score >= ``score_thr``; pairs
    with IoU > ``iou_thr`` taken greedily, same class first, then by decreasing IoU, ties in ground-truth
    then detection order; float64 IoU rounded to float32).
    """
    K = out.shape[0] - 1
    thr32 = np.float32(iou_thr)
    for i in range(g_off.shape[0] - 1):
        gs, ge = g_off[i], g_off[i + 1]
        ds, de = d_off[i], d_off[i + 1]
        keep = np.empty(de - ds, np.int64)
        nk = 0
        for d in range(ds, de):
            if (d_score[d] >= score_thr) if supervision else (d_score[d] > score_thr):
                keep[nk] = d
                nk += 1
        ng = ge - gs
        gmatch = np.full(ng, -1, np.int64)
        dmatched = np.zeros(nk, np.bool_)
        if ng > 0 and nk > 0:
            iou = np.empty((ng, nk), np.float32)
            if supervision:
                g64 = g_box[gs:ge]
                for a in range(ng):
                    for c in range(nk):
                        iou[a, c] = _iou_supervision(g64[a], d_box[keep[c]])
            else:
                g32 = g_box[gs:ge].astype(np.float32)
                d32 = np.empty((nk, 4), np.float32)
                for c in range(nk):
                    for z in range(4):
                        d32[c, z] = np.float32(d_box[keep[c], z])
                for a in range(ng):
                    for c in range(nk):
                        iou[a, c] = _iou_ultralytics(g32[a], d32[c])
            if supervision:
                npair = 0
                pg = np.empty(ng * nk, np.int64)
                pd = np.empty(ng * nk, np.int64)
                key = np.empty(ng * nk, np.float64)
                for a in range(ng):
                    for c in range(nk):
                        if iou[a, c] > thr32:
                            pg[npair] = a
                            pd[npair] = c
                            key[npair] = -float(iou[a, c])
                            npair += 1
                by_iou = np.argsort(key[:npair], kind="mergesort")
                order = np.empty(npair, np.int64)
                z = 0
                for same_pass in range(2):  # same-class pairs first, each part by decreasing IoU (stable)
                    for y in range(npair):
                        p = by_iou[y]
                        same = g_cls[gs + pg[p]] == d_cls[keep[pd[p]]]
                        if same == (same_pass == 0):
                            order[z] = p
                            z += 1
                gtaken = np.zeros(ng, np.bool_)
                for z in range(npair):
                    p = order[z]
                    a = pg[p]
                    c = pd[p]
                    if not gtaken[a] and not dmatched[c]:
                        gtaken[a] = True
                        dmatched[c] = True
                        gmatch[a] = c
            else:
                sc = np.empty(nk, np.float64)
                for c in range(nk):
                    sc[c] = -d_score[keep[c]]
                order = np.argsort(sc, kind="mergesort")
                for z in range(nk):
                    c = order[z]
                    best = 0
                    for a in range(1, ng):
                        if iou[a, c] > iou[best, c]:
                            best = a
                    if iou[best, c] > thr32:
                        gmatch[best] = c
                        dmatched[c] = True
                        for c2 in range(nk):
                            iou[best, c2] = np.float32(0.0)
        for a in range(ng):
            c = gmatch[a]
            if c >= 0:
                out[d_cls[keep[c]], g_cls[gs + a]] += 1
            else:
                out[K, g_cls[gs + a]] += 1
        for c in range(nk):
            if not dmatched[c]:
                out[d_cls[keep[c]], K] += 1
