"""Import safety, availability and error messages of detbench.cuda, and the PTX check.

The subprocess tests run with the simulator off, as on a user's machine.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import detbench.cuda as dcuda
from detbench.cuda import _runtime

ROOT = Path(__file__).resolve().parents[1]


def run_python(code, *, sim="0", timeout=120):
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM=sim, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc


def test_simulator_counts_as_available():
    # conftest.py turned the simulator on before numba was imported (unless a GPU run set it to 0)
    assert _runtime.simulating() == (os.environ["NUMBA_ENABLE_CUDASIM"] == "1")
    assert dcuda.is_available() is True


def test_import_does_not_touch_cuda_and_missing_gpu_is_named():
    proc = run_python(
        """
        import json, sys
        import numpy as np
        import detbench, detbench.cuda as dc
        imported = "numba.cuda" in sys.modules
        avail = dc.is_available()
        err = None
        if not avail:
            try:
                dc.box_iou(np.zeros((1, 4)), np.zeros((1, 4)))
            except dc.CudaUnavailableError as exc:
                err = str(exc)
        print(json.dumps({"imported": imported, "avail": avail, "err": err}))
        """
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["imported"] is False  # importing detbench.cuda did not import numba.cuda
    if res["avail"]:
        pytest.skip("a real GPU is present: the no-GPU error cannot be produced here")
    assert "no usable CUDA GPU" in res["err"]
    assert "driver" in res["err"].lower()
    assert "NUMBA_ENABLE_CUDASIM=1" in res["err"]


def test_missing_numba_cuda_is_named():
    proc = run_python(
        """
        import importlib.abc, json, sys
        import numpy as np

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name in ("numba.cuda", "numba_cuda") or name.startswith(("numba.cuda.", "numba_cuda.")):
                    raise ImportError(f"No module named {name!r} (blocked for the test)")
                return None

        sys.meta_path.insert(0, Block())
        import detbench.cuda as dc
        out = {"avail": dc.is_available()}
        for fn, args in [
            (dc.box_iou, (np.zeros((1, 4)), np.zeros((1, 4)))),
            (dc.nms, (np.zeros((1, 4)), np.zeros(1), 0.5)),
            (dc.roi_align, (np.zeros((1, 1, 2, 2)), np.zeros((1, 5)), 1)),
        ]:
            try:
                fn(*args)
            except dc.CudaUnavailableError as exc:
                out[fn.__name__] = str(exc)
        print(json.dumps(out))
        """
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["avail"] is False
    for name in ("box_iou", "nms", "roi_align"):  # the first call names what is missing
        assert "needs numba-cuda" in res[name] and "pip install" in res[name]


def test_error_is_a_runtime_error():
    assert issubclass(dcuda.CudaUnavailableError, RuntimeError)


def test_ptx_has_no_fused_multiply_add_and_no_stray_float64():
    """Compile every kernel for sm_90 with NVVM (no GPU needed) and check the instructions.

    Also a negative control: a plain ``a * b + c`` kernel must be flagged, proving the
    check can fail. Skipped only where libnvvm is not installed.
    """
    proc = run_python(
        """
        import json
        from numba import cuda
        from numba import types as nbt
        from detbench.cuda import _ptx
        try:
            ptx = _ptx.kernel_ptx((9, 0))
        except Exception as exc:
            if "nvvm" in f"{type(exc).__name__} {exc}".lower():
                print(json.dumps({"nvvm": str(exc)}))
                raise SystemExit(0)
            raise

        def fused(a, b):
            i = cuda.grid(1)
            if i < a.size:
                b[i] = a[i] * a[i] + b[i]

        control, _ = cuda.compile_ptx(fused, (nbt.float32[::1], nbt.float32[::1]), cc=(9, 0))
        print(json.dumps({
            "n_specs": 2 * len(_ptx.kernel_specs("float32")),
            "kernels": sorted(ptx),
            "problems": _ptx.problems(ptx),
            "control": _ptx.problems({"iou-float32": control}),
        }))
        """,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if "nvvm" in res:
        pytest.skip(f"libnvvm not installed: {res['nvvm']}")
    assert len(res["kernels"]) == res["n_specs"] >= 40  # every kernel of every family, both dtypes
    assert res["problems"] == []
    assert any("fused multiply-add" in p for p in res["control"])


def test_device_array_detection():
    from numba import cuda

    x = np.zeros((2, 4))
    assert not _runtime.is_device_array(cuda, x)
    assert _runtime.is_device_array(cuda, cuda.to_device(x))
    assert not _runtime.is_device_array(cuda, [[0, 0, 1, 1]])


def test_numpy_without_row_stack_is_patched_before_numba_cuda():
    """numba-cuda <= 0.30.4 registers an overload of ``np.row_stack`` (removed in NumPy 2.5) when it
    first compiles; detbench.cuda restores the alias before importing numba.cuda, so compiling works."""
    proc = run_python(
        """
        import json
        import numpy as np
        del np.row_stack  # as in NumPy 2.5
        from detbench.cuda import _runtime
        cuda = _runtime.get_cuda()
        from numba import types as nbt

        def k(a):
            a[0] = 1.0

        out = {"alias": np.row_stack is np.vstack}
        try:
            cuda.compile_ptx(k, (nbt.float32[::1],), cc=(9, 0))
            out["compiled"] = True
        except Exception as exc:
            out["compiled"] = f"{type(exc).__name__}: {exc}"
        print(json.dumps(out))
        """,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["alias"] is True
    if isinstance(res["compiled"], str) and "nvvm" in res["compiled"].lower():
        pytest.skip(f"libnvvm not installed: {res['compiled']}")
    assert res["compiled"] is True


def test_import_failure_names_versions_and_fix(monkeypatch):
    def broken():
        raise AttributeError("module 'numpy' has no attribute 'row_stack'")

    monkeypatch.setattr(_runtime, "patch_numpy_for_numba_cuda", broken)
    with pytest.raises(AttributeError):
        _runtime._import_cuda()  # the patch itself failing is not hidden
    monkeypatch.undo()
    import builtins

    real_import = builtins.__import__

    def fake_import(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "numba" and fromlist and "cuda" in fromlist:
            raise AttributeError("module 'numpy' has no attribute 'row_stack'")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(dcuda.CudaUnavailableError) as info:
        _runtime.get_cuda()
    msg = str(info.value)
    assert f"numpy {np.__version__}" in msg and "numba-cuda" in msg and "pip install" in msg
