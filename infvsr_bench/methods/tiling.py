"""Run an image-to-image SR function tile by tile, so a large frame needs memory for one tile only.

Each ``tile × tile`` block of the LR frame is run with ``overlap`` extra LR pixels of context on every side
that has a neighbour (clipped at the frame's edges), and only the block's own part of the output is kept.
Where the context covers the network's receptive field the tiled output equals the untiled one up to float
rounding (different tensor sizes may pick different kernels); where it does not (deep networks such as
RRDBNet see hundreds of pixels), seams differ by what the missing context would have contributed. At the
frame's edges a tile sees exactly the zero padding the whole frame sees.
"""
from __future__ import annotations

from collections.abc import Callable

import torch


def tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, scale: int, tile: int,
          overlap: int) -> torch.Tensor:
    """``fn`` applied to (B, C, h, w) ``x`` in tiles; ``fn`` maps (B, C, th, tw) to (B, C', th·scale, tw·scale).
    ``tile`` ≤ 0, or a frame no larger than one tile, runs ``fn`` once on the whole frame."""
    h, w = x.shape[-2:]
    if tile <= 0 or (h <= tile and w <= tile):
        return fn(x)
    out: torch.Tensor | None = None
    for y0 in range(0, h, tile):
        y1 = min(y0 + tile, h)
        cy0, cy1 = max(y0 - overlap, 0), min(y1 + overlap, h)  # rows of context around the block
        for x0 in range(0, w, tile):
            x1 = min(x0 + tile, w)
            cx0, cx1 = max(x0 - overlap, 0), min(x1 + overlap, w)
            piece = fn(x[..., cy0:cy1, cx0:cx1])  # (B, C', (cy1-cy0)·s, (cx1-cx0)·s)
            if out is None:
                out = piece.new_empty(*piece.shape[:-2], h * scale, w * scale)
            oy, ox = (y0 - cy0) * scale, (x0 - cx0) * scale  # the block's offset inside the piece
            out[..., y0 * scale:y1 * scale, x0 * scale:x1 * scale] = \
                piece[..., oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale]
    assert out is not None
    return out
