"""The DOVER model: two backbones, two heads, raw branch scores (``docs/dover.md`` §2–§3).

``DOVER.pth`` is a flat state dict with 381 entries in the order ``technical_backbone.*``,
``aesthetic_backbone.*``, ``technical_head.*``, ``aesthetic_head.*`` (56,218,302 parameters plus twelve
int64 ``relative_position_index`` buffers); :func:`load_dover_weights` loads it strictly, after checking
every stored index buffer against the formula.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...errors import BadInput
from .config import DoverConfig, get_config
from .convnext3d import ConvNeXt3D
from .heads import VQAHead
from .swin3d import SwinTransformer3D, relative_position_index


class DOVER(nn.Module):
    """Disentangled video quality evaluator. Inputs are normalised views (see ``views.py``):

    * technical: (clips, 3, 32, 224, 224) fragment mosaics → map (clips, 1, 16, 7, 7);
    * aesthetic: (1, 3, 32, 224, 224) resized frames → map (1, 1, 16, 7, 7).
    The raw score of a branch is the mean of every element of its map.
    """

    def __init__(self, cfg: DoverConfig):
        super().__init__()
        self.cfg = cfg
        self.technical_backbone = SwinTransformer3D(cfg.swin_embed_dim, cfg.swin_depths, cfg.swin_heads,
                                                    cfg.swin_window, cfg.swin_patch, cfg.swin_frag_bias,
                                                    cfg.swin_mlp_ratio)
        self.aesthetic_backbone = ConvNeXt3D(cfg.conv_dims, cfg.conv_depths)
        self.technical_head = VQAHead(cfg.swin_out_dim, cfg.head_hidden)
        self.aesthetic_head = VQAHead(cfg.conv_out_dim, cfg.head_hidden)

    def technical_map(self, view: torch.Tensor) -> torch.Tensor:
        return self.technical_head(self.technical_backbone(view))

    def aesthetic_map(self, view: torch.Tensor) -> torch.Tensor:
        return self.aesthetic_head(self.aesthetic_backbone(view))

    @torch.inference_mode()
    def score(self, technical: torch.Tensor, aesthetic: torch.Tensor) -> dict[str, float]:
        """Raw branch scores {"technical": t, "aesthetic": a}. The technical clips run one at a time
        (the map mean over equal-sized clips equals the mean of per-clip means; this bounds memory)."""
        t_sum = torch.zeros((), dtype=torch.float64)
        count = 0
        for clip in technical.split(1):
            m = self.technical_map(clip)  # (1, 1, T', H', W')
            t_sum += m.double().sum().cpu()
            count += m.numel()
        a = self.aesthetic_map(aesthetic).double().mean().cpu()
        return {"technical": float(t_sum / count), "aesthetic": float(a)}


def build_dover(preset: str = "dover", device: Any = None, dtype: Any = None) -> DOVER:
    """A randomly initialised DOVER of a preset (``dover`` or ``tiny``), in eval mode. ``device="meta"``
    builds shapes only (no memory)."""
    cfg = get_config(preset)
    with torch.device(device if device is not None else "cpu"):
        model = DOVER(cfg)
    if dtype is not None:
        model = model.to(dtype=dtype)  # floating parameters only; the int64 index buffers stay int64
    return model.eval()


def check_index_buffers(state_dict: dict[str, torch.Tensor], window: tuple[int, int, int]) -> None:
    """Every stored ``relative_position_index`` must equal the formula (a different one would silently
    scramble the position biases)."""
    want = relative_position_index(window)
    for key, value in state_dict.items():
        if key.endswith("relative_position_index"):
            if tuple(value.shape) != tuple(want.shape) or not torch.equal(value.to("cpu", torch.long), want):
                raise BadInput(f"DOVER weights: {key} differs from the relative position index formula "
                               f"(window {window}); not a DOVER checkpoint of this layout")


def load_dover_weights(model: DOVER, state_dict: dict[str, torch.Tensor], what: str = "DOVER") -> DOVER:
    """Load a released-format state dict strictly (one-line :class:`BadInput` naming missing / unexpected /
    wrong-shape keys)."""
    from ...weights import load_strict

    check_index_buffers(state_dict, model.cfg.swin_window)
    load_strict(model, state_dict, what)
    return model.eval()
