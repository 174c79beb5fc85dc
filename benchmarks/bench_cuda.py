"""GPU kernels (detbench.cuda) against torchvision's CUDA ops and detbench's CPU functions, in one run.

One command on a GPU machine (no build needed; torch/torchvision CUDA optional)::

    python -m benchmarks.bench_cuda --json gpu_bench.json [--md gpu_bench.md] [--quick]

writes one JSON (every case: kernel, size, each implementation's median time, the ratio, the
parity check) and one Markdown table. Times are medians of synchronised calls on device
arrays (inputs already on the GPU, results left there), so PCIe transfers are not counted;
the inputs are torch CUDA tensors, passed to detbench.cuda through
``__cuda_array_interface__`` (zero copy), or Numba device arrays when torch has no CUDA.

Parity: detbench.cuda's result against detbench's CPU function (``max|diff|`` for values,
``equal`` for index arrays; 0 / True expected), and against torchvision where it has the op.

Without a GPU (or with the CUDA simulator on) the asv class below skips and ``main`` exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# the inputs are built by the same code as the report's gpu section's (detbench/cuda/_cases.py)
from detbench.cuda._cases import random_boxes as _boxes
from detbench.cuda._cases import random_rois as _rois

ROOT = Path(__file__).resolve().parents[1]


def gpu_ready() -> str | None:
    """None when a real GPU can run detbench.cuda, else the reason."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        return "NUMBA_ENABLE_CUDASIM is on: simulator timings are meaningless"
    import detbench.cuda as dcuda

    if not dcuda.is_available():
        return "no CUDA GPU (detbench.cuda.is_available() is False)"
    return None


def _torch_cuda():
    try:
        import torch
        import torchvision  # noqa: F401
    except Exception:
        return None
    return torch if torch.cuda.is_available() else None


class Bench:
    """Timing and data helpers bound to the live GPU libraries."""

    def __init__(self, quick: bool = False):
        from numba import cuda

        self.cuda = cuda
        self.torch = _torch_cuda()
        self.quick = quick
        self.rows: list[dict] = []

    def sync(self):
        self.cuda.synchronize()
        if self.torch is not None:
            self.torch.cuda.synchronize()

    def time(self, fn, reps: int) -> float:
        """Median seconds of ``reps`` synchronised calls after one warm-up call."""
        fn()
        self.sync()
        times = []
        for _ in range(max(1, reps if not self.quick else min(reps, 3))):
            t0 = time.perf_counter()
            fn()
            self.sync()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    def dev(self, x: np.ndarray):
        """A device copy of ``x``: a torch CUDA tensor when torch has CUDA, else a Numba array."""
        if self.torch is not None:
            return self.torch.from_numpy(np.ascontiguousarray(x)).cuda()
        return self.cuda.to_device(x)

    def host(self, x) -> np.ndarray:
        if hasattr(x, "copy_to_host"):
            return x.copy_to_host()
        if self.torch is not None and isinstance(x, self.torch.Tensor):
            return x.cpu().numpy()
        return np.asarray(x)

    def add(self, kernel, size, times: dict, parity: dict, note: str = ""):
        row = {"kernel": kernel, "size": size, "times_s": times, "parity": parity, "note": note}
        d, t = times.get("detbench_cuda"), times.get("torchvision_cuda")
        row["speedup_vs_torchvision"] = (t / d) if d and t else None
        c = times.get("detbench_cpu")
        row["speedup_vs_cpu"] = (c / d) if d and c else None
        self.rows.append(row)
        sp = row["speedup_vs_torchvision"]
        print(
            f"{kernel:<28} {size:<34} "
            + " ".join(f"{k}={v * 1e3:.3f}ms" for k, v in times.items())
            + (f"  x{sp:.2f} vs tv" if sp else "")
            + f"  parity={parity}",
            flush=True,
        )


