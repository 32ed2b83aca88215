"""Real-ESRGAN's ncnn files → the state dicts the SR community uses (BasicSR / Real-ESRGAN key names).

The ncnn export keeps every convolution of the PyTorch network, in the network's order, so the mapping is
by position once the graph's shape has been checked:

- **RRDBNet** (``realesrgan-x4plus``): ``conv_first``, then per block ``body.N.rdbK.convJ`` (K = 1..3,
  J = 1..5; J = 1..4 carry a LeakyReLU(0.2), 5 does not), then ``conv_body``, ``conv_up1``, ``conv_up2``,
  ``conv_hr`` (LeakyReLU) and ``conv_last``. The residual scaling 0.2 of the architecture must be the
  graph's Eltwise coefficients (0.2, 1).
- **SRVGGNetCompact** (``realesr-animevideov3``): the weighted layers are ``body.0 … body.N`` in order
  (convolutions and PReLUs alternating, the last a convolution into ``3·scale²`` channels for the pixel
  shuffle).

The release's x2 and x3 graphs are the x4 network followed by a bicubic resize by 0.5 / 0.75; that resize is
not part of the state dict and is returned as ``out_resize``.

Converted dicts are cached as safetensors (fp32) so any tool that reads SR checkpoints (spandrel, chaiNNer,
BasicSR) can use them; the cache file name carries the source ``.bin`` and ``.param`` hashes, so it can never
be stale, and its own sha256 is kept beside it so a damaged cache file is an error naming it.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...errors import BadInput
from ...records import sha256_file
from .ncnn_file import Layer, NcnnFormatError, read_model

CONVERTER_VERSION = "1"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Converted:
    """A converted network: its state dict (fp32, CPU), its architecture name as spandrel reports it, the
    network's own scale and the resize applied after it (1.0 = none)."""

    state_dict: dict[str, torch.Tensor]
    arch: str
    net_scale: int
    out_resize: float = 1.0

    @property
    def scale(self) -> int:
        """The scale of the whole graph (network then resize)."""
        return round(self.net_scale * self.out_resize)


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _convs(layers: list[Layer]) -> list[Layer]:
    return [la for la in layers if la.type == "Convolution"]


def _leaky(layer: Layer) -> bool:
    """True when a convolution carries a fused LeakyReLU(0.2) (activation type 2, slope 0.2)."""
    slope = layer.get(10, (0.0,))
    return layer.get(9, 0) == 2 and abs(float(slope[0]) - 0.2) < 1e-6


def _rrdb(layers: list[Layer], where: str) -> dict[str, torch.Tensor]:
    convs = _convs(layers)
    n_blocks, rest = divmod(len(convs) - 6, 15)
    if rest or n_blocks < 1:
        raise NcnnFormatError(f"{where}: {len(convs)} convolutions is not an RRDBNet (1 + 15·blocks + 5)")
    names = ["conv_first"]
    names += [f"body.{b}.rdb{k}.conv{j}" for b in range(n_blocks) for k in (1, 2, 3) for j in range(1, 6)]
    names += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    leaky = {n for n in names if n.startswith("body.") and not n.endswith("conv5")} | {"conv_up1", "conv_up2",
                                                                                       "conv_hr"}
    coeffs = {tuple(la.get(1, ())) for la in layers if la.type == "Eltwise"}
    if coeffs != {(0.2, 1.0)}:
        raise NcnnFormatError(f"{where}: residual scalings {sorted(coeffs)} are not RRDBNet's (0.2, 1.0)")
    sd: dict[str, torch.Tensor] = {}
    for name, conv in zip(names, convs):
        if _leaky(conv) != (name in leaky):
            raise NcnnFormatError(f"{where}: convolution {conv.name} ({name}) has the wrong activation for RRDBNet")
        sd[f"{name}.weight"] = _tensor(conv.weights["weight"])
        sd[f"{name}.bias"] = _tensor(conv.weights["bias"])
    return sd


