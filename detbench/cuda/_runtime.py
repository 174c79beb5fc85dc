"""Lazy access to ``numba.cuda``: availability, clear errors, device-array handling.

Nothing here imports ``numba.cuda`` at module import time. ``import detbench``
and ``import detbench.cuda`` therefore never touch the CUDA driver; the first
call of a GPU function imports ``numba.cuda`` and checks that it can run.

Two ways to run the kernels:

* a CUDA GPU with its driver, and ``numba-cuda`` (``pip install "detbench[cuda]"``;
  Numba's own, deprecated ``numba.cuda`` also works where it still ships);
* Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` set before Numba is
  imported): the kernels run as Python threads on the CPU. Very slow, used by
  the tests to prove correctness on machines without a GPU.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

__all__ = ["CudaUnavailableError", "get_cuda", "is_available", "simulating", "require_cuda", "is_device_array"]


class CudaUnavailableError(RuntimeError):
    """A GPU function was called where no CUDA device (nor the simulator) can run it."""


def _import_cuda() -> Any:
    """Import and return ``numba.cuda`` (ImportError if it cannot be imported)."""
    from numba import cuda

    return cuda


def get_cuda() -> Any:
    """Return the ``numba.cuda`` module, raising :class:`CudaUnavailableError` if it is missing."""
    try:
        return _import_cuda()
    except ImportError as exc:
        raise CudaUnavailableError(
            "detbench.cuda needs numba-cuda, which could not be imported "
            f'({exc}); install it with `pip install "detbench[cuda]"` (or `pip install numba-cuda`)'
        ) from exc


def simulating() -> bool:
    """True when Numba's CUDA simulator is on (``NUMBA_ENABLE_CUDASIM=1`` when Numba was imported)."""
    from numba.core import config

    return bool(getattr(config, "ENABLE_CUDASIM", False))


def is_available() -> bool:
    """Whether the GPU functions can run here: a usable CUDA device, or the simulator.

    Never raises. Calling it imports ``numba.cuda`` and, when the simulator is off,
    initialises the CUDA driver (that is the only way to know).
    """
    try:
        cuda = _import_cuda()
        return bool(cuda.is_available())
    except Exception:  # a broken driver install must not turn a query into a crash
        return False


def _driver_problem(cuda: Any) -> str:
    try:
        from numba.cuda.cudadrv.driver import driver

        err = getattr(driver, "initialization_error", None)
    except Exception as exc:  # pragma: no cover - depends on the install
        err = str(exc)
    if err:
        return " ".join(str(err).split())
    return "no CUDA-capable device was found"


def require_cuda() -> Any:
    """Return ``numba.cuda`` ready to launch kernels, or raise :class:`CudaUnavailableError`.

    The message names what is missing: the ``numba-cuda`` package, or the CUDA
    driver / a GPU (with the driver's own reason).
    """
    cuda = get_cuda()
    try:
        ok = bool(cuda.is_available())
    except Exception as exc:  # pragma: no cover - depends on the install
        ok = False
        reason = str(exc)
    else:
        reason = "" if ok else _driver_problem(cuda)
    if not ok:
        hint = ""
        if importlib.util.find_spec("numba_cuda") is None:
            hint = ' Also, the numba-cuda package is not installed (`pip install "detbench[cuda]"`).'
        raise CudaUnavailableError(
            f"detbench.cuda: no usable CUDA GPU: {reason}. A GPU with an NVIDIA driver is needed "
            "(or set NUMBA_ENABLE_CUDASIM=1 before importing numba to run the kernels on the CUDA "
            f"simulator, slowly).{hint}"
        )
    return cuda


def is_device_array(cuda: Any, x: Any) -> bool:
    """True for a GPU array: a Numba device array or any object with ``__cuda_array_interface__``
    (CuPy, PyTorch CUDA tensors); under the simulator, the simulator's fake device arrays."""
    if isinstance(x, np.ndarray):
        return False
    if hasattr(x, "__cuda_array_interface__"):
        return True
    fake = getattr(getattr(cuda, "devicearray", None), "FakeCUDAArray", None)
    return fake is not None and isinstance(x, fake)


def as_device_array(cuda: Any, x: Any) -> Any:
    """Wrap a GPU array as a Numba device array (zero copy)."""
    if hasattr(x, "__cuda_array_interface__") and hasattr(cuda, "as_cuda_array"):
        if hasattr(x, "copy_to_host"):  # already a Numba DeviceNDArray
            return x
        return cuda.as_cuda_array(x)
    return x


def device_dtype(x: Any) -> np.dtype:
    return np.dtype(x.dtype)


def device_is_c_contiguous(x: Any) -> bool:
    flag = getattr(x, "is_c_contiguous", None)
    if callable(flag):
        return bool(flag())
    flags = getattr(x, "flags", None)
    if flags is not None:
        return bool(flags["C_CONTIGUOUS"])
    return True
