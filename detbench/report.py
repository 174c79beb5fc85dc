"""``detbench report``: the main job. Speed and accuracy of every primitive, side by side.

The report runs on built-in data only (:mod:`detbench.synthetic` and the COCO
val2014 subset shipped in :mod:`detbench.data`) and writes a folder::

    index.html        figures inline, tables, machine and versions
    *.png             every figure
    *.csv             every table
    results.json      every number (tables, parity figures, environment)

Sections are plain functions ``section_xxx(ctx) -> Section``; each measures
detbench and every installed peer in the same run (never interleaving torch
and Numba calls inside one timing loop) and reports the JIT first-call time
apart from the steady-state time. ``quick=True`` uses small sizes and few
repeats (under a minute on 2 cores); the full run takes a few minutes.
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import io
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Section", "ReportContext", "run_report", "SECTIONS", "environment_info"]


@dataclass
class Section:
    """One part of the report: HTML text, tables, figures (PNG file names) and raw data."""

    key: str
    title: str
    text: str = ""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReportContext:
    """What every section receives."""

    out_dir: Path
    quick: bool = True
    seed: int = 0
    progress: Callable[[str], None] = lambda msg: None

    def savefig(self, fig: Any, name: str) -> str:
        """Save a matplotlib figure as ``name`` (PNG) in the output folder; returns the file name."""
        import matplotlib.pyplot as plt

        fig.tight_layout()
        fig.savefig(self.out_dir / name, dpi=110)
        plt.close(fig)
        return name


class Progress:
    """A one-line text progress bar on stderr (no dependency)."""

    def __init__(self, total: int, stream: Any = None, enabled: bool = True, width: int = 28):
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.width = width
        self.t0 = time.perf_counter()

    def step(self, message: str) -> None:
        if not self.enabled:
            return
        frac = min(self.done / self.total, 1.0)
        filled = int(round(frac * self.width))
        elapsed = time.perf_counter() - self.t0
        bar = "#" * filled + "." * (self.width - filled)
        line = f"\r[{bar}] {self.done}/{self.total} {elapsed:6.1f}s  {message[:60]:<60}"
        self.stream.write(line)
        self.stream.flush()

    def advance(self, message: str) -> None:
        self.done += 1
        self.step(message)

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- timing helpers


def median_time(fn: Callable[[], Any], repeats: int, budget_s: float = 2.0) -> float:
    """Median wall time of ``fn()`` over up to ``repeats`` runs (stops early past ``budget_s``)."""
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s:
            break
    return float(np.median(times))


def first_call_time(fn: Callable[[], Any]) -> float:
    """Time of the first call in this process: JIT compile (or on-disk cache load) plus one run."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def have(module: str) -> bool:
    """Whether an optional peer can be imported."""
    return importlib.util.find_spec(module) is not None


# --------------------------------------------------------------------------- environment


