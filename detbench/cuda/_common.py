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
    allocations cost tens of microseconds each). The views are cached too (slicing a Numba
    device array costs tens of microseconds on a real GPU). All work runs on the default
    stream, so a buffer is never reused before the kernels reading it have finished.
    :func:`clear_workspace` frees them.
    """
    store = getattr(_SCRATCH, "arrays", None)
    if store is None:
        store = _SCRATCH.arrays = {}
    rows = int(shape[0])
    full = (name, dtype, shape)
    hit = store.get(full)
    if hit is not None:
        return hit
    dtype = np.dtype(dtype)
    key = (name, dtype.str, tuple(int(s) for s in shape[1:]))
    buf = store.get(key)
    if buf is None or int(buf.shape[0]) < max(rows, 1):
        cap = max(rows, 1) if buf is None else max(rows, 2 * int(buf.shape[0]))
        buf = cuda.device_array((cap, *key[2]), dtype=dtype)
        # a new buffer: forget the views of the old one
        for k in [k for k in store if len(k) == 3 and k[0] == name and not isinstance(k[1], str)]:
            if np.dtype(k[1]).str == key[1] and tuple(k[2][1:]) == key[2]:
                del store[k]
        store[key] = buf
    view = buf[:rows]
    if len(store) < 4096:
        store[full] = view
    return view


def clear_workspace() -> None:
    """Free this thread's scratch device buffers (see :func:`workspace`) and the result pool."""
    _SCRATCH.arrays = {}
    clear_pool()


# --------------------------------------------------------------------------- result pool
#: Free result blocks kept for reuse, at most this many bytes in all (beyond it, blocks are freed).
RESULT_POOL_BYTES: int = 4 << 30
_POOL: dict[int, list] = {}
_POOL_LIVE: dict[int, Any] = {}
_POOL_LOCK = threading.RLock()  # re-entrant: a finalizer may run (garbage collection) while it is held
_POOL_FREE = [0]


def _size_class(nbytes: int) -> int:
    """``nbytes`` rounded up to 1/8 of its power of two (at most 12.5 % slack), at least 512."""
    nbytes = max(int(nbytes), 512)
    step = 1 << max(nbytes.bit_length() - 4, 0)
    return -(-nbytes // step) * step


def result_array(cuda: Any, shape: tuple, dtype: Any) -> Any:
    """A C-contiguous device array for a result handed to the caller, from a reuse pool.

    ``cuda.device_array`` costs a ``cuMemAlloc`` per call (about 0.1 ms for 50 MB on an H200,
    more than some kernels) and a deferred ``cuMemFree``. Here a result takes a cached block
    of its size class; when the caller's array and every view of it are gone (Numba's own
    reference counting of device memory, as for its allocations) the block goes back to the
    pool instead of being freed. The pool keeps at most :data:`RESULT_POOL_BYTES` of free
    blocks; :func:`clear_workspace` empties it. Under the simulator: ``cuda.device_array``.
    """
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in (shape if isinstance(shape, tuple) else (shape,)))
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if simulating() or nbytes == 0:
        return cuda.device_array(shape, dtype=dtype)
    import ctypes

    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    from numba.cuda.cudadrv.driver import AutoFreePointer

    cls = _size_class(nbytes)
    with _POOL_LOCK:
        free = _POOL.get(cls)
        base = free.pop() if free else None
        if base is not None:
            _POOL_FREE[0] -= cls
    if base is None:
        try:
            base = cuda.device_array(cls, dtype=np.uint8)
        except Exception:  # out of device memory: give the pool's free blocks back, then retry once
            clear_pool()
            base = cuda.device_array(cls, dtype=np.uint8)
    ptr = int(base.gpu_data.device_pointer_value)
    key = [0]

    def give_back(cls=cls, base=base, key=key):
        with _POOL_LOCK:
            _POOL_LIVE.pop(key[0], None)
            if _POOL_FREE[0] + cls <= RESULT_POOL_BYTES:
                _POOL.setdefault(cls, []).append(base)
                _POOL_FREE[0] += cls

    mem = AutoFreePointer(cuda.current_context(), ctypes.c_void_p(ptr), nbytes, finalizer=give_back)
    key[0] = id(mem)
    with _POOL_LOCK:
        _POOL_LIVE[id(mem)] = mem  # alive until the last view of the result is gone (then give_back)
    strides = []
    step = dtype.itemsize
    for s in reversed(shape):
        strides.append(step)
        step *= max(s, 1)
    return DeviceNDArray(shape, tuple(reversed(strides)), dtype, gpu_data=mem.own())


def clear_pool() -> None:
    """Free the result pool's free blocks (see :func:`result_array`)."""
    with _POOL_LOCK:
        _POOL.clear()
        _POOL_FREE[0] = 0
