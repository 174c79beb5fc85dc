"""Figures of an evaluation's analyses, each returned as a matplotlib ``Figure`` (nothing is shown or saved).

* :func:`plot_confusion_matrix` - heat map of :meth:`COCOeval.confusion_matrix` (counts, or normalised
  per true class);
* :func:`plot_f1_confidence` - F1 (or precision / recall) against the score threshold per category, from
  :meth:`COCOeval.f1_confidence`, with the mean over categories and its best threshold;
* :func:`plot_class_ap` - per-category AP bars with the bootstrap interval as error bars, from
  :meth:`COCOeval.to_dataframe` after :meth:`COCOeval.bootstrap`.

Each takes either a ``COCOeval`` (evaluated) or the result it computes, so a figure never starts a
second evaluation. matplotlib is imported on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import check_choice, check_int

__all__ = ["plot_confusion_matrix", "plot_f1_confidence", "plot_class_ap"]


def _figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot()


def _names(source: Any, cat_ids: list) -> list[str]:
    gt = getattr(source, "cocoGt", None)
    names: dict = {}
    if gt is not None:
        if hasattr(gt, "category_names"):
            names = dict(gt.category_names)
        elif hasattr(gt, "cats"):
            names = {k: v.get("name", str(k)) for k, v in gt.cats.items()}
    return [str(names.get(c, c)) for c in cat_ids]


def plot_confusion_matrix(
    source: Any,
    *,
    normalize: bool = False,
    iou_threshold: float = 0.45,
    score_threshold: float = 0.25,
    convention: str = "ultralytics",
    names: list[str] | None = None,
    top: int | None = 30,
) -> Any:
    """Heat map of the confusion matrix: x = true category, y = predicted category, background last.

    ``source``: an evaluated ``COCOeval`` (the matrix is computed at ``iou_threshold`` /
    ``score_threshold`` / ``convention``) or a (K+1) x (K+1) matrix in detbench's layout (rows
    predicted, columns true). ``normalize``: show each true category's column as fractions (each column
    sums to 1) instead of counts. ``top``: keep the ``top`` categories with the most ground truths and
    detections (the rest are summed into "other"; None keeps all). ``names``: K category labels.
    """
    if isinstance(source, np.ndarray):
        m = np.asarray(source)
        cat_labels = names or [str(i) for i in range(m.shape[0] - 1)]
    else:
        m = source.confusion_matrix(iou_threshold, score_threshold, convention=convention)
        cat_labels = names or _names(source, list(source._prep.cat_ids))
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
        raise ValueError(f"source: expected a square (K+1) x (K+1) matrix, got shape {m.shape}")
    K = m.shape[0] - 1
    if len(cat_labels) != K:
        raise ValueError(f"names: expected {K} labels, got {len(cat_labels)}")
    m = m.astype(np.float64)
    labels = list(cat_labels)
    if top is not None and K > check_int(top, "top", low=1):
        weight = m[:K, :].sum(1) + m[:, :K].sum(0)
        keep = np.sort(np.argsort(-weight, kind="stable")[:top])
        m = _fold(m, keep, np.setdiff1d(np.arange(K), keep))
        labels = [labels[i] for i in keep] + ["other"]
    labels = labels + ["background"]
    shown = m
    if normalize:
        tot = m.sum(0, keepdims=True)
        shown = np.where(tot > 0, m / np.where(tot > 0, tot, 1), 0.0)
    n = shown.shape[0]
    side = min(max(4.0, 0.32 * n + 2.0), 16.0)
    fig, ax = _figure(side + 1.2, side)
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else max(shown.max(), 1), aspect="equal")
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of the true category" if normalize else "count (boxes)")
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel("true category")
    ax.set_ylabel("predicted category")
    kind = "normalised per true category" if normalize else "counts"
    ax.set_title(f"Confusion matrix ({kind})", fontsize=10)
    if n <= 16:
        hi = shown.max() if shown.size else 1
        for i in range(n):
            for j in range(n):
                v = shown[i, j]
                if v:
                    txt = f"{v:.2f}" if normalize else f"{int(round(v))}"
                    ax.text(j, i, txt, ha="center", va="center", fontsize=6, color="white" if v > 0.6 * hi else "black")
    fig.tight_layout()
    return fig


def _fold(m: np.ndarray, keep: np.ndarray, rest: np.ndarray) -> np.ndarray:
    # the matrix over [kept categories..., other, background]
    K = m.shape[0] - 1
    groups = [[int(i)] for i in keep] + [list(map(int, rest)), [K]]
    out = np.zeros((len(groups), len(groups)))
    for a, ra in enumerate(groups):
        for b, cb in enumerate(groups):
            out[a, b] = m[np.ix_(ra, cb)].sum() if ra and cb else 0.0
    return out


def plot_f1_confidence(
    source: Any,
    *,
    iou_threshold: float = 0.5,
    metric: str = "f1",
    names: list[str] | None = None,
    label_top: int = 10,
) -> Any:
    """One line per category of F1 (``metric="f1"``), precision or recall against the score threshold, and the
    mean over categories (thick) with its best threshold marked.

    ``source``: an evaluated ``COCOeval`` or an :class:`~detbench.eval.analysis.F1Curves`. The legend names
    the ``label_top`` categories with the highest peak.
    """
    check_choice(metric, "metric", ("f1", "precision", "recall"))
    cur = source.f1_confidence(iou_threshold) if hasattr(source, "f1_confidence") else source
    labels = names or (_names(source, cur.cat_ids) if hasattr(source, "cocoGt") else [str(c) for c in cur.cat_ids])
    y = {"f1": cur.f1, "precision": cur.precision, "recall": cur.recall}[metric]
    fig, ax = _figure(7.0, 4.5)
    rows = np.flatnonzero(~np.isnan(y).all(axis=1))
    peak = np.array([np.nanmax(y[k]) for k in rows]) if rows.size else np.zeros(0)
    named = set(rows[np.argsort(-peak, kind="stable")[:label_top]].tolist()) if rows.size else set()
    for k in rows:
        ax.plot(
            cur.confidence,
            y[k],
            lw=0.9 if k in named else 0.5,
            alpha=0.9 if k in named else 0.35,
            label=labels[k] if k in named else None,
        )
    if rows.size:
        mean = np.nanmean(y[rows], axis=0)
        i = int(np.argmax(mean))
        ax.plot(
            cur.confidence,
            mean,
            color="black",
            lw=2.2,
            label=f"all categories (mean), best {mean[i]:.3f} at {cur.confidence[i]:.3f}",
        )
        ax.axvline(cur.confidence[i], color="black", ls=":", lw=0.8)
    name = {"f1": "F1", "precision": "precision", "recall": "recall"}[metric]
    ax.set_xlabel("score threshold (detections kept: score >= threshold)")
    ax.set_ylabel(f"{name} (fraction)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{name} against confidence, IoU {cur.iou_threshold:.2f}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def plot_class_ap(
    source: Any, *, metric: str = "AP", names: list[str] | None = None, top: int | None = 40, sort: bool = True
) -> Any:
    """Horizontal bars of the per-category ``metric`` (``"AP"``, ``"AP50"`` or ``"AP75"``) with the bootstrap
    interval (``<metric>_lo`` / ``_hi`` columns) as error bars when present.

    ``source``: an evaluated and accumulated ``COCOeval`` (its :meth:`to_dataframe`; run
    :meth:`bootstrap` first for the intervals) or that DataFrame. ``top``: the ``top`` categories with
    the most ground truths (None: all).
    """
    check_choice(metric, "metric", ("AP", "AP50", "AP75"))
    df = source.to_dataframe() if hasattr(source, "to_dataframe") else source
    df = df[df[metric].notna()]
    if top is not None and len(df) > check_int(top, "top", low=1) and "n_gt" in df.columns:
        df = df.sort_values("n_gt", ascending=False, kind="stable").head(top)
    if sort:
        df = df.sort_values(metric, kind="stable")
    if names is not None:
        labels = list(names)
    else:
        labels = [str(v) for v in (df["name"] if "name" in df.columns else df.index)]
    val = df[metric].to_numpy(np.float64)
    fig, ax = _figure(6.5, max(2.5, 0.22 * len(df) + 1.2))
    pos = np.arange(len(df))
    lo_col, hi_col = f"{metric}_lo", f"{metric}_hi"
    if lo_col in df.columns and hi_col in df.columns:
        lo = df[lo_col].to_numpy(np.float64)
        hi = df[hi_col].to_numpy(np.float64)
        err = np.vstack([np.clip(val - lo, 0, None), np.clip(hi - val, 0, None)])
        err = np.nan_to_num(err)
        ax.barh(pos, val, xerr=err, color="#4c72b0", ecolor="#333", capsize=2, error_kw={"lw": 0.8})
        ax.set_title(f"Per-category {metric} with the bootstrap interval", fontsize=10)
    else:
        ax.barh(pos, val, color="#4c72b0")
        ax.set_title(f"Per-category {metric}", fontsize=10)
    ax.set_yticks(pos, labels, fontsize=7)
    ax.set_xlabel(f"{metric} (fraction, 0-1)")
    ax.set_ylabel("category")
    ax.set_xlim(0, 1)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
