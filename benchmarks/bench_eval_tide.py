"""TIDE error breakdown: detbench's ``COCOeval.tide()`` vs tidecv, in one run.

Data: the COCO-like set of :mod:`benchmarks.bench_eval` (80 categories, ~7 ground truths and 100
detections per image, scores rounded to 0.001). What is timed, from objects built beforehand:

* ``detbench``: ``COCOeval(gt, dt)``, ``evaluate()``, ``tide()`` (the matching included);
* ``detbench_tide``: ``tide()`` on an evaluator whose ``evaluate()`` ran, its matches not yet cached
  (what a user pays for the breakdown after the evaluation);
* ``tidecv``: ``TIDE().evaluate(gt, dt)``, ``get_main_errors()``, ``get_special_errors()`` on tidecv
  ``Data`` objects.

Run directly for the same-run ratios::

    python -m benchmarks.bench_eval_tide            # 500 images
    python -m benchmarks.bench_eval_tide 100 500 --rounds 5
    NUMBA_NUM_THREADS=1 python -m benchmarks.bench_eval_tide --cpu-time   # CPU seconds per call (min-max),
                                                    # steadier than wall time on a shared machine
"""

from __future__ import annotations

import argparse
import warnings

from benchmarks.bench_eval import make_coco_dataset
from benchmarks.common import peer_available, same_run_timings

SIZES = [500]
PEERS = ["detbench", "detbench_tide", "tidecv"]
_DATA: dict = {}


def _data(n: int) -> tuple[dict, list]:
    if n not in _DATA:
        _DATA[n] = make_coco_dataset(n, seed=0)
    return _DATA[n]


def tidecv_objects(gt: dict, dets: list, max_dets: int = 100):
    """tidecv ``Data`` objects for a COCO-style ground-truth dict and result list (bbox; crowds as ignore regions).

    ``max_dets``: detections per image both keep (tidecv's default 100; LVIS' 300). The tests build their
    tidecv oracle with this function too.
    """
    import tidecv

    g = tidecv.Data("gt", max_dets=max_dets)
    for img in gt["images"]:
        g.add_image(img["id"], img.get("file_name", str(img["id"])))
    for c in gt["categories"]:
        g.add_class(c["id"], c["name"])
    for a in gt["annotations"]:
        if a.get("iscrowd", 0):
            g.add_ignore_region(a["image_id"], a["category_id"], a["bbox"])
        else:
            g.add_ground_truth(a["image_id"], a["category_id"], a["bbox"])
    d = tidecv.Data("dt", max_dets=max_dets)
    for x in dets:
        d.add_detection(x["image_id"], x["category_id"], x["score"], x["bbox"])
    return g, d


def runner(peer: str, gt: dict, dets: list):
    """A zero-argument callable computing the breakdown with ``peer``; it returns ``{error: dAP}``."""
    if peer == "tidecv":
        import tidecv

        g, d = tidecv_objects(gt, dets)

        def run_tidecv() -> dict:
            t = tidecv.TIDE()
            t.evaluate(g, d, name="dt")
            return {**t.get_main_errors()["dt"], **t.get_special_errors()["dt"]}

        return run_tidecv
    from detbench.eval import COCOeval, load_coco, load_results

    g = load_coco(gt)
    dt = load_results(dets, g)
    if peer == "detbench":

        def run_detbench() -> dict:
            E = COCOeval(g, dt, "bbox")
            E.evaluate()
            return dict(E.tide())

        return run_detbench
    E = COCOeval(g, dt, "bbox")
    E.evaluate()

    def run_tide_only() -> dict:
        E._all_matches = E._tide_matches = None  # matches are cached per evaluate(); pay for them here
        return dict(E.tide())

    return run_tide_only


class TideBreakdown:
    """The eight TIDE numbers at 500 images (50,000 detections), detbench vs tidecv."""

    params = (SIZES, PEERS)
    param_names = ["n_images", "peer"]
    timeout = 600
    number = 1
    repeat = (1, 3, 60.0)

    def setup(self, n_images, peer):
        if peer == "tidecv" and not peer_available("tidecv"):
            raise NotImplementedError("tidecv not installed")
        gt, dets = _data(n_images)
        self.run = runner(peer, gt, dets)
        if peer != "tidecv":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.run()  # JIT warm-up

    def time_breakdown(self, n_images, peer):
        self.run()


class TideParity:
    """Largest |dAP difference| against tidecv at 500 images (< 1e-9 expected)."""

    def setup(self):
        if not peer_available("tidecv"):
            raise NotImplementedError("tidecv not installed")
        gt, dets = _data(500)
        self.ref = runner("tidecv", gt, dets)()
        self.ours = runner("detbench", gt, dets)()

    def track_max_abs_dap_diff(self):
        return max(abs(self.ours[k] - self.ref[k]) for k in self.ref)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sizes", nargs="*", type=int, default=SIZES)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpu-time", action="store_true", help="CPU time per call (time.process_time), interleaved")
    args = ap.parse_args(argv)
    for n in args.sizes:
        gt, dets = _data(n)
        fns = {p: runner(p, gt, dets) for p in PEERS if p != "tidecv" or peer_available("tidecv")}
        out = {p: fn() for p, fn in fns.items()}  # warm-up, and the numbers
        diff = max(abs(out["detbench"][k] - out["tidecv"][k]) for k in out["tidecv"]) if "tidecv" in out else None
        if args.cpu_time:
            _cpu_table(n, len(dets), fns, args.rounds, diff)
            continue
        res = same_run_timings(fns, rounds=args.rounds, budget_s=600.0)
        print(f"{n} images, {len(dets)} detections; max |dAP difference| vs tidecv: {diff}")
        for p, t in res.items():
            print(f"  {p:14s} median {t.median * 1e3:10.1f} ms  (min {t.min * 1e3:.1f}, max {t.max * 1e3:.1f})")
        if "tidecv" in res:
            for p in ("detbench", "detbench_tide"):
                lo = res["tidecv"].min / res[p].max
                hi = res["tidecv"].max / res[p].min
                print(f"  tidecv / {p}: median {res['tidecv'].median / res[p].median:.0f}x (range {lo:.0f}-{hi:.0f}x)")
    return 0


def _cpu_table(n: int, n_dets: int, fns: dict, rounds: int, diff: float | None) -> None:
    import time

    cpu: dict = {p: [] for p in fns}
    for _ in range(rounds):
        for p, fn in fns.items():
            t0 = time.process_time()
            fn()
            cpu[p].append(time.process_time() - t0)
    print(f"{n} images, {n_dets} detections; max |dAP difference| vs tidecv: {diff}; CPU time per call")
    for p, v in cpu.items():
        print(f"  {p:14s} min {min(v) * 1e3:10.1f} ms  max {max(v) * 1e3:10.1f} ms")
    if "tidecv" in cpu:
        t = cpu["tidecv"]
        for p in ("detbench", "detbench_tide"):
            lo, hi, mm = min(t) / max(cpu[p]), max(t) / min(cpu[p]), min(t) / min(cpu[p])
            print(f"  tidecv / {p}: {lo:.0f}-{hi:.0f}x (min/min {mm:.0f}x)")


if __name__ == "__main__":
    raise SystemExit(main())
