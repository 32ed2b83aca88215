"""The ``external`` adapter: a VSR program we do not ship, run as a subprocess per clip (or per segment).

Driven by a method card (:mod:`.cards`). Like every adapter it sees frames only: ``step`` writes the LR
frames it receives to a lossless hand-off (PNG frame folder or FFV1 / x264-RGB-qp0 video, as the card's
``[input]`` says), a chunk at a time. At ``flush`` — or whenever ``segment_frames`` frames are in, for a
card whose program runs on independent segments — the program runs on the hand-off; its output (a video or
frame folder matched by the card's ``[output] path`` glob) is checked for frame count and size, then
streamed back as an iterator of ``chunk_frames``-frame tensors, never loaded whole. Temp folders are
removed as soon as their frames are read, and at the next clip / when the adapter is collected; on Ctrl-C
or SIGTERM the program's process group is stopped and every temp file removed before the run ends.

Throughput is the program's wall time (startup apart when the card's ``startup_regex`` finds it), reported
through ``timing()``; the time to write the hand-off and read the output back is not counted.
"""
from __future__ import annotations

import glob
import logging
import os
import shutil
import statistics
import tempfile
import weakref
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from ..errors import BadInput, MethodError
from ..params import Param
from ..params import check as check_params
from .base import MethodInfo
from .cards import ADAPTER_PARAMS, Card, fill, load_card, missing_paths, placeholders, resolve_paths
from .media import VIDEO_CODECS, FrameFolderWriter, VideoFileWriter, output_info, read_output
from .program import run_program

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 24 * 3600.0


@dataclass
class _Done:
    """A finished program run whose output waits to be read back."""

    folder: Path  # the run's temp folder (removed once read)
    output: Path
    keep: int  # frames to read back (the real frames; padding frames are dropped)


#: the parameters the adapter itself reads (cards.ADAPTER_PARAMS), typed and limited
_ADAPTER_SCHEMA = {"timeout_s": Param("timeout_s", (float,), limits="> 0"),
                   "chunk_frames": Param("chunk_frames", (int,), limits=">= 1"),
                   "segment_frames": Param("segment_frames", (int,), limits=">= 0"),
                   "tmp_dir": Param("tmp_dir", (str,))}
assert set(_ADAPTER_SCHEMA) == ADAPTER_PARAMS


def _schema(path_keys: set[str], card_params: dict[str, Any]) -> dict[str, Param]:
    """A card's parameters: its paths (any text), its ``[params]`` typed by their defaults, the adapter's own."""
    out = {k: Param(k, (str,)) for k in path_keys}
    for k, v in card_params.items():
        kinds = (float,) if type(v) is float else (type(v),) if type(v) in (bool, int, str) else ()
        out[k] = Param(k, kinds)
    return {**out, **_ADAPTER_SCHEMA}


def _pad_target(n: int, pad: dict[str, int]) -> int:
    """Smallest count ≥ max(n, min) with count ≡ remainder (mod multiple)."""
    target = max(n, int(pad.get("min", 0)))
    mult, rem = int(pad.get("multiple", 1)), int(pad.get("remainder", 0))
    return target + (rem - target) % mult


