"""``detbench eval``: evaluate a COCO results file against a COCO ground truth.

::

    detbench eval GT.json DT.json [--protocol coco|voc07|voc12] [--iou-thresholds T ...]
                  [--max-dets M ...] [--per-class] [--out results.json|results.csv]

``coco`` prints pycocotools' 12-line summary (same numbers, see
:class:`detbench.eval.COCOeval`); ``voc07``/``voc12`` print the VOC07 11-point or
VOC2010+ all-point mAP, each with the other definitions computed from the same
matches (:func:`detbench.eval.voc.evaluate_pr`). Timing of loading and
evaluation is printed last. Also runnable as ``python -m detbench.eval.cli``.

The lead wires :func:`add_eval_parser` / :func:`run_eval` into the
``detbench`` console script.
"""

from __future__ import annotations

import argparse
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
    p.add_argument("dt", help="COCO results JSON (a list of {image_id, category_id, bbox, score})")
    p.add_argument(
        "--protocol",
        choices=["coco", "voc07", "voc12"],
        default="coco",
        help="coco: pycocotools' AP/AR; voc07: 11-point AP; voc12: VOC2010+ all-point AP (default: coco)",
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
    p.add_argument("--out", metavar="FILE", help="write the results to FILE (.json: stats and table; .csv: table)")
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
        "--no-quirks",
        action="store_true",
        help="coco: correct pycocotools' quirks (stats[0] at maxDets=100, annotation id 0, duplicate ids)",
    )
    return p


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


def _write(path: str, payload: dict, table: Any) -> None:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        if table is None:
            raise ValueError("--out: a .csv file needs a per-class table")
        table.to_csv(path, index=False)
    elif ext == ".json":
        if table is not None:
            payload["per_class"] = [{k: _clean(v) for k, v in row.items()} for row in table.to_dict("records")]
        with open(path, "w") as f:
            json.dump(payload, f, indent=2)
    else:
        raise ValueError(f"--out: expected a .json or .csv file name, got {path!r}")


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


def _check_writable(path: str) -> None:
    """``--out`` must be a .json/.csv file name that can be written (checked before the evaluation runs)."""
    if os.path.splitext(path)[1].lower() not in (".json", ".csv"):
        raise ValueError(f"--out: expected a .json or .csv file name, got {path!r}")
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


def run_eval(args: argparse.Namespace) -> int:
    """Run ``detbench eval`` with parsed arguments; returns the exit status (0 ok, 2 bad input).

    Option values are checked before the files are read (IoU thresholds in
    [0, 1], ``--max-dets`` in [1, 2**31 - 1], ``--out`` writable), so a bad
    option never costs an evaluation.
    """
    from detbench.eval import COCOeval, load_coco
    from detbench.eval.voc import evaluate_pr

    try:
        _check_options(args)
        t0 = time.perf_counter()
        gt = load_coco(args.gt)
        dt = gt.load_results(args.dt)
        t_load = time.perf_counter() - t0
        print(
            f"loaded {len(gt.image_ids)} images, {len(gt.categories)} categories, "
            f"{len(gt.annotations)} ground truths, {len(dt.annotations)} detections ({t_load:0.2f}s)"
        )
        t1 = time.perf_counter()
        table = None
        if args.protocol == "coco":
            E = COCOeval(gt, dt, "bbox", pycocotools_quirks=bool(args.compat or not args.no_quirks))
            if args.iou_thresholds:
                E.params.iouThrs = np.array(args.iou_thresholds, dtype=np.float64)
            if args.max_dets:
                E.params.maxDets = list(args.max_dets)
            E.evaluate()
            E.accumulate()
            text = E.summary_text()
            t_eval = time.perf_counter() - t1
            print(text)
            if args.per_class or args.out:
                table = E.per_class()
            payload = {
                "protocol": "coco",
                "stats": {name: _clean(v) for name, v in zip(STAT_NAMES, E.stats)},
                "iou_thresholds": [float(t) for t in np.asarray(E.params.iouThrs)],
                "max_dets": [int(m) for m in E.params.maxDets],
            }
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
            if args.per_class or args.out:
                table = res.to_dataframe()
            payload = {
                "protocol": args.protocol,
                "matching": args.matching,
                "iou_thresholds": [float(t) for t in res.iou_thresholds],
                "map": {k: [_clean(v) for v in vals] for k, vals in means.items()},
            }
        if args.per_class and table is not None:
            import pandas as pd

            with pd.option_context("display.max_rows", None, "display.width", 200, "display.precision", 3):
                print(table.to_string(index=False))
        payload["timing_s"] = {"load": t_load, "evaluate": t_eval}
        print(f"timing: load {t_load:0.3f}s, evaluate {t_eval:0.3f}s")
        if args.out:
            try:
                _write(args.out, payload, table)
            except OSError as exc:
                raise ValueError(f"--out: cannot write {args.out!r} ({exc.strerror or exc})") from None
            print(f"wrote {args.out}")
        return 0
    except ValueError as exc:
        print(f"detbench eval: error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m detbench.eval.cli``."""
    parser = _configure(argparse.ArgumentParser(prog="detbench eval", description=__doc__.split("\n\n")[0]))
    return run_eval(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
