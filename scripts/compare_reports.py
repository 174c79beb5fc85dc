"""Compare the speed ratios of two ``detbench report`` runs (issue 20: back-to-back runs agree within 20 %).

    python scripts/compare_reports.py RUN_A/results.json RUN_B/results.json [--tolerance 0.2]

Prints, for each case of the speed table present in both runs, the two speedups (detbench vs peer) and
their relative difference |b - a| / a; exits 1 when one exceeds the tolerance.
"""

from __future__ import annotations

import argparse
import json
import math
import sys


def speed_rows(path: str) -> dict[tuple[str, str, str], float]:
    with open(path) as fh:
        data = json.load(fh)
    rows = data.get("sections", {}).get("speed", {}).get("tables", {}).get("speed", [])
    out = {}
    for r in rows:
        s = r.get("speedup")
        if s is not None and math.isfinite(s):
            out[(str(r.get("primitive")), str(r.get("size")), str(r.get("peer")))] = float(s)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--tolerance", type=float, default=0.2)
    args = ap.parse_args(argv)
    a, b = speed_rows(args.a), speed_rows(args.b)
    common = [k for k in a if k in b]
    if not common:
        print("no speed case in common", file=sys.stderr)
        return 2
    worst, bad = 0.0, 0
    for k in common:
        d = abs(b[k] - a[k]) / a[k]
        worst = max(worst, d)
        flag = "  <-- beyond tolerance" if d > args.tolerance else ""
        bad += d > args.tolerance
        print(f"{k[0]:<40} {k[1]:<28} vs {k[2]:<16} {a[k]:8.2f}x {b[k]:8.2f}x  {100 * d:5.1f} %{flag}")
    tol = 100 * args.tolerance
    print(f"{len(common) - bad} of {len(common)} ratios within {tol:.0f} %; largest change {100 * worst:.1f} %")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
