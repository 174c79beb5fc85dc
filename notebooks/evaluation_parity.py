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
# # Evaluation parity: detbench.eval against pycocotools
#
# detbench's `COCOeval` is a drop-in for pycocotools' (change one import). On the real COCO val2014 subset
# shipped with detbench, every stat and every entry of the precision/recall/score arrays must be identical,
# and the stats must equal the ones published with the official COCO API.

# %%
import contextlib
import io

import numpy as np
import pandas as pd
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval as PyCOCOeval

from detbench.data import COCO_SUBSET_BBOX_STATS, coco_val2014_subset
from detbench.eval import COCOeval

gt_path, dt_path = coco_val2014_subset()

# %%
with contextlib.redirect_stdout(io.StringIO()):
    coco_gt = COCO(str(gt_path))
    coco_dt = coco_gt.loadRes(str(dt_path))
    ref = PyCOCOeval(coco_gt, coco_dt, "bbox")
    ref.evaluate()
    ref.accumulate()
    ref.summarize()

ours = COCOeval(coco_gt, coco_dt, "bbox")  # the same pycocotools COCO objects
ours.evaluate()
ours.accumulate()
ours.summarize()

# %%
table = pd.DataFrame({"published": COCO_SUBSET_BBOX_STATS, "pycocotools": ref.stats, "detbench": ours.stats})
table["diff"] = (table.detbench - table.pycocotools).abs()
table

# %%
for key in ("precision", "recall", "scores"):
    np.testing.assert_array_equal(ours.eval[key], ref.eval[key])
np.testing.assert_allclose(ours.stats, COCO_SUBSET_BBOX_STATS, rtol=0, atol=1e-12)
print("identical to pycocotools and to the published stats")
