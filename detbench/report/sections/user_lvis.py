"""The report on the user's data with LVIS' federated evaluation (``detbench report --protocol lvis``).

``detbench report --gt lvis_val.json --dt A=a.json --dt B=b.json --protocol lvis``: every detector is
evaluated by :class:`detbench.eval.LVISEval` (bbox, 300 detections per image, lvis-api's numbers). The
``user_ap`` and ``user_pr`` sections of :mod:`~detbench.report.sections.user_data` hand over to
:func:`section_lvis_ap` / :func:`section_lvis_pr` here; ``user_tide`` and ``user_analysis`` read the same
evaluations (:func:`lvis_evaluations`) through :func:`~detbench.report.sections.user_data.user_evaluations`.

:func:`load_lvis_gt` refuses a ground truth that is not LVIS (no ``neg_category_ids`` /
``not_exhaustive_category_ids`` per image, no ``frequency`` per category) with a ValueError naming the field.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from detbench.report.framework import ReportContext, Section, silenced

__all__ = ["load_lvis_gt", "lvis_evaluations", "section_lvis_ap", "section_lvis_pr", "FREQ_GROUPS"]

#: LVIS' frequency labels and their names, in lvis-api's order (APr, APc, APf)
FREQ_GROUPS = (("r", "rare"), ("c", "common"), ("f", "frequent"))


def load_lvis_gt(path: Any) -> Any:
    """The ground truth as :class:`detbench.eval.LVIS`, or ValueError naming the LVIS field it lacks."""
    from detbench.eval import LVIS

    def refuse(key: str, detail: str) -> ValueError:
        return ValueError(
            f"protocol lvis: the ground truth {str(path)!r} lacks LVIS' field {key!r} ({detail}); an LVIS ground "
            "truth gives every image 'neg_category_ids' and 'not_exhaustive_category_ids' and every category a "
            "'frequency'. Use --protocol coco for COCO data"
        )

    try:
        gt = LVIS(path)
    except ValueError as exc:
        for key in ("neg_category_ids", "not_exhaustive_category_ids"):
            if f"{key!r} must be a list" in str(exc):
                raise refuse(key, str(exc).split(": ", 1)[-1]) from None
        raise
    labels = [f for f, _ in FREQ_GROUPS]
    for cat in gt.categories:
        if cat.get("frequency") not in labels:
            got = "missing" if "frequency" not in cat else repr(cat.get("frequency"))
            raise refuse("frequency", f"category {cat.get('id')!r}: expected one of {labels}, got {got}")
    return gt


def lvis_evaluations(ctx: ReportContext) -> dict[str, Any]:
    """Each detector's :class:`~detbench.eval.LVISEval` (bbox), run once per report (cached in ``ctx.options``).

    ``{"gt": LVIS, "names": {category id: name}, "protocol": "lvis", "detectors": {name: {"eval", "seconds",
    "n_dets"}}}``, the shape of :func:`~detbench.report.sections.user_data.evaluations`.
    """
    if "_lvis_evaluations" in ctx.options:
        return ctx.options["_lvis_evaluations"]
    from detbench.eval import LVISEval, LVISResults

    gt = ctx.options.get("_lvis_gt")
    if gt is None:
        gt = ctx.options["_lvis_gt"] = load_lvis_gt(ctx.options["gt"])
    names = {c["id"]: c.get("name", str(c["id"])) for c in gt.categories}
    out: dict[str, Any] = {"gt": gt, "names": names, "protocol": "lvis", "detectors": {}}
    for name, path in ctx.options["dt"].items():
        ctx.progress(f"evaluating {name} (LVIS)")
        t0 = time.perf_counter()
        dt = LVISResults(gt, path)
        ev = LVISEval(gt, dt, "bbox")
        with silenced():
            ev.run()
        out["detectors"][name] = {"eval": ev, "seconds": time.perf_counter() - t0, "n_dets": len(dt)}
    ctx.options["_lvis_evaluations"] = out
    return out


def _value(v: Any) -> float:
    # lvis-api's -1 (nothing to average) shown as missing in figures; tables keep lvis-api's numbers
    v = float(v)
    return v if v > -1 else float("nan")


def _per_class(dets: dict[str, Any]) -> pd.DataFrame:
    per_class = None
    for name, d in dets.items():
        df = d["eval"].to_dataframe()
        if per_class is None:
            cols = {"category_id": "category_id", "class": "name", "frequency": "frequency", "n_gt": "n_gt"}
            per_class = pd.DataFrame({k: df[v] for k, v in cols.items()})
        per_class[f"AP {name}"] = df["AP"].to_numpy(np.float64)
        per_class[f"AP50 {name}"] = df["AP50"].to_numpy(np.float64)
    assert per_class is not None
    ap_cols = [f"AP {n}" for n in dets]
    if len(dets) > 1:
        per_class["AP spread"] = per_class[ap_cols].max(axis=1) - per_class[ap_cols].min(axis=1)
        per_class = per_class.sort_values("AP spread", ascending=False, na_position="last")
    return per_class


def _frequency_figure(stats: pd.DataFrame, order: list[str], counts: dict[str, int]) -> Any:
    import matplotlib.pyplot as plt

    keys = ["AP", "APr", "APc", "APf"]
    labels = ["all"] + [f"{long}\n({counts[f]} classes)" for f, long in FREQ_GROUPS]
    row = {k: i for i, k in enumerate(stats["stat"])}
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    x = np.arange(len(keys))
    w = 0.8 / len(order)
    for i, n in enumerate(order):
        vals = np.array([_value(stats[n][row[k]]) for k in keys])
        bars = ax.bar(x + i * w, np.nan_to_num(vals), width=w, label=n)
        ax.bar_label(bars, labels=[f"{v:.3f}" if np.isfinite(v) else "-" for v in vals], fontsize=7, padding=2)
    ax.set_xticks(x + w * (len(order) - 1) / 2, labels, fontsize=8)
    top = np.nanmax([_value(stats[n][row[k]]) for n in order for k in keys] + [0.0])
    ax.set_ylim(0, min(1.0, top * 1.2 + 0.05))
    ax.set_ylabel("AP @[.5:.95] (LVIS)")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def section_lvis_ap(ctx: ReportContext) -> Section:
    """``user_ap`` with ``--protocol lvis``: lvis-api's 13 results, AP by frequency group, AP per class."""
    from detbench.report.sections.user_data import per_class_figure

    got = lvis_evaluations(ctx)
    dets = got["detectors"]
    order = list(dets)
    first_ev = dets[order[0]]["eval"]
    stats = pd.DataFrame({"stat": list(first_ev.results)})
    timing = []
    for name, d in dets.items():
        stats[name] = [float(v) for v in d["eval"].results.values()]
        timing.append({"detector": name, "detections": d["n_dets"], "load_and_evaluate_ms": d["seconds"] * 1e3})
    per_class = _per_class(dets)
    ap_cols = [f"AP {n}" for n in order]
    counts = {f: len(first_ev.freq_groups[i]) for i, (f, _) in enumerate(FREQ_GROUPS)}
    group_rows = [{"group": "all", "frequency": "", "classes": len(per_class), "stat": "AP"}]
    group_rows += [{"group": long, "frequency": f, "classes": counts[f], "stat": f"AP{f}"} for f, long in FREQ_GROUPS]
    for r in group_rows:
        r.update({n: float(dets[n]["eval"].results[r["stat"]]) for n in order})
    groups = pd.DataFrame(group_rows)
    shown = per_class.head(20)
    fig = per_class_figure(shown, order, "AP @[.5:.95] (LVIS)")
    val = {k: {n: float(dets[n]["eval"].results[k]) for n in order} for k in ("AP", "APr")}
    if len(order) > 1:
        best = {k: max(order, key=lambda n: val[k][n]) for k in ("AP", "APr")}

        def against(k: str) -> str:
            rest = ", ".join(f"{n} {val[k][n]:.3f}" for n in order if n != best[k])
            return f"on {k} ({val[k][best[k]]:.3f} against {rest})"

        won = f"{best['AP']} wins {against('AP')}"
        won += f" and {against('APr')}" if best["APr"] == best["AP"] else f"; {best['APr']} wins {against('APr')}"
        wins = int((per_class[f"AP {best['AP']}"] >= per_class[ap_cols].max(axis=1)).sum())
        scored = int(per_class[ap_cols].notna().any(axis=1).sum())
        summary = (
            f"Your data (LVIS federated evaluation): {won}. The AP winner has the best AP on {wins} of {scored} "
            "classes with ground truths."
        )
    else:
        n = order[0]
        summary = f"Your data (LVIS federated evaluation): {n} AP {val['AP'][n]:.3f}, APr {val['APr'][n]:.3f}."
    text = (
        f"<p>Ground truth: {len(got['gt'].image_ids)} images, {len(per_class)} classes "
        f"({counts['r']} rare, {counts['c']} common, {counts['f']} frequent). Each detector's results are evaluated "
        "with detbench's LVISEval (lvis-api's federated evaluation, the same numbers): at most 300 detections per "
        "image; a detection counts only in an image where its class is annotated or listed in "
        "<code>neg_category_ids</code>; an unmatched detection of a class in <code>not_exhaustive_category_ids</code> "
        "is ignored. APr / APc / APf: AP over the rare / common / frequent classes. A value of -1 means no class "
        "had ground truths there (lvis-api's convention). Per-class table and figure: classes where the detectors "
        "differ most come first (the figure shows the first 20).</p>"
    )
    return Section(
        "user_ap",
        "Your detectors: AP/AR side by side",
        text=text,
        tables={
            "user_stats": stats,
            "user_frequency_ap": groups,
            "user_per_class_ap": per_class,
            "user_timing": pd.DataFrame(timing),
        },
        figures=[
            (
                ctx.savefig(_frequency_figure(stats, order, counts), "user_frequency_ap.png"),
                "AP by LVIS frequency group (rare / common / frequent) per detector.",
            ),
            (ctx.savefig(fig, "user_per_class_ap.png"), "AP per class and detector (largest differences first)."),
        ],
        data={"stats": stats.to_dict(orient="list"), "protocol": "lvis"},
        summary=summary,
    )


