"""detbench.cuda's kernels on the GPU against torchvision's CUDA ops (or the CPU twins), when a GPU is here.

The cases are :func:`detbench.cuda._cases.gpu_cases`: the inputs come from the generators and
seeds ``benchmarks/bench_cuda.py`` uses (same data at the sizes both run). Inputs are copied to
the device once per case; every timed call runs on device arrays, leaves its result on the device
and synchronises the device before it returns, so a time is the kernel's work, not a transfer
(box_iou writes into one preallocated output, ``out=``, as the benchmark does). Timing and the
table's shape are the speed section's (:func:`detbench.report.sections.speed.time_case`,
:func:`~.speed.case_rows`): median and min-max over interleaved rounds, the speedup round by round.
Parity columns: each result against the CPU twin's (``max_diff_cpu``, ``identical_cpu`` = bit for
bit) and against torchvision's (``max_diff_torchvision``).

Without a usable GPU the section is one line saying why (the driver's problem when detbench.cuda
reports one). Numba's CUDA simulator is not a GPU: it counts only when the report's option
``gpu_simulator`` is set (tests), and then with tiny sizes. The option ``gpu_sizes`` (a key of
:data:`detbench.cuda._cases.SIZES`) overrides the sizes.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from detbench.report import peers
from detbench.report.framework import ReportContext, Section, section
from detbench.report.sections.speed import SpeedCase, case_rows, speedup_figure, time_case

TITLE = "GPU kernels (detbench.cuda) against torchvision CUDA"


def gpu_status(allow_simulator: bool = False) -> tuple[Any, str]:
    """``(numba.cuda, description of the device)`` when a GPU can run detbench.cuda, else ``(None, reason)``.

    The simulator counts as a device only with ``allow_simulator``."""
    from detbench.cuda import _runtime

    sim = _runtime.simulating()
    if sim and not allow_simulator:
        return None, "NUMBA_ENABLE_CUDASIM is on: Numba's CUDA simulator is not a GPU, so nothing was timed"
    try:
        cuda = _runtime.require_cuda()
    except _runtime.CudaUnavailableError as exc:
        return None, " ".join(str(exc).split())
    if sim:
        return cuda, "Numba's CUDA simulator (not a GPU: correctness only, the times mean nothing)"
    parts = []
    try:
        dev = cuda.get_current_device()
        name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
        parts.append(f"{name} (compute capability {'.'.join(map(str, dev.compute_capability))})")
    except Exception as exc:  # pragma: no cover - depends on the driver
        parts.append(f"a CUDA device ({exc.__class__.__name__}: {exc})")
    try:
        from numba.cuda.cudadrv.driver import driver

        major, minor = driver.get_version()
        parts.append(f"CUDA driver API {major}.{minor}")
    except Exception:  # pragma: no cover - depends on the install
        pass
    return cuda, ", ".join(parts)


def _synced(fn: Any, sync: Any) -> Any:
    def call() -> Any:
        out = fn()
        sync()
        return out

    return call


def gpu_rows(ctx: ReportContext, cuda: Any, mode: str) -> list[dict[str, Any]]:
    """Time and check every case of ``gpu_cases(mode)``: the speed section's rows plus parity columns."""
    from detbench.cuda._cases import compare_results, gpu_cases

    try:
        tv = peers.torchvision_cuda()
    except peers.PeerUnavailable as exc:
        ctx.note(f"torchvision CUDA unavailable, the CPU twins are the comparison: {exc.reason}")
        tv = None
    rows = []
    cases = gpu_cases(mode, ctx.seed)
    for i, case in enumerate(cases):
        ctx.progress(f"gpu: {case.kernel} {case.size} ({i + 1}/{len(cases)})")
        ours = _synced(case.gpu_call(cuda.to_device, cuda.device_array), cuda.synchronize)
        cpu = case.cpu_call() if case.reference else None
        theirs = None
        if tv is not None and case.torchvision:
            theirs = _synced(case.torchvision_call(tv.ops, tv.to_device), tv.synchronize)
        contenders = {}
        if theirs is not None:
            contenders["torchvision CUDA"] = theirs
        # the CPU twin races too where torchvision cannot, and for NMS (the GPU must beat the CPU there)
        if cpu is not None and (theirs is None or case.name in ("nms", "batched_nms")):
            contenders["detbench CPU"] = cpu
        timed = SpeedCase(case.kernel, case.size, ours, contenders, case.order)
        result = time_case(timed, ctx.quick)  # first: its first call is the first in this process
        got = ours()
        parity: dict[str, Any] = {"max_diff_cpu": np.nan, "identical_cpu": None, "max_diff_torchvision": np.nan}
        if cpu is not None:
            parity["max_diff_cpu"], parity["identical_cpu"] = compare_results(case, got, cpu())
            if case.identical and not parity["identical_cpu"]:
                ctx.note(f"{case.kernel} {case.size}: not bit-identical to the CPU twin, as promised")
        if theirs is not None:
            parity["max_diff_torchvision"] = compare_results(case, got, theirs())[0]
        parity["identical_promised"] = case.identical
        rows += [{**row, **parity} for row in case_rows(timed, [result])]
    return rows


@section("gpu", TITLE)
def section_gpu(ctx: ReportContext) -> Section:
    allow_sim = bool(ctx.options.get("gpu_simulator", False))
    cuda, device = gpu_status(allow_sim)
    if cuda is None:
        return Section(
            "gpu", TITLE, text=f"<p>No GPU: {html.escape(device)}.</p>", data={"device": None, "reason": device}
        )
    from detbench.cuda._runtime import simulating

    mode = ctx.options.get("gpu_sizes") or ("tiny" if simulating() else ("quick" if ctx.quick else "full"))
    table = pd.DataFrame(gpu_rows(ctx, cuda, mode))
    figures = []
    name = speedup_figure(ctx, table, "gpu_speedup.png")
    if name:
        figures.append((name, "Speedup of detbench.cuda over torchvision CUDA / the CPU twin (min-max whiskers)."))
    with_peer = table.dropna(subset=["speedup"])
    summary = ""
    if len(with_peer):
        summary = (
            "GPU ("
            + device.split(" (")[0]
            + "): detbench.cuda is "
            + ", ".join(f"{float(np.exp(np.log(g['speedup']).mean())):.3g}x {p}" for p, g in with_peer.groupby("peer"))
            + " (geometric means)."
        )
    bad = table[(table["identical_promised"] == True) & (table["identical_cpu"] == False)]  # noqa: E712
    text = (
        f"<p>Device: {html.escape(device)}. detbench.cuda's kernels ({mode} sizes) on device arrays, results left "
        "on the device, the device synchronised inside every timed call (so are torchvision's); times in "
        "milliseconds, timed as in the speed section (median over interleaved rounds, min-max; speedup = the "
        "other's time / detbench.cuda's). Parity: max |diff| of each result against detbench's CPU twin and "
        "torchvision's (index arrays compared element by element; as sets where the tie order may differ), and "
        f"whether it is bit-identical to the CPU twin ({len(table) - len(bad)} of {len(table)} rows keep the "
        "promise).</p>"
    )
    return Section(
        "gpu",
        TITLE,
        text=text,
        tables={"gpu": table.drop(columns=["order"])},
        figures=figures,
        data={"device": device, "mode": mode, "rows": table.to_dict(orient="records")},
        summary=summary,
    )
