"""Scratch and result buffers of detbench.cuda (the pool's size classes, cached scratch views)."""

import numpy as np

from detbench.cuda import _common
from detbench.cuda._runtime import get_cuda


def test_size_classes_cover_the_request_with_little_slack():
    for nbytes in [1, 511, 512, 513, 1000, 4096, 4097, 50_176_000, 1_600_000_000, (1 << 33) + 7]:
        cls = _common._size_class(nbytes)
        assert cls >= max(nbytes, 512)
        assert cls <= max(nbytes, 512) * 1.125 + 1
        assert _common._size_class(cls) == cls  # a class is its own class


def test_result_array_shape_dtype_and_contiguity():
    cuda = get_cuda()
    for shape, dtype in [((3, 4), np.float32), ((0,), np.int64), ((2, 3, 5, 7), np.float64)]:
        a = _common.result_array(cuda, shape, dtype)
        assert tuple(a.shape) == shape and np.dtype(a.dtype) == np.dtype(dtype)
        assert a.is_c_contiguous()


def test_workspace_views_are_reused_and_follow_a_regrown_buffer():
    cuda = get_cuda()
    _common.clear_workspace()
    a = _common.workspace(cuda, "t", (5, 4), np.float32)
    assert _common.workspace(cuda, "t", (5, 4), np.float32) is a  # cached view
    a.copy_to_device(np.arange(20, dtype=np.float32).reshape(5, 4))
    b = _common.workspace(cuda, "t", (50, 4), np.float32)  # grows: a new buffer
    assert tuple(b.shape) == (50, 4)
    c = _common.workspace(cuda, "t", (5, 4), np.float32)
    assert c is not a and tuple(c.shape) == (5, 4)  # the old buffer's views are forgotten
    _common.clear_workspace()
