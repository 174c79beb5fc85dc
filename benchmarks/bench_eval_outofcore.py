"""Out-of-core COCO evaluation: a results set in shards, streamed through ``evaluate_shards``; peak RSS.

An Objects365-val-sized synthetic set by default (80,000 images, 365
categories, ~15 ground truths and 100 detections per image: 8 M detections,
~1.2 M ground truths) is written shard by shard (never whole in memory), then
evaluated in a fresh process by :func:`detbench.eval.evaluate_shards`; the
process's peak RSS (``ru_maxrss``) and the time are printed. Not run in CI
(tests/test_eval_shards.py runs the same code path on a small set)::

    python -m benchmarks.bench_eval_outofcore                 # 80,000 images in 80 shards, in a temp dir
    python -m benchmarks.bench_eval_outofcore 8000 --shards 8 # a smaller instance
    python -m benchmarks.bench_eval_outofcore --dir DIR       # keep the files
    python -m benchmarks.bench_eval_outofcore --workers 2     # also evaluate_distributed on a LocalCluster
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time

import msgspec
import numpy as np

W, H = 640.0, 480.0


def _shard(first_img: int, n_img: int, n_cat: int, seed: int, gt_id0: int) -> tuple[list, list]:
    """(ground-truth annotations, detections) of images first_img .. first_img + n_img - 1."""
    rng = np.random.default_rng(seed)
    ng = rng.poisson(15.0, n_img)
    G = int(ng.sum())
    g_img = np.repeat(np.arange(first_img, first_img + n_img), ng)
    gw = np.minimum(np.exp(rng.uniform(np.log(4), np.log(400), G)), W - 1)
    gh = np.minimum(np.exp(rng.uniform(np.log(4), np.log(400), G)), H - 1)
    gx = rng.uniform(0, 1, G) * (W - gw)
    gy = rng.uniform(0, 1, G) * (H - gh)
    gc = rng.integers(1, n_cat + 1, G)
    crowd = rng.random(G) < 0.01
    g_box = np.round(np.stack([gx, gy, gw, gh], 1), 2)
    anns = [
        {"id": gt_id0 + k, "image_id": i, "category_id": c, "bbox": b, "area": round(b[2] * b[3], 2), "iscrowd": int(r)}
        for k, (i, c, b, r) in enumerate(zip(g_img.tolist(), gc.tolist(), g_box.tolist(), crowd.tolist()))
    ]
    D = n_img * 100
    d_img = np.repeat(np.arange(first_img, first_img + n_img), 100)
    g_start = np.concatenate([[0], np.cumsum(ng)])[:-1]
    slot = np.tile(np.arange(100), n_img)
    n_gt = np.repeat(ng, 100)
    is_tp = slot < np.minimum(100, 4 * n_gt)
    src = np.repeat(g_start, 100) + (rng.random(D) * np.maximum(n_gt, 1)).astype(np.int64)
    src = np.minimum(src, max(G - 1, 0))
    jit = rng.normal(0, 0.1, (D, 4))
    bw = np.exp(rng.uniform(np.log(4), np.log(300), D))
    bh = np.exp(rng.uniform(np.log(4), np.log(300), D))
    box = np.empty((D, 4))
    box[:, 0] = np.where(is_tp, gx[src] + jit[:, 0] * gw[src], rng.uniform(0, 1, D) * (W - bw))
    box[:, 1] = np.where(is_tp, gy[src] + jit[:, 1] * gh[src], rng.uniform(0, 1, D) * (H - bh))
    box[:, 2] = np.where(is_tp, gw[src] * np.exp(jit[:, 2]), bw)
    box[:, 3] = np.where(is_tp, gh[src] * np.exp(jit[:, 3]), bh)
    cat = np.where(is_tp & (rng.random(D) < 0.85), gc[src], rng.integers(1, n_cat + 1, D))
    score = np.round(np.where(is_tp, rng.uniform(0.3, 1.0, D), rng.uniform(0.0, 0.6, D)), 3)
    dets = [
        {"image_id": i, "category_id": c, "bbox": b, "score": s}
        for i, c, b, s in zip(d_img.tolist(), cat.tolist(), np.round(box, 2).tolist(), score.tolist())
    ]
    return anns, dets


def write_set(folder: str, n_images: int, n_shards: int, n_cat: int = 365) -> tuple[str, str]:
    """Write gt.json and results-XXXX.json shards (one shard in memory at a time); returns (gt, glob)."""
    enc = msgspec.json.Encoder()
    bounds = np.linspace(1, n_images + 1, n_shards + 1).astype(int)
    gt_path = os.path.join(folder, "gt.json")
    with open(gt_path, "wb") as f:
        images = [{"id": i, "width": 640, "height": 480} for i in range(1, n_images + 1)]
        cats = [{"id": c, "name": f"c{c}"} for c in range(1, n_cat + 1)]
        f.write(b'{"images": ' + enc.encode(images) + b', "categories": ' + enc.encode(cats) + b', "annotations": [')
        gt_id = 1
        for k in range(n_shards):
            anns, dets = _shard(int(bounds[k]), int(bounds[k + 1] - bounds[k]), n_cat, k, gt_id)
            gt_id += len(anns)
            if anns:
                f.write((b"," if k and gt_id > len(anns) + 1 else b"") + enc.encode(anns)[1:-1])
            with open(os.path.join(folder, f"results-{k:04d}.json"), "wb") as g:
                g.write(enc.encode(dets))
        f.write(b"]}")
    return gt_path, os.path.join(folder, "results-*.json")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def once(gt: str, pattern: str, workers: int = 0) -> None:
    from detbench.eval import evaluate_distributed, evaluate_shards

    t = time.perf_counter()
    if workers:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cl:
            with Client(cl) as client:
                res = evaluate_distributed(gt, pattern, client=client)
                worker_rss = sorted(client.run(_peak_rss_mb).values())
        where = f"workers' peak RSS {', '.join(f'{r:.0f}' for r in worker_rss)} MB, client {_peak_rss_mb():.0f} MB"
    else:
        res = evaluate_shards(gt, pattern)
        where = f"peak RSS {_peak_rss_mb():.0f} MB"
    dt = time.perf_counter() - t
    print(
        f"evaluated {res.n_images} images, {res.n_detections} detections, {res.n_shards} shards in {dt:.1f} s "
        f"({f'{workers} Dask workers' if workers else 'one process'}); AP {res.stats[0]:.4f}; {where}"
    )


def main(argv: list[str]) -> int:
    if argv and argv[0] == "once":
        once(argv[1], argv[2], int(argv[3]) if len(argv) > 3 else 0)
        return 0
    opts = {"--shards": None, "--dir": None, "--workers": None}
    rest = []
    k = 0
    while k < len(argv):
        if argv[k] in opts:
            opts[argv[k]] = argv[k + 1]
            k += 2
        else:
            rest.append(argv[k])
            k += 1
    n = int(rest[0]) if rest else 80_000
    shards = int(opts["--shards"] or max(1, n // 1000))
    with tempfile.TemporaryDirectory() as tmp:
        folder = opts["--dir"] or tmp
        os.makedirs(folder, exist_ok=True)
        t = time.perf_counter()
        gt, pattern = write_set(folder, n, shards)
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)) / 1e6
        print(f"wrote {n} images in {shards} shards ({size:.0f} MB of JSON) in {time.perf_counter() - t:.1f} s")
        cmd = [sys.executable, "-m", "benchmarks.bench_eval_outofcore", "once", gt, pattern]
        subprocess.run(cmd, check=True)
        if opts["--workers"]:
            subprocess.run([*cmd, opts["--workers"]], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
