"""evaluate_pr's analyses (issue 15, VOC protocol): confusion matrix, F1 against confidence, bootstrap, TIDE.

Oracles: ultralytics' and supervision's ``ConfusionMatrix``, the plain-Python VOC devkit reference
(``tests/reference_voc.py``) for the F1 curves, ``evaluate_pr`` re-run on resampled data sets for the bootstrap,
and ``COCOeval``'s own analyses where the two protocols' matches coincide.
"""

from __future__ import annotations

import copy
import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import numpy as np
import pytest

from detbench.eval import COCO, COCOeval
from detbench.eval.bootstrap import resample_counts
from detbench.eval.voc import evaluate_pr
from detbench.eval.voc_stream import VocEvaluator
from tests.reference_voc import voc_class_curve
from tests.test_eval_analysis import DT_FILE, GT_FILE, random_set
from tests.test_eval_voc import random_voc


def arrays(seed: int, n_img: int = 10, n_cls: int = 3):
    """Clustered boxes: cross-class detections, duplicates, tied scores, difficult objects, unsorted images."""
    rng = np.random.default_rng(seed)
    G = int(rng.integers(5, 40))
    gi = rng.integers(0, n_img, G)
    gl = rng.integers(0, n_cls, G)
    xy = rng.uniform(0, 200, (G, 2))
    gb = np.c_[xy, xy + rng.uniform(8, 80, (G, 2))]
    D = int(rng.integers(1, 3 * G))
    src = rng.integers(0, G, D)
    db = gb[src] + rng.normal(0, 6, (D, 4))
    db[:, 2:] = np.maximum(db[:, 2:], db[:, :2] + 1)
    bg = rng.random(D) < 0.15  # background boxes
    db[bg] = np.c_[rng.uniform(0, 250, (bg.sum(), 2)), np.zeros((bg.sum(), 2))]
    db[bg, 2:] = db[bg, :2] + rng.uniform(3, 40, (bg.sum(), 2))
    dl = np.where(rng.random(D) < 0.8, gl[src], rng.integers(0, n_cls, D))
    di = np.where(bg, rng.integers(0, n_img, D), gi[src])
    ds = np.where(rng.random(D) < 0.4, np.round(rng.random(D), 1), rng.random(D))
    diff = rng.random(G) < 0.15
    return gb, gl, gi, diff, db, ds, dl, di


def run(data, **kw):
    gb, gl, gi, gd, db, ds, dl, di = data
    return evaluate_pr(
        None,
        gt_boxes=gb,
        gt_labels=gl,
        gt_images=gi,
        gt_difficult=gd,
        det_boxes=db,
        det_scores=ds,
        det_labels=dl,
        det_images=di,
        **kw,
    )


# ------------------------------------------------------------------ bootstrap


def resampled(data, counts):
    """The slow reference: image position i copied counts[i] times, copies next to it, rows in input order."""
    gb, gl, gi, gd, db, ds, dl, di = data
    ids = np.unique(np.concatenate([gi, di]))
    parts = {k: [] for k in range(8)}
    new = 0
    for i, iid in enumerate(ids.tolist()):
        g = np.flatnonzero(gi == iid)
        d = np.flatnonzero(di == iid)
        for _ in range(int(counts[i])):
            for k, (a, rows) in enumerate(((gb, g), (gl, g), (gi, g), (gd, g), (db, d), (ds, d), (dl, d), (di, d))):
                v = a[rows]
                parts[k].append(np.full(rows.size, new) if k in (2, 7) else v)
            new += 1
    return tuple(np.concatenate(parts[k]) for k in range(8)), ids.size


def check_bootstrap(data, n, seed, **kw):
    res = run(data, **kw)
    bs = res.bootstrap(n, seed=seed)
    counts = resample_counts(res._inputs.n_img, seed, 0, n)
    checked = 0
    for b in range(n):
        d2, n_img = resampled(data, counts[b])
        assert n_img == res._inputs.n_img
        if d2[4].shape[0] == 0 or d2[0].shape[0] == 0:
            continue
        R = run(d2, **kw)
        for name in ("ap_coco101", "ap_voc07", "ap_voc"):
            mine = getattr(bs, name)[b]  # (K, T)
            want = np.full(mine.shape, np.nan)
            for k, c in enumerate(res.category_ids):
                if c in R.category_ids:
                    want[k] = getattr(R, name)[R.category_ids.index(c)]
            np.testing.assert_allclose(mine, want, rtol=0, atol=1e-12, err_msg=name)
            np.testing.assert_allclose(bs.mean(name)[b], R.mean()[name], rtol=0, atol=1e-12, err_msg=name)
        checked += 1
    return checked