def environment_info() -> dict[str, Any]:
    """Machine, Numba threading and package versions."""
    import numba

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    try:
        info["numba_threading_layer"] = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        info["numba_threading_layer"] = "not initialised"
    from importlib import metadata

    versions = {}
    for dist in (
        "detbench",
        "numba",
        "numpy",
        "pandas",
        "matplotlib",
        "pycocotools",
        "torch",
        "torchvision",
        "faster-coco-eval",
        "opencv-python-headless",
        "ensemble-boxes",
        "numba-cuda",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    info["versions"] = versions
    return info


def section_environment(ctx: ReportContext) -> Section:
    info = environment_info()
    rows = [(k, v) for k, v in info.items() if k != "versions"] + [
        (f"version: {k}", v) for k, v in info["versions"].items()
    ]
    table = pd.DataFrame(rows, columns=["item", "value"])
    return Section("environment", "Machine and versions", tables={"environment": table}, data=info)


# --------------------------------------------------------------------------- speed


@dataclass
class SpeedCase:
    """One primitive at one size: detbench's call and the peers doing the same work."""

    primitive: str
    size: str
    detbench: Callable[[], Any]
    peers: dict[str, Callable[[], Any]] = field(default_factory=dict)
    order: float = 0.0  # a numeric size for plotting


def speed_cases(quick: bool, seed: int = 0) -> list[SpeedCase]:
    """Every primitive at the report's sizes, with each installed peer."""
    import detbench as db
    from detbench.synthetic import random_boxes

    cases: list[SpeedCase] = []
    torch = tvops = None
    if have("torch") and have("torchvision"):
        import torch
        import torchvision.ops as tvops

    for n in (500, 2000) if quick else (1000, 3000, 5000):
        a, b = random_boxes(n, 1000.0, seed + 1), random_boxes(n, 1000.0, seed + 2)
        out = np.empty((n, n), np.float32)
        peers = {}
        if tvops is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            peers["torchvision"] = lambda ta=ta, tb=tb: tvops.box_iou(ta, tb)
        cases.append(SpeedCase("box_iou", f"{n}x{n}", lambda a=a, b=b: db.box_iou(a, b), peers, n))
        cases.append(
            SpeedCase("box_iou(out=)", f"{n}x{n}", lambda a=a, b=b, o=out: db.box_iou(a, b, out=o), dict(peers), n)
        )

    from detbench.synthetic import clustered_boxes

    for n in (1000, 10000) if quick else (1000, 10000, 100000):
        b, sc, lab = clustered_boxes(n, 1000.0, seed)
        peers = {}
        if tvops is not None and n <= 10000:  # torchvision takes ~20 s at 100k dense
            tb, ts, tl = torch.from_numpy(b), torch.from_numpy(sc), torch.from_numpy(lab)
            peers["torchvision"] = lambda tb=tb, ts=ts: tvops.nms(tb, ts, 0.5)
            bpeers = {"torchvision": lambda tb=tb, ts=ts, tl=tl: tvops.batched_nms(tb, ts, tl, 0.5)}
        else:
            bpeers = {}
        cases.append(SpeedCase("nms (dense)", f"{n}", lambda b=b, sc=sc: db.nms(b, sc, 0.5), peers, n))
        cases.append(
            SpeedCase(
                "batched_nms (80 classes)",
                f"{n}",
                lambda b=b, sc=sc, lab=lab: db.batched_nms(b, sc, lab, 0.5),
                bpeers,
                n,
            )
        )
    b, sc, _ = clustered_boxes(100000, 4000.0, seed)
    cases.append(SpeedCase("nms (sparse)", "100000", lambda b=b, sc=sc: db.nms(b, sc, 0.5), {}, 100000))
    for n in (1000,) if quick else (1000, 10000):
        b, sc, lab = clustered_boxes(n, 1000.0, seed, dtype=np.float64)
        peers = {}
        if have("ensemble_boxes"):
            from ensemble_boxes import soft_nms as eb_soft_nms

            # one label: ensemble-boxes splits by label, detbench's soft_nms is class-agnostic
            unit, one_label = b / 1000.0, np.zeros(n)
            peers["ensemble-boxes"] = lambda u=unit, sc=sc, z=one_label: eb_soft_nms(
                [u], [sc], [z], method=2, sigma=0.5, thresh=0.001
            )
        cases.append(
            SpeedCase(
                "soft_nms (gaussian)", f"{n}", lambda b=b, sc=sc: db.soft_nms(b, sc, "gaussian", sigma=0.5), peers, n
            )
        )

    n_rois = 200 if quick else 1000
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((1, 256, 200, 272), dtype=np.float32)
    wh = np.exp(rng.uniform(np.log(16), np.log(512), (n_rois, 2)))
    xy = rng.uniform(0, 1, (n_rois, 2)) * (np.array([1088.0, 800.0]) - wh)
    rois = np.concatenate([np.zeros((n_rois, 1)), xy, xy + wh], axis=1).astype(np.float32)
    for label, kw in (
        ("roi_align sr=2 aligned", dict(sampling_ratio=2, aligned=True)),
        ("roi_align sr=-1", dict(sampling_ratio=-1, aligned=False)),
    ):
        peers = {}
        if tvops is not None:
            tf, tr = torch.from_numpy(features), torch.from_numpy(rois)
            peers["torchvision"] = lambda tf=tf, tr=tr, kw=kw: tvops.roi_align(tf, tr, 7, 0.25, **kw)
        cases.append(
            SpeedCase(label, f"{n_rois} rois", lambda kw=kw: db.roi_align(features, rois, 7, 0.25, **kw), peers, n_rois)
        )
    peers = {}
    if tvops is not None:
        tf, tr = torch.from_numpy(features), torch.from_numpy(rois)
        peers["torchvision"] = lambda tf=tf, tr=tr: tvops.roi_pool(tf, tr, 7, 0.25)
    cases.append(SpeedCase("roi_pool", f"{n_rois} rois", lambda: db.roi_pool(features, rois, 7, 0.25), peers, n_rois))
    cases.extend(_eval_speed_cases(quick, seed))
    return cases


def _silenced() -> contextlib.AbstractContextManager[Any]:
    """Swallow what a peer (or a drop-in summarize) prints."""
    return contextlib.redirect_stdout(io.StringIO())


def _quiet(fn: Callable[..., Any], *args: Any) -> Any:
    with _silenced():
        return fn(*args)


def _eval_speed_cases(quick: bool, seed: int) -> list[SpeedCase]:
    """COCO evaluation end to end (evaluate + accumulate + summarize) on pycocotools COCO objects."""
    from detbench.eval import COCOeval
    from detbench.eval.loader import clear_cache
    from detbench.synthetic import DetectorConfig, SceneConfig, make_dataset

    cases = []
    for n_images in (100,) if quick else (500,):
        scene = SceneConfig(n_images=n_images, n_classes=80, objects_per_image=(2, 12))
        gt, det = make_dataset(scene, DetectorConfig(duplicates=(4, 12), false_positives_per_image=6), seed=seed)
        results = det.to_coco()
        if not have("pycocotools"):
            continue
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval as PyCOCOeval

        c_gt = COCO()
        c_gt.dataset = gt
        _quiet(c_gt.createIndex)
        c_dt = _quiet(c_gt.loadRes, results)

        def ours(c_gt: Any = c_gt, c_dt: Any = c_dt) -> Any:
            clear_cache()  # cold: include pulling the arrays out of the COCO objects, as a user's first call
            e = COCOeval(c_gt, c_dt, "bbox")
            e.evaluate()
            e.accumulate()
            _quiet(e.summarize)
            return e.stats

        def pycoco(c_gt: Any = c_gt, c_dt: Any = c_dt) -> Any:
            e = PyCOCOeval(c_gt, c_dt, "bbox")
            _quiet(e.evaluate)
            _quiet(e.accumulate)
            _quiet(e.summarize)
            return e.stats

        peers: dict[str, Callable[[], Any]] = {"pycocotools": pycoco}
        if have("faster_coco_eval"):
            from faster_coco_eval import COCO as FCOCO
            from faster_coco_eval import COCOeval_faster

            f_gt = _quiet(FCOCO, gt)
            f_dt = _quiet(f_gt.loadRes, results)

            def faster(f_gt: Any = f_gt, f_dt: Any = f_dt) -> Any:
                e = COCOeval_faster(f_gt, f_dt, "bbox", print_function=lambda *a, **k: None)
                e.evaluate()
                e.accumulate()
                _quiet(e.summarize)
                return e.stats

            peers["faster-coco-eval"] = faster
        cases.append(SpeedCase("COCOeval (bbox, e2e)", f"{n_images} images, {len(det)} dets", ours, peers, n_images))
    return cases


def section_speed(ctx: ReportContext) -> Section:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    repeats = 3 if ctx.quick else 7
    rows = []
    cases = speed_cases(ctx.quick, ctx.seed)
    for i, case in enumerate(cases):
        ctx.progress(f"speed: {case.primitive} {case.size} ({i + 1}/{len(cases)})")
        first = first_call_time(case.detbench)
        steady = median_time(case.detbench, repeats, budget_s=1.0 if ctx.quick else 3.0)
        row = {
            "primitive": case.primitive,
            "size": case.size,
            "order": case.order,
            "first_call_s": first,
            "detbench_s": steady,
        }
        for name, fn in case.peers.items():  # each peer in its own block, after detbench's
            fn()
            t = median_time(fn, repeats, budget_s=2.0 if ctx.quick else 10.0)
            rows.append({**row, "peer": name, "peer_s": t, "speedup": t / steady})
        if not case.peers:
            rows.append({**row, "peer": "-", "peer_s": np.nan, "speedup": np.nan})
    table = pd.DataFrame(rows)
    figures = []
    with_peer = table.dropna(subset=["speedup"])
    if len(with_peer):
        fig, ax = plt.subplots(figsize=(9, 0.35 * len(with_peer) + 1.5))
        labels = [f"{r.primitive} {r.size} vs {r.peer}" for r in with_peer.itertuples()]
        ax.barh(range(len(with_peer)), with_peer["speedup"], color="#3b7dd8")
        ax.set_yticks(range(len(with_peer)), labels, fontsize=8)
        ax.set_xscale("log")
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xlabel("speedup = peer time / detbench time (same run, log scale)")
        ax.invert_yaxis()
        figures.append((ctx.savefig(fig, "speedup.png"), "Speedup of every primitive over each installed peer."))
    text = (
        "<p>Each row is one primitive at one size. <em>first_call_s</em> is the first call in this process "
        "(JIT compile, or loading the on-disk cache, plus one run); <em>detbench_s</em> and <em>peer_s</em> are "
        f"steady-state medians of up to {repeats} runs, measured in the same run, peer after detbench.</p>"
    )
    return Section(
        "speed",
        "Speed against the peers",
        text=text,
        tables={"speed": table.drop(columns=["order"])},
        figures=figures,
        data={"rows": table.to_dict(orient="records")},
    )


# --------------------------------------------------------------------------- NMS accuracy vs speed


def coco_stats(gt_dataset: Any, detections: Any) -> np.ndarray:
    """The 12 COCO bbox stats of :class:`detbench.synthetic.Detections` against a loaded ground truth."""
    from detbench.eval import COCOeval, load_results

    xywh = detections.boxes.astype(np.float64).copy()
    xywh[:, 2:] -= xywh[:, :2]
    rows = np.column_stack([detections.image_ids, xywh, detections.scores, detections.labels]).astype(np.float64)
    dt = load_results(rows, gt_dataset)
    ev = COCOeval(gt_dataset, dt, "bbox")
    with _silenced():
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


def apply_per_image(det: Any, scope: str, fn: Callable[..., Any]) -> tuple[Any, float]:
    """Run one variant over every image (and class, for ``scope="class"``); returns (detections, seconds)."""
    from detbench.synthetic import Detections

    groups = []
    for image_id, idx in det.per_image().items():
        if scope == "image":
            groups.append((image_id, det.boxes[idx], det.scores[idx], det.labels[idx]))
        else:
            labels = det.labels[idx]
            for c in np.unique(labels):
                sel = idx[labels == c]
                groups.append((image_id, det.boxes[sel], det.scores[sel], det.labels[sel]))
    out_ids, out_b, out_s, out_l = [], [], [], []
    t0 = time.perf_counter()
    results = [fn(b, s, lab) for _, b, s, lab in groups]
    elapsed = time.perf_counter() - t0
    for (image_id, *_), (b, s, lab) in zip(groups, results):
        out_ids.append(np.full(len(s), image_id, np.int64))
        out_b.append(np.asarray(b, np.float64).reshape(-1, 4))
        out_s.append(np.asarray(s, np.float64))
        out_l.append(np.asarray(lab, np.int64))
    if not out_ids:
        return det.select(np.zeros(0, np.int64)), elapsed
    return Detections(
        np.concatenate(out_ids), np.concatenate(out_b), np.concatenate(out_s), np.concatenate(out_l)
    ), elapsed


def section_nms(ctx: ReportContext) -> Section:
    """Accuracy (COCO AP, AP50, AR100) of every NMS variant on the same raw detections, next to its speed."""
    import matplotlib.pyplot as plt

    from detbench.eval import load_coco
    from detbench.synthetic import SceneConfig, make_dataset

    scene = SceneConfig(n_images=40 if ctx.quick else 200)
    gt, raw = make_dataset(scene, seed=ctx.seed)
    gt_ds = load_coco(gt)
    variants = dict(nms_variants())
    if have("torch") and have("torchvision"):
        import torch
        import torchvision.ops as tvops

        def tv_batched(b: np.ndarray, s: np.ndarray, lab: np.ndarray) -> Any:
            k = tvops.batched_nms(torch.from_numpy(b), torch.from_numpy(s), torch.from_numpy(lab), 0.5).numpy()
            return b[k], s[k], lab[k]

        variants["torchvision batched_nms 0.5"] = ("image", tv_batched)
    if have("ensemble_boxes"):
        from ensemble_boxes import soft_nms as eb_soft_nms
        from ensemble_boxes import weighted_boxes_fusion as eb_wbf

        h, w = scene.image_size
        scale = np.array([w, h, w, h], np.float64)

        def eb_soft(b: np.ndarray, s: np.ndarray, lab: np.ndarray) -> Any:
            fb, fs, fl = eb_soft_nms([b / scale], [s], [lab], method=2, sigma=0.5, thresh=0.001)
            return fb * scale, fs, fl.astype(np.int64)

        def eb_fusion(b: np.ndarray, s: np.ndarray, lab: np.ndarray) -> Any:
            fb, fs, fl = eb_wbf([b / scale], [s], [lab], iou_thr=0.55)
            return fb * scale, fs, fl.astype(np.int64)

        variants["ensemble-boxes soft_nms gaussian"] = ("class", eb_soft)
        variants["ensemble-boxes weighted_boxes_fusion 0.55"] = ("image", eb_fusion)
    rows = []
    for i, (name, (scope, fn)) in enumerate(variants.items()):
        ctx.progress(f"NMS variants: {name} ({i + 1}/{len(variants)})")
        apply_per_image(raw, scope, fn)  # warm-up (JIT)
        kept, seconds = apply_per_image(raw, scope, fn)
        stats = coco_stats(gt_ds, kept)
        library = "detbench" if not name.startswith(("torchvision", "ensemble-boxes")) else name.split()[0]
        rows.append(
            {
                "variant": name,
                "library": library,
                "AP": stats[0],
                "AP50": stats[1],
                "AP75": stats[2],
                "AR100": stats[8],
                "kept_boxes": len(kept),
                "time_s": seconds,
                "us_per_image": seconds / max(len(gt["images"]), 1) * 1e6,
            }
        )
    table = pd.DataFrame(rows)
    ranked = table[table["variant"] != "none (raw)"]
    # Pareto front: no other variant is both faster and more accurate.
    front = [not ((ranked["time_s"] < r.time_s) & (ranked["AP"] > r.AP)).any() for r in ranked.itertuples()]
    table["pareto"] = [False] + front if table["variant"].iloc[0] == "none (raw)" else front
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = {"detbench": "#3b7dd8", "torchvision": "#e07b39", "ensemble-boxes": "#4caf50"}
    for r in ranked.itertuples():
        ax.scatter(
            r.time_s * 1e3,
            r.AP,
            color=colours.get(r.library, "grey"),
            s=40,
            edgecolor="k" if table.loc[r.Index, "pareto"] else "none",
            zorder=3,
        )
        ax.annotate(r.variant, (r.time_s * 1e3, r.AP), fontsize=7, xytext=(4, 3), textcoords="offset points")
    pareto = ranked[table.loc[ranked.index, "pareto"]].sort_values("time_s")
    ax.plot(pareto["time_s"] * 1e3, pareto["AP"], "k--", lw=0.8, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel(f"time for {len(gt['images'])} images (ms, log scale)")
    ax.set_ylabel("COCO AP @[.5:.95]")
    for lib, c in colours.items():
        ax.scatter([], [], color=c, label=lib)
    ax.legend(fontsize=8)
    text = (
        f"<p>{len(gt['images'])} synthetic images, {len(gt['annotations'])} objects, {len(raw)} raw "
        "detections from the detector simulator (duplicates jittered around each object, localisation "
        "noise, false positives, class confusion; see <code>detbench.synthetic</code>). Every variant runs "
        "on the same raw detections, per image (and per class where the function is class-agnostic); "
        "time is the whole loop, Python calls included. AP/AR by detbench.eval.COCOeval "
        "(pycocotools-exact). Outlined points are on the speed/accuracy Pareto front. ensemble-boxes' "
        "<code>soft_nms</code> keeps the same boxes as detbench's but returns their original, undecayed "
        "scores, so its ranking ignores the decay (hence its lower AP); detbench returns the decayed scores "
        "and the kept indices, from which ensemble-boxes' output is <code>scores[indices]</code>.</p>"
    )
    return Section(
        "nms",
        "NMS variants: accuracy vs speed",
        text=text,
        tables={"nms_variants": table},
        figures=[
            (
                ctx.savefig(fig, "nms_pareto.png"),
                "COCO AP against time for every NMS variant on the same raw detections.",
            )
        ],
        data={"rows": table.to_dict(orient="records")},
    )


# --------------------------------------------------------------------------- evaluation parity

from detbench.eval.summary import STAT_NAMES  # noqa: E402 - the one table


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
    with _silenced():
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    ours_s = time.perf_counter() - t0
    table = pd.DataFrame({"stat": STAT_NAMES, "published": COCO_SUBSET_BBOX_STATS, "detbench": ev.stats})
    data: dict[str, Any] = {"detbench_s": ours_s}
    if have("pycocotools"):
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval as PyCOCOeval

        t0 = time.perf_counter()
        with _silenced():
            c_gt = COCO(str(gt_path))
            c_dt = c_gt.loadRes(str(dt_path))
            pe = PyCOCOeval(c_gt, c_dt, "bbox")
            pe.evaluate()
            pe.accumulate()
            pe.summarize()
        data["pycocotools_s"] = time.perf_counter() - t0
        table["pycocotools"] = pe.stats
        table["abs_diff_vs_pycocotools"] = np.abs(table["detbench"] - table["pycocotools"])
        for key in ("precision", "recall", "scores"):
            a, b = np.asarray(ev.eval[key]), np.asarray(pe.eval[key])
            data[f"max_abs_diff_{key}"] = float(np.abs(a - b).max()) if a.shape == b.shape else float("nan")
    table["abs_diff_vs_published"] = np.abs(table["detbench"] - table["published"])
    data["max_abs_diff_vs_published"] = float(table["abs_diff_vs_published"].max())
    extra = "".join(f"<li>{html.escape(k)}: {_fmt(v)}</li>" for k, v in data.items())
    text = (
        "<p>Real data shipped with detbench: the 100 smallest COCO val2014 images (839 boxes, 9 crowd) and "
        "the 734 reference detections published with the official COCO API. Loading, evaluation, "
        f"accumulation and summary, end to end:</p><ul>{extra}</ul>"
    )
    return Section(
        "eval_parity", "Evaluation parity on real COCO data", text=text, tables={"coco_subset_stats": table}, data=data
    )


# --------------------------------------------------------------------------- AP definitions


def section_ap_definitions(ctx: ReportContext) -> Section:
    """COCO-101, VOC07 11-point and VOC2010+ all-point AP from one matching pass, and PR curves."""
    import matplotlib.pyplot as plt

    from detbench.eval import evaluate_pr
    from detbench.synthetic import SceneConfig, make_dataset

    ctx.progress("AP definitions and PR curves")
    gt, raw = make_dataset(SceneConfig(n_images=60 if ctx.quick else 300), seed=ctx.seed + 7)
    import detbench as db

    keep = []
    for _, idx in raw.per_image().items():
        keep.append(idx[db.batched_nms(raw.boxes[idx], raw.scores[idx], raw.labels[idx], 0.5)])
    det = raw.select(np.concatenate(keep))
    ann = gt["annotations"]
    gt_boxes = np.array([a["bbox"] for a in ann], np.float64).reshape(-1, 4)
    gt_boxes[:, 2:] += gt_boxes[:, :2]
    tables, data = {}, {}
    for matching in ("voc", "coco"):
        res = evaluate_pr(
            None,
            iou_thresholds=(0.5, 0.75),
            matching=matching,
            gt_boxes=gt_boxes,
            gt_labels=np.array([a["category_id"] for a in ann]),
            gt_images=np.array([a["image_id"] for a in ann]),
            gt_difficult=np.array([bool(a["iscrowd"]) for a in ann]),
            det_boxes=det.boxes,
            det_scores=det.scores,
            det_labels=det.labels,
            det_images=det.image_ids,
        )
        df = res.to_dataframe()
        tables[f"ap_definitions_{matching}_matching"] = df
        data[matching] = res.mean()
        if matching == "voc":
            voc = res
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    means = pd.DataFrame(
        {
            "COCO-101": voc.ap_coco101.mean(axis=0),
            "VOC07 11-point": voc.ap_voc07.mean(axis=0),
            "VOC2010+ all-point": voc.ap_voc.mean(axis=0),
        },
        index=[f"IoU {t:g}" for t in voc.iou_thresholds],
    )
    means.plot.bar(ax=axes[0], rot=0)
    axes[0].set_ylabel("mAP (same matches)")
    axes[0].set_ylim(max(0.0, float(means.values.min()) - 0.1), min(1.0, float(means.values.max()) + 0.05))
    axes[0].legend(fontsize=8)
    for cat in voc.category_ids[:5]:
        prec, rec, _ = voc.curve(cat, 0.5)
        axes[1].plot(rec, prec, label=f"class {cat}")
    axes[1].set_xlabel("recall")
    axes[1].set_ylabel("precision")
    axes[1].set_title("PR curves at IoU 0.5 (VOC matching)")
    axes[1].legend(fontsize=8)
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
                "mAP by definition from the same matches (left); PR curves of five classes (right).",
            )
        ],
        data=data,
    )


