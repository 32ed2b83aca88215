"""Timing of a method on the stream: steady-state frames/s, per-chunk latency, time to first frame, memory.

Only ``method.step``/``flush`` are timed, with the device synchronised before each clock read. The first
``warmup`` chunks of a clip (allocation, autotuning, compilation) are reported apart and kept out of the
steady-state rate, so an FPS figure means the same thing for every method.

Peak device memory is likewise the method's alone: the peak counter is reset before each call and read
after it, so the activations of metric networks scoring on the same GPU between calls do not count, and
what the metrics keep on the GPU (their weights, carried features) — measured around their scoring with
:meth:`ClipTimer.outside` — is subtracted and reported apart as ``metrics_device_mb``.
"""
from __future__ import annotations

import resource
import sys
import time
from typing import Any

import numpy as np
import torch


def synchronize(device: str | torch.device) -> None:
    if str(device).startswith("cuda") and torch.cuda.is_available():
        torch.cuda.synchronize(device)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class ClipTimer:
    """Collects per-chunk timings of one clip. Use ``with timer.chunk(n_in) as c: out = step(); c.out(k)``."""

    def __init__(self, device: str = "cpu", warmup: int = 1, method=None, other_bytes: int = 0):
        self.device = device
        self.warmup = warmup
        self.method = method  # asked for cache_bytes() (KV-cache size) when it offers it
        self.cuda = str(device).startswith("cuda") and torch.cuda.is_available()
        self.peak_device_bytes = 0  # max over the method's calls, less what the metrics hold (module docstring)
        # device memory allocated by work outside the method and still held (the metrics), from earlier clips on
        self.other_bytes = int(other_bytes) if self.cuda else 0
        self.t_start = time.perf_counter()
        self.chunk_seconds: list[float] = []
        self.chunk_frames: list[int] = []
        self.first_frame_s: float | None = None

    def time_call(self, fn, *args):
        """Run ``fn(*args)`` timed; returns its output (a (T,3,H,W) tensor)."""
        synchronize(self.device)
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        t0 = time.perf_counter()
        out = fn(*args)
        synchronize(self.device)
        t1 = time.perf_counter()
        if self.cuda:
            own = torch.cuda.max_memory_allocated(self.device) - self.other_bytes
            self.peak_device_bytes = max(self.peak_device_bytes, own)
        n = int(out.shape[0]) if out is not None and out.numel() else 0
        self.chunk_seconds.append(t1 - t0)
        self.chunk_frames.append(n)
        if n and self.first_frame_s is None:
            self.first_frame_s = t1 - self.t_start
        return out

    def outside(self, fn, *args):
        """Run ``fn(*args)`` — work that is not the method's, e.g. scoring a chunk — untimed; on CUDA, what it
        leaves allocated (or frees) is kept out of the method's peak memory."""
        before = torch.cuda.memory_allocated(self.device) if self.cuda else 0
        out = fn(*args)
        if self.cuda:
            self.other_bytes += torch.cuda.memory_allocated(self.device) - before
        return out

    def result(self) -> dict[str, Any]:
        secs = np.asarray(self.chunk_seconds, dtype=np.float64)
        frames = np.asarray(self.chunk_frames, dtype=np.int64)
        w = min(self.warmup, max(len(secs) - 1, 0))
        if frames[w:].sum() == 0:  # too short to leave a steady state: report everything, no warm-up split
            w = 0
        steady_s, steady_f = secs[w:], frames[w:]
        lat = steady_s[steady_f > 0] * 1000 if (steady_f > 0).any() else steady_s * 1000
        return {
            "frames": int(frames.sum()),
            "chunks": int(len(secs)),
            "warmup_chunks": int(w),
            "warmup_seconds": float(secs[:w].sum()),
            "method_seconds": float(secs.sum()),
            "steady_frames": int(steady_f.sum()),
            "steady_seconds": float(steady_s.sum()),
            "fps": float(steady_f.sum() / steady_s.sum()) if steady_s.sum() > 0 else float("nan"),
            "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
            "latency_p95_ms": float(np.percentile(lat, 95)) if lat.size else float("nan"),
            "first_frame_ms": (self.first_frame_s or float("nan")) * 1000,
            "wall_seconds": time.perf_counter() - self.t_start,
            "peak_rss_mb": peak_rss_mb(),
            "peak_device_mb": self.peak_device_bytes / 2**20 if self.cuda else None,
            "metrics_device_mb": self.other_bytes / 2**20 if self.cuda else None,
            "cache_bytes": cache_bytes(self.method),
            "device": str(self.device),
        }


def cache_bytes(method) -> int | None:
    """Bytes of the method's rolling cache (e.g. a KV-cache), for methods that expose ``cache_bytes()``."""
    fn = getattr(method, "cache_bytes", None)
    return int(fn()) if callable(fn) else None
