"""Figures of detbench's analyses, each a function returning a matplotlib ``Figure``.

* :func:`plot_confusion_matrix`, :func:`plot_f1_confidence`, :func:`plot_class_ap`
  (:mod:`detbench.plots.analysis`);
* :func:`plot_tide` - the TIDE error breakdown (:mod:`detbench.plots.tide`), imported on first use.
"""

from __future__ import annotations

from typing import Any

from detbench.plots.analysis import plot_class_ap, plot_confusion_matrix, plot_f1_confidence

__all__ = ["plot_confusion_matrix", "plot_f1_confidence", "plot_class_ap", "plot_tide"]


def __getattr__(name: str) -> Any:
    if name == "plot_tide":
        from detbench.plots.tide import plot_tide

        return plot_tide
    raise AttributeError(f"module 'detbench.plots' has no attribute {name!r}")
