"""The HOG + linear SVM detector: window scores on one scale, the image pyramid, multi-scale detection.

Each pyramid level's block histograms are computed once on the grid of block positions (step
``gcd(win_stride, 8)``), and every window's score is the correlation of the SVM weights, viewed as
a 7 x 15 x 36 filter, with that grid, read in place (the "convolutional" idea of
:mod:`detbench.sliding` applied to HOG).  Whole levels go to threads
(:func:`detbench._parallel.run_tasks`), each with its own scratch; kernels in
:mod:`detbench.hog._detector_kernels`.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from detbench._parallel import num_threads, run_tasks
from detbench._validate import as_float_array, check_bool, check_int, check_number, check_pair
from detbench.hog import _detector_kernels as _k
from detbench.hog._params import (
    BLOCK_STRIDE,
    BLOCKS_X,
    BLOCKS_Y,
    DESCRIPTOR_SIZE,
    WINDOW,
    border_maps,
    cell_weights,
    check_fits,
    check_geometry,
    check_image,
    level_scratch_floats,
    pixel_lut,
)
from detbench.hog.resize import linear_tables

__all__ = [
    "default_people_detector",
    "hog_window_scores",
    "hog_pyramid_scales",
    "hog_detect_multiscale",
]


def default_people_detector() -> np.ndarray:
    """OpenCV's trained people detector: ``(3781,)`` float32, 3780 SVM weights then the bias.

    Read from ``cv2.HOGDescriptor_getDefaultPeopleDetector()`` (requires
    ``opencv-python(-headless) < 5``; OpenCV 5 dropped ``HOGDescriptor``).
    detbench does not ship OpenCV's trained weights itself.  Reference: Dalal and Triggs
    (CVPR 2005), trained on INRIA Person.  O(1).
    """
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("default_people_detector needs OpenCV: pip install 'opencv-python-headless<5'") from exc
    if not hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector"):  # pragma: no cover
        raise ImportError("this OpenCV has no HOGDescriptor (OpenCV 5 removed it); install opencv-python-headless<5")
    return np.asarray(cv2.HOGDescriptor_getDefaultPeopleDetector(), dtype=np.float32).reshape(-1)


def _check_svm(svm: Any) -> _k.Svm:
    if svm is None:
        svm = default_people_detector()
    arr = as_float_array(svm, "svm").reshape(-1) if np.ndim(svm) else None
    if arr is None or arr.shape[0] not in (DESCRIPTOR_SIZE, DESCRIPTOR_SIZE + 1):
        shape = np.shape(svm)
        raise ValueError(f"svm: expected {DESCRIPTOR_SIZE} weights (+ 1 bias), got shape {shape}")
    bias = float(arr[DESCRIPTOR_SIZE]) if arr.shape[0] > DESCRIPTOR_SIZE else 0.0
    # per block column: its 15 x 36 weights then 36 zeros (the kernel's vector-friendly layout)
    weights = np.zeros((BLOCKS_X, (BLOCKS_Y + 1) * 36), dtype=np.float32)
    weights[:, : BLOCKS_Y * 36] = arr[:DESCRIPTOR_SIZE].reshape(BLOCKS_X, BLOCKS_Y * 36)
    return _k.Svm(weights, bias)


@functools.lru_cache(maxsize=16)
def _plan(
    shape: tuple[int, int, int],
    is_u8: bool,
    sizes: tuple[tuple[int, int], ...],
    stride: tuple[int, int],
    pad: tuple[int, int],
    step: tuple[int, int],
) -> _Plan:
    """Plans are read-only once built, so repeated calls on same-sized images share one."""
    return _Plan(shape, is_u8, sizes, stride, pad, step)


class _Plan:
    """Geometry and tables of a set of pyramid levels (a :class:`LevelTables`), ready for the kernels."""

    def __init__(
        self,
        shape: tuple[int, int, int],
        is_u8: bool,
        sizes: tuple[tuple[int, int], ...],
        stride: tuple[int, int],
        pad: tuple[int, int],
        step: tuple[int, int],
    ) -> None:
        sh, sw, cn = shape
        (sy, sx), (py, px), (ty, tx) = stride, pad, step
        rows = []
        xofs, xcoef, xfrac, yofs, ycoef, yfrac, xmaps, ymaps = ([] for _ in range(8))
        x_off = y_off = xm_off = ym_off = s_off = 0
        for h, w in sizes:
            hp, wp = h + 2 * py, w + 2 * px
            nby, nbx = (hp - 16) // ty + 1, (wp - 16) // tx + 1
            ny, nx = (hp - WINDOW[1]) // sy + 1, (wp - WINDOW[0]) // sx + 1
            if (h, w) == (sh, sw):
                mode, lims = _k.MODE_SAME, (0, 0, 0, 0)
            elif is_u8 and sw == 2 * w and sh == 2 * h:
                mode, lims = _k.MODE_HALF, (0, 0, 0, 0)
            else:
                mode = _k.MODE_LINEAR
                xt, yt = linear_tables(sw, w), linear_tables(sh, h)
                xofs.append(xt.ofs), xcoef.append(xt.coef), xfrac.append(xt.frac)
                yofs.append(yt.ofs), ycoef.append(yt.coef), yfrac.append(yt.frac)
                lims = (xt.lo, xt.hi, yt.lo, yt.hi)
            ym, xm = border_maps(h, w, pad)
            xmaps.append(xm)
            ymaps.append(ym)
            row = [h, w, mode, hp, wp, nby, nbx, ny, nx, ty, tx, sy // ty, sx // tx]
            row += [BLOCK_STRIDE // ty, BLOCK_STRIDE // tx, x_off, y_off, xm_off, ym_off, s_off, *lims]
            rows.append(row)
            if mode == _k.MODE_LINEAR:
                x_off += w
                y_off += h
            xm_off += wp + 2
            ym_off += hp + 2
            s_off += ny * nx

        def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
            return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(1), dtype=dtype)

        self.tables = _k.LevelTables(
            np.array(rows, dtype=np.int64).reshape(-1, _k.N_LEVEL_FIELDS),
            cat(xofs, np.int64),
            cat(xcoef, np.int64),
            cat(xfrac, np.float64),
            cat(yofs, np.int64),
            cat(ycoef, np.int64),
            cat(yfrac, np.float64),
            cat(xmaps, np.int64),
            cat(ymaps, np.int64),
            cell_weights(),
        )
        self.n_scores = s_off

    def assign(self, n_workers: int) -> np.ndarray:
        """Longest-processing-time assignment of levels to workers (cost ~ padded area): ``(T, K)``, -1 padded."""
        lv = self.tables.levels
        n_workers = max(1, min(n_workers, lv.shape[0]))
        cost = (lv[:, _k.L_HP] * lv[:, _k.L_WP]).astype(np.float64)
        load = np.zeros(n_workers)
        assign: list[list[int]] = [[] for _ in range(n_workers)]
        for lev in np.argsort(-cost, kind="stable"):
            t = int(np.argmin(load))
            assign[t].append(int(lev))
            load[t] += cost[lev]
        worker_levels = np.full((n_workers, max(len(a) for a in assign)), -1, dtype=np.int64)
        for t, a in enumerate(assign):
            worker_levels[t, : len(a)] = a
        return worker_levels

    def scratch(self, worker_levels: np.ndarray, cn: int, is_u8: bool) -> _k.WorkerScratch:
        """One scratch row per worker, each big enough for the largest level."""
        lv = self.tables.levels
        n_workers = worker_levels.shape[0]
        n_img = int((lv[:, _k.L_H] * lv[:, _k.L_W]).max()) * cn
        n_f = max(level_scratch_floats(r[_k.L_HP], r[_k.L_WP], r[_k.L_NBY], r[_k.L_NBX], cn) for r in lv.tolist())
        n_u = int((2 * lv[:, _k.L_W]).max()) * cn
        return _k.WorkerScratch(
            worker_levels,
            np.empty((n_workers, n_img if is_u8 else 1), dtype=np.uint8),
            np.empty((n_workers, 1 if is_u8 else n_img), dtype=np.float32),
            np.empty((n_workers, int(n_f)), dtype=np.float32),
            np.empty((n_workers, n_u), dtype=np.uint32),
        )

    def run(self, img: np.ndarray, is_u8: bool, gamma: bool, svm: _k.Svm, n_workers: int) -> list[np.ndarray]:
        """Window scores of every level: list of (ny, nx) float64 arrays."""
        lv = self.tables.levels
        cn = img.shape[2]
        worker_levels = self.assign(n_workers)
        scratch = self.scratch(worker_levels, cn, is_u8)
        # one compiled driver for both input types: the unused image is a dummy
        dummy = np.zeros((1, 1, cn), dtype=np.float32 if is_u8 else np.uint8)
        src = _k.PixelSource(img if is_u8 else dummy, dummy if is_u8 else img, is_u8, pixel_lut(gamma), gamma)
        scores = np.empty(max(self.n_scores, 1), dtype=np.float64)
        tasks = [
            (lambda t=t: _k.run_worker(t, src, svm, self.tables, scratch, scores))
            for t in range(worker_levels.shape[0])
        ]
        run_tasks(tasks, threads=len(tasks))  # the kernels release the GIL: one thread per worker
        out = []
        for r in lv.tolist():
            so, ny, nx = r[_k.L_SOFF], r[_k.L_NY], r[_k.L_NX]
            out.append(scores[so : so + ny * nx].reshape(ny, nx))
        return out


def hog_window_scores(
    image: Any,
    svm: Any = None,
    *,
    win_stride: Any = 8,
    padding: Any = 0,
    gamma_correction: bool = True,
) -> np.ndarray:
    """Linear-SVM score of every window on one scale, as ``cv2.HOGDescriptor.detect`` weights.

    ``svm``: ``(3780,)`` weights or ``(3781,)`` weights + bias in OpenCV's descriptor order
    (default: :func:`default_people_detector`).  Returns ``(ny, nx)`` float64,
    ``[r, c]`` = ``<w, descriptor of window (c * stride_x - pad_x, r * stride_y - pad_y)> + bias``
    (grid as in :func:`~detbench.hog.hog_descriptors`).  Cost: one block grid plus 3780
    multiply-adds per window.
    """
    gamma = check_bool(gamma_correction, "gamma_correction")
    img, is_u8 = check_image(image, gamma)
    stride, pad, step = check_geometry(win_stride, padding)
    model = _check_svm(svm)
    check_fits(img, pad, step)
    plan = _plan(img.shape, is_u8, (img.shape[:2],), stride, pad, step)
    return plan.run(img, is_u8, gamma, model, n_workers=1)[0]


def hog_pyramid_scales(image_size: Any, *, scale: float = 1.05, nlevels: int = 64) -> list[tuple[float, int, int]]:
    """``detectMultiScale``'s pyramid: ``[(scale_k, height_k, width_k), ...]`` for an image of ``(height, width)``.

    ``image_size``: two positive integers.  ``scale_k = scale**k`` (repeated multiplication),
    sizes ``round(side / scale_k)`` (half to even); a level is kept while both sides are >= the
    64x128 window, at most ``nlevels`` levels, and always the first.  ``scale == 1`` gives one
    level.  O(levels).
    """
    if isinstance(image_size, (int, np.integer)):
        raise ValueError(f"image_size: expected (height, width), got {image_size!r}")
    h, w = check_pair(image_size, "image_size")
    scale = check_number(scale, "scale", low=1.0)
    nlevels = check_int(nlevels, "nlevels", low=1)
    out: list[tuple[float, int, int]] = []
    s = 1.0
    for _ in range(nlevels):
        lh, lw = int(np.rint(h / s)), int(np.rint(w / s))
        if out and (lw < WINDOW[0] or lh < WINDOW[1]):
            break
        out.append((s, lh, lw))
        if lw < WINDOW[0] or lh < WINDOW[1] or scale <= 1.0:
            break
        s *= scale
    return out


def hog_detect_multiscale(
    image: Any,
    svm: Any = None,
    *,
    hit_threshold: float = 0.0,
    win_stride: Any = 8,
    padding: Any = 0,
    scale: float = 1.05,
    nlevels: int = 64,
    nms_threshold: float | None = 0.3,
    gamma_correction: bool = True,
    n_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Multi-scale HOG + linear-SVM detection (``cv2.HOGDescriptor.detectMultiScale`` with NMS grouping).

    Parameters
    ----------
    image:
        ``(H, W)`` grey or ``(H, W, 3)`` colour image (uint8 for OpenCV-exact results).
    svm:
        ``(3780,)`` or ``(3781,)`` (bias last) SVM; default :func:`default_people_detector`.
    hit_threshold:
        Windows with ``score >= hit_threshold`` are candidates.
    win_stride, padding:
        As in :func:`~detbench.hog.hog_descriptors` (int or ``(x, y)``).
    scale, nlevels:
        Pyramid as in :func:`hog_pyramid_scales` (``scale >= 1``).
    nms_threshold:
        IoU threshold of the NMS that groups the candidates (:func:`detbench.nms.nms`);
        ``None`` returns every candidate, which equals OpenCV's output with ``groupThreshold=0``.
    gamma_correction:
        ``True`` or ``False`` (square-root gamma, OpenCV's default on).
    n_threads:
        Threads sharing the pyramid levels (default: ``numba.get_num_threads()``, i.e.
        ``NUMBA_NUM_THREADS``).  Whole levels go to threads (largest first, to the least
        loaded), each thread with its own scratch; the kernels release the GIL.

    Returns
    -------
    ``(boxes, scores)``: ``(K, 4)`` float64 ``xyxy`` boxes in image pixels (clipped to the
    image) and their ``(K,)`` float64 scores; by decreasing score after NMS, in
    level / row / column order when ``nms_threshold`` is ``None``.

    Cost: per level O(padded pixels) for the block grid plus 3780 multiply-adds per
    window; the levels run in parallel.
    """
    gamma = check_bool(gamma_correction, "gamma_correction")
    img, is_u8 = check_image(image, gamma)
    stride, pad, step = check_geometry(win_stride, padding)
    model = _check_svm(svm)
    hit_threshold = check_number(hit_threshold, "hit_threshold")
    if nms_threshold is not None:
        nms_threshold = check_number(nms_threshold, "nms_threshold", low=0.0, high=1.0)
    threads = num_threads(None if n_threads is None else check_int(n_threads, "n_threads", low=1))
    check_fits(img, pad, step)
    h, w = img.shape[:2]
    levels = hog_pyramid_scales((h, w), scale=scale, nlevels=nlevels)
    check_fits(img, pad, step, workers=min(threads, len(levels)))  # every worker holds a level's scratch
    plan = _plan(img.shape, is_u8, tuple((lh, lw) for _, lh, lw in levels), stride, pad, step)
    grids = plan.run(img, is_u8, gamma, model, n_workers=threads)
    boxes_l, scores_l = [], []
    for (s, _, _), grid in zip(levels, grids):
        rr, cc = np.nonzero(grid >= hit_threshold)
        if rr.size == 0:
            continue
        x = np.rint((cc * stride[1] - pad[1]) * s)
        y = np.rint((rr * stride[0] - pad[0]) * s)
        bw, bh = np.rint(WINDOW[0] * s), np.rint(WINDOW[1] * s)
        boxes_l.append(np.stack([x, y, x + bw, y + bh], axis=1))
        scores_l.append(grid[rr, cc])
    if not boxes_l:
        return np.zeros((0, 4)), np.zeros(0)
    boxes = np.concatenate(boxes_l)
    scores = np.concatenate(scores_l)
    # clip to the image like OpenCV's clipObjects; drop boxes left empty
    np.clip(boxes[:, 0::2], 0, w, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, h, out=boxes[:, 1::2])
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores = boxes[keep], scores[keep]
    if nms_threshold is None or boxes.shape[0] == 0:
        return boxes, scores
    from detbench.nms import nms  # lazy: detbench.nms is a sibling package

    kept = np.asarray(nms(boxes, scores, nms_threshold), dtype=np.int64)
    return boxes[kept], scores[kept]
