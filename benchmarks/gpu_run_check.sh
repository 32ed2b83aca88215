#!/usr/bin/env bash
# `infvsr-bench run --device cuda` end to end against `--device cpu` on the same dataset (run from the
# repository root on a CUDA machine; results in $OUT or /tmp/gpu_check):
#   1. builds synthetic-long (first 33 frames of its 3 clips);
#   2. runs bicubic with PSNR, SSIM, flicker, E*warp (DIS) and the learned metrics (random weights:
#      plumbing, never scores) on the CPU and on CUDA, and compares every clip's values (compare_runs.py);
#   3. runs InfVSR 1.3B with random weights on CUDA through the runner (speed, memory, records);
#   4. the runner's `gpu`-marked test (peak device memory recorded).
# Needs PyAV besides the pure-Python wheels of gpu_check.sh (put its wheel in .whl/ where it is missing).
cd "$(dirname "$0")/.."
source benchmarks/_gpu_env.sh
export INFVSR_BENCH_DATA=/tmp/gpu_run_check/data
RUNS=/tmp/gpu_run_check/runs
M="psnr,ssim,flicker,ewarp-dis,lpips:pretrained=false,tlp:pretrained=false,dists:pretrained=false"
M="$M,musiq:pretrained=false,clipiqa:pretrained=false,dover:pretrained=false:window_frames=32"
CLI=("$PY" -m infvsr_bench)

step build 120 "${CLI[@]}" build-dataset synthetic-long --max-frames 33
for dev in cpu cuda; do
    step "run_$dev" 240 "${CLI[@]}" run --method bicubic --dataset synthetic-long --max-frames 33 \
        --metrics "$M" --device "$dev" --out "$RUNS/$dev"
done
step compare 60 "$PY" benchmarks/compare_runs.py "$RUNS/cpu" "$RUNS/cuda" --json "$OUTDIR/compare.json"
step run_infvsr 240 "${CLI[@]}" run --method infvsr --random-weights --dataset synthetic-long --max-frames 33 \
    --metrics psnr,flicker --device cuda --out "$RUNS/infvsr"
cp "$RUNS/cuda/summary.json" "$OUTDIR/summary_bicubic_cuda.json" 2>/dev/null
cp "$RUNS/infvsr/summary.json" "$OUTDIR/summary_infvsr_cuda.json" 2>/dev/null
step runner_test 120 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/test_runner.py
