import time, numpy as np
from benchmarks.bench_eval_streaming import _batches
import benchmarks.bench_eval_streaming as b
from benchmarks.bench_eval import make_coco_dataset
from detbench.eval import CocoEvaluator, load_coco
b.BATCH = 1
gt_dict, dets = make_coco_dataset(500, seed=0)
gt = load_coco(gt_dict); dicts, arrays = _batches(dets, 500)
ev = CocoEvaluator(gt); ev.update(**arrays[0])
ev = CocoEvaluator(gt)
t=time.perf_counter()
for a in arrays[1:]: ev.update(**a)
print("per single-image update ms", (time.perf_counter()-t)/len(arrays)*1e3)
