"""What every learned quality metric shares: weights, random-init mode, device, batching, input checks.

A learned metric (LPIPS, DISTS, tLP in :mod:`.perceptual`; MUSIQ, CLIP-IQA in :mod:`.no_reference`) is a
frozen network applied to each frame (or frame pair) of a chunk. This base class gives them one behaviour:

* **Weights** come only from :mod:`infvsr_bench.weights` (ids in ``requires``). The network is built on the
  first ``update`` (so the runner can list a metric as unavailable without touching its files); an explicit
  ``weights_path`` is checked at construction, so a wrong path fails before any work.
* **Random weights** (``pretrained=False``): the network keeps its seeded random initialisation — for
  plumbing tests and speed only. ``requires`` is then empty, and ``params["random_weights"]`` and
  ``extra()["random_weights"]`` say so in every output.
* **Batching**: a chunk goes through the network in as few forwards as ``batch`` (frames per forward;
  None = the whole chunk in one, or a class's ``cpu_batch`` on the CPU) allows. ``batch`` and ``device``
  change no value beyond float rounding, so they are not recorded params (as for the semantic metrics).
* **Input checks**: shape and dtype on every chunk (cheap); the [0, 1] range once per clip, on its first
  chunk (a scan of every frame would cost a pass over the video per metric).
* **Precision** (``precision``): ``fp32`` (default) is float32, and on CUDA without TF32, whose kernel choice
  depends on the batch size (so a value would depend on how frames were grouped); CUDA then gives the CPU's
  values up to float rounding. Two opt-in fast modes trade that for speed: ``tf32`` (CUDA only: TF32
  convolutions and matmuls, torch's default for convolutions) and ``bf16`` (autocast to bfloat16 on the CPU or
  CUDA). A fast mode changes values by more than rounding, so it is a recorded param (``lpips[precision=bf16]``
  is its own column and comparability key); ``fp32`` is not recorded, keeping existing keys.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import BadInput, WeightsNotFound
from .base import StreamingMetric
from .flow import _full_fp32, tf32_mode

RANGE_EPS = 1e-6  # pyiqa's tolerance on the [0, 1] range
PRECISIONS = ("fp32", "tf32", "bf16")  # see the module docstring


class LearnedMetric(StreamingMetric):
    """Base of the learned metrics (see the module docstring). Subclasses set ``requires`` (the weight ids of
    the pretrained network), implement :meth:`build` and use :meth:`net`, :meth:`check`, :meth:`pieces`."""

    #: frames per forward on the CPU when no ``batch`` is given (None: the whole chunk). Set where measured
    #: batching is slower on a CPU (``benchmarks/learned_speed.py``); values do not depend on it.
    cpu_batch: ClassVar[int | None] = None
    #: the precision modes offered (module docstring); a class drops a fast mode its computation cannot take
    precisions: ClassVar[tuple[str, ...]] = PRECISIONS
    param_limits: ClassVar[dict[str, str]] = {"batch": ">= 1"}

    def __init__(self, pretrained: bool = True, weights_path: str | None = None, device: str = "cpu",
                 batch: int | None = None, seed: int = 0, window: int = 100, precision: str = "fp32",
                 **params: Any):
        if not isinstance(pretrained, bool):
            raise BadInput(f"{self.name}: pretrained must be true or false, got {pretrained!r}")
        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
            raise BadInput(f"{self.name}: batch must be an integer >= 1 (frames per forward), got {batch!r}")
        if precision not in self.precisions:
            raise BadInput(f"{self.name}: precision must be one of {', '.join(self.precisions)}, got {precision!r}")
        if precision == "tf32" and torch.device(device).type != "cuda":
            raise BadInput(f"{self.name}: precision=tf32 needs a CUDA device (got device {device!r}); use fp32 or bf16")
        self.precision_mode = precision
        self.pretrained = pretrained
        self.weights_path = weights_path  # not a param: the file is identified by its sha256, not its path
        self.device = torch.device(device)
        self.batch = batch
        self.seed = int(seed)
        if not pretrained:
            self.requires = ()  # instance override: random weights need no file
        elif weights_path is not None:  # an explicit file is checked now: a wrong path fails before any work
            from .. import weights

            for wid in self.requires:
                weights.resolve(wid, weights_path)
        self._net: nn.Module | None = None
        super().__init__(window=window, pretrained=pretrained, **params)
        if not pretrained:
            self.params.update(random_weights=True, seed=self.seed)
        if precision != "fp32":  # a fast mode is its own convention (fp32 stays unrecorded: existing keys hold)
            self.params["precision"] = precision

    @property
    def random_weights(self) -> bool:
        return not self.pretrained

    # -- to implement -------------------------------------------------------------------------------
    def build(self) -> nn.Module:
        """The network on the CPU, weights loaded (``self.pretrained``) or seeded random (``self.seed``)."""
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------------
    @property
    def net(self) -> nn.Module:
        """The network on ``device``, built (and its weights loaded) on first access."""
        if self._net is None:
            self._net = self.build().eval().requires_grad_(False).to(self.device)
        return self._net

    def reset(self) -> None:
        self._range_checked = False
        super().reset()

    def check(self, frames: torch.Tensor, what: str = "output") -> None:
        """Shape and dtype of every chunk; value range once per clip (first chunk only)."""
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise BadInput(f"{self.name}: expected {what} frames shaped (T, 3, H, W), got {tuple(frames.shape)}")
        if not frames.is_floating_point():
            raise BadInput(f"{self.name}: expected float {what} frames in [0, 1], got {frames.dtype}")
        if not self._range_checked and frames.numel():
            lo, hi = float(frames.min()), float(frames.max())
            if not (lo > -RANGE_EPS and hi < 1.0 + RANGE_EPS) or math.isnan(lo + hi):
                raise BadInput(f"{self.name}: {what} frames must be in [0, 1], got min {lo:.4g}, max {hi:.4g}")

    def checked(self, frames: torch.Tensor) -> None:
        """Mark the clip's range as checked once every input of a non-empty chunk passed :meth:`check`."""
        if frames.numel():
            self._range_checked = True

    def pieces(self, n: int) -> Iterator[slice]:
        """Frame ranges of one forward each: the whole chunk, or ``batch`` frames at a time (without a
        ``batch``, ``cpu_batch`` frames at a time on the CPU where the class sets one)."""
        step = self.batch or (self.cpu_batch if self.device.type == "cpu" else None) or n
        for i in range(0, n, max(1, step)):
            yield slice(i, min(i + step, n))

    @contextlib.contextmanager
    def precision(self) -> Iterator[None]:
        """Context for a forward: inference mode, and the ``precision`` mode (module docstring)."""
        mode = self.precision_mode
        # inference mode first: its guard restores the thread's dispatch state (autocast included) on exit, so
        # an autocast entered outside it would stay switched on after the forward
        with torch.inference_mode(), contextlib.ExitStack() as stack:
            if mode == "tf32":
                stack.enter_context(tf32_mode(True))
            else:
                stack.enter_context(_full_fp32(self.device))  # bf16: what autocast leaves in float32 stays exact
            if mode == "bf16":
                stack.enter_context(torch.autocast(self.device.type, dtype=torch.bfloat16))
            yield

    def extra(self) -> dict[str, Any]:
        return {"random_weights": True} if self.random_weights else {}

    def describe(self) -> dict[str, Any]:
        """Adds ``weights``: id, sha256 and how it was checked, for every file the metric uses (when present)."""
        out = super().describe()
        if self.pretrained:
            from .. import weights

            files = []
            for wid in self.requires:
                try:
                    prov = weights.provenance(wid, self.weights_path)
                except WeightsNotFound:
                    continue
                files.append({"id": wid, "sha256": prov["sha256"], "check": prov["check"]})
            out["weights"] = files
        return out


def concat_values(pieces: list[torch.Tensor]) -> torch.Tensor:
    """Per-frame values of a chunk's forwards as one float64 vector (empty for an empty chunk)."""
    return torch.cat(pieces).double() if pieces else torch.empty(0, dtype=torch.float64)


__all__ = ["PRECISIONS", "RANGE_EPS", "LearnedMetric", "concat_values"]
