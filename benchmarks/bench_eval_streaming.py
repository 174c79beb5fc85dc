"""Streaming COCO evaluation (``CocoEvaluator``: update per batch, compute at the end) vs one-shot ``COCOeval``.

Data: :func:`benchmarks.bench_eval.make_coco_dataset` (80 categories, ~7 ground
truths and 100 detections per image). Timed, from a loaded ground truth:

* ``one_shot``: ``COCOeval(gt, gt.load_results(dets))`` evaluate, accumulate, summary
  (``one_shot_1t``: the same with ``threads=1``);
* ``stream_arrays``: ``CocoEvaluator(gt)``, ``update(image_ids=..., category_ids=...,
  boxes=..., scores=...)`` per batch of 32 images, ``compute()``;
* ``stream_dicts``: the same with a list of result dicts per batch.

Each result is checked equal to the one-shot's; the state's bytes per kept
detection are printed. ``python benchmarks/bench_eval_streaming.py [500 5000] [--repeats 3]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from benchmarks.bench_eval import make_coco_dataset
from detbench.eval import COCOeval, CocoEvaluator, load_coco

BATCH = 32


def _batches(dets: list, n_images: int) -> tuple[list, list]:
    by_img: dict = {}
    for d in dets:
        by_img.setdefault(d["image_id"], []).append(d)
    ids = sorted(by_img)
    dicts = [[d for i in ids[k : k + BATCH] for d in by_img[i]] for k in range(0, len(ids), BATCH)]
    arrays = [
        {
            "image_ids": np.array([d["image_id"] for d in b], np.int64),
            "category_ids": np.array([d["category_id"] for d in b], np.int64),
            "boxes": np.array([d["bbox"] for d in b], np.float64),
            "scores": np.array([d["score"] for d in b], np.float64),
        }
        for b in dicts
    ]
    return dicts, arrays


def _median(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def main(argv: list[str]) -> int:
    repeats = 3
    if "--repeats" in argv:
        k = argv.index("--repeats")
        repeats = int(argv[k + 1])
        argv = argv[:k] + argv[k + 2 :]
    sizes = [int(a) for a in argv] or [500, 5000]
    for n in sizes:
        gt_dict, dets = make_coco_dataset(n, seed=0)
        gt = load_coco(gt_dict)
        dicts, arrays = _batches(dets, n)

        def one_shot(threads=None):
            E = COCOeval(gt, gt.load_results(dets), threads=threads)
            E.evaluate()
            E.accumulate()
            E.summary_text()
            return E

        def stream_arrays():
            ev = CocoEvaluator(gt)
            for b in arrays:
                ev.update(**b)
            return ev, ev.compute()

        def stream_dicts():
            ev = CocoEvaluator(gt)
            for b in dicts:
                ev.update(b)
            return ev, ev.compute()

        one_shot()  # compile
        stream_arrays()
        t1, E = _median(one_shot, repeats)
        t1s, _ = _median(lambda: one_shot(1), repeats)
        ta, (ev, ra) = _median(stream_arrays, repeats)
        td, (_, rd) = _median(stream_dicts, repeats)
        for r in (ra, rd):
            for key in ("precision", "recall", "scores"):
                assert np.array_equal(r.eval[key], E.eval[key]), key
            assert np.array_equal(r.stats, E.stats)
        per_det = (ev.nbytes - ev._seen.nbytes - ev._img_dets.nbytes - ev._npig.nbytes) / max(len(ev), 1)
        print(
            f"{n} images, {len(dets)} detections ({len(ev)} kept), median of {repeats}: "
            f"one_shot {t1:.3f} s, one_shot_1t {t1s:.3f} s, stream_arrays {ta:.3f} s ({ta / t1:.2f}x), "
            f"stream_dicts {td:.3f} s ({td / t1:.2f}x); state {ev.nbytes / 1e6:.2f} MB = {per_det:.1f} B/detection; "
            "results identical"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
