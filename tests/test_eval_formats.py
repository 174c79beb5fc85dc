"""Readers of VOC XML, YOLO txt and the common text layout (detbench.eval.formats), the CLI and report options.

Round trips: COCO data written out to each format (by the small writers below) and read back give the
same boxes and the same AP as the COCO path. Toy sets written here in the well-known layouts are checked
against the plain devkit reference of tests/reference_voc.py. Bad input: a ValueError naming the file,
the line (or XML object) and the field.
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from detbench.eval import COCOeval, evaluate_pr, load_coco, load_results
from detbench.eval.cli import main as eval_main
from detbench.eval.formats import load_image_sizes, load_names, read_detections, read_ground_truth
from tests.reference_voc import ap_voc, voc_class_curve

# --------------------------------------------------------------------------- writers (test side)


def _key(im):
    return os.path.splitext(im["file_name"])[0]


def write_text(folder, images, anns, names, fmt="xyxy", scores=False, difficult=None):
    """One file per image: ``class [score] a b c d`` (every image gets a file, empty if it has no boxes)."""
    os.makedirs(folder, exist_ok=True)
    by_img = {im["id"]: [] for im in images}
    for k, a in enumerate(anns):
        by_img[a["image_id"]].append((k, a))
    for im in images:
        lines = []
        for k, a in by_img[im["id"]]:
            x, y, w, h = a["bbox"]
            v = {"xyxy": (x, y, x + w, y + h), "xywh": (x, y, w, h), "cxcywh": (x + w / 2, y + h / 2, w, h)}[fmt]
            parts = [names[a["category_id"]]] + ([repr(a["score"])] if scores else []) + [repr(float(t)) for t in v]
            if difficult is not None and difficult[k]:
                parts.append("difficult")
            lines.append(" ".join(parts))
        with open(os.path.join(folder, _key(im) + ".txt"), "w") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))


def write_yolo(folder, images, anns, index, scores=False):
    """YOLO: ``index cx cy w h [score]`` normalised by the image size."""
    os.makedirs(folder, exist_ok=True)
    by_img = {im["id"]: [] for im in images}
    for a in anns:
        by_img[a["image_id"]].append(a)
    for im in images:
        W, H = im["width"], im["height"]
        lines = []
        for a in by_img[im["id"]]:
            x, y, w, h = a["bbox"]
            v = ((x + w / 2) / W, (y + h / 2) / H, w / W, h / H)
            sc = [repr(a["score"])] if scores else []
            lines.append(" ".join([str(index[a["category_id"]])] + [repr(t) for t in v] + sc))
        if lines:
            with open(os.path.join(folder, _key(im) + ".txt"), "w") as f:
                f.write("\n".join(lines) + "\n")


def write_voc(folder, images, anns, names, difficult=None):
    """VOC XML, 1-based inclusive pixel indices (xmin = x + 1, xmax = x + w)."""
    os.makedirs(folder, exist_ok=True)
    by_img = {im["id"]: [] for im in images}
    for k, a in enumerate(anns):
        by_img[a["image_id"]].append((k, a))
    for im in images:
        objs = []
        for k, a in by_img[im["id"]]:
            x, y, w, h = a["bbox"]
            d = int(bool(difficult[k])) if difficult is not None else 0
            objs.append(
                f"<object><name>{names[a['category_id']]}</name><pose>Unspecified</pose><truncated>0</truncated>"
                f"<difficult>{d}</difficult><bndbox><xmin>{x + 1!r}</xmin><ymin>{y + 1!r}</ymin>"
                f"<xmax>{x + w!r}</xmax><ymax>{y + h!r}</ymax></bndbox></object>"
            )
        xml = (
            f"<annotation><folder>VOC2007</folder><filename>{im['file_name']}</filename><size><width>{im['width']}"
            f"</width><height>{im['height']}</height><depth>3</depth></size>{''.join(objs)}</annotation>"
        )
        with open(os.path.join(folder, _key(im) + ".xml"), "w") as f:
            f.write(xml)


def write_voc_results(folder, images, dets, names):
    """The devkit's per-class results files ``comp4_det_test_<class>.txt``: ``image score xmin ymin xmax ymax``."""
    os.makedirs(folder, exist_ok=True)
    key = {im["id"]: _key(im) for im in images}
    per_class = {c: [] for c in names}
    for d in dets:
        x, y, w, h = d["bbox"]
        per_class[d["category_id"]].append(
            f"{key[d['image_id']]} {d['score']!r} {x + 1!r} {y + 1!r} {x + w!r} {y + h!r}"
        )
    for c, lines in per_class.items():
        with open(os.path.join(folder, f"comp4_det_test_{names[c]}.txt"), "w") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))


