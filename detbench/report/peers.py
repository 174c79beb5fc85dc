"""Every optional peer the report compares against, and the only place the report imports one.

Each loader returns a small namespace with exactly what the report uses, or raises
:class:`PeerUnavailable` with a one-line reason when the peer is missing *or* incompatible
(OpenCV 5 has no ``HOGDescriptor``; a broken torch install raises ``OSError`` at import; ...).
Sections ask for a peer through :meth:`detbench.report.framework.ReportContext.peer`, which turns
that exception into a visible note (report and stderr) and lets the section go on without it.

The loaders import for real (no ``find_spec``), so a test can hide a peer by putting ``None`` in
``sys.modules`` (the import fails) or a stub module without the needed attribute.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

__all__ = ["PeerUnavailable", "PEERS", "load", "available", "torch_threads", "torchvision_cuda"]


class PeerUnavailable(Exception):
    """An optional peer cannot be used: ``peer`` is its name, ``reason`` says why (one line)."""

    def __init__(self, peer: str, reason: str):
        super().__init__(f"{peer}: {reason}")
        self.peer = peer
        self.reason = reason


def _import(peer: str, module: str, hint: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PeerUnavailable(peer, f"not installed ({exc.__class__.__name__}: {exc}); {hint}") from exc
    except Exception as exc:  # a broken install: OSError from a shared library, AttributeError, ...
        raise PeerUnavailable(peer, f"fails to import ({exc.__class__.__name__}: {exc})") from exc


def _attrs(peer: str, module: ModuleType, names: tuple[str, ...], hint: str) -> dict[str, Any]:
    missing = [n for n in names if not hasattr(module, n)]
    if missing:
        version = getattr(module, "__version__", "?")
        raise PeerUnavailable(peer, f"version {version} has no {', '.join(missing)} (incompatible); {hint}")
    return {n: getattr(module, n) for n in names}


def torchvision() -> SimpleNamespace:
    """``torch`` and ``torchvision.ops`` (``box_iou``, ``nms``, ``batched_nms``, ``roi_align``, ``roi_pool``)."""
    hint = "pip install torch torchvision"
    torch = _import("torchvision", "torch", hint)
    ops = _import("torchvision", "torchvision.ops", hint)
    _attrs("torchvision", ops, ("box_iou", "nms", "batched_nms", "roi_align", "roi_pool"), hint)
    return SimpleNamespace(torch=torch, ops=ops, from_numpy=torch.from_numpy)


def torchvision_cuda() -> SimpleNamespace:
    """:func:`torchvision` on a CUDA device: also ``to_device`` (NumPy -> CUDA tensor), ``synchronize`` and
    ``device`` (the GPU's name). Not in :data:`PEERS`: the report's ``gpu`` section asks for it directly."""
    tv = torchvision()
    torch = tv.torch
    try:
        ok = bool(torch.cuda.is_available())
    except Exception as exc:  # a broken CUDA build of torch
        raise PeerUnavailable("torchvision CUDA", f"torch.cuda fails ({exc.__class__.__name__}: {exc})") from exc
    if not ok:
        raise PeerUnavailable("torchvision CUDA", f"torch {torch.__version__} sees no CUDA device")
    return SimpleNamespace(
        torch=torch,
        ops=tv.ops,
        to_device=lambda a: torch.from_numpy(a).cuda(),
        synchronize=torch.cuda.synchronize,
        device=torch.cuda.get_device_name(),
    )


def pycocotools() -> SimpleNamespace:
    """``COCO`` and ``COCOeval`` of the official COCO API."""
    hint = "pip install pycocotools"
    coco = _import("pycocotools", "pycocotools.coco", hint)
    cocoeval = _import("pycocotools", "pycocotools.cocoeval", hint)
    return SimpleNamespace(
        COCO=_attrs("pycocotools", coco, ("COCO",), hint)["COCO"],
        COCOeval=_attrs("pycocotools", cocoeval, ("COCOeval",), hint)["COCOeval"],
    )


def faster_coco_eval() -> SimpleNamespace:
    """``COCO`` and ``COCOeval_faster`` of faster-coco-eval."""
    hint = "pip install faster-coco-eval"
    mod = _import("faster-coco-eval", "faster_coco_eval", hint)
    return SimpleNamespace(**_attrs("faster-coco-eval", mod, ("COCO", "COCOeval_faster"), hint))


def opencv_hog() -> SimpleNamespace:
    """OpenCV's ``HOGDescriptor`` and its trained people detector (OpenCV < 5 only)."""
    hint = "pip install 'opencv-python-headless<5' (OpenCV 5 removed HOGDescriptor)"
    cv2 = _import("opencv", "cv2", hint)
    got = _attrs("opencv", cv2, ("HOGDescriptor", "HOGDescriptor_getDefaultPeopleDetector"), hint)
    return SimpleNamespace(cv2=cv2, **got)


def ensemble_boxes() -> SimpleNamespace:
    """ensemble-boxes' ``soft_nms`` and ``weighted_boxes_fusion``."""
    hint = "pip install ensemble-boxes"
    mod = _import("ensemble-boxes", "ensemble_boxes", hint)
    return SimpleNamespace(**_attrs("ensemble-boxes", mod, ("soft_nms", "weighted_boxes_fusion"), hint))


def scikit_image() -> SimpleNamespace:
    """scikit-image's ``segmentation.felzenszwalb`` (the Felzenszwalb-Huttenlocher peer)."""
    hint = "pip install scikit-image"
    seg = _import("scikit-image", "skimage.segmentation", hint)
    return SimpleNamespace(**_attrs("scikit-image", seg, ("felzenszwalb",), hint))


#: name -> loader. The names are the ones shown in the report and accepted by :func:`load`.
PEERS: dict[str, Callable[[], SimpleNamespace]] = {
    "torchvision": torchvision,
    "pycocotools": pycocotools,
    "faster-coco-eval": faster_coco_eval,
    "opencv": opencv_hog,
    "ensemble-boxes": ensemble_boxes,
    "scikit-image": scikit_image,
}


def load(name: str) -> SimpleNamespace:
    """The peer ``name`` (a key of :data:`PEERS`); raises :class:`PeerUnavailable`."""
    try:
        loader = PEERS[name]
    except KeyError:
        raise ValueError(f"name: unknown peer {name!r}; choose from {sorted(PEERS)}") from None
    return loader()


def available(name: str) -> bool:
    """Whether the peer ``name`` loads."""
    try:
        load(name)
    except PeerUnavailable:
        return False
    return True


def torch_threads() -> int | None:
    """torch's intra-op thread count, or None without a working torch (for the machine table)."""
    try:
        return int(torchvision().torch.get_num_threads())
    except PeerUnavailable:
        return None
