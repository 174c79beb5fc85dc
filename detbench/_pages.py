"""NumPy's transparent-huge-page advice, switched off while detbench loads and evaluates.

NumPy (on Linux) advises the kernel to back every array of 4 MB or more with
2 MB transparent huge pages. On virtual machines whose free memory is handed
back to the host (free-page reporting, ballooning: common on cloud VMs) a huge
page the guest has not touched lately comes back slowly: on this project's
2-core VM the first 41 MB array of a process took 317 ms (300 ms of it in the
kernel) with the advice and 22 ms without. The evaluation allocates many such
arrays once each, so it paid this again and again: at LVIS v1 val size the
bbox evaluation (``COCOeval.evaluate``) took 2.8-5.5 s with the advice and
0.99 s without (same session; ``benchmarks/bench_eval_lvis_size.py``), and
reading a 5,000-image keypoints results file 250-330 ms against 117-125 ms.

Huge pages are not worse in general: a kernel that allocates the same large
output call after call reuses warm huge pages and gains from them (``box_iou``
of 4,000 x 4,000 boxes: 10 ms a call with the advice once warm, 33 ms without,
but 1.3 s for the first call with it). The primitives therefore keep NumPy's
setting; only the evaluation, whose many arrays are each allocated once,
measured faster without it (5,000-image bbox files -> stats: no change either
way).

:func:`small_pages` turns the advice off for the duration of a call and
restores it afterwards (nested and concurrent calls included), so NumPy's
setting outside detbench is left as the user had it. A user who sets
``NUMPY_MADVISE_HUGEPAGE`` (NumPy's own switch, ``1`` or ``0``) keeps that
choice: detbench then changes nothing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

try:  # NumPy 2
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:  # pragma: no cover - NumPy 1.x
    try:
        from numpy.core.multiarray import _set_madvise_hugepage
    except ImportError:
        _set_madvise_hugepage = None

__all__ = ["small_pages", "with_small_pages"]

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_depth = 0
_saved = True


def _active() -> bool:
    return _set_madvise_hugepage is not None and "NUMPY_MADVISE_HUGEPAGE" not in os.environ


@contextlib.contextmanager
def small_pages() -> Iterator[None]:
    """NumPy's huge-page advice off inside the block (unless the user set ``NUMPY_MADVISE_HUGEPAGE``)."""
    global _depth, _saved
    if not _active():
        yield
        return
    with _lock:
        if _depth == 0:
            _saved = _set_madvise_hugepage(False)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set_madvise_hugepage(_saved)


def with_small_pages(fn: F) -> F:
    """``fn`` run inside :func:`small_pages`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with small_pages():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
