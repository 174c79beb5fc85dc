"""Speed of every primitive against each installed peer, timed in interleaved rounds in several fresh processes.

Each case is timed in ``processes`` spawned worker processes (:class:`detbench._timing.Workers`; the
report's ``processes`` option, 3 by default): never two at once, each process running every case in turn, so
a case's measurements lie far apart in time (a machine state lasting seconds reaches one of them, not all).
A worker rebuilds the case from
its key (quick, seed, primitive, size: :func:`measure_case_by_key`) rather than receiving the data, and
:func:`case_rows` pools the processes' timings (:func:`detbench._timing.merge_processes`): medians over
processes, min-max over every round of every process. ``processes=1`` times in the report's own process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from detbench._timing import SPREAD_WARN, Timing, Workers, compare, first_call_time, merge_processes, ratio
from detbench.report import peers
from detbench.report.framework import ReportContext, Section, quiet, section


@dataclass
class SpeedCase:
    """One primitive at one size: detbench's call and the peers doing the same work."""

    primitive: str
    size: str
    detbench: Callable[[], Any]
    peers: dict[str, Callable[[], Any]] = field(default_factory=dict)
    order: float = 0.0  # a numeric size for plotting


def _peer(ctx: ReportContext | None, name: str, purpose: str) -> SimpleNamespace | None:
    if ctx is not None:
        return ctx.peer(name, purpose)
    try:
        return peers.load(name)
    except peers.PeerUnavailable:
        return None


def speed_cases(quick: bool, seed: int = 0, ctx: ReportContext | None = None) -> list[SpeedCase]:
    """Every primitive at the report's sizes, with each available peer (``ctx`` notes the missing ones)."""
    import detbench as db
    from detbench.synthetic import clustered_boxes, random_boxes

    tv = _peer(ctx, "torchvision", "box_iou, nms, batched_nms, roi_align, roi_pool")
    cases: list[SpeedCase] = []
    for n in (500, 2000) if quick else (1000, 3000, 5000):
        a, b = random_boxes(n, 1000.0, seed + 1), random_boxes(n, 1000.0, seed + 2)
        out = np.empty((n, n), np.float32)
        ps = {}
        if tv is not None:
            ta, tb = tv.from_numpy(a), tv.from_numpy(b)
            ps["torchvision"] = lambda ta=ta, tb=tb: tv.ops.box_iou(ta, tb)
        cases.append(SpeedCase("box_iou", f"{n}x{n}", lambda a=a, b=b: db.box_iou(a, b), ps, n))
        cases.append(
            SpeedCase("box_iou(out=)", f"{n}x{n}", lambda a=a, b=b, o=out: db.box_iou(a, b, out=o), dict(ps), n)
        )
    for n in (1000, 10000) if quick else (1000, 10000, 100000):
        b, sc, lab = clustered_boxes(n, 1000.0, seed)
        ps, bps = {}, {}
        if tv is not None and n <= 10000:  # torchvision takes ~20 s at 100k dense
            tb, ts, tl = tv.from_numpy(b), tv.from_numpy(sc), tv.from_numpy(lab)
            ps["torchvision"] = lambda tb=tb, ts=ts: tv.ops.nms(tb, ts, 0.5)
            bps["torchvision"] = lambda tb=tb, ts=ts, tl=tl: tv.ops.batched_nms(tb, ts, tl, 0.5)
        cases.append(SpeedCase("nms (dense)", f"{n}", lambda b=b, sc=sc: db.nms(b, sc, 0.5), ps, n))
        cases.append(
            SpeedCase(
                "batched_nms (80 classes)", f"{n}", lambda b=b, sc=sc, lab=lab: db.batched_nms(b, sc, lab, 0.5), bps, n
            )
        )
    b, sc, _ = clustered_boxes(100000, 4000.0, seed)
    cases.append(SpeedCase("nms (sparse)", "100000", lambda b=b, sc=sc: db.nms(b, sc, 0.5), {}, 100000))
    eb = _peer(ctx, "ensemble-boxes", "soft_nms")
    for n in (1000,) if quick else (1000, 10000):
        b, sc, lab = clustered_boxes(n, 1000.0, seed, dtype=np.float64)
        ps = {}
        if eb is not None:
            # one label: ensemble-boxes splits by label, detbench's soft_nms is class-agnostic
            unit, one_label = b / 1000.0, np.zeros(n)
            ps["ensemble-boxes"] = lambda u=unit, sc=sc, z=one_label: eb.soft_nms(
                [u], [sc], [z], method=2, sigma=0.5, thresh=0.001
            )
        cases.append(
            SpeedCase(
                "soft_nms (gaussian)", f"{n}", lambda b=b, sc=sc: db.soft_nms(b, sc, "gaussian", sigma=0.5), ps, n
            )
        )

    n_rois = 200 if quick else 1000
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((1, 256, 200, 272), dtype=np.float32)
    wh = np.exp(rng.uniform(np.log(16), np.log(512), (n_rois, 2)))
    xy = rng.uniform(0, 1, (n_rois, 2)) * (np.array([1088.0, 800.0]) - wh)
    rois = np.concatenate([np.zeros((n_rois, 1)), xy, xy + wh], axis=1).astype(np.float32)
    tf = tr = None
    if tv is not None:
        tf, tr = tv.from_numpy(features), tv.from_numpy(rois)
    for label, kw in (
        ("roi_align sr=2 aligned", dict(sampling_ratio=2, aligned=True)),
        ("roi_align sr=-1", dict(sampling_ratio=-1, aligned=False)),
    ):
        ps = {}
        if tv is not None:
            ps["torchvision"] = lambda kw=kw: tv.ops.roi_align(tf, tr, 7, 0.25, **kw)
        cases.append(
            SpeedCase(label, f"{n_rois} rois", lambda kw=kw: db.roi_align(features, rois, 7, 0.25, **kw), ps, n_rois)
        )
    ps = {"torchvision": lambda: tv.ops.roi_pool(tf, tr, 7, 0.25)} if tv is not None else {}
    cases.append(SpeedCase("roi_pool", f"{n_rois} rois", lambda: db.roi_pool(features, rois, 7, 0.25), ps, n_rois))
    cases.extend(_eval_speed_cases(quick, seed, ctx))
    return cases


