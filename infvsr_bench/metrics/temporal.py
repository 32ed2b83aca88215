"""Temporal-consistency metrics: flow-warping error (three flow sources), tOF and VBench flickering.

Every metric here scores **pairs of consecutive frames**. Conventions shared by all five:

* **Where a value is reported.** The pair (t−1, t) is reported at the later frame t. Frame 0 of a clip has
  no pair and is NaN, so a clip of T frames has at most T−1 defined values (the clip mean is the mean over
  pairs, as in every published recipe).
* **Scene cuts.** A cut at frame c (``c in meta["scene_cuts"]``: c starts a new scene) makes the pair
  (c−1, c) NaN: a cut is an edit, not a temporal inconsistency of the method. ``skip_cuts=False`` scores
  those pairs too. Recorded as ``params["scene_cuts"]`` ("nan" or "scored").
* **Streaming.** Each metric carries what it needs of the last frame of the previous chunk (the resized
  RGB frame, a uint8 grayscale plane, ...), cloned so that it never pins the whole chunk: state is one frame
  whatever the video length, and splitting a video into chunks changes no value (tested).

The metrics (``docs/metrics.md`` §2.3):

``ewarp-dis`` — flow-warping error of the output video, EvalCrafter "E*warp" recipe with OpenCV DIS flow
    1. each output frame (8-bit levels) is resized bilinearly by ``resize`` (0.5: each pixel the exact mean
       of a 2×2 block) and scaled to [0, 1];
    2. forward (t−1 → t) and backward (t → t−1) DIS flows on the resized frames' BT.601 luma, uint8 (the
       resized levels rounded half up: the same image as ``cv2.resize(frame, fx=0.5, INTER_LINEAR)``);
    3. the Lai et al. occlusion mask on frame t−1's grid (:func:`flow.lai_occlusion`);
    4. frame t is warped back onto t−1 with the forward flow (bilinear, border clamp);
    5. E = Σ over non-occluded pixels of the squared RGB difference summed over the 3 channels (values in
       [0, 1]) / the number of non-occluded pixels; reported ×1000 (``scale``). A pair with every pixel
       occluded is NaN (undefined, not 0).
``ewarp-raft`` — the same with torchvision RAFT (raft_large, 20 iterations), the flow of the published
    recipe. Needs the ``raft_large`` weight file; ``pretrained=False`` runs with random weights, which is
    for plumbing tests and speed only (``params["random_weights"]``).
``ewarp-raft:preset=evalcrafter`` — the numbers of EvalCrafter's ``compute_video_warping_error`` (which DOVE's
    ``ewarp.py`` and so the InfVSR/DOVE tables follow, ×1000), quirks included: each frame is divided by 255,
    resized by 0.5 (bilinear, no antialias), replicate-padded to a multiple of 8 (InputPadder, split evenly)
    and handed to RAFT, whose wrapper divides by 255 **again** (RAFT sees ``2·x/255 − 1`` for x in [0, 1],
    i.e. inputs near −1); the padding is **never removed**: flows, mask, warp and error are all on the padded
    grid; a pair whose pixels are all occluded scores **0** (EvalCrafter divides the zero sum by the element
    count), not NaN; the clip value is the mean over pairs, ×1000. The weights are ``raft-things.pth``, whose
    torchvision port is ``Raft_Large_Weights.C_T_V1`` (the ``raft_large`` weight file). ``preset=suite``
    (default) is the recipe above without the quirks.
``ewarp-ref`` — Lai et al.'s original E_warp: flow and occlusion mask from the **reference** (HR) video
    (DIS), applied to the output. Full-reference. Default ``resize=1.0`` (the original works at the
    video's resolution).
``tof`` — TecoGAN tOF: mean over pixels of ‖OF(out_{t−1}, out_t) − OF(gt_{t−1}, gt_t)‖₂, OpenCV Farnebäck
    on uint8 luma with TecoGAN's parameters. By default as TecoGAN's ``metrics.py`` scores it: the flows
    are centre-cropped (``crop="tecogan"``) and 2 frames are dropped at each end of a clip
    (``skip_ends=2``); ``crop="none"``/``skip_ends=0`` score the whole frame and every pair. Both are
    recorded in the parameters (on real clips the crop alone moves tOF by 5–12 %).
``flicker`` — VBench temporal flickering: (255 − MAE(frame_{t−1}, frame_t)) / 255 on uint8 RGB, all three
    channels, native resolution. VBench's video score (255 − mean MAE)/255 equals the mean of these values.
    (VBench scores only videos that pass a static-camera filter; we score every clip.)

The warping metrics and tOF are "lower is better"; flicker is "higher is better" (1.0 = identical frames).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import BadInput
from ..video_io import to_uint8
from .base import StreamingMetric
from .flow import (
    FARNEBACK_PARAMS,
    FB_ABS,
    FB_REL,
    MB_ABS,
    MB_REL,
    OCCLUSION_RECIPE,
    DISFlow,
    RAFTFlow,
    downscale,
    farneback,
    flow_gradient_sq,
    grey_levels,
    luma_u8,
    rgb_to_gray,
    sampling_grid,
)

PAIR_CONVENTION = "pair (t-1, t) reported at t; frame 0 of a clip is NaN"
RESIZE_MODE = "bilinear, align_corners=False, no antialias (0.5: mean of 2x2 blocks)"
GRAY_INPUT = "resized 8-bit RGB rounded half up to uint8 (= cv2.resize INTER_LINEAR), cv2 RGB2GRAY (BT.601 luma)"
EWARP_ERROR = ("sum over RGB of squared differences of [0,1] values, summed over non-occluded pixels, "
               "divided by the non-occluded pixel count (H x W grid of the flow)")
EWARP_SCALE = 1000.0
CROPS = ("tecogan", "none")  # tOF / tLP: TecoGAN's centre crop, or the whole frame
MIN_FLOW_SIDE = 16  # smallest frame side (where the flow is computed) we accept for OpenCV flow
_BLOCK_ELEMS = 1 << 21  # values per block of frames converted together (8 MB of float32; see _represent_blocks)


# -- helpers ----------------------------------------------------------------------------------------------
def _cat(carry: Any, chunk: Any) -> Any:
    """Concatenate the carried frame (leading dim 1) and a chunk's frames along the frame axis."""
    if isinstance(chunk, torch.Tensor):
        return torch.cat((carry, chunk))
    return np.concatenate((carry, chunk))


