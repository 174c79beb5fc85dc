"""COCOeval.tide() against tidecv (live oracle) on the shipped COCO subset and synthetic sets."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from benchmarks.bench_eval_tide import tidecv_objects
from detbench.data import DATA_DIR
from detbench.eval import COCOeval, load_coco, load_results
from detbench.eval.tide import MAIN_ERRORS, SPECIAL_ERRORS, TideResult
from detbench.synthetic import DetectorConfig, SceneConfig, make_dataset

if not hasattr(np, "float"):  # tidecv 1.0.1 imports fine on NumPy 2; older code paths used np.float
    float = float  # type: ignore[attr-defined]
tidecv = pytest.importorskip("tidecv")

DATA = str(DATA_DIR / "coco-val2014-100")
GT_FILE = os.path.join(DATA, "instances_val2014_100.json")
DT_FILE = os.path.join(DATA, "instances_val2014_fakebbox100_results.json")
KEYS = MAIN_ERRORS + SPECIAL_ERRORS


def tidecv_breakdown(gt: dict, dets: list, pos: float = 0.5, bg: float = 0.1) -> tuple[dict, float, dict]:
    """tidecv's errors (dict), AP and error counts for a COCO-style gt dict and result list (bbox)."""
    g, d = tidecv_objects(gt, dets)
    t = tidecv.TIDE(pos_threshold=pos, background_threshold=bg)
    run = t.evaluate(g, d, name="dt")
    main = t.get_main_errors()["dt"]
    special = t.get_special_errors()["dt"]
    counts = {e.short_name: n for e, n in run.count_errors().items()}
    return {**main, **special}, run.ap, counts


def detbench_breakdown(gt: dict, dets: list, **kw) -> TideResult:
    g = load_coco(gt)
    E = COCOeval(g, load_results(dets, g), "bbox")
    E.evaluate()
    return E.tide(**kw)


def assert_same(mine: TideResult, ref: dict, ap: float, counts: dict) -> None:
    assert list(mine) == list(KEYS)
    for k in KEYS:
        assert abs(mine[k] - ref[k]) <= 1e-9, (k, mine[k], ref[k])
    assert abs(mine.ap - ap) <= 1e-9
    assert mine.counts == counts


def synthetic(seed: int, n_images: int = 60, **det_kw) -> tuple[dict, list]:
    scene = SceneConfig(n_images=n_images, n_classes=6, objects_per_image=(0, 10), crowd_fraction=0.08)
    cfg = dict(class_confusion=0.2, duplicates=(1, 6), false_positives_per_image=3.0)
    cfg.update(det_kw)
    gt, det = make_dataset(scene, DetectorConfig(**cfg), seed=seed)
    dets = det.to_coco()
    # a category nobody uses, and one whose detections are all dropped
    gt["categories"].append({"id": 99, "name": "unused", "supercategory": "synthetic"})
    dets = [x for x in dets if x["category_id"] != 6]
    return gt, dets


# ------------------------------------------------------------------ equality with tidecv


