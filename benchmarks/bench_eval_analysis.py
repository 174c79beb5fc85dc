"""COCOeval's analyses (issue 15): bootstrap intervals, confusion matrix (peers: ultralytics, supervision), F1 curves.

Data: :func:`benchmarks.bench_eval.make_coco_dataset` (80 categories, ~7 ground truths and 100 detections per
image), evaluated once in ``setup`` (the analyses reuse that evaluation; its matches are computed in setup too).

* ``Bootstrap.time_bootstrap``: ``COCOeval.bootstrap(1000)`` (the issue's goal: under 10 s at 5,000 images);
* ``ConfusionMatrix.time_confusion_matrix``: detbench's matrix vs ultralytics' ``ConfusionMatrix.process_batch``
  and supervision's ``ConfusionMatrix.from_tensors`` over the same images (inputs built in setup; equal
  matrices checked there);
* ``F1Confidence.time_f1_confidence``: detbench vs ultralytics' ``ap_per_class`` on the same matches.

``python -m benchmarks.bench_eval_analysis [500 5000]`` prints same-run timings.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from benchmarks.bench_eval import make_coco_dataset
from benchmarks.common import peer_available, same_run_timings

os.environ.setdefault("YOLO_OFFLINE", "1")

_CACHE: dict = {}


def evaluated(n_images: int):
    """A seeded dataset at ``n_images``, evaluated and accumulated with detbench (matches computed)."""
    if n_images not in _CACHE:
        from detbench.eval import COCOeval, load_coco

        gt, dets = make_coco_dataset(n_images)
        g = load_coco(gt)
        E = COCOeval(g, g.load_results(dets), "bbox")
        E.evaluate()
        E.accumulate()
        E.matches()
        _CACHE[n_images] = (gt, dets, E)
    return _CACHE[n_images]


def peer_inputs(gt: dict, dets: list, E) -> tuple[list, list, dict]:
    """Per-image xyxy arrays in file order (crowds left out), class index = position in ``E.params.catIds``."""
    ci = {c: i for i, c in enumerate(E.params.catIds)}
    by_g: dict = {}
    by_d: dict = {}
    for a in gt["annotations"]:
        if not a.get("iscrowd", 0):
            by_g.setdefault(a["image_id"], []).append(a)
    for d in dets:
        by_d.setdefault(d["image_id"], []).append(d)

    def rows(items, with_score):
        b = np.array([a["bbox"] for a in items], np.float64).reshape(-1, 4)
        b[:, 2:] += b[:, :2]
        c = np.array([ci[a["category_id"]] for a in items], np.float64)
        cols = [b, c[:, None]] + ([np.array([a["score"] for a in items], np.float64)[:, None]] if with_score else [])
        return np.hstack(cols)

    preds = [rows(by_d.get(i, []), True) for i in E.params.imgIds]
    targs = [rows(by_g.get(i, []), False) for i in E.params.imgIds]
    return preds, targs, ci


def ultralytics_matrix(preds, targs, ci, iou=0.45, conf=0.25):
    import torch
    from ultralytics.utils.metrics import ConfusionMatrix

    cm = ConfusionMatrix(names={i: str(c) for c, i in ci.items()})
    for p, t in zip(preds, targs):
        p_t, t_t = torch.from_numpy(p), torch.from_numpy(t)
        cm.process_batch(
            {"bboxes": p_t[:, :4], "cls": p_t[:, 4], "conf": p_t[:, 5]},
            {"bboxes": t_t[:, :4], "cls": t_t[:, 4]},
            conf,
            iou,
        )
    return cm.matrix


def supervision_matrix(preds, targs, ci, iou=0.45, conf=0.25):
    import supervision as sv

    cm = sv.ConfusionMatrix.from_tensors(
        predictions=preds, targets=targs, classes=[str(c) for c in ci], conf_threshold=conf, iou_threshold=iou
    )
    return cm.matrix.T  # supervision indexes [true, predicted]


class Bootstrap:
    """1,000 image resamples of AP / AP50 / per-class AP from one evaluation's matches."""

    params = ([500, 5000],)
    param_names = ["n_images"]
    timeout = 600

    def setup(self, n_images):
        self.E = evaluated(n_images)[2]
        self.E.bootstrap(2)  # compile / load the kernels

    def time_bootstrap(self, n_images):
        self.E.bootstrap(1000, seed=0)