def bench_box_iou(b: Bench):
    import detbench
    import detbench.cuda as dc

    tv = b.torch
    for n in (1000, 5000, 20000):
        a, _ = _boxes(n, 1)
        c, _ = _boxes(n, 2)
        da, dcc = b.dev(a), b.dev(c)
        out = b.cuda.device_array((n, n), np.float32)
        times = {"detbench_cuda": b.time(lambda: dc.box_iou(da, dcc, out=out), 20)}
        parity = {}
        if tv is not None:
            import torchvision

            times["torchvision_cuda"] = b.time(lambda: torchvision.ops.box_iou(da, dcc), 20)
            t_out = tv.empty((n, n), dtype=tv.float32, device="cuda")
            times["write_floor_fill"] = b.time(lambda: t_out.fill_(0.5), 20)
            diff = (tv.as_tensor(out, device="cuda") - torchvision.ops.box_iou(da, dcc)).abs().max().item()
            parity["max_diff_vs_torchvision"] = diff
        if n <= 5000:
            parity["max_diff_vs_cpu"] = float(np.abs(out.copy_to_host() - detbench.box_iou(a, c)).max())
        b.add("box_iou f32", f"{n}x{n}", times, parity)


def bench_nms(b: Bench):
    import detbench
    import detbench.cuda as dc

    sizes = (1000, 10000, 30000, 100000, 1000000)
    for n in sizes:
        boxes, scores = _boxes(n, 3)
        db, ds = b.dev(boxes), b.dev(scores)
        reps = 10 if n <= 30000 else 3
        times = {"detbench_cuda": b.time(lambda: dc.nms(db, ds, 0.5), reps)}
        got = b.host(dc.nms(db, ds, 0.5))
        t0 = time.perf_counter()
        want = detbench.nms(boxes, scores, 0.5)
        once = time.perf_counter() - t0
        times["detbench_cpu"] = b.time(lambda: detbench.nms(boxes, scores, 0.5), reps) if n <= 100000 else once
        parity = {"equal_cpu": bool(np.array_equal(got, want)), "kept": int(got.size)}
        if b.torch is not None and n <= 100000:
            import torchvision

            times["torchvision_cuda"] = b.time(lambda: torchvision.ops.nms(db, ds, 0.5), reps)
            parity["equal_torchvision"] = bool(np.array_equal(got, b.host(torchvision.ops.nms(db, ds, 0.5))))
        b.add("nms f32 thr 0.5", f"{n} boxes", times, parity)
    _nms_small_methods(b)
    for n in (10000, 100000):
        boxes, scores = _boxes(n, 4)
        labels = np.random.default_rng(5).integers(0, 80, n)
        db, ds, dl = b.dev(boxes), b.dev(scores), b.dev(labels)
        times = {"detbench_cuda": b.time(lambda: dc.batched_nms(db, ds, dl, 0.5), 5)}
        got = b.host(dc.batched_nms(db, ds, dl, 0.5))
        times["detbench_cpu"] = b.time(lambda: detbench.batched_nms(boxes, scores, labels, 0.5), 5)
        want = detbench.batched_nms(boxes, scores, labels, 0.5)
        parity = {"same_set_cpu": bool(np.array_equal(np.sort(got), np.sort(want))), "kept": int(got.size)}
        parity["equal_order_cpu"] = bool(np.array_equal(got, want))
        if b.torch is not None:
            import torchvision

            times["torchvision_cuda"] = b.time(lambda: torchvision.ops.batched_nms(db, ds, dl, 0.5), 5)
            tvk = b.host(torchvision.ops.batched_nms(db, ds, dl, 0.5))
            parity["same_set_torchvision"] = bool(np.array_equal(np.sort(got), np.sort(tvk)))
        b.add("batched_nms f32, 80 classes", f"{n} boxes", times, parity)
    for n in (1000, 10000):
        boxes, scores = _boxes(n, 6)
        db, ds = b.dev(boxes), b.dev(scores)
        for method in ("linear", "gaussian"):
            times = {"detbench_cuda": b.time(lambda: dc.soft_nms(db, ds, method), 3)}
            gi, gs = (b.host(x) for x in dc.soft_nms(db, ds, method))
            times["detbench_cpu"] = b.time(lambda: detbench.soft_nms(boxes, scores, method), 3)
            ci, cs = detbench.soft_nms(boxes, scores, method)
            parity = {"equal_indices_cpu": bool(np.array_equal(gi, ci))}
            if gs.shape == cs.shape:
                parity["max_diff_scores_cpu"] = float(np.abs(gs.astype(np.float64) - cs).max()) if gs.size else 0.0
            b.add(f"soft_nms {method} f32", f"{n} boxes", times, parity, "torchvision has no soft-NMS")


