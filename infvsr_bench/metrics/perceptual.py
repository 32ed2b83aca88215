"""Full-reference perceptual metrics: LPIPS (AlexNet / VGG), DISTS and TecoGAN's temporal tLP.

``lpips`` — LPIPS v0.1 with the AlexNet trunk (the ``lpips`` package's network and linear heads; pyiqa's
    ``lpips`` and TecoGAN use the same). Frames in [0, 1] are mapped to [-1, 1] (``2x - 1``, what
    ``lpips.LPIPS(..., normalize=True)`` does), then LPIPS's scaling layer; per layer the unit-normalised
    features are differenced, squared, weighted by the linear head, averaged over space; the five layers are
    summed. Lower is better; 0 for identical frames.
``lpips-vgg`` — the same with the VGG16 trunk and heads (BasicSR's ``calculate_lpips.py`` uses VGG).
``dists`` — DISTS (Ding et al. 2020) as pyiqa implements it: VGG16 with L2 pooling, learned α/β, RGB in
    [0, 1] at native resolution. Lower is better (pyiqa's ``lower_better``).
``tlp`` — TecoGAN's tLP, ``100 · |LPIPS(out_{t−1}, out_t) − LPIPS(gt_{t−1}, gt_t)|`` with LPIPS-alex v0.1,
    reported at frame t (frame 0 of a clip is NaN; the pair across a scene cut is NaN unless
    ``skip_cuts=False``). By default as TecoGAN's ``metrics.py``: the frames are centre-cropped
    (``crop="tecogan"``, its ``crop_8x8``) before LPIPS and 2 frames are dropped at each end of a clip
    (``skip_ends=2``); ``crop="none"``/``skip_ends=0`` score whole frames and every pair. Recorded. Lower is
    better.

How they run: a chunk's output and reference frames go through the network together (one forward of 2T
images for LPIPS, or ``batch`` frames at a time). tLP computes each frame's LPIPS features **once** — a frame
is in two pairs — and carries the last frame's normalised features (output and reference) to the next chunk:
its state is one frame's feature maps (e.g. ≈ 20 MB at 720p for AlexNet), whatever the video length, and
chunking changes no value (tested). ``lpips`` and ``tlp`` in one run (same weights, device and precision) share
one network and one trunk pass per frame (:mod:`.lpips_share`): the second metric of a chunk takes the first
one's features, so the pair costs little more than ``lpips`` alone, with unchanged values (tested).
"""
from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import BadInput
from .learned import LearnedMetric, concat_values
from .learned_nets import build_dists, build_lpips
from .lpips_share import Share, join
from .temporal import PAIR_CONVENTION, check_crop, check_skip_ends, inside_ends, tecogan_crop_box

LPIPS_INPUT = "RGB in [0, 1] mapped to [-1, 1] (2x - 1), LPIPS scaling layer, native resolution"
LPIPS_POOL = "per layer: unit-normalised features, squared difference, linear head, spatial mean; summed"
TLP_SCALE = 100.0


def check_pair(metric: LearnedMetric, sr: torch.Tensor, hr: torch.Tensor | None) -> torch.Tensor:
    """The input checks of a full-reference chunk: ``hr`` present, both shaped and ranged as frames (the
    range once per clip). Returns ``hr``."""
    if hr is None:
        raise BadInput(f"{metric.name} needs the HR reference")
    metric.check(sr, "output")
    metric.check(hr, "reference")
    metric.checked(sr)
    return hr


def lpips_features(model: nn.Module, frames: torch.Tensor) -> list[torch.Tensor]:
    """(B, 3, H, W) in [0, 1] → the unit-normalised trunk features of ``lpips.LPIPS`` (one per layer)."""
    import lpips

    x = model.scaling_layer(frames * 2 - 1)
    # float32 from here on, also when the trunk ran under autocast (precision=bf16): normalising in bf16 would
    # round every feature again
    return [lpips.normalize_tensor(f.float()) for f in model.net.forward(x)]


