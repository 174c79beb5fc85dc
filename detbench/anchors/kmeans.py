"""Choosing anchor shapes from data: YOLOv2's k-means with the ``1 - IoU`` distance.

Seed notes §4: anchors are either hand-picked (5-10 shapes covering the
objects) or chosen by k-means on the training boxes (YOLOv2). Box shapes are
compared as if both boxes shared one centre, so only ``(width, height)``
matters: ``IoU = min(w1, w2) min(h1, h2) / (w1 h1 + w2 h2 - min(w1, w2) min(h1, h2))``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from detbench._validate import as_float_array, check_choice, check_int
from detbench.anchors import _shape_kernels as _k

__all__ = ["kmeans_anchors", "mean_best_iou", "shape_iou", "anchor_elbow", "ElbowResult"]


def _check_wh(wh: Any, name: str) -> np.ndarray:
    a = as_float_array(wh, name, ndim=2)
    if a.shape[1] != 2:
        raise ValueError(f"{name}: expected shape (N, 2) (width, height), got {a.shape}")
    if a.size and (a <= 0).any():
        r = int(np.flatnonzero((a <= 0).any(axis=1))[0])
        raise ValueError(f"{name}: widths and heights must be > 0 (row {r}: {a[r].tolist()})")
    return a


#: Shapes are computed with widths and heights in ``[2**-_SAFE_EXP, 2**_SAFE_EXP]``, where every area and
#: union is a normal float64; others are first multiplied by one common power of two (exact, and the
#: centred IoU does not change with the scale).
_SAFE_EXP = 500


def _common_scale(arrays: tuple[np.ndarray, ...], names: str) -> tuple[tuple[np.ndarray, ...], int]:
    """float64 copies of ``arrays`` times ``2**k`` (one ``k`` for all) inside the safe range, and ``k``.

    Refuses, naming ``names``, shapes that span too many binades for any common scale to keep both
    the largest area finite and the smallest normal."""
    arrays = tuple(a.astype(np.float64) for a in arrays)
    vals = [a for a in arrays if a.size]
    if not vals:
        return arrays, 0
    lo = min(float(a.min()) for a in vals)
    hi = max(float(a.max()) for a in vals)
    if lo >= 2.0**-_SAFE_EXP and hi <= 2.0**_SAFE_EXP:
        return arrays, 0
    e_lo, e_hi = math.frexp(lo)[1], math.frexp(hi)[1]
    if e_hi - e_lo > 2 * _SAFE_EXP - 2:
        raise ValueError(
            f"{names}: widths and heights span {lo:.3g} to {hi:.3g}; their areas cannot all be computed in "
            f"float64 (the largest may be at most 2**{2 * _SAFE_EXP - 2} times the smallest)"
        )
    k = -((e_lo + e_hi) // 2)
    return tuple(np.ldexp(a, k) for a in arrays), k


def shape_iou(wh: Any, anchors: Any) -> np.ndarray:
    """IoU of centred box shapes: ``(N, 2)`` x ``(K, 2)`` (width, height) -> ``(N, K)`` float64.

    The YOLOv2 k-means similarity (distance ``1 - IoU``). Cost O(N K).
    """
    (a, b), _ = _common_scale((_check_wh(wh, "wh"), _check_wh(anchors, "anchors")), "wh, anchors")
    out = np.empty((a.shape[0], b.shape[0]), dtype=np.float64)
    _k.shape_iou_matrix(a, b, out)
    return out


def _assign(wh: np.ndarray, cent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    assign = np.empty(wh.shape[0], dtype=np.int64)
    best = np.empty(wh.shape[0], dtype=np.float64)
    _k.shape_iou_assign(wh, cent, assign, best)
    return assign, best


def mean_best_iou(wh: Any, anchors: Any) -> float:
    """Mean over boxes of the best centred-shape IoU with any anchor ("Avg IoU" of YOLOv2, Table 1).

    ``wh``: ``(N, 2)``, ``anchors``: ``(K, 2)``, widths/heights > 0. Returns 0.0
    for N = 0. Cost O(N K).
    """
    (a, b), _ = _common_scale((_check_wh(wh, "wh"), _check_wh(anchors, "anchors")), "wh, anchors")
    if b.shape[0] == 0:
        raise ValueError("anchors: need at least one anchor")
    if a.shape[0] == 0:
        return 0.0
    return float(_assign(a, b)[1].mean())


def _kmeanspp(wh: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    n = wh.shape[0]
    idx = [int(rng.integers(n))]
    best = _assign(wh, wh[idx])[1]
    for _ in range(1, k):
        d2 = (1.0 - best) ** 2
        total = d2.sum()
        if total <= 0.0:  # every shape already equals a centre: pick uniformly
            j = int(rng.integers(n))
        else:
            j = int(rng.choice(n, p=d2 / total))
        idx.append(j)
        best = np.maximum(best, _assign(wh, wh[j : j + 1])[1])
    return wh[idx].copy()


def _lloyd(wh: np.ndarray, cent: np.ndarray, max_iter: int, update: str) -> np.ndarray:
    k = cent.shape[0]
    prev = None
    for _ in range(max_iter):
        assign, best = _assign(wh, cent)
        if prev is not None and np.array_equal(assign, prev):
            break
        prev = assign
        counts = np.bincount(assign, minlength=k)
        new = np.empty_like(cent)
        if update == "mean":
            new[:, 0] = np.bincount(assign, weights=wh[:, 0], minlength=k)
            new[:, 1] = np.bincount(assign, weights=wh[:, 1], minlength=k)
            new /= np.maximum(counts, 1)[:, None]
        for j in range(k):
            if counts[j] == 0:
                # empty cluster: move it to the worst-fitted shape (deterministic)
                worst = int(np.argmin(best))
                new[j] = wh[worst]
                best[worst] = 1.0
            elif update == "median":
                new[j] = np.median(wh[assign == j], axis=0)
        cent = new
    return cent


def kmeans_anchors(
    wh: Any,
    k: int,
    seed: int = 0,
    *,
    max_iter: int = 300,
    n_init: int = 1,
    update: str = "mean",
) -> tuple[np.ndarray, float]:
    """YOLOv2 anchor shapes: k-means on box (width, height) with distance ``d = 1 - IoU``.

    Rule (Redmon & Farhadi 2017, "Dimension Clusters"): centres start from
    k-means++ seeding (first centre uniform, each next one drawn with
    probability proportional to ``d^2`` to the nearest chosen centre, Arthur &
    Vassilvitskii 2007); then Lloyd iterations: assign every shape to the
    centre of highest centred IoU (first on ties), move each centre to the
    ``update`` (``"mean"``, YOLOv2; or ``"median"``) of its members; an empty
    cluster is moved to the worst-fitted shape. Stops when assignments no
    longer change or after ``max_iter`` iterations. With ``n_init > 1`` the
    run with the highest mean best IoU wins (first on ties).

    Parameters
    ----------
    wh: ``(N, 2)`` box widths and heights (> 0), any units.
    k: number of anchors, ``1 <= k <= N``.
    seed: seeds :func:`numpy.random.default_rng`; the result is a deterministic
        function of ``(wh, k, seed, max_iter, n_init, update)``.

    Returns
    -------
    ``(anchors, mean_best_iou)``: anchors ``(k, 2)`` (width, height) sorted by
    area then width, in ``wh``'s dtype; ``mean_best_iou`` the mean over boxes
    of the best IoU with those anchors (YOLOv2's "Avg IoU").

    Cost O(N k) per iteration, times ``n_init``.
    """
    a = _check_wh(wh, "wh")
    k = check_int(k, "k", low=1)
    seed = check_int(seed, "seed", low=0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    n_init = check_int(n_init, "n_init", low=1)
    update = check_choice(update, "update", ("mean", "median"))
    n = a.shape[0]
    if k > n:
        raise ValueError(f"k: must be <= the number of shapes ({n}), got {k}")
    (x,), scale = _common_scale((a,), "wh")
    rng = np.random.default_rng(seed)
    best_c, best_v = None, -1.0
    for _ in range(n_init):
        cent = _lloyd(x, _kmeanspp(x, k, rng), max_iter, update)
        v = float(_assign(x, cent)[1].mean())
        if v > best_v:
            best_c, best_v = cent, v
    if best_c is None:  # unreachable after _common_scale: every IoU is a number
        raise ValueError("wh: the k-means IoUs are not finite numbers")
    order = np.lexsort((best_c[:, 0], best_c[:, 0] * best_c[:, 1]))
    return np.ldexp(best_c[order], -scale).astype(a.dtype), best_v


class ElbowResult(NamedTuple):
    """Result of :func:`anchor_elbow`.

    ks: ``(M,)`` the anchor counts tried; mean_iou: ``(M,)`` mean best IoU for
    each; anchors: list of ``(k, 2)`` arrays; knee: the suggested ``k``.
    """

    ks: np.ndarray
    mean_iou: np.ndarray
    anchors: list[np.ndarray]
    knee: int


def anchor_elbow(
    wh: Any,
    ks: Iterable[int] = range(1, 11),
    seed: int = 0,
    *,
    max_iter: int = 300,
    n_init: int = 1,
) -> ElbowResult:
    """Mean best IoU of :func:`kmeans_anchors` as a function of ``k`` and the elbow of that curve.

    YOLOv2 (Figure 2) plots avg IoU against the number of clusters and picks
    ``k = 5`` as the trade-off. The knee returned here is the Kneedle rule
    (Satopaa et al. 2011): after scaling ``k`` and the IoU to ``[0, 1]``, the
    ``k`` with the largest gap between the curve and the chord joining its
    end points (the smallest ``k`` when the curve has fewer than 3 points or
    is flat). ``ks``: distinct increasing counts, each in ``[1, N]``.

    Cost: one :func:`kmeans_anchors` per ``k``.
    """
    a = _check_wh(wh, "wh")
    kk = np.array([check_int(v, "ks", low=1) for v in ks], dtype=np.int64)
    if kk.size == 0:
        raise ValueError("ks: need at least one anchor count")
    if (np.diff(kk) <= 0).any():
        raise ValueError(f"ks: must be strictly increasing, got {kk.tolist()}")
    if kk[-1] > a.shape[0]:
        raise ValueError(f"ks: {int(kk[-1])} exceeds the number of shapes ({a.shape[0]})")
    anchors, ious = [], []
    for k in kk:
        c, v = kmeans_anchors(a, int(k), seed, max_iter=max_iter, n_init=n_init)
        anchors.append(c)
        ious.append(v)
    iou = np.array(ious)
    knee = int(kk[0])
    if kk.size >= 3 and iou.max() > iou.min():
        xs = (kk - kk[0]) / (kk[-1] - kk[0])
        ys = (iou - iou.min()) / (iou.max() - iou.min())
        chord = ys[0] + (ys[-1] - ys[0]) * xs
        knee = int(kk[int(np.argmax(ys - chord))])
    return ElbowResult(kk, iou, anchors, knee)
