"""The TIDE error breakdown as a bar chart (:func:`plot_tide`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from detbench.eval.tide import MAIN_ERRORS, SPECIAL_ERRORS

__all__ = ["plot_tide"]

#: what each error means, for the axis labels
_LABELS = {
    "Cls": "Cls\n(wrong class)",
    "Loc": "Loc\n(poor box)",
    "Both": "Both\n(class+box)",
    "Dupe": "Dupe\n(duplicate)",
    "Bkg": "Bkg\n(background)",
    "Miss": "Miss\n(missed GT)",
    "FalsePos": "FalsePos\n(all FPs)",
    "FalseNeg": "FalseNeg\n(all FNs)",
}
_KEYS = MAIN_ERRORS + SPECIAL_ERRORS


def _as_runs(breakdown: Any) -> dict[str, Mapping]:
    if not isinstance(breakdown, Mapping) or not breakdown:
        raise ValueError(
            f"breakdown: expected a TIDE mapping (COCOeval.tide()) or {{name: mapping}}, got {type(breakdown).__name__}"
        )
    first = next(iter(breakdown.values()))
    runs = dict(breakdown) if isinstance(first, Mapping) else {"": breakdown}
    for name, run in runs.items():
        if not isinstance(run, Mapping):
            raise ValueError(f"breakdown: entry {name!r} is not a mapping of TIDE errors")
        missing = [k for k in _KEYS if k not in run]
        if missing:
            where = f" {name!r}" if name else ""
            raise ValueError(f"breakdown{where}: missing TIDE keys {missing} (expected {list(_KEYS)})")
    return runs


def plot_tide(breakdown: Any, ax: Any = None, *, title: str | None = None) -> Any:
    """Bar chart of a TIDE breakdown: the six main errors, then the two special errors (dAP, AP points).

    ``breakdown``: what :meth:`COCOeval.tide() <detbench.eval.coco.COCOeval.tide>` returns (or any mapping
    with tidecv's keys), or ``{detector name: breakdown}`` for grouped bars. ``ax``: draw into this axes
    (else a new figure). Returns the :class:`matplotlib.figure.Figure`.
    """
    runs = _as_runs(breakdown)
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9.0 + 1.5 * (len(runs) - 1), 4.2), layout="tight")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    x = np.concatenate([np.arange(len(MAIN_ERRORS)), len(MAIN_ERRORS) + 0.6 + np.arange(len(SPECIAL_ERRORS))])
    width = 0.8 / len(runs)
    for j, (name, run) in enumerate(runs.items()):
        vals = np.array([float(run[k]) for k in _KEYS])
        off = (j - (len(runs) - 1) / 2) * width
        if len(runs) == 1:
            colors = ["tab:blue"] * len(MAIN_ERRORS) + ["tab:orange"] * len(SPECIAL_ERRORS)
        else:
            colors = [f"C{j % 10}"] * len(_KEYS)
        bars = ax.bar(x + off, vals, width=width, color=colors, label=name or None, edgecolor="black", linewidth=0.4)
        many = len(runs) > 1
        ax.bar_label(
            bars, labels=[f"{v:.2f}" for v in vals], fontsize=6 if many else 7, padding=2, rotation=90 if many else 0
        )
    ax.axvline(len(MAIN_ERRORS) - 0.5 + 0.3, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, [_LABELS[k] for k in _KEYS], fontsize=7.5)
    ax.set_ylabel("dAP (AP points)")
    ax.set_xlabel("error type (main errors | special errors)")
    every = [float(r[k]) for r in runs.values() for k in _KEYS]
    head = 1.25 if len(runs) > 1 else 1.15
    ax.set_ylim(min(0.0, min(every)), max(max(every) * head, 1.0))
    ax.set_title(title if title is not None else "TIDE error breakdown: AP gained by fixing each error type")
    if len(runs) > 1:
        ax.legend(fontsize=8)
    return fig
