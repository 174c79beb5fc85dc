"""The GPU kernels' benchmark cases: inputs, sizes and the calls of each kernel and its twins.

Shared by ``benchmarks/bench_cuda.py`` (the one-command GPU benchmark) and the report's ``gpu``
section (:mod:`detbench.report.sections.gpu`), so both measure the same data. Nothing here imports
a peer or ``numba.cuda``: a case holds host (NumPy) inputs and the *names* of the three calls; the
caller moves the inputs to the device and times them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["GpuCase", "SIZES", "random_boxes", "random_rois", "gpu_cases", "compare_results"]


def random_boxes(n: int, seed: int = 0, image: float = 1000.0, lo: float = 10.0, hi: float = 100.0, dtype=np.float32):
    """``n`` boxes ``[x1, y1, x2, y2]`` with sides in ``[lo, hi)`` inside an ``image``-sized square, and scores."""
    rng = np.random.default_rng(seed)
    wh = rng.uniform(lo, hi, (n, 2))
    xy = rng.uniform(0, 1, (n, 2)) * (image - wh)
    return np.hstack([xy, xy + wh]).astype(dtype), rng.random(n).astype(dtype)


def random_rois(k: int, image_hw=(800, 1088), seed: int = 0, min_side: float = 16.0, max_side: float = 400.0):
    """``k`` float32 ROIs ``[batch 0, x1, y1, x2, y2]`` inside an image of ``image_hw`` pixels."""
    rng = np.random.default_rng(seed)
    h, w = image_hw
    wh = rng.uniform(min_side, max_side, (k, 2))
    xy = rng.uniform(0, 1, (k, 2)) * (np.array([w, h]) - wh)
    return np.hstack([np.zeros((k, 1)), xy, xy + wh]).astype(np.float32)


@dataclass
class GpuCase:
    """One kernel at one size.

    Fields:
    ``kernel``, ``size``: the row's labels; ``order``: a numeric size for sorting/plotting;
    ``name``: the function's name in ``detbench`` (CPU twin), ``detbench.cuda`` and, when
    ``torchvision`` is True, ``torchvision.ops``; ``arrays``: host inputs of the CPU twin and
    torchvision (positional, first); ``params``: the positional scalars after them (all three take
    the same); ``gpu_arrays``: the GPU call's host inputs when they differ (channels-last features);
    ``gpu_kwargs``: keywords of the GPU call only (``channels_last``); ``compare``: how results are
    compared (``"values"``, ``"order"`` for index arrays, ``"set"`` where the tie order may differ,
    ``"pair"`` for Soft-NMS's (indices, scores)); ``identical``: whether detbench.cuda promises results
    bit-identical to the CPU twin here; ``reference``: whether the CPU twin is cheap enough here to be
    run as the parity reference (False for box_iou's 1.6 GB output at 20000²); ``out``: shape of a
    float32 output array allocated once on the device and passed as ``out=`` to the GPU call (as the
    benchmark does: Numba allocates device memory without a caching pool, torch with one).
    """

    kernel: str
    size: str
    order: float
    name: str
    arrays: tuple[np.ndarray, ...]
    params: tuple[Any, ...] = ()
    gpu_arrays: tuple[np.ndarray, ...] | None = None
    gpu_kwargs: dict[str, Any] = field(default_factory=dict)
    torchvision: bool = True
    compare: str = "values"
    identical: bool = True
    reference: bool = True
    out: tuple[int, ...] | None = None

    def cpu_call(self) -> Callable[[], Any]:
        import detbench

        fn, arrays, params = getattr(detbench, self.name), self.arrays, self.params
        return lambda: fn(*arrays, *params)

    def gpu_call(
        self, to_device: Callable[[np.ndarray], Any], device_array: Callable[..., Any] | None = None
    ) -> Callable[[], Any]:
        """detbench.cuda's call on device copies (made now by ``to_device``) of the inputs; with
        ``device_array`` (``numba.cuda.device_array``) and :attr:`out`, into one preallocated output."""
        import detbench.cuda

        fn = getattr(detbench.cuda, self.name)
        dev = tuple(to_device(a) for a in (self.gpu_arrays if self.gpu_arrays is not None else self.arrays))
        params, kwargs = self.params, dict(self.gpu_kwargs)
        if self.out is not None and device_array is not None:
            kwargs["out"] = device_array(self.out, np.float32)
        return lambda: fn(*dev, *params, **kwargs)

    def torchvision_call(self, ops: Any, to_device: Callable[[np.ndarray], Any]) -> Callable[[], Any] | None:
        """torchvision's call (``ops`` = ``torchvision.ops``) on device tensors made by ``to_device``."""
        if not self.torchvision:
            return None
        fn = getattr(ops, self.name)
        dev = tuple(to_device(a) for a in self.arrays)
        params = self.params
        return lambda: fn(*dev, *params)


#: sizes of each mode: ``full`` (the benchmark's), ``quick`` (``report --quick``), ``tiny`` (the CUDA simulator)
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "box_iou": (1000, 5000, 20000),
        "nms": (1000, 10000, 30000, 100000),
        "batched_nms": (10000, 100000),
        "soft_nms": ((1000, "linear"), (1000, "gaussian"), (10000, "gaussian")),
        "features": (1, 256, 200, 272),
        "rois": 1000,
        "output": 7,
        "scale": 0.25,
        "roi_align": ((2, False), (2, True), (-1, False), (0, False)),
        "layouts": ("NCHW", "NHWC"),
    },
    "quick": {
        "box_iou": (1000, 5000),
        "nms": (1000, 10000),
        "batched_nms": (10000,),
        "soft_nms": ((1000, "gaussian"),),
        "features": (1, 256, 200, 272),
        "rois": 200,
        "output": 7,
        "scale": 0.25,
        "roi_align": ((2, True),),
        "layouts": ("NCHW", "NHWC"),
    },
    "tiny": {
        "box_iou": (6,),
        "nms": (12,),
        "batched_nms": (12,),
        "soft_nms": ((8, "linear"),),
        "features": (1, 3, 8, 8),
        "rois": 3,
        "output": 2,
        "scale": 1.0,
        "roi_align": ((2, False),),
        "layouts": ("NCHW", "NHWC"),
    },
}