# --------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def coco():
    from detbench.synthetic import SceneConfig, make_dataset

    gt, raw = make_dataset(SceneConfig(n_images=14), seed=11)
    gt["images"].append({"id": 99, "width": 320, "height": 240, "file_name": "empty_000099.png"})  # no objects
    gt["annotations"] = [a for a in gt["annotations"] if not a["iscrowd"]]  # the file formats have no crowds
    dets = raw.to_coco()
    names = {c["id"]: c["name"] for c in gt["categories"]}
    return gt, dets, names


def _stats(gt, dt):
    E = COCOeval(gt, dt, "bbox")
    E.evaluate()
    E.accumulate()
    E.summarize()
    return np.asarray(E.stats)


def _same_boxes(a, b, images_a, images_b):
    """Equal annotations up to order: (image key, class name, box) sorted."""

    def rows(ds, images):
        key = {im["id"]: os.path.splitext(im["file_name"])[0] for im in images}
        names = ds.category_names
        an = ds.annotations
        out = [
            (key[i], names[c], tuple(np.round(b, 6)), s)
            for i, c, b, s in zip(
                an.image_id.tolist(),
                an.category_id.tolist(),
                an.bbox,
                an.score.tolist() if an.score is not None else [0] * len(an),
            )
        ]
        return sorted(out, key=lambda r: (r[0], r[1], r[2], r[3]))

    ra, rb = rows(a, images_a), rows(b, images_b)
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb):
        assert x[:2] == y[:2] and x[3] == pytest.approx(y[3], abs=0)
        np.testing.assert_allclose(x[2], y[2], atol=1e-5)


@pytest.fixture(scope="module")
def reference(coco):
    gt, dets, _ = coco
    g = load_coco(gt)
    d = load_results(dets, g)
    return g, d, _stats(g, d), evaluate_pr(g, d, iou_thresholds=[0.5, 0.75]).mean()


def _check_equal(reference, gt, dt):
    _, _, stats, pr = reference
    np.testing.assert_allclose(_stats(gt, dt), stats, rtol=0, atol=1e-9)
    got = evaluate_pr(gt, dt, iou_thresholds=[0.5, 0.75]).mean()
    for k in pr:
        np.testing.assert_allclose(got[k], pr[k], rtol=0, atol=1e-9)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("gt_fmt", ["xyxy", "xywh", "cxcywh"])
def test_text_round_trip_equals_coco(coco, reference, tmp_path, gt_fmt):
    gt, dets, names = coco
    dt_fmt = {"xyxy": "xywh", "xywh": "cxcywh", "cxcywh": "xyxy"}[gt_fmt]  # each side its own layout
    write_text(tmp_path / "gt", gt["images"], gt["annotations"], names, fmt=gt_fmt)
    write_text(tmp_path / "dt", gt["images"], dets, names, fmt=dt_fmt, scores=True)
    g = read_ground_truth(tmp_path / "gt", "text", names=list(names.values()), box_format=gt_fmt)
    d = read_detections(tmp_path / "dt", "text", g, box_format=dt_fmt)
    assert len(g.image_ids) == len(gt["images"]) and [c["name"] for c in g.categories] == list(names.values())
    g_ref = load_coco(gt)
    d_ref = load_results(dets, g_ref)
    _same_boxes(g, g_ref, g.images, gt["images"])
    _same_boxes(d, d_ref, g.images, gt["images"])
    _check_equal(reference, g, d)