# --------------------------------------------------------------------------- ROI quantization


def section_roi(ctx: ReportContext) -> Section:
    """ROI Pooling's two quantizations against ROI Align: the seed's worked example and an error distribution."""
    import dataclasses

    import matplotlib.pyplot as plt

    from detbench.roi import roi_error_study, roi_quantization_error

    ctx.progress("ROI: the seed's example")
    study = roi_quantization_error([0, 0, 665, 665], stride=32, output_size=7, image_size=800)
    rows = []
    for q in (study.roi_pool, study.roi_align):
        d = dataclasses.asdict(q)
        rows.append({"pipeline": d.pop("pipeline"), **{k: v[0] for k, v in d.items()}})
    example = pd.DataFrame(rows)
    ctx.progress("ROI: error distribution")
    errors = roi_error_study(n_boxes=100 if ctx.quick else 400, seed=ctx.seed)
    methods = [k for k in errors if k not in ("boxes", "exact_rms")]
    dist = pd.DataFrame(
        [
            {
                "method": m,
                "median_abs_error": float(np.median(errors[m])),
                "p90_abs_error": float(np.percentile(errors[m], 90)),
                "mean_abs_error": float(np.mean(errors[m])),
            }
            for m in methods
        ]
    )
    fig, ax = plt.subplots(figsize=(8, 4.5))
    top = max(float(np.percentile(errors[m], 99)) for m in methods)
    bins = np.linspace(0, top, 40)
    for m in methods:
        ax.hist(errors[m], bins=bins, histtype="step", lw=1.5, label=m)
    ax.set_xlabel(
        "mean |pooled - exact bin average| over a box's bins (signal RMS ~ "
        f"{float(np.median(errors['exact_rms'])):.2f})"
    )
    ax.set_ylabel("boxes")
    ax.legend(fontsize=8)
    text = (
        "<p>The seed's worked example (§6): an 800x800 image, a 665x665 box, stride 32, 7x7 output. "
        "ROI Pooling floors the box to 20 feature cells (0.78 x 32 = 25 px lost) and the bin to 2 cells "
        "(0.857 x 32 = 27.4 px lost per bin; the seed rounds to 0.86 and writes 27.52 px); ROI Align keeps "
        "20.78 and 2.97 and loses nothing. Below, each pipeline's output on a smooth synthetic feature map "
        "against the exact (continuous) bin average, over random boxes.</p>"
    )
    return Section(
        "roi",
        "ROI Pooling vs ROI Align: quantization",
        text=text,
        tables={"roi_seed_example": example, "roi_error_distribution": dist},
        figures=[
            (
                ctx.savefig(fig, "roi_error.png"),
                "Error of each pipeline against the exact bin average (random boxes, stride 32).",
            )
        ],
        data={"example": rows, "distribution": dist.to_dict(orient="records")},
    )


