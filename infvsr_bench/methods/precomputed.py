"""The ``precomputed`` adapter: score outputs that were produced elsewhere (another lab, another machine).

``--method precomputed:dir=PATH[:name=LABEL][:track=online|offline]``. ``PATH`` holds one output per clip,
matched by clip id: a video ``<clip>.<ext>`` (any extension :mod:`infvsr_bench.datasets` reads) or a frame
folder ``<clip>/`` of images in natural order. The adapter ignores the LR frames except for their count
and size: each ``step`` returns the next frames of the clip's output, a chunk at a time, so scoring streams
exactly like a method run here. A clip without an output, or whose output has the wrong frame count or
size, fails with that reason; the other clips are scored. No throughput is reported (none was measured).
"""
from __future__ import annotations

import glob
import re
from pathlib import Path
from typing import Any, Iterator

import torch

from ..datasets import VIDEO_EXTENSIONS
from ..errors import BadInput, MethodError
from .base import MethodInfo
from .media import list_images, output_info, read_output

_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def find_output(folder: Path, clip: str) -> tuple[Path, str]:
    """(path, layout) of a clip's output in ``folder``; MethodError when absent or ambiguous."""
    found = [(p, "video") for p in sorted(folder.glob(f"{glob.escape(clip)}.*"))
             if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS]
    sub = folder / clip
    if sub.is_dir() and list_images(sub):
        found.append((sub, "frames"))
    if not found:
        raise MethodError(f"no output for clip {clip} in {folder} (expected {clip}.mkv/.mp4/... or a folder "
                          f"{clip}/ of images)")
    if len(found) > 1:
        raise MethodError(f"several outputs for clip {clip} in {folder}: {', '.join(p.name for p, _ in found)}")
    return found[0]


class Precomputed:
    """Outputs read from a folder instead of computed (see module docstring)."""

    param_limits = {"scale": ">= 1", "chunk_frames": ">= 1"}  # checked before it is built (infvsr_bench.params)

    def __init__(self, dir: str | None = None, name: str | None = None, scale: int = 4, chunk_frames: int = 16,
                 track: str = "offline"):
        if not dir:
            raise BadInput("precomputed needs the outputs folder: --method precomputed:dir=PATH[:name=LABEL]")
        self.folder = Path(str(dir)).expanduser().resolve()
        if not self.folder.is_dir():
            raise BadInput(f"precomputed outputs folder not found: {self.folder}")
        label = str(name) if name else f"precomputed-{self.folder.name}"
        if not _LABEL_RE.match(label):
            raise BadInput(f"precomputed name {label!r} must match {_LABEL_RE.pattern}")
        if track not in ("online", "offline"):
            raise BadInput(f"precomputed track must be online or offline, got {track!r}")
        self.info = MethodInfo(name=label, scale=int(scale), causal=track == "online",
                               chunk_frames=int(chunk_frames), track=track)
        self._frames: Iterator[torch.Tensor] | None = None

    def setup(self, device: str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        pass

    def reset(self, meta: dict[str, Any] | None = None) -> None:
        meta = meta or {}
        self._frames, self._buf, self._checked = None, None, False
        clip, n = str(meta.get("clip", "")), int(meta.get("frames", 0))
        self._path, self._layout = find_output(self.folder, clip)
        self._count, self._w, self._h = output_info(self._path, self._layout)
        full = int(meta.get("source_frames", n))
        if self._count not in (n, full):
            raise MethodError(f"wrong frame count: {self._path.name} has {self._count} frames; clip {clip} has "
                              f"{full}" + (f" (scoring the first {n})" if n != full else ""))
        self._frames = read_output(self._path, self._layout, self.info.chunk_frames, max_frames=n)

    def step(self, lr_chunk: torch.Tensor) -> torch.Tensor:
        if not self._checked:
            h, w, s = int(lr_chunk.shape[-2]), int(lr_chunk.shape[-1]), self.info.scale
            if (self._w, self._h) != (w * s, h * s):
                raise MethodError(f"wrong size: {self._path.name} is {self._w}x{self._h}, expected "
                                  f"{w * s}x{h * s} (x{s} of {w}x{h})")
            self._checked = True
        return self._take(int(lr_chunk.shape[0]))

    def flush(self) -> None:
        return None

    def _take(self, k: int) -> torch.Tensor:
        """The next ``k`` output frames (the output reader's chunks need not line up with the LR chunks)."""
        parts, have = [], 0
        if self._buf is not None:
            parts, have, self._buf = [self._buf], self._buf.shape[0], None
        while have < k:
            nxt = next(self._frames, None)
            if nxt is None:
                break
            parts.append(nxt)
            have += nxt.shape[0]
        out = torch.cat(parts) if len(parts) > 1 else parts[0] if parts else torch.empty(0, 3, 0, 0)
        if out.shape[0] > k:
            out, self._buf = out[:k], out[k:]
        return out

    def timing(self) -> dict[str, Any]:
        return {"timing": "precomputed outputs: no throughput measured", "fps": float("nan"),
                "steady_frames": 0, "steady_seconds": 0.0, "method_seconds": 0.0}

    def describe(self) -> dict[str, Any]:
        return {"info": self.info.as_dict(), "params": {"dir": str(self.folder), "name": self.info.name},
                "source": "precomputed"}
