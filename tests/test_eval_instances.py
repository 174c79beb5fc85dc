"""Mask and keypoint results read by detbench (loadRes / load_results, files and lists) against pycocotools (live)."""

from __future__ import annotations

import copy
import json
import random

import numpy as np
import pytest
from pycocotools.coco import COCO as PyCOCO
from pycocotools.cocoeval import COCOeval as PyCOCOeval

from detbench.data import DATA_DIR
from detbench.eval import COCO, COCOeval
from detbench.eval.loader import load_coco, load_results
from detbench.synthetic import make_keypoints_coco, make_segm_coco
from tests.test_eval_coco import assert_same_eval, quiet

SUBSET = DATA_DIR / "coco-val2014-100"
GT_FILE = SUBSET / "instances_val2014_100.json"
SEGM_FILE = SUBSET / "instances_val2014_fakesegm100_results.json"
BBOX_FILE = SUBSET / "instances_val2014_fakebbox100_results.json"


def _write(tmp_path, name, obj) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return str(path)


def _reference(gt_path: str, dt, kind: str):
    pg = quiet(PyCOCO, gt_path)
    pd = quiet(pg.loadRes, copy.deepcopy(dt) if isinstance(dt, list) else dt)
    ref = PyCOCOeval(pg, pd, kind)
    quiet(ref.evaluate)
    quiet(ref.accumulate)
    quiet(ref.summarize)
    return pd, ref


def _same_fields(pd, anns_dicts, arrays) -> None:
    # pycocotools' loadRes fields: bbox, area, id (and iscrowd where it sets one)
    pa = pd.dataset["annotations"]
    assert len(pa) == len(anns_dicts) == len(arrays)
    assert np.array_equal(arrays.bbox, np.array([np.asarray(a["bbox"], np.float64) for a in pa]).reshape(-1, 4))
    assert np.array_equal(arrays.area, np.array([float(a["area"]) for a in pa]))
    assert np.array_equal(arrays.ids, np.array([a["id"] for a in pa], np.float64))
    for a, b in zip(pa, anns_dicts):
        assert np.array_equal(np.asarray(a["bbox"], np.float64), np.asarray(b["bbox"], np.float64))
        assert a["area"] == b["area"] and a["id"] == b["id"]
        assert ("iscrowd" in a) == ("iscrowd" in b) and a.get("iscrowd") == b.get("iscrowd")


def _check(gt_path: str, dt_path: str, kind: str) -> None:
    dets = json.loads(open(dt_path).read())
    pd, ref = _reference(gt_path, dets, kind)
    for given in (dt_path, copy.deepcopy(dets), open(dt_path, "rb").read()):
        d_gt = COCO(gt_path)
        d_dt = d_gt.loadRes(given)
        arrays = d_dt.annotations
        E = COCOeval(d_gt, d_dt, kind)
        E.evaluate()
        E.accumulate()
        quiet(E.summarize)
        assert_same_eval(ref, E)
        assert np.array_equal(np.asarray(E.stats), ref.stats)
        _same_fields(pd, d_dt.dataset["annotations"], arrays)
        # evaluating again after the dicts exist reads them (same numbers)
        E2 = COCOeval(d_gt, d_dt, kind)
        E2.evaluate()
        E2.accumulate()
        assert_same_eval(ref, E2)
    # the array loader alone, and COCOeval on its CocoDataset objects
    ds_gt = load_coco(gt_path)
    ds_dt = load_results(dt_path, ds_gt)
    assert np.array_equal(ds_dt.annotations.bbox, arrays.bbox)
    assert np.array_equal(ds_dt.annotations.area, arrays.area)
    E = COCOeval(ds_gt, ds_dt, kind)
    E.evaluate()
    E.accumulate()
    assert_same_eval(ref, E)


def test_segm_results_coco_subset(tmp_path):
    _check(str(GT_FILE), str(SEGM_FILE), "segm")


@pytest.mark.parametrize("seed", [0, 1])
def test_segm_results_synthetic(tmp_path, seed):
    gt, dets = make_segm_coco(25, seed=seed, crowd=0.1)
    # some detections carry their own box (kept, like pycocotools; the first one has none)
    for d in dets[5::7]:
        d["bbox"] = [1.0, 2.0, 30.0, 40.0]
    _check(_write(tmp_path, "gt.json", gt), _write(tmp_path, "dt.json", dets), "segm")


@pytest.mark.parametrize("seed", [0, 1])
def test_keypoint_results_synthetic(tmp_path, seed):
    gt, dets = make_keypoints_coco(30, seed=seed)
    dets[3]["keypoints"] = [int(round(v)) for v in dets[3]["keypoints"]]  # integers where floats were
    _check(_write(tmp_path, "gt.json", gt), _write(tmp_path, "dt.json", dets), "keypoints")


