"""detbench.eval.loader: COCO JSON straight to arrays, with named validation errors."""

from __future__ import annotations

import copy
import json
import os

import numpy as np
import pytest

from detbench.data import DATA_DIR
from detbench.eval import CocoDataset, load_coco, load_results
from detbench.eval.loader import annotations_of, positions, sorted_unique_ids

DATA = str(DATA_DIR / "coco-val2014-100")  # the subset shipped as package data
GT = os.path.join(DATA, "instances_val2014_100.json")
DT = os.path.join(DATA, "instances_val2014_fakebbox100_results.json")

BASE = {
    "images": [{"id": 1}, {"id": 2}],
    "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    "annotations": [
        {"id": 10, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 90.0, "iscrowd": 0},
        {"id": 11, "image_id": 2, "category_id": 2, "bbox": [5, 5, 2, 3]},
    ],
}
DETS = [
    {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
    {"image_id": 2, "category_id": 2, "bbox": [1, 1, 4, 5], "score": 0.3},
]


def gt_with(**changes):
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        kind, idx, key = path.split("__")
        if value is KeyError:
            del data[kind][int(idx)][key]
        else:
            data[kind][int(idx)][key] = value
    return data


def test_real_file_arrays_match_json():
    ds = load_coco(GT)
    raw = json.load(open(GT))
    anns = raw["annotations"]
    a = ds.annotations
    assert len(a) == len(anns) == 839
    assert np.array_equal(a.bbox, np.array([x["bbox"] for x in anns], float))
    assert np.array_equal(a.area, np.array([x["area"] for x in anns], float))
    assert np.array_equal(a.iscrowd, np.array([x["iscrowd"] for x in anns], bool))
    assert a.iscrowd.sum() == 9
    assert ds.getImgIds() == [im["id"] for im in raw["images"]]
    assert ds.category_names[1] == "person"
    dt = ds.load_results(DT)
    assert len(dt.annotations) == 734
    res = json.load(open(DT))
    assert np.array_equal(dt.annotations.score, np.array([r["score"] for r in res]))
    w, h = dt.annotations.bbox[:, 2], dt.annotations.bbox[:, 3]
    assert np.array_equal(dt.annotations.area, w * h)
    assert dt.annotations.ids.tolist() == list(range(1, 735))
    assert "CocoDataset(results" in repr(dt)


def test_defaults_for_area_and_iscrowd():
    ds = load_coco(copy.deepcopy(BASE))
    assert ds.annotations.area.tolist() == [90.0, 6.0]
    assert ds.annotations.iscrowd.tolist() == [False, False]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"annotations__0__bbox": [0, 0, 10]}, "bbox must be a list of 4 numbers"),
        ({"annotations__0__bbox": "0 0 1 1"}, "bbox must be a list of 4 numbers"),
        ({"annotations__0__bbox": [0, 0, "a", 1]}, "bbox must be 4 numbers"),
        ({"annotations__1__bbox": [0, 0, -1, 5]}, "negative width or height"),
        ({"annotations__1__bbox": [0, 0, float("nan"), 5]}, "non-finite"),
        ({"annotations__0__image_id": KeyError}, "missing the key 'image_id'"),
        ({"annotations__1__category_id": KeyError}, "missing the key 'category_id'"),
        ({"annotations__0__id": KeyError}, "missing the key 'id'"),
        ({"annotations__0__bbox": KeyError}, "missing the key 'bbox'"),
        ({"annotations__0__image_id": 7}, "image_id 7, which is not in the ground truth's images"),
        ({"annotations__1__category_id": 9}, "category_id 9, which is not in the ground truth's categories"),
        ({"annotations__1__id": 10}, "duplicate annotation id 10"),
        ({"annotations__0__iscrowd": 2}, "iscrowd must be 0 or 1"),
        ({"annotations__0__area": float("inf")}, "area is inf"),
        ({"images__1__id": 1}, "duplicate image id 1"),
        ({"categories__1__id": 1}, "duplicate category id 1"),
        ({"categories__0__id": KeyError}, "category 0 has no 'id'"),
    ],
)
def test_ground_truth_errors_name_the_problem(change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        load_coco(gt_with(**change))


def test_ground_truth_structure_errors(tmp_path):
    with pytest.raises(ValueError, match="missing the top-level key 'categories'"):
        load_coco({"images": [], "annotations": []})
    with pytest.raises(ValueError, match="must be a JSON object"):
        load_coco([1, 2])
    with pytest.raises(ValueError, match="'images' must be a list"):
        load_coco({"images": {}, "annotations": [], "categories": []})
    f = tmp_path / "bad.json"
    f.write_text('{"images": [}')
    with pytest.raises(ValueError, match=r"bad\.json: malformed JSON at line 1 column 13"):
        load_coco(str(f))
    with pytest.raises(ValueError, match="cannot read"):
        load_coco(str(tmp_path / "nope.json"))
    with pytest.raises(ValueError, match="is not a JSON object"):
        load_coco({"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": [3]})


@pytest.mark.parametrize(
    "det, message",
    [
        ({"category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}, "missing the key 'image_id'"),
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}, "missing the key 'score'"),
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": float("nan")}, "score is nan"),
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": None}, "score must be a number"),
        ({"image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}, "not in the ground truth's images"),
        ({"image_id": 1, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 0.5}, "not in the ground truth's categories"),
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1, 1], "score": 0.5}, "bbox must be a list of 4"),
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, -2], "score": 0.5}, "negative width or height"),
    ],
)
def test_result_errors_name_the_problem(det, message):
    gt = load_coco(copy.deepcopy(BASE))
    with pytest.raises(ValueError, match=message):
        gt.load_results(copy.deepcopy(DETS) + [det])


