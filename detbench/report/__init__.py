"""``detbench report``: the main job. Speed and accuracy of every primitive, side by side.

The built-in report runs on built-in data only (:mod:`detbench.synthetic` and the COCO val2014
subset shipped in :mod:`detbench.data`) and writes a folder::

    index.html        summary, figures inline, tables, notes, machine and versions
    *.png             every figure
    *.csv             every table
    results.json      every number (tables, parity figures, environment)

Layout of this package:

- :mod:`~detbench.report.framework`: :class:`Section`, :class:`ReportContext` (with the peer gate
  ``ctx.peer(name)``), :class:`Progress`, the run loop that turns a failing section into a note;
- :mod:`~detbench.report.peers`: every optional peer import (torchvision, pycocotools,
  faster-coco-eval, OpenCV, ensemble-boxes, scikit-image), each missing or incompatible one
  reported as :class:`~detbench.report.peers.PeerUnavailable`;
- :mod:`~detbench.report.sections`: one module per section and :data:`SECTIONS`, their order;
- :mod:`~detbench.report.writer`: index.html, CSV, results.json;
- timings come from :mod:`detbench._timing` (interleaved rounds, median and min-max).

``quick=True`` uses small sizes and few rounds; the full run takes a few minutes.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from detbench._timing import first_call_time
from detbench.report.framework import Progress, ReportContext, Section, run_sections, section
from detbench.report.peers import PeerUnavailable
from detbench.report.sections import SECTIONS
from detbench.report.sections.environment import environment_info
from detbench.report.sections.nms import apply_per_image, coco_stats, nms_variants
from detbench.report.sections.speed import SpeedCase, measure_case, speed_cases
from detbench.report.writer import write_report

__all__ = [
    "Section",
    "ReportContext",
    "Progress",
    "PeerUnavailable",
    "run_report",
    "SECTIONS",
    "section_keys",
    "environment_info",
    "write_report",
    "section",
    "SpeedCase",
    "speed_cases",
    "measure_case",
    "first_call_time",
    "apply_per_image",
    "coco_stats",
    "nms_variants",
]


def section_keys() -> list[str]:
    """The keys ``sections=`` (and ``detbench report --sections``) accepts, in report order."""
    return [k for k, _ in SECTIONS]


def _choose(sections: Iterable[str] | None) -> list[Any]:
    if sections is None:
        return [fn for _, fn in SECTIONS]
    wanted = list(sections)
    known = section_keys()
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise ValueError(f"sections: unknown {unknown}; choose from {known}")
    return [fn for k, fn in SECTIONS if k in wanted]


def run_report(
    out_dir: str | os.PathLike[str] = "detbench-report",
    *,
    quick: bool = True,
    seed: int = 0,
    sections: Iterable[str] | None = None,
    progress: bool = True,
    stream: Any = None,
) -> Path:
    """Run the report and write it to ``out_dir``; returns the path of ``index.html``.

    Parameters
    ----------
    out_dir: output folder (created if missing).
    quick: small sizes and few rounds.
    seed: seed of the built-in synthetic data.
    sections: keys of the sections to run (default: all, see :func:`section_keys`).
    progress: print progress on stderr (a bar on a terminal, plain lines otherwise).
    stream: where progress and notes go (default: ``sys.stderr``).

    A missing or incompatible optional peer never stops the report: its comparison is skipped with a
    note in the report and on ``stream``; a section that fails is replaced by its error.
    """
    chosen = _choose(sections)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stream = stream or sys.stderr
    bar = Progress(len(chosen), stream=stream, enabled=progress)
    ctx = ReportContext(out, quick=quick, seed=seed, progress=bar.step, warn=bar.message)
    t0 = time.perf_counter()
    # the machine table last (threading layer and load known then), shown first
    env = [fn for fn in chosen if getattr(fn, "key", "") == "environment"]
    results = run_sections([fn for fn in chosen if fn not in env] + env, ctx, bar)
    results = results[len(results) - len(env) :] + results[: len(results) - len(env)]
    bar.close()
    return write_report(
        results,
        out,
        quick,
        time.perf_counter() - t0,
        intro="Built-in data only. Speed ratios are measured in the same run (interleaved rounds); accuracy "
        "is checked against the reference implementations.",
    )
