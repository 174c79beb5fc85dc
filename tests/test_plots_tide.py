"""detbench.plots.plot_tide: a labelled bar chart of a TIDE breakdown."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from detbench.data import DATA_DIR
from detbench.eval import COCOeval, load_coco, load_results
from detbench.plots import plot_tide

DATA = DATA_DIR / "coco-val2014-100"


@pytest.fixture(scope="module")
def breakdown():
    gt = load_coco(DATA / "instances_val2014_100.json")
    E = COCOeval(gt, load_results(DATA / "instances_val2014_fakebbox100_results.json", gt), "bbox")
    E.evaluate()
    return E.tide()


def test_single_breakdown(breakdown, tmp_path):
    fig = plot_tide(breakdown)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_ylabel() == "dAP (AP points)" and ax.get_xlabel()
    assert len(ax.patches) == 8
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([breakdown[k] for k in breakdown])
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0].startswith("Cls") and labels[-1].startswith("FalseNeg")
    fig.savefig(tmp_path / "tide.png")
    assert (tmp_path / "tide.png").stat().st_size > 1000


def test_grouped_and_given_axes(breakdown):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    out = plot_tide({"a": breakdown, "b": dict(breakdown)}, ax=ax, title="two")
    assert out is fig and len(ax.patches) == 16 and ax.get_title() == "two"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    plt.close(fig)


@pytest.mark.parametrize("bad", [None, {}, {"Cls": 1.0}, {"a": {"Cls": 1.0}}, [1, 2]])
def test_bad_breakdown(bad):
    with pytest.raises(ValueError, match="breakdown"):
        plot_tide(bad)
