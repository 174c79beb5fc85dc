"""detbench.eval._dictread: the C-API reader of annotation dicts equals the general Python path.

The fast reader only accepts the common case and hands everything else to the
general path; these tests check that (a) it is really in use on this
interpreter, (b) its arrays equal the general path's bit for bit on random and
odd inputs, (c) every input it must refuse is refused (and then evaluated or
rejected exactly as before), and (d) it never leaves a Python error set.
"""

from __future__ import annotations

import copy
import sys
from collections import OrderedDict

import numpy as np
import pytest

from detbench.eval import _dictread, load_coco, load_results
from detbench.eval import loader as L


def general(anns, kind, image_id=None, strict=False):
    """The general (pure Python) path of extract_annotations."""
    saved = _dictread.AVAILABLE
    _dictread.AVAILABLE = False
    try:
        return L.extract_annotations(anns, kind, "x", strict=strict, image_id=image_id)
    finally:
        _dictread.AVAILABLE = saved


def fast(anns, kind, read_image_id=True):
    return _dictread.read_annotations([anns], len(anns), kind, read_image_id=read_image_id)


def same_arrays(a, b):
    for name in ("image_id", "category_id", "bbox", "area", "score", "iscrowd", "ids"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is None and y is None, name
            continue
        assert x.dtype == y.dtype, name
        if x.dtype == object:  # ids kept as Python objects: compare them one by one (NaN included)
            assert [(type(v), repr(v)) for v in x] == [(type(v), repr(v)) for v in y], name
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)


def random_anns(rng, n, kind):
    anns = []
    for k in range(n):
        num = (lambda v: int(v)) if rng.random() < 0.3 else float  # ints and floats mixed
        a = {
            "image_id": int(rng.integers(0, 50)),
            "category_id": int(rng.integers(1, 9)),
            "bbox": [num(v) for v in np.round(rng.uniform(0, 300, 4), 2)],
        }
        if rng.random() < 0.7:
            a["area"] = num(round(rng.uniform(0, 9e4), 2))
        if kind == "gt":
            a["id"] = k + 1 if rng.random() < 0.9 else float(k + 1)
            r = rng.random()
            if r < 0.3:
                a["iscrowd"] = int(rng.random() < 0.5)
            elif r < 0.4:
                a["iscrowd"] = bool(rng.random() < 0.5)
        else:
            a["score"] = num(round(rng.random(), 3))
        anns.append(a)
    return anns


