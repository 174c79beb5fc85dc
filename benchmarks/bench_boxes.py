"""Box core: pairwise IoU family against torchvision.ops, in one run (ratios are meaningful)."""

import numpy as np

from benchmarks.common import peer_available, random_boxes


class BoxIoU:
    """box_iou at several sizes; ``impl`` puts detbench (fresh / ``out=``) and torchvision in one run."""

    params = ([1000, 5000], ["detbench", "detbench_out", "torchvision"])
    param_names = ["n", "impl"]
    timeout = 120

    def setup(self, n, impl):
        self.a = random_boxes(n, seed=1)
        self.b = random_boxes(n, seed=2)
        if impl == "torchvision":
            if not peer_available("torchvision"):
                raise NotImplementedError("torchvision not installed")
            import torch
            import torchvision.ops as tvops

            ta, tb = torch.from_numpy(self.a), torch.from_numpy(self.b)
            self.fn = lambda: tvops.box_iou(ta, tb)
        else:
            import detbench

            out = np.empty((n, n), np.float32) if impl == "detbench_out" else None
            self.fn = lambda: detbench.box_iou(self.a, self.b, out=out)
        self.fn()  # warm the JIT / the peer's allocator

    def time_box_iou(self, n, impl):
        self.fn()

    def peakmem_box_iou(self, n, impl):
        self.fn()


class IoUVariants:
    """GIoU / DIoU / CIoU against torchvision at 1000 x 1000."""

    params = (["generalized_box_iou", "distance_box_iou", "complete_box_iou"], ["detbench", "torchvision"])
    param_names = ["function", "impl"]

    def setup(self, function, impl):
        a = random_boxes(1000, seed=3)
        b = random_boxes(1000, seed=4)
        if impl == "torchvision":
            if not peer_available("torchvision"):
                raise NotImplementedError("torchvision not installed")
            import torch
            import torchvision.ops as tvops

            fn, a, b = getattr(tvops, function), torch.from_numpy(a), torch.from_numpy(b)
        else:
            import detbench

            fn = getattr(detbench, function)
        self.fn = lambda: fn(a, b)
        self.fn()

    def time_variant(self, function, impl):
        self.fn()


class IoUParity:
    """Accuracy tracked across commits: max |detbench - torchvision| on random float32 boxes."""

    def setup(self):
        if not peer_available("torchvision"):
            raise NotImplementedError("torchvision not installed")

    def track_box_iou_max_abs_diff(self):
        import torch
        import torchvision.ops as tvops

        import detbench

        a, b = random_boxes(500, seed=5), random_boxes(400, seed=6)
        peer = tvops.box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        return float(np.abs(detbench.box_iou(a, b) - peer).max())

    track_box_iou_max_abs_diff.unit = "abs diff"


def timeraw_import_detbench():
    """Import time of the package in a fresh interpreter (no kernel is compiled at import)."""
    return "import detbench"


def timeraw_box_iou_first_call():
    """First box_iou call in a fresh process: loads the on-disk JIT cache (compiles if the cache is cold)."""
    return """
import numpy as np, detbench
a = np.zeros((10, 4), np.float32)
detbench.box_iou(a, a)
"""
