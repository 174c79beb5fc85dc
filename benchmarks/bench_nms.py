"""asv benchmarks for :mod:`detbench.nms` against torchvision and ensemble-boxes.

Every timed class takes an ``impl`` parameter so the detbench/peer ratio comes
from one run. Data come from :func:`make_boxes` (seeded clusters of jittered
boxes around objects, the shape of a detector's raw output): "dense" puts N
boxes in a 1000x1000 image, "sparse" in 4000x4000. ``setup`` warms the JIT,
so ``time_*`` never includes compilation; ``timeraw_*`` measures a fresh
interpreter's import + first call (compile, or cache load with cache=True).

Peers that would take tens of seconds per call are skipped by raising
``NotImplementedError`` in ``setup`` (asv's skip): torchvision's O(N^2) CPU NMS
at N = 100,000 (~20 s per call here; measure it once with a script instead).

Run a quick manual comparison with ``python benchmarks/bench_nms.py``.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np

IMAGE_SIZE = {"dense": 1000.0, "sparse": 4000.0}


def make_boxes(
    n: int,
    image_size: float = 1000.0,
    seed: int = 0,
    *,
    dtype: type = np.float32,
    boxes_per_object: int = 10,
    min_size: float = 10.0,
    max_size: float = 200.0,
    n_classes: int = 80,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded "realistic" detector output: clusters of jittered boxes around objects.

    ``n // boxes_per_object`` objects get a uniform centre in a square image of side
    ``image_size``, a log-uniform width in ``[min_size, max_size]`` and an aspect
    jitter; each of the ``n`` boxes picks an object and jitters its centre (sd 10 %
    of the size) and its size (log-normal, sd 0.15), then is clipped to the image.
    Scores are a random permutation of ``(1..n) / (n + 1)``, so no two are equal
    (tie handling is tested, not benchmarked). Labels are one class per object,
    uniform in ``[0, n_classes)``.

    Returns ``(boxes (n, 4) xyxy, scores (n,), labels (n,) int64)``.
    """
    rng = np.random.default_rng(seed)
    n_obj = max(1, n // max(1, boxes_per_object))
    s = float(image_size)
    cx = rng.uniform(0.0, s, n_obj)
    cy = rng.uniform(0.0, s, n_obj)
    w = np.exp(rng.uniform(np.log(min_size), np.log(max_size), n_obj))
    h = np.clip(w * np.exp(rng.normal(0.0, 0.3, n_obj)), min_size, max_size)
    cls = rng.integers(0, max(1, n_classes), n_obj)
    obj = rng.integers(0, n_obj, n)
    bw = w[obj] * np.exp(rng.normal(0.0, 0.15, n))
    bh = h[obj] * np.exp(rng.normal(0.0, 0.15, n))
    bx = cx[obj] + rng.normal(0.0, 0.1, n) * w[obj]
    by = cy[obj] + rng.normal(0.0, 0.1, n) * h[obj]
    boxes = np.empty((n, 4), dtype=np.float64)
    boxes[:, 0] = np.clip(bx - bw / 2, 0.0, s)
    boxes[:, 1] = np.clip(by - bh / 2, 0.0, s)
    boxes[:, 2] = np.clip(bx + bw / 2, 0.0, s)
    boxes[:, 3] = np.clip(by + bh / 2, 0.0, s)
    scores = (rng.permutation(n) + 1.0) / (n + 1.0)
    return boxes.astype(dtype), scores.astype(dtype), cls[obj].astype(np.int64)


def _unit_boxes(n: int, layout: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """make_boxes scaled to [0, 1] (ensemble-boxes' domain), zero-area boxes removed."""
    size = IMAGE_SIZE[layout]
    boxes, scores, _ = make_boxes(n, size, seed)
    boxes = (boxes / np.float32(size)).astype(np.float32)
    ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes[ok], scores[ok]


# ---------------------------------------------------------------------------
# greedy NMS
# ---------------------------------------------------------------------------


class GreedyNMS:
    """detbench.nms vs torchvision.ops.nms (CPU), IoU threshold 0.5."""

    params = ([1_000, 10_000, 100_000], ["dense", "sparse"], ["detbench", "torchvision"])
    param_names = ["n", "layout", "impl"]
    timeout = 120

    def setup(self, n, layout, impl):
        if impl == "torchvision" and n >= 100_000:
            # torchvision's CPU kernel is O(N^2): ~20 s per call at 100k here.
            raise NotImplementedError("too slow to time repeatedly; measured once by script")
        boxes, scores, _ = make_boxes(n, IMAGE_SIZE[layout], 0)
        if impl == "detbench":
            from detbench.nms import nms

            self.fn = lambda: nms(boxes, scores, 0.5)
        else:
            import torch
            import torchvision

            tb, ts = torch.from_numpy(boxes), torch.from_numpy(scores)
            self.fn = lambda: torchvision.ops.nms(tb, ts, 0.5)
        self.fn()  # warm up (JIT compile or cache load)

    def time_nms(self, n, layout, impl):
        self.fn()


class GreedyNMSParity:
    """Accuracy: kept indices that differ from torchvision (0 = identical)."""

    params = ([1_000, 10_000], ["dense", "sparse"])
    param_names = ["n", "layout"]

    def setup(self, n, layout):
        import torch
        import torchvision

        from detbench.nms import nms

        boxes, scores, _ = make_boxes(n, IMAGE_SIZE[layout], 1)
        self.ours = nms(boxes, scores, 0.5)
        self.grid = nms(boxes, scores, 0.5, strategy="grid")
        self.simple = nms(boxes, scores, 0.5, strategy="simple")
        self.theirs = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.5).numpy()

    def track_kept_diff_vs_torchvision(self, n, layout):
        return _index_diff(self.ours, self.theirs)

    track_kept_diff_vs_torchvision.unit = "indices"

    def track_grid_vs_simple_diff(self, n, layout):
        return _index_diff(self.grid, self.simple)

    track_grid_vs_simple_diff.unit = "indices"


def _index_diff(a: np.ndarray, b: np.ndarray) -> int:
    """Positions that differ, plus the length difference."""
    m = min(a.size, b.size)
    return int(np.count_nonzero(a[:m] != b[:m]) + abs(a.size - b.size))


class BatchedNMS:
    """detbench.batched_nms vs torchvision.ops.batched_nms, 80 classes."""

    params = ([1_000, 10_000, 100_000], ["dense", "sparse"], ["detbench", "torchvision"])
    param_names = ["n", "layout", "impl"]
    timeout = 120

    def setup(self, n, layout, impl):
        if impl == "torchvision" and n >= 100_000:
            # 80 O(n_c^2) calls: 0.5-5 s per call here; measured once by script.
            raise NotImplementedError("too slow to time repeatedly; measured once by script")
        boxes, scores, labels = make_boxes(n, IMAGE_SIZE[layout], 0, n_classes=80)
        if impl == "detbench":
            from detbench.nms import batched_nms

            self.fn = lambda: batched_nms(boxes, scores, labels, 0.5)
        else:
            import torch
            import torchvision

            tb, ts, tl = torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels)
            self.fn = lambda: torchvision.ops.batched_nms(tb, ts, tl, 0.5)
        self.fn()

    def time_batched_nms(self, n, layout, impl):
        self.fn()


