"""Non-maximum suppression: greedy NMS and the variants detectors use.

Every function takes NumPy arrays: ``boxes`` of shape ``(N, 4)`` in ``xyxy``
format (``x1 <= x2``, ``y1 <= y2``), ``scores`` of shape ``(N,)``, float32 or
float64 in any byte order and layout (float16 is read as float32, integers are
promoted to float64; boxes and scores are brought to a common dtype). Index
results are int64 arrays into the input; float results keep the common dtype.
``N = 0`` gives empty results of the right shape.

Functions
---------
:func:`nms`                    greedy NMS, identical to ``torchvision.ops.nms``
:func:`batched_nms`            per-class greedy NMS, identical to ``torchvision.ops.batched_nms``
:func:`soft_nms`               Soft-NMS (Bodla et al. 2017), equal to ensemble-boxes' ``soft_nms``
:func:`diou_nms`               DIoU-NMS (Zheng et al. 2020)
:func:`matrix_nms`             Matrix NMS (SOLOv2, Wang et al. 2020) on boxes
:func:`fast_nms`               Fast NMS (YOLACT, Bolya et al. 2019)
:func:`cluster_nms`            Cluster-NMS (Zheng et al. 2021): exactly greedy NMS
:func:`weighted_nms`           weighted NMS, equal to ensemble-boxes' ``non_maximum_weighted``
:func:`weighted_boxes_fusion`  WBF (Solovyev et al. 2021), equal to ensemble-boxes' ``weighted_boxes_fusion``

Modules
-------
``greedy`` (nms, batched_nms, the greedy driver), ``soft`` (soft_nms),
``matrix_cluster`` (diou_nms, fast_nms, cluster_nms, matrix_nms), ``fusion``
(weighted_nms, weighted_boxes_fusion); each ``_<name>_kernels`` beside it holds
its Numba kernels. Shared: ``_common`` (input checks, the box-scale rule, the
score order), ``_grid`` (pair arithmetic, the spatial grid), ``_torch_sort``
(libstdc++'s ``std::sort``, to reproduce torchvision's order among ties).
Kernels take a few named records (namedtuples, fields documented where they
are defined) built by small factories.

Box scale
---------
Finite coordinates can still give box areas that overflow or underflow the
dtype (float32 boxes at 1e20 or 1e-30 scale), and the IoU then reads as
"never suppress". Float32 boxes whose sides or areas leave float32's safe
range are compared in float64; float64 boxes outside float64's (or with
coordinates beyond ``2**510``) are refused with a ``ValueError`` naming
``boxes`` (details in :mod:`detbench.nms._common`).

Tie rule
--------
Equal scores are ordered by increasing index (a stable sort). This is also
torchvision's rule: its CPU NMS kernel sorts the scores with
``sort(stable=True, descending=True)``, so :func:`nms` and the small-N path
of :func:`batched_nms` are identical to torchvision with ties too. The one
exception is torchvision's large-N ``batched_nms`` (N > 1000), which orders
the union of kept boxes with a *non-stable* ``Tensor.sort(descending=True)``;
on CPU that runs libstdc++'s ``std::sort`` (introsort), whose deterministic
order among equal scores :func:`batched_nms` reproduces (tested against
torch). Soft-NMS and the fusion functions follow ensemble-boxes' own orders
(see their notes).
"""

from __future__ import annotations

from detbench.nms._common import SIMPLE_MAX_N  # noqa: F401  (module constant, kept importable)
from detbench.nms.fusion import weighted_boxes_fusion, weighted_nms
from detbench.nms.greedy import batched_nms, nms
from detbench.nms.matrix_cluster import cluster_nms, diou_nms, fast_nms, matrix_nms
from detbench.nms.soft import soft_nms

__all__ = [
    "nms",
    "batched_nms",
    "soft_nms",
    "diou_nms",
    "matrix_nms",
    "fast_nms",
    "cluster_nms",
    "weighted_nms",
    "weighted_boxes_fusion",
]
