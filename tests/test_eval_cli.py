"""detbench eval command line (run_eval / add_eval_parser / python -m detbench.eval.cli)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os

import numpy as np
import pandas as pd
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval as PyCOCOeval

from detbench.data import DATA_DIR
from detbench.eval.cli import STAT_NAMES, add_eval_parser, main, run_eval

DATA = str(DATA_DIR / "coco-val2014-100")  # the subset shipped as package data
GT = os.path.join(DATA, "instances_val2014_100.json")
DT = os.path.join(DATA, "instances_val2014_fakebbox100_results.json")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="detbench")
    sub = parser.add_subparsers(dest="command")
    add_eval_parser(sub)
    return parser


def test_coco_summary_matches_pycocotools_output(capsys, tmp_path):
    with contextlib.redirect_stdout(io.StringIO()):
        c_gt = COCO(GT)
        c_dt = c_gt.loadRes(DT)
        ref = PyCOCOeval(c_gt, c_dt, "bbox")
        ref.evaluate()
        ref.accumulate()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ref.summarize()
    out_file = tmp_path / "res.json"
    args = _parser().parse_args(["eval", GT, DT, "--out", str(out_file)])
    assert args.func is run_eval
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert buf.getvalue() in out
    assert "timing: load" in out
    payload = json.loads(out_file.read_text())
    assert payload["protocol"] == "coco"
    assert [payload["stats"][k] for k in STAT_NAMES] == ref.stats.tolist()
    assert len(payload["per_class"]) == 80


def test_progress_lines_only_for_large_inputs(capsys, monkeypatch):
    from detbench.eval import cli

    assert main([GT, DT]) == 0
    assert "detbench eval: reading" not in capsys.readouterr().err  # small files: no progress lines
    monkeypatch.setattr(cli, "PROGRESS_BYTES", 1)
    assert main([GT, DT]) == 0
    err = capsys.readouterr().err
    assert "detbench eval: reading instances_val2014_100.json (" in err
    assert "instances_val2014_fakebbox100_results.json (" in err
    assert "detbench eval: evaluating " in err and "detections (coco protocol)" in err


def test_voc_protocol_per_class_csv(capsys, tmp_path):
    out_file = tmp_path / "table.csv"
    rc = main([GT, DT, "--protocol", "voc07", "--iou-thresholds", "0.5", "0.75", "--per-class", "--out", str(out_file)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "VOC07 11-point" in out and "COCO 101-point" in out and "person" in out
    df = pd.read_csv(out_file)
    assert len(df) == 2 * 80
    assert {"ap_voc07", "ap_voc", "ap_coco101", "f1_threshold"} <= set(df.columns)
    assert np.isfinite(df.loc[df.name == "person", "ap_voc07"]).all()


def test_voc12_and_custom_coco_params(capsys):
    assert main([GT, DT, "--protocol", "voc12", "--matching", "coco", "--max-dets", "100"]) == 0
    out = capsys.readouterr().out
    assert "VOC2010+ all-point" in out
    assert main([GT, DT, "--iou-thresholds", "0.5", "--max-dets", "1", "10", "100", "300"]) == 0
    out = capsys.readouterr().out
    assert "IoU=0.50:0.50" in out


def test_bad_inputs_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 0.5}]')
    assert main([GT, str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bbox must be a list of 4 numbers" in err
    broken = tmp_path / "broken.json"
    broken.write_text('[{"image_id": 1,')
    assert main([GT, str(broken)]) == 2
    assert "malformed JSON" in capsys.readouterr().err
    assert main([GT, DT, "--out", str(tmp_path / "x.txt")]) == 2
    assert "--out" in capsys.readouterr().err
    assert main([GT, str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def _err(capsys) -> str:
    return capsys.readouterr().err


def test_option_values_refused_before_loading(capsys, tmp_path):
    # issue 19: accepted (or a traceback) before
    for bad in (["--iou-thresholds", "1.5"], ["--iou-thresholds", "-0.1"], ["--iou-thresholds", "0.5", "nan"]):
        assert main([GT, DT, *bad]) == 2
        assert "--iou-thresholds: each threshold must be in [0, 1]" in _err(capsys)
    for bad in ("0", "-3", "1180591620717411303424"):
        assert main([GT, DT, "--max-dets", "1", bad]) == 2
        assert "--max-dets: each value must be an integer in [1, 2147483647]" in _err(capsys)
    assert main([GT, DT, "--protocol", "voc12", "--max-dets", "0"]) == 2
    assert "--max-dets" in _err(capsys)


def test_unwritable_out_refused_before_evaluating(capsys, tmp_path):
    missing_dir = tmp_path / "no" / "such" / "dir" / "r.json"
    assert main([GT, DT, "--out", str(missing_dir)]) == 2
    captured = capsys.readouterr()
    assert "--out: the directory" in captured.err and "does not exist" in captured.err
    assert "loaded" not in captured.out  # refused before loading and evaluating
    folder = tmp_path / "r.json"
    folder.mkdir()
    assert main([GT, DT, "--out", str(folder)]) == 2
    assert "is a directory" in _err(capsys)


def test_deeply_nested_results_file_is_a_clean_error(capsys, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert main([GT, str(deep)]) == 2
    assert "nested too deeply" in _err(capsys)
    deep.write_text('{"annotations": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert main([GT, str(deep)]) == 2
    assert "nested too deeply" in _err(capsys)


def test_strings_and_bools_are_not_numbers(capsys, tmp_path):
    # issue 19: "0.9", true and "5" were converted and evaluated
    for value, shown in (('"0.9"', "'0.9'"), ("true", "True")):
        f = tmp_path / "dt.json"
        f.write_text(f'[{{"image_id": 42, "category_id": 18, "bbox": [1, 2, 3, 4], "score": {value}}}]')
        assert main([GT, str(f)]) == 2
        assert f"annotation 0: score must be a number, got {shown}" in _err(capsys)
    gt = json.load(open(GT))
    gt["annotations"][5]["area"] = "5"
    g = tmp_path / "gt.json"
    g.write_text(json.dumps(gt))
    assert main([str(g), DT]) == 2
    assert "annotation 5 (id " in (e := _err(capsys)) and "area must be a number, got '5'" in e
    gt["annotations"][5]["area"] = 5.0
    gt["annotations"][7]["bbox"][2] = False
    g.write_text(json.dumps(gt))
    assert main([str(g), DT]) == 2
    assert "annotation 7 (id " in (e := _err(capsys)) and "bbox must be 4 numbers" in e


def test_bad_row_at_the_end_of_a_large_results_file(capsys, tmp_path):
    # issue 13.5 / 19.6: the row index and the field of the one bad detection among many
    rows = json.load(open(DT))
    dets = (rows * 300)[:200_000]
    for k, d in enumerate(dets):
        dets[k] = dict(d)
    dets[-1] = dict(dets[-1], score=None)
    f = tmp_path / "big.json"
    f.write_text(json.dumps(dets))
    assert main([GT, str(f)]) == 2
    assert "annotation 199999: score must be a number, got None" in _err(capsys)
    dets[-1] = {k: v for k, v in dets[0].items() if k != "bbox"}
    f.write_text(json.dumps(dets))
    assert main([GT, str(f)]) == 2
    assert "annotation 199999 is missing the key 'bbox'" in _err(capsys)


def test_truncated_and_non_json_files_name_the_byte(capsys, tmp_path):
    text = open(DT).read()
    f = tmp_path / "cut.json"
    f.write_text(text[:5000])
    assert main([GT, str(f)]) == 2
    assert "truncated" in (e := _err(capsys)) and "(byte 5000)" in e
    f.write_text(text[:3000] + "@" + text[3000:])
    assert main([GT, str(f)]) == 2
    assert "malformed JSON at line 1 column 3001 (byte 3000)" in _err(capsys)
    f.write_bytes(b"\x89PNG\r\n")
    assert main([GT, str(f)]) == 2
    assert "malformed JSON" in (e := _err(capsys)) and "(byte 0)" in e


def test_results_file_that_is_an_object(capsys, tmp_path):
    f = tmp_path / "dict.json"
    f.write_text(json.dumps({"info": {}, "annotations": json.load(open(DT))}))
    assert main([GT, str(f)]) == 0  # a COCO-format object holding the detection list is read as that list
    capsys.readouterr()
    f.write_text(json.dumps({"detections": json.load(open(DT))}))
    assert main([GT, str(f)]) == 2
    assert "got an object with keys 'detections'" in _err(capsys)


def test_threshold_list_that_is_not_a_range_is_printed_as_a_list(capsys):
    assert main([GT, DT, "--iou-thresholds", "0.5", "0.7", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "IoU=[0.50, 0.70, 0.80]" in out
    assert "0.50:0.80" not in out
    assert main([GT, DT, "--iou-thresholds", "0.5", "0.6", "0.7"]) == 0  # evenly spaced: pycocotools' a:b
    out = capsys.readouterr().out
    assert "IoU=0.50:0.70" in out and "IoU=[" not in out


def test_empty_results_file_warns_and_gives_pycocotools_zeros(capsys, tmp_path):
    # ground truth with only large objects, so the small/medium entries are -1 and the rest 0
    gt = {
        "images": [{"id": 1, "width": 640, "height": 480}, {"id": 2, "width": 640, "height": 480}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 200, 200], "area": 40000, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [50, 20, 300, 250], "area": 75000, "iscrowd": 0},
        ],
    }
    gt_file, dt_file, out_file = tmp_path / "gt.json", tmp_path / "dt.json", tmp_path / "out.json"
    gt_file.write_text(json.dumps(gt))
    dt_file.write_text("[]")
    assert main([str(gt_file), str(dt_file), "--out", str(out_file)]) == 0
    captured = capsys.readouterr()
    assert "warning" in captured.err and "no detections" in captured.err and "dt.json" in captured.err
    stats = json.loads(out_file.read_text())["stats"]
    # pycocotools' loadRes refuses an empty list; an empty result set built directly gives its numbers
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_file))
        coco_dt = COCO()
        coco_dt.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
        coco_dt.createIndex()
        E = PyCOCOeval(coco_gt, coco_dt, "bbox")
        E.evaluate()
        E.accumulate()
        E.summarize()
    assert [stats[name] for name in STAT_NAMES] == [float(v) for v in E.stats]
    assert {float(v) for v in E.stats} == {0.0, -1.0}