def _compact(layers: list[Layer], where: str) -> dict[str, torch.Tensor]:
    weighted = [la for la in layers if la.weights]
    kinds = [la.type for la in weighted]
    expected = ["Convolution", "PReLU"] * ((len(weighted) - 1) // 2) + ["Convolution"]
    if kinds != expected:
        raise NcnnFormatError(f"{where}: weighted layers are not SRVGGNetCompact's alternating conv / PReLU")
    sd: dict[str, torch.Tensor] = {}
    for i, la in enumerate(weighted):
        if la.type == "PReLU":
            sd[f"body.{i}.weight"] = _tensor(la.weights["slope"])
        else:
            sd[f"body.{i}.weight"] = _tensor(la.weights["weight"])
            sd[f"body.{i}.bias"] = _tensor(la.weights["bias"])
    return sd


def _out_resize(layers: list[Layer], where: str) -> float:
    """The factor of a bicubic resize that produces the graph's output, 1.0 when there is none."""
    last = layers[-1]
    if last.type != "Interp":
        return 1.0
    mode, fy, fx = last.get(0), float(last.get(1, 1.0)), float(last.get(2, 1.0))
    if mode != 3 or fy != fx:
        raise NcnnFormatError(f"{where}: final resize {last.name} is not a uniform bicubic one")
    return fy


def convert(param: str | os.PathLike, bin_path: str | os.PathLike) -> Converted:
    """Read an ncnn Real-ESRGAN model and return its state dict with the community's key names."""
    where = str(param)
    layers = read_model(param, bin_path)
    if any(la.type == "PReLU" for la in layers):
        sd, arch = _compact(layers, where), "RealESRGAN Compact"
        last = sd[f"body.{len([la for la in layers if la.weights]) - 1}.bias"].shape[0]
        net_scale = int(round((last / 3) ** 0.5))
    else:
        sd, arch = _rrdb(layers, where), "ESRGAN"
        net_scale = 2 ** sum(1 for la in layers if la.type == "Interp" and la.get(0) == 1)
    return Converted(sd, arch, net_scale, _out_resize(layers, where))


# ------------------------------------------------------------------------------------------- cache
def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/infvsr-bench/converted`` (default ``~/.cache``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "infvsr-bench" / "converted"


def _cache_file(stem: str, bin_sha: str, param_sha: str) -> Path:
    key = hashlib.sha256(f"{bin_sha}:{param_sha}:{CONVERTER_VERSION}".encode()).hexdigest()[:16]
    return cache_dir() / f"{stem}-{key}.safetensors"


def _write_cached(path: Path, conv: Converted, meta: dict[str, str]) -> None:
    """Write the safetensors file and its sha256 sidecar, each through a temporary name and a rename."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    save_file(conv.state_dict, str(part), metadata=meta)
    digest = sha256_file(part)
    side_part = path.with_name(path.name + ".sha256.part")
    side_part.write_text(digest + "\n")
    os.replace(part, path)
    os.replace(side_part, path.with_name(path.name + ".sha256"))


def _read_cached(path: Path) -> Converted:
    from safetensors import safe_open

    sidecar = path.with_name(path.name + ".sha256")
    expected = sidecar.read_text().strip() if sidecar.is_file() else None
    if expected is None or sha256_file(path) != expected:
        raise BadInput(f"converted weights {path} are damaged (sha256 does not match {sidecar.name}); delete it "
                       f"and it is converted again")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        sd = {k: f.get_tensor(k) for k in f.keys()}
    return Converted(sd, meta["arch"], int(meta["net_scale"]), float(meta["out_resize"]))


def converted(stem: str, param: Path, bin_path: Path, param_sha: str, bin_sha: str) -> tuple[Converted, Path]:
    """The converted model of checked ncnn files, from the safetensors cache or converted (and cached) now.

    ``param_sha`` / ``bin_sha`` are the files' (already verified) hashes; they key the cache file. Returns the
    model and the cache path (a standard SR checkpoint, usable with ``spandrel:model=PATH``)."""
    path = _cache_file(stem, bin_sha, param_sha)
    if path.is_file():
        return _read_cached(path), path
    conv = convert(param, bin_path)
    meta = {"arch": conv.arch, "net_scale": str(conv.net_scale), "out_resize": repr(conv.out_resize),
            "source_bin_sha256": bin_sha, "source_param_sha256": param_sha, "converter": CONVERTER_VERSION,
            "source": f"{stem} (ncnn, Real-ESRGAN, BSD-3-Clause)"}
    try:
        _write_cached(path, conv, meta)
    except OSError as exc:  # a read-only cache costs a conversion per run, nothing else
        log.warning("could not cache converted %s at %s: %s", stem, path, exc)
    return conv, path
