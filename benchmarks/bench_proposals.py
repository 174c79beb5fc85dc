"""Region proposals, training targets and anchor selection (issue 7).

Peers in the same run: scikit-image's Felzenszwalb segmentation and torchvision's
RPN proposal filtering (BoxCoder.decode + RegionProposalNetwork.filter_proposals).
Selective search, YOLO targets and k-means anchors have no installed peer and are
timed alone.
"""

import numpy as np

from benchmarks.common import peer_available, random_boxes


def scene_image(height, width, seed=0):
    """A seeded synthetic photo-like RGB image: smooth background, coloured rectangles and ellipses, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    img = np.stack([120 + 60 * xx, 110 + 50 * yy, 140 - 40 * xx * yy], -1)
    for _ in range(12):
        c = rng.uniform(0, 255, 3)
        x0, y0 = rng.uniform(0, 0.8) * width, rng.uniform(0, 0.8) * height
        w, h = rng.uniform(0.05, 0.3) * width, rng.uniform(0.05, 0.3) * height
        if rng.random() < 0.5:
            m = (xx * max(height, width) >= x0) & (xx * max(height, width) < x0 + w)
            m &= (yy * max(height, width) >= y0) & (yy * max(height, width) < y0 + h)
        else:
            cx, cy = (x0 + w / 2) / max(height, width), (y0 + h / 2) / max(height, width)
            m = ((xx - cx) / (w / 2 / max(height, width))) ** 2 + ((yy - cy) / (h / 2 / max(height, width))) ** 2 < 1
        img[m] = c
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


class SelectiveSearch:
    """Selective search at 320x240 and 640x480, paper's single strategy and "fast" mode (8 strategies)."""

    params = ([(240, 320), (480, 640)], ["single", "fast"])
    param_names = ["size", "mode"]
    timeout = 180

    def setup(self, size, mode):
        from detbench.proposals import selective_search

        self.img = scene_image(*size)
        self.fn = lambda: selective_search(self.img, mode=mode)
        self.fn()

    def time_selective_search(self, size, mode):
        self.fn()

    def track_num_proposals(self, size, mode):
        return len(self.fn())

    track_num_proposals.unit = "boxes"


class Felzenszwalb:
    """Felzenszwalb-Huttenlocher segmentation (k=100, sigma=0.8, min_size=20) vs scikit-image."""

    params = ([(240, 320), (480, 640)], ["detbench", "skimage"])
    param_names = ["size", "impl"]
    timeout = 120

    def setup(self, size, impl):
        img = scene_image(*size)
        if impl == "skimage":
            if not peer_available("skimage"):
                raise NotImplementedError("scikit-image not installed")
            from skimage.segmentation import felzenszwalb

            self.fn = lambda: felzenszwalb(img, scale=100, sigma=0.8, min_size=20)
        else:
            from detbench.proposals import felzenszwalb_segmentation

            self.fn = lambda: felzenszwalb_segmentation(img, 100, 0.8, 20)
        self.fn()

    def time_felzenszwalb(self, size, impl):
        self.fn()


def _rpn_inputs(levels, num_anchors=3, seed=0, stride0=4):
    """FPN-like inputs: per level (A, H, W) logits, (4A, H, W) deltas, torchvision-style cell anchors."""
    rng = np.random.default_rng(seed)
    maps_o, maps_d, cells, strides = [], [], [], []
    for i, (h, w) in enumerate(levels):
        size = 32 * 2**i
        ratios = np.array([0.5, 1.0, 2.0])[:num_anchors]
        hr = np.sqrt(ratios)
        ws, hs = size / hr, size * hr
        cells.append(np.round(np.stack([-ws, -hs, ws, hs], 1) / 2).astype(np.float32))
        maps_o.append(rng.normal(0, 2, (num_anchors, h, w)).astype(np.float32))
        maps_d.append(rng.normal(0, 0.3, (4 * num_anchors, h, w)).astype(np.float32))
        strides.append(stride0 * 2**i)
    return maps_o, maps_d, cells, strides


_RPN_SIZES = {
    # image (H, W) -> FPN levels at strides 4..64
    "320x320": [(80, 80), (40, 40), (20, 20), (10, 10), (5, 5)],
    "800x1216": [(200, 304), (100, 152), (50, 76), (25, 38), (13, 19)],
}


class RPNProposals:
    """RPN proposal layer for one image (decode -> top-1000 per level -> clip -> NMS 0.7 -> top-1000).

    torchvision: ``BoxCoder.decode`` on every anchor + ``RegionProposalNetwork.filter_proposals``.
    """

    params = (list(_RPN_SIZES), ["detbench", "torchvision"])
    param_names = ["image", "impl"]
    timeout = 120

    def setup(self, image, impl):
        levels = _RPN_SIZES[image]
        h_img, w_img = (int(v) for v in image.split("x"))
        o, d, cells, strides = _rpn_inputs(levels)
        if impl == "torchvision":
            if not peer_available("torchvision"):
                raise NotImplementedError("torchvision not installed")
            self.fn = _torchvision_rpn(o, d, cells, strides, levels, (h_img, w_img))
        else:
            from detbench.proposals import rpn_proposals_from_maps

            self.fn = lambda: rpn_proposals_from_maps(o, d, cells, strides, (h_img, w_img))
        self.fn()

    def time_rpn_proposals(self, image, impl):
        self.fn()


