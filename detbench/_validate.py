"""Input validation shared by every public function.

The public layer of detbench never lets bad input reach a kernel: each check
raises :class:`ValueError` (or :class:`TypeError` for a wrong Python type)
whose message names the argument and the problem, e.g.::

    ValueError: boxes: expected shape (N, 4), got (3, 5)
    ValueError: boxes: row 7 has x2 < x1 (x1=10.0, x2=3.0)
    ValueError: scores: 2 non-finite values (first at index 4: nan)

Conventions (the dtype rule, written down once)
-----------------------------------------------
* float32 in any byte order -> native float32; float64 in any byte order ->
  native float64. float16 -> float32 (half precision has no kernels; float32
  holds every float16 value exactly). Integer and boolean arrays -> float64.
  Any other dtype (complex, long double, strings, objects) is refused.
* Results are float32 when every float input is float32, else float64
  (:func:`result_float_dtype`).
* Arrays are returned C-contiguous (kernels assume it); a copy is made only
  when needed. Inputs are never modified.
* Flags are real booleans (:func:`check_bool`): ``"no"`` or ``None`` is refused,
  never read by truthiness.
* Allocations sized from arguments are checked first (:func:`check_alloc`):
  a request that cannot fit in memory names the argument and the size.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_choice(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError``."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}, got {value!r}")
    return value


def check_box_format(fmt: Any, name: str = "fmt") -> str:
    """Validate a box format string (``xyxy``, ``xywh`` or ``cxcywh``)."""
    if not isinstance(fmt, str):
        raise ValueError(f"{name}: box format must be a string, one of {list(BOX_FORMATS)}, got {fmt!r}")
    return check_choice(fmt.lower(), name, BOX_FORMATS)


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Validate a finite real scalar, optionally inside ``[low, high]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"{name}: expected a real number, got {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {v}")
    if low is not None and (v < low or (v == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise ValueError(f"{name}: must be {op} {low}, got {v}")
    if high is not None and (v > high or (v == high and not high_inclusive)):
        op = "<=" if high_inclusive else "<"
        raise ValueError(f"{name}: must be {op} {high}, got {v}")
    return v


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Validate an integer scalar (Python or NumPy), optionally inside ``[low, high]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    v = int(value)
    if low is not None and v < low:
        raise ValueError(f"{name}: must be >= {low}, got {v}")
    if high is not None and v > high:
        raise ValueError(f"{name}: must be <= {high}, got {v}")
    return v


def _describe_nonfinite(arr: np.ndarray, name: str) -> str:
    bad = ~np.isfinite(arr)
    count = int(bad.sum())
    first = np.argwhere(bad)[0]
    where = int(first[0]) if first.size == 1 else tuple(int(i) for i in first)
    return f"{name}: {count} non-finite value{'s' if count != 1 else ''} (first at index {where}: {arr[tuple(first)]})"


def float_target(dtype: np.dtype, name: str) -> np.dtype:
    """The native float dtype an input of ``dtype`` is computed in (the module's dtype rule)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        if dtype.itemsize in (2, 4):
            return np.dtype(np.float32)
        if dtype.itemsize == 8:
            return np.dtype(np.float64)
        raise ValueError(f"{name}: unsupported dtype {dtype} (long double); use float32 or float64")
    if dtype.kind in "iub":
        return np.dtype(np.float64)
    raise ValueError(f"{name}: expected a real numeric dtype, got {dtype}")


def check_bool(value: Any, name: str) -> bool:
    """Validate a flag: ``True``/``False`` (or a NumPy bool); anything else is refused by name."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name}: expected True or False, got {value!r}")


def memory_limit_bytes() -> int:
    """The most one allocation may ask for: the machine's physical memory (or 2**40 if unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def check_alloc(shape: Sequence[int], itemsize: int, name: str, what: str = "the result") -> None:
    """Refuse, before allocating, an array of ``shape`` x ``itemsize`` bytes that cannot fit in memory.

    ``name`` is the argument responsible; the message states the size asked for.
    """
    n = 1
    for d in shape:
        n *= max(int(d), 0)
    need = n * int(itemsize)
    limit = memory_limit_bytes()
    if need > limit:
        raise ValueError(
            f"{name}: {what} would need {_human_bytes(need)} (shape {tuple(int(d) for d in shape)}), "
            f"more than this machine's {_human_bytes(limit)} of memory"
        )


def _human_bytes(n: int) -> str:
    v = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if v < 1024 or unit == "PiB":
            return f"{v:.3g} {unit}" if unit != "B" else f"{int(v)} B"
        v /= 1024
    return f"{n} B"


def as_float_array(
    x: Any,
    name: str,
    *,
    ndim: int | None = None,
    dtype: Any = None,
    finite: bool = True,
) -> np.ndarray:
    """Convert ``x`` to a C-contiguous float32/float64 array and validate it.

    Parameters
    ----------
    x: array-like input.
    name: the argument's name, used in error messages.
    ndim: required number of dimensions (``None`` = any).
    dtype: force this float dtype (``None`` keeps float32/float64, converts
        integers and booleans to float64).
    finite: reject NaN and +-inf.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise ValueError(f"{name}: expected a numeric array, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and other non-array input
        raise ValueError(f"{name}: could not be converted to an array ({exc})") from None
    if arr.dtype == object:
        raise ValueError(f"{name}: expected a numeric array, got an object array (ragged or mixed input?)")
    kind = arr.dtype.kind
    if kind not in "fiub":
        raise ValueError(f"{name}: expected a real numeric dtype, got {arr.dtype}")
    if dtype is not None:
        target = np.dtype(dtype).newbyteorder("=")
    else:
        target = float_target(arr.dtype, name)
    if target not in FLOAT_DTYPES:
        raise ValueError(f"{name}: unsupported dtype {target}; use float32 or float64")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimension{'s' if ndim != 1 else ''}, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=target)
    if finite and arr.size and not np.isfinite(arr).all():
        raise ValueError(_describe_nonfinite(arr, name))
    return arr


def check_boxes(
    boxes: Any,
    name: str = "boxes",
    *,
    fmt: str = "xyxy",
    dtype: Any = None,
) -> np.ndarray:
    """Validate an ``(N, 4)`` box array in format ``fmt``.

    Checks: 2-D with 4 columns (a single box of shape ``(4,)`` is rejected,
    reshape it explicitly), real numeric dtype, all finite, and non-negative
    extent: ``x2 >= x1`` and ``y2 >= y1`` for ``xyxy``; ``w >= 0`` and
    ``h >= 0`` for ``xywh``/``cxcywh``. Empty ``(0, 4)`` input is allowed.

    Returns the boxes as a C-contiguous float32/float64 array (see
    :func:`as_float_array` for the dtype rule).
    """
    fmt = check_box_format(fmt)
    arr = as_float_array(boxes, name, dtype=dtype, finite=False)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name}: expected shape (N, 4), got {arr.shape}")
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(_describe_nonfinite(arr, name))
    if arr.shape[0]:
        if fmt == "xyxy":
            _check_extent(arr[:, 2] - arr[:, 0], arr, name, "x2 < x1", 0, 2)
            _check_extent(arr[:, 3] - arr[:, 1], arr, name, "y2 < y1", 1, 3)
        else:
            _check_extent(arr[:, 2], arr, name, "negative width", 2, 2)
            _check_extent(arr[:, 3], arr, name, "negative height", 3, 3)
    return arr


def _check_extent(extent: np.ndarray, arr: np.ndarray, name: str, what: str, i: int, j: int) -> None:
    bad = extent < 0
    if bad.any():
        rows = np.flatnonzero(bad)
        r = int(rows[0])
        more = f" ({rows.size} rows in all)" if rows.size > 1 else ""
        raise ValueError(f"{name}: row {r} has {what} (box {arr[r].tolist()}){more}")


def check_scores(scores: Any, n: int, name: str = "scores", *, dtype: Any = None) -> np.ndarray:
    """Validate a 1-D array of ``n`` finite scores."""
    arr = as_float_array(scores, name, dtype=dtype, finite=False)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name}: length {arr.shape[0]} does not match the {n} boxes")
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(_describe_nonfinite(arr, name))
    return arr


def check_labels(labels: Any, n: int, name: str = "labels") -> np.ndarray:
    """Validate a 1-D integer label array of length ``n``; returns int64.

    Integer-valued floats are accepted; every value must fit int64 (a float
    1e30 or a uint64 ``2**63`` is refused by name, never wrapped).
    """
    try:
        arr = np.asarray(labels)
    except Exception as exc:  # ragged lists, ints beyond 64 bits mixed with others
        raise ValueError(f"{name}: could not be converted to an array ({exc})") from None
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name}: length {arr.shape[0]} does not match the {n} boxes")
    if not arr.size:
        return np.zeros(0, np.int64)
    if arr.dtype.kind == "f":
        if not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise ValueError(f"{name}: expected integer labels, got dtype {arr.dtype}")
        # float64 holds -2**63 exactly; 2**63 and above do not fit int64
        bad = (arr < -(2.0**63)) | (arr >= 2.0**63)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name}: value {float(arr[i])!r} at index {i} does not fit in int64")
        return arr.astype(np.int64)
    if arr.dtype.kind == "u" and arr.dtype.itemsize >= 8:
        bad = arr > np.iinfo(np.int64).max
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name}: value {int(arr[i])} at index {i} does not fit in int64")
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"{name}: expected integer labels, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype, name: str = "out") -> np.ndarray:
    """Validate a caller-supplied output buffer: ndarray, exact shape and dtype, C-contiguous, writeable."""
    if not isinstance(out, np.ndarray):
        raise ValueError(f"{name}: expected a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {dtype}, got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name}: must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{name}: is read-only")
    return out


def result_float_dtype(*arrays: np.ndarray) -> np.dtype:
    """float32 when every input is float32, else float64."""
    if arrays and all(a.dtype == np.float32 for a in arrays):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def check_pair(value: Any, name: str, *, positive: bool = True) -> tuple[int, int]:
    """Validate an ``int`` or a pair of ints (e.g. ``output_size``) and return ``(h, w)``."""
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_)):
        pair: Iterable[Any] = (value, value)
    else:
        try:
            pair = tuple(value)
        except TypeError:
            raise ValueError(f"{name}: expected an int or a pair of ints, got {value!r}") from None
        if len(pair) != 2:
            raise ValueError(f"{name}: expected an int or a pair of ints, got {value!r}")
    low = 1 if positive else None
    a, b = (check_int(v, name, low=low) for v in pair)
    return a, b


def check_offset(offset: Any, name: str = "offset") -> float:
    """The legacy "+1 pixel" convention (mmcv's ``offset``): the integer 0 or 1, returned as a float.

    One rule for every function that takes it: bools, arrays, strings and other numbers are refused.
    """
    if isinstance(offset, (bool, np.bool_)) or not isinstance(offset, (numbers.Integral, np.integer)):
        if isinstance(offset, (numbers.Real, np.floating)) and not isinstance(offset, (bool, np.bool_)):
            if float(offset) in (0.0, 1.0):
                return float(offset)
        raise ValueError(f"{name}: expected 0 or 1, got {offset!r}")
    if int(offset) not in (0, 1):
        raise ValueError(f"{name}: expected 0 or 1, got {offset!r}")
    return float(offset)
