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
# # ROI Pooling vs ROI Align: where the pixels go
#
# The seed notes (§6) work through an 800x800 image with a 665x665 box at stride 32 and a 7x7 output.
# ROI Pooling quantizes twice (the box onto the feature map, then the map box into bins); ROI Align
# quantizes nothing and samples bilinearly.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import detbench as db

# %%
study = db.roi_quantization_error([0, 0, 665, 665], stride=32, output_size=7, image_size=800)
pool, align = study.roi_pool, study.roi_align
print(
    f"feature extent {pool.feature_extent[0]:.2f} -> {pool.map_extent[0]:.0f} cells, {pool.map_error_px[0]:.2f} px lost"
)
print(f"bin {pool.bin_extent[0]:.3f} -> {pool.bin_used[0]:.0f} cells, {pool.bin_error_px[0]:.2f} px lost per bin")
print(f"ROI Align loses {align.lost_px[0]} px")
assert round(pool.feature_extent[0], 2) == 20.78 and pool.map_extent[0] == 20 and pool.map_error_px[0] == 25
assert align.lost_px == (0.0, 0.0)

# %% [markdown]
# ## The same on real pooling kernels
#
# A smooth synthetic feature map has a closed-form integral, so every output bin's exact average is known;
# each pipeline's error against it, over random boxes:

# %%
errors = db.roi_error_study(n_boxes=100, seed=0)
methods = [k for k in errors if k not in ("boxes", "exact_rms")]
pd.DataFrame({m: np.percentile(errors[m], [50, 90]) for m in methods}, index=["median", "p90"]).T

# %%
fig, ax = plt.subplots(figsize=(8, 4))
for m in methods:
    ax.hist(errors[m], bins=30, histtype="step", lw=1.5, label=m)
ax.set_xlabel("mean |pooled - exact| per box")
ax.legend()
fig.tight_layout()
assert np.median(errors["roi_align"]) < np.median(errors["roi_pool_avg"])
plt.show()