def _last(x: Any) -> Any:
    """The last frame as an owning copy (a view would keep the whole chunk alive)."""
    return x[-1:].clone() if isinstance(x, torch.Tensor) else x[-1:].copy()


def _luma_native(frames: torch.Tensor) -> np.ndarray:
    """(T, 3, H, W) [0, 1] → (T, H, W) uint8 luma at the frames' own resolution: RGB rounded to uint8, then
    cv2 RGB2GRAY (equal to ``luma_u8(grey_levels(frames))``, with fewer passes over the frames)."""
    return rgb_to_gray(to_uint8(frames))  # (T, 3, H, W) -> (T, H, W, 3) uint8 -> (T, H, W)


def _check_frames(name: str, frames: torch.Tensor) -> None:
    if frames.dim() != 4 or frames.shape[1] != 3:
        raise BadInput(f"{name}: expected frames shaped (T, 3, H, W), got {tuple(frames.shape)}")
    if not frames.is_floating_point():
        raise BadInput(f"{name}: expected float frames in [0, 1], got {frames.dtype}")


def _check_side(name: str, frames: torch.Tensor, minimum: int = MIN_FLOW_SIDE) -> None:
    _check_size(name, *frames.shape[-2:], minimum)


def _check_size(name: str, h: int, w: int, minimum: int = MIN_FLOW_SIDE) -> None:
    if min(h, w) < minimum:
        raise BadInput(f"{name}: frames are {h}x{w} where the flow is computed; need at least "
                       f"{minimum}x{minimum}")