class BatchedNMSParity:
    """Accuracy: kept indices that differ from torchvision.ops.batched_nms."""

    params = ([1_000, 10_000], ["dense", "sparse"])
    param_names = ["n", "layout"]

    def setup(self, n, layout):
        import torch
        import torchvision

        from detbench.nms import batched_nms

        boxes, scores, labels = make_boxes(n, IMAGE_SIZE[layout], 1, n_classes=80)
        self.ours = batched_nms(boxes, scores, labels, 0.5)
        self.theirs = torchvision.ops.batched_nms(
            torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels), 0.5
        ).numpy()

    def track_kept_diff_vs_torchvision(self, n, layout):
        return _index_diff(self.ours, self.theirs)

    track_kept_diff_vs_torchvision.unit = "indices"


# ---------------------------------------------------------------------------
# Soft-NMS
# ---------------------------------------------------------------------------


class SoftNMS:
    """detbench.soft_nms vs ensemble_boxes.soft_nms (gaussian, sigma 0.5, thresh 0.001)."""

    params = ([1_000, 10_000], ["dense", "sparse"], ["detbench", "ensemble_boxes"], ["gaussian", "linear"])
    param_names = ["n", "layout", "impl", "method"]
    timeout = 180

    def setup(self, n, layout, impl, method):
        boxes, scores = _unit_boxes(n, layout)
        if impl == "detbench":
            from detbench.nms import soft_nms

            self.fn = lambda: soft_nms(boxes, scores, method, 0.5, 0.3, 0.001)
        else:
            from ensemble_boxes import soft_nms as eb_soft_nms

            labels = [np.zeros(len(scores))]
            code = {"linear": 1, "gaussian": 2}[method]
            self.fn = lambda: eb_soft_nms([boxes], [scores], labels, method=code, iou_thr=0.3, sigma=0.5, thresh=0.001)
        self.fn()

    def time_soft_nms(self, n, layout, impl, method):
        self.fn()