def section_lvis_pr(ctx: ReportContext) -> Section:
    """``user_pr`` with ``--protocol lvis``: PR curves at IoU 0.5 from LVISEval's (T, R, K, A) precision."""
    import matplotlib.pyplot as plt

    from detbench.report.sections.user_data import style_pr_panel

    got = lvis_evaluations(ctx)
    names = got["names"]
    dets = got["detectors"]
    first = next(iter(dets.values()))["eval"]
    rec = np.asarray(first.params.rec_thrs)
    cats = list(first.params.cat_ids)
    gt_cats = got["gt"].annotations.category_id
    ids, n = np.unique(gt_cats, return_counts=True)
    counts = dict(zip(ids.tolist(), n.tolist()))
    top = sorted(cats, key=lambda c: -counts.get(c, 0))[:4]
    panels: list[tuple[str, Any]] = [("all classes (mean)", None)]
    panels += [(f"{long} classes (mean)", first.freq_groups[i]) for i, (_, long) in enumerate(FREQ_GROUPS)]
    panels += [(str(names.get(c, c)), [cats.index(c)]) for c in top]
    cols = 4
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.1 * rows), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    for ax, (title, ks) in zip(axes.ravel(), panels):
        for name, d in dets.items():
            prec = np.asarray(d["eval"].eval["precision"])[0, :, :, 0]  # IoU 0.5, area all: R, K
            if ks is not None:
                prec = prec[:, np.asarray(ks, np.int64)]
            valid = (prec > -1).all(axis=0)
            curve = prec[:, valid].mean(axis=1) if valid.any() else np.full(len(rec), np.nan)
            ap = np.nanmean(curve) if np.isfinite(curve).any() else float("nan")
            ax.plot(rec, curve, label=f"{name} (AP50 {ap:.2f})")
        style_pr_panel(ax, title)
    fig.tight_layout()
    text = (
        "<p>LVIS' interpolated precision at 101 recall points, IoU 0.5, all areas (LVISEval's precision array, "
        "300 detections per image): the mean over all classes with ground truths, over the rare, common and "
        "frequent classes, then the most frequent classes.</p>"
    )
    return Section(
        "user_pr",
        "Your detectors: precision-recall curves",
        text=text,
        figures=[
            (
                ctx.savefig(fig, "user_pr.png"),
                "PR curves at IoU 0.5 per detector: all classes, each frequency group, frequent classes.",
            )
        ],
    )
