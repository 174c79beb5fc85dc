"""COCO JSON files to flat arrays with msgspec, without a Python dict per annotation.

msgspec (a maintained C JSON library) decodes a results or ground-truth file
straight into small typed records (``msgspec.Struct`` with ``gc=False``: no
dict, no key strings, no cyclic-GC tracking per detection), which
:func:`results_arrays` / :func:`gt_arrays` then turn into NumPy arrays with one
``np.fromiter`` per field. Measured on this project's synthetic results files
(100 detections per image, one run, 2-core machine): 500 images (4.6 MB) parse
in 40 ms typed against 94 ms for orjson, 100 ms for msgspec's generic decoder
and 236 ms for ``json.loads``; 5,000 images (47 MB) in 0.31 s against 1.6 s,
1.3 s and 3.2 s. The typed path accepts the common case only (integer ids,
numbers where numbers belong, a 4-number bbox): anything else (string ids, a
``true`` where a number belongs, a missing key) makes it return None and the
caller decodes the file generically and runs the general path, which accepts
what it should and names the row and the field of anything malformed.

A results file that is a JSON array is decoded about ``ROW_BLOCK_BYTES`` (1 MB) of rows at a time
(:func:`decode_blocks`): the file is cut after ``},`` about every megabyte and each piece, wrapped in
brackets, goes to msgspec, which checks it whole. A cut that is not between two rows (inside a string or
a nested object) leaves a piece that is not JSON, so the file is then decoded in one piece. The decoded
rows of one block are turned into arrays while they are in cache and freed before the next: at 5,000
images (47 MB) the results were read in 254-266 ms against 302-390 ms in one piece (same run), with
~80 MB fewer rows alive; at LVIS size (0.5 GB) no list of 5.9 M items is built.

Number lists (a result's ``bbox``, keypoint lists) are kept as msgspec's raw JSON spans and read all at
once by :func:`number_rows` with simdjson, whose float64 buffer skips the Python float (and, for boxes,
the tuple) per value: at 5,000 images the results file was read ~13 % faster (4 floats and a tuple fewer
per detection) for ~25 MB more peak RSS (the joined texts and simdjson's document); at LVIS size its read
went from 6.7 to 4.5-6.0 s. Keypoints at 500 images: 510,000 numbers, the larger part of reading the file
with ``list[float]``.

Errors in the JSON itself (truncated, not JSON, nested too deeply) become
ValueError naming the file, the byte offset, and the line and column.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import re
from collections.abc import Callable
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

__all__ = ["read_source", "decode_generic", "results_arrays", "gt_arrays", "TypedGT", "number_rows", "polygon_rows"]

_MAX_EXACT = float(2**53)


class _Det(msgspec.Struct, gc=False):
    image_id: int
    category_id: int
    bbox: msgspec.Raw  # the JSON text: all boxes are read at once by _result_boxes (number_rows)
    score: float
    segmentation: msgspec.Raw = msgspec.Raw(b"")  # box results with masks (Detectron-style): kept as JSON text


#: an absent raw field (msgspec.Raw cannot be None)
NO_RAW = msgspec.Raw(b"")


class _GTAnn(msgspec.Struct, gc=False):
    id: int
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    area: float = math.nan  # absent: w*h (a JSON file cannot hold NaN, so NaN means absent)
    iscrowd: int = 0
    difficult: Any = None
    ignore: Any = None
    segmentation: msgspec.Raw = NO_RAW  # kept as JSON text: parsed only by a segm evaluation
    keypoints: msgspec.Raw = NO_RAW  # likewise for keypoints
    num_keypoints: float = math.nan


class _GTFile(msgspec.Struct, gc=False):
    images: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    annotations: list[_GTAnn]


class _ResultsDict(msgspec.Struct, gc=False):
    annotations: list[_Det]


_DETS = msgspec.json.Decoder(list[_Det])
_DETS_DICT = msgspec.json.Decoder(_ResultsDict)
_GT = msgspec.json.Decoder(_GTFile)
_ANY = msgspec.json.Decoder()
_NUMBER_LISTS = msgspec.json.Decoder(list[list[float]])  # keypoint lists (number_rows' second reader)

#: results files are decoded about this many bytes of rows at a time (:func:`decode_blocks`); at 5,000
#: images 0.25-4 MB blocks read the file in 254-272 ms (same run), 1 MB at the low end
ROW_BLOCK_BYTES = 1 << 20
_SPACE = re.compile(rb"[ \t\n\r]*")  # JSON's whitespace


def read_source(source: Any, what: str) -> tuple[bytes | None, Any, str]:
    """``(raw bytes, None, name)`` for a path or bytes, ``(None, source, name)`` for an object already parsed."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        try:
            with open(name, "rb") as f:
                return f.read(), None, name
        except OSError as exc:
            raise ValueError(f"{what}: cannot read {name!r} ({exc.strerror or exc})") from None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None, "<bytes>"
    return None, source, f"<{type(source).__name__}>"


