"""Detection evaluation: COCO (pycocotools-exact) and VOC protocols."""

from detbench.eval.coco import COCOeval, Params
from detbench.eval.loader import CocoDataset, clear_cache, load_coco, load_results

__all__ = ["COCOeval", "Params", "CocoDataset", "load_coco", "load_results", "clear_cache"]