class SoftNMSParity:
    """Accuracy: kept boxes and decayed scores vs ensemble-boxes (0 = identical)."""

    params = ([1_000, 5_000], ["dense", "sparse"])
    param_names = ["n", "layout"]

    def setup(self, n, layout):
        from ensemble_boxes import soft_nms as eb_soft_nms
        from ensemble_boxes.ensemble_boxes_nms import cpu_soft_nms_float

        from detbench.nms import soft_nms

        boxes, scores = _unit_boxes(n, layout, seed=1)
        self.idx, self.rescored = soft_nms(boxes, scores, "gaussian", 0.5, 0.3, 0.001)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.eb_boxes, _, _ = eb_soft_nms(
                [boxes], [scores], [np.zeros(len(scores))], method=2, iou_thr=0.3, sigma=0.5, thresh=0.001
            )
        work = scores.copy()
        cpu_soft_nms_float(boxes.copy(), work, Nt=0.3, sigma=0.5, thresh=0.001, method=2)
        self.eb_rescored = work[work > np.float32(0.001)]
        self.boxes = boxes

    def track_kept_box_diff(self, n, layout):
        ours = self.boxes[self.idx]
        m = min(len(ours), len(self.eb_boxes))
        return int(np.count_nonzero((ours[:m] != self.eb_boxes[:m]).any(axis=1)) + abs(len(ours) - len(self.eb_boxes)))

    track_kept_box_diff.unit = "boxes"

    def track_rescored_max_abs_diff(self, n, layout):
        if len(self.rescored) != len(self.eb_rescored):
            return float("inf")
        return float(np.max(np.abs(self.rescored - self.eb_rescored), initial=0.0))

    track_rescored_max_abs_diff.unit = "score"


# ---------------------------------------------------------------------------
# other variants (no peer): DIoU, Fast, Cluster, Matrix NMS
# ---------------------------------------------------------------------------


class Variants:
    """detbench's other NMS variants (no installed peer), dense layout."""

    params = ([1_000, 10_000, 100_000], ["diou_nms", "fast_nms", "cluster_nms", "matrix_nms"])
    param_names = ["n", "variant"]
    timeout = 120

    def setup(self, n, variant):
        if n >= 100_000 and variant in ("cluster_nms", "matrix_nms"):
            # O(intersecting pairs): ~10 s per call at 100k dense, by design (see their docstrings)
            raise NotImplementedError("too slow to time repeatedly")
        mod = importlib.import_module("detbench.nms")  # the package attribute is the function

        boxes, scores, _ = make_boxes(n, IMAGE_SIZE["dense"], 0)
        f = getattr(mod, variant)
        self.fn = (lambda: f(boxes, scores)) if variant == "matrix_nms" else (lambda: f(boxes, scores, 0.5))
        self.fn()

    def time_variant(self, n, variant):
        self.fn()


# ---------------------------------------------------------------------------
# box fusion
# ---------------------------------------------------------------------------


def _fusion_data(n: int, n_models: int = 3, seed: int = 0):
    boxes, scores = _unit_boxes(n, "dense", seed)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, len(scores))
    mid = rng.integers(0, n_models, len(scores))
    return boxes, scores, labels, mid