def test_yolo_round_trip_equals_coco(coco, reference, tmp_path):
    gt, dets, names = coco
    index = {cid: k for k, cid in enumerate(names)}  # YOLO indices 0..K-1 in category order
    write_yolo(tmp_path / "labels", gt["images"], gt["annotations"], index)
    write_yolo(tmp_path / "preds", gt["images"], dets, index, scores=True)
    sizes = {_key(im): (im["width"], im["height"]) for im in gt["images"]}
    (tmp_path / "names.txt").write_text("\n".join(names.values()) + "\n")
    g = read_ground_truth(tmp_path / "labels", "yolo", names=tmp_path / "names.txt", image_sizes=sizes)
    assert len(g.image_ids) == len(gt["images"])  # images without a label file come from the sizes
    d = read_detections(tmp_path / "preds", "yolo", g, names=tmp_path / "names.txt")
    _check_equal(reference, g, d)
    # YOLO detections against the COCO ground truth itself: matched by file name, classes by name
    g_ref = load_coco(gt)
    d2 = read_detections(tmp_path / "preds", "yolo", g_ref, names=tmp_path / "names.txt")
    np.testing.assert_allclose(_stats(g_ref, d2), reference[2], rtol=0, atol=1e-9)


def test_voc_round_trip_equals_coco(coco, reference, tmp_path):
    gt, dets, names = coco
    write_voc(tmp_path / "Annotations", gt["images"], gt["annotations"], names)
    write_voc_results(tmp_path / "results", gt["images"], dets, names)
    g = read_ground_truth(tmp_path / "Annotations", "voc", names=list(names.values()))
    d = read_detections(tmp_path / "results", "voc", g)
    assert g.annotations.difficult is not None and not g.annotations.difficult.any()
    _check_equal(reference, g, d)


def test_mixed_formats_and_image_sizes_sources(coco, reference, tmp_path):
    gt, dets, names = coco
    index = {cid: k for k, cid in enumerate(names)}
    write_voc(tmp_path / "Annotations", gt["images"], gt["annotations"], names)
    write_yolo(tmp_path / "preds", gt["images"], dets, index, scores=True)
    g = read_ground_truth(tmp_path / "Annotations", "voc", names=list(names.values()))
    d = read_detections(tmp_path / "preds", "yolo", g, names=list(names.values()))  # sizes from the XML
    _check_equal(reference, g, d)
    lines = "".join(f"{im['file_name']} {im['width']} {im['height']}\n" for im in gt["images"])
    (tmp_path / "sizes.txt").write_text(lines)
    (tmp_path / "sizes.json").write_text(json.dumps({_key(im): [im["width"], im["height"]] for im in gt["images"]}))
    (tmp_path / "coco.json").write_text(json.dumps(gt))
    want = {_key(im): (float(im["width"]), float(im["height"])) for im in gt["images"]}
    for src in ("sizes.txt", "sizes.json", "coco.json"):
        assert load_image_sizes(tmp_path / src) == want


