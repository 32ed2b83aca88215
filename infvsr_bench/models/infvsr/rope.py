"""3-D rotary position embedding of the InfVSR / Wan2.1 DiT, computed on the fly.

Each attention head's channels are split into a time, a height and a width axis (44 | 42 | 42 of 128 in the
release; :func:`~.dit_presets.rope_axes`). Adjacent channel pairs (2j, 2j+1) of an axis of width ``a`` are a
complex number rotated by ``pos * 10000**(-2j/a)``. Time positions are absolute latent-frame indices along the
scene (``start_frame + [0, F)``), rows and columns are patch indices. Angles and the rotation are computed in
float64 and the result is cast back, as the release does (``docs/infvsr.md`` §3.3).

Why no precomputed table: Wan indexes a 1024-position table, which an endless video outruns (1024 latent
frames ≈ 68 s at 60 fps). Computing the angles for the positions at hand costs one small outer product per
chunk and works for any ``start_frame``. Because a rotation by ``m·θ`` followed by a dot product with a key
rotated by ``n·θ`` depends only on ``m − n``, cached keys keep the positions they were rotated with.
"""
from __future__ import annotations

import torch

from .dit_presets import rope_axes

THETA = 10000.0


def axis_angles(positions: torch.Tensor, width: int, theta: float = THETA) -> torch.Tensor:
    """Rotation angles (float64) of one axis: (P,) positions → (P, width/2)."""
    j = torch.arange(0, width, 2, dtype=torch.float64, device=positions.device)
    inv_freq = 1.0 / torch.pow(theta, j / width)  # (width/2,)
    return torch.outer(positions.to(torch.float64), inv_freq)


def rope_freqs(head_dim: int, frames: int, height: int, width: int, start_frame: int = 0,
               device: torch.device | str | None = None) -> torch.Tensor:
    """Unit complex rotations (complex128) for a (frames, height, width) token grid in (f, h, w) order.

    Returns (frames*height*width, head_dim/2); time positions are ``start_frame .. start_frame+frames-1``.
    """
    if start_frame < 0:
        raise ValueError(f"start_frame must be >= 0, got {start_frame}")
    wt, wh, ww = rope_axes(head_dim)
    t = axis_angles(torch.arange(start_frame, start_frame + frames, device=device), wt)  # (F, wt/2)
    h = axis_angles(torch.arange(height, device=device), wh)  # (H, wh/2)
    w = axis_angles(torch.arange(width, device=device), ww)  # (W, ww/2)
    angles = torch.cat([
        t[:, None, None, :].expand(frames, height, width, -1),
        h[None, :, None, :].expand(frames, height, width, -1),
        w[None, None, :, :].expand(frames, height, width, -1),
    ], dim=-1)  # (F, H, W, head_dim/2)
    angles = angles.reshape(frames * height * width, head_dim // 2)  # (F, H, W, D/2) -> (L, D/2)
    return torch.polar(torch.ones_like(angles), angles)


def apply_rope(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Rotate (B, L, N, D) queries or keys by (L, D/2) complex rotations; float64 inside, x's dtype out."""
    b, seq, n, d = x.shape
    xc = torch.view_as_complex(x.to(torch.float64).reshape(b, seq, n, d // 2, 2))  # (B, L, N, D/2) complex
    out = torch.view_as_real(xc * freqs[None, :, None, :]).flatten(3)  # (B, L, N, D/2, 2) -> (B, L, N, D)
    return out.to(x.dtype)
