"""The one timing helper: used by ``detbench report``, ``detbench demo`` and the benchmarks' same-run tables.

Rules (issue 20, item 1):

- **Warm-up excluded.** Each callable runs once untimed before the first round (JIT compile or cache
  load, page faults of first allocations, a peer's lazy initialisation). The first call is measured
  apart by :func:`first_call_time`.
- **Interleaved rounds.** ``rounds`` rounds; in each round every callable is timed once as a *block*
  (``inner`` back-to-back calls, mean per call), in an order that alternates from round to round, so a
  slow spell of the shared machine hits every contender alike. A block starts with one untimed call
  (Numba's and torch's thread pools fight when switched within a loop: the first call after a switch
  pays for it), so blocks never interleave single calls of two libraries; a callable whose one call
  lasts ``slow_call_s`` (0.1 s) or more skips that opener, which would double its cost for ~1 % of effect.
- **Median and spread.** A :class:`Timing` keeps every round's time: median, min and max. A ratio of two
  contenders is computed round by round (same round, same machine state) and summarised the same way
  (:class:`Ratio`).
- ``inner`` is chosen so that a block lasts about ``min_block_s`` (tiny kernels are not timed one call
  at a time); a ``budget_s`` stops adding rounds once spent (never below ``min_rounds``).
- **Several fresh processes.** Some speeds are a property of the process, not of the round: torch's
  two-thread ``box_iou`` at 500x500 took 1.36-2.0 ms depending on the process and stayed put within one,
  so more rounds in one process cannot remove it. :class:`Workers` runs the same measurement in several
  *spawned* processes (each with its own thread pools and allocator state); :func:`merge_processes`
  pools their timings into one :class:`Timing` whose median is the median over processes of each
  process's median, and whose min/max cover every round of every process (see :class:`Timing`).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Timing",
    "Ratio",
    "time_fn",
    "compare",
    "ratio",
    "first_call_time",
    "fmt_seconds",
    "steady_allocator",
    "SPREAD_WARN",
    "merge_processes",
    "Workers",
]

#: A timing (or ratio) whose (max - min) / median exceeds this is flagged as noisy.
SPREAD_WARN = 0.5


#: glibc ``mallopt`` parameters (malloc.h) and the values :func:`steady_allocator` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_BYTES = 256 << 20
_TRIM_THRESHOLD_BYTES = 512 << 20
_allocator_state: dict[str, Any] = {}


def steady_allocator() -> bool:
    """Make large allocations reuse heap memory instead of fresh pages from the OS (glibc only).

    glibc serves an allocation above ``M_MMAP_THRESHOLD`` (128 KiB at start) with a fresh ``mmap``, whose
    pages fault in on first touch, and raises that threshold by itself the first time such a block is
    freed. Whether a process is past that point depends on its history, so a kernel that allocates a few
    MiB of temporaries per call (torchvision's ``box_iou`` at 500x500: ~2 MiB each) ran at two speeds in
    otherwise identical processes: 2.1-2.6 ms or 4.6-7 ms per call (6 fresh processes each, 2-core machine),
    which swung the report's box_iou ratios by 28-103 % between two runs. Fixing the thresholds
    (mmap above 256 MiB only, heap trimmed above 512 MiB) gives every process the fast mode. Applied by the
    ``detbench`` command and every benchmark process, next to the threading setup
    (:func:`detbench._parallel.polite_threads`). Returns whether the setting took effect (False on
    non-glibc systems, or when ``DETBENCH_MALLOC=default`` asks to keep the allocator's own behaviour).
    """
    if "applied" in _allocator_state:
        return bool(_allocator_state["applied"])
    applied = False
    if os.environ.get("DETBENCH_MALLOC", "") != "default" and sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6")
            applied = bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)) and bool(
                libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
            )
        except (OSError, AttributeError):  # not glibc (musl, ...): leave the allocator alone
            applied = False
    _allocator_state["applied"] = applied
    return applied


class _RoundStats:
    """Median, min, max and spread of per-round samples (``_samples``), shared by :class:`Timing` and :class:`Ratio`.

    The samples may pool several processes' rounds (``process_rounds``: how many of them came from each
    process, in order; empty for one process). The median is then the median over processes of each
    process's median: a process is the unit that varies independently (thread pools, allocator state),
    its rounds are not independent of each other, and with 3 processes one odd process cannot move it.
    min and max still cover every round of every process, so the spread shows both kinds of noise.
    """

    process_rounds: tuple[int, ...]

    @property
    def _samples(self) -> tuple[float, ...]:
        raise NotImplementedError

    @property
    def groups(self) -> list[tuple[float, ...]]:
        """The samples of each process, in order (one group when measured in one process)."""
        return _split(self._samples, self.process_rounds)

    @property
    def processes(self) -> int:
        return max(1, len(self.process_rounds))

    @property
    def median(self) -> float:
        medians = [float(np.median(g)) for g in self.groups if g]
        return float(np.median(medians)) if medians else math.nan

    @property
    def min(self) -> float:
        return float(min(self._samples)) if self._samples else math.nan

    @property
    def max(self) -> float:
        return float(max(self._samples)) if self._samples else math.nan

    @property
    def spread(self) -> float:
        """(max - min) / median: 0 for perfectly steady samples."""
        m = self.median
        return (self.max - self.min) / m if m > 0 else math.nan

    @property
    def noisy(self) -> bool:
        return bool(self.spread > SPREAD_WARN)


def _split(samples: tuple[float, ...], counts: tuple[int, ...]) -> list[tuple[float, ...]]:
    if not counts:
        return [samples]
    if sum(counts) != len(samples):
        raise ValueError(f"process_rounds: {counts} add up to {sum(counts)}, not to the {len(samples)} samples")
    edges = np.cumsum((0, *counts))
    return [samples[a:b] for a, b in zip(edges[:-1], edges[1:])]


@dataclass(frozen=True)
class Timing(_RoundStats):
    """Seconds per call over rounds: ``median``, ``min``, ``max``; ``times`` is each round's value.

    ``process_rounds``: when ``times`` pools the rounds of several processes (:func:`merge_processes`),
    how many rounds each gave, in order; ``inner`` is then the first process's.
    """

    times: tuple[float, ...]
    inner: int = 1
    process_rounds: tuple[int, ...] = ()

    @property
    def _samples(self) -> tuple[float, ...]:
        return self.times

    @property
    def rounds(self) -> int:
        return len(self.times)

    def __str__(self) -> str:
        return f"{fmt_seconds(self.median)} [{fmt_seconds(self.min)}, {fmt_seconds(self.max)}]"

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}s": self.median,
            f"{prefix}min_s": self.min,
            f"{prefix}max_s": self.max,
            f"{prefix}rounds": self.rounds,
        }


@dataclass(frozen=True)
class Ratio(_RoundStats):
    """A ratio computed round by round (``values``): median, min and max (over processes: see :class:`Timing`)."""

    values: tuple[float, ...]
    process_rounds: tuple[int, ...] = ()

    @property
    def _samples(self) -> tuple[float, ...]:
        return self.values

    def __str__(self) -> str:
        return f"{self.median:.3g}x [{self.min:.3g}, {self.max:.3g}]"


def first_call_time(fn: Callable[[], Any]) -> float:
    """Time of one call of ``fn`` now: in a fresh process the JIT compile (or cache load) plus one run."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _block(fn: Callable[[], Any], inner: int, opener: bool = True) -> float:
    if opener:
        fn()  # untimed: absorbs a thread-pool switch from the previous contender
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


@dataclass
class _Plan:
    fn: Callable[[], Any]
    inner: int = 1
    times: list[float] = field(default_factory=list)
    opener: bool = True


def compare(
    fns: Mapping[str, Callable[[], Any]],
    *,
    rounds: int = 5,
    min_rounds: int = 3,
    budget_s: float = math.inf,
    min_block_s: float = 0.005,
    max_inner: int = 50,
    warmup: bool = True,
    slow_call_s: float = 0.1,
) -> dict[str, Timing]:
    """Time every callable of ``fns`` in interleaved rounds; returns ``{name: Timing}`` (seconds per call).

    ``warmup=False`` skips the untimed warm-up call (when the caller has just made one, e.g. with
    :func:`first_call_time`). A callable whose one call lasts ``slow_call_s`` or more runs its blocks
    without the untimed opening call: a thread-pool switch costs far less than such a call (a few ms
    against >= 100 ms), and the opener would double the time spent on the slowest peers.
    """
    if rounds < 1 or min_rounds < 1:
        raise ValueError(f"rounds: expected >= 1, got rounds={rounds}, min_rounds={min_rounds}")
    plans = {name: _Plan(fn) for name, fn in fns.items()}
    for plan in plans.values():
        if warmup:
            plan.fn()
        one = first_call_time(plan.fn)  # a steady call: sizes the block
        plan.inner = int(min(max_inner, max(1, min_block_s // max(one, 1e-9))))
        plan.opener = one < slow_call_s
    names = list(plans)
    start = time.perf_counter()
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            plan = plans[name]
            plan.times.append(_block(plan.fn, plan.inner, plan.opener))
        if r + 1 >= min_rounds and time.perf_counter() - start > budget_s:
            break
    return {name: Timing(tuple(p.times), p.inner) for name, p in plans.items()}


def time_fn(fn: Callable[[], Any], **kwargs: Any) -> Timing:
    """:func:`compare` with one contender."""
    return compare({"fn": fn}, **kwargs)["fn"]


def ratio(num: Timing, den: Timing) -> Ratio:
    """``num / den`` round by round (the rounds of one :func:`compare` call are paired).

    Timings pooled from several processes (:func:`merge_processes`) are paired process by process; the
    ratio's median is then the median over processes of each process's median ratio. Each process's ratio
    is taken first because both contenders share that process's state (its thread pools, its load): the
    ratio cancels what they share, and the median over processes drops one process in an odd state.
    """
    if len(num.process_rounds) != len(den.process_rounds):
        raise ValueError(
            f"num, den: measured in different processes ({num.processes} and {den.processes}); "
            "ratio pairs the rounds of the same compare calls"
        )
    values: list[float] = []
    counts: list[int] = []
    for a, b in zip(num.groups, den.groups):
        n = min(len(a), len(b))
        got = [x / y for x, y in zip(a[:n], b[:n]) if y > 0]
        values.extend(got)
        counts.append(len(got))
    return Ratio(tuple(values), tuple(counts) if num.process_rounds else ())


def merge_processes(per_process: Sequence[Mapping[str, Timing]]) -> dict[str, Timing]:
    """Pool the :func:`compare` results of several processes (one mapping each, same names) into one
    ``{name: Timing}``: all rounds kept, ``process_rounds`` recording which process gave which (a timing
    that is itself pooled keeps its own split). Names missing from some process are left out.
    """
    if not per_process:
        return {}
    names = [n for n in per_process[0] if all(n in p for p in per_process)]
    out = {}
    for name in names:
        times: list[float] = []
        counts: list[int] = []
        for p in per_process:
            t = p[name]
            times.extend(t.times)
            counts.extend(t.process_rounds or (t.rounds,))
        out[name] = Timing(tuple(times), per_process[0][name].inner, tuple(counts))
    return out


def _worker_setup() -> None:
    # what the ``detbench`` command does first, in every worker: passive OpenMP threads, steady allocator
    from detbench._parallel import polite_threads

    polite_threads()
    steady_allocator()


def _start(setup: Callable[..., Any] | None, args: tuple[Any, ...]) -> int:
    if setup is not None:
        setup(*args)
    return os.getpid()


class Workers:
    """``processes`` fresh Python processes for timing; ``run(fn, *args)`` calls ``fn(*args)`` in each, one
    after the other (never two at once: they would compete for the cores), and returns the results in
    process order; ``run_in(i, fn, *args)`` calls it in process ``i`` only.

    The processes are *spawned*, not forked, so each starts its own thread pools (Numba's, torch's) and
    allocator state instead of copying the parent's; each applies the ``detbench`` command's setup
    (:func:`detbench._parallel.polite_threads`, :func:`steady_allocator`) first. ``fn`` and ``args`` travel
    by pickle: ``fn`` must be a module-level function that rebuilds its data from plain arguments (a name,
    a size, a seed), not a closure. ``setup(*setup_args)`` (module-level too) runs once in every process
    as it starts, all processes side by side and alongside the caller (untimed work such as building the
    data); the first :meth:`run` waits for it. ``processes=1`` runs ``fn`` in this process, as
    :func:`compare` alone would (``setup`` is not called). Use as a context manager: the processes start on
    entry and end on exit.
    """

    def __init__(self, processes: int = 3, setup: Callable[..., Any] | None = None, setup_args: tuple[Any, ...] = ()):
        from detbench._validate import check_int

        self.processes = check_int(processes, "processes", low=1)
        self.setup, self.setup_args = setup, tuple(setup_args)
        self._pools: list[Any] = []
        self._starting: list[Any] = []

    def __enter__(self) -> Workers:
        if self.processes > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            spawn = multiprocessing.get_context("spawn")
            self._pools = [
                ProcessPoolExecutor(1, mp_context=spawn, initializer=_worker_setup) for _ in range(self.processes)
            ]
            self._starting = [p.submit(_start, self.setup, self.setup_args) for p in self._pools]
        return self

    def run(self, fn: Callable[..., Any], *args: Any) -> list[Any]:
        return [self.run_in(i, fn, *args) for i in range(self.processes)]

    def run_in(self, index: int, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in process ``index`` (0-based) alone; in this process when ``processes=1``."""
        if not self._pools:
            return fn(*args)
        while self._starting:  # every process ready before the first timing
            self._starting.pop().result()
        return self._pools[index].submit(fn, *args).result()

    def __exit__(self, *exc: Any) -> None:
        for p in self._pools:
            p.shutdown(wait=True, cancel_futures=True)
        self._pools, self._starting = [], []


def fmt_seconds(x: float, unit: str | None = None) -> str:
    """``x`` seconds in ``unit`` ("s", "ms", "us"), or in the unit that suits it when ``unit`` is None."""
    if x is None or not np.isfinite(x):
        return "-"
    if unit is None:
        unit = "s" if x >= 1 else "ms" if x >= 1e-3 else "us"
    scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]
    label = "µs" if unit == "us" else unit
    return f"{x * scale:.3g} {label}"