def test_image_sizes_from_image_headers(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    (tmp_path / "img").mkdir()
    Image.new("RGB", (64, 48)).save(tmp_path / "img" / "a.png")
    Image.new("RGB", (30, 20)).save(tmp_path / "img" / "b.jpg")
    assert load_image_sizes(tmp_path / "img") == {"a": (64.0, 48.0), "b": (30.0, 20.0)}
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    g = read_ground_truth(tmp_path / "labels", "yolo", image_sizes=tmp_path / "img")
    np.testing.assert_allclose(g.annotations.bbox, [[16, 12, 32, 24]])
    assert [im["file_name"] for im in g.images] == ["a", "b"]  # b: an image without objects


# --------------------------------------------------------------------------- the well-known toy layouts


def test_object_detection_metrics_toy_layout_xywh(tmp_path):
    """The layout of the popular metrics repository's sample: gt ``class x y w h``, dets ``class score x y w h``."""
    (tmp_path / "gt").mkdir()
    (tmp_path / "det").mkdir()
    (tmp_path / "gt" / "00001.txt").write_text("person 25 16 38 56\nperson 129 123 41 62\n")
    (tmp_path / "gt" / "00002.txt").write_text("person 123 11 43 55\nperson 38 132 59 45\n")
    (tmp_path / "det" / "00001.txt").write_text(
        "person 0.88 5 67 31 48\nperson 0.70 119 111 40 67\nperson 0.80 124 9 49 67\n"
    )
    (tmp_path / "det" / "00002.txt").write_text("person 0.71 64 111 64 58\nperson 0.54 26 140 60 47\n")
    g = read_ground_truth(tmp_path / "gt", "text", box_format="xywh")
    d = read_detections(tmp_path / "det", "text", g, box_format="xywh")
    res = evaluate_pr(g, d, iou_thresholds=[0.3])
    gts = [(i, _xyxy(b), False) for i, b in zip(g.annotations.image_id, g.annotations.bbox)]
    dets = [(i, _xyxy(b), s) for i, b, s in zip(d.annotations.image_id, d.annotations.bbox, d.annotations.score)]
    prec, rec, _, _ = voc_class_curve(gts, dets, 0.3)
    assert res.ap_voc[0, 0] == pytest.approx(ap_voc(rec, prec), abs=1e-12)
    assert res.n_gt.tolist() == [4] and res.n_det.tolist() == [5]
    assert 0 < res.ap_voc[0, 0] < 1


def _xyxy(b):
    return [b[0], b[1], b[0] + b[2], b[1] + b[3]]


def test_voc_xml_difficult_against_the_devkit_reference(tmp_path):
    """VOC XML with difficult flags and the devkit's results files: AP equal to the devkit rules (+1 pixels)."""
    rng = np.random.default_rng(3)
    ann = tmp_path / "Annotations"
    ann.mkdir()
    raw_g = []
    classes = ["dog", "cat"]
    for i in range(6):
        objs = []
        for _ in range(rng.integers(1, 5)):
            x1, y1 = rng.integers(1, 200, 2)
            x2, y2 = x1 + rng.integers(5, 80), y1 + rng.integers(5, 80)
            c, diff = classes[rng.integers(0, 2)], int(rng.random() < 0.3)
            raw_g.append((f"im{i}", c, [x1, y1, x2, y2], diff))
            objs.append(
                f"<object><name>{c}</name><difficult>{diff}</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
                f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
            )
        (ann / f"im{i}.xml").write_text(
            f"<annotation><filename>im{i}.jpg</filename><size><width>300</width><height>300</height></size>"
            + "".join(objs)
            + "</annotation>"
        )
    res_dir = tmp_path / "results"
    res_dir.mkdir()
    raw_d = []
    for c in classes:
        lines = []
        for img, cc, b, _ in raw_g:
            for _ in range(2):
                jit = rng.integers(-6, 7, 4)
                bb = [
                    int(b[0] + jit[0]),
                    int(b[1] + jit[1]),
                    int(max(b[2] + jit[2], b[0] + jit[0])),
                    int(b[3] + jit[3]),
                ]
                bb[3] = max(bb[3], bb[1])
                s = round(float(rng.random()), 6)
                label = cc if rng.random() < 0.8 else c
                if label == c:
                    raw_d.append((img, c, bb, s))
                    lines.append(f"{img} {s} {bb[0]} {bb[1]} {bb[2]} {bb[3]}")
        (res_dir / f"comp4_det_test_{c}.txt").write_text("\n".join(lines) + "\n")
    g = read_ground_truth(ann, "voc")
    d = read_detections(res_dir, "voc", g)
    assert [c["name"] for c in g.categories] == ["cat", "dog"]
    assert int(g.annotations.difficult.sum()) == sum(r[3] for r in raw_g)
    res = evaluate_pr(g, d)
    for c in classes:
        gl = [(img, b, bool(df)) for img, cc, b, df in raw_g if cc == c]
        dl = [(img, b, s) for img, cc, b, s in raw_d if cc == c]
        prec, rec, _, _ = voc_class_curve(gl, dl, 0.5, plus_one=True)
        k = res.category_ids.index(next(x["id"] for x in g.categories if x["name"] == c))
        assert res.ap_voc[k, 0] == pytest.approx(ap_voc(rec, prec), abs=1e-12)
    # one_based=False keeps the numbers: then plus_one=True gives the same devkit AP
    g0 = read_ground_truth(ann, "voc", one_based=False)
    d0 = read_detections(res_dir, "voc", g0, one_based=False)
    np.testing.assert_allclose(evaluate_pr(g0, d0, plus_one=True).ap_voc, res.ap_voc, atol=1e-12)


def test_yolo_detections_with_scores_and_string_free_classes(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "dt").mkdir()
    (tmp_path / "gt" / "a.txt").write_text("0 0.5 0.5 0.2 0.4\n2 0.25 0.25 0.1 0.1\n")
    (tmp_path / "dt" / "a.txt").write_text("0 0.5 0.5 0.2 0.4 0.9\n2 0.25 0.26 0.1 0.1 0.4\n0 0.1 0.1 0.05 0.05 0.3\n")
    g = read_ground_truth(tmp_path / "gt", "yolo", image_sizes={"a.jpg": (200, 100)})
    assert g.categories == [{"id": 0, "name": "0"}, {"id": 2, "name": "2"}]
    np.testing.assert_allclose(g.annotations.bbox, [[80, 30, 40, 40], [40, 20, 20, 10]])
    d = read_detections(tmp_path / "dt", "yolo", g)
    np.testing.assert_allclose(d.annotations.score, [0.9, 0.4, 0.3])
    res = evaluate_pr(g, d)
    assert res.ap_voc[:, 0].tolist() == [1.0, 1.0]


# --------------------------------------------------------------------------- names and evaluate_pr with names


def test_names_sources(tmp_path):
    (tmp_path / "obj.names").write_text("cat\ndog\n\n")
    (tmp_path / "n.json").write_text(json.dumps({"3": "cat", "7": "dog"}))
    (tmp_path / "data.yaml").write_text("names:\n  0: cat\n  1: dog\n")
    assert load_names(tmp_path / "obj.names").categories() == [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}]
    assert load_names(tmp_path / "n.json").ids == [3, 7]
    if pytest.importorskip("yaml"):
        assert load_names(tmp_path / "data.yaml").names == ["cat", "dog"]
    assert load_names({"cat": 5, "dog": 6}).ids == [5, 6]
    with pytest.raises(ValueError, match="given twice"):
        load_names(["cat", "cat"])
    (tmp_path / "bad.names").write_text("cat\n\ndog\n")
    with pytest.raises(ValueError, match=r"bad\.names, line 2: empty class name"):
        load_names(tmp_path / "bad.names")


