"""Compile detbench's CUDA kernels to PTX (no GPU needed) and check the instructions.

``python -m detbench.cuda._ptx [--cc 9.0]`` compiles every kernel for both
dtypes with NVVM (it needs libnvvm, from a CUDA toolkit or the ``nvidia-nvvm``
wheel, but no driver and no GPU) and checks what the simulator cannot:

* the kernels type-check and compile for a real device;
* no fused multiply-add (``fma``) instruction appears: a fused product would
  round differently from the CPU kernels (see :mod:`detbench.cuda._common`);
* float32 kernels do no float64 arithmetic (a Python float constant that
  slipped in uncast would promote a whole expression to float64); the only
  float64 allowed is the NMS threshold comparison, as in torchvision (ROI Pool
  and Soft-NMS compute in float64 like their CPU twins and are not checked for it).

Exit status: 0 when every check passes, 1 when one fails, 2 when NVVM is missing
(or the simulator is on, which has no compiler).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

#: float64 instructions a float32 kernel may contain: the NMS threshold is a float64 (as in
#: torchvision); ROI Pool rounds the scaled corners in float64 and Soft-NMS works in float64
#: (as their CPU twins), so those two are not checked for float64.
_F64_CMP = ("ld.param.f64", "setp.", "cvt.f64.f32")
F64_ALLOWED: dict[str, tuple[str, ...] | None] = {
    "nms_mask": _F64_CMP,
    "nms_small": _F64_CMP,
    "nms_small_barrier": _F64_CMP,
    "nms_cross": _F64_CMP,
    "batched_mask": _F64_CMP,
    "batched_cross": _F64_CMP,
    "nms_prep": None,  # the largest coordinate (batched_nms's shift) is kept in float64: exact for float32
    "nms_gather_shift": None,
    "soft_nms_gaussian": None,
    "soft_nms_linear": None,
    "roi_check": None,  # validates rois of any dtype in float64 (exact)
    "roi_pool_nchw": None,
    "roi_pool_nhwc": None,
}
# ROI Align validates its rois in float64 as roi_check does (exact comparisons, no arithmetic)
_F64_ROI_CHECK = (*_F64_CMP, "cvt.rn.f64.s64", "cvt.rmi.f64.f64", "abs.f64")
for _name in ("roi_align_avg_nchw", "roi_align_max_nchw", "roi_align_avg_nhwc", "roi_align_max_nhwc"):
    F64_ALLOWED[_name] = _F64_ROI_CHECK


#: Kernels whose ``fma`` instructions come from a libdevice function, not from detbench's own
#: arithmetic: the Gaussian Soft-NMS weight calls ``exp`` (its polynomial uses fma internally).
FMA_FROM_LIBDEVICE = {"soft_nms_gaussian"}


def kernel_specs(dtype_name: str) -> dict[str, tuple[Any, tuple[Any, ...]]]:
    """Every kernel for one dtype as ``name -> (dispatcher, signature)``."""
    from numba import types as nbt

    from detbench.boxes import gpu_overlap as gpu_boxes
    from detbench.nms import _gpu_sort
    from detbench.nms import gpu_greedy as gpu_nms
    from detbench.nms import gpu_soft as gpu_soft_nms
    from detbench.roi import gpu_roi

    ft = getattr(nbt, dtype_name)
    i64, i32, u8, u64, f64, b1 = nbt.int64, nbt.int32, nbt.uint8, nbt.uint64, nbt.float64, nbt.boolean
    a1, a2, a4 = ft[::1], ft[:, ::1], ft[:, :, :, ::1]
    tile, chunk, threads = int(gpu_nms.NMS_TILE), int(gpu_nms.NMS_CHUNK), int(gpu_nms.NMS_THREADS)
    local_pass, global_pass = _gpu_sort._kernels(dtype_name, int(_gpu_sort.SORT_BLOCK))
    specs: dict[str, tuple[Any, tuple[Any, ...]]] = {
        "iou": (
            gpu_boxes.make_iou_kernel(dtype_name, tuple(gpu_boxes.IOU_BLOCK), int(gpu_boxes.IOU_ROWS)),
            (a2, a2, ft, a2),
        ),
        "nms_init": (gpu_nms._init_kernel(), (i64[::1], f64[::1])),
        "nms_small": (
            gpu_nms.make_small_kernel(dtype_name, int(gpu_nms.NMS_SMALL_MAX), False, "mask"),
            (a2, a1, b1, ft, f64, ft, i64[::1], i64[::1], u64[:, ::1]),
        ),
        "nms_small_barrier": (
            gpu_nms.make_small_kernel(dtype_name, int(gpu_nms.NMS_SMALL_MAX), False, "barrier"),
            (a2, a1, b1, ft, f64, ft, i64[::1], i64[::1], u64[:, ::1]),
        ),
        "nms_prep": (gpu_nms.make_prep_kernel(dtype_name), (a2, a1, b1, ft, a1, i32[::1], i64[::1], f64[::1])),
        "sort_local": (local_pass, (a1, i32[::1], i64, i64)),
        "sort_global": (global_pass, (a1, i32[::1], i64, i64)),
        "nms_take": (gpu_nms._take_kernel(), (i32[::1], i32[::1], i64[::1])),
    }
    for mode, name in ((gpu_nms.PLAIN, "plain"), (gpu_nms.LABELS, "labels"), (gpu_nms.SHIFT, "shift")):
        specs[f"nms_gather_{name}"] = (
            gpu_nms.make_gather_kernel(dtype_name, mode),
            (a2, i64[::1], i32[::1], i64, i64[::1], f64[::1], a2, i64[::1], u8[::1]),
        )
    for use_labels, name in ((False, "nms"), (True, "batched")):
        specs[f"{name}_mask"] = (
            gpu_nms.make_mask_kernel(dtype_name, tile, False, use_labels),
            (a2, i64[::1], i64, i64, f64, ft, u64[:, ::1]),
        )
        specs[f"{name}_cross"] = (
            gpu_nms.make_cross_kernel(dtype_name, threads, True, use_labels),
            (a2, i64[::1], i64, i64, a2, i64[::1], i64[::1], f64, ft, u8[::1]),
        )
        specs[f"{name}_reduce"] = (
            gpu_nms.make_reduce_kernel(tile, chunk // tile, use_labels),
            (a2, i64[::1], i64, i64, u64[:, ::1], u8[::1], a2, i64[::1], i32[::1], i64[::1]),
        )
    for method in ("gaussian", "linear"):
        specs[f"soft_nms_{method}"] = (
            gpu_soft_nms.make_soft_kernel(dtype_name, int(gpu_soft_nms.SOFT_THREADS), method == "gaussian"),
            (f64[:, ::1], a1, i32[::1], ft, f64, f64, i64[::1], a1, i64[::1]),
        )
    specs["roi_check"] = (gpu_roi.make_roi_check_kernel(), (a2, f64, i64[::1]))
    for nhwc, layout in ((False, "nchw"), (True, "nhwc")):
        for mode in ("avg", "max"):
            specs[f"roi_align_{mode}_{layout}"] = (
                gpu_roi.make_roi_align_kernel(dtype_name, nhwc, mode == "max", int(gpu_roi.ROI_CHANNELS)),
                (a4, a2, ft, i64, i64, i64, b1, a4, i64[::1]),
            )
        specs[f"roi_pool_{layout}"] = (
            gpu_roi.make_roi_pool_kernel(dtype_name, nhwc),
            (a4, a2, f64, i64, i64, b1, a4, i32[:, :, :, ::1], i64[::1]),
        )
    return specs


def kernel_ptx(cc: tuple[int, int] = (9, 0)) -> dict[str, str]:
    """PTX text of each kernel, keyed ``"<kernel>-<dtype>"``."""
    from numba import cuda
    from numba.cuda import dispatcher as cuda_dispatcher

    class _Device:  # device functions ask the current device for its compute capability
        compute_capability = tuple(cc)

    real = cuda_dispatcher.get_current_device
    cuda_dispatcher.get_current_device = lambda: _Device()  # no driver needed to compile PTX
    try:
        return _kernel_ptx(cuda, cc)
    finally:
        cuda_dispatcher.get_current_device = real


def _kernel_ptx(cuda: Any, cc: tuple[int, int]) -> dict[str, str]:
    result = {}
    for dtype_name in ("float32", "float64"):
        for name, (dispatcher, sig) in kernel_specs(dtype_name).items():
            ptx, _ = cuda.compile_ptx(dispatcher.py_func, sig, cc=cc)
            result[f"{name}-{dtype_name}"] = ptx
    return result


def instructions(ptx: str) -> list[str]:
    """The instruction mnemonics of a PTX text (directives and labels left out)."""
    return re.findall(r"^\s+([a-z][\w.]*)\s", ptx, re.M)


def problems(ptx_by_kernel: dict[str, str]) -> list[str]:
    """Human-readable problems found in the PTX (empty when all is well)."""
    found = []
    for key, ptx in ptx_by_kernel.items():
        name, dtype_name = key.rsplit("-", 1)
        ins = instructions(ptx)
        fused = sorted({i for i in ins if i.startswith("fma")})
        if fused and name not in FMA_FROM_LIBDEVICE:
            found.append(f"{key}: fused multiply-add instructions {fused}")
        allowed = F64_ALLOWED.get(name, ())
        if dtype_name == "float32" and allowed is not None:
            f64 = sorted({i for i in ins if ".f64" in i and not i.startswith(allowed)})
            if f64:
                found.append(f"{key}: float64 instructions in a float32 kernel {f64}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cc", default="9.0", help="compute capability, e.g. 8.0 or 9.0")
    args = parser.parse_args(argv)
    cc = tuple(int(p) for p in args.cc.split("."))
    from ._runtime import simulating

    if simulating():
        print("NUMBA_ENABLE_CUDASIM is on: the simulator has no PTX compiler", file=sys.stderr)
        return 2
    try:
        ptx = kernel_ptx(cc)  # type: ignore[arg-type]
    except Exception as exc:
        if "nvvm" in f"{type(exc).__name__} {exc}".lower():
            print(f"NVVM unavailable: {exc}", file=sys.stderr)
            return 2
        raise
    for key, text in ptx.items():
        ins = instructions(text)
        print(f"{key}: {len(ins)} instructions, {sum(i.startswith('ld.global') for i in ins)} global loads")
    found = problems(ptx)
    for p in found:
        print("PROBLEM", p)
    print("ok" if not found else f"{len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
