"""How close the one-call-per-frame learned metrics already run to the machine's dense float32 rate.

Batching frames can only remove per-call overhead and raise the arithmetic rate of small kernels; it cannot
remove arithmetic. So the most any batched fp32 path can gain over the per-frame peer of
``learned_speed.py`` is (the machine's attainable float32 rate) / (the rate the per-frame peer reaches). This
script measures both in one run, on the same frames and networks (seeded random weights):

* **per-frame GFLOP**: ``torch.utils.flop_counter.FlopCounterMode`` over one per-frame peer call
  (convolutions, matmuls and attention; elementwise work is not counted, so the rates below are if anything
  low);
* **peer GFLOP/s**: that count × frames / the fastest of ``--repeat`` timed per-frame passes;
* **attainable GFLOP/s**: the faster of a square float32 matmul (``--matmul`` elements a side) and a
  large 3×3 convolution (256 → 256 channels, 16 maps of 128×96), each the fastest of ``--repeat``, with the
  same threads — what well-tuned dense float32 kernels reach here;
* **headroom** = attainable / peer: an upper bound on what batching can gain in exact float32.

    python benchmarks/learned_flops.py [--frames 4] [--size 256x192] [--metrics lpips,dists] [--matmul 3072]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from _frames import log, make_frames, parse_names, parse_size, to_tensor  # sibling module: run as files
from learned_speed import per_frame_peer
from metric_speed import best_of

METRICS = ("lpips", "lpips-vgg", "dists", "tlp", "musiq", "clipiqa")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=4, help="frames per timed per-frame pass (default 4)")
    p.add_argument("--size", default="256x192", help="WIDTHxHEIGHT (default 256x192)")
    p.add_argument("--repeat", type=int, default=3, help="timed passes; the fastest counts (default 3)")
    p.add_argument("--metrics", default=",".join(METRICS), help="comma-separated subset (default: all)")
    p.add_argument("--matmul", type=int, default=3072, help="side of the float32 matmul (default 3072)")
    p.add_argument("--json", dest="json_path", default=None, help="also write the results here")
    args = p.parse_args(argv)
    width, height = parse_size(p, args.size)
    names = parse_names(p, args.metrics, METRICS)
    if args.frames < 2 or args.repeat < 1 or args.matmul < 64:
        p.error("--frames must be >= 2, --repeat >= 1, --matmul >= 64")

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from infvsr_bench.metrics import get_metric

    hr8, sr8 = make_frames(args.frames, width, height)
    hr, sr = to_tensor(hr8), to_tensor(sr8)
    a = torch.randn(args.matmul, args.matmul)
    b = torch.randn(args.matmul, args.matmul)
    x, w = torch.randn(16, 256, 96, 128), torch.randn(256, 256, 3, 3)
    conv = lambda: torch.nn.functional.conv2d(x, w, padding=1)
    with torch.inference_mode():
        a @ b, conv()  # warm-up
        mm_rate = 2 * args.matmul ** 3 / best_of(lambda: a @ b, args.repeat)[0] / 1e9
        conv_rate = 2 * x.numel() * 256 * 9 / best_of(conv, args.repeat)[0] / 1e9  # MACs = out elements * 256*3*3
    attainable = max(mm_rate, conv_rate)
    log(f"float32 matmul {args.matmul}^2: {mm_rate:.1f} GFLOP/s, 3x3 conv 256->256: {conv_rate:.1f} GFLOP/s")

    rows: dict[str, dict[str, float]] = {}
    for name in names:
        metric = get_metric(name, pretrained=False)
        peer = per_frame_peer(name, metric.net)
        with torch.inference_mode():
            peer(sr[:2], hr[:2])  # warm-up (also builds CLIP-IQA's prompt features)
            with FlopCounterMode(display=False) as counter:
                peer(sr, hr)
            flops = counter.get_total_flops() / args.frames  # per frame of the stream
            t = best_of(lambda: peer(sr, hr), args.repeat)[0]
        rate = flops * args.frames / t / 1e9
        rows[name] = {"gflop_per_frame": flops / 1e9, "peer_gflops": rate, "headroom": attainable / rate}
        log(f"{name}: {flops / 1e9:.2f} GFLOP/frame, per-frame peer {rate:.1f} GFLOP/s, "
            f"headroom {attainable / rate:.2f}x")
        del metric

    threads = torch.get_num_threads()
    print(f"per-frame peers against dense float32 (random weights: speed only), {args.frames} frames of "
          f"{width}x{height}, {threads} threads, "
          f"load average {os.getloadavg()[0]:.1f}; attainable: {attainable:.1f} GFLOP/s "
          f"(float32 matmul {args.matmul}^2 {mm_rate:.1f}, 3x3 conv {conv_rate:.1f})")
    print("| metric | GFLOP per frame | per-frame peer GFLOP/s | share of attainable | headroom |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['gflop_per_frame']:.2f} | {r['peer_gflops']:.1f} | "
              f"{r['peer_gflops'] / attainable:.0%} | {r['headroom']:.2f}x |")
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump({"frames": args.frames, "size": [width, height], "threads": threads,
                       "attainable_gflops": attainable, "matmul_gflops": mm_rate, "conv_gflops": conv_rate,
                       "torch": torch.__version__, "results": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
