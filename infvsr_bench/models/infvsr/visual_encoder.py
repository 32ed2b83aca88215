"""Reference-frame encoder of InfVSR: RAM's Swin-L with SeeSR's DAPE LoRA merged, then ``image_proj``.

InfVSR replaces Wan2.1's umT5 text context by 145 visual tokens of one LR reference frame (the first frame
of a scene, re-selected on large content drift): Swin-L features after the final norm, a mean-pooled token
in front of the 12×12 grid tokens, projected 1536 → 512 by RAM's ``image_proj``
(``docs/infvsr.md`` §4, ``docs/infvsr-checkpoints.md`` §3–4).

Presets: ``swin-l-ram`` (the exact release: 195,985,460 parameters in 329 tensors) and ``tiny`` (32 px,
two stages, 32-d output, for tests). The module has the children ``visual_encoder`` and ``image_proj`` so
that the filtered RAM state dict loads strictly under its own names.

Input convention (the release's): an LR frame (B, 3, H, W) in [0, 1] is resized to the backbone's size
(384×384) and ImageNet-normalised inside :meth:`VisualEncoder.forward`. The release does it with
``torchvision.transforms.Resize((384, 384), BILINEAR)`` on the float frame, which on torchvision >= 0.17 (the
pinned version) is bilinear with ``align_corners=False`` **and antialiasing**; we call the same interpolation
(tested equal to ``Resize`` itself). Antialiasing only matters for frames larger than 384 px, where a plain
bilinear resize would show the encoder a different, aliased guidance frame.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .swin import SwinConfig, SwinTransformer

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: preset → (backbone config, output width of image_proj)
PRESETS: dict[str, tuple[SwinConfig, int]] = {
    "swin-l-ram": (SwinConfig(), 512),
    "tiny": (SwinConfig(img_size=32, patch_size=4, embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4),
             32),
}

#: Buffers RAM saves with its weights; recomputed here, so dropped before loading.
_DROPPED_SUFFIXES = ("relative_position_index", "attn_mask")
_KEPT_PREFIXES = ("visual_encoder.", "image_proj.")
_LORA_KEY = re.compile(r"^visual_encoder\.layers\.(\d+)\.blocks\.(\d+)\.attn\.qkv\.lora_([AB])$")


class VisualEncoder(nn.Module):
    """Swin backbone + ``image_proj``: (B, 3, H, W) in [0, 1] → (B, 1 + g², out_dim) context tokens."""

    def __init__(self, cfg: SwinConfig, out_dim: int):
        super().__init__()
        self.cfg = cfg
        self.out_dim = out_dim
        self.visual_encoder = SwinTransformer(cfg)
        self.image_proj = nn.Linear(cfg.num_features, out_dim)

    @property
    def num_tokens(self) -> int:
        return 1 + self.cfg.out_grid ** 2

    def preprocess(self, frame: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] → (B, 3, S, S) resized as the release's ``transforms.Resize`` (bilinear,
        antialiased), ImageNet-normalised, in the model dtype."""
        if frame.ndim != 4 or frame.shape[1] != 3:
            raise ValueError(f"visual encoder expects (B, 3, H, W) frames, got {tuple(frame.shape)}")
        s = self.cfg.img_size
        x = F.interpolate(frame.float(), size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
        return ((x - mean) / std).to(self.image_proj.weight.dtype)

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        return self.image_proj(self.visual_encoder(self.preprocess(frame)))

    def reset_buffers(self, device: Any = None) -> None:
        self.visual_encoder.reset_buffers(device)


def build_visual_encoder(preset: str = "swin-l-ram", device: Any = None, dtype: Any = None) -> VisualEncoder:
    """Build the encoder of a preset, randomly initialised (``device='meta'``: shapes only, no memory)."""
    if preset not in PRESETS:
        from ...errors import BadInput

        raise BadInput(f"unknown visual-encoder preset {preset!r} (known: {', '.join(PRESETS)})")
    cfg, out_dim = PRESETS[preset]
    with torch.device(device or "cpu"):
        model = VisualEncoder(cfg, out_dim)
    if str(device) != "meta":
        gen = torch.Generator().manual_seed(0)
        for name, p in model.named_parameters():  # small deterministic init (random-weights runs)
            if name.endswith("relative_position_bias_table"):
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


# ------------------------------------------------------------------------------------------ checkpoints
def ram_visual_state(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The part of a RAM checkpoint InfVSR uses: ``checkpoint["model"]`` filtered to keys starting with
    ``visual_encoder.`` or ``image_proj.``, minus the recomputed ``relative_position_index`` / ``attn_mask``
    buffers. Raises ValueError when the container is not RAM's."""
    if not isinstance(checkpoint, Mapping) or not isinstance(checkpoint.get("model"), Mapping):
        raise ValueError("RAM checkpoint must be a dict holding the state dict under 'model'")
    return {k: v for k, v in checkpoint["model"].items()
            if k.startswith(_KEPT_PREFIXES) and not k.endswith(_DROPPED_SUFFIXES)}


def dape_lora(state: Mapping[str, Any], n_blocks: int) -> dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]]:
    """(stage, block) → (lora_A (2r, C), lora_B (2C, r)) for every Swin qkv LoRA in a DAPE state dict (the
    BERT LoRA tensors it also holds are ignored). Raises ValueError unless exactly one A/B pair per block of
    the backbone is found."""
    found: dict[tuple[int, int], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        m = _LORA_KEY.match(key)
        if m:
            found.setdefault((int(m.group(1)), int(m.group(2))), {})[m.group(3)] = value
    pairs = {k: (v["A"], v["B"]) for k, v in found.items() if set(v) == {"A", "B"}}
    if len(pairs) != n_blocks or len(found) != n_blocks:
        raise ValueError(f"DAPE checkpoint: expected a lora_A/lora_B pair for each of the {n_blocks} Swin "
                         f"qkv layers, found {len(pairs)} complete pair(s) among {len(found)} layer(s)")
    return pairs


def merge_dape(state: Mapping[str, torch.Tensor], lora: Mapping[tuple[int, int], tuple[torch.Tensor, torch.Tensor]]
               ) -> dict[str, torch.Tensor]:
    """Fold loralib ``MergedLinear(r, enable_lora=[True, False, True], lora_alpha=1)`` deltas into the qkv
    weights: ΔQ = B[:C]·A[:r], ΔV = B[C:]·A[r:], scaled by alpha / r = 1/r (1/8 in the release), added to
    rows [0, C) and [2C, 3C); K rows and the biases are untouched. Done in fp32; returns a new dict with the
    merged weights (the inputs are not modified)."""
    out = dict(state)
    for (i, j), (a, b) in sorted(lora.items()):
        key = f"visual_encoder.layers.{i}.blocks.{j}.attn.qkv.weight"
        if key not in out:
            raise ValueError(f"DAPE LoRA for {key} but the RAM weights have no such layer")
        w = out[key]
        c = w.shape[1]
        r = a.shape[0] // 2
        if tuple(w.shape) != (3 * c, c) or tuple(a.shape) != (2 * r, c) or tuple(b.shape) != (2 * c, r):
            raise ValueError(f"DAPE LoRA shapes A {tuple(a.shape)}, B {tuple(b.shape)} do not fit {key} "
                             f"{tuple(w.shape)}")
        a32, b32 = a.float(), b.float()
        scale = 1.0 / r
        merged = w.float().clone()
        merged[:c] += (b32[:c] @ a32[:r]) * scale           # Q rows
        merged[2 * c:] += (b32[c:] @ a32[r:]) * scale       # V rows
        out[key] = merged.to(w.dtype)
    return out


def n_blocks(preset: str) -> int:
    return sum(PRESETS[preset][0].depths)


__all__ = ["PRESETS", "VisualEncoder", "build_visual_encoder", "dape_lora", "merge_dape", "ram_visual_state"]
