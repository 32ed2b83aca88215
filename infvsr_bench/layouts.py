"""Readers for test sets distributed as folders of frames: the ``frames`` and ``lr-frames`` recipe sources.

The published VSR test sets (UDM10, SPMCS, MVSR4x, VideoLQ, ...) ship as one folder of numbered images per
clip, not as videos. Two recipe sources read them where the user has put them and store every clip as a
lossless FFV1 video, so that the rest of the pipeline (manifest, verify, runner) is unchanged:

- ``frames``: paired ground truth and input, ``<path>/<hr_dir>/<clip>/<frame>.png`` and
  ``<path>/<lr_dir>/<clip>/<frame>.png`` (the DOVE / InfVSR packaging is ``GT/`` + ``LQ/``; mmagic's UDM10 and
  SPMCS packaging is ``GT/`` + ``BIx4/``; MVSR4x's original release is ``tele/`` + ``wide/``). Clips pair by
  folder name, frames by their position in natural order (``2.png`` before ``10.png``); counts must match.
- ``lr-frames``: input only (no ground truth): ``<path>/<lr_dir>/<clip>/<frame>.png``; ``lr_dir = "."``
  reads clip folders directly under ``path`` (VideoLQ's original layout).

``hr_dir`` / ``lr_dir`` may each be a list of candidates: the first that exists is used (so one recipe reads
both a dataset's original and its DOVE packaging). ``path`` may start with ``{raw}``: the raw-data root,
``$INFVSR_BENCH_RAW`` or else ``<data dir>/raw`` (``$INFVSR_BENCH_DATA/raw``); ``$VARS`` and ``~`` expand too.

Scale and crops (recorded in the manifest): HR must be exactly ``scale`` × LR unless ``hr_crop`` says how to
cut it down to that size (``"top-left"`` = BasicSR's mod-crop and DOVE's ``match_resolution`` default;
``"center"``). ``lr_resize = "bicubic"`` is for layouts whose LR frames are stored at HR size (MVSR4x's
``wide/`` frames): they are downscaled by ``1/scale`` with OpenCV's INTER_CUBIC, as the MVSR4x authors'
loader does. Frames are read one chunk at a time (never a whole clip in memory).

A recipe can say where its data comes from (``get``): when the folder is absent, :func:`check_present`
raises :class:`BadInput` naming the download location and the folder to put it in, before any work.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BadInput, DatasetIntegrityError

log = logging.getLogger(__name__)

SOURCES = ("frames", "lr-frames")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
HR_CROPS = ("none", "top-left", "center")
LR_RESIZES = ("none", "bicubic")
CHUNK = 16  # frames decoded per step while building


def raw_data_dir() -> Path:
    """Where users put downloaded test sets: ``$INFVSR_BENCH_RAW``, else ``<data dir>/raw``."""
    env = os.environ.get("INFVSR_BENCH_RAW")
    if env:
        return Path(env).expanduser()
    from .datasets import default_data_dir

    return default_data_dir() / "raw"


def expand_path(rec: Any, value: str) -> Path:
    """A recipe path: ``{raw}`` → :func:`raw_data_dir`, ``$VARS`` and ``~`` expanded, relative to the recipe."""
    text = os.path.expandvars(str(value).replace("{raw}", str(raw_data_dir())))
    p = Path(text).expanduser()
    return p if p.is_absolute() else Path(rec.path).parent / p


def where_to_get(rec: Any) -> str:
    """The recipe's one-line hint: where the data comes from and where to put it."""
    folder = expand_path(rec, rec.data["path"])
    get = rec.data.get("get")
    src = f"download it from {get} and " if get else ""
    return (f"{src}put it at {folder} (or set $INFVSR_BENCH_RAW to the folder that holds it; "
            f"`path` in {Path(rec.path).name} says which layout is expected)")


def check_present(rec: Any) -> None:
    """Raise :class:`BadInput` (exit 2) with :func:`where_to_get` when the recipe's data folder is absent."""
    folder = expand_path(rec, rec.data["path"])
    if not folder.is_dir():
        raise BadInput(f"dataset {rec.name}: data not found at {folder}; {where_to_get(rec)}")
    if rec.source in SOURCES:
        _clip_dirs(rec)  # raises with the same hint when the expected sub-folders are missing


