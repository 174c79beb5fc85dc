#!/usr/bin/env bash
# Run detbench's GPU checks and benchmarks on a machine with an NVIDIA GPU.
#
#   scripts/run_gpu_benchmarks.sh [extra asv run arguments, e.g. --quick]
#
# 1. the CUDA tests on the real device (the same files CI runs on the simulator),
# 2. the PTX check (no fused multiply-adds, no stray float64),
# 3. the asv suite benchmarks/bench_cuda.py in the current environment,
#    recorded under .asv/results for the current commit, then printed.
# Needs: an NVIDIA driver, `pip install -e ".[test,cuda,bench]"` (torch's CUDA
# build gives the torchvision_cuda comparison; without it those cases are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export NUMBA_ENABLE_CUDASIM=0

if ! "$PY" -c "import sys, detbench.cuda as d; sys.exit(0 if d.is_available() else 1)"; then
    echo "no usable CUDA GPU here; the GPU benchmarks would all be skipped" >&2
    "$PY" -c "import detbench.cuda as d, numpy as np; d.box_iou(np.zeros((1, 4)), np.zeros((1, 4)))" || true
    exit 1
fi

echo "== GPU tests on the device"
"$PY" -m pytest -q tests/test_cuda_iou.py tests/test_cuda_nms.py tests/test_cuda_roi_align.py \
    tests/test_cuda_vs_cpu.py tests/test_cuda_runtime.py

echo "== PTX check"
"$PY" -m detbench.cuda._ptx

echo "== asv: benchmarks/bench_cuda.py"
"$PY" -m asv machine --yes >/dev/null
"$PY" -m asv run --python=same --bench bench_cuda --set-commit-hash="$(git rev-parse HEAD)" --show-stderr "$@"
"$PY" -m asv show "$(git rev-parse HEAD)" --bench bench_cuda || true
