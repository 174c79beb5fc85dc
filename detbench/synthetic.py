"""Built-in data: a seeded synthetic scene generator and a detector simulator.

Nothing here downloads anything. :func:`make_scenes` draws ground truth of
several classes and sizes; :func:`simulate_detections` plays a detector on it,
producing the *raw*, pre-NMS output that NMS variants and the evaluation
harness are compared on. Every knob is a field of :class:`SceneConfig` or
:class:`DetectorConfig`, documented there; the same seed always gives the same
data.

The ground truth is a COCO-style dict (``images``, ``annotations`` with
``xywh`` boxes, ``categories``), so it goes straight into
:class:`detbench.eval.COCOeval` or pycocotools; detections come as flat arrays
(:class:`Detections`) and convert to a COCO result list with
:meth:`Detections.to_coco`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detbench._validate import check_int, check_number

__all__ = [
    "SceneConfig",
    "DetectorConfig",
    "Detections",
    "make_scenes",
    "simulate_detections",
    "make_dataset",
    "clustered_boxes",
    "random_boxes",
    "make_segm_coco",
    "make_keypoints_coco",
]


@dataclass(frozen=True)
class SceneConfig:
    """Knobs of the synthetic ground truth.

    Attributes
    ----------
    n_images: number of images.
    image_size: ``(height, width)`` in pixels, the same for every image.
    n_classes: number of categories (ids ``1..n_classes``).
    objects_per_image: inclusive ``(min, max)`` number of objects per image
        (uniform); a minimum of 0 produces some empty images.
    size_range: ``(min, max)`` of the object's side ``sqrt(w * h)`` in pixels,
        drawn log-uniformly, so COCO's small (< 32²), medium and large
        (> 96²) area ranges are all populated with the defaults.
    aspect_range: ``(min, max)`` of ``h / w``, drawn log-uniformly.
    crowd_fraction: probability that an annotation is marked ``iscrowd``.
    """

    n_images: int = 100
    image_size: tuple[int, int] = (480, 640)
    n_classes: int = 5
    objects_per_image: tuple[int, int] = (0, 12)
    size_range: tuple[float, float] = (12.0, 300.0)
    aspect_range: tuple[float, float] = (0.5, 2.0)
    crowd_fraction: float = 0.01


@dataclass(frozen=True)
class DetectorConfig:
    """Knobs of the detector simulator (what a raw, pre-NMS detector outputs).

    Attributes
    ----------
    recall: probability that an object is found at all.
    duplicates: inclusive ``(min, max)`` number of candidate boxes emitted
        around each found object (the duplicates NMS has to remove).
    localization_noise: standard deviation of the best candidate's edge
        error, as a fraction of the object's width/height.
    duplicate_noise: extra edge jitter of the other candidates, as a fraction
        of the object's size.
    class_confusion: probability that an object's candidates carry a wrong
        label.
    false_positives_per_image: mean (Poisson) number of background boxes
        per image, each with its own small cluster of duplicates.
    score_sharpness: how strongly a candidate's score follows its IoU with the
        object: ``score = sigmoid(score_sharpness * (iou - 0.5) + noise)``;
        higher means better-ranked detections.
    score_noise: standard deviation of the logit noise.
    """

    recall: float = 0.9
    duplicates: tuple[int, int] = (1, 8)
    localization_noise: float = 0.05
    duplicate_noise: float = 0.12
    class_confusion: float = 0.05
    false_positives_per_image: float = 3.0
    score_sharpness: float = 8.0
    score_noise: float = 1.0


@dataclass
class Detections:
    """Flat detections over many images.

    Attributes
    ----------
    image_ids: (D,) int64 image id of each detection.
    boxes: (D, 4) float64 xyxy boxes.
    scores: (D,) float64 in (0, 1).
    labels: (D,) int64 category ids.
    """

    image_ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def select(self, index: np.ndarray) -> Detections:
        """A subset (boolean mask or integer index) as a new :class:`Detections`."""
        return Detections(self.image_ids[index], self.boxes[index], self.scores[index], self.labels[index], self.meta)

    def per_image(self) -> dict[int, np.ndarray]:
        """``{image_id: indices of its detections}``, images in ascending id order."""
        order = np.argsort(self.image_ids, kind="stable")
        ids, starts = np.unique(self.image_ids[order], return_index=True)
        bounds = list(starts[1:]) + [len(order)]
        return {int(i): order[s:e] for i, s, e in zip(ids, starts, bounds)}

    def to_coco(self) -> list[dict[str, Any]]:
        """COCO result list: ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``."""
        xywh = self.boxes.copy()
        xywh[:, 2:] -= xywh[:, :2]
        return [
            {"image_id": int(i), "category_id": int(c), "bbox": [float(v) for v in b], "score": float(s)}
            for i, c, b, s in zip(self.image_ids, self.labels, xywh, self.scores)
        ]


def _check_range(pair: Any, name: str, low: float, integer: bool = False) -> tuple[Any, Any]:
    try:
        a, b = pair
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a (min, max) pair, got {pair!r}") from None
    check = check_int if integer else check_number
    a, b = check(a, f"{name}[0]", low=low), check(b, f"{name}[1]", low=low)
    if b < a:
        raise ValueError(f"{name}: min {a} is larger than max {b}")
    return a, b


def make_scenes(config: SceneConfig | None = None, seed: int = 0) -> dict[str, Any]:
    """Draw synthetic ground truth.

    Returns a COCO-style dict: ``images`` (ids ``1..n_images``), ``categories``
    (ids ``1..n_classes``, names ``"class_k"``), ``annotations`` with ``xywh``
    ``bbox``, ``area`` (= w·h), ``iscrowd`` and ids ``1..``. Boxes lie inside
    the image.
    """
    cfg = config or SceneConfig()
    n_images = check_int(cfg.n_images, "n_images", low=0)
    n_classes = check_int(cfg.n_classes, "n_classes", low=1)
    height, width = (check_int(v, "image_size", low=16) for v in cfg.image_size)
    omin, omax = _check_range(cfg.objects_per_image, "objects_per_image", 0, integer=True)
    smin, smax = _check_range(cfg.size_range, "size_range", 1)
    amin, amax = _check_range(cfg.aspect_range, "aspect_range", 1e-3)
    crowd = check_number(cfg.crowd_fraction, "crowd_fraction", low=0, high=1)
    rng = np.random.default_rng(seed)

    images = [
        {"id": i + 1, "width": width, "height": height, "file_name": f"synthetic_{i + 1:06d}.png"}
        for i in range(n_images)
    ]
    categories = [{"id": k + 1, "name": f"class_{k + 1}", "supercategory": "synthetic"} for k in range(n_classes)]
    annotations = []
    for img in images:
        n = int(rng.integers(omin, omax + 1))
        side = np.exp(rng.uniform(np.log(smin), np.log(smax), n))
        aspect = np.exp(rng.uniform(np.log(amin), np.log(amax), n))
        w = np.minimum(side / np.sqrt(aspect), width - 1)
        h = np.minimum(side * np.sqrt(aspect), height - 1)
        x = rng.uniform(0, 1, n) * (width - w)
        y = rng.uniform(0, 1, n) * (height - h)
        labels = rng.integers(1, n_classes + 1, n)
        crowds = rng.uniform(size=n) < crowd
        for j in range(n):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": img["id"],
                    "category_id": int(labels[j]),
                    "bbox": [float(x[j]), float(y[j]), float(w[j]), float(h[j])],
                    "area": float(w[j] * h[j]),
                    "iscrowd": int(crowds[j]),
                }
            )
    return {
        "images": images,
        "annotations": annotations,
        "categories": categories,
        "info": {"description": f"detbench synthetic scenes, seed {seed}", "config": repr(cfg)},
    }


def _iou_same_shape(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _jitter(centre_box: np.ndarray, count: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    w = centre_box[2] - centre_box[0]
    h = centre_box[3] - centre_box[1]
    scale = np.array([w, h, w, h])
    return centre_box[None, :] + rng.normal(0, noise, (count, 4)) * scale[None, :]


def simulate_detections(gt: dict[str, Any], config: DetectorConfig | None = None, seed: int = 0) -> Detections:
    """Play a detector on ground truth ``gt`` (a COCO-style dict, e.g. from :func:`make_scenes`).

    For each found object the simulator emits a cluster of candidates: one
    close to the object (``localization_noise``) and the rest jittered further
    (``duplicate_noise``), all with the object's label (or, with probability
    ``class_confusion``, another one). Background false positives form their
    own clusters. Scores follow each candidate's IoU with its object through a
    noisy sigmoid (``score_sharpness``, ``score_noise``). Boxes are clipped to
    the image and kept at least 1 px wide and high.

    Returns
    -------
    :class:`Detections` with xyxy boxes, sorted by image id.
    """
    cfg = config or DetectorConfig()
    recall = check_number(cfg.recall, "recall", low=0, high=1)
    dmin, dmax = _check_range(cfg.duplicates, "duplicates", 1, integer=True)
    loc = check_number(cfg.localization_noise, "localization_noise", low=0)
    dup = check_number(cfg.duplicate_noise, "duplicate_noise", low=0)
    confusion = check_number(cfg.class_confusion, "class_confusion", low=0, high=1)
    fp_rate = check_number(cfg.false_positives_per_image, "false_positives_per_image", low=0)
    sharp = check_number(cfg.score_sharpness, "score_sharpness", low=0)
    snoise = check_number(cfg.score_noise, "score_noise", low=0)
    rng = np.random.default_rng(seed)
    cat_ids = np.array(sorted(c["id"] for c in gt.get("categories", [])), dtype=np.int64)
    if cat_ids.size == 0:
        raise ValueError("gt: has no categories")
    by_image: dict[int, list[dict[str, Any]]] = {img["id"]: [] for img in gt["images"]}
    for ann in gt["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    sizes = {img["id"]: (img.get("height", 0), img.get("width", 0)) for img in gt["images"]}

    out_ids, out_boxes, out_scores, out_labels = [], [], [], []
    for image_id, anns in by_image.items():
        height, width = sizes.get(image_id, (0, 0))
        clusters = []
        for ann in anns:
            if rng.uniform() >= recall:
                continue
            x, y, w, h = ann["bbox"]
            obj = np.array([x, y, x + w, y + h], dtype=np.float64)
            n = int(rng.integers(dmin, dmax + 1))
            cand = np.vstack([_jitter(obj, 1, loc, rng), _jitter(obj, n - 1, loc + dup, rng)])
            label = ann["category_id"]
            if rng.uniform() < confusion and cat_ids.size > 1:
                label = int(rng.choice(cat_ids[cat_ids != label]))
            clusters.append((obj, cand, label, True))
        for _ in range(int(rng.poisson(fp_rate))):
            side = np.exp(rng.uniform(np.log(12), np.log(max(13.0, min(height, width) / 2 if height else 200.0))))
            cx = rng.uniform(0, width or 640)
            cy = rng.uniform(0, height or 480)
            obj = np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
            n = int(rng.integers(dmin, dmax + 1))
            clusters.append((obj, _jitter(obj, n, dup, rng), int(rng.choice(cat_ids)), False))
        for obj, cand, label, real in clusters:
            if width and height:
                cand[:, 0::2] = np.clip(cand[:, 0::2], 0, width)
                cand[:, 1::2] = np.clip(cand[:, 1::2], 0, height)
            cand[:, 2] = np.maximum(cand[:, 2], cand[:, 0] + 1)
            cand[:, 3] = np.maximum(cand[:, 3], cand[:, 1] + 1)
            iou = _iou_same_shape(cand, np.broadcast_to(obj, cand.shape)) if real else np.zeros(len(cand))
            logit = sharp * (iou - 0.5) + rng.normal(0, snoise, len(cand)) - (0 if real else 1.0)
            out_ids.append(np.full(len(cand), image_id, dtype=np.int64))
            out_boxes.append(cand)
            out_scores.append(1 / (1 + np.exp(-logit)))
            out_labels.append(np.full(len(cand), label, dtype=np.int64))
    if not out_ids:
        return Detections(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
    det = Detections(
        np.concatenate(out_ids),
        np.concatenate(out_boxes),
        np.concatenate(out_scores),
        np.concatenate(out_labels),
        meta={"config": repr(cfg), "seed": seed},
    )
    return det.select(np.argsort(det.image_ids, kind="stable"))


def make_dataset(
    scene: SceneConfig | None = None, detector: DetectorConfig | None = None, seed: int = 0
) -> tuple[dict[str, Any], Detections]:
    """Ground truth and raw detections in one call (``seed`` drives both)."""
    gt = make_scenes(scene, seed=seed)
    return gt, simulate_detections(gt, detector, seed=seed + 1)


def clustered_boxes(
    n: int,
    image_size: float = 1000.0,
    seed: int = 0,
    *,
    boxes_per_object: int = 10,
    n_classes: int = 80,
    dtype: Any = np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw detector-like boxes for NMS timing: clusters of jittered boxes around objects.

    ``n // boxes_per_object`` objects (side log-uniform in 10-200 px, uniform
    centre in a square image of side ``image_size``: 1000 is dense at 100k
    boxes, 4000 sparse); each box jitters one object's centre (10 % of its
    size) and size (log-normal, sd 0.15) and is clipped to the image. Scores
    are a permutation of ``(1..n)/(n+1)``: no ties, so every correct greedy NMS
    returns the same indices. Labels: one class per object.

    Returns ``(boxes (n, 4) xyxy, scores (n,), labels (n,) int64)``.
    """
    n = check_int(n, "n", low=0)
    rng = np.random.default_rng(seed)
    n_obj = max(1, n // max(1, boxes_per_object))
    side = float(image_size)
    centre = rng.uniform(0.0, side, (n_obj, 2))
    w = np.exp(rng.uniform(np.log(10.0), np.log(200.0), n_obj))
    h = np.clip(w * np.exp(rng.normal(0.0, 0.3, n_obj)), 10.0, 200.0)
    size = np.stack([w, h], axis=1)
    obj = rng.integers(0, n_obj, n)
    wh = size[obj] * np.exp(rng.normal(0.0, 0.15, (n, 2)))
    c = centre[obj] + rng.normal(0.0, 0.1, (n, 2)) * size[obj]
    boxes = np.clip(np.hstack([c - wh / 2, c + wh / 2]), 0.0, side)
    scores = (rng.permutation(n) + 1.0) / (n + 1.0)
    labels = rng.integers(0, max(1, n_classes), n_obj)[obj]
    return boxes.astype(dtype), scores.astype(dtype), labels.astype(np.int64)


def random_boxes(
    n: int,
    image_size: float = 1000.0,
    seed: int = 0,
    dtype: Any = np.float32,
    min_side: float = 10.0,
    max_side: float = 200.0,
) -> np.ndarray:
    """``n`` seeded xyxy boxes with sides uniform in ``[min_side, max_side]`` inside a square image.

    The IoU benchmarks' data (independent boxes, no clusters). Returns ``(n, 4)`` of ``dtype``.
    """
    rng = np.random.default_rng(seed)
    wh = rng.uniform(min_side, max_side, (n, 2))
    xy = rng.uniform(0, 1, (n, 2)) * (image_size - wh)
    return np.hstack([xy, xy + wh]).astype(dtype)


def _star_polygons(rng: np.random.Generator, cx: np.ndarray, cy: np.ndarray, r: np.ndarray, k: int) -> np.ndarray:
    # (n, 2k) flat x, y of star-shaped polygons: k sorted angles, radii 40-100 % of r
    n = cx.size
    ang = np.sort(rng.uniform(0.0, 2 * np.pi, (n, k)), axis=1)
    rad = r[:, None] * rng.uniform(0.4, 1.0, (n, k))
    xy = np.empty((n, 2 * k))
    xy[:, 0::2] = cx[:, None] + rad * np.cos(ang)
    xy[:, 1::2] = cy[:, None] + rad * np.sin(ang)
    return xy


def make_segm_coco(
    n_images: int,
    seed: int = 0,
    *,
    gt_per_image: float = 7.0,
    dets_per_image: int = 20,
    n_categories: int = 80,
    height: int = 480,
    width: int = 640,
    crowd: float = 0.01,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A seeded instance-segmentation set in COCO format: ``(ground truth dict, results list)``.

    Ground truths: Poisson(``gt_per_image``) star-shaped polygons per image (12
    vertices, radius log-uniform 3-150 px), ``area``/``bbox`` of the
    rasterised mask; a fraction ``crowd`` are ``iscrowd`` with the mask as a
    compressed RLE. Results (segmentation only, like Mask R-CNN output without
    boxes): per image up to 3 jittered copies of each ground truth (85 % with
    its category, scores 0.3-1) and random polygons up to ``dets_per_image``
    (scores 0-0.6), each a compressed RLE ``{"size", "counts": str}``; scores
    rounded to 0.001. The same arguments always give the same data.
    """
    from detbench.masks.convert import rle_stats, rles_to_dicts, segmentations_to_rles

    n_images = check_int(n_images, "n_images", low=0)
    rng = np.random.default_rng(seed)
    k = 12
    images = [{"id": i, "width": width, "height": height, "file_name": f"{i:012d}.jpg"} for i in range(1, n_images + 1)]
    cats = [{"id": c, "name": f"class_{c}", "supercategory": "thing"} for c in range(1, n_categories + 1)]
    ng = rng.poisson(gt_per_image, n_images)
    g_img = np.repeat(np.arange(1, n_images + 1), ng)
    n_g = g_img.size
    r = np.exp(rng.uniform(np.log(3.0), np.log(150.0), n_g))
    cx = rng.uniform(0, width, n_g)
    cy = rng.uniform(0, height, n_g)
    g_xy = _star_polygons(rng, cx, cy, r, k).round(2)
    g_cat = rng.integers(1, n_categories + 1, n_g)
    g_crowd = rng.random(n_g) < crowd
    hs = np.full(n_g, height)
    ws = np.full(n_g, width)
    g_rle = segmentations_to_rles([[p] for p in g_xy.tolist()], hs, ws)
    g_box, g_area, _ = rle_stats(g_rle)
    g_str = rles_to_dicts(g_rle)
    anns = []
    for j, (i, c, poly, a, b, cr) in enumerate(
        zip(g_img.tolist(), g_cat.tolist(), g_xy.tolist(), g_area.tolist(), g_box.tolist(), g_crowd.tolist())
    ):
        seg: Any = [poly]
        if cr:
            seg = {"size": [height, width], "counts": g_str[j]["counts"].decode()}
        anns.append(
            {"id": j + 1, "image_id": i, "category_id": c, "segmentation": seg, "area": float(a), "bbox": b}
            | {"iscrowd": int(cr)}
        )
    # detections: jittered copies of ground truths, then background polygons
    n_tp = np.minimum(dets_per_image, 3 * ng)
    d_img = np.repeat(np.arange(1, n_images + 1), dets_per_image)
    slot = np.tile(np.arange(dets_per_image), n_images)
    is_tp = (slot < np.repeat(n_tp, dets_per_image)) & (np.repeat(ng, dets_per_image) > 0)
    g_start = np.concatenate([[0], np.cumsum(ng)])[:-1]
    src = g_start[d_img - 1] + slot % np.maximum(np.repeat(ng, dets_per_image), 1)
    src = np.minimum(src, max(n_g - 1, 0))
    n_d = d_img.size
    b_r = np.exp(rng.uniform(np.log(3.0), np.log(100.0), n_d))
    b_xy = _star_polygons(rng, rng.uniform(0, width, n_d), rng.uniform(0, height, n_d), b_r, k)
    if n_g:
        jit = rng.normal(0.0, 0.08, (n_d, 2 * k)) * r[src][:, None]
        shift = np.repeat(rng.normal(0.0, 0.1, (n_d, 2)) * r[src][:, None], k, axis=1)
        d_xy = np.where(is_tp[:, None], g_xy[src] + jit + shift, b_xy)
        same = rng.random(n_d) < 0.85
        d_cat = np.where(is_tp & same, g_cat[src], rng.integers(1, n_categories + 1, n_d))
    else:
        d_xy = b_xy
        d_cat = rng.integers(1, n_categories + 1, n_d)
    d_xy = np.clip(d_xy, 0.0, [width, height] * k)
    score = np.round(np.where(is_tp, rng.uniform(0.3, 1.0, n_d), rng.uniform(0.0, 0.6, n_d)), 3)
    d_rle = segmentations_to_rles([[p] for p in d_xy.tolist()], np.full(n_d, height), np.full(n_d, width))
    d_str = [s["counts"].decode() for s in rles_to_dicts(d_rle)]
    size = [height, width]
    dets = [
        {"image_id": i, "category_id": c, "segmentation": {"size": size, "counts": s}, "score": sc}
        for i, c, s, sc in zip(d_img.tolist(), d_cat.tolist(), d_str, score.tolist())
    ]
    return {"images": images, "categories": cats, "annotations": anns}, dets


def make_keypoints_coco(
    n_images: int,
    seed: int = 0,
    *,
    people_per_image: float = 4.0,
    dets_per_image: int = 20,
    n_keypoints: int = 17,
    height: int = 480,
    width: int = 640,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A seeded person-keypoints set in COCO format: ``(ground truth dict, results list)``.

    Ground truths (category 1, ``person``): Poisson(``people_per_image``) people
    per image with ``n_keypoints`` keypoints inside a box of 20-200 px, each
    with visibility 0/1/2 (30/20/50 %; invisible ones at 0, 0), 5 % with no
    visible keypoint (``num_keypoints`` 0), 1 % crowd; ``area`` 60 % of the box.
    Results (keypoints only, no box): up to 3 noisy copies of each person
    (offsets ~4 % of the box size, visibility 1) and random people up to
    ``dets_per_image``; scores rounded to 0.001. The same arguments always give
    the same data.
    """
    n_images = check_int(n_images, "n_images", low=0)
    rng = np.random.default_rng(seed)
    k = n_keypoints
    images = [{"id": i, "width": width, "height": height, "file_name": f"{i:012d}.jpg"} for i in range(1, n_images + 1)]
    cats = [{"id": 1, "name": "person", "supercategory": "person", "keypoints": [f"k{j}" for j in range(k)]}]
    ng = rng.poisson(people_per_image, n_images)
    g_img = np.repeat(np.arange(1, n_images + 1), ng)
    n_g = g_img.size
    wh = rng.uniform(20, 200, (n_g, 2))
    x0 = rng.uniform(0, 1, n_g) * (width - wh[:, 0])
    y0 = rng.uniform(0, 1, n_g) * (height - wh[:, 1])
    gx = (x0[:, None] + rng.uniform(0, 1, (n_g, k)) * wh[:, :1]).round(1)
    gy = (y0[:, None] + rng.uniform(0, 1, (n_g, k)) * wh[:, 1:]).round(1)
    v = rng.choice([0, 1, 2], (n_g, k), p=[0.3, 0.2, 0.5])
    v[rng.random(n_g) < 0.05] = 0
    kp = np.stack([gx * (v > 0), gy * (v > 0), v], axis=2).reshape(n_g, 3 * k)
    crowd = rng.random(n_g) < 0.01
    box = np.round(np.column_stack([x0, y0, wh]), 2)
    anns = [
        {"id": j + 1, "image_id": i, "category_id": 1, "keypoints": p, "num_keypoints": nk, "bbox": b}
        | {"area": round(b[2] * b[3] * 0.6, 2), "iscrowd": int(cr)}
        for j, (i, p, nk, b, cr) in enumerate(
            zip(g_img.tolist(), kp.tolist(), (v > 0).sum(1).tolist(), box.tolist(), crowd.tolist())
        )
    ]
    n_tp = np.minimum(dets_per_image, 3 * ng)
    d_img = np.repeat(np.arange(1, n_images + 1), dets_per_image)
    slot = np.tile(np.arange(dets_per_image), n_images)
    is_tp = (slot < np.repeat(n_tp, dets_per_image)) & (np.repeat(ng, dets_per_image) > 0)
    g_start = np.concatenate([[0], np.cumsum(ng)])[:-1]
    src = np.minimum(g_start[d_img - 1] + slot % np.maximum(np.repeat(ng, dets_per_image), 1), max(n_g - 1, 0))
    n_d = d_img.size
    bx = rng.uniform(0, width, (n_d, k))
    by = rng.uniform(0, height, (n_d, k))
    if n_g:
        sx = wh[src, :1] * 0.04
        sy = wh[src, 1:] * 0.04
        dx = np.where(is_tp[:, None], gx[src] + rng.normal(0, 1, (n_d, k)) * sx, bx)
        dy = np.where(is_tp[:, None], gy[src] + rng.normal(0, 1, (n_d, k)) * sy, by)
    else:
        dx, dy = bx, by
    dk = np.stack([dx.round(2), dy.round(2), np.ones((n_d, k))], axis=2).reshape(n_d, 3 * k)
    score = np.round(np.where(is_tp, rng.uniform(0.3, 1.0, n_d), rng.uniform(0.0, 0.6, n_d)), 3)
    dets = [
        {"image_id": i, "category_id": 1, "keypoints": p, "score": s}
        for i, p, s in zip(d_img.tolist(), dk.tolist(), score.tolist())
    ]
    return {"images": images, "categories": cats, "annotations": anns}, dets
