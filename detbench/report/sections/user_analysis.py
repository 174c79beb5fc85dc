"""The user-data report's analyses: confusion matrices, F1 against confidence, per-class AP with intervals.

With ``--protocol lvis`` the same figures come from :class:`~detbench.eval.LVISEval`'s analyses.
Every figure reuses the evaluation the ``user_ap`` section ran (:func:`~detbench.report.sections.user_data.evaluations`)
and the functions of :mod:`detbench.plots.analysis`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from detbench.plots.analysis import plot_class_ap, plot_confusion_matrix, plot_f1_confidence
from detbench.report.framework import ReportContext, Section, section
from detbench.report.sections.user_data import user_evaluations

#: confusion-matrix thresholds of the report (ultralytics' defaults)
CM_IOU, CM_SCORE = 0.45, 0.25


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


@section("user_analysis", "Your detectors: confusions, thresholds and intervals")
def section_user_analysis(ctx: ReportContext) -> Section:
    got = user_evaluations(ctx)
    lvis = got.get("protocol") == "lvis"
    names = got["names"] if lvis else got["gt"].category_names
    n_boot = 200 if ctx.quick else 1000
    figures = []
    overall = []
    best_rows = []
    for name, d in got["detectors"].items():
        ev = d["eval"]
        ctx.progress(f"analysing {name}")
        slug = _slug(name)
        labels = [str(names.get(c, c)) for c in (ev.params.cat_ids if lvis else ev.params.catIds)]
        bs = ev.bootstrap(n_boot, seed=ctx.seed)
        cur = ev.f1_confidence(0.5)
        cm = ev.confusion_matrix(CM_IOU, CM_SCORE)
        figures.append(
            (
                ctx.savefig(plot_confusion_matrix(cm, names=labels), f"user_cm_{slug}.png"),
                f"{name}: confusion matrix, counts (IoU > {CM_IOU}, score > {CM_SCORE}; ultralytics' rule).",
            )
        )
        figures.append(
            (
                ctx.savefig(plot_confusion_matrix(cm, names=labels, normalize=True), f"user_cm_norm_{slug}.png"),
                f"{name}: confusion matrix normalised per true class (each column sums to 1).",
            )
        )
        figures.append(
            (
                ctx.savefig(plot_f1_confidence(cur, names=labels), f"user_f1_{slug}.png"),
                f"{name}: F1 against the score threshold per class at IoU 0.5 (mean over classes in black).",
            )
        )
        figures.append(
            (
                ctx.savefig(plot_class_ap(ev.to_dataframe(), top=30), f"user_ap_ci_{slug}.png"),
                f"{name}: AP per class with the {int(bs.ci * 100)} % bootstrap interval ({bs.n} image resamples).",
            )
        )
        iv = bs.intervals()
        row = {"detector": name, "AP": float(ev.results["AP"] if lvis else ev.stats[0])}
        for key, (lo, hi) in iv.items():
            row[f"{key} low"] = lo
            row[f"{key} high"] = hi
        K = cm.shape[0] - 1
        row["background FP (score > 0.25)"] = int(cm[:K, K].sum())
        row["missed GT"] = int(cm[K, :K].sum())
        row["class confusions"] = int(cm[:K, :K].sum() - np.trace(cm[:K, :K]))
        row["best score threshold (mean F1)"] = cur.mean_best_threshold
        overall.append(row)
        for k, c in enumerate(cur.cat_ids):
            best_rows.append(
                {
                    "detector": name,
                    "class": names.get(c, str(c)),
                    "best threshold": cur.best_threshold[k],
                    "F1": cur.best_f1[k],
                    "precision": cur.best_precision[k],
                    "recall": cur.best_recall[k],
                }
            )
    table = pd.DataFrame(overall)
    rows = list(table.to_dict("records"))
    ivs = ", ".join(f"{r['detector']} {r['AP']:.3f} [{r['AP low']:.3f}, {r['AP high']:.3f}]" for r in rows)
    thr = ", ".join(f"{r['detector']} {r['best score threshold (mean F1)']:.2f}" for r in rows)
    summary = (
        f"Your data: AP with its {int(round(100 * (bs.ci)))} % bootstrap interval ({n_boot} image resamples): {ivs}; "
        f"score threshold of the best mean F1 at IoU 0.5: {thr}."
    )
    text = (
        "<p>All from the evaluation above, with no second matching pass: the bootstrap resamples the images "
        f"({n_boot} times, seed {ctx.seed}) and re-accumulates the COCO matches; F1 against confidence uses the "
        "matches at IoU 0.5. The confusion matrix needs a match across classes, so it uses ultralytics' rule "
        f"(greedy by score, IoU > {CM_IOU}, detections with score > {CM_SCORE}); rows are the predicted class, "
        "columns the true class, background last.</p>"
    )
    if lvis:
        text += (
            "<p>LVIS (<code>LVISEval</code>'s analyses): the bootstrap and F1 use the federated matches (detections "
            "the federated rule drops count nowhere, unmatched not-exhaustive ones are ignored); the intervals add "
            "APr / APc / APf; the confusion matrix shows the 30 classes with the most ground truths and detections "
            '(the rest summed into "other").</p>'
        )
    return Section(
        "user_analysis",
        "Your detectors: confusions, thresholds and intervals",
        text=text,
        tables={"user_intervals": table, "user_best_thresholds": pd.DataFrame(best_rows)},
        figures=figures,
        data={"intervals": table.to_dict(orient="list")},
        summary=summary,
    )
