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

_STRIP_ROWS = 32  # rows of the SSIM formula per step: its few float64 strips of a 1280-wide frame stay in L2
_WEIGHTS = np.asarray(BT601_STUDIO_WEIGHTS, dtype=np.float64) / 255.0  # on grey levels


class Workspace:
    """Arrays reused from frame to frame, one set per metric object (a few planes of the frame size).

    Fresh frame-sized arrays for every frame cost more than the arithmetic: each is new memory from the system,
    faulted in page by page. Reusing them keeps the work in the passes themselves.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
        a = self._arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self._arrays[name] = np.empty(shape, dtype)
        return a


def luma_bt601(rgb: np.ndarray, ws: Workspace, name: str) -> np.ndarray:
    """(3, H, W) float in [0, 1] → (H, W) float64 BT.601 studio luma on the 0–255 scale (workspace ``name``).

    Grey levels are scaled in the input's own dtype first (exact on the 8-bit grid; see
    :func:`.color.to_grey_levels`), then widened to float64 as the weighted channel sum reads them.
    """
    levels = ws.get("levels", rgb.shape, rgb.dtype.type)  # (3, H, W), planar whatever the input's layout
    np.multiply(rgb, rgb.dtype.type(255.0), out=levels)
    y = ws.get(name, rgb.shape[1:])
    np.einsum("c,chw->hw", _WEIGHTS, levels, out=y, dtype=np.float64, casting="unsafe")
    y += BT601_OFFSET
    return y


def usable(t: torch.Tensor) -> bool:
    """Frames this path takes: CPU, float32 / float64 (what numpy and OpenCV hold without a conversion)."""
    return t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) and not t.requires_grad


def psnr_sse(sr: torch.Tensor, hr: torch.Tensor, luma: bool, ws: Workspace) -> torch.Tensor:
    """Per-frame sum of squared grey-level errors, float64: (n, 3, H, W) × 2 → (n,); of BT.601 luma when
    ``luma``, else over the three channels."""
    a, b = sr.numpy(), hr.numpy()
    out = np.empty(a.shape[0], np.float64)
    for i in range(a.shape[0]):
        if luma:
            d = luma_bt601(a[i], ws, "x")
            d -= luma_bt601(b[i], ws, "y")  # the +16 cancels
        else:
            d = ws.get("x", a[i].shape)
            np.multiply(a[i], a.dtype.type(255.0), out=d, dtype=a.dtype, casting="unsafe")
            e = ws.get("y", b[i].shape)
            np.multiply(b[i], b.dtype.type(255.0), out=e, dtype=b.dtype, casting="unsafe")
            d -= e  # float64 difference of grey levels scaled in the input dtype
        flat = d.reshape(-1)
        out[i] = flat @ flat
    return torch.from_numpy(out)


def ssim_sums(sr: torch.Tensor, hr: torch.Tensor, planes: Callable[[torch.Tensor], torch.Tensor] | None,
              taps: list[float], c1: float, c2: float, clamp_cs: bool, ws: Workspace) -> torch.Tensor:
    """Per-frame sum of the valid SSIM map over its channels: (n, 3, H, W) × 2 → (n,).

    ``planes`` maps (1, 3, H, W) RGB to the (1, C, H, W) float64 planes compared (None: BT.601 studio luma,
    computed here in numpy); ``c1``, ``c2`` are the SSIM stabilisers; ``clamp_cs`` zeroes negative
    contrast-structure terms (pyiqa).
    """
    k = np.asarray(taps, dtype=np.float64)
    out = np.zeros(sr.shape[0], np.float64)
    for i in range(sr.shape[0]):
        if planes is None:
            xs, ys = [luma_bt601(sr[i].numpy(), ws, "x")], [luma_bt601(hr[i].numpy(), ws, "y")]  # (H, W)
        else:
            xs, ys = planes(sr[i:i + 1])[0].numpy(), planes(hr[i:i + 1])[0].numpy()  # (C, H, W) each
        for x, y in zip(xs, ys):
            out[i] += _ssim_plane_sum(np.ascontiguousarray(x), np.ascontiguousarray(y), k, c1, c2, clamp_cs, ws)
    return torch.from_numpy(out)


def _ssim_plane_sum(x: np.ndarray, y: np.ndarray, k: np.ndarray, c1: float, c2: float, clamp_cs: bool,
                    ws: Workspace) -> float:
    """Sum of the valid SSIM map of two (H, W) float64 planes on the 0–255 scale (stabilisers c1, c2)."""
    m = len(k) // 2

    def filtered(plane: np.ndarray, name: str) -> np.ndarray:  # (H, W) -> valid (H - 2m, W - 2m), a view
        dst = ws.get(name, plane.shape)
        cv2.sepFilter2D(plane, cv2.CV_64F, k, k, dst=dst, borderType=cv2.BORDER_REPLICATE)
        return dst[m:-m, m:-m]

    mu_x, mu_y = filtered(x, "mu_x"), filtered(y, "mu_y")
    prod = ws.get("prod", x.shape)
    np.multiply(x, y, out=prod)
    e_xy = filtered(prod, "e_xy")
    np.multiply(x, x, out=prod)
    prod += y * y
    e_sq = filtered(prod, "e_sq")  # E[x² + y²]: one filter for σx² + σy²
    rows, cols = mu_x.shape
    total = 0.0
    for r0 in range(0, rows, _STRIP_ROWS):
        s = slice(r0, min(r0 + _STRIP_ROWS, rows))
        n = s.stop - r0
        mxy, msq, num, den = (ws.get(f"strip{j}", (_STRIP_ROWS, cols))[:n] for j in range(4))
        np.multiply(mu_x[s], mu_y[s], out=mxy)
        np.multiply(mu_x[s], mu_x[s], out=msq)
        np.multiply(mu_y[s], mu_y[s], out=den)
        msq += den                               # μx² + μy²
        np.subtract(e_xy[s], mxy, out=num)
        num *= 2.0
        num += c2                                # 2σxy + C2
        np.subtract(e_sq[s], msq, out=den)
        den += c2                                # σx² + σy² + C2
        mxy *= 2.0
        mxy += c1                                # 2μxμy + C1
        msq += c1                                # μx² + μy² + C1
        if clamp_cs:
            num /= den
            np.maximum(num, 0.0, out=num)
            num *= mxy
            num /= msq
        else:
            num *= mxy
            den *= msq
            num /= den
        total += float(num.sum())
    return total
