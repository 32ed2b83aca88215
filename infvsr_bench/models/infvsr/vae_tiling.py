"""Spatial tiling of the VAE for large frames: the tile grid and linear-ramp blending.

Why: untiled, the VAE's activations for 4 frames at full output resolution dominate memory at 4K. The
release (``docs/infvsr.md`` §5.2) cuts frames taller than 1024 px into overlapping tiles
defined in latent pixels (size 128 = 1024 px, stride 110, overlap 18), runs every tile as its own causal
stream (its own conv histories), and blends the tile outputs with weights that ramp linearly 1/r … 1 over
the overlap on every side that is not a frame border (2-D weight = min of the row and column ramps),
accumulating and dividing by the weight sum. Encode blends latents (ramp r = overlap in latent px), decode
blends pixels (ramp r = overlap × 8).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tiling:
    """When and how to tile. ``mode``: "auto" (tile when the frame height exceeds ``min_height`` pixels, the
    release's rule; width is not considered), "always" (tests, or to cap memory) or "never". ``tile`` and
    ``stride`` are in latent pixels; the overlap ``tile - stride`` is the blending ramp width."""

    mode: str = "auto"
    tile: int = 128
    stride: int = 110
    min_height: int = 1024

    def __post_init__(self):
        if self.mode not in ("auto", "always", "never"):
            raise ValueError(f"tiling mode must be auto, always or never, got {self.mode!r}")
        if not 0 < self.stride <= self.tile:
            raise ValueError(f"tiling needs 0 < stride <= tile, got tile {self.tile}, stride {self.stride}")

    @property
    def overlap(self) -> int:
        return self.tile - self.stride

    def active(self, height_px: int) -> bool:
        return self.mode == "always" or (self.mode == "auto" and height_px > self.min_height)


def spans(length: int, tile: int, stride: int) -> list[tuple[int, int]]:
    """[start, end) intervals covering ``length``: starts 0, stride, 2·stride, …; a start is skipped once
    the previous tile already reached the border."""
    out: list[tuple[int, int]] = []
    for start in range(0, max(length, 1), stride):
        if out and out[-1][1] >= length:
            break
        out.append((start, min(start + tile, length)))
    return out


def grid(h: int, w: int, tiling: Tiling) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Tiles of an (h, w) latent frame as ((y0, y1), (x0, x1)) pairs, row-major."""
    return [(ys, xs) for ys in spans(h, tiling.tile, tiling.stride) for xs in spans(w, tiling.tile, tiling.stride)]


def _ramp(start: int, end: int, length: int, r: int) -> torch.Tensor:
    """1-D weights of one tile: 1/r … 1 over its first r samples unless it starts at the border, and the
    mirror image over its last r samples unless it ends at the border; 1 elsewhere."""
    n = end - start
    w = torch.ones(n)
    if r <= 0:
        return w
    up = torch.arange(1, n + 1, dtype=torch.float32) / r  # 1/r, 2/r, ... (≥ 1 past the ramp)
    if start > 0:
        w = torch.minimum(w, up)
    if end < length:
        w = torch.minimum(w, up.flip(0))
    return w


def tile_weight(ys: tuple[int, int], xs: tuple[int, int], h: int, w: int, r: int) -> torch.Tensor:
    """(tile_h, tile_w) blending weight: min of the row and column ramps."""
    return torch.minimum(_ramp(*ys, h, r)[:, None], _ramp(*xs, w, r)[None, :])


class Blender:
    """Accumulates weighted tile outputs of a (B, C, T, H, W) result and returns their weighted mean."""

    def __init__(self, h: int, w: int, ramp: int):
        self.h, self.w, self.ramp = h, w, ramp
        self.acc: torch.Tensor | None = None
        self.wsum = torch.zeros(h, w)

    def add(self, out: torch.Tensor, ys: tuple[int, int], xs: tuple[int, int]) -> None:
        wt = tile_weight(ys, xs, self.h, self.w, self.ramp)
        if self.acc is None:
            self.acc = out.new_zeros(*out.shape[:3], self.h, self.w, dtype=torch.float32)
            self.wsum = self.wsum.to(out.device)
        wt = wt.to(out.device)
        self.acc[..., ys[0]:ys[1], xs[0]:xs[1]] += out.float() * wt
        self.wsum[ys[0]:ys[1], xs[0]:xs[1]] += wt

    def result(self, dtype: torch.dtype) -> torch.Tensor:
        assert self.acc is not None, "no tile was added"
        return (self.acc / self.wsum).to(dtype)
