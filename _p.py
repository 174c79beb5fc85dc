import time, numpy as np, cProfile, pstats
from benchmarks.bench_eval_streaming import _batches
from benchmarks.bench_eval import make_coco_dataset
from detbench.eval import CocoEvaluator, load_coco
gt_dict, dets = make_coco_dataset(5000, seed=0)
gt = load_coco(gt_dict); dicts, arrays = _batches(dets, 5000)
ev = CocoEvaluator(gt)
for b in arrays[:3]: ev.update(**b)
ev.compute()
t=time.perf_counter(); ev = CocoEvaluator(gt); t0=time.perf_counter()-t
t=time.perf_counter()
for b in arrays: ev.update(**b)
t1=time.perf_counter()-t
t=time.perf_counter(); ev.compute(); t2=time.perf_counter()-t
print(f"init {t0:.3f} update {t1:.3f} compute {t2:.3f}")
ev = CocoEvaluator(gt)
pr=cProfile.Profile(); pr.enable()
for b in arrays: ev.update(**b)
ev.compute()
pr.disable(); pstats.Stats(pr).sort_stats("tottime").print_stats(12)
