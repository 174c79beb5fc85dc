"""Built-in data shipped with detbench (no download needed).

``coco-val2014-100/``: real COCO val2014 ground truth for the 100 smallest image
ids (839 boxes, 9 crowd, 80 categories) and the 734 "fake" reference bbox
detections published with the official COCO API, with the official summary
(see its README.md; COCO annotations are CC-BY 4.0).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DATA_DIR", "coco_val2014_subset", "COCO_SUBSET_BBOX_STATS"]

DATA_DIR = Path(__file__).resolve().parent

#: pycocotools' 12 bbox stats on the subset, as published (README of the data folder).
COCO_SUBSET_BBOX_STATS = (
    0.5045806987249628,
    0.6969727247299577,
    0.5729816669904824,
    0.5856257209410443,
    0.5193996948036719,
    0.5013978986347466,
    0.38681277964578054,
    0.5936795762842003,
    0.595352982877607,
    0.6398109626113442,
    0.5664205978994309,
    0.5642905982905982,
)


def coco_val2014_subset() -> tuple[Path, Path]:
    """Paths of the subset's ground-truth JSON and reference detections JSON."""
    folder = DATA_DIR / "coco-val2014-100"
    return folder / "instances_val2014_100.json", folder / "instances_val2014_fakebbox100_results.json"