def test_evaluate_pr_takes_class_names():
    kw = dict(
        gt_boxes=[[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 5, 5]],
        gt_images=[0, 0, 1],
        det_boxes=[[0, 0, 10, 10], [20, 20, 30, 31], [50, 50, 60, 60]],
        det_scores=[0.9, 0.8, 0.7],
        det_images=[0, 0, 1],
    )
    by_id = evaluate_pr(None, gt_labels=[1, 0, 1], det_labels=[1, 0, 0], **kw)
    by_name = evaluate_pr(None, gt_labels=["dog", "cat", "dog"], det_labels=["dog", "cat", "cat"], **kw)
    named = evaluate_pr(
        None, gt_labels=["dog", "cat", "dog"], det_labels=["dog", "cat", "cat"], class_names=["cat", "dog"], **kw
    )
    np.testing.assert_array_equal(by_name.ap_voc, by_id.ap_voc)
    np.testing.assert_array_equal(named.ap_voc, by_id.ap_voc)
    assert named.names == {0: "cat", 1: "dog"} and by_name.names == {0: "cat", 1: "dog"}
    np.testing.assert_array_equal(named.curve("dog")[0], by_id.curve(1)[0])
    assert list(named.to_dataframe()["name"]) == ["cat", "dog"]
    with pytest.raises(ValueError, match=r"det_labels: index 2: class 'bird' is not in class_names"):
        evaluate_pr(
            None, gt_labels=["dog", "cat", "dog"], det_labels=["dog", "cat", "bird"], class_names=["cat", "dog"], **kw
        )
    with pytest.raises(ValueError, match="gt_labels: expected integer labels"):  # unchanged contract for numbers
        evaluate_pr(None, gt_labels=[0.5, 0, 1], det_labels=[1, 0, 0], **kw)


# --------------------------------------------------------------------------- bad input (issue 15 item 7)


@pytest.fixture
def toy(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "dt").mkdir()
    (tmp_path / "gt" / "a.txt").write_text("cat 10 10 50 50\ndog 60 60 100 120\n")
    (tmp_path / "gt" / "b.txt").write_text("cat 0 0 30 30\n")
    (tmp_path / "dt" / "a.txt").write_text("cat 0.9 12 10 50 52\n")
    return tmp_path


def _raises(match, fn, *a, **k):
    with pytest.raises(ValueError, match=match) as info:
        fn(*a, **k)
    return str(info.value)


