"""Swin Transformer backbone in the layout of RAM's ``visual_encoder`` (Swin-L/384), written for inference.

Why its own file: InfVSR encodes a reference frame with RAM's Swin-L (DAPE LoRA merged) and feeds the tokens
to the DiT's cross-attention, so the module tree must carry RAM's parameter names exactly for a strict load
(``patch_embed.proj``, ``layers.{i}.blocks.{j}.attn.qkv``, ``layers.{i}.downsample.reduction``, ``norm``).
Reference: Liu et al., "Swin Transformer" (ICCV 2021); key layout per
``docs/infvsr-checkpoints.md`` §3. The recomputable buffers (``relative_position_index`` on
the attention, ``attn_mask`` on the block) are registered non-persistent, so a strict load neither expects
nor rejects them. No dropout / drop-path: this module only runs in eval.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SwinConfig:
    img_size: int = 384
    patch_size: int = 4
    embed_dim: int = 192
    depths: tuple[int, ...] = (2, 2, 18, 2)
    num_heads: tuple[int, ...] = (6, 12, 24, 48)
    window_size: int = 12
    mlp_ratio: float = 4.0

    @property
    def num_features(self) -> int:
        return self.embed_dim * 2 ** (len(self.depths) - 1)

    @property
    def out_grid(self) -> int:
        return self.img_size // self.patch_size // 2 ** (len(self.depths) - 1)


def _relative_position_index(w: int) -> torch.Tensor:
    """(w², w²) long: row of the bias table for query (yq, xq) and key (yk, xk), i.e.
    (yq − yk + w − 1)·(2w − 1) + (xq − xk + w − 1)."""
    ys, xs = torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")
    y, x = ys.flatten(), xs.flatten()  # (w²,) each, row-major inside the window
    dy = y[:, None] - y[None, :] + w - 1
    dx = x[:, None] - x[None, :] + w - 1
    return dy * (2 * w - 1) + dx


def _shift_mask(grid: int, w: int, shift: int) -> torch.Tensor:
    """(nW, w², w²) additive mask for shifted windows: −100 between tokens from different regions of the
    cyclically shifted image, 0 otherwise (the standard Swin construction)."""
    label = torch.zeros(grid, grid)
    bands = (slice(0, -w), slice(-w, -shift), slice(-shift, None))
    n = 0
    for hs in bands:
        for ws in bands:
            label[hs, ws] = n
            n += 1
    win = _partition(label[None, :, :, None], w)[..., 0]  # (nW, w², 1) -> (nW, w²)
    diff = win[:, :, None] - win[:, None, :]
    return torch.where(diff != 0, torch.tensor(-100.0), torch.tensor(0.0))


def _partition(x: torch.Tensor, w: int) -> torch.Tensor:
    """(B, H, W, C) -> (B·nW, w², C), windows in row-major order."""
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c)  # (B, H/w, w, W/w, w, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, c)


def _merge(win: torch.Tensor, w: int, h: int, wd: int) -> torch.Tensor:
    """(B·nW, w², C) -> (B, H, W, C), inverse of :func:`_partition`."""
    c = win.shape[-1]
    x = win.view(-1, h // w, wd // w, w, w, c)  # (B, H/w, W/w, w, w, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, wd, c)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a w×w window with a learned relative-position bias."""

    def __init__(self, dim: int, window: int, heads: int):
        super().__init__()
        self.window, self.heads = window, heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", _relative_position_index(window), persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c = x.shape
        qkv = self.qkv(x).view(bw, n, 3, self.heads, c // self.heads)  # rows q | k | v, head-major
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (3, Bw, heads, n, d) -> 3 × (Bw, heads, n, d)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(n, n, self.heads).permute(2, 0, 1)  # (n, n, heads) -> (heads, n, n)
        bias = bias[None].expand(bw, -1, -1, -1)
        if mask is not None:  # (nW, n, n); windows are batch-major: window index = i mod nW
            nw = mask.shape[0]
            bias = (bias.view(bw // nw, nw, self.heads, n, n) + mask[None, :, None].to(bias.dtype)).view(
                bw, self.heads, n, n)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))  # (Bw, heads, n, d) -> (Bw, n, C)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    """Pre-norm (shifted-)window attention + MLP. The window clamps to the grid when the grid is not larger
    than it, and then nothing is shifted (Swin's rule; Swin-L's last stage at 384 px)."""

    def __init__(self, dim: int, grid: int, heads: int, window: int, shift: int, mlp_ratio: float):
        super().__init__()
        if grid <= window:
            window, shift = grid, 0
        self.grid, self.window, self.shift = grid, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.register_buffer("attn_mask", _shift_mask(grid, window, shift) if shift else None, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        g, w, s = self.grid, self.window, self.shift
        y = self.norm1(x).view(b, g, g, c)  # (B, L, C) -> (B, H, W, C)
        if s:
            y = torch.roll(y, shifts=(-s, -s), dims=(1, 2))
        y = _merge(self.attn(_partition(y, w), self.attn_mask), w, g, g)
        if s:
            y = torch.roll(y, shifts=(s, s), dims=(1, 2))
        x = x + y.reshape(b, n, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2×2 neighbour concat (order: (even,even), (odd,even), (even,odd), (odd,odd) as (row,col)) → LayerNorm
    → Linear 4C → 2C without bias; halves the grid."""

    def __init__(self, dim: int, grid: int):
        super().__init__()
        self.grid = grid
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        x = x.view(b, self.grid, self.grid, c)  # (B, L, C) -> (B, H, W, C)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))  # (B, H/2·W/2, 4C) -> (B, ·, 2C)


class BasicLayer(nn.Module):
    def __init__(self, dim: int, grid: int, depth: int, heads: int, window: int, mlp_ratio: float, down: bool):
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, grid, heads, window, 0 if j % 2 == 0 else window // 2, mlp_ratio) for j in range(depth))
        self.downsample = PatchMerging(dim, grid) if down else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return self.downsample(x) if self.downsample is not None else x


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))  # (B, C, h, w) -> (B, h·w, C)


class SwinTransformer(nn.Module):
    """Swin backbone without a classifier; returns [mean-pooled token, grid tokens] after the final norm,
    (B, 1 + g², num_features) — 145 × 1536 for Swin-L at 384 px."""

    def __init__(self, cfg: SwinConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.embed_dim)
        grid = cfg.img_size // cfg.patch_size
        layers = []
        for i, (depth, heads) in enumerate(zip(cfg.depths, cfg.num_heads)):
            layers.append(BasicLayer(cfg.embed_dim * 2 ** i, grid // 2 ** i, depth, heads, cfg.window_size,
                                     cfg.mlp_ratio, down=i < len(cfg.depths) - 1))
        self.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(cfg.num_features)

    def reset_buffers(self, device: torch.device | str | None = None) -> None:
        """Recompute the non-persistent index / mask buffers on ``device`` (needed after building on the
        meta device, where they hold no values)."""
        for m in self.modules():
            if isinstance(m, WindowAttention):
                m.relative_position_index = _relative_position_index(m.window).to(device)
            elif isinstance(m, SwinBlock) and m.shift:
                m.attn_mask = _shift_mask(m.grid, m.window, m.shift).to(device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)
        return torch.cat([x.mean(dim=1, keepdim=True), x], dim=1)


__all__ = ["SwinConfig", "SwinTransformer"]