# --------------------------------------------------------------------------- sliding windows


def section_sliding(ctx: ReportContext) -> Section:
    """Naive vs convolutional (OverFeat) sliding window: measured speedup against the multiply-add ratio."""
    import matplotlib.pyplot as plt

    from detbench.cnn import overfeat_net, to_fully_convolutional
    from detbench.sliding import convolutional_sliding_window, sliding_window_classify, sliding_window_macs

    net = overfeat_net(seed=ctx.seed)
    fcn = to_fully_convolutional(net)
    sizes = (16, 32, 64, 128) if ctx.quick else (16, 32, 64, 128, 192)
    repeats = 3 if ctx.quick else 5
    rows = []
    for size in sizes:
        ctx.progress(f"sliding windows: {size}x{size}")
        image = np.random.default_rng(size).random((size, size, 3)).astype(np.float32)
        naive = lambda image=image: sliding_window_classify(image, net, window=14, stride=2)
        conv = lambda image=image: convolutional_sliding_window(image, fcn)
        first_naive, first_conv = first_call_time(naive), first_call_time(conv)
        t_naive = median_time(naive, repeats, budget_s=4.0)
        t_conv = median_time(conv, repeats, budget_s=4.0)
        macs = sliding_window_macs((size, size, 3), net)
        agree = float(np.abs(naive() - conv()).max())
        rows.append(
            {
                "image": f"{size}x{size}",
                "size": size,
                "windows": int(macs["windows"]),
                "naive_s": t_naive,
                "convolutional_s": t_conv,
                "measured_speedup": t_naive / t_conv,
                "mac_ratio": macs["ratio"],
                "speedup_over_mac_ratio": t_naive / t_conv / macs["ratio"],
                "first_call_naive_s": first_naive,
                "first_call_conv_s": first_conv,
                "max_abs_difference": agree,
            }
        )
    table = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(table["size"], table["measured_speedup"], "o-", label="measured speedup (naive / convolutional)")
    ax.plot(table["size"], table["mac_ratio"], "s--", label="multiply-add ratio")
    ax.set_xlabel("image side (px), 14x14 window, stride 2")
    ax.set_ylabel("ratio")
    ax.set_xscale("log", base=2)
    ax.legend()
    text = (
        "<p>The seed's classifier (14x14x3 input, 5x5 conv 16, 2x2 max-pool, dense 400, dense 400, "
        "softmax 4) run on every window, against its fully convolutional twin built from the same weights, "
        "which computes every window's output in one pass and shares the overlapping work. "
        "<em>max_abs_difference</em> is the largest difference between the two outputs.</p>"
    )
    return Section(
        "sliding",
        "Sliding windows: naive vs convolutional",
        text=text,
        tables={"sliding": table.drop(columns=["size"])},
        figures=[
            (
                ctx.savefig(fig, "sliding_speedup.png"),
                "Measured speedup of the convolutional scan against the multiply-add ratio.",
            )
        ],
        data={"rows": rows},
    )


