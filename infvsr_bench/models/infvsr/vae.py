"""The Wan2.1 causal 3-D VAE (4× time, 8× space, 16 latent channels), as used by InfVSR.

What: encoder / decoder / ``conv1`` / ``conv2`` with the released parameter names, so ``Wan2.1_VAE.pth``
(Wan-AI/Wan2.1-T2V-1.3B, Apache-2.0) loads strictly; the standard Wan2.1 per-channel latent normalisation;
a whole-video reference path (:meth:`WanVAE.encode_video` / :meth:`WanVAE.decode_video`) and the streaming
path InfVSR runs (:meth:`WanVAE.new_stream`, see ``vae_stream.py``), which are equal by construction of the
causal convolutions and tested to be so.
Why: InfVSR encodes the upscaled LR video and decodes the restored latents chunk by chunk, carrying a
two-frame history per causal conv across chunks, so a scene of any length costs constant memory.
Spec: ``docs/infvsr.md`` §5, ``docs/infvsr-checkpoints.md`` §2 (194 tensors, 126,892,531 params).

Grouping: time is compressed causally as 1 + 4k frames → 1 + k latents; the first frame of a sequence is
its own latent, every later latent covers 4 frames (and decodes back to 4 frames).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ...errors import BadInput, InfvsrError
from .vae_blocks import AttentionBlock, CausalConv3d, History, Resample, ResidualBlock, RMSNorm, assign_slots, run_seq

log = logging.getLogger(__name__)

# Wan2.1 latent statistics (hard-coded in Wan2.1 and InfVSR, not stored in the weight file).
LATENT_MEAN = (-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
               0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921)
LATENT_STD = (2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
              3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160)

WEIGHT_ID = "wan2.1-vae"
N_TENSORS = 194
N_PARAMS = 126_892_531


class VAEInputError(InfvsrError, ValueError):
    """A tensor handed to the VAE has the wrong rank, channels, size or chunk length (a caller bug: a
    runtime failure of the clip, also a ValueError)."""


@dataclass(frozen=True)
class VAEConfig:
    base_dim: int = 96
    z_dim: int = 16  # latent channels; the encoder head makes 2*z_dim (mean | log-variance)
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2  # per encoder stage; the decoder uses one more
    temporal_down: tuple[bool, ...] = (False, True, True)  # encoder stages that also halve time
    dropout: float = 0.0

    @property
    def temporal_up(self) -> tuple[bool, ...]:
        return tuple(reversed(self.temporal_down))

    @property
    def time_factor(self) -> int:
        return 2 ** sum(self.temporal_down)

    @property
    def space_factor(self) -> int:
        return 2 ** (len(self.dim_mult) - 1)


PRESETS: dict[str, VAEConfig] = {
    "wan2.1": VAEConfig(),
    # Same code and depth, a narrow width: for CPU tests. z_dim 16 matches the DiT's tiny preset.
    "tiny": VAEConfig(base_dim=8, num_res_blocks=1),
}


class Encoder(nn.Module):
    """Pixels (B,3,T,H,W) → (B, 2*z_dim, 1+(T-1)/4, H/8, W/8): conv, stages of residual blocks with
    down-sampling, a middle with per-frame attention, an RMSNorm-SiLU-conv head."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        dims = [cfg.base_dim * m for m in (1,) + tuple(cfg.dim_mult)]  # e.g. 96, 96, 192, 384, 384
        self.conv1 = CausalConv3d(3, dims[0], 3, padding=1)
        blocks: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResidualBlock(d_in, d_out, cfg.dropout))
                d_in = d_out
            if i < len(cfg.dim_mult) - 1:
                blocks.append(Resample(d_out, "down3d" if cfg.temporal_down[i] else "down2d"))
        self.downsamples = nn.Sequential(*blocks)
        top = dims[-1]
        self.middle = nn.Sequential(ResidualBlock(top, top, cfg.dropout), AttentionBlock(top),
                                    ResidualBlock(top, top, cfg.dropout))
        self.head = nn.Sequential(RMSNorm(top), nn.SiLU(), CausalConv3d(top, 2 * cfg.z_dim, 3, padding=1))
        self.n_slots = assign_slots(self)

    def forward(self, x: torch.Tensor, hist: History | None = None) -> torch.Tensor:
        x = self.conv1(x, hist)
        x = run_seq(self.downsamples, x, hist)
        x = run_seq(self.middle, x, hist)
        return run_seq(self.head, x, hist)


