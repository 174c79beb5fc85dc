"""Read a list of COCO annotation dicts into flat arrays at C speed.

Pulling half a million annotation dicts out of a pycocotools ``COCO`` object
with ``operator.itemgetter`` costs ~400 ns per dict, more than the whole
evaluation kernel at 5,000 images. :func:`read_annotations` walks the list in a
Numba kernel instead, through the CPython C API (``PyDict_GetItem``,
``PyLong_AsDouble``) and direct reads of three fixed object layouts (an
object's type pointer, a ``float``'s value, a ``list``'s size and item array):
~80 ns per dict, bound by cache misses on the scattered dicts.

It is a fast path only. It accepts exactly the common case: a ``list`` of
``dict``; numbers that are exact ``int``, ``float`` or ``numpy.float64`` (what
pycocotools' ``loadNumpyAnnotations`` makes); ``bbox`` a ``list`` of 4
numbers; ids finite and below 2**53 in magnitude; ``iscrowd`` 0/1 or a bool.
On the first annotation outside it the caller runs the general Python path
from the start, so anything unusual (string ids, other NumPy scalars, tuples,
missing keys, malformed values) gets exactly the same arrays and error
messages as before; the two paths are compared in the tests.

Safety:

* The kernel runs with the GIL held (it is compiled without ``nogil``), so no
  other thread can change the objects while they are read. Python code can
  still run inside a dict lookup (a key of another type whose hash equals
  ``"category_id"``'s has its ``__eq__`` called) and mutate or free anything:
  the kernel therefore holds a strong reference to each list and each dict for
  as long as it reads it, reads every value right after its lookup (before
  any other lookup), and re-reads the list's size and item pointer for every
  annotation; a list that changed size makes it give up (the general path then
  reads what is left).
* The object layouts are checked at import against live objects (with
  :mod:`ctypes`); on an interpreter where they differ (a free-threaded build,
  another implementation) :data:`AVAILABLE` is False and the caller never uses
  this module. ``DETBENCH_PURE_PYTHON_READER=1`` disables it too.
* Only the C API functions' names are compiled in, never addresses, so the
  machine code is cached on disk (``cache=True``) like every other kernel.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from detbench._compat import cgutils

__all__ = ["AVAILABLE", "FastRead", "read_annotations"]

_I64 = ir.IntType(64)
_PTR = ir.IntType(8).as_pointer()
_MAX_EXACT = float(2**53)


# ----------------------------------------------------------------- intrinsics
# Addresses travel as int64; the caller keeps every object alive.


@intrinsic
def _load_i64(typingctx, addr):
    def codegen(context, builder, signature, args):
        return builder.load(builder.inttoptr(args[0], _I64.as_pointer()))

    return types.int64(types.int64), codegen


@intrinsic
def _load_f64(typingctx, addr):
    def codegen(context, builder, signature, args):
        return builder.load(builder.inttoptr(args[0], ir.DoubleType().as_pointer()))

    return types.float64(types.int64), codegen


@intrinsic
def _dict_get(typingctx, mapping, key):
    """``PyDict_GetItemWithError``: a borrowed reference; 0 when absent (or on an error, left set)."""

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(_PTR, [_PTR, _PTR])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "PyDict_GetItemWithError")
        found = builder.call(fn, [builder.inttoptr(args[0], _PTR), builder.inttoptr(args[1], _PTR)])
        return builder.ptrtoint(found, _I64)

    return types.int64(types.int64, types.int64), codegen


def _refcount_call(name):
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [_PTR]), name)
        builder.call(fn, [builder.inttoptr(args[0], _PTR)])
        return context.get_dummy_value()

    return codegen


@intrinsic
def _incref(typingctx, obj):
    """``Py_IncRef``: hold a strong reference while Python code may run (a key's ``__eq__`` in a lookup)."""
    return types.none(types.int64), _refcount_call("Py_IncRef")


@intrinsic
def _decref(typingctx, obj):
    """``Py_DecRef`` (may free the object and run Python code: re-check everything borrowed afterwards)."""
    return types.none(types.int64), _refcount_call("Py_DecRef")


@intrinsic
def _long_as_double(typingctx, obj):
    """``PyLong_AsDouble`` (-1.0 with an OverflowError set when out of range)."""

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.DoubleType(), [_PTR]), "PyLong_AsDouble")
        return builder.call(fn, [builder.inttoptr(args[0], _PTR)])

    return types.float64(types.int64), codegen


@intrinsic
def _clear_error(typingctx):
    """1 if a Python exception was set (it is cleared), else 0."""

    def codegen(context, builder, signature, args):
        occurred = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_PTR, []), "PyErr_Occurred")
        clear = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []), "PyErr_Clear")
        err = builder.call(occurred, [])
        builder.call(clear, [])
        return builder.zext(builder.icmp_unsigned("!=", builder.ptrtoint(err, _I64), _I64(0)), _I64)

    return types.int64(), codegen


# ------------------------------------------------------------------- layouts


