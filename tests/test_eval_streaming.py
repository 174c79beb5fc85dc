"""detbench.eval.CocoEvaluator: update / merge / compute equal to the one-shot COCOeval, bit for bit."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detbench.eval import COCOeval, CocoEvaluator, Params, load_coco
from detbench.synthetic import DetectorConfig, SceneConfig, make_dataset

KEYS = ("precision", "recall", "scores")


def one_shot(gt: dict, results: list, params: Params | None = None) -> COCOeval:
    g = load_coco(copy.deepcopy(gt))
    E = COCOeval(g, g.load_results(results))
    if params is not None:
        E.params = copy.deepcopy(params)
    E.evaluate()
    E.accumulate()
    E.summary_text()
    return E


def assert_same(res, E) -> None:
    for k in KEYS:
        assert res.eval[k].shape == E.eval[k].shape, k
        assert np.array_equal(res.eval[k], E.eval[k]), k
    assert np.array_equal(np.asarray(res.stats), np.asarray(E.stats))
    assert res.eval["counts"] == E.eval["counts"]


def synthetic(seed: int, n_images: int = 20, n_classes: int = 3, crowd: float = 0.05, decimals: int | None = None):
    gt, det = make_dataset(
        SceneConfig(n_images=n_images, n_classes=n_classes, objects_per_image=(0, 6), crowd_fraction=crowd),
        DetectorConfig(duplicates=(1, 4), false_positives_per_image=2.0),
        seed=seed,
    )
    res = det.to_coco()
    if decimals is not None:  # many ties in score: the tie-breaking order must match too
        for r in res:
            r["score"] = round(r["score"], decimals)
    return gt, res


def by_image(results: list) -> dict:
    out: dict = {}
    for r in results:
        out.setdefault(r["image_id"], []).append(r)
    return out


def stream(gt: dict, results: list, rng: np.random.Generator, n_parts: int, params: Params | None = None):
    """Evaluate in random batches of images, in several evaluators merged in a random order."""
    groups = by_image(results)
    ids = list(groups)
    rng.shuffle(ids)
    cut = sorted(rng.integers(0, len(ids) + 1, size=max(n_parts - 1, 0)).tolist())
    parts = np.split(np.array(ids, dtype=object), cut) if ids else [np.array([], dtype=object)]
    g = load_coco(copy.deepcopy(gt))
    evs = []
    for part in parts:
        ev = CocoEvaluator(g, copy.deepcopy(params) if params is not None else None)
        # one or two updates per evaluator, images of a batch in random order
        half = len(part) // 2 if rng.integers(2) else len(part)
        for sub in (part[:half], part[half:]):
            if len(sub):
                ev.update([r for i in sub for r in groups[i]])
        evs.append(ev)
    while len(evs) > 1:  # random merge tree
        i, j = sorted(rng.choice(len(evs), 2, replace=False).tolist())
        b = evs.pop(j)
        evs[i] = evs[i].merge(b) if rng.integers(2) else b.merge(evs[i])
    return evs[0]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_images=st.integers(1, 25),
    n_classes=st.integers(1, 4),
    crowd=st.sampled_from([0.0, 0.1, 0.3]),
    decimals=st.sampled_from([None, 1, 2]),
    n_parts=st.integers(1, 6),
)
def test_any_split_and_merge_order_equals_one_shot(seed, n_images, n_classes, crowd, decimals, n_parts):
    gt, res = synthetic(seed, n_images, n_classes, crowd, decimals)
    E = one_shot(gt, res)
    ev = stream(gt, res, np.random.default_rng(seed), n_parts)
    out = ev.compute()
    assert_same(out, E)
    assert out.n_detections == len(res)
    assert out.n_images == len({r["image_id"] for r in res})


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), n_parts=st.integers(1, 4), which=st.integers(0, 3))
def test_parameters_equal_one_shot(seed, n_parts, which):
    gt, res = synthetic(seed, 15, 3, 0.1, 1)
    p = Params()
    p.imgIds = sorted(im["id"] for im in gt["images"])
    p.catIds = sorted(c["id"] for c in gt["categories"])
    if which == 0:
        p.maxDets = [1, 2, 3]  # the maxDets cut and the levels
    elif which == 1:
        p.iouThrs = np.linspace(0.3, 0.96, 70)  # more than 64 thresholds: two bit words
    elif which == 2:
        p.areaRng = [[0, 1e10], [0, 40**2], [40**2, 1e10], [100, 200]]
        p.areaRngLbl = ["all", "small", "medium", "large"]
    else:
        p.imgIds = p.imgIds[::2]  # a subset of images and categories
        p.catIds = p.catIds[1:]
    E = one_shot(gt, res, p)
    before = copy.deepcopy(vars(p))
    ev = CocoEvaluator(gt, p)
    for k, v in before.items():  # the caller's Params is not modified
        assert np.array_equal(np.asarray(v, dtype=object), np.asarray(vars(p)[k], dtype=object)), k
    assert ev.params is not p
    assert_same(stream(gt, res, np.random.default_rng(seed), n_parts, p).compute(), E)


def test_arrays_equal_dicts_and_empty_updates():
    gt, res = synthetic(5, 12, 3)
    E = one_shot(gt, res)
    ev = CocoEvaluator(load_coco(copy.deepcopy(gt)))
    ev.update([])
    for rs in by_image(res).values():
        ev.update(
            image_ids=np.array([r["image_id"] for r in rs]),
            category_ids=np.array([r["category_id"] for r in rs]),
            boxes=np.array([r["bbox"] for r in rs]),
            scores=np.array([r["score"] for r in rs]),
        )
    assert_same(ev.compute(), E)
    empty = CocoEvaluator(gt).compute()  # no detections at all: like COCOeval on empty results
    assert_same(empty, one_shot(gt, []))


def test_shipped_coco_subset_matches_pycocotools():
    pytest.importorskip("pycocotools")
    import json

    from tests.test_eval_coco import DT_FILE, GT_FILE, PUBLISHED

    with open(DT_FILE) as f:
        res = json.load(f)
    ev_a, ev_b = CocoEvaluator(GT_FILE), CocoEvaluator(GT_FILE)
    groups = by_image(res)
    for k, (_img, rs) in enumerate(sorted(groups.items(), key=lambda kv: -kv[0])):
        (ev_a if k % 2 else ev_b).update(rs)
    out = ev_b.merge(ev_a).compute()
    assert np.allclose(out.stats, PUBLISHED, rtol=0, atol=1e-12)
    g = load_coco(GT_FILE)
    E = COCOeval(g, g.load_results(DT_FILE))
    E.evaluate()
    E.accumulate()
    E.summary_text()
    assert_same(out, E)


def test_pickle_and_npz_round_trip(tmp_path):
    gt, res = synthetic(9, 16, 3, 0.1, 2)
    E = one_shot(gt, res)
    groups = by_image(res)
    ids = sorted(groups)
    g = load_coco(gt)
    a, b = CocoEvaluator(g), CocoEvaluator(g)
    a.update([r for i in ids[::2] for r in groups[i]])
    b.update([r for i in ids[1::2] for r in groups[i]])
    a2 = pickle.loads(pickle.dumps(a))
    b.save(tmp_path / "b.npz")
    b2 = CocoEvaluator.load(tmp_path / "b.npz")
    assert_same(a2.merge(b2).compute(), E)
    # a loaded state has no ground truth until attached
    c = CocoEvaluator.load(tmp_path / "b.npz")
    with pytest.raises(ValueError, match="attach"):
        c.update(groups[ids[0]])
    c2 = pickle.loads(pickle.dumps(CocoEvaluator(g))).attach(g)
    c2.update([r for i in ids[::2] for r in groups[i]])
    assert_same(c2.merge(CocoEvaluator.load(tmp_path / "b.npz", g)).compute(), E)
    assert len(pickle.dumps(a)) < 64 * len(a) + 4096  # no ground truth travels with the state


def test_memory_per_detection():
    gt, res = synthetic(2, 40, 4)
    ev = CocoEvaluator(gt)
    ev.update(res)
    rows = ev.nbytes - ev._seen.nbytes - ev._img_dets.nbytes - ev._npig.nbytes
    assert rows == 31 * len(ev)  # documented: 31 bytes per kept detection with COCO's defaults


def test_an_image_in_two_updates_or_two_evaluators_is_refused():
    gt, res = synthetic(4, 6, 2)
    groups = by_image(res)
    img = next(iter(groups))
    ev = CocoEvaluator(gt)
    ev.update(groups[img][:1])
    with pytest.raises(ValueError, match=f"image {img!r} already has detections"):
        ev.update(groups[img][1:])
    other = CocoEvaluator(gt)
    other.update(groups[img])
    with pytest.raises(ValueError, match=f"image {img!r} has detections in both"):
        ev.merge(other)
    p = Params()
    p.maxDets = [1, 5]
    with pytest.raises(ValueError, match="different ground truth or parameters"):
        ev.merge(CocoEvaluator(gt, p))


def test_bad_input():
    gt, res = synthetic(4, 6, 2)
    ev = CocoEvaluator(gt)
    ok = {"image_ids": [gt["images"][0]["id"]], "category_ids": [1], "boxes": [[0, 0, 5, 5]], "scores": [0.5]}
    for key, bad, msg in [
        ("boxes", [[0, 0, 5]], "boxes: expected shape"),
        ("boxes", [[0, 0, -1, 5]], "negative width"),
        ("boxes", [[0, 0, np.nan, 5]], "NaN"),
        ("scores", [np.inf], "scores: contain"),
        ("scores", [0.5, 0.4], "scores: expected 1"),
        ("image_ids", [10**9], "not an image"),
        ("category_ids", [99], "not a category"),
    ]:
        with pytest.raises(ValueError, match=msg):
            ev.update(**{**ok, key: bad})
    with pytest.raises(ValueError, match="scores is missing"):
        ev.update(image_ids=[1], category_ids=[1], boxes=[[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="image_id"):
        ev.update([{"image_id": 10**9, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}])
    p = Params()
    p.useCats = 0
    with pytest.raises(ValueError, match="useCats"):
        CocoEvaluator(gt, p)
    with pytest.raises(ValueError, match="gt: expected a path"):
        CocoEvaluator(42)
    with pytest.raises(ValueError, match="params: expected"):
        CocoEvaluator(gt, {"maxDets": [1]})
    with pytest.raises(ValueError, match="other: expected a CocoEvaluator"):
        ev.merge("x")
    assert ev.compute().n_detections == 0  # nothing was added by the failed calls


def test_compute_threads_give_identical_results(monkeypatch):
    import detbench.eval.streaming as streaming

    monkeypatch.setattr(streaming, "_MIN_PARALLEL_DETS", 0)  # the parallel path on a small set
    gt, res = synthetic(11, 30, 4, 0.1, 1)
    E = one_shot(gt, res)
    for threads in (1, 2, 3):
        ev = CocoEvaluator(gt, threads=threads)
        ev.update(res)
        assert_same(ev.compute(), E)


def test_empty_like_shares_the_ground_truth_not_the_state():
    gt, res = synthetic(6, 12, 3)
    groups = by_image(res)
    ids = sorted(groups)
    a = CocoEvaluator(gt)
    a.update([r for i in ids[::2] for r in groups[i]])
    b = a.empty_like()
    assert len(b) == 0 and len(a) > 0
    b.update([r for i in ids[1::2] for r in groups[i]])
    assert_same(a.merge(b).compute(), one_shot(gt, res))


@pytest.mark.parametrize("via", ["pycocotools", "detbench"])
def test_coco_objects_and_string_ids(via, tmp_path):
    from tests.test_eval_coco import make_coco

    gt, res = synthetic(1, 10, 3, 0.1, 1)
    name = {im["id"]: f"img{im['id']:03d}" for im in gt["images"]}
    for im in gt["images"]:
        im["id"] = name[im["id"]]
    for a in gt["annotations"]:
        a["image_id"] = name[a["image_id"]]
    for r in res:
        r["image_id"] = name[r["image_id"]]
    E = one_shot(gt, res)
    c = make_coco(gt, via)
    ev = CocoEvaluator(c)
    for rs in by_image(res).values():
        ev.update(
            image_ids=np.array([r["image_id"] for r in rs]),
            category_ids=[r["category_id"] for r in rs],
            boxes=[r["bbox"] for r in rs],
            scores=[r["score"] for r in rs],
        )
    assert_same(ev.compute(), E)
    ev.save(tmp_path / "s.npz")
    assert_same(CocoEvaluator.load(tmp_path / "s.npz", c).compute(), E)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), n_ranks=st.integers(2, 4))
def test_distributed_sampler_padding_with_duplicates_first(seed, n_ranks):
    # DistributedSampler pads the last round with images from the start: those are evaluated twice
    gt, res = synthetic(seed, 13, 3, 0.1, 1)
    E = one_shot(gt, res)
    groups = by_image(res)
    ids = list(groups)
    padded = ids + ids[: (-len(ids)) % n_ranks]
    ranks = [CocoEvaluator(gt, duplicates="first") for _ in range(n_ranks)]
    for r in range(n_ranks):
        for i in padded[r::n_ranks]:
            ranks[r].update(groups[i])
    ranks[0].update(groups[ids[0]])  # also repeated inside one evaluator
    rng = np.random.default_rng(seed)
    states = [pickle.loads(pickle.dumps(ev)) for ev in ranks]
    rng.shuffle(states)
    out = states[0]
    for ev in states[1:]:
        out = out.merge(ev)
    res_ = out.compute()
    assert_same(res_, E)
    assert res_.n_detections == len(res)
    with pytest.raises(ValueError, match="duplicates"):
        CocoEvaluator(gt, duplicates="last")