def test_bbox_results_unchanged():
    pd, ref = _reference(str(GT_FILE), str(BBOX_FILE), "bbox")
    d_gt = COCO(str(GT_FILE))
    d_dt = d_gt.loadRes(str(BBOX_FILE))
    E = COCOeval(d_gt, d_dt, "bbox")
    E.evaluate()
    E.accumulate()
    assert_same_eval(ref, E)
    assert d_dt.annotations.extra.get("results_kind", "bbox") == "bbox"


def test_synthetic_generators_seeded():
    a = make_segm_coco(4, seed=3)
    b = make_segm_coco(4, seed=3)
    assert json.dumps(a) == json.dumps(b)
    assert json.dumps(make_keypoints_coco(4, seed=3)) == json.dumps(make_keypoints_coco(4, seed=3))
    assert json.dumps(make_segm_coco(4, seed=4)) != json.dumps(a)


# ------------------------------------------------------------------ bad input


def test_segm_on_box_results_is_named(tmp_path):
    d_gt = COCO(str(GT_FILE))
    with pytest.raises(ValueError, match=r"detection id \d+ .*only a box.*segm evaluation needs mask results"):
        COCOeval(d_gt, d_gt.loadRes(str(BBOX_FILE)), "segm").evaluate()
    gt, dets = make_keypoints_coco(5, seed=0)
    k_gt = COCO(gt)
    with pytest.raises(ValueError, match="keypoint results have no masks"):
        COCOeval(k_gt, k_gt.loadRes(dets), "segm").evaluate()
    s_gt, s_dets = make_segm_coco(5, seed=0)
    c = COCO(s_gt)
    with pytest.raises(ValueError, match="mask results have no keypoints"):
        COCOeval(c, c.loadRes(s_dets), "keypoints").evaluate()


def test_bad_mask_results(tmp_path):
    gt, dets = make_segm_coco(5, seed=0)
    g = _write(tmp_path, "gt.json", gt)
    d_gt = COCO(g)
    for as_file in (True, False):
        bad = copy.deepcopy(dets)
        bad[2]["segmentation"]["counts"] = "0~~~"
        src = _write(tmp_path, "dt.json", bad) if as_file else bad
        with pytest.raises(ValueError, match="detection id 3: corrupt compressed RLE"):
            d_gt.loadRes(src)
        bad = copy.deepcopy(dets)
        bad[4]["segmentation"]["size"] = [10, 10]
        src = _write(tmp_path, "dt.json", bad) if as_file else bad
        with pytest.raises(ValueError, match=r"detection id 5: RLE size \[10, 10\] disagrees with its image"):
            d_gt.loadRes(src)
        bad = copy.deepcopy(dets)
        del bad[6]["segmentation"]
        src = _write(tmp_path, "dt.json", bad) if as_file else bad
        with pytest.raises(ValueError, match=r"detection 6 \(id 7\) has no 'segmentation'"):
            d_gt.loadRes(src)


def test_bad_keypoint_results(tmp_path):
    gt, dets = make_keypoints_coco(5, seed=0)
    d_gt = COCO(_write(tmp_path, "gt.json", gt))
    for as_file in (True, False):
        bad = copy.deepcopy(dets)
        bad[1]["keypoints"] = bad[1]["keypoints"][:-1]
        src = _write(tmp_path, "dt.json", bad) if as_file else bad
        with pytest.raises(ValueError, match="detection id 2: 'keypoints' has 50 values"):
            d_gt.loadRes(src)
    # a whole file of 16-keypoint results against the 17 default sigmas
    short = [dict(d, keypoints=d["keypoints"][:48]) for d in dets]
    dt = d_gt.loadRes(_write(tmp_path, "dt.json", short))
    with pytest.raises(ValueError, match=r"detection id 1: 'keypoints' has 48 values, expected 51"):
        COCOeval(d_gt, dt, "keypoints").evaluate()


def test_bad_ground_truth_masks_from_file(tmp_path):
    gt, dets = make_segm_coco(5, seed=0)
    first = next(a for a in gt["annotations"] if isinstance(a["segmentation"], list))
    for poly, msg in (([1, 2, 3, 4, 5, 6, 7], "odd number"), ([1, 2, 3, 4], "at least 3")):
        g2 = copy.deepcopy(gt)
        next(a for a in g2["annotations"] if a["id"] == first["id"])["segmentation"] = [poly]
        d_gt = COCO(_write(tmp_path, "gt.json", g2))
        with pytest.raises(ValueError, match=rf"ground truth id {first['id']}: polygon 0 .*{msg}"):
            COCOeval(d_gt, d_gt.loadRes(dets), "segm").evaluate()
    g3 = copy.deepcopy(gt)
    g3["annotations"][0]["segmentation"] = {"size": [7, 7], "counts": "0"}
    d_gt = COCO(_write(tmp_path, "gt.json", g3))
    with pytest.raises(ValueError, match=rf"ground truth id {g3['annotations'][0]['id']}: RLE size"):
        COCOeval(d_gt, d_gt.loadRes(dets), "segm").evaluate()