def test_coco_subset_equals_tidecv():
    ds = tidecv.datasets
    t = tidecv.TIDE()
    run = t.evaluate(ds.COCO(GT_FILE), ds.COCOResult(DT_FILE), name="dt")
    ref = {**t.get_main_errors()["dt"], **t.get_special_errors()["dt"]}
    counts = {e.short_name: n for e, n in run.count_errors().items()}
    gt = load_coco(GT_FILE)
    E = COCOeval(gt, load_results(DT_FILE, gt), "bbox")
    E.evaluate()
    E.accumulate()
    r = E.tide()
    assert_same(r, ref, run.ap, counts)
    assert r["Cls"] == pytest.approx(22.246, abs=1e-3) and r["Miss"] == pytest.approx(8.524, abs=1e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_equals_tidecv(seed):
    gt, dets = synthetic(seed)
    assert any(a.get("iscrowd") for a in gt["annotations"])
    ref, ap, counts = tidecv_breakdown(gt, dets)
    assert_same(detbench_breakdown(gt, dets), ref, ap, counts)


def test_synthetic_ties_and_truncation_equal_tidecv():
    # scores rounded to 2 decimals (many equal scores across and within images) and > 100 detections
    # in some images (tidecv keeps the 100 best per image, all classes together)
    gt, dets = synthetic(5, n_images=40, duplicates=(4, 12), false_positives_per_image=25.0)
    for x in dets:
        x["score"] = round(x["score"], 2)
    per_img = np.bincount([x["image_id"] for x in dets])
    assert per_img.max() > 100
    ref, ap, counts = tidecv_breakdown(gt, dets)
    assert_same(detbench_breakdown(gt, dets), ref, ap, counts)


@pytest.mark.parametrize(("pos", "bg"), [(0.5, 0.0), (0.75, 0.3), (0.5, 0.5)])
def test_other_thresholds_equal_tidecv(pos, bg):
    gt, dets = synthetic(3)
    ref, ap, counts = tidecv_breakdown(gt, dets, pos, bg)
    assert_same(detbench_breakdown(gt, dets, pos_threshold=pos, background_threshold=bg), ref, ap, counts)


def _img(i, w=100, h=100):
    return {"id": i, "width": w, "height": h, "file_name": f"{i}.jpg"}


def _ann(i, img, cat, box, crowd=0):
    return {"id": i, "image_id": img, "category_id": cat, "bbox": box, "area": box[2] * box[3], "iscrowd": crowd}


def _det(img, cat, box, score):
    return {"image_id": img, "category_id": cat, "bbox": box, "score": score}


def test_hand_made_cases_equal_tidecv():
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
    gt = {
        "images": [_img(3), _img(1), _img(2), _img(4)],  # file order differs from id order
        "categories": cats,
        "annotations": [
            _ann(1, 1, 1, [0, 0, 10, 10]),
            _ann(2, 1, 2, [20, 20, 10, 10]),
            _ann(3, 1, 1, [0, 40, 10, 10], crowd=1),  # a crowd region
            _ann(4, 2, 1, [50, 50, 20, 20]),
            _ann(5, 3, 3, [0, 0, 30, 30]),
            _ann(6, 3, 3, [60, 60, 30, 30]),
        ],
    }
    dets = [
        _det(1, 1, [0, 0, 10, 10], 0.9),  # TP
        _det(1, 1, [0, 0, 10, 10], 0.9),  # duplicate (equal score)
        _det(1, 1, [0, 40, 10, 20], 0.8),  # crowd IoU exactly 0.5: ignored by pycocotools, FP for tidecv
        _det(1, 1, [0, 40, 10, 12], 0.75),  # crowd IoU 0.83: ignored by both
        _det(1, 1, [20, 20, 10, 10], 0.7),  # mislabel (Cls)
        _det(1, 2, [22, 22, 10, 10], 0.6),  # localisation (Loc) then its fix
        _det(1, 3, [80, 80, 5, 5], 0.5),  # background
        _det(2, 2, [50, 50, 20, 20], 0.4),  # class error on an image with one gt
        _det(2, 1, [55, 55, 30, 30], 0.4),  # both (Loc IoU < bg? no: mid)
        _det(4, 1, [0, 0, 10, 10], 0.3),  # image without ground truth: Bkg
        _det(3, 3, [0, 0, 30, 30], 0.9),
    ]
    ref, ap, counts = tidecv_breakdown(gt, dets)
    g = load_coco(gt)
    E = COCOeval(g, load_results(dets, g), "bbox")
    E.evaluate()
    m = E.matches()
    assert m.dt_ign[0, 0].sum() == 2  # pycocotools ignores both detections over the crowd region
    assert_same(E.tide(), ref, ap, counts)


# ------------------------------------------------------------------ API and bad input


def test_result_is_a_mapping_with_details():
    gt, dets = synthetic(0, n_images=20)
    r = detbench_breakdown(gt, dets)
    assert set(r.keys()) == set(KEYS) and len(r) == 8
    assert dict(r) == {**r.main, **r.special}
    assert set(r.counts) == set(MAIN_ERRORS)
    assert r.n_detections > 0 and 0 <= r.ap <= 100
    assert "Main errors" in r.table() and "TideResult" in repr(r)
    d = r.to_dict()
    assert d["main"] == r.main and d["pos_threshold"] == 0.5


def test_tide_before_evaluate_raises():
    gt = load_coco(GT_FILE)
    E = COCOeval(gt, load_results(DT_FILE, gt), "bbox")
    with pytest.raises(RuntimeError, match="evaluate"):
        E.tide()


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"pos_threshold": 1.5}, "pos_threshold"),
        ({"pos_threshold": -0.1}, "pos_threshold"),
        ({"background_threshold": 2}, "background_threshold"),
        ({"background_threshold": float("nan")}, "background_threshold"),
        ({"pos_threshold": "0.5"}, "pos_threshold"),
        ({"max_dets": 0}, "max_dets"),
    ],
)
def test_bad_thresholds(kw, name):
    gt = load_coco(GT_FILE)
    E = COCOeval(gt, load_results(DT_FILE, gt), "bbox")
    with pytest.raises(ValueError, match=name):
        E.tide(**kw)  # checked before the evaluate() check
    E.evaluate()
    with pytest.raises(ValueError, match=name):
        E.tide(**kw)


