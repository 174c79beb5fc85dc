"""Sharded results: evaluate_shards (one process) and evaluate_distributed (a real Dask LocalCluster) equal one-shot."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from detbench.data import DATA_DIR
from detbench.eval import COCOeval, Params, evaluate_distributed, evaluate_shards, load_coco
from detbench.eval.cli import main

DATA = str(DATA_DIR / "coco-val2014-100")
GT = os.path.join(DATA, "instances_val2014_100.json")
DT = os.path.join(DATA, "instances_val2014_fakebbox100_results.json")
KEYS = ("precision", "recall", "scores")


def one_shot(params: Params | None = None) -> COCOeval:
    g = load_coco(GT)
    E = COCOeval(g, g.load_results(DT))
    if params is not None:
        E.params.maxDets = params.maxDets
    E.evaluate()
    E.accumulate()
    E.summary_text()
    return E


def assert_same(res, E) -> None:
    for k in KEYS:
        assert np.array_equal(res.eval[k], E.eval[k]), k
    assert np.array_equal(res.stats, E.stats)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """The shipped results split by image into 5 shards (images in a shuffled order)."""
    with open(DT) as f:
        res = json.load(f)
    imgs = sorted({r["image_id"] for r in res})
    np.random.default_rng(0).shuffle(imgs)
    where = {img: k % 5 for k, img in enumerate(imgs)}
    folder = tmp_path_factory.mktemp("shards")
    for k in range(5):
        with open(folder / f"results-{k}.json", "w") as f:
            json.dump([r for r in res if where[r["image_id"]] == k], f)
    return folder, len(res), len(imgs)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cl:
        with distributed.Client(cl) as c:
            yield c


def test_evaluate_shards_in_one_process(shards):
    folder, n_dets, n_imgs = shards
    res = evaluate_shards(GT, str(folder / "results-*.json"))
    assert_same(res, one_shot())
    assert (res.n_shards, res.n_detections, res.n_images) == (5, n_dets, n_imgs)


def test_evaluate_distributed_on_a_local_cluster(shards, client):
    folder, n_dets, n_imgs = shards
    paths = [str(folder / f"results-{k}.json") for k in (3, 1, 4, 0, 2)]  # any order
    res = evaluate_distributed(GT, paths, client=client)
    assert_same(res, one_shot())
    assert (res.n_shards, res.n_detections, res.n_images) == (5, n_dets, n_imgs)
    p = Params()
    p.maxDets = [1, 5, 20]
    assert_same(evaluate_distributed(GT, str(folder / "results-*.json"), p, client=client), one_shot(p))


def test_unreadable_shard_stops_the_run_naming_it(shards, client, tmp_path):
    folder, _, _ = shards
    bad = tmp_path / "results-bad.json"
    bad.write_text('[{"image_id": 1, "category_id"')
    paths = [str(folder / "results-0.json"), str(bad)]
    with pytest.raises(ValueError, match="results-bad.json"):
        evaluate_distributed(GT, paths, client=client, retries=0)
    with pytest.raises(ValueError, match="results-bad.json"):
        evaluate_shards(GT, paths)
    with pytest.raises(ValueError, match="matches no file"):
        evaluate_shards(GT, str(tmp_path / "nothing-*.json"))


def test_an_image_split_over_two_shards_is_refused(shards, client, tmp_path):
    with open(DT) as f:
        res = json.load(f)
    counts: dict = {}
    for r in res:
        counts[r["image_id"]] = counts.get(r["image_id"], 0) + 1
    img = max(counts, key=counts.get)
    mine = [r for r in res if r["image_id"] == img]
    (tmp_path / "a.json").write_text(json.dumps(mine[:1]))
    (tmp_path / "b.json").write_text(json.dumps(mine[1:]))
    paths = [str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    with pytest.raises(ValueError, match=f"image {img} has detections in more than one shard"):
        evaluate_distributed(GT, paths, client=client, retries=0)
    with pytest.raises(ValueError, match="b.json"):
        evaluate_shards(GT, paths)


def test_cli_scheduler_and_several_files(shards, client, tmp_path, capsys):
    folder, n_dets, n_imgs = shards
    E = one_shot()
    out = tmp_path / "out.json"
    addr = client.scheduler.address
    assert main([GT, str(folder / "results-*.json"), "--scheduler", addr, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"evaluated {n_imgs} images, {n_dets} detections, 5 shards" in text
    payload = json.loads(out.read_text())
    assert {"protocol", "stats", "iou_thresholds", "max_dets", "timing_s"} <= set(payload)
    assert list(payload["stats"].values()) == [float(v) for v in E.stats]
    # several files without a cluster: streamed in this process
    files = [str(folder / f"results-{k}.json") for k in range(5)]
    assert main([GT, *files, "--out", str(out)]) == 0
    assert list(json.loads(out.read_text())["stats"].values()) == [float(v) for v in E.stats]
    assert main([GT, files[0], "--workers", "2", "--protocol", "voc07"]) == 2
    assert "--workers" in capsys.readouterr().err


#: failures injected per worker process (see _flaky_shard_state)
FAILED: dict = {"n": 0}


def _flaky_shard_state(*args, **kwargs):
    """The shard task, failing the first time it runs in each worker process."""
    from detbench.eval import shards as sh

    if FAILED["n"] == 0:
        FAILED["n"] += 1
        raise RuntimeError("injected worker failure")
    return sh._real_shard_state(*args, **kwargs)


def _failures() -> int:
    return FAILED["n"]


def test_a_task_that_fails_once_is_retried_and_the_result_is_exact(shards, client, monkeypatch):
    from detbench.eval import shards as sh

    folder, n_dets, _ = shards
    client.run(lambda: setattr(sh, "_real_shard_state", sh._shard_state))
    monkeypatch.setattr(sh, "_shard_state", _flaky_shard_state)
    res = evaluate_distributed(GT, str(folder / "results-*.json"), client=client, retries=3)
    assert sum(client.run(_failures).values()) >= 1  # failures did happen
    assert_same(res, one_shot())
    assert res.n_detections == n_dets


def _dying_shard_state(gt_path, path, params):
    """The shard task; the first one to run kills its worker process (a marker file says it happened)."""
    from detbench.eval import shards as sh

    marker = os.path.join(os.path.dirname(path), "worker-died")
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return sh._real_shard_state(gt_path, path, params)


def test_a_worker_that_dies_is_replaced_and_the_result_is_exact(shards, client, monkeypatch):
    from detbench.eval import shards as sh

    folder, n_dets, _ = shards
    client.run(lambda: setattr(sh, "_real_shard_state", sh._shard_state))
    monkeypatch.setattr(sh, "_shard_state", _dying_shard_state)
    res = evaluate_distributed(GT, str(folder / "results-*.json"), client=client)
    assert os.path.exists(folder / "worker-died")
    os.remove(folder / "worker-died")
    assert_same(res, one_shot())
    assert res.n_detections == n_dets


def test_cli_workers_starts_a_local_cluster(shards, tmp_path, capsys):
    folder, n_dets, n_imgs = shards
    out = tmp_path / "out.json"
    assert main([GT, str(folder / "results-*.json"), "--workers", "2", "--out", str(out)]) == 0
    assert f"evaluated {n_imgs} images, {n_dets} detections, 5 shards" in capsys.readouterr().out
    assert list(json.loads(out.read_text())["stats"].values()) == [float(v) for v in one_shot().stats]