def _nms_small_methods(b: Bench) -> None:
    """The one-launch kernel's two greedy passes (``NMS_SMALL_METHOD``) on the same 1,000 boxes, same run."""
    import detbench
    import detbench.cuda as dc
    from detbench.nms import gpu_greedy

    boxes, scores = _boxes(1000, 3)
    db, ds = b.dev(boxes), b.dev(scores)
    want = detbench.nms(boxes, scores, 0.5)
    default = gpu_greedy.NMS_SMALL_METHOD
    times, parity = {}, {}
    try:
        for method in ("mask", "barrier"):
            gpu_greedy.NMS_SMALL_METHOD = method
            times[f"detbench_cuda_{method}"] = b.time(lambda: dc.nms(db, ds, 0.5), 10)
            parity[f"equal_cpu_{method}"] = bool(np.array_equal(b.host(dc.nms(db, ds, 0.5)), want))
    finally:
        gpu_greedy.NMS_SMALL_METHOD = default
    times["detbench_cuda"] = times[f"detbench_cuda_{default}"]
    for method in ("mask", "barrier"):
        parity[f"{method}_ms"] = times[f"detbench_cuda_{method}"] * 1e3  # both in the Markdown table
    b.add("nms f32 one-launch pass", "1000 boxes, mask vs barrier", times, parity)


def bench_roi(b: Bench):
    import detbench
    import detbench.cuda as dc

    feats = np.random.default_rng(0).standard_normal((1, 256, 200, 272), dtype=np.float32)
    nhwc = np.ascontiguousarray(feats.transpose(0, 2, 3, 1))
    d_nchw, d_nhwc = b.dev(feats), b.dev(nhwc)
    for k in (1000, 10000):
        rois = _rois(k)
        d_rois = b.dev(rois)
        cases = [(sr, al, lay) for sr in (2, -1, 0) for al in (False, True) for lay in ("NCHW", "NHWC")]
        if k > 1000:
            cases = [(2, False, "NCHW"), (2, False, "NHWC")]
        for sr, aligned, layout in cases:
            feat, cl = (d_nchw, False) if layout == "NCHW" else (d_nhwc, True)
            args = ((7, 7), 0.25, sr, aligned)
            times = {
                "detbench_cuda": b.time(lambda: dc.roi_align(feat, d_rois, *args, channels_last=cl), 10),
            }
            got = b.host(dc.roi_align(feat, d_rois, *args, channels_last=cl))
            want = detbench.roi_align(feats, rois, *args)
            parity = {"max_diff_vs_cpu": float(np.abs(got - want).max())}
            if b.torch is not None:
                import torchvision

                times["torchvision_cuda"] = b.time(lambda: torchvision.ops.roi_align(d_nchw, d_rois, *args), 10)
                tvo = b.host(torchvision.ops.roi_align(d_nchw, d_rois, *args))
                parity["max_diff_vs_torchvision"] = float(np.abs(got - tvo).max())
            b.add(f"roi_align {layout} sr={sr} al={aligned}", f"{k} rois 1x256x200x272 7x7", times, parity)
    rois = _rois(1000)
    d_rois = b.dev(rois)
    for layout in ("NCHW", "NHWC"):
        feat, cl = (d_nchw, False) if layout == "NCHW" else (d_nhwc, True)
        times = {"detbench_cuda": b.time(lambda: dc.roi_pool(feat, d_rois, 7, 0.25, channels_last=cl), 10)}
        got = b.host(dc.roi_pool(feat, d_rois, 7, 0.25, channels_last=cl))
        parity = {"max_diff_vs_cpu": float(np.abs(got - detbench.roi_pool(feats, rois, 7, 0.25)).max())}
        if b.torch is not None:
            import torchvision

            times["torchvision_cuda"] = b.time(lambda: torchvision.ops.roi_pool(d_nchw, d_rois, 7, 0.25), 10)
            tvo = b.host(torchvision.ops.roi_pool(d_nchw, d_rois, 7, 0.25))
            parity["max_diff_vs_torchvision"] = float(np.abs(got - tvo).max())
        b.add(f"roi_pool {layout}", "1000 rois 1x256x200x272 7x7", times, parity)


