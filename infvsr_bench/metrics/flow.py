"""Optical flow for the temporal metrics: estimators, backward warping and the Lai et al. occlusion mask.

Conventions shared by every function here (the temporal metrics rely on them):

* A **flow field** is a torch tensor (N, 2, H, W), float32, in pixels of the frames it was computed on.
  Channel 0 is the horizontal displacement (+ = right), channel 1 the vertical one (+ = down).
* The flow **from a to b** lives on a's pixel grid and says where each pixel of a went in b:
  ``a(x) ≈ b(x + flow_ab(x))``. OpenCV (DIS, Farnebäck) and RAFT all return flows in this convention.
* :func:`warp` ``(b, flow_ab)`` samples b at ``x + flow_ab(x)``: the image b "warped back" onto a's grid,
  which should equal a wherever the flow is right and nothing is occluded.
* Frames are (N, 3, H, W) float32 RGB in [0, 1]; grayscale inputs for OpenCV are (N, H, W) uint8 numpy.

Estimators: :class:`DISFlow` (OpenCV dense inverse search; fast, no weights), :func:`farneback` (OpenCV
Farnebäck with TecoGAN's parameters, for tOF) and :class:`RAFTFlow` (torchvision RAFT; pretrained weights
through :mod:`infvsr_bench.weights`, or random initialisation for plumbing tests and speed only).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import BadInput

# -- resizing and colour ----------------------------------------------------------------------------------


def grey_levels(frames: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats → float32 on the 0–255 scale, rounded to whole grey levels (exact for 8-bit frames).

    The temporal metrics resize on this scale: a 2×2 mean of whole levels is a multiple of 0.25, exactly
    representable in float32, so the resized values — and how they round to uint8 — do not depend on
    float rounding."""
    return frames.to(torch.float32).mul(255.0).round_().clamp_(0, 255)


def downscale(frames: torch.Tensor, factor: float) -> torch.Tensor:
    """Bilinear resize by ``factor`` (≤ 1): (N, C, H, W) → (N, C, floor(H·f), floor(W·f)).

    ``align_corners=False`` and no antialiasing, so at ``factor = 0.5`` each output pixel is exactly the mean
    of a 2×2 block (what ``cv2.resize(..., fx=0.5, fy=0.5, interpolation=INTER_LINEAR)`` computes, too).
    ``factor = 1`` returns the input unchanged.
    """
    if factor == 1.0:
        return frames
    return F.interpolate(frames, scale_factor=factor, mode="bilinear", align_corners=False, antialias=False,
                         recompute_scale_factor=False)


def luma_u8(levels: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) RGB on the 0–255 scale → (N, H, W) uint8 luma, as OpenCV's flow estimators want it.

    Levels are rounded half up to uint8 (OpenCV's own rounding: for 8-bit frames resized by 0.5 this gives
    exactly ``cv2.resize(frame_u8, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_LINEAR)``), then converted
    with ``cv2.COLOR_RGB2GRAY`` (BT.601 weights 0.299/0.587/0.114) — the conversion TecoGAN's tOF script
    applies to its RGB frames.
    """
    u8 = levels.add(0.5).floor_().clamp_(0, 255).to(torch.uint8)
    return rgb_to_gray(u8.permute(0, 2, 3, 1).cpu().numpy())  # (N, 3, H, W) -> (N, H, W, 3)


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB → (N, H, W) uint8 luma with ``cv2.COLOR_RGB2GRAY`` (BT.601)."""
    import cv2

    out = np.empty(rgb.shape[:3], np.uint8)
    for i in range(rgb.shape[0]):
        out[i] = cv2.cvtColor(rgb[i], cv2.COLOR_RGB2GRAY)
    return out


# -- warping ----------------------------------------------------------------------------------------------
_grid_cache: dict[tuple[int, int, str, torch.dtype], torch.Tensor] = {}


