"""Object keypoint similarity (OKS) for ``COCOeval(gt, dt, "keypoints")``: the precomputed IoU source.

pycocotools' ``computeOks`` for a detection d and a ground truth g with
keypoints ``(x, y, v)`` (k of them) and per-keypoint sigmas:
``vars = (2 sigma)^2``; ``e = (dx^2 + dy^2) / vars / (area_g + spacing(1)) / 2``
where dx, dy are the offsets to g's keypoints when g has visible keypoints
(``v > 0``; only those enter), else the distances outside g's box enlarged
by its size on each side (all k enter); ``OKS = sum(exp(-e)) / len(e)``.

To come out bit-identical the ``exp`` is NumPy's own (its SIMD exp differs
from libm's in the last bit for some inputs) applied to all ``-e`` at once, and
the sum replays NumPy's reduction order (pairwise summation: sequential
below 8 terms, 8 accumulators up to 128, halves above). Ground truths with
``num_keypoints == 0`` are ignored (``Groups.g_crowd == 2``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._jit import jit
from detbench._parallel import run_weighted
from detbench.eval.annotations import _py
from detbench.eval.instances import rows_keypoints
from detbench.eval.segm import annotation_dicts

__all__ = ["COCO_SIGMAS", "oks_rows", "numpy_sum"]

#: pycocotools' default per-keypoint sigmas (the 17 COCO person keypoints)
COCO_SIGMAS = (
    np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89])
    / 10.0
)


def _keypoints(anns: list, k: int, what: str) -> np.ndarray:
    out = np.empty((len(anns), 3 * k), np.float64)
    for r, a in enumerate(anns):
        kp = a.get("keypoints")
        if kp is None:
            raise ValueError(f"{what} id {a.get('id')!r}: no 'keypoints' (keypoints evaluation needs them)")
        try:
            arr = np.asarray(kp, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"{what} id {a.get('id')!r}: 'keypoints' must be numbers") from None
        if arr.size != 3 * k:
            raise ValueError(
                f"{what} id {a.get('id')!r}: 'keypoints' has {arr.size} values, expected {3 * k} "
                f"(x, y, v for each of the {k} sigmas)"
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"{what} id {a.get('id')!r}: 'keypoints' has NaN or infinite values")
        out[r] = arr
    return out


def _fast_keypoints(ann: Any, rows: np.ndarray, k: int, what: str) -> tuple:
    # (keypoints, map) of rows from the arrays a detbench reader filled ((None, None): read the dicts)
    extra = ann.extra
    if "keypoints" not in extra and "kp_raw" not in extra:
        if extra.get("results_kind") == "segm":
            raise ValueError("cocoDt: mask results have no keypoints; keypoints evaluation needs keypoint results")
        return None, None

    def ids_fn(idx: Any) -> list:  # ids of rows[idx], for messages only
        return [_py(v) for v in ann.ids[rows[np.asarray(idx, np.int64)]].tolist()]

    return rows_keypoints(ann, rows, k, what, ids_fn)


def _dicts(prep: Any, coco_gt: Any, coco_dt: Any, need_g: bool, need_d: bool) -> tuple:
    g_anns = d_anns = None
    if need_g:
        gt_all = annotation_dicts(coco_gt, "cocoGt")
        if len(gt_all) != len(prep.gt_ann):
            raise ValueError("keypoints: the annotation dicts changed since they were read; pass cache=False")
        g_anns = [gt_all[i] for i in prep.g_src.tolist()]
    if need_d:
        dt_all = annotation_dicts(coco_dt, "cocoDt")
        if len(dt_all) != len(prep.dt_ann):
            raise ValueError("keypoints: the annotation dicts changed since they were read; pass cache=False")
        d_anns = [dt_all[i] for i in prep.d_src.tolist()]
    return g_anns, d_anns


def oks_rows(
    prep: Any, coco_gt: Any, coco_dt: Any, sigmas: Any, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d_iou, d_iou_off, g_crowd) for the grouped annotations of ``prep``: OKS rows and the ignore codes.

    ``threads``: default ``numba.get_num_threads()`` (blocks of detections split over them from
    ``_PARALLEL_VALUES`` exponentials on); the rows do not depend on it."""
    sig = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if sig.size == 0 or not np.isfinite(sig).all() or (sig <= 0).any():
        raise ValueError(f"params.kpt_oks_sigmas: expected positive numbers, got {sig.tolist()}")
    k = sig.size
    gk, g_map = _fast_keypoints(prep.gt_ann, prep.g_src, k, "ground truth")
    dk, d_map = _fast_keypoints(prep.dt_ann, prep.d_src, k, "detection")
    gr = prep.groups
    crowd = gr.g_crowd.copy()
    zero = None  # ground truths with num_keypoints == 0 (ignored)
    if gk is not None and prep.gt_ann.extra.get("num_keypoints") is not None:
        zero = prep.gt_ann.extra["num_keypoints"][prep.g_src] == 0
    if gk is None or dk is None:
        g_anns, d_anns = _dicts(prep, coco_gt, coco_dt, gk is None, dk is None)
        if gk is None:
            gk, g_map = _keypoints(g_anns, k, "ground truth"), None
            zero = np.array([a.get("num_keypoints", None) == 0 for a in g_anns], bool)
        if dk is None:
            dk, d_map = _keypoints(d_anns, k, "detection"), None
    if g_map is not None:
        gk = gk[g_map]  # the _e kernels read ground truths by group position
    if d_map is None:
        d_map = np.arange(dk.shape[0], dtype=np.int64)
    if zero is not None:
        crowd[(crowd == 0) & zero] = 2
    var = (sig * 2) ** 2
    g_area = gr.g_area + np.spacing(1)
    ng = np.diff(gr.g_off)
    per_d = np.repeat(ng, np.diff(gr.d_off))
    n_d = per_d.size
    d_iou_off = np.zeros(n_d, np.int64)
    if n_d:
        np.cumsum(per_d[:-1], out=d_iou_off[1:])
    n_pairs = int(per_d.sum())
    e_off = np.zeros(n_pairs + 1, np.int64)
    e_len = np.empty(n_pairs, np.int64)
    _e_counts(gr.g_off, gr.d_off, gk, k, d_iou_off, e_len)
    np.cumsum(e_len, out=e_off[1:])
    d_iou = np.empty(n_pairs, np.float64)
    # -e of a block of detections, NumPy's exp of it (as pycocotools; NumPy's SIMD exp gives each value
    # the same bits wherever it sits in the array), then the sums: blocks of ~64k values stay in cache and
    # reuse two buffers instead of faulting in two arrays of every value
    d_grp = np.repeat(np.arange(gr.d_off.size - 1, dtype=np.int64), np.diff(gr.d_off))
    first = e_off[d_iou_off]
    cuts = np.unique(np.concatenate([[0], np.searchsorted(first, np.arange(_BLOCK, e_off[-1], _BLOCK)), [n_d]]))
    ends = np.append(first, e_off[-1])[cuts]
    size = int(np.diff(ends).max(initial=0))
    g_box = np.ascontiguousarray(gr.g_box)
    blocks = list(zip(cuts[:-1].tolist(), cuts[1:].tolist(), ends[:-1].tolist(), ends[1:].tolist()))

    def work(i0: int, i1: int) -> None:
        # blocks i0..i1 - 1 with their own two buffers; each block writes its own detections' rows (NumPy's exp
        # releases the GIL): the rows do not depend on which thread ran them
        ebuf = np.empty(size, np.float64)
        xbuf = np.empty(size, np.float64)
        for a, b, e0, e1 in blocks[i0:i1]:
            _e_block(a, b, d_grp, gr.g_off, gk, dk, d_map, g_box, var, g_area, k, d_iou_off, e_off, e0, ebuf)
            np.exp(ebuf[: e1 - e0], out=xbuf[: e1 - e0])  # ebuf holds -e
            q1 = d_iou_off[b] if b < n_d else n_pairs
            _sums_block(xbuf, e_off, d_iou_off[a] if a < n_d else n_pairs, q1, e0, d_iou)

    run_weighted(ends, work, threads, min_total=_PARALLEL_VALUES)
    return d_iou, d_iou_off, crowd