def _check_layouts() -> tuple[bool, tuple[int, int, int, int]]:
    """Offsets of ob_type, float value, list size and list items, verified on live objects."""
    ptr = ctypes.sizeof(ctypes.c_void_p)
    offsets = (ptr, 2 * ptr, 2 * ptr, 3 * ptr)  # PyObject_HEAD = refcount + type
    if ptr != 8 or getattr(sys, "_is_gil_enabled", lambda: True)() is False:
        return False, offsets
    if sys.implementation.name != "cpython":
        return False, offsets
    try:
        t_off, f_off, n_off, items_off = offsets
        value = float(np.pi) * 3.0
        items = [value, 12345678901, "bbox"]
        read_ptr = ctypes.c_void_p.from_address
        ok = read_ptr(id(value) + t_off).value == id(float)
        ok &= ctypes.c_double.from_address(id(value) + f_off).value == value
        ok &= read_ptr(id(items) + t_off).value == id(list)
        ok &= ctypes.c_ssize_t.from_address(id(items) + n_off).value == 3
        item_array = read_ptr(id(items) + items_off).value
        ok &= all(read_ptr(item_array + ptr * k).value == id(o) for k, o in enumerate(items))
        ok &= read_ptr(id({}) + t_off).value == id(dict)
        ok &= read_ptr(id(True) + t_off).value == id(bool)
        # NumPy's float64 scalar subclasses float and keeps its value where float does
        ok &= ctypes.c_double.from_address(id(np.float64(value)) + f_off).value == value
        return bool(ok), offsets
    except Exception:  # noqa: BLE001 - any surprise means: do not use the fast path
        return False, offsets


_LAYOUT_OK, (_T_OFF, _F_OFF, _N_OFF, _ITEMS_OFF) = _check_layouts()
#: True when :func:`read_annotations` may be used on this interpreter.
AVAILABLE = _LAYOUT_OK and os.environ.get("DETBENCH_PURE_PYTHON_READER", "") in ("", "0")

# type-object addresses, in the order the kernel takes them
_TYPES = (id(dict), id(list), id(int), id(float), id(bool), id(np.float64))
_KEY_NAMES = ("image_id", "category_id", "bbox", "area", "score", "id", "iscrowd")
_KEYS = tuple(sys.intern(k) for k in _KEY_NAMES)  # kept alive here: the kernel gets their addresses
_KEY_ADDRS = tuple(id(k) for k in _KEYS)


# -------------------------------------------------------------------- kernel


@numba.njit(cache=True, inline="always")
def _number(obj, t_int, t_float, t_f64):
    """(value, ok) of an exact int, float or numpy.float64; ok is False for any other type."""
    t = _load_i64(obj + _T_OFF)
    if t == t_float or t == t_f64:
        return _load_f64(obj + _F_OFF), True
    if t == t_int:
        v = _long_as_double(obj)
        if v == -1.0 and _clear_error() != 0:
            return 0.0, False
        return v, True
    return 0.0, False


@numba.njit(cache=True, inline="always")
def _lookup(mapping, key):
    """The value's address; 0 when the key is absent, -1 when the lookup raised (cleared)."""
    v = _dict_get(mapping, key)
    if v == 0 and _clear_error() != 0:
        return -1
    return v


@numba.njit(cache=True, inline="always")
def _exact_id(x):
    return abs(x) < _MAX_EXACT  # also False for NaN and inf


@numba.njit(cache=True, inline="always")
def _required(mapping, key, t_int, t_float, t_f64, is_id):
    """(value, ok) of a key that must hold a number (an exact float64 id when ``is_id``)."""
    v = _lookup(mapping, key)
    if v <= 0:
        return 0.0, False
    x, ok = _number(v, t_int, t_float, t_f64)
    return x, ok and (not is_id or _exact_id(x))


@numba.njit(cache=True)
def _read(parts, ground_truth, read_image_id, tps, keys, image_id, category_id, bbox, area, score, iscrowd, ids):
    """Fill the output arrays from a list of lists of dicts, in order.

    Returns (stop, finite): stop is -1 on success, else the index of the first
    annotation not handled; finite is False if a bbox, area or score read is NaN/inf.
    """
    t_list = tps[1]
    n_parts = _load_i64(parts + _N_OFF)
    finite = True
    k = 0
    for p in range(n_parts):
        if _load_i64(parts + _N_OFF) != n_parts:  # the outer list changed size: give up
            return k, finite
        lst = _load_i64(_load_i64(parts + _ITEMS_OFF) + 8 * p)
        if _load_i64(lst + _T_OFF) != t_list:
            return k, finite
        # strong references to the list and to each dict while it is read: a key whose __eq__ runs
        # Python code (inside a dict lookup) may empty the lists and free the dicts otherwise
        _incref(lst)
        n = _load_i64(lst + _N_OFF)
        ok = True
        for q in range(n):
            if k >= category_id.shape[0] or _load_i64(lst + _N_OFF) != n:  # a list changed size: give up
                ok = False
                break
            ann = _load_i64(_load_i64(lst + _ITEMS_OFF) + 8 * q)
            _incref(ann)
            ok = _read_one(
                ann, k, ground_truth, read_image_id, tps, keys, image_id, category_id, bbox, area, score, iscrowd, ids
            )
            _decref(ann)
            if not ok:
                break
            x = bbox[k, 0] + bbox[k, 1] + bbox[k, 2] + bbox[k, 3] + area[k]
            if not ground_truth:
                x += score[k]
            finite &= x - x == 0.0  # NaN for NaN or inf anywhere
            k += 1
        changed = _load_i64(lst + _N_OFF) != n
        _decref(lst)
        if not ok or changed:
            return k, finite
    if k != category_id.shape[0]:
        return k, finite
    return -1, finite


