"""COCO evaluation end to end: detbench vs faster-coco-eval vs pycocotools, in one run.

What is timed is what a user sees: ``COCOeval(gt, dt, "bbox")``, ``evaluate()``,
``accumulate()``, ``summarize()`` on ``COCO`` objects built beforehand (each
library's own ``COCO`` class, pycocotools' for detbench), printing suppressed.
``detbench_cold`` forgets the arrays detbench caches per ``COCO`` object before
every call, so the extraction of the annotation dicts is paid each time;
``detbench`` is the cached case (evaluating the same objects again).

``COCOFilesToStats`` starts from what a user has on disk (gt.json and
results.json) and ends at ``stats``: each library's own ``COCO(path)``,
``loadRes(path)``, ``COCOeval``, evaluate, accumulate, summarize.
``COCOObjectsToStats`` starts from each library's ``COCO`` objects already
built from those files. The peers are a parameter (pycocotools,
faster-coco-eval, hotcoco, ultrafast-pycocotools); one that is not installed is
skipped.

Run directly for the same-run ratios reported in the issue::

    python benchmarks/bench_eval.py            # 500 and 5,000 images
    python benchmarks/bench_eval.py --pycocotools-5000   # also pycocotools at 5,000 (~80 s)
    python benchmarks/bench_eval.py files 500 5000 --repeats 5   # files -> stats and objects -> stats, all peers,
                                               # then peak RSS of files -> stats, one process each (/usr/bin/time -v)
    python benchmarks/bench_eval.py files 5000 --peers detbench,hotcoco,ultrafast_pycocotools
    python benchmarks/bench_eval.py once detbench gt.json results.json   # one files -> stats run (for RSS)
"""

from __future__ import annotations

import contextlib
import copy
import gc
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

SIZES = [500, 5000]


