"""InfVSR end-to-end speed and memory: seconds per video, frames/s and peak memory (the Python part of
``benchmarks/infvsr_gpu.sh``).

What is timed: the ``infvsr`` method adapter with **random weights** (the full ``infvsr-1.3b``
architecture: DiT 1.41 B, Wan2.1 VAE, Swin-L encoder) on a synthetic LR video — a real photograph panned one
pixel per frame, so the online scene detector runs but finds no cut — from the first ``step`` to the last
``flush`` frame, with the device synchronised around the clock and every SR frame copied back to the host
(as a writer would). One warm-up video (9 frames) runs first and is not counted. Peak memory is
``torch.cuda.max_memory_allocated`` over the measured video.

The paper reports about 6.82 s for a 33-frame 720×1280 video (and about 20.7 s for 100 frames) on an
unnamed GPU (training used A800-80G); 33 frames = chunks of 9 + 12 + 12 LR frames = 9 latent frames.
Random weights give the same FLOPs and memory as the released ones, never a quality number.

    python benchmarks/infvsr_gpu.py --device cuda --frames 33,100          # the GPU measurement
    python benchmarks/infvsr_gpu.py --preset tiny --device cpu --frames 9,21 --lr-size 8x8   # smoke run
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

PAPER_SECONDS = {33: 6.82, 100: 20.7}


def lr_blocks(frames: int, height: int, width: int, block: int = 12):
    """The synthetic LR video in blocks of (≤ block, 3, h, w) float [0, 1] (never held whole)."""
    from skimage import data
    from skimage.transform import resize

    photo = data.astronaut()
    need_w = width + frames
    if photo.shape[0] < height or photo.shape[1] < need_w:  # small photo for a large / long request
        scale = max(height / photo.shape[0], need_w / photo.shape[1])
        photo = (resize(photo, (int(np.ceil(photo.shape[0] * scale)), int(np.ceil(photo.shape[1] * scale))),
                        anti_aliasing=True) * 255).astype(np.uint8)
    for s in range(0, frames, block):
        crops = [photo[:height, i:i + width] for i in range(s, min(s + block, frames))]
        yield torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255  # (T,h,w,3) -> (T,3,h,w)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_video(method, frames: int, height: int, width: int, device: str) -> dict:
    """Time one video through the adapter; returns seconds, frames/s, peak memory and the chunk schedule."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    method.reset({"fps": 25.0, "frames": frames, "scene_cuts": []})
    out_frames = 0
    _sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for lr in lr_blocks(frames, height, width):
            y = method.step(lr.to(device))
            out_frames += y.float().cpu().shape[0] if y.numel() else 0
        y = method.flush()
        out_frames += y.float().cpu().shape[0] if y.numel() else 0
    _sync(device)
    secs = time.perf_counter() - t0
    if out_frames != frames:
        raise RuntimeError(f"{out_frames} frames out for {frames} in")
    res = {"frames": frames, "seconds": secs, "fps": frames / secs,
           "chunk_boundaries": method.observed_chunk_boundaries, "scene_cuts": method.observed_scene_cuts,
           "state_bytes": method.cache_bytes()}
    if device.startswith("cuda"):
        res["peak_allocated_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
        res["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2 ** 30
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="infvsr-1.3b", choices=["infvsr-1.3b", "tiny"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), bf16 or fp32")
    ap.add_argument("--frames", default="33,100", help="video lengths to time, comma-separated")
    ap.add_argument("--lr-size", default="180x320", help="LR HxW (x4 output: 720x1280)")
    ap.add_argument("--no-scene-detection", action="store_true")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args(argv)

    from infvsr_bench.methods import get_method

    h, w = (int(v) for v in args.lr_size.lower().split("x"))
    lengths = [int(v) for v in args.frames.split(",") if v.strip()]
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda but no CUDA device is available", file=sys.stderr)
        return 2
    method = get_method("infvsr", preset=args.preset, random_weights=True,
                        scene_detection=not args.no_scene_detection, dtype=args.dtype)
    t0 = time.perf_counter()
    method.setup(args.device)
    setup_s = time.perf_counter() - t0
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"InfVSR {args.preset}, RANDOM weights (speed/memory only), {method.run_dtype}, {gpu}; "
          f"LR {h}x{w} -> SR {4 * h}x{4 * w}; setup {setup_s:.1f} s", flush=True)
    warm = run_video(method, 9, h, w, args.device)
    print(f"warm-up: 9 frames in {warm['seconds']:.2f} s (not counted)", flush=True)
    results = []
    for n in lengths:
        r = run_video(method, n, h, w, args.device)
        results.append(r)
        mem = f", peak {r['peak_allocated_gib']:.1f} GiB allocated / {r['peak_reserved_gib']:.1f} GiB reserved" \
            if "peak_allocated_gib" in r else ""
        paper = PAPER_SECONDS.get(n) if (h, w) == (180, 320) and args.preset == "infvsr-1.3b" else None
        note = f" (paper: ~{paper} s on its GPU; ours/paper = {r['seconds'] / paper:.2f})" if paper else ""
        print(f"{n} frames: {r['seconds']:.2f} s per video, {r['fps']:.2f} frames/s{mem}; chunks at "
              f"{r['chunk_boundaries']}, cuts {r['scene_cuts']}; carried state {r['state_bytes'] / 2**20:.1f} MiB"
              f"{note}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"preset": args.preset, "device": gpu, "dtype": str(method.run_dtype), "lr_size": [h, w],
                       "setup_seconds": setup_s, "warmup": warm, "results": results,
                       "random_weights": True, "torch": torch.__version__}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