def _torchvision_rpn(o, d, cells, strides, levels, image_size):
    import torch
    from torchvision.models.detection._utils import BoxCoder
    from torchvision.models.detection.rpn import AnchorGenerator, RegionProposalNetwork

    from detbench.anchors import grid_anchors

    anchors = torch.from_numpy(np.concatenate([grid_anchors(c, lv, s) for c, lv, s in zip(cells, levels, strides)]))
    obj = torch.from_numpy(np.concatenate([m.transpose(1, 2, 0).reshape(-1) for m in o]))[None]
    deltas = torch.from_numpy(
        np.concatenate([m.reshape(-1, 4, m.shape[1], m.shape[2]).transpose(2, 3, 0, 1).reshape(-1, 4) for m in d])
    )
    counts = [h * w * c.shape[0] for c, (h, w) in zip(cells, levels)]
    rpn = RegionProposalNetwork(
        AnchorGenerator(),
        torch.nn.Identity(),
        0.7,
        0.3,
        256,
        0.5,
        dict(training=1000, testing=1000),
        dict(training=1000, testing=1000),
        0.7,
    ).eval()
    coder = BoxCoder((1.0, 1.0, 1.0, 1.0))

    def run():
        with torch.no_grad():
            props = coder.decode_single(deltas, anchors)[None]
            return rpn.filter_proposals(props, obj, [image_size], counts)

    return run


class RPNParity:
    """Accuracy tracked across commits: max |detbench - torchvision| over the proposal boxes (320x320 FPN)."""

    def setup(self):
        if not peer_available("torchvision"):
            raise NotImplementedError("torchvision not installed")

    def track_rpn_max_abs_diff(self):
        from detbench.proposals import rpn_proposals_from_maps

        levels = _RPN_SIZES["320x320"]
        o, d, cells, strides = _rpn_inputs(levels, seed=1)
        tv_boxes, tv_scores = _torchvision_rpn(o, d, cells, strides, levels, (320, 320))()
        ours = rpn_proposals_from_maps(o, d, cells, strides, (320, 320))
        theirs, ts = tv_boxes[0].numpy(), tv_scores[0].numpy()
        if ours.boxes.shape != theirs.shape:
            return float("inf")
        # torchvision orders equal scores arbitrarily: compare as multisets, leaving out the tie cut by post_nms_top_n
        a = ours.boxes[ours.scores > ours.scores[-1]]
        b = theirs[ts > ts[-1]]
        if a.shape != b.shape:
            return float("inf")
        a, b = a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])]
        return float(max(np.abs(a - b).max(), np.abs(ours.scores - ts).max()))

    track_rpn_max_abs_diff.unit = "abs diff"


class ProposalRecall:
    """Recall vs number of proposals (10 IoU thresholds, 40 counts) for 50 images x 2000 proposals x 20 gt."""

    params = [[500, 2000]]
    param_names = ["proposals_per_image"]

    def setup(self, n):
        from detbench.proposals import proposal_recall

        props = [random_boxes(n, seed=100 + i, dtype=np.float64) for i in range(50)]
        gts = [random_boxes(20, seed=200 + i, dtype=np.float64) for i in range(50)]
        self.fn = lambda: proposal_recall(props, gts)
        self.fn()

    def time_proposal_recall(self, n):
        self.fn()


class SelectiveSearchRecall:
    """Recall at IoU 0.7 of the first 100 / all selective-search proposals on a synthetic rectangles scene."""

    def setup(self):
        rng = np.random.default_rng(0)
        h, w = 240, 320
        img = np.full((h, w, 3), 128.0) + rng.normal(0, 4, (h, w, 3))
        rects = np.array([(20, 30, 100, 120), (150, 20, 300, 90), (60, 140, 180, 220), (220, 130, 300, 230)])
        for (x1, y1, x2, y2), c in zip(rects, [(220, 40, 40), (40, 200, 60), (40, 60, 220), (230, 220, 40)]):
            img[y1:y2, x1:x2] = c
        self.img = np.clip(img, 0, 255).astype(np.uint8)
        self.gt = rects.astype(np.float64)

    def track_recall_at_100(self):
        from detbench.proposals import proposal_recall, selective_search

        return float(proposal_recall(selective_search(self.img), self.gt, [0.7], [100]).recall[0, 0])

    track_recall_at_100.unit = "recall"


class Targets:
    """YOLO target encoding (19x19 grid, 5 anchors, 80 classes) and k-means anchors (k=9 on 20k shapes)."""

    def setup(self):
        from detbench.anchors import kmeans_anchors
        from detbench.targets import encode_yolo_targets

        boxes = random_boxes(100, image_size=608.0, seed=7, dtype=np.float64)
        labels = np.random.default_rng(7).integers(0, 80, 100)
        anchors = np.array([[19, 27], [44, 87], [97, 170], [187, 103], [264, 285]], dtype=np.float64)
        self.yolo = lambda: encode_yolo_targets(boxes, labels, (608, 608), 19, anchors, 80, on_collision="keep_first")
        wh = np.exp(np.random.default_rng(8).normal(3.5, 0.8, (20000, 2)))
        self.km = lambda: kmeans_anchors(wh, 9, seed=0)
        self.yolo()
        self.km()

    def time_encode_yolo_targets(self):
        self.yolo()

    def time_kmeans_anchors(self):
        self.km()


def timeraw_selective_search_first_call():
    """First selective_search call in a fresh process (loads the JIT cache; compiles when cold)."""
    return """
import numpy as np
from detbench.proposals import selective_search
selective_search(np.zeros((16, 16, 3), np.uint8))
"""


def timeraw_rpn_first_call():
    """First rpn_proposals call in a fresh process."""
    return """
import numpy as np
from detbench.proposals import rpn_proposals
a = np.array([[0.0, 0.0, 10.0, 10.0]])
rpn_proposals(a, np.zeros(1), np.zeros((1, 4)), (20, 20))
"""