def _eval_speed_cases(quick: bool, seed: int, ctx: ReportContext | None) -> list[SpeedCase]:
    """COCO evaluation end to end (evaluate + accumulate + summarize) on pycocotools COCO objects."""
    from detbench.eval import COCOeval, clear_cache
    from detbench.synthetic import DetectorConfig, SceneConfig, make_dataset

    pc = _peer(ctx, "pycocotools", "COCO evaluation speed; detbench's COCOeval takes its COCO objects")
    if pc is None:
        return []
    fc = _peer(ctx, "faster-coco-eval", "COCO evaluation speed")
    cases = []
    for n_images in (100,) if quick else (500,):
        scene = SceneConfig(n_images=n_images, n_classes=80, objects_per_image=(2, 12))
        gt, det = make_dataset(scene, DetectorConfig(duplicates=(4, 12), false_positives_per_image=6), seed=seed)
        results = det.to_coco()
        c_gt = pc.COCO()
        c_gt.dataset = gt
        quiet(c_gt.createIndex)
        c_dt = quiet(c_gt.loadRes, results)

        def ours(c_gt: Any = c_gt, c_dt: Any = c_dt) -> Any:
            clear_cache()  # cold: include pulling the arrays out of the COCO objects, as a user's first call
            e = COCOeval(c_gt, c_dt, "bbox")
            e.evaluate()
            e.accumulate()
            quiet(e.summarize)
            return e.stats

        def pycoco(c_gt: Any = c_gt, c_dt: Any = c_dt) -> Any:
            e = pc.COCOeval(c_gt, c_dt, "bbox")
            quiet(e.evaluate)
            quiet(e.accumulate)
            quiet(e.summarize)
            return e.stats

        ps: dict[str, Callable[[], Any]] = {"pycocotools": pycoco}
        if fc is not None:
            f_gt = quiet(fc.COCO, gt)
            f_dt = quiet(f_gt.loadRes, results)

            def faster(f_gt: Any = f_gt, f_dt: Any = f_dt) -> Any:
                e = fc.COCOeval_faster(f_gt, f_dt, "bbox", print_function=lambda *a, **k: None)
                e.evaluate()
                e.accumulate()
                quiet(e.summarize)
                return e.stats

            ps["faster-coco-eval"] = faster
        cases.append(SpeedCase("COCOeval (bbox, e2e)", f"{n_images} images, {len(det)} dets", ours, ps, n_images))
    return cases


#: rounds in one process and time budget per case (seconds, shared by the processes) of the quick / full run;
#: with several processes each runs about half the rounds (at least 3): what varies most from run to run is
#: the process, not the round, so the time goes into processes
_ROUNDS = {True: 5, False: 9}
_BUDGET_S = {True: 4.0, False: 20.0}
#: sub-millisecond kernels (nms on 1000 boxes: ~0.1 ms) are timed in blocks of up to this many calls
_MAX_INNER = 1000
#: a timed block lasts at least this long (calls of 15-30 ms, such as roi_pool, then average 2-3 calls:
#: on the idle 2-core machine single calls of those varied 15-30 ms within one process)
_MIN_BLOCK_S = 0.05