def _where(raw: bytes, offset: int) -> str:
    offset = max(0, min(offset, len(raw)))
    line = raw.count(b"\n", 0, offset) + 1
    col = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line} column {col} (byte {offset})"


def decode_generic(raw: bytes, name: str) -> Any:
    """Python objects of a JSON document; ValueError with the byte offset for anything that is not JSON."""
    try:
        return _ANY.decode(raw)
    except msgspec.DecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(byte (\d+)\)", msg)
        if m is not None:
            reason = msg.split(":", 1)[-1].split("(byte")[0].strip()
            raise ValueError(f"{name}: malformed JSON at {_where(raw, int(m.group(1)))}: {reason}") from None
        if "truncated" in msg:
            if not raw.strip():
                raise ValueError(f"{name}: malformed JSON: the file is empty (byte 0)") from None
            raise ValueError(
                f"{name}: malformed JSON (truncated): the file ends at {_where(raw, len(raw))} inside a value"
            ) from None
        raise ValueError(f"{name}: malformed JSON: {msg}") from None
    except msgspec.ValidationError as exc:  # a number beyond float64's range
        raise ValueError(f"{name}: malformed JSON: {exc} (JSON path)") from None
    except RecursionError:
        raise ValueError(f"{name}: malformed JSON: arrays/objects nested too deeply to read") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8 text (byte {exc.start})") from None


