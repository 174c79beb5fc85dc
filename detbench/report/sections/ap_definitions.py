"""COCO-101, VOC07 11-point and VOC2010+ all-point AP from one matching pass, and PR curves."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from detbench.report.framework import ReportContext, Section, section


def gt_arrays(gt: dict[str, Any]) -> dict[str, np.ndarray]:
    """Ground-truth arrays (x1y1x2y2 boxes) of a COCO dict, for :func:`detbench.eval.evaluate_pr`."""
    ann = gt["annotations"]
    boxes = np.array([a["bbox"] for a in ann], np.float64).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    return {
        "gt_boxes": boxes,
        "gt_labels": np.array([a["category_id"] for a in ann]),
        "gt_images": np.array([a["image_id"] for a in ann]),
        "gt_difficult": np.array([bool(a.get("iscrowd", 0)) for a in ann]),
    }


def category_names(gt: dict[str, Any]) -> dict[Any, str]:
    return {c["id"]: str(c.get("name", c["id"])) for c in gt.get("categories", [])}


def definitions_bar(ax: Any, res: Any) -> None:
    """mAP by definition per IoU threshold; the axis starts at 0 and every bar carries its value."""
    means = pd.DataFrame(
        {
            "COCO-101": np.nanmean(res.ap_coco101, axis=0),
            "VOC07 11-point": np.nanmean(res.ap_voc07, axis=0),
            "VOC2010+ all-point": np.nanmean(res.ap_voc, axis=0),
        },
        index=[f"IoU {t:g}" for t in res.iou_thresholds],
    )
    means.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("mAP (same matches)")
    ax.set_ylim(0.0, 1.05)
    for container in ax.containers:
        ax.bar_label(container, fmt="%.3f", fontsize=7, padding=1)
    ax.legend(fontsize=8, loc="upper right")


def pr_curves(ax: Any, res: Any, names: dict[Any, str], iou: float = 0.5, limit: int = 6) -> None:
    """PR curves of up to ``limit`` classes (most frequent first), legend: class name and its AP."""
    k = list(res.iou_thresholds).index(iou) if iou in list(res.iou_thresholds) else 0
    for j, cat in enumerate(res.category_ids[:limit]):
        prec, rec, _ = res.curve(cat, res.iou_thresholds[k])
        ax.plot(rec, prec, label=f"{names.get(cat, cat)} (AP {res.ap_voc[j, k]:.2f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"PR curves at IoU {res.iou_thresholds[k]:g}")
    ax.legend(fontsize=7, loc="lower left")


@section("ap_definitions", "AP definitions side by side, PR curves")
def section_ap_definitions(ctx: ReportContext) -> Section:
    import matplotlib.pyplot as plt

    import detbench as db
    from detbench.eval import evaluate_pr
    from detbench.synthetic import SceneConfig, make_dataset

    ctx.progress("AP definitions and PR curves")
    gt, raw = make_dataset(SceneConfig(n_images=60 if ctx.quick else 300), seed=ctx.seed + 7)
    keep = []
    for _, idx in raw.per_image().items():
        keep.append(idx[db.batched_nms(raw.boxes[idx], raw.scores[idx], raw.labels[idx], 0.5)])
    det = raw.select(np.concatenate(keep))
    tables, data = {}, {}
    voc = None
    for matching in ("voc", "coco"):
        res = evaluate_pr(
            None,
            iou_thresholds=(0.5, 0.75),
            matching=matching,
            **gt_arrays(gt),
            det_boxes=det.boxes,
            det_scores=det.scores,
            det_labels=det.labels,
            det_images=det.image_ids,
        )
        tables[f"ap_definitions_{matching}_matching"] = res.to_dataframe()
        data[matching] = res.mean()
        if matching == "voc":
            voc = res
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    definitions_bar(axes[0], voc)
    axes[0].set_title("mAP by definition (VOC matching)")
    pr_curves(axes[1], voc, category_names(gt))
    text = (
        f"<p>{len(gt['images'])} synthetic images after batched NMS at 0.5. One matching pass per IoU "
        "threshold, three ways of turning the same precision-recall points into AP: COCO's 101 "
        "interpolated recall points, VOC2007's 11 points and VOC2010+'s area under the monotone envelope. "
        "With VOC matching each detection takes its max-IoU ground truth (duplicates are false positives); "
        "COCO matching is pycocotools' greedy rule. The tables give every class, with the F1-optimal "
        "score threshold.</p>"
    )
    return Section(
        "ap_definitions",
        "AP definitions side by side, PR curves",
        text=text,
        tables=tables,
        figures=[
            (
                ctx.savefig(fig, "ap_definitions.png"),
                "mAP by definition from the same matches (left); PR curves per class with its AP (right).",
            )
        ],
        data=data,
    )