def time_case(case: SpeedCase, quick: bool, processes: int = 1) -> dict[str, Any]:
    """One process's measurement of ``case``: its first call (s), then detbench and its peers in interleaved
    rounds; ``{"first_s": float, "timings": {name: Timing}}``. The budget is split between ``processes``."""
    first = first_call_time(case.detbench)
    fns = {"detbench": case.detbench, **case.peers}
    timings = compare(
        fns,
        rounds=_ROUNDS[quick],
        min_rounds=3,
        # each process gets 2/processes of the one-process budget: a process's median needs its own rounds
        budget_s=_BUDGET_S[quick] * (1.0 if processes == 1 else 2.0 / processes),
        min_block_s=_MIN_BLOCK_S,
        max_inner=_MAX_INNER,
        warmup=False,
    )
    return {"first_s": first, "timings": timings}


_WORKER_CASES: dict[tuple[bool, int], list[SpeedCase]] = {}


def build_cases(quick: bool, seed: int) -> list[SpeedCase]:
    """``speed_cases(quick, seed)``, built once per process and kept (a worker's setup)."""
    if (quick, seed) not in _WORKER_CASES:
        _WORKER_CASES.clear()
        _WORKER_CASES[(quick, seed)] = speed_cases(quick, seed)
    return _WORKER_CASES[(quick, seed)]


def measure_case_by_key(quick: bool, seed: int, primitive: str, size: str, processes: int = 1) -> dict[str, Any]:
    """:func:`time_case` of the case ``(primitive, size)`` of ``speed_cases(quick, seed)``, rebuilt in this
    process (:func:`build_cases`). What a :class:`detbench._timing.Workers` process runs."""
    for case in build_cases(quick, seed):
        if (case.primitive, case.size) == (primitive, size):
            return time_case(case, quick, processes)
    raise ValueError(f"primitive, size: no speed case {primitive!r} at {size!r} (quick={quick}, seed={seed})")


