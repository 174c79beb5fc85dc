"""Naive vs convolutional sliding window (detbench.sliding): measured speedup against the multiply-add ratio.

Run ``python -m benchmarks.bench_sliding`` for a same-run table (medians of repeats).
"""

import time

import numpy as np

SIZES = [16, 32, 64, 128, 192]


def _setup(size, dtype=np.float32):
    from detbench.cnn import overfeat_net, to_fully_convolutional

    net = overfeat_net(seed=0, dtype=dtype)
    fcn = to_fully_convolutional(net)
    image = np.random.default_rng(size).random((size, size, 3)).astype(dtype)
    return net, fcn, image


def _median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


class SlidingWindowScan:
    """One scan of an ``size x size x 3`` image with the seed's net (window 14, stride 2)."""

    params = (SIZES, ["naive", "convolutional"])
    param_names = ["size", "impl"]
    timeout = 180

    def setup(self, size, impl):
        from detbench.sliding import convolutional_sliding_window, sliding_window_classify

        net, fcn, image = _setup(size)
        if impl == "naive":
            self.fn = lambda: sliding_window_classify(image, net, window=14, stride=2)
        else:
            self.fn = lambda: convolutional_sliding_window(image, fcn)
        self.fn()  # warm the JIT

    def time_scan(self, size, impl):
        self.fn()


class SlidingWindowSpeedup:
    """Measured speedup (naive time / convolutional time, medians in one process) vs the FLOP ratio."""

    params = SIZES
    param_names = ["size"]
    timeout = 300

    def setup(self, size):
        from detbench.sliding import convolutional_sliding_window, sliding_window_classify, sliding_window_macs

        net, fcn, image = _setup(size)
        self.naive = lambda: sliding_window_classify(image, net)
        self.conv = lambda: convolutional_sliding_window(image, fcn)
        self.macs = sliding_window_macs(image.shape, net)
        self.naive(), self.conv()

    def _speedup(self):
        repeat = 5 if self.macs["naive"] < 2e9 else 3
        return _median_time(self.naive, repeat) / _median_time(self.conv, repeat)

    def track_flop_ratio(self, size):
        return self.macs["ratio"]

    track_flop_ratio.unit = "naive MACs / convolutional MACs"

    def track_measured_speedup(self, size):
        return self._speedup()

    track_measured_speedup.unit = "x"

    def track_speedup_over_flop_ratio(self, size):
        return self._speedup() / self.macs["ratio"]

    track_speedup_over_flop_ratio.unit = "fraction (goal >= 0.8 at 128)"


class SlidingWindowParity:
    """Accuracy tracked across commits: max |naive - convolutional| over all windows (float32, 128x128)."""

    def track_max_abs_diff(self):
        from detbench.sliding import convolutional_sliding_window, sliding_window_classify

        net, fcn, image = _setup(128)
        return float(np.abs(sliding_window_classify(image, net) - convolutional_sliding_window(image, fcn)).max())

    track_max_abs_diff.unit = "abs diff"


def timeraw_convolutional_first_call():
    """First convolutional scan in a fresh process: loads the on-disk JIT cache (compiles if cold)."""
    return """
import numpy as np
from detbench.cnn import overfeat_net, to_fully_convolutional
from detbench.sliding import convolutional_sliding_window
convolutional_sliding_window(np.zeros((16, 16, 3), np.float32), to_fully_convolutional(overfeat_net()))
"""


def main():
    """Print the same-run table: sizes, medians, measured speedup, FLOP ratio."""
    from detbench.sliding import convolutional_sliding_window, sliding_window_classify, sliding_window_macs

    print(
        f"{'size':>5} {'windows':>8} {'naive ms':>9} {'conv ms':>9} {'speedup':>8} {'FLOP ratio':>10} {'fraction':>8}"
    )
    for size in SIZES:
        net, fcn, image = _setup(size)
        macs = sliding_window_macs(image.shape, net)
        naive = lambda: sliding_window_classify(image, net)  # noqa: E731
        conv = lambda: convolutional_sliding_window(image, fcn)  # noqa: E731
        naive(), conv()
        repeat = 7 if size <= 128 else 3
        tn, tc = _median_time(naive, repeat), _median_time(conv, repeat)
        print(
            f"{size:>5} {macs['windows']:>8} {tn * 1e3:>9.2f} {tc * 1e3:>9.2f} {tn / tc:>8.2f} "
            f"{macs['ratio']:>10.3f} {tn / tc / macs['ratio']:>8.2f}"
        )


if __name__ == "__main__":
    main()
