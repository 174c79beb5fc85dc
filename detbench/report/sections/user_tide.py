"""The report on the user's data: the TIDE error breakdown of every detector.

For each detector of ``detbench report --gt GT.json --dt NAME=DT.json ...``, the evaluation the other
user sections ran (cached in the context) gives its TIDE breakdown (:meth:`COCOeval.tide`, tidecv's
numbers from the evaluation's own matches; with ``--protocol lvis`` :meth:`LVISEval.tide`, the federated
rules applied first): a table of the main and special errors (dAP, AP points)
and the error counts, and a grouped bar chart (:func:`detbench.plots.plot_tide`).
"""

from __future__ import annotations

import time
import warnings

import pandas as pd

from detbench.eval.tide import MAIN_ERRORS, SPECIAL_ERRORS
from detbench.report.framework import ReportContext, Section, section
from detbench.report.sections.user_data import user_evaluations


@section("user_tide", "Your detectors: where AP is lost (TIDE errors)")
def section_user_tide(ctx: ReportContext) -> Section:
    from detbench.plots.tide import plot_tide

    got = user_evaluations(ctx)
    rows, counts, results = [], [], {}
    for name, d in got["detectors"].items():
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = d["eval"].tide()
        for w in caught:
            ctx.note(f"{name}: {w.message}")
        ms = (time.perf_counter() - t0) * 1e3
        results[name] = r
        rows.append({"detector": name, "AP50 (TIDE)": r.ap, **{k: r[k] for k in MAIN_ERRORS + SPECIAL_ERRORS}})
        counts.append({"detector": name, **r.counts, "tide_ms": ms})
    table = pd.DataFrame(rows)
    fig = plot_tide(results if len(results) > 1 else next(iter(results.values())))
    first = next(iter(results))
    biggest = max(MAIN_ERRORS, key=lambda k: results[first][k])
    summary = (
        f"Your data: {first} loses most AP50 to {biggest} errors ({results[first][biggest]:.2f} AP points of "
        f"{100 - results[first].ap:.2f} missing)."
    )
    text = (
        "<p>TIDE (Bolya et al., ECCV 2020) splits the AP a detector misses at IoU 0.5 into error types: dAP "
        "is the AP gained (AP points, tidecv's AP) when all errors of one type are fixed. Main errors: Cls "
        "(right box, wrong class), Loc (right class, IoU between 0.1 and 0.5), Both, Dupe (duplicate of a "
        "matched detection), Bkg (background, IoU &le; 0.1), Miss (ground truth no detection is near). Special "
        "errors: FalsePos (every false positive scored below every true positive) and FalseNeg (every missed "
        "ground truth removed). Equal to the <code>tidecv</code> package, computed from the matches of the "
        "evaluation above.</p>"
    )
    if got.get("protocol") == "lvis":
        text += (
            "<p>LVIS (<code>LVISEval.tide()</code>): the federated rules apply first (detections of a class neither "
            "annotated nor negative in their image are not seen; an unmatched detection of a not-exhaustive class "
            "is left out), 300 detections per image; the AP shown is tidecv's, not LVIS' AP.</p>"
        )
    return Section(
        "user_tide",
        "Your detectors: where AP is lost (TIDE errors)",
        text=text,
        tables={"user_tide": table, "user_tide_counts": pd.DataFrame(counts)},
        figures=[(ctx.savefig(fig, "user_tide.png"), "TIDE main and special errors per detector (dAP, AP points).")],
        data={"tide": {n: r.to_dict() for n, r in results.items()}},
        summary=summary,
    )
