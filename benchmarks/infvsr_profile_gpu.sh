#!/usr/bin/env bash
# InfVSR per-stage profile and plain-vs-optimised speed on one GPU, in one call of at most ~420 s.
# Full infvsr-1.3b with RANDOM weights (speed and memory only), bf16, LR 180x320 -> SR 720x1280.
#   1. speed  : plain and optimised paths, 33 and 100 frames: seconds, time to first frame, peak memory, the
#               per-stage table (CUDA events) with TFLOP/s from one FlopCounterMode pass;
#   2. parity : optimised vs plain SR frames on the same real-photo clip (max |diff|, PSNR; >= 45 dB needed);
#   3. 1080p  : optimised path, LR 270x480 -> 1080x1920 (tiled VAE), 21 frames: seconds and peak memory;
#   4. 4K     : optimised path, LR 540x960 -> 2160x3840 (tiled VAE), 9 frames, cold (no warm-up: time);
#   5. ablate : optimised path with one speed-up off at a time, 33 frames.
# Each step has its own time limit and is skipped when the remaining budget is below it, so a slow or failing
# step cannot stop the others. Writes 6 files to $OUT (or /tmp/gpu_check): infvsr_profile_<step>.log and infvsr_profile.json.
#   bash benchmarks/infvsr_profile_gpu.sh                                   # on a CUDA machine, repo root
#   FAST_SET="sdpa_backends=auto" bash benchmarks/infvsr_profile_gpu.sh  # optimised path with a switch changed
#   DEVICE=cpu PRESET=tiny SMALL=1 bash benchmarks/infvsr_profile_gpu.sh    # the same script end to end on a CPU
cd "$(dirname "$0")/.."
DEVICE="${DEVICE:-cuda}"
PRESET="${PRESET:-infvsr-1.3b}"
BUDGET="${BUDGET:-420}"  # seconds for the whole script
source benchmarks/_gpu_env.sh  # DEVICE=cpu skips its GPU queries
if [ -n "${SMALL:-}" ]; then  # tiny sizes for the CPU check
    S720=8x8; S1080=12x12; S4K=16x16; F_SPEED=9,21; F_PAR=9; F_1080=9; F_4K=9
else
    S720=180x320; S1080=270x480; S4K=540x960; F_SPEED=33,100; F_PAR=33; F_1080=21; F_4K=9
fi
P="$PY benchmarks/infvsr_profile.py --preset $PRESET --device $DEVICE"
for kv in ${FAST_SET:-}; do P="$P --set $kv"; done  # e.g. FAST_SET="sdpa_backends=flash_attention" for a rerun
"$PY" -c "import scenedetect" 2>/dev/null || echo "WARNING: scenedetect is missing (put its wheel in .whl/): steps will fail"

JSONS="$(mktemp -d)"  # per-step JSON, merged into one file at the end (the output folder takes <= 8 files)
run_step() {  # run_step NAME LIMIT ARGS...: skipped when the budget left is below LIMIT
    local name=$1 limit=$2; shift 2
    local left=$((BUDGET - SECONDS))
    if [ "$left" -lt "$limit" ]; then
        echo "== $name: skipped ($left s of the budget left, needs $limit s)"
        return 0
    fi
    step "infvsr_profile_$name" "$limit" $P "$@" --json "$JSONS/$name.json"
}
run_step speed 160 --step speed --lr-size "$S720" --frames "$F_SPEED" --flops
run_step parity 60 --step parity --lr-size "$S720" --frames "$F_PAR"
run_step 1080p 50 --step size --lr-size "$S1080" --frames "$F_1080" --warmup "$F_1080"
run_step 4k 70 --step size --lr-size "$S4K" --frames "$F_4K" --warmup 0
run_step ablate 75 --step ablate --lr-size "$S720" --frames "$F_PAR" --warmup 21
"$PY" benchmarks/infvsr_profile_summary.py "$JSONS" "$OUTDIR/infvsr_profile.json" || FAILED=$((FAILED + 1))
rm -rf "$JSONS"
echo "== $FAILED step(s) failed; $SECONDS s in all; files in $OUTDIR:"
ls "$OUTDIR"
exit $((FAILED > 0))
