"""The shared input rules of detbench/_validate.py: the dtype rule, flags, offsets and allocation sizes."""

from __future__ import annotations

import numpy as np
import pytest

from detbench._validate import as_float_array, check_alloc, check_bool, check_offset, float_target


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("<f4", np.float32),
        (">f4", np.float32),
        ("<f8", np.float64),
        (">f8", np.float64),
        ("f2", np.float32),
        ("i4", np.float64),
        (">i8", np.float64),
        ("u1", np.float64),
        ("?", np.float64),
    ],
)
def test_dtype_rule(dtype, expected):
    x = np.arange(6).reshape(2, 3).astype(dtype)
    arr = as_float_array(x, "x")
    assert arr.dtype == np.dtype(expected)
    assert arr.dtype.isnative and arr.flags.c_contiguous
    np.testing.assert_array_equal(arr, x.astype(np.float64))
    assert float_target(np.dtype(dtype), "x") == np.dtype(expected)


@pytest.mark.parametrize("dtype", ["c8", "U3", "O"])
def test_dtype_rule_refuses_others(dtype):
    with pytest.raises(ValueError, match="^x: "):
        as_float_array(np.zeros(3, dtype=dtype), "x")


def test_input_not_modified_and_not_aliased_when_converted():
    x = np.arange(4, dtype=">f4")
    before = x.copy()
    y = as_float_array(x, "x")
    y[0] = 99
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("bad", ["no", None, 0, 1, np.array([True]), "True"])
def test_check_bool_refuses_non_bools(bad):
    with pytest.raises(ValueError, match="^flag: expected True or False"):
        check_bool(bad, "flag")


def test_check_bool_accepts_bools():
    assert check_bool(True, "f") is True and check_bool(np.bool_(False), "f") is False


@pytest.mark.parametrize("bad", [True, False, np.array([0, 1]), 2, -1, 0.5, "1", None])
def test_check_offset_one_rule(bad):
    with pytest.raises(ValueError, match="^offset: expected 0 or 1"):
        check_offset(bad)


def test_check_offset_accepts_zero_and_one():
    assert check_offset(0) == 0.0 and check_offset(np.int64(1)) == 1.0 and check_offset(1.0) == 1.0


def test_check_alloc_names_argument_and_size():
    check_alloc((1000, 1000), 8, "shape")
    with pytest.raises(ValueError, match=r"^feature_shape: .*PiB.*\(100000, 100000, 100000\)"):
        check_alloc((100000, 100000, 100000), 4, "feature_shape")
