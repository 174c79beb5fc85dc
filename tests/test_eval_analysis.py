"""COCOeval's analyses (issue 15): confusion matrix, F1 against confidence, bootstrap intervals, DataFrames.

Oracles: ultralytics' ``ConfusionMatrix`` and ``ap_per_class``, supervision's ``ConfusionMatrix``,
pycocotools' ``evalImgs`` (the F1 reference) and a slow re-evaluation of resampled data sets (bootstrap).
"""

from __future__ import annotations

import copy
import json
import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import numpy as np
import pytest
from pycocotools.coco import COCO as PyCOCO
from pycocotools.cocoeval import COCOeval as PyCOCOeval

from detbench.data import DATA_DIR
from detbench.eval import COCO, COCOeval
from detbench.eval.bootstrap import resample_counts
from tests.test_eval_coco import make_edge_dataset, quiet

GT_FILE = os.path.join(DATA_DIR, "coco-val2014-100", "instances_val2014_100.json")
DT_FILE = os.path.join(DATA_DIR, "coco-val2014-100", "instances_val2014_fakebbox100_results.json")


def evaluate(gt: dict, dets: list, use_cats: int = 1, **kw) -> COCOeval:
    g = COCO(copy.deepcopy(gt))
    E = COCOeval(g, g.loadRes(copy.deepcopy(dets)), "bbox", **kw)
    E.params.useCats = use_cats
    E.evaluate()
    E.accumulate()
    E.summary_text()
    return E


@pytest.fixture(scope="module")
def subset():
    with open(GT_FILE) as f:
        gt = json.load(f)
    with open(DT_FILE) as f:
        dets = json.load(f)
    return gt, dets, evaluate(gt, dets)


def random_set(seed: int, n_img: int = 12, n_cat: int = 4) -> tuple[dict, list]:
    """Clustered boxes with cross-class detections and duplicate scores (ties)."""
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "width": 300, "height": 300} for i in range(n_img)]
    cats = [{"id": 10 + c, "name": f"k{c}"} for c in range(n_cat)]
    anns, dets, aid = [], [], 1
    for im in range(1, n_img + 1):
        for _ in range(int(rng.integers(0, 7))):
            c = 10 + int(rng.integers(0, n_cat))
            x, y = rng.uniform(0, 200, 2)
            w, h = rng.uniform(10, 90, 2)
            anns.append(
                {
                    "id": aid,
                    "image_id": im,
                    "category_id": c,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": int(rng.random() < 0.05),
                }
            )
            aid += 1
            for _ in range(int(rng.integers(0, 4))):
                dc = c if rng.random() < 0.7 else 10 + int(rng.integers(0, n_cat))
                bb = [x + rng.normal(0, 8), y + rng.normal(0, 8), w * rng.uniform(0.7, 1.3), h * rng.uniform(0.7, 1.3)]
                sc = float(np.round(rng.random(), 1)) if rng.random() < 0.3 else float(rng.random())
                dets.append({"image_id": im, "category_id": dc, "bbox": bb, "score": sc})
        for _ in range(int(rng.integers(0, 5))):
            x, y = rng.uniform(0, 250, 2)
            dets.append(
                {
                    "image_id": im,
                    "category_id": 10 + int(rng.integers(0, n_cat)),
                    "bbox": [x, y, rng.uniform(5, 50), rng.uniform(5, 50)],
                    "score": float(rng.random()),
                }
            )
    if not dets:
        dets.append({"image_id": 1, "category_id": 10, "bbox": [1.0, 1.0, 5.0, 5.0], "score": 0.5})
    return {"images": images, "categories": cats, "annotations": anns}, dets


# ------------------------------------------------------------------ confusion matrix


def _xyxy(b):
    return [b[0], b[1], b[0] + b[2], b[1] + b[3]]


