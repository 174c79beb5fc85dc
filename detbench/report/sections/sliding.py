"""Naive vs convolutional (OverFeat) sliding window: measured speedup against the multiply-add ratio."""

from __future__ import annotations

import numpy as np
import pandas as pd

from detbench._timing import compare, first_call_time, ratio
from detbench.report.framework import ReportContext, Section, section


@section("sliding", "Sliding windows: naive vs convolutional")
def section_sliding(ctx: ReportContext) -> Section:
    import matplotlib.pyplot as plt

    import detbench as db

    net = db.overfeat_net(seed=ctx.seed)
    fcn = db.to_fully_convolutional(net)
    sizes = (16, 32, 64, 128) if ctx.quick else (16, 32, 64, 128, 192)
    rows = []
    for size in sizes:
        ctx.progress(f"sliding windows: {size}x{size}")
        image = np.random.default_rng(size).random((size, size, 3)).astype(np.float32)
        naive = lambda image=image: db.sliding_window_classify(image, net, window=14, stride=2)  # noqa: E731
        conv = lambda image=image: db.convolutional_sliding_window(image, fcn)  # noqa: E731
        first_naive, first_conv = first_call_time(naive), first_call_time(conv)
        t = compare({"naive": naive, "conv": conv}, rounds=3 if ctx.quick else 5, budget_s=4.0 if ctx.quick else 10.0)
        r = ratio(t["naive"], t["conv"])
        macs = db.sliding_window_macs((size, size, 3), net)
        agree = float(np.abs(naive() - conv()).max())
        rows.append(
            {
                "image": f"{size}x{size}",
                "size": size,
                "windows": int(macs["windows"]),
                "naive_ms": t["naive"].median * 1e3,
                "naive_ms_min": t["naive"].min * 1e3,
                "naive_ms_max": t["naive"].max * 1e3,
                "convolutional_ms": t["conv"].median * 1e3,
                "convolutional_ms_min": t["conv"].min * 1e3,
                "convolutional_ms_max": t["conv"].max * 1e3,
                "measured_speedup": r.median,
                "measured_speedup_min": r.min,
                "measured_speedup_max": r.max,
                "mac_ratio": macs["ratio"],
                "speedup_over_mac_ratio": r.median / macs["ratio"],
                "first_call_naive_ms": first_naive * 1e3,
                "first_call_conv_ms": first_conv * 1e3,
                "max_abs_difference": agree,
            }
        )
    table = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(7, 4))
    med = table["measured_speedup"]
    yerr = [
        np.clip(med - table["measured_speedup_min"], 0, None),
        np.clip(table["measured_speedup_max"] - med, 0, None),
    ]
    ax.errorbar(table["size"], med, yerr=yerr, fmt="o-", capsize=3, label="measured speedup (naive / convolutional)")
    ax.plot(table["size"], table["mac_ratio"], "s--", label="multiply-add ratio")
    ax.set_xlabel("image side (px), 14x14 window, stride 2")
    ax.set_ylabel("ratio")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(sizes), [str(s) for s in sizes])
    ax.minorticks_off()
    ax.legend()
    text = (
        "<p>The seed's classifier (14x14x3 input, 5x5 conv 16, 2x2 max-pool, dense 400, dense 400, "
        "softmax 4) run on every window, against its fully convolutional twin built from the same weights, "
        "which computes every window's output in one pass and shares the overlapping work. Times in ms, "
        "interleaved rounds; <em>max_abs_difference</em> is the largest difference between the two "
        "outputs.</p>"
    )
    return Section(
        "sliding",
        "Sliding windows: naive vs convolutional",
        text=text,
        tables={"sliding": table.drop(columns=["size"])},
        figures=[
            (
                ctx.savefig(fig, "sliding_speedup.png"),
                "Measured speedup of the convolutional scan (bars: min-max over rounds) against the "
                "multiply-add ratio.",
            )
        ],
        data={"rows": rows},
    )
