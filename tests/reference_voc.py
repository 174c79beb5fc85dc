"""Plain-Python reference of the PASCAL VOC devkit's detection AP (VOCevaldet.m / VOCap.m).

Written from the devkit's rules, loop by loop, for the tests of detbench.eval.voc:

* detections of one class sorted by decreasing confidence (stable: ties keep
  input order);
* each detection is compared with every ground truth of the same image and
  class; it takes the one of highest IoU (the first on ties), used or not;
* IoU >= threshold: difficult ground truth -> the detection is ignored (neither
  TP nor FP); unused -> TP and the ground truth becomes used; used -> FP;
  otherwise FP;
* recall = tp / (number of non-difficult ground truths), precision = tp / (tp + fp);
* VOC07: mean over t in {0, 0.1, ..., 1} of max(precision[recall >= t]) (0 if none);
* VOC2010+: precision envelope with sentinels, summed over recall changes;
* IoU: intersection over union of xyxy boxes; with plus_one every width and
  height is (x2 - x1 + 1), as in the devkit; no overlap when iw <= 0 or ih <= 0.
"""

from __future__ import annotations


def iou_xyxy(a, b, plus_one=False):
    p = 1.0 if plus_one else 0.0
    iw = min(a[2], b[2]) - max(a[0], b[0]) + p
    ih = min(a[3], b[3]) - max(a[1], b[1]) + p
    if iw <= 0 or ih <= 0:
        return None
    inter = iw * ih
    ua = (a[2] - a[0] + p) * (a[3] - a[1] + p) + (b[2] - b[0] + p) * (b[3] - b[1] + p) - inter
    return inter / ua


def voc_class_curve(gts, dets, iou_thr, plus_one=False):
    """gts: list of (image, box, difficult); dets: list of (image, box, score), one class.

    Returns (precision list, recall list, scores list, n_pos), skipping ignored detections.
    """
    n_pos = sum(1 for _, _, diff in gts if not diff)
    by_image = {}
    for idx, gt in enumerate(gts):
        by_image.setdefault(gt[0], []).append(idx)
    used = [False] * len(gts)
    order = sorted(range(len(dets)), key=lambda i: -dets[i][2])  # stable
    tp = fp = 0
    prec, rec, scores = [], [], []
    for i in order:
        img, box, score = dets[i]
        best = None
        jmax = -1
        for j in by_image.get(img, []):
            ov = iou_xyxy(box, gts[j][1], plus_one)
            if ov is not None and (best is None or ov > best):
                best = ov
                jmax = j
        if best is not None and best >= iou_thr:
            if gts[jmax][2]:
                continue  # difficult: ignored
            if not used[jmax]:
                used[jmax] = True
                tp += 1
            else:
                fp += 1
        else:
            fp += 1
        prec.append(tp / (tp + fp))
        rec.append(tp / n_pos if n_pos else float("nan"))
        scores.append(score)
    return prec, rec, scores, n_pos


def ap_voc07(rec, prec):
    ap = 0.0
    for k in range(11):
        t = k / 10.0
        vals = [p for p, r in zip(prec, rec) if r >= t]
        ap += (max(vals) if vals else 0.0) / 11.0
    return ap


def ap_voc(rec, prec):
    mrec = [0.0] + list(rec) + [1.0]
    mpre = [0.0] + list(prec) + [0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    ap = 0.0
    for i in range(1, len(mrec)):
        if mrec[i] != mrec[i - 1]:
            ap += (mrec[i] - mrec[i - 1]) * mpre[i]
    return ap


def best_f1(prec, rec, scores):
    """Best F1 over cut-offs at the end of each block of equal scores: (f1, threshold, p, r)."""
    best = (-1.0, float("nan"), 0.0, 0.0)
    for i in range(len(scores)):
        if i + 1 < len(scores) and scores[i + 1] == scores[i]:
            continue
        p, r = prec[i], rec[i]
        f = 2 * p * r / (p + r) if p + r > 0 else 0.0
        if f > best[0]:
            best = (f, scores[i], p, r)
    return (max(best[0], 0.0),) + best[1:]
