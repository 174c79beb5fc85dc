"""The report on the user's own data: one ground truth, one or more detectors' COCO results side by side.

``detbench report --gt GT.json --dt NAME=DT.json [--dt NAME2=DT2.json ...]``: every detector is evaluated
with detbench's pycocotools-exact COCO evaluation; the sections compare the 12 summary stats, AP per
class, and the precision-recall curves. ``--gt-format``/``--dt-format`` (and ``--names``, ``--image-sizes``,
``--gt-box-format``/``--dt-box-format``) read VOC, YOLO or text files instead (:mod:`detbench.eval.formats`).
``--protocol lvis`` evaluates with LVIS' federated rules instead (:mod:`~detbench.report.sections.user_lvis`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from detbench.eval.summary import STAT_NAMES
from detbench.report.framework import ReportContext, Section, section, silenced


def parse_detectors(specs: list[str]) -> dict[str, str]:
    """``["NAME=PATH", "PATH2", ...]`` -> ``{name: path}`` (a bare path is named after its file)."""
    from pathlib import Path

    out: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).stem, spec
        if not name or not path:
            raise ValueError(f"dt: expected NAME=PATH, got {spec!r}")
        if name in out:
            raise ValueError(f"dt: the name {name!r} is given twice")
        out[name] = path
    if not out:
        raise ValueError("dt: give at least one detector as NAME=PATH")
    return out


def evaluations(ctx: ReportContext) -> dict[str, Any]:
    """Load the ground truth and evaluate each detector once per run (cached in ``ctx.options``)."""
    if "_evaluations" in ctx.options:
        return ctx.options["_evaluations"]
    from detbench.eval import COCOeval
    from detbench.eval.formats import read_detections, read_ground_truth

    fm = dict(ctx.options.get("formats") or {})
    gf, df = fm.get("gt_format") or "coco", fm.get("dt_format") or "coco"
    names, sizes = fm.get("names"), fm.get("image_sizes")
    gt = read_ground_truth(
        ctx.options["gt"],
        gf,
        names=names if gf != "coco" else None,
        image_sizes=sizes if gf == "yolo" else None,
        box_format=fm.get("gt_box_format"),
    )
    out: dict[str, Any] = {"gt": gt, "detectors": {}}
    for name, path in ctx.options["dt"].items():
        ctx.progress(f"evaluating {name}")
        t0 = time.perf_counter()
        dt = read_detections(
            path,
            df,
            gt,
            names=names if df == "yolo" else None,
            image_sizes=sizes if df == "yolo" and gf != "yolo" else None,
            box_format=fm.get("dt_box_format"),
        )
        ev = COCOeval(gt, dt, "bbox")
        with silenced():
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        out["detectors"][name] = {"eval": ev, "seconds": time.perf_counter() - t0, "n_dets": len(dt.annotations)}
    ctx.options["_evaluations"] = out
    return out


def user_evaluations(ctx: ReportContext) -> dict[str, Any]:
    """The evaluations of the chosen protocol: :func:`evaluations` (COCO) or, with ``protocol="lvis"``,
    :func:`~detbench.report.sections.user_lvis.lvis_evaluations` (its ``"protocol"`` key is ``"lvis"``)."""
    if ctx.options.get("protocol") == "lvis":
        from detbench.report.sections.user_lvis import lvis_evaluations

        return lvis_evaluations(ctx)
    return evaluations(ctx)


def per_class_ap(ev: Any) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """(category ids, AP@[.5:.95], AP50) per class from ``ev.eval["precision"]`` (area all, largest maxDets)."""
    prec = np.asarray(ev.eval["precision"])  # T, R, K, A, M
    cats = list(ev.params.catIds)
    ap, ap50 = np.full(len(cats), np.nan), np.full(len(cats), np.nan)
    for k in range(len(cats)):
        p = prec[:, :, k, 0, -1]
        if (p > -1).any():
            ap[k] = p[p > -1].mean()
        p50 = prec[0, :, k, 0, -1]
        if (p50 > -1).any():
            ap50[k] = p50[p50 > -1].mean()
    return cats, ap, ap50


def per_class_figure(shown: pd.DataFrame, order: list[str], xlabel: str) -> Any:
    """Horizontal bars of ``shown``'s ``AP <detector>`` columns per class (labels: its ``class`` column)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 0.32 * len(shown) * len(order) + 1.8))
    y = np.arange(len(shown))
    h = 0.8 / len(order)
    for i, n in enumerate(order):
        vals = shown[f"AP {n}"].to_numpy()
        bars = ax.barh(y + i * h, np.nan_to_num(vals), height=h, label=n)
        ax.bar_label(bars, labels=[f"{v:.3f}" if np.isfinite(v) else "-" for v in vals], fontsize=7, padding=2)
    ax.set_yticks(y + h * (len(order) - 1) / 2, list(shown["class"]), fontsize=8)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel(xlabel)
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="lower right")
    return fig


