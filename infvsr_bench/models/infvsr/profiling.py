"""Opt-in per-stage profiler of the InfVSR pipeline: where the seconds of a video go.

Why: a whole-video clock says how long InfVSR takes, not which stage to speed up. A :class:`StageProfiler`
attached to a pipeline (``pipeline.profiler = StageProfiler(device)``; ``None`` by default, so the plain path
adds nothing) times named stages:

* on CUDA with **CUDA events** recorded around the stage on the current stream — no synchronisation is
  added while the video runs; the events are read once, by :meth:`seconds`, after the caller synchronises;
* on the CPU (and for host-side stages such as scene detection, ``host=True``) with ``time.perf_counter``.

:meth:`hook_dit` adds forward hooks to every DiT block's self-attention, cross-attention and FFN, so the DiT
splits into attention / MLP / rest. With ``count_flops=True`` each stage also runs under
``torch.utils.flop_counter.FlopCounterMode`` (slow: use it on a separate, untimed pass) and its FLOPs are
summed, which turns seconds into achieved TFLOP/s. Stage names containing a dot (``dit.self_attn``) are
parts of the stage before the dot.
"""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager

import torch

# H200 peaks measured on the machine the benchmarks use (dense bf16 matmul, device-to-device copy).
PEAK_TFLOPS = {"bf16": 790.0}
PEAK_HBM_GBS = 4300.0

DIT_PARTS = {"self_attn": "dit.self_attn", "cross_attn": "dit.cross_attn", "ffn": "dit.mlp"}