class External:
    """A VSR program described by a method card (``--method NAME`` or ``--method external:card=PATH``)."""

    def __init__(self, card: str | os.PathLike | Card | None = None, **params: Any):
        if card is None:
            raise BadInput("external needs a method card: --method external:card=PATH.toml")
        self.card = card if isinstance(card, Card) else load_card(card)
        c = self.card
        path_keys, card_params = set(c.section("paths")), c.section("params")
        params = check_params(f"method {c.name}", params, _schema(path_keys, card_params))
        self.user_params = dict(params)
        self.params = {**card_params, **{k: v for k, v in params.items() if k not in path_keys}}
        self.paths = resolve_paths(c, params)
        gone = missing_paths(c, self.paths)
        if gone:
            raise BadInput(f"method {c.name} is not ready: missing " + "; ".join(gone))
        self._check_program()
        run = c.section("run")
        self.timeout_s = float(self.params.get("timeout_s", run.get("timeout_s", DEFAULT_TIMEOUT_S)))
        self.segment_frames = int(self.params.get("segment_frames", run.get("segment_frames", 0)))
        io_chunk = int(self.params.get("chunk_frames", 16))
        if self.timeout_s <= 0 or self.segment_frames < 0 or io_chunk < 1:
            raise BadInput(f"method {c.name}: timeout_s > 0, segment_frames >= 0 and chunk_frames >= 1 required")
        self.input_spec, self.output_spec = c.section("input"), c.section("output")
        suffix = self.input_spec.get("suffix", ".mkv")
        if self.input_spec["layout"] == "video" and suffix not in VIDEO_CODECS:
            raise BadInput(f"method card {c.path}: [input] suffix must be one of {', '.join(VIDEO_CODECS)}")
        d = c.data
        self.info = MethodInfo(name=c.name, scale=int(d.get("scale", 4)), causal=bool(d.get("causal", False)),
                               chunk_frames=io_chunk, track=d.get("track", "offline"))
        self.device = "cpu"
        self._root: Path | None = None
        self._clip_dir: Path | None = None
        self._reset_state({})

    # ------------------------------------------------------------------------------------------ protocol
    def setup(self, device: str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.device = device

    def reset(self, meta: dict[str, Any] | None = None) -> None:
        self._cleanup_clip()
        self._reset_state(meta or {})

    def step(self, lr_chunk: torch.Tensor) -> Iterator[torch.Tensor] | None:
        lr = lr_chunk.detach().float().cpu()
        self._lr_size = (int(lr.shape[-2]), int(lr.shape[-1]))
        while lr.shape[0]:
            if self._writer is None:
                self._open_segment()
            room = self.segment_frames - self._seg_count if self.segment_frames else lr.shape[0]
            part, lr = lr[:room], lr[room:]
            self._writer.write(part)
            self._seg_count += part.shape[0]
            self._last = part[-1:]
            if self.segment_frames and self._seg_count == self.segment_frames:
                self._finish_segment()
        return self._drain() if self._pending else None

    def flush(self) -> Iterator[torch.Tensor] | None:
        if self._writer is not None:
            self._finish_segment()
        return self._drain() if self._pending else None

    def chunk_boundaries(self, n: int) -> list[int] | None:
        """Starts of the independent program runs (None: one run sees the whole clip)."""
        k = self.segment_frames
        return list(range(k, n, k)) if k else None

    def timing(self) -> dict[str, Any]:
        """The program's wall time as this clip's throughput (startup apart when the program reports it)."""
        wall, frames = sum(self._run_seconds), self._frames_out
        startup = sum(self._startups) if self._startups else None
        steady = wall - (startup or 0.0)
        lat = [s * 1000 for s in self._run_seconds] or [float("nan")]
        return {"timing": "external program wall time" + (", startup excluded from fps" if startup else ""),
                "program_runs": len(self._run_seconds), "program_seconds": wall, "startup_seconds": startup,
                "method_seconds": wall, "warmup_chunks": 0, "warmup_seconds": startup or 0.0,
                "steady_frames": frames, "steady_seconds": steady,
                "fps": frames / steady if steady > 0 else float("nan"),
                "latency_p50_ms": statistics.median(lat), "latency_p95_ms": max(lat)}

    def describe(self) -> dict[str, Any]:
        d = self.card.data
        return {"info": self.info.as_dict(), "params": dict(sorted(self.user_params.items())),
                "card": {"name": self.card.name, "file": self.card.path.name, "sha256": self.card.sha256,
                         "paper": d.get("paper"), "licence": d.get("licence"), "code": d.get("code"),
                         "commit": d.get("commit"), "lossy_output": bool(self.output_spec.get("lossy", False))},
                "program": {"command": self.card.section("run")["command"], "params": dict(sorted(self.params.items())), "segment_frames": self.segment_frames,
                    "timeout_s": self.timeout_s}}

    # ------------------------------------------------------------------------------------------ internals
    def _check_program(self) -> None:
        """The program the card's command starts must exist here (BadInput before any work), when its name
        is known before a clip runs: no per-run placeholder in it and no PATH of the card's own."""
        run = self.card.section("run")
        template = run["command"][0]
        known = {**self.params, **self.paths}
        if placeholders(template) - set(known) or "PATH" in (run.get("env") or {}):
            return
        exe = fill(template, known)
        if os.sep in exe:
            if not os.path.isabs(exe):
                if run.get("cwd") and placeholders(run["cwd"]) - set(known):
                    return
                exe = os.path.join(fill(run["cwd"], known) if run.get("cwd") else os.getcwd(), exe)
            found = os.path.isfile(exe) and os.access(exe, os.X_OK)
        else:
            found = shutil.which(exe) is not None
        if not found:
            raise BadInput(f"method {self.card.name}: program {exe} not found or not executable (the first "
                           f"word of [run] command in {self.card.path})")

    def _reset_state(self, meta: dict[str, Any]) -> None:
        self._clip = str(meta.get("clip", "clip"))
        self._fps = float(meta.get("fps") or 25.0)
        self._writer = None
        self._seg_index = self._seg_count = 0
        self._seg_dir: Path | None = None
        self._last: torch.Tensor | None = None
        self._lr_size: tuple[int, int] | None = None
        self._pending: deque[_Done] = deque()
        self._run_seconds: list[float] = []
        self._startups: list[float] = []
        self._frames_out = 0

    def _tmp_root(self) -> Path:
        if self._root is None:
            base = self.params.get("tmp_dir")
            if base:
                Path(base).mkdir(parents=True, exist_ok=True)
            self._root = Path(tempfile.mkdtemp(prefix=f"infvsr-{self.info.name}-", dir=base or None))
            # removed with the adapter, or at interpreter exit (also after Ctrl-C / SIGTERM: see cli.main)
            self._remove_root = weakref.finalize(self, shutil.rmtree, str(self._root), ignore_errors=True)
        return self._root

    def close(self) -> None:
        """Remove every temp file of this adapter now (the program of the current run has been stopped)."""
        self._cleanup_clip()
        if self._root is not None:
            self._remove_root()
            self._root = None

    def _cleanup_clip(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # a half-written hand-off of a failed clip: it is deleted below anyway
                pass
            self._writer = None
        if self._clip_dir is not None:
            shutil.rmtree(self._clip_dir, ignore_errors=True)
            self._clip_dir = None

    def _values(self, seg_dir: Path, input_path: Path, frames: int) -> dict[str, Any]:
        h, w = self._lr_size or (0, 0)
        s = self.info.scale
        gpu = self.device.split(":", 1)[1] if self.device.startswith("cuda:") else \
            ("0" if self.device == "cuda" else "")
        return {**self.params, **self.paths, "input": str(input_path), "input_dir": str(input_path.parent),
                "output": str(seg_dir / "out"), "clip": self._input_name(), "segment": self._seg_index,
                "scale": s, "device": self.device, "gpu": gpu, "frames": frames, "fps": self._fps,
                "width": w, "height": h, "out_width": w * s, "out_height": h * s, "tmp": str(seg_dir)}

    def _input_name(self) -> str:
        return fill(str(self.input_spec.get("name", "{clip}")), {**self.params, **self.paths, "clip": self._clip})

    def _open_segment(self) -> None:
        if self._clip_dir is None:
            self._clip_dir = Path(tempfile.mkdtemp(prefix="clip-", dir=self._tmp_root()))
        self._seg_dir = self._clip_dir / f"seg{self._seg_index:05d}"
        (self._seg_dir / "out").mkdir(parents=True)
        name = self._input_name()
        if self.input_spec["layout"] == "frames":
            self._input_path = self._seg_dir / "in" / name
            self._writer = FrameFolderWriter(self._input_path, self.input_spec.get("pattern", "{index:06d}.png"))
        else:
            self._input_path = self._seg_dir / "in" / (name + self.input_spec.get("suffix", ".mkv"))
            self._writer = VideoFileWriter(self._input_path, self._fps)
        self._seg_count = 0

    def _finish_segment(self) -> None:
        """Close the hand-off (padded as the card asks), run the program, check and queue its output."""
        real = self._seg_count
        total = _pad_target(real, self.input_spec["pad"]) if self.input_spec.get("pad") else real
        for _ in range(total - real):
            self._writer.write(self._last)
        self._writer.close()
        self._writer = None
        seg_dir, values = self._seg_dir, self._values(self._seg_dir, self._input_path, total)
        run = self.card.section("run")
        argv = [fill(a, values) for a in run["command"]]
        cwd = fill(run["cwd"], values) if run.get("cwd") else None
        env = {**os.environ, **{k: fill(str(v), values) for k, v in (run.get("env") or {}).items()}}
        log.info("%s: running %s on %s (%d frames)", self.info.name, " ".join(argv), self._clip, total)
        try:
            res = run_program(argv, cwd, env, self.timeout_s, run.get("startup_regex"))
            out = self._find_output(values)
            self._check_output(out, total)
        except Exception:  # this clip failed; the run goes on
            shutil.rmtree(seg_dir, ignore_errors=True)
            raise
        except BaseException:  # Ctrl-C / SIGTERM: the run stops, its temp files with it
            self.close()
            raise
        shutil.rmtree(seg_dir / "in", ignore_errors=True)  # the hand-off is no longer needed
        self._run_seconds.append(res.seconds)
        if res.startup_seconds is not None:
            self._startups.append(res.startup_seconds)
        self._pending.append(_Done(seg_dir, out, real))
        self._frames_out += real
        self._seg_index += 1

    def _find_output(self, values: dict[str, Any]) -> Path:
        pattern = fill(self.output_spec["path"], values)
        found = sorted(Path(p) for p in glob.glob(pattern))
        if len(found) != 1:
            there = sorted(p.name for p in Path(values["output"]).rglob("*"))[:8]
            what = "no output" if not found else f"{len(found)} outputs ({', '.join(p.name for p in found[:4])})"
            raise MethodError(f"missing output: the program exited 0 but {what} matched {pattern!r} "
                              f"(output folder holds: {', '.join(there) or 'nothing'})")
        return found[0]

    def _check_output(self, out: Path, expected: int) -> None:
        frames, w, h = output_info(out, self.output_spec["layout"], self.output_spec.get("pattern", "*"))
        if frames != expected:
            raise MethodError(f"wrong frame count: the program wrote {frames} frames for {expected} input frames")
        lh, lw = self._lr_size
        s = self.info.scale
        if (w, h) != (lw * s, lh * s):
            raise MethodError(f"wrong size: the program wrote {w}x{h} frames, expected {lw * s}x{lh * s} "
                              f"(x{s} of {lw}x{lh})")

    def _drain(self) -> Iterator[torch.Tensor]:
        """Read finished outputs back, a chunk at a time, deleting each run's folder once it is read."""
        while self._pending:
            done = self._pending.popleft()
            try:
                yield from read_output(done.output, self.output_spec["layout"], self.info.chunk_frames,
                                       max_frames=done.keep, pattern=self.output_spec.get("pattern", "*"))
            finally:
                shutil.rmtree(done.folder, ignore_errors=True)
