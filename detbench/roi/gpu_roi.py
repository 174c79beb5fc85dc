"""GPU ROI Align and ROI Pool: the twins of :func:`detbench.roi_align` and :func:`detbench.roi_pool`.

Both kernels are torchvision's CUDA design: one thread per output element, a flat grid-stride
loop, features read in place (NCHW or NHWC, any strides: no transpose, no reshape, no copy of
a device input). NCHW input maps consecutive threads to consecutive output bins of one channel
(reads stay in one feature plane, writes are coalesced); channels-last input maps them to
consecutive channels of one bin (each bilinear tap is one coalesced read; the writes are
strided by ``ph * pw``, and reads dominate the traffic). No shared memory, no atomics.

Launch setting: :data:`ROI_THREADS` (threads per block; tests shrink it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import as_float_array, check_boxes, check_choice, check_int, check_number, check_out, check_pair
from detbench.cuda import _common
from detbench.cuda._common import (
    cdiv,
    check_device,
    device_input,
    flat_grid,
    result_array,
    to_host,
    workspace,
)
from detbench.cuda._runtime import is_device_array, require_cuda
from detbench.roi._gpu_roi_kernels import (  # noqa: F401 - the kernels of this twin
    CELL_LIMIT,
    MMCV_MAX_INIT,
    NEG_FLT_MAX,
    _reader,
    _roi_valid,
    make_roi_align_kernel,
    make_roi_check_kernel,
    make_roi_pool_kernel,
)

__all__ = [
    "roi_align",
    "roi_pool",
    "ROI_THREADS",
    "ROI_CHANNELS",
    "MMCV_MAX_INIT",
    "make_roi_align_kernel",
    "make_roi_pool_kernel",
]

#: Threads per block of the ROI kernels.
ROI_THREADS: int = 256
#: Channels per thread of ROI Align (outputs of one bin that share its sample weights; 1 gives
#: torchvision's one thread per output element). Measured on an H200 (1000 rois, 256 channels):
#: 4 is fastest but for NCHW input with adaptive sampling (``sampling_ratio <= 0``), where
#: 1 is (:data:`ROI_CHANNELS_NCHW_ADAPTIVE`).
ROI_CHANNELS: int = 4
ROI_CHANNELS_NCHW_ADAPTIVE: int = 1


# --------------------------------------------------------------------------- host side
def _features(cuda_mod: Any, features: Any, channels_last: Any) -> tuple[Any, bool, bool, np.dtype, tuple]:
    """(host array or device array, nhwc, on_device, dtype, (N, C, H, W)) of validated features."""
    if not isinstance(channels_last, (bool, np.bool_)):
        raise ValueError(f"channels_last: expected a bool, got {channels_last!r}")
    nhwc = bool(channels_last)
    layout = "(N, H, W, C)" if nhwc else "(N, C, H, W)"
    on_device = is_device_array(cuda_mod, features)
    if on_device:
        feat = device_input(cuda_mod, features)
        check_device(feat, "features", 4)
        dtype = np.dtype(feat.dtype)
        shape = tuple(int(s) for s in feat.shape)
    else:
        if isinstance(features, (str, bytes)) or features is None:
            raise ValueError(f"features: expected a 4-D float array, got {type(features).__name__}")
        arr = np.asarray(features)
        if arr.dtype not in _common.FLOATS:
            raise ValueError(f"features: expected dtype float32 or float64, got {arr.dtype}")
        if arr.ndim != 4:
            raise ValueError(f"features: expected 4 dimensions {layout}, got shape {arr.shape}")
        if not nhwc and not arr.flags.c_contiguous and arr.transpose(0, 2, 3, 1).flags.c_contiguous:
            arr = arr.transpose(0, 2, 3, 1)  # NCHW view of channels-last memory: use it as it lies
            nhwc = True
        feat = as_float_array(arr, "features")
        dtype = feat.dtype
        shape = feat.shape
    if nhwc:
        n_img, height, width, nch = shape
    else:
        n_img, nch, height, width = shape
    if height < 1 or width < 1:
        raise ValueError(f"features: the map must be at least 1x1, got shape {shape} {layout}")
    return feat, nhwc, on_device, np.dtype(dtype), (n_img, nch, height, width)


def host_rois(cuda_mod: Any, rois: Any, n_img: int) -> np.ndarray:
    """Validated ``(K, 5)`` host rois (float64 unless given as float32); GPU rois inside a list of
    per-image arrays are copied here."""
    if isinstance(rois, (list, tuple)) and (len(rois) == 0 or not np.isscalar(rois[0])):
        parts = []
        for i, r in enumerate(rois):
            rb = check_boxes(to_host(cuda_mod, r), f"rois[{i}]")
            if rb.shape[0] and i >= n_img:
                raise ValueError(
                    f"rois: list entry {i} has {rb.shape[0]} boxes but features hold only {n_img} images "
                    "(batch index out of range)"
                )
            parts.append(np.concatenate([np.full((rb.shape[0], 1), i, dtype=rb.dtype), rb], axis=1))
        if not parts:
            return np.zeros((0, 5), dtype=np.float64)
        dtype = _common.common_float(*[p.dtype for p in parts])
        return np.concatenate([p.astype(dtype, copy=False) for p in parts], axis=0)
    arr = as_float_array(to_host(cuda_mod, rois), "rois")
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


#: Starting values of the validation counters (first bad row per problem, then four counts).
_INFO_INIT = np.array([np.iinfo(np.int64).max] * 4 + [0] * 4, dtype=np.int64)


def _raise_bad_rois(cuda_mod: Any, d: Any, info: np.ndarray, n_img: int) -> None:
    """ValueError naming the first bad row, from the validation counters."""
    if info[4]:
        raise ValueError(f"rois: {info[4]} rows with non-finite values (first at row {info[0]})")
    if info[5]:
        r = int(info[1])
        value = float(d[r : r + 1].copy_to_host()[0, 0])
        raise ValueError(
            f"rois: row {r} has batch index {value!r}; expected an integer in [0, {n_img}) "
            f"(features hold {n_img} images)"
        )
    for first, count, what in ((2, 6, "x2 < x1"), (3, 7, "y2 < y1")):
        if info[count]:
            more = f" ({info[count]} rows in all)" if info[count] > 1 else ""
            raise ValueError(f"rois: row {info[first]} has {what}{more}")


def _fresh_info(cuda_mod: Any) -> Any:
    """The validation counters (a scratch device array) set to their starting values."""
    info = workspace(cuda_mod, "roi_info", (8,), np.int64)
    info.copy_to_device(_INFO_INIT)
    return info


def device_rois(cuda_mod: Any, rois: Any, n_img: int) -> Any:
    """GPU ``(K, 5)`` rois, validated on the GPU by a kernel of their own (one small read back):
    no copy of the rois. (The ROI kernels validate their rois themselves; this serves the rest.)"""
    d = device_input(cuda_mod, rois)
    check_device(d, "rois", 2, 5)
    k = int(d.shape[0])
    if k == 0:
        return d
    d_info = _fresh_info(cuda_mod)
    make_roi_check_kernel()[flat_grid(k, int(ROI_THREADS)), int(ROI_THREADS)](d, float(n_img), d_info)
    _raise_bad_rois(cuda_mod, d, d_info.copy_to_host(), n_img)
    return d


def _rois_on_device(cuda_mod: Any, rois: Any, n_img: int, dtype: np.dtype) -> tuple[Any, bool]:
    """(the rois as a device array the kernels read, whether they still need the kernels'
    validation): GPU rois in place (checked by the ROI kernel itself, no extra launch or wait),
    host rois validated on the host and copied."""
    if is_device_array(cuda_mod, rois):
        d = device_input(cuda_mod, rois)
        check_device(d, "rois", 2, 5)
        return d, True
    host = np.ascontiguousarray(host_rois(cuda_mod, rois, n_img).astype(dtype, copy=False))
    return cuda_mod.to_device(host), False


def _check_after(cuda_mod: Any, d_rois: Any, info: Any, n_img: int, unchecked: bool, ran: bool) -> None:
    """Raise for bad GPU rois: from the counters the ROI kernel filled (one small read back,
    after the kernel), or with the check kernel when the ROI kernel had nothing to compute."""
    if not unchecked or int(d_rois.shape[0]) == 0:
        return
    if not ran:
        device_rois(cuda_mod, d_rois, n_img)
        return
    _raise_bad_rois(cuda_mod, d_rois, info.copy_to_host(), n_img)


def _result(cuda_mod: Any, out: Any, shape: tuple, dtype: Any, on_device: bool) -> tuple[Any, Any]:
    """(device result buffer, host buffer or None) honouring a caller's ``out``."""
    if out is None:
        if on_device:
            return result_array(cuda_mod, shape, dtype), None
        return cuda_mod.device_array(shape, dtype=dtype), np.empty(shape, dtype)
    if on_device:
        if not is_device_array(cuda_mod, out):
            raise ValueError("out: expected a device array (the features are on the GPU)")
        out = device_input(cuda_mod, out)
        if tuple(out.shape) != tuple(shape) or np.dtype(out.dtype) != np.dtype(dtype):
            want = f"a {shape} {np.dtype(dtype)} device array"
            raise ValueError(f"out: expected {want}, got {tuple(out.shape)} {out.dtype}")
        return out, None
    host = check_out(out, shape, np.dtype(dtype))
    return cuda_mod.device_array(shape, dtype=dtype), host


