"""Where the time of detbench.cuda goes on a real GPU (wall vs kernel time, host overheads, launch
settings sweeps). Diagnostic only, not part of the benchmark:

    PYTHONPATH=.:scripts/gpu_env NUMBA_ENABLE_CUDASIM=0 python3 scripts/gpu_env/profile_gpu.py [parts]

parts: comma list of host,iou,roi,nms (default all). Prints plain text.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import statistics
import sys
import time

import numpy as np
import torch
from numba import cuda

import detbench.cuda as dc
from detbench.boxes import gpu_overlap as gpu_boxes
from detbench.roi import gpu_roi


def sync():
    torch.cuda.synchronize()


def wall(fn, reps=20):
    fn()
    sync()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def kernels(fn, reps=5):
    """Device time per call of each kernel (torch profiler / CUPTI sees Numba's kernels too)."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    sync()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        sync()
    rows = []
    pat = re.compile(
        r"(iou_kernel|init|prep|local_pass|global_pass|gather|mask_kernel|cross_kernel|reduce_kernel|take|"
        r"soft\w*|roi_align_kernel|roi_pool_kernel|roi_check|Memcpy\s*\w+|Memset)"
    )
    for e in prof.key_averages():
        dt = getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0)
        if dt and not e.key.startswith("aten::"):
            m = pat.search(e.key)
            rows.append((m.group(1) if m else e.key[:40], e.count / reps, dt / reps / 1e3))
    rows.sort(key=lambda r: -r[2])
    total = sum(r[2] for r in rows if r[2] > 0)
    return total, rows[:12]


def show(label, fn, reps=20, prof=True):
    w = wall(fn, reps)
    line = f"{label:<46} wall {w:8.3f} ms"
    if prof:
        total, rows = kernels(fn)
        line += f"  | device sum {total:8.3f} ms: " + ", ".join(f"{n} x{c:g} {t:.3f}" for n, c, t in rows[:8])
    print(line, flush=True)
    return w


def cprof(label, fn, reps=30):
    fn()
    sync()
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(reps):
        fn()
    sync()
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(14)
    print(f"--- cProfile {label} ({reps} calls; tottime s)")
    for ln in s.getvalue().splitlines():
        if re.match(r"\s*\d", ln):
            print("   ", ln[:150])


