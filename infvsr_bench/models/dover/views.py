"""DOVER's two input views, sampled the official way but one frame at a time (``docs/dover.md`` §1).

A "video" here is whatever span the caller treats as one DOVER input (the metric uses fixed windows of a
long clip). For a span of ``n`` frames:

* **Temporal sampling** (§1.2) — one sampler for both views: ``L = n // fragments_t`` frames per segment,
  segment k starts at ``L·k`` plus an offset drawn from ``randint(0, L − fsize_t·interval)`` when that range
  is non-empty (all segments in one numpy call), frames ``start + interval·m``; indices wrap ``mod n``.
  Technical: 3 segments × 32 frames, stride 2. Aesthetic: 32 segments × 1 frame. Draw order: technical,
  then aesthetic, from one ``numpy.random.RandomState(seed)``.
* **Technical view** (§1.3): each sampled frame becomes a 224×224 mosaic of 7×7 patches of 32×32 px. Grid
  starts ``min((res//7)·i, res − 32)`` from the *original* size; per-patch offsets ``randint(res//7 − 32)``
  (when res//7 > 32) drawn per 32-frame clip, height first then width, from one CPU ``torch.Generator``
  seeded with the same seed. Frames whose short side is below 224 are first upsampled by the factor
  ``1/ratio`` (bilinear, no antialias) and cast back to uint8 by truncation; crops still use the original
  grid (so they sit in the top-left of the enlarged frame, as in the official code).
* **Aesthetic view** (§1.4): each sampled frame squashed to 224×224, bilinear, rounded to uint8. The
  official code calls ``torchvision.transforms.Resize((224, 224))`` on the uint8 frames, which antialiases
  since torchvision 0.17 (the pinned version does): ``antialias=True`` (default) is what the official code
  computes today, bit for bit (tested against ``Resize`` itself); ``antialias=False`` is the training-era
  torchvision behaviour (the checkpoint was trained with it). The two differ only when a frame is reduced.
* **Normalisation** (§1.5): ImageNet mean/std on the 0–255 scale; views are laid out (clips, 3, 32, 224, 224).

Every step is per frame, so a streaming caller crops each frame as it arrives and never holds more than
the sampled views (:func:`frame_into_views`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ...errors import BadInput

GRID = 7          # fragments per side
PATCH = 32        # fragment size in pixels
SIZE = GRID * PATCH  # 224: side of both views
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class Sampler:
    """Official temporal sampler settings: frames per segment, segments, frame interval."""

    fsize_t: int
    fragments_t: int
    interval: int

    @property
    def frames(self) -> int:
        return self.fsize_t * self.fragments_t


TECHNICAL = Sampler(fsize_t=32, fragments_t=3, interval=2)
AESTHETIC = Sampler(fsize_t=1, fragments_t=32, interval=2)
CLIP_FRAMES = 32  # technical frames per clip ("aligned" temporal fragments): offsets are shared per clip


def temporal_indices(n: int, spec: Sampler, rng: np.random.RandomState) -> np.ndarray:
    """Sampled frame indices (fsize_t·fragments_t,) in [0, n), in view order (§1.2)."""
    if n < 1:
        raise ValueError("a span needs at least one frame")
    seg = n // spec.fragments_t
    grid = np.arange(spec.fragments_t, dtype=np.int64) * seg
    span = spec.fsize_t * spec.interval
    if seg > span:
        offsets = rng.randint(0, seg - span, size=spec.fragments_t).astype(np.int64)
    else:
        offsets = np.zeros(spec.fragments_t, dtype=np.int64)
    idx = grid[:, None] + offsets[:, None] + np.arange(spec.fsize_t, dtype=np.int64)[None, :] * spec.interval
    return np.mod(idx.reshape(-1), n)


def sample_indices(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(technical (96,), aesthetic (32,)) indices of a span of n frames, drawn in the official order."""
    rng = np.random.RandomState(seed)
    tech = temporal_indices(n, TECHNICAL, rng)
    aes = temporal_indices(n, AESTHETIC, rng)
    return tech, aes


