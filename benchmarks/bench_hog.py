"""HOG + linear SVM people detector (detbench.hog) against OpenCV's HOGDescriptor, in one run.

Run ``python -m benchmarks.bench_hog`` for a same-run table (medians of repeats).
"""

import time

import numpy as np

from benchmarks.common import peer_available

SIZES = [(480, 640), (960, 1280)]


def _image(height, width):
    """skimage's astronaut (RGB uint8) resized to height x width (seeded noise if skimage is missing)."""
    from detbench.hog import resize_linear_exact

    try:
        import skimage.data

        base = skimage.data.astronaut()
    except ImportError:  # pragma: no cover - skimage is a test extra
        base = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    return np.ascontiguousarray(resize_linear_exact(base, (width, height)))


def _opencv_hog():
    if not peer_available("cv2"):
        raise NotImplementedError("opencv-python-headless<5 not installed")
    import cv2

    if not hasattr(cv2, "HOGDescriptor"):
        raise NotImplementedError("this OpenCV has no HOGDescriptor (OpenCV 5)")
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


def _ours(image, hit_threshold=0.0):
    """detbench's detectMultiScale equivalent (stride 8, scale 1.05, no padding, no grouping)."""
    from detbench.hog import hog_detect_multiscale

    return lambda: hog_detect_multiscale(
        image, hit_threshold=hit_threshold, win_stride=8, scale=1.05, nms_threshold=None
    )


def _theirs(image, hit_threshold=0.0):
    """OpenCV's detectMultiScale with the same settings (groupThreshold=0: no grouping)."""
    hog = _opencv_hog()
    return lambda: hog.detectMultiScale(
        image, hitThreshold=hit_threshold, winStride=(8, 8), padding=(0, 0), scale=1.05, groupThreshold=0
    )


class HOGDetectMultiScale:
    """Whole multi-scale scan (pyramid, blocks, window scores; grouping off in both)."""

    params = (SIZES, ["detbench", "opencv"])
    param_names = ["size", "impl"]
    timeout = 240

    def setup(self, size, impl):
        image = _image(*size)
        self.fn = _ours(image) if impl == "detbench" else _theirs(image)
        self.fn()  # warm the JIT / OpenCV's buffers

    def time_detect_multiscale(self, size, impl):
        self.fn()


class HOGDetectGrouped:
    """Detection with grouping: detbench's NMS (IoU 0.3) vs OpenCV's groupRectangles (its default)."""

    params = ["detbench", "opencv"]
    param_names = ["impl"]

    def setup(self, impl):
        image = _image(480, 640)
        if impl == "detbench":
            if not peer_available("detbench.nms"):
                raise NotImplementedError("detbench.nms not merged yet")
            from detbench.hog import hog_detect_multiscale

            self.fn = lambda: hog_detect_multiscale(image, nms_threshold=0.3)
        else:
            hog = _opencv_hog()
            self.fn = lambda: hog.detectMultiScale(image, winStride=(8, 8), scale=1.05)
        self.fn()

    def time_detect_grouped(self, impl):
        self.fn()


class HOGDescriptors:
    """All window descriptors of a 480x640 image at stride 8 (cv2.HOGDescriptor.compute)."""

    params = ["detbench", "opencv"]
    param_names = ["impl"]

    def setup(self, impl):
        image = _image(480, 640)
        if impl == "detbench":
            from detbench.hog import hog_descriptors

            self.fn = lambda: hog_descriptors(image, win_stride=8)
        else:
            hog = _opencv_hog()
            self.fn = lambda: hog.compute(image, winStride=(8, 8))
        self.fn()

    def time_descriptors(self, impl):
        self.fn()


class HOGParity:
    """Accuracy tracked across commits against OpenCV on the 480x640 astronaut."""

    def setup(self):
        _opencv_hog()
        self.image = _image(480, 640)

    def track_descriptor_max_rel_diff(self):
        from detbench.hog import hog_descriptors

        ours = hog_descriptors(self.image)
        theirs = _opencv_hog().compute(self.image, winStride=(8, 8)).reshape(ours.shape)
        return float(np.abs(ours - theirs).max() / np.abs(theirs).max())

    track_descriptor_max_rel_diff.unit = "max |diff| / max |value|"

    def track_window_score_max_abs_diff(self):
        from detbench.hog import hog_window_scores

        ours = hog_window_scores(self.image)
        _, weights = _opencv_hog().detect(self.image, hitThreshold=-1e9, winStride=(8, 8))
        return float(np.abs(ours.reshape(-1) - np.asarray(weights).reshape(-1)).max())

    track_window_score_max_abs_diff.unit = "abs diff"

    def track_candidate_mismatches(self):
        """Candidates (box, score) of the multi-scale scan that differ from OpenCV's (threshold -0.5)."""
        import cv2

        boxes, _ = _ours(self.image, hit_threshold=-0.5)()
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)  # OpenCV pairs boxes and weights reliably on one thread only
        try:
            rects, _ = _theirs(self.image, hit_threshold=-0.5)()
        finally:
            cv2.setNumThreads(threads)
        t = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        t[:, 2:] += t[:, :2]
        return len({tuple(b) for b in boxes.tolist()} ^ {tuple(b) for b in t.tolist()})

    track_candidate_mismatches.unit = "boxes"


def timeraw_hog_first_call():
    """First detection in a fresh process: loads the on-disk JIT cache (compiles if cold)."""
    return """
import numpy as np
from detbench.hog import hog_window_scores
hog_window_scores(np.zeros((128, 64, 3), np.uint8), svm=np.zeros(3781, np.float32))
"""


def _median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(threads=None):
    """Same-run table: detectMultiScale-equivalent, detbench vs OpenCV (each timed in its own block).

    ``threads`` (command line: ``--threads N``) sets both libraries' thread counts.
    """
    import cv2
    import numba

    if threads:
        numba.set_num_threads(threads)
        cv2.setNumThreads(threads)
    print(f"numba threads {numba.get_num_threads()}, OpenCV threads {cv2.getNumThreads()}")
    print(f"{'size':>10} {'detbench ms':>12} {'opencv ms':>10} {'opencv/detbench':>16}")
    for h, w in SIZES:
        image = _image(h, w)
        ours, theirs = _ours(image), _theirs(image)
        ours(), theirs()
        repeat = 9 if h <= 480 else 5
        t_ours = _median_time(ours, repeat)
        t_theirs = _median_time(theirs, repeat)
        label = f"{w}x{h}"
        print(f"{label:>10} {t_ours * 1e3:>12.1f} {t_theirs * 1e3:>10.1f} {t_theirs / t_ours:>16.2f}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--threads", type=int, default=None)
    main(parser.parse_args().threads)
