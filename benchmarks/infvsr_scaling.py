"""InfVSR DiT streaming cost against video length: rolling KV-cache (flat) vs re-attending to all history.

Runs the same random-weight DiT (a small config; ``--preset`` for others) chunk by chunk over one long
latent stream (3 latent frames = 12 video frames per chunk) with two self-attention caches, in one process:

- ``cached``: the release's rolling cache (:class:`~infvsr_bench.models.infvsr.kv_cache.KVCache`, window one
  previous chunk, preallocated, written in place); per-chunk cost and state size must be flat;
- ``full-history``: the naive alternative — every chunk attends to the keys of *all* earlier chunks of the
  scene (a growing concatenated cache); per-chunk cost and state grow with the chunk index, total time
  quadratically.

Reports per-chunk latency against chunk index (median over blocks of chunks), the total time of the first
L chunks (a causal stream's first L chunks cost the same as a stream of length L) with its ratio to linear
scaling, and the cache bytes at the end. Random weights: a speed measurement only, never a quality figure.

    python benchmarks/infvsr_scaling.py [--chunks 64] [--latent 16x16] [--threads 1] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _frames import log  # noqa: E402

SMALL = dict(dim=128, num_heads=2, ffn_dim=512, text_dim=32, freq_dim=32, num_layers=4)  # head_dim 64: 24|20|20


class GrowingCache:
    """Naive cache: keeps every chunk's K/V of the scene and concatenates them (what a cache without a
    window does). Same driver interface as KVCache."""

    def __init__(self, num_layers: int):
        self.k = [None] * num_layers
        self.v = [None] * num_layers
        self.frames_seen = 0
        self._frames = 0

    def begin_chunk(self, frames, tokens_per_frame, batch, device, dtype):
        self._frames = frames

    def update(self, layer, k, v):
        import torch

        self.k[layer] = k if self.k[layer] is None else torch.cat([self.k[layer], k], dim=2)
        self.v[layer] = v if self.v[layer] is None else torch.cat([self.v[layer], v], dim=2)
        return self.k[layer], self.v[layer]

    def end_chunk(self):
        self.frames_seen += self._frames

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.k + self.v if t is not None)


def run_streams(model, caches: dict, chunks: int, latent_hw: tuple[int, int], seed: int = 0) -> dict[str, list[float]]:
    """Seconds per chunk of each cache's stream. The streams advance in lockstep (chunk i of every variant,
    then chunk i+1), so a change in machine load hits all variants alike. One warm-up forward first."""
    import torch

    g = torch.Generator().manual_seed(seed)
    h, w = latent_hw
    ctx = torch.randn(1, 145, model.config.text_dim, generator=g)
    t = torch.tensor([400.0], dtype=torch.bfloat16)
    x = torch.randn(1, 16, 3, h, w, generator=g)
    times: dict[str, list[float]] = {name: [] for name in caches}
    with torch.inference_mode():
        model(x, t, ctx)  # warm-up (allocator, kernels)
        for i in range(chunks):
            for name, cache in caches.items():
                t0 = time.perf_counter()
                model(x, t, ctx, cache=cache)
                times[name].append(time.perf_counter() - t0)
            if (i + 1) % 16 == 0:
                log(f"chunk {i + 1}/{chunks}: " + ", ".join(f"{n} {1e3 * v[-1]:.0f} ms" for n, v in times.items()))
    return times


def block_stats(times: list[float], block: int) -> list[tuple[int, float, float]]:
    """(first chunk index, median s, fastest s) for consecutive blocks of ``block`` chunks. The fastest is the
    steadier figure on a loaded machine (other processes only ever add time)."""
    return [(i, statistics.median(times[i:i + block]), min(times[i:i + block])) for i in range(0, len(times), block)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=64, help="chunks per stream (3 latent = 12 video frames each)")
    ap.add_argument("--latent", default="16x16", help="latent HxW per frame (video size / 8)")
    ap.add_argument("--preset", default="small", help="'small' (default), 'tiny' or 'infvsr-1.3b'")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadiest on a shared CPU)")
    ap.add_argument("--block", type=int, default=8, help="chunks per latency block")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import torch

    from infvsr_bench.models.infvsr.dit import build_dit

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    h, w = (int(v) for v in args.latent.lower().split("x"))
    model = build_dit("tiny", **SMALL) if args.preset == "small" else build_dit(args.preset)
    cfg = model.config
    tokens = 3 * (h // 2) * (w // 2)
    log(f"DiT {args.preset}: dim {cfg.dim}, {cfg.num_layers} layers, {tokens} tokens per chunk, "
        f"{args.chunks} chunks, threads {args.threads}, load {os.getloadavg()[0]:.1f}")

    caches = {"cached": model.new_cache(), "full-history": GrowingCache(cfg.num_layers)}
    all_times = run_streams(model, caches, args.chunks, (h, w))
    results = {}
    for name, times in all_times.items():
        cum = [sum(times[:n]) for n in range(1, len(times) + 1)]
        results[name] = {"per_chunk_s": times, "cumulative_s": cum, "cache_bytes_end": caches[name].nbytes()}
        log(f"{name}: {cum[-1]:.2f} s total")

    lengths = sorted({max(1, args.chunks // 8), args.chunks // 4, args.chunks // 2, args.chunks})
    print(f"# InfVSR DiT scaling ({args.preset}, {tokens} tokens/chunk, random weights, CPU threads "
          f"{args.threads}, load {os.getloadavg()[0]:.1f})")
    print("\nper-chunk latency (ms; median / fastest over a block of chunks) against chunk index")
    print("| chunks | cached median | cached fastest | full-history median | full-history fastest |")
    print("|---|---|---|---|---|")
    for (i, a, amin), (_, b, bmin) in zip(block_stats(results["cached"]["per_chunk_s"], args.block),
                                          block_stats(results["full-history"]["per_chunk_s"], args.block)):
        print(f"| {i}-{min(i + args.block, args.chunks) - 1} | {1e3 * a:.1f} | {1e3 * amin:.1f} | {1e3 * b:.1f} "
              f"| {1e3 * bmin:.1f} |")
    print("\ntotal time of the first L chunks (s) and its ratio to L × (time per chunk over the first L/8)")
    print("| L chunks | video frames | cached | ratio to linear | full-history | ratio to linear |")
    print("|---|---|---|---|---|---|")
    for n in lengths:
        row = [f"{n}", f"{12 * n - 3}"]
        for name in ("cached", "full-history"):
            cum = results[name]["cumulative_s"]
            base = cum[lengths[0] - 1] / lengths[0]
            row += [f"{cum[n - 1]:.2f}", f"{cum[n - 1] / (base * n):.2f}"]
        print("| " + " | ".join(row) + " |")
    print("\ncache bytes after the last chunk: cached "
          f"{results['cached']['cache_bytes_end']:,}, full-history {results['full-history']['cache_bytes_end']:,}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "tokens_per_chunk": tokens,
                                         "results": results}, indent=1))


if __name__ == "__main__":
    main()