def peer_confusions(gt: dict, dets: list, iou_t: float, score_t: float) -> tuple[np.ndarray, np.ndarray]:
    """ultralytics' and supervision's matrices, fed image by image in file order (crowds left out)."""
    import supervision as sv
    import torch
    from ultralytics.utils.metrics import ConfusionMatrix as UltraCM

    cats = sorted(c["id"] for c in gt["categories"])
    ci = {c: i for i, c in enumerate(cats)}
    u = UltraCM(names={i: str(c) for i, c in enumerate(cats)})
    preds, targs = [], []
    for iid in sorted(im["id"] for im in gt["images"]):
        G = [a for a in gt["annotations"] if a["image_id"] == iid and not a.get("iscrowd", 0)]
        D = [a for a in dets if a["image_id"] == iid]
        gb = np.array([_xyxy(a["bbox"]) for a in G], np.float64).reshape(-1, 4)
        gc = np.array([ci[a["category_id"]] for a in G], np.float64)
        db = np.array([_xyxy(a["bbox"]) for a in D], np.float64).reshape(-1, 4)
        dc = np.array([ci[a["category_id"]] for a in D], np.float64)
        ds = np.array([a["score"] for a in D], np.float64)
        u.process_batch(
            {"bboxes": torch.from_numpy(db), "cls": torch.from_numpy(dc), "conf": torch.from_numpy(ds)},
            {"bboxes": torch.from_numpy(gb), "cls": torch.from_numpy(gc)},
            conf=score_t,
            iou_thres=iou_t,
        )
        preds.append(np.c_[db, dc, ds].reshape(-1, 6))
        targs.append(np.c_[gb, gc].reshape(-1, 5))
    s = sv.ConfusionMatrix.from_tensors(
        predictions=preds, targets=targs, classes=[str(c) for c in cats], conf_threshold=score_t, iou_threshold=iou_t
    )
    return u.matrix, s.matrix


@pytest.mark.parametrize("iou_t,score_t", [(0.45, 0.25), (0.5, 0.0), (0.3, 0.5), (0.7, 0.1)])
def test_confusion_matrix_coco_subset_equals_ultralytics_and_supervision(subset, iou_t, score_t):
    gt, dets, E = subset
    ultra, superv = peer_confusions(gt, dets, iou_t, score_t)
    ours = E.confusion_matrix(iou_t, score_t)
    K = len(gt["categories"])
    assert ours.shape == (K + 1, K + 1) and ours.dtype == np.int64
    assert np.array_equal(ours, ultra)  # ultralytics: [predicted, true]
    assert np.array_equal(E.confusion_matrix(iou_t, score_t, convention="supervision"), superv.T)  # [true, pred]


@pytest.mark.parametrize("seed", range(8))
def test_confusion_matrix_synthetic_equals_peers(seed):
    gt, dets = random_set(seed)
    E = evaluate(gt, dets)
    for iou_t, score_t in ((0.5, 0.3), (0.1, 0.0), (0.6, 0.5)):
        ultra, superv = peer_confusions(gt, dets, iou_t, score_t)
        ours = E.confusion_matrix(iou_threshold=iou_t, score_threshold=score_t)
        assert np.array_equal(ours, ultra), (seed, iou_t, score_t)
        assert np.array_equal(E.confusion_matrix(iou_t, score_t, convention="supervision"), superv.T)
        # every non-crowd ground truth is counted once in its true-class column
        n_gt = np.bincount(
            [
                sorted(c["id"] for c in gt["categories"]).index(a["category_id"])
                for a in gt["annotations"]
                if not a["iscrowd"]
            ],
            minlength=len(gt["categories"]),
        )
        assert np.array_equal(ours[:, :-1].sum(0), n_gt)