class Fusion:
    """weighted_boxes_fusion / weighted_nms vs ensemble-boxes, 3 models, 5 labels."""

    params = ([300, 3_000], ["weighted_boxes_fusion", "weighted_nms"], ["detbench", "ensemble_boxes"])
    param_names = ["n", "function", "impl"]
    timeout = 120

    def setup(self, n, function, impl):
        boxes, scores, labels, mid = _fusion_data(n)
        if impl == "detbench":
            mod = importlib.import_module("detbench.nms")  # the package attribute is the function

            f = getattr(mod, function)
            self.fn = lambda: f(boxes, scores, labels, mid, weights=[1.0, 2.0, 1.0], iou_threshold=0.55)
        else:
            import ensemble_boxes

            f = getattr(ensemble_boxes, {"weighted_nms": "non_maximum_weighted"}.get(function, function))
            lists = [[a[mid == t] for t in range(3)] for a in (boxes, scores, labels)]
            self.fn = lambda: f(*lists, weights=[1.0, 2.0, 1.0], iou_thr=0.55)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.fn()

    def time_fusion(self, n, function, impl):
        self.fn()


class FusionParity:
    """Accuracy: largest |difference| of fused boxes and scores vs ensemble-boxes."""

    params = ([300, 3_000], ["weighted_boxes_fusion", "weighted_nms"])
    param_names = ["n", "function"]

    def setup(self, n, function):
        import ensemble_boxes

        mod = importlib.import_module("detbench.nms")  # the package attribute is the function

        boxes, scores, labels, mid = _fusion_data(n, seed=1)
        self.ours = getattr(mod, function)(boxes, scores, labels, mid, weights=[1.0, 2.0, 1.0], iou_threshold=0.55)
        f = getattr(ensemble_boxes, {"weighted_nms": "non_maximum_weighted"}.get(function, function))
        lists = [[a[mid == t] for t in range(3)] for a in (boxes, scores, labels)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.theirs = f(*lists, weights=[1.0, 2.0, 1.0], iou_thr=0.55)

    def track_max_abs_diff_vs_ensemble_boxes(self, n, function):
        ours, theirs = self.ours, self.theirs
        if len(ours[0]) != len(theirs[0]):
            return float("inf")
        db = np.abs(ours[0] - np.asarray(theirs[0]).astype(np.float32))
        ds = np.abs(ours[1] - np.asarray(theirs[1]).astype(np.float32))
        return float(max(np.max(db, initial=0.0), np.max(ds, initial=0.0)))

    track_max_abs_diff_vs_ensemble_boxes.unit = "abs diff"


# ---------------------------------------------------------------------------
# compile / cache-load cost in a fresh interpreter
# ---------------------------------------------------------------------------

_FIRST_CALL = """
import numpy as np
from detbench.nms import {name}
b = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]] * 100, dtype=np.float32)
b += np.repeat(np.arange(100, dtype=np.float32) * 70, 3)[:, None]
s = np.linspace(1, 0.1, 300).astype(np.float32)
{call}
"""


def timeraw_nms_import_and_first_call():
    return _FIRST_CALL.format(name="nms", call="nms(b, s, 0.5)")


def timeraw_batched_nms_import_and_first_call():
    return _FIRST_CALL.format(name="batched_nms", call="batched_nms(b, s, np.arange(300) % 3, 0.5)")


def timeraw_soft_nms_import_and_first_call():
    return _FIRST_CALL.format(name="soft_nms", call="soft_nms(b, s)")


if __name__ == "__main__":  # quick same-run comparison: python benchmarks/bench_nms.py
    import time

    def _median(fn, repeat):
        ts = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return float(np.median(ts))

    for cls, extra in ((GreedyNMS, ()), (BatchedNMS, ())):
        for n in (1_000, 10_000):
            for layout in ("dense", "sparse"):
                times = {}
                for impl in ("detbench", "torchvision"):
                    b = cls()
                    b.setup(n, layout, impl, *extra)
                    times[impl] = _median(b.fn, 7)
                ours, theirs = times["detbench"], times["torchvision"]
                print(
                    f"{cls.__name__:10s} n={n:6d} {layout:6s} detbench {ours * 1e3:8.3f} ms  "
                    f"torchvision {theirs * 1e3:8.3f} ms  ratio {theirs / ours:6.1f}"
                )
