"""Detection evaluation: COCO (identical to pycocotools) and VOC protocols.

* :class:`COCO` - drop-in for ``pycocotools.coco.COCO`` (index API, ``loadRes``)
  on the fast loader: ``from detbench.eval import COCO, COCOeval``.
* :class:`COCOeval` - drop-in for ``pycocotools.cocoeval.COCOeval`` (bbox), on
  pycocotools ``COCO`` objects or detbench's own :class:`CocoDataset`.
* :func:`load_coco` / :func:`load_results` - COCO JSON straight to flat arrays,
  with validation errors that name the problem.
* :func:`evaluate_pr` - COCO-101, VOC07 11-point and VOC2010+ all-point AP from
  one matching pass (VOC devkit or pycocotools rule), PR curves, F1 thresholds,
  per-class table; :func:`average_precision` for one curve.
* :class:`CocoEvaluator` - mergeable, streaming COCO evaluation (``update`` per
  batch, ``merge`` across ranks, ``compute``), equal to the one-shot ``COCOeval``;
  :func:`evaluate_shards` / :func:`evaluate_distributed` - results shards
  streamed in one process or evaluated on a Dask cluster; :class:`VocEvaluator`
  - the same for :func:`evaluate_pr`.
* :class:`LVISEval`, :class:`LVIS`, :class:`LVISResults` - LVIS' federated
  evaluation, equal to lvis-api's (:mod:`detbench.eval.lvis`).
* Why points are lost (on ``COCOeval``, ``evaluate_pr``'s result and ``LVISEval``, from the
  evaluation's own matches): ``tide()`` (:class:`TideResult`), ``confusion_matrix()``,
  ``f1_confidence()``, ``bootstrap()``, ``to_dataframe()``; figures in :mod:`detbench.plots`.
* :func:`read_ground_truth` / :func:`read_detections` - VOC XML, YOLO txt and text files
  (:mod:`detbench.eval.formats`).
* ``detbench.eval.cli`` - the ``detbench eval`` command.
"""

from detbench.eval.coco import COCOeval, Params
from detbench.eval.cocoapi import COCO
from detbench.eval.formats import read_detections, read_ground_truth
from detbench.eval.loader import CocoDataset, clear_cache, load_coco, load_results
from detbench.eval.lvis import LVISEval
from detbench.eval.lvis_data import LVIS, LVISResults
from detbench.eval.shards import evaluate_distributed, evaluate_shards
from detbench.eval.streaming import CocoEvaluator, CocoResult
from detbench.eval.tide import TideResult
from detbench.eval.voc import PRResult, average_precision, evaluate_pr
from detbench.eval.voc_stream import VocEvaluator

__all__ = [
    "COCO",
    "COCOeval",
    "Params",
    "CocoDataset",
    "load_coco",
    "load_results",
    "clear_cache",
    "evaluate_pr",
    "average_precision",
    "PRResult",
    "CocoEvaluator",
    "CocoResult",
    "evaluate_shards",
    "evaluate_distributed",
    "VocEvaluator",
    "LVIS",
    "LVISResults",
    "LVISEval",
    "TideResult",
    "read_ground_truth",
    "read_detections",
]