class StageProfiler:
    """Accumulates seconds (and optionally FLOPs and bytes) per named stage over any number of chunks."""

    def __init__(self, device: torch.device | str = "cpu", count_flops: bool = False):
        self.cuda = torch.device(device).type == "cuda"
        self.count_flops = count_flops
        self._events: dict[str, list] = defaultdict(list)  # stage -> [(start event, end event)]
        self._host: dict[str, float] = defaultdict(float)  # stage -> perf_counter seconds
        self.flops: dict[str, float] = defaultdict(float)
        self.bytes: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._open: list = []  # (stage, start, flop counter) opened by a pre-hook, closed by its post-hook
        self._handles: list = []

    def reset(self) -> None:
        """Forget every measurement (keeps the DiT hooks)."""
        for d in (self._events, self._host, self.flops, self.bytes, self.calls):
            d.clear()

    # ------------------------------------------------------------------------------------------ timing
    def _start(self, name: str, host: bool):
        counter = None
        if self.count_flops:
            from torch.utils.flop_counter import FlopCounterMode

            counter = FlopCounterMode(display=False)
            counter.__enter__()
        if self.cuda and not host:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev, counter
        return time.perf_counter(), counter

    def _stop(self, name: str, start, counter) -> None:
        if counter is not None:
            counter.__exit__(None, None, None)
            self.flops[name] += counter.get_total_flops()
        if isinstance(start, float):
            self._host[name] += time.perf_counter() - start
        else:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            self._events[name].append((start, ev))
        self.calls[name] += 1

    @contextmanager
    def stage(self, name: str, host: bool = False, nbytes: int = 0):
        """Time the body as stage ``name`` (``host=True``: wall-clock on the host even on CUDA); ``nbytes``:
        bytes the stage moves (for GB/s)."""
        start, counter = self._start(name, host)
        try:
            yield
        finally:
            self._stop(name, start, counter)
            self.bytes[name] += nbytes

    def hook_dit(self, dit: torch.nn.Module) -> None:
        """Time every block's self-attention, cross-attention and FFN as ``dit.self_attn`` / ``dit.cross_attn``
        / ``dit.mlp`` (forward pre/post hooks; removed by :meth:`unhook`)."""
        for block in dit.blocks:
            for attr, name in DIT_PARTS.items():
                mod = getattr(block, attr)
                self._handles.append(mod.register_forward_pre_hook(self._pre(name)))
                self._handles.append(mod.register_forward_hook(self._post()))

    def _pre(self, name: str):
        def hook(module, args):
            self._open.append((name, *self._start(name, False)))
        return hook

    def _post(self):
        def hook(module, args, out):
            name, start, counter = self._open.pop()
            self._stop(name, start, counter)
        return hook

    def unhook(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    # ------------------------------------------------------------------------------------------ report
    def seconds(self) -> dict[str, float]:
        """Seconds per stage (synchronises CUDA once to read the events)."""
        if self.cuda and self._events:
            torch.cuda.synchronize()
        out = dict(self._host)
        for name, pairs in self._events.items():
            out[name] = out.get(name, 0.0) + sum(a.elapsed_time(b) for a, b in pairs) / 1000.0
        return out

    def table(self, wall_seconds: float, flops: dict[str, float] | None = None, dtype: str = "bf16") -> list[dict]:
        """Rows {stage, seconds, share, calls, tflops, tflops_share_of_peak, gbs} for every stage, the DiT's
        rest (``dit.other`` = dit − its parts) and ``gpu_idle`` (wall − Σ top-level device stages: launch
        overhead, host stages and synchronisation gaps). ``flops``: FLOPs per stage from a counting pass (default:
        this profiler's own counts)."""
        secs = self.seconds()
        flops = dict(self.flops if flops is None else flops)
        if "dit" in secs:
            parts = [n for n in secs if n.startswith("dit.")]
            secs["dit.other"] = max(secs["dit"] - sum(secs[n] for n in parts), 0.0)
            if "dit" in flops:
                flops["dit.other"] = max(flops["dit"] - sum(flops.get(n, 0.0) for n in parts), 0.0)
        device_top = sum(s for n, s in secs.items() if "." not in n and n not in self._host)
        if self.cuda:
            secs["gpu_idle"] = max(wall_seconds - device_top, 0.0)
        peak = PEAK_TFLOPS.get(dtype)
        rows = []
        for name in sorted(secs, key=lambda n: (n.split(".")[0] == "gpu_idle", n)):
            s = secs[name]
            row = {"stage": name, "seconds": s, "share": s / wall_seconds if wall_seconds > 0 else 0.0,
                   "calls": self.calls.get(name, 0), "host": self.cuda and name in self._host}
            if flops.get(name) and s > 0:
                row["tflops"] = flops[name] / s / 1e12
                row["gflop"] = flops[name] / 1e9
                if peak:
                    row["of_peak"] = row["tflops"] / peak
            if self.bytes.get(name) and s > 0:
                row["gbs"] = self.bytes[name] / s / 1e9
                row["of_hbm_peak"] = row["gbs"] / PEAK_HBM_GBS
            rows.append(row)
        return rows


def format_table(rows: list[dict], wall_seconds: float, title: str = "") -> str:
    """The rows of :meth:`StageProfiler.table` as fixed-width text (seconds, share, TFLOP/s, GB/s)."""
    lines = [f"{title} wall {wall_seconds:.3f} s" if title else f"wall {wall_seconds:.3f} s",
             f"  {'stage':<22}{'seconds':>9}{'share':>8}{'calls':>7}{'GFLOP':>11}{'TFLOP/s':>9}{'%peak':>7}"
             f"{'GB/s':>8}"]
    for r in rows:
        tf = f"{r['tflops']:9.1f}{100 * r.get('of_peak', 0):6.1f}%" if "tflops" in r else " " * 16
        gf = f"{r['gflop']:11.1f}" if "gflop" in r else " " * 11
        gb = f"{r['gbs']:8.1f}" if "gbs" in r else ""
        name = ("  " if "." in r["stage"] else "") + r["stage"] + (" (host)" if r["host"] else "")
        lines.append(f"  {name:<22}{r['seconds']:9.3f}{100 * r['share']:7.1f}%{r['calls']:7d}{gf}{tf}{gb}")
    return "\n".join(lines)


def null_stage(*_args, **_kwargs):
    """A do-nothing stand-in for :meth:`StageProfiler.stage` (the default, unprofiled path)."""
    return _NULL


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


_NULL = _Null()

__all__ = ["PEAK_HBM_GBS", "PEAK_TFLOPS", "StageProfiler", "format_table", "null_stage"]
