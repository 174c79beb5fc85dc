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

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from detbench.report import first_call_time, median_time, speed_cases

QUICK = os.environ.get("DETBENCH_NOTEBOOK_FULL", "0") != "1"

# %%
rows = []
for case in speed_cases(quick=QUICK):
    first = first_call_time(case.detbench)
    steady = median_time(case.detbench, repeats=3)
    for peer, fn in case.peers.items():
        fn()
        peer_s = median_time(fn, repeats=3)
        rows.append(
            dict(
                primitive=case.primitive,
                size=case.size,
                first_call_s=first,
                detbench_s=steady,
                peer=peer,
                peer_s=peer_s,
                speedup=peer_s / steady,
            )
        )
speed = pd.DataFrame(rows)
speed

# %%
assert len(speed) > 0 and (speed["detbench_s"] > 0).all()
fig, ax = plt.subplots(figsize=(8, 0.4 * len(speed) + 1.5))
ax.barh([f"{r.primitive} {r.size} vs {r.peer}" for r in speed.itertuples()], speed["speedup"])
ax.set_xscale("log")
ax.axvline(1, color="k", lw=0.8)
ax.set_xlabel("speedup (peer time / detbench time)")
fig.tight_layout()