def _base_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Pixel coordinates (1, 2, H, W): channel 0 = x (column), channel 1 = y (row). Cached per size."""
    key = (h, w, str(device), dtype)
    grid = _grid_cache.get(key)
    if grid is None:
        ys, xs = torch.meshgrid(torch.arange(h, dtype=dtype, device=device),
                                torch.arange(w, dtype=dtype, device=device), indexing="ij")
        grid = torch.stack((xs, ys)).unsqueeze(0)  # 2 × (H, W) -> (1, 2, H, W)
        if len(_grid_cache) > 16:  # a handful of frame sizes per process; never grows without bound
            _grid_cache.clear()
        _grid_cache[key] = grid
    return grid


def sampling_grid(flow: torch.Tensor) -> torch.Tensor:
    """Where backward warping by ``flow`` samples, in ``grid_sample``'s normalised coordinates.

    (N, 2, H, W) flow → (N, H, W, 2) grid, (x, y) order; with ``align_corners=True`` −1 / +1 is the centre of
    the first / last pixel, so integer flows land on pixel centres."""
    n, _, h, w = flow.shape
    if h < 2 or w < 2:
        raise BadInput(f"warp needs frames of at least 2x2 pixels, got {h}x{w}")
    base = _base_grid(h, w, flow.device, flow.dtype)  # (1, 2, H, W)
    grid = torch.empty(n, h, w, 2, dtype=flow.dtype, device=flow.device)
    torch.add(base[:, 0], flow[:, 0], out=grid[..., 0])  # pixel x + u, written into the interleaved grid
    torch.add(base[:, 1], flow[:, 1], out=grid[..., 1])
    grid[..., 0].mul_(2.0 / (w - 1)).sub_(1.0)
    grid[..., 1].mul_(2.0 / (h - 1)).sub_(1.0)
    return grid


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warping: ``out(x) = image(x + flow(x))``, bilinear, sample positions clamped to the frame.

    (N, C, H, W) image and (N, 2, H, W) flow → (N, C, H, W). A position outside the frame takes the value
    at the nearest border position (``grid_sample`` with ``padding_mode="border"``), as FlowNet2's
    ``Resample2d`` — used by Lai et al.'s E_warp code — does.
    """
    n, _, h, w = image.shape
    if flow.shape != (n, 2, h, w):
        raise ValueError(f"warp: flow {tuple(flow.shape)} does not match image {tuple(image.shape)}")
    grid = sampling_grid(flow).to(image.dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


# -- the Lai et al. (2018) occlusion mask -----------------------------------------------------------------
#: forward-backward check: |w_f + ŵ_b|² > FB_REL·(|w_f|² + |ŵ_b|²) + FB_ABS (ŵ_b = w_b warped onto a's grid)
FB_REL, FB_ABS = 0.01, 0.5
#: motion boundary: |∇w|² > MB_REL·|w|² + MB_ABS
MB_REL, MB_ABS = 0.01, 0.002

OCCLUSION_RECIPE = ("lai2018: occluded if |wf + wb(x+wf)|^2 > 0.01(|wf|^2 + |wb(x+wf)|^2) + 0.5 "
                    "or |grad wf|^2 > 0.01|wf|^2 + 0.002 (forward differences, 0 on the last row/column)")


def flow_gradient_sq(flow: torch.Tensor) -> torch.Tensor:
    """Squared gradient magnitude of a flow field, (N, 2, H, W) → (N, H, W).

    ``Σ_c (∂x w_c)² + (∂y w_c)²`` with forward differences ``w(x) − w(x+1)``; the last column (for ∂x) and
    last row (for ∂y) have no right / lower neighbour and contribute 0, as in Lai et al.'s code.
    """
    out = torch.zeros(flow.shape[0], flow.shape[2], flow.shape[3], dtype=flow.dtype, device=flow.device)
    dx = flow[..., :, :-1] - flow[..., :, 1:]  # (N, 2, H, W-1)
    dy = flow[..., :-1, :] - flow[..., 1:, :]  # (N, 2, H-1, W)
    out[:, :, :-1] += dx.pow(2).sum(1)
    out[:, :-1, :] += dy.pow(2).sum(1)
    return out


def occlusion_parts(fw: torch.Tensor, bw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two halves of :func:`lai_occlusion`, each (N, H, W) bool on a's grid.

    ``fw`` is the flow a → b, ``bw`` the flow b → a. Returns (forward-backward inconsistent, motion boundary).

    Forward-backward: following pixel x of a to b and back should return to x, i.e.
    ``w_f(x) + w_b(x + w_f(x)) ≈ 0``; a larger residual means x is not visible in b (or the flow is wrong).
    Motion boundary: pixels where the forward flow changes sharply. Note on naming: Lai et al.'s
    ``detect_occlusion(fw_flow, bw_flow)`` is *called* as ``detect_occlusion(bw_flow, fw_flow)``, so the
    gradient it takes of its argument "bw_flow" is, in fact, the gradient of the forward flow a → b — the
    flow that lives on a's grid, where the mask is used. We take the gradient of ``fw`` for that reason.
    """
    bw_on_a = warp(bw, fw)  # (N, 2, H, W): backward flow sampled where each pixel of a lands in b
    residual = (fw + bw_on_a).pow(2).sum(1)  # (N, H, W)
    fw_sq = fw.pow(2).sum(1)
    inconsistent = residual > FB_REL * (fw_sq + bw_on_a.pow(2).sum(1)) + FB_ABS
    boundary = flow_gradient_sq(fw) > MB_REL * fw_sq + MB_ABS
    return inconsistent, boundary


def lai_occlusion(fw: torch.Tensor, bw: torch.Tensor) -> torch.Tensor:
    """Occlusion mask of Lai et al. 2018 on a's grid: (N, 2, H, W) × 2 → (N, H, W) bool, True = occluded.

    A pixel is occluded when it fails the forward-backward check or lies on a motion boundary (see
    :func:`occlusion_parts`); thresholds :data:`FB_REL`, :data:`FB_ABS`, :data:`MB_REL`, :data:`MB_ABS`.
    """
    inconsistent, boundary = occlusion_parts(fw, bw)
    return inconsistent | boundary


# -- OpenCV estimators ------------------------------------------------------------------------------------
DIS_PRESETS = ("ultrafast", "fast", "medium")


class DISFlow:
    """OpenCV DIS optical flow (Kroeger et al. 2016) with a named preset; deterministic, CPU only.

    ``__call__(src, dst)`` on (N, H, W) uint8 grayscale stacks returns the flows src → dst as (N, 2, H, W)
    float32. One ``cv2.DISOpticalFlow`` object is reused (it keeps only scratch buffers: results depend on
    the two images alone, which the chunked-vs-whole tests check).
    """

    def __init__(self, preset: str = "medium"):
        import cv2

        preset = str(preset).lower()
        if preset not in DIS_PRESETS:
            raise BadInput(f"unknown DIS preset {preset!r} (choose from {', '.join(DIS_PRESETS)})")
        self.preset = preset
        self._dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOpticalFlow_PRESET_{preset.upper()}"))

    def __call__(self, src: np.ndarray, dst: np.ndarray) -> torch.Tensor:
        if src.shape != dst.shape or src.ndim != 3 or src.dtype != np.uint8:
            raise ValueError(f"DIS expects two (N, H, W) uint8 stacks, got {src.shape} {src.dtype} and "
                             f"{dst.shape} {dst.dtype}")
        out = np.empty((src.shape[0], 2) + src.shape[1:], np.float32)
        for i in range(src.shape[0]):
            flow = self._dis.calc(np.ascontiguousarray(src[i]), np.ascontiguousarray(dst[i]), None)  # (H, W, 2)
            out[i] = flow.transpose(2, 0, 1)  # (H, W, 2) -> (2, H, W)
        return torch.from_numpy(out)

    def bidirectional(self, a: np.ndarray, b: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward (a → b) and backward (b → a) flows of N pairs, each (N, 2, H, W)."""
        return self(a, b), self(b, a)

    def describe(self) -> dict[str, Any]:
        return {"flow": "opencv-dis", "dis_preset": self.preset}


#: TecoGAN's Farnebäck parameters: pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags.
FARNEBACK_PARAMS = (0.5, 3, 15, 3, 5, 1.2, 0)


def farneback(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """OpenCV Farnebäck flow src → dst for one (H, W) uint8 grayscale pair → (H, W, 2) float32 (x, y)."""
    import cv2

    return cv2.calcOpticalFlowFarneback(src, dst, None, *FARNEBACK_PARAMS)


# -- RAFT (torchvision) -----------------------------------------------------------------------------------
RAFT_MODELS = ("raft_large", "raft_small")
#: torchvision's RAFT needs feature maps (1/8 of the input) of at least 16 pixels per side.
RAFT_MIN_SIDE = 128


class RAFTFlow:
    """torchvision RAFT as a batched flow estimator.

    ``model``: "raft_large" or "raft_small" (the weight id of the same name in :mod:`infvsr_bench.weights`).
    ``pretrained=True`` loads that id's file strictly, on first use (so a metric can be built, and reported as
    unavailable by the runner, without the file); ``pretrained=False`` keeps torch's random initialisation,
    seeded with ``seed`` — flows are then meaningless and good only for plumbing tests and speed.
    ``iters``: refinement iterations (the published E*warp recipe uses 20; torchvision's default is 12).
    Inputs are scaled from [0, 1] to [−1, 1] (RAFT's training range) and replicate-padded, split evenly
    between the two sides, to a multiple of 8; the flow is cropped back. ``pairs_per_forward`` caps how many
    pairs (2 samples each: forward and backward) share one network call, bounding memory on long chunks.

    Precision: the network runs in float32 with TF32 switched off on CUDA (see :func:`_full_fp32`). With
    TF32 (PyTorch's default for cuDNN convolutions) the same pair's flow moved by ~1e-2 px with the batch it
    was computed in, and E_warp by ~1.5% (H200, random weights); without it, by ~2e-5 px and ~6e-6.
    """

    def __init__(self, model: str = "raft_large", iters: int = 20, pretrained: bool = True,
                 weights_path: str | None = None, device: str | torch.device = "cpu", seed: int = 0,
                 pairs_per_forward: int = 8, input_range: float = 1.0):
        if model not in RAFT_MODELS:
            raise BadInput(f"unknown RAFT model {model!r} (choose from {', '.join(RAFT_MODELS)})")
        if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
            raise BadInput(f"RAFT iters must be an integer >= 1, got {iters!r}")
        if isinstance(pairs_per_forward, bool) or not isinstance(pairs_per_forward, int) or pairs_per_forward < 1:
            raise BadInput(f"RAFT pairs_per_forward must be an integer >= 1, got {pairs_per_forward!r}")
        self.model, self.iters, self.pretrained = model, iters, bool(pretrained)
        self.weights_path, self.seed = weights_path, int(seed)
        self.device = torch.device(device)
        self.pairs_per_forward = pairs_per_forward
        #: RAFT's input is ``2 · x / input_range − 1``: 1 for frames in [0, 1] (RAFT's training range [−1, 1]);
        #: 255 reproduces code that hands [0, 1] frames to a RAFT wrapper dividing by 255 again (EvalCrafter)
        self.input_range = float(input_range)
        self._net: torch.nn.Module | None = None

    @property
    def weight_id(self) -> str:
        return self.model

    @property
    def net(self) -> torch.nn.Module:
        """The network, built (and its weights loaded) on first access."""
        if self._net is None:
            from torchvision.models import optical_flow

            from .learned_nets import seeded

            with seeded(self.seed):  # random init is reproducible and leaves the global RNG alone
                net = getattr(optical_flow, self.model)(weights=None, progress=False)
            if self.pretrained:
                from .. import weights  # lazy: resolving weights is I/O

                weights.load_strict(net, weights.load_state_dict(self.weight_id, self.weights_path),
                                    f"torchvision {self.model}")
            self._net = net.eval().requires_grad_(False).to(self.device)
        return self._net

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"flow": f"torchvision-{self.model}", "raft_iters": self.iters,
                               "pretrained": self.pretrained,
                               "raft_input": ("RGB scaled to [-1, 1], replicate-padded to a multiple of 8"
                                              if self.input_range == 1.0 else
                                              f"RGB [0, 1] as 2 * x / {self.input_range:g} - 1, replicate-padded "
                                              "to a multiple of 8"),
                               "raft_precision": "float32, TF32 off"}
        if not self.pretrained:
            out.update(random_weights=True, seed=self.seed)
        return out

    @torch.no_grad()
    def _network(self, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
        """One network call: (n, 3, H, W) × 2 in [0, 1] → flows src → dst, (n, 2, H, W) on RAFT's device."""
        _, _, h, w = src.shape
        ph, pw = -h % 8, -w % 8
        if h + ph < RAFT_MIN_SIDE or w + pw < RAFT_MIN_SIDE:
            raise BadInput(f"RAFT needs frames of at least {RAFT_MIN_SIDE}x{RAFT_MIN_SIDE} pixels where the "
                           f"flow is computed (after any resize), got {h}x{w}")
        pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)  # left, right, top, bottom
        r = self.input_range  # x / r, doubled, minus 1: the order RAFT's own wrapper uses (÷1 is exact)
        x1 = src.to(self.device, torch.float32).div(r).mul_(2.0).sub_(1.0)
        x2 = dst.to(self.device, torch.float32).div(r).mul_(2.0).sub_(1.0)
        if any(pad):
            x1 = F.pad(x1, pad, mode="replicate")  # (n, 3, H, W) -> (n, 3, H + ph, W + pw)
            x2 = F.pad(x2, pad, mode="replicate")
        with _full_fp32(self.device):
            flow = self.net(x1, x2, num_flow_updates=self.iters)[-1]  # (n, 2, H + ph, W + pw), last refinement
        return flow[:, :, pad[2]:pad[2] + h, pad[0]:pad[0] + w]  # crop back to (n, 2, H, W)

    def _check(self, a: torch.Tensor, b: torch.Tensor) -> None:
        if a.shape != b.shape or a.dim() != 4 or a.shape[1] != 3:
            raise ValueError(f"RAFT expects two (N, 3, H, W) stacks, got {tuple(a.shape)} and {tuple(b.shape)}")

    def __call__(self, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
        """Flows src → dst of N image pairs: (N, 3, H, W) × 2 in [0, 1] → (N, 2, H, W) on src's device,
        ``2 · pairs_per_forward`` samples per network call."""
        self._check(src, dst)
        step = 2 * self.pairs_per_forward
        out = [self._network(src[i:i + step], dst[i:i + step]) for i in range(0, src.shape[0], step)]
        return torch.cat(out).to(src.device) if out else src.new_zeros((0, 2) + tuple(src.shape[2:]))

    def bidirectional(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward (a → b) and backward (b → a) flows of N pairs, each (N, 2, H, W) on a's device.

        Both directions of up to ``pairs_per_forward`` pairs share one network call: the batch is the pairs
        (a, b) stacked on (b, a)."""
        self._check(a, b)
        fws, bws = [], []
        for i in range(0, a.shape[0], self.pairs_per_forward):
            ga, gb = a[i:i + self.pairs_per_forward], b[i:i + self.pairs_per_forward]
            k = ga.shape[0]
            both = self._network(torch.cat((ga, gb)), torch.cat((gb, ga))).to(a.device)  # (2k, 2, H, W)
            fws.append(both[:k])
            bws.append(both[k:])
        if not fws:
            empty = a.new_zeros((0, 2) + tuple(a.shape[2:]))
            return empty, empty
        return torch.cat(fws), torch.cat(bws)


@contextmanager
def tf32_mode(on: bool) -> Iterator[None]:
    """Allow (or forbid) TF32 in CUDA convolutions and matmuls for the duration of a call, restoring the
    caller's settings after. These are process-wide flags: set only for the duration of the call (not
    thread-safe)."""
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = on
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@contextmanager
def _full_fp32(device: torch.device) -> Iterator[None]:
    """Run a CUDA forward without TF32 (convolutions and matmuls), restoring the caller's settings after.

    TF32 rounds matmul/convolution inputs to 10 mantissa bits, and which kernels cuDNN picks depends on the
    batch size — so with it a flow (and hence a metric value) would depend on how many pairs shared a call."""
    if device.type != "cuda":
        yield
        return
    with tf32_mode(False):
        yield


__all__ = [
    "DIS_PRESETS",
    "FARNEBACK_PARAMS",
    "OCCLUSION_RECIPE",
    "RAFT_MODELS",
    "DISFlow",
    "RAFTFlow",
    "downscale",
    "farneback",
    "flow_gradient_sq",
    "grey_levels",
    "lai_occlusion",
    "luma_u8",
    "occlusion_parts",
    "rgb_to_gray",
    "sampling_grid",
    "warp",
]
