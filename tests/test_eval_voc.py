"""detbench.eval.voc against a plain-Python VOC devkit reference and against pycocotools."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval as PyCOCOeval

from detbench.eval import load_coco
from detbench.eval.voc import average_precision, evaluate_pr
from tests.reference_voc import ap_voc, ap_voc07, best_f1, voc_class_curve
from tests.test_eval_coco import make_coco, make_edge_dataset, quiet


def random_voc(seed: int):
    """Random VOC-like arrays: a few images and classes, difficult objects, duplicates, tied scores."""
    rng = np.random.default_rng(seed)
    n_img = int(rng.integers(1, 6))
    n_cls = int(rng.integers(1, 4))
    gb, gl, gi, gd = [], [], [], []
    db, ds, dl, di = [], [], [], []
    for im in range(n_img):
        for _ in range(int(rng.integers(0, 6))):
            x1, y1 = rng.integers(0, 60, 2).astype(float)
            w, h = rng.integers(3, 50, 2).astype(float)
            c = int(rng.integers(0, n_cls))
            gb.append([x1, y1, x1 + w, y1 + h])
            gl.append(c)
            gi.append(im)
            gd.append(bool(rng.random() < 0.2))
            for _ in range(int(rng.integers(0, 4))):  # hits, duplicates, near misses
                j = rng.normal(0, 0.15, 4) * [w, h, w, h]
                db.append([x1 + j[0], y1 + j[1], x1 + w + j[2], y1 + h + j[3]])
                ds.append(float(rng.choice([0.2, 0.5, 0.7, 0.9])) if rng.random() < 0.5 else float(rng.random()))
                dl.append(c if rng.random() < 0.9 else int(rng.integers(0, n_cls)))
                di.append(im)
        for _ in range(int(rng.integers(0, 4))):  # background
            x1, y1 = rng.integers(0, 80, 2).astype(float)
            w, h = rng.integers(2, 40, 2).astype(float)
            db.append([x1, y1, x1 + w, y1 + h])
            ds.append(float(rng.random()))
            dl.append(int(rng.integers(0, n_cls)))
            di.append(im)
    db = np.array(db, float).reshape(-1, 4)
    db[:, 2] = np.maximum(db[:, 2], db[:, 0])
    db[:, 3] = np.maximum(db[:, 3], db[:, 1])
    return (
        np.array(gb, float).reshape(-1, 4),
        np.array(gl, np.int64),
        np.array(gi, np.int64),
        np.array(gd, bool),
        db,
        np.array(ds, float),
        np.array(dl, np.int64),
        np.array(di, np.int64),
    )


def reference_per_class(data, thr, plus_one):
    gb, gl, gi, gd, db, ds, dl, di = data
    out = {}
    for c in np.unique(np.concatenate([gl, dl])).tolist():
        gts = [(int(gi[k]), gb[k].tolist(), bool(gd[k])) for k in range(len(gl)) if gl[k] == c]
        dets = [(int(di[k]), db[k].tolist(), float(ds[k])) for k in range(len(dl)) if dl[k] == c]
        out[c] = voc_class_curve(gts, dets, thr, plus_one)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_voc_matches_devkit_reference(seed):
    data = random_voc(seed)
    gb, gl, gi, gd, db, ds, dl, di = data
    plus_one = bool(seed % 2)
    thrs = [0.5, 0.75] if seed % 3 else [0.3, 0.5, 0.7]
    res = evaluate_pr(
        None,
        iou_thresholds=thrs,
        plus_one=plus_one,
        gt_boxes=gb,
        gt_labels=gl,
        gt_images=gi,
        gt_difficult=gd,
        det_boxes=db,
        det_scores=ds,
        det_labels=dl,
        det_images=di,
    )
    for t, thr in enumerate(thrs):
        ref = reference_per_class(data, thr, plus_one)
        for k, c in enumerate(res.category_ids):
            prec, rec, scores, n_pos = ref[c]
            assert res.n_gt[k] == n_pos
            if n_pos == 0:
                assert math.isnan(res.ap_voc[k, t]) and math.isnan(res.ap_voc07[k, t])
                continue
            assert res.ap_voc07[k, t] == pytest.approx(ap_voc07(rec, prec), abs=1e-12)
            assert res.ap_voc[k, t] == pytest.approx(ap_voc(rec, prec), abs=1e-12)
            p, r, s = res.curve(c, thr)
            assert np.allclose(p, prec, rtol=0, atol=1e-15) and np.allclose(r, rec, rtol=0, atol=1e-15)
            assert np.array_equal(s, np.array(scores))
            f1, f1t, f1p, f1r = best_f1(prec, rec, scores)
            assert res.f1[k, t] == pytest.approx(f1, abs=1e-12)
            if f1 > 0:
                assert res.f1_threshold[k, t] == f1t
                assert res.f1_precision[k, t] == pytest.approx(f1p, abs=1e-12)
                assert res.f1_recall[k, t] == pytest.approx(f1r, abs=1e-12)
            assert res.ap_coco101[k, t] == pytest.approx(average_precision(rec, prec, "coco101"), abs=1e-12)


def test_average_precision_function_matches_reference():
    rng = np.random.default_rng(1)
    for _ in range(30):
        n = int(rng.integers(1, 40))
        hits = rng.random(n) < 0.5
        n_pos = int(hits.sum() + rng.integers(0, 4)) or 1
        tp = np.cumsum(hits)
        fp = np.cumsum(~hits)
        prec = tp / (tp + fp)
        rec = tp / n_pos
        assert average_precision(rec, prec, "voc07") == pytest.approx(ap_voc07(rec.tolist(), prec.tolist()), abs=1e-12)
        assert average_precision(rec, prec, "voc") == pytest.approx(ap_voc(rec.tolist(), prec.tolist()), abs=1e-12)
    # a perfect detector
    assert average_precision([0.5, 1.0], [1.0, 1.0], "voc") == 1.0
    assert average_precision([0.5, 1.0], [1.0, 1.0], "voc07") == pytest.approx(1.0)
    assert average_precision([0.5, 1.0], [1.0, 1.0], "coco101") == 1.0
    assert average_precision([], [], "voc") == 0.0


def test_voc07_tenths_are_exact():
    # recall exactly 0.3 (3 of 10) counts at the 0.3 point
    prec = [1.0, 1.0, 1.0]
    rec = [0.1, 0.2, 3 / 10]
    assert average_precision(rec, prec, "voc07") == pytest.approx(4 / 11)
    assert ap_voc07(rec, prec) == pytest.approx(4 / 11)


@pytest.mark.parametrize("seed", [0, 3, 5, 12, 18, 23, 31, 44])
def test_coco_matching_gives_pycocotools_per_class_ap(seed):
    gt, dets = make_edge_dataset(seed)
    c_gt = make_coco(gt)
    c_dt = quiet(c_gt.loadRes, dets)
    ref = PyCOCOeval(c_gt, c_dt, "bbox")
    quiet(ref.evaluate)
    quiet(ref.accumulate)
    thrs = ref.params.iouThrs
    res = evaluate_pr(c_gt, c_dt, iou_thresholds=thrs, matching="coco", max_dets=100)
    cats = list(ref.params.catIds)
    assert res.category_ids == cats
    for k in range(len(cats)):
        for t in range(len(thrs)):
            p = ref.eval["precision"][t, :, k, 0, 2]
            if (p > -1).any():
                assert res.ap_coco101[k, t] == pytest.approx(float(np.mean(p)), abs=1e-12), (k, t)
            else:
                assert math.isnan(res.ap_coco101[k, t])


def test_dataset_input_difficult_and_dataframe():
    gt = {
        "images": [{"id": 1}, {"id": 2}],
        "categories": [{"id": 3, "name": "cat"}, {"id": 5, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 10, 10]},
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [20, 20, 10, 10], "difficult": 1},
            {"id": 3, "image_id": 2, "category_id": 5, "bbox": [0, 0, 30, 30]},
        ],
    }
    ds = load_coco(gt)
    dt = ds.load_results(
        [
            {"image_id": 1, "category_id": 3, "bbox": [0, 0, 10, 10], "score": 0.9},
            {"image_id": 1, "category_id": 3, "bbox": [20, 20, 10, 10], "score": 0.8},  # on the difficult one
            {"image_id": 1, "category_id": 3, "bbox": [50, 50, 5, 5], "score": 0.1},
            {"image_id": 2, "category_id": 5, "bbox": [1, 1, 30, 30], "score": 0.7},
            {"image_id": 2, "category_id": 5, "bbox": [0, 0, 30, 30], "score": 0.6},  # duplicate
        ]
    )
    res = evaluate_pr(ds, dt)
    assert res.n_gt.tolist() == [1, 1]
    assert res.ap_voc[:, 0].tolist() == [1.0, 1.0]
    p, r, s = res.curve(3)
    assert s.tolist() == [0.9, 0.1]  # the detection on the difficult object is ignored
    assert r.tolist() == [1.0, 1.0]
    p, r, s = res.curve(5)
    assert p.tolist() == [1.0, 0.5]  # the duplicate is a false positive
    df = res.to_dataframe()
    assert list(df["name"]) == ["cat", "dog"]
    assert {"ap_coco101", "ap_voc07", "ap_voc", "f1", "f1_threshold"} <= set(df.columns)
    assert df.loc[df.name == "cat", "f1_threshold"].item() == 0.9
    assert "VOC07 11-point" in res.summary_text()
    means = res.mean()
    assert means["ap_voc"][0] == 1.0


def test_three_definitions_differ_on_one_curve():
    # one class, one pass: the three APs of the same detections
    gb = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], float)
    db = np.array([[0, 0, 10, 10], [60, 0, 70, 10], [20, 0, 30, 10], [40, 0, 50, 10]], float)
    res = evaluate_pr(
        None,
        gt_boxes=gb,
        gt_labels=[0, 0, 0],
        gt_images=[0, 0, 0],
        det_boxes=db,
        det_scores=[0.9, 0.8, 0.7, 0.6],
        det_labels=[0, 0, 0, 0],
        det_images=[0, 0, 0, 0],
    )
    # precision 1, 1/2, 2/3, 3/4 at recall 1/3, 1/3, 2/3, 1
    assert res.ap_voc[0, 0] == pytest.approx(1 / 3 + (1 / 3) * 0.75 + (1 / 3) * 0.75)
    assert res.ap_voc07[0, 0] == pytest.approx((4 * 1.0 + 7 * 0.75) / 11)
    assert res.ap_coco101[0, 0] != res.ap_voc[0, 0]


def test_bad_inputs():
    with pytest.raises(ValueError, match="matching"):
        evaluate_pr(None, matching="bogus", gt_boxes=np.zeros((0, 4)), det_boxes=np.zeros((0, 4)))
    with pytest.raises(ValueError, match="iou_thresholds"):
        evaluate_pr(None, iou_thresholds=[1.5], gt_boxes=np.zeros((0, 4)), det_boxes=np.zeros((0, 4)))
    with pytest.raises(ValueError, match="det_scores"):
        evaluate_pr(
            None,
            gt_boxes=np.zeros((1, 4)),
            gt_labels=[0],
            gt_images=[0],
            det_boxes=np.zeros((2, 4)),
            det_scores=[0.1],
            det_labels=[0, 0],
            det_images=[0, 0],
        )
    with pytest.raises(ValueError, match="x2 < x1"):
        evaluate_pr(
            None,
            gt_boxes=[[5, 0, 1, 1]],
            gt_labels=[0],
            gt_images=[0],
            det_boxes=np.zeros((0, 4)),
            det_scores=[],
            det_labels=[],
            det_images=[],
        )
    with pytest.raises(ValueError, match="method"):
        average_precision([0.5], [1.0], "voc2012")
    with pytest.raises(ValueError, match="non-decreasing"):
        average_precision([0.5, 0.2], [1.0, 1.0])


def test_empty_inputs():
    res = evaluate_pr(
        None,
        gt_boxes=np.zeros((0, 4)),
        gt_labels=np.zeros(0, int),
        gt_images=np.zeros(0, int),
        det_boxes=np.zeros((0, 4)),
        det_scores=np.zeros(0),
        det_labels=np.zeros(0, int),
        det_images=np.zeros(0, int),
    )
    assert res.ap_voc.shape == (0, 1)
    res = evaluate_pr(
        None,
        gt_boxes=[[0, 0, 5, 5]],
        gt_labels=[1],
        gt_images=[0],
        det_boxes=np.zeros((0, 4)),
        det_scores=np.zeros(0),
        det_labels=np.zeros(0, int),
        det_images=np.zeros(0, int),
    )
    assert res.ap_voc[0, 0] == 0.0 and res.ap_voc07[0, 0] == 0.0 and res.ap_coco101[0, 0] == 0.0


def test_difficult_flags_from_pycocotools_object():
    # the imgToAnns reading order differs from the file order: flags must follow it
    gt = {
        "images": [{"id": 1}, {"id": 2}],
        "categories": [{"id": 3, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 2, "category_id": 3, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 3,
                "bbox": [0, 0, 10, 10],
                "area": 100,
                "iscrowd": 0,
                "difficult": 1,
            },
            {"id": 3, "image_id": 2, "category_id": 3, "bbox": [50, 50, 10, 10], "area": 100, "iscrowd": 0},
        ],
    }
    c_gt = make_coco(gt)
    dets = [
        {"image_id": 1, "category_id": 3, "bbox": [0, 0, 10, 10], "score": 0.9},
        {"image_id": 2, "category_id": 3, "bbox": [0, 0, 10, 10], "score": 0.8},
    ]
    c_dt = quiet(c_gt.loadRes, dets)
    res = evaluate_pr(c_gt, c_dt)
    ds = load_coco(gt)
    res2 = evaluate_pr(ds, ds.load_results(dets))
    assert res.n_gt.tolist() == res2.n_gt.tolist() == [2]
    assert res.ap_voc[0, 0] == res2.ap_voc[0, 0] == 0.5
