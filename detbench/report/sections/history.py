"""Regression view: every run's results kept in a history folder; ratios to a baseline; timings over commits.

A history record is the run's ``results.json`` plus ``commit``, ``dirty`` and ``machine``, written as
``<history>/<UTC time>_<commit>_<machine>.json``. ``--baseline PATH`` takes such a record (or any
report's results.json, or a folder: its newest record) and compares each speed row with it.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from detbench.report.framework import ReportContext, Section, section
from detbench.report.writer import json_default

KEY = ("primitive", "size", "peer")


def write_history(results: dict[str, Any], folder: str | Path) -> Path:
    """Write ``results`` (with its ``commit``/``machine`` meta) to the history ``folder``; returns the file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    commit = str(results.get("commit", "unknown"))[:12] + ("-dirty" if results.get("dirty") else "")
    name = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}_{commit}_{results.get('machine', 'unknown')}.json"
    path = folder / name
    path.write_text(json.dumps(results, indent=1, default=json_default), encoding="utf-8")
    return path


def load_record(path: str | Path) -> dict[str, Any]:
    """A history record or results.json; a folder gives its newest ``*.json`` record."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.json"))
        if not files:
            raise ValueError(f"baseline: no *.json record in the folder {p}")
        p = files[-1]
    if not p.exists():
        raise ValueError(f"baseline: {p} does not exist")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"baseline: {p} is not JSON ({exc})") from None
    if not isinstance(data, dict) or "sections" not in data:
        raise ValueError(f"baseline: {p} is not a detbench report's results (no 'sections')")
    data.setdefault("_path", str(p))
    return data


def speed_rows(record: dict[str, Any]) -> pd.DataFrame:
    rows = record.get("sections", {}).get("speed", {}).get("tables", {}).get("speed", [])
    return pd.DataFrame(rows)


def compare_to_baseline(now: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """Per case: detbench's time now / baseline, with the range both runs' min-max allow, and a flag.

    A case is "slower" when even the fastest round now is slower than the slowest baseline round **and**,
    where a peer was timed, the ratio to the peer fell beyond both runs' ranges too (a busier machine slows
    detbench and the peer alike and moves only the first); "faster" in the mirror case; else
    "within noise". One row per (primitive, size): its first peer.
    """
    cols = [*KEY, "detbench_ms", "detbench_ms_min", "detbench_ms_max", "speedup", "speedup_min", "speedup_max"]
    if now.empty or base.empty or not set(cols[:6]) <= set(base.columns) or not set(cols[:6]) <= set(now.columns):
        return pd.DataFrame()
    now, base = now.reindex(columns=cols), base.reindex(columns=cols)
    m = now.merge(base, on=list(KEY), suffixes=("", "_base")).drop_duplicates(subset=["primitive", "size"])
    out = pd.DataFrame({k: m[k].to_numpy() for k in KEY})
    out["now_ms"] = m["detbench_ms"].to_numpy()
    out["baseline_ms"] = m["detbench_ms_base"].to_numpy()
    out["ratio"] = (m["detbench_ms"] / m["detbench_ms_base"]).to_numpy()
    out["ratio_min"] = (m["detbench_ms_min"] / m["detbench_ms_max_base"]).to_numpy()
    out["ratio_max"] = (m["detbench_ms_max"] / m["detbench_ms_min_base"]).to_numpy()
    out["speedup_change"] = (m["speedup"] / m["speedup_base"]).to_numpy()
    sp = m[["speedup_min", "speedup_max", "speedup_min_base", "speedup_max_base"]].astype(float).to_numpy()
    has_peer = np.isfinite(sp).all(axis=1)
    lower = sp[:, 1] < sp[:, 2]  # the best ratio now is below the worst of the baseline
    higher = sp[:, 0] > sp[:, 3]
    slower = (out["ratio_min"].to_numpy() > 1) & (~has_peer | lower)
    faster = (out["ratio_max"].to_numpy() < 1) & (~has_peer | higher)
    out["change"] = np.where(slower, "slower", np.where(faster, "faster", "within noise"))
    return out


@section("baseline", "Against the baseline")
def section_baseline(ctx: ReportContext) -> Section:
    import matplotlib.pyplot as plt

    base = ctx.options["baseline"]
    done = ctx.options.get("_sections", {})
    now = pd.DataFrame(done["speed"].data.get("rows", [])) if "speed" in done else pd.DataFrame()
    if now.empty:
        ctx.note("no speed rows in this run (run the speed section to compare with the baseline)")
        return Section("baseline", "Against the baseline")
    table = compare_to_baseline(now, speed_rows(base))
    if table.empty:
        ctx.note("the baseline has no speed rows in common with this run")
        return Section("baseline", "Against the baseline")
    changed = table[table["change"] != "within noise"]
    for r in changed.itertuples():
        ctx.note(f"{r.primitive} {r.size}: {r.change} than the baseline, {r.ratio:.3g}x its time")
    fig, ax = plt.subplots(figsize=(9, 0.36 * len(table) + 1.6))
    y = np.arange(len(table))
    med = table["ratio"].to_numpy()
    err = [np.clip(med - table["ratio_min"], 0, None), np.clip(table["ratio_max"] - med, 0, None)]
    colour = {"slower": "#d8573b", "faster": "#4caf50", "within noise": "#9aa5b1"}
    ax.barh(y, med, xerr=err, color=[colour[c] for c in table["change"]], capsize=2, error_kw={"lw": 0.8})
    for yi, m, h in zip(y, med, table["ratio_max"].to_numpy()):
        ax.text(max(m, h) * 1.05, yi, f"{m:.2f}x", va="center", fontsize=7.5)
    ax.set_yticks(y, [f"{r.primitive} {r.size}" for r in table.itertuples()], fontsize=8)
    ax.set_xscale("log")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.minorticks_off()
    ax.set_xlabel("detbench time now / baseline (log; whiskers: range allowed by both runs' min-max)")
    ax.invert_yaxis()
    meta = f"commit {str(base.get('commit', '?'))[:12]}, machine {base.get('machine', '?')}"
    summary = (
        f"Against the baseline ({meta}): {int((table['change'] == 'slower').sum())} slower, "
        f"{int((table['change'] == 'faster').sum())} faster, {int((table['change'] == 'within noise').sum())} "
        "within noise."
    )
    text = (
        f"<p>Baseline: <code>{base.get('_path', '?')}</code> ({meta}). A case is flagged only when the two "
        "runs' min-max ranges of detbench's time do not overlap and, where a peer was timed, neither do their "
        "ranges of the ratio to the peer (a busier machine slows both and leaves the ratio). "
        "<em>speedup_change</em> is this run's ratio to the peer over the baseline's.</p>"
    )
    return Section(
        "baseline",
        "Against the baseline",
        text=text,
        tables={"baseline": table},
        figures=[(ctx.savefig(fig, "baseline.png"), "detbench's time now against the baseline, per case.")],
        data={"rows": table.to_dict(orient="records")},
        summary=summary,
    )


def asv_results(folder: str | Path) -> pd.DataFrame:
    """asv 0.6 result files under ``folder`` (``<machine>/<commit>-<env>.json``) as one row per benchmark,
    parameter combination and commit: ``benchmark``, ``params``, ``commit``, ``date`` (ms), ``value``
    (seconds for ``time_*``). Unreadable files and failed benchmarks are skipped."""
    rows = []
    for p in sorted(Path(folder).glob("*/*.json")):
        if p.name == "machine.json":
            continue
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            columns = data.get("result_columns", ["result", "params"])
            i_res, i_par = columns.index("result"), columns.index("params")
            for bench, entry in data.get("results", {}).items():
                values = entry[i_res] if isinstance(entry, list) else entry
                values = values if isinstance(values, list) else [values]
                params = entry[i_par] if isinstance(entry, list) and len(entry) > i_par else []
                combos = list(itertools.product(*params)) if params else [()]
                for combo, v in zip(combos, values):
                    if isinstance(v, (int, float)) and np.isfinite(v):
                        rows.append(
                            {
                                "benchmark": bench,
                                "params": ", ".join(map(str, combo)),
                                "commit": str(data.get("commit_hash", "?"))[:8],
                                "date": data.get("date", 0),
                                "value": float(v),
                            }
                        )
        except (OSError, ValueError, TypeError, IndexError, KeyError, AttributeError):
            continue
    return pd.DataFrame(rows, columns=["benchmark", "params", "commit", "date", "value"])


def _report_history(ctx: ReportContext, folder: Path) -> list[pd.DataFrame]:
    records = []
    machine = ctx.options.get("machine")
    for p in sorted(folder.glob("*.json")):
        try:
            rec = load_record(p)
        except ValueError:
            continue
        if machine is None or rec.get("machine") == machine:  # timings compare on one machine only
            records.append(rec)
    frames = []
    for i, rec in enumerate(records):
        df = speed_rows(rec)
        if df.empty or "detbench_ms" not in df:
            continue
        df = df.drop_duplicates(subset=["primitive", "size"]).assign(
            run=i, label=f"{str(rec.get('commit', '?'))[:7]}{'+' if rec.get('dirty') else ''}"
        )
        frames.append(df)
    return frames


@section("history", "History over runs")
def section_history(ctx: ReportContext) -> Section:
    import matplotlib.pyplot as plt

    folder = Path(ctx.options["history"])
    frames = _report_history(ctx, folder)
    asv_dir = ctx.options.get("asv_results")
    asv = asv_results(asv_dir) if asv_dir and Path(asv_dir).is_dir() else pd.DataFrame()
    tables: dict[str, pd.DataFrame] = {}
    figures: list[tuple[str, str]] = []
    text = ""
    if len(frames) >= 2:
        hist = pd.concat(frames, ignore_index=True)
        cases = hist.groupby(["primitive", "size"]).size().sort_values(ascending=False).index[:8]
        fig, ax = plt.subplots(figsize=(10, 5))
        for prim, size in cases:
            h = hist[(hist["primitive"] == prim) & (hist["size"] == size)].sort_values("run")
            ax.errorbar(
                h["run"],
                h["detbench_ms"],
                yerr=[h["detbench_ms"] - h["detbench_ms_min"], h["detbench_ms_max"] - h["detbench_ms"]],
                fmt="o-",
                capsize=2,
                label=f"{prim} {size}",
            )
        labels = hist.drop_duplicates("run").sort_values("run")
        ax.set_xticks(labels["run"], labels["label"], rotation=45, fontsize=7, ha="right")
        ax.set_yscale("log")
        ax.set_ylabel("detbench time (ms, log; bars: min-max)")
        ax.set_xlabel("run (commit; + = uncommitted changes)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        table = hist.pivot_table(index=["primitive", "size"], columns="run", values="detbench_ms").reset_index()
        table.columns = [c if isinstance(c, str) else f"run {c} (ms)" for c in table.columns]
        tables["history"] = table
        figures.append((ctx.savefig(fig, "history.png"), "detbench's time per case over the recorded runs."))
        text += f"<p>{len(frames)} report runs on this machine from <code>{folder}</code>, oldest first.</p>"
    else:
        ctx.note(f"{len(frames)} report run(s) with speed rows in {folder}: the history figure needs two")
    if len(asv):
        commits = asv.drop_duplicates("commit").sort_values("date")["commit"].tolist()
        asv["series"] = asv["benchmark"] + np.where(asv["params"] != "", " (" + asv["params"] + ")", "")
        top = asv.groupby("series").size().sort_values(ascending=False).index[:8]
        fig, ax = plt.subplots(figsize=(10, 5))
        for name in top:
            h = asv[asv["series"] == name].sort_values("date")
            ax.plot([commits.index(c) for c in h["commit"]], h["value"], "o-", label=name)
        ax.set_xticks(range(len(commits)), commits, rotation=45, fontsize=7, ha="right")
        ax.set_yscale("log")
        ax.set_ylabel("asv result (s for time_*, log)")
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        tables["asv_history"] = asv.pivot_table(index="series", columns="commit", values="value").reset_index()
        figures.append((ctx.savefig(fig, "asv_history.png"), "asv results over commits (first 8 series)."))
        n_series = asv["series"].nunique()
        text += f"<p>asv results from <code>{asv_dir}</code>: {len(commits)} commit(s), {n_series} series.</p>"
    return Section(
        "history",
        "History over runs",
        text=text,
        tables=tables,
        figures=figures,
        data={"runs": len(frames), "asv_rows": len(asv)},
    )
