"""Loading InfVSR's four released weight files, strictly, into modules built on the meta device.

The files (``docs/infvsr-checkpoints.md``): ``InfVSR.ckpt`` (DiT, flat bf16 state dict), ``Wan2.1_VAE.pth`` (VAE,
flat fp32 state dict, optionally under ``model_state``), ``ram_swin_large_14m.pth`` (RAM, state dict under
``model``; only ``visual_encoder.*`` / ``image_proj.*`` are used) and ``DAPE.pth`` (SeeSR's LoRA tensors,
merged into the Swin qkv weights at load). Each module is built on the meta device (no random weights are
ever allocated), the tensors are read weights-only — memory-mapped when the file is in torch's zip format —
and assigned with a strict key check; then everything is cast to the run dtype (bf16 on GPU in the release).

:func:`load_infvsr` finds the files through :mod:`infvsr_bench.weights` (hash-checked; ``weights_dir`` is
searched first) and raises one :class:`~infvsr_bench.errors.WeightsNotFound` listing *every* missing file
with where it is published, before reading any of them. :func:`load_infvsr_files` loads given paths (what
the tests use with tiny checkpoints in the released formats). :func:`build_random` makes the same
architecture with random weights, for speed and memory measurement only.
"""
from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ...errors import WeightsNotFound

log = logging.getLogger(__name__)

#: role → weight id in :mod:`infvsr_bench.weights`
WEIGHT_IDS = {"dit": "infvsr-dit", "vae": "wan2.1-vae", "ram": "ram-swin-l", "dape": "dape"}

#: weight id → (file name, where it is published), for messages even before an id is in the weights table
RELEASE_FILES = {
    "infvsr-dit": ("InfVSR.ckpt", "https://huggingface.co/zzqingz/InfVSR"),
    "wan2.1-vae": ("Wan2.1_VAE.pth", "https://huggingface.co/Wan-AI/Wan2.1-T2V-1.3B"),
    "ram-swin-l": ("ram_swin_large_14m.pth", "https://huggingface.co/spaces/xinyu1205/recognize-anything"),
    "dape": ("DAPE.pth", "https://huggingface.co/CSWRY/SeeSR (mirror: alexnasa/SEESR)"),
}

#: model preset → (DiT preset, VAE preset, visual-encoder preset)
PRESETS = {"infvsr-1.3b": ("infvsr-1.3b", "wan2.1", "swin-l-ram"), "tiny": ("tiny", "tiny", "tiny")}


@dataclass
class InfVSRModels:
    """The three networks, ready for :class:`~.pipeline.InfVSRPipeline`; ``weights`` records what they
    were loaded from (id, file, sha256, ...) or is empty for random weights."""

    dit: Any
    vae: Any
    encoder: Any
    random_weights: bool
    weights: list[dict[str, Any]] = field(default_factory=list)


def _presets(preset: str) -> tuple[str, str, str]:
    if preset not in PRESETS:
        from ...errors import BadInput

        raise BadInput(f"unknown InfVSR preset {preset!r} (known: {', '.join(PRESETS)})")
    return PRESETS[preset]


