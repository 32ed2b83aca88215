"""Semantic fidelity to the reference, per frame: cos(f(SR_t), f(HR_t)) with a frozen feature backbone
(MobileNetV2 by default; any registered backbone by ``backbone=``). Full-reference: where semantic
consistency asks whether the output stays like itself over time, this asks whether each output frame still
shows what the ground truth shows — its slope over a clip (see the run report's drift section) is semantic
drift away from the truth.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch

from .backbones import FeatureBackbone, get_backbone
from .base import StreamingMetric


class SemanticFidelity(StreamingMetric):
    """Per-frame cosine similarity of output and ground-truth features (1 = the same features)."""

    name: ClassVar[str] = "semantic-fidelity"
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = True
    mode: ClassVar[str] = "FR"
    unit: ClassVar[str] = "cos"
    param_limits: ClassVar[dict[str, str]] = {"batch_size": ">= 1"}

    def __init__(self, backbone: str | FeatureBackbone = "mobilenet_v2", pretrained: bool = True,
                 weights_path: str | None = None, device: str = "cpu", batch_size: int = 32, window: int = 100):
        if isinstance(backbone, FeatureBackbone):
            self.backbone = backbone
        else:
            self.backbone = get_backbone(backbone, pretrained=bool(pretrained), weights_path=weights_path,
                                         device=device, batch_size=batch_size)
        bb = self.backbone
        self.requires = (bb.weight_id,) if bb.pretrained and bb.weight_id is not None else ()
        if self.requires and weights_path is not None:  # an explicit file is checked now, before any work
            from .. import weights

            weights.resolve(bb.weight_id, weights_path)
        self.weights_path = weights_path  # not a param: the file is identified by its sha256, not its path
        super().__init__(window=window, backbone=bb.name, pretrained=bb.pretrained)
        if not bb.pretrained:
            self.params["random_weights"] = True

    def frame_values(self, sr: torch.Tensor, hr: torch.Tensor | None) -> torch.Tensor:
        a, b = self.backbone(sr), self.backbone(hr)  # (T, D) unit vectors each
        return (a.double() * b.double()).sum(dim=1).clamp(-1.0, 1.0)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["backbone"] = self.backbone.describe()
        return out