def test_fast_path_is_in_use_here():
    # on the CPython this project is tested with, the layouts check must pass:
    # otherwise every test below would silently exercise the general path only
    if sys.implementation.name == "cpython" and getattr(sys, "_is_gil_enabled", lambda: True)():
        assert _dictread.AVAILABLE
    out = fast([{"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.5}], "dt")
    assert out is not None
    np.testing.assert_array_equal(out.bbox, [[1.0, 2.0, 3.0, 4.0]])
    assert out.area[0] == 12.0 and out.score[0] == 0.5 and out.image_id[0] == 1.0 and out.finite


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", ["gt", "dt"])
def test_random_annotations_equal_general_path(seed, kind):
    rng = np.random.default_rng(seed)
    anns = random_anns(rng, int(rng.integers(1, 400)), kind)
    assert fast(anns, kind) is not None
    same_arrays(L.extract_annotations(anns, kind, "x", strict=False), general(anns, kind))
    img = np.arange(len(anns), dtype=np.float64)
    same_arrays(L.extract_annotations(anns, kind, "x", strict=False, image_id=img), general(anns, kind, image_id=img))


def test_list_of_lists_reads_in_order():
    rng = np.random.default_rng(7)
    anns = random_anns(rng, 60, "dt")
    parts = [anns[:10], [], anns[10:11], anns[11:]]
    out = _dictread.read_annotations(parts, len(anns), "dt", read_image_id=True)
    ref = general(anns, "dt")
    np.testing.assert_array_equal(out.bbox, ref.bbox)
    np.testing.assert_array_equal(out.score, ref.score)
    # a wrong total, or a part that is not a list, is refused
    assert _dictread.read_annotations(parts, len(anns) + 1, "dt", read_image_id=True) is None
    assert _dictread.read_annotations(parts, len(anns) - 1, "dt", read_image_id=True) is None
    assert _dictread.read_annotations([tuple(anns)], len(anns), "dt", read_image_id=True) is None


GOOD_DT = {"image_id": 3, "category_id": 2, "bbox": [1.5, 2, 3, 4.25], "score": 0.75}
GOOD_GT = {"id": 9, "image_id": 3, "category_id": 2, "bbox": [1.5, 2, 3, 4.25], "area": 7.0, "iscrowd": 1}

REFUSED = [
    ("dt", "image_id", "3"),  # string ids: object arrays in the general path
    ("dt", "category_id", np.int64(2)),  # NumPy scalars
    ("dt", "image_id", True),  # bool is not taken as a number
    ("dt", "image_id", 2**53),  # not exact as float64
    ("dt", "image_id", float("nan")),
    ("dt", "category_id", float("inf")),
    ("dt", "bbox", (1, 2, 3, 4)),  # a tuple
    ("dt", "bbox", [1, 2, 3]),
    ("dt", "bbox", [1, 2, 3, "4"]),
    ("dt", "bbox", [1, 2, 3, None]),
    ("dt", "bbox", np.array([1.0, 2, 3, 4])),
    ("dt", "bbox", [1, 2, 3, 10**400]),  # int too large for a double: OverflowError inside
    ("dt", "score", None),
    ("dt", "score", np.float32(0.5)),  # other NumPy scalars
    ("dt", "area", "12"),
    ("gt", "iscrowd", 2),
    ("gt", "iscrowd", None),
    ("gt", "id", "a"),
    ("gt", "id", -(2**60)),
]


@pytest.mark.parametrize("kind,key,value", REFUSED)
def test_refused_inputs_go_to_the_general_path(kind, key, value):
    ann = dict(GOOD_GT if kind == "gt" else GOOD_DT)
    ann[key] = value
    anns = [dict(GOOD_GT if kind == "gt" else GOOD_DT), ann]
    assert fast(anns, kind) is None
    assert sys.exc_info() == (None, None, None)
    # extract_annotations gives whatever the general path gives: arrays or the same error
    try:
        ref = general(anns, kind)
    except (ValueError, TypeError) as exc:
        with pytest.raises(type(exc)) as got:
            L.extract_annotations(anns, kind, "x", strict=False)
        assert str(got.value) == str(exc)
    else:
        same_arrays(L.extract_annotations(anns, kind, "x", strict=False), ref)


@pytest.mark.parametrize("kind", ["gt", "dt"])
@pytest.mark.parametrize("missing", ["image_id", "category_id", "bbox", "score", "id"])
def test_missing_keys(kind, missing):
    ann = dict(GOOD_GT if kind == "gt" else GOOD_DT)
    if missing not in ann:
        return
    del ann[missing]
    assert fast([ann], kind) is None
    with pytest.raises(ValueError, match=f"missing the key '{missing}'"):
        L.extract_annotations([ann], kind, "x", strict=False)


def test_optional_keys_and_odd_containers():
    gt = dict(GOOD_GT)
    del gt["area"], gt["iscrowd"]
    out = fast([gt], "gt")
    assert out.area[0] == 3 * 4.25 and not out.iscrowd[0] and out.ids[0] == 9.0
    assert fast([dict(GOOD_GT, iscrowd=True)], "gt").iscrowd[0]
    assert fast([dict(GOOD_GT, iscrowd=False)], "gt").iscrowd[0] == False  # noqa: E712
    assert fast([OrderedDict(GOOD_DT)], "dt") is None  # dict subclasses go to the general path
    assert fast([None], "dt") is None
    assert _dictread.read_annotations((GOOD_DT,), 1, "dt", read_image_id=True) is None


def test_non_finite_values_still_named():
    bad = [dict(GOOD_DT), dict(GOOD_DT, score=float("nan"))]
    out = fast(bad, "dt")
    assert out is not None and not out.finite
    with pytest.raises(ValueError, match="annotation 1: score is nan"):
        L.extract_annotations(bad, "dt", "x", strict=False)
    bad = [dict(GOOD_DT, bbox=[0, 0, float("inf"), 1])]
    with pytest.raises(ValueError, match="non-finite"):
        L.extract_annotations(bad, "dt", "x", strict=False)


def test_strict_loader_checks_survive_the_fast_path():
    data = {
        "images": [{"id": 1}],
        "categories": [{"id": 1}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, -1, 2]}],
    }
    with pytest.raises(ValueError, match="negative width or height"):
        load_coco(data)
    ok = copy.deepcopy(data)
    ok["annotations"][0]["bbox"] = [0, 0, 1, 2]
    ds = load_coco(ok)
    with pytest.raises(ValueError, match="negative"):
        load_results([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, -2], "score": 0.5}], ds)


