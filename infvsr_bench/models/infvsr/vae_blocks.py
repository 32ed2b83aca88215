"""Building blocks of the Wan2.1 causal 3-D VAE, each able to run whole-video or streaming.

Why its own file: the VAE is causal in time, so every block must give the same result whether a video is
pushed through it in one pass or piece by piece with a small carried history. Each block therefore takes
``(x, hist)``:

* ``hist is None`` — *whole pass*: ``x`` is a complete sequence starting at frame 0; causal convolutions see
  zeros before it.
* ``hist`` is a list — *streaming*: ``x`` continues the sequence of earlier calls; every module with a time
  context owns one slot ``hist[self.slot]`` (assigned by the encoder / decoder at build time) holding the last
  input frames it needs (at most 2), read and replaced on each call. The slot holds ``None`` before the
  stream's first frame. Slots are plain tensors, so a history is O(2 frames) per conv whatever the length.

Module and parameter names follow the released ``Wan2.1_VAE.pth`` (``residual.{0,2,3,6}``, ``shortcut``,
``norm.gamma``, ``to_qkv``, ``proj``, ``resample.1``, ``time_conv``), see
``docs/infvsr-checkpoints.md`` §2 and ``docs/infvsr.md`` §5.1.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

History = list  # one entry per slot: None (nothing seen yet) or a (B, C, n<=2, H, W) tensor


class CausalConv3d(nn.Conv3d):
    """A Conv3d padded causally in time (``2*p_t`` frames on the left, none on the right) and symmetrically
    in space. ``context`` = frames of history it needs (``2*p_t``); with a history list it prepends the last
    ``context`` input frames of the previous call instead of zeros."""

    def __init__(self, in_ch: int, out_ch: int, kernel, stride=1, padding=0):
        super().__init__(in_ch, out_ch, kernel, stride=stride, padding=0)
        p = (padding,) * 3 if isinstance(padding, int) else tuple(padding)
        self.context = 2 * p[0]
        self._space_pad = (p[2], p[2], p[1], p[1])  # F.pad order: (w_left, w_right, h_top, h_bottom)
        self.slot: int | None = None

    fuse_pad = False  # True: one copy (time padding) and the spatial zero padding inside the conv (same values)

    def forward(self, x: torch.Tensor, hist: History | None = None) -> torch.Tensor:
        if self.fuse_pad:
            return self._forward_fused(x, hist)
        n_past = 0
        if hist is not None and self.context > 0:
            past = hist[self.slot]
            if past is not None and past.shape[2] > 0:
                x = torch.cat([past.to(x.dtype), x], dim=2)  # (B, C, n_past + T, H, W)
                n_past = past.shape[2]
            hist[self.slot] = x[:, :, -self.context:].detach().clone()
        pad_t = max(self.context - n_past, 0)
        x = F.pad(x, self._space_pad + (pad_t, 0))
        return super().forward(x)

    def _forward_fused(self, x: torch.Tensor, hist: History | None) -> torch.Tensor:
        """The same convolution with fewer full-size copies: [zeros | past | x] built by one ``cat`` (none for a
        conv without time context) and the spatial zero padding done by the convolution itself."""
        past = hist[self.slot] if hist is not None and self.context > 0 else None
        n_past = past.shape[2] if past is not None else 0
        pad_t = max(self.context - n_past, 0)
        zeros = torch.zeros_like(x[:, :, :1]).expand(-1, -1, pad_t, -1, -1) if x.shape[2] else \
            x.new_zeros(*x.shape[:2], pad_t, *x.shape[3:])  # zeros_like keeps x's memory format
        parts = ([zeros] if pad_t else []) + \
            ([past.to(x.dtype)] if n_past else []) + [x]
        seq = torch.cat(parts, dim=2) if len(parts) > 1 else x  # (B, C, pad_t + n_past + T, H, W)
        if hist is not None and self.context > 0:
            hist[self.slot] = seq[:, :, pad_t:][:, :, -self.context:].detach().clone()  # as the plain path keeps
        pw, _, ph, _ = self._space_pad
        return F.conv3d(seq, self.weight, self.bias, self.stride, (0, ph, pw), self.dilation, self.groups)


class RMSNorm(nn.Module):
    """L2 normalisation over channels times sqrt(C) and a learned gain ``gamma`` (no bias). The gain is
    shaped [C,1,1,1] for 5-D video tensors and [C,1,1] for the per-frame 4-D tensors of the attention block,
    as in the release (a 1-D gain would not load)."""

    def __init__(self, dim: int, images: bool = False):
        super().__init__()
        shape = (dim, 1, 1) if images else (dim, 1, 1, 1)
        self.gamma = nn.Parameter(torch.ones(shape))
        self.scale = dim ** 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) * self.scale * self.gamma


def run_seq(seq: nn.Sequential, x: torch.Tensor, hist: History | None) -> torch.Tensor:
    """Apply the modules of ``seq`` in order, passing the history to those that carry time state."""
    for m in seq:
        x = m(x, hist) if isinstance(m, (CausalConv3d, ResidualBlock, Resample, AttentionBlock)) else m(x)
    return x


class ResidualBlock(nn.Module):
    """RMSNorm-SiLU-Conv3³-RMSNorm-SiLU-Dropout-Conv3³ plus a 1×1×1 shortcut conv when channels change."""

    def __init__(self, in_ch: int, out_ch: int, dropout: float = 0.0):
        super().__init__()
        self.residual = nn.Sequential(
            RMSNorm(in_ch), nn.SiLU(), CausalConv3d(in_ch, out_ch, 3, padding=1),
            RMSNorm(out_ch), nn.SiLU(), nn.Dropout(dropout), CausalConv3d(out_ch, out_ch, 3, padding=1))
        self.shortcut = CausalConv3d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, hist: History | None = None) -> torch.Tensor:
        return run_seq(self.residual, x, hist) + self.shortcut(x)


class AttentionBlock(nn.Module):
    """Single-head spatial self-attention applied to every frame on its own (no time mixing), with a
    residual connection; the output projection starts at zero so the block is an identity at init."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = RMSNorm(dim, images=True)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)
        nn.init.zeros_(self.proj.weight)

    def forward(self, x: torch.Tensor, hist: History | None = None) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # (B, C, T, H, W) -> (B*T, C, H, W)
        qkv = self.to_qkv(self.norm(y)).reshape(b * t, 3 * c, h * w)  # (B*T, 3C, H*W); channels q | k | v
        q, k, v = qkv.transpose(1, 2).unsqueeze(1).chunk(3, dim=-1)  # each (B*T, 1, H*W, C)
        y = F.scaled_dot_product_attention(q, k, v)  # (B*T, 1, H*W, C)
        y = y.squeeze(1).transpose(1, 2).reshape(b * t, c, h, w)  # -> (B*T, C, H, W)
        y = self.proj(y).reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)  # -> (B, C, T, H, W)
        return x + y


