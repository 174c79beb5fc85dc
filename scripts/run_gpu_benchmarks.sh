#!/usr/bin/env bash
# One command on a machine with an NVIDIA GPU (H100/H200 class): benchmark + GPU tests, < 4 minutes.
#
#   scripts/run_gpu_benchmarks.sh [OUT_DIR]        (default: gpu-results/)
#
# Writes OUT_DIR/gpu_bench.json and OUT_DIR/gpu_bench.md (each kernel: detbench.cuda, torchvision
# CUDA, detbench CPU, ratios, parity), OUT_DIR/ptx.txt, OUT_DIR/tests.txt and OUT_DIR/report/ (the
# report's GPU section alone: `detbench report --quick --sections gpu`, same table shape as its speed section).
# Needs no build: the checkout is used in place (PYTHONPATH). Needs numpy, numba, numba-cuda;
# torch + torchvision with CUDA give the torchvision columns (left empty without them);
# pycocotools is not needed. scripts/gpu_env/sitecustomize.py restores numpy.row_stack for
# numba-cuda <= 0.30.4 under NumPy >= 2.5.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${1:-gpu-results}
mkdir -p "$OUT"
PY=${PYTHON:-python}
export NUMBA_ENABLE_CUDASIM=0
export PYTHONPATH="$ROOT:$ROOT/scripts/gpu_env${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1

if ! "$PY" -c "import sys, detbench.cuda as d; sys.exit(0 if d.is_available() else 1)"; then
    echo "no usable CUDA GPU here" >&2
    "$PY" -c "import detbench.cuda as d, numpy as np; d.box_iou(np.zeros((1, 4)), np.zeros((1, 4)))" || true
    exit 1
fi

echo "== benchmark (budget 150 s)"
timeout 170 "$PY" -m benchmarks.bench_cuda --json "$OUT/gpu_bench.json" --md "$OUT/gpu_bench.md"
bench_rc=$?

echo "== PTX check"
timeout 60 "$PY" -m detbench.cuda._ptx > "$OUT/ptx.txt" 2>&1
ptx_rc=$?
tail -3 "$OUT/ptx.txt"

echo "== GPU tests on the device (budget 180 s; pycocotools and torch optional)"
timeout 180 "$PY" -m pytest -x -q -p no:cacheprovider tests/test_cuda_device_inputs.py tests/test_cuda_iou.py \
    tests/test_cuda_roi_align.py tests/test_cuda_roi_pool.py tests/test_cuda_nms.py tests/test_cuda_nms_family.py \
    tests/test_cuda_vs_cpu.py tests/test_cuda_pool.py > "$OUT/tests.txt" 2>&1
tests_rc=$?
tail -5 "$OUT/tests.txt"

echo "== report, GPU section only (budget 90 s; needs pandas + matplotlib)"
timeout 90 "$PY" -m detbench.cli report --quick --sections gpu --no-history --no-progress --out "$OUT/report" \
    > "$OUT/report.txt" 2>&1
report_rc=$?
tail -3 "$OUT/report.txt"

[ -f "$OUT/gpu_bench.md" ] && cat "$OUT/gpu_bench.md"
echo "exit codes: bench=$bench_rc ptx=$ptx_rc tests=$tests_rc report=$report_rc (124 = ran out of its time budget)"
[ $bench_rc -eq 0 ] && [ $ptx_rc -eq 0 ] && [ $tests_rc -eq 0 ]