@pytest.mark.parametrize("seed", range(8))
def test_bootstrap_equals_reevaluation(seed):
    kw = {
        "iou_thresholds": (0.5, 0.75) if seed % 2 else (0.3, 0.5),
        "matching": "coco" if seed % 3 == 1 else "voc",
        "plus_one": seed % 4 == 3,
        "max_dets": 2 if seed % 5 == 4 else None,
        "voc07_points": "arange" if seed % 3 == 2 else "tenths",
    }
    assert check_bootstrap(arrays(seed), 4, seed, **kw) >= 3


@pytest.mark.parametrize("seed", range(6))
def test_bootstrap_equals_reevaluation_small_voc_sets(seed):
    data = random_voc(seed)
    if data[0].shape[0] == 0 or data[4].shape[0] == 0:
        pytest.skip("empty set")
    check_bootstrap(data, 5, seed)


def test_bootstrap_tie_run_is_cycled():
    # one image, one class, three detections with one score (TP, FP duplicate, TP): copies interleave
    gb = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    db = np.array([[0, 0, 10, 10], [0, 0, 10, 10.5], [20, 20, 30, 30]], float)
    data = (
        gb,
        np.zeros(2, int),
        np.zeros(2, int),
        np.zeros(2, bool),
        db,
        np.full(3, 0.5),
        np.zeros(3, int),
        np.zeros(3),
    )
    data = data[:7] + (np.zeros(3, int),)
    extra = (np.r_[gb, gb + 100], np.zeros(4, int), np.r_[0, 0, 1, 1], np.zeros(4, bool))
    data2 = extra + (np.r_[db, db[:1] + 100], np.r_[np.full(3, 0.5), 0.9], np.zeros(4, int), np.r_[0, 0, 0, 1])
    for d in (data, data2):
        for matching in ("voc", "coco"):
            check_bootstrap(d, 6, 3, matching=matching)


def test_bootstrap_seeded_intervals_and_threads():
    res = run(arrays(11), iou_thresholds=(0.5, 0.75))
    a = res.bootstrap(40, seed=5, threads=1)
    b = res.bootstrap(40, seed=5, threads=2)
    for name in a.NAMES:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    iv = a.intervals()
    assert set(iv) == {"ap_coco101", "ap_voc07", "ap_voc"}
    for name, (lo, hi) in iv.items():
        assert lo <= res.mean()[name][0] + 0.2 and lo <= hi
    assert a.per_class("ap_voc07", 0.75).shape == (40, len(res.category_ids))
    assert "PRBootstrap(n=40" in repr(a)
    with pytest.raises(ValueError, match="iou"):
        a.intervals(0.6)
    with pytest.raises(ValueError, match="which"):
        a.mean("ap")


# ------------------------------------------------------------------ confusion matrix


def peers(data, iou_t, score_t):
    """ultralytics' and supervision's matrices, image by image, difficult objects left out, rows in input order."""
    import supervision as sv
    import torch
    from ultralytics.utils.metrics import ConfusionMatrix as UltraCM

    gb, gl, gi, gd, db, ds, dl, di = data
    cats = np.unique(np.concatenate([gl, dl])).tolist()
    ci = {c: i for i, c in enumerate(cats)}
    u = UltraCM(names={i: str(c) for i, c in enumerate(cats)})
    preds, targs = [], []
    for iid in np.unique(np.concatenate([gi, di])).tolist():
        g = np.flatnonzero((gi == iid) & ~gd)
        d = np.flatnonzero(di == iid)
        gc = np.array([ci[c] for c in gl[g].tolist()], np.float64)
        dc = np.array([ci[c] for c in dl[d].tolist()], np.float64)
        u.process_batch(
            {"bboxes": torch.from_numpy(db[d]), "cls": torch.from_numpy(dc), "conf": torch.from_numpy(ds[d])},
            {"bboxes": torch.from_numpy(gb[g]), "cls": torch.from_numpy(gc)},
            conf=score_t,
            iou_thres=iou_t,
        )
        preds.append(np.c_[db[d], dc, ds[d]].reshape(-1, 6))
        targs.append(np.c_[gb[g], gc].reshape(-1, 5))
    s = sv.ConfusionMatrix.from_tensors(
        predictions=preds, targets=targs, classes=[str(c) for c in cats], conf_threshold=score_t, iou_threshold=iou_t
    )
    return u.matrix, s.matrix


@pytest.mark.parametrize("seed", range(4))
def test_confusion_matrix_equals_ultralytics_and_supervision(seed):
    data = arrays(100 + seed)
    res = run(data, matching="voc" if seed % 2 else "coco")
    for iou_t, score_t in ((0.45, 0.25), (0.5, 0.0), (0.3, 0.5)):
        ultra, superv = peers(data, iou_t, score_t)
        assert np.array_equal(res.confusion_matrix(iou_t, score_t), ultra)
        assert np.array_equal(res.confusion_matrix(iou_t, score_t, convention="supervision"), superv.T)


