"""Shared pieces of the CUDA tests (no tests here): small launch settings, strict device-array
reshapes under the simulator, and GPU arrays that only expose ``__cuda_array_interface__``."""

import importlib.util
from pathlib import Path

import numpy as np

from detbench.boxes import gpu_overlap as gpu_boxes
from detbench.cuda import _common, _runtime
from detbench.nms import _gpu_sort
from detbench.nms import gpu_greedy as gpu_nms
from detbench.nms import gpu_soft as gpu_soft_nms
from detbench.roi import gpu_roi


def shrink(monkeypatch):
    """Launch settings small enough that tiny inputs span several blocks, tiles and chunks."""
    monkeypatch.setattr(gpu_boxes, "IOU_BLOCK", (4, 3))
    monkeypatch.setattr(gpu_boxes, "IOU_ROWS", 2)
    monkeypatch.setattr(gpu_nms, "NMS_TILE", 8)
    monkeypatch.setattr(gpu_nms, "NMS_CHUNK", 16)
    monkeypatch.setattr(gpu_nms, "NMS_THREADS", 16)
    monkeypatch.setattr(gpu_nms, "NMS_CROSS_Y", 2)
    monkeypatch.setattr(gpu_nms, "NMS_REDUCE_THREADS", 4)
    monkeypatch.setattr(gpu_nms, "NMS_SMALL_MAX", 16)  # one-launch path up to 16 boxes, chunks above
    monkeypatch.setattr(gpu_nms, "NMS_SMALL_THREADS", 4)
    monkeypatch.setattr(gpu_soft_nms, "SOFT_THREADS", 8)
    monkeypatch.setattr(_gpu_sort, "SORT_BLOCK", 16)
    monkeypatch.setattr(gpu_roi, "ROI_THREADS", 16)


def _real_dummyarray():
    """numba-cuda's own device-array layout logic (the simulator replaces the package that holds it)."""
    import numba_cuda

    path = Path(numba_cuda.__file__).parent / "numba" / "cuda" / "cudadrv" / "dummyarray.py"
    spec = importlib.util.spec_from_file_location("_detbench_real_dummyarray", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def strict_reshapes(monkeypatch):
    """Under the simulator, make device-array ``reshape``/``ravel``/``view`` behave as on a GPU.

    The simulator's fake device arrays reshape like NumPy arrays (copying when needed); a real
    Numba device array raises ``NotImplementedError: operation requires copying`` whenever the
    reshaped layout is not one contiguous extent of the original, which numba-cuda decides with
    its ``dummyarray`` module. This applies that same rule to the fake arrays.
    """
    if not _runtime.simulating():
        return
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    dummy = _real_dummyarray()
    real_reshape = FakeCUDAArray.reshape

    def reshape(self, *newshape, **kws):
        if len(newshape) == 1 and isinstance(newshape[0], (tuple, list)):
            newshape = tuple(newshape[0])
        if tuple(newshape) != tuple(self.shape):
            arr = dummy.Array.from_desc(0, self.shape, self.strides, self.dtype.itemsize)
            _, extents = arr.reshape(*newshape, **kws)
            if extents != [arr.extent]:
                raise NotImplementedError("operation requires copying")
        return real_reshape(self, *newshape, **kws)

    def refuse(self, *args, **kwargs):
        raise NotImplementedError("ravel/view of a device array: not allowed in detbench.cuda (may need a copy)")

    monkeypatch.setattr(FakeCUDAArray, "reshape", reshape)
    monkeypatch.setattr(FakeCUDAArray, "ravel", refuse)
    monkeypatch.setattr(FakeCUDAArray, "view", refuse)


class InterfaceOnly:
    """A GPU array seen only through ``__cuda_array_interface__`` (as CuPy arrays and torch CUDA
    tensors are). On a GPU it describes a Numba device array's memory; under the simulator,
    where device memory is host memory, a NumPy array's (strides included)."""

    def __init__(self, host, device=None):
        self._keep = (host, device)
        if device is not None:
            self._desc = dict(device.__cuda_array_interface__)
        else:
            desc = host.__array_interface__
            self._desc = {
                "shape": tuple(host.shape),
                "typestr": desc["typestr"],
                "data": desc["data"],
                "strides": None if host.flags.c_contiguous and 0 not in host.strides else tuple(host.strides),
                "version": 3,
            }

    @property
    def __cuda_array_interface__(self):
        return self._desc


def as_interface(host):
    """``host`` (copied to the GPU when there is one) exposed only through the interface."""
    if _runtime.simulating():
        return InterfaceOnly(host)
    from numba import cuda

    return InterfaceOnly(host, cuda.to_device(host))


def strided_device(host, axis=-1):
    """A non-contiguous device view equal to ``host``: every other element along ``axis`` of a
    device array twice as long (filled with NaN in between, which must never be read)."""
    from numba import cuda

    shape = list(host.shape)
    shape[axis] *= 2
    big = np.full(shape, np.nan, host.dtype)
    sl = [slice(None)] * host.ndim
    sl[axis] = slice(None, None, 2)
    big[tuple(sl)] = host
    view = cuda.to_device(big)[tuple(sl)]
    assert not view.is_c_contiguous()
    return view


__all__ = ["shrink", "strict_reshapes", "as_interface", "strided_device", "InterfaceOnly", "_common"]
