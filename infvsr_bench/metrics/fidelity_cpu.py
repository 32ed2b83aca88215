"""PSNR and SSIM of CPU frames, one frame at a time with OpenCV's separable filter and numpy.

The same float64 arithmetic on the 0–255 scale as the device-agnostic torch path in :mod:`.fidelity`, arranged
for a CPU: OpenCV's row and column filters apply the 11 + 11 Gaussian taps in one vectorised pass per plane
(the torch path needs 22 elementwise passes, each its own parallel region), the SSIM formula then runs on
strips of rows that stay in cache, and luma is computed once per frame from exact grey levels with no other
copy. Values equal the torch path's to float64 rounding (the sums are only reordered; ``tests/test_fidelity.py``
pins 1e-12). Why it matters: on a busy 2-core machine torch's threads wait for each other at every pass, and
the blocked torch path fell to the speed of a plain per-frame OpenCV script (``benchmarks/fidelity_speed.py``).
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch

from .color import BT601_OFFSET, BT601_STUDIO_WEIGHTS

_STRIP_ROWS = 32  # rows of the SSIM formula per step: ~6 float64 planes of a 1280-wide strip stay in L2


def grey_levels(rgb: np.ndarray) -> np.ndarray:
    """(3, H, W) float in [0, 1] → grey levels, scaled in the input's own dtype (exact on the 8-bit grid for
    float32; see :func:`.color.to_grey_levels`). Not yet float64: the caller widens them as it reads them."""
    return rgb * rgb.dtype.type(255.0)


def luma_bt601(levels: np.ndarray) -> np.ndarray:
    """(3, H, W) grey levels → (H, W) float64 BT.601 studio luma, in one pass: each value is widened to float64
    as the weighted channel sum reads it."""
    weights = np.asarray(BT601_STUDIO_WEIGHTS, dtype=np.float64) / 255.0
    if levels.flags.c_contiguous:  # planar (3, H, W)
        y = np.einsum("c,chw->hw", weights, levels, dtype=np.float64, casting="unsafe")
    else:  # e.g. channels last in memory, as frames decoded from video are: a strided pass per channel
        y = levels[0].astype(np.float64)
        y *= weights[0]
        y += levels[1] * weights[1]
        y += levels[2] * weights[2]
    y += BT601_OFFSET
    return y


def usable(t: torch.Tensor) -> bool:
    """Frames this path takes: CPU, float32 / float64 (what numpy and OpenCV hold without a conversion)."""
    return t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) and not t.requires_grad


def psnr_sse(sr: torch.Tensor, hr: torch.Tensor, luma: bool) -> torch.Tensor:
    """Per-frame sum of squared grey-level errors, float64: (n, 3, H, W) × 2 → (n,); of BT.601 luma when
    ``luma``, else over the three channels."""
    a, b = sr.numpy(), hr.numpy()
    out = np.empty(a.shape[0], np.float64)
    for i in range(a.shape[0]):
        if luma:
            d = luma_bt601(grey_levels(a[i]))
            d -= luma_bt601(grey_levels(b[i]))
        else:
            d = grey_levels(a[i]).astype(np.float64)
            d -= grey_levels(b[i])  # float64 difference of values exact in the input dtype
        flat = d.reshape(-1)
        out[i] = flat @ flat
    return torch.from_numpy(out)


def ssim_sums(sr: torch.Tensor, hr: torch.Tensor, planes: Callable[[torch.Tensor], torch.Tensor] | None,
              taps: list[float], c1: float, c2: float, clamp_cs: bool) -> torch.Tensor:
    """Per-frame sum of the valid SSIM map over its channels: (n, 3, H, W) × 2 → (n,).

    ``planes`` maps (1, 3, H, W) RGB to the (1, C, H, W) float64 planes compared (None: BT.601 studio luma,
    computed here in numpy); ``c1``, ``c2`` are the SSIM stabilisers; ``clamp_cs`` zeroes negative
    contrast-structure terms (pyiqa).
    """
    k = np.asarray(taps, dtype=np.float64)
    out = np.zeros(sr.shape[0], np.float64)
    for i in range(sr.shape[0]):
        if planes is None:
            xs, ys = [luma_bt601(grey_levels(sr[i].numpy()))], [luma_bt601(grey_levels(hr[i].numpy()))]  # (H, W)
        else:
            xs, ys = planes(sr[i:i + 1])[0].numpy(), planes(hr[i:i + 1])[0].numpy()  # (C, H, W) each
        for x, y in zip(xs, ys):
            out[i] += _ssim_plane_sum(x, y, k, c1, c2, clamp_cs)
    return torch.from_numpy(out)


def _filtered(plane: np.ndarray, k: np.ndarray, m: int) -> np.ndarray:
    """The Gaussian-filtered plane, valid region only: (H, W) → (H - 2m, W - 2m) (a view; borders discarded)."""
    return cv2.sepFilter2D(plane, cv2.CV_64F, k, k, borderType=cv2.BORDER_REPLICATE)[m:-m, m:-m]


def _ssim_plane_sum(x: np.ndarray, y: np.ndarray, k: np.ndarray, c1: float, c2: float, clamp_cs: bool) -> float:
    """Sum of the valid SSIM map of two (H, W) float64 planes on the 0–255 scale (stabilisers c1, c2)."""
    m = len(k) // 2
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    mu_x, mu_y = _filtered(x, k, m), _filtered(y, k, m)
    e_sq = _filtered(x * x + y * y, k, m)  # E[x² + y²]: one filter for σx² + σy²
    e_xy = _filtered(x * y, k, m)
    total = 0.0
    rows = mu_x.shape[0]
    for r0 in range(0, rows, _STRIP_ROWS):
        s = slice(r0, min(r0 + _STRIP_ROWS, rows))
        mxy = mu_x[s] * mu_y[s]
        msq = mu_x[s] * mu_x[s]
        msq += mu_y[s] * mu_y[s]                      # μx² + μy²
        cs_num = e_xy[s] - mxy
        cs_num *= 2.0
        cs_num += c2                             # 2σxy + C2
        cs_den = e_sq[s] - msq
        cs_den += c2                             # σx² + σy² + C2
        mxy *= 2.0
        mxy += c1                                # 2μxμy + C1
        msq += c1                                # μx² + μy² + C1
        if clamp_cs:
            cs_num /= cs_den
            np.maximum(cs_num, 0.0, out=cs_num)
            cs_num *= mxy
            cs_num /= msq
        else:
            cs_num *= mxy
            cs_den *= msq
            cs_num /= cs_den
        total += float(cs_num.sum())
    return total