@pytest.fixture(scope="module")
def coco_subset():
    from detbench.eval import load_coco

    gt = load_coco(GT_FILE)
    dt = gt.loadRes(DT_FILE)
    E = COCOeval(gt, dt, "bbox")
    E.evaluate()
    E.accumulate()
    return gt, dt, E


def test_dataset_input_equals_cocoeval_analyses(coco_subset):
    gt, dt, E = coco_subset
    res = evaluate_pr(gt, dt, iou_thresholds=(0.5, 0.75), matching="coco")
    assert np.array_equal(res.confusion_matrix(0.45, 0.25), E.confusion_matrix(0.45, 0.25))
    assert np.array_equal(
        res.confusion_matrix(0.5, 0.1, convention="supervision"), E.confusion_matrix(0.5, 0.1, convention="supervision")
    )
    for thr in (0.5, 0.75):
        a, b = res.f1_confidence(thr, points=201), E.f1_confidence(thr, points=201)
        for field in ("precision", "recall", "f1", "best_threshold", "best_f1", "best_precision", "best_recall"):
            np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=0, atol=1e-12, err_msg=field)
        assert a.cat_ids == b.cat_ids and a.iou_threshold == b.iou_threshold
    mine, ref = res.tide(), E.tide()
    assert list(mine) == list(ref)
    for k in ref:
        assert mine[k] == pytest.approx(ref[k], abs=1e-9), k
    assert mine.counts == ref.counts and mine.ap == pytest.approx(ref.ap, abs=1e-9)


# ------------------------------------------------------------------ F1 against confidence


@pytest.mark.parametrize("seed", range(6))
def test_f1_confidence_equals_numpy_reference(seed):
    data = random_voc(seed) if seed % 2 else arrays(seed)
    gb, gl, gi, gd, db, ds, dl, di = data
    plus_one = seed % 3 == 0
    res = run(data, iou_thresholds=(0.5, 0.7), plus_one=plus_one)
    for thr in (0.5, 0.7):
        cur = res.f1_confidence(thr, points=101)
        x = cur.confidence
        for k, c in enumerate(res.category_ids):
            gts = [(int(gi[j]), gb[j].tolist(), bool(gd[j])) for j in range(len(gl)) if gl[j] == c]
            dets = [(int(di[j]), db[j].tolist(), float(ds[j])) for j in range(len(dl)) if dl[j] == c]
            prec, rec, scores, npos = voc_class_curve(gts, dets, thr, plus_one)
            sc = np.asarray(scores)
            P, R, F = np.ones(x.size), np.full(x.size, np.nan), np.full(x.size, np.nan)
            for i, v in enumerate(x):
                m = int((sc >= v).sum())
                if m:
                    P[i] = prec[m - 1]
                if npos:
                    R[i] = rec[m - 1] if m else 0.0
                    F[i] = 0.0 if R[i] == 0 else 2 * P[i] * R[i] / (P[i] + R[i])
            np.testing.assert_allclose(cur.precision[k], P, rtol=0, atol=1e-12)
            np.testing.assert_allclose(cur.recall[k], R, rtol=0, atol=1e-12)
            np.testing.assert_allclose(cur.f1[k], F, rtol=0, atol=1e-12)
            if npos:  # the best F1 over score cut-offs is PRResult's own f1 field
                t = int(np.flatnonzero(np.isclose(res.iou_thresholds, thr))[0])
                assert cur.best_f1[k] == pytest.approx(res.f1[k, t], abs=1e-12)
    assert res.f1_confidence(0.5, convention="ultralytics").f1.shape == (len(res.category_ids), 1000)


# ------------------------------------------------------------------ TIDE


@pytest.mark.parametrize("seed", range(4))
def test_tide_equals_cocoeval_where_matches_coincide(seed):
    gt_d, dets = random_set(seed)
    g = COCO(copy.deepcopy(gt_d))
    d = g.loadRes(copy.deepcopy(dets))
    E = COCOeval(g, d, "bbox")
    E.evaluate()
    res = evaluate_pr(g, d, iou_thresholds=(0.5, 0.75), matching="coco")
    for pos, bg in ((0.5, 0.1), (0.75, 0.2)):
        mine, ref = res.tide(pos, bg), E.tide(pos, bg)
        for k in ref:
            assert mine[k] == pytest.approx(ref[k], abs=1e-9, nan_ok=True), (k, pos)
        assert mine.counts == ref.counts
        for k in ref.class_counts:
            assert np.array_equal(mine.class_counts[k], ref.class_counts[k])


