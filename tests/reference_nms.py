"""Plain Python/NumPy references for detbench.nms, written from the rules.

Deliberately slow and simple: explicit loops over boxes, no grid, no
compiled code. Pairwise IoU follows torchvision's arithmetic in the input
dtype (NumPy scalars of that dtype), so greedy results can be compared
exactly. Soft-NMS follows ensemble-boxes' procedure (working array with
swaps, float64 IoU, NumPy ``exp``) so it can be compared exactly too.
"""

from __future__ import annotations

import numpy as np


def iou_pair(a: np.ndarray, b: np.ndarray, offset: float = 0.0) -> float:
    """IoU of two boxes in their dtype: inter / (area_a + area_b - inter)."""
    t = a.dtype.type
    off = t(offset)
    zero = t(0)
    w = max(zero, t(min(a[2], b[2]) - max(a[0], b[0]) + off))
    h = max(zero, t(min(a[3], b[3]) - max(a[1], b[1]) + off))
    inter = t(w * h)
    area_a = t((a[2] - a[0] + off) * (a[3] - a[1] + off))
    area_b = t((b[2] - b[0] + off) * (b[3] - b[1] + off))
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(t(inter / t(t(area_a + area_b) - inter)))


def score_order(scores: np.ndarray) -> list[int]:
    """Indices by decreasing score; equal scores by increasing index."""
    return sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))


def _suppress(v: float, thr: float, inclusive: bool) -> bool:
    return v >= thr if inclusive else v > thr


def nms(boxes, scores, thr, inclusive=False, offset=0.0, score_threshold=None) -> np.ndarray:
    """Greedy NMS: in score order, keep a box unless a kept box suppresses it."""
    kept: list[int] = []
    for j in score_order(scores):
        if score_threshold is not None and not float(scores[j]) > score_threshold:
            continue
        if not any(_suppress(iou_pair(boxes[i], boxes[j], offset), thr, inclusive) for i in kept):
            kept.append(j)
    return np.array(kept, dtype=np.int64)


def batched_nms(boxes, scores, labels, thr) -> np.ndarray:
    """NMS within each label; union ordered by decreasing score (stable)."""
    kept: list[int] = []
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        kept.extend(int(idx[k]) for k in nms(boxes[idx], scores[idx], thr))
    return np.array(sorted(kept, key=lambda i: (-float(scores[i]), i)), dtype=np.int64)


