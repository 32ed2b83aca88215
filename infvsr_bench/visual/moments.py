"""Worst moments, streamed: for each per-frame metric the K frames with the worst values (and, for temporal
metrics, the K largest jumps between neighbouring frames of one scene), each kept with a crop of the LR input,
the output and the ground truth. A bounded heap per metric: memory is K crops whatever the clip length.

The crop is where the LR input at that frame shows the most structure (largest summed gradient), so it
depends only on the dataset: every method's crop of the same frame is the same region, and ``compare`` can
put them side by side. Values a metric defers to the clip's end (its last few frames) are not candidates.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .profiles import to_u8

K = 4
CROP = 96  # crop side in output pixels


@dataclass(frozen=True)
class Watched:
    """A metric as the tracker sees it."""

    label: str
    higher_is_better: bool
    temporal: bool  # compares neighbouring frames: its jumps are tracked too


def _u8(frame: torch.Tensor) -> np.ndarray:
    """(3, h, w) float in [0, 1] → (h, w, 3) uint8."""
    return np.ascontiguousarray(to_u8(frame).transpose(1, 2, 0))  # (3,h,w) -> (h,w,3)


def detail_box(lr: torch.Tensor, side: int) -> tuple[int, int]:
    """Top-left (y, x) of the ``side`` x ``side`` window of an LR frame (3, h, w) with the largest summed
    absolute gradient (first in raster order on ties)."""
    g = lr.float().mean(0).numpy()
    e = np.zeros_like(g)
    e[:, 1:] += np.abs(np.diff(g, axis=1))
    e[1:, :] += np.abs(np.diff(g, axis=0))
    ii = np.pad(e, ((1, 0), (1, 0))).cumsum(0).cumsum(1)  # integral image (h+1, w+1)
    s = ii[side:, side:] - ii[:-side, side:] - ii[side:, :-side] + ii[:-side, :-side]  # window sums
    y, x = np.unravel_index(int(np.argmax(s)), s.shape)
    return int(y), int(x)


@dataclass
class MomentTracker:
    """Feed chunks in frame order with :meth:`update`; :meth:`result` gives the kept moments."""

    metrics: list[Watched]
    scale: int
    height: int  # output size
    width: int
    scene_cuts: list[int] = field(default_factory=list)
    k: int = K
    crop: int = CROP

    def __post_init__(self) -> None:
        side = min(self.crop, self.height, self.width)
        self.lr_side = max(1, side // self.scale)
        self.side = self.lr_side * self.scale
        self._cuts = set(self.scene_cuts)
        self._heaps: dict[tuple[str, str], list] = {(m.label, kind): [] for m in self.metrics
                                                    for kind in (("value", "jump") if m.temporal else ("value",))}
        self._last = {m.label: math.nan for m in self.metrics}
        self._prev: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None
        self._seq = 0

    def update(self, start: int, lr: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor | None,
               values: dict[str, np.ndarray]) -> None:
        """Frames ``start`` .. ``start + k - 1``: LR (k, 3, h, w), output and ground truth (k, 3, H, W), and
        each metric's values for them (NaN where undefined)."""
        boxes: dict[int, tuple[int, int]] = {}
        for i in range(sr.shape[0]):
            t = start + i
            for m in self.metrics:
                v = float(values[m.label][i])
                if math.isfinite(v):
                    self._offer((m.label, "value"), -v if m.higher_is_better else v, t, i, v, None, lr, sr, hr,
                                boxes)
                p = self._last[m.label]
                if m.temporal and math.isfinite(v) and math.isfinite(p) and t not in self._cuts:
                    self._offer((m.label, "jump"), abs(v - p), t, i, v, p, lr, sr, hr, boxes)
                self._last[m.label] = v
        self._prev = (lr[-1], sr[-1], None if hr is None else hr[-1])

    def _offer(self, key, badness, t, i, v, p, lr, sr, hr, boxes) -> None:
        heap = self._heaps[key]
        if len(heap) >= self.k and badness <= heap[0][0]:
            return
        if i not in boxes:
            boxes[i] = detail_box(lr[i], self.lr_side)
        y, x = boxes[i]
        entry = {"metric": key[0], "kind": key[1], "frame": t, "value": v, "box": [y * self.scale, x * self.scale,
                                                                                    self.side, self.side],
                 "crops": {t: self._crops(lr[i], sr[i], None if hr is None else hr[i], y, x)}}
        if key[1] == "jump":
            entry["previous_value"] = p
            prev = (lr[i - 1], sr[i - 1], None if hr is None else hr[i - 1]) if i > 0 else self._prev
            entry["crops"][t - 1] = self._crops(*prev, y, x)
        self._seq += 1
        item = (badness, -t, self._seq, entry)  # equal badness: the earlier frame stays
        if len(heap) < self.k:
            heapq.heappush(heap, item)
        else:
            heapq.heapreplace(heap, item)

    def _crops(self, lr, sr, hr, y, x) -> dict[str, np.ndarray]:
        s, ls = self.scale, self.lr_side
        out = {"lr": _u8(lr[:, y:y + ls, x:x + ls]), "sr": _u8(sr[:, y * s:y * s + self.side, x * s:x * s + self.side])}
        if hr is not None:
            out["gt"] = _u8(hr[:, y * s:y * s + self.side, x * s:x * s + self.side])
        return out

    def result(self) -> list[dict]:
        """Kept moments, worst first within each (metric, kind), with ``rank`` and ``badness``."""
        out = []
        for heap in self._heaps.values():
            for rank, (bad, _, _, entry) in enumerate(sorted(heap, key=lambda it: (-it[0], -it[1]))):
                out.append({**entry, "rank": rank + 1, "badness": bad})
        return out


def crop_key(frame: int, box: list[int], what: str) -> str:
    """Name of one stored crop: the frame, the box's corner and which image (lr, sr or gt)."""
    return f"t{frame}_y{box[0]}_x{box[1]}_{what}"
