"""Numba kernels for training targets: YOLO grid assignment and proposal first hits.

* :func:`first_hits` – for proposal recall: the rank of the first proposal
  reaching each IoU threshold with each ground-truth box.
* :func:`yolo_assign` – walk the objects in input order, put each one into the
  (row, col, anchor) slot of the YOLO grid and detect slots that are already
  taken (collisions).

The public wrappers live in :mod:`detbench.targets.yolo` and
:func:`detbench.proposals.proposal_recall`; they validate input and allocate outputs.
(``first_hits`` serves proposal recall; it belongs with the proposals family once that is a package.)
"""

from __future__ import annotations

import numpy as np

from detbench._jit import jit
from detbench.anchors._shape_kernels import shape_iou


@jit
def yolo_assign(cx, cy, w, h, anchors, rows, cols, img_h, img_w, slots, collisions):
    """Assign objects to YOLO grid slots in input order.

    cx, cy, w, h: (N,) box midpoints and sizes in pixels; anchors: (A, 2)
    (width, height) in pixels; rows, cols: grid size; img_h, img_w: image size.
    slots: (N, 3) int64 out, (row, col, anchor) of each object.
    collisions: (N, 2) int64 out, (first owner, object) for each object whose
    slot was already taken, packed from the top.
    Returns the number of collisions. O(N A + rows cols A).
    """
    n = cx.shape[0]
    na = anchors.shape[0]
    owner = np.full(rows * cols * na, -1, dtype=np.int64)
    ncol = 0
    for i in range(n):
        c = int(np.floor(cx[i] * cols / img_w))
        r = int(np.floor(cy[i] * rows / img_h))
        if c >= cols:
            c = cols - 1
        if r >= rows:
            r = rows - 1
        if c < 0:
            c = 0
        if r < 0:
            r = 0
        ba = 0
        bv = -1.0
        for a in range(na):
            v = shape_iou(w[i], h[i], anchors[a, 0], anchors[a, 1])
            if v > bv:
                bv = v
                ba = a
        slots[i, 0] = r
        slots[i, 1] = c
        slots[i, 2] = ba
        key = (r * cols + c) * na + ba
        if owner[key] < 0:
            owner[key] = i
        else:
            collisions[ncol, 0] = owner[key]
            collisions[ncol, 1] = i
            ncol += 1
    return ncol


@jit
def first_hits(props, gt, thr, out):
    """Rank of the first proposal whose IoU with each ground-truth box reaches each threshold.

    props: (P, 4) xyxy in rank order; gt: (G, 4) xyxy; thr: (T,) ascending;
    out: (T, G) int64, set to P where no proposal reaches the threshold.
    IoU = inter / (area_p + area_g - inter) (0 when the union is 0). Fused
    (no (P, G) matrix); O(P G + T G).
    """
    p = props.shape[0]
    nt = thr.shape[0]
    for g in range(gt.shape[0]):
        gx1 = gt[g, 0]
        gy1 = gt[g, 1]
        gx2 = gt[g, 2]
        gy2 = gt[g, 3]
        ga = (gx2 - gx1) * (gy2 - gy1)
        t = 0
        for i in range(p):
            iw = min(props[i, 2], gx2) - max(props[i, 0], gx1)
            ih = min(props[i, 3], gy2) - max(props[i, 1], gy1)
            if iw <= 0.0 or ih <= 0.0:
                inter = 0.0
            else:
                inter = iw * ih
            union = (props[i, 2] - props[i, 0]) * (props[i, 3] - props[i, 1]) + ga - inter
            iou = inter / union if union > 0.0 else 0.0
            while t < nt and iou >= thr[t]:
                out[t, g] = i
                t += 1
            if t == nt:
                break
        while t < nt:
            out[t, g] = p
            t += 1
