"""asv benchmarks for detbench.nms (placeholder: data generator first)."""

from __future__ import annotations

import numpy as np


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
    Scores are a random permutation of ``(1..n) / (n + 1)`` so no two are equal
    (ties would make the order of torchvision's unstable sort matter). Labels are
    one class per object, uniform in ``[0, n_classes)``.

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
