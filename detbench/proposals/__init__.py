"""Region proposals: selective search, an RPN-style proposal layer, and proposal recall.

Seed notes §5 ("候选区域", region proposals): R-CNN classifies a few thousand
regions found by a segmentation algorithm (selective search) instead of every
sliding window; Faster R-CNN replaces selective search by a Region Proposal
Network (anchors + predicted deltas). :func:`proposal_recall` compares the
methods on the same images (recall against the number of proposals).

Boxes are ``xyxy`` in continuous pixel coordinates: pixel ``(row y, col x)``
covers ``[x, x + 1) x [y, y + 1)``, so a region spanning columns ``x0..x1`` and
rows ``y0..y1`` (inclusive) has the box ``(x0, y0, x1 + 1, y1 + 1)``.

Modules: :mod:`~detbench.proposals.segmentation` (Felzenszwalb–Huttenlocher),
:mod:`~detbench.proposals.selective_search`, :mod:`~detbench.proposals.rpn` (the RPN proposal
layer), :mod:`~detbench.proposals.windows` (exhaustive sliding windows),
:mod:`~detbench.proposals.recall` (proposal recall); Numba kernels beside them
(``_segmentation_kernels``, ``_grouping_kernels``, ``_image_kernels``) and ``_image`` (image
preparation shared by segmentation and selective search).
"""

from detbench.proposals.recall import COCO_IOU_THRESHOLDS, ProposalRecall, proposal_recall
from detbench.proposals.rpn import RPNProposals, filter_proposals, rpn_proposals, rpn_proposals_from_maps
from detbench.proposals.segmentation import felzenszwalb_segmentation
from detbench.proposals.selective_search import selective_search
from detbench.proposals.windows import sliding_windows

__all__ = [
    "felzenszwalb_segmentation",
    "selective_search",
    "sliding_windows",
    "filter_proposals",
    "rpn_proposals",
    "rpn_proposals_from_maps",
    "RPNProposals",
    "proposal_recall",
    "ProposalRecall",
    "COCO_IOU_THRESHOLDS",
]