@contextlib.contextmanager
def _gc_paused():
    """The cyclic GC paused while half a million acyclic objects are made (bbox tuples are GC-tracked
    and would trigger repeated full collections that find nothing)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _floats(values: Any, n: int) -> np.ndarray:
    return np.fromiter(values, np.float64, n)


def _ids(rows: list, attr: str, n: int) -> np.ndarray | None:
    try:
        out = _floats(map(attrgetter(attr), rows), n)
    except OverflowError:  # an integer beyond float64: the general path names it
        return None
    if n and not (np.abs(out) < _MAX_EXACT).all():
        return None  # ids beyond 2**53: the general path keeps them exact (object array)
    return out


def _bboxes(rows: list, n: int) -> np.ndarray:
    return np.fromiter(chain.from_iterable(map(attrgetter("bbox"), rows)), np.float64, 4 * n).reshape(n, 4)


def _result_boxes(rows: list, n: int) -> np.ndarray | None:
    # (n, 4) boxes of results rows from their raw ``bbox`` texts (one number_rows call); None unless every
    # row's bbox is a list of exactly 4 numbers (the general path then names the row)
    parsed = number_rows([r.bbox for r in rows])
    if parsed is None:
        return None
    values, offsets = parsed
    if not (np.diff(offsets) == 4).all():
        return None
    return values.reshape(n, 4)


def decode_rows(raw: bytes, as_list: msgspec.json.Decoder, as_dict: msgspec.json.Decoder) -> list | None:
    """The rows of a results file: a JSON list (``as_list``), or an object whose ``annotations`` holds it
    (``as_dict``, some exporters); None when the typed decoders do not take the file (the caller then reads
    it the general way, which words the errors)."""
    try:
        return as_list.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        try:
            return as_dict.decode(raw).annotations
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return None


def results_arrays(raw: bytes) -> dict | None:
    with _gc_paused():
        return _results_arrays(raw)


def _results_arrays(raw: bytes) -> dict | None:
    """Arrays of a results file in the common case (see the module docstring), else None.

    Keys: ``image_id``, ``category_id`` (float64, exact integers), ``bbox``
    ``(N, 4)``, ``score``; a JSON object with an ``annotations`` list is read
    as that list.
    """
    if b'"segmentation"' not in raw[:8192]:  # box results with masks: the one-piece path keeps their texts
        parts = decode_blocks(raw, _DETS, _box_arrays)
        if parts is not None:
            return dict(join_parts(parts), segm_raw=None)
    rows = decode_rows(raw, _DETS, _DETS_DICT)
    if rows is None:
        return None
    out = _box_arrays(rows)
    if out is not None:
        out["segm_raw"] = _segm_texts(raw, rows)
    return out


def _box_arrays(rows: list) -> dict | None:
    # image_id, category_id, bbox, score of decoded _Det rows; None outside the common case
    n = len(rows)
    image_id = _ids(rows, "image_id", n)
    category_id = _ids(rows, "category_id", n)
    boxes = _result_boxes(rows, n) if n else np.zeros((0, 4))
    if image_id is None or category_id is None or boxes is None:
        return None
    return {
        "image_id": image_id,
        "category_id": category_id,
        "bbox": boxes,
        "score": _floats(map(attrgetter("score"), rows), n),
    }


def array_spans(raw: bytes, block_bytes: int | None = None) -> list[tuple[int, int]] | None:
    """Where to cut the top-level JSON array ``raw`` into blocks of rows: ``[(start, stop), ...]``.

    ``raw[start:stop]`` of each span is a candidate block (rows and their separating commas, without the
    outer brackets), cut after a ``},`` found at least ``block_bytes`` (default ``ROW_BLOCK_BYTES``)
    after the previous cut. None when ``raw`` (stripped) does not start with ``[`` and end with ``]``.
    This only proposes cuts: :func:`decode_blocks` has msgspec check every block whole, and a cut
    inside a string or a nested object makes its block fail to decode (it ends inside that string or
    object).
    """
    size = ROW_BLOCK_BYTES if block_bytes is None else block_bytes
    start = _SPACE.match(raw).end()  # (no strip(): that would copy the file)
    end = len(raw) - 1
    while end > start and raw[end] in b" \t\n\r":
        end -= 1
    if end <= start or raw[start] != 0x5B or raw[end] != 0x5D:  # [ ... ]
        return None
    spans = []
    lo = start + 1
    while True:
        cut = raw.find(b"},", lo + max(size - 1, 0), end)
        if cut < 0:
            break
        spans.append((lo, cut + 1))
        lo = cut + 2
    spans.append((lo, end))
    return spans


def decode_blocks(raw: bytes, decoder: msgspec.json.Decoder, convert: Callable[[list], Any]) -> list | None:
    """``[convert(rows), ...]`` for the blocks of rows of the top-level JSON array ``raw``, else None.

    ``decoder`` decodes a JSON array of rows (``list[Struct]``); each block (:func:`array_spans`) is
    decoded, handed to ``convert`` (which turns the rows into arrays and must not keep them) and freed
    before the next. None (the caller decodes the file in one piece, which words any error) when
    ``raw`` is not an array, a block does not decode (a malformed row, or a cut that was not between
    two rows), a block after a cut holds no row (a trailing comma), or ``convert`` returns None.
    """
    spans = array_spans(raw)
    if spans is None:
        return None
    view = memoryview(raw)
    parts = []
    for a, b in spans:
        try:
            rows = decoder.decode(b"[" + view[a:b] + b"]")
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return None
        if not rows and len(spans) > 1:
            return None  # "},]" or "}, ]": one decode refuses the trailing comma
        part = convert(rows)
        del rows
        if part is None:
            return None
        parts.append(part)
    return parts


def join_parts(parts: list) -> dict:
    """The arrays of :func:`decode_blocks`' parts (dicts of arrays) joined key by key (a key's parts are
    freed as it is joined)."""
    if len(parts) == 1:
        return parts[0]
    out = {}
    for key in list(parts[0]):
        out[key] = np.concatenate([p.pop(key) for p in parts])
    return out


def _segm_texts(raw: bytes, rows: list) -> list | None:
    # the segmentation texts of box results when every detection has one (looked for only when the file's
    # start mentions them, so box-only files pay nothing); None otherwise
    if b'"segmentation"' not in raw[:8192]:
        return None
    texts = [r.segmentation for r in rows]
    return texts if texts and min(map(len, texts)) > 0 else None


class TypedGT:
    """A ground-truth file read by :func:`gt_arrays`: image and category dicts, annotation arrays."""

    def __init__(self, images: list, categories: list, arrays: dict) -> None:
        self.images = images
        self.categories = categories
        self.arrays = arrays


def gt_arrays(raw: bytes) -> TypedGT | None:
    with _gc_paused():
        return _gt_arrays(raw)


def _gt_arrays(raw: bytes) -> TypedGT | None:
    """Images, categories and annotation arrays of a ground-truth file in the common case, else None.

    Annotation arrays: ``ids``, ``image_id``, ``category_id`` (float64 exact
    integers), ``bbox`` ``(N, 4)``, ``area`` (``w*h`` where absent),
    ``iscrowd`` (int64, checked by the caller), ``difficult`` (bool, or None
    when no annotation has a ``difficult`` or ``ignore`` key), ``segm_raw`` / ``kp_raw`` (the JSON text
    of every ``segmentation`` / ``keypoints``, empty where absent; None when none has one) and
    ``num_keypoints`` (NaN where absent; None without keypoints).
    """
    try:
        doc = _GT.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    rows = doc.annotations
    n = len(rows)
    ids = _ids(rows, "id", n)
    image_id = _ids(rows, "image_id", n)
    category_id = _ids(rows, "category_id", n)
    if ids is None or image_id is None or category_id is None:
        return None
    bbox = _bboxes(rows, n)
    area = _floats(map(attrgetter("area"), rows), n)
    absent = np.isnan(area)
    if absent.any():
        area[absent] = bbox[absent, 2] * bbox[absent, 3]
    try:
        iscrowd = np.fromiter(map(attrgetter("iscrowd"), rows), np.int64, n)
    except OverflowError:
        return None
    difficult = None
    if any(r.difficult is not None or r.ignore is not None for r in rows):
        difficult = np.array([bool(r.difficult or 0) or bool(r.ignore or 0) for r in rows], bool)
    segm_raw = [r.segmentation for r in rows]
    kp_raw = [r.keypoints for r in rows]
    has_kp = any(map(len, kp_raw))
    arrays = {
        "segm_raw": segm_raw if any(map(len, segm_raw)) else None,
        "kp_raw": kp_raw if has_kp else None,
        "num_keypoints": _floats(map(attrgetter("num_keypoints"), rows), n) if has_kp else None,
        "ids": ids,
        "image_id": image_id,
        "category_id": category_id,
        "bbox": bbox,
        "area": area,
        "iscrowd": iscrowd,
        "difficult": difficult,
    }
    return TypedGT(doc.images, doc.categories, arrays)


#: number_rows parses its texts a block of about this many bytes at a time: simdjson's document of one
#: block stays in cache and is reused, where one document of a whole file is built in fresh memory. At
#: 5,000 images the keypoints results (35 MB of number texts) were read in 78-82 ms in blocks of 0.5-4 MB
#: against 125-345 ms as one document (same run).
NUMBER_BLOCK_BYTES = 1 << 20


def _simdjson_rows(texts: list, depth: int = 1) -> tuple[np.ndarray, ...] | None:
    # simdjson over blocks of rows: (values, lengths of the rows) for depth 1 (flat number lists), (values,
    # lists per row, lengths of the lists) for depth 2 (lists of number lists); None when any block is
    # outside that case (the bracket count rules out deeper nesting, which as_buffer would flatten)
    import simdjson

    n = len(texts)
    k = min(n, 256)  # the block size is only a size: estimated from the first rows
    step = max(1, k * NUMBER_BLOCK_BYTES // (sum(map(len, texts[:k])) + k))
    parser = simdjson.Parser()
    values, lens, inner = [], [], []
    for lo in range(0, n, step):
        block = texts[lo : lo + step]
        joined = b"[" + b",".join(block) + b"]"
        doc = None
        try:
            doc = parser.parse(joined)
            # as_buffer fills a buffer of its own (writable, kept alive by the array, independent of the
            # document and the parser), so the view needs no copy
            values.append(np.frombuffer(doc.as_buffer(of_type="d"), np.float64))
            lens.append(np.fromiter(map(len, doc), np.int64, len(block)))
            if depth == 2:
                inner.append(np.fromiter(map(len, chain.from_iterable(doc)), np.int64, int(lens[-1].sum())))
        except (ValueError, TypeError, RuntimeError):
            return None  # (TypeError: a number where depth 2 expects a list)
        finally:
            del doc
        if joined.count(b"[") != 1 + len(block) + (inner[-1].size if depth == 2 else 0):
            return None
    out = values[0] if len(values) == 1 else np.concatenate(values)
    counts = [np.concatenate(lens)] + ([np.concatenate(inner)] if depth == 2 else [])
    return (out, *counts) if counts[-1].sum() == out.shape[0] else None


def polygon_rows(texts: list) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(values, n_polygons, lengths)`` of JSON texts that are each a list of flat number lists (COCO
    polygons), read by simdjson like :func:`number_rows`; None for anything else (no rows, an empty list,
    a number where a list belongs, deeper nesting, strings, ``null``, booleans, integers beyond 64 bits).

    ``values``: every coordinate in order (float64, the values msgspec gives); ``n_polygons``: int64, one
    per text; ``lengths``: int64, the number of coordinates of each polygon in order.
    """
    if not texts:
        return None
    return _simdjson_rows(texts, depth=2)


