"""Helpers shared by the GPU families (:mod:`.gpu_boxes`, :mod:`.gpu_nms`, :mod:`.gpu_roi`).

Kernel side: the exact product :func:`mul_for`, the float type of a dtype, the grid limits.
Host side: device-array checks that never copy, reshape or view a device array (a reshape of a
device array with unusual strides, e.g. the stride-0 singleton axes of ``x[None, None]``,
raises ``NotImplementedError: operation requires copying`` on a real GPU), and the
host/device conversions of the wrappers.

Exactness on a real GPU
-----------------------
NVVM fuses ``a * b + c`` into one fused multiply-add by default (CUDA's ``-fmad=true``); the
fused result is rounded once instead of twice and so can differ in the last bit from the CPU
kernels. Every product that feeds a sum is therefore written with ``mul`` (:func:`mul_for`),
libdevice's ``__fmul_rn`` / ``__dmul_rn`` on a device (never fused) and a plain product under
the simulator. Divisions are IEEE round-to-nearest (``fastmath`` is off). ``python -m
detbench.cuda._ptx`` checks the compiled code has no ``fma``.

Kernels name ``cuda`` as a module global of their own module (bound by :func:`bind`): the
simulator swaps that global for its fake ``cuda`` module when it runs a kernel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from ._runtime import as_device_array, get_cuda, is_device_array, simulating

#: Largest grid y / z extents CUDA allows; bigger problems loop inside the kernel.
MAX_GRID_Y: int = 65535
MAX_GRID_Z: int = 65535
#: Largest grid x extent used by the flat (one thread per element) kernels; they grid-stride beyond it.
MAX_GRID_X: int = 1 << 20

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def bind() -> Any:
    """``numba.cuda`` (imported on first use)."""
    return get_cuda()


def cdiv(a: int, b: int) -> int:
    return -(-int(a) // int(b))


def float_type(dtype: Any) -> Any:
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return np.float32
    if dtype == np.float64:
        return np.float64
    raise TypeError(f"unsupported dtype {dtype}")  # the public layer never lets this happen


def _sim_mul(x: Any, y: Any) -> Any:
    return x * y


@cache
def mul_for(dtype_name: str) -> Callable[[Any, Any], Any]:
    """The product ``x * y`` rounded on its own (never fused into an FMA) for ``dtype``."""
    bind()
    if simulating():
        return _sim_mul
    from numba.cuda import libdevice

    return libdevice.fmul_rn if dtype_name == "float32" else libdevice.dmul_rn


def flat_grid(total: int, threads: int) -> int:
    """Blocks for a grid-stride kernel over ``total`` items."""
    return max(1, min(cdiv(total, threads), MAX_GRID_X))


# --------------------------------------------------------------------------- host side
def check_device(x: Any, name: str, ndim: int, last: int | None = None, floats: bool = True) -> None:
    """Shape/dtype checks for a device array (no copy of the values; any strides accepted)."""
    shape = tuple(int(s) for s in x.shape)
    dtype = np.dtype(x.dtype)
    if len(shape) != ndim or (last is not None and shape[-1] != last):
        want = f"(N, {last})" if last is not None and ndim == 2 else f"{ndim} dimension{'s' if ndim != 1 else ''}"
        raise ValueError(f"{name}: expected shape {want}, got {shape}")
    if floats and dtype not in FLOATS:
        raise ValueError(f"{name}: device arrays must be float32 or float64, got {dtype}")


def to_host(cuda: Any, x: Any) -> Any:
    """A GPU array copied to the host; anything else as it is."""
    if is_device_array(cuda, x):
        return as_device_array(cuda, x).copy_to_host()
    return x


def device_input(cuda: Any, x: Any) -> Any:
    """A GPU input as a Numba device array (zero copy)."""
    return as_device_array(cuda, x)


def common_float(*dtypes: Any) -> np.dtype:
    """The computation dtype of float inputs: float32 only when all are float32."""
    if dtypes and all(np.dtype(d) == np.float32 for d in dtypes):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def jit_options() -> dict:
    """Options of every kernel's ``cuda.jit``: ``cache=True`` on a real device, so a new process
    loads the compiled kernels from Numba's cache instead of compiling them again (the first call
    then costs the load, not the compile). ``DETBENCH_CUDA_CACHE=0`` turns it off. The simulator
    compiles nothing, so it gets no options."""
    import os

    if simulating() or os.environ.get("DETBENCH_CUDA_CACHE", "1") == "0":
        return {}
    return {"cache": True}


_SCRATCH = threading.local()


def workspace(cuda: Any, name: str, shape: tuple, dtype: Any) -> Any:
    """A scratch device array of ``shape`` (a view of the first rows of a cached, grow-only buffer).

    Scratch buffers are kept per thread and per (name, dtype, trailing shape) and reused by the
    next call: a kernel pipeline then allocates nothing on the device but its result (device
    allocations cost tens of microseconds each). All work runs on the default stream, so a
    buffer is never reused before the kernels reading it have finished. :func:`clear_workspace`
    frees them.
    """
    store = getattr(_SCRATCH, "arrays", None)
    if store is None:
        store = _SCRATCH.arrays = {}
    dtype = np.dtype(dtype)
    key = (name, dtype.str, tuple(int(s) for s in shape[1:]))
    rows = max(int(shape[0]), 1)
    buf = store.get(key)
    if buf is None or int(buf.shape[0]) < rows:
        cap = rows if buf is None else max(rows, 2 * int(buf.shape[0]))
        buf = cuda.device_array((cap, *key[2]), dtype=dtype)
        store[key] = buf
    return buf[: int(shape[0])]


def clear_workspace() -> None:
    """Free this thread's scratch device buffers (see :func:`workspace`)."""
    _SCRATCH.arrays = {}
