"""evaluate_pr's analyses (issue 15, VOC protocol): bootstrap of the three AP definitions, confusion matrix, TIDE.

Data: :func:`benchmarks.bench_eval.make_coco_dataset` (80 categories, ~7 ground truths and 100 detections per
image), evaluated once with ``evaluate_pr`` in ``setup`` (the analyses reuse its matches).

* ``PRBootstrap.time_bootstrap``: ``PRResult.bootstrap(1000)`` (the issue's goal: under 10 s at 5,000 images);
* ``PRAnalyses.time_*``: confusion matrix, F1 curves and TIDE of one ``evaluate_pr`` result;
* ``EvaluatePR.time_evaluate_pr``: ``evaluate_pr`` itself, which now also keeps what the analyses need.

``python -m benchmarks.bench_eval_voc_analysis [500 5000]`` prints same-run timings.
"""

from __future__ import annotations

import sys

from benchmarks.bench_eval import make_coco_dataset
from benchmarks.common import same_run_timings

_CACHE: dict = {}


def loaded(n_images: int):
    """A seeded dataset at ``n_images`` loaded with detbench: (gt, dt) datasets."""
    if n_images not in _CACHE:
        from detbench.eval import load_coco

        gt, dets = make_coco_dataset(n_images)
        g = load_coco(gt)
        _CACHE[n_images] = (g, g.load_results(dets))
    return _CACHE[n_images]


def evaluated(n_images: int):
    from detbench.eval.voc import evaluate_pr

    return evaluate_pr(*loaded(n_images))


class PRBootstrap:
    """1,000 image resamples of COCO-101, VOC07 and VOC2010+ AP from one evaluate_pr result."""

    params = ([500, 5000],)
    param_names = ["n_images"]
    timeout = 600

    def setup(self, n_images):
        self.res = evaluated(n_images)
        self.res.bootstrap(2)  # compile / load the kernel

    def time_bootstrap(self, n_images):
        self.res.bootstrap(1000, seed=0)


class PRAnalyses:
    """Confusion matrix (IoU 0.45, score 0.25), F1 curves (IoU 0.5) and TIDE of one evaluate_pr result."""

    params = ([500],)
    param_names = ["n_images"]
    timeout = 300

    def setup(self, n_images):
        self.res = evaluated(n_images)
        self.res.confusion_matrix()
        self.res.f1_confidence()
        self.res.tide()

    def time_confusion_matrix(self, n_images):
        self.res.confusion_matrix()

    def time_f1_confidence(self, n_images):
        self.res.f1_confidence()

    def time_tide(self, n_images):
        self.res.tide()


class EvaluatePR:
    """evaluate_pr at IoU 0.5 (VOC rule) on datasets already loaded."""

    params = ([500, 5000],)
    param_names = ["n_images"]
    timeout = 300

    def setup(self, n_images):
        from detbench.eval.voc import evaluate_pr

        self.data = loaded(n_images)
        self.fn = evaluate_pr
        evaluate_pr(*self.data)

    def time_evaluate_pr(self, n_images):
        self.fn(*self.data)


def main(argv: list[str]) -> int:
    for n in [int(a) for a in argv] or [500, 5000]:
        res = evaluated(n)
        res.bootstrap(2)
        res.tide()
        from detbench.eval.voc import evaluate_pr

        data = loaded(n)
        fns = {
            "evaluate_pr": lambda: evaluate_pr(*data),
            "bootstrap(1000)": lambda: res.bootstrap(1000),
            "confusion_matrix": res.confusion_matrix,
            "f1_confidence": res.f1_confidence,
            "tide": res.tide,
        }
        for name, v in same_run_timings(fns, rounds=3, budget_s=120).items():
            print(f"{n} images: {name}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