def test_pycocotools_objects_through_the_index():
    from pycocotools.coco import COCO

    rng = np.random.default_rng(3)
    gt = {
        "images": [{"id": i} for i in range(50)],
        "categories": [{"id": c} for c in range(1, 9)],
        "annotations": random_anns(rng, 300, "gt"),
    }
    c = COCO()
    c.dataset = gt
    c.createIndex()
    a = L.annotations_of(c, "gt", cache=False)
    # in imgToAnns order, with the image ids of the index
    order = [x for v in c.imgToAnns.values() for x in v]
    ref = general(order, "gt", image_id=np.array([x["image_id"] for x in order], np.float64))
    same_arrays(a, ref)
    assert a.difficult is None


def test_environment_switch_turns_the_reader_off():
    import os
    import subprocess

    code = "from detbench.eval import _dictread as R; print(R.AVAILABLE)"
    env = dict(os.environ, DETBENCH_PURE_PYTHON_READER="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_numpy_float64_values_are_read():
    # pycocotools' loadNumpyAnnotations / loadRes(ndarray) leave numpy.float64 in bbox, score and area
    from pycocotools.coco import COCO

    gt = COCO()
    gt.dataset = {
        "images": [{"id": 1}, {"id": 2}],
        "categories": [{"id": 1}, {"id": 2}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
        ],
    }
    gt.createIndex()
    arr = np.array([[1, 0.5, 1.25, 9, 9.5, 0.9, 1], [2, 3, 4, 5, 6, 0.4, 2], [1, 2, 2, 3, 3, 0.7, 2]])
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(arr)
    anns = [a for v in dt.imgToAnns.values() for a in v]
    assert type(anns[0]["score"]) is np.float64 and type(anns[0]["bbox"][0]) is np.float64
    assert fast(anns, "dt") is not None
    same_arrays(L.annotations_of(dt, "dt", cache=False), general(anns, "dt"))


_MUTATING_KEY = r"""
import contextlib, gc, io, sys
from pycocotools.coco import COCO
from detbench.eval import COCOeval

class Evil:  # equal in hash to "category_id"; its __eq__ empties every annotation list and frees the dicts
    armed = False
    def __hash__(self):
        return hash("category_id")
    def __eq__(self, other):
        if Evil.armed:
            Evil.armed = False
            for c in HELD:
                c.dataset["annotations"].clear()
                c.anns.clear()
                for v in c.imgToAnns.values():
                    v.clear()
            gc.collect()
            Evil.junk = [[float(x)] * 3 for x in range(10000)]  # reuse the freed memory
        return False

gt = {"images": [{"id": i} for i in (1, 2, 3)], "categories": [{"id": 1}], "annotations": []}
for k in range(1, 151):
    a = {Evil(): 1} if k == 20 else {}  # inserted first: probed before the real "category_id"
    a.update({"id": k, "image_id": 1 + (k - 1) // 50, "category_id": 1, "bbox": [k % 50, 0, 10.0, 10.0]})
    gt["annotations"].append(a)
c = COCO()
c.dataset = gt
with contextlib.redirect_stdout(io.StringIO()):
    c.createIndex()
    d = c.loadRes([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}])
HELD = [c]
del c, gt, a
Evil.armed = True
try:
    E = COCOeval(HELD[0], d, "bbox")
    E.evaluate()
    E.accumulate()
    print("evaluated")
except ValueError as exc:
    print("ValueError:", exc)
"""


@pytest.mark.parametrize("pure", ["0", "1"])
def test_key_whose_eq_mutates_the_lists_gives_an_error_not_a_crash(pure):
    # issue 19: this crashed the process in the compiled reader (borrowed references to freed dicts)
    import os
    import subprocess

    env = dict(os.environ, DETBENCH_PURE_PYTHON_READER=pure)
    r = subprocess.run([sys.executable, "-c", _MUTATING_KEY], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    # the compiled reader notices the lists changed under it; the Python path reads its own snapshot
    expected = "ValueError: ground truth: the annotation lists changed" if pure == "0" else "evaluated"
    assert expected in r.stdout, r.stdout