def grid_starts(res: int) -> list[int]:
    """Start of each of the 7 fragment rows (or columns) along a side of ``res`` original pixels."""
    return [min((res // GRID) * i, res - PATCH) for i in range(GRID)]


def spatial_offsets(res_h: int, res_w: int, seed: int, clips: int = TECHNICAL.frames // CLIP_FRAMES
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-patch offsets (7, 7, clips) int64 for height and width (§1.3 step 4; height drawn first)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for res in (res_h, res_w):
        cell = res // GRID
        if cell > PATCH:
            out.append(torch.randint(cell - PATCH, (GRID, GRID, clips), generator=gen))
        else:
            out.append(torch.zeros((GRID, GRID, clips), dtype=torch.long))
    return out[0], out[1]


def to_uint8(frames: torch.Tensor) -> torch.Tensor:
    """(T, 3, H, W) float in [0, 1] → uint8 (round to nearest), as decoded frames are."""
    return (frames.detach().float() * 255.0).round_().clamp_(0, 255).to(torch.uint8)


def upsample_small(frame: torch.Tensor) -> torch.Tensor:
    """(3, H, W) uint8 → the frame the official pipeline crops from: unchanged when min(H, W) ≥ 224, else
    upscaled by 1/ratio (bilinear, align_corners False, no antialias) and truncated back to uint8."""
    h, w = frame.shape[-2:]
    ratio = min(h / SIZE, w / SIZE)
    if ratio >= 1:
        return frame
    # (3, H, W) -> (3, 1, H, W): colour as the batch and time as the channel, the official (C, T, H, W)
    # layout with T = 1. The truncating cast turns 1-ulp differences into whole levels, and CPU kernels
    # round (1, 3, H, W) inputs differently from the official 4-D call; this layout matched it bit for bit.
    x = frame[:, None].float() / 255.0
    x = F.interpolate(x, scale_factor=1 / ratio, mode="bilinear", align_corners=False)
    return (x * 255.0).to(torch.uint8)[:, 0]  # the cast truncates, as in the official code


def fragment_mosaic(frame: torch.Tensor, res_h: int, res_w: int, off_h: torch.Tensor, off_w: torch.Tensor
                    ) -> torch.Tensor:
    """(3, H', W') uint8 (already through :func:`upsample_small`) → (3, 224, 224) uint8 mosaic.

    ``off_h`` / ``off_w``: (7, 7) offsets of this frame's clip; the grid comes from the original size."""
    hs, ws = grid_starts(res_h), grid_starts(res_w)
    out = torch.empty((3, SIZE, SIZE), dtype=frame.dtype, device=frame.device)
    oh, ow = off_h.tolist(), off_w.tolist()
    for i in range(GRID):
        for j in range(GRID):
            y, x = hs[i] + oh[i][j], ws[j] + ow[i][j]
            out[:, i * PATCH:(i + 1) * PATCH, j * PATCH:(j + 1) * PATCH] = frame[:, y:y + PATCH, x:x + PATCH]
    return out


def resize_view(frame: torch.Tensor, antialias: bool = True) -> torch.Tensor:
    """(3, H, W) uint8 → (3, 224, 224) uint8: squash, bilinear, antialiased or not (module docstring),
    rounded (torchvision's ``Resize`` on uint8 rounds its float result the same way)."""
    x = F.interpolate(frame[None].float(), size=(SIZE, SIZE), mode="bilinear", align_corners=False,
                      antialias=antialias)
    return x.round_().clamp_(0, 255).to(torch.uint8)[0]


def normalise(view: torch.Tensor, clips: int) -> torch.Tensor:
    """(T, 3, 224, 224) uint8 view → (clips, 3, T/clips, 224, 224) float32, ImageNet-normalised (0–255)."""
    t = view.shape[0]
    mean = torch.tensor(MEAN, device=view.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=view.device).view(1, 3, 1, 1)
    x = (view.float() - mean) / std  # (T, 3, S, S)
    x = x.view(clips, t // clips, 3, SIZE, SIZE)  # (clips, T/clips, 3, S, S)
    return x.permute(0, 2, 1, 3, 4).contiguous()  # (clips, 3, T/clips, S, S)


class ViewBuffer:
    """The sampled views of one span, filled frame by frame (memory: 128 × 3 × 224 × 224 uint8 ≈ 19 MB).

    ``tech_idx`` / ``aes_idx`` are the span-relative indices from :func:`sample_indices`; ``seed`` also
    seeds the spatial offsets, drawn when the first frame shows the resolution; ``antialias``: the aesthetic
    view's resize (:func:`resize_view`)."""

    def __init__(self, tech_idx: np.ndarray, aes_idx: np.ndarray, seed: int, antialias: bool = True):
        self.tech_idx, self.aes_idx, self.seed, self.antialias = tech_idx, aes_idx, seed, antialias
        self.tech = torch.zeros((len(tech_idx), 3, SIZE, SIZE), dtype=torch.uint8)
        self.aes = torch.zeros((len(aes_idx), 3, SIZE, SIZE), dtype=torch.uint8)
        self.filled = 0
        self.offsets: tuple[torch.Tensor, torch.Tensor] | None = None
        self.size: tuple[int, int] | None = None

    @property
    def slots(self) -> int:
        return len(self.tech_idx) + len(self.aes_idx)

    @property
    def complete(self) -> bool:
        return self.filled == self.slots

    def nbytes(self) -> int:
        return self.tech.nbytes + self.aes.nbytes + self.tech_idx.nbytes + self.aes_idx.nbytes

    def add(self, rel: int, frame: torch.Tensor) -> None:
        """Put span frame ``rel`` ((3, H, W) uint8) into every slot that samples it."""
        tpos = np.flatnonzero(self.tech_idx == rel)
        apos = np.flatnonzero(self.aes_idx == rel)
        if tpos.size == 0 and apos.size == 0:
            return
        h, w = frame.shape[-2:]
        if self.offsets is None:
            self.size = (h, w)
            self.offsets = spatial_offsets(h, w, self.seed)
        elif self.size != (h, w):
            raise BadInput(f"frame size changed inside a DOVER window: {self.size} then {(h, w)}")
        if tpos.size:
            big = upsample_small(frame)
            for p in tpos.tolist():
                clip = p // CLIP_FRAMES
                self.tech[p] = fragment_mosaic(big, h, w, self.offsets[0][:, :, clip], self.offsets[1][:, :, clip])
        if apos.size:
            self.aes[apos.tolist()] = resize_view(frame, self.antialias)  # one resize for every slot that samples this frame
        self.filled += int(tpos.size + apos.size)

    def inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised (technical (3, 3, 32, 224, 224), aesthetic (1, 3, 32, 224, 224)) float32."""
        if not self.complete:
            raise RuntimeError(f"DOVER views incomplete: {self.filled} of {self.slots} frames")
        return (normalise(self.tech, len(self.tech_idx) // CLIP_FRAMES), normalise(self.aes, 1))


def views_of_video(frames: torch.Tensor, seed: int, antialias: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference path: the normalised views of a whole (T, 3, H, W) uint8 video held in memory (tests and
    short clips; the metric streams through :class:`ViewBuffer` instead)."""
    tech, aes = sample_indices(frames.shape[0], seed)
    buf = ViewBuffer(tech, aes, seed, antialias)
    for rel in sorted(set(tech.tolist()) | set(aes.tolist())):
        buf.add(rel, frames[rel])
    return buf.inputs()
