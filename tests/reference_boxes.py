"""Plain NumPy references for the box core, written from the formulas (one pair at a time)."""

import math

import numpy as np


def iou_pair(a, b, offset=0.0):
    iw = max(min(a[2], b[2]) - max(a[0], b[0]) + offset, 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]) + offset, 0.0)
    inter = iw * ih
    union = (a[2] - a[0] + offset) * (a[3] - a[1] + offset) + (b[2] - b[0] + offset) * (b[3] - b[1] + offset) - inter
    return inter / union if union > 0 else 0.0


def hull_pair(a, b, offset=0.0):
    return max(a[2], b[2]) - min(a[0], b[0]) + offset, max(a[3], b[3]) - min(a[1], b[1]) + offset


def giou_pair(a, b, offset=0.0):
    iou = iou_pair(a, b, offset)
    iw = max(min(a[2], b[2]) - max(a[0], b[0]) + offset, 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]) + offset, 0.0)
    union = (a[2] - a[0] + offset) * (a[3] - a[1] + offset) + (b[2] - b[0] + offset) * (b[3] - b[1] + offset) - iw * ih
    hw, hh = hull_pair(a, b, offset)
    hull = hw * hh
    return iou - (hull - union) / hull if hull > 0 else iou


def diou_pair(a, b, eps=1e-7, offset=0.0):
    hw, hh = hull_pair(a, b, offset)
    d2 = ((a[0] + a[2]) / 2 - (b[0] + b[2]) / 2) ** 2 + ((a[1] + a[3]) / 2 - (b[1] + b[3]) / 2) ** 2
    return iou_pair(a, b, offset) - d2 / (hw * hw + hh * hh + eps)


def ciou_pair(a, b, eps=1e-7, offset=0.0):
    def angle(box):
        w, h = box[2] - box[0] + offset, box[3] - box[1] + offset
        if h == 0:
            return 0.0 if w == 0 else math.pi / 2
        return math.atan(w / h)

    iou = iou_pair(a, b, offset)
    v = 4 / math.pi**2 * (angle(a) - angle(b)) ** 2
    alpha = v / (1 - iou + v + eps)
    return diou_pair(a, b, eps, offset) - alpha * v


def pairwise(fn, a, b, **kw):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.array([[fn(x, y, **kw) for y in b] for x in a], dtype=np.float64).reshape(len(a), len(b))


def reference_anchors(base_size=16, ratios=(0.5, 1, 2), scales=(8, 16, 32)):
    """The seed's recipe step by step: ratio enumeration, then scale enumeration (pixel-index convention)."""
    out = []
    w = h = float(base_size)
    cx = cy = 0.5 * (base_size - 1)
    for r in ratios:
        ws = round(math.sqrt(w * h / r))
        hs = round(ws * r)
        for s in scales:
            W, H = ws * s, hs * s
            out.append([cx - 0.5 * (W - 1), cy - 0.5 * (H - 1), cx + 0.5 * (W - 1), cy + 0.5 * (H - 1)])
    return np.array(out)


def exact_pair(a, b, kind="iou", eps=1e-7, offset=0):
    """IoU / GIoU / DIoU / CIoU of two xyxy boxes in exact rational arithmetic (``fractions.Fraction``), as a
    float: no area overflows or underflows, so boxes at any scale get the value of the formula. The CIoU
    angles ``atan2(w, h)`` are taken in float64. The conventions are detbench's: a zero union gives IoU 0,
    a zero hull no GIoU penalty, a zero ``hull diagonal + eps`` or ``1 - iou + v + eps`` no DIoU/CIoU term."""
    from fractions import Fraction

    a = [Fraction(float(v)) for v in a]
    b = [Fraction(float(v)) for v in b]
    off = Fraction(offset)
    wa, ha = a[2] - a[0] + off, a[3] - a[1] + off
    wb, hb = b[2] - b[0] + off, b[3] - b[1] + off
    iw = max(min(a[2], b[2]) - max(a[0], b[0]) + off, Fraction(0))
    ih = max(min(a[3], b[3]) - max(a[1], b[1]) + off, Fraction(0))
    inter = iw * ih
    union = wa * ha + wb * hb - inter
    iou = inter / union if union > 0 else Fraction(0)
    if kind == "iou":
        return float(iou)
    hw = max(max(a[2], b[2]) - min(a[0], b[0]) + off, Fraction(0))
    hh = max(max(a[3], b[3]) - min(a[1], b[1]) + off, Fraction(0))
    if kind == "giou":
        hull = hw * hh
        return float(iou - (hull - union) / hull) if hull > 0 else float(iou)
    diag = hw * hw + hh * hh + Fraction(float(eps))
    dx = (a[0] + a[2]) / 2 - (b[0] + b[2]) / 2
    dy = (a[1] + a[3]) / 2 - (b[1] + b[3]) / 2
    diou = iou - (dx * dx + dy * dy) / diag if diag > 0 else iou
    if kind == "diou":
        return float(diou)
    v = 4 / math.pi**2 * (math.atan2(float(wa), float(ha)) - math.atan2(float(wb), float(hb))) ** 2
    den = 1 - float(iou) + v + eps
    return float(diou) - (v / den if den > 0 else 0.0) * v