def missing_files(weights_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """weight id → one-line reason (file name, where it was looked for, where it is published) for each of
    the four files that cannot be used now; empty when all are present and check out."""
    from ... import weights
    from ...errors import UnknownName

    out = {}
    for wid in WEIGHT_IDS.values():
        try:
            loc = weights.locate(wid, weights_dir)
        except UnknownName:  # an id not (yet) in the weights table cannot be resolved
            out[wid] = f"{RELEASE_FILES[wid][0]}: weight id {wid!r} is not in infvsr_bench.weights' table"
            continue
        if loc.status != "found":
            out[wid] = loc.reason or f"{wid}: {loc.status}"
    return out


def check_weights(weights_dir: str | os.PathLike | None = None) -> None:
    """Raise :class:`WeightsNotFound` listing every missing (or corrupt) InfVSR weight file; reads nothing."""
    from ... import weights

    missing = missing_files(weights_dir)
    if missing:
        items = []
        for wid in WEIGHT_IDS.values():
            if wid in missing:
                name, url = RELEASE_FILES[wid]
                state = "wrong sha256" if "sha256" in missing[wid] else "missing"
                items.append(f"{name} (id {wid}, {state}; published at {url})")
        where = f" in {weights_dir} or" if weights_dir else ""
        raise WeightsNotFound(f"InfVSR needs {len(WEIGHT_IDS)} weight files; {len(items)} not usable: "
                              + "; ".join(items) + f" — put them{where} in a folder listed in "
                              f"${weights.ENV_VAR} (or pass --weights-dir), or use --random-weights for a "
                              f"speed/memory-only run")


def _read(path: str | os.PathLike) -> Any:
    """torch.load weights-only on the CPU, memory-mapped when the file is a zip archive; a file that does not
    unpickle weights-only is a typed :class:`~infvsr_bench.weights.WeightsFormatError` naming it."""
    from ...weights import WeightsFormatError

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except FileNotFoundError:
        raise
    except Exception as exc:  # any unpickling failure means "not a plain weights file"
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise WeightsFormatError(f"weight file {path} could not be loaded weights-only: "
                                 f"{type(exc).__name__}: {first}") from exc


def _strict_assign(module: torch.nn.Module, sd: Mapping[str, torch.Tensor], what: str) -> None:
    """Strict load with ``assign`` (the module is on the meta device); one BadInput naming the mismatch."""
    from ...weights import WeightsFormatError, key_layout_mismatch

    mismatch = key_layout_mismatch(module.state_dict(), sd)
    if mismatch:
        raise WeightsFormatError(f"{what} does not match its key layout — {mismatch}")
    module.load_state_dict(dict(sd), strict=True, assign=True)


def load_encoder(preset: str, ram: Any, dape: Any, device: Any = "cpu", dtype: Any = None):
    """Visual encoder from a loaded RAM checkpoint and a loaded DAPE state dict (LoRA merged in fp32, then
    cast to ``dtype``)."""
    from ...weights import WeightsFormatError
    from .visual_encoder import build_visual_encoder, dape_lora, merge_dape, n_blocks, ram_visual_state

    try:
        state = ram_visual_state(ram)
        state = merge_dape(state, dape_lora(dape, n_blocks(preset)))
    except ValueError as exc:
        raise WeightsFormatError(f"visual encoder weights: {exc}") from exc
    enc = build_visual_encoder(preset, device="meta")
    _strict_assign(enc, state, "RAM visual encoder (ram_swin_large_14m.pth)")
    enc.reset_buffers("cpu")  # the index / mask buffers are still meta tensors: compute them, then move
    enc = enc.to(device=device, dtype=dtype)
    return enc.eval().requires_grad_(False)


def load_infvsr_files(files: Mapping[str, str | os.PathLike], preset: str = "infvsr-1.3b", device: Any = "cpu",
                      dtype: Any = None) -> InfVSRModels:
    """Load the four files given by role (``dit``, ``vae``, ``ram``, ``dape``) strictly into ``preset``'s
    modules; cast to ``dtype`` (default: fp32 for the VAE / encoder, the file's bf16 for the DiT)."""
    from .dit import build_dit, load_dit_state_dict
    from .vae import build_vae, load_vae_state_dict

    dit_p, vae_p, enc_p = _presets(preset)
    dit = build_dit(dit_p, device="meta")
    load_dit_state_dict(dit, _read(files["dit"]), device=device, dtype=dtype)
    vae = load_vae_state_dict(build_vae(vae_p, device="meta"), _read(files["vae"]))
    vae = vae.to(device=device, dtype=dtype).eval().requires_grad_(False)
    enc = load_encoder(enc_p, _read(files["ram"]), _read(files["dape"]), device=device, dtype=dtype)
    return InfVSRModels(dit.eval().requires_grad_(False), vae, enc, random_weights=False)


def load_infvsr(weights_dir: str | os.PathLike | None = None, device: Any = "cpu", dtype: Any = None,
                preset: str = "infvsr-1.3b") -> InfVSRModels:
    """Resolve the four released files (``weights_dir`` first, then :mod:`infvsr_bench.weights`' usual
    folders; sha256-checked where published) and load them. Raises :class:`WeightsNotFound` listing every
    missing file before loading any."""
    from ... import weights

    check_weights(weights_dir)
    prov = {role: weights.provenance(wid, weights_dir) for role, wid in WEIGHT_IDS.items()}  # resolves once
    files = {role: p["path"] for role, p in prov.items()}
    models = load_infvsr_files(files, preset, device=device, dtype=dtype)
    models.weights = list(prov.values())
    log.info("InfVSR weights loaded from %s", ", ".join(str(Path(f)) for f in files.values()))
    return models


def build_random(preset: str = "infvsr-1.3b", device: Any = "cpu", dtype: Any = None, seed: int = 0) -> InfVSRModels:
    """The full architecture with random weights (seeded): for speed and memory measurement only."""
    from .dit import build_dit
    from .vae import build_vae
    from .visual_encoder import build_visual_encoder

    dit_p, vae_p, enc_p = _presets(preset)
    torch.manual_seed(seed)
    dit = build_dit(dit_p, device=device, dtype=dtype).requires_grad_(False)
    vae = build_vae(vae_p, device=device, dtype=dtype)
    enc = build_visual_encoder(enc_p, device=device, dtype=dtype).requires_grad_(False)
    return InfVSRModels(dit, vae, enc, random_weights=True)


__all__ = ["InfVSRModels", "PRESETS", "WEIGHT_IDS", "build_random", "check_weights", "load_encoder",
           "load_infvsr", "load_infvsr_files", "missing_files"]
