"""Reference-relative drift of a run, from its per-frame records (``frames/<clip>.npz``), computed after the
run — nothing is kept while streaming beyond the per-frame series every run already writes.

- **Slope within scenes**: per clip, the least-squares slope of a metric against frame index with one
  intercept per scene (values are centred within each scene, so a cut's jump is not read as drift), in
  metric units per 1,000 frames; the run's value is the mean over clips with a percentile bootstrap interval
  over clips (:func:`infvsr_bench.aggregate.bootstrap_ci`).
- **VDE** (video drift error, as defined for LV-Bench): the clip is cut into ``segments`` equal parts with
  means m_1 .. m_n, and VDE = sum_{i>=2} w_i |m_i - m_1| / |m_1| with weights w_i = 1 / (n - 1) (uniform;
  the weighting is this project's reading, stated so that numbers can be checked against other tools).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import aggregate, records

SEGMENTS = 5


def scene_slope(values: np.ndarray, cuts: list[int]) -> float:
    """Slope of ``values`` against frame index with one intercept per scene, per 1,000 frames (NaN-aware;
    NaN when fewer than two defined frames share a scene)."""
    x = np.arange(values.size, dtype=np.float64)
    bounds = [0] + sorted(c for c in cuts if 0 < c < values.size) + [values.size]
    num = den = 0.0
    for a, b in zip(bounds[:-1], bounds[1:]):
        ok = np.isfinite(values[a:b])
        if ok.sum() < 2:
            continue
        xs, ys = x[a:b][ok], values[a:b][ok]
        xc = xs - xs.mean()
        num += float((xc * (ys - ys.mean())).sum())
        den += float((xc * xc).sum())
    return num / den * 1000.0 if den > 0 else math.nan


def vde(values: np.ndarray, segments: int = SEGMENTS) -> float:
    """Video drift error over ``segments`` equal parts (NaN if a part has no defined value or m_1 is 0)."""
    if values.size < segments or segments < 2:
        return math.nan
    parts = np.array_split(values, segments)
    means = [float(np.nanmean(p)) if np.isfinite(p).any() else math.nan for p in parts]
    m1 = means[0]
    if not math.isfinite(m1) or m1 == 0 or not all(math.isfinite(m) for m in means):
        return math.nan
    return float(sum(abs(m - m1) for m in means[1:]) / abs(m1) / (segments - 1))


def run_drift(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Per metric: slope within scenes (mean over clips, 95% bootstrap interval) and VDE (mean over clips)."""
    run_dir = Path(run_dir)
    clips = [c for c in records.read_clips(run_dir) if c.get("status") == "ok"]
    per: dict[str, dict[str, list[float]]] = {}
    for c in sorted(clips, key=lambda c: c["clip"]):
        try:
            series = records.read_frames(run_dir, c["clip"])
        except (OSError, ValueError):  # no per-frame records for this clip (e.g. an older run): no drift
            continue
        for label, v in series.items():
            if v.ndim != 1 or v.dtype.kind != "f":
                continue
            d = per.setdefault(label, {"slope": [], "vde": []})
            d["slope"].append(scene_slope(v, c.get("scene_cuts") or []))
            d["vde"].append(vde(v))
    out = {}
    for label, d in per.items():
        slopes = [s for s in d["slope"] if math.isfinite(s)]
        vdes = [s for s in d["vde"] if math.isfinite(s)]
        out[label] = {"slope_per_1000": float(np.mean(slopes)) if slopes else math.nan,
                      "slope_ci95": list(aggregate.bootstrap_ci(slopes)),
                      "vde": float(np.mean(vdes)) if vdes else math.nan, "clips": len(slopes)}
    return out


def table_lines(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Markdown table of (row name, one metric's :func:`run_drift` entry)."""
    from ..report import _table, fmt

    cells = [[name, fmt(d["slope_per_1000"]), f"[{fmt(d['slope_ci95'][0])}, {fmt(d['slope_ci95'][1])}]",
              fmt(d["vde"]), str(d["clips"])] for name, d in rows]
    return _table(["", "Slope per 1,000 frames (within scenes)", "95% CI", f"VDE ({SEGMENTS} segments)", "Clips"],
                  cells)


EXPLAIN = ("Drift against the reference: the slope of each per-frame metric against frame index within scenes "
           "(units per 1,000 frames; mean over clips with a 95% bootstrap interval over clips) and the video "
           f"drift error VDE = sum over segments i >= 2 of w_i |m_i - m_1| / |m_1| over {SEGMENTS} equal segments, "
           f"uniform weights w_i = 1/{SEGMENTS - 1} (mean over clips). 0 = no drift.")
