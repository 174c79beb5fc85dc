"""COCO accumulation: precision / recall / score curves from one matching pass per category, on every core.

:func:`evaluate_curves` matches (:mod:`detbench.eval.matching`) and accumulates
every segment (category) and returns pycocotools' ``precision`` (T, R, K, A, M),
``recall`` (T, K, A, M) and ``scores`` arrays. Segments are independent: each
thread takes the next run of segments (largest first, runs shrinking) from a shared queue with its own
:class:`Workspace`, and every segment writes only its own slices of the
output, so the arrays are bit-identical for any thread count (including 1) and
any scheduling.

A segment larger than one thread's share of the detections (the one person category of a keypoints
evaluation, a single-class set, ``useCats=0``) would keep the other threads idle: it is matched by
every thread instead, split by images (:func:`_evaluate_split`: the rank and the numbering of the
detections that can match stay serial, the per-image IoU search and greedy matching run on image
ranges from a queue), then accumulated. At 5,000 synthetic keypoint images (100 k detections, one
category) matching + accumulation took 29.5-30.4 ms on two threads against 49.2-53.6 ms on one (same run).

Threading: the GIL-free kernel runs on :func:`detbench._parallel.run_queue`
(detbench's one pool of Python threads, sized by ``numba.get_num_threads()``,
fork-safe; the calling thread works too), with a dynamic queue so a thread
slowed by a busy core takes fewer categories.
``mechanism="prange"`` runs the same kernel on a static split in Numba's
threading layer; it is kept only to measure the two against each other (the
numbers are in the closing note of issue 13 / 18).
"""

from __future__ import annotations

import numpy as np

from detbench._parallel import num_threads, run_queue, split_weighted
from detbench.eval import _accumulate_kernels as _ak
from detbench.eval import _match_kernels as _mk
from detbench.eval._accumulate_kernels import AccScratch, Curves, Workspace
from detbench.eval.matching import (
    Groups,
    MatchScratch,
    Settings,
    make_match_scratch,
    make_segment_matches,
    sizes_of,
)

__all__ = ["Curves", "AccScratch", "Workspace", "make_workspace", "evaluate_curves"]

#: segments at or above this many detections in all are worth a second thread
_MIN_PARALLEL_DETS = 20_000
#: the smallest queue item, in detections (~0.25 ms of work; see :func:`_queue_cuts`)
_MIN_ITEM_DETS = 2_000


def make_workspace(gr: Groups, st: Settings, sizes: tuple[int, int, int, int] | None = None) -> Workspace:
    """A :class:`Workspace` for evaluating any segment of ``gr`` (``sizes``: :func:`sizes_of`)."""
    if sizes is None:
        sizes = sizes_of(gr, int(st.max_dets[-1]))
    max_len = sizes[0]
    T, M = st.iou_thr.size, st.max_dets.size
    acc = AccScratch(
        np.empty((T, M, max_len), np.float64),
        np.empty((T, M, max_len), np.float64),
        np.zeros((M, T), np.int64),
        np.zeros((M, T), np.int64),
        np.zeros(M, np.int64),
    )
    return Workspace(make_segment_matches(st, max_len), make_match_scratch(gr, st, sizes), acc)


def make_curves(n_seg: int, st: Settings, fill: bool = True) -> Curves:
    """Output buffers for ``n_seg`` segments, prefilled with -1 (pycocotools' value for absent entries).

    ``fill=False`` leaves them uninitialised, for a caller that evaluates every segment.
    """
    A, T, M, R = st.area_rng.shape[0], st.iou_thr.size, st.max_dets.size, st.rec_thr.size
    new = np.full if fill else (lambda shape, _v: np.empty(shape))
    return Curves(new((n_seg, A, T, M, R), -1.0), new((n_seg, A, T, M), -1.0), new((n_seg, A, T, M, R), -1.0))


def _balanced_parts(sizes: np.ndarray, n_parts: int) -> list[np.ndarray]:
    """Segment indices in ``n_parts`` lists of about equal total size (largest first, greedy)."""
    load = [0] * n_parts
    parts: list[list[int]] = [[] for _ in range(n_parts)]
    for s in np.argsort(-sizes, kind="stable").tolist():
        j = load.index(min(load))
        parts[j].append(s)
        load[j] += int(sizes[s]) + 1
    return [np.array(sorted(p), dtype=np.int64) for p in parts if p]


