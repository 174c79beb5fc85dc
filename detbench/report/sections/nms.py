"""Every NMS variant on the same raw detections: COCO accuracy against time, with the Pareto front."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from detbench._timing import time_fn
from detbench.report.figures import label_points, pareto_front
from detbench.report.framework import ReportContext, Section, section, silenced


def coco_stats(gt_dataset: Any, detections: Any) -> np.ndarray:
    """The 12 COCO bbox stats of :class:`detbench.synthetic.Detections` against a loaded ground truth."""
    from detbench.eval import COCOeval, load_results

    xywh = detections.boxes.astype(np.float64).copy()
    xywh[:, 2:] -= xywh[:, :2]
    rows = np.column_stack([detections.image_ids, xywh, detections.scores, detections.labels]).astype(np.float64)
    dt = load_results(rows, gt_dataset)
    ev = COCOeval(gt_dataset, dt, "bbox")
    with silenced():
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=np.float64)


def nms_variants() -> dict[str, tuple[str, Callable[..., Any]]]:
    """``{name: (scope, fn(boxes, scores, labels) -> (boxes, scores, labels))}`` for every variant.

    ``scope`` is ``"image"`` when the function handles labels itself and
    ``"class"`` when it is applied to each (image, class) group.
    """
    import detbench as db

    def keep(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(b: np.ndarray, s: np.ndarray, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            k = fn(b, s)
            return b[k], s[k], lab[k]

        return run

    def rescored(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(b: np.ndarray, s: np.ndarray, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            k, new = fn(b, s)
            return b[k], new, lab[k]

        return run

    def batched(b: np.ndarray, s: np.ndarray, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = db.batched_nms(b, s, lab, 0.5)
        return b[k], s[k], lab[k]

    return {
        "none (raw)": ("image", lambda b, s, lab: (b, s, lab)),
        "batched_nms 0.5": ("image", batched),
        "nms 0.5": ("class", keep(lambda b, s: db.nms(b, s, 0.5))),
        "nms 0.7": ("class", keep(lambda b, s: db.nms(b, s, 0.7))),
        "diou_nms 0.5": ("class", keep(lambda b, s: db.diou_nms(b, s, 0.5))),
        "fast_nms 0.5": ("class", keep(lambda b, s: db.fast_nms(b, s, 0.5))),
        "cluster_nms 0.5": ("class", keep(lambda b, s: db.cluster_nms(b, s, 0.5))),
        "soft_nms gaussian": ("class", rescored(lambda b, s: db.soft_nms(b, s, "gaussian", sigma=0.5))),
        "soft_nms linear": ("class", rescored(lambda b, s: db.soft_nms(b, s, "linear", iou_threshold=0.3))),
        "matrix_nms gaussian": (
            "class",
            rescored(lambda b, s: db.matrix_nms(b, s, "gaussian", sigma=2.0, score_threshold=0.05)),
        ),
        "weighted_nms 0.55": ("image", lambda b, s, lab: db.weighted_nms(b, s, lab, iou_threshold=0.55)),
        "weighted_boxes_fusion 0.55": (
            "image",
            lambda b, s, lab: db.weighted_boxes_fusion(b, s, lab, iou_threshold=0.55),
        ),
    }


def _groups(det: Any, scope: str) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    groups = []
    for image_id, idx in det.per_image().items():
        if scope == "image":
            groups.append((image_id, det.boxes[idx], det.scores[idx], det.labels[idx]))
        else:
            labels = det.labels[idx]
            for c in np.unique(labels):
                sel = idx[labels == c]
                groups.append((image_id, det.boxes[sel], det.scores[sel], det.labels[sel]))
    return groups


def _collect(det: Any, groups: list[Any], results: list[Any]) -> Any:
    from detbench.synthetic import Detections

    if not groups:
        return det.select(np.zeros(0, np.int64))
    out_ids, out_b, out_s, out_l = [], [], [], []
    for (image_id, *_), (b, s, lab) in zip(groups, results):
        out_ids.append(np.full(len(s), image_id, np.int64))
        out_b.append(np.asarray(b, np.float64).reshape(-1, 4))
        out_s.append(np.asarray(s, np.float64))
        out_l.append(np.asarray(lab, np.int64))
    return Detections(np.concatenate(out_ids), np.concatenate(out_b), np.concatenate(out_s), np.concatenate(out_l))


def apply_per_image(det: Any, scope: str, fn: Callable[..., Any]) -> tuple[Any, float]:
    """Run one variant over every image (and class, for ``scope="class"``); returns (detections, seconds)."""
    groups = _groups(det, scope)
    t0 = time.perf_counter()
    results = [fn(b, s, lab) for _, b, s, lab in groups]
    elapsed = time.perf_counter() - t0
    return _collect(det, groups, results), elapsed


def _peer_variants(ctx: ReportContext, image_size: tuple[int, int]) -> dict[str, tuple[str, Callable[..., Any]]]:
    out: dict[str, tuple[str, Callable[..., Any]]] = {}
    tv = ctx.peer("torchvision", "batched_nms on the NMS accuracy plot")
    if tv is not None:

        def tv_batched(b: np.ndarray, s: np.ndarray, lab: np.ndarray) -> Any:
            k = tv.ops.batched_nms(tv.from_numpy(b), tv.from_numpy(s), tv.from_numpy(lab), 0.5).numpy()
            return b[k], s[k], lab[k]

        out["torchvision batched_nms 0.5"] = ("image", tv_batched)
    eb = ctx.peer("ensemble-boxes", "soft_nms and weighted_boxes_fusion on the NMS accuracy plot")
    if eb is not None:
        h, w = image_size
        scale = np.array([w, h, w, h], np.float64)

        def eb_soft(b: np.ndarray, s: np.ndarray, lab: np.ndarray) -> Any:
            fb, fs, fl = eb.soft_nms([b / scale], [s], [lab], method=2, sigma=0.5, thresh=0.001)
            return fb * scale, fs, fl.astype(np.int64)

        def eb_fusion(b: np.ndarray, s: np.ndarray, lab: np.ndarray) -> Any:
            fb, fs, fl = eb.weighted_boxes_fusion([b / scale], [s], [lab], iou_thr=0.55)
            return fb * scale, fs, fl.astype(np.int64)

        out["ensemble-boxes soft_nms gaussian"] = ("class", eb_soft)
        out["ensemble-boxes weighted_boxes_fusion 0.55"] = ("image", eb_fusion)
    return out


COLOURS = {"detbench": "#3b7dd8", "torchvision": "#e07b39", "ensemble-boxes": "#4caf50"}


def pareto_figure(ctx: ReportContext, ranked: pd.DataFrame, n_images: int) -> str:
    """AP against time (ms, log), min-max error bars, front outlined and joined, labels in a side column."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5.6))
    x = ranked["time_ms"].to_numpy()
    y = ranked["AP"].to_numpy()
    xerr = [np.clip(x - ranked["time_ms_min"], 0, None), np.clip(ranked["time_ms_max"] - x, 0, None)]
    ax.errorbar(x, y, xerr=xerr, fmt="none", ecolor="#999", lw=0.8, capsize=2, zorder=2)
    for r in ranked.itertuples():
        ax.scatter(
            r.time_ms,
            r.AP,
            color=COLOURS.get(r.library, "grey"),
            s=46,
            edgecolor="k" if r.pareto else "none",
            linewidth=1.3,
            zorder=3,
        )
    front = ranked[ranked["pareto"]].sort_values("time_ms")
    ax.step(front["time_ms"], front["AP"], "k--", lw=0.8, where="post", label="Pareto front (outlined)")
    ax.set_xscale("log")
    ax.set_xlabel(f"time for {n_images} images (ms, log scale; bars: min-max over rounds)")
    ax.set_ylabel("COCO AP @[.5:.95]")
    for lib, c in COLOURS.items():
        if (ranked["library"] == lib).any():
            ax.scatter([], [], color=c, label=lib)
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=4, frameon=False)
    fig.subplots_adjust(left=0.08, right=0.62, bottom=0.12, top=0.92)
    label_points(ax, x, y, list(ranked["variant"]))
    fig.savefig(ctx.out_dir / "nms_pareto.png", dpi=110)
    plt.close(fig)
    return "nms_pareto.png"