def lpips_distance(model: nn.Module, a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    """LPIPS between two stacks of normalised features (same B): (B,) — what ``lpips.LPIPS.forward`` sums."""
    total = None
    with torch.autocast(a[0].device.type, enabled=False):  # the heads stay float32 under precision=bf16
        for k, (fa, fb) in enumerate(zip(a, b)):
            layer = model.lins[k]((fa - fb) ** 2).mean(dim=(2, 3), keepdim=True)  # (B, 1, 1, 1)
            total = layer if total is None else total + layer
    if total is None:
        raise RuntimeError("LPIPS network has no layers")
    return total.flatten()


class SharesLPIPS:
    """Mixin of the metrics built on ``lpips.LPIPS`` with the ``trunk`` network: their network comes from the
    :mod:`.lpips_share` share of the metrics whose network and arithmetic are equal (joined by
    :meth:`join_share` at the end of the constructor), and they are active in it from the start of a clip until
    the clip ends or the metric is reset."""

    trunk: ClassVar[str] = "alex"
    #: which pixels of a frame the metric feeds the trunk; members of a share must agree (a cropped tLP and a
    #: whole-frame LPIPS have no features in common)
    view: str = "whole frame"
    _share: Share

    def join_share(self: Any) -> None:
        key = ("lpips", self.trunk, self.pretrained, None if self.pretrained else self.seed, self.weights_path,
               str(self.device), self.precision_mode, self.view)
        self._share = join(key)

    def build(self: Any) -> nn.Module:
        return self._share.network(lambda: build_lpips(self.trunk, self.pretrained, self.seed, self.weights_path))

    def start(self, meta: dict[str, Any]) -> None:
        super().start(meta)  # type: ignore[misc]
        self._share.enter(self)

    def reset(self) -> None:
        share = getattr(self, "_share", None)  # None while the base constructor resets
        if share is not None:
            share.leave(self)
        super().reset()  # type: ignore[misc]

    def finish(self) -> torch.Tensor | None:
        try:
            return super().finish()  # type: ignore[misc]
        finally:
            self._share.leave(self)


def shared_features(metric: LearnedMetric, net: nn.Module, sr: torch.Tensor, hr: torch.Tensor,
                    piece: slice) -> list[torch.Tensor]:
    """Trunk features of frames ``piece`` of a chunk, output frames then reference frames, (2b, C, h, w) per
    layer: computed in one forward, or taken from another metric of the same share that just computed them."""
    def compute() -> list[torch.Tensor]:
        x = torch.cat([sr[piece], hr[piece]]).to(metric.device, torch.float32)  # (2b, 3, H, W): one forward
        return lpips_features(net, x)

    return metric._share.features(metric, sr, hr, piece, compute)


class LPIPS(SharesLPIPS, LearnedMetric):
    """LPIPS v0.1, AlexNet trunk (see the module docstring). Parameters: ``pretrained`` (false: random
    weights, plumbing/speed only), ``weights_path``, ``device``, ``batch`` (frames per forward), ``seed``
    (random init only), ``window``."""

    name: ClassVar[str] = "lpips"
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = False
    mode: ClassVar[str] = "FR"
    requires: ClassVar[tuple[str, ...]] = ("alexnet", "lpips-alex-v0.1")

    def __init__(self, pretrained: bool = True, weights_path: str | None = None, device: str = "cpu",
                 batch: int | None = None, seed: int = 0, window: int = 100, precision: str = "fp32"):
        super().__init__(pretrained=pretrained, weights_path=weights_path, device=device, batch=batch, seed=seed,
                         precision=precision,
                         window=window, backbone=self.trunk, lpips_version="0.1", implementation="lpips package",
                         input=LPIPS_INPUT, pooling=LPIPS_POOL)
        self.join_share()

    def frame_values(self, sr: torch.Tensor, hr: torch.Tensor | None) -> torch.Tensor:
        hr = check_pair(self, sr, hr)
        net, out = self.net, []
        with self.precision():
            for s in self.pieces(sr.shape[0]):
                b = s.stop - s.start
                feats = shared_features(self, net, sr, hr, s)
                out.append(lpips_distance(net, [f[:b] for f in feats], [f[b:] for f in feats]).cpu())
        return concat_values(out)


class LPIPSVGG(LPIPS):
    """LPIPS v0.1 with the VGG16 trunk and heads (the BasicSR variant)."""

    name: ClassVar[str] = "lpips-vgg"
    requires: ClassVar[tuple[str, ...]] = ("vgg16", "lpips-vgg-v0.1")
    trunk: ClassVar[str] = "vgg"


class DISTS(LearnedMetric):
    """DISTS as pyiqa computes it (VGG16 trunk + pyiqa's α/β). Parameters as :class:`LPIPS`."""

    name: ClassVar[str] = "dists"
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = False
    mode: ClassVar[str] = "FR"
    requires: ClassVar[tuple[str, ...]] = ("vgg16", "dists-pyiqa")
    # no bf16: pyiqa's DISTS takes means and variances of the features inside its forward, and in bfloat16
    # those moved random-weight values by ~60 % (benchmarks/learned_speed.py --precision fp32,bf16)
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "tf32")

    def __init__(self, pretrained: bool = True, weights_path: str | None = None, device: str = "cpu",
                 batch: int | None = None, seed: int = 0, window: int = 100, precision: str = "fp32"):
        super().__init__(pretrained=pretrained, weights_path=weights_path, device=device, batch=batch, seed=seed,
                         precision=precision,
                         window=window, backbone="vgg16", implementation="pyiqa DISTS",
                         input="RGB in [0, 1], ImageNet mean/std, native resolution")

    def build(self) -> nn.Module:
        return build_dists(self.pretrained, self.seed, self.weights_path)

    def frame_values(self, sr: torch.Tensor, hr: torch.Tensor | None) -> torch.Tensor:
        hr = check_pair(self, sr, hr)
        net, out = self.net, []
        with self.precision():
            for s in self.pieces(sr.shape[0]):
                a = sr[s].to(self.device, torch.float32)
                b = hr[s].to(self.device, torch.float32)
                out.append(net(a, b).flatten().cpu())  # (b,)
        return concat_values(out)


