"""Figures of the evaluation analyses, as functions returning matplotlib figures."""

from detbench.plots.tide import plot_tide

__all__ = ["plot_tide"]
