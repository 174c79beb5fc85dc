"""Numba kernels of the COCO summary: the entries one stat averages, gathered in NumPy's order."""

from __future__ import annotations

from detbench._jit import jit


@jit
def valid_precision(arr, t_idx, a, m, out):
    """Entries ``> -1`` of ``arr[t_idx][:, :, :, [a], [m]]`` in C order, ``arr`` (T, R, K, A, M) (any strides;
    recall (T, K, A, M) is passed as ``recall[:, np.newaxis]``, R = 1).

    Writes them to ``out`` (as long as that selection) and returns their count: the same
    values in the same order as NumPy's ``s[s > -1]``, so ``np.mean`` of them is
    bit-identical to pycocotools' summary.
    """
    n = 0
    R = arr.shape[1]
    K = arr.shape[2]
    for ti in range(t_idx.shape[0]):
        t = t_idx[ti]
        for r in range(R):
            for k in range(K):
                v = arr[t, r, k, a, m]
                if v > -1:
                    out[n] = v
                    n += 1
    return n
