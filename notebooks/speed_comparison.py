# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Speed comparison: detbench against its peers
#
# Every primitive is timed against each installed peer **in the same run**, so the ratios are meaningful
# even on a noisy shared machine. The first call of a kernel (JIT compile, or loading the on-disk cache)
# is reported apart from the steady-state time. This notebook uses the public API only and draws the
# report's speedup figure.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from detbench.report import measure_case, speed_cases

QUICK = os.environ.get("DETBENCH_NOTEBOOK_FULL", "0") != "1"

# %% [markdown]
# `measure_case` times the first call, then detbench and every peer in interleaved rounds (warm-up excluded);
# each time is a median with its min and max, and the speedup is computed round by round.

# %%
rows = []
for case in speed_cases(quick=QUICK):
    if case.peers:
        rows.extend(measure_case(case, quick=QUICK))
speed = pd.DataFrame(rows)
speed[["primitive", "size", "peer", "detbench_ms", "peer_ms", "speedup", "speedup_min", "speedup_max"]]

# %%
assert len(speed) > 0 and (speed["detbench_ms"] > 0).all()
assert (speed["speedup_min"] <= speed["speedup"]).all() and (speed["speedup"] <= speed["speedup_max"]).all()
fig, ax = plt.subplots(figsize=(9, 0.4 * len(speed) + 1.5))
err = [speed["speedup"] - speed["speedup_min"], speed["speedup_max"] - speed["speedup"]]
ax.barh([f"{r.primitive} {r.size} vs {r.peer}" for r in speed.itertuples()], speed["speedup"], xerr=err)
for y, (m, hi) in enumerate(zip(speed["speedup"], speed["speedup_max"])):
    ax.text(hi * 1.08, y, f"{m:.3g}x", va="center", fontsize=8)
ax.set_xscale("log")
ax.set_xlim(right=float(np.nanmax(speed["speedup_max"])) * 6)
ax.axvline(1, color="k", lw=0.8)
ax.invert_yaxis()
ax.set_xlabel("speedup (peer time / detbench time; whiskers: min-max over rounds)")
fig.tight_layout()
plt.show()
