"""The InfVSR DiT: Wan2.1-1.3B's diffusion transformer with a visual context, run chunk by chunk.

Specification: ``docs/infvsr.md`` §3 (architecture) and ``docs/infvsr-checkpoints.md`` §1 (every key
of ``InfVSR.ckpt``). Module names equal the released keys, so the checkpoint loads strictly: 825 tensors,
1,413,491,776 parameters for the ``infvsr-1.3b`` preset.

One forward restores one chunk of latent frames. Each block: AdaLN-modulated self-attention (q/k RMSNorm over
the full width, 3-D RoPE with absolute time positions, :mod:`.rope`), un-gated cross-attention to the
reference-frame tokens, AdaLN-modulated GELU FFN. With a :class:`~.kv_cache.KVCache` the self-attention also
attends to the cached keys of earlier chunks (block-causal; the release keeps one previous chunk) and the cache
is updated in place. ``attn_mask`` is the oracle path: one full forward over a whole sequence with the
equivalent mask (:func:`~.kv_cache.block_causal_mask`), quadratic in length, for tests only.
"""
from __future__ import annotations

import logging
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .dit_presets import DiTConfig, get_config
from .kv_cache import KVCache
from .rope import apply_rope, rope_freqs

log = logging.getLogger(__name__)

WEIGHT_ID = "infvsr-dit"


def timestep_embedding(timestep: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) timesteps → (B, dim) sinusoid [cos | sin] with frequencies 10000^(-i/(dim/2)); computed in float64
    and cast to the timestep's dtype, as the release does (so a bf16 timestep gives a bf16-rounded sinusoid)."""
    half = dim // 2
    freqs = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64, device=timestep.device).div(half))
    angles = torch.outer(timestep.to(torch.float64), freqs)  # (B, half)
    out = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    return out.to(timestep.dtype) if timestep.is_floating_point() else out


class RMSNorm(nn.Module):
    """RMS norm over the last dim, computed in fp32, cast back, then scaled by a learned weight."""

    def __init__(self, dim: int, eps: float, **factory):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim, **factory))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


class _QKNormAttention(nn.Module):
    """The parameters both attentions share (released key layout): q/k/v/o projections and q/k RMSNorm."""

    def __init__(self, dim: int, num_heads: int, eps: float, **factory):
        super().__init__()
        self.num_heads = num_heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim, **factory) for _ in range(4))
        self.norm_q = RMSNorm(dim, eps, **factory)
        self.norm_k = RMSNorm(dim, eps, **factory)