def test_text_bad_input_names_file_line_and_field(toy):
    g = read_ground_truth(toy / "gt", "text")
    f = toy / "dt" / "b.txt"
    f.write_text("cat 0.3 0 0 10 10\nbird 0.3 0 0 1 10\n")
    _raises(r"b\.txt, line 2, field 'class': unknown class name 'bird'", read_detections, toy / "dt", "text", g)
    f.write_text("\ncat 0.3 0 0 x 10\n")
    _raises(r"b\.txt, line 2, field 'x2': expected a number, got 'x'", read_detections, toy / "dt", "text", g)
    f.write_text("cat 0.3 0 0 10\n")
    _raises(
        r"b\.txt, line 1: expected 6 fields 'class score x1 y1 x2 y2', got 5", read_detections, toy / "dt", "text", g
    )
    f.write_text("cat 0.3 0 0 10 nan\n")
    _raises(r"b\.txt, line 1, field 'y2': expected a finite number", read_detections, toy / "dt", "text", g)
    f.write_text("cat 0.3 20 0 10 10\n")
    _raises(r"b\.txt, line 1, field 'x2': x2 < x1", read_detections, toy / "dt", "text", g)
    f.write_text("cat high 0 0 10 10\n")
    _raises(r"b\.txt, line 1, field 'score': expected a number", read_detections, toy / "dt", "text", g)
    f.unlink()
    (toy / "dt" / "zzz.txt").write_text("cat 0.3 0 0 10 10\n")
    _raises(r"zzz\.txt: image 'zzz' is not in the ground truth", read_detections, toy / "dt", "text", g)
    # unknown class in the ground truth against a names list
    _raises(
        r"a\.txt, line 2, field 'class': unknown class name 'dog'",
        read_ground_truth,
        toy / "gt",
        "text",
        names=["cat", "bird"],
    )
    (toy / "gt" / "b.txt").write_text("cat 0 0 30 30 hard\n")
    _raises(r"b\.txt, line 1, field 'difficult'", read_ground_truth, toy / "gt", "text")