def bench_cold_start(b: Bench):
    code = (
        "import time; t=time.perf_counter(); import numpy as np, detbench.cuda as d; "
        "b=np.array([[0,0,2,2],[1,1,3,3]],np.float32); d.box_iou(b,b); d.nms(b,np.array([.9,.8],np.float32),.5); "
        "d.roi_align(np.zeros((1,2,4,4),np.float32), np.array([[0,0,0,2,2]],np.float32), 2); "
        "print(time.perf_counter()-t)"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    runs = []
    for _ in range(2):  # the first run may fill the cache; the second is the warm-cache figure
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        runs.append(float(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else float("nan"))
    b.add("first call, fresh process", "import + box_iou + nms + roi_align", {"detbench_cuda": runs[-1]}, {})


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        f"GPU benchmark: {meta.get('gpu')}; numba {meta.get('numba')}, numba-cuda {meta.get('numba_cuda')}, "
        f"torch {meta.get('torch')}; medians, device arrays, synchronised.",
        "",
        "| kernel | size | detbench.cuda | torchvision CUDA | detbench CPU | vs torchvision | vs CPU | parity |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def ms(v):
        return "" if v is None else (f"{v * 1e3:.3f} ms" if v < 1 else f"{v:.2f} s")

    for r in rows:
        t = r["times_s"]
        sp = r["speedup_vs_torchvision"]
        sc = r["speedup_vs_cpu"]
        extra = f" (fill floor {ms(t['write_floor_fill'])})" if "write_floor_fill" in t else ""
        parity = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["parity"].items())
        lines.append(
            f"| {r['kernel']} | {r['size']} | {ms(t.get('detbench_cuda'))}{extra} | {ms(t.get('torchvision_cuda'))} | "
            f"{ms(t.get('detbench_cpu'))} | {'' if sp is None else f'{sp:.2f}x'} | "
            f"{'' if sc is None else f'{sc:.2f}x'} | {parity} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default="gpu_bench.json", help="where to write the JSON results")
    ap.add_argument("--md", default=None, help="where to write the Markdown table (default: JSON path, .md)")
    ap.add_argument("--quick", action="store_true", help="at most 3 timed repetitions per case")
    ap.add_argument("--only", default="box_iou,nms,roi,cold", help="comma-separated parts to run")
    args = ap.parse_args(argv)
    reason = gpu_ready()
    if reason:
        print(f"bench_cuda: {reason}", file=sys.stderr)
        return 2
    import importlib.metadata as md

    from numba import cuda

    b = Bench(args.quick)
    name = cuda.get_current_device().name
    meta = {
        "gpu": name.decode() if isinstance(name, bytes) else str(name),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    for dist, key in (("numba", "numba"), ("numba-cuda", "numba_cuda"), ("torch", "torch"), ("torchvision", "tv")):
        try:
            meta[key] = md.version(dist)
        except md.PackageNotFoundError:
            meta[key] = None
    if b.torch is None:
        print("bench_cuda: torch/torchvision CUDA unavailable: torchvision columns left empty", file=sys.stderr)
    parts = {"box_iou": bench_box_iou, "nms": bench_nms, "roi": bench_roi, "cold": bench_cold_start}
    for name in args.only.split(","):
        t0 = time.perf_counter()
        try:
            parts[name](b)
        except Exception as exc:  # one failing part must not lose the others' numbers
            b.rows.append({"kernel": name, "size": "", "times_s": {}, "parity": {"error": repr(exc)}, "note": ""})
            b.rows[-1].update(speedup_vs_torchvision=None, speedup_vs_cpu=None)
            print(f"bench_cuda: {name} failed: {exc!r}", file=sys.stderr)
        print(f"-- {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    out = Path(args.json)
    out.write_text(json.dumps({"meta": meta, "rows": b.rows}, indent=1))
    md_path = Path(args.md) if args.md else out.with_suffix(".md")
    md_path.write_text(markdown(b.rows, meta))
    print(f"wrote {out} and {md_path}")
    return 0


class CudaSuite:
    """asv entry: each part of the one-command run, timed as a whole (skipped without a GPU)."""

    params = (["box_iou", "nms", "roi"],)
    param_names = ["part"]
    timeout = 600
    number = 1
    repeat = 1

    def setup(self, part):
        reason = gpu_ready()
        if reason:
            raise NotImplementedError(reason)
        self.bench = Bench(quick=True)

    def time_part(self, part):
        {"box_iou": bench_box_iou, "nms": bench_nms, "roi": bench_roi}[part](self.bench)


if __name__ == "__main__":
    sys.exit(main())
