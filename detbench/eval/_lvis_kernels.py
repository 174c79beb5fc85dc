"""Numba kernel of LVIS' segm evaluation: mask IoU rows for the detections that meet ground truths."""

from __future__ import annotations

from detbench._jit import jit
from detbench.masks._rle_kernels import pair_iou


@jit
def iou_rows(g_off, d_off, g_cnts, g_roff, g_box, d_cnts, d_roff, d_box, d_area, d_map, d_iou_off, d_iou):
    """``d_iou[d_iou_off[d] + gi]``: mask IoU of grouped detection ``d`` with ground truth ``g_off[k] + gi``.

    Groups ``k`` with ground truths only; ``d_map[d]`` is the row of detection ``d``'s mask in
    ``d_cnts``/``d_roff``/``d_box``/``d_area`` (detections of groups without ground truths have none).
    LVIS has no crowd regions: every IoU is intersection over union (pycocotools' ``rleIou``).
    """
    for k in range(g_off.shape[0] - 1):
        gs = g_off[k]
        ng = g_off[k + 1] - gs
        if ng == 0:
            continue
        for d in range(d_off[k], d_off[k + 1]):
            o = d_iou_off[d]
            j = d_map[d]
            for gi in range(ng):
                d_iou[o + gi] = pair_iou(d_cnts, d_roff, j, d_box, d_area, g_cnts, g_roff, gs + gi, g_box, False)
