#!/usr/bin/env bash
# `infvsr-bench run --device cuda` end to end against `--device cpu` on the same dataset (run from the
# repository root on a CUDA machine; results in $OUT or /tmp/gpu_check):
#   1. builds synthetic-long (first 33 frames of its 3 clips);
#   2. runs bicubic with PSNR, SSIM, flicker, E*warp (DIS), the learned and semantic metrics (random weights:
#      plumbing, never scores) on the CPU and on CUDA, and compares every clip's values (compare_runs.py);
#   3. runs InfVSR 1.3B with random weights on CUDA through the runner (speed, memory, records);
#   4. the runner's `gpu`-marked test (peak device memory recorded).
# Needs PyAV and open_clip besides the wheels of gpu_check.sh (put them in .whl/ where they are missing).
# At most 8 files come back from a device run: the step logs and the two summaries.
cd "$(dirname "$0")/.."
source benchmarks/_gpu_env.sh
rm -rf /tmp/gpu_run_check  # a rerun on a warm machine starts afresh (an old run folder would be refused)
export INFVSR_BENCH_DATA=/tmp/gpu_run_check/data
RUNS=/tmp/gpu_run_check/runs
M="psnr,ssim,flicker,ewarp-dis,lpips:pretrained=false,tlp:pretrained=false,dists:pretrained=false"
M="$M,musiq:pretrained=false,clipiqa:pretrained=false,dover:pretrained=false:window_frames=32"
M="$M,semantic-mobilenet:pretrained=false,semantic-clip:pretrained=false,semantic-dino:pretrained=false"
CLI=("$PY" -m infvsr_bench)

step build 60 "${CLI[@]}" build-dataset synthetic-long --max-frames 33
for dev in cpu cuda; do
    step "run_$dev" 150 "${CLI[@]}" run --method bicubic --dataset synthetic-long --max-frames 33 \
        --metrics "$M" --device "$dev" --out "$RUNS/$dev"
done
step compare 30 "$PY" benchmarks/compare_runs.py "$RUNS/cpu" "$RUNS/cuda"
step run_infvsr 120 "${CLI[@]}" run --method infvsr --random-weights --dataset synthetic-long --max-frames 33 \
    --metrics psnr,flicker --device cuda --out "$RUNS/infvsr"
cp "$RUNS/cuda/summary.json" "$OUTDIR/summary_bicubic_cuda.json" 2>/dev/null
cp "$RUNS/infvsr/summary.json" "$OUTDIR/summary_infvsr_cuda.json" 2>/dev/null
step runner_test 60 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/test_runner.py
echo "== $FAILED step(s) failed"
exit $((FAILED > 0))
