"""detbench.eval.mask_texts: masks of ground-truth segmentation texts, simdjson and msgspec paths against
pycocotools and against each other."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as M

from detbench.eval import mask_texts


def _raws(seed: int, n: int = 60) -> tuple[list, np.ndarray, np.ndarray, list]:
    # segmentation texts of every kind a ground truth holds (polygons of 1-3 parts, compressed and
    # uncompressed RLEs) and their images' sizes
    rng = np.random.default_rng(seed)
    raws, hs, ws, objs = [], [], [], []
    for i in range(n):
        h, w = int(rng.integers(5, 40)), int(rng.integers(5, 40))
        kind = i % 5
        if kind < 3:
            obj = [
                [
                    round(float(v), int(rng.integers(0, 4)))
                    for v in rng.uniform(-2, max(h, w) + 2, 2 * int(rng.integers(3, 8)))
                ]
                for _ in range(kind + 1)
            ]
        else:
            m = np.asfortranarray(rng.random((h, w)) < 0.4, np.uint8)
            rle = M.encode(m)
            if kind == 3:
                obj = {"size": [h, w], "counts": rle["counts"].decode()}
            else:
                flat = m.ravel(order="F")
                change = np.flatnonzero(np.diff(flat)) + 1
                edges = np.concatenate([[0], change, [flat.size]])
                runs = np.diff(edges).tolist()
                obj = {"size": [h, w], "counts": ([0] + runs) if flat[0] else runs}
        raws.append(json.dumps(obj).encode())
        hs.append(h)
        ws.append(w)
        objs.append(obj)
    return raws, np.array(hs, np.int64), np.array(ws, np.int64), objs


def _mask(runs: np.ndarray, h: int, w: int) -> np.ndarray:
    # the (h, w) mask of run lengths (0s first, column-major), by hand
    flat = np.repeat(np.arange(runs.size) % 2, runs.astype(np.int64)).astype(np.uint8)
    return flat.reshape(w, h).T


def _ids(idx):
    return [int(i) + 1 for i in np.atleast_1d(idx)]


def _pycocotools_masks(objs, hs, ws):
    out = []
    for o, h, w in zip(objs, hs.tolist(), ws.tolist()):
        if isinstance(o, list):
            rle = M.merge(M.frPyObjects(o, h, w))
        elif isinstance(o["counts"], list):
            rle = M.frPyObjects(o, h, w)
        else:
            rle = {"size": o["size"], "counts": o["counts"].encode()}
        out.append(M.decode(rle))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_both_paths_equal_pycocotools(monkeypatch, seed):
    raws, hs, ws, objs = _raws(seed)
    fast = mask_texts._raw_rles(raws, hs, ws, "annotation", _ids)
    calls = []
    real = mask_texts._decode_segms
    monkeypatch.setattr(mask_texts, "_decode_segms", lambda texts: calls.append(len(texts)) or real(texts))
    again = mask_texts._raw_rles(raws, hs, ws, "annotation", _ids)
    assert calls == [len(raws) - sum(isinstance(o, list) for o in objs)]  # polygons went to simdjson
    monkeypatch.setattr(mask_texts, "polygon_rows", lambda texts: None)  # the msgspec path for all
    calls.clear()
    slow = mask_texts._raw_rles(raws, hs, ws, "annotation", _ids)
    assert calls == [len(raws)]
    for r in (again, slow):
        for a, b in zip(fast, r):
            np.testing.assert_array_equal(a, b)
    for k, want in enumerate(_pycocotools_masks(objs, hs, ws)):
        got = _mask(fast.cnts[fast.off[k] : fast.off[k + 1]], int(hs[k]), int(ws[k]))
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([[1, 2, 3, 4, 5, 6, 7]], "annotation id 3: polygon 0 has an odd number of coordinates"),
        ([[1, 2, 3, 4, 5, 6], [1, 2, 3, 4]], "annotation id 3: polygon 1 has 2 points"),
        ([[1, 2, 3, 4, 5, 6e9]], "annotation id 3: polygon 0 has coordinates beyond 1e8"),
    ],
)
def test_bad_polygons_named_on_the_simdjson_path(bad, match):
    raws, hs, ws, _ = _raws(1, 10)
    raws[2] = json.dumps(bad).encode()
    with pytest.raises(ValueError, match=match):
        mask_texts._raw_rles(raws, hs, ws, "annotation", _ids)


def test_an_empty_polygon_list_goes_the_general_way():
    # [] is not a list of polygons for the simdjson path: every text is read by msgspec and the general
    # converter names the row, as before
    raws, hs, ws, _ = _raws(2, 10)
    raws[4] = b"[]"
    with pytest.raises(ValueError, match="annotation id 5: segmentation must be a non-empty list"):
        mask_texts._raw_rles(raws, hs, ws, "annotation", _ids)
