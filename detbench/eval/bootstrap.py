"""Bootstrap confidence intervals of COCO AP from the matches of one evaluation.

A resample draws the evaluated images with replacement; resample ``b`` of seed ``s`` over ``N``
images is ``np.random.default_rng([s, b]).integers(0, N, size=N)`` (:func:`resample_counts`), so any
resample can be redrawn on its own and the draw does not depend on how the work is split.

What one resample equals: ``COCOeval`` run again on a data set in which image ``i`` appears as many
times as it was drawn, each copy a new image placed right after the original in image order (copies
of the same image next to each other), with the same parameters. Matching happens within an image, so
every copy has the matches of the original; only the accumulation changes. The fast path therefore
re-accumulates the ranked matches of the evaluation that already ran (:meth:`COCOeval.matches`) with
image multiplicities as weights - no second matcher, no IoU. The numbers are pycocotools' (AP at the
area range ``"all"`` and the largest ``maxDets``, interpolated precision at ``recThrs``); the tests
compare a few resamples against the slow re-evaluation to 1e-12.
"""

from __future__ import annotations

import warnings
from collections import namedtuple
from typing import Any

import numpy as np

from detbench._parallel import num_threads, run_chunks
from detbench._validate import check_int, check_number
from detbench.eval._analysis_kernels import ST_FP, ST_IGN, bootstrap_chunk, ranked_status

__all__ = ["Ranked", "ranked_matches", "resample_counts", "Bootstrap", "bootstrap_ap"]


Ranked = namedtuple(
    "Ranked",
    [
        "dseg_off",  # int64 (K + 1,): dynamic entries of segment (category) k are dseg_off[k]:dseg_off[k + 1]
        "d_img",  # int64 (E_d,): image position of each dynamic entry (a kept detection that is not a false
        # positive at every threshold, or one in a tie run), entries of a segment in pycocotools' order:
        # decreasing score, then image order, then rank in the image
        "d_run",  # int64 (E_d,): at the first entry of a run of entries of one image with one score: the run's
        # length (cycled copy by copy when the image is drawn several times); 1 elsewhere
        "d_sbefore",  # int64 (E_d,): static entries before it: its segment's static entries up to s_img index
        "status",  # uint8 (E_d, T): ST_FP / ST_TP / ST_IGN of each dynamic entry at each IoU threshold
        "sseg_off",  # int64 (K + 1,): static entries (false positives at every threshold, not in a tie run, before
        # the segment's last dynamic entry) of segment k are sseg_off[k]:sseg_off[k + 1]
        "s_img",  # int64 (S,): image position of each static entry
        "pos_off",  # int64 (K + 1,): images with positives of segment k are pos_off[k]:pos_off[k + 1]
        "pos_img",  # int64 (P,): their image positions
        "pos_cnt",  # int64 (P,): not-ignored ground truths of that (segment, image)
    ],
)
Ranked.__doc__ = "A segment's kept detections in score order with their match status (fields documented in source)."


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    # concatenation of arange(starts[g], starts[g] + counts[g]) over g
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(counts)
    base = np.repeat(starts - (ends - counts), counts)
    return base + np.arange(total, dtype=np.int64)


