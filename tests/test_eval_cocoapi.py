"""detbench.eval.COCO, the pycocotools.coco.COCO drop-in.

The pycocotools differential tests of tests/test_eval_coco.py run here a second
time with detbench's side given detbench's ``COCO`` objects (``VIA =
"detbench"``); where a test hands the same objects to pycocotools' COCOeval,
pycocotools evaluates through the drop-in's index API.
"""

from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pytest
from pycocotools.coco import COCO as PyCOCO

import tests.test_eval_coco as base
from detbench.eval import COCO, COCOeval
from tests.test_eval_coco import (  # noqa: F401 - collected again here, through detbench's COCO
    real_coco,
    test_annotation_id_zero,
    test_cache_reuse_and_invalidation,
    test_detection_id_zero_compat,
    test_duplicate_gt_ids_compat_and_warning,
    test_empty_detections_and_empty_gt,
    test_eval_imgs_match_pycocotools,
    test_iou_threshold_zero_and_one,
    test_many_thresholds_and_odd_max_dets,
    test_more_than_max_dets_in_one_group_then_other_categories,
    test_per_class_table,
    test_random_datasets_match_pycocotools,
    test_real_coco_subset_gives_published_stats,
    test_real_coco_subset_matches_live_pycocotools,
    test_stats0_maxdets,
    test_string_and_mixed_image_ids,
    test_summarize_prints_like_pycocotools,
    test_threads_give_identical_arrays,
    test_unsorted_recall_thresholds_match_pycocotools,
)

GT, DT = base.GT_FILE, base.DT_FILE


@pytest.fixture(scope="module", autouse=True)
def through_detbench_coco():
    base.VIA = "detbench"
    yield
    base.VIA = "pycocotools"


def quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def both():
    p = quiet(PyCOCO, GT)
    return p, quiet(p.loadRes, DT), COCO(GT)


def test_index_api_matches_pycocotools(both):
    p, _, g = both
    assert g.getImgIds() == p.getImgIds()
    assert g.getCatIds() == p.getCatIds()
    assert g.getCatIds(catNms=["person", "dog"]) == p.getCatIds(catNms=["person", "dog"])
    assert g.getCatIds(supNms="animal") == p.getCatIds(supNms="animal")
    assert g.getCatIds(catIds=[3, 1, 99]) == p.getCatIds(catIds=[3, 1, 99])
    assert g.getImgIds(catIds=[1, 18]) == p.getImgIds(catIds=[1, 18])
    assert g.getImgIds(imgIds=p.getImgIds()[:7], catIds=1) == p.getImgIds(imgIds=p.getImgIds()[:7], catIds=1)
    imgs = p.getImgIds()[:5]
    assert g.getAnnIds(imgIds=imgs, iscrowd=0) == p.getAnnIds(imgIds=imgs, iscrowd=0)
    assert g.getAnnIds(imgIds=imgs[0]) == p.getAnnIds(imgIds=imgs[0])
    assert g.getAnnIds(catIds=[1], areaRng=[0, 1000]) == p.getAnnIds(catIds=[1], areaRng=[0, 1000])
    assert g.getAnnIds(iscrowd=True) == p.getAnnIds(iscrowd=True)
    assert g.getAnnIds() == p.getAnnIds()
    ids = p.getAnnIds()[:3]
    assert g.loadAnns(ids) == p.loadAnns(ids)
    assert g.loadAnns(ids[0]) == p.loadAnns(ids[0])
    assert g.loadAnns(np.int64(ids[0])) is None is p.loadAnns(np.int64(ids[0]))  # pycocotools' quirk
    assert g.loadImgs(imgs[1]) == p.loadImgs(imgs[1])
    assert g.loadCats(g.getCatIds()) == p.loadCats(p.getCatIds())
    assert g.dataset == p.dataset
    assert g.anns == p.anns and g.imgs == p.imgs and g.cats == p.cats
    assert dict(g.imgToAnns) == dict(p.imgToAnns) and dict(g.catToImgs) == dict(p.catToImgs)


def test_index_is_lazy():
    g = COCO(GT)
    assert g._dicts is None and not g._index
    g.loadCats(1)
    g.getImgIds()
    assert g._dicts is None  # images/categories come from the load, the annotations were not decoded
    g.loadAnns(g.getAnnIds()[:1])
    assert g._dicts is not None and "anns" in g._index