# ------------------------------------------------------------ number parsing


def test_keypoint_numbers_exact():
    # msgspec reads the numbers; every one equal to json.loads' (bit for bit), from texts and from a results file
    from detbench.eval.instances import _keypoint_lists, typed_results

    rng = random.Random(0)
    items = []
    for _ in range(3000):
        vals = []
        for _ in range(rng.randint(0, 9)):
            r = rng.random()
            if r < 0.3:
                vals.append(round(rng.uniform(-1000, 1000), rng.randint(0, 4)))
            elif r < 0.5:
                vals.append(rng.randint(-(10**6), 10**6))
            elif r < 0.7:
                vals.append(rng.uniform(0, 1) * 10 ** rng.randint(-30, 30))
            else:
                vals.append(round(rng.uniform(0, 640), 2))
        items.append(json.dumps(vals).encode())
    items += [
        b"[1e5, 2E-3, -0, 0.000, 1.5e+2, -0.0]",
        b" [ 1 , 2 ] ",
        b"[]",
        b"[123456789012345678901234567890, 5e-324]",
    ]
    vals, off = _keypoint_lists(items, "annotation", True)
    ref = [np.asarray(json.loads(t), dtype=np.float64) for t in items]
    assert np.concatenate(ref).tobytes() == vals.tobytes()
    assert np.diff(off).tolist() == [r.size for r in ref]
    with pytest.raises(ValueError, match="annotation id 2: 'keypoints' must be a list of numbers"):
        _keypoint_lists([b"[1, 2, 3]", b"[true, 1, 2]"], "annotation", True)

    gt, dets = make_keypoints_coco(20, seed=5)
    dets[0]["keypoints"][3] = -0.0
    dets[1]["score"] = 1
    dets[2]["keypoints"][4] = 1e-7
    typed = typed_results(json.dumps(dets).encode())
    assert typed is not None and typed["kind"] == "keypoints"
    kv = np.concatenate([np.asarray(d["keypoints"], np.float64) for d in dets])
    assert kv.tobytes() == typed["kp_vals"].tobytes()
    assert np.array_equal(typed["score"], [d["score"] for d in dets])
    assert np.array_equal(typed["image_id"], [d["image_id"] for d in dets])
    assert np.array_equal(np.diff(typed["kp_off"]), [len(d["keypoints"]) for d in dets])
    # files outside the typed reader's case still load, with pycocotools' fields
    d_gt = COCO(gt)
    for obj in ([dict(dets[0], image_id=float(dets[0]["image_id"]))], {"annotations": dets[:2]}):
        ds = d_gt.loadRes(json.dumps(obj).encode())
        assert len(ds.annotations) == len(obj) if isinstance(obj, list) else 2


def test_box_results_with_masks_from_a_file(tmp_path):
    # Detectron-style results: bbox and segmentation in every detection (pycocotools' box branch: area w*h)
    from pycocotools import mask as M

    dets = json.loads(SEGM_FILE.read_text())
    for d in dets:
        d["bbox"] = M.toBbox(d["segmentation"]).tolist()
    gapped = copy.deepcopy(dets)
    del gapped[3]["segmentation"]  # one without a mask: pycocotools gives it its box polygon
    for case, expect_texts in ((dets, True), (gapped, False)):
        path = _write(tmp_path, "dt.json", case)
        pd, ref = _reference(str(GT_FILE), path, "segm")
        d_gt = COCO(str(GT_FILE))
        d_dt = d_gt.loadRes(path)
        assert ("segm_raw" in d_dt.annotations.extra) == expect_texts
        E = COCOeval(d_gt, d_dt, "segm")
        E.evaluate()
        E.accumulate()
        assert_same_eval(ref, E)
        _same_fields(pd, d_dt.dataset["annotations"], d_dt.annotations)


@pytest.mark.parametrize("zeros", ["none", "negative", "positive"])
def test_keypoint_row_extents_equal_numpy_rows(zeros):
    # the extents kernel against NumPy's row reductions (pycocotools' np.min / np.max of each row), bit for bit,
    # with -0.0 and 0.0 among the coordinates (the kernel then hands over to NumPy)
    from detbench.eval.instances import _row_extents

    rng = np.random.default_rng(4)
    kp = rng.uniform(-50, 700, (300, 51)).round(rng.integers(0, 3))
    kp[::7, 2::3] = 0.0
    if zeros != "none":
        z = -0.0 if zeros == "negative" else 0.0
        kp[5, 0], kp[5, 3], kp[9, 1], kp[9, 4] = z, 0.0, 0.0, z
        kp[5, 6:51:3] = 1.0
        kp[9, 7:51:3] = 1.0
    got = _row_extents(kp)
    x, y = kp[:, 0::3], kp[:, 1::3]
    for a, b in zip(got, (x.min(1), x.max(1), y.min(1), y.max(1))):
        assert a.tobytes() == b.tobytes()
