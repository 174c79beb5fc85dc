"""detbench.eval.COCOeval against pycocotools (live), on edge-case datasets and real COCO data."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import warnings

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval as PyCOCOeval

from detbench.data import DATA_DIR
from detbench.eval import COCO as DetbenchCOCO
from detbench.eval import COCOeval, load_coco
from detbench.eval.loader import clear_cache

DATA = str(DATA_DIR / "coco-val2014-100")  # the subset shipped as package data
GT_FILE = os.path.join(DATA, "instances_val2014_100.json")
DT_FILE = os.path.join(DATA, "instances_val2014_fakebbox100_results.json")

# the published bbox stats of the official API on these files (README)
PUBLISHED = [
    0.5045806987249628,
    0.6969727247299577,
    0.5729816669904824,
    0.5856257209410443,
    0.5193996948036719,
    0.5013978986347466,
    0.38681277964578054,
    0.5936795762842003,
    0.595352982877607,
    0.6398109626113442,
    0.5664205978994309,
    0.5642905982905982,
]


def quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


#: the COCO class detbench's side is given: pycocotools' ("pycocotools", here) or detbench's drop-in
#: ("detbench": tests/test_eval_cocoapi.py runs this file's tests again that way)
VIA = "pycocotools"


def make_coco(dataset: dict, via: str | None = None) -> COCO:
    if (via or VIA) == "detbench":
        return DetbenchCOCO(copy.deepcopy(dataset))
    c = COCO()
    c.dataset = copy.deepcopy(dataset)
    quiet(c.createIndex)
    return c


def make_edge_dataset(seed: int) -> tuple[dict, list]:
    """A small random COCO set built to hit pycocotools' edge cases.

    Crowds, images without annotations or without detections, categories
    without ground truth or without detections, scores drawn from a few values
    (ties within and across images), areas exactly on the 32**2 / 96**2 bounds,
    detections that are sub-boxes of a ground truth with IoU exactly k/20, and
    sometimes more than 100 detections in an image.
    """
    rng = np.random.default_rng(seed)
    n_img = int(rng.integers(1, 9))
    n_cat = int(rng.integers(1, 6))
    img_ids = sorted(rng.choice(np.arange(1, 60), n_img, replace=False).tolist())
    cat_ids = sorted(rng.choice(np.arange(1, 30), n_cat, replace=False).tolist())
    images = [{"id": int(i), "width": 200, "height": 200} for i in img_ids]
    cats = [{"id": int(c), "name": f"c{c}"} for c in cat_ids]
    score_pool = np.array([0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 1.0])
    anns, dets = [], []
    aid = 1
    many = rng.random() < 0.3
    gt_cats = cat_ids[: max(1, n_cat - int(rng.integers(0, 2)))]  # maybe one category without GT
    dt_cats = cat_ids[int(rng.integers(0, 2)) if n_cat > 1 else 0 :]  # maybe one category without dets
    for im in img_ids:
        if rng.random() < 0.15:
            continue  # image without any annotation
        ng = int(rng.integers(0, 6))
        for _ in range(ng):
            c = int(rng.choice(gt_cats))
            kind = rng.random()
            if kind < 0.25:  # exactly on an area bound
                side = float(rng.choice([32.0, 96.0]))
                w = h = side
                area = side * side
            else:
                w = float(rng.integers(2, 120))
                h = float(rng.integers(2, 120))
                area = float(rng.choice([w * h, w * h * 0.7, 1024.0, 9216.0]))
            x = float(rng.integers(0, 80))
            y = float(rng.integers(0, 80))
            crowd = int(rng.random() < 0.12)
            anns.append(
                {"id": aid, "image_id": im, "category_id": c, "bbox": [x, y, w, h], "area": area, "iscrowd": crowd}
            )
            aid += 1
            if rng.random() < 0.1:
                continue  # a ground truth nobody detects
            for _ in range(int(rng.integers(1, 4))):
                dc = c if rng.random() < 0.85 else int(rng.choice(cat_ids))
                if dc not in dt_cats:
                    continue
                frac = float(rng.integers(8, 21)) / 20.0  # IoU exactly frac for a sub-box
                mode = rng.random()
                if mode < 0.5:
                    bb = [x, y, w, h * frac]
                elif mode < 0.8:
                    bb = [x + float(rng.normal(0, 3)), y + float(rng.normal(0, 3)), w, h]
                else:
                    bb = [x, y, w, h]
                dets.append({"image_id": im, "category_id": dc, "bbox": bb, "score": float(rng.choice(score_pool))})
        n_bg = int(rng.integers(0, 5)) + (int(rng.integers(95, 140)) if many and im == img_ids[0] else 0)
        for _ in range(n_bg):
            dc = int(rng.choice(dt_cats))
            w = float(rng.integers(1, 100))
            h = float(rng.integers(1, 100))
            bb = [float(rng.integers(0, 150)), float(rng.integers(0, 150)), w, h]
            sc = float(rng.choice(score_pool)) if rng.random() < 0.7 else float(np.round(rng.random(), 3))
            dets.append({"image_id": im, "category_id": dc, "bbox": bb, "score": sc})
    if not dets:  # pycocotools' loadRes cannot take an empty list
        dets.append({"image_id": img_ids[0], "category_id": dt_cats[0], "bbox": [1.0, 2.0, 30.0, 40.0], "score": 0.3})
    rng.shuffle(dets)
    gt = {"images": images, "categories": cats, "annotations": anns}
    return gt, dets


def run_both(gt: dict, dets: list, setup=None, *, compat=None, summarize=True, quirks=True):
    """Evaluate with pycocotools and detbench on fresh COCO objects; returns both evaluators."""
    c_gt = make_coco(gt, "pycocotools")
    c_dt = quiet(c_gt.loadRes, copy.deepcopy(dets))
    o_gt, o_dt = c_gt, c_dt
    if VIA == "detbench":
        o_gt = make_coco(gt)
        o_dt = o_gt.loadRes(copy.deepcopy(dets))
    ref = PyCOCOeval(c_gt, c_dt, "bbox")
    ours = COCOeval(o_gt, o_dt, "bbox", compat=compat, pycocotools_quirks=quirks)
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


def assert_same_eval(ref, ours) -> None:
    for key in ("precision", "recall", "scores"):
        a = np.asarray(ours.eval[key])
        b = ref.eval[key]
        assert a.shape == b.shape, key
        assert np.array_equal(a, b), (key, np.abs(a - b).max())
    assert ours.eval["counts"] == ref.eval["counts"]


# ----------------------------------------------------------------- parameters

VARIANTS = {
    "default": None,
    "single_iou": lambda p: setattr(p, "iouThrs", np.array([0.5])),
    "iou_grid": lambda p: setattr(p, "iouThrs", np.array([0.3, 0.55, 0.75, 0.95])),
    "iou_unsorted": lambda p: setattr(p, "iouThrs", np.array([0.75, 0.5, 0.9, 0.3, 0.5])),
    "area": lambda p: (
        setattr(p, "areaRng", [[0, 1e10], [0, 1024], [1024, 1e10], [500, 600]]),
        setattr(p, "areaRngLbl", ["all", "small", "large", "odd"]),
    ),
    "maxdets": lambda p: setattr(p, "maxDets", [1, 3, 150]),
    "maxdets_4": lambda p: setattr(p, "maxDets", [1, 10, 100, 120]),
    "nocats": lambda p: setattr(p, "useCats", 0),
    "recthrs": lambda p: setattr(p, "recThrs", np.linspace(0, 1, 11)),
}


def _subset(p) -> None:
    p.imgIds = p.imgIds[::2]
    p.catIds = p.catIds[1:] if len(p.catIds) > 1 else p.catIds


VARIANTS["subset"] = _subset


def _nocats_subset(p) -> None:
    p.useCats = 0
    p.catIds = p.catIds[::-1][: max(1, len(p.catIds) - 1)]  # unsorted on purpose (order = tie-break)


VARIANTS["nocats_subset"] = _nocats_subset

SEEDS = list(range(60))


@pytest.mark.parametrize("seed", SEEDS)
def test_random_datasets_match_pycocotools(seed):
    gt, dets = make_edge_dataset(seed)
    names = list(VARIANTS)
    # every dataset runs the default params and two other variants (all variants are covered)
    picks = ["default", names[1 + seed % (len(names) - 1)], names[1 + (seed * 7 + 3) % (len(names) - 1)]]
    for name in dict.fromkeys(picks):
        setup = VARIANTS[name]
        summ = name not in ("maxdets",)  # pycocotools' summarize needs maxDets[2]
        ref, ours = run_both(gt, dets, setup, summarize=summ)
        assert_same_eval(ref, ours)
        if summ and name not in ("maxdets_4",):
            assert np.array_equal(ours.stats, ref.stats), name


@pytest.mark.parametrize("seed", [3, 11, 17, 29])
def test_eval_imgs_match_pycocotools(seed):
    gt, dets = make_edge_dataset(seed)
    for setup in (None, VARIANTS["nocats"]):
        ref, ours = run_both(gt, dets, setup, summarize=False)
        assert len(ours.evalImgs) == len(ref.evalImgs)
        for e_ref, e_ours in zip(ref.evalImgs, ours.evalImgs):
            if e_ref is None:
                assert e_ours is None
                continue
            assert e_ours is not None
            assert e_ours["image_id"] == e_ref["image_id"]
            assert e_ours["category_id"] == e_ref["category_id"]
            assert list(e_ours["aRng"]) == list(e_ref["aRng"])
            assert e_ours["maxDet"] == e_ref["maxDet"]
            assert e_ours["dtIds"] == e_ref["dtIds"]
            assert e_ours["gtIds"] == e_ref["gtIds"]
            assert e_ours["dtScores"] == e_ref["dtScores"]
            for key in ("dtMatches", "gtMatches", "gtIgnore", "dtIgnore"):
                assert np.array_equal(np.asarray(e_ours[key]), np.asarray(e_ref[key])), key


def test_eval_imgs_is_lazy():
    gt, dets = make_edge_dataset(5)
    c_gt = make_coco(gt)
    c_dt = quiet(c_gt.loadRes, dets)
    E = COCOeval(c_gt, c_dt, "bbox")
    E.evaluate()
    assert E._evalImgs is None
    E.accumulate()
    assert E._evalImgs is None
    assert isinstance(E.evalImgs, list) and E._evalImgs is not None


def test_unsorted_recall_thresholds_match_pycocotools():
    # pycocotools stops sampling at the first threshold past the last recall
    # (later thresholds stay 0 even if smaller): reproduced exactly
    gt, dets = make_edge_dataset(7)
    ref, ours = run_both(gt, dets, lambda p: setattr(p, "recThrs", np.array([0.9, 0.1, 0.5, 0.0, 1.0, 0.3])))
    assert_same_eval(ref, ours)


def test_iou_threshold_zero_and_one():
    gt, dets = make_edge_dataset(9)
    ref, ours = run_both(gt, dets, lambda p: setattr(p, "iouThrs", np.array([0.0, 1.0])), summarize=False)
    assert_same_eval(ref, ours)


# -------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_coco():
    c_gt = DetbenchCOCO(GT_FILE) if VIA == "detbench" else quiet(COCO, GT_FILE)
    c_dt = quiet(c_gt.loadRes, DT_FILE)
    return c_gt, c_dt


def test_real_coco_subset_gives_published_stats(real_coco):
    c_gt, c_dt = real_coco
    E = COCOeval(c_gt, c_dt, "bbox")
    E.evaluate()
    E.accumulate()
    quiet(E.summarize)
    assert np.array_equal(E.stats, np.array(PUBLISHED)), E.stats - np.array(PUBLISHED)


def test_real_coco_subset_matches_live_pycocotools(real_coco):
    c_gt, c_dt = real_coco
    ref = PyCOCOeval(c_gt, c_dt, "bbox")
    quiet(ref.evaluate)
    quiet(ref.accumulate)
    quiet(ref.summarize)
    E = COCOeval(c_gt, c_dt, "bbox")
    E.evaluate()
    E.accumulate()
    quiet(E.summarize)
    assert_same_eval(ref, E)
    assert np.array_equal(E.stats, ref.stats)


def test_real_coco_subset_with_detbench_loader():
    gt = load_coco(GT_FILE)
    dt = gt.load_results(DT_FILE)
    E = COCOeval(gt, dt)
    E.evaluate()
    E.accumulate()
    text = E.summary_text()
    assert np.array_equal(E.stats, np.array(PUBLISHED))
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505" in text


def test_summarize_prints_like_pycocotools(real_coco, capsys):
    c_gt, c_dt = real_coco
    ref = PyCOCOeval(c_gt, c_dt, "bbox")
    quiet(ref.evaluate)
    quiet(ref.accumulate)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ref.summarize()
    E = COCOeval(c_gt, c_dt, "bbox")
    E.evaluate()
    E.accumulate()
    capsys.readouterr()
    E.summarize()
    out = capsys.readouterr().out
    assert out == buf.getvalue()
    assert E.summary == out.rstrip("\n")
    assert str(E) == E.summary


# ------------------------------------------------------ documented deviations


def _tiny(ann_id0: int = 1) -> tuple[dict, list]:
    gt = {
        "images": [{"id": 1}, {"id": 2}],
        "categories": [{"id": 7, "name": "a"}],
        "annotations": [
            {"id": ann_id0, "image_id": 1, "category_id": 7, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
            {"id": ann_id0 + 1, "image_id": 2, "category_id": 7, "bbox": [5, 5, 20, 20], "area": 400, "iscrowd": 0},
        ],
    }
    dets = [
        {"image_id": 1, "category_id": 7, "bbox": [0, 0, 10, 10], "score": 0.9},
        {"image_id": 2, "category_id": 7, "bbox": [5, 5, 20, 19], "score": 0.8},
    ]
    return gt, dets


def test_annotation_id_zero():
    gt, dets = _tiny(ann_id0=0)
    # pycocotools counts the match with ground truth id 0 as a false positive
    ref, ours_compat = run_both(gt, dets, compat="pycocotools")
    assert_same_eval(ref, ours_compat)
    assert np.array_equal(ours_compat.stats, ref.stats)
    _, ours = run_both(gt, dets, quirks=False)
    assert ours.stats[1] == pytest.approx(1.0, abs=1e-12)  # both detections are correct
    assert ref.stats[1] < 0.99


def test_detection_id_zero_compat():
    gt, dets = _tiny()
    c_gt = make_coco(gt)
    dets2 = dets + [{"image_id": 1, "category_id": 7, "bbox": [0, 0, 10, 10], "score": 0.5}]
    c_dt = quiet(c_gt.loadRes, dets2)
    for ann in c_dt.dataset["annotations"]:
        ann["id"] -= 1  # ids 0, 1, 2 (a hand-built results object)
    c_dt.createIndex()
    ref = PyCOCOeval(c_gt, c_dt, "bbox")
    quiet(ref.evaluate)
    quiet(ref.accumulate)
    ours = COCOeval(c_gt, c_dt, "bbox", compat="pycocotools", cache=False)
    ours.evaluate()
    ours.accumulate()
    assert_same_eval(ref, ours)
    sensible = COCOeval(c_gt, c_dt, "bbox", cache=False, pycocotools_quirks=False)
    sensible.evaluate()
    sensible.accumulate()
    # the duplicate detection is a false positive in detbench; pycocotools counts it
    # as a second true positive on the same ground truth (recall 3/2)
    assert sensible.eval["recall"][0, 0, 0, 2] == 1.0
    assert ref.eval["recall"][0, 0, 0, 2] == 1.5


def test_duplicate_gt_ids_compat_and_warning():
    gt, dets = make_edge_dataset(21)
    for ann in gt["annotations"][1:3]:
        ann["id"] = gt["annotations"][0]["id"]
    ref, ours = run_both(gt, dets, compat="pycocotools")
    assert_same_eval(ref, ours)
    with pytest.warns(UserWarning, match="duplicate ground-truth annotation ids"):
        run_both(gt, dets, quirks=False)


def test_stats0_maxdets():
    gt, dets = make_edge_dataset(4)
    setup = VARIANTS["maxdets"]  # [1, 3, 150]: 100 is absent
    ref, ours_c = run_both(gt, dets, setup, compat="pycocotools")
    assert ours_c.stats[0] == ref.stats[0] == -1
    assert np.array_equal(ours_c.stats, ref.stats)
    _, ours = run_both(gt, dets, setup, quirks=False)
    assert ours.stats[0] == ours.stats[0] and ours.stats[0] > -1
    assert "maxDets=150" in ours.summary.splitlines()[0]
    # fewer than 3 maxDets: pycocotools raises IndexError; detbench summarizes
    _, ours2 = run_both(gt, dets, lambda p: setattr(p, "maxDets", [10]), summarize=False, quirks=False)
    quiet(ours2.summarize)
    assert len(ours2.stats) == 12
    with pytest.raises(IndexError):
        _, c = run_both(gt, dets, lambda p: setattr(p, "maxDets", [10]), compat="pycocotools", summarize=False)
        quiet(c.summarize)


def test_string_and_mixed_image_ids():
    gt, dets = make_edge_dataset(13)
    remap = {im["id"]: f"img_{im['id']:03d}" for im in gt["images"]}
    for im in gt["images"]:
        im["id"] = remap[im["id"]]
    for a in gt["annotations"]:
        a["image_id"] = remap[a["image_id"]]
    for d in dets:
        d["image_id"] = remap[d["image_id"]]
    ref, ours = run_both(gt, dets)
    assert_same_eval(ref, ours)
    assert np.array_equal(ours.stats, ref.stats)
    # mixed int/str ids: pycocotools fails to sort them; detbench evaluates
    gt["images"][0]["id"] = 123456
    for a in gt["annotations"]:
        if a["image_id"] == list(remap.values())[0]:
            a["image_id"] = 123456
    for d in dets:
        if d["image_id"] == list(remap.values())[0]:
            d["image_id"] = 123456
    c_gt = make_coco(gt)
    c_dt = quiet(c_gt.loadRes, dets)
    with pytest.raises(TypeError):
        PyCOCOeval(c_gt, c_dt, "bbox")
    E = COCOeval(c_gt, c_dt)
    E.evaluate()
    E.accumulate()
    assert E.eval["precision"].shape[2] == len(gt["categories"])


def test_cache_reuse_and_invalidation():
    gt, dets = make_edge_dataset(8)
    c_gt = make_coco(gt)
    c_dt = quiet(c_gt.loadRes, dets)
    clear_cache()
    a = COCOeval(c_gt, c_dt)
    a.evaluate()
    a.accumulate()
    # replacing the annotation list (as createIndex-based edits do) invalidates the cache
    c_dt.dataset["annotations"] = [d for d in c_dt.dataset["annotations"] if d["score"] > 0.5]
    c_dt.createIndex()
    b = COCOeval(c_gt, c_dt)
    b.evaluate()
    b.accumulate()
    ref = PyCOCOeval(c_gt, c_dt, "bbox")
    quiet(ref.evaluate)
    quiet(ref.accumulate)
    assert_same_eval(ref, b)


def test_params_fields_and_defaults():
    gt, dets = make_edge_dataset(1)
    c_gt = make_coco(gt)
    c_dt = quiet(c_gt.loadRes, dets)
    ref = PyCOCOeval(c_gt, c_dt, "bbox")
    ours = COCOeval(c_gt, c_dt, "bbox")
    for name in ("imgIds", "catIds", "iouThrs", "recThrs", "maxDets", "areaRng", "areaRngLbl", "useCats"):
        assert np.array_equal(np.asarray(getattr(ours.params, name)), np.asarray(getattr(ref.params, name))), name


def test_accumulate_recthrs_change_and_errors():
    gt, dets = make_edge_dataset(2)
    c_gt = make_coco(gt)
    c_dt = quiet(c_gt.loadRes, dets)
    E = COCOeval(c_gt, c_dt)
    with pytest.raises(RuntimeError, match="evaluate"):
        E.accumulate()
    with pytest.raises(RuntimeError, match="accumulate"):
        E.summarize()
    E.evaluate()
    E.params.recThrs = np.linspace(0, 1, 21)
    E.accumulate()
    assert E.eval["precision"].shape[1] == 21
    E.params.iouThrs = np.array([0.5])
    with pytest.raises(ValueError, match="iouThrs changed"):
        E.accumulate()


def test_bad_params_and_types():
    gt, dets = make_edge_dataset(2)
    c_gt = make_coco(gt)
    c_dt = quiet(c_gt.loadRes, dets)
    with pytest.raises(ValueError, match="iouType"):
        COCOeval(c_gt, c_dt, "bogus")
    with pytest.raises(ValueError, match="compat"):
        COCOeval(c_gt, c_dt, compat="yes")
    E = COCOeval(c_gt, c_dt)
    E.params.iouThrs = [0.5, float("nan")]
    with pytest.raises(ValueError, match="iouThrs"):
        E.evaluate()
    E = COCOeval(c_gt, c_dt)
    E.params.areaRng = [1, 2, 3]
    with pytest.raises(ValueError, match="areaRng"):
        E.evaluate()
    E = COCOeval(c_gt, c_dt)
    E.params.maxDets = []
    with pytest.raises(ValueError, match="maxDets"):
        E.evaluate()
    with pytest.raises(ValueError, match="COCO object"):
        COCOeval(c_gt, object()).evaluate()
    bad = make_coco(gt)
    bad_dt = quiet(bad.loadRes, dets)
    bad_dt.dataset["annotations"][0]["score"] = float("nan")
    E = COCOeval(bad, bad_dt, cache=False)
    with pytest.raises(ValueError, match="score"):
        E.evaluate()


def test_empty_detections_and_empty_gt():
    gt, dets = make_edge_dataset(6)
    c_gt = make_coco(gt)
    ds = load_coco(copy.deepcopy(gt))
    empty = ds.load_results([])
    E = COCOeval(ds, empty)
    E.evaluate()
    E.accumulate()
    quiet(E.summarize)
    prec = np.asarray(E.eval["precision"])
    assert set(np.unique(prec).tolist()) <= {-1.0, 0.0}
    # no ground truth at all: everything is -1
    gt2 = dict(gt, annotations=[])
    c_gt2 = make_coco(gt2)
    c_dt2 = quiet(c_gt2.loadRes, dets)
    ref = PyCOCOeval(c_gt2, c_dt2, "bbox")
    quiet(ref.evaluate)
    quiet(ref.accumulate)
    ours = COCOeval(c_gt2, c_dt2)
    ours.evaluate()
    ours.accumulate()
    assert_same_eval(ref, ours)
    assert c_gt is not None


def test_per_class_table(real_coco):
    c_gt, c_dt = real_coco
    E = COCOeval(c_gt, c_dt)
    E.evaluate()
    E.accumulate()
    quiet(E.summarize)
    df = E.per_class()
    assert len(df) == len(c_gt.getCatIds())
    assert {"category_id", "name", "AP", "AP50", "AP75", "APs", "APm", "APl", "AR"} <= set(df.columns)
    assert df.loc[df.category_id == 1, "name"].item() == "person"
    # mean of per-class AP over classes with GT equals stats[0]
    assert np.nanmean(df["AP"].to_numpy()) == pytest.approx(E.stats[0], abs=1e-12)


def test_mixed_inputs_pycocotools_gt_detbench_dt():
    gt = json.load(open(GT_FILE))
    c_gt = make_coco(gt)
    ds = load_coco(GT_FILE)
    dt = ds.load_results(DT_FILE)
    E = COCOeval(c_gt, dt)
    E.evaluate()
    E.accumulate()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet(E.summarize)
    assert np.array_equal(E.stats, np.array(PUBLISHED))


def test_threads_give_identical_arrays(real_coco):
    c_gt, c_dt = real_coco
    ref = PyCOCOeval(c_gt, c_dt, "bbox")
    quiet(ref.evaluate)
    quiet(ref.accumulate)
    for threads in (1, 2, 3):
        E = COCOeval(c_gt, c_dt, "bbox", threads=threads)
        E.evaluate()
        E.accumulate()
        assert_same_eval(ref, E)


def test_more_than_max_dets_in_one_group_then_other_categories():
    # 130 detections of one category in an image, then few of later categories in the
    # same image: ranks must restart per category and stop at maxDets
    rng = np.random.default_rng(0)
    gt = {
        "images": [{"id": 1}, {"id": 2}],
        "categories": [{"id": 1}, {"id": 2}, {"id": 3}],
        "annotations": [
            {
                "id": k + 1,
                "image_id": 1 + k % 2,
                "category_id": 1 + k % 3,
                "bbox": [10.0 * k, 5, 30, 40],
                "area": 1200.0,
                "iscrowd": 0,
            }
            for k in range(9)
        ],
    }
    dets = []
    for _ in range(130):
        dets.append(
            {
                "image_id": 1,
                "category_id": 1,
                "bbox": [float(rng.integers(0, 90)), 5.0, 30.0, 40.0],
                "score": float(rng.choice([0.2, 0.4, 0.6, 0.8])),
            }
        )
    for c in (2, 3):
        for k in range(6):
            dets.append(
                {
                    "image_id": 1 + k % 2,
                    "category_id": c,
                    "bbox": [10.0 * k, 5.0, 30.0, 40.0],
                    "score": float(rng.random()),
                }
            )
    for setup in (None, lambda p: setattr(p, "maxDets", [1, 10, 120]), VARIANTS["nocats"]):
        ref, ours = run_both(gt, dets, setup, summarize=False)
        assert_same_eval(ref, ours)


@pytest.mark.parametrize("seed", [2, 19])
def test_many_thresholds_and_odd_max_dets(seed):
    # more than 64 IoU thresholds (multi-word bit masks), unsorted thresholds, a zero maxDet
    gt, dets = make_edge_dataset(seed)
    thr = np.linspace(0.3, 0.95, 70)
    ref, ours = run_both(gt, dets, lambda p: setattr(p, "iouThrs", thr), summarize=False)
    assert_same_eval(ref, ours)
    ref, ours = run_both(gt, dets, lambda p: setattr(p, "iouThrs", np.array([0.75, 0.5, 0.9])), summarize=False)
    assert_same_eval(ref, ours)
    ref, ours = run_both(gt, dets, lambda p: setattr(p, "maxDets", [0, 2, 100]), summarize=False)
    assert_same_eval(ref, ours)
