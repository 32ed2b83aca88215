"""PSNR and SSIM as streaming metrics, with the two published conventions as explicit presets.

Papers disagree by tenths of a dB because PSNR/SSIM conventions differ (``docs/metrics.md`` §2.1). We
implement both and record which one produced a number:

``preset="basicsr"`` (default; the de-facto VSR reference)
    Values on the 0–255 scale in float64. ``color="y"`` (default) is BT.601 studio-swing luma
    ``16 + 65.481 R + 128.553 G + 24.966 B``, unrounded; ``color="rgb"`` uses the three channels. Inputs on
    the 8-bit grid become exact grey levels first (``color.to_grey_levels``), as BasicSR's uint8 reads do.
    PSNR = 10·log10(255² / MSE). SSIM: 11×11 Gaussian, σ = 1.5, C1 = (0.01·255)², C2 = (0.03·255)², the
    "valid" map (5 px trimmed on each side), averaged over the map and over channels.
``preset="pyiqa"``
    Reproduces pyiqa 0.1.x. PSNR defaults to ``color="rgb"`` (pyiqa ``psnr``; ``"y"`` is ``psnry``): float32
    on [0, 1], MSE + 1e-8. SSIM defaults to ``color="y"`` (pyiqa ``ssim``; ``"rgb"`` is ``ssimc``): YIQ luma
    (full range, no offset) scaled to 0–255 and **rounded**, float64, negative contrast-structure terms
    clamped to 0, ``downsample=False``. PSNR matches pyiqa to float32 rounding; SSIM to ~1e-6, because pyiqa
    rounds its Gaussian window to float32 (window sum 1 − 6e-9) and we keep it in float64.

``crop_border`` removes that many pixels from every side before anything else (BasicSR and pyiqa agree).

Identical frames: BasicSR returns ``inf`` and pyiqa a finite value that depends on its epsilon; an ``inf``
poisons every mean it enters. We cap PSNR at ``max_db`` (default 100 dB, recorded): a frame with MSE = 0
scores exactly ``max_db``, and any higher finite value is clipped to it. Under ``preset="basicsr"``
identical frames therefore score 100.0. Under ``preset="pyiqa"`` we keep pyiqa's ``+1e-8`` in the MSE so that
every value agrees with pyiqa; its ceiling is then 10·log10(1e8) = 80 dB, as in pyiqa, and the cap never binds.

Speed: float32/float64 frames on the CPU go through :mod:`.fidelity_cpu` (OpenCV's separable float64 filter,
numpy, frame by frame; equal to the path below to float64 rounding). Other frames (CUDA) are processed in
blocks — several whole frames when they are small, else horizontal strips of one frame (with the 10-row halo
SSIM needs) — sized so that a block's float64 planes stay in cache; the Gaussian is applied as two 1-D passes
of shifted multiply-adds, exact in float64 and device-agnostic.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch

from ..errors import BadInput
from . import fidelity_cpu
from .base import StreamingMetric
from .color import bt601_studio_luma_difference, to_grey_levels, y_bt601_studio, y_yiq_pyiqa

PRESETS = ("basicsr", "pyiqa")
COLORS = ("y", "rgb")

#: SSIM window: an 11-tap Gaussian with σ = 1.5 in each direction (both conventions).
SSIM_TAPS = 11
SSIM_SIGMA = 1.5
_HALO = SSIM_TAPS - 1  # rows/columns lost by the "valid" map
#: SSIM stabilisers for data on the 0–255 scale (both conventions).
SSIM_C1 = (0.01 * 255.0) ** 2
SSIM_C2 = (0.03 * 255.0) ** 2
#: pyiqa adds this to the MSE (on [0, 1]) before dividing.
PYIQA_PSNR_EPS = 1e-8

# Elements of one float64 plane per block. On CPU ~96 Ki elements (≈ 66 rows of a 1280-wide frame) keeps
# the ~15 planes SSIM touches within L2/L3; on accelerators larger blocks only mean fewer kernel launches.
_CPU_BLOCK_ELEMS = 96 * 1024
_DEVICE_BLOCK_ELEMS = 1 << 22


def _block_elems(device: torch.device) -> int:
    return _CPU_BLOCK_ELEMS if device.type == "cpu" else _DEVICE_BLOCK_ELEMS


def _blocks(frames: int, out_rows: int, row_elems: int, halo: int, budget: int,
            min_rows: int = 16) -> Iterator[tuple[int, int, int, int]]:
    """Split (frames × output rows) into blocks ``(f0, f1, r0, r1)`` of about ``budget`` elements each.

    A block covers frames ``[f0, f1)`` and output rows ``[r0, r1)``; it reads input rows ``[r0, r1 + halo)``.
    ``row_elems`` is the number of elements in one input row of one frame (width × channels).
    Whole frames are grouped when one frame fits the budget; otherwise each frame is cut into strips.
    """
    frame_elems = (out_rows + halo) * row_elems
    if frame_elems <= budget:
        step = max(1, budget // frame_elems)
        for f0 in range(0, frames, step):
            yield f0, min(f0 + step, frames), 0, out_rows
        return
    rows = max(min_rows, budget // row_elems - halo)
    for f in range(frames):
        for r0 in range(0, out_rows, rows):
            yield f, f + 1, r0, min(r0 + rows, out_rows)


def gaussian_taps(size: int = SSIM_TAPS, sigma: float = SSIM_SIGMA, *, dtype: torch.dtype = torch.float64,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """The normalised 1-D Gaussian whose outer product is the SSIM window (what cv2.getGaussianKernel gives)."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(x * x) / (2.0 * sigma * sigma))
    return (g / g.sum()).to(dtype=dtype, device=device)


