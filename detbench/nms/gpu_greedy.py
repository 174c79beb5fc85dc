"""GPU greedy NMS and batched NMS: twins of :func:`detbench.nms` and :func:`detbench.batched_nms`.

Everything stays on the device: validation, the score threshold, the sort and the greedy pass.
The host reads back two small arrays (the validation counters, and the number kept).

Algorithm (block-wise bitmask NMS with an on-GPU reduction, tiled so memory stays O(N)):

1. ``prep``: one thread per box checks it (finite, ``x2 >= x1``, ``y2 >= y1``, finite score),
   counts the boxes above ``score_threshold`` and writes the sort pairs (score, index);
2. a bitonic sort of the pairs (:mod:`detbench.nms._gpu_sort`): decreasing score, equal scores by index;
3. ``gather``: the boxes in that order (and labels, or torchvision's label shift);
4. the sorted boxes are processed in chunks of :data:`NMS_CHUNK` boxes. For each chunk:
   ``cross`` drops the chunk's boxes that a box kept in an earlier chunk suppresses (kept boxes
   staged through shared memory, every block of candidates against a share of the kept list);
   ``mask`` writes, as torchvision's CUDA NMS, one 64-bit word per (box, tile of
   :data:`NMS_TILE` boxes) of "IoU above threshold" bits for the later boxes of the chunk
   (``NMS_CHUNK**2 / 8`` bytes, 2 MiB, whatever N is); ``reduce`` (one block) walks the chunk
   in order from shared memory (each tile's mask rows copied in at once), keeps each box that
   is alive and not marked, ORs its mask row into the running ``removed`` words and appends it
   to the kept list.

Work O(N log^2 N) for the sort plus O(N * K) IoUs (K kept) for the cross-chunk tests and
O(N * NMS_CHUNK) for the masks; memory O(N). 100 k and 1 M boxes run (no N^2 mask).
IoU and comparisons are those of the CPU kernels (see :func:`make_mask_kernel`), so the kept
indices are the CPU function's.

Soft-NMS is a different loop (N picks, each rescoring the rest): :mod:`detbench.nms.gpu_soft`.

Settings (module attributes, read at call time; the tests shrink them): :data:`NMS_TILE`,
:data:`NMS_CHUNK`, :data:`NMS_THREADS`, :data:`NMS_CROSS_Y`, :data:`NMS_REDUCE_THREADS`,
and ``detbench.nms._gpu_sort.SORT_BLOCK``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import check_bool, check_boxes, check_labels, check_number, check_offset, check_scores
from detbench.cuda._common import (
    cdiv,
    check_device,
    common_float,
    device_input,
    flat_grid,
    result_array,
    workspace,
)
from detbench.cuda._runtime import is_device_array, require_cuda
from detbench.nms import _gpu_sort
from detbench.nms._gpu_greedy_kernels import (  # noqa: F401 - the kernels of this twin
    _BIG,
    _FIRST_BOX_NONFINITE,
    _FIRST_SCORE,
    _FIRST_X,
    _FIRST_Y,
    _FMAX_START,
    _INFO_SIZE,
    _INFO_START,
    _KCOUNT,
    _N_BOX_NONFINITE,
    _N_SCORE,
    _N_VALID,
    _N_X,
    _N_Y,
    LABELS,
    PLAIN,
    SHIFT,
    _init_kernel,
    _iou_hit,
    _take_kernel,
    make_cross_kernel,
    make_gather_kernel,
    make_mask_kernel,
    make_prep_kernel,
    make_reduce_kernel,
)
from detbench.nms._gpu_small_kernels import make_small_kernel, small_mask_words

__all__ = [
    "nms",
    "batched_nms",
    "NMS_TILE",
    "NMS_CHUNK",
    "NMS_THREADS",
    "NMS_CROSS_Y",
    "NMS_REDUCE_THREADS",
    "NMS_SMALL_MAX",
    "NMS_SMALL_THREADS",
    "NMS_SMALL_METHOD",
    "BATCHED_SHIFT_MAX",
]

#: Boxes per mask tile (threads of a mask block), at most 64: one uint64 word per box and tile.
NMS_TILE: int = 64
#: Boxes per chunk (a multiple of NMS_TILE, at most 64 tiles): the mask is NMS_CHUNK x NMS_CHUNK bits.
NMS_CHUNK: int = 4096
#: Threads per block of the elementwise and cross-chunk kernels.
NMS_THREADS: int = 256
#: Blocks along the kept list in the cross-chunk kernel (each takes every NMS_CROSS_Y-th kept tile).
NMS_CROSS_Y: int = 16
#: Threads of the reduction block (two warps: they copy each tile's mask rows into shared memory).
NMS_REDUCE_THREADS: int = 64
#: Largest N that :func:`nms` runs in one launch (:func:`make_small_kernel`, one block; a power of
#: two, at most 1024: its shared memory is sized for it).
NMS_SMALL_MAX: int = 1024
#: Threads of that block.
NMS_SMALL_THREADS: int = 512
#: Greedy pass of that kernel: ``"mask"`` (suppression bitmask, then an in-order walk; the default) or
#: ``"barrier"`` (the first version: one block barrier per sorted box); see :func:`make_small_kernel`.
NMS_SMALL_METHOD: str = "mask"
#: batched_nms uses torchvision's coordinate shift up to this many boxes (as the CPU twin and
#: torchvision do), NMS within each class above.
BATCHED_SHIFT_MAX: int = 1000


# --------------------------------------------------------------------------- host side
def device_boxes_scores(
    cuda_mod: Any, boxes: Any, scores: Any, offset: float | None = None, promote: bool = True
) -> tuple[Any, Any, np.dtype, bool]:
    """(device boxes, device scores, common dtype, on_device): host inputs validated with the CPU
    helpers (same messages) and uploaded; GPU inputs shape-checked (values checked by ``prep``).

    With ``offset`` given (greedy NMS, whose result is indices), host boxes follow the CPU box-scale
    rule (:func:`detbench.nms._common.working_boxes`): float32 boxes whose areas would overflow or
    underflow float32 are computed in float64 (``promote``; refused with a named error otherwise),
    and float64 boxes out of range are refused, so the CPU and GPU twins never disagree silently at
    any scale. GPU inputs are not value-checked for scale.
    """
    on_device = is_device_array(cuda_mod, boxes) or is_device_array(cuda_mod, scores)
    if not on_device:
        hb = check_boxes(boxes, "boxes")
        hs = check_scores(scores, hb.shape[0], "scores")
        if offset is not None:
            from detbench.nms._common import working_boxes

            work = working_boxes(hb, float(offset))
            if promote:
                hb = work
            elif work.dtype != hb.dtype:
                raise ValueError(
                    "boxes: box areas at this scale overflow or underflow float32 on the GPU; rescale the "
                    "boxes, pass float64 boxes, or use the CPU function (it computes them in float64)"
                )
        dtype = np.result_type(hb.dtype, hs.dtype)
        db = cuda_mod.to_device(hb.astype(dtype, copy=False))
        return db, cuda_mod.to_device(hs.astype(dtype, copy=False)), dtype, False
    db = device_input(cuda_mod, boxes) if is_device_array(cuda_mod, boxes) else cuda_mod.to_device(check_boxes(boxes))
    ds = (
        device_input(cuda_mod, scores)
        if is_device_array(cuda_mod, scores)
        else cuda_mod.to_device(check_scores(scores, int(db.shape[0])))
    )
    check_device(db, "boxes", 2, 4)
    check_device(ds, "scores", 1)
    if int(ds.shape[0]) != int(db.shape[0]):
        raise ValueError(f"scores: length {int(ds.shape[0])} does not match the {int(db.shape[0])} boxes")
    return db, ds, common_float(db.dtype, ds.dtype), True


def _raise_bad_values(info: np.ndarray) -> None:
    """ValueError naming the first bad row, from the validation counters of ``prep``."""
    if info[_N_BOX_NONFINITE]:
        raise ValueError(f"boxes: {info[_N_BOX_NONFINITE]} rows with non-finite values (first at row {info[0]})")
    for first, count, what in ((_FIRST_X, _N_X, "x2 < x1"), (_FIRST_Y, _N_Y, "y2 < y1")):
        if info[count]:
            more = f" ({info[count]} rows in all)" if info[count] > 1 else ""
            raise ValueError(f"boxes: row {info[first]} has {what}{more}")
    if info[_N_SCORE]:
        c = int(info[_N_SCORE])
        raise ValueError(f"scores: {c} non-finite value{'s' if c != 1 else ''} (first at index {info[_FIRST_SCORE]})")


def prepare(cuda_mod: Any, db: Any, ds: Any, dtype: np.dtype, st: float | None, pad_pow2: bool) -> tuple:
    """Launch ``init`` and ``prep`` (no wait). Returns (keys, idx, info, fmax) device arrays
    (scratch: reused by the next call in this thread)."""
    n = int(db.shape[0])
    length = _gpu_sort.next_pow2(n) if pad_pow2 else max(n, 1)
    keys = workspace(cuda_mod, "keys", (length,), dtype)
    idx = workspace(cuda_mod, "idx", (length,), np.int32)
    info = workspace(cuda_mod, "info", (_INFO_SIZE,), np.int64)
    fmax = workspace(cuda_mod, "fmax", (1,), np.float64)
    info.copy_to_device(_INFO_START)  # two small copies: cheaper than a kernel launch
    fmax.copy_to_device(_FMAX_START)
    threads = int(NMS_THREADS)
    kernel = make_prep_kernel(dtype.name)
    kernel[flat_grid(length, threads), threads](
        db, ds, st is not None, dtype.type(0.0 if st is None else st), keys, idx, info, fmax
    )
    return keys, idx, info, fmax


def greedy(
    cuda_mod: Any,
    db: Any,
    ds: Any,
    dlab: Any,
    dtype: np.dtype,
    thr: float,
    st: float | None,
    inclusive: bool,
    offset: float,
    mode: int,
) -> Any:
    """Device int64 indices kept by greedy NMS (``mode``: PLAIN, LABELS or SHIFT).

    The host waits twice at most: for the number of boxes above ``score_threshold`` (only when
    one is given), and at the end for the validation counters and the number kept (one small
    read; bad input raises then, after the kernels ran on it)."""
    tile = int(NMS_TILE)
    chunk = int(NMS_CHUNK)
    threads = int(NMS_THREADS)
    if not 1 <= tile <= 64:
        raise ValueError(f"detbench.cuda.gpu_nms.NMS_TILE must be in [1, 64], got {tile}")
    if chunk % tile or not tile <= chunk <= 64 * tile:
        raise ValueError(f"detbench.cuda.gpu_nms.NMS_CHUNK must be 1 to 64 times NMS_TILE, got {chunk}")
    n = int(db.shape[0])
    if mode == PLAIN and 1 <= n <= int(NMS_SMALL_MAX):
        return _greedy_small(cuda_mod, db, ds, dtype, thr, st, inclusive, offset)
    keys, idx, info, fmax = prepare(cuda_mod, db, ds, dtype, st, True)
    if st is not None and n:
        host_info = info.copy_to_host()
        _raise_bad_values(host_info)
        n = int(host_info[_N_VALID])  # the boxes above the threshold are sorted first
    if n == 0:
        _raise_bad_values(info.copy_to_host())
        return cuda_mod.device_array(0, dtype=np.int64)
    _gpu_sort.sort_pairs(keys, idx, threads)
    use_labels = mode == LABELS
    sboxes = workspace(cuda_mod, "sboxes", (n, 4), dtype)
    slab = workspace(cuda_mod, "slab", (n if use_labels else 1,), np.int64)
    alive = workspace(cuda_mod, "alive", (n,), np.uint8)
    labels = dlab if dlab is not None else slab
    make_gather_kernel(dtype.name, mode)[flat_grid(n, threads), threads](
        db, labels, idx, n, info, fmax, sboxes, slab, alive
    )
    kept = workspace(cuda_mod, "kept", (n, 4), dtype)
    kept_lab = workspace(cuda_mod, "kept_lab", (n if use_labels else 1,), np.int64)
    kept_pos = workspace(cuda_mod, "kept_pos", (n,), np.int32)
    rows = min(chunk, n)
    mask = workspace(cuda_mod, "mask", (rows, cdiv(chunk, tile)), np.uint64)
    mask_k = make_mask_kernel(dtype.name, tile, inclusive, use_labels)
    cross_k = make_cross_kernel(dtype.name, threads, inclusive, use_labels)
    reduce_k = make_reduce_kernel(tile, chunk // tile, use_labels)
    f64_thr = np.float64(thr)
    off = dtype.type(offset)
    for c0 in range(0, n, chunk):
        cn = min(chunk, n - c0)
        if c0:
            grid = (cdiv(cn, threads), max(1, int(NMS_CROSS_Y)))
            cross_k[grid, threads](sboxes, slab, c0, cn, kept, kept_lab, info, f64_thr, off, alive)
        tiles = cdiv(cn, tile)
        mask_k[(tiles, tiles), tile](sboxes, slab, c0, cn, f64_thr, off, mask)
        reduce_k[1, int(NMS_REDUCE_THREADS)](sboxes, slab, c0, cn, mask, alive, kept, kept_lab, kept_pos, info)
    host_info = info.copy_to_host()
    _raise_bad_values(host_info)
    k = int(host_info[_KCOUNT])
    out = result_array(cuda_mod, (k,), np.int64)
    if k:
        _take_kernel()[flat_grid(k, threads), threads](idx, kept_pos, out)
    return out


def _greedy_small(
    cuda_mod: Any, db: Any, ds: Any, dtype: np.dtype, thr: float, st: float | None, inclusive: bool, offset: float
) -> Any:
    """:func:`greedy` for ``1 <= N <= NMS_SMALL_MAX`` boxes without labels: one launch
    (:func:`make_small_kernel`, greedy pass :data:`NMS_SMALL_METHOD`), then one small read back
    (counters and number kept)."""
    n = int(db.shape[0])
    cap = int(NMS_SMALL_MAX)
    if cap < 2 or cap & (cap - 1):
        raise ValueError(f"detbench.cuda.gpu_nms.NMS_SMALL_MAX must be a power of two >= 2, got {cap}")
    info = workspace(cuda_mod, "info", (_INFO_SIZE,), np.int64)
    info.copy_to_device(_INFO_START)
    out = result_array(cuda_mod, (n,), np.int64)
    mask = workspace(cuda_mod, "small_mask", (cap, small_mask_words(cap)), np.uint64)
    threads = max(1, min(int(NMS_SMALL_THREADS), _gpu_sort.next_pow2(n) // 2))
    make_small_kernel(dtype.name, cap, inclusive, str(NMS_SMALL_METHOD))[1, threads](
        db,
        ds,
        st is not None,
        dtype.type(0.0 if st is None else st),
        np.float64(thr),
        dtype.type(offset),
        info,
        out,
        mask,
    )
    host_info = info.copy_to_host()
    _raise_bad_values(host_info)
    return out[: int(host_info[_KCOUNT])]


def _flags(iou_threshold: Any, inclusive: Any, offset: Any) -> tuple[float, bool, float]:
    thr = check_number(iou_threshold, "iou_threshold")
    return thr, check_bool(inclusive, "inclusive"), check_offset(offset)


def nms(
    boxes: Any,
    scores: Any,
    iou_threshold: float,
    score_threshold: float | None = None,
    *,
    inclusive: bool = False,
    offset: float = 0,
) -> Any:
    """Greedy non-maximum suppression on the GPU: the twin of :func:`detbench.nms`.

    Parameters as the CPU function (``boxes`` ``(N, 4)`` xyxy, ``scores`` ``(N,)``, float32 or
    float64, NumPy or GPU arrays of any strides; ``iou_threshold``; ``score_threshold`` drops
    boxes with ``score <= score_threshold`` first; ``inclusive`` suppresses at ``>=``;
    ``offset`` 0 or 1).

    Returns int64 indices of the kept boxes by decreasing score (equal scores: lower index
    first): NumPy for host inputs, a Numba device array when ``boxes`` or ``scores`` is on the
    GPU. Equal to the CPU ``nms`` and to ``torchvision.ops.nms``. See the module docstring for
    the algorithm; GPU inputs are validated on the GPU (a non-finite value or ``x2 < x1``
    raises ValueError naming the first row).
    """
    cuda_mod = require_cuda()
    thr, inclusive, off = _flags(iou_threshold, inclusive, offset)
    db, ds, dtype, on_device = device_boxes_scores(cuda_mod, boxes, scores, off)
    st = None if score_threshold is None else check_number(score_threshold, "score_threshold")
    keep = greedy(cuda_mod, db, ds, None, dtype, thr, st, inclusive, off, PLAIN)
    return keep if on_device else keep.copy_to_host()


def batched_nms(
    boxes: Any,
    scores: Any,
    labels: Any,
    iou_threshold: float,
    *,
    inclusive: bool = False,
    offset: float = 0,
) -> Any:
    """Per-class greedy NMS on the GPU: the twin of :func:`detbench.batched_nms`.

    Boxes with different ``labels`` (integers, ``(N,)``) never suppress each other. Follows the
    CPU function's two rules: for ``N <= 1000`` torchvision's coordinate shift (each box moved by
    ``label * (max coordinate + 1)`` in the box dtype, then one NMS), so the kept boxes and
    their order equal the CPU function and torchvision bit for bit; for ``N > 1000`` NMS within
    each class on the unshifted boxes (one label-aware pass: a pair is tested only when the
    labels match), so the kept set equals the CPU function's. Order: decreasing score, equal
    scores by increasing index; for ``N > 1000`` the CPU function instead reproduces
    torchvision's CPU ``std::sort`` order among equal kept scores (the only difference; none
    when the kept scores are distinct).

    Returns int64 indices: NumPy for host inputs, a device array for GPU inputs.
    """
    cuda_mod = require_cuda()
    off = check_offset(offset)
    db, ds, dtype, on_device = device_boxes_scores(cuda_mod, boxes, scores, off)
    n = int(db.shape[0])
    on_device = on_device or is_device_array(cuda_mod, labels)
    if is_device_array(cuda_mod, labels):
        dlab = device_input(cuda_mod, labels)
        check_device(dlab, "labels", 1, floats=False)
        if np.dtype(dlab.dtype).kind not in "iu":
            raise ValueError(f"labels: expected integer labels, got dtype {dlab.dtype}")
        if int(dlab.shape[0]) != n:
            raise ValueError(f"labels: length {int(dlab.shape[0])} does not match the {n} boxes")
    else:
        dlab = cuda_mod.to_device(check_labels(labels, n, "labels"))
    thr, inclusive, off = _flags(iou_threshold, inclusive, offset)
    keep = greedy(cuda_mod, db, ds, dlab, dtype, thr, None, inclusive, off, SHIFT if n <= BATCHED_SHIFT_MAX else LABELS)
    return keep if on_device else keep.copy_to_host()
