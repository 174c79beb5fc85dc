"""Run every asv benchmark once, in one process: a fast check that no benchmark is broken.

``asv run --quick`` starts a fresh interpreter per benchmark and parameter combination (each reloading
the JIT cache and rebuilding its data), which takes over an hour on a 2-core machine for this suite.
This runner imports each ``benchmarks/bench_*.py``, and for every benchmark and parameter combination
calls ``setup`` then the benchmark once (``timeraw_*`` code is executed in this process). A setup that
raises ``NotImplementedError`` is asv's skip and counts as skipped. Exit status 1 if anything failed.

    python -m benchmarks.smoke [--max-combos N] [name-substring ...]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import itertools
import pkgutil
import sys
import time
import traceback
from pathlib import Path

PREFIXES = ("time_", "peakmem_", "mem_", "track_", "timeraw_")


def _benchmarks(module):
    for name, obj in vars(module).items():
        if inspect.isclass(obj) and obj.__module__ == module.__name__:
            methods = [m for m in dir(obj) if m.startswith(PREFIXES)]
            if methods:
                yield name, obj, methods
        elif inspect.isfunction(obj) and name.startswith(PREFIXES) and obj.__module__ == module.__name__:
            yield name, None, [name]


def _combos(obj, limit):
    params = getattr(obj, "params", None)
    if params is None or params == []:
        return [()]
    if not isinstance(params, (list, tuple)) or not params or not isinstance(params[0], (list, tuple)):
        params = [params]
    combos = list(itertools.product(*params))
    return combos if limit is None else combos[:limit]


def run(filters, limit):
    here = Path(__file__).resolve().parent
    failed, ran, skipped = [], 0, 0
    cache = {}
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if not info.name.startswith("bench_"):
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        for name, cls, methods in _benchmarks(module):
            for method in methods:
                label = f"{info.name}.{name}" + (f".{method}" if cls is not None else "")
                if filters and not any(f in label for f in filters):
                    continue
                for combo in _combos(cls, limit) if cls is not None else [()]:
                    t0 = time.perf_counter()
                    try:
                        if cls is None:
                            code = getattr(module, method)()
                            exec(compile(code, label, "exec"), {})
                        else:
                            inst = cls()
                            # asv passes setup_cache()'s result first to setup and to each benchmark
                            args = combo
                            if hasattr(inst, "setup_cache"):
                                if cls not in cache:
                                    cache[cls] = inst.setup_cache()
                                args = (cache[cls], *combo)
                            if hasattr(inst, "setup"):
                                try:
                                    inst.setup(*args)
                                except NotImplementedError:
                                    skipped += 1
                                    continue
                            result = getattr(inst, method)(*args)
                            if method.startswith("timeraw_"):
                                exec(compile(result, label, "exec"), {})
                            if hasattr(inst, "teardown"):
                                inst.teardown(*args)
                        ran += 1
                        print(f"ok    {time.perf_counter() - t0:7.2f}s  {label}{list(combo) or ''}", flush=True)
                    except Exception:
                        failed.append(f"{label}{list(combo)}")
                        print(f"FAIL  {label}{list(combo)}\n{traceback.format_exc()}", flush=True)
    print(f"\n{ran} passed, {len(failed)} failed, {skipped} skipped (NotImplementedError in setup)")
    for f in failed:
        print("failed:", f)
    return 1 if failed else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filters", nargs="*", help="only benchmarks whose name contains one of these")
    parser.add_argument("--max-combos", type=int, default=None, help="at most this many parameter combinations")
    args = parser.parse_args(argv)
    return run(args.filters, args.max_combos)


if __name__ == "__main__":
    sys.exit(main())