def case_rows(case: SpeedCase, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table rows of ``case`` from each process's :func:`time_case` result: one row per peer.

    Times are medians over processes of each process's median, with min-max over all rounds; the speedup is
    computed round by round within each process and summarised the same way (:func:`detbench._timing.ratio`);
    ``first_call_ms`` is the median over processes. Peers a process could not run are left out.
    """
    timings: dict[str, Timing] = merge_processes([r["timings"] for r in results])
    ours = timings["detbench"]
    base = {
        "primitive": case.primitive,
        "size": case.size,
        "order": case.order,
        "first_call_ms": float(np.median([r["first_s"] for r in results])) * 1e3,
        "detbench_ms": ours.median * 1e3,
        "detbench_ms_min": ours.min * 1e3,
        "detbench_ms_max": ours.max * 1e3,
        "rounds": ours.rounds,
        "processes": ours.processes,
    }
    rows = []
    for name in (n for n in timings if n != "detbench"):
        t = timings[name]
        r = ratio(t, ours)
        rows.append(
            {
                **base,
                "peer": name,
                "peer_ms": t.median * 1e3,
                "peer_ms_min": t.min * 1e3,
                "peer_ms_max": t.max * 1e3,
                "speedup": r.median,
                "speedup_min": r.min,
                "speedup_max": r.max,
            }
        )
    if not rows:
        nan = float("nan")
        rows.append({**base, "peer": "-", "peer_ms": nan, "peer_ms_min": nan, "peer_ms_max": nan, "speedup": nan})
        rows[-1].update(speedup_min=nan, speedup_max=nan)
    return rows


def measure_case(case: SpeedCase, quick: bool) -> list[dict[str, Any]]:
    """First call, then detbench and its peers in interleaved rounds, in this process; one row per peer."""
    return case_rows(case, [time_case(case, quick)])


def speedup_figure(ctx: ReportContext, table: pd.DataFrame, name: str = "speedup.png") -> str | None:
    """Horizontal log-scale bars of the speedups, min-max error bars, the median written on each bar."""
    import matplotlib.pyplot as plt

    rows = table.dropna(subset=["speedup"]).reset_index(drop=True)
    if not len(rows):
        return None
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(rows) + 1.6))
    y = np.arange(len(rows))
    med = rows["speedup"].to_numpy()
    lo = np.clip(med - rows["speedup_min"].to_numpy(), 0, None)
    hi = np.clip(rows["speedup_max"].to_numpy() - med, 0, None)
    colours = ["#3b7dd8" if m >= 1 else "#d8573b" for m in med]
    ax.barh(y, med, color=colours, xerr=[lo, hi], ecolor="#333", capsize=2, error_kw={"lw": 0.8})
    labels = [f"{r.primitive} {r.size} vs {r.peer}" for r in rows.itertuples()]
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xscale("log")
    ax.axvline(1.0, color="k", lw=0.8)
    top = float(np.nanmax(rows["speedup_max"].to_numpy()))
    ax.set_xlim(min(0.5, float(np.nanmin(rows["speedup_min"])) / 1.5), top * 6)
    for yi, m, h in zip(y, med, rows["speedup_max"].to_numpy()):
        ax.text(max(m, h) * 1.08, yi, f"{m:.0f}x" if m >= 100 else f"{m:.3g}x", va="center", fontsize=7.5)
    ax.minorticks_off()
    ax.set_xlabel(
        "speedup = peer time / detbench time (log scale)\n"
        "bar: median over processes of interleaved rounds; whiskers: min-max over all rounds"
    )
    ax.invert_yaxis()
    return ctx.savefig(fig, name)


def geometric_means(table: pd.DataFrame) -> dict[str, float]:
    """Geometric mean of the speedups against each peer."""
    rows = table.dropna(subset=["speedup"])
    return {peer: float(np.exp(np.log(g["speedup"]).mean())) for peer, g in rows.groupby("peer")}


@section("speed", "Speed against the peers")
def section_speed(ctx: ReportContext) -> Section:
    n_proc = int(ctx.options.get("processes", 3))
    with Workers(n_proc, setup=build_cases, setup_args=(ctx.quick, ctx.seed)) as workers:
        cases = speed_cases(ctx.quick, ctx.seed, ctx)  # here too (as the workers build theirs): peer notes
        results: list[list[dict[str, Any]]] = [[] for _ in cases]
        # process by process, every case in each: a case's measurements lie far apart in time, so a state of
        # the machine that lasts a few seconds (another job on the second core) reaches one of them, not all
        for p in range(n_proc):
            for i, case in enumerate(cases):
                ctx.progress(f"speed: {case.primitive} {case.size} ({i + 1}/{len(cases)}, process {p + 1}/{n_proc})")
                if n_proc == 1:
                    results[i].append(time_case(case, ctx.quick))
                else:
                    key = (ctx.quick, ctx.seed, case.primitive, case.size, n_proc)
                    results[i].append(workers.run_in(p, measure_case_by_key, *key))
    table = pd.DataFrame([row for case, res in zip(cases, results) for row in case_rows(case, res)])
    figures = []
    name = speedup_figure(ctx, table)
    if name:
        figures.append(
            (
                name,
                f"Speedup of every primitive over each available peer (bar: median over {n_proc} process(es); "
                "whiskers: min-max over all rounds).",
            )
        )
    noisy = table[(table["speedup_max"] - table["speedup_min"]) / table["speedup"] > SPREAD_WARN]
    if len(noisy):
        which = ", ".join(f"{r.primitive} {r.size} vs {r.peer}" for r in noisy.itertuples())
        ctx.note(
            f"large spread (max - min over {SPREAD_WARN:.0%} of the median) for {which}: the machine was busy; "
            "trust these ratios less, or rerun on an idle machine"
        )
    means = geometric_means(table)
    summary = ""
    if means:
        with_peer = table.dropna(subset=["speedup"])
        best = with_peer.loc[with_peer["speedup"].idxmax()]
        worst = with_peer.loc[with_peer["speedup"].idxmin()]
        summary = (
            "Speed: detbench is "
            + ", ".join(f"{m:.3g}x {p}" for p, m in sorted(means.items()))
            + " (geometric means over the cases); best "
            f"{best['speedup']:.3g}x ({best['primitive']} {best['size']} vs {best['peer']}), least "
            f"{worst['speedup']:.3g}x ({worst['primitive']} {worst['size']} vs {worst['peer']})."
        )
    text = (
        "<p>Each row is one primitive at one size, all times in milliseconds. Every case is timed in "
        f"{n_proc} fresh process(es) (<em>processes</em>; each runs every case in turn, so a case's "
        "measurements lie far apart in time), because some speeds (torch's two-thread path) differ from "
        "process to process and stay put within one, or change with the machine's state. <em>first_call</em> is the "
        "first call in a process (JIT compile, or loading the on-disk cache, plus one run; median over "
        "processes). The steady-state times come from interleaved rounds after an untimed warm-up: in each "
        "round detbench and every peer run one block of calls, in alternating order, each block opened by an "
        "untimed call (except for calls of 0.1 s or more); a cell shows the median over processes of each "
        "process's median ± half the min-max range over all rounds, and the speedup is computed round by "
        "round within each process and summarised the same way (median [min, max]).</p>"
    )
    return Section(
        "speed",
        "Speed against the peers",
        text=text,
        tables={"speed": table.drop(columns=["order"])},
        figures=figures,
        data={"rows": table.to_dict(orient="records"), "geometric_mean_speedup": means},
        summary=summary,
    )
