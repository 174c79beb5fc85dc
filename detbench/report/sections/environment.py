"""Machine and versions: what a reader needs to judge the timings (CPU, threads, commit)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from detbench._timing import steady_allocator
from detbench.report import peers
from detbench.report.framework import ReportContext, Section, section

_DISTRIBUTIONS = (
    "detbench",
    "numba",
    "numpy",
    "pandas",
    "matplotlib",
    "pycocotools",
    "torch",
    "torchvision",
    "faster-coco-eval",
    "opencv-python-headless",
    "opencv-python",
    "ensemble-boxes",
    "scikit-image",
    "numba-cuda",
)


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, macOS sysctl), else platform's guess, else "unknown"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


def git_state(path: Path | None = None) -> dict[str, Any]:
    """``{"commit": hash or "unknown", "dirty": bool or None}`` of the checkout holding detbench."""
    where = path or Path(__file__).resolve().parents[3]
    try:
        head = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return {"commit": "unknown (not a git checkout)", "dirty": None}
        status = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown (git not found)", "dirty": None}


def environment_info() -> dict[str, Any]:
    """Machine, threads of Numba and torch, commit and package versions."""
    import numba

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "numba_threads": numba.get_num_threads(),
        "torch_threads": peers.torch_threads(),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
        "NUMBA_THREADING_LAYER": os.environ.get("NUMBA_THREADING_LAYER", "(unset)"),
        "steady_allocator": steady_allocator(),
        **git_state(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    try:
        info["numba_threading_layer"] = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        info["numba_threading_layer"] = "not initialised"
    from importlib import metadata

    versions = {}
    for dist in _DISTRIBUTIONS:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    info["versions"] = versions
    return info


def machine_key(info: dict[str, Any]) -> str:
    """A short file-name-safe key of the machine: CPU model, usable cores, Numba threads."""
    text = f"{info.get('cpu_model', 'unknown')}-{info.get('cpus_usable')}c-{info.get('numba_threads')}t"
    return "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in text)[:80]


@section("environment", "Machine and versions")
def section_environment(ctx: ReportContext) -> Section:
    info = environment_info()
    rows = [(k, v) for k, v in info.items() if k != "versions"] + [
        (f"version: {k}", v) for k, v in info["versions"].items()
    ]
    table = pd.DataFrame(rows, columns=["item", "value"]).astype({"value": str})
    if info.get("dirty"):
        ctx.note("the checkout has uncommitted changes: the commit hash does not describe the code measured")
    return Section("environment", "Machine and versions", tables={"environment": table}, data=info)