def _check_resize(name: str, resize: Any) -> float:
    if isinstance(resize, bool) or not isinstance(resize, (int, float)) or not 0.0 < float(resize) <= 1.0:
        raise BadInput(f"{name}: resize must be a number in (0, 1], got {resize!r}")
    return float(resize)


def check_skip_ends(name: str, skip_ends: Any) -> int:
    """``skip_ends`` (frames dropped at each end of a clip) validated: an integer >= 0."""
    if isinstance(skip_ends, bool) or not isinstance(skip_ends, int) or skip_ends < 0:
        raise BadInput(f"{name}: skip_ends must be an integer >= 0, got {skip_ends!r}")
    return skip_ends


def check_crop(name: str, crop: Any) -> str:
    """``crop`` validated: "tecogan" (TecoGAN's centre crop, :func:`tecogan_crop_box`) or "none"."""
    crop = str(crop).lower()
    if crop not in CROPS:
        raise BadInput(f"{name}: unknown crop {crop!r} (choose from {', '.join(CROPS)})")
    return crop


def inside_ends(name: str, t: int, skip_ends: int, meta: dict[str, Any]) -> bool:
    """Whether both frames of the pair (t−1, t) are kept when ``skip_ends`` frames are dropped at each end of
    the clip (TecoGAN's tOF/tLP convention; needs ``meta["frames"]``)."""
    if not skip_ends:
        return True
    total = meta.get("frames")
    if total is None:
        raise BadInput(f"{name}: skip_ends needs the clip length (meta['frames'] via start())")
    return t - 1 >= skip_ends and t <= int(total) - 1 - skip_ends