def gpu_cases(mode: str = "quick", seed: int = 0) -> list[GpuCase]:
    """Every kernel of detbench.cuda at the sizes of ``mode`` (a key of :data:`SIZES`)."""
    if mode not in SIZES:
        raise ValueError(f"mode: expected one of {sorted(SIZES)}, got {mode!r}")
    s = SIZES[mode]
    tiny = mode == "tiny"
    box_kw: dict[str, Any] = {"image": 10.0, "lo": 3.0, "hi": 6.0} if tiny else {}
    cases = []
    for n in s["box_iou"]:
        a, _ = random_boxes(n, seed + 1, **box_kw)
        b, _ = random_boxes(n, seed + 2, **box_kw)
        cases.append(GpuCase("box_iou f32", f"{n}x{n}", n, "box_iou", (a, b), reference=n <= 5000, out=(n, n)))
    for n in s["nms"]:
        boxes, scores = random_boxes(n, seed + 3, **box_kw)
        cases.append(GpuCase("nms f32 thr 0.5", f"{n} boxes", n, "nms", (boxes, scores), (0.5,), compare="order"))
    for n in s["batched_nms"]:
        boxes, scores = random_boxes(n, seed + 4, **box_kw)
        labels = np.random.default_rng(seed + 5).integers(0, 3 if tiny else 80, n)
        # above 1000 boxes the tie order of batched_nms may differ from the CPU's (documented): compare as sets
        how = "order" if n <= 1000 else "set"
        cases.append(
            GpuCase("batched_nms f32", f"{n} boxes", n, "batched_nms", (boxes, scores, labels), (0.5,), compare=how)
        )
    for n, method in s["soft_nms"]:
        boxes, scores = random_boxes(n, seed + 6, **box_kw)
        # torchvision has no soft-NMS; Gaussian weights may differ in the last bit (documented)
        cases.append(
            GpuCase(
                f"soft_nms {method} f32",
                f"{n} boxes",
                n,
                "soft_nms",
                (boxes, scores),
                (method,),
                torchvision=False,
                compare="pair",
                identical=method != "gaussian",
            )
        )
    shape = s["features"]
    feats = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    nhwc = np.ascontiguousarray(feats.transpose(0, 2, 3, 1))
    image_hw = (8, 8) if tiny else (800, 1088)
    rois = random_rois(s["rois"], image_hw, seed, *((1.0, 6.0) if tiny else ()))
    size = f"{s['rois']} rois {'x'.join(map(str, shape))} {s['output']}x{s['output']}"
    for layout in s["layouts"]:
        gpu = {"gpu_arrays": (nhwc, rois), "gpu_kwargs": {"channels_last": True}} if layout == "NHWC" else {}
        for sr, aligned in s["roi_align"]:
            kernel = f"roi_align {layout} sr={sr}{' aligned' if aligned else ''}"
            params = (s["output"], s["scale"], sr, aligned)
            cases.append(GpuCase(kernel, size, s["rois"], "roi_align", (feats, rois), params, **gpu))
        pool = (s["output"], s["scale"])
        cases.append(GpuCase(f"roi_pool {layout}", size, s["rois"], "roi_pool", (feats, rois), pool, **gpu))
    return cases


def _host(x: Any) -> np.ndarray:
    if hasattr(x, "copy_to_host"):
        return x.copy_to_host()
    if hasattr(x, "cpu"):  # a torch tensor
        return x.cpu().numpy()
    return np.asarray(x)


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("inf")
    if not a.size:
        return 0.0
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


def compare_results(case: GpuCase, got: Any, want: Any) -> tuple[float, bool]:
    """``(max |diff|, identical)`` of a result against a reference, each on the host or the device.

    Index results compare index by index (``"order"``) or sorted (``"set"``); a shape mismatch is an
    infinite difference. ``identical``: equal values and dtypes bit for bit (for Soft-NMS both arrays).
    """
    pairs = list(zip(got, want)) if case.compare == "pair" else [(got, want)]
    diff, same = 0.0, True
    for g, w in pairs:
        g, w = _host(g), _host(w)
        if case.compare == "set":
            g, w = np.sort(g), np.sort(w)
        diff = max(diff, _max_diff(g, w))
        same = same and g.dtype == w.dtype and g.shape == w.shape and g.tobytes() == w.tobytes()
    return diff, same
