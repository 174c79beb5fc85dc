"""GPU kernels (detbench.cuda) against torchvision's CUDA ops and the CPU functions, in one run.

Every benchmark here needs a CUDA GPU: without one (or with the CUDA simulator
on, whose timings mean nothing) ``setup`` raises ``NotImplementedError`` and asv
skips it. ``scripts/run_gpu_benchmarks.sh`` runs this suite on a GPU machine.

What is timed, separately, so the cost of PCIe transfers is visible:

* ``time_h2d``: host -> device copies of the inputs;
* ``time_kernel``: the GPU function on device arrays, device result (for NMS
  this includes what the algorithm does on the host: copying boxes and scores
  back for validation and the sort, reading the mask back, the greedy pass);
* ``time_d2h``: device -> host copy of the result;
* ``time_end_to_end``: NumPy in, NumPy out, as a CPU user calls it.

Every timed body ends with a device synchronisation, so asynchronous launches
are not mistaken for finished work. ``track_*`` benchmarks record exactness on
the device (max |difference| or mismatch counts against the CPU references;
0 expected: the kernels avoid fused multiply-adds).
"""

import os
import sys

import numpy as np

from benchmarks.common import peer_available, random_boxes


def _require_gpu():
    """numba.cuda, or NotImplementedError (asv: skip) where no real GPU can run the kernels."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        raise NotImplementedError("NUMBA_ENABLE_CUDASIM is on: simulator timings are meaningless")
    if sys.platform == "linux" and not os.path.exists("/proc/driver/nvidia"):
        import ctypes.util

        if ctypes.util.find_library("cuda") is None:
            # no kernel driver and no libcuda: skip without the ~1-2 s import and driver probe
            raise NotImplementedError("no NVIDIA driver (no /proc/driver/nvidia, no libcuda)")
    import detbench.cuda as dcuda

    if not dcuda.is_available():
        raise NotImplementedError("no CUDA GPU (detbench.cuda.is_available() is False)")
    from numba import cuda

    return cuda


def _require_torch_cuda():
    if not peer_available("torch"):
        raise NotImplementedError("torch not installed")
    import torch

    if not torch.cuda.is_available():
        raise NotImplementedError("torch has no CUDA device here")
    return torch


def _rois(k, image_hw=(800, 1088), seed=0, min_side=16.0, max_side=400.0):
    """``k`` rois ``[0, x1, y1, x2, y2]`` inside an image of ``image_hw`` (float32)."""
    rng = np.random.default_rng(seed)
    h, w = image_hw
    wh = rng.uniform(min_side, max_side, (k, 2))
    xy = rng.uniform(0, 1, (k, 2)) * (np.array([w, h]) - wh)
    return np.hstack([np.zeros((k, 1)), xy, xy + wh]).astype(np.float32)


def _features(shape=(1, 256, 200, 272), seed=0):
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


class BoxIoUCuda:
    """box_iou n x n, float32: detbench.cuda vs torchvision on the GPU (and detbench's CPU end to end)."""

    params = ([1000, 5000, 10000], ["detbench_cuda", "torchvision_cuda"])
    param_names = ["n", "impl"]
    timeout = 300

    def setup(self, n, impl):
        self.cuda = _require_gpu()
        self.a = random_boxes(n, seed=1)
        self.b = random_boxes(n, seed=2)
        self.host_out = np.empty((n, n), np.float32)
        if impl == "torchvision_cuda":
            torch = _require_torch_cuda()
            import torchvision.ops as tvops

            self.sync = torch.cuda.synchronize
            self.upload = lambda: (torch.from_numpy(self.a).cuda(), torch.from_numpy(self.b).cuda())
            self.da, self.db = self.upload()
            self.kernel = lambda: tvops.box_iou(self.da, self.db)
            self.dout = self.kernel()
            self.download = lambda: self.dout.cpu()
            self.end_to_end = lambda: tvops.box_iou(*self.upload()).cpu().numpy()
        else:
            import detbench.cuda as dcuda

            cuda = self.cuda
            self.sync = cuda.synchronize
            self.upload = lambda: (cuda.to_device(self.a), cuda.to_device(self.b))
            self.da, self.db = self.upload()
            self.dout = cuda.device_array((n, n), np.float32)
            self.kernel = lambda: dcuda.box_iou(self.da, self.db, out=self.dout)
            self.download = lambda: self.dout.copy_to_host(self.host_out)
            self.end_to_end = lambda: dcuda.box_iou(self.a, self.b, out=self.host_out)
        self.kernel()  # compile / warm up
        self.end_to_end()
        self.sync()

    def time_h2d(self, n, impl):
        self.upload()
        self.sync()

    def time_kernel(self, n, impl):
        self.kernel()
        self.sync()

    def time_d2h(self, n, impl):
        self.download()
        self.sync()

    def time_end_to_end(self, n, impl):
        self.end_to_end()
        self.sync()


class NMSCuda:
    """Greedy NMS, float32 boxes in a 1000 x 1000 image: detbench.cuda vs torchvision's CUDA NMS."""

    params = ([1000, 10000, 30000], ["detbench_cuda", "torchvision_cuda"])
    param_names = ["n", "impl"]
    timeout = 300

    def setup(self, n, impl):
        self.cuda = _require_gpu()
        boxes = random_boxes(n, seed=3)
        scores = np.random.default_rng(4).random(n).astype(np.float32)
        self.boxes, self.scores = boxes, scores
        if impl == "torchvision_cuda":
            torch = _require_torch_cuda()
            import torchvision.ops as tvops

            self.sync = torch.cuda.synchronize
            tb, ts = torch.from_numpy(boxes).cuda(), torch.from_numpy(scores).cuda()
            self.kernel = lambda: tvops.nms(tb, ts, 0.5)
            self.end_to_end = lambda: tvops.nms(
                torch.from_numpy(boxes).cuda(), torch.from_numpy(scores).cuda(), 0.5
            ).cpu()
        else:
            import detbench.cuda as dcuda

            cuda = self.cuda
            self.sync = cuda.synchronize
            db, ds = cuda.to_device(boxes), cuda.to_device(scores)
            self.kernel = lambda: dcuda.nms(db, ds, 0.5)
            self.end_to_end = lambda: dcuda.nms(boxes, scores, 0.5)
        self.kernel()
        self.sync()

    def time_kernel(self, n, impl):
        self.kernel()
        self.sync()

    def time_end_to_end(self, n, impl):
        self.end_to_end()
        self.sync()


class RoIAlignCuda:
    """ROI Align, 1000 rois on 1x256x200x272 float32 features, 7x7, scale 1/4, aligned=True.

    ``detbench_cuda_nhwc`` passes channels-last features (``channels_last=True``),
    which skips the on-device transpose of the features.
    """

    params = ([2, -1], ["detbench_cuda", "detbench_cuda_nhwc", "torchvision_cuda"])
    param_names = ["sampling_ratio", "impl"]
    timeout = 300

    def setup(self, sampling_ratio, impl):
        self.cuda = _require_gpu()
        feats = _features()
        rois = _rois(1000)
        self.feats, self.rois = feats, rois
        args = ((7, 7), 0.25, sampling_ratio, True)
        if impl == "torchvision_cuda":
            torch = _require_torch_cuda()
            import torchvision.ops as tvops

            self.sync = torch.cuda.synchronize
            self.upload = lambda: (torch.from_numpy(feats).cuda(), torch.from_numpy(rois).cuda())
            df, dr = self.upload()
            self.kernel = lambda: tvops.roi_align(df, dr, *args)
            self.dout = self.kernel()
            self.download = lambda: self.dout.cpu()
            self.end_to_end = lambda: tvops.roi_align(*self.upload(), *args).cpu()
        else:
            import detbench.cuda as dcuda

            cuda = self.cuda
            nhwc = impl == "detbench_cuda_nhwc"
            if nhwc:
                feats = np.ascontiguousarray(feats.transpose(0, 2, 3, 1))
            self.sync = cuda.synchronize
            self.upload = lambda: (cuda.to_device(feats), cuda.to_device(rois))
            df, dr = self.upload()
            self.kernel = lambda: dcuda.roi_align(df, dr, *args, channels_last=nhwc)
            self.dout = self.kernel()
            self.download = lambda: self.dout.copy_to_host()
            self.end_to_end = lambda: dcuda.roi_align(feats, rois, *args, channels_last=nhwc)
        self.kernel()
        self.end_to_end()
        self.sync()

    def time_h2d(self, sampling_ratio, impl):
        self.upload()
        self.sync()

    def time_kernel(self, sampling_ratio, impl):
        self.kernel()
        self.sync()

    def time_d2h(self, sampling_ratio, impl):
        self.download()
        self.sync()

    def time_end_to_end(self, sampling_ratio, impl):
        self.end_to_end()
        self.sync()


class CudaParity:
    """Exactness on the device, tracked across commits (0 expected everywhere)."""

    def setup(self):
        _require_gpu()
        if not peer_available("torchvision"):
            raise NotImplementedError("torchvision not installed")

    def track_box_iou_max_abs_diff_vs_cpu(self):
        import detbench
        import detbench.cuda as dcuda

        a, b = random_boxes(2000, seed=5), random_boxes(1500, seed=6)
        return float(np.abs(dcuda.box_iou(a, b) - detbench.box_iou(a, b)).max())

    def track_nms_mismatches_vs_torchvision_cpu(self):
        import torch
        import torchvision.ops as tvops

        import detbench.cuda as dcuda

        boxes = random_boxes(5000, seed=7)
        scores = np.random.default_rng(8).random(5000).astype(np.float32)
        bad = 0
        for thr in (0.3, 0.5, 0.7):
            got = dcuda.nms(boxes, scores, thr)
            want = tvops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr).numpy()
            bad += int(got.shape != want.shape or not np.array_equal(got, want))
        return bad

    def track_roi_align_max_abs_diff_vs_torchvision_cpu(self):
        import torch
        import torchvision.ops as tvops

        import detbench.cuda as dcuda

        feats = _features((2, 64, 100, 136), seed=9)
        rois = _rois(300, seed=10)
        rois[:, 0] = np.arange(300) % 2
        worst = 0.0
        for sr, aligned in ((2, True), (-1, False), (0, True)):
            got = dcuda.roi_align(feats, rois, (7, 7), 0.25, sr, aligned)
            want = tvops.roi_align(torch.from_numpy(feats), torch.from_numpy(rois), (7, 7), 0.25, sr, aligned)
            worst = max(worst, float(np.abs(got - want.numpy()).max()))
        return worst


class CudaColdStart:
    """First call in a fresh interpreter: import, CUDA context, kernel compilation (Numba's CUDA JIT)."""

    timeout = 300

    def setup(self):
        _require_gpu()

    def timeraw_box_iou_first_call(self):
        return """
import numpy as np
import detbench.cuda as dcuda
a = np.array([[0, 0, 2, 2], [1, 1, 3, 3]], np.float32)
dcuda.box_iou(a, a)
"""

    def timeraw_roi_align_first_call(self):
        return """
import numpy as np
import detbench.cuda as dcuda
f = np.zeros((1, 4, 8, 8), np.float32)
dcuda.roi_align(f, np.array([[0, 1, 1, 5, 5]], np.float32), 2)
"""
