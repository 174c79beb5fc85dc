"""Compare Numba threading setups on this machine (the README's "Threading on a shared machine" table).

Each setup (threading layer, OpenMP wait policy, thread count) runs in fresh processes, since both are
fixed when a process starts its first parallel kernel; setups alternate order round by round. Each
process times box_iou 1000x1000, nms on 10k boxes and roi_align of 1000 ROIs with detbench's timing
helper; the table gives the median (min-max) over the processes' medians::

    python scripts/threading_setups.py [--rounds 5] [--tbb-lib DIR]

For the "one core busy" column, run ``python -c "while True: pass" &`` first (and kill it after). The
``tbb`` setup needs ``pip install tbb``; pip puts ``libtbb.so.12`` in ``<venv>/lib`` (``--tbb-lib``,
default: beside this interpreter), which Numba finds only through ``LD_LIBRARY_PATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNELS = ("box_iou_1000", "nms_10k", "roi_align_1000")

CHILD = """
import json
import numpy as np
import numba
import detbench as db
from detbench._timing import time_fn
from detbench.synthetic import random_boxes

a, b = random_boxes(1000, seed=0), random_boxes(1000, seed=1)
boxes = random_boxes(10000, seed=2)
scores = np.random.default_rng(0).random(10000).astype(np.float32)
feat = np.random.default_rng(0).random((1, 256, 200, 272), dtype=np.float32)
rois = np.concatenate([np.zeros((1000, 1), np.float32), random_boxes(1000, image_size=800.0, seed=3)], axis=1)
fns = {
    "box_iou_1000": lambda: db.box_iou(a, b),
    "nms_10k": lambda: db.nms(boxes, scores, 0.5),
    "roi_align_1000": lambda: db.roi_align(feat, rois, 7, 0.25, 2, True),
}
out = {k: time_fn(f, rounds=5, budget_s=3.0).median for k, f in fns.items()}
out["layer"], out["threads"] = numba.threading_layer(), numba.get_num_threads()
print(json.dumps(out))
"""


def setups(tbb_lib: str) -> dict[str, dict[str, str]]:
    return {
        "omp, default wait policy": {"NUMBA_THREADING_LAYER": "omp"},
        "omp, OMP_WAIT_POLICY=passive": {"NUMBA_THREADING_LAYER": "omp", "OMP_WAIT_POLICY": "passive"},
        "workqueue": {"NUMBA_THREADING_LAYER": "workqueue"},
        "tbb": {"NUMBA_THREADING_LAYER": "tbb", "LD_LIBRARY_PATH": tbb_lib},
        "NUMBA_NUM_THREADS=1": {"NUMBA_NUM_THREADS": "1"},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per setup (default 5)")
    parser.add_argument("--tbb-lib", default=str(Path(sys.executable).parent.parent / "lib"))
    args = parser.parse_args(argv)
    configs = setups(args.tbb_lib)
    runs: dict[str, list[dict]] = {name: [] for name in configs}
    for r in range(args.rounds):
        for name in list(configs) if r % 2 == 0 else list(configs)[::-1]:
            env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")}
            env.pop("NUMBA_NUM_THREADS", None)
            env.update(configs[name])
            proc = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True)
            if proc.returncode:
                print(f"{name}: failed ({proc.stderr.strip().splitlines()[-1]})", file=sys.stderr)
                continue
            runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print("| setup | " + " | ".join(KERNELS) + " |")
    print("|---|" + "---|" * len(KERNELS))
    for name, results in runs.items():
        if not results:
            continue
        cells = []
        for k in KERNELS:
            ms = [x[k] * 1e3 for x in results]
            cells.append(f"{statistics.median(ms):.3g} ms ({min(ms):.3g}-{max(ms):.3g})")
        print(f"| {name} [{results[0]['layer']}, {results[0]['threads']} threads] | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
