"""Dataset recipes → materialised LR/HR videos + ``manifest.json``; loading, verifying and resolving them.

A recipe is a TOML file (``datasets/<name>.toml`` in the repository, or any path). ``build()`` writes
``<data dir>/<name>[-max<N>]/{hr,lr}/<clip>.mkv`` (FFV1, lossless RGB, streamed chunk by chunk) and then,
last and atomically, ``manifest.json``: a folder without a manifest is a half-built dataset. Builds are
deterministic (same recipe → same bytes), so the sha256 of every file can be checked by ``verify()``.

Sources:
- ``synthetic``: clips rendered by :mod:`infvsr_bench.synth` and degraded by :mod:`infvsr_bench.degrade`.
- ``videos``: a folder of user HR videos; HR is centre-cropped to a multiple of the scale, stored as FFV1,
  degraded to LR; scene cuts come from PySceneDetect's ContentDetector run on the stored HR.
- ``lr-videos``: a folder of LR-only videos (no ground truth, ``has_hr`` false). Each is decoded and stored
  again losslessly as ``lr/<clip>.mkv``: the frames are exactly what a decoder gives for the original
  file, the layout is the same as for the other sources, and ``max_frames`` can truncate it.

The manifest schema (version 1) is documented in ``datasets/README.md``; the runner relies on it.
"""
from __future__ import annotations

import difflib
import functools
import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from .errors import BadInput, DatasetIntegrityError, UnknownName, VideoError
from .names import SAFE_NAME, is_safe
from .progress import ProgressLog
from .records import atomic_write_text, sha256_file

log = logging.getLogger(__name__)

SCHEMA = 1
BUILDER_VERSION = 1  # bump when synth/degrade output changes: part of recipe_sha256, so old builds go stale
CHUNK = 32  # frames per chunk while building
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".y4m")
SOURCES = ("synthetic", "videos", "lr-videos", "frames", "lr-frames")  # frames, lr-frames: see layouts.py
_COMMON_KEYS = {"description", "source", "seed", "scale", "degradation"}
_FOLDER_KEYS = {"path", "pattern", "extensions", "scene_threshold", "scene_min_len"}
_KEYS = {"synthetic": _COMMON_KEYS | {"fps", "width", "height", "motion", "clips"},
         "videos": _COMMON_KEYS | _FOLDER_KEYS | {"get"}, "lr-videos": _COMMON_KEYS | _FOLDER_KEYS | {"get"}}
_FRAME_KEYS = _COMMON_KEYS | _FOLDER_KEYS | {"get", "hr_dir", "lr_dir", "clips", "hr_crop", "lr_resize", "fps"}
_KEYS.update({"frames": _FRAME_KEYS, "lr-frames": _FRAME_KEYS})
_GIVEN_LR = ("lr-videos", "frames", "lr-frames")  # sources whose LR is given, not degraded here
_CLIP_KEYS = {"id", "photos", "frames", "cuts", "scene_length", "motion", "layers"}
_LAYER_KEYS = {"photo", "photos", "shape", "size", "period", "max_speed", "spin", "feather", "opacity"}
_NAME_RE = SAFE_NAME


# ---------------------------------------------------------------------------------------------- recipes
@dataclass(frozen=True)
class Recipe:
    """A parsed recipe: ``name`` (file stem), ``path``, the TOML ``data`` and its ``sha256``."""

    name: str
    path: Path
    data: dict[str, Any]
    sha256: str

    @property
    def source(self) -> str:
        return self.data.get("source", "synthetic")


def recipes_dir() -> Path:
    """The folder of named recipes: ``$INFVSR_BENCH_RECIPES`` or the repository's ``datasets/``."""
    env = os.environ.get("INFVSR_BENCH_RECIPES")
    if env:
        return Path(env).expanduser()
    import infvsr_bench

    return Path(infvsr_bench.__file__).resolve().parents[1] / "datasets"


