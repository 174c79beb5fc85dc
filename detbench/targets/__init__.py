"""Training targets for single-object localisation (:mod:`.localization`) and YOLO grids (:mod:`.yolo`).

Seed notes §1 ("object localization") and §2/§4 ("Bounding box predictions",
"Anchor boxes").

Target vector layout (both encoders), following the seed's order::

    y = [pc, bx, by, bh, bw, c1, ..., cK]

* ``pc``   – 1 if an object is present, 0 otherwise. When ``pc == 0`` every
  other entry is "don't care": the encoders write 0 there and the losses
  ignore it.
* ``bx, by`` – the box midpoint (or its top-left corner for
  ``encode_localization(..., point="top_left")``, the other convention the seed
  mentions). For single-object localisation they are divided by the image
  width/height (so the image is the unit square); for YOLO grids they are the
  offset inside the responsible cell (the cell is the unit square, ``[0, 1)``).
* ``bh, bw`` – box height and width divided by the image height and width
  (both encoders; note the order h before w, as in the seed).
* ``c1..cK`` – one-hot class indicator.

Coordinates are pixels with the image spanning ``[0, width] x [0, height]``;
``image_size`` is always ``(height, width)``.
"""

from detbench.targets.localization import decode_localization, encode_localization, localization_loss
from detbench.targets.yolo import YoloCollisionWarning, YoloTargets, decode_yolo_outputs, encode_yolo_targets

__all__ = [
    "encode_localization",
    "decode_localization",
    "localization_loss",
    "encode_yolo_targets",
    "decode_yolo_outputs",
    "YoloTargets",
    "YoloCollisionWarning",
]
