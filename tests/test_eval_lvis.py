"""LVISEval (federated LVIS evaluation) against lvis-api 0.5.3 (live), bbox and segm, on synthetic LVIS data."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest

from detbench.eval import LVIS, LVISEval, LVISResults
from detbench.eval.lvis_synthetic import make_lvis_dataset

np.float = float  # noqa: NPY001 - lvis-api 0.5.3 still uses np.float (removed in NumPy 1.24)
lvis = pytest.importorskip("lvis")

KEYS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR@300", "ARs@300", "ARm@300", "ARl@300"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    gt, dt = make_lvis_dataset(36, seed=3, n_categories=40, dets_per_image=40)
    path = tmp_path_factory.mktemp("lvis") / "gt.json"
    path.write_text(json.dumps(gt))
    dt_path = path.parent / "dt.json"
    dt_path.write_text(json.dumps(dt))
    return gt, dt, str(path), str(dt_path)


def _reference(gt_path, dt, iou_type, params=None, max_dets=300):
    ref_gt = lvis.LVIS(gt_path)
    ref = lvis.LVISEval(ref_gt, lvis.LVISResults(ref_gt, copy.deepcopy(dt), max_dets=max_dets), iou_type)
    for k, v in (params or {}).items():
        setattr(ref.params, k, v)
    with contextlib.redirect_stdout(io.StringIO()):
        ref.run()
    return ref


def _mine(gt, dt, iou_type, params=None, **kw):
    E = LVISEval(gt, dt, iou_type, **kw)
    for k, v in (params or {}).items():
        setattr(E.params, k, v)
    E.run()
    return E


def _assert_same(E, ref):
    assert E.eval["precision"].shape == ref.eval["precision"].shape
    np.testing.assert_allclose(E.eval["precision"], ref.eval["precision"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(E.eval["recall"], ref.eval["recall"], rtol=0, atol=1e-12)
    assert list(E.get_results()) == list(ref.results)
    for k, v in ref.results.items():
        assert abs(E.results[k] - v) <= 1e-12, (k, E.results[k], v)
    assert E.freq_groups == ref.freq_groups


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_equal_to_lvis_api(iou_type, seed, tmp_path):
    gt, dt = make_lvis_dataset(30, seed=seed, n_categories=30, dets_per_image=50)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    dt_before = copy.deepcopy(dt)
    E = _mine(str(path), dt, iou_type)
    assert dt == dt_before  # the results list is not modified (lvis-api's is)
    ref = _reference(str(path), dt, iou_type)
    _assert_same(E, ref)
    assert list(E.results) == KEYS
    assert (E.eval["precision"] > 0).any() and (E.eval["precision"] == -1).any()


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_inputs_of_every_kind(data, iou_type):
    gt, dt, gt_path, dt_path = data
    ref = _reference(gt_path, dt, iou_type)
    ref_gt = lvis.LVIS(gt_path)
    mine_gt = LVIS(gt_path)
    cases = [
        (gt_path, dt_path),
        (gt, dt),
        (json.dumps(gt).encode(), dt),
        (mine_gt, LVISResults(mine_gt, dt_path)),
        (ref_gt, dt),
        (gt_path, lvis.LVISResults(ref_gt, copy.deepcopy(dt))),
    ]
    for g, d in cases:
        _assert_same(_mine(g, d, iou_type), ref)


def test_ndarray_results(data):
    gt, dt, gt_path, _ = data
    id_of = {}
    rows = []
    for d in dt:
        rows.append([d["image_id"], *d["bbox"], d["score"], d["category_id"]])
        id_of[len(rows)] = d
    arr = np.array(rows)
    box_only = [{k: d[k] for k in ("image_id", "category_id", "bbox", "score")} for d in dt]
    _assert_same(_mine(gt_path, arr, "bbox"), _reference(gt_path, box_only, "bbox"))


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_mask_only_results(data, iou_type):
    # results without 'bbox': lvis-api takes the area and the box from the RLE
    gt, dt, gt_path, _ = data
    masks = [{k: d[k] for k in ("image_id", "category_id", "segmentation", "score")} for d in dt]
    _assert_same(_mine(gt_path, masks, iou_type), _reference(gt_path, masks, iou_type))


def test_box_results_segm_from_polygons_when_mixed(data):
    # a few results without a mask: lvis-api rasterises their box polygon
    gt, dt, gt_path, _ = data
    mixed = [dict(d) for d in dt]
    for d in mixed[::7]:
        del d["segmentation"]
    _assert_same(_mine(gt_path, mixed, "segm"), _reference(gt_path, mixed, "segm"))


def test_segm_multi_polygon_and_rle_ground_truths(data, tmp_path):
    # ground truths with two polygons (merged) and with uncompressed / compressed RLE masks
    from detbench.masks import fr_py_objects, merge

    gt, dt, _, _ = data
    gt = copy.deepcopy(gt)
    size = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    for k, a in enumerate(gt["annotations"]):
        x, y, w, h = a["bbox"]
        if k % 5 == 1:
            a["segmentation"].append([x, y, x + w / 3, y, x, y + h / 3])
        elif k % 5 == 2:
            H, W = size[a["image_id"]]
            rle = merge(fr_py_objects(a["segmentation"], H, W))
            if k % 10 == 2:
                a["segmentation"] = {"size": [H, W], "counts": rle["counts"].decode()}
            else:  # uncompressed: the runs as a list
                from detbench.masks import rle_from_string

                a["segmentation"] = {"size": [H, W], "counts": rle_from_string(rle["counts"], H, W).tolist()}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    _assert_same(_mine(str(path), dt, "segm"), _reference(str(path), dt, "segm"))


@pytest.mark.parametrize(
    "params",
    [
        {"iou_thrs": np.array([0.3, 0.5, 0.75])},
        {"area_rng": [[0, 1e10], [0, 2000], [2000, 1e10]], "area_rng_lbl": ["all", "small", "large"]},
        {"rec_thrs": np.linspace(0, 1, 11)},
    ],
)
def test_params_equal_to_lvis_api(data, params):
    gt, dt, gt_path, _ = data
    _assert_same(_mine(gt_path, dt, "bbox", params), _reference(gt_path, dt, "bbox", params))


def test_subsets_and_max_dets(data):
    gt, dt, gt_path, _ = data
    params = {"img_ids": [5, 1, 9, 12, 30, 31], "cat_ids": [1, 2, 3, 5, 8, 13, 21, 34, 39, 40]}
    ref = _reference(gt_path, dt, "bbox", params, max_dets=20)
    mine_gt = LVIS(gt_path)
    _assert_same(_mine(mine_gt, LVISResults(mine_gt, dt, max_dets=20), "bbox", params), ref)
    ref = _reference(gt_path, dt, "bbox", max_dets=-1)
    _assert_same(_mine(mine_gt, LVISResults(mine_gt, dt, max_dets=-1), "bbox"), ref)


def test_thread_counts_agree(data):
    gt, dt, gt_path, _ = data
    a = _mine(gt_path, dt, "bbox", threads=1)
    b = _mine(gt_path, dt, "bbox", threads=2)
    assert np.array_equal(a.eval["precision"], b.eval["precision"])
    assert np.array_equal(a.eval["recall"], b.eval["recall"])


def test_print_results_like_lvis_api(data):
    gt, dt, gt_path, _ = data
    ref = _reference(gt_path, dt, "bbox")
    E = _mine(gt_path, dt, "bbox")
    outs = []
    for obj in (ref, E):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            obj.print_results()
        outs.append(buf.getvalue())
    assert outs[0] == outs[1]
    assert str(E) == outs[1].rstrip("\n")


def test_accumulate_with_new_rec_thrs(data):
    gt, dt, gt_path, _ = data
    E = _mine(gt_path, dt, "bbox")
    E.params.rec_thrs = np.linspace(0, 1, 21)
    E.accumulate()
    E.summarize()
    _assert_same(E, _reference(gt_path, dt, "bbox", {"rec_thrs": np.linspace(0, 1, 21)}))


def test_not_exhaustive_and_negative_rules():
    # one image, category 1 present (one ground truth), 2 negative, 3 unverified, 4 not exhaustive
    gt = {
        "images": [
            {"id": 1, "height": 100, "width": 100, "neg_category_ids": [2], "not_exhaustive_category_ids": [1, 4]}
        ],
        "categories": [{"id": c, "frequency": "rcfr"[c - 1]} for c in (1, 2, 3, 4)],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], "area": 1600}],
    }
    dt = [
        {"image_id": 1, "category_id": 1, "bbox": [60, 60, 20, 20], "score": 0.9},  # unmatched, not exhaustive
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], "score": 0.8},  # the match
        {"image_id": 1, "category_id": 2, "bbox": [10, 10, 40, 40], "score": 0.7},  # negative: counted (no gt)
        {"image_id": 1, "category_id": 3, "bbox": [10, 10, 40, 40], "score": 0.95},  # unverified: dropped
    ]
    E = _mine(gt, dt, "bbox")
    assert E.results["AP"] == pytest.approx(1.0, abs=1e-12)  # the unmatched not-exhaustive one is ignored
    assert E.eval["precision"][:, :, 1:, :].max() == -1  # categories 2, 3, 4: no positives
    gt["images"][0]["not_exhaustive_category_ids"] = []
    assert _mine(gt, dt, "bbox").results["AP"] < 0.6  # now a false positive ranked first


def test_get_results_before_run_warns(data):
    _, dt, gt_path, _ = data
    with pytest.warns(UserWarning, match="run"):
        assert LVISEval(gt_path, dt, "bbox").get_results() == {}


def _gt_with(data, fn):
    gt = copy.deepcopy(data[0])
    fn(gt)
    return gt


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda g: g["categories"][3].pop("frequency"), "category 4 has frequency None"),
        (lambda g: g["categories"][0].update(frequency="x"), "category 1 has frequency 'x'"),
        (lambda g: g["images"][2].pop("neg_category_ids"), "image 2 .id 3.: 'neg_category_ids' must be a list"),
        (lambda g: g["images"][0].update(not_exhaustive_category_ids=5), "'not_exhaustive_category_ids' must"),
        (lambda g: g["annotations"][4].update(id=g["annotations"][0]["id"]), "duplicate annotation id"),
        (lambda g: g["annotations"][2].update(category_id=999), "category_id 999"),
    ],
)
def test_bad_ground_truth(data, change, match):
    gt = _gt_with(data, change)
    with pytest.raises(ValueError, match=match):
        LVISEval(gt, data[1], "bbox").run()


def _evaluated(gt, dets):
    # the first detection the federated rule keeps (its category has a ground truth in its image)
    present = {(a["image_id"], a["category_id"]) for a in gt["annotations"] if a["area"] > 0}
    return next(k for k, d in enumerate(dets) if (d["image_id"], d["category_id"]) in present)


def test_bad_results(data, tmp_path):
    gt, dt, gt_path, _ = data
    bad = copy.deepcopy(dt[:50])
    bad[7]["category_id"] = 12345
    with pytest.raises(ValueError, match="category_id 12345"):
        LVISEval(gt_path, bad, "bbox")
    bad = copy.deepcopy(dt[:50])
    bad[3]["image_id"] = 777
    with pytest.raises(ValueError, match="image_id 777"):
        LVISEval(gt_path, bad, "bbox")
    bad = copy.deepcopy(dt[:50])
    bad[2]["score"] = float("nan")
    with pytest.raises(ValueError, match="score"):
        LVISEval(gt_path, bad, "bbox")
    boxes = [{k: d[k] for k in ("image_id", "category_id", "bbox", "score")} for d in dt[:50]]
    with pytest.raises(ValueError, match="only a box"):
        LVISEval(gt_path, boxes, "segm").run()
    k = _evaluated(gt, dt[:50])  # masks are read for evaluated detections
    bad = copy.deepcopy(dt[:50])
    bad[k]["segmentation"]["counts"] = "\x7f\x7f"
    with pytest.raises(ValueError, match=f"detection id {k + 1}: corrupt"):
        LVISEval(gt_path, bad, "segm").run()
    bad = copy.deepcopy(dt[:50])
    bad[k]["segmentation"]["size"] = [5, 5]
    with pytest.raises(ValueError, match="disagrees with its image"):
        LVISEval(gt_path, bad, "segm").run()
    for field, value, match in [
        ("counts", "\x7f\x7f", "corrupt compressed RLE"),
        ("counts", "é", "corrupt compressed RLE"),
        ("counts", "12", "RLE runs add up to"),
        ("size", [5, 5], "RLE size .5, 5. disagrees with its image"),
    ]:  # the same problems read from a file (the one-pass msgspec path)
        bad = copy.deepcopy(dt[:50])
        bad[k]["segmentation"][field] = value
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=f"detection id {k + 1}: {match}"):
            LVISEval(gt_path, str(path), "segm").run()
    bad = copy.deepcopy(dt[:50])
    del bad[9]["segmentation"]
    del bad[0]["bbox"]
    with pytest.raises(ValueError, match="detection 9"):
        LVISEval(gt_path, bad, "bbox")


def test_bad_polygon_and_params(data):
    gt = _gt_with(data, lambda g: g["annotations"][3].update(segmentation=[[1.0, 2.0, 3.0]]))
    with pytest.raises(ValueError, match="ground truth id 4"):
        LVISEval(gt, data[1], "segm").run()
    with pytest.raises(ValueError, match="iou_type"):
        LVISEval(data[0], data[1], "keypoints")
    E = LVISEval(data[0], data[1], "bbox")
    E.params.use_cats = 0
    with pytest.raises(ValueError, match="use_cats"):
        E.run()
    E = LVISEval(data[0], data[1], "bbox")
    E.params.img_ids = [1, 2, 4242]
    with pytest.raises(ValueError, match="image 4242"):
        E.run()
    E = LVISEval(data[0], data[1], "bbox")
    E.params.cat_ids = [1, 1, 2]
    with pytest.raises(ValueError, match="duplicates"):
        E.run()
    with pytest.raises(ValueError, match="max_dets"):
        LVISResults(data[0], data[1], max_dets=2.5)


def test_empty_results_and_lvis_api_index(data):
    gt, _, gt_path, _ = data
    E = _mine(gt_path, [], "bbox")
    assert E.results["AP"] == 0.0
    mine, ref = LVIS(gt_path), lvis.LVIS(gt_path)
    assert mine.get_img_ids() == ref.get_img_ids() and mine.get_cat_ids() == ref.get_cat_ids()
    img_ids = [7, 3, 11]
    assert mine.get_ann_ids(img_ids=img_ids) == ref.get_ann_ids(img_ids=img_ids)
    assert mine.get_ann_ids(img_ids=img_ids, cat_ids=[1, 2, 3, 4, 5]) == ref.get_ann_ids(
        img_ids=img_ids, cat_ids=[1, 2, 3, 4, 5]
    )
    ids = mine.get_ann_ids(img_ids=[2])
    assert mine.load_anns(ids) == ref.load_anns(ids)
    assert mine.load_cats([3, 1]) == ref.load_cats([3, 1]) and mine.load_imgs([2]) == ref.load_imgs([2])


def test_cli_protocol_lvis(data, tmp_path, capsys):
    from detbench.eval.cli import main

    gt, dt, gt_path, dt_path = data
    out = tmp_path / "res.json"
    assert main([gt_path, dt_path, "--protocol", "lvis", "--iou-type", "segm", "--out", str(out)]) == 0
    ref = _reference(gt_path, dt, "segm")
    printed = capsys.readouterr().out
    assert "catIds=  r]" in printed
    saved = json.loads(out.read_text())
    assert saved["protocol"] == "lvis" and saved["iou_type"] == "segm"
    for k, v in ref.results.items():
        assert abs(saved["results"][k] - v) <= 1e-12
    assert main([gt_path, dt_path, "--protocol", "lvis", "--max-dets", "1", "2"]) == 2
    assert "one number" in capsys.readouterr().err


def test_cli_lvis_per_class_table_and_tide(data, tmp_path, capsys):
    import pandas as pd

    from detbench.eval.cli import main

    gt, dt, gt_path, dt_path = data
    out = tmp_path / "table.csv"
    assert main([gt_path, dt_path, "--protocol", "lvis", "--per-class", "--tide", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "TIDE error breakdown" in printed
    E = _mine(gt_path, dt, "bbox")
    expected = E.to_dataframe()
    table = pd.read_csv(out)
    assert len(table) == len(expected) and list(table.columns)[: len(expected.columns)] == list(expected.columns)
    np.testing.assert_allclose(table["AP"].to_numpy(float), expected["AP"].to_numpy(float), rtol=0, atol=1e-12)