def _hog_test_image(seed: int, shape: tuple[int, int] = (480, 640)) -> np.ndarray:
    """A deterministic textured uint8 colour image (built-in; no download)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3))
    for c in range(3):
        fx, fy, ph = rng.uniform(0.005, 0.05, 2).tolist() + [rng.uniform(0, 6.28)]
        img[..., c] = 127 + 60 * np.sin(fx * x + ph) * np.cos(fy * y) + rng.normal(0, 20, (h, w))
    for _ in range(12):  # a few upright "figures"
        cx, cy = rng.integers(40, w - 40), rng.integers(80, h - 80)
        img[cy - 60 : cy + 60, cx - 20 : cx + 20] = rng.uniform(0, 255, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def section_hog(ctx: ReportContext) -> Section:
    """HOG + linear SVM people detector against OpenCV's ``detectMultiScale``."""
    from detbench.hog import default_people_detector, hog_detect_multiscale

    rows = []
    if not have("cv2"):
        return Section("hog", "HOG + linear SVM detector", text="<p>OpenCV is not installed: no peer, no weights.</p>")
    import cv2

    svm = default_people_detector()
    repeats = 3 if ctx.quick else 7
    for shape in ((480, 640),) if ctx.quick else ((480, 640), (960, 1280)):
        ctx.progress(f"HOG: {shape[1]}x{shape[0]}")
        image = _hog_test_image(ctx.seed, shape)
        ours = lambda image=image: hog_detect_multiscale(image, svm, win_stride=8, scale=1.05, nms_threshold=None)
        first = first_call_time(ours)
        t_ours = median_time(ours, repeats, budget_s=5.0)
        hog = cv2.HOGDescriptor()
        hog.setSVMDetector(svm.astype(np.float32))
        theirs = lambda image=image: hog.detectMultiScale(
            image, winStride=(8, 8), padding=(0, 0), scale=1.05, groupThreshold=0
        )
        theirs()
        t_cv = median_time(theirs, repeats, budget_s=5.0)
        boxes, _ = ours()
        cv_boxes, _ = theirs()
        rows.append(
            {
                "image": f"{shape[1]}x{shape[0]}",
                "first_call_s": first,
                "detbench_s": t_ours,
                "opencv_s": t_cv,
                "speedup": t_cv / t_ours,
                "detbench_candidates": len(boxes),
                "opencv_candidates": len(cv_boxes),
            }
        )
    text = (
        "<p>People detector (64x128 window, OpenCV's trained SVM), window stride 8, pyramid scale 1.05, "
        "candidates before grouping (OpenCV's <code>groupThreshold=0</code>). Block descriptors are computed "
        "once per pyramid level and the SVM is correlated with them, the convolutional idea again.</p>"
    )
    return Section(
        "hog", "HOG + linear SVM detector vs OpenCV", text=text, tables={"hog": pd.DataFrame(rows)}, data={"rows": rows}
    )