def make_coco_dataset(
    n_images: int,
    seed: int = 0,
    n_categories: int = 80,
    gt_per_image: float = 7.0,
    dets_per_image: int = 100,
) -> tuple[dict, list]:
    """A seeded COCO-like ground truth dict and detection list.

    640x480 images; Poisson(``gt_per_image``) ground truths per image with
    log-uniform sides (4..400 px, so every area range is populated), 1 % crowd,
    segmentation-like ``area`` = 50-100 % of the box; ``dets_per_image``
    detections per image: up to 4 jittered copies of each ground truth (85 % with
    its category, scores 0.3-1) and random background boxes (scores 0-0.6).
    Coordinates are rounded to 0.01 and scores to 0.001 like real results files,
    so equal scores across images occur. Output never changes for a given
    (n_images, seed).
    """
    rng = np.random.default_rng(seed)
    W, H = 640.0, 480.0
    images = [{"id": i, "width": 640, "height": 480, "file_name": f"{i:012d}.jpg"} for i in range(1, n_images + 1)]
    cats = [{"id": c, "name": f"class_{c}", "supercategory": "thing"} for c in range(1, n_categories + 1)]
    ng = rng.poisson(gt_per_image, n_images)
    G = int(ng.sum())
    g_img = np.repeat(np.arange(1, n_images + 1), ng)
    gw = np.exp(rng.uniform(np.log(4), np.log(400), G))
    gh = np.exp(rng.uniform(np.log(4), np.log(400), G))
    gw = np.minimum(gw, W - 1)
    gh = np.minimum(gh, H - 1)
    gx = rng.uniform(0, 1, G) * (W - gw)
    gy = rng.uniform(0, 1, G) * (H - gh)
    gc_ = rng.integers(1, n_categories + 1, G)
    crowd = rng.random(G) < 0.01
    g_box = np.round(np.stack([gx, gy, gw, gh], 1), 2)
    g_area = np.round(g_box[:, 2] * g_box[:, 3] * rng.uniform(0.5, 1.0, G), 2)
    anns = [
        {
            "id": k + 1,
            "image_id": int(i),
            "category_id": int(c),
            "bbox": b,
            "area": a,
            "iscrowd": int(cr),
            "segmentation": [],
        }
        for k, (i, c, b, a, cr) in enumerate(
            zip(g_img.tolist(), gc_.tolist(), g_box.tolist(), g_area.tolist(), crowd.tolist())
        )
    ]
    # detections: for each image, min(dets, 4*ng) jittered copies, the rest background
    g_start = np.concatenate([[0], np.cumsum(ng)])
    n_tp = np.minimum(dets_per_image, 4 * ng)
    D = n_images * dets_per_image
    d_img = np.repeat(np.arange(1, n_images + 1), dets_per_image)
    slot = np.tile(np.arange(dets_per_image), n_images)
    is_tp = slot < np.repeat(n_tp, dets_per_image)
    src = g_start[d_img - 1] + (rng.random(D) * np.maximum(ng[d_img - 1], 1)).astype(np.int64)
    src = np.minimum(src, max(G - 1, 0))
    jit = rng.normal(0, 0.1, (D, 4))
    bw = np.exp(rng.uniform(np.log(4), np.log(300), D))
    bh = np.exp(rng.uniform(np.log(4), np.log(300), D))
    box = np.empty((D, 4))
    if G:
        box[:, 0] = np.where(is_tp, gx[src] + jit[:, 0] * gw[src], rng.uniform(0, 1, D) * (W - bw))
        box[:, 1] = np.where(is_tp, gy[src] + jit[:, 1] * gh[src], rng.uniform(0, 1, D) * (H - bh))
        box[:, 2] = np.where(is_tp, gw[src] * np.exp(jit[:, 2]), bw)
        box[:, 3] = np.where(is_tp, gh[src] * np.exp(jit[:, 3]), bh)
        same = rng.random(D) < 0.85
        d_cat = np.where(is_tp & same, gc_[src], rng.integers(1, n_categories + 1, D))
    else:
        box[:, 0] = rng.uniform(0, 1, D) * (W - bw)
        box[:, 1] = rng.uniform(0, 1, D) * (H - bh)
        box[:, 2] = bw
        box[:, 3] = bh
        d_cat = rng.integers(1, n_categories + 1, D)
    score = np.where(is_tp, rng.uniform(0.3, 1.0, D), rng.uniform(0.0, 0.6, D))
    box = np.round(box, 2)
    score = np.round(score, 3)
    dets = [
        {"image_id": i, "category_id": c, "bbox": b, "score": s}
        for i, c, b, s in zip(d_img.tolist(), d_cat.tolist(), box.tolist(), score.tolist())
    ]
    return {"images": images, "categories": cats, "annotations": anns}, dets


def _quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def build_objects(impl: str, gt: dict, dets: list):
    """(gt, dt) COCO objects of the library behind ``impl``."""
    if impl == "faster_coco_eval":
        from faster_coco_eval import COCO as FCOCO

        c_gt = FCOCO(copy.deepcopy(gt))
        c_dt = c_gt.loadRes(copy.deepcopy(dets))
        return c_gt, c_dt
    from pycocotools.coco import COCO

    c_gt = COCO()
    c_gt.dataset = copy.deepcopy(gt)
    _quiet(c_gt.createIndex)
    c_dt = _quiet(c_gt.loadRes, copy.deepcopy(dets))
    return c_gt, c_dt


def evaluator(impl: str, c_gt, c_dt):
    """A zero-argument callable running evaluate+accumulate+summarize with ``impl``; returns stats."""
    if impl.startswith("detbench"):
        from detbench.eval import COCOeval
        from detbench.eval.loader import clear_cache

        cold = impl == "detbench_cold"

        def run():
            if cold:
                clear_cache()
            E = COCOeval(c_gt, c_dt, "bbox")
            E.evaluate()
            E.accumulate()
            _quiet(E.summarize)
            return E.stats

        return run
    if impl == "faster_coco_eval":
        from faster_coco_eval import COCOeval_faster

        def run():
            E = COCOeval_faster(c_gt, c_dt, "bbox", print_function=lambda *a, **k: None)
            E.evaluate()
            E.accumulate()
            _quiet(E.summarize)
            return np.asarray(E.stats)

        return run
    from pycocotools.cocoeval import COCOeval as PyCOCOeval

    def run():
        E = PyCOCOeval(c_gt, c_dt, "bbox")
        _quiet(E.evaluate)
        _quiet(E.accumulate)
        _quiet(E.summarize)
        return E.stats

    return run