def test_confusion_matrix_hand_case():
    gt = {
        "images": [{"id": 1, "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [50, 50, 10, 10], "area": 100, "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 2, "bbox": [80, 0, 10, 10], "area": 100, "iscrowd": 0},
        ],
    }
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},  # TP a
        {"image_id": 1, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.8},  # b predicted as a
        {"image_id": 1, "category_id": 2, "bbox": [20, 20, 10, 10], "score": 0.7},  # background
        {"image_id": 1, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.1},  # below the score threshold
    ]
    E = evaluate(gt, dets)
    want = np.array([[1, 1, 0], [0, 0, 1], [0, 1, 0]])  # rows predicted a, b, bg; columns true a, b, bg
    assert np.array_equal(E.confusion_matrix(0.5, 0.25), want)
    assert np.array_equal(E.confusion_matrix(0.5, 0.25, convention="supervision"), want)


# ------------------------------------------------------------------ F1 against confidence


def reference_step_curves(gt: dict, dets: list, t: int, x: np.ndarray):
    """Plain NumPy from pycocotools' evalImgs: precision / recall / F1 of the detections scoring >= x."""
    c_gt = PyCOCO()
    c_gt.dataset = copy.deepcopy(gt)
    quiet(c_gt.createIndex)
    ev = PyCOCOeval(c_gt, quiet(c_gt.loadRes, copy.deepcopy(dets)), "bbox")
    quiet(ev.evaluate)
    out = []
    for k in ev.params.catIds:
        recs = [e for e in ev.evalImgs if e is not None and e["category_id"] == k and e["aRng"] == ev.params.areaRng[0]]
        sc = np.concatenate([np.asarray(e["dtScores"]) for e in recs] or [np.zeros(0)])
        tp = np.concatenate([e["dtMatches"][t] != 0 for e in recs] or [np.zeros(0, bool)])
        ig = np.concatenate([e["dtIgnore"][t] for e in recs] or [np.zeros(0, bool)])
        npig = sum(int((np.asarray(e["gtIgnore"]) == 0).sum()) for e in recs)
        P = np.ones(x.size)
        R = np.full(x.size, np.nan)
        F = np.full(x.size, np.nan)
        for i, c in enumerate(x):
            keep = (sc >= c) & ~ig
            ntp, n = int((tp & keep).sum()), int(keep.sum())
            if n:
                P[i] = ntp / n
            if npig:
                R[i] = ntp / npig
                F[i] = 0.0 if ntp == 0 else 2 * P[i] * R[i] / (P[i] + R[i])
        out.append((P, R, F))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_f1_confidence_step_equals_numpy_reference(seed):
    gt, dets = random_set(seed) if seed % 2 else make_edge_dataset(seed)
    E = evaluate(gt, dets)
    for thr in (0.5, 0.75):
        cur = E.f1_confidence(iou_threshold=thr, points=101)
        t = int(np.flatnonzero(np.isclose(E.params.iouThrs, thr))[0])
        ref = reference_step_curves(gt, dets, t, cur.confidence)
        for k, (P, R, F) in enumerate(ref):
            np.testing.assert_allclose(cur.precision[k], P, rtol=0, atol=1e-12)
            np.testing.assert_allclose(cur.recall[k], R, rtol=0, atol=1e-12)
            np.testing.assert_allclose(cur.f1[k], F, rtol=0, atol=1e-12)
            if not np.isnan(cur.best_threshold[k]):  # the best threshold is a detection score; F1 there
                i = np.searchsorted(cur.confidence, cur.best_threshold[k])
                assert cur.best_f1[k] >= np.nanmax(F[: i + 1]) - 1e-12


