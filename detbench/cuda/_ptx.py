"""Compile detbench's CUDA kernels to PTX (no GPU needed) and check the instructions.

``python -m detbench.cuda._ptx [--cc 9.0]`` compiles every kernel for both
dtypes with NVVM (it needs libnvvm, from a CUDA toolkit or the ``nvidia-nvvm``
wheel, but no driver and no GPU) and checks what the simulator cannot:

* the kernels type-check and compile for a real device;
* no fused multiply-add (``fma``) instruction appears: a fused product would
  round differently from the CPU kernels (see :mod:`detbench.cuda._kernels`);
* float32 kernels do no float64 arithmetic (a Python float constant that
  slipped in uncast would promote a whole expression to float64); the only
  float64 allowed is the NMS threshold comparison, as in torchvision.

Exit status: 0 when every check passes, 1 when one fails, 2 when NVVM is missing
(or the simulator is on, which has no compiler).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

#: float64 instructions a float32 kernel may contain (the NMS threshold is a float64)
F64_ALLOWED = {"nms": ("ld.param.f64", "setp.", "cvt.f64.f32")}


def kernel_ptx(cc: tuple[int, int] = (9, 0)) -> dict[str, str]:
    """PTX text of each kernel, keyed ``"<kernel>-<dtype>"``."""
    from numba import cuda
    from numba import types as nbt

    from . import _kernels as K

    result = {}
    for dtype_name, ft in (("float32", nbt.float32), ("float64", nbt.float64)):
        a2 = ft[:, ::1]
        a3 = ft[:, :, ::1]
        specs: dict[str, tuple[Any, tuple[Any, ...]]] = {
            "iou": (K.make_iou_kernel(dtype_name, tuple(K.IOU_BLOCK)), (a2, a2, ft, a2)),
            "nms": (K.make_nms_mask_kernel(dtype_name, int(K.NMS_TILE)), (a2, nbt.float64, ft, nbt.uint64[:, ::1])),
            "transpose": (
                K.make_transpose_kernel(dtype_name, int(K.TRANSPOSE_TILE), int(K.TRANSPOSE_ROWS)),
                (a3, a3),
            ),
        }
        roi_sig = (ft[:, :, :, ::1], a2, ft, nbt.int64, nbt.int64, nbt.int64, nbt.int64, ft[:, :, :, ::1])
        for mode in ("avg", "max"):
            specs[f"roi_align_{mode}"] = (
                K.make_roi_align_kernel(dtype_name, tuple(K.ROI_BLOCK), mode == "max"),
                roi_sig,
            )
        for name, (dispatcher, sig) in specs.items():
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
        if fused:
            found.append(f"{key}: fused multiply-add instructions {fused}")
        if dtype_name == "float32":
            allowed = F64_ALLOWED.get(name, ())
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
