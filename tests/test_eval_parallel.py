"""COCO evaluation gives bit-identical arrays for any thread count and threading mechanism."""

from __future__ import annotations

import numpy as np
import pytest

from detbench import _sort
from detbench._sort import segmented_desc_order
from detbench.eval import COCOeval, accumulate, grouping, load_coco, load_results
from detbench.eval.matching import make_settings
from detbench.synthetic import SceneConfig, make_dataset
from tests.test_eval_coco import make_edge_dataset, quiet


@pytest.fixture
def always_parallel(monkeypatch):
    # the size cut-offs below which evaluation stays serial, lowered so small sets split
    monkeypatch.setattr(accumulate, "_MIN_PARALLEL_DETS", 0)
    monkeypatch.setattr(accumulate, "_MIN_ITEM_DETS", 1)  # queue items as small as the guided split allows
    monkeypatch.setattr(grouping, "_PARALLEL_ROWS", 0)
    monkeypatch.setattr(_sort, "_SEG_PARALLEL", 0)


def _dataset(seed: int) -> tuple:
    gt, dets = make_edge_dataset(seed)
    g = load_coco(gt)
    return g, load_results(dets, g) if dets else None


def _run(g, d, threads, **params):
    E = COCOeval(g, d, "bbox", threads=threads)
    for k, v in params.items():
        setattr(E.params, k, v)
    E.evaluate()
    E.accumulate()
    quiet(E.summarize)
    return E


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and np.ascontiguousarray(a).tobytes() == b.tobytes()


