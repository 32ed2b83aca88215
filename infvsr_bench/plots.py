"""Figures a person reads: metric over time, similarity against frame gap, memory/time against length,
quality against speed. matplotlib with the Agg backend, chosen inside each function (no import-time side
effects); every figure has a title, axis labels with units and a legend.

Inputs are run folders (their ``summary.json``, ``clips.jsonl`` and ``frames/*.npz``) or benchmark JSON, so
plots can be redrawn at any time without rerunning anything.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from . import records
from .names import slug
from .report import is_random


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _plain_log_ticks(axis) -> None:
    """Write log-axis ticks as plain numbers (1000, 2000) rather than 1x10^3."""
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    axis.set_major_formatter(fmt)
    axis.set_minor_formatter(fmt)


def _windowed_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Centred moving average over defined (non-NaN) values; NaN where the window holds none."""
    ok = np.isfinite(x)
    v = np.where(ok, x, 0.0)
    k = np.ones(max(1, min(w, x.size)))
    num = np.convolve(v, k, mode="same")
    den = np.convolve(ok.astype(float), k, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _load_run(run_dir: Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    return {"dir": run_dir, "summary": records.read_json(run_dir / "summary.json"),
            "clips": {c["clip"]: c for c in records.read_clips(run_dir) if c.get("status") == "ok"}}


def _scored(run: dict[str, Any], label: str) -> bool:
    """The run has ``label`` as a real score: computed, and neither the metric nor the method random-weight."""
    m = run["summary"]["metrics"].get(label)
    return m is not None and not is_random(m) and not run["summary"]["method"].get("random_weights")


def _scalar_labels(run: dict[str, Any]) -> list[str]:
    return [lb for lb in run["summary"]["metrics"] if _scored(run, lb)]


def metric_over_time(runs: list[dict[str, Any]], label: str, out: Path, window: int = 50) -> Path | None:
    """One panel per clip: per-frame values (thin) and a ``window``-frame mean (thick) per method, with scene
    cuts (dashed) and the method's chunk boundaries (ticks along the bottom) marked."""
    plt = _pyplot()
    scored = [r for r in runs if _scored(r, label)]
    clip_ids = sorted({c for r in scored for c in r["clips"]})
    if not clip_ids:
        return None
    meta = scored[0]["summary"]["metrics"][label]
    unit = f" ({meta['unit']})" if meta.get("unit") else ""
    fig, axes = plt.subplots(len(clip_ids), 1, figsize=(11, 2.8 * len(clip_ids)), squeeze=False, sharex=False)
    for ax, clip in zip(axes[:, 0], clip_ids):
        cuts_drawn = False
        for i, r in enumerate(runs):
            if clip not in r["clips"] or not _scored(r, label):
                continue
            series = records.read_frames(r["dir"], clip).get(label)
            if series is None:
                continue
            color = f"C{i}"
            t = np.arange(series.size)
            name = r["summary"]["method"]["name"]
            ax.plot(t, series, color=color, lw=0.5, alpha=0.35)
            ax.plot(t, _windowed_mean(series, window), color=color, lw=1.8, label=f"{name} ({window}-frame mean)")
            rec = r["clips"][clip]
            if not cuts_drawn:
                for k, c in enumerate(rec.get("scene_cuts") or []):
                    ax.axvline(c, color="0.3", ls="--", lw=1, label="scene cut" if k == 0 else None)
                cuts_drawn = True
            bounds = rec.get("chunk_boundaries") or []
            if bounds:
                ax.plot(bounds, np.full(len(bounds), 0.02), "|", color=color, ms=6,
                        transform=ax.get_xaxis_transform(), label=f"{name} chunk boundaries")
        ax.set_title(f"{clip}")
        ax.set_xlabel("frame")
        ax.set_ylabel(f"{label}{unit}")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8, ncol=3)
    arrow = "higher is better" if meta["higher_is_better"] else "lower is better"
    ds = runs[0]["summary"]["dataset"]
    fig.suptitle(f"{label} over time on {ds['name']} ({ds['degradation']}); {arrow}", fontsize=12)
    fig.tight_layout()
    path = Path(out) / f"{slug(label)}-over-time.png"
    _save(fig, path)
    plt.close(fig)
    return path


def similarity_vs_gap(runs: list[dict[str, Any]], out: Path) -> Path | None:
    """Mean feature cosine against frame gap (log axis), one line per method and semantic metric, from the
    ``gap_similarity`` curves semantic metrics keep per clip (averaged over clips)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    drew = False
    for i, r in enumerate(runs):
        for label in _scalar_labels(r):
            curves = [c["metrics"][label].get("extra", {}).get("gap_similarity") for c in r["clips"].values()]
            curves = [c for c in curves if isinstance(c, dict) and c]
            if not curves:
                continue
            gaps = sorted({int(g) for c in curves for g in c})
            ys = []
            for g in gaps:
                vals = [_gap_value(c.get(str(g), c.get(g))) for c in curves]
                vals = [v for v in vals if v is not None and math.isfinite(v)]
                ys.append(np.mean(vals) if vals else np.nan)
            ax.plot(gaps, ys, marker="o", color=f"C{i}", label=f"{r['summary']['method']['name']} · {label}")
            drew = True
    if not drew:
        plt.close(fig)
        return None
    ax.set_xscale("log", base=2)
    ax.set_xlabel("frame gap (frames, log scale)")
    ax.set_ylabel("mean cosine similarity of features")
    ax.set_title("Semantic similarity against frame gap (within scenes)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(out) / "similarity-vs-gap.png"
    _save(fig, path)
    plt.close(fig)
    return path


def _gap_value(v: Any) -> float | None:
    if isinstance(v, dict):
        v = v.get("mean")
    return None if v is None else float(v)


def quality_vs_speed(runs: list[dict[str, Any]], label: str, out: Path) -> Path | None:
    """Quality against steady-state frames/s (log axis); bubble area grows with the method's parameter
    count (``params_millions`` in the method params; interpolation methods have none)."""
    plt = _pyplot()
    pts = []
    for r in runs:
        s = r["summary"]
        thr = s.get("throughput") or {}
        if not _scored(r, label) or not thr.get("fps"):
            continue
        pm = float((s["method"].get("params") or {}).get("params_millions", 0.0))
        pts.append((s["method"]["name"], thr["fps"], s["metrics"][label]["mean"], pm, thr))
        meta = s["metrics"][label]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for i, (name, fps, q, pm, thr) in enumerate(pts):
        ax.scatter([fps], [q], s=80 + 12 * pm, color=f"C{i}", alpha=0.6, edgecolor="k")
        ax.annotate(f"{name}\n{pm:g} M params" if pm else name, (fps, q), textcoords="offset points",
                    xytext=(8, 6), fontsize=9)
    unit = f" ({meta['unit']})" if meta.get("unit") else ""
    thr0 = pts[0][4]
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis)
    ax.set_xlabel(f"steady-state frames/s (log) at {thr0.get('output_size')}, {thr0.get('device')}")
    ax.set_ylabel(f"{label}{unit} ({'higher' if meta['higher_is_better'] else 'lower'} is better)")
    ax.set_title(f"Quality against speed: {label}; bubble area ~ parameters")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    path = Path(out) / f"quality-vs-speed-{slug(label)}.png"
    _save(fig, path)
    plt.close(fig)
    return path


def memory_vs_length(bench_json: Path, out: Path) -> Path:
    """Peak host memory and wall time against video length, from benchmarks/memory_vs_length.py --json."""
    plt = _pyplot()
    rows = records.read_json(bench_json)["rows"]
    n = [r["frames"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(n, [r["peak_rss_mib"] for r in rows], "o-", color="C0", label="peak RSS (MiB)")
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis)
    ax.set_xlabel("frames in the clip (log scale)")
    ax.set_ylabel("peak host memory (MiB)", color="C0")
    ax.set_ylim(0, max(r["peak_rss_mib"] for r in rows) * 1.3)
    ax2 = ax.twinx()
    ax2.plot(n, [r["seconds"] for r in rows], "s--", color="C1", label="wall time (s)")
    ax2.set_ylabel("wall time of the whole run (s)", color="C1")
    ax.set_title("Peak memory and time against video length (bicubic + psnr + ssim)")
    ax.grid(alpha=0.3, which="both")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="lower right")
    fig.tight_layout()
    path = Path(out) / "memory-vs-length.png"
    _save(fig, path)
    plt.close(fig)
    return path


def _save(fig, path: Path) -> None:
    """Write a figure whole or not at all: rendered in memory, then a temporary file renamed into place."""
    import io

    from .records import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())


def plot_runs(run_dirs: list[Path], out: Path) -> list[Path]:
    """Every figure that the given runs support, written into ``out`` (none: ``out`` is not left behind)."""
    out = Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    runs = [_load_run(d) for d in run_dirs]
    labels: list[str] = []
    for r in runs:
        labels += [lb for lb in _scalar_labels(r) if lb not in labels]
    written = [metric_over_time(runs, lb, out) for lb in labels]
    written.append(similarity_vs_gap(runs, out))
    written += [quality_vs_speed(runs, lb, out) for lb in labels]
    written = [p for p in written if p is not None]
    if not written and created:
        out.rmdir()
    return written