# ---------------------------------------------------------------------------------------------- validation
def validate(rec: Any) -> None:
    """Recipe checks specific to the frame sources (raise :class:`BadInput`)."""
    d = rec.data

    def bad(msg: str) -> BadInput:
        return BadInput(f"recipe {Path(rec.path).name}: {msg}")

    for key in ("hr_dir", "lr_dir"):
        if key == "hr_dir" and rec.source == "lr-frames":
            if key in d:
                raise bad("hr_dir is for source \"frames\" (lr-frames has no ground truth)")
            continue
        v = d.get(key, "GT" if key == "hr_dir" else "LQ")
        if not (isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, str) for x in v))):
            raise bad(f"{key} must be a folder name or a list of candidate folder names")
    if d.get("hr_crop", "none") not in HR_CROPS:
        raise bad(f"hr_crop must be one of {', '.join(HR_CROPS)}")
    if d.get("lr_resize", "none") not in LR_RESIZES:
        raise bad(f"lr_resize must be one of {', '.join(LR_RESIZES)}")
    if not isinstance(d.get("fps", 25.0), (int, float)) or d.get("fps", 25.0) <= 0:
        raise bad("fps must be a positive number")
    clips = d.get("clips")
    if clips is not None and (not isinstance(clips, list) or not all(isinstance(c, str) for c in clips)):
        raise bad("clips must be a list of clip folder names")
    if not isinstance(d.get("get", ""), str):
        raise bad("get must be a string (where the data can be downloaded)")


# ---------------------------------------------------------------------------------------------- listing
def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``im2.png`` < ``im10.png``."""
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name))


def _candidates(value: Any, default: str) -> list[str]:
    if value is None:
        return [default]
    return [value] if isinstance(value, str) else list(value)


def _pick(rec: Any, base: Path, value: Any, default: str, role: str) -> Path:
    names = _candidates(value, default)
    for name in names:
        p = (base / name).resolve() if name != "." else base
        if p.is_dir():
            return p
    raise BadInput(f"dataset {rec.name}: no {role} folder ({' or '.join(repr(n) for n in names)}) in {base}; "
                   f"{where_to_get(rec)}")


def _frame_files(folder: Path, exts: tuple[str, ...]) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts),
                  key=lambda p: natural_key(p.name))


def _clip_dirs(rec: Any) -> list[tuple[str, Path, Path | None]]:
    """``(clip id, lr folder, hr folder or None)`` for every clip, in natural order of the folder names."""
    from .datasets import clip_id

    d = rec.data
    base = expand_path(rec, d["path"])
    lr_root = _pick(rec, base, d.get("lr_dir"), "LQ", "input (lr_dir)")
    hr_root = _pick(rec, base, d.get("hr_dir"), "GT", "ground-truth (hr_dir)") if rec.source == "frames" else None
    ref = hr_root if hr_root is not None else lr_root
    names = sorted((p.name for p in ref.iterdir() if p.is_dir() and not p.name.startswith(".")), key=natural_key)
    if d.get("clips"):
        missing = [c for c in d["clips"] if c not in names]
        if missing:
            raise BadInput(f"dataset {rec.name}: clip folder(s) {', '.join(missing)} not found in {ref}")
        names = list(d["clips"])
    if not names:
        raise BadInput(f"dataset {rec.name}: no clip folders in {ref}; {where_to_get(rec)}")
    out, seen = [], set()
    for name in names:
        cid = clip_id(name)
        if cid in seen:
            raise BadInput(f"dataset {rec.name}: two clip folders map to the same clip id {cid!r}")
        seen.add(cid)
        lr = lr_root / name
        if not lr.is_dir():
            raise BadInput(f"dataset {rec.name}: clip {name} has ground truth in {hr_root} but no input folder "
                           f"{lr}")
        out.append((cid, lr, hr_root / name if hr_root is not None else None))
    return out


def count_clips(rec: Any) -> int | None:
    """Number of clips the recipe would build, or None when its data is absent."""
    try:
        return len(_clip_dirs(rec))
    except BadInput:
        return None


# ---------------------------------------------------------------------------------------------- reading
class FrameFolder:
    """A clip stored as numbered images, read in natural order one chunk at a time (RGB uint8)."""

    def __init__(self, folder: str | os.PathLike, extensions: tuple[str, ...] = IMAGE_EXTENSIONS):
        self.folder = Path(folder)
        self.files = _frame_files(self.folder, tuple(e.lower() for e in extensions))
        if not self.files:
            raise BadInput(f"no frames ({', '.join(extensions)}) in {self.folder}")
        h, w = self._read(self.files[0]).shape[:2]
        self.height, self.width = h, w

    def __len__(self) -> int:
        return len(self.files)

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        import cv2

        img = cv2.imread(str(path), cv2.IMREAD_COLOR)  # (H, W, 3) BGR uint8; 16-bit/alpha inputs reduced
        if img is None:
            raise DatasetIntegrityError(f"cannot decode image {path}")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def iter_uint8(self, chunk: int = CHUNK, stop: int | None = None) -> Iterator[np.ndarray]:
        """Yield ``(T, H, W, 3)`` uint8 RGB chunks of the first ``stop`` frames (all by default)."""
        files = self.files if stop is None else self.files[:stop]
        for i in range(0, len(files), chunk):
            frames = [self._read(p) for p in files[i:i + chunk]]
            for p, f in zip(files[i:i + chunk], frames):
                if f.shape[:2] != (self.height, self.width):
                    raise DatasetIntegrityError(f"{p} is {f.shape[1]}x{f.shape[0]}, the clip's first frame is "
                                                f"{self.width}x{self.height}")
            yield np.stack(frames)  # list of (H, W, 3) -> (T, H, W, 3)


def _crop_box(rec: Any, cid: str, hr: tuple[int, int], lr: tuple[int, int], scale: int) -> tuple[int, int, int, int]:
    """(y0, x0, h, w) of the HR region that is exactly ``scale`` × LR, by the recipe's ``hr_crop``."""
    (hh, hw), (lh, lw) = hr, lr
    th, tw = lh * scale, lw * scale
    if (hh, hw) == (th, tw):
        return 0, 0, th, tw
    mode = rec.data.get("hr_crop", "none")
    if mode == "none" or hh < th or hw < tw:
        raise BadInput(f"dataset {rec.name}, clip {cid}: HR {hw}x{hh} is not x{scale} of LR {lw}x{lh}"
                       + ("" if mode != "none" else " (set hr_crop = \"top-left\" or \"center\" to crop HR)"))
    if mode == "top-left":
        return 0, 0, th, tw
    return (hh - th) // 2, (hw - tw) // 2, th, tw