def test_f1_confidence_ultralytics_equals_ap_per_class(subset):
    from ultralytics.utils.metrics import ap_per_class

    gt, dets, E = subset
    cur = E.f1_confidence(0.5, convention="ultralytics")
    # the same matches as ultralytics' inputs: one row per not-ignored detection, one label per positive
    recs = [e for e in E.evalImgs if e is not None and e["aRng"] == E.params.areaRng[0]]
    cat_pos = {c: i for i, c in enumerate(E.params.catIds)}
    tp, conf, pcls, tcls = [], [], [], []
    for e in recs:
        ig = e["dtIgnore"][0]
        tp.append((e["dtMatches"][0] != 0)[~ig])
        conf.append(np.asarray(e["dtScores"])[~ig])
        pcls.append(np.full(int((~ig).sum()), cat_pos[e["category_id"]]))
        tcls.append(np.full(int((np.asarray(e["gtIgnore"]) == 0).sum()), cat_pos[e["category_id"]]))
    tp, conf, pcls, tcls = (np.concatenate(v) for v in (tp, conf, pcls, tcls))
    res = ap_per_class(tp[:, None], conf, pcls, tcls)
    classes, p_curve, r_curve, f1_curve = res[6], res[7], res[8], res[9]
    # ultralytics orders tied scores with an unstable sort: compare the categories without ties
    untied = np.array([np.unique(conf[pcls == c]).size == int((pcls == c).sum()) for c in classes])
    assert untied.mean() > 0.8
    rows = classes[untied]
    np.testing.assert_allclose(cur.precision[rows], p_curve[untied], rtol=0, atol=1e-9)
    np.testing.assert_allclose(cur.recall[rows], r_curve[untied], rtol=0, atol=1e-9)
    np.testing.assert_allclose(cur.f1[rows], f1_curve[untied], rtol=0, atol=1e-9)


# ------------------------------------------------------------------ bootstrap


def resampled(gt: dict, dets: list, img_ids: list, counts: np.ndarray) -> tuple[dict, list]:
    """The slow reference: image i copied counts[i] times, copies next to it in image order, new ids."""
    by_g: dict = {}
    by_d: dict = {}
    for a in gt["annotations"]:
        by_g.setdefault(a["image_id"], []).append(a)
    for d in dets:
        by_d.setdefault(d["image_id"], []).append(d)
    imgs, anns, dts = [], [], []
    for i, iid in enumerate(img_ids):
        for _ in range(int(counts[i])):
            nid = len(imgs) + 1
            imgs.append({"id": nid, "width": 640, "height": 480})
            for a in by_g.get(iid, []):
                anns.append(dict(a, id=len(anns) + 1, image_id=nid))
            for d in by_d.get(iid, []):
                dts.append({k: v for k, v in d.items() if k != "id"} | {"image_id": nid})
    return {"images": imgs, "categories": gt["categories"], "annotations": anns}, dts


def check_bootstrap(
    gt: dict, dets: list, E: COCOeval, n: int, seed: int, pycocotools: bool = False, use_cats: int = 1
) -> int:
    bs = E.bootstrap(n, seed=seed)
    counts = resample_counts(len(E._prep.img_ids), seed, 0, n)
    checked = 0
    for b in range(n):
        g2, d2 = resampled(gt, dets, E._prep.img_ids, counts[b])
        if not d2:
            continue
        R = evaluate(g2, d2, use_cats)
        nan = lambda v: np.where(np.asarray(v) < 0, np.nan, v)  # noqa: E731
        np.testing.assert_allclose([bs.ap[b], bs.ap50[b], bs.ap75[b]], nan(R.stats[:3]), rtol=0, atol=1e-12)
        np.testing.assert_allclose(bs.per_class_ap[b], R.per_class()["AP"].to_numpy(), rtol=0, atol=1e-12)
        if pycocotools:
            c_gt = PyCOCO()
            c_gt.dataset = g2
            quiet(c_gt.createIndex)
            ref = PyCOCOeval(c_gt, quiet(c_gt.loadRes, d2), "bbox")
            quiet(ref.evaluate)
            quiet(ref.accumulate)
            quiet(ref.summarize)
            np.testing.assert_allclose([bs.ap[b], bs.ap50[b]], nan(ref.stats[:2]), rtol=0, atol=1e-12)
        checked += 1
    return checked


@pytest.mark.parametrize("seed", range(12))
def test_bootstrap_equals_reevaluation_edge_sets(seed):
    # ties within and across images, crowds, empty images, > 100 detections per image
    gt, dets = make_edge_dataset(seed)
    E = evaluate(gt, dets)
    check_bootstrap(gt, dets, E, 4, seed)


