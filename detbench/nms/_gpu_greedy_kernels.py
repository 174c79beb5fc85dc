"""Device kernels of the GPU greedy NMS (:mod:`detbench.nms.gpu_greedy`): validation and sort-pair prep,
gather, the tile masks, the cross-chunk test and the in-order reduction (the one-launch small-N kernel:
:mod:`detbench.nms._gpu_small_kernels`).
Each factory builds (and caches) one kernel for a dtype and its settings; the host side decides
launch shapes."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

from detbench.cuda import _common
from detbench.cuda._common import (
    float_type,
    jit_options,
    mul_for,
)

# validation counters (int64): first bad row for each problem, then counts
_FIRST_BOX_NONFINITE, _FIRST_X, _FIRST_Y, _FIRST_SCORE = 0, 1, 2, 3
_N_VALID, _N_BOX_NONFINITE, _N_X, _N_Y, _N_SCORE = 4, 5, 6, 7, 8
_KCOUNT = 9  # boxes kept so far (written by the reduction, read by the cross-chunk pass)
_INFO_SIZE = 10
_BIG = np.iinfo(np.int64).max

#: Starting values of the counters (first-row slots at the largest int64) and of the largest coordinate.
_INFO_START = np.array([_BIG] * 4 + [0] * (_INFO_SIZE - 4), dtype=np.int64)
_FMAX_START = np.array([-np.inf], dtype=np.float64)

# gather modes
PLAIN, LABELS, SHIFT = 0, 1, 2

cuda: Any = None


@cache
def _init_kernel() -> Any:
    """``kernel[1, 1](info, fmax)``: reset the counters (first-row slots to the largest int64)."""
    global cuda
    cuda = _common.bind()
    big = _BIG
    ninf = -np.inf

    @cuda.jit(**jit_options())
    def init(info, fmax):
        for q in range(4):
            info[q] = big
        for q in range(4, info.shape[0]):
            info[q] = 0
        fmax[0] = ninf

    return init


@cache
def row_key_device(dtype_name: str) -> Any:
    """Device function ``(key, top) = row_key(boxes, scores, i, use_st, st, info)`` for box ``i``: its
    checks (a non-finite coordinate, ``x2 < x1``, ``y2 < y1``, a non-finite score: first row and count in
    ``info``), its sort key (the score; ``-inf`` when the score is not finite or not above ``st``
    with ``use_st``) and ``top``, its largest coordinate (``-inf`` when one is not finite)."""
    global cuda
    cuda = _common.bind()
    ft = float_type(dtype_name)
    zero = ft(0.0)
    ninf = ft(-np.inf)
    isinf = math.isinf
    isnan = math.isnan

    @cuda.jit(device=True)
    def row_key(boxes, scores, i, use_st, st, info):
        x1 = ft(boxes[i, 0])
        y1 = ft(boxes[i, 1])
        x2 = ft(boxes[i, 2])
        y2 = ft(boxes[i, 3])
        s = ft(scores[i]) + zero  # -0.0 ties with 0.0
        bad = False
        for v in (x1, y1, x2, y2):
            if isinf(v) or isnan(v):
                bad = True
        top = ninf
        if bad:
            cuda.atomic.min(info, _FIRST_BOX_NONFINITE, i)
            cuda.atomic.add(info, _N_BOX_NONFINITE, 1)
        else:
            if x2 < x1:
                cuda.atomic.min(info, _FIRST_X, i)
                cuda.atomic.add(info, _N_X, 1)
            if y2 < y1:
                cuda.atomic.min(info, _FIRST_Y, i)
                cuda.atomic.add(info, _N_Y, 1)
            top = max(max(x1, y1), max(x2, y2))
        key = s
        if isinf(s) or isnan(s):
            cuda.atomic.min(info, _FIRST_SCORE, i)
            cuda.atomic.add(info, _N_SCORE, 1)
            key = ninf
        elif use_st and not s > st:
            key = ninf
        return key, top

    return row_key


@cache
def make_prep_kernel(dtype_name: str) -> Any:
    """``kernel(boxes, scores, use_st, st, keys, idx, info, fmax)``: validation, score threshold,
    sort pairs (``-inf`` for dropped boxes and padding) and the largest coordinate (``fmax[0]``)."""
    global cuda
    cuda = _common.bind()
    ninf = float_type(dtype_name)(-np.inf)
    row_key = row_key_device(dtype_name)

    @cuda.jit(**jit_options())
    def prep(boxes, scores, use_st, st, keys, idx, info, fmax):
        n = boxes.shape[0]
        for i in range(cuda.grid(1), keys.shape[0], cuda.gridsize(1)):
            idx[i] = i  # unique pairs: padding sorts last, by position
            if i >= n:
                keys[i] = ninf
                continue
            key, top = row_key(boxes, scores, i, use_st, st, info)
            if top > ninf:
                cuda.atomic.max(fmax, 0, float(top))
            keys[i] = key
            if key > ninf:
                cuda.atomic.add(info, _N_VALID, 1)

    return prep


@cache
def make_gather_kernel(dtype_name: str, mode: int) -> Any:
    """``kernel(boxes, labels, idx, n, info, fmax, sboxes, slab, alive)``: boxes (and labels) in
    sorted order, in the kernel dtype, for the first ``n`` sorted positions; ``alive`` is 1 for
    the first ``info[_N_VALID]`` (boxes above the score threshold, sorted first), else 0.
    ``mode`` SHIFT adds torchvision's batched_nms offset ``label * (max coordinate + 1)`` in the
    kernel dtype (the CPU ``shift_by_label``)."""
    global cuda
    cuda = _common.bind()
    ft = float_type(dtype_name)
    mul = mul_for(dtype_name)
    one = ft(1.0)

    @cuda.jit(**jit_options())
    def gather(boxes, labels, idx, n, info, fmax, sboxes, slab, alive):
        n_valid = info[_N_VALID]
        for t in range(cuda.grid(1), n, cuda.gridsize(1)):
            i = idx[t]
            alive[t] = 1 if t < n_valid else 0
            if mode == SHIFT:
                o = mul(ft(labels[i]), ft(fmax[0]) + one)
                for c in range(4):
                    sboxes[t, c] = ft(boxes[i, c]) + o
            else:
                for c in range(4):
                    sboxes[t, c] = ft(boxes[i, c])
            if mode == LABELS:
                slab[t] = labels[i]

    return gather


@cache
def _iou_hit(dtype_name: str, inclusive: bool) -> Any:
    """Device function ``hit(ax1, ay1, ax2, ay2, aarea, bx1, by1, bx2, by2, barea, thr, offset)``:
    the CPU NMS rule ``inter / ((area_a + area_b) - inter) > thr`` (``>=`` if inclusive), IoU in
    the box dtype compared in float64, a zero union never suppressing."""
    global cuda
    cuda = _common.bind()
    ft = float_type(dtype_name)
    mul = mul_for(dtype_name)
    zero = ft(0.0)

    @cuda.jit(device=True)
    def hit(ax1, ay1, ax2, ay2, aarea, bx1, by1, bx2, by2, barea, thr, offset):
        w = min(ax2, bx2) - max(ax1, bx1) + offset
        h = min(ay2, by2) - max(ay1, by1) + offset
        inter = zero
        if w > zero and h > zero:
            inter = mul(w, h)
        union = (aarea + barea) - inter
        if not union > zero:
            return False
        iou = float(inter / union)
        if inclusive:
            return iou >= thr
        return iou > thr

    return hit


@cache
def make_mask_kernel(dtype_name: str, tile: int, inclusive: bool, use_labels: bool) -> Any:
    """``kernel[(tiles, tiles), tile](sboxes, slab, c0, cn, thr, offset, mask)`` for one chunk.

    Block (col, row), ``row <= col``, stages the ``tile`` boxes of column tile ``col`` and their
    areas in shared memory; thread ``t`` takes box ``i = row * tile + t`` of the chunk and sets
    bit ``k`` of ``mask[i, col]`` when box ``col * tile + k`` (a later box) overlaps it above the
    threshold (and has the same label when built with ``use_labels``). Blocks below the
    diagonal leave at once (never read)."""
    global cuda
    cuda = _common.bind()
    ft = float_type(dtype_name)
    mul = mul_for(dtype_name)
    hit = _iou_hit(dtype_name, inclusive)
    u0 = np.uint64(0)
    u1 = np.uint64(1)

    @cuda.jit(**jit_options())
    def mask_kernel(sboxes, slab, c0, cn, thr, offset, mask):
        row = cuda.blockIdx.y
        col = cuda.blockIdx.x
        if row > col:
            return  # the whole block leaves together, before the barrier
        sb = cuda.shared.array((tile, 5), ft)
        sl = cuda.shared.array(tile, np.int64)
        t = cuda.threadIdx.x
        row_size = min(cn - row * tile, tile)
        col_size = min(cn - col * tile, tile)
        if t < col_size:
            jj = c0 + col * tile + t
            x1 = sboxes[jj, 0]
            y1 = sboxes[jj, 1]
            x2 = sboxes[jj, 2]
            y2 = sboxes[jj, 3]
            sb[t, 0] = x1
            sb[t, 1] = y1
            sb[t, 2] = x2
            sb[t, 3] = y2
            sb[t, 4] = mul(x2 - x1 + offset, y2 - y1 + offset)
            if use_labels:
                sl[t] = slab[jj]
        cuda.syncthreads()
        if t < row_size:
            i = row * tile + t
            ax1 = sboxes[c0 + i, 0]
            ay1 = sboxes[c0 + i, 1]
            ax2 = sboxes[c0 + i, 2]
            ay2 = sboxes[c0 + i, 3]
            area = mul(ax2 - ax1 + offset, ay2 - ay1 + offset)
            lab = slab[c0 + i] if use_labels else 0
            bits = u0
            start = 0
            if row == col:
                start = t + 1
            for k in range(start, col_size):
                if use_labels and sl[k] != lab:
                    continue
                if hit(ax1, ay1, ax2, ay2, area, sb[k, 0], sb[k, 1], sb[k, 2], sb[k, 3], sb[k, 4], thr, offset):
                    bits |= u1 << np.uint64(k)
            mask[i, col] = bits

    return mask_kernel


@cache
def make_cross_kernel(dtype_name: str, threads: int, inclusive: bool, use_labels: bool) -> Any:
    """``kernel[(ceil(cn / threads), NMS_CROSS_Y), threads](sboxes, slab, c0, cn, kept, kept_lab,
    kcount, thr, offset, alive)``: clear ``alive`` of the chunk's boxes that a box kept in an
    earlier chunk suppresses. Block y takes kept tiles ``y, y + gridDim.y, ...`` of ``threads``
    boxes, staged in shared memory; several blocks may clear the same flag (same value)."""
    global cuda
    cuda = _common.bind()
    ft = float_type(dtype_name)
    mul = mul_for(dtype_name)
    hit = _iou_hit(dtype_name, inclusive)

    @cuda.jit(**jit_options())
    def cross_kernel(sboxes, slab, c0, cn, kept, kept_lab, kcount, thr, offset, alive):
        sk = cuda.shared.array((threads, 5), ft)
        sl = cuda.shared.array(threads, np.int64)
        t = cuda.threadIdx.x
        p = cuda.blockIdx.x * threads + t
        me = c0 + p
        valid = p < cn
        ax1 = ft(0.0)
        ay1 = ft(0.0)
        ax2 = ft(0.0)
        ay2 = ft(0.0)
        area = ft(0.0)
        lab = 0
        if valid:
            ax1 = sboxes[me, 0]
            ay1 = sboxes[me, 1]
            ax2 = sboxes[me, 2]
            ay2 = sboxes[me, 3]
            area = mul(ax2 - ax1 + offset, ay2 - ay1 + offset)
            if use_labels:
                lab = slab[me]
        nk = kcount[_KCOUNT]
        for k0 in range(cuda.blockIdx.y * threads, nk, cuda.gridDim.y * threads):
            cuda.syncthreads()  # the previous kept tile is no longer read
            if k0 + t < nk:
                x1 = kept[k0 + t, 0]
                y1 = kept[k0 + t, 1]
                x2 = kept[k0 + t, 2]
                y2 = kept[k0 + t, 3]
                sk[t, 0] = x1
                sk[t, 1] = y1
                sk[t, 2] = x2
                sk[t, 3] = y2
                sk[t, 4] = mul(x2 - x1 + offset, y2 - y1 + offset)
                if use_labels:
                    sl[t] = kept_lab[k0 + t]
            cuda.syncthreads()
            if valid and alive[me] != 0:
                for q in range(min(threads, nk - k0)):
                    if use_labels and sl[q] != lab:
                        continue
                    if hit(sk[q, 0], sk[q, 1], sk[q, 2], sk[q, 3], sk[q, 4], ax1, ay1, ax2, ay2, area, thr, offset):
                        alive[me] = 0
                        break

    return cross_kernel


@cache
def make_reduce_kernel(tile: int, words_max: int, use_labels: bool) -> Any:
    """``kernel[1, NMS_REDUCE_THREADS](sboxes, slab, c0, cn, mask, alive, kept, kept_lab, kept_pos,
    state)``: the greedy pass over one chunk, in order, without global-memory latency in its
    serial part.

    The ``removed`` words start as the chunk's dead boxes (``alive == 0``: suppressed by an
    earlier chunk, or below the score threshold). For each tile of ``tile`` boxes, the block
    first copies their mask rows (the words from that tile on, at most ``tile x words_max``
    words) into shared memory, together; then it walks the tile's boxes: every thread reads the
    same ``removed`` bit, so the decision is uniform; a kept box's row is ORed into
    ``removed`` (one word per thread) and a barrier follows only a kept box (a row only marks
    later boxes, so the bits being decided are never changed under a reader). Kept boxes are
    appended to ``kept`` (and ``kept_pos``, their sorted positions); ``state[_KCOUNT]`` counts them.
    """
    global cuda
    cuda = _common.bind()
    u0 = np.uint64(0)
    u1 = np.uint64(1)

    @cuda.jit(**jit_options())
    def reduce_kernel(sboxes, slab, c0, cn, mask, alive, kept, kept_lab, kept_pos, state):
        removed = cuda.shared.array(words_max, np.uint64)
        rows = cuda.shared.array((tile, words_max), np.uint64)
        picks = cuda.shared.array(tile, np.int32)  # chunk positions kept in the current tile
        t = cuda.threadIdx.x
        nt = cuda.blockDim.x
        words = (cn + tile - 1) // tile
        for w in range(t, words, nt):
            bits = u0
            for b in range(tile):
                i = w * tile + b
                if i < cn and alive[c0 + i] == 0:
                    bits |= u1 << np.uint64(b)
            removed[w] = bits
        kc = state[_KCOUNT]
        for r in range(words):
            nrow = min(tile, cn - r * tile)
            span = words - r
            cuda.syncthreads()  # the previous tile's rows are no longer read; removed is set
            e = t
            while e < nrow * span:  # 32-bit division (e < 64 * 64)
                a = np.int64(np.uint32(e) // np.uint32(span))
                q = r + (e - a * span)
                rows[a, q] = mask[r * tile + a, q]
                e += nt
            cuda.syncthreads()
            # the serial walk touches shared memory only (no global-memory latency per kept box)
            nk = 0
            for a in range(nrow):
                if ((removed[r] >> np.uint64(a)) & u1) == u0:
                    q = r + t
                    while q < words:  # a while loop: range() with a runtime step divides
                        removed[q] |= rows[a, q]
                        q += nt
                    if t == 0:
                        picks[nk] = r * tile + a
                    nk += 1
                    cuda.syncthreads()
            cuda.syncthreads()  # picks is complete
            # the tile's kept boxes appended together (sboxes read in parallel)
            for e in range(t, nk, nt):
                i = c0 + picks[e]
                for c in range(4):
                    kept[kc + e, c] = sboxes[i, c]
                if use_labels:
                    kept_lab[kc + e] = slab[i]
                kept_pos[kc + e] = i
            kc += nk
        if t == 0:
            state[_KCOUNT] = kc

    return reduce_kernel


@cache
def _take_kernel() -> Any:
    global cuda
    cuda = _common.bind()

    @cuda.jit(**jit_options())
    def take(idx, kept_pos, out):
        for t in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[t] = idx[kept_pos[t]]

    return take