def test_yolo_bad_input_names_file_line_and_field(tmp_path):
    (tmp_path / "gt").mkdir()
    f = tmp_path / "gt" / "a.txt"
    sizes = {"a": (100, 100)}
    f.write_text("0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2\n")
    msg = _raises(
        r"a\.txt, line 2: expected 5 fields 'class cx cy w h', got 4",
        read_ground_truth,
        tmp_path / "gt",
        "yolo",
        image_sizes=sizes,
    )
    assert str(f) in msg
    f.write_text("person 0.5 0.5 0.2 0.2\n")
    _raises(
        r"line 1, field 'class': expected an integer class index, got 'person'",
        read_ground_truth,
        tmp_path / "gt",
        "yolo",
        image_sizes=sizes,
    )
    f.write_text("0 50 50 20 20\n")
    _raises(
        r"line 1, field 'cx': expected a normalised value in \[0, 1\]",
        read_ground_truth,
        tmp_path / "gt",
        "yolo",
        image_sizes=sizes,
    )
    f.write_text("0 0.5 0.5 0.2 0.2\n3 0.5 0.5 0.2 0.2\n")
    _raises(
        r"line 2, field 'class': class index 3 is not among the 2 known",
        read_ground_truth,
        tmp_path / "gt",
        "yolo",
        names=["a", "b"],
        image_sizes=sizes,
    )
    _raises(r"a\.txt: no image size for 'a'", read_ground_truth, tmp_path / "gt", "yolo", image_sizes={"b": (1, 1)})
    _raises(r"image_sizes: the yolo format needs", read_ground_truth, tmp_path / "gt", "yolo")
    f.write_text("0 0.5 0.5 0.2 0.2\n")
    g = read_ground_truth(tmp_path / "gt", "yolo", image_sizes=sizes)
    (tmp_path / "dt").mkdir()
    (tmp_path / "dt" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")  # no score
    _raises(
        r"a\.txt, line 1: expected 6 fields 'class cx cy w h score', got 5", read_detections, tmp_path / "dt", "yolo", g
    )
    (tmp_path / "dt" / "a.txt").write_text("0 0.5 0.5 0.2 0.2 0.9\n")
    (tmp_path / "dt" / "b.txt").write_text("0 0.5 0.5 0.2 0.2 0.9\n")
    _raises(r"b\.txt: image 'b' is not in the ground truth", read_detections, tmp_path / "dt", "yolo", g)


def test_voc_bad_input_names_file_object_and_field(tmp_path):
    ann = tmp_path / "Annotations"
    ann.mkdir()
    good = "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object>"
    (ann / "a.xml").write_text(
        f"<annotation>{good}<object><name>cat</name><bndbox><xmin>1</xmin><ymin>x</ymin></bndbox></object></annotation>"
    )
    _raises(r"a\.xml, object 1 \(cat\), field 'bndbox/ymin': expected a number, got 'x'", read_ground_truth, ann, "voc")
    (ann / "a.xml").write_text(f"<annotation>{good}<object><name>cow</name><bndbox/></object></annotation>")
    _raises(
        r"a\.xml, object 1 \(cow\), field 'name': unknown class name 'cow'",
        read_ground_truth,
        ann,
        "voc",
        names=["cat"],
    )
    (ann / "a.xml").write_text(
        f"<annotation>{good}<object><name>cat</name><difficult>yes</difficult></object></annotation>"
    )
    _raises(r"field 'difficult': expected 0 or 1", read_ground_truth, ann, "voc")
    (ann / "a.xml").write_text("<annotation><object></annotation>")
    _raises(r"a\.xml: not valid XML \(mismatched tag: line 1", read_ground_truth, ann, "voc")
    (ann / "a.xml").write_text(f"<annotation>{good}</annotation>")
    g = read_ground_truth(ann, "voc")
    res = tmp_path / "res"
    res.mkdir()
    (res / "comp4_det_test_cat.txt").write_text("a 0.9 1 1 9 9\nb 0.8 1 1 9 9\n")
    _raises(
        r"comp4_det_test_cat\.txt, line 2, field 'image': image 'b' is not in the ground truth",
        read_detections,
        res,
        "voc",
        g,
    )
    (res / "comp4_det_test_cat.txt").write_text("a 0.9 1 1 9\n")
    _raises(r"comp4_det_test_cat\.txt, line 1: expected 6 fields", read_detections, res, "voc", g)
    (res / "comp4_det_test_cat.txt").write_text("a 0.9 1 1 9 9\n")
    (res / "comp4_det_test_dog.txt").write_text("a 0.9 1 1 9 9\n")
    _raises(
        r"comp4_det_test_dog\.txt: the class 'dog' of this results file is not in the ground truth",
        read_detections,
        res,
        "voc",
        g,
    )


def test_label_files_in_subfolders_are_named(tmp_path):
    # a ground-truth folder whose label files sit one level down: a clear error, not an empty evaluation
    nested = tmp_path / "labels" / "val2017"
    nested.mkdir(parents=True)
    (nested / "a.txt").write_text("cat 1 1 9 9\n")
    msg = r"gt: .* has \.txt files in subfolders \(e\.g\. '.*a\.txt'\), which are not read"
    with pytest.raises(ValueError, match=msg):
        read_ground_truth(tmp_path / "labels", "text")
    # files at the top level and more below: read the top level, warn about the rest
    (tmp_path / "labels" / "b.txt").write_text("cat 2 2 8 8\n")
    with pytest.warns(UserWarning, match=r"subfolders .* \(read: 1 files at the top level\)"):
        g = read_ground_truth(tmp_path / "labels", "text")
    assert len(g.annotations) == 1 and len(g.image_ids) == 1  # b.txt only
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"gt: no \.txt files in '.*empty'"):
        read_ground_truth(tmp_path / "empty", "text")
    # hidden subfolders (e.g. .ipynb_checkpoints) are not looked into
    flat = tmp_path / "flat"
    (flat / ".cache").mkdir(parents=True)
    (flat / ".cache" / "x.txt").write_text("cat 1 1 9 9\n")
    (flat / "c.txt").write_text("cat 1 1 9 9\n")
    import warnings as _w

    with _w.catch_warnings():
        _w.simplefilter("error")
        read_ground_truth(flat, "text")


def test_argument_errors():
    with pytest.raises(ValueError, match="fmt: expected one of"):
        read_ground_truth("x", "kitti")
    with pytest.raises(ValueError, match="box_format: the voc format fixes its boxes"):
        read_ground_truth("x", "voc", box_format="xywh")
    with pytest.raises(ValueError, match="box_format: expected one of"):
        read_ground_truth(".", "text", box_format="ltrb")
    with pytest.raises(ValueError, match="gt: no such folder or file"):
        read_ground_truth("/no/such/folder", "text")
    with pytest.raises(ValueError, match="iou_thresholds: must be in"):
        evaluate_pr(
            None,
            gt_boxes=np.zeros((0, 4)),
            gt_labels=[],
            gt_images=[],
            det_boxes=np.zeros((0, 4)),
            det_scores=[],
            det_labels=[],
            det_images=[],
            iou_thresholds=[1.5],
        )


