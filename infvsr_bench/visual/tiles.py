"""Grids of image crops with captions, as PNG (Pillow): the worst-moment panels of a run and of ``compare``.

Crops are shown at an integer zoom with nearest-neighbour resampling, so every displayed pixel is one of the
crop's own; a missing crop is a grey tile that says why.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

TARGET = 200  # displayed tile side in pixels (crops are zoomed by an integer factor up to about this)
PAD = 6


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def zoom_nearest(img: np.ndarray, factor: int) -> np.ndarray:
    """(h, w, 3) → (h*factor, w*factor, 3) by repeating pixels."""
    return img.repeat(factor, axis=0).repeat(factor, axis=1)


def grid(rows: list[list[tuple[str, np.ndarray | None]]], title: str, path: Path, missing: str = "not kept") -> Path:
    """Write a grid: ``rows`` of (caption, (h, w, 3) uint8 crop or None) cells, all crops the same size."""
    from PIL import Image, ImageDraw

    shapes = [c.shape for r in rows for _, c in r if c is not None]
    h, w = shapes[0][:2] if shapes else (64, 64)
    z = max(1, TARGET // max(h, w))
    th, tw = h * z, w * z
    cap = 16
    ncol = max(len(r) for r in rows)
    width = PAD + ncol * (tw + PAD)
    top = 26
    height = top + len(rows) * (cap + th + PAD) + PAD
    canvas = Image.new("RGB", (max(width, 360), height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((PAD, 5), title, fill="black", font=_font(14))
    small = _font(12)
    for i, row in enumerate(rows):
        y = top + i * (cap + th + PAD)
        for j, (caption, crop) in enumerate(row):
            x = PAD + j * (tw + PAD)
            draw.text((x, y), caption, fill="black", font=small)
            if crop is None:
                draw.rectangle([x, y + cap, x + tw - 1, y + cap + th - 1], fill=(200, 200, 200))
                draw.text((x + 6, y + cap + th // 2 - 6), missing, fill="black", font=small)
            else:
                canvas.paste(Image.fromarray(zoom_nearest(np.asarray(crop, np.uint8), z)), (x, y + cap))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, optimize=False)
    return path
