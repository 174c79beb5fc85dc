"""COCOeval(gt, dt, "keypoints") against pycocotools (live) on synthetic person sets."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval as PyCOCOeval

from detbench.eval import COCOeval
from tests.test_eval_coco import assert_same_eval, make_coco, quiet


def make_kps_dataset(seed: int, k: int = 17) -> tuple[dict, list]:
    """People with visibility flags 0/1/2, crowds, images without people, ``num_keypoints == 0``,
    integer and float coordinates, ties in score."""
    rng = np.random.default_rng(seed)
    n_img = int(rng.integers(1, 7))
    cats = [1, 2] if rng.random() < 0.3 else [1]
    images, anns, dets = [], [], []
    aid = 1
    for i in range(1, n_img + 1):
        images.append({"id": i, "height": 480, "width": 640})
        if rng.random() < 0.15:
            continue  # no people
        for _ in range(int(rng.integers(0, 5))):
            c = int(rng.choice(cats))
            x, y = rng.uniform(0, 500), rng.uniform(0, 350)
            w, h = rng.uniform(8, 140), rng.uniform(8, 140)
            xs, ys = rng.uniform(x, x + w, k), rng.uniform(y, y + h, k)
            if rng.random() < 0.4:
                xs, ys = np.round(xs), np.round(ys)
            v = rng.choice([0, 1, 2], k, p=[0.3, 0.2, 0.5])
            if rng.random() < 0.15:
                v[:] = 0
            kp = np.column_stack([xs * (v > 0), ys * (v > 0), v]).reshape(-1)
            crowd = int(rng.random() < 0.1)
            area = float(rng.choice([w * h, w * h * 0.6, 32.0**2, 96.0**2]))
            kp_list = [int(t) if float(t).is_integer() else float(t) for t in kp]
            anns.append(
                {"id": aid, "image_id": i, "category_id": c, "keypoints": kp_list, "num_keypoints": int((v > 0).sum())}
                | {"bbox": [x, y, w, h], "area": area, "iscrowd": crowd}
            )
            aid += 1
            for _ in range(int(rng.integers(0, 3))):
                s = rng.uniform(0.5, 12)
                dx, dy = rng.normal(0, s, k), rng.normal(0, s, k)
                dkp = np.column_stack([xs + dx, ys + dy, np.ones(k)]).reshape(-1)
                sc = float(rng.choice([0.3, 0.6, 0.6, 0.9])) if rng.random() < 0.5 else float(rng.random())
                dets.append({"image_id": i, "category_id": c, "keypoints": dkp.tolist(), "score": sc})
        for _ in range(int(rng.integers(0, 3))):
            x, y = rng.uniform(0, 600), rng.uniform(0, 440)
            dkp = np.column_stack([x + rng.uniform(0, 40, k), y + rng.uniform(0, 40, k), np.ones(k)]).reshape(-1)
            dets.append({"image_id": i, "category_id": int(rng.choice(cats)), "keypoints": dkp.tolist()})
            dets[-1]["score"] = float(rng.random())
    if not dets:
        dets.append({"image_id": 1, "category_id": 1, "keypoints": [10.0, 10.0, 1.0] * k, "score": 0.5})
    rng.shuffle(dets)
    gt = {"images": images, "categories": [{"id": c, "name": f"p{c}"} for c in cats], "annotations": anns}
    return gt, dets


def run_kps(gt, dets, setup=None, summarize=True, **kw):
    c_gt = make_coco(gt, "pycocotools")
    c_dt = quiet(c_gt.loadRes, copy.deepcopy(dets))
    ref = PyCOCOeval(c_gt, c_dt, "keypoints")
    ours = COCOeval(c_gt, c_dt, "keypoints", cache=False, **kw)
    if setup is not None:
        setup(ref.params)
        setup(ours.params)
    quiet(ref.evaluate)
    quiet(ref.accumulate)
    ours.evaluate()
    ours.accumulate()
    if summarize:
        quiet(ref.summarize)
        quiet(ours.summarize)
    return ref, ours


@pytest.mark.parametrize("seed", range(10))
def test_keypoints_bit_identical(seed):
    gt, dets = make_kps_dataset(seed)
    ref, ours = run_kps(gt, dets)
    assert_same_eval(ref, ours)
    assert np.array_equal(ours.stats, ref.stats)
    assert len(ours.stats) == 10


def test_keypoints_custom_sigmas_and_params():
    gt, dets = make_kps_dataset(42, k=5)
    sig = np.array([0.3, 0.5, 0.7, 0.2, 1.1]) / 10

    def setup(p):
        p.kpt_oks_sigmas = sig.copy()
        p.maxDets = [5, 20]

    ref, ours = run_kps(gt, dets, setup)
    assert_same_eval(ref, ours)
    assert np.array_equal(ours.stats, ref.stats)


def test_keypoints_eval_imgs():
    gt, dets = make_kps_dataset(7)
    ref, ours = run_kps(gt, dets, summarize=False)
    for a, b in zip(ref.evalImgs, ours.evalImgs, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert np.array_equal(a["dtMatches"], b["dtMatches"]) and np.array_equal(a["gtIgnore"], b["gtIgnore"])


def test_keypoints_bad_input():
    gt, dets = make_kps_dataset(3)
    first = gt["annotations"][0]
    g2 = copy.deepcopy(gt)
    g2["annotations"][0]["keypoints"] = g2["annotations"][0]["keypoints"][:-1]
    c_gt = make_coco(g2, "pycocotools")
    c_dt = quiet(c_gt.loadRes, copy.deepcopy(dets))
    with pytest.raises(ValueError, match=rf"ground truth id {first['id']}: 'keypoints' has 50 values, expected 51"):
        COCOeval(c_gt, c_dt, "keypoints", cache=False).evaluate()
    c_gt = make_coco(gt, "pycocotools")
    c_dt = quiet(c_gt.loadRes, copy.deepcopy(dets))
    E = COCOeval(c_gt, c_dt, "keypoints", cache=False)
    E.params.kpt_oks_sigmas = np.ones(16) / 10
    with pytest.raises(ValueError, match="expected 48"):
        E.evaluate()


def test_keypoints_threaded_blocks_identical(monkeypatch):
    # OKS blocks split over threads (small blocks, threshold at 0): the same arrays on 1 and 2 threads as
    # pycocotools, from files read by detbench's COCO
    import json

    import detbench.eval.keypoints as kp_mod
    from detbench.eval import COCO as DetbenchCOCO
    from detbench.synthetic import make_keypoints_coco

    monkeypatch.setattr(kp_mod, "_BLOCK", 257)
    monkeypatch.setattr(kp_mod, "_PARALLEL_VALUES", 0)
    gt, dets = make_keypoints_coco(40, seed=5)
    raw_gt, raw_dt = json.dumps(gt).encode(), json.dumps(dets).encode()
    out = []
    for threads in (1, 2):
        d_gt = DetbenchCOCO(raw_gt)
        E = COCOeval(d_gt, d_gt.loadRes(raw_dt), "keypoints", threads=threads)
        E.evaluate()
        E.accumulate()
        quiet(E.summarize)
        out.append(E)
    for key in ("precision", "recall", "scores"):
        assert np.array_equal(out[0].eval[key], out[1].eval[key])
    ref, _ = run_kps(gt, dets)
    assert_same_eval(ref, out[1])
    assert np.array_equal(out[1].stats, ref.stats)
