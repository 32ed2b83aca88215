"""DOVER architecture presets: the released layout (``dover``) and a tiny one for tests (``tiny``).

Both presets build the same modules (``docs/dover.md`` §2); only sizes differ. The tiny preset keeps
the 7×7 spatial window (so the fragment gate of the gated relative position bias, GRPB, sees the same 7×7
fragment grid) and shifted windows on every stage, but uses a temporal window of 2 instead of 8 (a 98-token
window instead of 392: ~5× faster on a CPU, which keeps the plumbing tests fast).
"""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import UnknownName


@dataclass(frozen=True)
class DoverConfig:
    """Every size that defines a DOVER model (defaults = the released ``DOVER.pth``)."""

    # technical branch: Video Swin-T with GRPB (docs/dover.md §2.1)
    swin_embed_dim: int = 96
    swin_depths: tuple[int, ...] = (2, 2, 6, 2)
    swin_heads: tuple[int, ...] = (3, 6, 12, 24)
    swin_window: tuple[int, int, int] = (8, 7, 7)
    swin_patch: tuple[int, int, int] = (2, 4, 4)
    swin_frag_bias: tuple[bool, ...] = (True, True, True, False)  # GRPB on stages 0-2, plain bias on 3
    swin_mlp_ratio: float = 4.0
    # aesthetic branch: ConvNeXt-T inflated to 3-D, strategy '131' (docs/dover.md §2.2)
    conv_dims: tuple[int, ...] = (96, 192, 384, 768)
    conv_depths: tuple[int, ...] = (3, 3, 9, 3)
    # heads (docs/dover.md §2.3)
    head_hidden: int = 64

    @property
    def swin_out_dim(self) -> int:
        return self.swin_embed_dim * 2 ** (len(self.swin_depths) - 1)

    @property
    def conv_out_dim(self) -> int:
        return self.conv_dims[-1]


PRESETS: dict[str, DoverConfig] = {
    "dover": DoverConfig(),
    # Same code, tiny sizes: every stage keeps a shifted block (depth 2) and a temporally inflated
    # ConvNeXt block (kt=3 at block index 1).
    "tiny": DoverConfig(swin_embed_dim=8, swin_depths=(2, 2, 2, 2), swin_heads=(1, 1, 2, 2), swin_window=(2, 7, 7),
                        conv_dims=(8, 16, 32, 64), conv_depths=(2, 2, 2, 2), head_hidden=8),
}


def get_config(preset: str) -> DoverConfig:
    if preset not in PRESETS:
        raise UnknownName(f"unknown DOVER preset {preset!r} (known: {', '.join(PRESETS)})")
    return PRESETS[preset]
