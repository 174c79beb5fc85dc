"""_json.number_rows (simdjson's float64 buffer) against msgspec's typed decode: the same numbers, bit for bit."""

from __future__ import annotations

import json

import msgspec
import numpy as np
import pytest

from detbench.eval import _json
from detbench.eval._json import number_rows


def _reference(texts: list) -> tuple[np.ndarray, np.ndarray]:
    lists = msgspec.json.decode(b"[" + b",".join(texts) + b"]", type=list[list[float]])
    off = np.zeros(len(lists) + 1, np.int64)
    np.cumsum([len(x) for x in lists], out=off[1:])
    return np.array([v for x in lists for v in x], np.float64), off


def _texts(rng: np.random.Generator, n: int) -> list:
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 60))
        vals = []
        for _ in range(k):
            kind = rng.integers(0, 6)
            if kind == 0:
                vals.append(repr(float(rng.standard_normal() * 10.0 ** rng.integers(-30, 30))))
            elif kind == 1:
                vals.append(str(int(rng.integers(-(2**62), 2**62))))  # integers beyond 2**53 round
            elif kind == 2:
                vals.append(f"{rng.uniform(-1e3, 1e3):.25f}")  # more digits than float64 holds
            elif kind == 3:
                vals.append(f"{rng.uniform(0, 9):.3f}E{int(rng.integers(-300, 300))}")
            elif kind == 4:
                vals.append(rng.choice(["-0.0", "0", "-0", "1e-320", "4.9e-324", "1.7976931348623157e308"]))
            else:
                vals.append(str(int(rng.integers(0, 3))))
        sep = rng.choice([",", ", ", " ,\n "])
        out.append(("[" + sep.join(vals) + "]").encode())
    return out


@pytest.mark.parametrize("seed", range(5))
def test_random_numbers_equal_msgspec_bit_for_bit(seed):
    texts = _texts(np.random.default_rng(seed), 300)
    got = number_rows(texts)
    ref = _reference(texts)
    assert got is not None
    np.testing.assert_array_equal(got[1], ref[1])
    assert got[0].dtype == np.float64 and got[0].flags.writeable
    assert np.array_equal(got[0].view(np.uint64), ref[0].view(np.uint64))  # -0.0 and subnormals included


def test_simdjson_path_is_taken(monkeypatch):
    calls = []
    real = _json._NUMBER_LISTS

    class Spy:
        def decode(self, raw):
            calls.append(raw)
            return real.decode(raw)

    monkeypatch.setattr(_json, "_NUMBER_LISTS", Spy())
    assert number_rows([b"[1, 2.5]", b"[3,4,5]"])[0].tolist() == [1.0, 2.5, 3.0, 4.0, 5.0]
    assert calls == []  # simdjson's buffer, not msgspec
    # an integer beyond 64 bits: simdjson refuses it, msgspec reads it as a float
    vals, off = number_rows([b"[18446744073709551616, 1]"])
    assert vals.tolist() == [float(2**64), 1.0] and off.tolist() == [0, 2] and len(calls) == 1


@pytest.mark.parametrize(
    "texts",
    [
        [b"[1,[2]]"],  # nested: as_buffer would flatten it
        [b"[[1,2]]", b"[1,[]]"],  # nested rows whose counts would cancel out
        [b"null"],
        [b"5"],
        [b'["a"]'],
        [b"[1,true]"],
        [b'"[["', b"[1]"],
        [b'"a"', b"[[1]]"],
        [b'{"a":[1]}', b"[2]"],
    ],
)
def test_not_lists_of_numbers_are_refused(texts):
    assert number_rows(texts) is None


def test_empty_rows_are_kept():
    vals, off = number_rows([b"[]", b"[1,2]", b"[ ]"])
    assert vals.tolist() == [1.0, 2.0] and off.tolist() == [0, 0, 2, 2]
    assert number_rows([]) is None


def test_keypoint_results_file_equals_generic_read(tmp_path):
    # the typed keypoints reader (simdjson) against the general path (every row decoded by msgspec)
    from detbench.eval import instances

    rng = np.random.default_rng(3)
    dets = [
        {
            "image_id": int(i),
            "category_id": 1,
            "keypoints": [float(v) for v in rng.uniform(0, 640, 51).round(rng.integers(0, 17))],
            "score": float(rng.uniform()),
        }
        for i in rng.integers(1, 50, 400)
    ]
    raw = json.dumps(dets).encode()
    typed = instances.typed_results(raw)
    assert typed["kind"] == "keypoints"
    ref = np.array([d["keypoints"] for d in dets], np.float64).ravel()
    assert np.array_equal(typed["kp_vals"].view(np.uint64), ref.view(np.uint64))
    assert typed["kp_off"].tolist() == list(range(0, 51 * 401, 51))


