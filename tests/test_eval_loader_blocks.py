"""detbench.eval._json: a results file decoded block by block gives what one decode gives, errors included.

The block length is lowered to one byte, so that the file is cut at every ``},``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from detbench.eval import _json, load_coco

N_IMAGES = 7


def _gt():
    return load_coco(
        {
            "images": [{"id": i} for i in range(1, N_IMAGES + 1)],
            "categories": [{"id": 1}, {"id": 2}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}],
        }
    )


def _dets(n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
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
def blocks(monkeypatch):
    monkeypatch.setattr(_json, "ROW_BLOCK_BYTES", 1)
    calls = []
    real = _json.decode_blocks

    def spy(*args):
        out = real(*args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(_json, "decode_blocks", spy)
    return calls


@pytest.mark.parametrize("n", [0, 1, 7, 8, 50])
def test_blocks_equal_one_decode(tmp_path, blocks, monkeypatch, n):
    dets = _dets(n, seed=n)
    raw = json.dumps(dets).encode()
    by_blocks = _json.results_arrays(raw)
    assert blocks == [True]
    monkeypatch.setattr(_json, "ROW_BLOCK_BYTES", 1 << 62)  # one block: the whole array in one decode
    whole = _json.results_arrays(raw)
    assert blocks == [True, True]
    for key in whole:
        if whole[key] is None:
            assert by_blocks[key] is None, key
            continue
        assert by_blocks[key].dtype == whole[key].dtype and by_blocks[key].shape == whole[key].shape
        assert by_blocks[key].flags.c_contiguous and np.array_equal(by_blocks[key], whole[key]), key
    path = tmp_path / "r.json"
    path.write_bytes(raw)
    ds = _gt().load_results(str(path))
    assert np.array_equal(ds.annotations.bbox.reshape(-1, 4), np.array([d["bbox"] for d in dets]).reshape(-1, 4))
    assert np.array_equal(ds.annotations.score, [d["score"] for d in dets])


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": "x"}, r"annotation 40\b.*score"),
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 0.5}, r"annotation 40\b.*bbox"),
        ({"image_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}, r"annotation 40\b.*'category_id'"),
    ],
)
def test_a_bad_row_in_a_later_block_is_named(tmp_path, blocks, bad, message):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_dets(40) + [bad] + _dets(3)))
    with pytest.raises(ValueError, match=message):
        _gt().load_results(str(path))
    assert blocks == [False]


def test_other_shapes_fall_back(tmp_path, blocks):
    gt = _gt()
    dets = _dets(20)
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"annotations": dets}))  # dict-shaped
    assert len(gt.load_results(str(path)).annotations) == 20
    path.write_text(json.dumps(dets)[:-30])  # truncated: the byte offset
    with pytest.raises(ValueError, match=r"truncated.*byte \d+"):
        gt.load_results(str(path))
    path.write_text(json.dumps(dets[:10] + [dict(d, image_id=str(d["image_id"])) for d in dets[10:]]))  # strings
    with pytest.raises(ValueError, match="not in the ground truth's images"):
        gt.load_results(str(path))
    path.write_text(json.dumps(dets[:10] + [dict(d, image_id=2**60) for d in dets[10:]]))  # beyond 2**53
    with pytest.raises(ValueError, match="not in the ground truth's images"):
        gt.load_results(str(path))
    assert blocks == [False] * 4


def _arrays_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        (a[k] is None and b[k] is None) or (a[k] is not None and b[k] is not None and np.array_equal(a[k], b[k]))
        for k in a
    )


def test_cuts_inside_strings_and_nested_objects_fall_back(blocks, monkeypatch):
    # '},' inside a string or a nested object of a row is not a place to cut: the block ending there is
    # not JSON, so the file is decoded in one piece, with the same arrays (extra keys are ignored)
    dets = _dets(12)
    dets[3]["note"] = 'a},{"image_id": 1},'
    dets[7]["extra"] = {"a": {"b": 1}, "c": [{"d": 1}, {"e": 2}]}
    raw = json.dumps(dets).encode()
    got = _json.results_arrays(raw)
    assert blocks == [False]
    monkeypatch.setattr(_json, "ROW_BLOCK_BYTES", 1 << 62)
    assert _arrays_equal(got, _json.results_arrays(raw))
    assert got["image_id"].tolist() == [d["image_id"] for d in dets]


@pytest.mark.parametrize("indent", [None, 1, "\t"])
def test_pretty_printed_files_are_cut_too(blocks, indent):
    dets = _dets(30)
    got = _json.results_arrays(json.dumps(dets, indent=indent).encode())
    assert blocks == [True]
    assert got["score"].tolist() == [d["score"] for d in dets]
    assert got["bbox"].tolist() == [d["bbox"] for d in dets]


@pytest.mark.parametrize("tail", [b",]", b", ]", b",\n]\n", b",,]"])
def test_a_trailing_comma_is_refused_as_one_decode_refuses_it(tmp_path, blocks, tail):
    raw = json.dumps(_dets(5)).encode()[:-1] + tail
    assert _json.results_arrays(raw) is None
    path = tmp_path / "r.json"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match="malformed JSON"):
        _gt().load_results(str(path))


def test_array_spans():
    raw = b' \n[{"a": 1}, {"b": 2},{"c": [{"d": 3}]}]\n '
    spans = _json.array_spans(raw, 1)
    assert [raw[a:b] for a, b in spans] == [b'{"a": 1}', b' {"b": 2}', b'{"c": [{"d": 3}]}']
    assert _json.array_spans(raw, 1 << 20) == [(3, len(raw) - 3)]
    for not_array in (b"", b"  ", b'{"annotations": []}', b"[1, 2", b"1, 2]", b"]["):
        assert _json.array_spans(not_array) is None, not_array
    assert _json.array_spans(b"[]") == [(1, 1)]
