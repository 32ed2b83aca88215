"""RGB → luma conversions used by the fidelity metrics, one function per published convention.

Two conventions matter for PSNR / SSIM tables (see ``docs/metrics.md`` §2.1), and they give different
numbers on the same frames:

* **BT.601 studio swing** (BasicSR, MATLAB ``rgb2ycbcr``): ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with
  R, G, B in [0, 1], so Y lies in [16, 235] on the 0–255 scale. BasicSR keeps Y unrounded; we compute it in
  float64 from exact grey levels (:func:`to_grey_levels`).
* **YIQ, full range** (pyiqa ``psnry`` / ``ssim``): ``Y = 0.299 R + 0.587 G + 0.114 B`` with no offset.
  pyiqa computes it in the input's dtype (float32) as a channel-last matrix product with the full 3×3 YIQ
  matrix, then — for SSIM only — scales to 0–255 and rounds. :func:`y_yiq_pyiqa` repeats those exact
  float32 operations, because the rounding step makes a one-ulp difference flip whole grey levels.

All functions take ``(..., 3, H, W)`` RGB in [0, 1] and return ``(..., 1, H, W)``, keeping the channel axis
so that luma and RGB inputs flow through the same code.
"""
from __future__ import annotations

import torch

#: BT.601 studio-swing luma weights for R, G, B in [0, 1], giving Y on the 0–255 scale (plus ``BT601_OFFSET``).
BT601_STUDIO_WEIGHTS = (65.481, 128.553, 24.966)
BT601_OFFSET = 16.0

#: The RGB → YIQ matrix pyiqa uses (rows: Y, I, Q). Only the Y row affects the metrics, but the whole matrix
#: is applied so that float32 results are bit-identical to pyiqa's own.
YIQ_MATRIX = (
    (0.299, 0.587, 0.114),
    (0.5959, -0.2746, -0.3213),
    (0.2115, -0.5227, 0.3112),
)


def _check_rgb(rgb: torch.Tensor) -> None:
    if rgb.dim() < 3 or rgb.shape[-3] != 3:
        raise ValueError(f"expected RGB frames shaped (..., 3, H, W), got {tuple(rgb.shape)}")


def to_grey_levels(rgb: torch.Tensor) -> torch.Tensor:
    """[0, 1] → 0–255 float64, scaling in the input's own dtype first.

    Frames on the 8-bit grid arrive as float32 ``k / 255``, which is not exact; ``fl32(k / 255) * 255`` in
    float32 rounds back to exactly ``k`` for every k in 0..255, whereas the same product in float64 is off by
    up to 8e-6. Scaling first therefore gives the exact integers BasicSR sees when it reads uint8 images, and
    costs off-grid float32 inputs nothing beyond their own precision. Shape is unchanged.
    """
    return (rgb * 255.0).to(torch.float64)


def y_bt601_studio(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 studio-swing luma on the 0–255 scale, float64, unrounded (the BasicSR convention).

    ``(..., 3, H, W)`` float in [0, 1] → ``(..., 1, H, W)`` float64 in [16, 235]. The weights act on grey
    levels (see :func:`to_grey_levels`), i.e. ``Y = 16 + (65.481 R' + 128.553 G' + 24.966 B') / 255``.
    """
    _check_rgb(rgb)
    return bt601_studio_luma_difference(to_grey_levels(rgb)).add_(BT601_OFFSET)


def bt601_studio_luma_difference(levels: torch.Tensor) -> torch.Tensor:
    """BT.601 studio luma without the +16 offset, for 0–255 grey levels (float64): the luma of a difference.

    The offset cancels in ``Y(a) - Y(b)``, so PSNR applies this to the grey-level difference and skips two
    full conversions. ``(..., 3, H, W)`` → ``(..., 1, H, W)`` in the input's dtype.
    """
    _check_rgb(levels)
    wr, wg, wb = (w / 255.0 for w in BT601_STUDIO_WEIGHTS)
    y = levels[..., 0:1, :, :] * wr  # (..., 3, H, W) -> (..., 1, H, W)
    return y.add_(levels[..., 1:2, :, :], alpha=wg).add_(levels[..., 2:3, :, :], alpha=wb)


def y_yiq_pyiqa(rgb: torch.Tensor, scale: float = 1.0, round_to_grid: bool = False) -> torch.Tensor:
    """YIQ luma exactly as pyiqa computes it: float32 channel-last matmul, times ``scale``, optionally rounded.

    pyiqa's ``psnry`` uses ``scale=1`` without rounding; its ``ssim`` uses ``scale=255`` and rounds to whole
    grey levels (``round_to_grid=True``). ``(N, 3, H, W)`` float32 in [0, 1] → ``(N, 1, H, W)`` float32.
    """
    _check_rgb(rgb)
    m = torch.tensor(YIQ_MATRIX, dtype=rgb.dtype, device=rgb.device).t()  # (3 in, 3 out)
    yiq = torch.matmul(rgb.movedim(-3, -1), m)  # (..., 3, H, W) -> (..., H, W, 3) @ (3, 3) -> (..., H, W, 3)
    y = yiq[..., 0].unsqueeze(-3) * scale  # (..., H, W) -> (..., 1, H, W)
    return y.round() if round_to_grid else y
