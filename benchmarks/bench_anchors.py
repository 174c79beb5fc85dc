"""Anchor core: reference anchors, anchor grids and the box coder."""

import numpy as np


class Anchors:
    params = ["50x68", "200x272"]
    param_names = ["feature_shape"]

    def setup(self, feature_shape):
        import detbench

        feature_shape = tuple(int(v) for v in feature_shape.split("x"))
        self.shape = feature_shape
        self.db = detbench
        self.base = detbench.generate_anchors()
        self.anchors = detbench.grid_anchors(self.base, feature_shape, 16)
        rng = np.random.default_rng(0)
        self.gt = self.anchors + rng.normal(0, 4, self.anchors.shape)
        self.gt[:, 2:] = np.maximum(self.gt[:, 2:], self.gt[:, :2] + 1)
        self.deltas = self.db.encode_boxes(self.anchors, self.gt)

    def time_grid_anchors(self, feature_shape):
        self.db.grid_anchors(self.base, self.shape, 16)

    def time_encode_boxes(self, feature_shape):
        self.db.encode_boxes(self.anchors, self.gt)

    def time_decode_boxes(self, feature_shape):
        self.db.decode_boxes(self.anchors, self.deltas)

    def track_round_trip_max_abs_error(self, feature_shape):
        return float(np.abs(self.db.decode_boxes(self.anchors, self.deltas) - self.gt).max())

    track_round_trip_max_abs_error.unit = "px"
