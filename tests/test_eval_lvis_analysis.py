"""LVISEval's analyses (issue 15, item 1: the LVIS protocol): matches, F1, bootstrap, confusion matrix, table.

Oracles: LVISEval re-run on resampled image lists (bootstrap), lvis-api's per-image records and a plain NumPy
count from the matches (F1), COCOeval on the boxes the federated filter keeps (confusion matrix).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest

from benchmarks.bench_eval_tide import tidecv_objects
from detbench.eval import COCO, COCOeval, LVISEval
from detbench.eval.bootstrap import resample_counts
from detbench.eval.lvis_synthetic import make_lvis_dataset

np.float = float  # noqa: NPY001 - lvis-api 0.5.3 still uses np.float (removed in NumPy 1.24)


def small(seed: int, n_img: int = 10, n_cat: int = 12, dets: int = 25, crowded: int = 4) -> tuple[dict, list]:
    return make_lvis_dataset(n_img, seed=seed, n_categories=n_cat, dets_per_image=dets, masks=False,
                             crowded_every=crowded)  # fmt: skip


def run(gt: dict, dt: list, iou_type: str = "bbox") -> LVISEval:
    E = LVISEval(copy.deepcopy(gt), copy.deepcopy(dt), iou_type)
    E.run()
    return E


@pytest.fixture(scope="module")
def data():
    gt, dt = small(1)
    return gt, dt, run(gt, dt)


# ------------------------------------------------------------------ matches


def ap_from_matches(E: LVISEval) -> float:
    """LVIS AP recomputed in plain NumPy from matches() (pycocotools' accumulation, area "all")."""
    mt, gr = E.matches(), E._groups
    n_img, K = gr.n_img, len(E.params.cat_ids)
    a = list(E.params.area_rng_lbl).index("all")
    rec_thr = np.asarray(E.params.rec_thrs)
    vals = []
    for t in range(len(E.params.iou_thrs)):
        for k in range(K):
            sc, tp, ig, npig = [], [], [], 0
            for i in range(n_img):
                g = k * n_img + i
                npig += int((mt.gt_ign[a, gr.g_off[g] : gr.g_off[g + 1]] == 0).sum())
                for s in range(gr.d_off[g], gr.d_off[g] + mt.d_count[g]):
                    sc.append(gr.d_score[mt.gsorted[s]])
                    tp.append(mt.dt_match[a, t, s] >= 0)
                    ig.append(mt.dt_ign[a, t, s])
            if npig == 0:
                continue
            order = np.argsort(-np.asarray(sc), kind="mergesort")
            tp, ig = np.asarray(tp, bool)[order], np.asarray(ig, bool)[order]
            tps = np.cumsum(tp & ~ig)
            fps = np.cumsum(~tp & ~ig)
            rc = tps / npig
            pr = tps / (fps + tps + np.spacing(1))
            pr = np.maximum.accumulate(pr[::-1])[::-1] if pr.size else pr
            q = np.zeros(rec_thr.size)
            idx = np.searchsorted(rc, rec_thr, side="left")
            for r, j in enumerate(idx):
                if j < pr.size:
                    q[r] = pr[j]
            vals.append(q)
    return float(np.mean(np.concatenate(vals)))


@pytest.mark.parametrize("seed", range(3))
def test_matches_are_the_evaluations(seed):
    gt, dt = small(seed)
    E = run(gt, dt)
    assert E.matches() is E.matches()  # cached
    assert abs(ap_from_matches(E) - E.results["AP"]) <= 1e-12
    first = E.matches()
    E.evaluate()
    assert E.matches() is not first  # a new evaluate() makes it stale


# ------------------------------------------------------------------ F1 against confidence


def numpy_step_curves(E: LVISEval, t: int, x: np.ndarray) -> list:
    """Plain NumPy from the matches: precision / recall / F1 of the not-ignored detections scoring >= x."""
    mt, gr = E.matches(), E._groups
    a = list(E.params.area_rng_lbl).index("all")
    out = []
    for k in range(len(E.params.cat_ids)):
        sc, tp, ig, npig = [], [], [], 0
        for i in range(gr.n_img):
            g = k * gr.n_img + i
            npig += int((mt.gt_ign[a, gr.g_off[g] : gr.g_off[g + 1]] == 0).sum())
            s = np.arange(gr.d_off[g], gr.d_off[g] + mt.d_count[g])
            sc += gr.d_score[mt.gsorted[s]].tolist()
            tp += (mt.dt_match[a, t, s] >= 0).tolist()
            ig += mt.dt_ign[a, t, s].tolist()
        out.append(_curves(np.asarray(sc), np.asarray(tp, bool), np.asarray(ig, bool), npig, x))
    return out


def _curves(sc, tp, ig, npig, x):
    P, R, F = np.ones(x.size), np.full(x.size, np.nan), np.full(x.size, np.nan)
    for i, c in enumerate(x):
        keep = (sc >= c) & ~ig
        ntp, n = int((tp & keep).sum()), int(keep.sum())
        if n:
            P[i] = ntp / n
        if npig:
            R[i] = ntp / npig
            F[i] = 0.0 if ntp == 0 else 2 * P[i] * R[i] / (P[i] + R[i])
    return P, R, F


def lvis_api_step_curves(gt: dict, dt: list, t: int, x: np.ndarray, tmp_path) -> list:
    """The same from lvis-api's own per-image records (its matcher, not detbench's)."""
    lvis = pytest.importorskip("lvis")
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    with contextlib.redirect_stdout(io.StringIO()):
        g = lvis.LVIS(str(path))
        ref = lvis.LVISEval(g, lvis.LVISResults(g, copy.deepcopy(dt)), "bbox")
        ref.evaluate()
    out = []
    for k in ref.params.cat_ids:
        recs = [e for e in ref.eval_imgs if e is not None and e["category_id"] == k and e["area_rng"] == [0, 1e10]]
        sc = np.concatenate([np.asarray(e["dt_scores"]) for e in recs] or [np.zeros(0)])
        tp = np.concatenate([np.asarray(e["dt_matches"])[t] != 0 for e in recs] or [np.zeros(0, bool)])
        ig = np.concatenate([np.asarray(e["dt_ignore"])[t] for e in recs] or [np.zeros(0, bool)])
        npig = sum(int((np.asarray(e["gt_ignore"]) == 0).sum()) for e in recs)
        out.append(_curves(sc, tp, ig, npig, x))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_f1_confidence_equals_numpy_reference(seed, tmp_path):
    gt, dt = small(seed)
    E = run(gt, dt)
    for thr in (0.5, 0.75):
        cur = E.f1_confidence(iou_threshold=thr, points=101)
        t = int(np.flatnonzero(np.isclose(E.params.iou_thrs, thr))[0])
        refs = [numpy_step_curves(E, t, cur.confidence)]
        if seed == 0:
            refs.append(lvis_api_step_curves(gt, dt, t, cur.confidence, tmp_path))
        for ref in refs:
            for k, (P, R, F) in enumerate(ref):
                np.testing.assert_allclose(cur.precision[k], P, rtol=0, atol=1e-12)
                np.testing.assert_allclose(cur.recall[k], R, rtol=0, atol=1e-12)
                np.testing.assert_allclose(cur.f1[k], F, rtol=0, atol=1e-12)
    assert cur.cat_ids == list(E.params.cat_ids)
    u = E.f1_confidence(0.5, convention="ultralytics")
    assert u.f1.shape == (len(E.params.cat_ids), 1000)


# ------------------------------------------------------------------ bootstrap


def resampled(gt: dict, dt: list, img_ids: list, counts: np.ndarray) -> tuple[dict, list]:
    """Image i copied counts[i] times (with its negative / not-exhaustive lists), copies next to it, new ids."""
    by_g: dict = {}
    by_d: dict = {}
    imgs_by_id = {im["id"]: im for im in gt["images"]}
    for a in gt["annotations"]:
        by_g.setdefault(a["image_id"], []).append(a)
    for d in dt:
        by_d.setdefault(d["image_id"], []).append(d)
    imgs, anns, dts = [], [], []
    for i, iid in enumerate(img_ids):
        for _ in range(int(counts[i])):
            nid = len(imgs) + 1
            imgs.append(dict(imgs_by_id[iid], id=nid))
            for a in by_g.get(iid, []):
                anns.append(dict(a, id=len(anns) + 1, image_id=nid))
            for d in by_d.get(iid, []):
                dts.append(dict(d, image_id=nid))
    return dict(gt, images=imgs, annotations=anns), dts


def check_bootstrap(gt: dict, dt: list, E: LVISEval, n: int, seed: int) -> int:
    bs = E.bootstrap(n, seed=seed)
    assert bs.ap_kt.shape == (n, len(E.params.cat_ids), len(E.params.iou_thrs))
    counts = resample_counts(len(E.params.img_ids), seed, 0, n)
    nan = lambda v: np.nan if v < 0 else v  # noqa: E731 - LVIS' -1 is our NaN
    checked = 0
    for b in range(n):
        g2, d2 = resampled(gt, dt, list(E.params.img_ids), counts[b])
        if not d2:
            continue
        R = run(g2, d2, E.params.iou_type)
        got = [bs.ap[b], bs.ap50[b], bs.ap75[b], bs.apr[b], bs.apc[b], bs.apf[b]]
        want = [nan(R.results[k]) for k in ("AP", "AP50", "AP75", "APr", "APc", "APf")]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        np.testing.assert_allclose(bs.per_class_ap[b], R.to_dataframe()["AP"].to_numpy(), rtol=0, atol=1e-12)
        checked += 1
    return checked


@pytest.mark.parametrize("seed", range(4))
def test_bootstrap_equals_reevaluation(seed):
    # equal scores across and within images, > 300 detections in some images, ignores, zero areas
    gt, dt = small(seed)
    assert check_bootstrap(gt, dt, run(gt, dt), 3, seed) >= 2


def test_bootstrap_segm_equals_reevaluation():
    gt, dt = make_lvis_dataset(6, seed=5, n_categories=9, dets_per_image=15, crowded_every=0)
    assert check_bootstrap(gt, dt, run(gt, dt, "segm"), 2, 1) >= 1


def test_bootstrap_of_an_image_subset_and_other_recall_thresholds():
    gt, dt = small(7, n_img=12)
    E = LVISEval(copy.deepcopy(gt), copy.deepcopy(dt), "bbox")
    E.params.img_ids = [2, 3, 5, 8, 9, 11]
    E.run()
    assert check_bootstrap(gt, dt, E, 3, 2) >= 2
    E.params.rec_thrs = np.linspace(0, 1, 11)
    E.accumulate()
    E.summarize()
    bs = E.bootstrap(1, seed=0)
    g2, d2 = resampled(gt, dt, list(E.params.img_ids), resample_counts(6, 0, 0, 1)[0])
    R = LVISEval(g2, d2, "bbox")
    R.params.rec_thrs = np.linspace(0, 1, 11)
    R.run()
    assert abs(bs.ap[0] - R.results["AP"]) <= 1e-12


def test_analyses_of_an_empty_result_set(data):
    gt, _, _ = data
    E = run(gt, [])
    assert np.all(E.confusion_matrix()[-1, :-1] >= 0) and E.confusion_matrix()[:-1].sum() == 0
    assert E.bootstrap(3).intervals()["AP"] == (0.0, 0.0)
    assert np.nansum(E.f1_confidence().best_f1) == 0
    assert E.tide().ap == 0.0
    assert int(E.to_dataframe()["n_dt"].sum()) == 0


def test_bootstrap_seeded_and_intervals(data):
    _, _, E = data
    a = E.bootstrap(40, seed=3)
    b = E.bootstrap(40, seed=3, threads=1)
    np.testing.assert_array_equal(a.ap_kt, b.ap_kt)
    iv = a.intervals()
    assert list(iv) == ["AP", "AP50", "AP75", "APr", "APc", "APf"]
    for k, (lo, hi) in iv.items():
        assert np.isnan(lo) or lo <= hi, k
    lo, hi = iv["AP"]
    assert lo <= E.results["AP"] + 0.2 and hi >= E.results["AP"] - 0.2


# ------------------------------------------------------------------ confusion matrix


def federated_coco(gt: dict, dt: list) -> tuple[dict, list]:
    """The boxes LVIS evaluates as a COCO set: detections of present (area > 0, any ignore) or negative
    categories only, top 300 per image, ground truths with area > 0 (ignored ones as crowds)."""
    present: set = set()
    for a in gt["annotations"]:
        if 0 < a["area"]:
            present.add((a["image_id"], a["category_id"]))
    neg = {(im["id"], c) for im in gt["images"] for c in im["neg_category_ids"]}
    by_img: dict = {}
    for j, d in enumerate(dt):
        by_img.setdefault(d["image_id"], []).append((j, d))
    keep = []
    for rows in by_img.values():
        rows.sort(key=lambda r: -r[1]["score"])
        keep += [j for j, d in rows[:300]]
    dets = [dt[j] for j in sorted(keep)]
    dets = [d for d in dets if (d["image_id"], d["category_id"]) in present | neg]
    dets = [d for d in dets if d["bbox"][2] * d["bbox"][3] > 0]
    anns = [dict(a, iscrowd=int(bool(a.get("ignore", 0)))) for a in gt["annotations"] if a["area"] > 0]
    return dict(gt, annotations=anns), dets


@pytest.mark.parametrize("seed", range(3))
def test_confusion_matrix_equals_coco_on_the_evaluated_boxes(seed):
    gt, dt = small(seed, crowded=0)
    E = run(gt, dt)
    g2, d2 = federated_coco(gt, dt)
    c = COCO(copy.deepcopy(g2))
    C = COCOeval(c, c.loadRes(copy.deepcopy(d2)), "bbox")
    C.params.catIds = list(E.params.cat_ids)
    C.evaluate()
    for conv in ("ultralytics", "supervision"):
        for iou_t, score_t in ((0.45, 0.25), (0.5, 0.0), (0.3, 0.5)):
            got = E.confusion_matrix(iou_t, score_t, convention=conv)
            want = C.confusion_matrix(iou_t, score_t, convention=conv)
            assert got.shape == (len(E.params.cat_ids) + 1,) * 2
            np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------ table


def test_to_dataframe(data):
    gt, dt, E = data
    E2 = run(gt, dt)
    df = E2.to_dataframe()
    cols = ["category_id", "name", "frequency", "AP", "AP50", "AP75", "APs", "APm", "APl", "AR", "n_gt", "n_dt"]
    assert list(df.columns) == cols
    assert df["category_id"].tolist() == list(E2.params.cat_ids)
    # the category means give LVIS' numbers (every category weighs the same: R or 1 entries per threshold)
    assert abs(np.nanmean(df["AP"]) - E2.results["AP"]) <= 1e-12
    assert abs(np.nanmean(df["AP50"]) - E2.results["AP50"]) <= 1e-12
    rare = df[df["frequency"] == "r"]["AP"]
    assert abs(np.nanmean(rare) - E2.results["APr"]) <= 1e-12
    assert abs(np.nanmean(df["AR"]) - E2.results["AR@300"]) <= 1e-12
    assert int(df["n_dt"].sum()) == E2._groups.d_box.shape[0]
    assert int(df["n_gt"].sum()) == int((E2._groups.g_crowd == 0).sum())
    E2.bootstrap(20, seed=1)
    df = E2.to_dataframe()
    assert cols + ["AP_lo", "AP_hi", "AP50_lo", "AP50_hi", "AP75_lo", "AP75_hi"] == list(df.columns)
    ok = ~np.isnan(df["AP_lo"])
    assert (df["AP_lo"][ok] <= df["AP_hi"][ok]).all()
    E2.evaluate()  # stale intervals are dropped
    assert "AP_lo" not in E2.to_dataframe().columns


# ------------------------------------------------------------------ bad input


def test_bad_input(data):
    gt, dt, E = data
    fresh = LVISEval(copy.deepcopy(gt), copy.deepcopy(dt), "bbox")
    for call in (fresh.matches, fresh.f1_confidence, fresh.bootstrap, fresh.confusion_matrix, fresh.to_dataframe):
        with pytest.raises(RuntimeError):
            call()
    for kw, name in (
        ({"iou_threshold": 1.5}, "iou_threshold"),
        ({"iou_threshold": -0.1}, "iou_threshold"),
        ({"score_threshold": 2}, "score_threshold"),
        ({"convention": "x"}, "convention"),
    ):
        with pytest.raises(ValueError, match=name):
            E.confusion_matrix(**kw)
    with pytest.raises(ValueError, match="iou_threshold"):
        E.f1_confidence(1.2)
    with pytest.raises(ValueError, match="iou_threshold"):
        E.f1_confidence(0.52)  # not one of params.iou_thrs
    with pytest.raises(ValueError, match="points"):
        E.f1_confidence(0.5, points=1)
    for kw, name in (({"n": 0}, "n"), ({"n": -3}, "n"), ({"ci": 1.0}, "ci"), ({"ci": 0}, "ci"), ({"seed": -1}, "seed")):
        with pytest.raises(ValueError, match=name):
            E.bootstrap(**kw)
    S = run(*make_lvis_dataset(3, seed=2, n_categories=6, dets_per_image=5, crowded_every=0), "segm")
    with pytest.raises(ValueError, match="bbox"):
        S.confusion_matrix()
    with pytest.raises(ValueError, match="bbox"):
        S.tide()
    S.f1_confidence()  # F1 and intervals work on segm matches too


# ------------------------------------------------------------------ TIDE


def tidecv_reference(gt: dict, dt: list, pos: float, bg: float) -> tuple[dict, float, dict]:
    """tidecv on what LVIS evaluates: the federated filter, then the not-exhaustive detections without a match at
    ``pos`` left out (found with COCOeval's pycocotools records of the same boxes), 300 detections per image."""
    tidecv = pytest.importorskip("tidecv")
    g2, d2 = federated_coco(gt, dt)
    c = COCO(copy.deepcopy(g2))
    C = COCOeval(c, c.loadRes(copy.deepcopy(d2)), "bbox")
    C.params.maxDets = [1, 10, 400]
    C.params.iouThrs = np.array([pos])
    C.evaluate()
    nexh = {(im["id"], cid) for im in gt["images"] for cid in im["not_exhaustive_category_ids"]}
    drop = set()
    for e in C.evalImgs:
        if e is not None and e["aRng"] == C.params.areaRng[0] and (e["image_id"], e["category_id"]) in nexh:
            drop |= {d for d, m in zip(e["dtIds"], e["dtMatches"][0]) if m == 0}
    d3 = [d for j, d in enumerate(d2) if j + 1 not in drop]  # loadRes numbers the results 1, 2, ...
    tg, td = tidecv_objects(g2, d3, max_dets=300)
    t = tidecv.TIDE(pos_threshold=pos, background_threshold=bg)
    res = t.evaluate(tg, td, name="dt")
    main, special = t.get_main_errors()["dt"], t.get_special_errors()["dt"]
    return {**main, **special}, res.ap, {e.short_name: n for e, n in res.count_errors().items()}


@pytest.mark.parametrize(("seed", "pos", "bg"), [(0, 0.5, 0.1), (1, 0.5, 0.1), (2, 0.75, 0.2)])
def test_tide_equals_tidecv_on_the_federated_boxes(seed, pos, bg):
    gt, dt = small(seed, n_img=14, crowded=0)
    for a in gt["annotations"]:
        a.pop("ignore", None)  # LVIS' ignored ground truths are not tidecv's crowd regions (crowd IoU)
    E = run(gt, dt)
    assert any(im["not_exhaustive_category_ids"] for im in gt["images"])
    mine = E.tide(pos, bg)
    ref, ap, counts = tidecv_reference(gt, dt, pos, bg)
    for k in ("Cls", "Loc", "Both", "Dupe", "Bkg", "Miss", "FalsePos", "FalseNeg"):
        assert abs(mine[k] - ref[k]) <= 1e-9, (k, mine[k], ref[k])
    assert abs(mine.ap - ap) <= 1e-9
    assert mine.counts == counts
    df = E.to_dataframe()
    assert int(df["tide_Cls"].sum()) == mine.counts["Cls"]
    with pytest.raises(ValueError, match="pos_threshold"):
        E.tide(1.5)
    with pytest.raises(ValueError, match="background_threshold"):
        E.tide(0.5, -0.2)
    with pytest.raises(ValueError, match="pos_threshold"):
        E.tide(0.52)
