"""InfVSR (causal one-step diffusion VSR) in this project's own code.

Entry points (stable; see docs/design.md): :func:`build_dit`, :func:`build_vae`, :func:`build_visual_encoder`.
They are imported lazily so that ``import infvsr_bench.models.infvsr`` stays cheap.
"""
from __future__ import annotations

from typing import Any


def build_dit(preset: str = "infvsr-1.3b", device: Any = None, dtype: Any = None):
    """The InfVSR DiT (Wan2.1-1.3B layout with a visual context); presets ``infvsr-1.3b`` and ``tiny``."""
    from .dit import build_dit as _build

    return _build(preset, device=device, dtype=dtype)


def build_vae(preset: str = "wan2.1", device: Any = None, dtype: Any = None):
    """The Wan2.1 causal 3-D VAE; presets ``wan2.1`` and ``tiny``."""
    from .vae import build_vae as _build

    return _build(preset, device=device, dtype=dtype)


def build_visual_encoder(preset: str = "swin-l-ram", device: Any = None, dtype: Any = None):
    """The reference-frame encoder (Swin-L in RAM's layout + image_proj); presets ``swin-l-ram`` and ``tiny``."""
    from .visual_encoder import build_visual_encoder as _build

    return _build(preset, device=device, dtype=dtype)


__all__ = ["build_dit", "build_vae", "build_visual_encoder"]