def _filter_valid(maps: torch.Tensor, taps: list[float]) -> torch.Tensor:
    """Separable "valid" correlation with a symmetric odd kernel: (..., h, w) → (..., h - k + 1, w - k + 1).

    Each 1-D pass is a sum of shifted, weighted views (k multiply-adds into one buffer): no im2col, no
    float64 convolution kernel needed, and the same arithmetic on any device. The vertical pass goes first:
    its shifted views are contiguous row ranges, and the horizontal pass then runs on k - 1 fewer rows.
    """
    k = len(taps)
    mid = k // 2

    h = maps.shape[-2] - k + 1
    vert = maps[..., mid:mid + h, :] * taps[mid]  # (..., h_valid, w)
    for i in range(mid):
        vert.add_(maps[..., i:i + h, :], alpha=taps[i]).add_(maps[..., k - 1 - i:k - 1 - i + h, :], alpha=taps[i])

    w = maps.shape[-1] - k + 1
    out = vert[..., mid:mid + w] * taps[mid]  # (..., h_valid, w_valid)
    for i in range(mid):
        out.add_(vert[..., i:i + w], alpha=taps[i]).add_(vert[..., k - 1 - i:k - 1 - i + w], alpha=taps[i])
    return out


def ssim_map_sums(x: torch.Tensor, y: torch.Tensor, taps: list[float], clamp_cs: bool = False) -> torch.Tensor:
    """Per-frame sum of the valid SSIM map: (n, C, h, w) × 2, float64 on the 0–255 scale → (n,).

    Uses four filtered planes (μx, μy, E[x²+y²], E[xy]); σx² + σy² is taken from the filtered sum, which is
    the same quantity as filtering x² and y² separately. ``clamp_cs`` zeroes negative contrast-structure
    terms, as pyiqa does.
    """
    stacked = torch.stack((x, y, x * x + y * y, x * y))  # 4 × (n, C, h, w) -> (4, n, C, h, w)
    mu_x, mu_y, e_sq, e_xy = _filter_valid(stacked, taps)  # each (n, C, h - 10, w - 10)
    mu_xy = mu_x * mu_y
    mu_sq = mu_x * mu_x
    mu_sq.addcmul_(mu_y, mu_y)                       # μx² + μy²
    cs_num = (e_xy - mu_xy).mul_(2.0).add_(SSIM_C2)  # 2σxy + C2
    cs_den = (e_sq - mu_sq).add_(SSIM_C2)            # σx² + σy² + C2
    lum_num = mu_xy.mul_(2.0).add_(SSIM_C1)          # 2μxμy + C1
    lum_den = mu_sq.add_(SSIM_C1)                    # μx² + μy² + C1
    if clamp_cs:
        ssim = cs_num.div_(cs_den).clamp_(min=0.0).mul_(lum_num).div_(lum_den)
    else:
        ssim = cs_num.mul_(lum_num).div_(cs_den.mul_(lum_den))
    return ssim.sum(dim=(1, 2, 3))


