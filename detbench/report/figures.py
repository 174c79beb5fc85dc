"""Figure helpers shared by the sections: labels that never overlap, a Pareto front."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["spread_positions", "label_points", "pareto_front"]


def spread_positions(targets: Sequence[float], gap: float, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """Positions as close as possible to ``targets`` with at least ``gap`` between neighbours, in [lo, hi].

    The gap shrinks to fit when ``len(targets) * gap`` exceeds the room. Order is kept.
    """
    t = np.asarray(targets, np.float64)
    n = len(t)
    if n == 0:
        return t
    gap = min(gap, (hi - lo) / max(n - 1, 1))
    order = np.argsort(t, kind="stable")
    p = np.clip(t[order], lo, hi)
    for i in range(1, n):
        p[i] = max(p[i], p[i - 1] + gap)
    p[-1] = min(p[-1], hi)
    for i in range(n - 2, -1, -1):
        p[i] = min(p[i], p[i + 1] - gap)
    p[0] = max(p[0], lo)
    for i in range(1, n):  # after clamping the bottom, push up again (fits: gap was shrunk)
        p[i] = max(p[i], p[i - 1] + gap)
    out = np.empty(n)
    out[order] = np.clip(p, lo, hi)  # rounding only
    return out


def label_points(ax: Any, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str], fontsize: float = 7) -> None:
    """Write each label in a column right of the axes, at a non-overlapping height, joined by a thin line."""
    fig = ax.figure
    fig.canvas.draw()
    to_axes = ax.transAxes.inverted()
    pts = to_axes.transform(ax.transData.transform(np.column_stack([xs, ys])))
    height_in = ax.get_window_extent().height / fig.dpi
    gap = (fontsize * 1.35 / 72) / max(height_in, 1e-6)
    ypos = spread_positions(pts[:, 1], gap)
    for (px, py), y, text in zip(pts, ypos, texts):
        ax.annotate(
            text,
            xy=(px, py),
            xycoords="axes fraction",
            xytext=(1.03, y),
            textcoords="axes fraction",
            fontsize=fontsize,
            va="center",
            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "#888", "shrinkA": 0, "shrinkB": 2},
            annotation_clip=False,
        )


def pareto_front(cost: Sequence[float], value: Sequence[float]) -> np.ndarray:
    """Boolean mask of the points no other point dominates (lower-or-equal cost and higher-or-equal value,
    one of them strictly). Equal points are all on the front."""
    c = np.asarray(cost, np.float64)
    v = np.asarray(value, np.float64)
    n = len(c)
    front = np.ones(n, bool)
    for i in range(n):
        better_or_equal = (c <= c[i]) & (v >= v[i])
        strictly = (c < c[i]) | (v > v[i])
        front[i] = not np.any(better_or_equal & strictly)
    return front
