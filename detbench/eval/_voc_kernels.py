"""Numba kernels of :mod:`detbench.eval.voc`: one matching pass per IoU threshold, every AP definition."""

from __future__ import annotations

import numpy as np

from detbench._jit import jit
from detbench.eval._accumulate_kernels import EPS
from detbench.eval._greedy_kernels import ST_FP, ST_IGN, ST_TP, _bbox_iou


@jit(inline="always")
def _iou_xyxy(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, plus_one, crowd):
    # VOC devkit IoU (optionally with the +1 pixel convention); a crowd region
    # uses the detection's area as the union, like COCO
    p = 1.0 if plus_one else 0.0
    iw = min(ax2, bx2) - max(ax1, bx1) + p
    if iw <= 0.0:
        return -1.0
    ih = min(ay2, by2) - max(ay1, by1) + p
    if ih <= 0.0:
        return -1.0
    inter = iw * ih
    da = (ax2 - ax1 + p) * (ay2 - ay1 + p)
    if crowd:
        return inter / da
    return inter / (da + (bx2 - bx1 + p) * (by2 - by1 + p) - inter)


@jit
def pr_match(dets, gts, rule, status, tmp, match):
    """One matching pass for every IoU threshold; ``status[t, j]`` of the j-th detection of ``order``.

    ``order`` lists the detections by class, then decreasing score. Ground
    truths are grouped by ``(class, image)`` with offsets ``g_off`` (key
    ``class * n_img + image``). Boxes come as xyxy (``d_box``/``g_box``, the VOC
    rule's arithmetic) and as xywh (``d_wh``/``g_wh``, pycocotools' arithmetic
    for the COCO rule, so IoUs are the same doubles as pycocotools').

    VOC rule (``coco_rule`` false, the devkit's): the detection takes the
    ground truth of highest IoU (the first on ties, used or not, difficult or
    not); if that IoU >= t it is ignored when the ground truth is difficult
    (``g_ign``), a TP if the ground truth is unused (which it marks), else a FP;
    below t it is a FP.

    COCO rule: pycocotools' greedy match (not-ignored ground truths first,
    skip used non-crowd ones, keep the last best with IoU >= min(t, 1-1e-10),
    stop at ignored ones once a regular one is held); a match with an ignored
    ground truth ignores the detection, crowd regions can be matched repeatedly.

    Status codes: 0 FP, 1 TP, 2 ignored; ``status`` is (T, N). ``match`` (T, N) int32 receives the grouped
    ground truth a TP or an ignored detection took (-1 for a FP), or is (T, 0) to skip that. Records (see
    :mod:`detbench.eval.voc`): ``dets`` :class:`PRDets`, ``gts`` :class:`PRGts`,
    ``rule`` :class:`PRRule`, ``tmp`` :class:`PRScratch`. O(sum of D*G per
    (class, image) * T).
    """
    order, d_box, d_wh, d_img, d_cls = dets
    g_off, g_box, g_wh, g_ign, g_crowd = gts
    n_img, iou_thr, coco_rule, plus_one = rule
    used, gidx, iou_buf = tmp
    T = iou_thr.shape[0]
    n = order.shape[0]
    keep_match = match.shape[1] > 0
    used[:, :] = 0
    for j in range(n):
        d = order[j]
        g = d_cls[d] * n_img + d_img[d]
        gs = g_off[g]
        ng = g_off[g + 1] - gs
        ax1 = d_box[d, 0]
        ay1 = d_box[d, 1]
        ax2 = d_box[d, 2]
        ay2 = d_box[d, 3]
        if not coco_rule:
            best = -np.inf
            jmax = -1
            for gi in range(ng):
                q = gs + gi
                v = _iou_xyxy(ax1, ay1, ax2, ay2, g_box[q, 0], g_box[q, 1], g_box[q, 2], g_box[q, 3], plus_one, False)
                if v > best and v >= 0.0:
                    best = v
                    jmax = q
            for t in range(T):
                st = ST_FP
                if jmax >= 0 and best >= iou_thr[t]:
                    if g_ign[jmax]:
                        st = ST_IGN
                    elif used[t, jmax] == 0:
                        used[t, jmax] = 1
                        st = ST_TP
                status[t, j] = st
                if keep_match:
                    match[t, j] = jmax if st != ST_FP else -1
            continue
        # COCO rule: not-ignored ground truths first (stable)
        q = 0
        for gi in range(ng):
            if g_ign[gs + gi] == 0:
                gidx[q] = gs + gi
                q += 1
        nv = q
        for gi in range(ng):
            if g_ign[gs + gi] != 0:
                gidx[q] = gs + gi
                q += 1
        for oi in range(ng):
            r = gidx[oi]
            if plus_one:
                v = _iou_xyxy(ax1, ay1, ax2, ay2, g_box[r, 0], g_box[r, 1], g_box[r, 2], g_box[r, 3], True, g_crowd[r])
                iou_buf[oi] = max(v, 0.0)
            else:
                iou_buf[oi] = _bbox_iou(
                    d_wh[d, 0],
                    d_wh[d, 1],
                    d_wh[d, 2],
                    d_wh[d, 3],
                    g_wh[r, 0],
                    g_wh[r, 1],
                    g_wh[r, 2],
                    g_wh[r, 3],
                    g_crowd[r],
                )
        for t in range(T):
            thr = min(iou_thr[t], 1.0 - 1e-10)
            best = thr
            m = -1
            for oi in range(ng):
                r = gidx[oi]
                if used[t, r] and not g_crowd[r]:
                    continue
                if m > -1 and m < nv and oi >= nv:
                    break
                v = iou_buf[oi]
                if v < best:
                    continue
                best = v
                m = oi
            st = ST_FP
            if m > -1:
                used[t, gidx[m]] = 1
                st = ST_IGN if m >= nv else ST_TP
            status[t, j] = st
            if keep_match:
                match[t, j] = gidx[m] if m > -1 else -1


