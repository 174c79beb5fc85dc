"""Bitonic sort of (score, index) pairs on the GPU, by decreasing score, equal scores by increasing index.

Used by the GPU NMS family so that the sort stays on the device. The pairs are unique (the
index breaks every tie), so the unstable bitonic network gives the stable order. The array
length is a power of two (pad with ``-inf`` scores and large indices, which sort last).

Kernels: one shared-memory pass sorts blocks of ``2 * threads`` elements (every stage with a
stride inside the block); larger strides run one launch per (stage, stride) in global memory,
each followed by a shared-memory pass for the strides inside a block: with ``L = log2(P / B)``
for ``P`` elements and blocks of ``B``, ``1 + L + L * (L + 1) / 2`` launches (1 for P <= B,
36 for P = 131,072 and B = 1024, 66 for P = 2**20).

Setting: :data:`SORT_BLOCK` (elements per shared-memory block, a power of two; tests shrink it).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from detbench.cuda import _common
from detbench.cuda._common import cdiv, float_type, jit_options

#: Elements a block sorts in shared memory (a power of two; the block has half as many threads).
SORT_BLOCK: int = 1024

cuda: Any = None


@cache
def exchange_device() -> Any:
    """Device function ``exchange(keys, idx, i, m, up)``: the bitonic compare-exchange of pairs ``i < m``
    (shared or global arrays): after it, ``i`` holds the pair that comes first (decreasing key, equal
    keys by increasing index) when ``up``, the other one when not."""
    global cuda
    cuda = _common.bind()

    @cuda.jit(device=True)
    def exchange(keys, idx, i, m, up):
        ka = keys[i]
        ia = idx[i]
        kb = keys[m]
        ib = idx[m]
        if up == (kb > ka or (kb == ka and ib < ia)):
            keys[i] = kb
            idx[i] = ib
            keys[m] = ka
            idx[m] = ia

    return exchange


@cache
def _kernels(dtype_name: str, sb_max: int) -> tuple[Any, Any]:
    global cuda
    cuda = _common.bind()
    ft = float_type(dtype_name)
    exchange = exchange_device()

    @cuda.jit(**jit_options())
    def local_pass(keys, idx, k_first, k_last):
        """Stages ``k_first .. k_last`` (powers of two; each with every stride below the block size)."""
        sk = cuda.shared.array(sb_max, ft)
        si = cuda.shared.array(sb_max, np.int32)
        t = cuda.threadIdx.x
        half = cuda.blockDim.x
        sb = 2 * half
        base = cuda.blockIdx.x * sb
        sk[t] = keys[base + t]
        si[t] = idx[base + t]
        sk[t + half] = keys[base + t + half]
        si[t + half] = idx[base + t + half]
        cuda.syncthreads()
        k = k_first
        while k <= k_last:
            j = min(k, sb) // 2
            while j > 0:
                i = 2 * t - (t & (j - 1))  # 2 * j * (t // j) + t % j, j a power of two
                exchange(sk, si, i, i + j, ((base + i) & k) == 0)
                cuda.syncthreads()
                j //= 2
            k *= 2
        keys[base + t] = sk[t]
        idx[base + t] = si[t]
        keys[base + t + half] = sk[t + half]
        idx[base + t + half] = si[t + half]

    @cuda.jit(**jit_options())
    def global_pass(keys, idx, k, j):
        """One (stage ``k``, stride ``j``) step over the whole array, one thread per pair."""
        npairs = keys.shape[0] // 2
        for t in range(cuda.grid(1), npairs, cuda.gridsize(1)):
            i = 2 * t - (t & (j - 1))  # 2 * j * (t // j) + t % j, j a power of two
            exchange(keys, idx, i, i + j, (i & k) == 0)

    return local_pass, global_pass


def next_pow2(n: int) -> int:
    p = 2
    while p < n:
        p *= 2
    return p


def sort_pairs(keys: Any, idx: Any, threads: int = 256) -> None:
    """Sort device arrays ``keys`` (float) and ``idx`` (int32) in place: decreasing key, then increasing index.

    ``keys.shape[0]`` must be a power of two (at least 2).
    """
    p = int(keys.shape[0])
    sb_max = int(SORT_BLOCK)
    local_pass, global_pass = _kernels(np.dtype(keys.dtype).name, sb_max)
    sb = min(sb_max, p)
    blocks = p // sb
    local_pass[blocks, sb // 2](keys, idx, 2, sb)
    k = 2 * sb
    while k <= p:
        j = k // 2
        while j >= sb:
            global_pass[max(1, min(cdiv(p // 2, threads), _common.MAX_GRID_X)), threads](keys, idx, k, j)
            j //= 2
        local_pass[blocks, sb // 2](keys, idx, k, k)
        k *= 2
