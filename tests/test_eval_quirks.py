"""COCOeval's defaults reproduce pycocotools' quirks (live pycocotools), warn when one changes a number,
and ``pycocotools_quirks=False`` corrects them; VOC07's two 11-point samplings."""

from __future__ import annotations

import contextlib
import copy
import io
import warnings

import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval as PyCOCOeval

from detbench.eval import COCOeval, average_precision, evaluate_pr
from tests.test_eval_coco import assert_same_eval, make_coco, make_edge_dataset, quiet


def _toy(first_id: int) -> tuple[dict, list]:
    # three images, one object each; every detection is correct
    gt = {
        "images": [{"id": i} for i in (1, 2, 3)],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {"id": first_id + k, "image_id": k + 1, "category_id": 1, "bbox": [10, 10, 20 + k, 20], "area": 400 + k}
            | {"iscrowd": 0}
            for k in range(3)
        ],
    }
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [10, 10, 21, 20], "score": 0.8},
        {"image_id": 3, "category_id": 1, "bbox": [10, 10, 22, 20], "score": 0.7},
        {"image_id": 3, "category_id": 1, "bbox": [60, 60, 22, 20], "score": 0.95},
    ]
    return gt, dets


def _run(gt, dets, setup=None, summarize=True, **kw):
    c_gt = make_coco(gt, "pycocotools")
    c_dt = quiet(c_gt.loadRes, copy.deepcopy(dets))
    ref = PyCOCOeval(c_gt, c_dt, "bbox")
    ours = COCOeval(c_gt, c_dt, "bbox", cache=False, **kw)
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


def test_gt_id_zero_default_is_pycocotools_and_warns():
    gt, dets = _toy(0)
    with pytest.warns(UserWarning, match=r"annotation id 0.*pycocotools_quirks=False"):
        ref, ours = _run(gt, dets)
    assert_same_eval(ref, ours)
    assert np.array_equal(ours.stats, ref.stats)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, fixed = _run(gt, dets, pycocotools_quirks=False)
        _, shifted = _run(*_toy(1))  # same set with ids from 1: no quirk, no warning
    assert np.array_equal(fixed.stats, shifted.stats)
    assert fixed.stats[0] > ref.stats[0]


def test_detection_id_zero_default_is_pycocotools():
    gt, dets = _toy(1)
    c_gt = make_coco(gt, "pycocotools")
    c_dt = quiet(c_gt.loadRes, [dict(d) for d in dets + dets[:1]])  # a duplicate detection on image 1
    for ann in c_dt.dataset["annotations"]:
        ann["id"] -= 1
    quiet(c_dt.createIndex)
    ref = PyCOCOeval(c_gt, c_dt, "bbox")
    quiet(ref.evaluate)
    quiet(ref.accumulate)
    ours = COCOeval(c_gt, c_dt, "bbox", cache=False)
    with pytest.warns(UserWarning, match="annotation id 0"):
        ours.evaluate()
    ours.accumulate()
    assert_same_eval(ref, ours)


def test_duplicate_ids_default_is_pycocotools_and_warns():
    gt, dets = make_edge_dataset(21)
    for ann in gt["annotations"][1:3]:
        ann["id"] = gt["annotations"][0]["id"]
    with pytest.warns(UserWarning, match=r"duplicate annotation ids.*pycocotools_quirks=False"):
        ref, ours = _run(gt, dets)
    assert_same_eval(ref, ours)
    assert np.array_equal(ours.stats, ref.stats)


