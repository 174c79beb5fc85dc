"""``detbench eval``: evaluate a COCO results file against a COCO ground truth.

::

    detbench eval GT.json DT.json [--protocol coco|voc07|voc12|lvis] [--iou-type bbox|segm|keypoints]
                  [--iou-thresholds T ...] [--max-dets M ...] [--per-class] [--tide]
                  [--out results.json|.csv|.parquet]
    detbench eval GT.json 'results-*.json' [more.json ...] [--workers N | --scheduler ADDRESS]
    detbench eval VOC/Annotations dets/ --gt-format voc --dt-format text [--dt-box-format xywh] [--names F]
    detbench eval labels/ preds/ --gt-format yolo --dt-format yolo --image-sizes images/ [--names F]

``coco`` prints pycocotools' 12-line summary (same numbers, see
:class:`detbench.eval.COCOeval`); ``voc07``/``voc12`` print the VOC07 11-point or
VOC2010+ all-point mAP, each with the other definitions computed from the same
matches (:func:`detbench.eval.voc.evaluate_pr`); ``lvis`` (an LVIS ground truth)
prints lvis-api's federated results (:class:`detbench.eval.LVISEval`;
``--iou-type segm`` for masks, ``--max-dets N`` detections per image). ``--iou-type segm`` /
``keypoints`` with the coco protocol (one COCO results file) evaluates masks / keypoints like
pycocotools' ``COCOeval(gt, dt, "segm" | "keypoints")``. Timing of loading and
evaluation is printed last. ``--tide`` adds the TIDE error breakdown (boxes, IoU 0.5) from the
same matches (``COCOeval.tide()``, ``PRResult.tide()``, ``LVISEval.tide()``); ``--per-class`` /
``--out`` tables exist for every protocol (lvis: ``LVISEval.to_dataframe()``). Also runnable as
``python -m detbench.eval.cli``.

Several results files (or a quoted glob) are shards of one results set
(coco protocol; every image's detections in one shard): they are streamed
through :func:`detbench.eval.evaluate_shards` in this process, or evaluated on
Dask with ``--workers N`` (a local cluster of N processes) or ``--scheduler
ADDRESS`` (:func:`detbench.eval.evaluate_distributed`; the workers read the
files). The numbers are the one-shot evaluation's; the line ``evaluated ...
images, ... detections, ... shards`` says what was read, and ``--out`` JSON
gains an ``evaluated`` entry.

``--gt-format``/``--dt-format`` (``coco``, ``voc``, ``yolo``, ``text``; each side its own, with
``--gt-box-format``/``--dt-box-format`` for text files) read the other formats through
:mod:`detbench.eval.formats` (``--names``: class names; ``--image-sizes``: YOLO's image sizes).

The lead wires :func:`add_eval_parser` / :func:`run_eval` into the
``detbench`` console script.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from typing import Any

import numpy as np

__all__ = ["add_eval_parser", "run_eval", "main", "STAT_NAMES"]

#: names of ``COCOeval.stats`` entries, in order
from detbench.eval.summary import STAT_NAMES  # noqa: E402 - the one table


def _configure(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("gt", help="COCO ground-truth JSON (images, categories, annotations)")
    p.add_argument(
        "dt",
        nargs="+",
        help="COCO results JSON (a list of {image_id, category_id, bbox, score}); several files or a glob: shards",
    )
    add_format_arguments(p)
    p.add_argument("--workers", type=int, metavar="N", help="coco: evaluate the shards on a local Dask cluster")
    p.add_argument("--scheduler", metavar="ADDRESS", help="coco: evaluate the shards on this Dask scheduler")
    p.add_argument(
        "--protocol",
        choices=["coco", "voc07", "voc12", "lvis"],
        default="coco",
        help="coco: pycocotools' AP/AR; voc07: 11-point AP; voc12: VOC2010+ all-point AP; "
        "lvis: lvis-api's federated AP/AR (an LVIS ground truth) (default: coco)",
    )
    p.add_argument(
        "--iou-thresholds",
        type=float,
        nargs="+",
        metavar="T",
        help="IoU thresholds (default: 0.50:0.05:0.95 for coco, 0.5 for voc)",
    )
    p.add_argument(
        "--max-dets",
        type=int,
        nargs="+",
        metavar="M",
        help="coco: maxDets list (default 1 10 100); voc: keep the best M per image and class (default: all)",
    )
    p.add_argument("--per-class", action="store_true", help="also print the per-class table")
    p.add_argument(
        "--out",
        metavar="FILE",
        help="write the results to FILE (.json: stats and table; .csv / .parquet: the per-class table)",
    )
    p.add_argument(
        "--matching", choices=["voc", "coco"], default="voc", help="voc protocols: matching rule (default: voc devkit)"
    )
    p.add_argument("--plus-one", action="store_true", help="voc protocols: +1 pixel widths (VOC devkit convention)")
    p.add_argument(
        "--compat",
        action="store_true",
        help="coco: reproduce pycocotools' quirks (the default; kept for old command lines)",
    )
    p.add_argument(
        "--iou-type",
        choices=["bbox", "segm", "keypoints"],
        default="bbox",
        help="what is compared: boxes, masks (segmentation) or keypoints (OKS; coco only); coco with one "
        "COCO results file, or lvis (default: bbox)",
    )
    p.add_argument(
        "--no-quirks",
        action="store_true",
        help="coco: correct pycocotools' quirks (stats[0] at maxDets=100, annotation id 0, duplicate ids)",
    )
    p.add_argument(
        "--tide",
        action="store_true",
        help="also print the TIDE error breakdown (tidecv's dAP per error type, at IoU 0.5; bbox, one results "
        "file); --out .json gains a 'tide' entry",
    )
    return p


def add_format_arguments(p: argparse.ArgumentParser) -> None:
    """The reader options (:mod:`detbench.eval.formats`): formats per side, class names, image sizes."""
    from detbench.eval.formats import FORMATS

    for side, what in (("gt", "ground truth"), ("dt", "detections")):
        p.add_argument(
            f"--{side}-format",
            choices=FORMATS,
            default="coco",
            help=f"{what}: coco JSON, voc (XML / devkit results), yolo txt or text files (default: coco)",
        )
        p.add_argument(
            f"--{side}-box-format",
            choices=["xyxy", "xywh", "cxcywh"],
            help=f"{what} in the text format: box layout (default: xyxy)",
        )
    p.add_argument("--names", metavar="FILE", help="class names, one per line (line k: id k) or .json/.yaml")
    p.add_argument(
        "--image-sizes",
        metavar="PATH",
        help="yolo: image sizes, a folder of images or a file ('name width height' lines, JSON, or a COCO file)",
    )


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    """The ground truth and the detections in their formats (``--gt-format``/``--dt-format``)."""
    from detbench.eval import load_coco
    from detbench.eval.formats import read_detections, read_ground_truth

    gf, df = getattr(args, "gt_format", "coco"), getattr(args, "dt_format", "coco")
    if gf == "coco" and df == "coco" and not getattr(args, "names", None):
        gt = load_coco(args.gt)
        return gt, gt.load_results(args.dt)
    names, sizes = getattr(args, "names", None), getattr(args, "image_sizes", None)
    if names and gf == "coco" and df != "yolo":
        raise ValueError("--names: a COCO ground truth names its categories (--names serves voc, yolo and text)")
    gt = read_ground_truth(
        args.gt,
        gf,
        names=names if gf != "coco" else None,
        image_sizes=sizes if gf == "yolo" else None,
        box_format=getattr(args, "gt_box_format", None),
    )
    dt = read_detections(
        args.dt,
        df,
        gt,
        names=names if df == "yolo" else None,
        image_sizes=sizes if df == "yolo" and gf != "yolo" else None,
        box_format=getattr(args, "dt_box_format", None),
    )
    return gt, dt


def add_eval_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``eval`` sub-command to an ``argparse`` sub-parser collection; returns it.

    The parser's default ``func`` is :func:`run_eval`.
    """
    p = subparsers.add_parser(
        "eval",
        help="evaluate detections (COCO JSON) with the COCO or VOC protocol",
        description="Evaluate a COCO results file against a COCO ground truth (numbers identical to pycocotools).",
    )
    _configure(p)
    p.set_defaults(func=run_eval)
    return p