def evaluate_curves(gr: Groups, st: Settings, threads: int | None = None, mechanism: str = "pool") -> Curves:
    """Match and accumulate every segment of ``gr``; returns the filled :class:`Curves`.

    ``threads``: default ``numba.get_num_threads()``; small inputs (under
    20,000 detections) run in the calling thread. ``mechanism``: ``"pool"``
    (default, :mod:`detbench._parallel`) or ``"prange"`` (same parts, Numba's
    threading layer). The result does not depend on either.
    """
    if mechanism not in ("pool", "prange"):
        raise ValueError(f"mechanism: expected 'pool' or 'prange', got {mechanism!r}")
    n_seg = gr.seg_off.size - 1
    n_d = gr.d_score.size
    if not (gr.n_img and n_seg and (gr.g_off[-1] > 0 or n_d > 0)):
        return make_curves(n_seg, st)
    out = make_curves(n_seg, st, fill=False)  # the kernels write every entry, in parallel
    sizes = sizes_of(gr, int(st.max_dets[-1]))
    seg_len = np.diff(gr.seg_off)
    n_all = num_threads(threads)  # (checks threads for every input size)
    if n_d < _MIN_PARALLEL_DETS:
        n_all = 1
    segs = np.arange(n_seg, dtype=np.int64)
    if mechanism == "pool" and n_all > 1:
        # a segment above one thread's share (one category of keypoints, a single-class set, useCats=0)
        # is matched by all threads, split by images; the others go to the queue below
        big = (seg_len * n_all > n_d) & (seg_len >= _MIN_PARALLEL_DETS)
        if big.any():
            ws = make_workspace(gr, st, sizes)
            for s in np.flatnonzero(big).tolist():
                _evaluate_split(gr, st, s, ws, sizes, n_all, out)
            segs = segs[~big]
    if segs.size == 0:
        return out
    n = min(n_all, segs.size)
    if n <= 1:
        _ak.evaluate_segments(gr, st, segs, make_workspace(gr, st, sizes), out)
    elif mechanism == "prange":
        parts = _balanced_parts(seg_len, n)
        part_off = np.zeros(len(parts) + 1, np.int64)
        np.cumsum([p.size for p in parts], out=part_off[1:])
        _ak.evaluate_segments_prange(gr, st, np.concatenate(parts), part_off, sizes, out)
    else:
        order = segs[np.argsort(-seg_len[segs], kind="stable")]  # largest first
        cuts = _queue_cuts(seg_len[order], n)
        run_queue(
            cuts.size - 1,
            lambda j, ws: _ak.evaluate_segments(gr, st, order[cuts[j] : cuts[j + 1]], ws, out),
            threads=n,
            make_state=lambda: make_workspace(gr, st, sizes),
        )
    return out


def _evaluate_split(gr: Groups, st: Settings, s: int, ws: Workspace, sizes: tuple, n_threads: int, out: Curves) -> None:
    """Match segment ``s`` on ``n_threads`` threads, split by images, then accumulate it (one thread).

    :func:`~detbench.eval._match_kernels.match_segment`'s phases: the rank (serial), the per-image
    search for detections that can match (image ranges from a queue, positives counted per range), their
    numbering (serial) and the per-image greedy matching (image ranges again). Each thread has its own
    scratch and shares the segment's arrays, every image writing only its own detections' slots, so the
    matches equal ``match_segment``'s for any thread count.
    """
    sm, mt = ws.matches, ws.match_tmp
    L = _mk.rank_segment(gr, st, s, sm, mt)
    n_img = gr.n_img
    g0 = s * n_img
    cum = (gr.d_off[g0 : g0 + n_img + 1] - gr.d_off[g0]) + (gr.g_off[g0 : g0 + n_img + 1] - gr.g_off[g0])
    pieces = split_weighted(cum, 4 * n_threads)
    npig = np.zeros((len(pieces), sm.npig.shape[0]), np.int64)
    scratch = [_thread_scratch(gr, st, sizes, mt) for _ in range(min(n_threads, len(pieces)))]
    run_queue(
        len(pieces),
        lambda j, m: _mk.dynamic_images(gr, st, s, pieces[j][0], pieces[j][1], sm, m, npig[j]),
        threads=n_threads,
        make_state=list(scratch).pop,
    )
    sm.npig[:] = npig.sum(axis=0)
    if _mk.number_dynamic(L, sm) > 0:
        run_queue(
            len(pieces),
            lambda j, m: _mk.match_images(gr, st, s, pieces[j][0], pieces[j][1], sm, m),
            threads=n_threads,
            make_state=list(scratch).pop,
        )
    _ak.accumulate_segment(st, s, L, sm, ws.acc_tmp, out)


def _thread_scratch(gr: Groups, st: Settings, sizes: tuple, mt: MatchScratch) -> MatchScratch:
    # a thread's scratch for _evaluate_split: its own per-group buffers, the segment-wide arrays of mt
    # (sized 0 here, then swapped for mt's)
    own = make_match_scratch(gr, st, (0, *sizes[1:]))
    return own._replace(tick=mt.tick, cnt=mt.cnt, lpos=mt.lpos, gsorted=mt.gsorted, p_best=mt.p_best)


def _queue_cuts(lengths: np.ndarray, n_threads: int) -> np.ndarray:
    """Cut points of the queue's items: runs of consecutive segments (``lengths``, largest first), each
    about 1/(2 * ``n_threads``) of the detections still unassigned and at least ``_MIN_ITEM_DETS``.

    Every kernel call holds the GIL while Numba unboxes its ~60 arrays (~16 us): one call per
    category cost each thread ~0.6 ms at 500 images (80 categories). Shrinking items (guided
    scheduling) keep the end balanced: the last ones are a fraction of a millisecond.
    """
    remaining = int(lengths.sum())
    target = max(remaining // (2 * n_threads), _MIN_ITEM_DETS)
    cuts = [0]
    acc = 0
    for k, v in enumerate(lengths.tolist()):
        acc += v
        if acc >= target:
            cuts.append(k + 1)
            remaining -= acc
            acc = 0
            target = max(remaining // (2 * n_threads), _MIN_ITEM_DETS)
    if cuts[-1] != lengths.size:
        cuts.append(lengths.size)
    return np.array(cuts, np.int64)
