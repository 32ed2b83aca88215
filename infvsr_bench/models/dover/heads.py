"""DOVER's quality heads and the published fusion of the two branch scores.

``VQAHead`` (``docs/dover.md`` §2.3): Conv3d 1×1×1 C→64, GELU, Conv3d 64→1 on the unpooled feature map
(dropout is off at inference). A branch's raw score is the plain mean of every element of its map.

Fusion (§4, ``evaluate_one_video.py -f``): with raw technical ``t`` and aesthetic ``a``,
``fused = sigmoid(0.6104·(t − 0.1107)/0.07355 + 0.3896·(a + 0.08285)/0.03774)``; the per-branch values in
[0, 1] are ``sigmoid((t − 0.1107)/0.07355)`` and ``sigmoid((a + 0.08285)/0.03774)``. The constants are kept
verbatim for comparability (re-fitted constants would make a differently named metric). Branches are
always bound by name, never by position (the swapped-order bug of DOVER #16).
"""
from __future__ import annotations

import math

import torch
from torch import nn

TECH_MEAN, TECH_STD = 0.1107, 0.07355
AES_MEAN, AES_STD = -0.08285, 0.03774
TECH_WEIGHT, AES_WEIGHT = 0.6104, 0.3896


class VQAHead(nn.Module):
    """(B, C, T, H, W) features → (B, 1, T, H, W) quality map."""

    def __init__(self, in_dim: int, hidden: int):
        super().__init__()
        self.fc_hid = nn.Conv3d(in_dim, hidden, kernel_size=(1, 1, 1))
        self.fc_last = nn.Conv3d(hidden, 1, kernel_size=(1, 1, 1))
        self.gelu = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_last(self.gelu(self.fc_hid(x)))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def technical_01(t: float) -> float:
    """The technical part in [0, 1] (the set script's ``technical`` column / 100)."""
    return _sigmoid((t - TECH_MEAN) / TECH_STD)


def aesthetic_01(a: float) -> float:
    """The aesthetic part in [0, 1] (the set script's ``aesthetic`` column / 100)."""
    return _sigmoid((a - AES_MEAN) / AES_STD)


def fuse(*, technical: float, aesthetic: float) -> float:
    """The fused DOVER score in [0, 1] from raw branch scores (keyword-only: bound by name)."""
    return _sigmoid(TECH_WEIGHT * (technical - TECH_MEAN) / TECH_STD
                    + AES_WEIGHT * (aesthetic - AES_MEAN) / AES_STD)
