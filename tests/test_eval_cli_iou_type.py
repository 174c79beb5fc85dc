"""``detbench eval --iou-type segm|keypoints``: the printed summary and stats equal pycocotools' (live)."""

from __future__ import annotations

import contextlib
import io
import json
import os

import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval as PyCOCOeval

from detbench.data import DATA_DIR
from detbench.eval.cli import STAT_NAMES, main
from detbench.synthetic import make_keypoints_coco

DATA = str(DATA_DIR / "coco-val2014-100")
GT = os.path.join(DATA, "instances_val2014_100.json")
SEGM = os.path.join(DATA, "instances_val2014_fakesegm100_results.json")
BBOX = os.path.join(DATA, "instances_val2014_fakebbox100_results.json")

# pycocotools' segm stats on the subset (its README)
PUBLISHED_SEGM_AP = 0.3195452758576433


def _reference(gt: str, dt: str, kind: str):
    with contextlib.redirect_stdout(io.StringIO()):
        c_gt = COCO(gt)
        c_dt = c_gt.loadRes(dt)
        ref = PyCOCOeval(c_gt, c_dt, kind)
        ref.evaluate()
        ref.accumulate()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ref.summarize()
    return ref, buf.getvalue()


def _run(capsys, gt: str, dt: str, kind: str, tmp_path) -> None:
    ref, text = _reference(gt, dt, kind)
    out_file = tmp_path / "res.json"
    assert main([gt, dt, "--iou-type", kind, "--out", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert text in out
    payload = json.loads(out_file.read_text())
    assert [payload["stats"][k] for k in STAT_NAMES[: len(ref.stats)]] == ref.stats.tolist()


def test_segm_on_the_coco_subset(capsys, tmp_path):
    _run(capsys, GT, SEGM, "segm", tmp_path)
    ref, _ = _reference(GT, SEGM, "segm")
    assert ref.stats[0] == PUBLISHED_SEGM_AP


def test_keypoints_synthetic(capsys, tmp_path):
    gt, dets = make_keypoints_coco(40, seed=2)
    g, d = tmp_path / "gt.json", tmp_path / "dt.json"
    g.write_text(json.dumps(gt))
    d.write_text(json.dumps(dets))
    _run(capsys, str(g), str(d), "keypoints", tmp_path)


def test_bbox_stays_the_default(capsys):
    ref, text = _reference(GT, BBOX, "bbox")
    assert main([GT, BBOX, "--iou-type", "bbox"]) == 0
    assert text in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        ([GT, BBOX, "--iou-type", "segm"], "only a box"),
        ([GT, SEGM, "--iou-type", "segm", "--protocol", "voc07"], "--iou-type segm: only with --protocol coco"),
        ([GT, SEGM, SEGM, "--iou-type", "segm"], "--iou-type segm: only with --protocol coco and one results file"),
    ],
)
def test_refused(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
