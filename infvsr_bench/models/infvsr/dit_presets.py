"""Configuration of the InfVSR DiT and its named presets.

``infvsr-1.3b`` is the released ``config.json`` of InfVSR (Wan2.1-T2V-1.3B layout with a 512-d visual context in
place of umT5's 4096-d text; see ``docs/infvsr.md`` §3.1). ``tiny`` keeps every structural rule
(patch (1,2,2), 16 latent channels, a head_dim that splits into the t|h|w RoPE axes by Wan's rule) at a size
that runs in milliseconds on a CPU, for tests.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, replace

from ...errors import UnknownName


@dataclass(frozen=True)
class DiTConfig:
    """Hyper-parameters of the DiT (names follow the release's ``model_config``)."""

    dim: int = 1536
    in_dim: int = 16  # latent channels of the Wan2.1 VAE
    out_dim: int = 16
    ffn_dim: int = 8960
    text_dim: int = 512  # width of the visual-context tokens (Swin-L + image_proj), not umT5's 4096
    freq_dim: int = 256  # width of the sinusoidal timestep embedding
    eps: float = 1e-6
    patch_size: tuple[int, int, int] = (1, 2, 2)  # (time, height, width) in latent pixels
    num_heads: int = 12
    num_layers: int = 30

    def __post_init__(self):
        if self.dim % self.num_heads:
            raise ValueError(f"dim {self.dim} is not divisible by num_heads {self.num_heads}")
        t, h, w = rope_axes(self.head_dim)
        if min(t, h, w) <= 0 or t % 2 or h % 2:
            raise ValueError(f"head_dim {self.head_dim} does not split into even t|h|w RoPE axes ({t}|{h}|{w})")
        if self.freq_dim % 2:
            raise ValueError(f"freq_dim must be even, got {self.freq_dim}")

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @property
    def patch_volume(self) -> int:
        pt, ph, pw = self.patch_size
        return pt * ph * pw


def rope_axes(head_dim: int) -> tuple[int, int, int]:
    """Real widths of the (time, height, width) RoPE axes: Wan's ``d - 4*(d//6), 2*(d//6), 2*(d//6)``
    (128 → 44 | 42 | 42)."""
    s = head_dim // 6
    return head_dim - 4 * s, 2 * s, 2 * s


PRESETS: dict[str, DiTConfig] = {
    "infvsr-1.3b": DiTConfig(),
    # head_dim 32 → RoPE 12 | 10 | 10; text_dim 32 = the tiny visual encoder's token width; z_dim 16 as the VAE.
    "tiny": DiTConfig(dim=64, ffn_dim=128, text_dim=32, freq_dim=32, num_heads=2, num_layers=2),
}


def get_config(preset: str | DiTConfig, **overrides) -> DiTConfig:
    """The config of a preset name (exact match, did-you-mean on a typo) or a given config, with overrides."""
    if isinstance(preset, DiTConfig):
        cfg = preset
    elif preset in PRESETS:
        cfg = PRESETS[preset]
    else:
        close = difflib.get_close_matches(str(preset), list(PRESETS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownName(f"unknown DiT preset {preset!r}{hint} (known: {', '.join(PRESETS)})")
    return replace(cfg, **overrides) if overrides else cfg
