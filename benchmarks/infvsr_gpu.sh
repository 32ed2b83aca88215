#!/usr/bin/env bash
# InfVSR on a GPU: full infvsr-1.3b with RANDOM weights (speed and memory only), bf16, LR 180x320 -> SR
# 720x1280, 33 frames (the paper's timing setup: ~6.82 s per video) and 100 frames (~20.7 s in the paper).
# Reports seconds per video, frames/s and peak GPU memory; writes $OUT/infvsr_gpu.json when OUT is set.
#
#   bash benchmarks/infvsr_gpu.sh               # from the repository root, on a CUDA machine
#   PYTHON=.venv/bin/python bash benchmarks/infvsr_gpu.sh
#
# The DiT alone is 2.6 GiB in bf16; with the KV cache (~2 GB at 720p) and the VAE activations the peak is
# expected well under 40 GiB, so an 80 GB card is ample. No weight files are needed (random weights).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
OUTDIR="${OUT:-/tmp/infvsr_gpu}"
mkdir -p "$OUTDIR"
"$PYTHON" - <<'EOF'
import torch
assert torch.cuda.is_available(), "no CUDA device: this benchmark needs a GPU"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}")
EOF
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PYTHON" benchmarks/infvsr_gpu.py --preset infvsr-1.3b --device cuda --dtype bf16 \
    --frames 33,100 --lr-size 180x320 --json "$OUTDIR/infvsr_gpu.json"
echo "results: $OUTDIR/infvsr_gpu.json"