def default_data_dir() -> Path:
    """Where media go: ``$INFVSR_BENCH_DATA``, else ``$XDG_CACHE_HOME/infvsr-bench/data`` (~/.cache)."""
    env = os.environ.get("INFVSR_BENCH_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "infvsr-bench" / "data"


def recipe_hash(data: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a parsed recipe together with :data:`BUILDER_VERSION`."""
    key: dict[str, Any] = {"builder": BUILDER_VERSION, "recipe": data}
    deg = data.get("degradation")
    if isinstance(deg, dict) and deg.get("kind") == "realworld":  # its H.264 stage changed (x264 mbtree=0):
        key["h264"] = 2  # builds made before are stale; other recipes keep their hash (and comparability keys)
    blob = json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _known_recipes() -> dict[str, Path]:
    d = recipes_dir()
    return {p.stem: p for p in sorted(d.glob("*.toml"))} if d.is_dir() else {}


def find_recipe(name: str) -> Path:
    """Path of a named recipe; :class:`UnknownName` with a did-you-mean otherwise."""
    known = _known_recipes()
    if name in known:
        return known[name]
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownName(f"unknown dataset {name!r}{hint} (known: {', '.join(known) or 'none'} in {recipes_dir()})")


def load_recipe(recipe: str | os.PathLike | Recipe) -> Recipe:
    """Parse and validate a recipe given by name, by .toml path, or pass a :class:`Recipe` through."""
    if isinstance(recipe, Recipe):
        return recipe
    s = str(recipe)
    path = Path(s).expanduser() if (s.endswith(".toml") or os.sep in s) else find_recipe(s)
    if not path.is_file():
        raise BadInput(f"recipe file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"recipe {path} is not valid TOML: {exc}") from exc
    name = path.stem
    if not _NAME_RE.match(name):
        raise BadInput(f"recipe name {name!r} (from {path.name}) must match {_NAME_RE.pattern}")
    rec = Recipe(name=name, path=path.resolve(), data=data, sha256=recipe_hash(data))
    _validate(rec)
    return rec


def _fail(rec: Recipe, msg: str) -> BadInput:
    return BadInput(f"recipe {rec.path.name}: {msg}")


def _validate(rec: Recipe) -> None:
    d = rec.data
    if rec.source not in SOURCES:
        raise _fail(rec, f"source must be one of {', '.join(SOURCES)}, got {rec.source!r}")
    extra = set(d) - _KEYS[rec.source]
    if extra:
        raise _fail(rec, f"unknown key(s) for source {rec.source!r}: {', '.join(sorted(extra))}")
    if not isinstance(d.get("description"), str):
        raise _fail(rec, "needs a description string")
    if not isinstance(d.get("scale"), int) or d["scale"] < 1:
        raise _fail(rec, "scale must be an integer >= 1")
    if not isinstance(d.get("seed", 0), int):
        raise _fail(rec, "seed must be an integer")
    if rec.source == "synthetic":
        for key in ("width", "height"):
            if not isinstance(d.get(key), int) or d[key] % d["scale"]:
                raise _fail(rec, f"{key} must be an integer multiple of scale {d['scale']}")
        fps = d.get("fps", 25.0)
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (math.isfinite(fps) and fps > 0):
            raise _fail(rec, f"fps must be a positive number, got {fps!r}")
        if not d.get("clips"):
            raise _fail(rec, "a synthetic recipe needs at least one [[clips]] table")
        _synthetic_specs(rec)  # raises on any bad clip
    else:
        if not isinstance(d.get("path"), str):
            raise _fail(rec, f"source {rec.source!r} needs path = \"<folder of videos>\"")
    if rec.source in _GIVEN_LR:
        if not isinstance(d.get("degradation", ""), str):
            raise _fail(rec, f"for {rec.source}, degradation is a free label string (e.g. \"unknown\")")
        if rec.source != "lr-videos":
            from .layouts import validate as validate_layout

            validate_layout(rec)
    else:
        from .degrade import make_degradation

        if "degradation" not in d:
            raise _fail(rec, "needs a degradation (\"bicubic\" or a [degradation] table with kind)")
        make_degradation(d["degradation"], d["scale"], d.get("seed", 0))


def _synthetic_specs(rec: Recipe) -> list:
    """One :class:`~infvsr_bench.synth.ClipSpec` per ``[[clips]]`` table."""
    from .synth import PHOTOS, ClipSpec, Layer, Motion, scene_cuts

    d = rec.data
    base_motion = d.get("motion", {})
    specs, seen = [], set()
    for index, c in enumerate(d["clips"]):
        cid = c.get("id")
        if not isinstance(cid, str) or not _NAME_RE.match(cid) or cid in seen:
            raise _fail(rec, f"clip {index}: id must be a unique name matching {_NAME_RE.pattern}, got {cid!r}")
        seen.add(cid)
        extra = set(c) - _CLIP_KEYS
        if extra:
            raise _fail(rec, f"clip {cid}: unknown key(s) {', '.join(sorted(extra))}")
        try:
            motion = {**base_motion, **c.get("motion", {})}
            if "zoom" in motion:
                motion["zoom"] = tuple(motion["zoom"])
            layers = []
            for lay in c.get("layers", []):
                bad = set(lay) - _LAYER_KEYS
                if bad:
                    raise ValueError(f"unknown layer key(s) {', '.join(sorted(bad))}")
                lay = dict(lay)
                photo = lay.pop("photos", None) or lay.pop("photo", None)
                photo = (photo,) if isinstance(photo, str) else tuple(photo or ())
                if not photo:
                    raise ValueError("a layer needs photo = \"<name>\" (or photos = [...])")
                layers.append(Layer(photo=photo, **lay))
            frames = c["frames"]
            spec = ClipSpec(id=cid, photos=tuple(c["photos"]), frames=frames,
                            cuts=scene_cuts(frames, c.get("cuts"), c.get("scene_length")),
                            width=d["width"], height=d["height"], seed=d.get("seed", 0), index=index,
                            motion=Motion(**motion), layers=tuple(layers))
        except (KeyError, TypeError, ValueError) as exc:
            raise _fail(rec, f"clip {cid}: {exc}") from exc
        for name in spec.photos + tuple(p for layer in spec.layers for p in layer.photo):
            if not isinstance(name, str) or name not in PHOTOS:
                close = difflib.get_close_matches(str(name), PHOTOS, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise _fail(rec, f"clip {cid}: unknown photograph {name!r}{hint}")
        specs.append(spec)
    return specs


def _source_files(rec: Recipe) -> list[Path]:
    from .layouts import expand_path, where_to_get

    folder = expand_path(rec, rec.data["path"])  # also expands {raw} (the raw-data root)
    if not folder.is_dir():
        raise _fail(rec, f"video folder not found: {folder}" + (f"; {where_to_get(rec)}" if rec.data.get("get")
                                                                 else ""))
    exts = tuple(e.lower() for e in rec.data.get("extensions", VIDEO_EXTENSIONS))
    files = sorted(p for p in folder.glob(rec.data.get("pattern", "*")) if p.is_file() and p.suffix.lower() in exts)
    if not files:
        raise _fail(rec, f"no videos ({', '.join(exts)}) in {folder}")
    ids = [clip_id(p.stem) for p in files]
    if len(set(ids)) != len(ids):
        raise _fail(rec, f"two videos in {folder} map to the same clip id")
    return files


def list_recipes() -> list[dict[str, Any]]:
    """Every recipe in :func:`recipes_dir`: name, path, description, source, clips (None if unknown).

    A recipe that does not parse is listed with an ``error`` key rather than hiding the others.
    """
    out = []
    for name, path in _known_recipes().items():
        try:
            rec = load_recipe(path)
        except BadInput as exc:
            out.append({"name": name, "path": str(path), "description": "", "source": None, "clips": None,
                        "error": str(exc)})
            continue
        if rec.source == "synthetic":
            n = len(rec.data["clips"])
        elif rec.source in ("frames", "lr-frames"):
            from .layouts import count_clips

            n = count_clips(rec)
        else:
            try:
                n = len(_source_files(rec))
            except BadInput:
                n = None
        out.append({"name": name, "path": str(path), "description": rec.data["description"],
                    "source": rec.source, "clips": n})
    return out


# ---------------------------------------------------------------------------------------------- build
def _check_max_frames(max_frames: int | None) -> int | None:
    if max_frames is None:
        return None
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise BadInput(f"--max-frames must be an integer >= 1, got {max_frames!r}")
    return max_frames


def dataset_folder(rec: Recipe, max_frames: int | None = None, data_dir: str | os.PathLike | None = None) -> Path:
    """``<data dir>/<name>`` or ``<data dir>/<name>-max<N>``."""
    base = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    return base / (rec.name if max_frames is None else f"{rec.name}-max{max_frames}")


def _manifest_matches(path: Path, rec: Recipe, max_frames: int | None) -> bool:
    try:
        m = json.loads(path.read_bytes())
        return (m.get("schema") == SCHEMA and m.get("recipe_sha256") == rec.sha256
                and m.get("max_frames") == max_frames)
    except (OSError, ValueError):
        return False


def detect_cuts(path: str | os.PathLike, threshold: float = 27.0, min_scene_len: int = 15) -> list[int]:
    """First frame of every scene after the first, by PySceneDetect's ContentDetector (PyAV backend)."""
    from scenedetect import ContentDetector, detect

    scenes = detect(str(path), ContentDetector(threshold=threshold, min_scene_len=min_scene_len), backend="pyav")
    return [int(start.frame_num) for start, _ in scenes[1:]]


def clip_id(name: str) -> str:
    """A clip id from a file or folder name: characters outside ``[A-Za-z0-9._-]`` become ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", name).lstrip("-._")[:128] or "clip"


def _entry(root: Path, path: Path, width: int, height: int) -> dict[str, Any]:
    return {"path": path.relative_to(root).as_posix(), "width": width, "height": height,
            "sha256": sha256_file(path)}


def _build_synthetic(rec: Recipe, root: Path, mf: int | None, deg, map_clips=map) -> list[dict[str, Any]]:
    one = functools.partial(_build_synthetic_clip, rec, root, mf, deg, float(rec.data.get("fps", 25.0)))
    return list(map_clips(one, _synthetic_specs(rec)))


def _build_synthetic_clip(rec: Recipe, root: Path, mf: int | None, deg, fps: float, spec) -> dict[str, Any]:
    """Render and write one synthetic clip; return its manifest entry (the unit of parallel building)."""
    from .synth import ClipSynth
    from .video_io import FrameWriter

    s = rec.data["scale"]
    t0 = time.perf_counter()
    n = spec.frames if mf is None else min(spec.frames, mf)
    hr, lr = root / "hr" / f"{spec.id}.mkv", root / "lr" / f"{spec.id}.mkv"
    lines = ProgressLog(f"building {rec.name}/{spec.id}", n)
    with FrameWriter(hr, fps=fps, codec="ffv1") as hw, deg.for_clip(spec.index).open_writer(lr, fps) as lw:
        for chunk in ClipSynth(spec).chunks(CHUNK, stop=n):
            hw.write(chunk)
            lw.write(chunk)
            lines.advance(len(chunk))
    log.info("built %s/%s: %d frames in %.1fs", rec.name, spec.id, n, time.perf_counter() - t0)
    return {"id": spec.id, "frames": n, "fps": fps,
            "hr": _entry(root, hr, spec.width, spec.height),
            "lr": _entry(root, lr, spec.width // s, spec.height // s),
            "scene_cuts": [c for c in spec.cuts if c < n]}


def _build_from_videos(rec: Recipe, root: Path, mf: int | None, deg, map_clips=map) -> list[dict[str, Any]]:
    one = functools.partial(_build_video_clip, rec, root, mf, deg)
    return list(map_clips(one, list(enumerate(_source_files(rec)))))


def _build_video_clip(rec: Recipe, root: Path, mf: int | None, deg, job: tuple[int, Path]) -> dict[str, Any]:
    """Store (crop, degrade) one source video; return its manifest entry (the unit of parallel building)."""
    from .video_io import FrameReader, FrameWriter, probe

    index, src = job
    d = rec.data
    s = d["scale"]
    has_hr = rec.source == "videos"
    t0 = time.perf_counter()
    cid = clip_id(src.stem)
    info = probe(src)
    n = info.frames if mf is None else min(info.frames, mf)
    fps = float(info.fps) if info.fps > 0 else 25.0
    lr = root / "lr" / f"{cid}.mkv"
    lines = ProgressLog(f"building {rec.name}/{cid}", n)
    if has_hr:
        h, w = info.height - info.height % s, info.width - info.width % s
        if h == 0 or w == 0:
            raise BadInput(f"{src}: {info.width}x{info.height} is smaller than the scale {s}")
        y0, x0 = (info.height - h) // 2, (info.width - w) // 2
        hr = root / "hr" / f"{cid}.mkv"
        with FrameWriter(hr, fps=fps, codec="ffv1") as hw, deg.for_clip(index).open_writer(lr, fps) as lw:
            for chunk in FrameReader(src, chunk=CHUNK, max_frames=n).iter_uint8():
                crop = chunk[:, y0:y0 + h, x0:x0 + w]  # (T,H0,W0,3) -> (T,h,w,3), centre crop
                hw.write(crop)
                lw.write(crop)
                lines.advance(len(crop))
        hr_entry, lr_entry = _entry(root, hr, w, h), _entry(root, lr, w // s, h // s)
        cut_src = hr
    else:
        with FrameWriter(lr, fps=fps, codec="ffv1") as lw:
            for chunk in FrameReader(src, chunk=CHUNK, max_frames=n).iter_uint8():
                lw.write(chunk)
                lines.advance(len(chunk))
        hr_entry, lr_entry, cut_src = None, _entry(root, lr, info.width, info.height), lr
    cuts = detect_cuts(cut_src, float(d.get("scene_threshold", 27.0)), int(d.get("scene_min_len", 15)))
    log.info("built %s/%s from %s: %d frames in %.1fs", rec.name, cid, src.name, n, time.perf_counter() - t0)
    return {"id": cid, "frames": n, "fps": fps, "hr": hr_entry, "lr": lr_entry, "scene_cuts": cuts}


def build(recipe: str | os.PathLike | Recipe, max_frames: int | None = None,
          data_dir: str | os.PathLike | None = None, force: bool = False, map_clips=map) -> Path:
    """Materialise a recipe and return the path of its ``manifest.json``.

    An existing manifest built from the same recipe hash and ``max_frames`` is returned as is (unless
    ``force``). Otherwise the old manifest is removed first, every clip is written, and the new manifest
    is written last and atomically. Not safe for two processes building the same folder at once.
    ``map_clips(fn, items)`` (like the builtin ``map``, results in order) runs the per-clip work of the
    synthetic and video sources: :mod:`infvsr_bench.engine_ray` passes one that runs each clip as a Ray task.
    """
    rec = load_recipe(recipe)
    mf = _check_max_frames(max_frames)
    root = dataset_folder(rec, mf, data_dir)
    manifest_path = root / "manifest.json"
    if not force and manifest_path.is_file() and _manifest_matches(manifest_path, rec, mf):
        log.info("dataset %s is up to date at %s", rec.name, root)
        return manifest_path
    if rec.source != "synthetic":  # user data absent: say where to get it and where to put it, before any work
        from .layouts import check_present

        check_present(rec)
    root.mkdir(parents=True, exist_ok=True)
    manifest_path.unlink(missing_ok=True)  # from here on the folder is "half built"
    t0 = time.perf_counter()
    d = rec.data
    if rec.source in ("frames", "lr-frames"):
        from . import layouts

        deg_id = str(d.get("degradation", "given"))
        deg_params = layouts.describe(rec)
        clips = layouts.build_frames(rec, root, mf, map_clips)
    elif rec.source == "lr-videos":
        deg = None
        deg_id = str(d.get("degradation", "unknown"))
        deg_params: dict[str, Any] = {"kind": "unknown", "scale": d["scale"],
                                      "note": "LR-only videos, no ground truth; LR decoded and stored as FFV1"}
        clips = _build_from_videos(rec, root, mf, None, map_clips)
    else:
        from .degrade import make_degradation

        deg = make_degradation(d["degradation"], d["scale"], d.get("seed", 0))
        clips = (_build_synthetic if rec.source == "synthetic" else _build_from_videos)(rec, root, mf, deg,
                                                                                   map_clips)
        deg_id, deg_params = deg.name, deg.describe()
        per_clip = {c["id"]: deg.for_clip(i).params for i, c in enumerate(clips)}
        if any(per_clip.values()):
            deg_params["per_clip"] = per_clip
    keep = {c[r]["path"] for c in clips for r in ("hr", "lr") if c[r] is not None}
    for sub in ("hr", "lr"):  # clips that were in an earlier version of the recipe
        for f in sorted((root / sub).glob("*")) if (root / sub).is_dir() else []:
            if f.is_file() and f.relative_to(root).as_posix() not in keep:
                f.unlink()
    manifest = {"schema": SCHEMA, "name": rec.name, "recipe": d, "recipe_sha256": rec.sha256,
                "seed": d.get("seed", 0), "scale": d["scale"], "degradation": deg_id,
                "degradation_params": deg_params, "has_hr": rec.source not in ("lr-videos", "lr-frames"),
                "max_frames": mf,
                "clips": clips}
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, default=str) + "\n")
    log.info("built dataset %s (%d clips) in %.1fs: %s", rec.name, len(clips), time.perf_counter() - t0,
             manifest_path)
    return manifest_path


# ---------------------------------------------------------------------------------------------- load/verify
_TOP_TYPES: dict[str, Any] = {"schema": int, "name": str, "recipe": dict, "recipe_sha256": str, "seed": int,
                              "scale": int, "degradation": str, "degradation_params": dict, "has_hr": bool,
                              "max_frames": (int, type(None)), "clips": list}
_CLIP_TYPES: dict[str, Any] = {"id": str, "frames": int, "fps": (int, float), "scene_cuts": list,
                               "hr": (dict, type(None)), "lr": dict}
_FILE_TYPES: dict[str, Any] = {"path": str, "width": int, "height": int, "sha256": str}


def _schema_error(path: Path, msg: str) -> DatasetIntegrityError:
    return DatasetIntegrityError(f"manifest {path}: {msg}")


def _check_fields(p: Path, where: str, obj: Any, types: dict[str, Any]) -> None:
    """Every field of ``types`` present in ``obj`` with its type (bool is not a number here); names the first
    that is not."""
    if not isinstance(obj, dict):
        raise _schema_error(p, f"{where} is not a JSON object")
    for key, typ in types.items():
        if key not in obj:
            raise _schema_error(p, f"{where}: field {key!r} is missing")
        v = obj[key]
        if not isinstance(v, typ) or (isinstance(v, bool) and typ is not bool):
            raise _schema_error(p, f"{where}: field {key!r} has the wrong type ({type(v).__name__})")


def _check_clip(p: Path, i: int, c: Any, has_hr: bool, seen: set[str]) -> None:
    """One clip entry: fields and types, a safe unique id (it names files), possible numbers, scene cuts
    strictly increasing inside the clip, file entries relative to the dataset folder."""
    _check_fields(p, f"clip entry {i}", c, _CLIP_TYPES)
    cid = c["id"]
    if not is_safe(cid):
        raise _schema_error(p, f"clip entry {i}: id {cid!r} is not a safe name (it must match "
                               f"{SAFE_NAME.pattern})")
    if cid in seen:
        raise _schema_error(p, f"clip id {cid!r} appears twice")
    seen.add(cid)
    if c["frames"] < 1:
        raise _schema_error(p, f"clip {cid}: frames must be at least 1, got {c['frames']}")
    if not (math.isfinite(c["fps"]) and c["fps"] > 0):
        raise _schema_error(p, f"clip {cid}: fps must be a positive number, got {c['fps']}")
    cuts = c["scene_cuts"]
    if any(isinstance(x, bool) or not isinstance(x, int) for x in cuts) or any(
            b <= a for a, b in zip(cuts, cuts[1:])):
        raise _schema_error(p, f"clip {cid}: scene_cuts {cuts} must be strictly increasing frame numbers")
    if cuts and not 0 < cuts[0] <= cuts[-1] < c["frames"]:
        raise _schema_error(p, f"clip {cid}: scene_cuts {cuts} outside 1..{c['frames'] - 1}")
    if (c["hr"] is not None) != has_hr:
        raise _schema_error(p, f"clip {cid}: hr must be {'an entry' if has_hr else 'null'} "
                               f"when has_hr is {str(has_hr).lower()}")
    for role in ("hr", "lr"):
        e = c[role]
        if e is None:
            continue
        _check_fields(p, f"clip {cid}: {role}", e, _FILE_TYPES)
        if e["width"] < 1 or e["height"] < 1:
            raise _schema_error(p, f"clip {cid}: {role} size {e['width']}x{e['height']} is impossible")
        rel = Path(e["path"])
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise _schema_error(p, f"clip {cid}: {role} path {e['path']!r} must lie inside the dataset folder")


def load_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``manifest.json`` (or the folder holding it), check its schema, add ``root``/``manifest_sha256``.

    Everything the runner relies on is checked here, once, with the offending field named: top-level fields,
    a safe dataset name, at least one clip, and each clip entry (:func:`_check_clip`)."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "manifest.json"
    if not p.is_file():
        raise DatasetIntegrityError(f"manifest not found: {p} (the dataset is missing or only half built)")
    raw = p.read_bytes()
    try:
        m = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _schema_error(p, f"not valid JSON ({str(exc).splitlines()[0]}); truncated or corrupt") from exc
    if not isinstance(m, dict):
        raise _schema_error(p, "not a JSON object")
    if m.get("schema") != SCHEMA:
        raise _schema_error(p, f"schema {m.get('schema')!r} is not the supported schema {SCHEMA}")
    _check_fields(p, "top level", m, _TOP_TYPES)
    if not is_safe(m["name"]):
        raise _schema_error(p, f"dataset name {m['name']!r} is not a safe name (it must match {SAFE_NAME.pattern})")
    if m["scale"] < 1:
        raise _schema_error(p, f"scale must be at least 1, got {m['scale']}")
    if not m["clips"]:
        raise _schema_error(p, "the clip list is empty")
    seen: set[str] = set()
    for i, c in enumerate(m["clips"]):
        _check_clip(p, i, c, m["has_hr"], seen)
    m["root"] = str(p.parent.resolve())
    m["manifest_sha256"] = hashlib.sha256(raw).hexdigest()
    return m


def verify(manifest: dict[str, Any] | str | os.PathLike, hashes: bool = True) -> dict[str, Any]:
    """Check every file of a dataset against its manifest; raise :class:`DatasetIntegrityError` (one line).

    Checks: files exist; sha256 matches (``hashes``); the decoded frame count and size match the entry;
    LR size × scale = HR size; LR and HR have the clip's frame count; scene cuts lie inside the clip.
    Returns the manifest for chaining.
    """
    from .video_io import probe

    m = manifest if isinstance(manifest, dict) else load_manifest(manifest)
    if "root" not in m:
        raise DatasetIntegrityError("verify() needs a manifest from load_manifest() (no 'root')")
    root, s = Path(m["root"]), m["scale"]
    for c in m["clips"]:
        where = f"dataset {m['name']}, clip {c['id']}"
        infos = {}
        for role in ("lr", "hr"):
            e = c[role]
            if e is None:
                continue
            f = root / e["path"]
            if not f.is_file():
                raise DatasetIntegrityError(f"{where}: {role} file {e['path']} is missing")
            if hashes:
                got = sha256_file(f)
                if got != e["sha256"]:
                    raise DatasetIntegrityError(f"{where}: {role} file {e['path']} sha256 mismatch (manifest "
                                                f"{e['sha256'][:12]}…, file {got[:12]}…): modified or corrupt")
            try:
                info = probe(f)
            except VideoError as exc:
                raise DatasetIntegrityError(f"{where}: {role} file {e['path']} cannot be decoded: "
                                            f"{str(exc).splitlines()[0]}") from exc
            if (info.width, info.height) != (e["width"], e["height"]):
                raise DatasetIntegrityError(f"{where}: {role} file {e['path']} is {info.width}x{info.height}, "
                                            f"manifest says {e['width']}x{e['height']}")
            if info.frames != c["frames"]:
                raise DatasetIntegrityError(f"{where}: {role} file {e['path']} has {info.frames} frames, "
                                            f"manifest says {c['frames']}")
            infos[role] = e
        if "hr" in infos:
            lr, hr = infos["lr"], infos["hr"]
            if (lr["width"] * s, lr["height"] * s) != (hr["width"], hr["height"]):
                raise DatasetIntegrityError(f"{where}: lr file {lr['path']} is {lr['width']}x{lr['height']}; × scale "
                                            f"{s} ≠ hr {hr['width']}x{hr['height']}")
        if any(not isinstance(x, int) or not 0 < x < c["frames"] for x in c["scene_cuts"]):
            raise DatasetIntegrityError(f"{where}: scene_cuts {c['scene_cuts']} outside 1..{c['frames'] - 1}")
    return m


# ---------------------------------------------------------------------------------------------- resolve
def resolve(name_or_path: str | os.PathLike, max_frames: int | None = None, build_missing: bool = True,
            check: bool = True) -> dict[str, Any]:
    """A loaded manifest from a recipe name, a .toml path, a manifest.json path or a dataset folder.

    Recipes are looked up in the data dir (``<name>`` or ``<name>-max<N>``) and built first when absent or
    stale (if ``build_missing``). For a manifest or folder, ``max_frames`` selects nothing: the manifest is
    returned as it is and the caller reads only the first ``max_frames`` frames of each clip (an error if
    the dataset was itself built with fewer). ``check`` runs :func:`verify` without hashes.
    """
    mf = _check_max_frames(max_frames)
    s = str(name_or_path)
    p = Path(s).expanduser()
    as_folder = p.is_dir() and ((p / "manifest.json").exists() or os.sep in s or s not in _known_recipes())
    if as_folder or (p.is_file() and p.suffix.lower() == ".json"):
        m = load_manifest(p)
        if mf is not None and m["max_frames"] is not None and mf > m["max_frames"]:
            raise BadInput(f"{p} holds only {m['max_frames']} frames per clip (built with max_frames="
                           f"{m['max_frames']}); pass the recipe {m['name']!r} to build {mf}")
    elif p.suffix.lower() in (".json",) or (os.sep in s and not p.exists()):
        raise BadInput(f"no such dataset file or folder: {p}")
    else:
        rec = load_recipe(name_or_path)
        manifest_path = dataset_folder(rec, mf) / "manifest.json"
        if not _manifest_matches(manifest_path, rec, mf):
            if not build_missing:
                what = "is stale" if manifest_path.is_file() else "is not built"
                raise DatasetIntegrityError(f"dataset {rec.name} {what} at {manifest_path.parent}; build it with "
                                            f"`infvsr-bench build-dataset {rec.name}`")
            build(rec, mf)
        m = load_manifest(manifest_path)
    return verify(m, hashes=False) if check else m


def clip_paths(manifest: dict[str, Any], clip: dict[str, Any]) -> tuple[Path, Path | None]:
    """Absolute (lr, hr) paths of a clip entry (hr is None without ground truth)."""
    root = Path(manifest["root"])
    return root / clip["lr"]["path"], (root / clip["hr"]["path"] if clip["hr"] is not None else None)


def iter_clips(manifest: dict[str, Any], chunk: int = 16, max_frames: int | None = None
               ) -> Iterator[tuple[dict[str, Any], Any, Any]]:
    """Yield ``(clip, lr_reader, hr_reader_or_None)`` with :class:`~infvsr_bench.video_io.FrameReader`s."""
    from .video_io import FrameReader

    for c in manifest["clips"]:
        lr, hr = clip_paths(manifest, c)
        yield (c, FrameReader(lr, chunk=chunk, max_frames=max_frames),
               FrameReader(hr, chunk=chunk, max_frames=max_frames) if hr is not None else None)