def boxes(n, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    wh = rng.uniform(10, 100, (n, 2))
    xy = rng.uniform(0, 1, (n, 2)) * (1000 - wh)
    return np.hstack([xy, xy + wh]).astype(dtype), rng.random(n).astype(dtype)


def part_host():
    t = torch.zeros((1000, 4), device="cuda")
    show("as_cuda_array(torch)", lambda: cuda.as_cuda_array(t), 200, False)
    show("device_array 50 MB", lambda: cuda.device_array((1000, 256, 7, 7), np.float32), 50, False)
    small = cuda.device_array(10, np.int64)
    show("copy_to_host 80 B", lambda: small.copy_to_host(), 200, False)
    show("to_device 80 B", lambda: cuda.to_device(np.zeros(10, np.int64)), 200, False)

    @cuda.jit
    def noop(a, b, c, d):
        pass

    x = cuda.device_array((10, 4), np.float32)
    noop[1, 32](x, x, x, 1)
    show("launch noop (3 arrays)", lambda: noop[1, 32](x, x, x, 1), 200, False)
    show("launch noop (torch args)", lambda: noop[1, 32](t, t, t, 1), 200, False)
    show("require_cuda()", lambda: dc._runtime.require_cuda(), 200, False)


def part_iou():
    for n in (1000, 20000):
        a, _ = boxes(n, 1)
        c, _ = boxes(n, 2)
        da, dcc = torch.from_numpy(a).cuda(), torch.from_numpy(c).cuda()
        out = cuda.device_array((n, n), np.float32)
        ref = None
        for blk, rows in (((128, 2), 8), ((256, 1), 8), ((64, 4), 4), ((32, 8), 4), ((128, 1), 16), ((256, 1), 32)):
            gpu_boxes.IOU_BLOCK, gpu_boxes.IOU_ROWS = blk, rows
            show(f"box_iou {n}^2 block={blk} rows={rows}", lambda: dc.box_iou(da, dcc, out=out), 10)
            got = out.copy_to_host() if n <= 1000 else None
            if got is not None:
                ref = got if ref is None else ref
                assert np.array_equal(ref, got)
        gpu_boxes.IOU_BLOCK, gpu_boxes.IOU_ROWS = (128, 2), 8


def part_roi():
    import detbench

    feats = np.random.default_rng(0).standard_normal((1, 256, 200, 272), dtype=np.float32)
    nhwc = np.ascontiguousarray(feats.transpose(0, 2, 3, 1))
    d_nchw, d_nhwc = torch.from_numpy(feats).cuda(), torch.from_numpy(nhwc).cuda()
    rng = np.random.default_rng(0)
    k = 1000
    wh = rng.uniform(16, 400, (k, 2))
    xy = rng.uniform(0, 1, (k, 2)) * (np.array([1088, 800]) - wh)
    rois = np.hstack([np.zeros((k, 1)), xy, xy + wh]).astype(np.float32)
    d_rois = torch.from_numpy(rois).cuda()
    import torchvision

    for sr in (2, -1):
        want = detbench.roi_align(feats, rois, 7, 0.25, sr, False)
        show(f"torchvision roi_align sr={sr}", lambda: torchvision.ops.roi_align(d_nchw, d_rois, 7, 0.25, sr), 10)
        for cpt in (1, 4, 8, 16):
            for thr in (128, 256):
                gpu_roi.ROI_CHANNELS, gpu_roi.ROI_THREADS = cpt, thr
                for lay, feat, cl in (("NCHW", d_nchw, False), ("NHWC", d_nhwc, True)):
                    f = lambda: dc.roi_align(feat, d_rois, 7, 0.25, sr, False, channels_last=cl)  # noqa: E731
                    show(f"roi_align {lay} sr={sr} cpt={cpt} thr={thr}", f, 10, prof=(thr == 256))
                    diff = float(np.abs(f().copy_to_host() - want).max())
                    if diff:
                        print(f"   PARITY FAIL max diff {diff}")
    gpu_roi.ROI_CHANNELS, gpu_roi.ROI_THREADS = 8, 256
    cprof("roi_align NCHW sr=2", lambda: dc.roi_align(d_nchw, d_rois, 7, 0.25, 2, False))
    show("torchvision roi_pool", lambda: torchvision.ops.roi_pool(d_nchw, d_rois, 7, 0.25), 10)
    show("roi_pool NCHW", lambda: dc.roi_pool(d_nchw, d_rois, 7, 0.25), 10)
    show("roi_pool NHWC", lambda: dc.roi_pool(d_nhwc, d_rois, 7, 0.25, channels_last=True), 10)


def part_nms():
    import torchvision

    for n in (1000, 10000, 100000):
        b, s = boxes(n, 3)
        db, ds = torch.from_numpy(b).cuda(), torch.from_numpy(s).cuda()
        show(f"torchvision nms {n}", lambda: torchvision.ops.nms(db, ds, 0.5), 10 if n < 100000 else 3)
        show(f"nms {n}", lambda: dc.nms(db, ds, 0.5), 10 if n < 100000 else 3)
        if n == 1000:
            cprof("nms 1000", lambda: dc.nms(db, ds, 0.5))
    b, s = boxes(10000, 4)
    lab = torch.from_numpy(np.random.default_rng(5).integers(0, 80, 10000)).cuda()
    db, ds = torch.from_numpy(b).cuda(), torch.from_numpy(s).cuda()
    show("batched_nms 10000", lambda: dc.batched_nms(db, ds, lab, 0.5), 5)
    b, s = boxes(1000, 6)
    db, ds = torch.from_numpy(b).cuda(), torch.from_numpy(s).cuda()
    show("soft_nms linear 1000", lambda: dc.soft_nms(db, ds, "linear"), 5)


def part_nms2():
    """NMS launch settings: the one-launch path's block size against the chunked path."""
    from detbench.nms import gpu_greedy as gpu_nms

    for n in (300, 1000):
        b, s = boxes(n, 3)
        db, ds = torch.from_numpy(b).cuda(), torch.from_numpy(s).cuda()
        want = dc.nms(db, ds, 0.5).copy_to_host()
        for small_max, thr in ((1024, 64), (1024, 128), (1024, 256), (1024, 512), (0, 512)):
            gpu_nms.NMS_SMALL_MAX, gpu_nms.NMS_SMALL_THREADS = small_max, thr
            show(f"nms {n} small_max={small_max} threads={thr}", lambda: dc.nms(db, ds, 0.5), 10)
            assert np.array_equal(dc.nms(db, ds, 0.5).copy_to_host(), want)
    gpu_nms.NMS_SMALL_MAX, gpu_nms.NMS_SMALL_THREADS = 1024, 512
    b, s = boxes(1000, 3)
    db, ds = torch.from_numpy(b).cuda(), torch.from_numpy(s).cuda()
    cprof("nms 1000 (one launch)", lambda: dc.nms(db, ds, 0.5))
    for n in (10000, 100000):
        b, s = boxes(n, 3)
        db, ds = torch.from_numpy(b).cuda(), torch.from_numpy(s).cuda()
        show(f"nms {n}", lambda: dc.nms(db, ds, 0.5), 5 if n < 100000 else 3)


def part_roi2():
    feats = np.random.default_rng(0).standard_normal((1, 256, 200, 272), dtype=np.float32)
    nhwc = np.ascontiguousarray(feats.transpose(0, 2, 3, 1))
    d_nchw, d_nhwc = torch.from_numpy(feats).cuda(), torch.from_numpy(nhwc).cuda()
    rng = np.random.default_rng(0)
    k = 1000
    wh = rng.uniform(16, 400, (k, 2))
    xy = rng.uniform(0, 1, (k, 2)) * (np.array([1088, 800]) - wh)
    d_rois = torch.from_numpy(np.hstack([np.zeros((k, 1)), xy, xy + wh]).astype(np.float32)).cuda()
    show("roi_align NCHW sr=2", lambda: dc.roi_align(d_nchw, d_rois, 7, 0.25, 2, False))
    show("roi_align NHWC sr=2", lambda: dc.roi_align(d_nhwc, d_rois, 7, 0.25, 2, False, channels_last=True))
    cprof("roi_align NCHW sr=2", lambda: dc.roi_align(d_nchw, d_rois, 7, 0.25, 2, False), 30)
    show("roi_pool NCHW", lambda: dc.roi_pool(d_nchw, d_rois, 7, 0.25))
    a, _ = boxes(20000, 1)
    c, _ = boxes(20000, 2)
    da, dcc = torch.from_numpy(a).cuda(), torch.from_numpy(c).cuda()
    out = cuda.device_array((20000, 20000), np.float32)
    show("box_iou 20000^2", lambda: dc.box_iou(da, dcc, out=out), 10)


if __name__ == "__main__":
    parts = (sys.argv[1] if len(sys.argv) > 1 else "host,iou,roi,nms").split(",")
    print(torch.cuda.get_device_name(), flush=True)
    for p in parts:
        t0 = time.perf_counter()
        try:
            globals()[f"part_{p}"]()
        except Exception as exc:
            import traceback

            traceback.print_exc()
            print(f"part {p} failed: {exc!r}")
        print(f"== {p}: {time.perf_counter() - t0:.1f} s", flush=True)
