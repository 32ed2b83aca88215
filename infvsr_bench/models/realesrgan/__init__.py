"""Real-ESRGAN networks from the weight files of the package index, built by spandrel.

:func:`load` resolves a weight id (``realesrgan-x4plus``, ``realesr-animevideov3-x2|x3|x4``: an ncnn ``.bin``
with its ``.param``, both hash-checked by :mod:`infvsr_bench.weights`), converts it to a BasicSR state dict
(:mod:`.convert`, cached as safetensors) and lets spandrel build the architecture from that dict — the same
path a community checkpoint takes (:func:`load_checkpoint`), so nothing here hand-writes RRDBNet.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ...errors import BadInput

#: weight id per (method, output scale)
WEIGHT_IDS = {("realesrgan", 4): "realesrgan-x4plus",
              **{("realesr-animevideov3", s): f"realesr-animevideov3-x{s}" for s in (2, 3, 4)}}


@dataclass
class SRNet:
    """A single-image SR network ready to run (see :meth:`run`). ``desc`` is spandrel's model descriptor;
    ``raw``: call the bare network (no padding, no clamp: the ncnn graphs' own arithmetic, so a bicubic
    ``out_resize`` after it sees the same values ncnn's does) rather than the descriptor (which pads to the
    architecture's size requirements and clamps). ``out_resize`` (1.0, or 0.5 / 0.75 for the x2 / x3
    animevideov3 graphs) is a bicubic resize after the network; ``about`` is what a run records."""

    desc: Any
    net_scale: int
    out_resize: float
    about: dict[str, Any]
    raw: bool = False

    @property
    def scale(self) -> int:
        return round(self.net_scale * self.out_resize)

    @property
    def arch(self) -> str:
        return self.desc.architecture.name

    @property
    def supports_half(self) -> bool:
        return bool(self.desc.supports_half)

    def params(self) -> int:
        return sum(p.numel() for p in self.desc.model.parameters())

    def to(self, device: str | torch.device, dtype: torch.dtype = torch.float32) -> SRNet:
        self.desc.to(device)
        self.desc.model.to(dtype=dtype)
        if self.raw:  # plain convnets: oneDNN's channels-last kernels cost ~15% less CPU time (measured)
            self.desc.model.to(memory_format=torch.channels_last)
        return self

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) in [0, 1] → (B, 3, h·scale, w·scale), not clamped (and not necessarily contiguous)."""
        if self.raw:
            y = self.desc.model(x.contiguous(memory_format=torch.channels_last))
        else:  # the descriptor runs one image at a time
            y = torch.cat([self.desc(x[i:i + 1]) for i in range(x.shape[0])])
        if self.out_resize != 1.0:
            h, w = x.shape[-2:]
            y = F.interpolate(y, size=(h * self.scale, w * self.scale), mode="bicubic", align_corners=False)
        return y


def _descriptor(state_dict: dict, what: str):
    """spandrel's model descriptor for a state dict; a dict it does not know is one BadInput line."""
    import spandrel

    try:
        desc = spandrel.ModelLoader().load_from_state_dict(state_dict)
    except spandrel.UnsupportedModelError as exc:
        raise BadInput(f"{what}: spandrel does not recognise this checkpoint's architecture") from exc
    except Exception as exc:  # a recognised architecture whose tensors do not fit it
        raise BadInput(f"{what}: spandrel could not load it: {type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    if not isinstance(desc, spandrel.ImageModelDescriptor):
        raise BadInput(f"{what}: {desc.architecture.name} is an inpainting model, not single-image SR")
    return desc


def load(weight_id: str) -> SRNet:
    """The network of a Real-ESRGAN weight id (raises WeightsNotFound naming ``weights fetch ID``)."""
    from ... import weights
    from .convert import converted

    prov = weights.provenance(weight_id)  # resolves and checks the .bin and its .param
    bin_path = prov["path"]
    param = os.path.join(os.path.dirname(bin_path), f"{weight_id}.param")
    param_sha = weights.file_sha256(param)
    conv, cache = converted(weight_id, param=param, bin_path=bin_path, param_sha=param_sha, bin_sha=prov["sha256"])
    desc = _descriptor(conv.state_dict, f"converted {weight_id}")
    if desc.architecture.name != conv.arch or desc.scale != conv.net_scale:
        raise BadInput(f"converted {weight_id}: spandrel sees {desc.architecture.name} x{desc.scale}, expected "
                       f"{conv.arch} x{conv.net_scale}")
    about = {"weights": prov, "param_sha256": param_sha, "converted": str(cache), "arch": desc.architecture.name,
             "params": sum(t.numel() for t in conv.state_dict.values()), "out_resize": conv.out_resize}
    desc.model.eval()
    return SRNet(desc, conv.net_scale, conv.out_resize, about, raw=True)


def load_checkpoint(path: str | os.PathLike) -> SRNet:
    """Any single-image SR checkpoint spandrel detects (``.pth``, ``.safetensors``, ``.ckpt``, ``.pt``)."""
    import spandrel

    from ...records import sha256_file

    what = f"checkpoint {path}"
    if not os.path.isfile(path):
        raise BadInput(f"{what} not found")
    try:
        state_dict = spandrel.ModelLoader().load_state_dict_from_file(path)
    except Exception as exc:  # wrong extension, not a pickle / safetensors, truncated
        raise BadInput(f"{what} could not be read: {type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    desc = _descriptor(state_dict, what)
    if desc.input_channels != 3 or desc.output_channels != 3:
        raise BadInput(f"{what}: {desc.architecture.name} maps {desc.input_channels} to {desc.output_channels} "
                       f"channels; only RGB to RGB models can run on video frames")
    about = {"checkpoint": str(path), "sha256": sha256_file(path), "arch": desc.architecture.name,
             "params": sum(p.numel() for p in desc.model.parameters()), "tags": list(desc.tags)}
    desc.model.eval()
    return SRNet(desc, int(desc.scale), 1.0, about)