# --------------------------------------------------------------------------- assembly

#: The report's sections, in order: (key, function).
SECTIONS: list[tuple[str, Callable[[ReportContext], Section]]] = [
    ("environment", section_environment),
    ("speed", section_speed),
    ("eval_parity", section_eval_parity),
    ("nms", section_nms),
    ("ap_definitions", section_ap_definitions),
    ("roi", section_roi),
    ("sliding", section_sliding),
    ("hog", section_hog),
]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
td, th { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; } #figure-check { color: #777; font-size: 0.8em; }
"""

_CHECK_JS = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.querySelectorAll('figure img'));
  var ok = imgs.filter(function (im) { return im.complete && im.naturalWidth > 0; }).length;
  var el = document.getElementById('figure-check');
  el.textContent = 'figures loaded: ' + ok + '/' + imgs.length;
  el.setAttribute('data-loaded', ok); el.setAttribute('data-total', imgs.length);
});
"""


def _fmt(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        if not np.isfinite(x):
            return "-"
        ax = abs(x)
        if ax != 0 and (ax < 1e-3 or ax >= 1e5):
            return f"{x:.3e}"
        return f"{x:.4g}"
    return html.escape(str(x))


def _table_html(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return str(obj)


def write_report(sections: Iterable[Section], out_dir: Path, quick: bool, elapsed: float) -> Path:
    """Write index.html, the CSV tables and results.json for ``sections``."""
    sections = list(sections)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>detbench report</title>",
        f"<style>{_CSS}</style><script>{_CHECK_JS}</script></head><body>",
        "<h1>detbench report</h1>",
        f"<p>{'Quick' if quick else 'Full'} run, {elapsed:.1f} s, built-in data only. "
        "Speed ratios are measured in the same run; accuracy is checked against the reference implementations.</p>",
        "<p id='figure-check'></p>",
        "<ul>" + "".join(f"<li><a href='#{s.key}'>{html.escape(s.title)}</a></li>" for s in sections) + "</ul>",
    ]
    results: dict[str, Any] = {"quick": quick, "elapsed_s": elapsed, "sections": {}}
    for s in sections:
        parts.append(f"<h2 id='{s.key}'>{html.escape(s.title)}</h2>{s.text}")
        for name, fig_caption in s.figures:
            parts.append(
                f"<figure><img src='{html.escape(name)}' alt='{html.escape(fig_caption)}'>"
                f"<figcaption>{html.escape(fig_caption)}</figcaption></figure>"
            )
        for name, df in s.tables.items():
            df.to_csv(out_dir / f"{name}.csv", index=False)
            parts.append(f"<h3>{html.escape(name)} <small>(<a href='{name}.csv'>csv</a>)</small></h3>")
            parts.append(_table_html(df))
        results["sections"][s.key] = {
            "title": s.title,
            "tables": {k: v.to_dict(orient="records") for k, v in s.tables.items()},
            "figures": [n for n, _ in s.figures],
            "data": s.data,
        }
    parts.append("</body></html>")
    index = out_dir / "index.html"
    index.write_text("\n".join(parts), encoding="utf-8")
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=_json_default), encoding="utf-8")
    return index