class SelfAttention(_QKNormAttention):
    """Multi-head self-attention with q/k RMSNorm, 3-D RoPE and an optional rolling KV-cache."""

    def forward(self, x: torch.Tensor, freqs: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, seq, dim = x.shape
        n = self.num_heads
        q = self.norm_q(self.q(x)).view(b, seq, n, dim // n)  # (B, L, C) -> (B, L, N, D); rows head-major
        k = self.norm_k(self.k(x)).view(b, seq, n, dim // n)
        v = self.v(x).view(b, seq, n, dim // n)
        q = apply_rope(q, freqs).transpose(1, 2)  # (B, L, N, D) -> (B, N, L, D)
        k = apply_rope(k, freqs).transpose(1, 2)
        v = v.transpose(1, 2)
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, N, L', D): sinks + window + this chunk
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, N, L, D)
        return self.o(out.transpose(1, 2).reshape(b, seq, dim))  # (B, N, L, D) -> (B, L, C)


class CrossAttention(_QKNormAttention):
    """Attention from the video tokens to the reference-frame tokens (q/k RMSNorm, no RoPE, no mask)."""

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, seq, dim = x.shape
        n = self.num_heads
        q = self.norm_q(self.q(x)).view(b, seq, n, dim // n).transpose(1, 2)  # (B, N, L, D)
        k = self.norm_k(self.k(context)).view(b, -1, n, dim // n).transpose(1, 2)  # (B, N, Lc, D)
        v = self.v(context).view(b, -1, n, dim // n).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.o(out.transpose(1, 2).reshape(b, seq, dim))  # (B, N, L, D) -> (B, L, C)


class DiTBlock(nn.Module):
    """One transformer block: modulated self-attention, cross-attention (no gate), modulated FFN."""

    def __init__(self, cfg: DiTConfig, **factory):
        super().__init__()
        d = cfg.dim
        self.self_attn = SelfAttention(d, cfg.num_heads, cfg.eps, **factory)
        self.cross_attn = CrossAttention(d, cfg.num_heads, cfg.eps, **factory)
        self.norm1 = nn.LayerNorm(d, eps=cfg.eps, elementwise_affine=False, **factory)
        self.norm2 = nn.LayerNorm(d, eps=cfg.eps, elementwise_affine=False, **factory)
        self.norm3 = nn.LayerNorm(d, eps=cfg.eps, elementwise_affine=True, **factory)
        self.ffn = nn.Sequential(nn.Linear(d, cfg.ffn_dim, **factory), nn.GELU(approximate="tanh"),
                                 nn.Linear(cfg.ffn_dim, d, **factory))
        self.modulation = nn.Parameter(torch.randn(1, 6, d, **factory) / d ** 0.5)

    def forward(self, x, t_mod, context, freqs, cache=None, layer=0, attn_mask=None):
        # (1, 6, C) + (B, 6, C) -> six (B, 1, C): shift/scale/gate of attention, then of the FFN
        shift_a, scale_a, gate_a, shift_f, scale_f, gate_f = (self.modulation + t_mod).chunk(6, dim=1)
        h = self.norm1(x) * (1 + scale_a) + shift_a
        x = x + gate_a * self.self_attn(h, freqs, cache, layer, attn_mask)
        x = x + self.cross_attn(self.norm3(x), context)
        h = self.norm2(x) * (1 + scale_f) + shift_f
        return x + gate_f * self.ffn(h)


class Head(nn.Module):
    """Final LayerNorm (no affine), modulated by the time embedding, and a Linear to patch outputs."""

    def __init__(self, cfg: DiTConfig, **factory):
        super().__init__()
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.eps, elementwise_affine=False, **factory)
        self.head = nn.Linear(cfg.dim, cfg.out_dim * cfg.patch_volume, **factory)
        self.modulation = nn.Parameter(torch.randn(1, 2, cfg.dim, **factory) / cfg.dim ** 0.5)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        shift, scale = (self.modulation + t.unsqueeze(1)).chunk(2, dim=1)  # (1,2,C)+(B,1,C) -> 2 × (B,1,C)
        return self.head(self.norm(x) * (1 + scale) + shift)


class InfVSRDiT(nn.Module):
    """The DiT; ``forward(x, timestep, context, cache=None, start_frame=None) -> v`` (velocity)."""

    def __init__(self, cfg: DiTConfig, device: Any = None, dtype: torch.dtype | None = None):
        super().__init__()
        self.config = cfg
        fk = {"device": device, "dtype": dtype}
        d = cfg.dim
        self.patch_embedding = nn.Conv3d(cfg.in_dim, d, kernel_size=cfg.patch_size, stride=cfg.patch_size, **fk)
        self.text_embedding = nn.Sequential(nn.Linear(cfg.text_dim, d, **fk), nn.GELU(approximate="tanh"),
                                            nn.Linear(d, d, **fk))
        self.time_embedding = nn.Sequential(nn.Linear(cfg.freq_dim, d, **fk), nn.SiLU(), nn.Linear(d, d, **fk))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d, **fk))
        self.blocks = nn.ModuleList(DiTBlock(cfg, **fk) for _ in range(cfg.num_layers))
        self.head = Head(cfg, **fk)

    def new_cache(self, **kwargs) -> KVCache:
        """A :class:`KVCache` for this model (defaults: the release's window of one previous chunk)."""
        return KVCache.for_model(self, **kwargs)

    def forward(self, x: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor, cache: KVCache | None = None,
                start_frame: int | None = None, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Velocity v for latents ``x`` (B, in_dim, F, H, W) at ``timestep`` (B,) given ``context``
        (B, Lc, text_dim). ``start_frame`` is the scene position of the first latent frame (with a cache it
        defaults to, and must equal, ``cache.frames_seen``; without one it defaults to 0). ``attn_mask``
        ((L, L) bool, True = attend) is the uncached oracle path and excludes ``cache``."""
        cfg = self.config
        if x.ndim != 5 or x.shape[1] != cfg.in_dim:
            raise ValueError(f"x must be (B, {cfg.in_dim}, F, H, W), got {tuple(x.shape)}")
        pt, ph, pw = cfg.patch_size
        if x.shape[2] % pt or x.shape[3] % ph or x.shape[4] % pw:
            raise ValueError(f"latent (F, H, W) {tuple(x.shape[2:])} must be multiples of the patch {cfg.patch_size}")
        if cache is not None and attn_mask is not None:
            raise ValueError("attn_mask is the uncached oracle path; do not combine it with a cache")
        if cache is not None:
            if start_frame is None:
                start_frame = cache.frames_seen
            elif start_frame != cache.frames_seen:
                raise ValueError(f"start_frame {start_frame} != cache position {cache.frames_seen} "
                                 f"(reset the cache at a scene cut)")
        start_frame = 0 if start_frame is None else int(start_frame)
        wdtype = self.patch_embedding.weight.dtype
        b = x.shape[0]

        x = self.patch_embedding(x.to(wdtype))  # (B, C, F, H/2, W/2)
        f, h, w = x.shape[2:]
        x = x.flatten(2).transpose(1, 2)  # (B, C, f, h, w) -> (B, L, C), tokens in (f, h, w) order
        t = self.time_embedding(timestep_embedding(timestep.reshape(b), cfg.freq_dim).to(wdtype))  # (B, C)
        t_mod = self.time_projection(t).unflatten(1, (6, cfg.dim))  # (B, 6C) -> (B, 6, C)
        ctx = self.text_embedding(context.to(wdtype))  # (B, Lc, C)
        freqs = rope_freqs(cfg.head_dim, f, h, w, start_frame, device=x.device)  # (L, D/2) complex128

        if cache is not None:
            cache.begin_chunk(f, h * w, b, x.device, x.dtype)
        for i, block in enumerate(self.blocks):
            x = block(x, t_mod, ctx, freqs, cache, i, attn_mask)
        if cache is not None:
            cache.end_chunk()

        x = self.head(x, t)  # (B, L, pt*ph*pw*out)
        x = x.view(b, f, h, w, pt, ph, pw, cfg.out_dim)  # channel fastest in the patch vector
        x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)  # -> (B, out, f, pt, h, ph, w, pw)
        return x.reshape(b, cfg.out_dim, f * pt, h * ph, w * pw)


# ------------------------------------------------------------------------------------ build and load
def build_dit(preset: str | DiTConfig = "infvsr-1.3b", device: Any = None, dtype: torch.dtype | None = None,
              **overrides) -> InfVSRDiT:
    """Build the DiT of a preset (``infvsr-1.3b`` or ``tiny``; keyword overrides change config fields).

    ``device='meta'`` builds the structure without allocating memory (count parameters, then load weights
    with ``assign=True``). The model is returned in eval mode with random (initialiser) weights."""
    cfg = get_config(preset, **overrides)
    return InfVSRDiT(cfg, device=device, dtype=dtype).eval()


def load_dit_state_dict(model: InfVSRDiT, state_dict: dict[str, torch.Tensor], *, assign: bool = True,
                        device: Any = None, dtype: torch.dtype | None = None, what: str = "InfVSR DiT") -> None:
    """Load a state dict in the released key layout strictly; every mismatch is reported at once.

    Raises :class:`~infvsr_bench.weights.WeightsFormatError` (a ``BadInput``) listing missing, unexpected and
    wrong-shape keys. Tensors are moved to ``device``/``dtype`` (default: keep) and assigned, so a model built
    on the meta device is materialised by the load without ever allocating its random weights.
    """
    from ...weights import WeightsFormatError, key_layout_mismatch

    mismatch = key_layout_mismatch(model.state_dict(), state_dict)
    if mismatch:
        raise WeightsFormatError(f"checkpoint does not match the {what} key layout — {mismatch}")
    if device is not None or dtype is not None:
        state_dict = {k: v.to(device=device, dtype=dtype) for k, v in state_dict.items()}
    model.load_state_dict(state_dict, strict=True, assign=assign)
    still_meta = [n for n, p in model.named_parameters() if p.is_meta]
    if still_meta:  # cannot happen after a strict load; guards against a future non-persistent buffer
        raise RuntimeError(f"{what}: tensors left on the meta device after loading: {still_meta[:5]}")


def load_dit(path: str | os.PathLike | None = None, device: Any = None, dtype: torch.dtype | None = None,
             preset: str | DiTConfig = "infvsr-1.3b") -> InfVSRDiT:
    """The released DiT: resolve ``InfVSR.ckpt`` through :mod:`infvsr_bench.weights` (id ``infvsr-dit``;
    ``path`` = the file or a folder holding it), load it memory-mapped and weights-only, build the model on
    the meta device and assign the tensors (cast to ``dtype``, moved to ``device``; default CPU, file dtype).
    Raises ``WeightsNotFound`` naming the file when it is absent."""
    from ... import weights

    state_dict = weights.load_state_dict(WEIGHT_ID, path)
    model = build_dit(preset, device="meta")
    load_dit_state_dict(model, state_dict, device=device or "cpu", dtype=dtype)
    n = parameter_count(model)
    log.info("InfVSR DiT loaded: %s parameters (%.2f GiB %s)", f"{n:,}",
             n * next(model.parameters()).element_size() / 2 ** 30, next(model.parameters()).dtype)
    return model.eval()


def parameter_count(model: nn.Module) -> int:
    """Number of parameters (works on the meta device)."""
    return sum(p.numel() for p in model.parameters())


__all__ = ["InfVSRDiT", "build_dit", "load_dit", "load_dit_state_dict", "parameter_count", "timestep_embedding"]