def warp_error(a: torch.Tensor, b: torch.Tensor, fw: torch.Tensor, bw: torch.Tensor,
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Lai et al.'s masked warping error of N pairs (a, b), unscaled, and each pair's occluded fraction.

    ``a``, ``b``: (N, 3, H, W) RGB in [0, 1]; ``fw``: flows a → b, ``bw``: flows b → a, (N, 2, H, W). Returns
    (E, occluded) as (N,) float64: ``E = Σ_x M(x) Σ_c (a − warp(b, fw))² / Σ_x M(x)`` with M = not occluded
    (:func:`flow.lai_occlusion`); NaN where every pixel is occluded.

    Fused for speed, one pair at a time (its planes stay in cache): b and the backward flow are warped
    with one shared sampling grid, and the mask terms are built in place. Tested equal to the composition
    of :func:`flow.warp` and :func:`flow.lai_occlusion`.
    """
    n, _, h, w = a.shape
    err = torch.empty(n, dtype=torch.float64)
    occluded = torch.empty(n, dtype=torch.float64)
    for k in range(n):
        f = fw[k]  # (2, H, W)
        grid = sampling_grid(fw[k:k + 1])  # (1, H, W, 2)
        src = torch.cat((bw[k], b[k])).unsqueeze(0).to(grid.dtype)  # (2 + 3, H, W) -> (1, 5, H, W)
        s = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=True)[0]
        bx, by, b_on_a = s[0], s[1], s[2:]  # backward flow and b, both sampled at x + fw(x)
        fx, fy = f[0], f[1]
        f_sq = (fx * fx).addcmul_(fy, fy)  # |wf|²
        b_sq = (bx * bx).addcmul_(by, by)  # |ŵb|²
        rx, ry = fx + bx, fy + by
        residual = rx.mul_(rx).addcmul_(ry, ry)  # |wf + ŵb|²
        occ = residual > b_sq.add_(f_sq).mul_(FB_REL).add_(FB_ABS)
        occ |= flow_gradient_sq(fw[k:k + 1])[0] > f_sq.mul_(MB_REL).add_(MB_ABS)
        diff = a[k] - b_on_a  # (3, H, W)
        sq = diff.mul_(diff).sum(0)  # (H, W): squared RGB difference summed over channels
        kept = h * w - int(occ.sum())
        total = float(sq.masked_fill_(occ, 0.0).sum(dtype=torch.float64))
        err[k] = total / kept if kept else math.nan
        occluded[k] = 1.0 - kept / (h * w)
    return err, occluded


def tecogan_crop_box(h: int, w: int, name: str = "tof") -> tuple[int, int, int, int]:
    """TecoGAN's centre crop (its ``crop_8x8``) of a frame or flow field, as (y0, y1, x0, x1).

    Each side is cut to the largest multiple of 32 that leaves a margin of at least 16 pixels in total, and
    the kept block is centred (the margin's odd pixel goes to the far side)."""
    def side(n: int) -> int:
        k = (n // 32) * 32
        while k > n - 16:
            k -= 32
        return k

    ch, cw = side(h), side(w)
    if ch <= 0 or cw <= 0:
        raise BadInput(f"{name}: crop='tecogan' leaves nothing of a {h}x{w} frame (needs at least 48x48)")
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return y0, y0 + ch, x0, x0 + cw


# -- the pairwise streaming skeleton ----------------------------------------------------------------------
class _PairMetric(StreamingMetric):
    """A metric of consecutive-frame pairs with a one-frame carry (see the module docstring).

    Subclasses implement :meth:`_represent` (a chunk → a tuple of per-frame arrays, leading axis = frames;
    the carry is the last entry of each) and :meth:`_pair_values` (values of the pairs ``(i[k], j[k])`` of
    those arrays, with the carried frame prepended).
    """

    context: ClassVar[int] = 1

    def __init__(self, skip_cuts: bool = True, window: int = 100, **params: Any):
        if not isinstance(skip_cuts, bool):
            raise BadInput(f"{self.name}: skip_cuts must be true or false, got {skip_cuts!r}")
        self.skip_cuts = skip_cuts
        super().__init__(window=window, pairs=PAIR_CONVENTION, scene_cuts="nan" if skip_cuts else "scored",
                         **params)

    # -- hooks --------------------------------------------------------------------------------------
    def _represent(self, sr: torch.Tensor, hr: torch.Tensor | None) -> tuple[Any, ...]:
        raise NotImplementedError

    def _pair_values(self, rep: tuple[Any, ...], i: list[int], j: list[int]) -> torch.Tensor:
        raise NotImplementedError

    def _represent_blocks(self, sr: torch.Tensor, hr: torch.Tensor | None) -> tuple[Any, ...]:
        """:meth:`_represent` over groups of whole frames of at most ``_BLOCK_ELEMS`` values, concatenated.

        Why: the float temporaries of a whole 960×540 chunk are tens of MB; fresh allocations that large
        are new pages every time (the kernel zero-fills them), which cost more than the arithmetic. Blocks of
        a few MB are recycled by the allocator and stay in cache. Values do not change: every step is per
        frame."""
        per = max(1, _BLOCK_ELEMS // max(1, sr[0].numel()))
        if sr.device.type != "cpu" or sr.shape[0] <= per:
            return self._represent(sr, hr)
        parts = [self._represent(sr[i:i + per], None if hr is None else hr[i:i + per])
                 for i in range(0, sr.shape[0], per)]
        return tuple(torch.cat(p) if isinstance(p[0], torch.Tensor) else np.concatenate(p) for p in zip(*parts))

    def _scored(self, t: int) -> bool:
        """Whether the pair (t−1, t) gets a value (t ≥ 1)."""
        return not (self.skip_cuts and t in self._cuts)

    # -- StreamingMetric ----------------------------------------------------------------------------
    def reset(self) -> None:
        self._cuts: frozenset[int] = frozenset()
        super().reset()

    def reset_carry(self) -> None:
        self._carry: tuple[Any, ...] | None = None

    def start(self, meta: dict[str, Any]) -> None:
        super().start(meta)
        self._cuts = frozenset(int(c) for c in (meta.get("scene_cuts") or ()))

    @torch.no_grad()
    def frame_values(self, sr: torch.Tensor, hr: torch.Tensor | None) -> torch.Tensor:
        _check_frames(self.name, sr)
        n = sr.shape[0]
        out = torch.full((n,), math.nan, dtype=torch.float64)
        if n == 0:
            return out
        rep = self._represent_blocks(sr, hr)
        if self._carry is None:
            full, offset = rep, 0
        else:  # prepend the previous chunk's last frame: its pair with this chunk's first frame is scored here
            if self._carry[0].shape[1:] != rep[0].shape[1:]:
                raise BadInput(f"{self.name}: frame size changed within a clip "
                               f"({tuple(self._carry[0].shape[1:])} -> {tuple(rep[0].shape[1:])})")
            full, offset = tuple(_cat(c, r) for c, r in zip(self._carry, rep)), 1
        first = self.frames - offset  # clip frame index of full[0]
        later = [k for k in range(1, n + offset) if self._scored(first + k)]  # pairs (k-1, k) of ``full``
        if later:
            values = self._pair_values(full, [k - 1 for k in later], later)
            out[torch.tensor(later) - offset] = values.detach().to("cpu", torch.float64)
        self._carry = tuple(_last(x) for x in rep)
        return out


# -- flow-warping error -----------------------------------------------------------------------------------
class _Ewarp(_PairMetric):
    """Shared parameters, scoring and diagnostics of the three warping-error metrics."""

    param_limits: ClassVar[dict[str, str]] = {"resize": "> 0, <= 1"}
    higher_is_better: ClassVar[bool] = False
    unit: ClassVar[str] = "x1e3"

    def __init__(self, resize: float, flow_source: str, skip_cuts: bool, window: int, **flow_params: Any):
        self.resize = _check_resize(self.name, resize)
        super().__init__(skip_cuts=skip_cuts, window=window, flow_source=flow_source, resize=self.resize,
                         resize_mode=RESIZE_MODE, mask=OCCLUSION_RECIPE,
                         warp="backward, bilinear, sample positions clamped to the frame",
                         error=EWARP_ERROR, all_occluded="nan", scale=EWARP_SCALE, **flow_params)

    def reset(self) -> None:
        self._occ_sum = 0.0
        self._occ_pairs = 0
        super().reset()

    def _score(self, a: torch.Tensor, b: torch.Tensor, fw: torch.Tensor, bw: torch.Tensor) -> torch.Tensor:
        err, occluded = warp_error(a, b, fw, bw)
        self._occ_sum += float(occluded.sum())
        self._occ_pairs += int(occluded.numel())
        return err * EWARP_SCALE

    def extra(self) -> dict[str, Any]:
        """``occluded_fraction``: mean share of pixels the mask excluded (a warping error that ignores most
        of the frame says little)."""
        return {"occluded_fraction": self._occ_sum / self._occ_pairs if self._occ_pairs else math.nan}


class _EwarpDISBase(_Ewarp):
    """The two DIS-flow warping errors: :meth:`_represent` gives (scored RGB in [0, 1], uint8 luma the flow
    and mask come from); they differ only in whose luma that is (the output's or the reference's)."""

    def __init__(self, preset: str, resize: float, flow_source: str, skip_cuts: bool, window: int):
        self._flow = DISFlow(preset)
        super().__init__(resize, flow_source, skip_cuts, window, flow_input=GRAY_INPUT, **self._flow.describe())

    def _pair_values(self, rep: tuple[Any, ...], i: list[int], j: list[int]) -> torch.Tensor:
        rgb, gray = rep
        fw, bw = self._flow.bidirectional(gray[i], gray[j])
        return self._score(rgb[i], rgb[j], fw, bw)


class EwarpDIS(_EwarpDISBase):
    """Flow-warping error ×1000 of the output video with OpenCV DIS flow (EvalCrafter E*warp recipe).

    Parameters: ``preset`` (DIS preset: ultrafast | fast | medium), ``resize`` (default 0.5, the recipe's),
    ``skip_cuts`` (NaN at scene cuts, default true). No reference and no weights needed.
    """

    name: ClassVar[str] = "ewarp-dis"
    version: ClassVar[str] = "1"
    mode: ClassVar[str] = "NR"

    def __init__(self, preset: str = "medium", resize: float = 0.5, skip_cuts: bool = True, window: int = 100):
        super().__init__(preset, resize, "output", skip_cuts, window)

    def _represent(self, sr: torch.Tensor, hr: torch.Tensor | None) -> tuple[Any, ...]:
        levels = downscale(grey_levels(sr), self.resize)  # (T, 3, H, W) -> (T, 3, h, w), 0-255 scale
        _check_side(self.name, levels)
        gray = luma_u8(levels)  # (T, h, w) uint8
        return levels.div_(255.0), gray  # (T, 3, h, w) float in [0, 1], (T, h, w) uint8


class EwarpRef(_EwarpDISBase):
    """Warping error ×1000 of the output with flow and occlusion mask from the reference video (Lai et al.).

    The flow of the HR pair (t−1, t) says how the content really moved; the output's frame t is warped back
    with it and compared with the output's frame t−1 over the pixels the HR mask keeps. An output that
    flickers or swims where the reference does not scores high; a method cannot lower it by blurring its own
    motion estimate away. Parameters: ``preset`` (DIS), ``resize`` (default 1.0), ``skip_cuts``.
    """

    name: ClassVar[str] = "ewarp-ref"
    version: ClassVar[str] = "1"
    mode: ClassVar[str] = "FR"

    def __init__(self, preset: str = "medium", resize: float = 1.0, skip_cuts: bool = True, window: int = 100):
        super().__init__(preset, resize, "reference", skip_cuts, window)

    def _represent(self, sr: torch.Tensor, hr: torch.Tensor | None) -> tuple[Any, ...]:
        if hr is None:
            raise BadInput(f"{self.name} needs the HR reference")
        out = downscale(grey_levels(sr), self.resize).div_(255.0)  # (T, 3, h, w): the output, scored
        ref = downscale(grey_levels(hr), self.resize)  # (T, 3, h, w), 0-255: the reference, flow and mask only
        _check_side(self.name, out)
        return out, luma_u8(ref)


class EwarpRAFT(_Ewarp):
    """Flow-warping error ×1000 of the output video with torchvision RAFT (the published E*warp recipe).

    Parameters: ``model`` (raft_large | raft_small, also the weight id), ``iters`` (default 20),
    ``pretrained`` (default true; false = random weights, plumbing/speed only, recorded as
    ``random_weights``), ``weights_path`` (explicit file, else :mod:`infvsr_bench.weights` finds it),
    ``resize`` (default 0.5), ``device`` (where RAFT and the warping run), ``seed`` (random init only),
    ``pairs_per_forward`` (pairs per network call, both directions together; bounds memory), ``skip_cuts``,
    ``preset`` (``suite``, the default, or ``evalcrafter``: EvalCrafter's code with its quirks, see the module
    docstring; recorded with the quirks spelled out).
    All pairs of a chunk (with the carried frame) go through RAFT in as few calls as that cap allows.
    """

    name: ClassVar[str] = "ewarp-raft"
    param_limits: ClassVar[dict[str, str]] = {"iters": ">= 1", "pairs_per_forward": ">= 1"}
    version: ClassVar[str] = "1"
    mode: ClassVar[str] = "NR"
    requires: ClassVar[tuple[str, ...]] = ("raft_large",)

    def __init__(self, model: str = "raft_large", iters: int = 20, pretrained: bool = True,
                 weights_path: str | None = None, resize: float = 0.5, device: str = "cpu", seed: int = 0,
                 pairs_per_forward: int = 8, skip_cuts: bool = True, preset: str = "suite", window: int = 100):
        preset = str(preset).lower()
        if preset not in RAFT_PRESETS:
            raise BadInput(f"ewarp-raft: unknown preset {preset!r} (choose from {', '.join(RAFT_PRESETS)})")
        self.preset = preset
        self._flow = RAFTFlow(model=model, iters=iters, pretrained=pretrained, weights_path=weights_path,
                              device=device, seed=seed, pairs_per_forward=pairs_per_forward,
                              input_range=255.0 if preset == "evalcrafter" else 1.0)
        self.device = torch.device(device)
        self.requires = (self._flow.weight_id,) if self._flow.pretrained else ()  # random weights need no file
        super().__init__(resize, "output", skip_cuts, window, **self._flow.describe())
        if preset == "evalcrafter":
            self.params.update(EVALCRAFTER_QUIRKS)

    @property
    def random_weights(self) -> bool:
        return not self._flow.pretrained

    def _represent(self, sr: torch.Tensor, hr: torch.Tensor | None) -> tuple[Any, ...]:
        if self.preset == "evalcrafter":  # ÷255 first, then the resize, then InputPadder's padding, kept
            rgb = downscale(grey_levels(sr.to(self.device)).div_(255.0), self.resize)  # (T, 3, h, w)
            h, w = rgb.shape[-2:]
            ph, pw = -h % 8, -w % 8
            if ph or pw:  # (T, 3, h, w) -> (T, 3, h + ph, w + pw), split evenly as RAFT's InputPadder
                rgb = F.pad(rgb, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate")
            return (rgb,)
        levels = downscale(grey_levels(sr.to(self.device)), self.resize)  # (T, 3, H, W) -> (T, 3, h, w)
        return (levels.div_(255.0),)

    def _pair_values(self, rep: tuple[Any, ...], i: list[int], j: list[int]) -> torch.Tensor:
        (rgb,) = rep
        a, b = rgb[i], rgb[j]  # (P, 3, h, w) each
        fw, bw = self._flow.bidirectional(a, b)
        values = self._score(a, b, fw, bw)
        if self.preset == "evalcrafter":  # every pixel occluded: EvalCrafter's 0 / numel = 0, not NaN
            values = torch.nan_to_num(values, nan=0.0)
        return values

    def extra(self) -> dict[str, Any]:
        out = super().extra()
        if self.random_weights:
            out["random_weights"] = True
        return out


#: ``ewarp-raft`` presets: ``suite`` (the recipe as documented) and ``evalcrafter`` (EvalCrafter's code).
RAFT_PRESETS = ("suite", "evalcrafter")
#: What ``preset=evalcrafter`` changes, recorded in its params (module docstring).
EVALCRAFTER_QUIRKS = {
    "preset": "evalcrafter",
    "resize_mode": "frame / 255, then bilinear, align_corners=False, no antialias",
    "padding": "replicate to a multiple of 8 (RAFT InputPadder), never removed: flow, mask and error on the "
               "padded grid",
    "all_occluded": "0 (EvalCrafter: zero sum / element count)",
    "reference": "EvalCrafter compute_video_warping_error (DOVE ewarp.py), x1000",
}


# -- tOF --------------------------------------------------------------------------------------------------


class TOF(_PairMetric):
    """TecoGAN's tOF: how far the output's motion is from the reference's, in pixels per frame pair.

    Per pair (t−1, t): Farnebäck flows (TecoGAN's parameters, on uint8 luma) of the output pair and of the
    reference pair; the value is the mean over pixels of the Euclidean norm of their difference, computed in
    float64 (TecoGAN: float32). Parameters: ``crop`` ("tecogan", the default: TecoGAN's centre crop of the
    flows, frames of at least 48×48 | "none"), ``skip_ends`` (frames dropped at each end of a clip, default
    2 as TecoGAN: a pair is scored only when both its frames are kept; needs ``meta["frames"]``, which the
    runner gives), ``skip_cuts``.
    """

    name: ClassVar[str] = "tof"
    param_limits: ClassVar[dict[str, str]] = {"skip_ends": ">= 0"}
    version: ClassVar[str] = "1"
    mode: ClassVar[str] = "FR"
    higher_is_better: ClassVar[bool] = False
    unit: ClassVar[str] = "px"

    def __init__(self, crop: str = "tecogan", skip_ends: int = 2, skip_cuts: bool = True, window: int = 100):
        self.crop, self.skip_ends = check_crop("tof", crop), check_skip_ends("tof", skip_ends)
        super().__init__(skip_cuts=skip_cuts, window=window, flow="opencv-farneback",
                         farneback_params=list(FARNEBACK_PARAMS), flow_input=GRAY_INPUT, crop=crop,
                         skip_ends=skip_ends, distance="mean over pixels of the L2 norm of the flow difference")

    def _scored(self, t: int) -> bool:
        return super()._scored(t) and inside_ends(self.name, t, self.skip_ends, self.meta)

    def check_frame_size(self, height: int, width: int) -> None:
        _check_size(self.name, height, width)  # TOF's flow runs at the frames' own size
        if self.crop == "tecogan":
            tecogan_crop_box(height, width)

    def _represent(self, sr: torch.Tensor, hr: torch.Tensor | None) -> tuple[Any, ...]:
        if hr is None:
            raise BadInput(f"{self.name} needs the HR reference")
        _check_side(self.name, sr)
        return _luma_native(sr), _luma_native(hr)  # (T, H, W) uint8 each

    def _pair_values(self, rep: tuple[Any, ...], i: list[int], j: list[int]) -> torch.Tensor:
        out_gray, ref_gray = rep
        h, w = out_gray.shape[1:]
        y0, y1, x0, x1 = tecogan_crop_box(h, w) if self.crop == "tecogan" else (0, h, 0, w)
        values = []
        for p, q in zip(i, j):
            diff = farneback(out_gray[p], out_gray[q]) - farneback(ref_gray[p], ref_gray[q])  # (H, W, 2)
            diff = diff[y0:y1, x0:x1].astype(np.float64)
            values.append(float(np.sqrt((diff * diff).sum(-1)).mean()))
        return torch.tensor(values, dtype=torch.float64)


# -- flickering -------------------------------------------------------------------------------------------
class Flicker(_PairMetric):
    """VBench temporal flickering of the output: (255 − mean |frame_{t−1} − frame_t|) / 255 per pair.

    The mean absolute difference is over all pixels and the three RGB channels of the uint8 frames (the
    8-bit values the runner's quantisation gives back exactly); the sum of absolute differences is exact.
    1.0 means two identical frames. No parameters besides ``skip_cuts``.
    """

    name: ClassVar[str] = "flicker"
    version: ClassVar[str] = "1"
    mode: ClassVar[str] = "NR"
    higher_is_better: ClassVar[bool] = True
    unit: ClassVar[str] = ""

    def __init__(self, skip_cuts: bool = True, window: int = 100):
        super().__init__(skip_cuts=skip_cuts, window=window,
                         formula="(255 - mean |a - b|) / 255 on uint8 RGB, all channels, native resolution")

    def _represent(self, sr: torch.Tensor, hr: torch.Tensor | None) -> tuple[Any, ...]:
        u8 = to_uint8(sr)  # (T, 3, H, W) float -> (T, H, W, 3) uint8
        return (u8.reshape(u8.shape[0], u8.shape[1], -1),)  # (T, H, W, 3) -> (T, H, W·3): 2-D planes for cv2

    def _pair_values(self, rep: tuple[Any, ...], i: Sequence[int], j: Sequence[int]) -> torch.Tensor:
        import cv2

        (u8,) = rep
        count = float(u8[0].size)
        # cv2.norm(NORM_L1) sums |a - b| over pixels and channels in double precision: exact for integer
        # sums below 2^53 (any frame up to 8K), one SIMD pass per pair
        sad = [cv2.norm(u8[p], u8[q], cv2.NORM_L1) for p, q in zip(i, j)]
        return (255.0 - torch.tensor(sad, dtype=torch.float64) / count) / 255.0


__all__ = ["EVALCRAFTER_QUIRKS", "RAFT_PRESETS", "TOF", "EwarpDIS", "EwarpRAFT", "EwarpRef", "Flicker", "check_crop", "check_skip_ends", "inside_ends", "tecogan_crop_box",
           "warp_error"]
