"""detbench.masks against pycocotools.mask (live) on random and real masks, and its bad-input errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as M

from detbench import masks as dm
from detbench.data import DATA_DIR

GT_FILE = DATA_DIR / "coco-val2014-100" / "instances_val2014_100.json"


def random_masks(rng, h, w, n):
    """Masks with blobs, holes, empty and full ones, single pixels and first/last pixel set."""
    out = np.zeros((h, w, n), np.uint8, order="F")
    for i in range(n):
        kind = i % 6
        if kind == 0:
            continue  # empty
        if kind == 1:
            out[:, :, i] = 1  # full
        elif kind == 2:
            out[:, :, i] = rng.random((h, w)) < 0.5  # noise
        elif kind == 3:
            y0, x0 = rng.integers(0, h), rng.integers(0, w)
            out[y0 : y0 + rng.integers(1, h), x0 : x0 + rng.integers(1, w), i] = 1
            out[y0 + 1 : y0 + 3, x0 + 1 : x0 + 3, i] = 0  # a hole
        elif kind == 4:
            out[0, 0, i] = 1
            out[h - 1, w - 1, i] = 1
        else:
            yy, xx = np.mgrid[:h, :w]
            cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(1, max(h, w))
            out[:, :, i] = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    return out


@pytest.mark.parametrize("seed", range(4))
def test_encode_decode_area_bbox_iou_merge_random(seed):
    rng = np.random.default_rng(seed)
    h, w, n = int(rng.integers(1, 40)), int(rng.integers(1, 40)), 12
    m = random_masks(rng, h, w, n)
    ref = M.encode(m)
    ours = dm.encode(m)
    assert [r["counts"] for r in ours] == [r["counts"] for r in ref]
    assert all(o["size"] == list(r["size"]) for o, r in zip(ours, ref))
    assert np.array_equal(dm.decode(ref), M.decode(ref))
    assert np.array_equal(dm.decode(ref), m)
    assert np.array_equal(dm.area(ref), M.area(ref)) and dm.area(ref).dtype == M.area(ref).dtype
    assert np.array_equal(dm.to_bbox(ref), M.toBbox(ref))
    crowd = (np.arange(n) % 3 == 0).astype(np.uint8)
    a = np.asarray(M.iou(ref, ref[::-1], crowd))
    b = dm.iou(ref, ref[::-1], crowd)
    assert np.array_equal(a, b)
    for inter in (0, 1):
        assert dm.merge(ref[1:6], intersect=inter)["counts"] == M.merge(ref[1:6], intersect=inter)["counts"]
    # single-mask forms
    assert dm.encode(m[:, :, 3])["counts"] == M.encode(np.asfortranarray(m[:, :, 3]))["counts"]
    assert np.array_equal(dm.decode(ref[3]), M.decode(ref[3]))
    assert dm.area(ref[3]) == M.area(ref[3])
    assert np.array_equal(dm.to_bbox(ref[3]), M.toBbox(ref[3]))
    # strings both ways, str counts accepted
    cnts = dm.rle_from_string(ref[2]["counts"], h, w)
    assert dm.rle_to_string(cnts) == ref[2]["counts"]
    assert dm.area({"size": [h, w], "counts": ref[2]["counts"].decode()}) == M.area(ref[2])


@pytest.mark.parametrize("seed", range(3))
def test_polygons_boxes_uncompressed_random(seed):
    rng = np.random.default_rng(seed + 10)
    h, w = int(rng.integers(5, 80)), int(rng.integers(5, 80))
    polys = []
    for _ in range(25):
        k = int(rng.integers(3, 9))
        pts = rng.uniform(-5, max(h, w) + 5, 2 * k)
        if rng.random() < 0.3:
            pts = np.round(pts)  # integer and repeated vertices
        if rng.random() < 0.2:
            pts[2:4] = pts[0:2]  # a zero-length edge
        polys.append(pts.tolist())
    ref = M.frPyObjects(polys, h, w)
    ours = dm.fr_py_objects(polys, h, w)
    assert [o["counts"] for o in ours] == [r["counts"] for r in ref]
    assert dm.merge(ours)["counts"] == M.merge(ref)["counts"]
    xy = [rng.uniform(-3, w, 10), rng.uniform(-3, h, 10)]
    boxes = np.column_stack(xy + [rng.uniform(0, w, 10), rng.uniform(0, h, 10)])
    assert [o["counts"] for o in dm.fr_py_objects(boxes, h, w)] == [r["counts"] for r in M.frPyObjects(boxes, h, w)]
    assert np.array_equal(dm.iou(boxes, boxes[::-1], [0, 1] * 5), M.iou(boxes, boxes[::-1], [0, 1] * 5))
    m = random_masks(rng, h, w, 6)
    unc = [{"size": [h, w], "counts": _runs(m[:, :, i])} for i in range(6)]
    assert [o["counts"] for o in dm.fr_py_objects(unc, h, w)] == [r["counts"] for r in M.frPyObjects(unc, h, w)]
    assert dm.fr_py_objects(unc[2], h, w)["counts"] == M.frPyObjects(unc[2], h, w)["counts"]


def _runs(mask):
    flat = mask.flatten(order="F")
    runs, cur, c = [], 0, 0
    for v in flat:
        if v != cur:
            runs.append(c)
            c, cur = 0, v
        c += 1
    runs.append(c)
    return runs


def test_real_coco_polygons_and_rles():
    gt = json.loads(GT_FILE.read_text())
    imgs = {i["id"]: i for i in gt["images"]}
    segs, hs, ws = [], [], []
    for a in gt["annotations"]:
        im = imgs[a["image_id"]]
        segs.append(a["segmentation"])
        hs.append(im["height"])
        ws.append(im["width"])
    r = dm.segmentations_to_rles(segs, hs, ws)
    from detbench.masks.convert import rles_to_dicts

    ours = rles_to_dicts(r)
    for s, h, w, o in zip(segs, hs, ws, ours):
        if isinstance(s, list):
            ref = M.merge(M.frPyObjects(s, h, w))
        elif isinstance(s["counts"], list):
            ref = M.frPyObjects(s, h, w)
        else:
            ref = s
        assert o["counts"] == ref["counts"]
    for lo in range(0, len(ours), 200):  # pycocotools' area() fails on lists of 256+ under NumPy 2
        part = ours[lo : lo + 200]
        assert np.array_equal(dm.area(part), M.area(part))
        assert np.array_equal(dm.to_bbox(part), M.toBbox(part))
    same = [o for o, h in zip(ours, hs) if o["size"] == ours[0]["size"]]
    assert np.array_equal(dm.iou(same, same, [0] * len(same)), M.iou(same, same, [0] * len(same)))


def test_empty_inputs_like_pycocotools():
    rle = dm.encode(np.zeros((4, 5), np.uint8))
    assert dm.iou([], [rle], [0]) == [] == M.iou([], [rle], [0])
    assert dm.area(rle) == 0 and list(dm.to_bbox(rle)) == [0, 0, 0, 0]


def test_bad_input():
    with pytest.raises(ValueError, match="odd number of coordinates"):
        dm.fr_py_objects([[1, 2, 3, 4, 5, 6, 7]], 10, 10)
    with pytest.raises(ValueError, match="at least 3"):
        dm.fr_polygons([[1, 2, 3, 4]], 10, 10)
    with pytest.raises(ValueError, match="NaN"):
        dm.fr_polygons([[1, 2, 3, float("nan"), 5, 6]], 10, 10)
    with pytest.raises(ValueError, match="corrupt compressed RLE"):
        dm.area({"size": [4, 5], "counts": "0~~"})
    with pytest.raises(ValueError, match="cut off"):
        dm.area({"size": [4, 5], "counts": b"0" + bytes([48 + 0x20])})
    with pytest.raises(ValueError, match="add up to"):
        dm.area({"size": [4, 5], "counts": [3, 4]})
    with pytest.raises(ValueError, match="disagrees with its image"):
        dm.fr_py_objects({"size": [4, 5], "counts": [20]}, 5, 5)
    with pytest.raises(ValueError, match="non-negative integers"):
        dm.area({"size": [4, 5], "counts": [-1, 21]})
    with pytest.raises(ValueError, match="different sizes"):
        dm.iou([dm.encode(np.ones((3, 3), np.uint8))], [dm.encode(np.ones((4, 3), np.uint8))], [0])
    with pytest.raises(ValueError, match="bimask"):
        dm.encode(np.zeros(5))


def test_polygons_threads_identical():
    rng = np.random.default_rng(5)
    segs = [[rng.uniform(-5, 60, 2 * int(rng.integers(3, 8))).tolist()] for _ in range(2100)]
    hs = np.full(len(segs), 50)
    a = dm.segmentations_to_rles(segs, hs, hs + 7, threads=1)
    b = dm.segmentations_to_rles(segs, hs, hs + 7, threads=3)
    assert np.array_equal(a.cnts, b.cnts) and np.array_equal(a.off, b.off)
    ref = M.frPyObjects([s[0] for s in segs[-50:]], 50, 57)
    assert [r["counts"] for r in ref] == [d["counts"] for d in dm.fr_polygons([s[0] for s in segs[-50:]], 50, 57)]