def _finish(d_out: Any, host: Any) -> Any:
    if host is None:
        return d_out
    if host.size:
        d_out.copy_to_host(host)
    return host


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
    out: Any = None,
) -> Any:
    """ROI Align (He et al., Mask R-CNN, 2017) on the GPU: the twin of :func:`detbench.roi_align`.

    Same parameters and rule as the CPU function (torchvision's forward; ``pool_mode="max"`` is
    mmcv's CPU rule); results are equal to it bit for bit (see :func:`make_roi_align_kernel`).

    ``features`` ``(N, C, H, W)`` (``(N, H, W, C)`` with ``channels_last=True``), float32 or
    float64, NumPy or GPU array of any strides (e.g. a slice of a larger device array, or
    stride-0 singleton axes): read in place. ``rois`` ``(K, 5)`` ``[batch, x1, y1, x2, y2]`` or
    a list of per-image ``(Ki, 4)`` arrays, cast to the features' dtype; GPU rois are validated on
    the GPU (batch indices included) and read in place. ``out``: optional result buffer (NumPy
    for host features, device array for GPU features).

    Returns ``(K, C, ph, pw)`` of the features' dtype: NumPy for host features, a Numba device
    array for GPU features. Cost: O(K * C * ph * pw * gh * gw) work, 4 reads per sample, one
    thread per output element; host inputs add the transfers.
    """
    cuda_mod = require_cuda()
    ph_n, pw_n = check_pair(output_size, "output_size")
    scale = check_number(spatial_scale, "spatial_scale", low=0.0, low_inclusive=False)
    sampling_ratio = check_int(sampling_ratio, "sampling_ratio")
    if not isinstance(aligned, (bool, np.bool_)):
        raise ValueError(f"aligned: expected a bool, got {aligned!r}")
    pool_mode = check_choice(pool_mode, "pool_mode", ("avg", "max"))
    feat, nhwc, on_device, dtype, (n_img, nch, _, _) = _features(cuda_mod, features, channels_last)
    d_rois, unchecked = _rois_on_device(cuda_mod, rois, n_img, dtype)
    k = int(d_rois.shape[0])
    d_out, host = _result(cuda_mod, out, (k, nch, ph_n, pw_n), dtype, on_device)
    total = k * nch * ph_n * pw_n
    info = _fresh_info(cuda_mod) if total else None
    if total:
        d_feat = feat if on_device else cuda_mod.to_device(feat)
        cpt = max(1, int(ROI_CHANNELS if nhwc or sampling_ratio > 0 else ROI_CHANNELS_NCHW_ADAPTIVE))
        kernel = make_roi_align_kernel(dtype.name, nhwc, pool_mode == "max", cpt)
        threads = int(ROI_THREADS)
        work = k * cdiv(nch, cpt) * ph_n * pw_n
        kernel[flat_grid(work, threads), threads](
            d_feat,
            d_rois,
            dtype.type(scale),
            ph_n,
            pw_n,
            sampling_ratio,
            bool(aligned),
            d_out,
            info,
        )
    _check_after(cuda_mod, d_rois, info, n_img, unchecked, bool(total))
    return _finish(d_out, host)