def test_threshold_not_evaluated_and_max_dets():
    gt = load_coco(GT_FILE)
    E = COCOeval(gt, load_results(DT_FILE, gt), "bbox")
    E.evaluate()
    with pytest.raises(ValueError, match="pos_threshold.*iouThrs"):
        E.tide(pos_threshold=0.52)
    with pytest.raises(ValueError, match="max_dets"):
        E.tide(max_dets=200)
    E.params.useCats = 0
    E.evaluate()
    with pytest.raises(ValueError, match="useCats"):
        E.tide()


def test_equal_iou_ties_warn():
    # two identical ground truths: pycocotools matches the last, tidecv the first
    gt = {
        "images": [_img(1)],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [_ann(1, 1, 1, [0, 0, 10, 10]), _ann(2, 1, 1, [0, 0, 10, 10])],
    }
    dets = [_det(1, 1, [0, 0, 10, 10], 0.9)]
    with pytest.warns(UserWarning, match="equal IoUs"):
        r = detbench_breakdown(gt, dets)
    assert r.ties == 1
    ref, ap, counts = tidecv_breakdown(gt, dets)  # here the numbers agree anyway
    assert_same(r, ref, ap, counts)


def test_inputs_untouched_and_repeatable():
    gt, dets = synthetic(1, n_images=20)
    g = load_coco(gt)
    dt = load_results(dets, g)
    E = COCOeval(g, dt, "bbox")
    E.evaluate()
    E.accumulate()
    before = np.array(E.eval["precision"]).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = E.tide()
        b = E.tide()
    assert dict(a) == dict(b)
    np.testing.assert_array_equal(E.eval["precision"], before)


def test_cached_matches_and_one_slot_agree():
    # tide() reads COCOeval.matches() when cached, else the same matcher at its one (area, threshold) slot
    gt, dets = synthetic(2, n_images=30)
    g = load_coco(gt)
    E = COCOeval(g, load_results(dets, g), "bbox")
    E.evaluate()
    a = E.tide(pos_threshold=0.75)
    full = E.matches()
    b = E.tide(pos_threshold=0.75)
    assert dict(a) == dict(b) and a.counts == b.counts
    np.testing.assert_array_equal(E._tide_matches[2][2], full.dt_match[0, 5])


def test_degenerate_evaluations():
    gt = load_coco(GT_FILE)
    E = COCOeval(gt, load_results([], gt), "bbox")
    E.evaluate()
    r = E.tide()  # tidecv divides by zero here; every gt is missed
    assert r["Cls"] == 0.0 and np.isnan(r["Miss"]) and np.isnan(r["FalseNeg"]) and r.counts["Miss"] > 0
    dt = load_results(DT_FILE, gt)
    E = COCOeval(gt, dt, "bbox")
    E.params.imgIds = []
    E.evaluate()
    assert all(v == 0.0 for v in E.tide().values())
    E = COCOeval(gt, dt, "bbox")
    E.params.areaRng = [[32.0**2, 1e10]]
    E.params.areaRngLbl = ["medium+large"]
    E.evaluate()
    with pytest.raises(ValueError, match="area range"):
        E.tide()
    import contextlib
    import io

    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        cgt = COCO(GT_FILE)
        cdt = cgt.loadRes(os.path.join(DATA, "instances_val2014_fakesegm100_results.json"))
    E = COCOeval(cgt, cdt, "segm")
    E.evaluate()
    with pytest.raises(ValueError, match="iouType 'bbox' only"):
        E.tide()