class Decoder(nn.Module):
    """Latents (B, z_dim, T', h, w) → pixels (B, 3, 1+4(T'-1), 8h, 8w): conv, middle, stages of residual
    blocks with up-sampling (the up-sampling conv halves the channels), an RMSNorm-SiLU-conv head."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        mult = tuple(cfg.dim_mult)
        dims = [cfg.base_dim * m for m in (mult[-1],) + mult[::-1]]  # e.g. 384, 384, 384, 192, 96
        self.conv1 = CausalConv3d(cfg.z_dim, dims[0], 3, padding=1)
        self.middle = nn.Sequential(ResidualBlock(dims[0], dims[0], cfg.dropout), AttentionBlock(dims[0]),
                                    ResidualBlock(dims[0], dims[0], cfg.dropout))
        blocks: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            if i > 0:
                d_in //= 2  # the previous stage's up-sampling conv halved the channels
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResidualBlock(d_in, d_out, cfg.dropout))
                d_in = d_out
            if i < len(mult) - 1:
                blocks.append(Resample(d_out, "up3d" if cfg.temporal_up[i] else "up2d"))
        self.upsamples = nn.Sequential(*blocks)
        self.head = nn.Sequential(RMSNorm(dims[-1]), nn.SiLU(), CausalConv3d(dims[-1], 3, 3, padding=1))
        self.n_slots = assign_slots(self)

    def forward(self, z: torch.Tensor, hist: History | None = None) -> torch.Tensor:
        x = self.conv1(z, hist)
        x = run_seq(self.middle, x, hist)
        x = run_seq(self.upsamples, x, hist)
        return run_seq(self.head, x, hist)


class WanVAE(nn.Module):
    """The VAE core: ``encoder``, ``conv1`` (2z→2z, its first z channels are the latent mean), ``conv2``
    (z→z, before the decoder), ``decoder`` — the top-level names of the released state dict.

    Public frames here are in [-1, 1] (the release's convention; the method adapter maps [0,1] ↔ [-1,1]).
    Latents leave :meth:`encode_video` / streams normalised per channel, ``(mu - mean) / std``.
    """

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.conv1 = CausalConv3d(2 * cfg.z_dim, 2 * cfg.z_dim, 1)
        self.conv2 = CausalConv3d(cfg.z_dim, cfg.z_dim, 1)
        self.decoder = Decoder(cfg)

    # ------------------------------------------------------------------------------------ normalisation
    stats_on_device: dict | None = None  # {} to keep the latent stats per (device, dtype): no copy per call

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The latent mean/std shaped (1, z, 1, 1, 1) on ``like``'s device and dtype. Made from host constants,
        so each call is a host-to-device copy (a synchronisation) unless ``stats_on_device`` is a dict."""
        key = (like.device, like.dtype)
        if self.stats_on_device is not None and key in self.stats_on_device:
            return self.stats_on_device[key]
        z = self.cfg.z_dim
        if z != len(LATENT_MEAN):  # only a non-standard test config; the released VAE has 16 channels
            mean, std = torch.zeros(z), torch.ones(z)
        else:
            mean, std = torch.tensor(LATENT_MEAN), torch.tensor(LATENT_STD)
        shape = (1, z, 1, 1, 1)
        stats = mean.to(like.device, like.dtype).view(shape), std.to(like.device, like.dtype).view(shape)
        if self.stats_on_device is not None:
            self.stats_on_device[key] = stats
        return stats

    def normalize(self, mu: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(mu)
        return (mu - mean) * (1.0 / std)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(z)
        return z * std + mean

    # ------------------------------------------------------------------------------------ building steps
    def latent_mean(self, feats: torch.Tensor) -> torch.Tensor:
        """Encoder output (B, 2z, T', h, w) → normalised latent mean (B, z, T', h, w) (no sampling)."""
        return self.normalize(self.conv1(feats)[:, : self.cfg.z_dim])

    def check_frames(self, x: torch.Tensor) -> None:
        f = self.cfg.space_factor
        if x.dim() != 5 or x.shape[1] != 3:
            raise VAEInputError(f"VAE encode expects frames (B, 3, T, H, W), got shape {tuple(x.shape)}")
        if x.shape[3] % f or x.shape[4] % f:
            raise VAEInputError(f"VAE encode needs H and W divisible by {f}, got {x.shape[3]}x{x.shape[4]} "
                                "(pad the frames first)")

    def check_latents(self, z: torch.Tensor) -> None:
        if z.dim() != 5 or z.shape[1] != self.cfg.z_dim:
            raise VAEInputError(f"VAE decode expects latents (B, {self.cfg.z_dim}, T, h, w), "
                                f"got shape {tuple(z.shape)}")
        if z.shape[2] == 0:
            raise VAEInputError("VAE decode got 0 latent frames")

    # ------------------------------------------------------------------------------- whole-video path
    @torch.no_grad()
    def encode_video(self, x: torch.Tensor) -> torch.Tensor:
        """Reference path: a whole video (B,3,1+4k,H,W) in [-1,1] → normalised latents (B,z,1+k,H/8,W/8) in
        one causal pass (zeros before frame 0). Holds the whole video: for tests and short clips only."""
        self.check_frames(x)
        if x.shape[2] % self.cfg.time_factor != 1:
            raise VAEInputError(f"a whole video must have 1 + {self.cfg.time_factor}k frames, got {x.shape[2]}")
        return self.latent_mean(self.encoder(x, None))

    @torch.no_grad()
    def decode_video(self, z: torch.Tensor) -> torch.Tensor:
        """Reference path: normalised latents (B,z,T',h,w) → frames (B,3,1+4(T'-1),8h,8w) clamped to [-1,1]."""
        self.check_latents(z)
        return self.decoder(self.conv2(self.denormalize(z)), None).clamp_(-1.0, 1.0)

    # ----------------------------------------------------------------------------------- streaming path
    def new_stream(self, tiling: Any = None):
        """A fresh per-scene stream (see :class:`~.vae_stream.VAEStream`); ``tiling`` is a
        :class:`~.vae_tiling.Tiling` (default: the release's automatic tiling above 1024 px height)."""
        from .vae_stream import VAEStream

        return VAEStream(self, tiling)


# ------------------------------------------------------------------------------------------ building
def build_vae(preset: str = "wan2.1", device: Any = None, dtype: Any = None) -> WanVAE:
    """Build the VAE of a preset (``wan2.1`` — the released geometry — or ``tiny``), randomly initialised,
    in eval mode. ``device='meta'`` builds it without allocating (load weights with ``assign``)."""
    if preset not in PRESETS:
        import difflib

        close = difflib.get_close_matches(preset, list(PRESETS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise BadInput(f"unknown VAE preset {preset!r}{hint} (known: {', '.join(PRESETS)})")
    with torch.device(device if device is not None else "cpu"):
        vae = WanVAE(PRESETS[preset])
    if dtype is not None:
        vae = vae.to(dtype=dtype)
    return vae.eval().requires_grad_(False)


def unwrap_state_dict(obj: Any) -> Mapping[str, torch.Tensor]:
    """The VAE state dict inside a loaded file: flat (the published file) or under ``"model_state"``."""
    if isinstance(obj, Mapping) and "model_state" in obj and isinstance(obj["model_state"], Mapping):
        obj = obj["model_state"]
    if not isinstance(obj, Mapping):
        raise BadInput(f"VAE weights must be a state dict, got {type(obj).__name__}")
    return obj


def load_vae_state_dict(vae: WanVAE, obj: Any) -> WanVAE:
    """Strictly load released-format VAE weights into ``vae`` (built normally or on the meta device).

    Raises :class:`BadInput` naming the missing, unexpected and wrong-shape keys (up to 5 of each) when
    the layouts differ; nothing is loaded then.
    """
    from ...weights import WeightsFormatError, key_layout_mismatch

    sd = unwrap_state_dict(obj)
    mismatch = key_layout_mismatch(vae.state_dict(), sd)
    if mismatch:
        raise WeightsFormatError(f"VAE weights do not match the Wan2.1 VAE key layout — {mismatch}")
    on_meta = any(p.is_meta for p in vae.parameters())
    vae.load_state_dict(dict(sd), strict=True, assign=on_meta)
    return vae


def load_vae(path: Any = None, device: Any = None, dtype: Any = None, preset: str = "wan2.1") -> WanVAE:
    """Build on the meta device and strictly load ``Wan2.1_VAE.pth`` (found and sha256-checked by
    ``weights.py``: explicit ``path`` first, then the usual folders); then move to ``device`` / ``dtype``.
    Raises :class:`~infvsr_bench.errors.WeightsNotFound` when the file is absent."""
    from ... import weights

    sd = weights.load_state_dict(WEIGHT_ID, path)
    vae = load_vae_state_dict(build_vae(preset, device="meta"), sd)
    vae = vae.to(device=device if device is not None else "cpu", dtype=dtype)
    log.info("loaded %s (%d tensors) on %s", WEIGHT_ID, len(sd), device or "cpu")
    return vae.eval().requires_grad_(False)
