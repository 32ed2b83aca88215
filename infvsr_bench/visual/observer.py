"""The frame observer the runner calls: per scored chunk (output, ground truth, metric values) and at the
clip's end. It reads the clip's LR input itself, in step with the output, so that a method that returns its
frames late (or all at the end) never makes anything hold more than one chunk of LR frames."""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch

from .moments import MomentTracker, Watched
from .profiles import ProfileRecorder, ProfileSpec


class ClipObserver:
    """Keeps one clip's profiles and worst moments; :meth:`finish` returns them as plain data."""

    def __init__(self, metrics: list[Any], meta: dict[str, Any], lr_frames: Iterator[torch.Tensor], scale: int,
                 height: int, width: int, spec: ProfileSpec) -> None:
        from ..runner import _FrameQueue

        self.meta = dict(meta)
        self.units = {m.label: {"unit": m.unit, "higher_is_better": bool(m.higher_is_better)} for m in metrics}
        self.lr = _FrameQueue(lr_frames)
        self.profiles = ProfileRecorder(meta["frames"], height, width, spec, list(meta["scene_cuts"]))
        self.moments = MomentTracker([Watched(m.label, bool(m.higher_is_better), m.context > 0) for m in metrics],
                                     scale, height, width, list(meta["scene_cuts"]))

    def update(self, start: int, sr: torch.Tensor, hr: torch.Tensor | None, values: dict[str, np.ndarray]) -> None:
        """Frames ``start`` .. ``start + len(sr) - 1`` of the output (uint8-grid floats, CPU) and reference."""
        lr = self.lr.pop(sr.shape[0])
        self.profiles.update(sr, hr, lr)
        self.moments.update(start, lr, sr, hr, values)

    def finish(self) -> dict[str, Any]:
        return {**self.meta, "metrics": self.units, "profiles": self.profiles.result(),
                "moments": self.moments.result()}


def observer_for(p: Any, meta: dict[str, Any], lr_path: str, chunk: int, scale: int, height: int,
                 width: int) -> ClipObserver | None:
    """The observer of one clip of run ``p``, or None when the run makes no pictures (not asked for, or a
    random-weights method, whose outputs mean nothing). Random-weight metrics pick no moments."""
    if not getattr(p.spec, "visuals", False) or p.method.info.random_weights:
        return None
    from ..report import is_random
    from ..video_io import FrameReader

    metrics = [m for m in p.metrics if not is_random(m.describe())]
    lr = iter(FrameReader(lr_path, chunk=chunk, max_frames=meta["frames"]))
    return ClipObserver(metrics, meta, lr, scale, height, width, ProfileSpec.parse(p.spec.profiles))


def check_spec(text: str | None, manifest: dict[str, Any]) -> None:
    """Bad ``--profiles`` (syntax, or a row/column outside some clip's output) raises BadInput."""
    spec = ProfileSpec.parse(text)
    scale = int(manifest["scale"])
    for clip in manifest["clips"]:
        spec.check(clip["lr"]["height"] * scale, clip["lr"]["width"] * scale, f"clip {clip['id']}")