def number_rows(texts: list) -> tuple[np.ndarray, np.ndarray] | None:
    """``(values, offsets)`` of JSON texts that are each one flat array of numbers (keypoint lists), or None.

    ``texts``: JSON spans (``bytes`` / ``msgspec.Raw``) as msgspec delimited them. They are parsed as
    arrays of about ``NUMBER_BLOCK_BYTES`` by simdjson (pysimdjson, a maintained C++ JSON library),
    whose ``as_buffer`` writes every number straight into a float64 buffer: no Python float per number,
    which is what makes msgspec's ``list[float]`` decode the larger part of reading a keypoints file.
    ``values`` (float64, every number in order) and ``offsets`` (int64, ``n + 1``: where each row
    starts). Both parsers round decimal text and integers to the nearest float64, so the values are the
    ones msgspec gives.

    None (the caller then decodes with msgspec, which names the row at fault) for anything else: no rows,
    a row that is not an array, nested arrays (each block's text holds exactly one ``[`` per
    row besides the outer one: strings, which could hide one, make ``as_buffer`` refuse), ``null``,
    booleans or strings among the numbers, or an integer beyond 64 bits: those texts go to msgspec's
    typed decode (``list[list[float]]``), and None when that refuses them too (the caller then reads the
    rows one by one and names the one at fault). Empty rows are kept (offsets equal).
    """
    n = len(texts)
    if n == 0:
        return None
    parsed = _simdjson_rows(texts)
    if parsed is not None:
        values, lens = parsed
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(lens, out=offsets[1:])
        return values, offsets
    joined = b"[" + b",".join(texts) + b"]"
    try:
        with _gc_paused():
            lists = _NUMBER_LISTS.decode(joined)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.fromiter(map(len, lists), np.int64, n), out=offsets[1:])
    return np.fromiter(chain.from_iterable(lists), np.float64, int(offsets[-1])), offsets
