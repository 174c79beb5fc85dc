"""The ``detbench`` command line: ``detbench demo`` (and more subcommands as they land)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _cmd_demo(args: argparse.Namespace) -> int:
    from detbench.demo import run_demo

    run_demo(quick=not args.full, repeats=args.repeats)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from detbench.report import run_report

    try:
        index = run_report(
            args.out,
            quick=args.quick,
            seed=args.seed,
            sections=args.sections,
            progress=not args.no_progress,
            gt=args.gt,
            dt=args.dt,
            history=None if args.no_history else args.history,
            baseline=args.baseline,
            processes=args.processes,
            protocol=args.protocol,
            formats={
                k: getattr(args, k, None)
                for k in ("gt_format", "dt_format", "names", "image_sizes", "gt_box_format", "dt_box_format")
            },
        )
    except ValueError as exc:
        print(f"detbench report: error: {exc}", file=sys.stderr)
        return 2
    print(f"report written to {index}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="detbench",
        description="Numba-compiled detection primitives: benchmark them against their peers and evaluate mAP.",
    )
    from detbench import __version__

    parser.add_argument("--version", action="version", version=f"detbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser("demo", help="run every kernel on built-in data and print a speed table")
    demo.add_argument("--full", action="store_true", help="larger sizes (default: quick sizes)")
    demo.add_argument("--repeats", type=int, default=5, help="timed runs per case (median is reported)")
    demo.set_defaults(func=_cmd_demo)

    report = sub.add_parser(
        "report",
        help="the main job: speed and accuracy of every primitive against its peers, as an HTML report",
    )
    report.add_argument("--out", default="detbench-report", help="output folder (default: detbench-report)")
    report.add_argument("--quick", action="store_true", help="small sizes, few repeats (under a minute)")
    report.add_argument("--seed", type=int, default=0, help="seed of the built-in synthetic data")
    from detbench.report import section_keys

    keys = section_keys(user_data=None)
    report.add_argument(
        "--sections",
        nargs="+",
        metavar="KEY",
        choices=keys,
        help=f"run only these sections, of: {', '.join(keys)}",
    )
    report.add_argument("--no-progress", action="store_true", help="no progress output on stderr")
    report.add_argument("--gt", metavar="GT.json", help="your COCO ground truth: a report on your detectors")
    report.add_argument(
        "--dt",
        action="append",
        metavar="NAME=DT.json",
        help="a detector's COCO results (repeat for several; needs --gt)",
    )
    report.add_argument(
        "--protocol",
        choices=["coco", "lvis"],
        default="coco",
        help="how --dt detectors are evaluated: coco (default) or lvis (LVIS' federated AP, APr/APc/APf; "
        "an LVIS ground truth)",
    )
    from detbench.eval.cli import add_format_arguments

    add_format_arguments(report)
    report.add_argument(
        "--history",
        default="detbench-history",
        metavar="DIR",
        help="folder keeping every run's results by commit and machine (default: detbench-history)",
    )
    report.add_argument("--no-history", action="store_true", help="keep no record of this run")
    report.add_argument(
        "--baseline",
        metavar="PATH",
        help="compare with an earlier run: a history record, a results.json or a history folder (its newest)",
    )
    report.add_argument(
        "--processes",
        type=int,
        default=3,
        metavar="N",
        help="time each speed case in N fresh processes and report the median (default 3; 1: in this process)",
    )
    report.set_defaults(func=_cmd_report)

    from detbench.eval.cli import add_eval_parser, run_eval

    ev = add_eval_parser(sub)
    ev.set_defaults(func=run_eval)
    return parser


def _polite_threads() -> None:
    """OpenMP threads sleep when idle instead of spinning (``OMP_WAIT_POLICY=passive``) unless the user set it.

    Read once, when an OpenMP runtime starts (torch's on import, Numba's at its first parallel call), so it
    is set here, before either (:func:`detbench._parallel.polite_threads`, also used by the benchmarks). On
    a shared machine spinning threads of one library (or of another process) starve the other's: box_iou
    1000x1000 took 16 ms instead of 0.3 ms with one core busy. The report's machine table shows the value.
    """
    from detbench._parallel import polite_threads
    from detbench._timing import steady_allocator

    polite_threads()
    steady_allocator()  # large temporaries reuse heap pages: no two-speed processes (see its docstring)


def main(argv: Sequence[str] | None = None) -> int:
    _polite_threads()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        code = int(args.func(args) or 0)
        sys.stdout.flush()
    except BrokenPipeError:
        return _reader_gone()
    except SystemExit:  # --help, --version, usage errors: flush now, a closed pipe included
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _reader_gone()
        raise
    return code


def _reader_gone() -> int:
    """The reader of stdout went away (``detbench ... | head``): end quietly, as other command-line tools do."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
