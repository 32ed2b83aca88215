"""No-reference image-quality metrics applied per frame: MUSIQ and CLIP-IQA, in pyiqa's default variants.

``musiq`` — pyiqa ``musiq``: MUSIQ (Ke et al. 2021) with the **KonIQ-10k** checkpoint (pyiqa's default
    for the name ``musiq``; ``musiq-ava`` / ``-spaq`` / ``-paq2piq`` are other checkpoints). Multi-scale input
    built by pyiqa: the native-resolution frame plus versions with the longer side at 224 and 384, 32×32
    patches, inputs mapped to [-1, 1]. Score roughly 0–100, higher is better. (VBench's "imaging quality"
    is MUSIQ-**SPAQ** on a 512 px frame / 100: a different number.)
``clipiqa`` — pyiqa ``clipiqa``: CLIP RN50 (OpenAI weights) on the **full-resolution** frame without the
    positional embedding, OpenAI CLIP mean/std; the score is the mean over 5 antonym prompt pairs ("Good /
    bad image", "Sharp / blurry image", "sharp / blurry edges", "High / low resolution image", "Noise-free /
    noisy image") of softmax(logit_scale · cos(image, prompt)) of the positive prompt. In [0, 1], higher is
    better. Not the paper's single "Good photo." / "Bad photo." pair, nor torchmetrics' 224-px variant.

Speed: MUSIQ runs the chunk through pyiqa's network in one forward on an accelerator (``batch`` frames at a
time); on the CPU 2 frames at a time, which measured faster than larger batches. CLIP-IQA encodes its 10
prompts **once** (pyiqa's module re-encodes them on every call) and then only the images; the per-frame
score is computed exactly as pyiqa's ``CLIPIQA.forward`` computes it (tested equal).
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from .learned import LearnedMetric, concat_values
from .learned_nets import build_clipiqa, build_musiq


def _no_reference_values(metric: LearnedMetric, sr: torch.Tensor, score) -> torch.Tensor:
    """Check a chunk, run ``score`` on each piece (on the metric's device), gather (T,) float64 on the CPU."""
    metric.check(sr, "output")
    metric.checked(sr)
    out = []
    with metric.precision():
        for s in metric.pieces(sr.shape[0]):
            out.append(score(sr[s].to(metric.device, torch.float32)).flatten().cpu())
    return concat_values(out)


class MUSIQ(LearnedMetric):
    """MUSIQ, KonIQ-10k checkpoint, as pyiqa computes it. Parameters: ``pretrained`` (false: random weights,
    plumbing/speed only), ``weights_path``, ``device``, ``batch`` (frames per forward), ``seed``, ``window``."""

    name: ClassVar[str] = "musiq"
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = True
    mode: ClassVar[str] = "NR"
    requires: ClassVar[tuple[str, ...]] = ("musiq-koniq",)
    cpu_batch: ClassVar[int | None] = 2  # on 2 CPU cores 8-frame forwards ran ~25% slower than 1-2 frames

    def __init__(self, pretrained: bool = True, weights_path: str | None = None, device: str = "cpu",
                 batch: int | None = None, seed: int = 0, window: int = 100, precision: str = "fp32"):
        super().__init__(pretrained=pretrained, weights_path=weights_path, device=device, batch=batch, seed=seed,
                         precision=precision,
                         window=window, checkpoint="koniq10k", implementation="pyiqa MUSIQ (pyiqa name 'musiq')",
                         input="RGB in [0, 1] mapped to [-1, 1]; native resolution + longer side 224 and 384, "
                               "32x32 patches", score_range="~0-100")

    def build(self) -> nn.Module:
        return build_musiq(self.pretrained, self.seed, self.weights_path)

    def frame_values(self, sr: torch.Tensor, hr: torch.Tensor | None) -> torch.Tensor:
        net = self.net
        return _no_reference_values(self, sr, net)


class CLIPIQA(LearnedMetric):
    """CLIP-IQA in pyiqa's default variant (RN50, 5 prompt pairs, full resolution, no positional embedding).
    Parameters as :class:`MUSIQ`."""

    name: ClassVar[str] = "clipiqa"
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = True
    mode: ClassVar[str] = "NR"
    requires: ClassVar[tuple[str, ...]] = ("clip-rn50",)

    def __init__(self, pretrained: bool = True, weights_path: str | None = None, device: str = "cpu",
                 batch: int | None = None, seed: int = 0, window: int = 100, precision: str = "fp32"):
        super().__init__(pretrained=pretrained, weights_path=weights_path, device=device, batch=batch, seed=seed,
                         precision=precision,
                         window=window, backbone="RN50", variant="clipiqa",
                         implementation="pyiqa CLIPIQA (pyiqa name 'clipiqa')", prompts="5 antonym pairs (pyiqa)",
                         pos_embedding=False, input="RGB in [0, 1], OpenAI CLIP mean/std, native resolution",
                         score_range="0-1")
        self._text: torch.Tensor | None = None

    def build(self) -> nn.Module:
        return build_clipiqa(self.pretrained, self.seed, self.weights_path)

    @property
    def clip(self) -> nn.Module:
        """pyiqa's CLIP model inside the CLIPIQA module, on this metric's device."""
        net = self.net
        clip = net.clip_model[0]
        if next(clip.parameters()).device != self.device:
            net.clip_model[0] = clip = clip.to(self.device)
        return clip

    def text_features(self) -> torch.Tensor:
        """(10, D) unit-norm features of the prompt pairs (positive first in each pair), computed once."""
        if self._text is None:
            clip = self.clip
            with self.precision():
                text = clip.encode_text(self.net.prompt_pairs.to(self.device)).float()
                self._text = text / text.norm(dim=-1, keepdim=True)
        return self._text

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] on the device → (B,) CLIP-IQA, as pyiqa's ``CLIPIQA.forward``."""
        net, clip = self.net, self.clip
        x = (x - net.default_mean.to(x)) / net.default_std.to(x)
        image = clip.encode_image(x, pos_embedding=net.pos_embedding).float()  # (B, D)
        image = image / image.norm(dim=-1, keepdim=True)
        logits = clip.logit_scale.exp() * image @ self.text_features().t()  # (B, 10)
        probs = logits.reshape(logits.shape[0], -1, 2).softmax(dim=-1)  # (B, 10) -> (B, 5 pairs, 2)
        return probs[..., 0].mean(dim=1)  # (B,)

    def frame_values(self, sr: torch.Tensor, hr: torch.Tensor | None) -> torch.Tensor:
        self.text_features()
        return _no_reference_values(self, sr, self.score)


__all__ = ["CLIPIQA", "MUSIQ"]
