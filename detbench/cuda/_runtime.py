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


#: The NumPy release that removed ``numpy.row_stack`` (numba-cuda <= 0.30.4 overloads it at import).
NUMPY_WITHOUT_ROW_STACK = "2.5"


def patch_numpy_for_numba_cuda() -> bool:
    """Give NumPy back ``row_stack`` (an alias of ``vstack``) when it is missing; True if it was set.

    numba-cuda 0.30.4 and older register ``overload(np.row_stack)`` while ``numba.cuda`` is
    imported; NumPy 2.5 removed that alias, so the import fails with an AttributeError.
    ``row_stack`` was exactly ``vstack`` (deprecated in NumPy 2.0), so restoring the alias is
    safe: nothing else changes. Must run before ``numba.cuda`` is first imported.
    """
    if hasattr(np, "row_stack"):
        return False
    setattr(np, "row_stack", np.vstack)  # noqa: B010 (a plain assignment is rewritten by ruff NPY201)
    return True


def _versions() -> str:
    import importlib.metadata as md

    found = [f"numpy {np.__version__}"]
    for dist in ("numba", "numba-cuda"):
        try:
            found.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            found.append(f"{dist} not installed")
    return ", ".join(found)


def _import_cuda() -> Any:
    """Import and return ``numba.cuda`` (ImportError if it cannot be imported).

    numba-cuda releases that cannot be imported with the installed NumPy raise a
    :class:`CudaUnavailableError` naming both versions and the fix.
    """
    patch_numpy_for_numba_cuda()
    try:
        from numba import cuda
    except AttributeError as exc:  # an API removed from NumPy, used by numba-cuda at import
        raise CudaUnavailableError(
            f"detbench.cuda: numba-cuda could not be imported with this NumPy ({_versions()}): "
            f'{exc}. Install a working pair: `pip install "numpy<{NUMPY_WITHOUT_ROW_STACK}"` '
            'or a newer numba-cuda (`pip install -U numba-cuda`); `pip install -e ".[cuda]"` pins a working pair.'
        ) from exc
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
    from detbench._compat import numba_config

    return bool(getattr(numba_config, "ENABLE_CUDASIM", False))


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


def _sim_from_interface(x: Any) -> Any:
    """Simulator only: a fake device array over the memory an object's ``__cuda_array_interface__``
    describes (under the simulator "device" memory is host memory), no copy, strides kept."""
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    desc = dict(x.__cuda_array_interface__)

    class _Host:
        __array_interface__ = {
            "shape": tuple(desc["shape"]),
            "typestr": desc["typestr"],
            "data": tuple(desc["data"]),
            "strides": desc.get("strides"),
            "version": 3,
        }

    return FakeCUDAArray(np.asarray(_Host()))


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
    if hasattr(x, "copy_to_host"):  # already a Numba device array (or the simulator's fake one)
        return x
    if hasattr(x, "__cuda_array_interface__"):
        if hasattr(cuda, "as_cuda_array"):
            return cuda.as_cuda_array(x)
        return _sim_from_interface(x)  # the simulator has no as_cuda_array
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