def roi_pool(
    features: Any,
    rois: Any,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    *,
    channels_last: bool = False,
    return_argmax: bool = False,
    out: Any = None,
) -> Any:
    """ROI Pooling (Girshick, Fast R-CNN, 2015) on the GPU: the twin of :func:`detbench.roi_pool`.

    Same parameters and rule as the CPU function (equal to ``torchvision.ops.roi_pool``); results
    equal to it bit for bit, argmax included (see :func:`make_roi_pool_kernel`). Inputs and
    outputs as :func:`roi_align` (host in, host out; GPU in, device array out).

    Returns ``(K, C, ph, pw)`` values of the features' dtype, and with ``return_argmax`` the int32
    flat index ``h * W + w`` of each bin's winning cell (-1 for an empty bin).
    Cost: O(K * C * cells covered by the bins), one thread per output element.
    """
    cuda_mod = require_cuda()
    ph_n, pw_n = check_pair(output_size, "output_size")
    scale = check_number(spatial_scale, "spatial_scale", low=0.0, low_inclusive=False)
    if not isinstance(return_argmax, (bool, np.bool_)):
        raise ValueError(f"return_argmax: expected a bool, got {return_argmax!r}")
    feat, nhwc, on_device, dtype, (n_img, nch, _, _) = _features(cuda_mod, features, channels_last)
    d_rois, unchecked = _rois_on_device(cuda_mod, rois, n_img, dtype)
    k = int(d_rois.shape[0])
    shape = (k, nch, ph_n, pw_n)
    d_out, host = _result(cuda_mod, out, shape, dtype, on_device)
    if return_argmax:
        d_arg = result_array(cuda_mod, shape, np.int32)
    else:
        d_arg = workspace(cuda_mod, "roi_arg", (1, 1, 1, 1), np.int32)
    total = k * nch * ph_n * pw_n
    info = _fresh_info(cuda_mod) if total else None
    if total:
        d_feat = feat if on_device else cuda_mod.to_device(feat)
        kernel = make_roi_pool_kernel(dtype.name, nhwc)
        threads = int(ROI_THREADS)
        kernel[flat_grid(total, threads), threads](
            d_feat,
            d_rois,
            np.float64(scale),
            ph_n,
            pw_n,
            bool(return_argmax),
            d_out,
            d_arg,
            info,
        )
    _check_after(cuda_mod, d_rois, info, n_img, unchecked, bool(total))
    values = _finish(d_out, host)
    if not return_argmax:
        return values
    if on_device:
        return values, d_arg
    return values, (d_arg.copy_to_host() if total else np.full(shape, -1, np.int32))
