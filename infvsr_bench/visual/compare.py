"""``infvsr-bench compare RUN RUN ...``: one page (``compare.md`` with images) for several runs of the same
dataset: the metric table, the over-time curves overlaid, each method's temporal profiles next to the ground
truth's at the same rows, and the worst moments of each metric with every method side by side.

Compare re-runs nothing: it reads what each run kept. Profile rows depend only on the reference, so runs of
one dataset share them. Worst-moment crops depend only on the LR frame, so two runs that kept the same frame
kept the same region; a run keeps crops only at its own worst frames, and where it did not keep a frame
another run chose, its tile says so instead of showing anything else. Every method's value at that frame
comes from its per-frame records, which every run keeps.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from .. import records
from ..errors import BadInput
from ..report import _table, fmt, is_random, metric_title
from . import store, tiles
from .moments import crop_key

PER_RUN = 2  # worst moments per metric and kind taken from each run


def _load(run_dir: Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    if not (run_dir / "summary.json").is_file():
        raise BadInput(f"no summary.json in {run_dir}: not a finished run folder")
    try:
        summary = records.read_json(run_dir / "summary.json")
    except (OSError, ValueError) as exc:
        raise BadInput(f"unreadable summary.json in {run_dir}: {exc}") from None
    return {"dir": run_dir, "summary": summary,
            "clips": {c["clip"]: c for c in records.read_clips(run_dir) if c.get("status") == "ok"}}


def check_comparable(runs: list[dict[str, Any]]) -> None:
    """Raise BadInput with the reason unless every run scored the same dataset bytes, the same frames and
    under the same conventions."""
    first = runs[0]
    a = first["summary"]
    for r in runs[1:]:
        b = r["summary"]
        why = None
        if b["dataset"]["manifest_sha256"] != a["dataset"]["manifest_sha256"]:
            why = (f"different dataset bytes ({a['dataset']['name']} {a['dataset']['manifest_sha256'][:12]} vs "
                   f"{b['dataset']['name']} {b['dataset']['manifest_sha256'][:12]})")
        elif (a.get("max_frames") or 0) != (b.get("max_frames") or 0):
            why = f"different frame limits ({a.get('max_frames') or 'all'} vs {b.get('max_frames') or 'all'})"
        elif a.get("conventions") != b.get("conventions"):
            why = "different scoring conventions (see each summary.json)"
        if why:
            raise BadInput(f"runs {first['dir']} and {r['dir']} are not comparable: {why}")


def _names(runs: list[dict[str, Any]]) -> list[str]:
    """Column names: the method name, with the run folder added where two runs share a method name."""
    names = [r["summary"]["method"]["name"] for r in runs]
    return [n if names.count(n) == 1 else f"{n} ({r['dir'].name})" for n, r in zip(names, runs)]


def _rel(path: Path, out: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(out).resolve())).as_posix()


def _scored(run: dict[str, Any], label: str) -> bool:
    m = run["summary"]["metrics"].get(label)
    return m is not None and not is_random(m) and not run["summary"]["method"].get("random_weights")


def metric_table(runs: list[dict[str, Any]], names: list[str], out: Path) -> list[str]:
    labels = list(dict.fromkeys(lb for r in runs for lb in r["summary"]["metrics"]))
    header = ["Method"] + [metric_title(next(r["summary"]["metrics"][lb] for r in runs
                                             if lb in r["summary"]["metrics"])) for lb in labels] + ["Clips", "Run"]
    rows = []
    for name, r in zip(names, runs):
        cells = []
        for lb in labels:
            m = r["summary"]["metrics"].get(lb)
            cells.append(f"{fmt(m['mean'])} [{fmt(m['ci95'][0])}, {fmt(m['ci95'][1])}]" if _scored(r, lb) else "—")
        c = r["summary"]["clips"]
        rows.append([name] + cells + [f"{c['ok']}/{c['total']}", f"[report]({_rel(r['dir'] / 'report.md', out)})"])
    return _table(header, rows)


def _profiles(runs, names, out: Path) -> list[str]:
    lines = []
    clips = list(dict.fromkeys(c for r in runs for c in r["clips"]))
    for clip in clips:
        loaded = [store.load_profiles(r["dir"], clip) if clip in r["clips"] else None for r in runs]
        have = [(n, p) for n, p in zip(names, loaded) if p is not None]
        if not have:
            continue
        shared = set.intersection(*({k[3:] for k in p[0] if k.startswith("sr/")} for _, p in have))
        for name in sorted(shared):
            arrays, meta = have[0][1]
            layers = []
            gt = next((p[0][f"gt/{name}"] for _, p in have if f"gt/{name}" in p[0]), None)
            if gt is not None:
                layers.append(("ground truth", gt, None))
            layers += [(n, p[0][f"sr/{name}"], p[1].get("chunk_boundaries")) for n, p in have]
            png = store.draw_profile(out / "profiles" / store.safe(clip) / f"{name}.png", clip, name, layers,
                                     arrays["frame_index"], meta.get("scene_cuts") or [])
            lines += [f"![{clip} {name}]({_rel(png, out)})", ""]
        missing = [n for n, p in zip(names, loaded) if p is None and clip in runs[names.index(n)]["clips"]]
        if missing:
            lines += [f"- {clip}: no profiles kept by {', '.join(missing)} (run with pictures on to add them)", ""]
    return lines


def _value_at(run: dict[str, Any], clip: str, label: str, frame: int, cache: dict) -> float:
    key = (str(run["dir"]), clip)
    if key not in cache:
        cache[key] = records.read_frames(run["dir"], clip) if clip in run["clips"] else {}
    series = cache[key].get(label)
    return float(series[frame]) if series is not None and frame < series.size else math.nan


def _moments(runs, names, out: Path) -> list[str]:
    lines: list[str] = []
    kept = [store.read_moments(r["dir"]) for r in runs]
    series_cache: dict = {}
    crop_cache: dict = {}
    keys = list(dict.fromkeys((m["metric"], m["kind"]) for ms in kept for m in ms))
    for metric, kind in keys:
        chosen: dict[tuple[str, int], dict[str, Any]] = {}
        for name, ms in zip(names, kept):
            for m in store.worst(ms, metric, kind, PER_RUN):
                chosen.setdefault((m["clip"], m["frame"]), {**m, "chosen_by": []})["chosen_by"].append(name)
        meta = next((r["summary"]["metrics"][metric] for r in runs if metric in r["summary"]["metrics"]), {})
        unit = f" {meta['unit']}" if meta.get("unit") else ""
        lines += [f"### {metric}: {'largest jumps' if kind == 'jump' else 'worst frames'}", ""]
        for (clip, frame), m in chosen.items():
            values = [_value_at(r, clip, metric, frame, series_cache) for r in runs]
            rows = []
            for t in m["frames_shown"]:
                row = [(f"frame {t} · LR (nearest)", None)]
                gt = None
                for name, r in zip(names, runs):
                    ck = (str(r["dir"]), clip)
                    if ck not in crop_cache:
                        crop_cache[ck] = store.load_crops(r["dir"], clip)
                    crops = crop_cache[ck]
                    sr = crops.get(crop_key(t, m["box"], "sr"))
                    v = _value_at(r, clip, metric, t, series_cache)
                    row.append((f"{name}: {fmt(v)}{unit}", sr))
                    if row[0][1] is None and crop_key(t, m["box"], "lr") in crops:
                        row[0] = (row[0][0], store.lr_display(crops[crop_key(t, m["box"], "lr")], m["box"][2]))
                    gt = gt if gt is not None else crops.get(crop_key(t, m["box"], "gt"))
                if gt is not None:
                    row.append(("ground truth", gt))
                rows.append(row)
            suffix = "-jump" if kind == "jump" else ""
            png = out / "moments" / store.safe(metric) / f"{store.safe(clip)}-f{frame}{suffix}.png"
            at = f"jump at frames {frame - 1}->{frame}" if kind == "jump" else f"at frame {frame}"
            title = f"{clip} · {metric} {at} (chosen by {', '.join(m['chosen_by'])})"
            tiles.grid(rows, title, png, missing="not kept by this run")
            vals = ", ".join(f"{n} {fmt(v)}{unit}" for n, v in zip(names, values))
            lines += [f"- {clip}, frame {frame}: {vals} (among the worst of {', '.join(m['chosen_by'])})", "",
                      f"  ![{metric} {clip} frame {frame}]({_rel(png, out)})", ""]
    return lines


def compare(run_dirs: list[Path], out: Path) -> Path:
    """Write ``out/compare.md`` and its images; BadInput (exit 2) if the runs cannot be compared."""
    from .. import plots

    if len(run_dirs) < 2:
        raise BadInput("compare needs at least two run folders")
    runs = [_load(d) for d in run_dirs]
    check_comparable(runs)
    names = _names(runs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = runs[0]["summary"]["dataset"]
    frames = "all frames" if not runs[0]["summary"].get("max_frames") else \
        f"first {runs[0]['summary']['max_frames']} frames per clip"
    lines = [f"# {' vs '.join(names)} on {ds['name']} ({ds['degradation']})", "",
             f"Generated by `infvsr-bench compare` from {len(runs)} runs of the same dataset bytes "
             f"(manifest sha256 `{ds['manifest_sha256'][:16]}`, {frames}). Nothing was re-run: every picture "
             "is made from what the runs kept.", "", "## Metrics", "",
             "Mean of clip means with a 95% bootstrap interval over clips; — means not computed or not a score.",
             ""]
    lines += metric_table(runs, names, out) + ["", "## Over time", ""]
    loaded = [plots._load_run(r["dir"]) for r in runs]
    labels = list(dict.fromkeys(lb for r in runs for lb in r["summary"]["metrics"] if _scored(r, lb)))
    (out / "plots").mkdir(exist_ok=True)
    for lb in labels:
        png = plots.metric_over_time(loaded, lb, out / "plots")
        if png is not None:
            lines += [f"![{lb} over time]({_rel(png, out)})", ""]
    from . import drift

    found = [drift.run_drift(r["dir"]) for r in runs]
    rows = [(f"{lb} · {name}", d[lb]) for lb in labels for name, r, d in zip(names, runs, found)
            if lb in d and _scored(r, lb)]
    if rows:
        lines += ["## Drift", "", drift.EXPLAIN, ""] + drift.table_lines(rows) + [""]
    prof = _profiles(runs, names, out)
    lines += ["## Temporal profiles", "",
              "The ground truth's profile on top, then each method's at the same row (rows are chosen from the "
              "reference alone, so every run of this dataset has them). Dashed red: scene cuts; orange ticks: "
              "each method's chunk boundaries.", ""]
    lines += prof or ["No run kept temporal profiles (run without --no-visuals to keep them).", ""]
    mom = _moments(runs, names, out)
    lines += ["## Worst moments", "",
              f"For each metric, the {PER_RUN} worst frames of each run (and for temporal metrics the largest jumps "
              "between neighbouring frames), with every method's crop of the same frame and region side by side: "
              "LR input (nearest-neighbour zoom), each method, ground truth. A run keeps crops only at its own "
              "worst frames; a grey tile marks a frame that run did not keep (its value at that frame is still "
              "given, from its per-frame records).", ""]
    lines += mom or ["No run kept worst moments (run without --no-visuals to keep them).", ""]
    path = out / "compare.md"
    records.atomic_write_text(path, "\n".join(lines).rstrip("\n") + "\n")
    return path
