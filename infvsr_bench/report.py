"""Markdown a person reads: each run's ``report.md`` and the cross-run ``leaderboard.md``.

Both are pure functions of the records (no clocks, no host lookups), so regenerating them from the same
summaries gives the same bytes and ``leaderboard --check`` can tell a stale file.
"""
from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from . import records
from .aggregate import incomplete

log = logging.getLogger(__name__)
ARROW = {True: "↑", False: "↓"}


def fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:.1f}"
        if abs(v) >= 10:
            return f"{v:.2f}"
        return f"{v:.{digits}f}"
    return str(v)


def metric_title(m: dict[str, Any]) -> str:
    unit = f" ({m['unit']})" if m.get("unit") else ""
    return f"{m['label']}{unit} {ARROW[bool(m['higher_is_better'])]}"


def fps_cell(thr: dict[str, Any]) -> str:
    if not thr or thr.get("fps") is None:
        return "—"
    return f"{fmt(thr['fps'])} @ {thr.get('output_size', '?')}, {thr.get('device', '?')}"


def is_random(metric: dict[str, Any]) -> bool:
    """A metric computed with random-initialised networks: its numbers are never shown as scores."""
    return bool((metric.get("params") or {}).get("random_weights"))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def render_run_report(run_dir: Path, summary: dict[str, Any]) -> str:
    clips = {c["clip"]: c for c in records.read_clips(run_dir)}
    meth, ds = summary["method"], summary["dataset"]
    lines = [f"# {meth['name']} on {ds['name']} ({ds['degradation']})", ""]
    if meth.get("random_weights"):
        lines += ["> **Random weights: speed and memory measurement only. Quality numbers are not shown.**", ""]
    frames = "all frames" if summary["max_frames"] is None else f"first {summary['max_frames']} frames per clip"
    c = summary["clips"]
    lines += [f"- clips: {c['ok']} ok, {c['failed']} failed, {c['pending']} pending of {c['total']} ({frames}; "
              f"{c['frames']} frames scored)",
              f"- method: track {meth['track']}, causal {meth['causal']}, x{meth['scale']}, "
              f"chunk {meth['chunk_frames']} frames, params `{records.dumps(meth['params'], indent=None)}`",
              f"- run key `{summary['run_key']}`, comparability key `{summary['comparability_key']}`, "
              f"dataset manifest sha256 `{ds['manifest_sha256'][:16]}`", ""]
    metrics = summary["metrics"]
    if metrics and not meth.get("random_weights"):
        lines += ["## Scores", "", "Mean of clip means with a 95% bootstrap interval over clips; drift is the "
                  "mean over clips of (last window − first window).", ""]
        rows = [[metric_title(m), fmt(m["mean"]), f"[{fmt(m['ci95'][0])}, {fmt(m['ci95'][1])}]",
                 fmt(m["drift_mean"]), str(m["n_clips"])] if not is_random(m)
                else [metric_title(m), "—", "random weights: plumbing only, not a score", "—", str(m["n_clips"])]
                for m in metrics.values()]
        lines += _table(["Metric", "Mean", "95% CI", "Drift", "Clips"], rows) + [""]
        labels = list(metrics)
        rows = []
        for cid, rec in sorted(clips.items()):
            if rec["status"] == "ok":
                rows.append([cid, str(rec["frames"])] + ["—" if is_random(metrics[lb]) else
                                                         fmt(rec["metrics"][lb]["mean"]) for lb in labels]
                            + [fmt(rec["throughput"]["fps"]), "ok"])
            else:
                rows.append([cid, "—"] + ["—" for _ in labels] + ["—", f"failed: {rec.get('error', '?')}"])
        lines += ["## Per clip", ""] + _table(["Clip", "Frames"] + labels + ["FPS", "Status"], rows) + [""]
    elif c["failed"]:
        rows = [[cid, f"failed: {rec.get('error', '?')}"] for cid, rec in sorted(clips.items())
                if rec["status"] != "ok"]
        lines += ["## Failed clips", ""] + _table(["Clip", "Status"], rows) + [""]
    if summary.get("unavailable"):
        lines += ["## Unavailable metrics", ""]
        lines += [f"- `{k}`: {v}" for k, v in sorted(summary["unavailable"].items())] + [""]
    thr = summary.get("throughput") or {}
    if thr:
        lines += ["## Throughput", "",
                  f"Steady-state {fmt(thr['fps'])} frames/s of the method alone ("
                  f"{thr.get('timing') or 'first chunk of each clip excluded as warm-up'}), {thr['input_size']} → {thr['output_size']}, {thr['device']}, {thr['dtype']}. "
                  f"Chunk latency p50 {fmt(thr['latency_p50_ms'], 2)} ms, p95 {fmt(thr['latency_p95_ms'], 2)} ms; "
                  f"first output frame after {fmt(thr['first_frame_ms'], 2)} ms; peak host memory "
                  f"{fmt(thr['peak_rss_mb'])} MiB"
                  + (f"; peak device memory {fmt(thr['peak_device_mb'])} MiB" if thr.get("peak_device_mb") else "")
                  + (f" (the method's; the metrics held {fmt(thr['metrics_device_mb'])} MiB more)"
                     if thr.get("peak_device_mb") and thr.get("metrics_device_mb") is not None else "")
                  + (f"; cache {fmt(thr['cache_bytes'] / 2**20)} MiB" if thr.get("cache_bytes") else "")
                  + f"; wall time {fmt(thr['wall_seconds'])} s for {thr['frames']} frames (decode and metrics "
                  f"included).", ""]
    pngs = sorted((Path(run_dir) / "plots").glob("*.png"))
    if pngs:
        lines += ["## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in pngs] + [""]
    if not meth.get("random_weights"):
        from .visual.store import report_section

        lines += report_section(Path(run_dir), [lb for lb, m in metrics.items() if not is_random(m)])
    lines += ["## Conventions", ""] + [f"- {k}: {v}" for k, v in sorted(summary["conventions"].items())]
    for m in metrics.values():
        lines.append(f"- `{m['label']}`: {m['name']} v{m['version']}, params "
                     f"`{records.dumps(m['params'], indent=None)}`")
    return "\n".join(lines) + "\n"


def write_run_report(run_dir: Path, summary: dict[str, Any]) -> Path:
    path = Path(run_dir) / "report.md"
    records.atomic_write_text(path, render_run_report(Path(run_dir), summary))
    return path


def _rank_marks(values: list[float | None], higher: bool) -> list[str]:
    """'best' / 'second' / '' per value (ties share a mark)."""
    finite = sorted({v for v in values if v is not None and math.isfinite(v)}, reverse=higher)
    best = finite[0] if finite else None
    second = finite[1] if len(finite) > 1 else None
    return ["best" if v is not None and v == best else "second" if v is not None and v == second else ""
            for v in values]


def _table_key(s: dict[str, Any]) -> tuple:
    """Runs share a table when they scored the same dataset bytes, degradation and frames the same way,
    and belong to the same track (:func:`track_of`)."""
    ds = s["dataset"]
    return (ds["name"], ds["degradation"], s["max_frames"] or 0,
            records.stable_hash({"dataset": ds["manifest_sha256"], "conventions": s["conventions"]}, 12),
            track_of(s))


TRACKS = ("online (causal)", "offline")


def track_of(s: dict[str, Any]) -> tuple[int, str]:
    """(order, title) of a run's leaderboard track: run by infvsr-bench or precomputed elsewhere, crossed
    with online (causal, streaming) or offline. Runs of different tracks are never ranked together."""
    meth = s["method"]
    online = meth.get("track") == "online"
    pre = meth.get("source") == "precomputed"
    title = ("precomputed outputs" if pre else "run by infvsr-bench") + " · " + TRACKS[0 if online else 1]
    return (2 * int(pre) + (0 if online else 1), title)


def _column_key(label: str, m: dict[str, Any]) -> tuple[str, str]:
    """A column is one metric with one version and one set of parameters; numbers of another variant of
    the same metric get a column of their own and never share a ranking."""
    return (label, records.stable_hash({"version": m["version"], "params": m["params"]}, 8))


def render_leaderboard(runs_root: Path, output: Path, published_files: list[Path] | None = None) -> str:
    """One table per (dataset, degradation, frame limit, dataset bytes + conventions); one column per metric
    variant; best in bold, second in italics; metrics a run could not compute show why in its report.

    Published results (``published_files``, default every CSV in ``<runs_root>/published/``) are shown as a
    separate "published" track after the measured tables of the same dataset, never ranked with them."""
    from . import published

    if published_files is None:
        published_files = published.find_files(Path(runs_root) / "published")
    tracks = published.by_dataset(list(published_files))
    track_src = {c.paper: _rel(f, output) for f in published_files for c in published.load(f)[:1]}
    groups: dict[tuple, list[tuple[Path, dict[str, Any]]]] = defaultdict(list)
    for path in records.find_summaries(runs_root):
        try:
            s = records.read_summary(path)
        except ValueError as exc:  # one bad file never takes the whole leaderboard down
            log.warning("leaderboard: skipped %s", exc)
            continue
        groups[_table_key(s)].append((path, s))
    lines = ["# infvsr-bench leaderboard", "",
             f"Generated by `infvsr-bench leaderboard` from the run summaries under `{_rel(runs_root, output)}`. "
             "Do not edit by hand. Scores are means of clip means with 95% bootstrap intervals over clips; "
             "**bold** is best, *italics* second best in each column. Runs share a table only when they scored "
             "the same dataset bytes, degradation and frames under the same conventions; a column holds one "
             "metric version with one set of parameters. — means not computed (see the run's report for why).",
             ""]
    if not groups:
        lines += ["No runs yet: `infvsr-bench run` writes them.", ""]
    footnotes: list[str] = []
    ordered = sorted(groups.items(), key=lambda kv: kv[0])
    last_of = {kv[0][0]: i for i, kv in enumerate(ordered)}  # index of each dataset's last measured table
    for index, ((name, degr, maxf, key, (_, track)), runs) in enumerate(ordered):
        # complete runs first; a run with failed or missing clips is listed after them and never ranked
        runs.sort(key=lambda r: (incomplete(r[1]) is not None, r[1]["method"]["name"], str(r[0])))
        frames = "all frames" if not maxf else f"first {maxf} frames per clip"
        lines += [f"## {name} · {degr} · {frames} · {track}", "", f"Dataset + conventions key `{key}`.", ""]
        columns: dict[tuple[str, str], dict[str, Any]] = {}
        for _, s in runs:
            for lb, m in s["metrics"].items():
                columns.setdefault(_column_key(lb, m), m)
        per_label = defaultdict(list)
        for ck in columns:
            per_label[ck[0]].append(ck)
        titles = {ck: metric_title(m) + (f" [variant {per_label[ck[0]].index(ck) + 1}]"
                                         if len(per_label[ck[0]]) > 1 else "") for ck, m in columns.items()}
        cols: dict[tuple[str, str], list[str]] = {}
        for ck, meta in columns.items():
            found = [s["metrics"].get(ck[0]) for _, s in runs]
            found = [m if m is not None and _column_key(ck[0], m) == ck else None for m in found]
            vals = [None if m is None or s["method"].get("random_weights") or is_random(m) else m.get("mean")
                    for (_, s), m in zip(runs, found)]
            ranked = [None if incomplete(s) else v for (_, s), v in zip(runs, vals)]
            marks = _rank_marks(ranked, bool(meta["higher_is_better"]))
            cells = []
            for v, m, mark in zip(vals, found, marks):
                cell = "—" if v is None or m is None else f"{fmt(v)} [{fmt(m['ci95'][0])}, {fmt(m['ci95'][1])}]"
                cells.append(f"**{cell}**" if mark == "best" else f"*{cell}*" if mark == "second" else cell)
            cols[ck] = cells
        rows = []
        for i, (path, s) in enumerate(runs):
            c = s["clips"]
            rep = f"[report]({_rel(path.parent / 'report.md', output)})"
            if (path.parent / "plots").is_dir():
                rep += f" · [plots]({_rel(path.parent / 'plots', output)})"
            name_cell = s["method"]["name"] + (" (random weights)" if s["method"].get("random_weights") else "")
            name_cell += " (incomplete, not ranked)" if incomplete(s) else ""
            rows.append([name_cell, s["method"]["track"]] + [cols[ck][i] for ck in columns]
                        + [fps_cell(s.get("throughput")), f"{c['ok']}/{c['total']}", rep])
        lines += _table(["Method", "Track"] + [titles[ck] for ck in columns] + ["FPS", "Clips", "Run"], rows)
        lines.append("")
        partial = [f"{s['method']['name']} ({incomplete(s)})" for _, s in runs if incomplete(s)]
        if partial:
            lines += ["Incomplete runs have means over fewer clips than the others: they are listed last and "
                      "never ranked. " + "; ".join(partial) + ".", ""]
        absent: dict[str, list[str]] = defaultdict(list)
        for _, s in runs:
            for lb in sorted(s.get("unavailable") or {}):
                absent[lb].append(s["method"]["name"])
        if absent:
            lines += ["Not computed (the reason is in each run's report, e.g. a missing weight file): "
                      + "; ".join(f"`{lb}` ({', '.join(ms)})" for lb, ms in sorted(absent.items())) + ".", ""]
        for ck, m in columns.items():
            note = (f"{titles[ck]}: `{ck[0]}` = {m['name']} v{m['version']}, params "
                    f"`{records.dumps(m['params'], indent=None)}`")
            if note not in footnotes:
                footnotes.append(note)
        if last_of[name] == index and name in tracks:  # the published track beside this dataset's measured runs
            lines += published.render_track(name, tracks.pop(name), track_src)
    for name in sorted(tracks):  # published datasets with no measured run yet
        lines += [f"## {name} · published only", "", "No measured run of this dataset yet.", ""]
        lines += published.render_track(name, tracks[name], track_src)
    if footnotes:
        lines += ["## Metric conventions", ""] + [f"- {n}" for n in footnotes]
        lines += ["- FPS: steady-state frames/s of the method alone (warm-up chunk excluded) at the stated "
                  "output size and device; for an external program, its wall time less the startup it reports; "
                  "none for precomputed outputs.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _rel(path: Path, output: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(output).resolve().parent)).as_posix()


def write_leaderboard(runs_root: Path, output: Path) -> Path:
    records.atomic_write_text(output, render_leaderboard(runs_root, output))
    return output


def leaderboard_is_current(runs_root: Path, output: Path) -> bool:
    return output.exists() and output.read_text(encoding="utf-8") == render_leaderboard(runs_root, output)