@section("nms", "NMS variants: accuracy vs speed")
def section_nms(ctx: ReportContext) -> Section:
    """Accuracy (COCO AP, AP50, AR100) of every NMS variant on the same raw detections, next to its speed."""
    from detbench.eval import load_coco
    from detbench.synthetic import SceneConfig, make_dataset

    scene = SceneConfig(n_images=40 if ctx.quick else 200)
    gt, raw = make_dataset(scene, seed=ctx.seed)
    gt_ds = load_coco(gt)
    variants = {**nms_variants(), **_peer_variants(ctx, scene.image_size)}
    rows = []
    n_images = max(len(gt["images"]), 1)
    for i, (name, (scope, fn)) in enumerate(variants.items()):
        ctx.progress(f"NMS variants: {name} ({i + 1}/{len(variants)})")
        groups = _groups(raw, scope)
        run = lambda groups=groups, fn=fn: [fn(b, s, lab) for _, b, s, lab in groups]  # noqa: E731
        kept = _collect(raw, groups, run())  # also the warm-up (JIT)
        t = time_fn(run, rounds=3 if ctx.quick else 5, budget_s=3.0 if ctx.quick else 15.0, warmup=False)
        stats = coco_stats(gt_ds, kept)
        library = name.split()[0] if name.startswith(("torchvision", "ensemble-boxes")) else "detbench"
        rows.append(
            {
                "variant": name,
                "library": library,
                "AP": stats[0],
                "AP50": stats[1],
                "AP75": stats[2],
                "AR100": stats[8],
                "kept_boxes": len(kept),
                "time_ms": t.median * 1e3,
                "time_ms_min": t.min * 1e3,
                "time_ms_max": t.max * 1e3,
                "per_image_ms": t.median / n_images * 1e3,
            }
        )
    table = pd.DataFrame(rows)
    ranked_mask = table["variant"] != "none (raw)"
    table["pareto"] = False
    table.loc[ranked_mask, "pareto"] = pareto_front(table.loc[ranked_mask, "time_ms"], table.loc[ranked_mask, "AP"])
    ranked = table[ranked_mask]
    fig_name = pareto_figure(ctx, ranked, n_images)
    best = ranked.loc[ranked["AP"].idxmax()]
    fastest = ranked.loc[ranked["time_ms"].idxmin()]
    summary = (
        f"NMS: the most accurate variant on the synthetic detections is {best['variant']} (AP {best['AP']:.3f}, "
        f"{best['time_ms']:.3g} ms for {n_images} images); the fastest is {fastest['variant']} "
        f"(AP {fastest['AP']:.3f}, {fastest['time_ms']:.3g} ms). On the front: "
        + ", ".join(ranked.loc[ranked["pareto"], "variant"])
        + "."
    )
    text = (
        f"<p>{len(gt['images'])} synthetic images, {len(gt['annotations'])} objects, {len(raw)} raw "
        "detections from the detector simulator (duplicates jittered around each object, localisation "
        "noise, false positives, class confusion; see <code>detbench.synthetic</code>). Every variant runs "
        "on the same raw detections, per image (and per class where the function is class-agnostic); "
        "time is the whole loop, Python calls included (median of rounds after a warm-up, in ms). AP/AR by "
        "detbench.eval.COCOeval (pycocotools-exact). Outlined points are on the speed/accuracy Pareto "
        "front: no other variant is at least as fast and at least as accurate, and strictly better in one. "
        "ensemble-boxes' <code>soft_nms</code> keeps the same boxes as detbench's but returns their "
        "original, undecayed scores, so its ranking ignores the decay (hence its lower AP); detbench returns "
        "the decayed scores and the kept indices, from which ensemble-boxes' output is "
        "<code>scores[indices]</code>.</p>"
    )
    return Section(
        "nms",
        "NMS variants: accuracy vs speed",
        text=text,
        tables={"nms_variants": table},
        figures=[(fig_name, "COCO AP against time for every NMS variant on the same raw detections.")],
        data={"rows": table.to_dict(orient="records")},
        summary=summary,
    )
