"""Line tables of per-image text files: one fast pass over a whole folder, and errors that name file, line and field.

:func:`read_columns` reads the files of a folder as one whitespace-separated table (pandas' C parser over
the joined text: no Python object per field) and returns its columns; anything unusual (a line with the
wrong number of fields, a token that is not a number, quotes) sends it to the plain Python path, which
either reads the files field by field or words the error through :func:`locate`: the file, the line
and the field, e.g. ``labels/0001.txt, line 3, field 'h': expected a number, got 'x'``.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["FieldError", "where", "read_text", "read_columns", "number", "locate", "first_bad"]


class FieldError(ValueError):
    """A problem with one field of one line; the caller adds the file and the line."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field {field!r}: {problem}")
        self.field = field
        self.problem = problem


def where(path: str | os.PathLike, line: int | None = None) -> str:
    return f"{os.fspath(path)}, line {line}" if line is not None else os.fspath(path)


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def number(token: str, field: str) -> float:
    """One finite number, else :class:`FieldError`."""
    try:
        v = float(token)
    except ValueError:
        raise FieldError(field, f"expected a number, got {token!r}") from None
    if not np.isfinite(v):
        raise FieldError(field, f"expected a finite number, got {token!r}")
    return v


def locate(path: str, check_line: Callable[[list[str]], None], fallback: str) -> ValueError:
    """Re-read ``path`` line by line with ``check_line``; the error naming the first bad line's field."""
    for n, line in enumerate(read_text(path).splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            check_line(parts)
        except FieldError as exc:
            return ValueError(f"{where(path, n)}, {exc}")
        except ValueError as exc:
            return ValueError(f"{where(path, n)}: {exc}")
    return ValueError(f"{path}: {fallback}")


def first_bad(bad: np.ndarray, files: list[str], counts: np.ndarray) -> str:
    """The file holding the first row flagged in ``bad``."""
    k = int(np.flatnonzero(bad)[0])
    return files[int(np.searchsorted(np.cumsum(counts), k, side="right"))]


def _line_count(text: str) -> int:
    """Lines of ``text``, blank ones included."""
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def _nonblank_count(text: str) -> int:
    """Non-blank lines of ``text``."""
    return sum(1 for ln in text.split("\n") if ln.strip())


def _fast(texts: list[str], n: int, text_cols: Sequence[int], pad_last: bool) -> tuple[list, np.ndarray] | None:
    """pandas' C parser over all the files at once; None when anything is unusual."""
    import pandas as pd

    counts = np.fromiter(map(_line_count, texts), np.int64, len(texts))  # exact unless there are blank lines
    if not counts.sum():
        return None
    dtype: dict = {c: (str if c in text_cols else np.float64) for c in range(n)}
    dtype[n] = str
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            df = pd.read_csv(
                io.StringIO("\n".join(texts)),
                sep=r"\s+",
                header=None,
                names=list(range(n + 1)),
                dtype=dtype,
                quoting=csv.QUOTE_NONE,
                na_filter=False,
                index_col=False,
                engine="c",
            )
        except (ValueError, Warning, pd.errors.ParserError):
            return None
    if len(df) != counts.sum():  # blank lines: count the others
        counts = np.fromiter(map(_nonblank_count, texts), np.int64, len(texts))
    if len(df) != counts.sum() or (df[n].to_numpy() != "").any():
        return None
    cols = []
    for c in range(n):
        v = df[c].to_numpy()
        if c in text_cols:
            if not pad_last or c != n - 1:
                if (v == "").any():  # a short line
                    return None
            codes, uniques = pd.factorize(v)
            cols.append((codes.astype(np.int64), [str(u) for u in uniques]))
        else:
            cols.append(np.ascontiguousarray(v, np.float64))
    return cols, counts


def _slow(texts: list[str], n: int, text_cols: Sequence[int], pad_last: bool) -> tuple[list | None, np.ndarray, list]:
    """The plain Python path: ``(columns or None if a field is not a number, counts, rows)``."""
    import pandas as pd

    rows: list[list[str]] = []
    counts = np.zeros(len(texts), np.int64)
    for k, text in enumerate(texts):
        r = [ln.split() for ln in text.splitlines()]
        if not all(r):
            r = [x for x in r if x]
        counts[k] = len(r)
        rows.extend(r)
    lens = np.fromiter(map(len, rows), np.int64, len(rows))
    ok = (lens == n) | ((lens == n - 1) & pad_last)
    if not ok.all():
        return None, counts, rows
    if pad_last:
        rows = [r if len(r) == n else r + [""] for r in rows]
    cols = []
    for c in range(n):
        vals = [r[c] for r in rows]
        if c in text_cols:
            codes, uniques = pd.factorize(np.array(vals, dtype=object)) if vals else (np.zeros(0, np.int64), [])
            cols.append((np.asarray(codes, np.int64), [str(u) for u in uniques]))
        else:
            try:
                cols.append(np.array(list(map(float, vals)), np.float64))
            except ValueError:
                return None, counts, rows
    return cols, counts, rows


def read_columns(
    files: list[str],
    n: int,
    check_line: Callable[[list[str]], None],
    *,
    text_cols: Sequence[int] = (0,),
    pad_last: bool = False,
) -> tuple[list, np.ndarray]:
    """The ``n`` columns of the non-blank lines of ``files``, and the number of such lines per file.

    Text columns come as ``(codes, uniques)`` (int64 codes into the list of distinct values), the
    others as float64 arrays. ``pad_last``: the last column may be missing (it is then ``""``).
    Lines with another number of fields, or a non-number in a numeric column: ValueError from
    ``check_line`` naming the file, the line and the field.
    """
    texts = [read_text(f) for f in files]
    got = _fast(texts, n, text_cols, pad_last)
    if got is not None:
        return got
    cols, counts, rows = _slow(texts, n, text_cols, pad_last)
    if cols is not None:
        return cols, counts
    for k, text in enumerate(texts):
        for line in text.splitlines():
            parts = line.split()
            if not parts:
                continue
            try:
                check_line(parts)
            except ValueError:
                raise locate(files[k], check_line, "bad line") from None
    raise ValueError(f"{files[0] if files else '?'}: a line could not be read (wrong number of fields or a non-number)")
