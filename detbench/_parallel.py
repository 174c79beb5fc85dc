"""detbench's one threading mechanism for work split outside a single Numba kernel.

Kernels that parallelise *inside* one call use ``numba.prange`` (see :func:`detbench._jit.jit_twins`).
Work that is split *across* calls of a GIL-free (``nogil=True``) kernel - chunks of ROIs, pyramid
levels, blocks of evaluation categories - runs on :func:`run_chunks`: one process-wide pool of
Python threads,

* sized by ``numba.get_num_threads()`` (so ``numba.set_num_threads`` / ``NUMBA_NUM_THREADS`` is the
  one knob for every kind of parallelism in detbench),
* fork-safe (a forked child starts a fresh pool: the parent's worker threads do not exist there),
* serial when one thread is asked for or the work is too small to split, so ``threads=1`` runs the
  same code in the calling thread.

The work callable must release the GIL for the threads to overlap (call an ``@jit`` kernel, which is
compiled ``nogil=True``). Results must not depend on the split: callers give each chunk its own
output slice, and any reduction happens afterwards in a fixed order.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numba

__all__ = ["num_threads", "run_chunks", "run_tasks", "split_range", "polite_threads"]

_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _forget_pool() -> None:
    global _POOL, _POOL_SIZE, _POOL_LOCK
    _POOL, _POOL_SIZE, _POOL_LOCK = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def num_threads(requested: int | None = None) -> int:
    """The thread count to use: ``requested`` if given (>= 1), else ``numba.get_num_threads()``."""
    if requested is None:
        return max(1, numba.get_num_threads())
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise ValueError(f"threads must be a positive integer or None, got {requested!r}")
    return requested


def _executor(n: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE < n:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL = ThreadPoolExecutor(max_workers=n, thread_name_prefix="detbench")
            _POOL_SIZE = n
        return _POOL


def split_range(n_items: int, n_chunks: int) -> list[tuple[int, int]]:
    """``[0, n_items)`` cut into at most ``n_chunks`` contiguous, non-empty, near-equal pieces."""
    n_chunks = max(1, min(n_chunks, n_items))
    edges = [n_items * i // n_chunks for i in range(n_chunks + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _run(tasks: Sequence[Callable[[], object]], threads: int | None, inline: bool) -> list[object]:
    # the one body behind run_tasks / run_tasks_inline: ``inline`` makes the caller run the first
    # task instead of waiting; results in ``tasks`` order, the first exception re-raised at the end
    n = min(num_threads(threads), len(tasks))
    if n <= 1:
        return [t() for t in tasks]
    first = 1 if inline else 0
    futures = [_executor(n - first).submit(t) for t in tasks[first:]]
    results: list[object] = [None] * len(tasks)
    error = None
    if inline:
        try:
            results[0] = tasks[0]()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after every task finished
            error = exc
    for k, f in enumerate(futures, start=first):
        try:
            results[k] = f.result()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after every task finished
            error = error or exc
    if error is not None:
        raise error
    return results


def run_tasks(tasks: Sequence[Callable[[], object]], threads: int | None = None) -> list[object]:
    """Run independent callables on the pool; return their results in ``tasks`` order.

    Runs them in the calling thread when one thread is asked for or there is one task. The first
    exception raised by a task is re-raised here after every task has finished.
    """
    return _run(tasks, threads, inline=False)


def run_chunks(
    n_items: int,
    work: Callable[[int, int], object],
    threads: int | None = None,
    min_items: int = 1,
    chunks_per_thread: int = 1,
    inline: bool = False,
) -> None:
    """Run ``work(start, stop)`` over ``[0, n_items)`` in contiguous chunks on the shared pool.

    Serial (one call ``work(0, n_items)`` in this thread) when one thread is asked for or
    ``n_items < min_items``. ``chunks_per_thread > 1`` evens out chunks of unequal cost;
    ``inline`` has the caller run the first chunk (:func:`run_tasks_inline`).
    """
    if n_items <= 0:
        return
    n = min(num_threads(threads), n_items)
    if n <= 1 or n_items < min_items:
        work(0, n_items)
        return
    pieces = split_range(n_items, n * chunks_per_thread)
    _run([(lambda a=a, b=b: work(a, b)) for a, b in pieces], n, inline)


def run_tasks_inline(tasks: Sequence[Callable[[], object]], threads: int | None = None) -> list[object]:
    """:func:`run_tasks`, with the calling thread running the first task itself instead of waiting.

    On a loaded machine every hand-off to a pool thread waits for that thread to be scheduled;
    the caller is already running, so one share of the work starts at once. Results in
    ``tasks`` order; the first exception is re-raised after every task has finished.
    """
    return _run(tasks, threads, inline=True)


def run_chunks_inline(
    n_items: int, work: Callable[[int, int], object], threads: int | None = None, min_items: int = 1
) -> None:
    """:func:`run_chunks` (one contiguous chunk per thread) with the caller running the first chunk."""
    run_chunks(n_items, work, threads, min_items, inline=True)


def run_queue(
    n_items: int,
    work: Callable[[int, object], object],
    threads: int | None = None,
    make_state: Callable[[], object] = lambda: None,
) -> None:
    """Call ``work(i, state)`` for every ``i`` in ``range(n_items)``, items taken from one shared queue.

    Each of ``threads`` workers (the caller is one of them, see :func:`run_tasks_inline`) builds
    its own ``state = make_state()`` (scratch buffers) and takes the next item when it finishes
    one, so a worker slowed by a busy core simply takes fewer items. Items are handed out in
    index order; ``work`` must give each item its own output so the result does not depend on
    which worker ran it.
    """
    if n_items <= 0:
        return
    n = min(num_threads(threads), n_items)
    if n <= 1:
        state = make_state()
        for i in range(n_items):
            work(i, state)
        return
    lock = threading.Lock()
    nxt = [0]

    def worker() -> None:
        state = make_state()
        while True:
            with lock:
                i = nxt[0]
                nxt[0] = i + 1
            if i >= n_items:
                return
            work(i, state)

    run_tasks_inline([worker] * n, threads=n)


def polite_threads() -> None:
    """The threading setup for a shared machine: OpenMP threads sleep when idle (``OMP_WAIT_POLICY=passive``).

    Sets the variable unless the user already did. It is read once, when an OpenMP runtime starts (torch's
    on import, Numba's ``omp`` layer at its first parallel call), so callers run this first thing: the CLI
    (``detbench report``/``demo``/``eval``) and ``benchmarks/__init__.py`` (every asv benchmark process).

    Measured on the 2-core machine (README, "Threading"): with the default (spinning) wait policy
    ``box_iou`` 1000x1000 took 0.2-16 ms (median 16 ms while other processes ran), passive 0.30 ms
    (0.29-0.47), the ``workqueue`` layer 0.42 ms, ``tbb`` 0.28 ms (an extra package whose library pip puts
    outside the loader's path); nms and roi_align did not depend on the setup.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")


def split_weighted(cum: Sequence[float], n_chunks: int) -> list[tuple[int, int]]:
    """``[0, n)`` cut into at most ``n_chunks`` contiguous, non-empty pieces of about equal weight.

    ``cum`` (length ``n + 1``, non-decreasing) is the weight before each item, like an offsets array
    (``cum[i + 1] - cum[i]`` is item i's weight): pass a ragged array's offsets to split by its size.
    """
    import numpy as np

    cum = np.asarray(cum)
    n = cum.shape[0] - 1
    if n <= 0:
        return []
    n_chunks = max(1, min(n_chunks, n))
    lo, total = cum[0], cum[-1] - cum[0]
    targets = lo + total * np.arange(1, n_chunks, dtype=np.float64) / n_chunks
    cuts = np.clip(np.searchsorted(cum, targets, side="left"), 0, n).tolist()
    edges = sorted(set([0, *cuts, n]))
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def run_weighted(
    cum: Sequence[float], work: Callable[[int, int], object], threads: int | None = None, min_total: float = 0
) -> None:
    """:func:`run_chunks_inline` with pieces of about equal weight (:func:`split_weighted` of ``cum``).

    Serial (one call ``work(0, n)``) when one thread is asked for or the total weight is under
    ``min_total``; the caller runs the first piece itself. ``work`` must give every item its own output.
    """
    n = len(cum) - 1
    if n <= 0:
        return
    nt = min(num_threads(threads), n)
    if nt <= 1 or float(cum[-1] - cum[0]) < min_total:
        work(0, n)
        return
    pieces = split_weighted(cum, nt)
    run_tasks_inline([(lambda a=a, b=b: work(a, b)) for a, b in pieces], threads=nt)
