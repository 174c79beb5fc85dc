"""COCO evaluation of results split into shards: streamed in one process, or on a Dask cluster.

::

    from detbench.eval import evaluate_shards, evaluate_distributed
    res = evaluate_shards("gt.json", "results-*.json")                  # one process, shard by shard
    res = evaluate_distributed("gt.json", "results-*.json", workers=4)  # a LocalCluster of 4 processes
    res = evaluate_distributed("gt.json", paths, scheduler="tcp://host:8786")
    res.stats, res.eval["precision"], res.n_images, res.n_detections, res.n_shards

Both give the one-shot :class:`~detbench.eval.COCOeval`'s arrays and stats, bit
for bit (they run :class:`~detbench.eval.CocoEvaluator`). Each shard is read and
matched on its own (one task per shard on Dask, by the workers: the client
never reads a results file) and its state (31 bytes per kept detection) is
merged in a tree: pairs of states are merged by tasks until one is left, which
a worker accumulates. Tasks are retried by Dask (``retries``); a merge does
not modify its inputs, so a retried task gives the same state.

Rules: **every image's detections must be in one shard** (as when each rank or
worker writes the results of its own images); an image found in two shards
stops the run with a ``ValueError`` naming both shards. A shard that cannot be
read or parsed stops the run with a ``ValueError`` naming the shard: there is
never a silently partial result, and the result records how many images,
detections and shards were evaluated.

The ground truth is given as a path (each worker process loads it once and
keeps it while the file is unchanged). Dask is an optional dependency:
``pip install "detbench[dask]"``.
"""

from __future__ import annotations

import copy
import glob
import os
import pickle
from typing import Any

from detbench._pages import with_small_pages
from detbench.eval.coco import Params
from detbench.eval.loader import load_coco, load_results
from detbench.eval.streaming import CocoEvaluator, CocoResult

__all__ = ["expand_shards", "evaluate_shards", "evaluate_distributed"]

_GT_CACHE: dict = {}


def expand_shards(results: Any) -> list[str]:
    """Result shard paths from a path, a glob pattern or a list of them (sorted per pattern; at least one)."""
    items = [results] if isinstance(results, (str, os.PathLike)) else list(results)
    if not items:
        raise ValueError("results: no results files given")
    paths: list[str] = []
    for item in items:
        s = os.fspath(item)
        if any(c in s for c in "*?["):
            found = sorted(glob.glob(s))
            if not found:
                raise ValueError(f"results: the pattern {s!r} matches no file")
            paths.extend(found)
        else:
            paths.append(s)
    dup = {p for p in paths if paths.count(p) > 1}
    if dup:
        raise ValueError(f"results: shard {sorted(dup)[0]!r} is given more than once")
    return paths


def _empty_evaluator(gt_path: str, params: Params | None) -> tuple[Any, CocoEvaluator]:
    # the ground truth and an empty evaluator of a worker process, built once per (file, size, mtime,
    # parameters): every shard task starts from a cheap copy
    st = os.stat(gt_path)
    key = (os.path.abspath(gt_path), st.st_size, st.st_mtime_ns, pickle.dumps(params))
    if key not in _GT_CACHE:
        _GT_CACHE.clear()
        gt = load_coco(gt_path)
        _GT_CACHE[key] = (gt, CocoEvaluator(gt, copy.deepcopy(params) if params is not None else None, threads=1))
    gt, ev = _GT_CACHE[key]
    return gt, ev.empty_like()


def _shard_state(gt_path: str, path: str, params: Params | None) -> tuple[CocoEvaluator, list[str]]:
    """Read and match one shard: (its evaluator state, [its name])."""
    gt, ev = _empty_evaluator(gt_path, params)
    try:
        ds = load_results(path, gt)
        ev.update(ds)
    except (OSError, ValueError) as exc:
        raise ValueError(f"shard {path!r}: {exc}") from None
    return ev, [path]


