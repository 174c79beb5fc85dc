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
from detbench.report.sections import BASELINE_SECTION, HISTORY_SECTION, SECTIONS, USER_SECTIONS
from detbench.report.sections.environment import environment_info, machine_key
from detbench.report.sections.history import load_record, write_history
from detbench.report.sections.nms import apply_per_image, coco_stats, nms_variants
from detbench.report.sections.speed import SpeedCase, measure_case, speed_cases
from detbench.report.sections.user_data import parse_detectors
from detbench.report.writer import results_dict, write_report

__all__ = [
    "Section",
    "ReportContext",
    "Progress",
    "PeerUnavailable",
    "run_report",
    "SECTIONS",
    "USER_SECTIONS",
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


def section_keys(user_data: bool | None = False) -> list[str]:
    """The keys ``sections=`` accepts, in report order: of the built-in report (``user_data=False``),
    of the report on the user's data (True), or of both (None)."""
    lists = {False: [SECTIONS], True: [USER_SECTIONS], None: [SECTIONS, USER_SECTIONS]}[user_data]
    return list(dict.fromkeys(k for table in lists for k, _ in table))


def _choose(sections: Iterable[str] | None, user_data: bool) -> list[Any]:
    table = USER_SECTIONS if user_data else SECTIONS
    if sections is None:
        return [fn for _, fn in table]
    wanted = list(sections)
    known = [k for k, _ in table]
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise ValueError(f"sections: unknown {unknown}; choose from {known}")
    return [fn for k, fn in table if k in wanted]


def run_report(
    out_dir: str | os.PathLike[str] = "detbench-report",
    *,
    quick: bool = True,
    seed: int = 0,
    sections: Iterable[str] | None = None,
    progress: bool = True,
    stream: Any = None,
    gt: str | os.PathLike[str] | None = None,
    dt: dict[str, str] | Iterable[str] | None = None,
    history: str | os.PathLike[str] | None = None,
    baseline: str | os.PathLike[str] | None = None,
    asv_results: str | os.PathLike[str] | None = ".asv/results",
    formats: dict[str, Any] | None = None,
    processes: int = 3,
    protocol: str = "coco",
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
    gt, dt: the user's COCO ground truth and detectors (``{name: results path}`` or ``["NAME=PATH", ...]``):
        a report on that data instead of the built-in one.
    history: a folder that keeps every run's results (``<time>_<commit>_<machine>.json``); adds the history
        section when it holds earlier runs of this machine.
    baseline: a history record, a results.json or a history folder (its newest record): adds a section with
        each speed case's time against it, flagging changes beyond both runs' min-max.
    asv_results: asv's results folder; the history section also plots it when it exists.
    formats: how ``gt`` and ``dt`` are read (default COCO JSON): ``{"gt_format", "dt_format"}`` (``coco``, ``voc``,
        ``yolo``, ``text``), ``names``, ``image_sizes``, ``gt_box_format``, ``dt_box_format`` as in
        :mod:`detbench.eval.formats` (folders are then accepted where a format reads per-image files).
    processes: fresh processes each speed case is timed in (the median over them is reported; 1: in this
        process, the old behaviour). Speeds such as torch's two-thread path differ between processes.
    protocol: how the user's detectors are evaluated: ``"coco"`` (COCOeval) or ``"lvis"`` (LVISEval, lvis-api's
        federated evaluation; ``gt`` must be an LVIS file: ValueError naming the LVIS field it lacks).

    A missing or incompatible optional peer never stops the report: its comparison is skipped with a
    note in the report and on ``stream``; a section that fails is replaced by its error.
    """
    from detbench._validate import check_int

    processes = check_int(processes, "processes", low=1)
    if protocol not in ("coco", "lvis"):
        raise ValueError(f"protocol: expected 'coco' or 'lvis', got {protocol!r}")
    user_data = gt is not None or dt is not None
    if protocol == "lvis" and not user_data:
        raise ValueError("protocol: 'lvis' evaluates your detectors: give --gt and --dt")
    if user_data:
        if gt is None or not dt:
            raise ValueError("gt, dt: the report on your data needs both a ground truth and at least one detector")
        dt = parse_detectors(list(dt)) if not isinstance(dt, dict) else {str(k): str(v) for k, v in dt.items()}
        fm = formats or {}
        from detbench.eval.formats import FORMATS

        for key in ("gt_format", "dt_format"):
            if (fm.get(key) or "coco") not in FORMATS:
                raise ValueError(f"formats[{key!r}]: expected one of {list(FORMATS)}, got {fm.get(key)!r}")
        for name, path in {"gt": gt, **{f"dt {k}": v for k, v in dt.items()}}.items():
            folder_ok = (fm.get("gt_format" if name == "gt" else "dt_format") or "coco") != "coco"
            if not (Path(path).is_file() or (folder_ok and Path(path).is_dir())):
                raise ValueError(f"{name}: no such file {str(path)!r}")
        if protocol == "lvis":
            from detbench.report.sections.user_lvis import load_lvis_gt

            for key in ("gt_format", "dt_format"):
                if (fm.get(key) or "coco") != "coco":
                    raise ValueError(f"protocol lvis: reads LVIS / COCO JSON only, got {key} {fm.get(key)!r}")
            lvis_gt = load_lvis_gt(gt)  # refuses a ground truth without LVIS' fields, before any section runs
    chosen = _choose(sections, user_data)
    base = load_record(baseline) if baseline is not None else None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stream = stream or sys.stderr
    extra = int(base is not None) + int(history is not None and not user_data)
    bar = Progress(len(chosen) + extra, stream=stream, enabled=progress)
    info = environment_info()
    meta = {"commit": info["commit"], "dirty": info["dirty"], "machine": machine_key(info), "mode": "built-in"}
    options: dict[str, Any] = {"machine": meta["machine"], "processes": processes}
    if user_data:
        options.update(gt=str(gt), dt=dt, formats=dict(formats or {}))
        meta.update(mode="user data", gt=str(gt), dt=dt)
        if protocol == "lvis":
            options.update(protocol="lvis", _lvis_gt=lvis_gt)
            meta["protocol"] = "lvis"
    if base is not None:
        options["baseline"] = base
    if history is not None:
        options["history"] = str(history)
        options["asv_results"] = str(asv_results) if asv_results is not None else None
    ctx = ReportContext(out, quick=quick, seed=seed, progress=bar.step, warn=bar.message, options=options)
    t0 = time.perf_counter()
    # the machine table last (threading layer and load known then), shown first
    env = [fn for fn in chosen if getattr(fn, "key", "") == "environment"]
    results = run_sections([fn for fn in chosen if fn not in env] + env, ctx, bar)
    results = results[len(results) - len(env) :] + results[: len(results) - len(env)]
    if base is not None:
        results += run_sections([BASELINE_SECTION], ctx, bar)
    if history is not None:
        try:
            path = write_history(results_dict(results, quick, time.perf_counter() - t0, meta), history)
            bar.message(f"detbench report: results kept in {path}")
        except (OSError, TypeError, ValueError) as exc:  # the report itself is still written
            bar.message(f"detbench report: could not keep the results in {history}: {exc}")
        if not user_data:  # timings over commits: the built-in report's speed rows
            results += run_sections([HISTORY_SECTION], ctx, bar)
    bar.close()
    if user_data:
        intro = (
            f"Your data: ground truth <code>{gt}</code>, detectors " + ", ".join(f"<code>{k}</code>" for k in dt) + "."
        )
        if protocol == "lvis":
            intro += " Protocol: LVIS' federated evaluation (lvis-api's numbers)."
    else:
        intro = (
            "Built-in data only. Speed ratios are measured in the same run (interleaved rounds); accuracy "
            "is checked against the reference implementations."
        )
    return write_report(results, out, quick, time.perf_counter() - t0, intro=intro, meta=meta)
