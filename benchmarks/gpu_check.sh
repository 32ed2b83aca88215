#!/usr/bin/env bash
# One pass of every GPU check, for a CUDA machine (run from the repository root; results go to $OUT, or
# /tmp/gpu_check). Each step has its own time limit, so one failure does not hide the others.
#   1. benchmarks/learned_speed.py at 720p: ours on the stream (fp32, tf32, bf16) vs one call per frame;
#   2. the `gpu`-marked tests: learned metrics, DOVER, fidelity and RAFT flow on CUDA equal the CPU;
#   3. benchmarks/dover_speed.py at 720p: seconds per DOVER window;
#   4. benchmarks/infvsr_gpu.sh: full InfVSR 1.3B (random weights), 33 and 100 frames at 720p.
# Where the machine lacks this project's pure-Python dependencies, put their wheels in .whl/ (and plain
# package folders in .whl/py/): they are installed to /tmp/site first. No weight file is needed.
cd "$(dirname "$0")/.."
source benchmarks/_gpu_env.sh

# subshells cannot raise FAILED: their steps are counted from the exit codes
(cd benchmarks && step learned_speed 150 "$PY" learned_speed.py --device cuda --size 1280x720 --frames 32 \
    --chunk 16 --repeat 3 --precision fp32,tf32,bf16 --json "$OUTDIR/learned_speed_720p.json") || FAILED=$((FAILED + 1))
step tests 100 "$PY" -m pytest -q -s -p no:cacheprovider -m gpu tests/test_learned_cuda.py tests/test_fidelity.py \
    tests/test_temporal.py
(cd benchmarks && step dover_speed 60 "$PY" dover_speed.py --device cuda --size 1280x720 --frames 480 \
    --windows 2 --json "$OUTDIR/dover_speed_720p.json") || FAILED=$((FAILED + 1))
OUT="$OUTDIR" PYTHON="$PY" step infvsr 200 bash benchmarks/infvsr_gpu.sh
echo "== $FAILED step(s) failed"
exit $((FAILED > 0))