#: values per block of the OKS exponentials
_BLOCK = 1 << 16
#: OKS exponentials at or above which the blocks are split over threads
_PARALLEL_VALUES = 2 * _BLOCK


@jit
def _e_block(d0, d1, d_grp, g_off, gk, dk, d_map, g_box, var, g_area, k, d_iou_off, e_off, e0, e):
    # -e of the pairs of detections d0..d1 - 1 (keypoints dk[d_map[d]]) into e[e_off[pair] - e0 ...], in
    # pycocotools' operation order
    for d in range(d0, d1):
        dm = d_map[d]
        grp = d_grp[d]
        gs = g_off[grp]
        ng = g_off[grp + 1] - gs
        for gi in range(ng):
            g = gs + gi
            vis = 0
            for j in range(k):
                if gk[g, 3 * j + 2] > 0:
                    vis += 1
            x0 = g_box[g, 0] - g_box[g, 2]
            x1 = g_box[g, 0] + g_box[g, 2] * 2
            y0 = g_box[g, 1] - g_box[g, 3]
            y1 = g_box[g, 1] + g_box[g, 3] * 2
            ar = g_area[g]
            p = e_off[d_iou_off[d] + gi] - e0
            for j in range(k):
                xd = dk[dm, 3 * j]
                yd = dk[dm, 3 * j + 1]
                if vis > 0:
                    if gk[g, 3 * j + 2] <= 0:
                        continue
                    dx = xd - gk[g, 3 * j]
                    dy = yd - gk[g, 3 * j + 1]
                else:
                    dx = max(0.0, x0 - xd) + max(0.0, xd - x1)
                    dy = max(0.0, y0 - yd) + max(0.0, yd - y1)
                e[p] = -((dx * dx + dy * dy) / var[j] / ar / 2)
                p += 1


