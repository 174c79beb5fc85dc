"""Host-side (CPU, Numba) parts of the GPU algorithms."""

from __future__ import annotations

import numpy as np

from .._jit import jit


@jit
def nms_reduce_mask(mask: np.ndarray, tile: int, keep: np.ndarray) -> int:
    """Greedy pass over an NMS suppression bitmask; returns the number kept.

    ``mask`` (N, col_blocks) uint64 as written by the mask kernel for boxes in
    score order: bit ``k`` of ``mask[i, c]`` says box ``i`` suppresses box
    ``c * tile + k`` (only later boxes are marked). Box ``i`` is kept unless a
    kept box before it marked it; a kept box's row is OR-ed into the running
    ``removed`` words from its own tile on. Writes the kept positions (indices
    into the sorted order, ascending) to ``keep[:count]``.
    Cost: O(N) word tests plus O(col_blocks) word ORs per kept box.
    """
    n = mask.shape[0]
    col_blocks = mask.shape[1]
    removed = np.zeros(col_blocks, dtype=np.uint64)
    one = np.uint64(1)
    count = 0
    for i in range(n):
        blk = i // tile
        bit = np.uint64(i - blk * tile)
        if (removed[blk] >> bit) & one:
            continue
        keep[count] = i
        count += 1
        for c in range(blk, col_blocks):
            removed[c] |= mask[i, c]
    return count