def test_bootstrap_long_tie_run_grows_the_kernel_buffers():
    # one image, three detections with one score (TP, FP, TP): drawn 100 times, the copies interleave
    # 200 true-positive steps with false positives, more than the kernel's first buffers hold
    from detbench.eval._analysis_kernels import bootstrap_chunk
    from detbench.eval.bootstrap import ranked_matches

    box = {"image_id": 1, "category_id": 1, "area": 100.0, "iscrowd": 0}
    gt = {
        "images": [{"id": 1, "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [dict(box, id=1, bbox=[0, 0, 10, 10]), dict(box, id=2, bbox=[50, 50, 10, 10])],
    }
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": b, "score": 0.5}
        for b in ([0, 0, 10, 10], [80, 80, 5, 5], [50, 50, 10, 10])
    ]
    E = evaluate(gt, dets)
    rk = ranked_matches(E._prep, E.matches(), 0)[0]
    assert rk.d_run[0] == 3
    T, R = len(E.params.iouThrs), len(E.params.recThrs)
    out = np.empty((1, 1, T))
    bootstrap_chunk(rk, np.asarray(E.params.recThrs), True, np.array([[100]]), out)
    ref = evaluate(*resampled(gt, dets, E._prep.img_ids, np.array([100])))
    np.testing.assert_allclose(out[0, 0] / R, ref.eval["precision"][:, :, 0, 0, -1].mean(1), rtol=0, atol=1e-12)


def test_bootstrap_equals_reevaluation_without_categories():
    gt, dets = make_edge_dataset(3)
    E = evaluate(gt, dets, use_cats=0)
    assert check_bootstrap(gt, dets, E, 4, 1, use_cats=0) == 4


def test_analyses_of_an_empty_result_set(subset):
    gt, _, _ = subset
    g = COCO(copy.deepcopy(gt))
    E = COCOeval(g, g.loadRes([]), "bbox")
    E.evaluate()
    E.accumulate()
    K = len(gt["categories"])
    cm = E.confusion_matrix()
    assert cm[:K].sum() == 0 and cm[K].sum() == sum(1 for a in gt["annotations"] if not a["iscrowd"])
    assert np.all(E.bootstrap(3).ap == 0) and np.all(np.nan_to_num(E.f1_confidence().best_f1) == 0)
    assert (E.to_dataframe()["n_dt"] == 0).all()


def test_bootstrap_equals_reevaluation_coco_subset(subset):
    gt, dets, E = subset
    assert check_bootstrap(gt, dets, E, 2, 7, pycocotools=True) == 2


def test_bootstrap_seeded_and_split_independent(subset):
    _, _, E = subset
    a = E.bootstrap(40, seed=3, threads=1)
    b = E.bootstrap(40, seed=3, threads=2)
    c = E.bootstrap(10, seed=3)
    assert np.array_equal(a.ap_kt, b.ap_kt, equal_nan=True)
    assert np.array_equal(a.ap_kt[:10], c.ap_kt, equal_nan=True)
    lo, hi = a.intervals()["AP"]
    assert lo <= E.stats[0] <= hi and 0 < hi - lo < 0.2
    assert not np.array_equal(a.ap, E.bootstrap(40, seed=4).ap)


# ------------------------------------------------------------------ tables


def test_to_dataframe_by_class_and_area(subset):
    _, _, E = subset
    E._bootstrap = None
    df = E.to_dataframe()
    pc = E.per_class()
    assert list(df.columns[: len(pc.columns)]) == list(pc.columns)
    assert np.array_equal(df["AP"].to_numpy(), pc["AP"].to_numpy(), equal_nan=True)
    mt = E.matches()
    assert df["n_gt"].sum() == int((mt.gt_ign[0] == 0).sum())
    assert df["n_dt"].sum() == int(mt.d_count.sum())
    E.bootstrap(50, seed=0)
    df = E.to_dataframe()
    for col in ("AP_lo", "AP_hi", "AP50_lo", "AP50_hi", "AP75_lo", "AP75_hi"):
        assert col in df.columns
    ok = df["AP"].notna()
    assert (df["AP_lo"][ok] <= df["AP_hi"][ok] + 1e-15).all()
    E2 = COCOeval(E.cocoGt, E.cocoDt, "bbox")
    E2.evaluate()
    E2.bootstrap(5)
    E2.evaluate()  # a new evaluation: the old intervals are not shown
    E2.accumulate()
    assert "AP_lo" not in E2.to_dataframe().columns
    area = E.to_dataframe(by="area")
    assert list(area["area"]) == ["all", "small", "medium", "large"]
    np.testing.assert_allclose(area["AP"].to_numpy(), E.stats[[0, 3, 4, 5]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(area.loc[0, ["AP50", "AP75"]].to_numpy(float), E.stats[1:3], rtol=0, atol=1e-15)
    np.testing.assert_allclose(area["AR"].to_numpy(), E.stats[[8, 9, 10, 11]], rtol=0, atol=1e-15)


# ------------------------------------------------------------------ bad input


def test_bad_input_names_the_argument(subset):
    _, _, E = subset
    for kw, name in (
        ({"iou_threshold": 1.5}, "iou_threshold"),
        ({"iou_threshold": -0.1}, "iou_threshold"),
        ({"score_threshold": 2.0}, "score_threshold"),
        ({"score_threshold": float("nan")}, "score_threshold"),
        ({"convention": "yolo"}, "convention"),
    ):
        with pytest.raises(ValueError, match=name):
            E.confusion_matrix(**kw)
    with pytest.raises(ValueError, match="iou_threshold"):
        E.f1_confidence(iou_threshold=0.52)
    with pytest.raises(ValueError, match="iou_threshold"):
        E.f1_confidence(iou_threshold=1.2)
    with pytest.raises(ValueError, match="points"):
        E.f1_confidence(points=1)
    with pytest.raises(ValueError, match="n"):
        E.bootstrap(0)
    with pytest.raises(ValueError, match="ci"):
        E.bootstrap(10, ci=1.0)
    with pytest.raises(ValueError, match="by"):
        E.to_dataframe(by="image")
    fresh = COCOeval(E.cocoGt, E.cocoDt, "bbox")
    for call in (fresh.confusion_matrix, fresh.f1_confidence, fresh.bootstrap, fresh.to_dataframe):
        with pytest.raises(RuntimeError, match="evaluate"):
            call()


# ------------------------------------------------------------------ CLI --out


def test_cli_out_csv_json_parquet(tmp_path, capsys):

    import pandas as pd

    from detbench.eval.cli import main

    csv, js, pq = tmp_path / "t.csv", tmp_path / "t.json", tmp_path / "t.parquet"
    assert main([GT_FILE, DT_FILE, "--out", str(csv)]) == 0
    df = pd.read_csv(csv)
    for col in ("category_id", "name", "AP", "AP50", "AP75", "APs", "APm", "APl", "AR", "n_gt", "n_dt"):
        assert col in df.columns
    assert main([GT_FILE, DT_FILE, "--out", str(js)]) == 0
    payload = json.loads(js.read_text())
    assert {"stats", "per_class"} <= set(payload) and payload["per_class"][0]["n_gt"] >= 0
    capsys.readouterr()
    assert main([GT_FILE, DT_FILE, "--out", str(pq)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(pq), df, check_dtype=False)


def test_cli_out_parquet_without_an_engine(tmp_path, capsys, monkeypatch):
    import importlib.util

    from detbench.eval.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m in ("pyarrow", "fastparquet") else real(m))
    assert main([GT_FILE, DT_FILE, "--out", str(tmp_path / "t.parquet")]) == 2
    err = capsys.readouterr()
    assert "pyarrow" in err.err and "--out" in err.err
    assert "loaded" not in err.out  # refused before evaluating
