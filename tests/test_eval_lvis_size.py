"""The LVIS-size files -> stats path (benchmarks/bench_eval_lvis_size.py) on a small instance.

The benchmark itself runs at full size outside CI; here the same data generator and the same
files -> stats code run on 30 images, in this process, for detbench and each installed Rust peer.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import bench_eval_lvis_size as lvis


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("DETBENCH_BENCH_CACHE", str(tmp_path))
    return lvis.lvis_size_files(30)


def test_generated_files_have_the_lvis_shape(files):
    gt_path, dt_path = files
    gt = json.load(open(gt_path))
    dets = json.load(open(dt_path))
    assert len(gt["images"]) == 30 and len(gt["categories"]) == lvis.N_CATEGORIES
    per_image = np.bincount([d["image_id"] for d in dets])[1:]
    assert per_image.max() == lvis.DETS_PER_IMAGE and np.median(per_image) == lvis.DETS_PER_IMAGE
    assert set(dets[0]) == {"image_id", "category_id", "bbox", "score"}
    assert lvis.lvis_size_files(30) == files  # cached: written once


def test_peers_agree_on_the_small_instance(files):
    mine = lvis.run_once("detbench", *files)
    assert mine["peak_rss_mb"] > 0 and set(mine["phases"]) >= {"gt_load", "results_load", "evaluate"}
    assert mine["stats"][0] == -1.0  # pycocotools: stats[0] at maxDets=100, absent from [1, 10, 300]
    peers = [p for p in ("hotcoco", "ultrafast_pycocotools") if lvis._available(p)]
    if not peers:
        pytest.skip("no Rust peer installed")
    for peer in peers:
        theirs = lvis.run_once(peer, *files)
        assert theirs["stats"][1:] == mine["stats"][1:], peer
