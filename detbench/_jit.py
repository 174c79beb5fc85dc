"""One place that decides how every detbench kernel is compiled.

Every ``@njit`` kernel in detbench is declared through :func:`jit` so that they
all share the same options:

* ``cache=True`` – the machine code is written next to the module's
  ``__pycache__`` so a second process pays no compile time.
* ``error_model="numpy"`` – division by zero gives ``inf``/``nan`` like NumPy
  instead of raising; the Python-style model inserts a branch in every division
  and blocks SIMD vectorisation.
* ``nogil=True`` – kernels release the GIL so callers may thread them.
* ``fastmath`` – off by default (results must match the references bit for bit
  where the issues ask for it). Kernels that opt in get :data:`FASTMATH`, which
  deliberately leaves out ``nnan`` and ``ninf`` so NaN/inf handling survives.

``parallel=True`` kernels use ``numba.prange``. The threading layer is left to
Numba's default choice; :func:`set_num_threads` is re-exported for callers who
want to pin the thread count (useful on shared 2-core machines).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numba

__all__ = ["jit", "jit_twins", "FASTMATH", "set_num_threads", "get_num_threads"]

#: fastmath flags used by kernels that opt in: everything except ``nnan``/``ninf``.
FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

set_num_threads = numba.set_num_threads
get_num_threads = numba.get_num_threads


def jit(
    func: Callable[..., Any] | None = None,
    *,
    parallel: bool = False,
    fastmath: bool = False,
    inline: str = "never",
    cache: bool = True,
) -> Any:
    """Compile ``func`` with detbench's standard Numba options.

    Usable bare (``@jit``) or with options (``@jit(parallel=True)``).

    Parameters
    ----------
    parallel:
        Enable ``prange`` loops.
    fastmath:
        Use :data:`FASTMATH` (no ``nnan``/``ninf``).
    inline:
        Numba's inline policy (``"always"`` for tiny helpers called in hot loops).
    cache:
        Write compiled code to disk (default ``True``).
    """
    options: dict[str, Any] = dict(
        cache=cache,
        error_model="numpy",
        nogil=True,
        parallel=parallel,
        fastmath=set(FASTMATH) if fastmath else False,
        inline=inline,
    )

    def decorate(f: Callable[..., Any]) -> Any:
        return numba.njit(**options)(f)

    if func is not None:
        return decorate(func)
    return decorate


def jit_twins(func: Callable[..., Any], **options: Any) -> tuple[Any, Any]:
    """Compile one ``prange`` body twice: a parallel kernel and its serial twin.

    ``prange`` is a plain ``range`` when ``parallel=False``, so both twins run
    the same code. Small inputs should use the serial twin: waking a thread
    pool costs more than the work (far more on a loaded machine).

    The serial twin is compiled from a copy of the function with its own
    ``__qualname__``: Numba's on-disk cache is keyed by qualified name and
    signature, not by the ``parallel`` flag, so two dispatchers of one function
    object would overwrite each other's cache entries.
    """
    serial_py = types.FunctionType(
        func.__code__, func.__globals__, func.__name__ + "_serial", func.__defaults__, func.__closure__
    )
    serial_py.__qualname__ = func.__qualname__ + "_serial"
    serial_py.__module__ = func.__module__
    serial_py.__doc__ = func.__doc__
    return jit(func, parallel=True, **options), jit(serial_py, parallel=False, **options)
