"""Frames/s of our streaming VMAF against ffmpeg's libvmaf run directly on encoded files, in one run.

What it measures, on the same frames, with the same ffmpeg binary, model, conversion and ``n_threads``:

* **ours_memory**: ``get_metric("vmaf")`` fed (T, 3, H, W) float tensors already in memory, ``--chunk``
  frames per ``update()``, then ``finish()`` — what the metric costs inside a run (ffmpeg start-up, the
  uint8 conversion, the pipes, libvmaf, reading the log).
* **ours_files**: the same, with the frames decoded from the two FFV1 files by ``FrameReader`` (PyAV) —
  comparable with the direct run, which decodes too.
* **direct**: ``ffmpeg -i distorted.mkv -i reference.mkv -lavfi "<conversion>...libvmaf=..." -f null -``,
  the way VMAF is usually run, on lossless FFV1 files of the same frames (encoding is not timed).

Frames are real photographs (skimage.data) resized to cover the frame and panned a few pixels per frame,
one scene per photograph; the distorted video is a Gaussian blur (σ = 1.5) plus noise (σ = 4), on the
8-bit grid. Per-frame values of every row must agree exactly (libvmaf logs 6 decimals). Each row is timed
``--repeat`` times (rows interleaved) and the fastest run counts. Results go to stdout, progress to stderr.

    python benchmarks/vmaf_speed.py --frames 100 [--size 960x540] [--threads 4] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _frames import log, pan_frames, to_tensor  # sibling module: run the scripts as files


def make_frames(n: int, width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, H, W, 3) uint8 reference frames panned over photographs, and blurred + noisy distorted ones."""
    import cv2

    hr = pan_frames(n, width, height, margin=1.15)
    rng = np.random.default_rng(seed)
    sr = np.empty_like(hr)
    for i in range(n):
        blurred = cv2.GaussianBlur(hr[i], (0, 0), 1.5).astype(np.float64)
        sr[i] = np.clip(blurred + rng.normal(0.0, 4.0, blurred.shape), 0, 255).round().astype(np.uint8)
    return hr, sr


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=100, help="frames to score (default 100)")
    p.add_argument("--size", default="960x540", help="WIDTHxHEIGHT (default 960x540)")
    p.add_argument("--chunk", type=int, default=8, help="frames per update() for ours (default 8)")
    p.add_argument("--threads", type=int, default=None, help="libvmaf n_threads (default: the metric's default)")
    p.add_argument("--repeat", type=int, default=2, help="timed runs per row; the fastest counts (default 2)")
    p.add_argument("--json", dest="json_path", default=None, help="also write the results here")
    args = p.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        p.error(f"--size must look like 960x540, got {args.size!r}")
    if args.frames < 1 or args.chunk < 1 or args.repeat < 1 or (args.threads is not None and args.threads < 1):
        p.error("--frames, --chunk, --repeat and --threads must be >= 1")

    import torch

    from infvsr_bench.metrics import get_metric
    from infvsr_bench.metrics import vmaf as vmaf_mod
    from infvsr_bench.video_io import FrameReader, FrameWriter

    torch.set_grad_enabled(False)
    params = {} if args.threads is None else {"threads": args.threads}
    metric = get_metric("vmaf", **params)
    threads = metric.params["threads"]

    log(f"making {args.frames} frames of {width}x{height} from skimage photographs ...")
    hr8, sr8 = make_frames(args.frames, width, height)
    hr, sr = to_tensor(hr8), to_tensor(sr8)

    tmp = Path(tempfile.mkdtemp(prefix="vmaf-bench-"))
    log(f"encoding both videos as lossless FFV1 in {tmp} (not timed) ...")
    for name, arr in (("distorted.mkv", sr8), ("reference.mkv", hr8)):
        with FrameWriter(tmp / name, fps=25.0, codec="ffv1") as w:
            for i in range(0, args.frames, 32):
                w.write(arr[i:i + 32])

    def ours_memory() -> np.ndarray:
        metric.reset()
        for i in range(0, args.frames, args.chunk):
            metric.update(sr[i:i + args.chunk], hr[i:i + args.chunk])
        return metric.finish().numpy()

    def ours_files() -> np.ndarray:
        metric.reset()
        readers = zip(FrameReader(tmp / "distorted.mkv", chunk=args.chunk),
                      FrameReader(tmp / "reference.mkv", chunk=args.chunk))
        for s, h in readers:
            metric.update(s, h)
        return metric.finish().numpy()

    conv = vmaf_mod.conversion_filter(metric.matrix, metric.pix_fmt)
    graph = (f"[0:v]{conv}[dis];[1:v]{conv}[ref];"
             f"[dis][ref]{vmaf_mod.libvmaf_filter(metric.model, threads, 'direct.json', 'json')}")
    direct_cmd = [metric.exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
                  "-i", "distorted.mkv", "-i", "reference.mkv", "-lavfi", graph, "-f", "null", "-"]

    def direct() -> np.ndarray:
        res = subprocess.run(direct_cmd, cwd=tmp, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"direct ffmpeg run failed: {res.stderr[-2000:]}")
        frames = json.loads((tmp / "direct.json").read_text())["frames"]
        return np.array([f["metrics"]["vmaf"] for f in frames])

    rows = {"ours_memory": ours_memory, "ours_files": ours_files, "direct": direct}
    best = {k: float("inf") for k in rows}
    values: dict[str, np.ndarray] = {}
    load_before = os.getloadavg()
    ours_memory()  # warm-up: page cache, the model probe is already cached
    for r in range(args.repeat):
        for k, fn in rows.items():
            log(f"timing {k} (run {r + 1}/{args.repeat}) ...")
            t0 = time.perf_counter()
            values[k] = fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    load_after = os.getloadavg()

    results = {k: {"frames": args.frames, "seconds": best[k], "fps": args.frames / best[k],
                   "vmaf_mean": float(values[k].mean())} for k in rows}
    agree = {f"max |{k} - direct|": float(np.abs(values[k] - values["direct"]).max())
             for k in ("ours_memory", "ours_files")}
    ratios = {f"{k}/direct": results[k]["fps"] / results["direct"]["fps"] for k in ("ours_memory", "ours_files")}

    print(f"VMAF at {width}x{height}, {args.frames} frames, chunk {args.chunk}, model {metric.model}, "
          f"n_threads {threads}, ffmpeg {metric.params['ffmpeg']}, libvmaf {metric.params['libvmaf']}, "
          f"{os.cpu_count()} CPUs, load average before {load_before[0]:.2f} / after {load_after[0]:.2f}")
    print(f"conversion: {metric.params['conversion']}")
    print(f"{'row':<12} {'frames':>6} {'seconds':>8} {'frames/s':>9} {'mean VMAF':>10}")
    for k, r in results.items():
        print(f"{k:<12} {r['frames']:>6} {r['seconds']:>8.2f} {r['fps']:>9.2f} {r['vmaf_mean']:>10.6f}")
    print("speed ratios: " + ", ".join(f"{k} = {v:.2f}x" for k, v in ratios.items()))
    print("agreement: " + ", ".join(f"{k} = {v:.1e}" for k, v in agree.items()))
    print("direct command: " + " ".join(direct_cmd[:-5] + ["-lavfi", f'"{graph}"', "-f", "null", "-"]))

    if args.json_path:
        payload = {"size": [width, height], "frames": args.frames, "chunk": args.chunk, "threads": threads,
                   "metric": metric.describe(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
                   "load_average_before": load_before, "load_average_after": load_after,
                   "results": results, "ratios": ratios, "agreement": agree, "direct_command": direct_cmd}
        with open(args.json_path, "w") as f:
            json.dump(payload, f, indent=2)
        log(f"wrote {args.json_path}")
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
