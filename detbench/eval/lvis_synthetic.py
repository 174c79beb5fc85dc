"""Seeded synthetic LVIS-format data: a ground-truth dict and a results list, for tests and benchmarks.

:func:`make_lvis_dataset` exercises every rule of LVIS' federated evaluation:
categories of all three frequencies (some never annotated anywhere), per image
``neg_category_ids`` and ``not_exhaustive_category_ids``, a few ground truths
with ``ignore`` or a zero area, polygon masks, detections of present, negative
and unverified categories (the last dropped by the federated filter), equal
scores across images and some images with more than 300 detections.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench.masks.convert import rles_to_dicts, segmentations_to_rles

__all__ = ["make_lvis_dataset"]


def _polygon(rng: np.random.Generator, x: float, y: float, w: float, h: float) -> list:
    # a star-shaped polygon inside the box (8-14 points), rounded like real annotations
    k = int(rng.integers(8, 15))
    t = np.sort(rng.uniform(0, 2 * np.pi, k))
    r = rng.uniform(0.55, 1.0, k)
    px = x + w / 2 + np.cos(t) * r * w / 2
    py = y + h / 2 + np.sin(t) * r * h / 2
    return np.round(np.stack([px, py], 1).reshape(-1), 2).tolist()


def _shoelace(poly: list) -> float:
    xy = np.asarray(poly).reshape(-1, 2)
    x, y = xy[:, 0], xy[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def make_lvis_dataset(
    n_images: int,
    seed: int = 0,
    n_categories: int = 60,
    dets_per_image: int = 60,
    *,
    masks: bool = True,
    crowded_every: int = 5,
) -> tuple[dict, list]:
    """(ground-truth dict, results list) of ``n_images`` LVIS-like images.

    ``n_categories`` categories, frequency ``r``/``c``/``f`` in turn (the last
    two categories are never annotated). Per image: 1-4 present categories
    with 1-4 instances each (1 in 40 with ``ignore``, 1 in 60 with area 0),
    up to 6 negative and some not-exhaustive categories. Detections: jittered
    copies of the ground truths (scores 0.3-1) and background boxes of random
    categories (scores 0-0.6), ``dets_per_image`` on average, and every
    ``crowded_every``-th image gets 320-420 (over lvis-api's 300 limit).
    With ``masks``, ground truths carry polygons and detections a compressed
    RLE ``segmentation`` (with their ``bbox``). Scores are rounded to 0.001
    and coordinates to 0.01, so equal scores occur.
    """
    rng = np.random.default_rng(seed)
    freq = ["r", "c", "f"]
    cats = [
        {"id": c, "name": f"cat_{c}", "frequency": freq[(c - 1) % 3], "synset": f"s{c}.n.01"}
        for c in range(1, n_categories + 1)
    ]
    usable = max(n_categories - 2, 1)
    images, anns, dets, polys, sizes = [], [], [], [], []
    aid = 1
    for i in range(1, n_images + 1):
        W = int(rng.integers(320, 641))
        H = int(rng.integers(240, 481))
        present = rng.choice(usable, size=min(int(rng.integers(1, 5)), usable), replace=False) + 1
        absent = np.setdiff1d(np.arange(1, n_categories + 1), present)
        neg = rng.choice(absent, size=min(int(rng.integers(0, 7)), absent.size), replace=False)
        nel = [int(c) for c in present if rng.random() < 0.3]
        nel += [int(c) for c in rng.choice(absent, size=min(1, absent.size), replace=False) if rng.random() < 0.3]
        images.append(
            {
                "id": i,
                "width": W,
                "height": H,
                "neg_category_ids": sorted(int(c) for c in neg),
                "not_exhaustive_category_ids": sorted(nel),
                "coco_url": f"http://example.invalid/{i:012d}.jpg",
            }
        )
        gts = []
        for c in present.tolist():
            for _ in range(int(rng.integers(1, 5))):
                w = float(np.exp(rng.uniform(np.log(6), np.log(0.8 * W))))
                h = float(np.exp(rng.uniform(np.log(6), np.log(0.8 * H))))
                x = float(rng.uniform(0, W - w))
                y = float(rng.uniform(0, H - h))
                box = [round(x, 2), round(y, 2), round(w, 2), round(h, 2)]
                poly = _polygon(rng, *box)
                a = {"id": aid, "image_id": i, "category_id": c, "bbox": box, "area": round(_shoelace(poly), 2)}
                if masks:
                    a["segmentation"] = [poly]
                if rng.random() < 1 / 40:
                    a["ignore"] = 1
                if rng.random() < 1 / 60:
                    a["area"] = 0
                anns.append(a)
                gts.append(a)
                aid += 1
        n_det = int(rng.integers(320, 421)) if crowded_every and i % crowded_every == 0 else dets_per_image
        img_dets = []
        for g in gts:
            for _ in range(int(rng.integers(0, 4))):
                x, y, w, h = g["bbox"]
                s = rng.normal(0, 0.12, 4)
                nb = [x + s[0] * w, y + s[1] * h, max(w * (1 + s[2]), 1.0), max(h * (1 + s[3]), 1.0)]
                cat = g["category_id"] if rng.random() < 0.85 else int(rng.integers(1, n_categories + 1))
                # the ground truth's polygon moved with its box (so masks match at many thresholds too)
                src = np.asarray(_polygon(rng, x, y, w, h) if "segmentation" not in g else g["segmentation"][0])
                px = nb[0] + (src[0::2] - x) * nb[2] / max(w, 1e-9)
                py = nb[1] + (src[1::2] - y) * nb[3] / max(h, 1e-9)
                img_dets.append((nb, cat, float(rng.uniform(0.3, 1.0)), np.stack([px, py], 1).reshape(-1)))
        pool = np.concatenate([present, neg, np.array(nel, dtype=np.int64), rng.integers(1, n_categories + 1, 3)])
        while len(img_dets) < n_det:
            w = float(np.exp(rng.uniform(np.log(4), np.log(0.6 * W))))
            h = float(np.exp(rng.uniform(np.log(4), np.log(0.6 * H))))
            nb = [float(rng.uniform(0, W - w)), float(rng.uniform(0, H - h)), w, h]
            img_dets.append((nb, int(rng.choice(pool)), float(rng.uniform(0.0, 0.6)), None))
        for nb, cat, sc, poly in img_dets:
            x, y, w, h = (round(v, 2) for v in nb)
            x, y = min(max(x, 0.0), W - 1.0), min(max(y, 0.0), H - 1.0)
            w, h = max(min(w, round(W - x, 2)), 0.0), max(min(h, round(H - y, 2)), 0.0)
            d: dict[str, Any] = {"image_id": i, "category_id": int(cat), "bbox": [x, y, w, h], "score": round(sc, 3)}
            if masks:
                if poly is None:
                    poly = _polygon(rng, x, y, w, h)
                else:
                    poly = np.round(np.clip(poly, 0, [W, H] * (len(poly) // 2)), 2).tolist()
                polys.append([poly])
                sizes.append((H, W))
            dets.append(d)
    if masks and dets:  # all detection masks in one call
        hw = np.array(sizes, np.int64)
        for d, rle in zip(dets, rles_to_dicts(segmentations_to_rles(polys, hw[:, 0], hw[:, 1], what="detection"))):
            d["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
    gt = {
        "info": {"description": "detbench synthetic LVIS"},
        "images": images,
        "annotations": anns,
        "categories": cats,
        "licenses": [],
    }
    return gt, dets
