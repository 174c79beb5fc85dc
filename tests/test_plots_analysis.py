"""detbench.plots.analysis: each function returns a labelled matplotlib Figure from an evaluation's results."""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pytest

from detbench.data import DATA_DIR
from detbench.eval import COCO, COCOeval
from detbench.plots import plot_class_ap, plot_confusion_matrix, plot_f1_confidence

matplotlib.use("Agg")

SUBSET = os.path.join(DATA_DIR, "coco-val2014-100")


@pytest.fixture(scope="module")
def ev():
    g = COCO(os.path.join(SUBSET, "instances_val2014_100.json"))
    E = COCOeval(g, g.loadRes(os.path.join(SUBSET, "instances_val2014_fakebbox100_results.json")), "bbox")
    E.evaluate()
    E.accumulate()
    E.bootstrap(30, seed=0)
    return E


def labels(fig):
    ax = fig.axes[0]
    return ax.get_xlabel(), ax.get_ylabel(), ax.get_title()


def test_confusion_matrix_figure_counts_and_normalised(ev):
    from matplotlib.figure import Figure

    fig = plot_confusion_matrix(ev, top=None)
    assert isinstance(fig, Figure)
    x, y, title = labels(fig)
    assert x == "true category" and y == "predicted category" and "counts" in title
    img = fig.axes[0].images[0].get_array()
    assert np.array_equal(np.asarray(img), ev.confusion_matrix().astype(float))
    fig = plot_confusion_matrix(ev, normalize=True, top=10)
    img = np.asarray(fig.axes[0].images[0].get_array())
    assert img.shape == (12, 12) and np.allclose(img.sum(0)[img.sum(0) > 0], 1.0)  # 10 + other + background
    assert "fraction" in fig.axes[1].get_ylabel()  # colour bar with its unit
    cm = ev.confusion_matrix()
    with pytest.raises(ValueError, match="names"):
        plot_confusion_matrix(cm, names=["a"])
    with pytest.raises(ValueError, match="source"):
        plot_confusion_matrix(np.zeros((3, 4)))


def test_f1_confidence_figure(ev):
    fig = plot_f1_confidence(ev)
    x, y, title = labels(fig)
    assert "score threshold" in x and "F1" in y and "IoU 0.50" in title
    cur = ev.f1_confidence(0.5)
    fig = plot_f1_confidence(cur, metric="precision")
    assert "precision" in labels(fig)[1]
    with pytest.raises(ValueError, match="metric"):
        plot_f1_confidence(cur, metric="auc")


def test_class_ap_figure_with_intervals(ev):
    fig = plot_class_ap(ev, top=None, sort=False)
    x, y, title = labels(fig)
    assert x.startswith("AP") and y == "category" and "bootstrap interval" in title
    df = ev.to_dataframe()
    df = df[df["AP"].notna()]
    bars = fig.axes[0].patches
    assert len(bars) == len(df)
    assert np.allclose([b.get_width() for b in bars], df["AP"].to_numpy())
    from matplotlib.container import ErrorbarContainer

    assert any(isinstance(c, ErrorbarContainer) for c in fig.axes[0].containers)  # the interval bars are drawn
    assert "bootstrap" not in labels(plot_class_ap(df.drop(columns=["AP_lo", "AP_hi"])))[2]