class _NearestUp2x(nn.Upsample):
    """×2 nearest-exact spatial upsampling computed in fp32 (as the release) and cast back. Nearest only copies
    pixels, so ``native = True`` (upsample in x's own dtype) gives the same values without the fp32 temporaries
    (at 720p a 4-frame 192-channel activation is 2.8 GB in fp32)."""

    native = False

    def __init__(self):
        super().__init__(scale_factor=2.0, mode="nearest-exact")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.native:
            return super().forward(x)
        return super().forward(x.float()).type_as(x)


class Resample(nn.Module):
    """Spatial ×2 down/up-sampling per frame, optionally with a causal temporal ×2 step.

    * ``down2d``: zero-pad right/bottom by 1, 3×3 stride-2 conv. ``down3d`` then also halves time with a
      (3,1,1) stride-2 conv over [last frame of the previous call, this call's frames]; the very first frame
      of a sequence passes through unchanged (so 1+4k frames become 1+k after two such stages).
    * ``up2d``: nearest ×2, 3×3 conv halving the channels. ``up3d`` first doubles time: a causal (3,1,1) conv
      makes 2C channels whose halves become two consecutive frames; the first frame of a sequence is not
      doubled (the release's "Rep" marker) and the temporal conv's history starts empty (zeros) after it.
    """

    def __init__(self, dim: int, mode: str):
        super().__init__()
        self.mode = mode
        self.slot: int | None = None  # used by down3d only (its time conv keeps 1 frame of its own)
        if mode in ("up2d", "up3d"):
            self.resample = nn.Sequential(_NearestUp2x(), nn.Conv2d(dim, dim // 2, 3, padding=1))
            if mode == "up3d":
                self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1), padding=(1, 0, 0))
        elif mode in ("down2d", "down3d"):
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=2))
            if mode == "down3d":
                self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1))
        else:
            raise ValueError(f"unknown resample mode {mode!r}")

    def _double_time(self, x: torch.Tensor, hist: History | None) -> torch.Tensor:
        tc = self.time_conv
        if hist is not None and hist[tc.slot] is not None:
            lead, rest = x[:, :, :0], x
        else:  # first frame of the sequence: kept as is; the time conv starts after it with zero history
            lead, rest = x[:, :, :1], x[:, :, 1:]
            if hist is not None:
                hist[tc.slot] = x.new_zeros(x.shape[0], x.shape[1], 0, *x.shape[3:])
        if rest.shape[2] == 0:
            return lead
        b, c, t, h, w = rest.shape
        y = tc(rest, hist).reshape(b, 2, c, t, h, w)  # (B, 2C, T, H, W) -> (B, 2, C, T, H, W)
        y = torch.stack([y[:, 0], y[:, 1]], dim=3).reshape(b, c, 2 * t, h, w)  # interleave -> (B, C, 2T, H, W)
        return torch.cat([lead, y], dim=2)

    def _halve_time(self, x: torch.Tensor, hist: History | None) -> torch.Tensor:
        past = hist[self.slot] if hist is not None else None
        if past is None:  # first frame of the sequence passes through; strided windows start at it
            lead, seq = x[:, :, :1], x
        else:
            lead, seq = x[:, :, :0], torch.cat([past.to(x.dtype), x], dim=2)
        if hist is not None:
            hist[self.slot] = x[:, :, -1:].detach().clone()
        if seq.shape[2] < 3:
            return lead
        return torch.cat([lead, self.time_conv(seq)], dim=2)  # stride 2, no padding

    def forward(self, x: torch.Tensor, hist: History | None = None) -> torch.Tensor:
        if self.mode == "up3d":
            x = self._double_time(x, hist)
        b, c, t, h, w = x.shape
        y = self.resample(x.transpose(1, 2).reshape(b * t, c, h, w))  # (B, C, T, H, W) -> (B*T, C, H, W)
        y = y.reshape(b, t, *y.shape[1:]).transpose(1, 2)  # -> (B, C', T, H', W')
        if self.mode == "down3d":
            y = self._halve_time(y, hist)
        return y


def assign_slots(module: nn.Module) -> int:
    """Give every time-stateful submodule its history slot index; returns the number of slots."""
    n = 0
    for m in module.modules():
        if (isinstance(m, CausalConv3d) and m.context > 0) or (isinstance(m, Resample) and m.mode == "down3d"):
            m.slot = n
            n += 1
    return n
