"""The report's framework: sections, the context they receive, progress, and the run loop.

A section is a function ``fn(ctx: ReportContext) -> Section`` registered with :func:`section`
(which gives it a key and a title) and listed in :data:`detbench.report.sections.SECTIONS`.
A section asks for an optional peer with ``ctx.peer(name)``: it gets ``None`` when the peer is
missing or incompatible, and the context records a note shown in the report and on stderr.
:func:`run_report` runs each section; a section that raises is replaced by a short one carrying
the error (the traceback goes to stderr), so the report is always written.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from detbench.report import peers as _peers

__all__ = ["Section", "ReportContext", "Progress", "section", "run_sections", "silenced", "quiet"]


@dataclass
class Section:
    """One part of the report.

    ``text``: HTML paragraphs; ``tables``: name -> DataFrame (also written as CSV);
    ``figures``: (PNG file name, caption); ``data``: raw numbers for results.json;
    ``notes``: short warnings shown in a box under the title (skipped peers, noisy timings);
    ``summary``: one sentence for the summary paragraph at the top; ``status``: "ok",
    "skipped" (a peer the whole section needs is missing) or "error".
    """

    key: str
    title: str
    text: str = ""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[tuple[str, str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    summary: str = ""
    status: str = "ok"


SectionFn = Callable[["ReportContext"], Section]


def section(key: str, title: str) -> Callable[[SectionFn], SectionFn]:
    """Decorator: mark ``fn`` as the report section ``key`` with heading ``title``."""

    def mark(fn: SectionFn) -> SectionFn:
        fn.key = key  # type: ignore[attr-defined]
        fn.title = title  # type: ignore[attr-defined]
        return fn

    return mark


class Progress:
    """Progress on stderr: a redrawn bar on a terminal, one plain line per step otherwise (logs, pipes)."""

    def __init__(self, total: int, stream: Any = None, enabled: bool = True, width: int = 28):
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.width = width
        self.t0 = time.perf_counter()
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self._open_line = False

    def step(self, message: str) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.t0
        if self.tty:
            frac = min(self.done / self.total, 1.0)
            filled = int(round(frac * self.width))
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {self.done}/{self.total} {elapsed:6.1f}s  {message[:60]:<60}")
            self._open_line = True
        else:
            self.stream.write(f"[{self.done}/{self.total} {elapsed:6.1f}s] {message}\n")
        self.stream.flush()

    def advance(self, message: str) -> None:
        self.done += 1
        self.step(message)

    def message(self, text: str) -> None:
        """A line that must be seen (a warning), whether or not the bar is enabled."""
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False


@dataclass
class ReportContext:
    """What every section receives: output folder, size mode, seed, progress and the peer gate."""

    out_dir: Path
    quick: bool = True
    seed: int = 0
    progress: Callable[[str], None] = lambda msg: None
    warn: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))
    #: extra inputs of a run (e.g. the user's ground truth and detections)
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    section_key: str = ""
    _peer_cache: dict[str, Any] = field(default_factory=dict)

    def savefig(self, fig: Any, name: str) -> str:
        """Save a matplotlib figure as ``name`` (PNG) in the output folder; returns the file name."""
        import matplotlib.pyplot as plt

        fig.tight_layout()
        fig.savefig(self.out_dir / name, dpi=110)
        plt.close(fig)
        return name

    def note(self, text: str) -> None:
        """A warning shown under the current section's title and on stderr."""
        if text not in self.notes:
            self.notes.append(text)
            self.warn(f"detbench report [{self.section_key}]: {text}")

    def peer(self, name: str, purpose: str = "") -> SimpleNamespace | None:
        """The peer ``name`` (see :data:`detbench.report.peers.PEERS`), or None with a note when unavailable."""
        if name not in self._peer_cache:
            try:
                self._peer_cache[name] = _peers.load(name)
            except _peers.PeerUnavailable as exc:
                self._peer_cache[name] = exc
        got = self._peer_cache[name]
        if isinstance(got, _peers.PeerUnavailable):
            what = f" ({purpose})" if purpose else ""
            if not any(n.startswith(f"{name} unavailable") for n in self.notes):  # once per section
                self.note(f"{name} unavailable, comparison skipped{what}: {got.reason}")
            return None
        return got


@contextlib.contextmanager
def silenced() -> Any:
    """Swallow what a peer (or a drop-in summarize) prints on stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def quiet(fn: Callable[..., Any], *args: Any) -> Any:
    with silenced():
        return fn(*args)


def run_sections(fns: Iterable[SectionFn], ctx: ReportContext, bar: Progress) -> list[Section]:
    """Run each section; a peer gap or an error becomes a note, never an abort."""
    results = []
    for fn in fns:
        key, title = getattr(fn, "key", fn.__name__), getattr(fn, "title", fn.__name__)
        ctx.notes = []
        ctx.section_key = key
        bar.step(f"{key} ...")
        try:
            sec = fn(ctx)
        except _peers.PeerUnavailable as exc:
            ctx.note(f"section skipped: {exc.peer} unavailable: {exc.reason}")
            sec = Section(key, title, status="skipped")
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            bar.message(f"detbench report [{key}]: section failed:\n{traceback.format_exc()}")
            ctx.notes.append(f"section failed with {exc.__class__.__name__}: {exc} (traceback on stderr)")
            sec = Section(key, title, status="error")
        sec.notes = [*ctx.notes, *(n for n in sec.notes if n not in ctx.notes)]
        ctx.options.setdefault("_sections", {})[key] = sec
        results.append(sec)
        bar.advance(f"{key} done")
    return results
