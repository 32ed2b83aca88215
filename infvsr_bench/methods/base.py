"""The method adapter protocol: every VSR method is driven through these five members.

Adapters see frames only (never metrics or datasets): ``setup`` once, ``reset`` per video, ``step`` per LR
chunk returning any number (≥ 0) of SR frames in order, ``flush`` at the end for frames still held back.
Over a video the frames out equal the frames in.

``step`` and ``flush`` return either one (T, 3, H, W) tensor or an *iterator* of such tensors; the runner
pulls an iterator chunk by chunk and scores each chunk before pulling the next, so a method whose output
comes all at once (an external program that writes a video) can stream it back without holding it whole.
Two optional members: ``chunk_boundaries(n)`` (frame indices where the method starts an independent
chunk, for seam metrics) and ``timing()`` — a method that times itself (the wall time of an external
program, startup apart) returns a dict that overrides the runner's per-chunk timings in the clip record.
Also optional: ``preflight()`` (called by ``runner.prepare`` before any work; raises e.g. ``WeightsNotFound``
listing every missing checkpoint, so the CLI exits 2), ``check_device(device)`` (called with the run's
device before any work; raises BadInput e.g. for an fp16 request on the CPU), the class attribute
``scale_from_dataset`` (a method serving several scales is given the dataset's as its ``scale`` parameter
unless the user chose one) and ``observed_chunk_boundaries`` (a method that chunks
online, e.g. at detected scene cuts: the chunk starts it actually used, recorded beside the declared ones).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterator, Protocol, runtime_checkable

import torch


@dataclass(frozen=True)
class MethodInfo:
    """Static facts about a method that the runner and reports rely on."""

    name: str
    scale: int
    causal: bool
    chunk_frames: int
    delay_frames: int = 0
    random_weights: bool = False
    track: str = "online"  # online (causal, streaming) | offline

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Method(Protocol):
    info: MethodInfo

    def setup(self, device: str = "cpu", dtype: torch.dtype = torch.float32) -> None: ...

    def reset(self, meta: dict[str, Any] | None = None) -> None: ...

    def step(self, lr_chunk: torch.Tensor) -> torch.Tensor | Iterator[torch.Tensor]: ...

    def flush(self) -> torch.Tensor | Iterator[torch.Tensor]: ...

    def describe(self) -> dict[str, Any]: ...


class FrameWiseMethod:
    """Helper base for methods that map each LR frame to one SR frame independently (no state, no delay)."""

    info: MethodInfo
    #: limits of the constructor's parameters, checked before the adapter is built (infvsr_bench.params)
    param_limits = {"scale": ">= 1", "chunk_frames": ">= 1"}

    def __init__(self, **params: Any):
        self.params = params
        self.device = "cpu"

    def setup(self, device: str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.device = device

    def reset(self, meta: dict[str, Any] | None = None) -> None:
        pass

    def upscale(self, lr: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def step(self, lr_chunk: torch.Tensor) -> torch.Tensor:
        return self.upscale(lr_chunk.to(self.device)).clamp_(0, 1)

    def flush(self) -> torch.Tensor:
        return torch.empty(0, 3, 0, 0)

    def describe(self) -> dict[str, Any]:
        return {"info": self.info.as_dict(), "params": dict(sorted(self.params.items()))}