def _eval_imgs_equal(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if (x is None) != (y is None):
            return False
        if x is None:
            continue
        for k in x:
            if isinstance(x[k], np.ndarray):
                if not _same_bits(x[k], y[k]):
                    return False
            elif x[k] != y[k]:
                return False
    return True


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("use_cats", [1, 0])
def test_threads_bit_identical(always_parallel, seed, use_cats):
    g, d = _dataset(seed)
    if d is None:
        pytest.skip("no detections in this draw")
    ref = _run(g, d, 1, useCats=use_cats)
    for t in (2, 3):
        E = _run(g, d, t, useCats=use_cats)
        for key in ("precision", "recall", "scores"):
            assert _same_bits(ref.eval[key], E.eval[key]), (t, key)
        assert _same_bits(ref.stats, E.stats)
        assert _eval_imgs_equal(ref.evalImgs, E.evalImgs)


def test_threads_bit_identical_synthetic(always_parallel):
    # a denser set: many categories, several TPs per (category, image), maxDets cut-offs reached
    gt, dets = make_dataset(SceneConfig(n_images=60, n_classes=7), seed=3)
    g = load_coco(gt)
    d = load_results(dets.to_coco(), g)
    ref = _run(g, d, 1)
    for t in (2, 3, 4):
        E = _run(g, d, t)
        for key in ("precision", "recall", "scores"):
            assert _same_bits(ref.eval[key], E.eval[key]), (t, key)
        assert _same_bits(ref.stats, E.stats)


@pytest.mark.parametrize("use_cats", [1, 0])
def test_small_set_splits_bit_identical(monkeypatch, use_cats):
    # below the big-input cut-off: the score sort split over threads (_sort._SEG_PARALLEL) and the scatter
    # split (grouping._PARALLEL_SORT)
    monkeypatch.setattr(accumulate, "_MIN_PARALLEL_DETS", 0)
    monkeypatch.setattr(accumulate, "_MIN_ITEM_DETS", 1)
    monkeypatch.setattr(grouping, "_PARALLEL_SORT", 0)
    monkeypatch.setattr(_sort, "_SEG_PARALLEL", 0)
    gt, dets = make_dataset(SceneConfig(n_images=60, n_classes=7), seed=5)
    g = load_coco(gt)
    d = load_results(dets.to_coco(), g)
    ref = _run(g, d, 1, useCats=use_cats)
    for t in (2, 3, 5):
        E = _run(g, d, t, useCats=use_cats)
        assert _same_bits(ref._prep.groups.gorder, E._prep.groups.gorder)
        for key in ("precision", "recall", "scores"):
            assert _same_bits(ref.eval[key], E.eval[key]), (t, key)
        assert _same_bits(ref.stats, E.stats)


def test_queue_cuts_cover_every_segment_once():
    rng = np.random.default_rng(0)
    for n_seg in (1, 2, 7, 80, 1203):
        lengths = np.sort(rng.integers(0, 5000, n_seg))[::-1]
        for threads in (2, 3, 16):
            cuts = accumulate._queue_cuts(lengths, threads)
            assert cuts[0] == 0 and cuts[-1] == n_seg and np.all(np.diff(cuts) > 0)


@pytest.mark.parametrize("mechanism", ["pool", "prange"])
def test_mechanisms_agree(always_parallel, mechanism):
    g, d = _dataset(1)
    E = _run(g, d, 1)
    st = make_settings(E._paramsEval)
    ref = accumulate.evaluate_curves(E._prep.groups, st, threads=1)
    for t in (2, 3):
        out = accumulate.evaluate_curves(E._prep.groups, st, threads=t, mechanism=mechanism)
        for a, b in zip(ref, out):
            assert _same_bits(a, b)


def test_mechanism_refused():
    g, d = _dataset(1)
    E = _run(g, d, 1)
    with pytest.raises(ValueError, match="mechanism"):
        accumulate.evaluate_curves(E._prep.groups, make_settings(E._paramsEval), threads=2, mechanism="openmp")


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_bad_threads(threads):
    g, d = _dataset(1)
    with pytest.raises(ValueError, match="threads"):
        COCOeval(g, d, "bbox", threads=threads)
    # evaluate_curves checks it too, also for inputs too small to be split over threads
    E = _run(g, d, 1)
    with pytest.raises(ValueError, match="threads"):
        accumulate.evaluate_curves(E._prep.groups, make_settings(E._paramsEval), threads=threads)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_segmented_order_threads(always_parallel, threads):
    rng = np.random.default_rng(0)
    sizes = rng.integers(0, 3000, 40)
    seg_off = np.zeros(sizes.size + 1, np.int64)
    np.cumsum(sizes, out=seg_off[1:])
    scores = np.round(rng.random(int(seg_off[-1])), 2)  # many ties
    scores[::7] = -0.0
    scores[::11] = 0.0
    got = segmented_desc_order(scores, seg_off, threads=threads)
    want = np.concatenate([lo + np.argsort(-scores[lo:hi], kind="stable") for lo, hi in zip(seg_off[:-1], seg_off[1:])])
    assert np.array_equal(got, want)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_run_queue_every_item_once(threads):
    from detbench._parallel import run_queue

    seen = np.zeros(50, np.int64)
    states = []

    def make_state():
        states.append(object())
        return states[-1]

    run_queue(50, lambda i, state: seen.__setitem__(i, seen[i] + 1), threads=threads, make_state=make_state)
    assert seen.tolist() == [1] * 50
    assert 1 <= len(states) <= threads


def test_run_tasks_inline_order_and_errors():
    from detbench._parallel import run_tasks_inline

    assert run_tasks_inline([lambda k=k: k * k for k in range(5)], threads=2) == [0, 1, 4, 9, 16]

    def boom():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_tasks_inline([boom, lambda: 1], threads=2)


def _split_calls(monkeypatch) -> list:
    calls = []
    real = accumulate._evaluate_split
    monkeypatch.setattr(accumulate, "_evaluate_split", lambda gr, st, s, *a: calls.append(s) or real(gr, st, s, *a))
    return calls


@pytest.mark.parametrize("shape", ["one category", "useCats=0", "one category of most detections"])
def test_large_segment_split_by_images_bit_identical(always_parallel, monkeypatch, shape):
    # a segment above one thread's share of the detections is matched by every thread, split by images:
    # the same arrays as one thread (which matches it whole), for any thread count
    n_classes = 1 if shape == "one category" else 4
    gt, dets = make_dataset(SceneConfig(n_images=80, n_classes=n_classes), seed=11)
    dets = dets.to_coco()
    if shape == "one category of most detections":
        first = gt["categories"][0]["id"]
        dets = [d for k, d in enumerate(dets) if d["category_id"] == first or k % 5 == 0]
    g = load_coco(gt)
    d = load_results(dets, g)
    params = {"useCats": 0} if shape == "useCats=0" else {}
    calls = _split_calls(monkeypatch)
    ref = _run(g, d, 1, **params)
    assert calls == []
    for t in (2, 3, 4):
        E = _run(g, d, t, **params)
        assert calls, "the split path was not taken"
        calls.clear()
        for key in ("precision", "recall", "scores"):
            assert _same_bits(ref.eval[key], E.eval[key]), (t, key)
        assert _same_bits(ref.stats, E.stats)


@pytest.mark.parametrize("seed", range(4))
def test_keypoints_person_category_split_bit_identical(always_parallel, monkeypatch, tmp_path, seed):
    import json

    from detbench.eval import COCO
    from tests.test_eval_keypoints import make_kps_dataset

    gt, dets = make_kps_dataset(seed)
    assert dets, "every seed here draws detections"
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    g = quiet(COCO, str(path))
    d = quiet(g.loadRes, dets)
    calls = _split_calls(monkeypatch)
    runs = []
    for t in (1, 2, 3):
        E = COCOeval(g, d, "keypoints", threads=t)
        quiet(E.evaluate)
        E.accumulate()
        runs.append(E)
    assert calls  # the person category was split (threads 2 and 3)
    for E in runs[1:]:
        for key in ("precision", "recall", "scores"):
            assert _same_bits(runs[0].eval[key], E.eval[key]), key
