"""Numba kernels of the centred-shape IoU (YOLOv2's k-means distance and anchor matching).

* :func:`shape_iou_assign` – IoU of centred box shapes (width, height) against a
  set of reference shapes; best reference per shape (the assignment step of
  YOLOv2's k-means; YOLO target assignment uses :func:`shape_iou` directly).
* :func:`shape_iou_matrix` – all pairs.

The public wrappers (:mod:`detbench.anchors.kmeans`) validate input, bring the
shapes into a range where every area is a normal float64, and allocate outputs.
"""

from __future__ import annotations

from detbench._jit import jit


@jit(inline="always")
def shape_iou(w1, h1, w2, h2):
    """IoU of two boxes of sizes (w1, h1) and (w2, h2) sharing one centre."""
    iw = min(w1, w2)
    ih = min(h1, h2)
    inter = iw * ih
    union = w1 * h1 + w2 * h2 - inter
    if union <= 0.0:
        return 0.0
    return inter / union


@jit
def shape_iou_assign(wh, ref, assign, best):
    """For each shape ``wh[i]`` find the reference shape with the highest IoU.

    wh: (N, 2) widths/heights; ref: (K, 2); assign: (N,) int64 out (first
    index on ties); best: (N,) float64 out (that IoU). O(N K). Serial on
    purpose: k-means calls it once per iteration on ~1e4-1e5 shapes x k <= 10,
    where a thread-pool launch costs more than the loop (and far more on a
    loaded machine).
    """
    n = wh.shape[0]
    k = ref.shape[0]
    for i in range(n):
        w = wh[i, 0]
        h = wh[i, 1]
        bi = 0
        bv = -1.0
        for j in range(k):
            v = shape_iou(w, h, ref[j, 0], ref[j, 1])
            if v > bv:
                bv = v
                bi = j
        assign[i] = bi
        best[i] = bv


@jit
def shape_iou_matrix(wh, ref, out):
    """out[i, j] = IoU of centred shapes wh[i] and ref[j]. O(N K)."""
    for i in range(wh.shape[0]):
        for j in range(ref.shape[0]):
            out[i, j] = shape_iou(wh[i, 0], wh[i, 1], ref[j, 0], ref[j, 1])
