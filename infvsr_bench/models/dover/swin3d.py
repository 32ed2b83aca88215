"""DOVER's technical backbone: Video Swin-T with the gated relative position bias (GRPB).

Written from ``docs/dover.md`` §2.1 (Liu et al., Video Swin Transformer; Wu et al., FAST-VQA / DOVER).
Parameter and buffer names follow the released ``DOVER.pth`` (``patch_embed.*``, ``layers.{i}.blocks.{j}.*``,
``layers.{i}.downsample.*``, ``norm.*``) so the checkpoint loads strictly.

What is specific to DOVER, and reproduced exactly:

* **GRPB.** The input is a 7×7 mosaic of 32-px fragments. Every token has a fragment coordinate, a nearest
  resize of a 7×7 grid to the (padded) feature size (``h // 8`` at stage 0), rolled with the features in
  shifted blocks. For tokens i, j of a window the gate ``g = |fh_i - fh_j| + |fw_i - fw_j|`` (an L1
  distance: not clipped, not binary) mixes two tables:
  ``bias = rel[idx] * g + frag[idx] * (1 - g)``. Stages without a fragment table use ``rel`` alone.
* **Windows.** (8, 7, 7) with shift (4, 3, 3) on odd blocks; on an axis where the feature is no larger than
  the window, the window shrinks to the feature and the shift becomes 0. Shift masks use -100.
* The relative position index is a persistent buffer (it is stored in the checkpoint).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def relative_position_index(window: tuple[int, int, int]) -> torch.Tensor:
    """(N, N) int64 with N = Wd*Wh*Ww: index into the bias table of the offset coord_i - coord_j.

    ``idx = (dd + Wd-1)·(2Wh-1)(2Ww-1) + (dh + Wh-1)·(2Ww-1) + (dw + Ww-1)``; tokens in (d, h, w) order.
    """
    wd, wh, ww = window
    grid = torch.stack(torch.meshgrid(torch.arange(wd), torch.arange(wh), torch.arange(ww), indexing="ij"))
    coords = grid.flatten(1)  # (3, N)
    rel = coords[:, :, None] - coords[:, None, :]  # (3, N, N): coord_i - coord_j
    return ((rel[0] + wd - 1) * (2 * wh - 1) * (2 * ww - 1)
            + (rel[1] + wh - 1) * (2 * ww - 1) + (rel[2] + ww - 1))


def effective_window(size: tuple[int, int, int], window: tuple[int, int, int], shift: tuple[int, int, int]
                     ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Shrink the window to the feature on axes where the feature is not larger; no shift there."""
    win = tuple(s if s <= w else w for s, w in zip(size, window))
    sh = tuple(0 if s <= w else k for s, w, k in zip(size, window, shift))
    return win, sh  # type: ignore[return-value]


