"""ROI Pooling and ROI Align on the CPU, and a study of their quantization error.

Modules: :mod:`.align`, :mod:`.pool`, :mod:`.study`; shared input handling in ``_inputs``; kernels in
``_align_kernels``, ``_pool_kernels`` and ``_layout_kernels``.

Both operators turn each region of interest (roi) of a feature map into a fixed
``ph x pw`` grid of bins per channel, as the second stage of Fast/Faster/Mask
R-CNN does.

* :func:`roi_pool` -- ROI Pooling (Girshick, *Fast R-CNN*, ICCV 2015): the roi is
  rounded to whole feature cells and each bin, also rounded to whole cells,
  takes the max of its cells. Two quantizations. Equal to
  ``torchvision.ops.roi_pool`` (values and argmax).
* :func:`roi_align` -- ROI Align (He et al., *Mask R-CNN*, ICCV 2017): no
  rounding; each bin averages (or maxes) bilinear samples at regular points.
  Equal to ``torchvision.ops.roi_align`` (``pool_mode="avg"``) and to mmcv's
  ``RoIAlign(pool_mode="max")`` rule (``pool_mode="max"``).
* :func:`roi_quantization_error` -- the seed's worked example (how many image
  pixels each quantization loses) for any box, stride and output size.
* :func:`roi_error_study` -- the empirical version: pool and align outputs
  against the exact continuous bin average of a smooth synthetic feature map,
  over random boxes.

Pixel model
-----------
Feature cell ``(i, j)`` of a map with stride ``s`` (``spatial_scale = 1/s``)
summarises image pixels ``[j*s, (j+1)*s)``; an image coordinate ``x`` is the
feature coordinate ``x * spatial_scale``. With ``aligned=True`` cell ``j`` is a
sample at its centre ``j + 0.5``, so the roi is shifted by -0.5 cell before
sampling: a box covering image pixels ``[0, s)`` samples exactly cell 0. With
``aligned=False`` (the original Mask R-CNN / torchvision default) cell ``j`` is
taken to sit at ``j``, which shifts every sample half a cell right and down, and
rois narrower than one cell are widened to one cell.

Reproducing other libraries
---------------------------
* torchvision: the same defaults (``sampling_ratio=-1, aligned=False``);
  ``MultiScaleRoIAlign`` uses ``sampling_ratio=2, aligned=False``.
* detectron2 ``ROIAlignV2`` (the default of its R-CNN heads):
  ``aligned=True, sampling_ratio=0``; its legacy ``ROIAlign`` is
  ``aligned=False, sampling_ratio=0``.
* mmcv / mmdetection ``RoIAlign``: defaults ``aligned=True, sampling_ratio=0,
  pool_mode="avg"``; ``pool_mode="max"`` is mmcv's max mode.
* ``sampling_ratio`` 0 and -1 (any value <= 0) mean the same: an adaptive grid
  of ``ceil(roi_height / ph) x ceil(roi_width / pw)`` points per bin.
"""

from detbench.roi.align import roi_align
from detbench.roi.pool import roi_pool
from detbench.roi.study import (
    STUDY_METHODS as STUDY_METHODS,
)
from detbench.roi.study import (
    QuantizationStudy,
    RoiQuantization,
    roi_error_study,
    roi_quantization_error,
)

__all__ = [
    "roi_align",
    "roi_pool",
    "roi_quantization_error",
    "roi_error_study",
    "RoiQuantization",
    "QuantizationStudy",
]