def _random_scene(rng, dup_gt: bool) -> tuple[dict, list]:
    # integer boxes and 5 score levels: IoUs exactly at 0.5 / 0.1 and equal scores are common
    n_img, n_cat = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    images = [_img(int(i), 50, 50) for i in rng.permutation(np.arange(1, n_img + 1))]
    anns, dets = [], []
    for im in images:
        for _ in range(rng.integers(0, 7)):
            x, y, w, h = (int(v) for v in (*rng.integers(0, 30, 2), *rng.integers(1, 20, 2)))
            cat = int(rng.integers(1, n_cat + 1))
            anns.append(_ann(len(anns) + 1, im["id"], cat, [x, y, w, h], crowd=int(rng.random() < 0.15)))
        if dup_gt and anns and rng.random() < 0.3:
            anns.append({**anns[rng.integers(len(anns))], "id": len(anns) + 1})
        for _ in range(rng.integers(0, 12)):
            if anns and rng.random() < 0.6:
                a = anns[rng.integers(len(anns))]
                box = [v + int(rng.integers(-2, 3)) for v in a["bbox"]]
                box[2:] = [max(box[2], 1), max(box[3], 1)]
                cat = a["category_id"] if rng.random() < 0.7 else int(rng.integers(1, n_cat + 1))
                img = a["image_id"] if rng.random() < 0.9 else im["id"]
            else:
                box = [int(v) for v in (*rng.integers(0, 30, 2), *rng.integers(1, 20, 2))]
                cat, img = int(rng.integers(1, n_cat + 1)), im["id"]
            dets.append(_det(int(img), cat, box, float(rng.integers(1, 6)) / 5))
    cats = [{"id": c, "name": str(c)} for c in range(1, n_cat + 1)]
    return {"images": images, "categories": cats, "annotations": anns}, dets


@pytest.mark.parametrize("dup_gt", [False, True])
def test_random_small_scenes_equal_tidecv(dup_gt):
    # equal to tidecv unless the tie warning fires (only duplicated ground truths make ties)
    rng = np.random.default_rng(7 + dup_gt)
    compared = 0
    for _ in range(120):
        gt, dets = _random_scene(rng, dup_gt)
        if not dets:
            continue
        pos, bg = float(rng.choice([0.5, 0.75])), float(rng.choice([0.0, 0.1, 0.3]))
        try:
            ref, ap, counts = tidecv_breakdown(gt, dets, pos, bg)
        except ZeroDivisionError:  # tidecv: nothing to average
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = detbench_breakdown(gt, dets, pos_threshold=pos, background_threshold=bg)
        if r.ties:
            continue
        assert_same(r, ref, ap, counts)
        compared += 1
    assert compared > 60


def test_tide_counts_per_class_in_the_dataframe():
    gt = load_coco(os.path.join(DATA, "instances_val2014_100.json"))
    dt = load_results(os.path.join(DATA, "instances_val2014_fakebbox100_results.json"), gt)
    E = COCOeval(gt, dt, "bbox")
    E.evaluate()
    E.accumulate()
    assert not any(c.startswith("tide_") for c in E.to_dataframe().columns)
    res = E.tide()
    df = E.to_dataframe()
    for name, total in res.counts.items():
        assert int(df[f"tide_{name}"].sum()) == total
    assert len(df) == len(res.class_counts["Cls"])
    E.evaluate()  # a new evaluation drops the stale columns
    E.accumulate()
    assert not any(c.startswith("tide_") for c in E.to_dataframe().columns)


# ------------------------------------------------------------------ the CLI's --tide


def test_cli_tide_equals_tidecv(tmp_path, capsys):
    import json

    from detbench.eval.cli import main

    ds = tidecv.datasets
    t = tidecv.TIDE()
    t.evaluate(ds.COCO(GT_FILE), ds.COCOResult(DT_FILE), name="dt")
    ref = {**t.get_main_errors()["dt"], **t.get_special_errors()["dt"]}
    out = tmp_path / "res.json"
    assert main([GT_FILE, DT_FILE, "--tide", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "TIDE error breakdown" in printed and "Main errors (dAP):" in printed
    saved = json.loads(out.read_text())
    got = {**saved["tide"]["main"], **saved["tide"]["special"]}
    assert set(got) == set(ref)
    for k, v in ref.items():
        assert abs(got[k] - v) <= 1e-9, k
    assert "tide_Cls" in saved["per_class"][0]  # the per-class counts join the table
    # voc protocol: the breakdown of the VOC matches
    assert main([GT_FILE, DT_FILE, "--protocol", "voc12", "--matching", "coco", "--tide"]) == 0
    assert "TIDE error breakdown" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--tide", "--iou-thresholds", "0.6", "0.7"], "leaves out"),
        (["--tide", "--iou-type", "segm"], "boxes only"),
    ],
)
def test_cli_tide_refuses_what_it_cannot_do(argv, message, capsys):
    from detbench.eval.cli import main

    assert main([GT_FILE, DT_FILE, *argv]) == 2
    assert message in capsys.readouterr().err