def window_partition(x: torch.Tensor, win: tuple[int, int, int]) -> torch.Tensor:
    """(B, D, H, W, C) → (B*nW, Wd*Wh*Ww, C), windows in (d, h, w) raster order."""
    b, d, h, w, c = x.shape
    x = x.view(b, d // win[0], win[0], h // win[1], win[1], w // win[2], win[2], c)
    # (B, nD, Wd, nH, Wh, nW, Ww, C) -> (B, nD, nH, nW, Wd, Wh, Ww, C)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, win[0] * win[1] * win[2], c)


def window_reverse(windows: torch.Tensor, win: tuple[int, int, int], b: int, d: int, h: int, w: int
                   ) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B*nW, N, C) → (B, D, H, W, C)."""
    x = windows.view(b, d // win[0], h // win[1], w // win[2], win[0], win[1], win[2], -1)
    # (B, nD, nH, nW, Wd, Wh, Ww, C) -> (B, nD, Wd, nH, Wh, nW, Ww, C)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, d, h, w, -1)


def shift_mask(size: tuple[int, int, int], win: tuple[int, int, int], shift: tuple[int, int, int],
               device: torch.device) -> torch.Tensor:
    """(nW, N, N) additive mask of a shifted block: -100 between tokens from different regions.

    On each shifted axis of padded length P the regions are [0, P-W), [P-W, P-s), [P-s, P); an axis with
    shift 0 is one region."""
    labels = []
    for p, w, s in zip(size, win, shift):
        lab = torch.zeros(p, dtype=torch.long, device=device)
        if s > 0:
            lab[p - w:p - s] = 1
            lab[p - s:] = 2
        labels.append(lab)
    comp = labels[0][:, None, None] * 9 + labels[1][None, :, None] * 3 + labels[2][None, None, :]  # (D, H, W)
    wins = window_partition(comp[None, ..., None].float(), win).squeeze(-1)  # (nW, N)
    diff = wins[:, None, :] - wins[:, :, None]  # (nW, N, N)
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


def fragment_gate(size: tuple[int, int, int], win: tuple[int, int, int], shift: tuple[int, int, int],
                  device: torch.device) -> torch.Tensor:
    """(nW, N, N) float gate g_ij = L1 distance between the fragment coordinates of tokens i and j.

    Fragment coordinates: a nearest resize of a (1, Wh, Ww) grid of (d, h, w) fragment indices to the padded
    feature size (so ``h * 7 // H`` for the usual 7×7 mosaic), rolled by -shift like the features."""
    d, h, w = size
    grids = torch.stack(torch.meshgrid(torch.arange(1), torch.arange(win[1]), torch.arange(win[2]),
                                       indexing="ij")).float().to(device)  # (3, 1, Wh, Ww)
    coords = F.interpolate(grids[None], size=(d, h, w), mode="nearest").long()  # (1, 3, D, H, W)
    coords = coords.permute(0, 2, 3, 4, 1)  # (1, D, H, W, 3)
    if any(shift):
        coords = torch.roll(coords, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
    wins = window_partition(coords, win)  # (nW, N, 3)
    return (wins[:, None, :, :] - wins[:, :, None, :]).abs().sum(-1).float()  # (nW, N, N)


class WindowAttention3D(nn.Module):
    """Multi-head self-attention inside 3-D windows with a relative position bias (optionally GRPB)."""

    def __init__(self, dim: int, heads: int, window: tuple[int, int, int], frag_bias: bool):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        table = (2 * window[0] - 1) * (2 * window[1] - 1) * (2 * window[2] - 1)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(table, heads))
        if frag_bias:
            self.fragment_position_bias_table = nn.Parameter(torch.zeros(table, heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        if frag_bias:
            nn.init.trunc_normal_(self.fragment_position_bias_table, std=0.02)

    @property
    def frag_bias(self) -> bool:
        return hasattr(self, "fragment_position_bias_table")

    def tables(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(heads, N, N) gathered ``rel`` and ``frag`` biases for windows of N tokens (``frag`` None on
        stages without GRPB)."""
        idx = self.relative_position_index[:n, :n].reshape(-1)
        rel = self.relative_position_bias_table[idx].view(n, n, -1).permute(2, 0, 1)  # (heads, N, N)
        if not self.frag_bias:
            return rel, None
        return rel, self.fragment_position_bias_table[idx].view(n, n, -1).permute(2, 0, 1)

    def bias(self, n: int, gate: torch.Tensor) -> torch.Tensor:
        """(nW or 1, heads, N, N) position bias: ``rel·g + frag·(1 − g)`` with GRPB, else ``rel``."""
        rel, frag = self.tables(n)
        if frag is None:
            return rel[None]
        g = gate[:, None].to(rel.dtype)  # (nW, 1, N, N)
        return rel[None] * g + frag[None] * (1 - g)

    def forward(self, x: torch.Tensor, gate: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x: (B*nW, N, C); gate, mask: (nW, N, N)."""
        bn, n, c = x.shape
        nw = gate.shape[0]
        qkv = self.qkv(x).reshape(bn, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]  # (B*nW, heads, N, C/heads) each
        attn = (q @ k.transpose(-2, -1)).view(bn // nw, nw, self.heads, n, n)  # (B, nW, heads, N, N)
        rel, frag = self.tables(n)
        if frag is None:
            attn += rel
        else:  # rel·g + frag·(1 − g) = frag + (rel − frag)·g, added in place without an (nW, heads, N, N) copy
            attn += frag
            attn.addcmul_(gate[:, None].to(attn.dtype), rel - frag)
        if mask is not None:
            attn += mask[:, None].to(attn.dtype)
        attn = attn.view(bn, self.heads, n, n).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(bn, n, c)  # (B*nW, N, C)
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinBlock3D(nn.Module):
    """Pre-norm block: x += W-MSA/SW-MSA(LN x); x += MLP(LN x). Drop-path is off at inference."""

    def __init__(self, dim: int, heads: int, window: tuple[int, int, int], shift: tuple[int, int, int],
                 mlp_ratio: float, frag_bias: bool):
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention3D(dim, heads, window, frag_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self._cache: dict[tuple, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def _gate_and_mask(self, size, win, shift, device) -> tuple[torch.Tensor, torch.Tensor | None]:
        key = (size, win, shift, str(device))
        if key not in self._cache:
            mask = shift_mask(size, win, shift, device) if any(shift) else None
            self._cache[key] = (fragment_gate(size, win, shift, device), mask)
        return self._cache[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, D, H, W, C) → same shape."""
        b, d, h, w, c = x.shape
        win, shift = effective_window((d, h, w), self.window, self.shift)
        y = self.norm1(x)
        pads = [(k - s % k) % k for s, k in zip((d, h, w), win)]
        y = F.pad(y, (0, 0, 0, pads[2], 0, pads[1], 0, pads[0]))
        dp, hp, wp = d + pads[0], h + pads[1], w + pads[2]
        if any(shift):
            y = torch.roll(y, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
        gate, mask = self._gate_and_mask((dp, hp, wp), win, shift, x.device)
        y = self.attn(window_partition(y, win), gate, mask)  # (B*nW, N, C)
        y = window_reverse(y, win, b, dp, hp, wp)  # (B, Dp, Hp, Wp, C)
        if any(shift):
            y = torch.roll(y, shifts=shift, dims=(1, 2, 3))
        x = x + y[:, :d, :h, :w]
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2×2 spatial merge: concat (even,even), (odd,even), (even,odd), (odd,odd) → LN(4C) → Linear 4C→2C."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W, C) → (B, D, ceil(H/2), ceil(W/2), 2C)."""
        _, _, h, w, _ = x.shape
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


class SwinStage(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, window: tuple[int, int, int], mlp_ratio: float,
                 frag_bias: bool, downsample: bool):
        super().__init__()
        shift = tuple(k // 2 for k in window)
        self.blocks = nn.ModuleList([SwinBlock3D(dim, heads, window, (0, 0, 0) if j % 2 == 0 else shift,
                                                 mlp_ratio, frag_bias) for j in range(depth)])
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, D, H, W) → (B, C', D, H', W')."""
        x = x.permute(0, 2, 3, 4, 1)  # (B, C, D, H, W) -> (B, D, H, W, C)
        for blk in self.blocks:
            x = blk(x)
        if self.downsample is not None:
            x = self.downsample(x)
        return x.permute(0, 4, 1, 2, 3)  # (B, D, H, W, C) -> (B, C, D, H, W)


class PatchEmbed3D(nn.Module):
    """Conv3d with kernel = stride = patch, then LayerNorm over channels (input padded to the patch)."""

    def __init__(self, patch: tuple[int, int, int], dim: int):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv3d(3, dim, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) → (B, C, T/2, H/4, W/4)."""
        _, _, t, h, w = x.shape
        pt, ph, pw = ((p - s % p) % p for s, p in zip((t, h, w), self.patch))
        if pt or ph or pw:
            x = F.pad(x, (0, pw, 0, ph, 0, pt))
        x = self.proj(x)
        return self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)


class SwinTransformer3D(nn.Module):
    """Video Swin backbone: (B, 3, T, H, W) normalised frames → (B, C_out, T/2, H/32, W/32) features."""

    def __init__(self, embed_dim: int, depths, heads, window: tuple[int, int, int], patch: tuple[int, int, int],
                 frag_bias, mlp_ratio: float = 4.0):
        super().__init__()
        self.patch_embed = PatchEmbed3D(patch, embed_dim)
        self.layers = nn.ModuleList([
            SwinStage(embed_dim * 2 ** i, depths[i], heads[i], window, mlp_ratio, bool(frag_bias[i]),
                      downsample=i < len(depths) - 1) for i in range(len(depths))])
        self.norm = nn.LayerNorm(embed_dim * 2 ** (len(depths) - 1))
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)  # LN over C


def _init(m: nn.Module) -> None:
    """Random init for plumbing tests (the released weights replace all of it)."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv3d):
        nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5))