def _lr_chunks(folder: FrameFolder, rec: Any, stop: int, scale: int) -> Iterator[np.ndarray]:
    if rec.data.get("lr_resize", "none") == "none":
        yield from folder.iter_uint8(stop=stop)
        return
    import cv2

    w, h = folder.width // scale, folder.height // scale
    for chunk in folder.iter_uint8(stop=stop):
        yield np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC) for f in chunk])


def build_frames(rec: Any, root: Path, max_frames: int | None, map_clips=map) -> list[dict[str, Any]]:
    """Store every clip of a frame-folder recipe as FFV1 under ``root/{lr,hr}`` and return manifest entries.
    ``map_clips`` runs the per-clip unit (:func:`build_frame_clip`), e.g. as Ray tasks; results in order."""
    one = functools.partial(build_frame_clip, rec, root, max_frames)
    return list(map_clips(one, _clip_dirs(rec)))


def build_frame_clip(rec: Any, root: Path, max_frames: int | None,
                     clip: tuple[str, Path, Path | None]) -> dict[str, Any]:
    """Store one clip (id, LR folder, HR folder or None) and return its manifest entry."""
    from .datasets import _entry, detect_cuts
    from .video_io import FrameWriter

    d = rec.data
    s = int(d["scale"])
    fps = float(d.get("fps", 25.0))
    exts = tuple(d.get("extensions", IMAGE_EXTENSIONS))
    cid, lr_dir, hr_dir = clip
    t0 = time.perf_counter()
    lr = FrameFolder(lr_dir, exts)
    lw, lh = ((lr.width // s, lr.height // s) if d.get("lr_resize", "none") == "bicubic"
              else (lr.width, lr.height))
    n = len(lr)
    hr_entry = None
    if hr_dir is not None:
        hr = FrameFolder(hr_dir, exts)
        if len(hr) != len(lr):
            raise BadInput(f"dataset {rec.name}, clip {cid}: {len(hr)} ground-truth frames in {hr_dir} but "
                           f"{len(lr)} input frames in {lr_dir}")
        y0, x0, th, tw = _crop_box(rec, cid, (hr.height, hr.width), (lh, lw), s)
    n = n if max_frames is None else min(n, max_frames)
    lr_out = cut_src = root / "lr" / f"{cid}.mkv"
    with FrameWriter(lr_out, fps=fps, codec="ffv1") as lw_:
        for chunk in _lr_chunks(lr, rec, n, s):
            lw_.write(chunk)
    if hr_dir is not None:
        hr_out = cut_src = root / "hr" / f"{cid}.mkv"
        with FrameWriter(hr_out, fps=fps, codec="ffv1") as hw_:
            for chunk in hr.iter_uint8(stop=n):
                hw_.write(np.ascontiguousarray(chunk[:, y0:y0 + th, x0:x0 + tw]))  # (T,H,W,3) -> (T,th,tw,3)
        hr_entry = _entry(root, hr_out, tw, th)
    cuts = detect_cuts(cut_src, float(d.get("scene_threshold", 27.0)), int(d.get("scene_min_len", 15)))
    log.info("built %s/%s from %s: %d frames in %.1fs", rec.name, cid, lr_dir, n, time.perf_counter() - t0)
    return {"id": cid, "frames": n, "fps": fps, "hr": hr_entry, "lr": _entry(root, lr_out, lw, lh),
            "scene_cuts": [c for c in cuts if 0 < c < n],
            "source": {"lr": str(lr_dir), "hr": str(hr_dir) if hr_dir is not None else None}}


def describe(rec: Any) -> dict[str, Any]:
    """The conventions a frame-folder build applied (stored as the manifest's ``degradation_params``)."""
    d = rec.data
    return {"kind": "given", "scale": d["scale"], "source": rec.source,
            "hr_crop": d.get("hr_crop", "none") if rec.source == "frames" else None,
            "lr_resize": d.get("lr_resize", "none"), "fps": float(d.get("fps", 25.0)),
            "note": "LR frames as distributed (not degraded here); stored losslessly as FFV1"}
