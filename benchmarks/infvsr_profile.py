"""InfVSR per-stage profile and plain-vs-optimised speed (the Python part of ``benchmarks/infvsr_profile_gpu.sh``).

Random weights (speed and memory only, never a quality number), the ``infvsr`` adapter on the real-photo
clip of :mod:`infvsr_gpu` (a photograph panned one pixel per frame: the scene detector runs and finds no cut).

Steps (``--step``):

* ``speed`` — for the **plain** path (every speed-up of :mod:`infvsr_bench.models.infvsr.speedups` off, LR
  frames moved to the GPU before ``step`` and SR frames copied back with a blocking ``.cpu()``, as
  ``infvsr_gpu.py`` measured) and the **optimised** path (speed-ups on, LR frames left on the host, SR frames
  copied to pinned memory without blocking): seconds per video, time to first frame, peak allocated and the
  per-stage table (CUDA events; DiT split into self-attention / cross-attention / MLP / rest) for each length.
  One untimed pass under ``FlopCounterMode`` (``--flops``, first length only) gives FLOPs per stage, so that
  length's tables show TFLOP/s.
* ``parity`` — plain and optimised side by side on the same clip and the same weights: max |diff| and PSNR of
  the SR frames (and plain against a plain rerun: the run-to-run floor).
* ``ablate`` — the optimised path with one speed-up switched off at a time (seconds per video each).

    python benchmarks/infvsr_profile.py --step speed --device cuda --frames 33,100 --flops
    python benchmarks/infvsr_profile.py --preset tiny --device cpu --lr-size 8x8 --frames 9,21 --step speed
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import signal
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from infvsr_gpu import lr_blocks  # noqa: E402  (the benchmarks folder is not a package)

PLAIN = {"sdpa_backends": "auto", "vae_channels_last": False, "vae_fused_pad": False, "scene_host_batch": False,
         "cudnn_benchmark": False, "host_async": False, "vae_native_upsample": False,
         "kv_compact": False}
WARMUP_FRAMES = 28  # chunks of 9, 12 and 7 frames: every chunk shape the timed lengths use (cuDNN autotune)


def log(msg: str) -> None:
    print(msg, flush=True)


def _cuda(device: str) -> bool:
    return device.startswith("cuda")


def _sync(device: str) -> None:
    if _cuda(device):
        torch.cuda.synchronize()


FAST_SET: dict[str, str] = {}  # --set key=value: parameters of the optimised path (e.g. sdpa_backends=auto)


def build(preset: str, device: str, dtype: str, optimised: bool, scene_detection: bool = True, **overrides):
    from infvsr_bench.methods import get_method

    params = dict(FAST_SET) if optimised else dict(PLAIN)
    params.update(overrides)
    m = get_method("infvsr", preset=preset, random_weights=True, dtype=dtype, scene_detection=scene_detection,
                   **params)
    torch.manual_seed(0)
    m.setup(device)
    return m


class HostSink:
    """Where SR frames go: the plain path copies each output with a blocking ``.float().cpu()``; the optimised
    one into pinned memory without blocking, waiting for a copy only once the next chunk's work is queued."""

    def __init__(self, device: str, pinned: bool, profiler=None, keep: bool = False):
        self.device, self.pinned, self.profiler, self.keep = device, pinned and _cuda(device), profiler, keep
        self.frames = 0
        self.first_frame_at: float | None = None
        self.kept: list[torch.Tensor] = []
        self._pending: list[tuple[torch.Tensor, object]] = []
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def _stage(self, nbytes: int):
        from infvsr_bench.models.infvsr.profiling import null_stage

        return self.profiler.stage("host_copy", nbytes=nbytes) if self.profiler is not None else null_stage()

    def put(self, y: torch.Tensor) -> None:
        if not y.numel():
            return
        with self._stage(y.numel() * 4):
            if self.pinned:
                buf = torch.empty(y.shape, dtype=torch.float32, pin_memory=True)
                buf.copy_(y, non_blocking=True)
                ev = torch.cuda.Event()
                ev.record()
                self._pending.append((buf, ev))
            else:
                self._done(y.float().cpu())
        if self.pinned:
            if self.first_frame_at is None:  # the first frame is waited for at once (time to first frame)
                self.drain()
            else:
                while len(self._pending) > 1:
                    self._finish(0)

    def _finish(self, i: int) -> None:
        buf, ev = self._pending.pop(i)
        ev.synchronize()
        self._done(buf)

    def _done(self, host: torch.Tensor) -> None:
        if self.first_frame_at is None:
            self.first_frame_at = time.perf_counter() - self._t0
        self.frames += host.shape[0]
        if self.keep:
            self.kept.append(host)

    def drain(self) -> None:
        while self._pending:
            self._finish(0)


