"""DOVER's aesthetic backbone: ConvNeXt-T inflated to 3-D (strategy '131').

Written from ``docs/dover.md`` §2.2 (Liu et al., A ConvNet for the 2020s; DOVER's inflation). Names
follow the released ``DOVER.pth``: ``downsample_layers.{k}.{0,1}``, ``stages.{i}.{j}.{dwconv,norm,pwconv1,
pwconv2,gamma}``, ``norm``. The official code downloads ImageNet ConvNeXt weights at construction and
inflates them; ``DOVER.pth`` overwrites all of them, so nothing is downloaded here.
"""
from __future__ import annotations

import torch
from torch import nn


class LayerNormChannelsFirst(nn.Module):
    """LayerNorm over dim 1 of (B, C, T, H, W) with per-channel affine (ConvNeXt's channels_first LN)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        x = (x - mu) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None, None] * x + self.bias[:, None, None, None]


class Block3D(nn.Module):
    """x + gamma · Linear(GELU(Linear(LN(dwconv_{kt×7×7}(x))))), the MLP in channels-last layout."""

    def __init__(self, dim: int, kt: int):
        super().__init__()
        self.dwconv = nn.Conv3d(dim, dim, kernel_size=(kt, 7, 7), padding=(kt // 2, 3, 3), groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 4, 1)  # (B, C, T, H, W) -> (B, T, H, W, C)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + y.permute(0, 4, 1, 2, 3)  # (B, T, H, W, C) -> (B, C, T, H, W)


def inflation_kt(j: int) -> int:
    """Temporal kernel of block j in a stage under '131': 3 when j % 3 == 1, else 1."""
    return 3 if j % 3 == 1 else 1


class ConvNeXt3D(nn.Module):
    """(B, 3, T, H, W) normalised frames → (B, C_out, T/2, H/32, W/32) features (final LN, no pooling)."""

    def __init__(self, dims, depths):
        super().__init__()
        self.downsample_layers = nn.ModuleList([nn.Sequential(
            nn.Conv3d(3, dims[0], kernel_size=(2, 4, 4), stride=(2, 4, 4)), LayerNormChannelsFirst(dims[0]))])
        for i in range(len(dims) - 1):
            self.downsample_layers.append(nn.Sequential(
                LayerNormChannelsFirst(dims[i]),
                nn.Conv3d(dims[i], dims[i + 1], kernel_size=(1, 2, 2), stride=(1, 2, 2))))
        self.stages = nn.ModuleList([nn.Sequential(*[Block3D(dims[i], inflation_kt(j)) for j in range(depths[i])])
                                     for i in range(len(dims))])
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)  # LN over C, channels-last


def _init(m: nn.Module) -> None:
    """Random init for plumbing tests (the released weights replace all of it)."""
    if isinstance(m, (nn.Conv3d, nn.Linear)):
        nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(m.bias)


__all__ = ["ConvNeXt3D", "Block3D", "LayerNormChannelsFirst", "inflation_kt"]
