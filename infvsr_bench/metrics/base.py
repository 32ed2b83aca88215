"""The streaming metric contract: per-frame values out, bounded state in.

A metric sees a video chunk by chunk. ``update(sr, hr)`` returns one value per frame (NaN where the value
is undefined, e.g. a pairwise metric on the first frame) and folds them into running sums: the clip mean,
fixed-length window means (for drift and the over-time plots), and nothing that grows with the frame
count except one float pair per window. Metrics that need history keep a small carry (``context`` frames).
"""
from __future__ import annotations

import math
from typing import Any, ClassVar

import torch


class StreamingMetric:
    """Base class. Subclasses set the class attributes and implement :meth:`frame_values`."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = True
    mode: ClassVar[str] = "FR"  # FR: needs the HR reference; NR: output only
    context: ClassVar[int] = 0  # frames of history carried across chunks
    requires: ClassVar[tuple[str, ...]] = ()  # weight ids (see weights.py)
    unit: ClassVar[str] = ""
    #: limits of the constructor's parameters (merged along the class hierarchy), checked with their annotated
    #: types before the metric is built (infvsr_bench.params)
    param_limits: ClassVar[dict[str, str]] = {"window": ">= 1"}

    def __init__(self, window: int = 100, **params: Any):
        if window < 1:
            raise ValueError("window must be >= 1")
        self.window = window
        self.params: dict[str, Any] = dict(params)
        self.label = self.name  # column / series name; metric_from_spec appends explicit params
        self.reset()

    # -- to implement -------------------------------------------------------------------------------
    def frame_values(self, sr: torch.Tensor, hr: torch.Tensor | None) -> torch.Tensor:
        """Per-frame values of one chunk: (T,3,H,W) [, (T,3,H,W)] → (T,) float64."""
        raise NotImplementedError

    def reset_carry(self) -> None:
        """Forget cross-chunk history (subclasses with ``context > 0``)."""

    def start(self, meta: dict[str, Any]) -> None:
        """Called by the runner after :meth:`reset`, before the first chunk of a clip. ``meta`` holds
        ``clip`` (id), ``frames`` (how many will be scored), ``fps``, ``scene_cuts`` (frame indices where a
        new scene starts) and ``chunk_boundaries`` (frame indices where the method starts a new chunk, or
        None when the method has no chunk structure). Metrics that need none of it ignore it."""
        self.meta = dict(meta)

    def check_frame_size(self, height: int, width: int) -> None:
        """Raise :class:`~infvsr_bench.errors.BadInput` when the metric cannot score frames of this size
        (e.g. a crop that leaves nothing). ``runner.prepare`` calls it for every clip's size before any work,
        so such a run is refused up front instead of failing every clip. Any size by default."""

    def finish_values(self) -> torch.Tensor | None:
        """Values of frames whose scores could only be known at the end of the clip (returned as NaN by
        :meth:`frame_values`), in order, for the last ``len(result)`` frames; None if nothing was deferred.
        Subclasses that defer (e.g. a metric that needs the next frame) override this."""
        return None

    # -- the contract -------------------------------------------------------------------------------
    def reset(self) -> None:
        self.meta: dict[str, Any] = {}
        self.frames = 0
        self._sum = 0.0
        self._count = 0
        self._win_sum: list[float] = []
        self._win_count: list[int] = []
        self.reset_carry()

    def update(self, sr: torch.Tensor, hr: torch.Tensor | None = None) -> torch.Tensor:
        if self.mode == "FR" and hr is None:
            raise ValueError(f"{self.name} needs the HR reference")
        if hr is not None and sr.shape != hr.shape:
            raise ValueError(f"{self.name}: output {tuple(sr.shape)} and reference {tuple(hr.shape)} differ")
        values = self.frame_values(sr, hr).detach().to("cpu", torch.float64).reshape(-1)
        if values.numel() != sr.shape[0]:
            raise RuntimeError(f"{self.name} returned {values.numel()} values for {sr.shape[0]} frames")
        self._fold(values)
        return values

    def finish(self) -> torch.Tensor | None:
        """End of the clip: fold deferred values (see :meth:`finish_values`) and return them."""
        late = self.finish_values()
        if late is None or late.numel() == 0:
            return None
        late = late.detach().to("cpu", torch.float64).reshape(-1)
        if late.numel() > self.frames:
            raise RuntimeError(f"{self.name} returned {late.numel()} deferred values for {self.frames} frames")
        self._fold(late, start=self.frames - late.numel(), advance=False)
        return late

    def _fold(self, values: torch.Tensor, start: int | None = None, advance: bool = True) -> None:
        """Add values to the running sums; ``start`` is the frame index of the first value (deferred values
        are folded at their own frame index, without advancing the frame count)."""
        idx = self.frames if start is None else start
        for v in values.tolist():
            w = idx // self.window
            while w >= len(self._win_sum):
                self._win_sum.append(0.0)
                self._win_count.append(0)
            if not math.isnan(v):
                self._sum += v
                self._count += 1
                self._win_sum[w] += v
                self._win_count[w] += 1
            idx += 1
            if advance:
                self.frames += 1

    def extra(self) -> dict[str, Any]:
        """Clip-level results beyond the per-frame mean (e.g. a seam score, a similarity-vs-gap curve).
        Scalars are averaged over clips in summary.json; lists and dicts stay in the clip record."""
        return {}

    def compute(self) -> dict[str, Any]:
        if self.frames == 0:
            raise RuntimeError(f"{self.name}: compute() before any update()")
        nan = float("nan")
        windows = [s / c if c else nan for s, c in zip(self._win_sum, self._win_count)]
        defined = [w for w in windows if not math.isnan(w)]
        first = defined[0] if defined else nan
        last = defined[-1] if defined else nan
        return {
            "mean": self._sum / self._count if self._count else nan,
            "frames": self.frames,
            "defined_frames": self._count,
            "window": self.window,
            "windows": windows,
            "first_window": first,
            "last_window": last,
            "drift": last - first,
            "extra": self.extra(),
        }

    def describe(self) -> dict[str, Any]:
        """Everything that identifies this metric's numbers: goes into run.json and comparability keys."""
        return {"label": self.label, "name": self.name, "version": self.version, "params": dict(sorted(self.params.items())),
                "higher_is_better": self.higher_is_better, "mode": self.mode, "unit": self.unit,
                "requires": list(self.requires)}