def _merge(a: tuple, b: tuple) -> tuple[CocoEvaluator, list[str]]:
    """A new state holding both (the inputs are not modified, so a retried task is exact)."""
    (ea, na), (eb, nb) = a, b
    out = copy.copy(ea)
    out._chunks = list(ea._chunks)
    try:
        out.merge(eb)
    except ValueError as exc:
        img = str(exc).split("image ", 1)[-1].split(" has", 1)[0]
        raise ValueError(
            f"image {img} has detections in more than one shard (one among {na}, one among {nb}); "
            "every image's detections must be in one shard"
        ) from None
    return out, na + nb


def _compute(state: tuple) -> CocoResult:
    ev, names = state
    res = ev.compute()
    res.n_shards = len(names)
    return res


@with_small_pages
def evaluate_shards(gt: Any, results: Any, params: Params | None = None) -> CocoResult:
    """Evaluate results shards one after the other in this process (memory: the states, not the results).

    ``gt``: a path (or anything :class:`~detbench.eval.CocoEvaluator` takes);
    ``results``: a path, a glob pattern or a list of them. The result has
    ``n_shards`` besides ``n_images``/``n_detections``.
    """
    paths = expand_shards(results)
    gt_obj = load_coco(gt) if isinstance(gt, (str, os.PathLike)) else gt
    ev = CocoEvaluator(gt_obj, copy.deepcopy(params) if params is not None else None)
    names: list[str] = []
    for path in paths:
        try:
            ds = load_results(path, gt_obj)
        except (OSError, ValueError) as exc:
            raise ValueError(f"shard {path!r}: {exc}") from None
        try:
            ev.update(ds)
        except ValueError as exc:
            raise ValueError(
                f"shard {path!r}: {exc} (an image's detections are split over shards {names + [path]})"
            ) from None
        names.append(path)
    return _compute((ev, names))


def evaluate_distributed(
    gt: Any,
    results: Any,
    params: Params | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    retries: int = 1,
) -> CocoResult:
    """Evaluate results shards on a Dask cluster (see the module docstring).

    ``gt``: path of the ground-truth JSON (the workers read it); ``results``: a
    path, a glob pattern or a list of them (read by the workers). Exactly one
    of ``client`` (a ``distributed.Client``), ``scheduler`` (its address) or
    ``workers`` (a ``LocalCluster`` of that many processes, closed at the end;
    the default when none is given: ``min(4, os.cpu_count())``). ``retries``:
    Dask retries per task.
    """
    if sum(x is not None for x in (workers, scheduler, client)) > 1:
        raise ValueError("evaluate_distributed: give one of workers, scheduler or client")
    if not isinstance(gt, (str, os.PathLike)):
        raise ValueError(f"gt: expected the path of the ground-truth JSON (workers read it), got {type(gt).__name__}")
    gt_path = os.path.abspath(os.fspath(gt))
    if not os.path.isfile(gt_path):
        raise ValueError(f"gt: {gt_path!r} is not a file")
    paths = [os.path.abspath(p) for p in expand_shards(results)]
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ValueError(f"workers: expected an integer >= 1, got {workers!r}")
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - the optional extra is missing
        raise ImportError('evaluate_distributed needs Dask: pip install "detbench[dask]"') from None
    own: list = []
    try:
        if client is None:
            if scheduler is not None:
                client = Client(scheduler)
                own.append(client)
            else:
                n = workers if workers is not None else min(4, os.cpu_count() or 1)
                cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
                own.append(cluster)
                client = Client(cluster)
                own.append(client)
        futs = [
            client.submit(_shard_state, gt_path, p, params, key=f"detbench-shard-{k}-{p}", retries=retries)
            for k, p in enumerate(paths)
        ]
        while len(futs) > 1:  # tree reduction
            nxt = [client.submit(_merge, futs[i], futs[i + 1], retries=retries) for i in range(0, len(futs) - 1, 2)]
            if len(futs) % 2:
                nxt.append(futs[-1])
            futs = nxt
        return client.submit(_compute, futs[0], retries=retries).result()
    finally:
        for obj in reversed(own):
            obj.close()