def ranked_matches(prep: Any, mt: Any, area_index: int) -> tuple[Ranked, np.ndarray, np.ndarray, np.ndarray]:
    """The :class:`Ranked` record of the matches ``mt`` (:class:`~detbench.eval.matching.AllMatches`) at area range
    ``area_index``, and the status (E, T), segment and score of every entry in order (for curves).

    Entries are the detections kept by the largest ``maxDets`` and not ignored at every threshold. A
    detection is a TP at a threshold when matched to a ground truth whose match counts (the id rule of
    ``pycocotools_quirks``) and not ignored, ignored when pycocotools' ``dtIgnore`` says so, else a FP.
    """
    gr = prep.groups
    n_img = max(int(gr.n_img), 1)
    n_groups = gr.g_off.size - 1
    counts = mt.d_count.astype(np.int64)
    slots = _ranges(gr.d_off[:-1].astype(np.int64), counts)
    grp = np.repeat(np.arange(n_groups, dtype=np.int64), counts)
    seg = grp // n_img
    img = grp % n_img
    det = mt.gsorted[slots]
    score = gr.d_score[det]
    order = np.lexsort((-score, seg))  # stable: image order, then rank within the image
    slots, seg, img, score = slots[order], seg[order], img[order], score[order]
    status = np.empty((slots.size, mt.dt_match.shape[1]), np.uint8)
    ranked_status(mt.dt_match[area_index], mt.dt_ign[area_index], gr.g_idok, slots, status)
    keep = ~(status == ST_IGN).all(axis=1)
    status, seg, img, score = status[keep], seg[keep], img[keep], score[keep]
    n_seg = int(prep.n_seg)
    # runs of one image with one score inside a segment (rare: only ties within an image need cycling)
    same = np.zeros(seg.size, bool)
    if seg.size > 1:
        same[1:] = (seg[1:] == seg[:-1]) & (img[1:] == img[:-1]) & (score[1:] == score[:-1])
    in_run = same.copy()
    in_run[:-1] |= same[1:]
    run = np.ones(seg.size, np.int64)
    if same.any():
        starts = np.flatnonzero(~same)
        run[:] = 0
        run[starts] = np.diff(np.append(starts, seg.size))
    dyn = ~(status == ST_FP).all(axis=1) | in_run
    # static entries after a segment's last dynamic entry never precede a true positive: dropped
    pos = np.arange(seg.size)
    last_dyn = np.full(n_seg, -1, np.int64)
    np.maximum.at(last_dyn, seg[dyn], pos[dyn])
    static = ~dyn & (pos < last_dyn[seg])
    s_before = np.cumsum(static) - static  # static entries (over all segments) before each entry
    rk_d = (
        np.searchsorted(seg[dyn], np.arange(n_seg + 1)).astype(np.int64),
        img[dyn].astype(np.int64),
        run[dyn],
        s_before[dyn].astype(np.int64),
        np.ascontiguousarray(status[dyn]),
    )
    rk_s = (np.searchsorted(seg[static], np.arange(n_seg + 1)).astype(np.int64), img[static].astype(np.int64))
    # positives per (segment, image)
    g_cnt = np.diff(gr.g_off).astype(np.int64)
    g_grp = np.repeat(np.arange(n_groups, dtype=np.int64), g_cnt)
    npig = np.bincount(g_grp, weights=(mt.gt_ign[area_index] == 0), minlength=n_groups).astype(np.int64)
    has = np.flatnonzero(npig)
    pos_off = np.searchsorted(has // n_img, np.arange(n_seg + 1)).astype(np.int64)
    rk = Ranked(*rk_d, *rk_s, pos_off, (has % n_img).astype(np.int64), npig[has])
    return rk, status, seg, score


def _py_ids(ids: Any) -> list:
    # ids as Python values (NumPy scalars unwrapped)
    return [c.item() if hasattr(c, "item") else c for c in ids]


def resample_counts(n_images: int, seed: int, start: int, stop: int) -> np.ndarray:
    """Image multiplicities (stop - start, n_images) of resamples ``start..stop-1`` (see the module docstring)."""
    out = np.zeros((stop - start, n_images), np.int64)
    for b in range(start, stop):
        draw = np.random.default_rng([seed, b]).integers(0, n_images, size=n_images)
        out[b - start] = np.bincount(draw, minlength=n_images)
    return out


class Bootstrap:
    """Bootstrap samples of COCO AP and their percentile intervals.

    Attributes
    ----------
    ap_kt: float64 (n, K, T): AP of category k at IoU threshold t in each resample (mean interpolated precision
        over ``recThrs``; NaN where the category has no positives in that resample).
    ap, ap50, ap75: float64 (n,): the overall AP (IoU .50:.95), AP50, AP75 of each resample (``stats[0:3]``).
    per_class_ap: float64 (n, K): per-category AP (IoU .50:.95).
    cat_ids, iou_thrs, n, seed, ci.
    """

    def __init__(self, ap_kt: np.ndarray, cat_ids: list, iou_thrs: np.ndarray, seed: int, ci: float) -> None:
        self.ap_kt = ap_kt
        self.cat_ids = list(cat_ids)
        self.iou_thrs = np.asarray(iou_thrs, dtype=np.float64)
        self.n = ap_kt.shape[0]
        self.seed = seed
        self.ci = ci
        valid = ~np.isnan(ap_kt)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.ap = np.where(valid.any((1, 2)), np.nansum(ap_kt, (1, 2)) / valid.sum((1, 2)), np.nan)
            self.per_class_ap = np.where(valid.any(2), np.nansum(ap_kt, 2) / valid.sum(2), np.nan)
        self.ap50 = self._at(0.5)
        self.ap75 = self._at(0.75)

    def _at(self, thr: float) -> np.ndarray:
        w = np.flatnonzero(self.iou_thrs == thr)
        if not w.size:
            return np.full(self.n, np.nan)
        x = self.ap_kt[:, :, w[0]]
        valid = ~np.isnan(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(valid.any(1), np.nansum(x, 1) / valid.sum(1), np.nan)

    def per_class(self, which: str = "AP") -> np.ndarray:
        """(n, K) samples of the per-category ``"AP"``, ``"AP50"`` or ``"AP75"``."""
        if which == "AP":
            return self.per_class_ap
        thr = {"AP50": 0.5, "AP75": 0.75}.get(which)
        if thr is None:
            raise ValueError(f"which: expected 'AP', 'AP50' or 'AP75', got {which!r}")
        w = np.flatnonzero(self.iou_thrs == thr)
        return self.ap_kt[:, :, w[0]] if w.size else np.full(self.per_class_ap.shape, np.nan)

    def interval(self, x: np.ndarray) -> tuple[Any, Any]:
        """The percentile interval (lower, upper) at level ``ci`` of samples ``x`` along axis 0 (NaN ignored)."""
        lo = (1.0 - self.ci) / 2.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
            q = np.nanquantile(x, [lo, 1.0 - lo], axis=0)
        return q[0], q[1]

    def intervals(self) -> dict[str, tuple[float, float]]:
        """``{"AP": (lo, hi), "AP50": ..., "AP75": ...}``: percentile intervals of the overall numbers."""
        return {
            k: tuple(float(v) for v in self.interval(x))
            for k, x in (("AP", self.ap), ("AP50", self.ap50), ("AP75", self.ap75))
        }

    def __repr__(self) -> str:
        iv = self.intervals()
        parts = ", ".join(f"{k} [{lo:.4f}, {hi:.4f}]" for k, (lo, hi) in iv.items())
        return f"Bootstrap(n={self.n}, seed={self.seed}, ci={self.ci}: {parts})"


def bootstrap_ap(
    prep: Any,
    mt: Any,
    params: Any,
    area_index: int,
    n: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    threads: int | None = None,
    chunk: int = 16,
) -> Bootstrap:
    """:class:`Bootstrap` of ``n`` image resamples from the matches ``mt`` of an evaluation ``prep`` (see module)."""
    n = check_int(n, "n", low=1)
    seed = check_int(seed, "seed", low=0)
    ci = check_number(ci, "ci", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    rk = ranked_matches(prep, mt, area_index)[0]
    rec = np.ascontiguousarray(np.asarray(params.recThrs, dtype=np.float64).reshape(-1))
    K = rk.dseg_off.size - 1
    rec_sorted = bool(np.all(np.diff(rec) >= 0))
    T = rk.status.shape[1]
    n_img = int(prep.groups.n_img)
    out = np.empty((n, K, T), np.float64)

    def work(b0: int, b1: int) -> None:
        for c0 in range(b0, b1, chunk):
            c1 = min(c0 + chunk, b1)
            bootstrap_chunk(rk, rec, rec_sorted, resample_counts(n_img, seed, c0, c1), out[c0:c1])

    run_chunks(n, work, threads=num_threads(threads), min_items=2)
    ap_kt = np.where(out < 0, np.nan, out / max(rec.size, 1))
    return Bootstrap(
        ap_kt,
        _py_ids(prep.cat_ids),
        np.asarray(params.iouThrs, dtype=np.float64),
        seed,
        ci,
    )