@jit
def _sums_block(x, e_off, q0, q1, e0, out):
    for q in range(q0, q1):
        n = e_off[q + 1] - e_off[q]
        out[q] = numpy_sum(x, e_off[q] - e0, n) / n


@jit
def _e_counts(g_off, d_off, gk, k, d_iou_off, e_len):
    for grp in range(g_off.shape[0] - 1):
        gs = g_off[grp]
        ng = g_off[grp + 1] - gs
        for gi in range(ng):
            vis = 0
            for j in range(k):
                if gk[gs + gi, 3 * j + 2] > 0:
                    vis += 1
            n = vis if vis > 0 else k
            for d in range(d_off[grp], d_off[grp + 1]):
                e_len[d_iou_off[d] + gi] = n


@jit
def _pairwise(x, lo, n):
    # NumPy's pairwise summation of x[lo:lo + n] (loops_utils.h: blocks of 128, 8 accumulators)
    if n < 8:
        res = 0.0
        for i in range(n):
            res += x[lo + i]
        return res
    if n <= 128:
        r0 = x[lo]
        r1 = x[lo + 1]
        r2 = x[lo + 2]
        r3 = x[lo + 3]
        r4 = x[lo + 4]
        r5 = x[lo + 5]
        r6 = x[lo + 6]
        r7 = x[lo + 7]
        i = 8
        while i < n - (n % 8):
            r0 += x[lo + i]
            r1 += x[lo + i + 1]
            r2 += x[lo + i + 2]
            r3 += x[lo + i + 3]
            r4 += x[lo + i + 4]
            r5 += x[lo + i + 5]
            r6 += x[lo + i + 6]
            r7 += x[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += x[lo + i]
            i += 1
        return res
    n2 = (n // 2) - ((n // 2) % 8)
    return _pairwise(x, lo, n2) + _pairwise(x, lo + n2, n - n2)


@jit
def numpy_sum(x, lo, n):
    """``np.sum(x[lo:lo + n])`` for a contiguous float64 slice, in NumPy's order (pairwise)."""
    if n == 0:
        return 0.0
    return _pairwise(x, lo, n)
