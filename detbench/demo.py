"""``detbench demo``: run every kernel on built-in synthetic data and print a table.

Each *case* is one primitive at one size: detbench's call and, where the peer
library is installed, the same work done by the peer. For each case the demo
reports the first call (JIT compile, or loading the on-disk cache, plus one
run), then detbench and the peer in interleaved rounds (:mod:`detbench._timing`,
the helper the report uses too): medians with their min-max range, and the
speed ratio computed round by round.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from detbench._timing import compare, first_call_time, ratio
from detbench.synthetic import random_boxes

__all__ = ["Case", "demo_cases", "time_case", "run_demo"]


@dataclass
class Case:
    """One primitive at one size, with an optional peer doing the same work."""

    name: str
    size: str
    run: Callable[[], Any]
    peer: str | None = None
    peer_run: Callable[[], Any] | None = None


def demo_cases(quick: bool = True) -> list[Case]:
    """The cases for every primitive that exists, at demo sizes."""
    import detbench as db

    cases: list[Case] = []
    from detbench.report import peers

    torch = tvops = None
    try:
        tv = peers.load("torchvision")
        torch, tvops = tv.torch, tv.ops
    except peers.PeerUnavailable as exc:
        print(f"detbench demo: {exc}; no peer column", file=sys.stderr)

    n = 1000 if quick else 3000
    a, b = random_boxes(n, seed=1), random_boxes(n, seed=2)
    out = np.empty((n, n), np.float32)
    peer = peer_out = None
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        peer = lambda: tvops.box_iou(ta, tb)  # noqa: E731
        peer_out = peer
    cases.append(Case("box_iou", f"{n}x{n}", lambda: db.box_iou(a, b), "torchvision" if peer else None, peer))
    cases.append(
        Case("box_iou(out=)", f"{n}x{n}", lambda: db.box_iou(a, b, out=out), "torchvision" if peer else None, peer_out)
    )
    for fn_name in ("generalized_box_iou", "distance_box_iou", "complete_box_iou"):
        fn = getattr(db, fn_name)
        m = n // 2
        pr = None
        if torch is not None:
            tfn = getattr(tvops, fn_name)
            ta2, tb2 = torch.from_numpy(a[:m]), torch.from_numpy(b[:m])
            pr = lambda tfn=tfn, ta2=ta2, tb2=tb2: tfn(ta2, tb2)
        cases.append(Case(fn_name, f"{m}x{m}", lambda fn=fn, m=m: fn(a[:m], b[:m]), "torchvision" if pr else None, pr))

    base = db.generate_anchors()
    cases.append(Case("generate_anchors", "9", lambda: db.generate_anchors()))
    cases.append(Case("grid_anchors", "200x272x9", lambda: db.grid_anchors(base, (200, 272), 4)))
    anchors = db.grid_anchors(base, (50, 68), 16)
    gt = anchors + np.random.default_rng(3).normal(0, 4, anchors.shape)
    gt[:, 2:] = np.maximum(gt[:, 2:], gt[:, :2] + 1)
    cases.append(Case("encode_boxes", f"{len(anchors)}", lambda: db.encode_boxes(anchors, gt)))
    return cases


def time_case(case: Case, repeats: int = 5) -> dict[str, Any]:
    """Time one case: first call, then detbench and the peer in ``repeats`` interleaved rounds (seconds)."""
    first = first_call_time(case.run)
    fns = {"detbench": case.run}
    if case.peer_run is not None:
        fns["peer"] = case.peer_run
    t = compare(fns, rounds=max(1, repeats), min_rounds=min(3, max(1, repeats)), warmup=False)
    nan = float("nan")
    row = {
        "primitive": case.name,
        "size": case.size,
        "first_call_s": first,
        "detbench_s": t["detbench"].median,
        "detbench_min_s": t["detbench"].min,
        "detbench_max_s": t["detbench"].max,
        "peer": case.peer or "-",
        "peer_s": t["peer"].median if "peer" in t else nan,
        "speedup": nan,
        "speedup_min": nan,
        "speedup_max": nan,
    }
    if "peer" in t:
        r = ratio(t["peer"], t["detbench"])
        row.update(speedup=r.median, speedup_min=r.min, speedup_max=r.max)
    return row


def _fmt_s(x: float) -> str:
    """Milliseconds throughout (one unit per column)."""
    if not np.isfinite(x):
        return "-"
    return f"{x * 1e3:10.3f} ms"


def run_demo(quick: bool = True, repeats: int = 5, stream: TextIO | None = None) -> list[dict[str, Any]]:
    """Run every demo case and print a table; returns the rows."""
    stream = stream or sys.stdout
    cases = demo_cases(quick)
    rows = []
    header = (
        f"{'primitive':<22}{'size':>12}{'first call':>14}{'detbench':>14}  {'peer':<12}{'peer time':>14}"
        f"{'speedup [min, max]':>22}"
    )
    print(header, file=stream)
    print("-" * len(header), file=stream)
    for case in cases:
        r = time_case(case, repeats)
        rows.append(r)
        speed = (
            f"{r['speedup']:8.1f}x [{r['speedup_min']:.3g}, {r['speedup_max']:.3g}]"
            if np.isfinite(r["speedup"])
            else "        -"
        )
        print(
            f"{r['primitive']:<22}{r['size']:>12}{_fmt_s(r['first_call_s']):>14}{_fmt_s(r['detbench_s']):>14}  "
            f"{r['peer']:<12}{_fmt_s(r['peer_s']):>14}{speed}",
            file=stream,
            flush=True,
        )
    print(
        "\nfirst call = JIT compile (or on-disk cache load) + one run; times are medians of "
        f"{repeats} interleaved rounds after a warm-up; speedup = peer / detbench round by round, "
        "median [min, max].",
        file=stream,
    )
    return rows