@numba.njit(cache=True, inline="always")
def _read_one(ann, k, ground_truth, read_image_id, tps, keys, image_id, category_id, bbox, area, score, iscrowd, ids):
    """Read annotation dict ``ann`` into row ``k``; False if it is outside the accepted case."""
    t_dict, t_list, t_int, t_float, t_bool, t_f64 = tps
    k_img, k_cat, k_bbox, k_area, k_score, k_id, k_crowd = keys
    if _load_i64(ann + _T_OFF) != t_dict:
        return False
    if read_image_id:
        x, ok = _required(ann, k_img, t_int, t_float, t_f64, True)
        if not ok:
            return False
        image_id[k] = x
    x, ok = _required(ann, k_cat, t_int, t_float, t_f64, True)
    if not ok:
        return False
    category_id[k] = x
    b = _lookup(ann, k_bbox)
    if b <= 0 or _load_i64(b + _T_OFF) != t_list or _load_i64(b + _N_OFF) != 4:
        return False
    items = _load_i64(b + _ITEMS_OFF)
    for j in range(4):
        x, ok = _number(_load_i64(items + 8 * j), t_int, t_float, t_f64)
        if not ok:
            return False
        bbox[k, j] = x
    v = _lookup(ann, k_area)
    if v < 0:
        return False
    if v == 0:
        area[k] = bbox[k, 2] * bbox[k, 3]
    else:
        x, ok = _number(v, t_int, t_float, t_f64)
        if not ok:
            return False
        area[k] = x
    if ground_truth:
        x, ok = _required(ann, k_id, t_int, t_float, t_f64, True)
        if not ok:
            return False
        ids[k] = x
        v = _lookup(ann, k_crowd)
        if v < 0:
            return False
        if v == 0:
            iscrowd[k] = False
        else:
            t = _load_i64(v + _T_OFF)
            if t != t_int and t != t_bool:
                return False
            x = _long_as_double(v)  # bool is an int subclass
            if x != 0.0 and x != 1.0:
                _clear_error()
                return False
            iscrowd[k] = x == 1.0
    else:
        x, ok = _required(ann, k_score, t_int, t_float, t_f64, False)
        if not ok:
            return False
        score[k] = x
    return True


@dataclass
class FastRead:
    """Arrays read by :func:`read_annotations` (float64; ``bbox`` ``(N, 4)``; ``iscrowd`` bool).

    ``image_id`` is empty unless asked for, ``score`` empty for ground truth,
    ``iscrowd``/``ids`` empty for detections. ``finite``: no NaN/inf in any
    bbox, area or score.
    """

    image_id: np.ndarray
    category_id: np.ndarray
    bbox: np.ndarray
    area: np.ndarray
    score: np.ndarray
    iscrowd: np.ndarray
    ids: np.ndarray
    finite: bool


def read_annotations(parts: list, n: int, kind: str, *, read_image_id: bool) -> FastRead | None:
    """Arrays of ``n`` annotation dicts held in ``parts`` (a list of lists), or None.

    ``parts`` is e.g. ``[anns]`` for one list, or the values of pycocotools'
    ``imgToAnns`` index; the annotations are read in order, list after list.
    ``kind`` is ``"gt"`` (reads ``id`` and ``iscrowd``, default 0) or ``"dt"``
    (reads ``score``). Always read: ``category_id``, ``bbox`` and ``area``
    (``w*h`` when absent); ``image_id`` when ``read_image_id``. None when the
    fast path is unavailable or any annotation is outside the accepted case
    (see the module docstring): the caller then runs the general path.
    """
    if not AVAILABLE or type(parts) is not list:
        return None
    ground_truth = kind == "gt"
    out = FastRead(
        image_id=np.empty(n if read_image_id else 0),
        category_id=np.empty(n),
        bbox=np.empty((n, 4)),
        area=np.empty(n),
        score=np.empty(0 if ground_truth else n),
        iscrowd=np.empty(n if ground_truth else 0, np.bool_),
        ids=np.empty(n if ground_truth else 0),
        finite=True,
    )
    stop, out.finite = _read(
        id(parts), ground_truth, read_image_id, _TYPES, _KEY_ADDRS,
        out.image_id, out.category_id, out.bbox, out.area, out.score, out.iscrowd, out.ids,
    )  # fmt: skip
    return out if stop == -1 else None
