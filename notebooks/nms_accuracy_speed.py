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
# # NMS variants: accuracy against speed
#
# One detector simulator output (duplicates jittered around each object, localisation noise, false positives)
# is post-processed by every NMS variant in detbench; each result is scored with detbench's pycocotools-exact
# COCO evaluation. The plot is the report's Pareto figure: which variant buys accuracy, at what cost.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import detbench as db
from detbench.eval import load_coco
from detbench.report import apply_per_image, coco_stats, nms_variants
from detbench.report.figures import label_points, pareto_front
from detbench.synthetic import DetectorConfig, SceneConfig, clustered_boxes, make_dataset

N_IMAGES = 200 if os.environ.get("DETBENCH_NOTEBOOK_FULL") == "1" else 20

# %%
gt, raw = make_dataset(SceneConfig(n_images=N_IMAGES), DetectorConfig(), seed=0)
gt_ds = load_coco(gt)
print(f"{N_IMAGES} images, {len(gt['annotations'])} objects, {len(raw)} raw detections")

# %%
rows = []
for name, (scope, fn) in nms_variants().items():
    apply_per_image(raw, scope, fn)  # warm the JIT
    kept, seconds = apply_per_image(raw, scope, fn)
    stats = coco_stats(gt_ds, kept)
    rows.append(dict(variant=name, AP=stats[0], AP50=stats[1], AR100=stats[8], kept=len(kept), ms=seconds * 1e3))
table = pd.DataFrame(rows)
table

# %% [markdown]
# Greedy NMS, its batched form and Cluster-NMS must agree exactly (Cluster-NMS is proven equal to greedy NMS).

# %%
same = table.set_index("variant").loc[["nms 0.5", "batched_nms 0.5", "cluster_nms 0.5"], ["AP", "AR100", "kept"]]
assert (same.nunique() == 1).all(), same
b, s, _ = clustered_boxes(2000, seed=1)
assert np.array_equal(db.nms(b, s, 0.5), db.cluster_nms(b, s, 0.5))

# %% [markdown]
# The speed/accuracy Pareto front: no other variant is at least as fast and at least as accurate (and strictly
# better in one). Labels sit in a column right of the plot so they never overlap.

# %%
ranked = table[table.variant != "none (raw)"].reset_index(drop=True)
front = pareto_front(ranked.ms, ranked.AP)
fig, ax = plt.subplots(figsize=(10, 5.5))
ax.scatter(ranked.ms, ranked.AP, c=np.where(front, "#d8573b", "#3b7dd8"), zorder=3)
on_front = ranked[front].sort_values("ms")
ax.step(on_front.ms, on_front.AP, "k--", lw=0.8, where="post", label="Pareto front")
ax.set_xscale("log")
ax.set_xlabel(f"time for {N_IMAGES} images (ms, log scale)")
ax.set_ylabel("COCO AP")
fig.subplots_adjust(left=0.08, right=0.62)
label_points(ax, ranked.ms, ranked.AP, list(ranked.variant))
plt.show()
