"""detbench.eval._json: a large results file decoded by two processes gives what one process gives, errors included.

The threshold (``FORK_MIN_BYTES``) is lowered to 0 so that small files take the two-process path.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from detbench.eval import _json, load_coco

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the two-process path is Linux-only")

N_IMAGES = 7


def _gt():
    return load_coco(
        {
            "images": [{"id": i} for i in range(1, N_IMAGES + 1)],
            "categories": [{"id": 1}, {"id": 2}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}],
        }
    )


def _dets(n: int) -> list:
    rng = np.random.default_rng(n)
    return [
        {
            "image_id": int(rng.integers(1, N_IMAGES + 1)),
            "category_id": int(rng.integers(1, 3)),
            "bbox": np.round(rng.uniform(0, 50, 4), 2).tolist(),
            "score": round(float(rng.uniform()), 4),
        }
        for _ in range(n)
    ]


@pytest.fixture
def forked(monkeypatch):
    monkeypatch.setattr(_json, "FORK_MIN_BYTES", 0)
    calls = []
    real = _json._results_arrays_forked

    def spy(raw):
        out = real(raw)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(_json, "_results_arrays_forked", spy)
    return calls


@pytest.mark.parametrize("n", [2, 3, 101])
def test_two_processes_equal_one(tmp_path, forked, n):
    dets = _dets(n)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(dets))
    raw = path.read_bytes()
    one = _json.results_arrays(raw, processes=1)
    two = _json.results_arrays(raw, processes=2)
    assert forked == [True]
    for key in one:
        assert two[key].dtype == one[key].dtype and two[key].flags.c_contiguous
        assert np.array_equal(two[key], one[key]), key
    ds = _gt().load_results(str(path))  # the loader's path (threads from numba: may be 1 here)
    assert np.array_equal(ds.annotations.bbox, np.array([d["bbox"] for d in dets]))
    assert np.array_equal(ds.annotations.score, [d["score"] for d in dets])


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": "x"}, r"annotation 40\b.*score"),
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 0.5}, r"annotation 40\b.*bbox"),
        ({"image_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}, r"annotation 40\b.*'category_id'"),
    ],
)
def test_a_bad_row_in_the_childs_half_is_named(tmp_path, forked, monkeypatch, bad, message):
    monkeypatch.setattr(_json, "_fork_available", lambda processes: True)
    dets = _dets(40) + [bad] + _dets(3)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(dets))
    with pytest.raises(ValueError, match=message):
        _gt().load_results(str(path))
    assert forked == [False]  # the child refused its half; one process read the file and worded the error


def test_other_shapes_fall_back(tmp_path, forked, monkeypatch):
    monkeypatch.setattr(_json, "_fork_available", lambda processes: True)
    gt = _gt()
    dets = _dets(20)
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"annotations": dets}))  # dict-shaped: one process
    assert len(gt.load_results(str(path)).annotations) == 20
    path.write_text(json.dumps(dets)[:-30])  # truncated: the byte offset
    with pytest.raises(ValueError, match=r"truncated.*byte \d+"):
        gt.load_results(str(path))
    strs = [dict(d, image_id=str(d["image_id"])) for d in dets]  # string ids: the general path
    path.write_text(json.dumps(dets[:10] + strs[10:]))
    with pytest.raises(ValueError, match="not in the ground truth's images"):
        gt.load_results(str(path))
    big = [dict(d, image_id=2**60) for d in dets]  # ids beyond 2**53 in the child's half
    path.write_text(json.dumps(dets[:10] + big[10:]))
    with pytest.raises(ValueError, match="not in the ground truth's images"):
        gt.load_results(str(path))
    assert forked == [False] * 4  # each refused by the two-process path, then read (or refused) by one process
