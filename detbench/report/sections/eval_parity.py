"""detbench's COCO evaluation on the shipped real COCO subset, against pycocotools and the published stats."""

from __future__ import annotations

import html
import time
from typing import Any

import numpy as np
import pandas as pd

from detbench.eval.summary import STAT_NAMES
from detbench.report.framework import ReportContext, Section, section, silenced


@section("eval_parity", "Evaluation parity on real COCO data")
def section_eval_parity(ctx: ReportContext) -> Section:
    """The real COCO val2014 subset: detbench's stats against pycocotools' and the published ones."""
    from detbench.data import COCO_SUBSET_BBOX_STATS, coco_val2014_subset
    from detbench.eval import COCOeval, load_coco, load_results

    ctx.progress("evaluation parity: COCO val2014 subset")
    gt_path, dt_path = coco_val2014_subset()
    t0 = time.perf_counter()
    gt = load_coco(gt_path)
    dt = load_results(dt_path, gt)
    ev = COCOeval(gt, dt, "bbox")
    with silenced():
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    ours_s = time.perf_counter() - t0
    table = pd.DataFrame({"stat": list(STAT_NAMES), "published": COCO_SUBSET_BBOX_STATS, "detbench": ev.stats})
    data: dict[str, Any] = {"detbench_ms": ours_s * 1e3}
    pc = ctx.peer("pycocotools", "stat-by-stat parity on the COCO subset")
    if pc is not None:
        t0 = time.perf_counter()
        with silenced():
            c_gt = pc.COCO(str(gt_path))
            c_dt = c_gt.loadRes(str(dt_path))
            pe = pc.COCOeval(c_gt, c_dt, "bbox")
            pe.evaluate()
            pe.accumulate()
            pe.summarize()
        data["pycocotools_ms"] = (time.perf_counter() - t0) * 1e3
        table["pycocotools"] = pe.stats
        table["abs_diff_vs_pycocotools"] = np.abs(table["detbench"] - table["pycocotools"])
        for key in ("precision", "recall", "scores"):
            a, b = np.asarray(ev.eval[key]), np.asarray(pe.eval[key])
            data[f"max_abs_diff_{key}"] = float(np.abs(a - b).max()) if a.shape == b.shape else float("nan")
    table["abs_diff_vs_published"] = np.abs(table["detbench"] - table["published"])
    data["max_abs_diff_vs_published"] = float(table["abs_diff_vs_published"].max())
    extra = "".join(f"<li>{html.escape(k)}: {v:.4g}</li>" for k, v in data.items())
    worst = max(data.get(f"max_abs_diff_{k}", 0.0) for k in ("precision", "recall", "scores"))
    pub = data["max_abs_diff_vs_published"]
    summary = "Accuracy: on the real COCO subset detbench's 12 stats " + (
        "equal the published ones exactly" if pub == 0 else f"differ from the published ones by at most {pub:.2g}"
    )
    if pc is not None:
        summary += (
            " and its precision/recall/score arrays equal pycocotools' exactly."
            if worst == 0
            else f"; its precision/recall/score arrays differ from pycocotools' by at most {worst:.2g}."
        )
    else:
        summary += "."
    text = (
        "<p>Real data shipped with detbench: the 100 smallest COCO val2014 images (839 boxes, 9 crowd) and "
        "the 734 reference detections published with the official COCO API. Loading, evaluation, "
        f"accumulation and summary, end to end (one run each, ms):</p><ul>{extra}</ul>"
    )
    return Section(
        "eval_parity",
        "Evaluation parity on real COCO data",
        text=text,
        tables={"coco_subset_stats": table},
        data=data,
        summary=summary,
    )