class _Fidelity(StreamingMetric):
    """Shared parameter handling and input checks of :class:`PSNR` and :class:`SSIM`."""

    mode: ClassVar[str] = "FR"
    higher_is_better: ClassVar[bool] = True
    _default_color: ClassVar[dict[str, str]] = {}
    _min_size: ClassVar[int] = 1  # smallest frame side (after cropping) the metric is defined on
    param_limits: ClassVar[dict[str, str]] = {"crop_border": ">= 0"}

    def __init__(self, preset: str = "basicsr", color: str | None = None, crop_border: int = 0,
                 window: int = 100, **params: Any):
        preset = str(preset).lower()
        if preset not in PRESETS:
            raise BadInput(f"{self.name}: unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
        color = self._default_color[preset] if color is None else str(color).lower()
        if color not in COLORS:
            raise BadInput(f"{self.name}: unknown color {color!r} (choose from {', '.join(COLORS)})")
        if isinstance(crop_border, bool) or not isinstance(crop_border, int) or crop_border < 0:
            raise BadInput(f"{self.name}: crop_border must be an integer >= 0, got {crop_border!r}")
        super().__init__(window=window, preset=preset, color=color, crop_border=crop_border, **params)
        self.preset, self.color, self.crop_border = preset, color, crop_border
        self._workspace = fidelity_cpu.Workspace()  # the CPU path's planes, reused from frame to frame

    def check_frame_size(self, height: int, width: int) -> None:
        c = self.crop_border
        h, w = height - 2 * c, width - 2 * c
        if min(h, w) < self._min_size:
            raise BadInput(f"{self.name}: crop_border={c} leaves {max(h, 0)}x{max(w, 0)} of a {height}x{width} "
                           f"frame; needs at least {self._min_size}x{self._min_size}")

    def _prepare(self, sr: torch.Tensor, hr: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Check a chunk and return both inputs with the border cropped (views, no copy)."""
        if hr is None:
            raise BadInput(f"{self.name} needs the HR reference")
        if sr.dim() != 4 or sr.shape[1] != 3:
            raise BadInput(f"{self.name}: expected frames shaped (T, 3, H, W), got {tuple(sr.shape)}")
        if sr.shape != hr.shape:
            raise BadInput(f"{self.name}: output {tuple(sr.shape)} and reference {tuple(hr.shape)} differ")
        if not (sr.is_floating_point() and hr.is_floating_point()):
            raise BadInput(f"{self.name}: expected float frames in [0, 1], got {sr.dtype} and {hr.dtype}")
        self.check_frame_size(sr.shape[-2], sr.shape[-1])
        c = self.crop_border
        h, w = sr.shape[-2] - 2 * c, sr.shape[-1] - 2 * c
        if c:
            sr = sr[..., c:c + h, c:c + w]  # (T, 3, H, W) -> (T, 3, H - 2c, W - 2c)
            hr = hr[..., c:c + h, c:c + w]
        return sr, hr


class PSNR(_Fidelity):
    """Peak signal-to-noise ratio per frame, in dB, capped at ``max_db`` (see the module docstring).

    Parameters: ``preset`` (basicsr | pyiqa), ``color`` (y | rgb; default y for basicsr, rgb for pyiqa),
    ``crop_border`` (pixels removed per side), ``max_db`` (the value of identical frames and the ceiling).
    """

    name: ClassVar[str] = "psnr"
    version: ClassVar[str] = "1"
    unit: ClassVar[str] = "dB"
    param_limits: ClassVar[dict[str, str]] = {"max_db": "> 0"}
    _default_color: ClassVar[dict[str, str]] = {"basicsr": "y", "pyiqa": "rgb"}

    def __init__(self, preset: str = "basicsr", color: str | None = None, crop_border: int = 0,
                 max_db: float = 100.0, window: int = 100):
        if isinstance(max_db, bool) or not isinstance(max_db, (int, float)) or not 0 < max_db < math.inf:
            raise BadInput(f"psnr: max_db must be a positive finite number, got {max_db!r}")
        super().__init__(preset=preset, color=color, crop_border=crop_border, window=window,
                         max_db=float(max_db))
        self.max_db = float(max_db)

    @torch.no_grad()
    def frame_values(self, sr: torch.Tensor, hr: torch.Tensor | None) -> torch.Tensor:
        sr, hr = self._prepare(sr, hr)
        if self.preset == "pyiqa":
            db = self._pyiqa_db(sr, hr)
        else:
            db = self._basicsr_db(sr, hr)
        return db.clamp_(max=self.max_db)

    def _basicsr_db(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """Float64 on the 0–255 scale; the squared error is summed block by block to stay in cache.

        For frames on the 8-bit grid the grey-level differences are exact integers (RGB) and the MSE is
        exact up to float64 summation.
        """
        t, _, h, w = sr.shape
        if fidelity_cpu.usable(sr) and fidelity_cpu.usable(hr):
            sse = fidelity_cpu.psnr_sse(sr, hr, self.color == "y", self._workspace)
        else:
            sse = self._blocked_sse(sr, hr)
        count = (1 if self.color == "y" else 3) * h * w
        mse = sse / count
        db = 10.0 * torch.log10((255.0 * 255.0) / mse)
        return torch.where(mse > 0, db, torch.full_like(db, self.max_db))

    def _blocked_sse(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """Per-frame squared error on any device, block by block (the torch path)."""
        t, _, h, w = sr.shape
        sse = torch.zeros(t, dtype=torch.float64, device=sr.device)
        for f0, f1, r0, r1 in _blocks(t, h, 3 * w, 0, _block_elems(sr.device)):
            diff = to_grey_levels(sr[f0:f1, :, r0:r1]).sub_(to_grey_levels(hr[f0:f1, :, r0:r1]))  # (n, 3, rows, W)
            if self.color == "y":
                diff = bt601_studio_luma_difference(diff)  # (n, 3, rows, W) -> (n, 1, rows, W)
            sse[f0:f1] += diff.flatten(1).pow(2).sum(1)  # (n, C, rows, W) -> (n,)
        return sse

    def _pyiqa_db(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """pyiqa's arithmetic, in the input dtype on [0, 1], one group of whole frames at a time."""
        t, _, h, w = sr.shape
        out = []
        for f0, f1, _, _ in _blocks(t, h, 3 * w, 0, max(_block_elems(sr.device), 3 * h * w)):
            x, y = sr[f0:f1], hr[f0:f1]
            if self.color == "y":
                x, y = y_yiq_pyiqa(x), y_yiq_pyiqa(y)  # (n, 3, H, W) -> (n, 1, H, W)
            mse = torch.mean((x - y) ** 2, dim=[1, 2, 3])
            out.append(10 * torch.log10(1.0 / (mse + PYIQA_PSNR_EPS)))
        return torch.cat(out).to(torch.float64) if out else sr.new_zeros(0, dtype=torch.float64)


class SSIM(_Fidelity):
    """Structural similarity per frame (see the module docstring for the two conventions).

    Parameters: ``preset`` (basicsr | pyiqa), ``color`` (y | rgb; default y for both), ``crop_border``.
    Frames must be at least 11×11 after cropping (the valid map is empty otherwise).
    """

    name: ClassVar[str] = "ssim"
    version: ClassVar[str] = "1"
    unit: ClassVar[str] = ""
    _default_color: ClassVar[dict[str, str]] = {"basicsr": "y", "pyiqa": "y"}
    _min_size: ClassVar[int] = SSIM_TAPS

    def __init__(self, preset: str = "basicsr", color: str | None = None, crop_border: int = 0,
                 window: int = 100):
        super().__init__(preset=preset, color=color, crop_border=crop_border, window=window)
        self._taps = gaussian_taps().tolist()
        self._planes = self._plane_function()

    def _plane_function(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """RGB (n, 3, h, w) in [0, 1] → the float64 planes SSIM compares, (n, C, h, w) on the 0–255 scale."""
        if self.preset == "basicsr":
            return y_bt601_studio if self.color == "y" else to_grey_levels
        if self.color == "y":
            return lambda rgb: y_yiq_pyiqa(rgb, 255.0, round_to_grid=True).to(torch.float64)
        return lambda rgb: (rgb * 255.0).round_().to(torch.float64)  # pyiqa ``ssimc``: rounded RGB

    @torch.no_grad()
    def frame_values(self, sr: torch.Tensor, hr: torch.Tensor | None) -> torch.Tensor:
        sr, hr = self._prepare(sr, hr)
        t, _, h, w = sr.shape
        channels = 1 if self.color == "y" else 3
        out_h, out_w = h - _HALO, w - _HALO
        clamp_cs = self.preset == "pyiqa"
        if fidelity_cpu.usable(sr) and fidelity_cpu.usable(hr):  # OpenCV's separable filter, frame by frame
            planes = None if (self.preset, self.color) == ("basicsr", "y") else self._planes
            sums = fidelity_cpu.ssim_sums(sr, hr, planes, self._taps, SSIM_C1, SSIM_C2, clamp_cs, self._workspace)
            return sums / (channels * out_h * out_w)
        sums = torch.zeros(t, dtype=torch.float64, device=sr.device)
        for f0, f1, r0, r1 in _blocks(t, out_h, channels * w, _HALO, _block_elems(sr.device)):
            x = self._planes(sr[f0:f1, :, r0:r1 + _HALO])  # (n, 3, rows + 10, W) -> (n, C, rows + 10, W)
            y = self._planes(hr[f0:f1, :, r0:r1 + _HALO])
            sums[f0:f1] += ssim_map_sums(x, y, self._taps, clamp_cs)
        return sums / (channels * out_h * out_w)
