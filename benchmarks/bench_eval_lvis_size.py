"""LVIS v1 val size, files -> stats: detbench vs hotcoco vs ultrafast-pycocotools, each in its own process.

The size of LVIS v1 val with a detector's usual output: 19,809 images, 1,203
categories, about 12.5 ground truths per image (~248 k) and the top 300
detections per image (~5.9 M, a ~0.5 GB results file), bbox, the COCO protocol
with ``maxDets = [1, 10, 300]``. The data come from :mod:`detbench.synthetic`
(``make_scenes`` + ``simulate_detections``, top 300 per image by score,
coordinates rounded to 0.01 and scores to 1e-4 like real results files), written
once to a cache folder (``$DETBENCH_BENCH_CACHE``, default
``<tmp>/detbench-bench-cache``) and reused.

Each peer runs in a fresh process (``python benchmarks/bench_eval_lvis_size.py
once PEER GT DT``) that reports its own peak RSS (``VmHWM``) and the time of
files -> stats: the peer's ``COCO(path)``, ``loadRes(path)``, ``COCOeval``
with the maxDets above, evaluate, accumulate, summarize, each phase timed.
Every peer's process first runs the same path on a 50-image set of the same
kind, untimed (detbench loads its compiled kernels from Numba's cache on a
process's first evaluation: ``warmup_s``, reported apart).

``stats[0]``: pycocotools computes it at maxDets=100 whatever ``maxDets`` says,
so it is -1 here; detbench and ultrafast-pycocotools keep that, hotcoco gives
the AP at ``maxDets[2]``. The other 11 stats are compared across peers.

asv: :class:`LVISSizeFilesToStats` tracks the seconds and the peak RSS of each
peer. The full size runs only with ``DETBENCH_BENCH_LVIS=1`` (it needs ~2 min to
write the files once, and minutes per run); the small instance (200 images,
same code path) runs everywhere, including the CI smoke run.

Direct run (interleaved rounds, min-max over rounds, ratios, detbench's phases)::

    python -m benchmarks.bench_eval_lvis_size                 # full size, 3 rounds
    python -m benchmarks.bench_eval_lvis_size --images 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

FULL = 19_809
SMALL = 200
WARM_UP = 50  # images of the set each process evaluates first (untimed)
N_CATEGORIES = 1_203
DETS_PER_IMAGE = 300
MAX_DETS = [1, 10, 300]
PEERS = {"detbench": "detbench", "hotcoco": "hotcoco", "ultrafast_pycocotools": "ultrafast_pycocotools"}
_CHUNK = 1_000  # images simulated and written at a time (bounded memory while writing the files)
_VERSION = 1  # bump when the data change (new cache folder)


def cache_dir() -> str:
    return os.environ.get("DETBENCH_BENCH_CACHE") or os.path.join(tempfile.gettempdir(), "detbench-bench-cache")


def _top_per_image(det, k: int):
    """The ``k`` best-scored detections of each image (ties: first emitted), image order kept."""
    order = np.lexsort((-det.scores, det.image_ids))
    ids = det.image_ids[order]
    start = np.searchsorted(ids, ids, side="left")
    rank = np.arange(ids.size) - start
    return det.select(np.sort(order[rank < k]))


def _json_items(objs: list) -> bytes:
    """The items of a JSON array of ``objs``, without the brackets (to write a long array in pieces)."""
    import msgspec

    return msgspec.json.encode(objs)[1:-1]


def lvis_size_files(n_images: int = FULL, seed: int = 0) -> tuple[str, str]:
    """Paths of ``gt.json`` and ``results.json`` of the LVIS-size set with ``n_images`` images (written once)."""
    from detbench.synthetic import DetectorConfig, SceneConfig, make_scenes, simulate_detections

    folder = os.path.join(cache_dir(), f"lvis_size_v{_VERSION}_{n_images}_s{seed}")
    gt_path, dt_path = os.path.join(folder, "gt.json"), os.path.join(folder, "results.json")
    if os.path.exists(gt_path) and os.path.exists(dt_path):
        return gt_path, dt_path
    os.makedirs(folder, exist_ok=True)
    scene = SceneConfig(n_images=n_images, n_classes=N_CATEGORIES, objects_per_image=(1, 24), crowd_fraction=0.0)
    gt = make_scenes(scene, seed=seed)
    # ~11 found objects x 4.5 candidates + 80 background clusters x 4.5: ~410 raw boxes an image, top 300 kept
    detector = DetectorConfig(false_positives_per_image=80.0)
    tmp_dt = dt_path + ".part"
    with open(tmp_dt, "wb") as f:
        f.write(b"[")
        first = True
        anns = gt["annotations"]
        a0 = 0
        for c0 in range(0, n_images, _CHUNK):
            images = gt["images"][c0 : c0 + _CHUNK]
            last = images[-1]["id"]
            a1 = a0
            while a1 < len(anns) and anns[a1]["image_id"] <= last:
                a1 += 1
            part = {"images": images, "annotations": anns[a0:a1], "categories": gt["categories"]}
            a0 = a1
            det = _top_per_image(simulate_detections(part, detector, seed=seed + 1 + c0), DETS_PER_IMAGE)
            xywh = det.boxes.copy()
            xywh[:, 2:] -= xywh[:, :2]
            rows = [
                {"image_id": i, "category_id": c, "bbox": b, "score": s}
                for i, c, b, s in zip(
                    det.image_ids.tolist(),
                    det.labels.tolist(),
                    np.round(xywh, 2).tolist(),
                    np.round(det.scores, 4).tolist(),
                )
            ]
            if rows:
                f.write((b"" if first else b",") + _json_items(rows))
                first = False
        f.write(b"]")
    for a in gt["annotations"]:  # like real files: rounded coordinates, area = w * h
        a["bbox"] = [round(v, 2) for v in a["bbox"]]
        a["area"] = round(a["bbox"][2] * a["bbox"][3], 4)
    tmp_gt = gt_path + ".part"
    with open(tmp_gt, "wb") as f:
        f.write(_json_bytes(gt))
    os.replace(tmp_gt, gt_path)
    os.replace(tmp_dt, dt_path)
    return gt_path, dt_path


def _json_bytes(obj) -> bytes:
    import msgspec

    return msgspec.json.encode(obj)


def _available(peer: str) -> bool:
    return peer in PEERS and importlib.util.find_spec(PEERS[peer]) is not None


# ------------------------------------------------------------------ one peer, one process


def _peak_rss_mb() -> float:
    """This process's peak RSS in MB: VmHWM (Linux; ``ru_maxrss`` would include the parent's RSS at the fork
    that started this interpreter), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def run_once(peer: str, gt_path: str, dt_path: str, warm_up_paths: tuple | None = None) -> dict:
    """files -> stats with ``peer`` in this process: seconds per phase, total, stats, this process's peak RSS.

    ``warm_up_paths``: a small (gt, results) pair evaluated first, untimed in the total (detbench loads its
    compiled kernels from Numba's cache on a process's first evaluation; every peer gets the same warm-up).
    """
    if peer == "detbench":
        import detbench.eval as m
    elif peer == "hotcoco":
        import hotcoco as m
    elif peer == "ultrafast_pycocotools":
        import ultrafast_pycocotools as m
    else:
        raise ValueError(f"peer: expected one of {sorted(PEERS)}, got {peer!r}")
    warm_gt, warm_dt = warm_up_paths or (None, None)
    warmup = _files_to_stats(m, warm_gt, warm_dt, {}) if warm_gt else 0.0
    phases: dict = {}
    total = _files_to_stats(m, gt_path, dt_path, phases)
    stats = phases.pop("stats")
    return {
        "peer": peer,
        "seconds": total,
        "phases": phases,
        "warmup_s": warmup,
        "stats": stats,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _files_to_stats(m, gt_path: str, dt_path: str, phases: dict) -> float:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # maxDets without 100: stats[0] notes (the module docstring)
        t0 = time.perf_counter()
        c_gt = m.COCO(gt_path)
        phases["gt_load"] = time.perf_counter() - t0
        t = time.perf_counter()
        c_dt = c_gt.loadRes(dt_path)
        phases["results_load"] = time.perf_counter() - t
        t = time.perf_counter()
        E = m.COCOeval(c_gt, c_dt, "bbox")
        E.params.maxDets = list(MAX_DETS)
        E.evaluate()
        phases["evaluate"] = time.perf_counter() - t
        t = time.perf_counter()
        E.accumulate()
        phases["accumulate"] = time.perf_counter() - t
        t = time.perf_counter()
        E.summarize()
        phases["summarize"] = time.perf_counter() - t
        total = time.perf_counter() - t0
    phases["stats"] = [float(x) for x in E.stats]
    return total


def measure(peer: str, gt_path: str, dt_path: str, timeout: float = 3600, warm_up: bool = True) -> dict:
    """:func:`run_once` in a fresh interpreter (its own peak RSS); the dict it reports.

    The child runs this file as a script with the folder of the ``detbench`` this process imported first
    on its path, so it measures the same detbench (a worktree, or the commit asv installed).
    """
    import detbench

    where = os.path.dirname(os.path.dirname(os.path.abspath(detbench.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (where, os.environ.get("PYTHONPATH")) if p))
    env.setdefault("OMP_WAIT_POLICY", "passive")  # as benchmarks/__init__.py sets it for asv's processes
    cmd = [sys.executable, os.path.abspath(__file__), "once", peer, gt_path, dt_path]
    if warm_up:
        cmd += list(lvis_size_files(WARM_UP))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{peer} failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ asv

_RESULTS: dict = {}


class LVISSizeFilesToStats:
    """gt.json + results.json -> stats at LVIS v1 val size, one fresh process per peer (seconds, peak RSS).

    The full size (19,809 images) runs only with ``DETBENCH_BENCH_LVIS=1``; the
    200-image instance runs the same path everywhere (CI's smoke run included).
    """

    params = ([SMALL, FULL], list(PEERS))
    param_names = ["n_images", "peer"]
    timeout = 3600
    number = 1
    repeat = 1

    def setup(self, n_images, peer):
        if n_images == FULL and os.environ.get("DETBENCH_BENCH_LVIS") != "1":
            raise NotImplementedError("full LVIS size: set DETBENCH_BENCH_LVIS=1 (minutes per peer)")
        if not _available(peer):
            raise NotImplementedError(f"{peer} is not installed")
        key = (n_images, peer)
        if key not in _RESULTS:
            _RESULTS[key] = measure(peer, *lvis_size_files(n_images))
        self.result = _RESULTS[key]

    def track_files_to_stats_seconds(self, n_images, peer):
        return self.result["seconds"]

    track_files_to_stats_seconds.unit = "seconds"

    def track_peak_rss_mb(self, n_images, peer):
        return self.result["peak_rss_mb"]

    track_peak_rss_mb.unit = "MB"


# ------------------------------------------------------------------ direct run


def _fmt_range(values: list, scale: float = 1.0, digits: int = 2) -> str:
    lo, hi = min(values) * scale, max(values) * scale
    return f"{lo:.{digits}f}-{hi:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "once":
        print(json.dumps(run_once(argv[1], argv[2], argv[3], tuple(argv[4:6]) or None)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=FULL)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peers", default=",".join(PEERS))
    args = ap.parse_args(argv)
    peers = [p for p in args.peers.split(",") if _available(p)]
    t = time.perf_counter()
    gt_path, dt_path = lvis_size_files(args.images)
    n_dt = os.path.getsize(dt_path)
    print(f"== {args.images} images, {N_CATEGORIES} categories, maxDets {MAX_DETS}; gt.json "
          f"{os.path.getsize(gt_path) / 1e6:.1f} MB, results.json {n_dt / 1e6:.0f} MB "
          f"(files ready in {time.perf_counter() - t:.0f} s)", flush=True)  # fmt: skip
    runs: dict = {p: [] for p in peers}
    for r in range(args.rounds):
        for p in peers:  # interleaved: every peer once per round
            res = measure(p, gt_path, dt_path)
            runs[p].append(res)
            print(f"  round {r + 1} {p:22s} {res['seconds']:7.2f} s  peak RSS {res['peak_rss_mb']:7.0f} MB", flush=True)
    print("== summary (min-max over rounds)")
    for p in peers:
        secs = [x["seconds"] for x in runs[p]]
        rss = [x["peak_rss_mb"] for x in runs[p]]
        print(f"  {p:22s} files->stats {_fmt_range(secs)} s   peak RSS {_fmt_range(rss, digits=0)} MB")
        ph = {k: [x["phases"][k] for x in runs[p]] for k in runs[p][0]["phases"]}
        print("      " + ", ".join(f"{k} {_fmt_range(v)} s" for k, v in ph.items()))
        warm = _fmt_range([x["warmup_s"] for x in runs[p]])
        print(f"      warm-up on {WARM_UP} images first (not counted; detbench: compiled-kernel cache load): {warm} s")
    if "detbench" in runs:
        d = [x["seconds"] for x in runs["detbench"]]
        for p in peers:
            if p != "detbench":
                o = [x["seconds"] for x in runs[p]]
                per_round = [a / b for a, b in zip(o, d)]
                print(f"  {p} / detbench time, per round: {_fmt_range(per_round)}x")
        ref = np.asarray(runs["detbench"][0]["stats"])
        for p in peers:
            st = np.asarray(runs[p][0]["stats"])
            same = np.array_equal(st[1:], ref[1:])
            print(f"  stats[1:] {p}: {'equal to detbench' if same else f'differ by {np.abs(st - ref)[1:].max():.3g}'}"
                  f"; stats[0] {st[0]:.6f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