@pytest.mark.parametrize("form", ["path", "list", "ndarray", "bytes", "dict"])
def test_load_res_forms_match_pycocotools(both, form):
    p, pr, g = both
    dets = json.load(open(DT))
    src = {
        "path": DT,
        "list": dets,
        "ndarray": np.array([[d["image_id"], *d["bbox"], d["score"], d["category_id"]] for d in dets]),
        "bytes": open(DT, "rb").read(),
        "dict": {"annotations": dets},
    }[form]
    before = json.dumps(dets)
    r = g.loadRes(src)
    assert json.dumps(dets) == before  # the caller's dicts are not modified
    ref = pr if form != "ndarray" else quiet(p.loadRes, src)
    assert r.dataset["annotations"] == ref.dataset["annotations"]
    assert r.anns == ref.anns and dict(r.imgToAnns) == dict(ref.imgToAnns)
    assert r.getImgIds() == ref.getImgIds() and r.getCatIds() == ref.getCatIds()
    assert r.cats == ref.cats and r.cats[1] is not g.cats[1]
    E = COCOeval(g, r, "bbox")
    E.evaluate()
    E.accumulate()
    quiet(E.summarize)
    assert np.array_equal(E.stats, np.array(base.PUBLISHED))


def test_pycocotools_cocoeval_runs_on_the_drop_in(both):
    from pycocotools.cocoeval import COCOeval as PyCOCOeval

    g = COCO(GT)
    r = g.loadRes(DT)
    E = PyCOCOeval(g, r, "bbox")
    quiet(E.evaluate)
    quiet(E.accumulate)
    quiet(E.summarize)
    assert np.array_equal(E.stats, np.array(base.PUBLISHED))


def test_edits_to_the_dicts_are_evaluated(both):
    g = COCO(GT)
    r = g.loadRes(DT)
    E = COCOeval(g, r, "bbox")
    E.evaluate()
    E.accumulate()
    before = E.eval["precision"].copy()
    for a in r.dataset["annotations"]:  # the dicts exist now: they are the source of truth, as in pycocotools
        a["score"] = 1.0 - a["score"]
    r.dataset["annotations"] = list(r.dataset["annotations"])
    E = COCOeval(g, r, "bbox")
    E.evaluate()
    E.accumulate()
    assert not np.array_equal(E.eval["precision"], before)


def test_empty_and_assigned_dataset():
    c = COCO()
    assert c.dataset == {} and c.getImgIds() == []
    c.dataset = json.load(open(GT))
    c.createIndex()
    assert len(c.getImgIds()) == 100 and len(c.anns) == 839
    r = c.loadRes(DT)
    E = COCOeval(c, r, "bbox")
    E.evaluate()
    E.accumulate()
    quiet(E.summarize)
    assert np.array_equal(E.stats, np.array(base.PUBLISHED))


def test_bad_input_errors(tmp_path):
    g = COCO(GT)
    with pytest.raises(ValueError, match="annotation_file: expected a path"):
        COCO([1, 2])
    with pytest.raises(ValueError, match="cannot read"):
        COCO(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('[{"image_id": 42, "category_id": 1, "bbox": [1, 2, 3, 4], "score": "0.9"}]')
    with pytest.raises(ValueError, match=r"annotation 0: score must be a number"):
        g.loadRes(str(bad))
    with pytest.raises(ValueError, match="results must be a JSON list"):
        g.loadRes({"info": {}})


def test_results_file_changed_after_loading(tmp_path):
    g = COCO(GT)
    f = tmp_path / "dt.json"
    f.write_bytes(open(DT, "rb").read())
    r = g.loadRes(str(f))
    f.write_text("[]")
    os.utime(f, ns=(1, 1))
    with pytest.raises(ValueError, match="changed since it was loaded"):
        r.dataset


def test_failed_load_leaves_nothing_half_loaded(tmp_path):
    g = COCO(GT)
    before = (g.getImgIds(), g.getCatIds(), len(g.annotations))
    rows = json.load(open(DT))
    rows[-1] = dict(rows[-1], bbox=[1, 2, 3])
    f = tmp_path / "dt.json"
    f.write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=r"annotation 733: bbox must be a list of 4 numbers"):
        g.loadRes(str(f))
    with pytest.raises(ValueError, match=r"annotation 733: bbox must be a list of 4 numbers"):
        g.loadRes(rows)
    assert (g.getImgIds(), g.getCatIds(), len(g.annotations)) == before
    assert g._dicts is None and "anns" not in g._index  # the failed loads decoded nothing on the ground truth
    r = g.loadRes(DT)  # and it still works
    E = COCOeval(g, r, "bbox")
    E.evaluate()
    E.accumulate()
    quiet(E.summarize)
    assert np.array_equal(E.stats, np.array(base.PUBLISHED))
    f.write_text(json.dumps(json.load(open(GT)))[:-3])
    with pytest.raises(ValueError, match=r"truncated"):
        COCO(str(f))