def run_report(
    out_dir: str | os.PathLike[str] = "detbench-report",
    *,
    quick: bool = True,
    seed: int = 0,
    sections: Iterable[str] | None = None,
    progress: bool = True,
) -> Path:
    """Run the report and write it to ``out_dir``; returns the path of ``index.html``.

    Parameters
    ----------
    out_dir: output folder (created if missing).
    quick: small sizes and few repeats (under a minute on 2 cores).
    seed: seed of the built-in synthetic data.
    sections: keys of the sections to run (default: all, see :data:`SECTIONS`).
    progress: print a progress bar on stderr.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen = list(SECTIONS)
    if sections is not None:
        wanted = list(sections)
        known = [k for k, _ in SECTIONS]
        unknown = [k for k in wanted if k not in known]
        if unknown:
            raise ValueError(f"sections: unknown {unknown}; choose from {known}")
        chosen = [(k, f) for k, f in SECTIONS if k in wanted]
    bar = Progress(len(chosen), enabled=progress)
    ctx = ReportContext(out, quick=quick, seed=seed, progress=bar.step)
    t0 = time.perf_counter()
    results = []
    for key, fn in chosen:
        bar.step(f"{key} ...")
        results.append(fn(ctx))
        bar.advance(f"{key} done")
    bar.close()
    return write_report(results, out, quick, time.perf_counter() - t0)