def test_result_inputs_and_empty():
    gt = load_coco(copy.deepcopy(BASE))
    empty = gt.load_results([])
    assert isinstance(empty, CocoDataset) and len(empty.annotations) == 0
    with pytest.raises(IndexError):
        gt.load_results([], compat="pycocotools")
    with pytest.raises(ValueError, match="must be a JSON list"):
        gt.load_results({"x": 1})
    wrapped = gt.load_results({"annotations": copy.deepcopy(DETS)})
    assert len(wrapped.annotations) == 2
    arr = np.array([[1, 0, 0, 10, 10, 0.9, 1], [2, 1, 1, 4, 5, 0.3, 2]], float)
    from_arr = load_results(arr, gt)
    assert np.array_equal(from_arr.annotations.bbox, np.array([d["bbox"] for d in DETS], float))
    assert np.array_equal(from_arr.annotations.score, [0.9, 0.3])
    with pytest.raises(ValueError, match=r"\(N, 7\)"):
        load_results(np.zeros((2, 6)), gt)
    with pytest.raises(ValueError, match="gt: expected"):
        load_results(DETS, object())


def test_string_ids_and_helpers():
    data = {
        "images": [{"id": "b"}, {"id": "a"}],
        "categories": [{"id": 1}],
        "annotations": [{"id": "x", "image_id": "a", "category_id": 1, "bbox": [0, 0, 1, 1]}],
    }
    ds = load_coco(data)
    assert ds.annotations.image_id.dtype == object
    dt = ds.load_results([{"image_id": "b", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}])
    assert dt.annotations.image_id.tolist() == ["b"]
    assert sorted_unique_ids(["b", "a", "b"]) == ["a", "b"]
    assert sorted_unique_ids([3, "a", 1]) == [1, 3, "a"]
    assert positions(np.array([5.0, 7.0, 9.0]), [9, 5]).tolist() == [1, -1, 0]
    assert positions(np.array(["a", "z"], dtype=object), ["z", "a"]).tolist() == [1, 0]
    # numeric strings are not numbers
    with pytest.raises(ValueError, match="not in the ground truth's images"):
        ds.load_results([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}])


def test_pycocotools_object_extraction_cached():
    from pycocotools.coco import COCO

    c = COCO()
    c.dataset = copy.deepcopy(BASE)
    c.createIndex()
    a1 = annotations_of(c, "gt")
    a2 = annotations_of(c, "gt")
    assert a1 is a2
    c.dataset["annotations"] = c.dataset["annotations"][:1]
    assert len(annotations_of(c, "gt")) == 1
    assert len(annotations_of(c, "gt", cache=False)) == 1
    with pytest.raises(ValueError, match="COCO object"):
        annotations_of(object(), "gt")