def test_tide_voc_rule_and_difficult_objects():
    # one image, one class: a TP, a duplicate (VOC: FP, its best ground truth taken), a hit on a difficult object
    gb = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], float)
    db = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    data = (gb, np.zeros(3, int), np.zeros(3, int), np.array([0, 0, 1], bool), db, np.array([0.9, 0.8, 0.7]))
    data = data + (np.zeros(3, int), np.zeros(3, int))
    voc = run(data).tide()
    coco = run(data, matching="coco").tide()
    # VOC: the second detection's best ground truth (IoU 0.82) is taken: a duplicate; the second object is missed
    assert voc.counts["Dupe"] == 1 and voc.counts["Miss"] == 1
    # COCO rule: it takes the second object; the detection on the difficult object is ignored either way
    assert coco.counts == {"Cls": 0, "Loc": 0, "Both": 0, "Dupe": 0, "Bkg": 0, "Miss": 0}
    assert coco.ap == pytest.approx(100.0) and voc.n_ground_truths == 2
    # the duplicate comes after the only TP (no dAP); the missed object leaves recall 0.5 (51 of tidecv's 101 points)
    half = 100 * 51 / 101
    assert voc.ap == pytest.approx(half) and voc["Dupe"] == 0.0 and voc["Miss"] == pytest.approx(100 - half)


# ------------------------------------------------------------------ bad input, streaming results


def test_bad_input_names_the_argument():
    res = run(arrays(3), iou_thresholds=(0.5, 0.75))
    for call, name in (
        (lambda: res.confusion_matrix(1.5), "iou_threshold"),
        (lambda: res.confusion_matrix(0.5, -0.1), "score_threshold"),
        (lambda: res.confusion_matrix(convention="x"), "convention"),
        (lambda: res.f1_confidence(1.2), "iou_threshold"),
        (lambda: res.f1_confidence(0.6), "iou_threshold"),
        (lambda: res.f1_confidence(0.5, points=1), "points"),
        (lambda: res.bootstrap(0), "n"),
        (lambda: res.bootstrap(5, ci=1.0), "ci"),
        (lambda: res.bootstrap(5, seed=-1), "seed"),
        (lambda: res.tide(1.1), "pos_threshold"),
        (lambda: res.tide(0.6), "pos_threshold"),
        (lambda: res.tide(0.5, -0.2), "background_threshold"),
        (lambda: res.tide(0.5, max_dets=0), "max_dets"),
    ):
        with pytest.raises(ValueError, match=name):
            call()


def test_streaming_result_keeps_no_boxes():
    gt = COCO(copy.deepcopy(random_set(1)[0]))
    dets = random_set(1)[1]
    ev = VocEvaluator(gt, matching="coco")
    ev.update(copy.deepcopy(dets))
    res = ev.compute()
    full = evaluate_pr(gt, gt.loadRes(copy.deepcopy(dets)), matching="coco")
    np.testing.assert_allclose(res.f1_confidence().f1, full.f1_confidence().f1, rtol=0, atol=1e-12)
    for call in (res.confusion_matrix, res.bootstrap, res.tide):
        with pytest.raises(RuntimeError, match="VocEvaluator"):
            call()


def test_inputs_not_modified_and_empty_detections():
    data = arrays(7)
    before = [a.copy() for a in data]
    res = run(data)
    res.confusion_matrix(), res.bootstrap(3), res.tide(), res.f1_confidence()
    for a, b in zip(data, before):
        np.testing.assert_array_equal(a, b)
    gb, gl, gi, gd = data[:4]
    empty = run((gb, gl, gi, gd, np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), np.zeros(0, int)))
    cm = empty.confusion_matrix()
    assert cm[-1, :-1].sum() == int((~gd).sum()) and cm[:, -1].sum() == 0
    assert np.all(empty.bootstrap(3).ap_voc == 0)
    assert empty.tide()["Cls"] == 0.0


def test_to_dataframe_gains_interval_and_tide_columns():
    res = run(arrays(21), iou_thresholds=(0.5, 0.75))
    base = res.to_dataframe()
    bs = res.bootstrap(30, seed=1)
    tr = res.tide(0.75)
    df = res.to_dataframe()
    assert list(df.columns[: base.shape[1]]) == list(base.columns) and len(df) == len(base)
    K = len(res.category_ids)
    for name in bs.NAMES:
        lo, hi = bs.interval(getattr(bs, name))
        np.testing.assert_array_equal(df[f"{name}_lo"].to_numpy().reshape(K, 2), lo)
        np.testing.assert_array_equal(df[f"{name}_hi"].to_numpy().reshape(K, 2), hi)
    at = df["iou"] == 0.75
    for k, v in tr.class_counts.items():
        np.testing.assert_array_equal(df.loc[at, f"tide_{k}"].to_numpy(), v)
        assert df.loc[~at, f"tide_{k}"].isna().all()
