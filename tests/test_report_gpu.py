"""The report's gpu section: one line without a GPU; on the CUDA simulator (a test-only switch), rows whose
parity columns show equality with the CPU twins. No timed assertions."""

import json

import numpy as np
import pytest

import detbench
import detbench.cuda
from detbench.cuda import _cases, _runtime
from detbench.report import ReportContext, peers, run_report, section_keys
from detbench.report.sections import gpu as gpu_section

DRIVER_PROBLEM = "CUDA driver library cannot be found"


def no_gpu(monkeypatch):
    def missing():
        raise _runtime.CudaUnavailableError(f"detbench.cuda: no usable CUDA GPU: {DRIVER_PROBLEM}. A GPU is needed.")

    monkeypatch.setattr(_runtime, "simulating", lambda: False)
    monkeypatch.setattr(_runtime, "require_cuda", missing)


def no_torch_cuda(monkeypatch):
    def missing():
        raise peers.PeerUnavailable("torchvision CUDA", "torch sees no CUDA device")

    monkeypatch.setattr(peers, "torchvision_cuda", missing)


def test_gpu_is_a_listed_section():
    assert "gpu" in section_keys()
    assert section_keys().index("gpu") == section_keys().index("speed") + 1


def test_without_a_gpu_the_section_is_one_line_naming_the_driver_problem(monkeypatch, tmp_path):
    no_gpu(monkeypatch)
    sec = gpu_section.section_gpu(ReportContext(tmp_path, section_key="gpu"))
    assert sec.status == "ok" and not sec.tables and not sec.figures
    assert sec.text.count("<p>") == 1 and "\n" not in sec.text
    assert sec.text.startswith("<p>No GPU: ") and DRIVER_PROBLEM in sec.text
    assert sec.data == {"device": None, "reason": sec.data["reason"]} and DRIVER_PROBLEM in sec.data["reason"]


def test_the_simulator_is_not_a_gpu_without_the_switch(monkeypatch, tmp_path):
    monkeypatch.setattr(_runtime, "simulating", lambda: True)
    sec = gpu_section.section_gpu(ReportContext(tmp_path, section_key="gpu"))
    assert "simulator is not a GPU" in sec.text and not sec.tables


def test_the_report_still_builds_without_a_gpu(monkeypatch, tmp_path):
    no_gpu(monkeypatch)
    index = run_report(tmp_path, quick=True, sections=["gpu"], progress=False)
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results["sections"]) == ["gpu"] and results["sections"]["gpu"]["status"] == "ok"
    assert DRIVER_PROBLEM in index.read_text()


def test_compare_results_sees_a_difference():
    case = _cases.GpuCase("k", "s", 1, "box_iou", ())
    a = np.array([0.5, 0.25], np.float32)
    assert _cases.compare_results(case, a, a.copy()) == (0.0, True)
    diff, same = _cases.compare_results(case, a, np.array([0.5, 0.2500001], np.float32))
    assert not same and 0 < diff < 1e-6
    assert _cases.compare_results(case, a, a.astype(np.float64))[1] is False  # same values, other dtype
    assert _cases.compare_results(case, a, a[:1])[0] == np.inf
    order = _cases.GpuCase("k", "s", 1, "nms", (), compare="order")
    as_set = _cases.GpuCase("k", "s", 1, "nms", (), compare="set")
    assert _cases.compare_results(order, np.array([2, 1]), np.array([1, 2]))[0] == 1
    assert _cases.compare_results(as_set, np.array([2, 1]), np.array([1, 2])) == (0.0, True)


def test_the_benchmark_builds_its_inputs_from_the_shared_cases():
    from benchmarks import bench_cuda

    assert bench_cuda._boxes is _cases.random_boxes and bench_cuda._rois is _cases.random_rois


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """The section on the CUDA simulator (or a real GPU) with tiny sizes, torchvision CUDA hidden."""
    if not (_runtime.simulating() or _runtime.is_available()):
        pytest.skip("needs the CUDA simulator (NUMBA_ENABLE_CUDASIM=1, set by conftest) or a GPU")
    mp = pytest.MonkeyPatch()
    no_torch_cuda(mp)
    out = tmp_path_factory.mktemp("gpu")
    ctx = ReportContext(out, quick=True, options={"gpu_simulator": True, "gpu_sizes": "tiny"}, section_key="gpu")
    try:
        yield gpu_section.section_gpu(ctx), ctx, out
    finally:
        mp.undo()


def test_simulated_rows_equal_the_cpu_twins(simulated):
    sec, ctx, out = simulated
    table = sec.tables["gpu"]
    cases = _cases.gpu_cases("tiny")
    assert [(r.primitive, r.size) for r in table.itertuples()] == [(c.kernel, c.size) for c in cases]
    assert {c.name for c in cases} == set(detbench.cuda.__all__) - {"CudaUnavailableError", "is_available"}
    assert (table["peer"] == "detbench CPU").all()  # torchvision CUDA hidden: the CPU twin is the comparison
    assert (table["max_diff_cpu"] == 0).all() and table["identical_cpu"].map(bool).all()
    assert table["max_diff_torchvision"].isna().all()
    assert (table["detbench_ms"] > 0).all() and (table["peer_ms"] > 0).all() and table["speedup"].notna().all()
    assert not any("bit-identical" in n for n in ctx.notes)
    assert any("torchvision CUDA unavailable" in n for n in ctx.notes)
    assert ("simulator" in sec.text) == _runtime.simulating() and f"{len(table)} of {len(table)} rows" in sec.text
    assert sec.figures and (out / sec.figures[0][0]).stat().st_size > 1000
    # the tiny cases are not trivial: NMS suppresses some boxes and keeps others
    nms = next(c for c in cases if c.name == "nms")
    kept = detbench.nms(*nms.arrays, *nms.params)
    assert 0 < kept.size < len(nms.arrays[0])
    batched = next(c for c in cases if c.name == "batched_nms")
    assert 0 < detbench.batched_nms(*batched.arrays, *batched.params).size < len(batched.arrays[0])


def test_a_gpu_result_off_by_one_ulp_shows_in_the_parity_columns(monkeypatch, tmp_path):
    if not (_runtime.simulating() or _runtime.is_available()):
        pytest.skip("needs the CUDA simulator (NUMBA_ENABLE_CUDASIM=1, set by conftest) or a GPU")
    no_torch_cuda(monkeypatch)
    only_iou = [c for c in _cases.gpu_cases("tiny") if c.name == "box_iou"]
    monkeypatch.setattr(_cases, "gpu_cases", lambda mode, seed=0: only_iou)
    real = detbench.cuda.box_iou

    def off(a, b, **kwargs):
        out = real(a, b, **kwargs)
        host = out.copy_to_host()
        host[0, 0] = np.nextafter(host[0, 0], np.float32(2))
        return _runtime.get_cuda().to_device(host)

    monkeypatch.setattr(detbench.cuda, "box_iou", off)
    ctx = ReportContext(tmp_path, quick=True, options={"gpu_simulator": True, "gpu_sizes": "tiny"}, section_key="gpu")
    sec = gpu_section.section_gpu(ctx)
    row = sec.tables["gpu"].iloc[0]
    assert 0 < row["max_diff_cpu"] < 1e-6 and not row["identical_cpu"]
    assert any("not bit-identical" in n for n in ctx.notes) and "0 of 1 rows" in sec.text