@pytest.mark.parametrize("blocks", [False, True])
def test_results_boxes_equal_json_module(monkeypatch, blocks):
    # the bbox reader (raw texts -> number_rows) against Python's json module, bit for bit, one-pass and blocks
    rng = np.random.default_rng(7)
    n = 3000
    dets = [
        {
            "image_id": int(rng.integers(1, 100)),
            "category_id": int(rng.integers(1, 80)),
            "bbox": [float(v) for v in rng.uniform(0, 640, 4) * 10.0 ** rng.integers(-3, 3)],
            "score": float(rng.uniform()),
        }
        for _ in range(n)
    ]
    dets[5]["bbox"] = [1, 2, 3, 4]  # integers
    dets[6]["bbox"] = [-0.0, 0.5e-310, 1e300, 2.0]
    raw = json.dumps(dets).encode()
    monkeypatch.setattr(_json, "ROW_BLOCK_BYTES", 70_000 if blocks else 1 << 62)
    got = _json.results_arrays(raw)
    ref = np.array([d["bbox"] for d in json.loads(raw)], np.float64)
    assert np.array_equal(got["bbox"].view(np.uint64), ref.view(np.uint64))
    # a box that is not 4 numbers: not the typed path (the general reader names the row)
    for bad in ([1, 2, 3], [1, 2, 3, 4, 5], [1, 2, 3, True], [[1, 2], 3, 4]):
        dets[9]["bbox"] = bad
        assert _json.results_arrays(json.dumps(dets).encode()) is None, bad


@pytest.mark.parametrize("block_bytes", [1, 64, 4096])
def test_blocks_equal_one_document(monkeypatch, block_bytes):
    # simdjson reads the texts a block at a time (one row per block at 1 byte): the same numbers and
    # offsets as msgspec's decode of all of them, empty rows included; a bad row in the last block
    # refuses the whole read rather than returning the blocks before it
    rng = np.random.default_rng(11)
    texts = _texts(rng, 200) + [b"[]"] + _texts(rng, 50)
    monkeypatch.setattr(_json, "NUMBER_BLOCK_BYTES", block_bytes)
    got = number_rows(texts)
    ref = _reference(texts)
    np.testing.assert_array_equal(got[1], ref[1])
    assert np.array_equal(got[0].view(np.uint64), ref[0].view(np.uint64))
    assert number_rows(texts + [b"[1,[2]]"]) is None
    assert number_rows(texts + [b"[1,true]"]) is None


def _polygon_texts(rng: np.random.Generator, n: int) -> list:
    # lists of 1-3 polygons of random numbers (the number kinds of _texts)
    flat = _texts(rng, 3 * n)
    out, i = [], 0
    for _ in range(n):
        k = int(rng.integers(1, 4))
        out.append(b"[" + b", ".join(flat[i : i + k]) + b"]")
        i += k
    return out


@pytest.mark.parametrize("block_bytes", [1, 300, 1 << 20])
def test_polygon_rows_equal_msgspec_bit_for_bit(monkeypatch, block_bytes):
    monkeypatch.setattr(_json, "NUMBER_BLOCK_BYTES", block_bytes)
    texts = _polygon_texts(np.random.default_rng(5), 200)
    values, n_p, lens = _json.polygon_rows(texts)
    ref = msgspec.json.decode(b"[" + b",".join(texts) + b"]", type=list[list[list[float]]])
    assert n_p.tolist() == [len(r) for r in ref]
    assert lens.tolist() == [len(p) for r in ref for p in r]
    want = np.array([v for r in ref for p in r for v in p], np.float64)
    assert np.array_equal(values.view(np.uint64), want.view(np.uint64))


@pytest.mark.parametrize(
    "texts",
    [
        [],
        [b"[[1,2,3,4,5,6]]", b"[1,2,3,4,5,6]"],  # a flat list where polygons belong
        [b"[[1,2,3,4,5,6]]", b"[[[1,2,3,4,5,6]]]"],  # one level too deep
        [b"[[1,2,3,4,5,6],2]"],
        [b"[[1,2,3,4,5,null]]"],
        [b'[[1,2,3,4,5,"6"]]'],
        [b"[[1,2,3,4,5,true]]"],
        [b'{"size":[2,2],"counts":"04"}'],
        [b"[[18446744073709551616,1,2,3,4,5]]"],
    ],
)
def test_polygon_rows_refuse_everything_else(texts):
    assert _json.polygon_rows(texts) is None


def test_polygon_rows_keep_empty_lists():
    # an empty polygon list or polygon is counted (its caller decides what it means)
    values, n_p, lens = _json.polygon_rows([b"[]", b"[[1,2,3,4,5,6],[]]"])
    assert values.tolist() == [1, 2, 3, 4, 5, 6] and n_p.tolist() == [0, 2] and lens.tolist() == [6, 0]
