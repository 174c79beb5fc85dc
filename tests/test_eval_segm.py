"""COCOeval(gt, dt, "segm") against pycocotools (live): the real COCO subset and synthetic mask sets."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from pycocotools import mask as M
from pycocotools.cocoeval import COCOeval as PyCOCOeval

from detbench.data import DATA_DIR
from detbench.eval import COCOeval
from tests.test_eval_coco import assert_same_eval, make_coco, quiet

SUBSET = DATA_DIR / "coco-val2014-100"
GT_FILE = SUBSET / "instances_val2014_100.json"
SEGM_FILE = SUBSET / "instances_val2014_fakesegm100_results.json"

# the published segm stats of pycocotools on these files (README of the subset)
PUBLISHED_SEGM = [
    0.3195452758576433,
    0.5622883972521636,
    0.29892653412086784,
    0.3873740315997837,
    0.31018272403369485,
    0.3269339071005138,
    0.2682297225711534,
    0.41544868114906375,
    0.4168394992198818,
    0.4694498622754236,
    0.37675922666197265,
    0.3814715099715099,
]


def run_segm(gt: dict, dets: list, setup=None, summarize=True):
    c_gt = make_coco(gt, "pycocotools")
    c_dt = quiet(c_gt.loadRes, copy.deepcopy(dets))
    ref = PyCOCOeval(c_gt, c_dt, "segm")
    ours = COCOeval(c_gt, c_dt, "segm", cache=False)
    if setup is not None:
        setup(ref.params)
        setup(ours.params)
    quiet(ref.evaluate)
    quiet(ref.accumulate)
    ours.evaluate()
    ours.accumulate()
    if summarize:
        quiet(ref.summarize)
        quiet(ours.summarize)
    return ref, ours


def test_coco_subset_segm_bit_identical():
    gt = json.loads(GT_FILE.read_text())
    dets = json.loads(SEGM_FILE.read_text())
    ref, ours = run_segm(gt, dets)
    assert_same_eval(ref, ours)
    assert np.array_equal(ours.stats, ref.stats)
    assert ours.stats.tolist() == PUBLISHED_SEGM


def _mask_of(rng, h, w, kind):
    yy, xx = np.mgrid[:h, :w]
    m = np.zeros((h, w), np.uint8)
    if kind == "empty":
        return m
    cy, cx = rng.integers(0, h), rng.integers(0, w)
    ry, rx = rng.integers(2, max(3, h // 2)), rng.integers(2, max(3, w // 2))
    m[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 1
    if kind == "hole":
        m[((yy - cy) / max(ry / 2, 1)) ** 2 + ((xx - cx) / max(rx / 2, 1)) ** 2 <= 1] = 0
    return m


def _runs(mask):
    flat = np.asfortranarray(mask).flatten(order="F")
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.r_[0, change, flat.size]
    runs = np.diff(bounds).tolist()
    return ([0] + runs) if flat.size and flat[0] else runs


def _compressed(mask):
    r = M.encode(np.asfortranarray(mask))
    return {"size": list(r["size"]), "counts": r["counts"].decode()}


def _jitter(rng, mask):
    out = np.roll(mask, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1))
    if rng.random() < 0.3:
        out = out * (rng.random(out.shape) < 0.85)
    return out.astype(np.uint8)


def make_segm_dataset(seed: int) -> tuple[dict, list]:
    """Masks in every form: polygons (one or several), uncompressed RLE with holes, crowds (uncompressed),
    empty masks, overlapping instances; detections as compressed RLE strings, some empty, ties in score."""
    rng = np.random.default_rng(seed)
    n_img = int(rng.integers(1, 6))
    cat_ids = list(range(1, int(rng.integers(2, 4)) + 1))
    images, anns, dets = [], [], []
    aid = 1
    pool = [0.2, 0.5, 0.5, 0.7, 0.9]
    for i in range(1, n_img + 1):
        h, w = int(rng.integers(12, 60)), int(rng.integers(12, 60))
        images.append({"id": i, "height": h, "width": w})
        for _ in range(int(rng.integers(0, 6))):
            c = int(rng.choice(cat_ids))
            kind = str(rng.choice(["poly", "poly2", "hole", "crowd", "empty", "blob"]))
            crowd = int(kind == "crowd")
            if kind.startswith("poly"):
                segs = []
                for _ in range(1 if kind == "poly" else 2):
                    k = int(rng.integers(3, 7))
                    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
                    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
                    rad = rng.uniform(2, max(h, w) / 2, k)
                    pts = np.column_stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)]).reshape(-1)
                    segs.append(np.round(pts, 2).tolist())
                seg = segs
                mask = M.decode(M.merge(M.frPyObjects(segs, h, w)))
            else:
                mask = _mask_of(rng, h, w, "empty" if kind == "empty" else ("hole" if kind == "hole" else "blob"))
                seg = {"size": [h, w], "counts": _runs(mask)}
            area = float(mask.sum()) if rng.random() < 0.8 else float(rng.choice([32.0**2, 10.0]))
            bb = list(M.toBbox(M.encode(np.asfortranarray(mask))).tolist())
            anns.append(
                {"id": aid, "image_id": i, "category_id": c, "segmentation": seg, "area": area}
                | {"bbox": bb, "iscrowd": crowd}
            )
            aid += 1
            for _ in range(int(rng.integers(0, 4))):
                dc = c if rng.random() < 0.85 else int(rng.choice(cat_ids))
                dm = _jitter(rng, mask) if rng.random() < 0.9 else mask
                dets.append({"image_id": i, "category_id": dc, "segmentation": _compressed(dm)} | _score(rng, pool))
        for _ in range(int(rng.integers(0, 4))):
            kind = "empty" if rng.random() < 0.25 else "blob"
            dm = _mask_of(rng, h, w, kind)
            dets.append(
                {"image_id": i, "category_id": int(rng.choice(cat_ids)), "segmentation": _compressed(dm)}
                | _score(rng, pool)
            )
    if not dets:
        h, w = images[0]["height"], images[0]["width"]
        dets.append({"image_id": 1, "category_id": 1, "segmentation": _compressed(_mask_of(rng, h, w, "blob"))})
        dets[-1]["score"] = 0.4
    rng.shuffle(dets)
    gt = {"images": images, "categories": [{"id": c, "name": f"c{c}"} for c in cat_ids], "annotations": anns}
    return gt, dets


def _score(rng, pool):
    return {"score": float(rng.choice(pool)) if rng.random() < 0.6 else float(np.round(rng.random(), 3))}


VARIANTS = [
    None,
    lambda p: setattr(p, "useCats", 0),
    lambda p: (setattr(p, "areaRng", [[0, 1e10], [0, 200], [200, 1e10]]), setattr(p, "areaRngLbl", ["all", "s", "l"])),
    lambda p: setattr(p, "iouThrs", np.array([0.1, 0.5, 0.8])),
]


@pytest.mark.parametrize("seed", range(12))
def test_synthetic_segm_bit_identical(seed):
    gt, dets = make_segm_dataset(seed)
    setup = VARIANTS[seed % len(VARIANTS)]
    summ = setup is None or seed % len(VARIANTS) == 1
    ref, ours = run_segm(gt, dets, setup, summarize=summ)
    assert_same_eval(ref, ours)
    if summ:
        assert np.array_equal(ours.stats, ref.stats)


def test_synthetic_segm_eval_imgs():
    gt, dets = make_segm_dataset(3)
    ref, ours = run_segm(gt, dets, summarize=False)
    assert len(ref.evalImgs) == len(ours.evalImgs)
    for a, b in zip(ref.evalImgs, ours.evalImgs):
        assert (a is None) == (b is None)
        if a is None:
            continue
        assert a["dtIds"] == b["dtIds"] and a["gtIds"] == b["gtIds"]
        assert np.array_equal(a["dtMatches"], b["dtMatches"]) and np.array_equal(a["gtMatches"], b["gtMatches"])
        assert np.array_equal(a["dtIgnore"], b["dtIgnore"])


def _bad(gt, dets, match):
    c_gt = make_coco(gt, "pycocotools")
    c_dt = quiet(c_gt.loadRes, copy.deepcopy(dets))
    with pytest.raises(ValueError, match=match):
        COCOeval(c_gt, c_dt, "segm", cache=False).evaluate()


def test_segm_bad_input():
    gt, dets = make_segm_dataset(5)
    first = gt["annotations"][0]
    # boxes-only results: loadRes gives every detection its box polygon
    boxes = [
        {"image_id": d["image_id"], "category_id": d["category_id"], "bbox": [1, 2, 5, 6], "score": d["score"]}
        for d in dets
    ]
    _bad(gt, boxes, r"detection id \d+ .*only a box")
    # a ground-truth RLE whose size disagrees with its image
    g2 = copy.deepcopy(gt)
    im = next(i for i in g2["images"] if i["id"] == first["image_id"])
    g2["annotations"][0]["segmentation"] = {"size": [im["height"] + 1, im["width"]], "counts": [0]}
    _bad(g2, dets, rf"ground truth id {first['id']}: RLE size .* disagrees with its image")
    # odd-length and too-short polygons
    for poly, msg in (([1, 2, 3, 4, 5, 6, 7], "odd number"), ([1, 2, 3, 4], "at least 3")):
        g3 = copy.deepcopy(gt)
        g3["annotations"][0]["segmentation"] = [poly]
        _bad(g3, dets, rf"ground truth id {first['id']}: polygon 0 .*{msg}")
    # a corrupt detection string (after loadRes, which does not check it)
    c_gt = make_coco(gt, "pycocotools")
    c_dt = quiet(c_gt.loadRes, copy.deepcopy(dets))
    victim = c_dt.dataset["annotations"][0]
    victim["segmentation"] = dict(victim["segmentation"], counts="0~~~")
    with pytest.raises(ValueError, match=rf"detection id {victim['id']}: corrupt compressed RLE"):
        COCOeval(c_gt, c_dt, "segm", cache=False).evaluate()


def test_segm_threads_identical():
    gt = json.loads(GT_FILE.read_text())
    dets = json.loads(SEGM_FILE.read_text())
    c_gt = make_coco(gt, "pycocotools")
    c_dt = quiet(c_gt.loadRes, dets)
    out = []
    for threads in (1, 2):
        E = COCOeval(c_gt, c_dt, "segm", threads=threads)
        E.evaluate()
        E.accumulate()
        out.append(E.eval["precision"])
    assert np.array_equal(out[0], out[1])


def test_segm_on_detbench_coco_objects():
    # detbench's COCO drop-in (ground truth and results); its loadRes reads bbox results, so the
    # segmentation results carry their mask's box (pycocotools' loadRes then also takes area = w * h)
    from detbench.eval import COCO as DetbenchCOCO

    dets = json.loads(SEGM_FILE.read_text())
    for d in dets:
        d["bbox"] = M.toBbox(d["segmentation"]).tolist()
    gt = json.loads(GT_FILE.read_text())
    ref, _ = run_segm(gt, dets, summarize=False)
    d_gt = DetbenchCOCO(str(GT_FILE))
    E = COCOeval(d_gt, d_gt.loadRes(copy.deepcopy(dets)), "segm")
    E.evaluate()
    E.accumulate()
    assert_same_eval(ref, E)


def test_segm_threaded_paths_identical(monkeypatch):
    # the threaded steps of a segm evaluation from files (RLE strings decoded, masks measured, IoU rows) with
    # their size thresholds at 0: the same arrays on 1 and 2 threads, and the same numbers as pycocotools
    import numba

    import detbench.eval.segm as segm_mod
    import detbench.masks.convert as conv
    from detbench.eval import COCO as DetbenchCOCO
    from detbench.synthetic import make_segm_coco

    monkeypatch.setattr(conv, "_PARALLEL_BYTES", 0)
    monkeypatch.setattr(conv, "_PARALLEL_RUNS", 0)
    monkeypatch.setattr(segm_mod, "_PARALLEL_PAIRS", 0)
    gt, dets = make_segm_coco(40, seed=3)
    raw_gt, raw_dt = json.dumps(gt).encode(), json.dumps(dets).encode()
    strings = [d["segmentation"]["counts"].encode() for d in dets]
    buf = np.frombuffer(b"".join(strings), np.uint8)
    s_off = np.concatenate([[0], np.cumsum([len(b) for b in strings])]).astype(np.int64)
    ref_runs = conv._k.strings_to_rles(buf, s_off)
    n = len(strings)
    r = conv.Rles(ref_runs[0], ref_runs[1], np.full(n, 480), np.full(n, 640))
    out = []
    old = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            runs = conv.strings_to_rles(buf, s_off, threads)
            assert all(np.array_equal(a, b) for a, b in zip(runs, ref_runs))
            stats = conv.rle_stats(r, threads, totals=True)
            full = conv.strings_to_rles(buf, s_off, threads, sizes=(r.h, r.w))  # measured while decoding
            assert all(np.array_equal(a, b) for a, b in zip(full[:3], ref_runs))
            assert all(np.array_equal(a, b) for a, b in zip(full[3:], stats[::-1]))
            d_gt = DetbenchCOCO(raw_gt)
            E = COCOeval(d_gt, d_gt.loadRes(raw_dt), "segm", threads=threads)
            E.evaluate()
            E.accumulate()
            quiet(E.summarize)
            out.append((stats, E))
    finally:
        numba.set_num_threads(old)
    (s1, e1), (s2, e2) = out
    assert all(np.array_equal(a, b) for a, b in zip(s1, s2))
    assert (s1[2] == 480 * 640).all()
    for key in ("precision", "recall", "scores"):
        assert np.array_equal(e1.eval[key], e2.eval[key])
    assert np.array_equal(e1.stats, e2.stats)
    ref, _ = run_segm(gt, dets, summarize=False)
    assert_same_eval(ref, e2)