@section("user_ap", "Your detectors: AP/AR side by side")
def section_user_ap(ctx: ReportContext) -> Section:
    if ctx.options.get("protocol") == "lvis":
        from detbench.report.sections.user_lvis import section_lvis_ap

        return section_lvis_ap(ctx)
    got = evaluations(ctx)
    names = got["gt"].category_names
    dets = got["detectors"]
    stats = pd.DataFrame({"stat": list(STAT_NAMES)})
    timing = []
    per_class = None
    for name, d in dets.items():
        stats[name] = np.asarray(d["eval"].stats, np.float64)
        timing.append({"detector": name, "detections": d["n_dets"], "load_and_evaluate_ms": d["seconds"] * 1e3})
        cats, ap, ap50 = per_class_ap(d["eval"])
        if per_class is None:
            per_class = pd.DataFrame({"category_id": cats, "class": [names.get(c, str(c)) for c in cats]})
        per_class[f"AP {name}"] = ap
        per_class[f"AP50 {name}"] = ap50
    assert per_class is not None
    order = list(dets)
    ap_cols = [f"AP {n}" for n in order]
    # classes with the largest disagreement first: where the detectors differ
    if len(order) > 1:
        per_class["AP spread"] = per_class[ap_cols].max(axis=1) - per_class[ap_cols].min(axis=1)
        per_class = per_class.sort_values("AP spread", ascending=False, na_position="last")
    shown = per_class.head(20)
    fig = per_class_figure(shown, order, "AP @[.5:.95] (COCO)")
    first = order[0]
    summary = f"Your data: {first} AP {stats[first][0]:.3f}"
    if len(order) > 1:
        best = max(order, key=lambda n: stats[n][0])
        rest = ", ".join(f"{n} {stats[n][0]:.3f}" for n in order if n != best)
        wins = int((per_class[f"AP {best}"] >= per_class[ap_cols].max(axis=1)).sum())
        summary = (
            f"Your data: {best} is the most accurate (AP {stats[best][0]:.3f} against {rest}); it has the best AP on "
            f"{wins} of {len(per_class)} classes."
        )
    text = (
        f"<p>Ground truth: {len(got['gt'].getImgIds())} images, {len(names)} classes. Each detector's results are "
        "evaluated with detbench's COCO evaluation (the same numbers as pycocotools). Per-class table and "
        "figure: classes where the detectors differ most come first (the figure shows the first 20).</p>"
    )
    return Section(
        "user_ap",
        "Your detectors: AP/AR side by side",
        text=text,
        tables={"user_stats": stats, "user_per_class_ap": per_class, "user_timing": pd.DataFrame(timing)},
        figures=[(ctx.savefig(fig, "user_per_class_ap.png"), "AP per class and detector (largest differences first).")],
        data={"stats": stats.to_dict(orient="list")},
        summary=summary,
    )


def style_pr_panel(ax: Any, title: str) -> None:
    """One precision-recall panel's title, unit axes, labels and legend (the user reports' PR figures)."""
    ax.set_title(title, fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall", fontsize=8)
    ax.set_ylabel("precision", fontsize=8)
    ax.legend(fontsize=7, loc="lower left")


@section("user_pr", "Your detectors: precision-recall curves")
def section_user_pr(ctx: ReportContext) -> Section:
    if ctx.options.get("protocol") == "lvis":
        from detbench.report.sections.user_lvis import section_lvis_pr

        return section_lvis_pr(ctx)
    import matplotlib.pyplot as plt

    got = evaluations(ctx)
    names = got["gt"].category_names
    dets = got["detectors"]
    first = next(iter(dets.values()))["eval"]
    rec = np.asarray(first.params.recThrs)
    cats = list(first.params.catIds)
    gt_cats = got["gt"].annotations.category_id
    counts = {c: int(np.sum(gt_cats == c)) for c in cats}
    top = sorted(cats, key=lambda c: -counts.get(c, 0))[:6]
    n_panels = 1 + len(top)
    cols = min(n_panels, 4)
    rows = int(np.ceil(n_panels / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.1 * rows), squeeze=False)
    for ax in axes.ravel()[n_panels:]:
        ax.axis("off")
    panels = [("all classes (mean)", None), *((names.get(c, str(c)), cats.index(c)) for c in top)]
    for ax, (title, k) in zip(axes.ravel(), panels):
        for name, d in dets.items():
            prec = np.asarray(d["eval"].eval["precision"])[0, :, :, 0, -1]  # IoU 0.5: R, K
            if k is None:
                valid = (prec > -1).all(axis=0)
                curve = prec[:, valid].mean(axis=1) if valid.any() else np.full(len(rec), np.nan)
            else:
                curve = np.where(prec[:, k] > -1, prec[:, k], np.nan)
            ap = np.nanmean(curve) if np.isfinite(curve).any() else float("nan")
            ax.plot(rec, curve, label=f"{name} (AP50 {ap:.2f})")
        style_pr_panel(ax, title)
    text = (
        "<p>COCO's interpolated precision at 101 recall points, IoU 0.5, all areas, 100 detections per image: "
        "the mean over classes, then the most frequent classes.</p>"
    )
    return Section(
        "user_pr",
        "Your detectors: precision-recall curves",
        text=text,
        figures=[
            (ctx.savefig(fig, "user_pr.png"), "PR curves at IoU 0.5 per detector: all classes, frequent classes.")
        ],
    )