class TLP(SharesLPIPS, LearnedMetric):
    """TecoGAN's tLP ×100 with LPIPS-alex v0.1 (see the module docstring). Parameters as :class:`LPIPS`,
    plus ``skip_cuts`` (NaN for the pair across a scene cut, default true), ``crop`` ("tecogan", the default:
    TecoGAN's centre crop of the frames, at least 48×48 | "none") and ``skip_ends`` (frames dropped at each
    end of a clip, default 2 as TecoGAN; needs ``meta["frames"]``, which the runner gives)."""

    name: ClassVar[str] = "tlp"
    param_limits: ClassVar[dict[str, str]] = {"skip_ends": ">= 0"}
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = False
    mode: ClassVar[str] = "FR"
    context: ClassVar[int] = 1
    requires: ClassVar[tuple[str, ...]] = ("alexnet", "lpips-alex-v0.1")
    unit: ClassVar[str] = "x100"

    def __init__(self, pretrained: bool = True, weights_path: str | None = None, device: str = "cpu",
                 batch: int | None = None, seed: int = 0, skip_cuts: bool = True, crop: str = "tecogan",
                 skip_ends: int = 2, window: int = 100, precision: str = "fp32"):
        if not isinstance(skip_cuts, bool):
            raise BadInput(f"tlp: skip_cuts must be true or false, got {skip_cuts!r}")
        self.skip_cuts, self.skip_ends = skip_cuts, check_skip_ends("tlp", skip_ends)
        self.crop = check_crop("tlp", crop)
        self.view = "whole frame" if self.crop == "none" else f"crop {self.crop}"
        super().__init__(pretrained=pretrained, weights_path=weights_path, device=device, batch=batch, seed=seed,
                         precision=precision,
                         window=window, backbone="alex", lpips_version="0.1", implementation="lpips package",
                         input=LPIPS_INPUT, pooling=LPIPS_POOL,
                         formula="100 * |LPIPS(out[t-1], out[t]) - LPIPS(gt[t-1], gt[t])|", scale=TLP_SCALE,
                         pairs=PAIR_CONVENTION, scene_cuts="nan" if skip_cuts else "scored", crop=self.crop,
                         skip_ends=skip_ends)
        self.join_share()

    # -- state -------------------------------------------------------------------------------------
    def reset(self) -> None:
        self._cuts: frozenset[int] = frozenset()
        super().reset()

    def reset_carry(self) -> None:
        #: normalised features of the last frame seen: (output, reference), each a list of (1, C, h, w)
        self._carry: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None

    def start(self, meta: dict[str, Any]) -> None:
        super().start(meta)
        self._cuts = frozenset(int(c) for c in (meta.get("scene_cuts") or ()))

    def state_nbytes(self) -> int:
        """Bytes carried between chunks: one frame's feature maps (output and reference)."""
        if self._carry is None:
            return 0
        return sum(t.numel() * t.element_size() for side in self._carry for t in side)

    def _scored(self, t: int) -> bool:
        """Whether the pair (t−1, t) gets a value (t ≥ 1)."""
        if self.skip_cuts and t in self._cuts:
            return False
        return inside_ends(self.name, t, self.skip_ends, self.meta)

    # -- per chunk ---------------------------------------------------------------------------------
    def frame_values(self, sr: torch.Tensor, hr: torch.Tensor | None) -> torch.Tensor:
        hr = check_pair(self, sr, hr)
        if self.crop == "tecogan":
            y0, y1, x0, x1 = tecogan_crop_box(sr.shape[-2], sr.shape[-1], self.name)
            sr, hr = sr[..., y0:y1, x0:x1], hr[..., y0:y1, x0:x1]  # (T, 3, H, W) -> (T, 3, y1 - y0, x1 - x0)
        n = sr.shape[0]
        out = torch.full((n,), math.nan, dtype=torch.float64)
        net = self.net
        with self.precision():
            for s in self.pieces(n):
                out[s] = self._piece(net, shared_features(self, net, sr, hr, s), self.frames + s.start)
        return out

    def _piece(self, net: nn.Module, feats: list[torch.Tensor], first: int) -> torch.Tensor:
        """Values of frames ``first …`` (clip indices) of one piece's features (output frames, then reference
        frames); advances the one-frame carry."""
        b = feats[0].shape[0] // 2
        fo, fg = [f[:b] for f in feats], [f[b:] for f in feats]
        offset = 0
        if self._carry is not None:
            po, pg = self._carry
            if po[0].shape[1:] != fo[0].shape[1:]:
                raise BadInput(f"{self.name}: frame size changed within a clip")
            fo = [torch.cat([p, f]) for p, f in zip(po, fo)]  # (1 + b, C, h, w) per layer
            fg = [torch.cat([p, f]) for p, f in zip(pg, fg)]
            offset = 1
        values = torch.full((b,), math.nan, dtype=torch.float64)
        if fo[0].shape[0] > 1:
            d_out = lpips_distance(net, [f[:-1] for f in fo], [f[1:] for f in fo])  # pairs (k-1, k)
            d_ref = lpips_distance(net, [f[:-1] for f in fg], [f[1:] for f in fg])
            pair = (TLP_SCALE * (d_out - d_ref).abs()).cpu().double()  # pair k-1 of ``fo`` ends at frame k
            start = first - offset + 1  # clip index of the later frame of the first pair
            for k in range(pair.shape[0]):
                t = start + k
                if self._scored(t):
                    values[t - first] = pair[k]
        self._carry = ([f[-1:].clone() for f in fo], [f[-1:].clone() for f in fg])
        return values


__all__ = ["DISTS", "LPIPS", "LPIPSVGG", "TLP", "lpips_distance", "lpips_features"]
