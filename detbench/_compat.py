"""The only place detbench touches Numba internals (APIs outside Numba's public surface).

Everything imported here is an implementation detail of Numba that may move between releases;
``tests/test_compat.py`` checks each name still resolves and behaves, and ``pyproject.toml`` bounds
``numba`` to the releases that test has passed on. Import these names from here, never from
``numba.*`` internals directly.

* :func:`trailing_zeros` - count of trailing zero bits of an unsigned integer, usable inside
  ``@njit`` code (lowers to ``llvm.cttz``).
* :data:`numba_config` - Numba's configuration module (``ENABLE_CUDASIM``: is the CUDA simulator on?).
* :data:`cgutils` - Numba's LLVM code-generation helpers (``get_or_insert_function``), used by the
  compiled COCO annotation reader to declare CPython C-API functions.
"""

from __future__ import annotations

from numba.core import cgutils
from numba.core import config as numba_config
from numba.cpython.unsafe.numbers import trailing_zeros

__all__ = ["cgutils", "numba_config", "trailing_zeros"]