class ConfusionMatrix:
    """The (K+1) x (K+1) confusion matrix at IoU 0.45, score 0.25 (ultralytics' defaults)."""

    params = ([500], ["detbench", "ultralytics", "supervision"])
    param_names = ["n_images", "peer"]
    timeout = 600

    def setup(self, n_images, peer):
        gt, dets, self.E = evaluated(n_images)
        if peer == "detbench":
            self.E.confusion_matrix()
            return
        if not peer_available({"ultralytics": "ultralytics", "supervision": "supervision"}[peer]):
            raise NotImplementedError(f"{peer} is not installed")
        self.inputs = peer_inputs(gt, dets, self.E)
        fn = ultralytics_matrix if peer == "ultralytics" else supervision_matrix
        conv = "ultralytics" if peer == "ultralytics" else "supervision"
        if not np.array_equal(fn(*self.inputs), self.E.confusion_matrix(convention=conv)):
            raise AssertionError(f"{peer}'s confusion matrix differs from detbench's")
        self.fn = fn

    def time_confusion_matrix(self, n_images, peer):
        if peer == "detbench":
            self.E.confusion_matrix()
        else:
            self.fn(*self.inputs)


class F1Confidence:
    """Precision / recall / F1 against confidence per class at IoU 0.5 (1,000-point grid)."""

    params = ([500], ["detbench", "detbench_ultralytics", "ultralytics"])
    param_names = ["n_images", "impl"]
    timeout = 300

    def setup(self, n_images, impl):
        self.E = evaluated(n_images)[2]
        if impl == "ultralytics":
            if not peer_available("ultralytics"):
                raise NotImplementedError("ultralytics is not installed")
            self.args = _ap_per_class_inputs(self.E)
        else:
            self.E.f1_confidence()

    def time_f1_confidence(self, n_images, impl):
        if impl == "ultralytics":
            from ultralytics.utils.metrics import ap_per_class

            ap_per_class(*self.args)
        else:
            self.E.f1_confidence(0.5, convention="step" if impl == "detbench" else "ultralytics")


def _ap_per_class_inputs(E) -> tuple:
    # ultralytics' inputs from the same matches: one row per not-ignored kept detection at IoU 0.5
    from detbench.eval.analysis import area_index
    from detbench.eval.bootstrap import ranked_matches

    rk, status, seg, score = ranked_matches(E._prep, E.matches(), area_index(E._paramsEval))
    keep = status[:, 0] != 2
    tcls = np.repeat(np.repeat(np.arange(rk.pos_off.size - 1), np.diff(rk.pos_off)), rk.pos_cnt)
    return (status[keep, :1] == 1), score[keep], seg[keep], tcls


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [500, 5000]
    for n in sizes:
        gt, dets, E = evaluated(n)
        E.bootstrap(2)
        fns = {"detbench bootstrap(1000)": lambda: E.bootstrap(1000)}
        t = same_run_timings(fns, rounds=3, budget_s=120)
        for name, v in t.items():
            print(f"{n} images: {name}: {v}")
        if n <= 1000:
            inputs = peer_inputs(gt, dets, E)
            fns = {"detbench confusion_matrix": lambda: E.confusion_matrix()}
            if peer_available("ultralytics"):
                fns["ultralytics ConfusionMatrix"] = lambda: ultralytics_matrix(*inputs)
            if peer_available("supervision"):
                fns["supervision ConfusionMatrix"] = lambda: supervision_matrix(*inputs)
            for name, v in same_run_timings(fns, rounds=3, budget_s=120).items():
                print(f"{n} images: {name}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
