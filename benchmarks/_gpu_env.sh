# Sourced by the GPU check scripts: strict-ish shell, output folder, Python, and this project's pure-Python
# dependencies from .whl/ (wheels) and .whl/py/ (package folders) where the machine lacks them.
# Sets OUTDIR (=$OUT or /tmp/gpu_check, absolute), PY (=$PYTHON or python3), PYTHONPATH, FAILED; defines
# step(). Step limits of a script should sum to under 600 s (one device command's limit).
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
OUTDIR="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"  # absolute: some steps run from benchmarks/
PY="${PYTHON:-python3}"
FAILED=0  # steps that did not end with rc 0 (the scripts exit with it)
if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || exit 1
    export PYTHONPATH="/tmp/site:$PWD/.whl/py:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ "${DEVICE:-cuda}" = cuda ]; then  # DEVICE=cpu: a script checked end to end on a machine without a GPU
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name())"
fi

step() {  # step NAME LIMIT_S COMMAND...: run with a limit, log to $OUTDIR/NAME.log, say how it ended
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" > "$OUTDIR/$name.log" 2>&1
    local rc=$?
    echo "== $name: rc $rc in $((SECONDS - t0)) s"
    tail -n 25 "$OUTDIR/$name.log"
    [ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
    return "$rc"
}
