"""A run's pictures on disk, and the report section that shows them.

Per clip: ``profiles/<clip>.json`` (rows, cuts, chunk boundaries, sampled frames), the raw profiles as
lossless images ``profiles/<clip>/raw/<row-y|col-x>.<output|gt>.png`` (time down, position across; PNG holds
them in about half the bytes of a compressed array), and the figures ``profiles/<clip>/row-<y>.png`` and
``col-<x>.png``; ``moments/<clip>.json`` (the kept moments), ``moments/<clip>.npz`` (their crops, lossless)
and ``moments/<metric>/<clip>-f<frame>[-jump].png``. Files are written whole (atomic replace); the raw data
is what ``compare`` reads, the figures what a person looks at.
"""
from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from .. import records
from . import profile_figure, tiles
from .moments import crop_key

log = logging.getLogger(__name__)
K_SHOWN = 4  # worst moments per metric and kind shown for a run (over all its clips)


def safe(name: str) -> str:
    """A file-name-safe form of a metric label or clip id."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", name).strip("_") or "_"


RAW = {"sr": "output", "gt": "gt"}


def _png_bytes(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG")
    return buf.getvalue()


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def save(run_dir: Path, payload: dict[str, Any], method: str) -> None:
    """Write one clip's pictures; a failure is logged, never fatal (the clip's records are already safe)."""
    try:
        _save_profiles(Path(run_dir), payload, method)
        _save_moments(Path(run_dir), payload, method)
    except Exception as exc:
        log.error("pictures of clip %s failed: %s: %s", payload.get("clip"), type(exc).__name__, exc)


def _meta(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: payload.get(k) for k in ("clip", "frames", "scene_cuts", "chunk_boundaries")}


def _save_profiles(run_dir: Path, payload: dict[str, Any], method: str) -> None:
    prof = payload["profiles"]
    clip = payload["clip"]
    for key, arr in prof.items():
        if "/" in key:
            who, name = key.split("/")
            records.atomic_write_bytes(run_dir / "profiles" / safe(clip) / "raw" / f"{name}.{RAW[who]}.png",
                                       _png_bytes(arr))
    records.write_json(run_dir / "profiles" / f"{safe(clip)}.json",
                       {**_meta(payload), "frame_index": prof["frame_index"].tolist(),
                        "profiles": sorted(k.split("/")[1] for k in prof if k.startswith("sr/"))})
    for key in (k for k in prof if k.startswith("sr/")):
        name = key[3:]
        layers = [(f"output of {method}", prof[key], payload.get("chunk_boundaries"))]
        if f"gt/{name}" in prof:
            layers.append(("ground truth", prof[f"gt/{name}"], None))
        draw_profile(run_dir / "profiles" / safe(clip) / f"{name}.png", clip, name, layers, prof["frame_index"],
                     payload.get("scene_cuts") or [])


def draw_profile(path: Path, clip: str, name: str, layers, frame_index, cuts) -> Path:
    kind, pos = name.split("-", 1)
    what = f"row y={pos}" if kind == "row" else f"column x={pos}"
    return profile_figure.draw(path, f"Temporal profile of {clip}, {what} (time left to right)", layers,
                               frame_index, cuts, "x" if kind == "row" else "y")


def moment_caption(m: dict[str, Any], units: dict[str, Any]) -> str:
    unit = (units.get(m["metric"]) or {}).get("unit") or ""
    unit = f" {unit}" if unit else ""
    if m["kind"] == "jump":
        return (f"{m['metric']} jump #{m['rank']}: frame {m['frame'] - 1}->{m['frame']}, "
                f"{m['previous_value']:.4g} -> {m['value']:.4g}{unit}")
    return f"{m['metric']} worst #{m['rank']}: frame {m['frame']}, {m['value']:.4g}{unit}"


def _save_moments(run_dir: Path, payload: dict[str, Any], method: str) -> None:
    clip = payload["clip"]
    crops: dict[str, np.ndarray] = {}
    index = []
    for m in payload["moments"]:
        for t, c in m["crops"].items():
            for what, arr in c.items():
                crops[crop_key(int(t), m["box"], what)] = arr
        suffix = "-jump" if m["kind"] == "jump" else ""
        png = f"moments/{safe(m['metric'])}/{safe(clip)}-f{m['frame']}{suffix}.png"
        index.append({**{k: v for k, v in m.items() if k != "crops"}, "clip": clip, "png": png,
                      "frames_shown": sorted(int(t) for t in m["crops"]), "method": method})
    records.atomic_write_bytes(run_dir / "moments" / f"{safe(clip)}.npz", _npz_bytes(crops))
    records.write_json(run_dir / "moments" / f"{safe(clip)}.json",
                       {**_meta(payload), "metrics": payload["metrics"], "moments": index})


def finish_run(run_dir: Path) -> None:
    """End of a run: draw its worst-moment panels; a failure is logged, never fatal."""
    try:
        render_moments(run_dir)
    except Exception as exc:
        log.error("worst-moment panels of %s failed: %s: %s", run_dir, type(exc).__name__, exc)


def lr_display(lr: np.ndarray, side: int) -> np.ndarray:
    """An LR crop zoomed (nearest neighbour) to the output crop's size, for display beside it."""
    return tiles.zoom_nearest(lr, max(1, side // lr.shape[0]))


def render_moments(run_dir: Path, k: int = K_SHOWN) -> list[Path]:
    """Draw the panels of the run's ``k`` worst moments per metric and kind (over all clips), removing panels
    of moments no longer among them (e.g. after --resume added clips). Returns the PNGs written."""
    run_dir = Path(run_dir)
    moments = read_moments(run_dir)
    keep: list[Path] = []
    selected: list[dict[str, Any]] = []
    crops_of: dict[str, dict[str, np.ndarray]] = {}
    for metric, kind in dict.fromkeys((m["metric"], m["kind"]) for m in moments):
        for m in worst(moments, metric, kind, k):
            selected.append(m)
            if m["clip"] not in crops_of:
                crops_of[m["clip"]] = load_crops(run_dir, m["clip"])
            crops = crops_of[m["clip"]]
            rows = []
            for t in m["frames_shown"]:
                sr = crops[crop_key(t, m["box"], "sr")]
                row = [(f"frame {t} · LR (nearest)", lr_display(crops[crop_key(t, m["box"], "lr")], sr.shape[0])),
                       (m.get("method", "output"), sr)]
                gt = crops.get(crop_key(t, m["box"], "gt"))
                if gt is not None:
                    row.append(("ground truth", gt))
                rows.append(row)
            keep.append(tiles.grid(rows, f"{m['clip']} · " + moment_caption(m, m["units"]), run_dir / m["png"]))
    for old in (run_dir / "moments").glob("*/*.png"):
        if old not in keep:
            old.unlink()
    _prune(run_dir, selected)
    return keep


def _prune(run_dir: Path, selected: list[dict[str, Any]]) -> None:
    """Keep on disk only the moments shown (and their crops): a moment not among the run's worst K can never
    come back, as clips added later (--resume) only raise the bar."""
    wanted = {(m["clip"], m["metric"], m["kind"], m["frame"]) for m in selected}
    for path in sorted((run_dir / "moments").glob("*.json")):
        doc = records.read_json(path)
        kept = [m for m in doc["moments"] if (m["clip"], m["metric"], m["kind"], m["frame"]) in wanted]
        if len(kept) == len(doc["moments"]):
            continue
        keys = {crop_key(t, m["box"], w) for m in kept for t in m["frames_shown"] for w in ("lr", "sr", "gt")}
        crops = load_crops(run_dir, doc["clip"])
        records.atomic_write_bytes(path.with_suffix(".npz"), _npz_bytes({k: v for k, v in crops.items() if k in keys}))
        records.write_json(path, {**doc, "moments": kept})


def read_moments(run_dir: Path) -> list[dict[str, Any]]:
    """Every kept moment of a run (all clips), each with its clip's metric units under ``units``."""
    out = []
    for path in sorted((Path(run_dir) / "moments").glob("*.json")):
        doc = records.read_json(path)
        out += [{**m, "units": doc.get("metrics") or {}} for m in doc["moments"]]
    return out


def worst(moments: list[dict[str, Any]], metric: str, kind: str, k: int) -> list[dict[str, Any]]:
    """The ``k`` worst of a run's moments of one metric and kind, over all clips (ties: clip, frame)."""
    sel = [m for m in moments if m["metric"] == metric and m["kind"] == kind]
    return sorted(sel, key=lambda m: (-m["badness"], m["clip"], m["frame"]))[:k]


def report_section(run_dir: Path, scored: list[str], k: int = K_SHOWN) -> list[str]:
    """Markdown lines: drift of the ``scored`` metrics, the run's temporal profiles and worst moments."""
    from . import drift

    run_dir = Path(run_dir)
    lines: list[str] = []
    found = drift.run_drift(run_dir)
    rows = [(lb, found[lb]) for lb in scored if lb in found]
    if rows:
        lines += ["## Drift", "", drift.EXPLAIN, ""] + drift.table_lines(rows) + [""]
    pngs = sorted((run_dir / "profiles").glob("*/*.png"))  # the figures (raw data sits one folder lower)
    if pngs:
        lines += ["## Temporal profiles", "",
                  "One row (or column) of every output frame stacked over time, above the ground truth's at the "
                  "same place; static structure that wobbles is flicker. Rows are where the reference moves "
                  "least in the clip's first frames (the same rows for every method). Dashed red: scene cuts; "
                  "orange ticks: the method's chunk boundaries.", ""]
        lines += [f"![{p.parent.name} {p.stem}]({p.relative_to(run_dir).as_posix()})" for p in pngs] + [""]
    moments = read_moments(run_dir)
    if moments:
        lines += ["## Worst moments", "",
                  f"Per metric, the {k} worst frames over all clips (and for temporal metrics the {k} largest "
                  "jumps between neighbouring frames of one scene), found while streaming. Each shows the same "
                  "crop of the LR input (nearest-neighbour zoom), the output and the ground truth; the crop is "
                  "where the LR frame has the most structure.", ""]
        keys = list(dict.fromkeys((m["metric"], m["kind"]) for m in moments))
        for metric, kind in keys:
            sel = worst(moments, metric, kind, k)
            title = f"{metric}: largest jumps" if kind == "jump" else f"{metric}: worst frames"
            lines += [f"### {title}", ""]
            for m in sel:
                if not (run_dir / m["png"]).is_file():
                    continue
                lines += [f"- {m['clip']} · {moment_caption(m, m['units'])}", "",
                          f"  ![{metric} {m['clip']} frame {m['frame']}]({m['png']})", ""]
    return lines


def load_profiles(run_dir: Path, clip: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """(arrays keyed ``sr/row-12`` etc., meta) of one clip of a run, or None if it kept none."""
    from PIL import Image

    path = Path(run_dir) / "profiles" / f"{safe(clip)}.json"
    if not path.is_file():
        return None
    meta = records.read_json(path)
    arrays = {"frame_index": np.asarray(meta["frame_index"], np.int64)}
    for name in meta["profiles"]:
        for who, tag in RAW.items():
            raw = path.parent / safe(clip) / "raw" / f"{name}.{tag}.png"
            if raw.is_file():
                with Image.open(raw) as im:
                    arrays[f"{who}/{name}"] = np.asarray(im.convert("RGB"))
    return arrays, meta


def load_crops(run_dir: Path, clip: str) -> dict[str, np.ndarray]:
    path = Path(run_dir) / "moments" / f"{safe(clip)}.npz"
    if not path.is_file():
        return {}
    with np.load(path) as z:
        return {k: z[k] for k in z.files}