def test_no_warning_without_quirks_in_play():
    gt, dets = make_edge_dataset(5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref, ours = _run(gt, dets)
        _run(gt, dets, lambda p: setattr(p, "maxDets", [1, 10, 100, 300]))
    assert np.array_equal(ours.stats, ref.stats)


def test_stats0_maxdets_default_is_pycocotools_and_warns():
    gt, dets = make_edge_dataset(4)

    def setup(p):
        p.maxDets = [1, 3, 150]

    # pycocotools' summarize: stats[0] at maxDets=100 (absent: -1)
    c_gt = make_coco(gt, "pycocotools")
    ref = PyCOCOeval(c_gt, quiet(c_gt.loadRes, copy.deepcopy(dets)), "bbox")
    setup(ref.params)
    quiet(ref.evaluate)
    quiet(ref.accumulate)
    quiet(ref.summarize)
    ours = COCOeval(c_gt, quiet(c_gt.loadRes, copy.deepcopy(dets)), "bbox")
    setup(ours.params)
    ours.evaluate()
    ours.accumulate()
    with pytest.warns(UserWarning, match=r"stats\[0\] at maxDets=100.*pycocotools_quirks=False"):
        quiet(ours.summarize)
    assert np.array_equal(ours.stats, ref.stats)
    assert ours.stats[0] == -1
    _, fixed = _run(gt, dets, setup, pycocotools_quirks=False)
    assert fixed.stats[0] > -1
    # fewer than 3 maxDets: pycocotools raises IndexError; so does the default, naming the option
    _, short = _run(gt, dets, lambda p: setattr(p, "maxDets", [10]), summarize=False)
    with pytest.raises(IndexError, match="pycocotools_quirks=False"):
        short.summarize()


def test_nocats_catids_mutation_like_pycocotools():
    gt, dets = make_edge_dataset(9)
    ref, ours = _run(gt, dets, lambda p: setattr(p, "useCats", 0), summarize=False)
    assert list(ref.params.catIds) == list(ours.params.catIds) == [-1]
    _, fixed = _run(gt, dets, lambda p: setattr(p, "useCats", 0), summarize=False, pycocotools_quirks=False)
    assert fixed.params.catIds != [-1]


def test_quirks_option_validation():
    gt, dets = _toy(1)
    c_gt = make_coco(gt, "pycocotools")
    c_dt = quiet(c_gt.loadRes, dets)
    with pytest.raises(ValueError, match="pycocotools_quirks"):
        COCOeval(c_gt, c_dt, pycocotools_quirks="no")
    assert COCOeval(c_gt, c_dt).pycocotools_quirks is True
    assert COCOeval(c_gt, c_dt, pycocotools_quirks=False, compat="pycocotools").pycocotools_quirks is True


# ------------------------------------------------------------------ VOC07 sampling


def _ports_voc07(rec, prec):
    # the Python ports' loop (py-faster-rcnn voc_eval, use_07_metric=True), written here as the reference
    ap = 0.0
    for t in np.arange(0.0, 1.1, 0.1):
        ap += (0.0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])) / 11.0
    return ap


def test_voc07_points_tenths_and_arange():
    # 5 positives: recall reaches exactly 0.6 at precision 1, then 0.8 at precision 4/6
    rec = np.array([0.2, 0.4, 0.6, 0.6, 0.6, 0.8])
    prec = np.array([1.0, 1.0, 1.0, 0.75, 0.6, 4 / 6])
    tenths = average_precision(rec, prec, "voc07")
    ports = average_precision(rec, prec, "voc07", voc07_points="arange")
    assert ports == _ports_voc07(rec, prec)
    assert tenths != ports and tenths > ports
    with pytest.raises(ValueError, match="voc07_points"):
        average_precision(rec, prec, "voc07", voc07_points="tens")
    # the same curve through evaluate_pr: one image, 5 ground truths
    g = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10], [60, 0, 70, 10], [80, 0, 90, 10]], float)
    far = [[200, 200, 210, 210], [300, 300, 310, 310]]
    d = np.array([g[0], g[1], g[2], far[0], far[1], g[3]], float)
    kw = dict(
        gt_boxes=g,
        gt_labels=np.zeros(5, int),
        gt_images=np.zeros(5, int),
        det_boxes=d,
        det_scores=np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]),
        det_labels=np.zeros(6, int),
        det_images=np.zeros(6, int),
    )
    r_t = evaluate_pr(None, **kw)
    r_a = evaluate_pr(None, voc07_points="arange", **kw)
    assert r_t.ap_voc07[0, 0] == tenths
    assert r_a.ap_voc07[0, 0] == ports
    assert r_t.ap_voc[0, 0] == r_a.ap_voc[0, 0]


def test_cli_no_quirks_flag(tmp_path):
    from detbench.data import DATA_DIR
    from detbench.eval.cli import main

    data = DATA_DIR / "coco-val2014-100"
    gt, dt = str(data / "instances_val2014_100.json"), str(data / "instances_val2014_fakebbox100_results.json")
    for extra in ([], ["--no-quirks"]):
        out = tmp_path / f"out{len(extra)}.json"
        with contextlib.redirect_stdout(io.StringIO()):
            assert main([gt, dt, "--out", str(out), *extra]) == 0
        assert out.exists()
