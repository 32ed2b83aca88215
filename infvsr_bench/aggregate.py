"""Frame → clip → dataset aggregation, bootstrap confidence intervals and the comparability key.

Clips are averaged equally (the BasicSR / VSR-paper convention: mean of per-clip means). The 95% interval
is a percentile bootstrap over clips with a fixed seed, so the same clip values always give the same
interval.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .records import stable_hash

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


def bootstrap_ci(values: list[float], level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES,
                 seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; a single value gives a zero-width interval."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return (math.nan, math.nan)
    if x.size == 1:
        return (float(x[0]), float(x[0]))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    means = x[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def comparability_key(dataset: dict[str, Any], metrics: list[dict[str, Any]], conventions: dict[str, Any],
                      max_frames: int | None) -> str:
    """Runs share a leaderboard table only when this matches: same dataset bytes, degradation, frame limit,
    metric names + versions + params, and output conventions."""
    return stable_hash({
        "dataset": dataset["manifest_sha256"],
        "degradation": dataset["degradation"],
        "max_frames": max_frames,
        "metrics": [{k: m[k] for k in ("name", "version", "params")} for m in metrics],
        "conventions": conventions,
    })


def incomplete(summary: dict[str, Any]) -> str | None:
    """Why a run's summary does not cover its whole dataset (failed or missing clips: its means are over
    fewer clips, so never level with a complete run's), or None when every clip finished."""
    c = summary["clips"]
    if c["ok"] >= c["total"]:
        return None
    return (f"{c['ok']} of {c['total']} clips finished ({c.get('failed', 0)} failed"
            + (f": {', '.join(c['failed_ids'])}" if c.get("failed_ids") else "")
            + f", {c.get('pending', 0)} missing)")


def summarize_metric(clip_means: list[float], drifts: list[float]) -> dict[str, Any]:
    vals = [v for v in clip_means if v is not None and math.isfinite(v)]
    lo, hi = bootstrap_ci(vals)
    dr = [d for d in drifts if d is not None and math.isfinite(d)]
    return {
        "mean": float(np.mean(vals)) if vals else math.nan,
        "ci95": [lo, hi],
        "n_clips": len(vals),
        "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0 if vals else math.nan,
        "drift_mean": float(np.mean(dr)) if dr else math.nan,
    }


def mean_extras(per_clip: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over clips of every finite scalar in the metrics' clip-level ``extra`` dicts."""
    keys = sorted({k for d in per_clip for k, v in d.items() if isinstance(v, (int, float))
                   and not isinstance(v, bool)})
    out: dict[str, Any] = {}
    for k in keys:
        vals = [float(d[k]) for d in per_clip if isinstance(d.get(k), (int, float))
                and math.isfinite(float(d[k]))]
        out[k] = float(np.mean(vals)) if vals else math.nan
    return out


def summarize_throughput(clips: list[dict[str, Any]]) -> dict[str, Any]:
    """Dataset throughput: total frames over total steady-state method seconds (not a mean of rates)."""
    ok = [c["throughput"] for c in clips if c.get("status") == "ok" and c.get("throughput")]
    if not ok:
        return {}
    frames = sum(t["steady_frames"] for t in ok)
    secs = sum(t["steady_seconds"] for t in ok)
    return {
        "fps": frames / secs if secs > 0 else math.nan,
        "frames": sum(t["frames"] for t in ok),
        "method_seconds": sum(t["method_seconds"] for t in ok),
        "wall_seconds": sum(t["wall_seconds"] for t in ok),
        "latency_p50_ms": float(np.median([t["latency_p50_ms"] for t in ok])),
        "latency_p95_ms": float(np.max([t["latency_p95_ms"] for t in ok])),
        "first_frame_ms": float(np.median([t["first_frame_ms"] for t in ok])),
        "peak_rss_mb": float(max(t["peak_rss_mb"] for t in ok)),
        "peak_device_mb": _max_or_none(t.get("peak_device_mb") for t in ok),
        "metrics_device_mb": _max_or_none(t.get("metrics_device_mb") for t in ok),  # not the method's (throughput)
        "cache_bytes": _max_or_none(t.get("cache_bytes") for t in ok),
        # how the method was timed when it says so itself (an external program's wall time), else the runner's
        "timing": ok[0].get("timing") or "method calls only; first chunk of each clip excluded as warm-up",
    }


def _max_or_none(values) -> float | None:
    vals = [v for v in values if v is not None]
    return max(vals) if vals else None