def diou_penalty(a: np.ndarray, b: np.ndarray, beta: float) -> float:
    """(d^2 / c^2) ** beta: centre distance over enclosing-box diagonal."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    dx = (a[0] + a[2]) / 2 - (b[0] + b[2]) / 2
    dy = (a[1] + a[3]) / 2 - (b[1] + b[3]) / 2
    cw = max(a[2], b[2]) - min(a[0], b[0])
    ch = max(a[3], b[3]) - min(a[1], b[1])
    c2 = cw * cw + ch * ch
    if c2 <= 0:
        return 0.0
    return ((dx * dx + dy * dy) / c2) ** beta


def diou_nms(boxes, scores, thr, beta=1.0, inclusive=False) -> np.ndarray:
    """Greedy NMS suppressing when IoU - (d^2/c^2)^beta > thr."""
    kept: list[int] = []
    for j in score_order(scores):
        ok = True
        for i in kept:
            v = iou_pair(boxes[i], boxes[j]) - diou_penalty(boxes[i], boxes[j], beta)
            if _suppress(v, thr, inclusive):
                ok = False
                break
        if ok:
            kept.append(j)
    return np.array(kept, dtype=np.int64)


def iou_matrix_sorted(boxes, order, offset=0.0) -> np.ndarray:
    """Dense IoU matrix of the boxes in ``order`` (float64 of dtype values)."""
    n = len(order)
    m = np.zeros((n, n))
    for a in range(n):
        for b in range(a + 1, n):
            m[a, b] = m[b, a] = iou_pair(boxes[order[a]], boxes[order[b]], offset)
    return m


def fast_nms(boxes, scores, thr, inclusive=False) -> np.ndarray:
    """YOLACT: keep j when max over ALL higher boxes of IoU is <= thr."""
    order = score_order(scores)
    m = iou_matrix_sorted(boxes, order)
    kept = []
    for b in range(len(order)):
        col = m[:b, b]
        if not any(_suppress(v, thr, inclusive) for v in col):
            kept.append(order[b])
    return np.array(kept, dtype=np.int64)


def cluster_nms(boxes, scores, thr, inclusive=False, offset=0.0) -> tuple[np.ndarray, int]:
    """Cluster-NMS matrix iteration: B = triu(X); keep = 1; repeat
    keep = (max over rows of diag(keep) @ B) is not suppressing."""
    order = score_order(scores)
    n = len(order)
    m = iou_matrix_sorted(boxes, order, offset)
    with np.errstate(invalid="ignore"):
        sup = (m >= thr) if inclusive else (m > thr)
    sup = np.triu(sup, 1)
    keep = np.ones(n, dtype=bool)
    it = 0
    while True:
        it += 1
        new = ~(sup & keep[:, None]).any(axis=0)
        if np.array_equal(new, keep):
            break
        keep = new
    return np.array([order[b] for b in range(n) if keep[b]], dtype=np.int64), it


def matrix_nms(boxes, scores, method="gaussian", sigma=2.0) -> dict[int, float]:
    """SOLOv2 Matrix NMS on the dense matrix; returns {index: decayed score}."""
    order = score_order(scores)
    n = len(order)
    if n == 0:
        return {}
    iou = np.triu(iou_matrix_sorted(boxes, order), 1)
    iou[np.isnan(iou)] = 0.0  # two zero-area boxes (0/0) do not intersect
    comp = iou.max(axis=0)  # comp[i] = max_{k<i} iou[k, i]
    comp_rows = np.repeat(comp[:, None], n, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "gaussian":
            mat = np.exp(-sigma * iou**2) / np.exp(-sigma * comp_rows**2)
        else:
            mat = (1 - iou) / (1 - comp_rows)
            mat[comp_rows >= 1] = np.inf
    decay = np.minimum(1.0, mat.min(axis=0))
    return {order[b]: float(scores[order[b]]) * float(decay[b]) for b in range(n)}


def soft_nms_ensemble(boxes, scores, method, sigma, nt, thresh):
    """Soft-NMS the way ensemble-boxes runs it: a working array; at step i the
    first position holding the largest current score among i..N-1 is swapped
    into slot i; every later score is multiplied by its weight (float64 IoU,
    NumPy exp, stored in the score dtype). Kept: slots whose final score is
    > thresh (compared in the score dtype). Returns (indices, rescored)."""
    n = len(scores)
    work = list(range(n))
    cur = np.array(scores, copy=True)
    b = boxes.astype(np.float64)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    for i in range(n):
        vals = cur[work[i:]]
        p = i + int(np.argmax(vals))
        work[i], work[p] = work[p], work[i]
        if i == n - 1:
            break
        a = work[i]
        rest = np.array(work[i + 1 :])
        iw = np.maximum(0.0, np.minimum(b[a, 2], b[rest, 2]) - np.maximum(b[a, 0], b[rest, 0]))
        ih = np.maximum(0.0, np.minimum(b[a, 3], b[rest, 3]) - np.maximum(b[a, 1], b[rest, 1]))
        inter = iw * ih
        with np.errstate(invalid="ignore", divide="ignore"):  # two zero-area boxes: 0/0
            ovr = inter / (area[a] + area[rest] - inter)
        if method == "gaussian":
            w = np.exp(-(ovr * ovr) / sigma)
        else:
            w = np.where(ovr > nt, 1.0 - ovr, 1.0)
        cur[rest] = w * cur[rest]
    final = cur[work]
    mask = final > cur.dtype.type(thresh)
    idx = np.array(work, dtype=np.int64)[mask]
    return idx, cur[idx]


def wbf_simple(boxes, scores, labels, thr):
    """Weighted boxes fusion for one model (weight 1), float64 throughout:
    per label by decreasing score, join the fused box of highest IoU > thr
    (else a new cluster); fused box = score-weighted mean of members, score =
    mean member score * min(1, count) (one model). Returns a list of
    (label, score, box) sorted by decreasing score."""
    out = []
    for lab in sorted(set(labels.tolist())):
        idx = [i for i in score_order(scores) if labels[i] == lab]
        clusters: list[list[int]] = []
        fused: list[np.ndarray] = []
        for i in idx:
            best, best_iou = -1, thr
            for c, fb in enumerate(fused):
                v = _iou64(fb, boxes[i])
                if v > best_iou:
                    best, best_iou = c, v
            if best < 0:
                clusters.append([i])
                fused.append(boxes[i].astype(np.float64))
            else:
                clusters[best].append(i)
                w = np.array([float(scores[k]) for k in clusters[best]])
                fused[best] = (w[:, None] * boxes[clusters[best]].astype(np.float64)).sum(0) / w.sum()
        for c, members in enumerate(clusters):
            s = float(np.mean([float(scores[k]) for k in members]))
            out.append((lab, s, fused[c]))
    return sorted(out, key=lambda r: -r[1])


def nmw_simple(boxes, scores, labels, thr):
    """Non-maximum weighted for one model, float64: clusters keyed by their
    first (highest) box; fused box = mean weighted by score * IoU(member,
    first); score = the first box's score."""
    out = []
    for lab in sorted(set(labels.tolist())):
        idx = [i for i in score_order(scores) if labels[i] == lab]
        clusters: list[list[int]] = []
        for i in idx:
            best, best_iou = -1, thr
            for c, members in enumerate(clusters):
                v = _iou64(boxes[members[0]], boxes[i])
                if v > best_iou:
                    best, best_iou = c, v
            if best < 0:
                clusters.append([i])
            else:
                clusters[best].append(i)
        for members in clusters:
            f = members[0]
            w = np.array([float(scores[k]) * _iou64(boxes[k], boxes[f]) for k in members])
            box = (w[:, None] * boxes[members].astype(np.float64)).sum(0) / w.sum()
            out.append((lab, float(scores[f]), box))
    return sorted(out, key=lambda r: -r[1])


def _iou64(a, b) -> float:
    a = [float(v) for v in a]
    b = [float(v) for v in b]
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
