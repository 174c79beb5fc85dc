"""GPU Soft-NMS: the twin of :func:`detbench.soft_nms` (kernel and host wrapper).

Validation, scratch buffers and the float64 corner copy come from :mod:`.gpu_nms`.
Setting: :data:`SOFT_THREADS` (threads of the one block that runs the selection).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

from detbench._validate import check_choice, check_number
from detbench.cuda import _common
from detbench.cuda._common import flat_grid, float_type, jit_options, mul_for, result_array, workspace
from detbench.cuda._runtime import require_cuda
from detbench.nms import _gpu_sort
from detbench.nms.gpu_greedy import _KCOUNT, PLAIN, _raise_bad_values, device_boxes_scores, make_gather_kernel, prepare

__all__ = ["soft_nms", "SOFT_THREADS", "make_soft_kernel"]

cuda: Any = None

#: Threads of the Soft-NMS block (a power of two; the whole selection runs in one block).
SOFT_THREADS: int = 1024


@cache
def make_soft_kernel(dtype_name: str, threads_max: int, gaussian: bool) -> Any:
    """``kernel[1, threads](pb, pscore, pbox, thresh, sigma, nt, out_idx, out_score, info)``
    (the number kept goes to ``info[_KCOUNT]``).

    ensemble-boxes' Soft-NMS loop as the CPU :func:`detbench.soft_nms` replays it: working
    position ``p`` holds box ``pbox[p]`` (initially ``p``) with current score ``pscore[p]`` and
    its float64 corners ``pb[p]`` (kept in position order, so each step's pass reads them
    coalesced, with no dependent load); step
    ``i`` picks the first position of the largest score among ``i..N-1`` (stop when it is not
    ``> thresh``), swaps it into position ``i``, and multiplies the score of every later
    position's box ``j`` that intersects the picked box by its weight: IoU in float64 as
    ensemble-boxes (``inter / ((area_a + area_b) - inter)``, areas ``(x2-x1)*(y2-y1)``);
    ``exp(-(o*o)/sigma)`` (gaussian) or ``1 - o`` when ``o > nt`` (linear); the product in
    float64, stored in the score dtype. One block: each step fuses the decay of the later
    positions with the search for the next maximum (a shared-memory tree reduction, ties to
    the lower position). O(N^2 / threads) per block; the picks are inherently serial.
    """
    global cuda
    cuda = _common.bind()
    ft = float_type(dtype_name)
    mul64 = mul_for("float64")
    ninf = ft(-np.inf)
    exp = math.exp

    @cuda.jit(device=True)
    def reduce_best(sv, sp, t, nthreads):
        s = nthreads // 2
        while s > 0:
            if t < s:
                v2 = sv[t + s]
                p2 = sp[t + s]
                if v2 > sv[t] or (v2 == sv[t] and p2 < sp[t]):
                    sv[t] = v2
                    sp[t] = p2
            cuda.syncthreads()
            s //= 2

    @cuda.jit(**jit_options())
    def soft_kernel(pb, pscore, pbox, thresh, sigma, nt, out_idx, out_score, state):
        sv = cuda.shared.array(threads_max, ft)
        sp = cuda.shared.array(threads_max, np.int64)
        sbox = cuda.shared.array(4, np.float64)
        t = cuda.threadIdx.x
        nthreads = cuda.blockDim.x
        n = pscore.shape[0]
        bv = ninf
        bp = n
        for q in range(t, n, nthreads):
            v = pscore[q]
            if v > bv:
                bv = v
                bp = q
        sv[t] = bv
        sp[t] = bp
        cuda.syncthreads()
        reduce_best(sv, sp, t, nthreads)
        k = 0
        for i in range(n):
            m = sv[0]
            p = sp[0]
            if not m > thresh:
                break
            cuda.syncthreads()  # sv/sp are read by all before they are rewritten
            if t == 0:
                out_idx[k] = pbox[p]
                out_score[k] = m
                for c in range(4):
                    sbox[c] = pb[p, c]
                if p != i:  # the box at position i moves to p (position i is never read again)
                    pbox[p] = pbox[i]
                    pscore[p] = pscore[i]
                    for c in range(4):
                        pb[p, c] = pb[i, c]
            cuda.syncthreads()
            k += 1
            ax1 = sbox[0]
            ay1 = sbox[1]
            ax2 = sbox[2]
            ay2 = sbox[3]
            aarea = mul64(ax2 - ax1, ay2 - ay1)
            bv = ninf
            bp = n
            q = i + 1 + t
            while q < n:  # a while loop: range() with a runtime step divides
                v = pscore[q]
                bx1 = pb[q, 0]
                by1 = pb[q, 1]
                bx2 = pb[q, 2]
                by2 = pb[q, 3]
                hh = max(0.0, min(ay2, by2) - max(ay1, by1))
                ww = max(0.0, min(ax2, bx2) - max(ax1, bx1))
                inter = mul64(hh, ww)
                if inter > 0.0:
                    ovr = inter / ((aarea + mul64(bx2 - bx1, by2 - by1)) - inter)
                    if gaussian:
                        wgt = exp(-(mul64(ovr, ovr) / sigma))
                    else:
                        wgt = 1.0
                        if ovr > nt:
                            wgt = 1.0 - ovr
                    v = ft(mul64(wgt, float(v)))
                    pscore[q] = v
                if v > bv:
                    bv = v
                    bp = q
                q += nthreads
            sv[t] = bv
            sp[t] = bp
            cuda.syncthreads()
            reduce_best(sv, sp, t, nthreads)
        if t == 0:
            state[_KCOUNT] = k

    return soft_kernel


def soft_nms(
    boxes: Any,
    scores: Any,
    method: str = "gaussian",
    sigma: float = 0.5,
    iou_threshold: float = 0.3,
    score_threshold: float = 0.001,
) -> tuple[Any, Any]:
    """Soft-NMS (Bodla et al., ICCV 2017) on the GPU: the twin of :func:`detbench.soft_nms`.

    Same parameters and rule (ensemble-boxes' ``soft_nms`` order of picks, ties included; see
    :func:`make_soft_kernel`). Returns ``(indices, rescored)``: int64 kept boxes in pick order
    and their decayed scores in the scores' dtype; NumPy for host inputs, device arrays for GPU
    inputs. ``"linear"`` results equal the CPU function bit for bit. ``"gaussian"`` weights use
    the device's ``exp`` (CUDA libdevice, within 1 ulp) where the CPU function uses NumPy's, so
    a rescored value can differ in its last bit, and a pick order could differ only where two
    scores are that close.

    Cost: N picks, each a pass over the remaining boxes by one block of :data:`SOFT_THREADS`
    threads (O(N^2 / threads)); memory O(N).
    """
    cuda_mod = require_cuda()
    # the CPU twin's box-scale rule, without promotion (the rescored scores keep the input dtype):
    # float32 boxes whose areas would overflow/underflow float32 are refused by name
    db, ds, dtype, on_device = device_boxes_scores(cuda_mod, boxes, scores, 0.0, promote=False)
    method = check_choice(method, "method", ("gaussian", "linear"))
    sig = check_number(sigma, "sigma", low=0.0, low_inclusive=False)
    nt = check_number(iou_threshold, "iou_threshold")
    st = check_number(score_threshold, "score_threshold", low=0.0)
    n = int(db.shape[0])
    pscore, pbox, info, fmax = prepare(cuda_mod, db, ds, dtype, None, False)
    out_idx = result_array(cuda_mod, (max(n, 1),), np.int64)
    out_score = result_array(cuda_mod, (max(n, 1),), dtype)
    if n:
        tmax = int(SOFT_THREADS)
        threads = min(tmax, _gpu_sort.next_pow2(n)) if n > 1 else 1
        kernel = make_soft_kernel(dtype.name, tmax, method == "gaussian")
        pb = workspace(cuda_mod, "soft_boxes", (n, 4), np.float64)
        alive = workspace(cuda_mod, "alive", (n,), np.uint8)
        dummy = workspace(cuda_mod, "slab", (1,), np.int64)
        make_gather_kernel("float64", PLAIN)[flat_grid(n, 256), 256](
            db, dummy, pbox, n, info, fmax, pb, dummy, alive
        )  # pbox is the identity here: the corners in input order, as float64
        kernel[1, threads](pb, pscore, pbox, dtype.type(st), np.float64(sig), np.float64(nt), out_idx, out_score, info)
    host_info = info.copy_to_host()
    _raise_bad_values(host_info)
    k = int(host_info[_KCOUNT]) if n else 0
    idx, val = out_idx[:k], out_score[:k]
    if on_device:
        return idx, val
    return idx.copy_to_host(), val.copy_to_host()