_DATA: dict = {}


def _data(n: int) -> tuple[dict, list]:
    if n not in _DATA:
        _DATA[n] = make_coco_dataset(n, seed=0)
    return _DATA[n]


class COCOEvalEndToEnd:
    """evaluate + accumulate + summarize on COCO-like sets (80 categories, ~7 GT and 100 dets per image)."""

    params = (SIZES, ["detbench", "detbench_cold", "faster_coco_eval", "pycocotools"])
    param_names = ["n_images", "impl"]
    timeout = 300
    number = 1
    repeat = (1, 5, 30.0)

    def setup(self, n_images, impl):
        if impl == "pycocotools" and n_images > 500:
            raise NotImplementedError("pycocotools takes ~80 s at 5,000 images; run this file directly for it")
        peer = {"faster_coco_eval": "faster_coco_eval", "pycocotools": "pycocotools"}.get(impl, "pycocotools")
        if not _available(peer):
            raise NotImplementedError(f"{peer} not installed")
        gt, dets = _data(n_images)
        self.c_gt, self.c_dt = build_objects(impl, gt, dets)
        self.run = evaluator(impl, self.c_gt, self.c_dt)
        self.run()  # JIT warm-up / first-call costs

    def time_evaluate(self, n_images, impl):
        self.run()

    def peakmem_evaluate(self, n_images, impl):
        self.run()


class COCOEvalParity:
    """Largest |stat difference| against pycocotools on the 500-image set (0.0 expected)."""

    def setup(self):
        gt, dets = _data(500)
        c_gt, c_dt = build_objects("pycocotools", gt, dets)
        self.ref = evaluator("pycocotools", c_gt, c_dt)()
        self.ours = evaluator("detbench_cold", c_gt, c_dt)()

    def track_max_abs_stat_diff(self):
        return float(np.abs(np.asarray(self.ours) - np.asarray(self.ref)).max())


class AnnotationExtraction:
    """Pulling the annotation dicts of a pycocotools ``COCO`` object into arrays (~535k dicts at 5,000 images).

    ``fast``: the compiled C-API reader (``detbench.eval._dictread``); ``python``:
    the general itemgetter path it falls back to for unusual inputs.
    """

    params = ([500, 5000], ["fast", "python"])
    param_names = ["n_images", "reader"]
    number = 1
    repeat = (3, 10, 20.0)

    def setup(self, n_images, reader):
        if not _available("pycocotools"):
            raise NotImplementedError("pycocotools not installed")
        from detbench.eval import _dictread

        gt, dets = _data(n_images)
        self.c_gt, self.c_dt = build_objects("detbench", gt, dets)
        self._dictread = _dictread
        self._saved = _dictread.AVAILABLE
        if reader == "python":
            _dictread.AVAILABLE = False
        elif not _dictread.AVAILABLE:
            raise NotImplementedError("the fast reader is unavailable on this interpreter")
        self.time_extract(n_images, reader)  # JIT warm-up

    def teardown(self, n_images, reader):
        self._dictread.AVAILABLE = self._saved

    def time_extract(self, n_images, reader):
        from detbench.eval.loader import annotations_of

        annotations_of(self.c_gt, "gt", cache=False)
        annotations_of(self.c_dt, "dt", cache=False)


# ------------------------------------------------------------ files -> stats

#: peers of the files -> stats and objects -> stats suites: name -> module that must be importable
FILE_PEERS = {
    "detbench": "msgspec",
    "hotcoco": "hotcoco",
    "ultrafast_pycocotools": "ultrafast_pycocotools",
    "faster_coco_eval": "faster_coco_eval",
    "pycocotools": "pycocotools",
}
_FILES: dict = {}


def coco_files(n_images: int) -> tuple[str, str]:
    """Paths of gt.json and results.json of ``make_coco_dataset(n_images, seed=0)`` (written once per process)."""
    if n_images not in _FILES:
        folder = tempfile.mkdtemp(prefix=f"detbench_coco{n_images}_")
        gt, dets = make_coco_dataset(n_images, seed=0)
        paths = (os.path.join(folder, "gt.json"), os.path.join(folder, "results.json"))
        for path, obj in zip(paths, (gt, dets)):
            with open(path, "w") as f:
                json.dump(obj, f)
        _FILES[n_images] = paths
    return _FILES[n_images]


