"""GPU (numba.cuda) twins of detbench's core kernels.

=========================  ==================================  =========================
GPU function               CPU twin (same signature, results)  module
=========================  ==================================  =========================
:func:`box_iou`            :func:`detbench.box_iou`            ``detbench.boxes.gpu_overlap``
:func:`nms`                :func:`detbench.nms`                ``detbench.nms.gpu_greedy``
:func:`batched_nms`        :func:`detbench.batched_nms`        ``detbench.nms.gpu_greedy``
:func:`soft_nms`           :func:`detbench.soft_nms`           ``detbench.nms.gpu_soft``
:func:`roi_align`          :func:`detbench.roi_align`          ``detbench.roi.gpu_roi``
:func:`roi_pool`           :func:`detbench.roi_pool`           ``detbench.roi.gpu_roi``
=========================  ==================================  =========================

Results equal the CPU twins bit for bit (each kernel performs the CPU kernel's floating-point
operations in the same order and keeps every product that feeds a sum out of fused
multiply-adds, see :mod:`._common`); the documented exceptions are the tie order of
``batched_nms`` above 1000 boxes and the last bit of Gaussian Soft-NMS weights. The tests
prove this on Numba's CUDA simulator; ``python -m detbench.cuda._ptx`` checks the compiled
code for a real device, and ``python -m benchmarks.bench_cuda`` measures speed and parity.

Arrays in, arrays out, on the same side:

* NumPy (or array-like) inputs are validated with :mod:`detbench._validate`, copied to the
  GPU, and the result comes back as a NumPy array.
* GPU arrays (Numba device arrays, or anything with ``__cuda_array_interface__`` such as CuPy
  arrays and PyTorch CUDA tensors), of any strides, give Numba device arrays back and are
  neither copied nor reshaped.

Importing this module does not import ``numba.cuda`` and never initialises CUDA.
:func:`is_available` says whether the functions can run here; calling one where they cannot
raises :class:`CudaUnavailableError` naming what is missing. With ``NUMBA_ENABLE_CUDASIM=1``
set before Numba is imported, the kernels run on Numba's CUDA simulator (slowly).
numba-cuda 0.30.4 and older need ``numpy.row_stack``, which NumPy 2.5 removed: it is restored
(an alias of ``vstack``) before ``numba.cuda`` is imported.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._runtime import CudaUnavailableError, is_available

#: public name -> the family module holding that GPU twin (each beside its CPU twin)
_TWINS = {
    "box_iou": "detbench.boxes.gpu_overlap",
    "nms": "detbench.nms.gpu_greedy",
    "batched_nms": "detbench.nms.gpu_greedy",
    "soft_nms": "detbench.nms.gpu_soft",
    "roi_align": "detbench.roi.gpu_roi",
    "roi_pool": "detbench.roi.gpu_roi",
}


def __getattr__(name: str) -> Any:
    # the twins live in the family packages and import this package's runtime helpers, so they
    # are bound on first use (PEP 562) rather than imported here
    module = _TWINS.get(name)
    if module is None:
        raise AttributeError(f"module 'detbench.cuda' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TWINS))


__all__ = [
    "CudaUnavailableError",
    "is_available",
    "box_iou",
    "nms",
    "batched_nms",
    "soft_nms",
    "roi_align",
    "roi_pool",
]