def run_video(method, frames: int, lr_size: tuple[int, int], device: str, optimised: bool, profiler=None,
              keep: bool = False) -> tuple[dict, HostSink]:
    """One video through the adapter, timed from the first ``step`` to the last frame on the host."""
    h, w = lr_size
    if _cuda(device):
        torch.cuda.reset_peak_memory_stats()
    method.reset({"fps": 25.0, "frames": frames, "scene_cuts": []})
    method.pipeline.profiler = profiler
    sink = HostSink(device, pinned=optimised, profiler=profiler, keep=keep)
    _sync(device)
    sink.start()
    t0 = time.perf_counter()
    with torch.inference_mode():
        for lr in lr_blocks(frames, h, w):
            sink.put(method.step(lr if optimised else lr.to(device)))
        sink.put(method.flush())
        sink.drain()
    _sync(device)
    secs = time.perf_counter() - t0
    method.pipeline.profiler = None
    if sink.frames != frames:
        raise RuntimeError(f"{sink.frames} frames out for {frames} in")
    res = {"frames": frames, "seconds": secs, "fps": frames / secs, "first_frame_s": sink.first_frame_at,
           "chunk_boundaries": method.observed_chunk_boundaries, "scene_cuts": method.observed_scene_cuts,
           "state_gib": method.cache_bytes() / 2 ** 30}
    if _cuda(device):
        res["peak_allocated_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
        res["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2 ** 30
    return res, sink


def _line(tag: str, r: dict) -> str:
    mem = f", peak {r['peak_allocated_gib']:.1f} GiB alloc / {r['peak_reserved_gib']:.1f} reserved" \
        if "peak_allocated_gib" in r else ""
    return (f"{tag} {r['frames']} frames: {r['seconds']:.3f} s ({r['fps']:.2f} frames/s), first frame "
            f"{r['first_frame_s']:.3f} s{mem}, carried state {r['state_gib']:.2f} GiB")


def profiled(method, frames, lr_size, device, optimised, flops=None, dtype="bf16") -> dict:
    from infvsr_bench.models.infvsr.profiling import StageProfiler, format_table

    prof = StageProfiler(device)
    prof.hook_dit(method.pipeline.dit)
    try:
        r, _ = run_video(method, frames, lr_size, device, optimised, profiler=prof)
    finally:
        prof.unhook()
    rows = prof.table(r["seconds"], flops=flops, dtype=dtype)
    log(format_table(rows, r["seconds"], f"[{'optimised' if optimised else 'plain'} {frames} frames, profiled]"))
    return {"run": r, "stages": rows}


def count_flops(method, frames, lr_size, device, optimised) -> dict[str, float]:
    from infvsr_bench.models.infvsr.profiling import StageProfiler

    prof = StageProfiler(device, count_flops=True)
    prof.hook_dit(method.pipeline.dit)
    try:
        run_video(method, frames, lr_size, device, optimised, profiler=prof)
    finally:
        prof.unhook()
    return dict(prof.flops)


def step_speed(args, lr_size, lengths, out: dict) -> None:
    dt = "bf16" if args.dtype in ("auto", "bf16") and _cuda(args.device) else "fp32"
    flops_by_len: dict[int, dict] = {}
    for optimised in (False, True):
        tag = "optimised" if optimised else "plain"
        t0 = time.perf_counter()
        m = build(args.preset, args.device, args.dtype, optimised, not args.no_scene_detection)
        log(f"[{tag}] setup {time.perf_counter() - t0:.1f} s; params {m.params}")
        w, _ = run_video(m, args.warmup, lr_size, args.device, optimised)
        log(f"[{tag}] warm-up {args.warmup} frames {w['seconds']:.2f} s (not counted)")
        res = out.setdefault(tag, {"params": m.params, "warmup": w, "videos": {}})
        for n in lengths:
            r, _ = run_video(m, n, lr_size, args.device, optimised)
            log(_line(f"[{tag}]", r))
            if args.flops and not optimised and not flops_by_len:  # the first length only (a slow pass)
                t1 = time.perf_counter()
                try:
                    flops_by_len[n] = count_flops(m, n, lr_size, args.device, optimised)
                except Exception as e:  # noqa: BLE001 - the timings matter more than the FLOP column
                    log(f"[flops] counting failed ({type(e).__name__}: {e}); tables without TFLOP/s")
                    flops_by_len[n] = {}
                log(f"[flops] {n} frames counted in {time.perf_counter() - t1:.1f} s: "
                    + ", ".join(f"{k} {v / 1e12:.1f} TFLOP" for k, v in sorted(flops_by_len[n].items())))
            p = profiled(m, n, lr_size, args.device, optimised, flops_by_len.get(n), dt)
            res["videos"][str(n)] = {"timed": r, "profiled": p}
        del m
        gc.collect()
        if _cuda(args.device):
            torch.cuda.empty_cache()
    out["flops"] = {str(k): v for k, v in flops_by_len.items()}
    for n in lengths:
        a, b = out["plain"]["videos"][str(n)]["timed"], out["optimised"]["videos"][str(n)]["timed"]
        log(f"== {n} frames: plain {a['seconds']:.3f} s, optimised {b['seconds']:.3f} s, "
            f"speed-up x{a['seconds'] / b['seconds']:.2f}")


def _compare(a: torch.Tensor, b: torch.Tensor, acc: dict) -> None:
    d = (a.float() - b.float())
    acc["max_abs"] = max(acc.get("max_abs", 0.0), float(d.abs().max()))
    acc["sse"] = acc.get("sse", 0.0) + float(d.double().pow(2).sum())
    acc["n"] = acc.get("n", 0) + d.numel()
    per_frame = d.double().pow(2).flatten(1).mean(1)  # (T,)
    acc["worst_frame_mse"] = max(acc.get("worst_frame_mse", 0.0), float(per_frame.max()))


def _psnr(mse: float) -> float:
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def step_parity(args, lr_size, frames: int, out: dict) -> None:
    """Plain, optimised and a plain rerun on the same clip with the same weights; SR frames compared chunk by
    chunk (never a whole video held)."""
    plain = build(args.preset, args.device, args.dtype, False, not args.no_scene_detection)
    fast = build(args.preset, args.device, args.dtype, True, not args.no_scene_detection)
    for name in ("dit", "vae", "encoder"):  # the same random weights (copy_ keeps fast's channels-last layout)
        getattr(fast.pipeline, name).load_state_dict(getattr(plain.pipeline, name).state_dict())
    h, w = lr_size
    accs: dict[str, dict] = {"optimised_vs_plain": {}, "plain_rerun_vs_plain": {}}
    for m in (plain, fast):
        m.reset({"fps": 25.0, "frames": frames, "scene_cuts": []})
    outs_rerun = []
    with torch.inference_mode():
        for lr in lr_blocks(frames, h, w):
            a, b = plain.step(lr.to(args.device)), fast.step(lr)
            if a.numel():
                _compare(a, b, accs["optimised_vs_plain"])
                outs_rerun.append(a.float().cpu())  # frames of the first pass, for the rerun (a short clip)
        a, b = plain.flush(), fast.flush()
        if a.numel():
            _compare(a, b, accs["optimised_vs_plain"])
            outs_rerun.append(a.float().cpu())
        plain.reset({"fps": 25.0, "frames": frames, "scene_cuts": []})
        got = []
        for lr in lr_blocks(frames, h, w):
            y = plain.step(lr.to(args.device))
            if y.numel():
                got.append(y.float().cpu())
        y = plain.flush()
        if y.numel():
            got.append(y.float().cpu())
        _compare(torch.cat(outs_rerun), torch.cat(got), accs["plain_rerun_vs_plain"])
    for k, acc in accs.items():
        mse = acc.pop("sse") / acc.pop("n")
        acc.update(mse=mse, psnr_db=_psnr(mse), worst_frame_psnr_db=_psnr(acc.pop("worst_frame_mse")))
        log(f"[parity] {k}: max |diff| {acc['max_abs']:.3g}, PSNR {acc['psnr_db']:.2f} dB "
            f"(worst frame {acc['worst_frame_psnr_db']:.2f} dB) over {frames} frames")
    ok = accs["optimised_vs_plain"]["psnr_db"] >= 45
    log(f"[parity] optimised vs plain PSNR >= 45 dB: {'yes' if ok else 'NO'}")
    out["parity"] = {"frames": frames, **accs, "psnr_at_least_45db": ok}


def step_ablate(args, lr_size, frames: int, out: dict) -> None:
    """Optimised path with one speed-up off at a time (each its own model build and warm-up)."""
    res = {}
    for key in PLAIN:
        m = build(args.preset, args.device, args.dtype, True, not args.no_scene_detection, **{key: PLAIN[key]})
        run_video(m, args.warmup, lr_size, args.device, True)
        r, _ = run_video(m, frames, lr_size, args.device, True)
        out["ablate"] = {"frames": frames, "without": res}  # kept so far if a later build runs out of time
        res[key] = r
        log(_line(f"[ablate: {key}={PLAIN[key]}]", r))
        del m
        gc.collect()
        if _cuda(args.device):
            torch.cuda.empty_cache()
    out["ablate"] = {"frames": frames, "without": res}


def step_size(args, lr_size, lengths, out: dict) -> None:
    """The optimised path at another output size (tiled VAE above 1024 px height): seconds, memory, stages."""
    m = build(args.preset, args.device, args.dtype, True, not args.no_scene_detection)
    if args.warmup:
        w, _ = run_video(m, args.warmup, lr_size, args.device, True)
        log(f"[size {lr_size[0] * 4}x{lr_size[1] * 4}] warm-up {w['frames']} frames {w['seconds']:.2f} s, peak "
            f"{w.get('peak_allocated_gib', 0):.1f} GiB; VAE tiles {len(m.pipeline.stream.tile_grid('decode'))}")
    else:
        log(f"[size {lr_size[0] * 4}x{lr_size[1] * 4}] no warm-up: the run below is cold (includes cuDNN autotuning)")
    res = {}
    for n in lengths:
        p = profiled(m, n, lr_size, args.device, True)
        res[str(n)] = p
        log(_line(f"[size {lr_size[0] * 4}x{lr_size[1] * 4}]", p["run"]))
    out["size"] = {"lr_size": list(lr_size), "sr_size": [4 * lr_size[0], 4 * lr_size[1]], "videos": res}


def _stop(signum, frame):
    raise SystemExit(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--step", default="speed", choices=["speed", "parity", "ablate", "size"])
    ap.add_argument("--preset", default="infvsr-1.3b", choices=["infvsr-1.3b", "tiny"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), bf16 or fp32")
    ap.add_argument("--frames", default="33,100", help="video lengths, comma-separated (parity/ablate: the first)")
    ap.add_argument("--lr-size", default="180x320", help="LR HxW (x4 output)")
    ap.add_argument("--warmup", type=int, default=WARMUP_FRAMES, help="frames of the untimed warm-up video "
                    "(speed/ablate/size; size: 0 = none)")
    ap.add_argument("--flops", action="store_true", help="speed: one untimed FlopCounterMode pass per length")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a method parameter of the optimised path (repeatable), e.g. sdpa_backends=auto")
    ap.add_argument("--no-scene-detection", action="store_true")
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    args = ap.parse_args(argv)

    if _cuda(args.device) and not torch.cuda.is_available():
        print("error: --device cuda but no CUDA device is available", file=sys.stderr)
        return 2
    for kv in args.set:
        key, _, value = kv.partition("=")
        if key not in PLAIN:
            print(f"error: --set {kv}: the optimised path's switches are {', '.join(PLAIN)}", file=sys.stderr)
            return 2
        FAST_SET[key] = {"true": True, "false": False}.get(value.lower(), value)  # as the CLI parses flags
    lr_size = tuple(int(v) for v in args.lr_size.lower().split("x"))
    lengths = [int(v) for v in args.frames.split(",") if v.strip()]
    gpu = torch.cuda.get_device_name() if _cuda(args.device) else "cpu"
    log(f"InfVSR {args.preset}, RANDOM weights (speed/memory only), {gpu}, torch {torch.__version__}; LR "
        f"{lr_size[0]}x{lr_size[1]} -> SR {4 * lr_size[0]}x{4 * lr_size[1]}; step {args.step}")
    out: dict = {"step": args.step, "preset": args.preset, "device": gpu, "torch": torch.__version__,
                 "lr_size": list(lr_size), "random_weights": True, "optimised_overrides": FAST_SET}
    signal.signal(signal.SIGTERM, _stop)  # `timeout` ends a slow step: keep what it measured (finally below)
    try:
        if args.step == "speed":
            step_speed(args, lr_size, lengths, out)
        elif args.step == "parity":
            step_parity(args, lr_size, lengths[0], out)
        elif args.step == "ablate":
            step_ablate(args, lr_size, lengths[0], out)
        else:
            step_size(args, lr_size, lengths, out)
    finally:  # whatever was measured before a failure is kept
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