def _clean(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return None if math.isnan(v) else v
    if isinstance(v, np.integer):
        return int(v)
    return v


def _print_table(table: Any) -> None:
    """The per-class table on stdout, every row, 3 decimals."""
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.width", 200, "display.precision", 3):
        print(table.to_string(index=False))


def _write_out(args: argparse.Namespace, payload: dict, table: Any) -> None:
    """With ``--out``: write ``payload`` / ``table`` there and say so (an OSError becomes a ValueError)."""
    if not args.out:
        return
    try:
        _write(args.out, payload, table)
    except OSError as exc:
        raise ValueError(f"--out: cannot write {args.out!r} ({exc.strerror or exc})") from None
    print(f"wrote {args.out}")


def _write(path: str, payload: dict, table: Any) -> None:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        if table is None:
            raise ValueError("--out: a .csv file needs a per-class table")
        table.to_csv(path, index=False)
    elif ext == ".parquet":
        if table is None:
            raise ValueError("--out: a .parquet file needs a per-class table")
        table.to_parquet(path, index=False)
    elif ext == ".json":
        if table is not None:
            payload["per_class"] = [{k: _clean(v) for k, v in row.items()} for row in table.to_dict("records")]
        with open(path, "w") as f:
            json.dump(payload, f, indent=2)
    else:
        raise ValueError(f"--out: expected a .json, .csv or .parquet file name, got {path!r}")


#: the largest ``--max-dets`` (more detections per image than any file holds; keeps the kernels' int64 safe)
MAX_DETS_LIMIT = 2**31 - 1


def _check_options(args: argparse.Namespace) -> None:
    """Refuse option values that cannot work, before anything is loaded."""
    if args.iou_thresholds is not None:
        for t in args.iou_thresholds:
            if not (0.0 <= t <= 1.0):  # also refuses NaN
                raise ValueError(f"--iou-thresholds: each threshold must be in [0, 1], got {t}")
    if args.max_dets is not None:
        for m in args.max_dets:
            if not (1 <= m <= MAX_DETS_LIMIT):
                raise ValueError(f"--max-dets: each value must be an integer in [1, {MAX_DETS_LIMIT}], got {m}")
    if args.out:
        _check_writable(args.out)
    workers, scheduler = getattr(args, "workers", None), getattr(args, "scheduler", None)
    if workers is not None and scheduler is not None:
        raise ValueError("--workers and --scheduler: give one of them")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers: expected an integer >= 1, got {workers}")
    if (workers is not None or scheduler is not None or len(_results(args)) > 1) and args.protocol != "coco":
        raise ValueError("--workers/--scheduler and several results files: only with --protocol coco")
    formats = (getattr(args, "gt_format", "coco"), getattr(args, "dt_format", "coco"))
    if _sharded(args) and formats != ("coco", "coco"):
        raise ValueError("--gt-format/--dt-format: several results files (shards) are read as COCO JSON only")
    if (workers is not None or scheduler is not None or len(_results(args)) > 1) and args.compat:
        raise ValueError("--compat: not available with --workers/--scheduler or several results files")
    iou_type = getattr(args, "iou_type", "bbox")
    lvis_masks = iou_type == "segm" and args.protocol == "lvis"  # lvis-api's mask evaluation
    if iou_type != "bbox" and not lvis_masks and (args.protocol != "coco" or _sharded(args)):
        raise ValueError(f"--iou-type {iou_type}: only with --protocol coco and one results file (segm: also lvis)")
    if iou_type != "bbox" and formats != ("coco", "coco"):
        raise ValueError(f"--iou-type {iou_type}: masks and keypoints are read from COCO JSON files only")
    if getattr(args, "tide", False):
        if iou_type != "bbox" or _sharded(args):
            raise ValueError("--tide: boxes only (--iou-type bbox) and one results file")
        thr = args.iou_thresholds if args.iou_thresholds is not None else [0.5]
        if not any(abs(t - 0.5) < 1e-12 for t in thr):
            raise ValueError(f"--tide: the breakdown is taken at IoU 0.5, which --iou-thresholds {thr} leaves out")


def _tide(args: argparse.Namespace, evaluation: Any, payload: dict) -> None:
    """With ``--tide``: print ``evaluation.tide()`` (COCOeval, PRResult or LVISEval) and add it to ``payload``."""
    if not getattr(args, "tide", False):
        return
    t0 = time.perf_counter()
    result = evaluation.tide(0.5)
    print(f"TIDE error breakdown ({time.perf_counter() - t0:0.3f}s; tidecv's numbers from the same matches):")
    print(result.table())
    payload["tide"] = result.to_dict()


#: gt + results files at least this large (bytes) get progress lines on stderr while they load and evaluate
PROGRESS_BYTES = 64 << 20


def _big_inputs(args: argparse.Namespace) -> str | None:
    """``"gt.json (29 MB), results.json (509 MB)"`` when the input files reach :data:`PROGRESS_BYTES`, else None."""
    sizes = []
    for p in (args.gt, *_results(args)):
        if isinstance(p, (str, os.PathLike)) and os.path.isfile(p):
            sizes.append((os.path.basename(os.fspath(p)), os.path.getsize(p)))
    if sum(n for _, n in sizes) < PROGRESS_BYTES:
        return None
    return ", ".join(f"{name} ({n / 1e6:,.0f} MB)" for name, n in sizes)


def _progress(big: str | None, what: str) -> None:
    if big is not None:
        print(f"detbench eval: {what}", file=sys.stderr, flush=True)


def _results(args: argparse.Namespace) -> list:
    return [args.dt] if isinstance(args.dt, (str, os.PathLike)) else list(args.dt)


def _sharded(args: argparse.Namespace) -> bool:
    dts = _results(args)
    return (
        getattr(args, "workers", None) is not None
        or getattr(args, "scheduler", None) is not None
        or len(dts) > 1
        or any(c in os.fspath(dts[0]) for c in "*?[")
    )


def _run_sharded(args: argparse.Namespace) -> tuple[Any, float, float]:
    """The coco protocol on results shards: (CocoResult, load seconds, evaluate seconds)."""
    from detbench.eval import Params, evaluate_distributed, evaluate_shards

    p = Params()
    if args.iou_thresholds:
        p.iouThrs = np.array(args.iou_thresholds, dtype=np.float64)
    if args.max_dets:
        p.maxDets = list(args.max_dets)
    t0 = time.perf_counter()
    if args.workers is not None or args.scheduler is not None:
        res = evaluate_distributed(args.gt, _results(args), p, workers=args.workers, scheduler=args.scheduler)
    else:
        res = evaluate_shards(args.gt, _results(args), p)
    return res, 0.0, time.perf_counter() - t0


def _check_writable(path: str) -> None:
    """``--out`` must be a .json/.csv/.parquet file name that can be written (checked before the evaluation runs)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".json", ".csv", ".parquet"):
        raise ValueError(f"--out: expected a .json, .csv or .parquet file name, got {path!r}")
    if ext == ".parquet" and not any(importlib.util.find_spec(m) for m in ("pyarrow", "fastparquet")):
        raise ValueError(
            f"--out: writing {path!r} needs the package 'pyarrow' (or 'fastparquet'), which is not installed "
            "(pip install pyarrow); .csv and .json need nothing more"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"--out: {path!r} is a directory")
    if not os.path.isdir(folder):
        raise ValueError(f"--out: the directory {folder!r} does not exist")
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            raise ValueError(f"--out: {path!r} is not writable")
    elif not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"--out: cannot create a file in {folder!r} (permission denied)")


def _is_range(thresholds: Any) -> bool:
    """True if ``thresholds`` is one value or evenly spaced ascending values (what ``a:b`` stands for)."""
    t = np.asarray(thresholds, dtype=np.float64)
    if t.size <= 1:
        return True
    step = np.diff(t)
    return bool(step[0] > 0 and np.allclose(step, step[0], rtol=0.0, atol=1e-9))


def _threshold_text(t: float) -> str:
    s = f"{t:0.2f}"
    return s if float(s) == t else f"{t:g}"


def _list_thresholds(text: str, thresholds: Any) -> str:
    """Write a threshold list that is not a range as a list in the summary (pycocotools writes ``first:last``)."""
    t = [float(v) for v in np.asarray(thresholds, dtype=np.float64)]
    if _is_range(t):
        return text
    listed = "[" + ", ".join(_threshold_text(v) for v in t) + "]"
    return text.replace(f"IoU={t[0]:0.2f}:{t[-1]:0.2f}", f"IoU={listed}")


def run_eval(args: argparse.Namespace) -> int:
    """Run ``detbench eval`` with parsed arguments; returns the exit status (0 ok, 2 bad input).

    Option values are checked before the files are read (IoU thresholds in
    [0, 1], ``--max-dets`` in [1, 2**31 - 1], ``--out`` writable), so a bad
    option never costs an evaluation. Thresholds that are not evenly spaced are
    printed as a list (``IoU=[0.50, 0.70, 0.80]``, where pycocotools would write
    ``0.50:0.80``). A results file with no detections warns on stderr and gives
    what pycocotools gives for an empty result set: 0, or -1 where there is no
    ground truth.
    """
    from detbench.eval import COCOeval
    from detbench.eval.voc import evaluate_pr

    try:
        _check_options(args)
        if _sharded(args):
            return _finish_sharded(args)
        args.dt = _results(args)[0]
        big = _big_inputs(args)
        _progress(big, f"reading {big} ...")
        if args.protocol == "lvis":
            return _run_lvis(args, big)
        t0 = time.perf_counter()
        iou_type = getattr(args, "iou_type", "bbox")
        if iou_type == "bbox":
            gt, dt = _load(args)
        else:  # masks / keypoints: the COCO drop-in, which reads what pycocotools' COCO and loadRes read
            from detbench.eval import COCO

            gt = COCO(args.gt)
            dt = gt.loadRes(args.dt)
        t_load = time.perf_counter() - t0
        print(
            f"loaded {len(gt.image_ids)} images, {len(gt.categories)} categories, "
            f"{len(gt.annotations)} ground truths, {len(dt.annotations)} detections ({t_load:0.2f}s)"
        )
        if len(dt.annotations) == 0:
            print(
                f"detbench eval: warning: {args.dt!r} holds no detections; every AP and AR is 0 "
                "(-1 where there is no ground truth), as pycocotools gives for an empty result set",
                file=sys.stderr,
            )
        _progress(big, f"evaluating {len(dt.annotations):,} detections ({args.protocol} protocol) ...")
        t1 = time.perf_counter()
        table = None
        diff = getattr(gt.annotations, "difficult", None) if hasattr(gt, "annotations") else None
        if args.protocol == "coco" and diff is not None and diff.any():
            print(
                f"detbench eval: note: {int(diff.sum())} difficult ground truths count as ordinary objects in the "
                "coco protocol (as in pycocotools); --protocol voc07/voc12 ignores them",
                file=sys.stderr,
            )
        if args.protocol == "coco":
            E = COCOeval(gt, dt, iou_type, pycocotools_quirks=bool(args.compat or not args.no_quirks))
            if args.iou_thresholds:
                E.params.iouThrs = np.array(args.iou_thresholds, dtype=np.float64)
            if args.max_dets:
                E.params.maxDets = list(args.max_dets)
            E.evaluate()
            E.accumulate()
            text = _list_thresholds(E.summary_text(), E.params.iouThrs)
            t_eval = time.perf_counter() - t1
            print(text)
            payload = {
                "protocol": "coco",
                "stats": {name: _clean(v) for name, v in zip(STAT_NAMES, E.stats)},
                "iou_thresholds": [float(t) for t in np.asarray(E.params.iouThrs)],
                "max_dets": [int(m) for m in E.params.maxDets],
            }
            _tide(args, E, payload)  # before the table: it gains the per-class tide_* columns
            if args.per_class or args.out:
                table = E.to_dataframe()
        else:
            thr = args.iou_thresholds or [0.5]
            if args.max_dets and len(args.max_dets) != 1:
                raise ValueError("--max-dets: the voc protocols take one number (per image and class)")
            res = evaluate_pr(
                gt,
                dt,
                iou_thresholds=thr,
                matching=args.matching,
                plus_one=args.plus_one,
                max_dets=args.max_dets[0] if args.max_dets else None,
            )
            t_eval = time.perf_counter() - t1
            main_key = "ap_voc07" if args.protocol == "voc07" else "ap_voc"
            label = "VOC07 11-point" if args.protocol == "voc07" else "VOC2010+ all-point"
            means = res.mean()
            for t, th in enumerate(res.iou_thresholds):
                print(f" Mean Average Precision (mAP) @[ IoU={th:0.2f} | {label:<18s} ] = {means[main_key][t]:0.3f}")
            print(" same matches, other definitions:")
            print(res.summary_text())
            payload = {
                "protocol": args.protocol,
                "matching": args.matching,
                "iou_thresholds": [float(t) for t in res.iou_thresholds],
                "map": {k: [_clean(v) for v in vals] for k, vals in means.items()},
            }
            _tide(args, res, payload)
            if args.per_class or args.out:
                table = res.to_dataframe()
        if args.per_class and table is not None:
            _print_table(table)
        payload["timing_s"] = {"load": t_load, "evaluate": t_eval}
        print(f"timing: load {t_load:0.3f}s, evaluate {t_eval:0.3f}s")
        _write_out(args, payload, table)
        return 0
    except ValueError as exc:
        print(f"detbench eval: error: {exc}", file=sys.stderr)
        return 2


def _run_lvis(args: argparse.Namespace, big: str | None = None) -> int:
    """The lvis protocol: :class:`detbench.eval.LVISEval` (``--max-dets``: one number, detections per image)."""
    from detbench.eval import LVIS, LVISEval, LVISResults

    if args.max_dets and len(args.max_dets) != 1:
        raise ValueError("--max-dets: the lvis protocol takes one number (detections per image, default 300)")
    t0 = time.perf_counter()
    gt = LVIS(args.gt)
    dt = LVISResults(gt, args.dt, max_dets=args.max_dets[0] if args.max_dets else 300)
    t_load = time.perf_counter() - t0
    print(
        f"loaded {len(gt.image_ids)} images, {len(gt.categories)} categories, "
        f"{len(gt.annotations)} ground truths, {len(dt)} detections ({t_load:0.2f}s)"
    )
    _progress(big, f"evaluating {len(dt):,} detections (lvis protocol) ...")
    t1 = time.perf_counter()
    E = LVISEval(gt, dt, getattr(args, "iou_type", "bbox"))
    if args.iou_thresholds:
        E.params.iou_thrs = np.array(args.iou_thresholds, dtype=np.float64)
    E.run()
    t_eval = time.perf_counter() - t1
    print(E.results_text())
    payload = {
        "protocol": "lvis",
        "iou_type": E.params.iou_type,
        "results": {k: _clean(v) for k, v in E.results.items()},
        "iou_thresholds": [float(t) for t in np.asarray(E.params.iou_thrs)],
        "max_dets": dt.max_dets,
        "timing_s": {"load": t_load, "evaluate": t_eval},
    }
    _tide(args, E, payload)
    table = E.to_dataframe() if (args.per_class or args.out) else None
    if args.per_class and table is not None:
        _print_table(table)
    print(f"timing: load {t_load:0.3f}s, evaluate {t_eval:0.3f}s")
    _write_out(args, payload, table)
    return 0


def _finish_sharded(args: argparse.Namespace) -> int:
    res, t_load, t_eval = _run_sharded(args)
    print(res.summary)
    print(f"evaluated {res.n_images} images, {res.n_detections} detections, {res.n_shards} shards")
    table = res.per_class() if (args.per_class or args.out) else None
    if args.per_class and table is not None:
        _print_table(table)
    payload = {
        "protocol": "coco",
        "stats": {name: _clean(v) for name, v in zip(STAT_NAMES, res.stats)},
        "iou_thresholds": [float(t) for t in np.asarray(res.params.iouThrs)],
        "max_dets": [int(m) for m in res.params.maxDets],
        "evaluated": {"images": res.n_images, "detections": res.n_detections, "shards": res.n_shards},
        "timing_s": {"load": t_load, "evaluate": t_eval},
    }
    print(f"timing: load+evaluate {t_eval:0.3f}s (shards are read and matched together)")
    _write_out(args, payload, table)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m detbench.eval.cli``."""
    parser = _configure(argparse.ArgumentParser(prog="detbench eval", description=__doc__.split("\n\n")[0]))
    return run_eval(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
