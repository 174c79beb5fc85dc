"""detbench._parallel: the one thread pool (sized by numba.get_num_threads(), fork-safe, order-preserving)."""

from __future__ import annotations

import os
import threading

import numba
import numpy as np
import pytest

from detbench import _parallel


def test_split_range_covers_everything_once():
    for n in (0, 1, 5, 17, 1000):
        for k in (1, 2, 3, 8, 2000):
            pieces = _parallel.split_range(n, k)
            covered = [i for a, b in pieces for i in range(a, b)]
            assert covered == list(range(n))
            assert len(pieces) <= max(1, k)


def test_run_chunks_fills_each_slot_once_for_any_thread_count():
    for threads in (1, 2, 3):
        out = np.zeros(1001, np.int64)

        def work(a, b, out=out):
            out[a:b] += 1

        _parallel.run_chunks(out.size, work, threads=threads, chunks_per_thread=3)
        assert (out == 1).all()


def test_run_tasks_keeps_order_and_reraises():
    assert _parallel.run_tasks([lambda i=i: i * i for i in range(7)], threads=2) == [i * i for i in range(7)]

    def boom():
        raise KeyError("x")

    with pytest.raises(KeyError):
        _parallel.run_tasks([lambda: 1, boom, lambda: 3], threads=2)


def test_default_size_follows_numba():
    assert _parallel.num_threads() == numba.get_num_threads()
    with pytest.raises(ValueError, match="threads"):
        _parallel.num_threads(0)
    with pytest.raises(ValueError, match="threads"):
        _parallel.num_threads(True)


def test_runs_on_worker_threads_when_asked():
    names = _parallel.run_tasks([lambda: threading.current_thread().name for _ in range(4)], threads=2)
    assert any(n.startswith("detbench") for n in names)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_pool_survives_fork():
    _parallel.run_tasks([lambda: 1, lambda: 2], threads=2)  # the parent's pool exists
    pid = os.fork()
    if pid == 0:  # child: the parent's workers do not exist here; a fresh pool must be made
        try:
            ok = _parallel.run_tasks([lambda: 1, lambda: 2], threads=2) == [1, 2]
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_split_weighted_covers_everything_once_and_balances():
    rng = np.random.default_rng(0)
    for n in (0, 1, 2, 7, 300):
        w = rng.integers(0, 50, n)
        cum = np.concatenate([[0], np.cumsum(w)])
        for k in (1, 2, 3, 8):
            pieces = _parallel.split_weighted(cum, k)
            assert [i for a, b in pieces for i in range(a, b)] == list(range(n))
            assert len(pieces) <= max(1, k)
    cum = np.concatenate([[0], np.cumsum(np.ones(1000))])
    assert _parallel.split_weighted(cum, 2) == [(0, 500), (500, 1000)]
    assert _parallel.split_weighted(np.array([0, 100, 101, 102, 103]), 2) == [(0, 1), (1, 4)]
    for threads in (1, 2):
        out = np.zeros(300, np.int64)

        def work(a, b, out=out):
            out[a:b] += 1

        _parallel.run_weighted(np.arange(301), work, threads=threads)
        assert (out == 1).all()