@jit
def pr_accumulate(status, scores_sorted, cls_off, n_pos, rec101, rec11, out):
    """COCO-101, VOC07 11-point and VOC2010+ all-point AP from one status sequence per (class, threshold).

    ``status`` (T, N) follows ``scores_sorted`` (class by class, decreasing
    score, ``cls_off`` offsets); ignored detections are skipped. With tp/fp
    the cumulative counts and P the number of positives of the class:

    * COCO-101 (pycocotools): precision tp/(tp+fp+spacing(1)), its upper
      envelope, sampled at the first detection with recall >= r for the 101
      ``rec101`` points, mean with 0 past the last recall.
    * VOC07: mean over the 11 recall points ``rec11`` (the exact tenths, or
      ``np.arange(0, 1.1, 0.1)``) of max precision tp/(tp+fp) at recall >= r
      (0 if none), summed as p / 11 in order.
    * VOC2010+: area under the envelope of (recall, precision) with sentinels
      (0, 0) and (1, 0), summed where recall changes.
    * best F1 = 2PR/(P+R) over score cut-offs that do not split tied scores;
      ``f1_thr`` is the lowest score kept at that cut-off.

    NaN where P = 0. ``out`` is a :class:`~detbench.eval.voc.PRCurves` of
    (K, T) arrays. O(N * T + K * T * 101).
    """
    ap_coco, ap_voc07, ap_voc, f1_best, f1_thr, f1_p, f1_r = out
    T = status.shape[0]
    K = cls_off.shape[0] - 1
    eps = EPS
    n_max = 0
    for k in range(K):
        n_max = max(n_max, cls_off[k + 1] - cls_off[k])
    pr_c = np.empty(n_max + 1, np.float64)
    rc_c = np.empty(n_max + 1, np.float64)
    pr_v = np.empty(n_max + 2, np.float64)
    rc_v = np.empty(n_max + 2, np.float64)
    for k in range(K):
        lo = cls_off[k]
        hi = cls_off[k + 1]
        npos = n_pos[k]
        for t in range(T):
            if npos == 0:
                ap_coco[k, t] = np.nan
                ap_voc07[k, t] = np.nan
                ap_voc[k, t] = np.nan
                f1_best[k, t] = np.nan
                f1_thr[k, t] = np.nan
                f1_p[k, t] = np.nan
                f1_r[k, t] = np.nan
                continue
            tp = 0
            fp = 0
            n = 0
            bf1 = -1.0
            bthr = np.nan
            bp = 0.0
            brc = 0.0
            for j in range(lo, hi):
                st = status[t, j]
                if st == ST_IGN:
                    continue
                if st == ST_TP:
                    tp += 1
                else:
                    fp += 1
                pr_c[n] = tp / (float(fp + tp) + eps)
                rc_c[n] = tp / float(npos)
                pr_v[n] = tp / float(tp + fp)
                n += 1
                # F1 at the end of a block of equal scores
                last = True
                for j2 in range(j + 1, hi):
                    if status[t, j2] == ST_IGN:
                        continue
                    last = scores_sorted[j2] != scores_sorted[j]
                    break
                if last:
                    p = tp / float(tp + fp)
                    r = tp / float(npos)
                    f = 2.0 * p * r / (p + r) if p + r > 0 else 0.0
                    if f > bf1:
                        bf1 = f
                        bthr = scores_sorted[j]
                        bp = p
                        brc = r
            f1_best[k, t] = max(bf1, 0.0)
            f1_thr[k, t] = bthr
            f1_p[k, t] = bp
            f1_r[k, t] = brc
            # COCO-101
            for i in range(n - 2, -1, -1):
                if pr_c[i + 1] > pr_c[i]:
                    pr_c[i] = pr_c[i + 1]
            s = 0.0
            pos = 0
            R = rec101.shape[0]
            for ri in range(R):
                v = rec101[ri]
                while pos < n and rc_c[pos] < v:
                    pos += 1
                if pos >= n:
                    break
                s += pr_c[pos]
            ap_coco[k, t] = s / R
            # VOC07 11-point: max precision at recall >= r
            s = 0.0
            for ri in range(rec11.shape[0]):
                r = rec11[ri]
                best = 0.0
                for i in range(n):
                    if rc_c[i] >= r and pr_v[i] > best:
                        best = pr_v[i]
                s += best / 11.0
            ap_voc07[k, t] = s
            # VOC2010+: area under the monotone envelope
            rc_v[0] = 0.0
            for i in range(n):
                rc_v[i + 1] = rc_c[i]
            rc_v[n + 1] = 1.0
            env = 0.0
            area = 0.0
            # walk from the end: envelope of [0, prec..., 0]
            for i in range(n, -1, -1):
                # precision at point i (sentinel 0 at index 0 and n+1)
                pi1 = pr_v[i] if i < n else 0.0  # precision at mrec index i+1
                env = max(env, pi1)
                if rc_v[i + 1] != rc_v[i]:
                    area += (rc_v[i + 1] - rc_v[i]) * env
            ap_voc[k, t] = area