# --------------------------------------------------------------------------- CLI and report


def test_cli_reads_the_formats(coco, reference, tmp_path, capsys):
    gt, dets, names = coco
    write_voc(tmp_path / "Annotations", gt["images"], gt["annotations"], names)
    write_text(tmp_path / "dt", gt["images"], dets, names, fmt="xywh", scores=True)
    out = tmp_path / "r.json"
    argv = [str(tmp_path / "Annotations"), str(tmp_path / "dt"), "--gt-format", "voc", "--dt-format", "text"]
    assert eval_main(argv + ["--dt-box-format", "xywh", "--out", str(out)]) == 0
    got = json.loads(out.read_text())["stats"]
    np.testing.assert_allclose(list(got.values()), reference[2], rtol=0, atol=1e-9)
    assert eval_main(argv + ["--dt-box-format", "xywh", "--protocol", "voc07", "--iou-thresholds", "1.5"]) == 2
    assert "--iou-thresholds: each threshold must be in [0, 1], got 1.5" in capsys.readouterr().err
    assert eval_main(argv) == 2  # xywh files read as xyxy: some x2 < x1
    err = capsys.readouterr().err
    assert re.search(r"error: .*\.txt, line \d+, field '[xy]2': [xy]2 < [xy]1", err), err
    assert eval_main(argv + ["--dt-box-format", "xywh", "--gt-box-format", "xyxy"]) == 2
    assert "box_format: the voc format fixes its boxes" in capsys.readouterr().err


def test_report_reads_the_formats(coco, reference, tmp_path):
    from detbench.report import run_report

    gt, dets, names = coco
    index = {cid: k for k, cid in enumerate(names)}
    write_text(tmp_path / "gt", gt["images"], gt["annotations"], names)
    write_yolo(tmp_path / "preds", gt["images"], dets, index, scores=True)
    (tmp_path / "names.txt").write_text("\n".join(names.values()))
    (tmp_path / "sizes.json").write_text(json.dumps({_key(im): [im["width"], im["height"]] for im in gt["images"]}))
    formats = {"gt_format": "text", "dt_format": "yolo", "names": str(tmp_path / "names.txt")}
    formats["image_sizes"] = str(tmp_path / "sizes.json")
    run_report(
        tmp_path / "rep",
        gt=tmp_path / "gt",
        dt=[f"yolo={tmp_path / 'preds'}"],
        formats=formats,
        sections=["user_ap"],
        progress=False,
        history=None,
    )
    results = json.loads((tmp_path / "rep" / "results.json").read_text())
    stats = results["sections"]["user_ap"]["tables"]["user_stats"]
    np.testing.assert_allclose([r["yolo"] for r in stats], reference[2], rtol=0, atol=1e-9)


def test_blank_lines_crlf_and_missing_final_newline(tmp_path):
    """Files written on other systems: blank and white-space lines, CRLF endings, no final newline."""
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "a.txt").write_bytes(b"\r\ncat 1 2 3 4\r\n   \r\ndog 5 6 7 8 difficult\r\n\r\n")
    (tmp_path / "gt" / "b.txt").write_bytes(b"cat 0 0 1 1")
    (tmp_path / "gt" / "c.txt").write_bytes(b"")
    g = read_ground_truth(tmp_path / "gt", "text")
    np.testing.assert_array_equal(g.annotations.image_id, [1, 1, 2])
    np.testing.assert_array_equal(g.annotations.bbox, [[1, 2, 2, 2], [5, 6, 2, 2], [0, 0, 1, 1]])
    assert g.annotations.difficult.tolist() == [False, True, False] and len(g.image_ids) == 3
    (tmp_path / "gt" / "b.txt").write_bytes(b"cat 0 0 1 1\n\n\ncat 0 0 1")
    _raises(r"b\.txt, line 4: expected 5 or 6 fields", read_ground_truth, tmp_path / "gt", "text")


def test_report_command_line_takes_the_format_options():
    from detbench.cli import build_parser

    args = build_parser().parse_args(
        ["report", "--gt", "A", "--gt-format", "voc", "--dt", "m=R", "--dt-format", "yolo", "--names", "n.txt"]
    )
    assert (args.gt_format, args.dt_format, args.names, args.image_sizes) == ("voc", "yolo", "n.txt", None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "g", "d", "--gt-format", "kitti"])
