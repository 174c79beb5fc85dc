"""The HTML writer: index.html (summary, notes, figures, tables), one CSV per table, results.json."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from detbench.report.framework import Section

__all__ = ["write_report", "table_html", "fmt_value"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
td, th { border: 1px solid #ddd; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; } #figure-check { color: #777; font-size: 0.8em; }
.summary { background: #f5f8ff; border-left: 4px solid #3b7dd8; padding: 0.6em 1em; }
.notes { background: #fff7e6; border-left: 4px solid #e0a030; padding: 0.4em 1em; font-size: 0.9em; }
.status-error { color: #b00020; }
"""

_CHECK_JS = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.querySelectorAll('figure img'));
  var ok = imgs.filter(function (im) { return im.complete && im.naturalWidth > 0; }).length;
  var el = document.getElementById('figure-check');
  el.textContent = 'figures loaded: ' + ok + '/' + imgs.length;
  el.setAttribute('data-loaded', ok); el.setAttribute('data-total', imgs.length);
});
"""


def fmt_value(x: Any) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else ""
    if isinstance(x, (float, np.floating)):
        if not np.isfinite(x):
            return "-"
        ax = abs(x)
        if ax != 0 and (ax < 1e-3 or ax >= 1e5):
            return f"{x:.3e}"
        return f"{x:.4g}"
    return html.escape(str(x))


def _with_spread(med: Any, lo: Any, hi: Any, is_ratio: bool) -> str:
    if not all(isinstance(v, (int, float, np.number)) and np.isfinite(v) for v in (med, lo, hi)):
        return fmt_value(med)
    if is_ratio:
        return f"{med:.3g}x [{lo:.3g}, {hi:.3g}]"
    half = (hi - lo) / 2 / med * 100 if med > 0 else 0.0
    return f"{med:.4g} ±{half:.0f}%"


def table_html(df: pd.DataFrame) -> str:
    """A table; a column ``c`` with siblings ``c_min`` and ``c_max`` is shown as one cell with its spread
    (times: median ±half-range %, ratios: median [min, max]); ``*_ms`` columns are headed with their unit."""
    cols = list(df.columns)
    paired = {c for c in cols if f"{c}_min" in cols and f"{c}_max" in cols}
    hidden = {f"{c}_{s}" for c in paired for s in ("min", "max")}
    shown = [c for c in cols if c not in hidden]

    def head(c: str) -> str:
        name = re.sub(r"_ms$", " (ms)", str(c))
        return html.escape(name)

    heads = "".join(f"<th>{head(c)}</th>" for c in shown)
    body = []
    for _, row in df.iterrows():
        cells = []
        for c in shown:
            if c in paired:
                cells.append(_with_spread(row[c], row[f"{c}_min"], row[f"{c}_max"], not str(c).endswith("_ms")))
            else:
                cells.append(fmt_value(row[c]))
        body.append("<tr>" + "".join(f"<td>{v}</td>" for v in cells) + "</tr>")
    return f"<div class='scroll'><table><thead><tr>{heads}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return str(obj)


def _clean(obj: Any) -> Any:
    """NaN/inf -> None throughout (json.dumps would write bare NaN, which is not JSON)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


def results_dict(sections: list[Section], quick: bool, elapsed: float, meta: dict[str, Any]) -> dict[str, Any]:
    return _clean(
        {
            **meta,
            "quick": quick,
            "elapsed_s": elapsed,
            "summary": [s.summary for s in sections if s.summary],
            "sections": {
                s.key: {
                    "title": s.title,
                    "status": s.status,
                    "notes": s.notes,
                    "tables": {k: v.to_dict(orient="records") for k, v in s.tables.items()},
                    "figures": [n for n, _ in s.figures],
                    "data": s.data,
                }
                for s in sections
            },
        }
    )


def write_report(
    sections: Iterable[Section],
    out_dir: Path,
    quick: bool,
    elapsed: float,
    *,
    title: str = "detbench report",
    intro: str = "",
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write index.html, the CSV tables and results.json for ``sections``; returns index.html's path."""
    sections = list(sections)
    out_dir = Path(out_dir)
    summary = " ".join(html.escape(s.summary) for s in sections if s.summary)
    all_notes = sum(len(s.notes) for s in sections)
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style><script>{_CHECK_JS}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{'Quick' if quick else 'Full'} run, {elapsed:.1f} s. {intro}</p>",
    ]
    if summary or all_notes:
        extra = f" {all_notes} note(s) below (skipped comparisons, noisy timings)." if all_notes else ""
        parts.append(f"<p class='summary'><strong>Summary.</strong> {summary}{html.escape(extra)}</p>")
    parts += [
        "<p id='figure-check'></p>",
        "<ul>" + "".join(f"<li><a href='#{s.key}'>{html.escape(s.title)}</a></li>" for s in sections) + "</ul>",
    ]
    for s in sections:
        status = "" if s.status == "ok" else f" <small class='status-{s.status}'>({s.status})</small>"
        parts.append(f"<h2 id='{s.key}'>{html.escape(s.title)}{status}</h2>")
        if s.notes:
            items = "".join(f"<li>{html.escape(n)}</li>" for n in s.notes)
            parts.append(f"<div class='notes'><ul>{items}</ul></div>")
        parts.append(s.text)
        for name, caption in s.figures:
            parts.append(
                f"<figure><img src='{html.escape(name)}' alt='{html.escape(caption)}'>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        for name, df in s.tables.items():
            df.to_csv(out_dir / f"{name}.csv", index=False)
            parts.append(f"<h3>{html.escape(name)} <small>(<a href='{name}.csv'>csv</a>)</small></h3>")
            parts.append(table_html(df))
    parts.append("</body></html>")
    index = out_dir / "index.html"
    index.write_text("\n".join(parts), encoding="utf-8")
    results = results_dict(sections, quick, elapsed, meta or {})
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=json_default), encoding="utf-8")
    return index
