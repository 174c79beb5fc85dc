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
# # Streaming evaluation during training: `CocoEvaluator`
#
# A validation loop calls `update` once per batch and `compute` at the end; data-parallel ranks each keep
# their own evaluator and merge the states on one rank. The state holds per-detection match results
# (31 bytes per detection with COCO's defaults), not boxes or dicts, and the result equals the one-shot
# `COCOeval` bit for bit, whatever the batches and the merge order. Here a "model" is played by detbench's
# detector simulator on a synthetic validation set.

# %%
import pickle

import numpy as np

from detbench.eval import COCOeval, CocoEvaluator, load_coco
from detbench.synthetic import SceneConfig, make_dataset

gt_dict, det = make_dataset(SceneConfig(n_images=200, n_classes=5), seed=0)
gt = load_coco(gt_dict)
per_image = det.per_image()  # image id -> indices of its detections ("the model's output")
image_ids = sorted(per_image)


def model(batch_ids):
    """Per image: xywh boxes, scores, labels (what a detector's post-processing returns)."""
    out = []
    for i in batch_ids:
        idx = per_image[i]
        xywh = det.boxes[idx].copy()
        xywh[:, 2:] -= xywh[:, :2]
        out.append({"boxes": xywh, "scores": det.scores[idx], "labels": det.labels[idx]})
    return out


# %% [markdown]
# ## One process: `update` per batch, `compute` at the end

# %%
evaluator = CocoEvaluator(gt)
for start in range(0, len(image_ids), 16):
    batch = image_ids[start : start + 16]
    for img, o in zip(batch, model(batch)):
        evaluator.update(
            image_ids=np.full(len(o["scores"]), img), category_ids=o["labels"], boxes=o["boxes"], scores=o["scores"]
        )
result = evaluator.compute()
print(result.summary)
print(f"{result.n_images} images, {result.n_detections} detections; state {evaluator.nbytes / 1e3:.0f} kB")

# %% [markdown]
# ## Data-parallel ranks: each rank evaluates its images, rank 0 merges the gathered states
#
# With `torch.distributed` the gather is `all_gather_object(states, evaluator)`; here three "ranks" take
# every third image and their states travel through `pickle`, as they would between processes.

# %%
ranks = [CocoEvaluator(gt) for _ in range(3)]
for r, ev in enumerate(ranks):
    for img, o in zip(image_ids[r::3], model(image_ids[r::3])):
        ev.update(
            image_ids=np.full(len(o["scores"]), img), category_ids=o["labels"], boxes=o["boxes"], scores=o["scores"]
        )
gathered = [pickle.loads(pickle.dumps(ev)) for ev in ranks]
merged = gathered[2].merge(gathered[0]).merge(gathered[1])
distributed = merged.compute()

# %%
E = COCOeval(gt, gt.load_results(det.to_coco()))
E.evaluate()
E.accumulate()
E.summary_text()
for k in ("precision", "recall", "scores"):
    assert np.array_equal(distributed.eval[k], E.eval[k]) and np.array_equal(result.eval[k], E.eval[k])
assert np.array_equal(distributed.stats, E.stats)
print("streaming, merged and one-shot results are identical; AP =", round(float(E.stats[0]), 4))
