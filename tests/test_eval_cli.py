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
