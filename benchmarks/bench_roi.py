"""asv benchmarks: detbench.roi against torchvision's CPU ROI operators.

The issue's size: features 1x256x200x272 float32 (an 800x1088 image at stride 4), 7x7 output,
spatial_scale 1/4, rois with log-uniform sides in [16, 512] px placed uniformly in the image.

Run the same-run comparison directly (blocks of calls per implementation, never interleaved
inside one timing loop, medians, thread counts printed)::

    python -m benchmarks.bench_roi [--rounds 5] [--rois 1000]
"""

from __future__ import annotations

import numpy as np

IMAGE = (800, 1088)
FEATURES = (1, 256, 200, 272)
SCALE = 0.25
OUT = 7


def make_data(n_rois: int = 1000, dtype=np.float32, seed: int = 0):
    """Seeded features ``FEATURES`` and ``(n_rois, 5)`` rois in an ``IMAGE``-sized image."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal(FEATURES, dtype=np.float64).astype(dtype)
    wh = np.exp(rng.uniform(np.log(16), np.log(512), (n_rois, 2)))
    xy = rng.uniform(0, 1, (n_rois, 2)) * (np.array([IMAGE[1], IMAGE[0]]) - wh)
    rois = np.concatenate([np.zeros((n_rois, 1)), xy, xy + wh], axis=1).astype(dtype)
    return features, rois


def _caller(impl: str, op: str, features, rois, sampling_ratio: int = 2, aligned: bool = True):
    """A no-argument function running one call of ``op`` with ``impl`` (data converted beforehand)."""
    if impl == "detbench":
        from detbench.roi import roi_align, roi_pool

        if op == "align":
            return lambda: roi_align(features, rois, OUT, SCALE, sampling_ratio, aligned)
        if op == "align_cl":
            nhwc = np.ascontiguousarray(features.transpose(0, 2, 3, 1))
            return lambda: roi_align(nhwc, rois, OUT, SCALE, sampling_ratio, aligned, channels_last=True)
        if op == "pool_argmax":
            return lambda: roi_pool(features, rois, OUT, SCALE, return_argmax=True)
        return lambda: roi_pool(features, rois, OUT, SCALE)
    import torch
    import torchvision

    f, r = torch.from_numpy(features), torch.from_numpy(rois)
    if op in ("align", "align_cl"):
        return lambda: torchvision.ops.roi_align(f, r, OUT, SCALE, sampling_ratio, aligned)
    if op == "pool_argmax":
        return lambda: torch.ops.torchvision.roi_pool(f, r, SCALE, OUT, OUT)
    return lambda: torchvision.ops.roi_pool(f, r, OUT, SCALE)


class RoiAlign:
    params = (["detbench", "torchvision"], [2, -1], [100, 1000])
    param_names = ["impl", "sampling_ratio", "n_rois"]
    number = 1
    repeat = (1, 5, 30.0)
    timeout = 300

    def setup(self, impl, sampling_ratio, n_rois):
        features, rois = make_data(n_rois)
        self.call = _caller(impl, "align", features, rois, sampling_ratio, True)
        self.call()  # compile / warm up

    def time_roi_align(self, impl, sampling_ratio, n_rois):
        self.call()


class RoiAlignChannelsLast:
    """detbench with channels-last features (no internal copy) against torchvision on NCHW."""

    params = (["detbench", "torchvision"], [2, -1])
    param_names = ["impl", "sampling_ratio"]
    number = 1
    repeat = (1, 5, 30.0)
    timeout = 300

    def setup(self, impl, sampling_ratio):
        features, rois = make_data(1000)
        self.call = _caller(impl, "align_cl", features, rois, sampling_ratio, True)
        self.call()

    def time_roi_align_channels_last(self, impl, sampling_ratio):
        self.call()


class RoiPool:
    params = (["detbench", "torchvision"], [False, True], [100, 1000])
    param_names = ["impl", "argmax", "n_rois"]
    number = 1
    repeat = (1, 5, 30.0)
    timeout = 300

    def setup(self, impl, argmax, n_rois):
        features, rois = make_data(n_rois)
        self.call = _caller(impl, "pool_argmax" if argmax else "pool", features, rois)
        self.call()

    def time_roi_pool(self, impl, argmax, n_rois):
        self.call()


class Accuracy:
    """Largest |detbench - torchvision| on the benchmark data (0.0: bit-identical)."""

    params = ([2, -1],)
    param_names = ["sampling_ratio"]
    timeout = 300

    def setup(self, sampling_ratio):
        self.features, self.rois = make_data(300)

    def track_roi_align_max_abs_diff(self, sampling_ratio):
        ours = _caller("detbench", "align", self.features, self.rois, sampling_ratio)()
        theirs = _caller("torchvision", "align", self.features, self.rois, sampling_ratio)().numpy()
        return float(np.max(np.abs(ours - theirs)))

    track_roi_align_max_abs_diff.unit = "abs diff"

    def track_roi_pool_max_abs_diff(self, sampling_ratio):
        ours = _caller("detbench", "pool", self.features, self.rois)()
        theirs = _caller("torchvision", "pool", self.features, self.rois)().numpy()
        return float(np.max(np.abs(ours - theirs)))

    track_roi_pool_max_abs_diff.unit = "abs diff"


class QuantizationStudy:
    """Median mean-absolute error against the exact bin average (the seed's stride 32, 7x7)."""

    params = (["roi_pool", "roi_pool_avg", "roi_align", "roi_align_sr2", "roi_align_legacy"],)
    param_names = ["method"]

    def setup_cache(self):
        from detbench.roi import roi_error_study

        return roi_error_study(200, stride=32)

    def track_median_error(self, result, method):
        return float(np.median(result[method]))

    track_median_error.unit = "feature units"


def timeraw_first_call():
    """A fresh interpreter: import detbench.roi and run each operator once (JIT cache load or compile)."""
    return """
import numpy as np
from detbench.roi import roi_align, roi_pool
f = np.ones((1, 8, 16, 16), np.float32)
r = np.array([[0, 1.0, 1.0, 30.0, 30.0]], np.float32)
roi_align(f, r, 7, 0.25, 2, True)
roi_pool(f, r, 7, 0.25)
"""


def _compare(rounds: int, n_rois: int) -> None:
    """Same-run medians and ratios, detbench vs torchvision, on the issue's size."""
    import time

    import torch

    from detbench._jit import get_num_threads

    features, rois = make_data(n_rois)
    cases = [
        ("roi_align sr=2 aligned", "align", 2),
        ("roi_align sr=-1 aligned", "align", -1),
        ("roi_align sr=2 aligned, channels_last input", "align_cl", 2),
        ("roi_pool", "pool", 2),
        ("roi_pool with argmax", "pool_argmax", 2),
    ]
    print(f"features {FEATURES} float32, {n_rois} rois, {OUT}x{OUT}, scale {SCALE}")
    print(
        f"detbench threads {get_num_threads()}, torch threads {torch.get_num_threads()}"
        " (torchvision ROI ops are serial)"
    )
    for name, op, sr in cases:
        ours = _caller("detbench", op, features, rois, sr)
        theirs = _caller("torchvision", op, features, rois, sr)
        ours()
        theirs()
        t_ours, t_theirs = [], []
        for _ in range(rounds):  # alternate blocks; never mix the two inside one timed loop
            for _ in range(3):
                t = time.perf_counter()
                ours()
                t_ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            theirs()
            t_theirs.append(time.perf_counter() - t)
        a, b = np.median(t_ours), np.median(t_theirs)
        print(f"{name:45s} detbench {a * 1e3:8.1f} ms   torchvision {b * 1e3:8.1f} ms   ratio {b / a:5.1f}x")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rois", type=int, default=1000)
    args = parser.parse_args()
    _compare(args.rounds, args.rois)
