"""DOVER on the stream: seconds per scored window, stream frames/s and peak memory (random weights).

DOVER scores a video, not a frame, so there is no per-frame peer: the figure is the cost of the full DOVER
architecture (Swin-T 3D technical branch on 3 × 32 fragment frames, ConvNeXt-T aesthetic branch on 32
frames) per window, and the stream throughput of a clip with the default plan (``windows`` windows of
``window_frames`` frames). One chunk of panned photographs is made once and fed for every chunk of the clip (never a
whole video); only the ``update`` calls are timed. Random weights: same FLOPs as ``DOVER.pth``, never a score.

    python benchmarks/dover_speed.py [--device cuda] [--size 1280x720] [--frames 480] [--windows 2]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from _frames import log, pan_frames  # sibling module: run the scripts as files


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--size", default="640x360", help="WIDTHxHEIGHT of the frames (default 640x360)")
    p.add_argument("--frames", type=int, default=240, help="clip length (default 240)")
    p.add_argument("--windows", type=int, default=1, help="windows per clip (default 1)")
    p.add_argument("--window-frames", type=int, default=240, help="frames per window (default 240, DOVER's)")
    p.add_argument("--chunk", type=int, default=16, help="frames per update() (default 16)")
    p.add_argument("--json", dest="json_path", default=None, help="also write the results here")
    args = p.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        p.error("--size must look like 1280x720")

    import torch

    from infvsr_bench.metrics import get_metric

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    # one chunk of panned photographs, fed again for every chunk of the clip (the cost does not depend on content)
    u8 = pan_frames(args.chunk, width, height)
    chunk = torch.from_numpy(u8).permute(0, 3, 1, 2).to(device).float().div_(255)  # (n,H,W,3)->(n,3,H,W)

    def clip_run() -> tuple[float, dict, dict]:
        metric = get_metric("dover", pretrained=False, device=args.device, windows=args.windows,
                            window_frames=args.window_frames)
        metric.start({"frames": args.frames})
        sync()
        t0 = time.perf_counter()
        for s in range(0, args.frames, args.chunk):
            metric.update(chunk[:min(args.chunk, args.frames - s)], None)
        sync()
        busy = time.perf_counter() - t0
        return busy, metric.compute(), metric.extra()

    log(f"dover: warm-up clip ({args.device}) ...")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    clip_run()  # builds the network, first-call overheads
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    busy, res, extra = clip_run()
    scored = extra["windows_scored"]
    row = {"device": args.device, "gpu": torch.cuda.get_device_name() if cuda else None, "size": [width, height],
           "frames": args.frames, "windows_scored": scored, "seconds": busy, "stream_fps": args.frames / busy,
           "seconds_per_window": busy / max(1, scored), "fused_mean": res["mean"], "random_weights": True,
           "peak_allocated_gib": torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else None,
           "torch": torch.__version__}
    print(f"dover ({args.device}{', ' + row['gpu'] if cuda else ''}), {args.frames} frames of {width}x{height}, "
          f"{scored} window(s) of {args.window_frames}: {busy:.2f} s in update(), {row['stream_fps']:.1f} frames/s, "
          f"{row['seconds_per_window']:.2f} s per window"
          + (f", peak {row['peak_allocated_gib']:.2f} GiB allocated" if cuda else "")
          + " (random weights: speed only)")
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(row, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