def _peer_module(peer: str):
    if peer == "detbench":
        import detbench.eval as m
    elif peer == "hotcoco":
        import hotcoco as m
    elif peer == "ultrafast_pycocotools":
        import ultrafast_pycocotools as m
    elif peer == "faster_coco_eval":
        import faster_coco_eval as m
    else:
        import pycocotools.coco
        import pycocotools.cocoeval

        class m:  # noqa: N801 - a namespace like the others
            COCO = pycocotools.coco.COCO
            COCOeval = pycocotools.cocoeval.COCOeval

    return m


def load_objects(peer: str, gt_path: str, dt_path: str):
    """(gt, dt) built by ``peer``'s own ``COCO(path)`` and ``loadRes(path)``."""
    m = _peer_module(peer)
    with contextlib.redirect_stdout(io.StringIO()):
        c_gt = m.COCO(gt_path)
        c_dt = c_gt.loadRes(dt_path)
    return c_gt, c_dt


def evaluate_objects(peer: str, c_gt, c_dt) -> np.ndarray:
    """``peer``'s COCOeval on its objects: evaluate, accumulate, summarize (printing suppressed); the stats."""
    m = _peer_module(peer)
    with contextlib.redirect_stdout(io.StringIO()):
        if peer == "faster_coco_eval":
            E = m.COCOeval_faster(c_gt, c_dt, "bbox", print_function=lambda *a, **k: None)
        else:
            E = m.COCOeval(c_gt, c_dt, "bbox")
        E.evaluate()
        E.accumulate()
        E.summarize()
    return np.asarray(E.stats, dtype=np.float64)


def files_to_stats(peer: str, gt_path: str, dt_path: str) -> np.ndarray:
    """What a user runs: gt.json + results.json on disk -> stats, with ``peer``."""
    c_gt, c_dt = load_objects(peer, gt_path, dt_path)
    return evaluate_objects(peer, c_gt, c_dt)


def _skip_unavailable(peer: str, n_images: int) -> None:
    if peer == "pycocotools" and n_images > 500:
        raise NotImplementedError("pycocotools takes ~80 s at 5,000 images; run this file directly for it")
    if not _available(FILE_PEERS[peer]):
        raise NotImplementedError(f"{peer} is not installed")


class COCOFilesToStats:
    """gt.json + results.json on disk -> stats (~7 GT and 100 detections per image, 80 categories)."""

    params = (SIZES, list(FILE_PEERS))
    param_names = ["n_images", "peer"]
    timeout = 600
    number = 1
    repeat = (3, 7, 60.0)

    def setup(self, n_images, peer):
        _skip_unavailable(peer, n_images)
        self.paths = coco_files(n_images)
        files_to_stats(peer, *self.paths)  # imports, JIT cache load, OS file cache

    def time_files_to_stats(self, n_images, peer):
        files_to_stats(peer, *self.paths)

    def peakmem_files_to_stats(self, n_images, peer):
        files_to_stats(peer, *self.paths)


class COCOObjectsToStats:
    """Each library's COCO objects already built from the files -> stats."""

    params = (SIZES, list(FILE_PEERS))
    param_names = ["n_images", "peer"]
    timeout = 600
    number = 1
    repeat = (3, 7, 60.0)

    def setup(self, n_images, peer):
        _skip_unavailable(peer, n_images)
        self.objects = load_objects(peer, *coco_files(n_images))
        evaluate_objects(peer, *self.objects)  # warm-up

    def time_objects_to_stats(self, n_images, peer):
        evaluate_objects(peer, *self.objects)


def timeraw_first_evaluation():
    """A fresh interpreter: import detbench.eval and evaluate a tiny set once (compile-cache load cost)."""
    return """
import contextlib, io
from detbench.eval import COCOeval, load_coco
gt = load_coco({"images": [{"id": 1}], "categories": [{"id": 1}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]}]})
dt = gt.load_results([{"image_id": 1, "category_id": 1, "bbox": [1, 0, 10, 10], "score": 0.5}])
E = COCOeval(gt, dt)
E.evaluate(); E.accumulate()
with contextlib.redirect_stdout(io.StringIO()):
    E.summarize()
"""


