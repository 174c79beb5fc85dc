"""GPU (numba.cuda) versions of detbench's core kernels: IoU matrix, greedy NMS, ROI Align.

Each function has the signature of its CPU twin (``detbench.boxes.box_iou``,
``detbench.nms.nms``, ``detbench.roi.roi_align``) and the same results, bit for
bit: the kernels perform the floating-point operations of torchvision's CPU
``box_iou``, ``nms`` and ``roi_align`` in the same order, and keep every product
that feeds a sum out of fused multiply-adds (see :mod:`detbench.cuda._kernels`).
The tests prove this on Numba's CUDA simulator; for a real device,
``python -m detbench.cuda._ptx`` checks the compiled code has no fused
multiply-add, and the ``CudaParity`` benchmarks of ``benchmarks/bench_cuda.py``
measure the differences on the GPU (0 expected).

Arrays in, arrays out, on the same side:

* NumPy (or array-like) inputs are validated with :mod:`detbench._validate`,
  copied to the GPU, and the result comes back as a NumPy array.
* GPU arrays (Numba device arrays, or anything with ``__cuda_array_interface__``
  such as CuPy arrays and PyTorch CUDA tensors) give a Numba device array back
  and are not copied. Their shape and dtype are checked; their values are not
  (that would need a copy), except where noted (roi batch indices, NMS inputs).

Importing this module does not import ``numba.cuda`` and never initialises
CUDA. :func:`is_available` says whether the functions can run here; calling one
where they cannot raises :class:`CudaUnavailableError` naming what is missing
(the ``numba-cuda`` package, or a GPU and its driver). With
``NUMBA_ENABLE_CUDASIM=1`` set before Numba is imported, the kernels run on
Numba's CUDA simulator (slowly): that is how the tests check them without a GPU.

Launch shapes are module settings in :mod:`detbench.cuda._kernels`
(``IOU_BLOCK``, ``NMS_TILE``, ``ROI_BLOCK``, ``TRANSPOSE_TILE``, ``TRANSPOSE_ROWS``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import (
    as_float_array,
    check_boxes,
    check_choice,
    check_int,
    check_number,
    check_out,
    check_pair,
    check_scores,
    result_float_dtype,
)
from . import _kernels
from ._runtime import (
    CudaUnavailableError,
    as_device_array,
    device_is_c_contiguous,
    is_available,
    is_device_array,
    require_cuda,
)

__all__ = ["CudaUnavailableError", "is_available", "box_iou", "nms", "roi_align"]


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _check_device(x: Any, name: str, ndim: int, last: int | None = None) -> None:
    """Shape/dtype/layout checks for a device array (no copy of the values)."""
    shape = tuple(x.shape)
    dtype = np.dtype(x.dtype)
    if len(shape) != ndim or (last is not None and shape[-1] != last):
        want = f"(N, {last})" if last is not None and ndim == 2 else f"{ndim} dimensions"
        raise ValueError(f"{name}: expected shape {want}, got {shape}")
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{name}: device arrays must be float32 or float64, got {dtype}")
    if not device_is_c_contiguous(x):
        raise ValueError(f"{name}: device arrays must be C-contiguous")


def _to_host(cuda: Any, x: Any) -> Any:
    if is_device_array(cuda, x):
        return as_device_array(cuda, x).copy_to_host()
    return x


def _device_with_dtype(cuda: Any, x: Any, dtype: np.dtype) -> Any:
    """A device array ``x`` in ``dtype`` (a device-side no-op when it already is)."""
    if np.dtype(x.dtype) == dtype:
        return x
    return cuda.to_device(x.copy_to_host().astype(dtype))


# --------------------------------------------------------------------------- box_iou
def box_iou(boxes1: Any, boxes2: Any, *, offset: float = 0, out: Any = None) -> Any:
    """Pairwise IoU matrix of two sets of xyxy boxes, on the GPU: :func:`detbench.boxes.box_iou`'s twin.

    Parameters
    ----------
    boxes1, boxes2:
        ``(N, 4)`` and ``(M, 4)`` boxes ``[x1, y1, x2, y2]`` with ``x2 >= x1``,
        ``y2 >= y1``; float32/float64 (integers become float64). NumPy arrays or
        GPU arrays.
    offset:
        0 (default) or 1. Widths and heights are ``x2 - x1 + offset``; 1 is the
        legacy "+1 pixel" convention of VOC-era code (integer pixel boxes
        whose corners are both inside the box).
    out:
        Optional ``(N, M)`` result buffer of the result dtype: a C-contiguous
        NumPy array for host inputs, a device array for GPU inputs.

    Returns
    -------
    ``(N, M)`` IoU, float32 when both inputs are float32, else float64; a NumPy
    array for host inputs, a Numba device array when either input is on the GPU.

    Rule: ``iou = inter / union`` with ``inter = max(min(x2) - max(x1) + offset, 0)
    * max(min(y2) - max(y1) + offset, 0)`` and ``union = (area_a + area_b) - inter``,
    torchvision's ``box_iou`` formula and operation order, so results equal it
    (offset 0) and the CPU ``detbench.boxes.box_iou`` bit for bit. One
    documented difference from torchvision (shared with the CPU function):
    where ``union == 0`` (two zero-area boxes) the IoU is 0.0, not NaN.

    Kernel: one thread per output element; each block stages its tile of
    ``boxes1`` and ``boxes2`` (with their areas) in shared memory and its warps
    write consecutive columns (coalesced). Cost: O(N*M) work, N*M result
    elements written; host inputs add the transfers (4(N+M) values in,
    N*M out, usually the dominant cost: pass device arrays to avoid it).
    GPU inputs of different dtypes are converted (to float64) through the host.
    """
    cuda = require_cuda()
    offset = float(check_choice(offset, "offset", (0, 1)))
    on_device = is_device_array(cuda, boxes1) or is_device_array(cuda, boxes2)
    if not on_device:
        ha = check_boxes(boxes1, "boxes1")
        hb = check_boxes(boxes2, "boxes2")
        dtype = result_float_dtype(ha, hb)
        ha = ha.astype(dtype, copy=False)
        hb = hb.astype(dtype, copy=False)
        n, m = ha.shape[0], hb.shape[0]
        if out is not None:
            out = check_out(out, (n, m), dtype)
        else:
            out = np.empty((n, m), dtype=dtype)
        if n and m:
            d_out = cuda.device_array((n, m), dtype=dtype)
            _launch_iou(cuda, cuda.to_device(ha), cuda.to_device(hb), offset, d_out)
            d_out.copy_to_host(out)
        return out

    da = _device_or_upload(cuda, boxes1, "boxes1")
    db = _device_or_upload(cuda, boxes2, "boxes2")
    dtype = result_float_dtype(da, db)
    da = _device_with_dtype(cuda, da, dtype)
    db = _device_with_dtype(cuda, db, dtype)
    n, m = da.shape[0], db.shape[0]
    if out is None:
        out = cuda.device_array((n, m), dtype=dtype)
    else:
        if not is_device_array(cuda, out):
            raise ValueError("out: expected a device array (the inputs are on the GPU)")
        out = as_device_array(cuda, out)
        if tuple(out.shape) != (n, m) or np.dtype(out.dtype) != dtype:
            raise ValueError(f"out: expected a ({n}, {m}) {dtype} device array, got {tuple(out.shape)} {out.dtype}")
        if not device_is_c_contiguous(out):
            raise ValueError("out: must be C-contiguous")
    if n and m:
        _launch_iou(cuda, da, db, offset, out)
    return out


def _device_or_upload(cuda: Any, x: Any, name: str) -> Any:
    """A device boxes array: GPU inputs wrapped and shape-checked, host inputs validated and copied."""
    if is_device_array(cuda, x):
        x = as_device_array(cuda, x)
        _check_device(x, name, 2, 4)
        return x
    return cuda.to_device(check_boxes(x, name))


def _launch_iou(cuda: Any, da: Any, db: Any, offset: float, d_out: Any) -> None:
    dtype = np.dtype(d_out.dtype)
    block = tuple(int(v) for v in _kernels.IOU_BLOCK)
    kernel = _kernels.make_iou_kernel(dtype.name, block)
    n, m = da.shape[0], db.shape[0]
    grid = (_cdiv(m, block[0]), min(_cdiv(n, block[1]), _kernels.MAX_GRID_Y))
    kernel[grid, block](da, db, dtype.type(offset), d_out)


# --------------------------------------------------------------------------- nms
def nms(
    boxes: Any,
    scores: Any,
    iou_threshold: float,
    score_threshold: float | None = None,
    *,
    inclusive: bool = False,
    offset: float = 0,
) -> Any:
    """Greedy non-maximum suppression on the GPU (torchvision's CUDA bitmask algorithm).

    Parameters
    ----------
    boxes:
        ``(N, 4)`` xyxy boxes, float32/float64 (``x2 >= x1``, ``y2 >= y1``).
    scores:
        ``(N,)`` finite scores.
    iou_threshold:
        A box is suppressed by a kept, higher-ranked box when their IoU is
        strictly greater than this (torchvision's rule).
    score_threshold:
        If given, boxes with ``score <= score_threshold`` are dropped first.
    inclusive:
        Suppress at ``IoU >= iou_threshold`` instead (the wording of some
        textbooks); torchvision's rule is the default ``False``.
    offset:
        0, or 1 for the legacy pixel convention (``w = x2 - x1 + 1``).

    Returns
    -------
    int64 indices into ``boxes`` of the kept boxes, by decreasing score; a NumPy
    array, or a Numba device array when ``boxes`` or ``scores`` is on the GPU.

    Rule: equal to ``torchvision.ops.nms`` and to the CPU ``detbench.nms.nms``.
    Boxes and scores are brought to one dtype (float64 unless both are
    float32); boxes are ranked by a stable descending sort of the scores
    (equal scores: lower index first); box ``i`` is kept unless a kept box
    ranked before it has IoU > ``iou_threshold`` with it; IoU is
    ``inter / ((area_i + area_j) - inter)`` in that dtype, compared in float64
    with the threshold; a pair with zero union (two zero-area boxes) never
    suppresses.

    Algorithm (as torchvision's CUDA NMS): the boxes, sorted on the host, go to
    the GPU; one block per pair of ``NMS_TILE``-box tiles (upper triangle)
    writes, for each box, a 64-bit word of "IoU above threshold" bits against
    the later boxes of the other tile; the ``N x ceil(N / 64)`` mask returns to
    the host, where one greedy pass keeps or skips each box in order. Cost:
    O(N^2) IoUs on the GPU, N^2/8 bytes of mask moved to the host (1.25 GB at
    N = 100,000: use it for up to a few 10,000 boxes), O(N^2 / 64) host work
    in the worst case, plus an O(N log N) host sort. GPU inputs are copied to
    the host for the validation and the sort (5N values).
    """
    cuda = require_cuda()
    on_device = is_device_array(cuda, boxes) or is_device_array(cuda, scores)
    hb = check_boxes(_to_host(cuda, boxes), "boxes")
    hs = check_scores(_to_host(cuda, scores), hb.shape[0], "scores")
    dtype = np.result_type(hb.dtype, hs.dtype)
    hb = hb.astype(dtype, copy=False)
    hs = hs.astype(dtype, copy=False)
    thr = check_number(iou_threshold, "iou_threshold")
    if not isinstance(inclusive, (bool, np.bool_)):
        raise ValueError(f"inclusive: expected a bool, got {inclusive!r}")
    if isinstance(offset, (bool, np.bool_)) or offset not in (0, 1):
        raise ValueError(f"offset: expected 0 or 1, got {offset!r}")
    idx = None
    if score_threshold is not None:
        st = check_number(score_threshold, "score_threshold")
        idx = np.flatnonzero(hs > st)
        hb = hb[idx]
        hs = hs[idx]
    keep = _nms_host(cuda, hb, hs, thr, bool(inclusive), float(offset))
    if idx is not None:
        keep = idx[keep]
    keep = np.ascontiguousarray(keep, dtype=np.int64)
    return cuda.to_device(keep) if on_device else keep


def _nms_host(
    cuda: Any, boxes: np.ndarray, scores: np.ndarray, thr: float, inclusive: bool, offset: float
) -> np.ndarray:
    from ._host import nms_reduce_mask

    n = boxes.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    sorted_boxes = np.ascontiguousarray(boxes[order])
    tile = int(_kernels.NMS_TILE)
    if not 1 <= tile <= 64:
        raise ValueError(f"detbench.cuda._kernels.NMS_TILE must be in [1, 64], got {tile}")
    col_blocks = _cdiv(n, tile)
    if col_blocks > _kernels.MAX_GRID_Y:
        raise ValueError(f"boxes: {n} boxes exceed the mask kernel's grid ({_kernels.MAX_GRID_Y * tile} at most)")
    d_mask = cuda.device_array((n, col_blocks), dtype=np.uint64)
    kernel = _kernels.make_nms_mask_kernel(sorted_boxes.dtype.name, tile, inclusive)
    grid = (col_blocks, col_blocks)
    kernel[grid, tile](cuda.to_device(sorted_boxes), np.float64(thr), sorted_boxes.dtype.type(offset), d_mask)
    mask = d_mask.copy_to_host()
    kept = np.empty(n, dtype=np.int64)
    count = nms_reduce_mask(mask, tile, kept)
    return order[kept[:count]]


# --------------------------------------------------------------------------- roi_align
def roi_align(
    features: Any,
    rois: Any,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
    pool_mode: str = "avg",
    *,
    channels_last: bool = False,
) -> Any:
    """ROI Align (He et al., Mask R-CNN, 2017) on the GPU, equal to ``torchvision.ops.roi_align``.

    The twin of the CPU ``detbench.roi.roi_align``, with the same signature.

    Parameters
    ----------
    features:
        ``(N, C, H, W)`` feature maps (``(N, H, W, C)`` with
        ``channels_last=True``), float32 or float64, finite, at least 1x1;
        NumPy or GPU array.
    rois:
        ``(K, 5)`` rows ``[batch_index, x1, y1, x2, y2]`` in image coordinates
        (integral ``batch_index`` in ``[0, N)``, ``x2 >= x1``, ``y2 >= y1``), or a
        list of per-image ``(Ki, 4)`` arrays (entry ``i`` is image ``i``). Cast
        to the features' dtype.
    output_size:
        ``ph`` or ``(ph, pw)``, the bins per roi.
    spatial_scale:
        Image-to-feature-map scale (1 / stride), > 0.
    sampling_ratio:
        Samples per bin along each axis; ``<= 0`` means adaptive,
        ``ceil(roi_size / bins)`` per axis (torchvision's default -1).
    aligned:
        False (torchvision's default): pixel ``i`` of the map covers
        ``[i, i + 1)`` scaled coordinates as given, and rois are at least 1x1.
        True: shift the scaled roi by -0.5 so that sample positions are pixel
        centres (the half-pixel model of detectron2's ``ROIAlignV2``), and
        keep degenerate rois as they are.
    pool_mode:
        ``"avg"`` (torchvision's, the default): the mean of the bin's samples.
        ``"max"`` (mmcv's ``pool_mode='max'``, CPU rule): their maximum, a
        sample outside the map counting as 0; the running maximum starts at
        -10000, so a bin with no sample at all (or only samples below -10000)
        gives -10000.
    channels_last:
        The features are ``(N, H, W, C)``: the kernel's own layout, so the
        transpose is skipped. A host NCHW array that is a view of channels-last
        memory (``x.transpose(0, 3, 1, 2)``) is recognised and not transposed either.

    Returns
    -------
    ``(K, C, ph, pw)`` array of the features' dtype; NumPy for host features,
    a Numba device array for GPU features.

    Rule (torchvision's forward, operation for operation): for roi ``k`` with
    scaled corners ``start = x1 * scale - off`` (``off`` 0.5 if aligned), bin
    ``(ph, pw)`` averages a ``gh x gw`` grid of bilinear samples at
    ``(start_h + ph * bin_h) + (iy + 0.5) * bin_h / gh``; a sample outside
    ``[-1, H] x [-1, W]`` counts as 0, coordinates are clamped to ``[0, H - 1]``;
    the sum is divided by ``max(gh * gw, 1)``. Results are bit-identical to
    torchvision's CPU kernel. Reproducing other libraries' defaults:
    detectron2's ``ROIAlignV2`` pooler (sampling ratio 0) and mmcv's default
    ``RoIAlign`` are ``aligned=True, sampling_ratio=0`` (``pool_mode="avg"``).

    Kernel: NCHW features are first transposed to channels-last on the GPU (a
    tiled shared-memory transpose); then one thread per output element, the
    threads of a warp on consecutive channels of one bin, so they share sample
    positions and weights and read consecutive addresses (fast for C >= 32,
    e.g. the 256 channels of FPN levels; with few channels most lanes idle).
    No atomics. Cost: O(K * C * ph * pw * gh * gw) work with 4 reads per
    sample, plus the transpose (N*C*H*W elements read and written) for NCHW
    input; host inputs add the transfers of the features and of the result.
    GPU rois are copied to the host (5K values) to check their batch indices.
    """
    cuda = require_cuda()
    ph_n, pw_n = check_pair(output_size, "output_size")
    scale = check_number(spatial_scale, "spatial_scale", low=0.0, low_inclusive=False)
    sampling_ratio = check_int(sampling_ratio, "sampling_ratio")
    if not isinstance(aligned, (bool, np.bool_)):
        raise ValueError(f"aligned: expected a bool, got {aligned!r}")
    pool_mode = check_choice(pool_mode, "pool_mode", ("avg", "max"))
    if not isinstance(channels_last, (bool, np.bool_)):
        raise ValueError(f"channels_last: expected a bool, got {channels_last!r}")
    nhwc = bool(channels_last)
    layout = "(N, H, W, C)" if nhwc else "(N, C, H, W)"
    on_device = is_device_array(cuda, features)
    if on_device:
        d_feat = as_device_array(cuda, features)
        _check_device(d_feat, "features", 4)
        dtype = np.dtype(d_feat.dtype)
        shape = tuple(int(s) for s in d_feat.shape)
    else:
        arr = np.asarray(features)
        if arr.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"features: expected dtype float32 or float64, got {arr.dtype}")
        if arr.ndim != 4:
            raise ValueError(f"features: expected 4 dimensions {layout}, got shape {arr.shape}")
        if not nhwc and not arr.flags.c_contiguous and arr.transpose(0, 2, 3, 1).flags.c_contiguous:
            arr = arr.transpose(0, 2, 3, 1)  # NCHW view of channels-last memory: use it as it lies
            nhwc = True
        h_feat = as_float_array(arr, "features")
        dtype = h_feat.dtype
        shape = h_feat.shape
    if nhwc:
        n_img, height, width, nch = shape
    else:
        n_img, nch, height, width = shape
    if height < 1 or width < 1:
        raise ValueError(f"features: the map must be at least 1x1, got shape {shape} {layout}")
    h_rois = _host_rois(cuda, rois, n_img).astype(dtype, copy=False)
    k = h_rois.shape[0]
    if k == 0 or nch == 0:
        empty = np.zeros((k, nch, ph_n, pw_n), dtype=dtype)
        return cuda.to_device(empty) if on_device else empty
    if not on_device:
        d_feat = cuda.to_device(h_feat)
    d_out = _launch_roi_align(
        cuda,
        d_feat,
        nhwc,
        cuda.to_device(h_rois),
        dtype,
        ph_n,
        pw_n,
        scale,
        sampling_ratio,
        aligned,
        pool_mode == "max",
    )
    return d_out if on_device else d_out.copy_to_host()


def _host_rois(cuda: Any, rois: Any, n_img: int) -> np.ndarray:
    """Validated ``(K, 5)`` host rois (float64 unless given as float32)."""
    if isinstance(rois, (list, tuple)) and (len(rois) == 0 or not np.isscalar(rois[0])):
        parts = []
        for i, r in enumerate(rois):
            rb = check_boxes(_to_host(cuda, r), f"rois[{i}]")
            if rb.shape[0] and i >= n_img:
                raise ValueError(
                    f"rois: list entry {i} has {rb.shape[0]} boxes but features hold only {n_img} images "
                    "(batch index out of range)"
                )
            parts.append(np.concatenate([np.full((rb.shape[0], 1), i, dtype=rb.dtype), rb], axis=1))
        if not parts:
            return np.zeros((0, 5), dtype=np.float64)
        dtype = result_float_dtype(*[p for p in parts])
        return np.concatenate([p.astype(dtype, copy=False) for p in parts], axis=0)
    arr = as_float_array(_to_host(cuda, rois), "rois")
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise ValueError(f"rois: expected shape (K, 5) [batch_index, x1, y1, x2, y2], got {arr.shape}")
    check_boxes(arr[:, 1:], "rois")
    batch = arr[:, 0]
    bad = (batch != np.floor(batch)) | (batch < 0) | (batch >= n_img)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"rois: row {r} has batch index {float(batch[r])!r}; expected an integer in [0, {n_img}) "
            f"(features hold {n_img} images)"
        )
    return arr


def _launch_roi_align(
    cuda: Any,
    d_feat: Any,
    nhwc: bool,
    d_rois: Any,
    dtype: np.dtype,
    ph_n: int,
    pw_n: int,
    scale: float,
    sampling_ratio: int,
    aligned: bool,
    pool_max: bool,
) -> Any:
    k = int(d_rois.shape[0])
    nbins = ph_n * pw_n
    if nhwc:
        d_cl = d_feat
        nch = int(d_feat.shape[3])
    else:  # NCHW -> channels-last (N, H*W, C)
        n_img, nch, height, width = (int(s) for s in d_feat.shape)
        d_cl = cuda.device_array((n_img, height * width, nch), dtype=dtype)
        _launch_transpose(cuda, d_feat.reshape(n_img, nch, height * width), d_cl)
        d_cl = d_cl.reshape(n_img, height, width, nch)
    block = tuple(int(v) for v in _kernels.ROI_BLOCK)
    kernel = _kernels.make_roi_align_kernel(dtype.name, block, bool(pool_max))
    d_out = cuda.device_array((k, nch, ph_n, pw_n), dtype=dtype)
    grid = (_cdiv(nch, block[0]), _cdiv(nbins, block[1]), min(k, _kernels.MAX_GRID_Z))
    kernel[grid, block](d_cl, d_rois, dtype.type(scale), ph_n, pw_n, sampling_ratio, int(bool(aligned)), d_out)
    return d_out


def _launch_transpose(cuda: Any, src: Any, dst: Any) -> None:
    nb, nr, nc = (int(s) for s in src.shape)
    if nb == 0 or nr == 0 or nc == 0:
        return
    tile = int(_kernels.TRANSPOSE_TILE)
    rows = int(_kernels.TRANSPOSE_ROWS)
    kernel = _kernels.make_transpose_kernel(np.dtype(src.dtype).name, tile, rows)
    grid = (_cdiv(nc, tile), min(_cdiv(nr, tile), _kernels.MAX_GRID_Y), min(nb, _kernels.MAX_GRID_Z))
    kernel[grid, (tile, rows)](src, dst)