# ------------------------------------------------------------------ direct run


def _median_time(fn, repeats: int) -> tuple[float, list]:
    times = []
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), times


def _peak_rss_mb(peer: str, n_images: int) -> float | None:
    """Peak RSS (MB) of one fresh process running files -> stats once (``/usr/bin/time -v``)."""
    if not os.path.exists("/usr/bin/time"):
        return None
    # the files are written by this process beforehand: the child only loads and evaluates them
    cmd = ["/usr/bin/time", "-v", sys.executable, os.path.abspath(__file__), "once", peer, *coco_files(n_images)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in r.stderr.splitlines():
        if "Maximum resident set size" in line:
            return int(line.split(":")[-1]) / 1024
    return None


def main_files(argv: list[str]) -> int:
    """files -> stats and objects -> stats for every installed peer, same run, min-max; then peak RSS."""
    repeats = 5
    if "--repeats" in argv:
        k = argv.index("--repeats")
        repeats = int(argv[k + 1])
        argv = argv[:k] + argv[k + 2 :]
    peers = [p for p in FILE_PEERS if _available(FILE_PEERS[p])]
    if "--peers" in argv:  # e.g. --peers detbench,hotcoco,ultrafast_pycocotools
        k = argv.index("--peers")
        peers = [p for p in argv[k + 1].split(",") if p in peers]
        argv = argv[:k] + argv[k + 2 :]
    sizes = [int(a) for a in argv if a.isdigit()] or SIZES
    py5000 = "--pycocotools-5000" in argv
    for n in sizes:
        gt_path, dt_path = coco_files(n)
        print(f"== {n} images: gt.json {os.path.getsize(gt_path) / 1e6:.1f} MB, "
              f"results.json {os.path.getsize(dt_path) / 1e6:.1f} MB")  # fmt: skip
        times: dict = {"files": {}, "objects": {}}
        stats = {}
        run = [p for p in peers if not (p == "pycocotools" and n > 500 and not py5000)]
        objects = {}
        for peer in run:
            stats[peer] = files_to_stats(peer, gt_path, dt_path)  # warm-up
            objects[peer] = load_objects(peer, gt_path, dt_path)
            evaluate_objects(peer, *objects[peer])
            times["files"][peer], times["objects"][peer] = [], []
        # interleaved rounds: every peer once per round, so a load change on the machine hits all of them
        for r in range(repeats):
            for path, fn in (("files", lambda p: files_to_stats(p, gt_path, dt_path)),
                             ("objects", lambda p: evaluate_objects(p, *objects[p]))):  # fmt: skip
                for peer in run:
                    if peer == "pycocotools" and r > 0:
                        continue  # once: it takes seconds
                    gc.collect()
                    t = time.perf_counter()
                    fn(peer)
                    times[path][peer].append(time.perf_counter() - t)
        objects.clear()
        gc.collect()
        for peer in run:
            ft, ot = times["files"][peer], times["objects"][peer]
            print(f"  {peer:22s} files->stats {min(ft) * 1e3:8.1f}-{max(ft) * 1e3:8.1f} ms   "
                  f"objects->stats {min(ot) * 1e3:8.1f}-{max(ot) * 1e3:8.1f} ms")  # fmt: skip
        ref = stats.get("pycocotools", stats.get("faster_coco_eval"))
        for peer, st in stats.items():
            if ref is not None and not np.array_equal(st, ref):
                print(f"  !! {peer} stats differ from the reference by {np.abs(st - ref).max()}")
        rust = [p for p in ("hotcoco", "ultrafast_pycocotools") if p in times["files"]]
        if "detbench" in times["files"] and rust:
            for path in ("files", "objects"):
                d = times[path]["detbench"]
                # per round: the faster Rust evaluator of that round over detbench's time in that round
                per_round = [min(times[path][p][k] for p in rust) / d[k] for k in range(len(d))]
                best = min(min(times[path][p]) for p in rust)
                print(f"  {path}->stats: the faster Rust evaluator / detbench, per round "
                      f"{min(per_round):.2f}x-{max(per_round):.2f}x, min/min {best / min(d):.2f}x")  # fmt: skip
        for peer in peers:
            if peer == "pycocotools" and n > 500:
                continue
            rss = _peak_rss_mb(peer, n)
            if rss is not None:
                print(f"  peak RSS files->stats, one process: {peer:22s} {rss:7.0f} MB")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "files":
        return main_files(argv[1:])
    if argv and argv[0] == "once":  # one files -> stats run in a fresh process (peak RSS): once PEER GT DT
        print(files_to_stats(argv[1], argv[2], argv[3]))
        return 0
    sizes = [int(a) for a in argv if a.isdigit()] or SIZES
    py5000 = "--pycocotools-5000" in argv
    for n in sizes:
        gt, dets = make_coco_dataset(n, seed=0)
        print(f"== {n} images, {len(gt['annotations'])} GT, {len(dets)} detections, 80 categories")
        rows = {}
        stats = {}
        for impl in ["detbench", "detbench_cold", "faster_coco_eval", "pycocotools"]:
            if impl == "pycocotools" and n > 500 and not py5000:
                continue
            c_gt, c_dt = build_objects(impl, gt, dets)
            run = evaluator(impl, c_gt, c_dt)
            reps = 1 if impl == "pycocotools" else (5 if n > 500 else 9)
            if impl != "pycocotools":
                stats[impl] = run()  # warm-up
            med, times = _median_time(run, reps)
            if impl == "pycocotools":
                stats[impl] = run() if n <= 500 else stats.get(impl)
            rows[impl] = med
            print(f"  {impl:18s} median {med * 1e3:9.1f} ms  (runs: {', '.join(f'{t * 1e3:.0f}' for t in times)})")
            del c_gt, c_dt, run
            gc.collect()
        for impl in ("detbench", "detbench_cold"):
            for peer in ("faster_coco_eval", "pycocotools"):
                if peer in rows:
                    print(f"  {impl} vs {peer}: {rows[peer] / rows[impl]:.1f}x")
        if "pycocotools" in stats and stats["pycocotools"] is not None:
            d = np.abs(np.asarray(stats["detbench"]) - np.asarray(stats["pycocotools"])).max()
            print(f"  max |stats - pycocotools| = {d}")
    return 0


class COCOEvalThreads:
    """Evaluation phase (objects already built) at 1 and 2 threads: bit-identical results, the time should halve.

    ``time_evaluate``: ``COCOeval(threads=...)`` evaluate + accumulate + summarize
    on detbench's own :class:`~detbench.eval.CocoDataset` objects (files already
    parsed). ``time_match_accumulate``: only the matching + accumulation kernels
    (:func:`detbench.eval.accumulate.evaluate_curves`) on grouped arrays.
    """

    params = (SIZES, [1, 2])
    param_names = ["n_images", "threads"]
    timeout = 300
    number = 1
    repeat = (3, 9, 30.0)

    def setup(self, n_images, threads):
        from detbench.eval import COCOeval, load_coco, load_results
        from detbench.eval.grouping import prepare
        from detbench.eval.matching import make_settings

        gt, dets = _data(n_images)
        self.gt = load_coco(gt)
        self.dt = load_results(dets, self.gt)
        E = COCOeval(self.gt, self.dt, "bbox", threads=threads)
        E.evaluate()  # warm the JIT and the loader's caches
        E.accumulate()
        p = E.params
        self.groups = prepare(self.gt, self.dt, list(p.imgIds), list(p.catIds), True).groups
        self.settings = make_settings(p)

    def time_evaluate(self, n_images, threads):
        from detbench.eval import COCOeval

        E = COCOeval(self.gt, self.dt, "bbox", threads=threads)
        E.evaluate()
        E.accumulate()
        _quiet(E.summarize)

    def time_match_accumulate(self, n_images, threads):
        from detbench.eval.accumulate import evaluate_curves

        evaluate_curves(self.groups, self.settings, threads=threads)


if __name__ == "__main__":
    raise SystemExit(main())
