"""Streaming metrics by name: ``get_metric(name, **params)``."""
from __future__ import annotations

from typing import Any

from ..registry import Registry, parse_spec
from .base import StreamingMetric

METRICS = Registry("metric")
METRICS.register("psnr", "infvsr_bench.metrics.fidelity:PSNR",
                 help="PSNR in dB (BasicSR convention by default; presets basicsr|pyiqa, color, crop_border)")
METRICS.register("ssim", "infvsr_bench.metrics.fidelity:SSIM",
                 help="SSIM (BasicSR convention by default: 11x11 Gaussian sigma 1.5, valid, float64)")
METRICS.register("ewarp-dis", "infvsr_bench.metrics.temporal:EwarpDIS",
                 help="flow-warping error x1000 on the output, OpenCV DIS flow (EvalCrafter E*warp recipe)")
METRICS.register("ewarp-raft", "infvsr_bench.metrics.temporal:EwarpRAFT",
                 help="flow-warping error x1000 on the output, torchvision RAFT flow (EvalCrafter E*warp)")
METRICS.register("ewarp-ref", "infvsr_bench.metrics.temporal:EwarpRef",
                 help="flow-warping error x1000 of the output with flow and mask from the HR video")
METRICS.register("tof", "infvsr_bench.metrics.temporal:TOF",
                 help="tOF: Farneback flow difference output vs HR (TecoGAN recipe)")
METRICS.register("flicker", "infvsr_bench.metrics.temporal:Flicker",
                 help="VBench temporal flickering on the output (255 - mean abs frame difference)/255")
METRICS.register("semantic-mobilenet", "infvsr_bench.metrics.semantic:SemanticMobileNet",
                 help="semantic consistency over time, torchvision MobileNetV2 (ImageNet) features")
METRICS.register("semantic-clip", "infvsr_bench.metrics.semantic:SemanticCLIP",
                 help="semantic consistency over time, CLIP ViT-B/32 features (default preset=vbench: VBench "
                      "background_consistency)")
METRICS.register("semantic-dino", "infvsr_bench.metrics.semantic:SemanticDINO",
                 help="semantic consistency over time, DINO ViT-B/16 features (default preset=vbench: VBench "
                      "subject_consistency)")
METRICS.register("semantic-fidelity", "infvsr_bench.metrics.semantic_fidelity:SemanticFidelity",
                 help="cos(f(SR_t), f(HR_t)) per frame, full-reference (backbone=mobilenet_v2|clip-vit-b-32|...)")
METRICS.register("vmaf", "infvsr_bench.metrics.vmaf:VMAF",
                 help="VMAF (libvmaf in the ffmpeg binary shipped by imageio-ffmpeg), per frame")
METRICS.register("lpips", "infvsr_bench.metrics.perceptual:LPIPS",
                 help="LPIPS v0.1, AlexNet trunk (lpips package; pyiqa/TecoGAN convention), [0,1] -> [-1,1]")
METRICS.register("lpips-vgg", "infvsr_bench.metrics.perceptual:LPIPSVGG",
                 help="LPIPS v0.1, VGG16 trunk (lpips package; BasicSR's calculate_lpips convention)")
METRICS.register("dists", "infvsr_bench.metrics.perceptual:DISTS",
                 help="DISTS (pyiqa implementation and weights; non-commercial weights)")
METRICS.register("tlp", "infvsr_bench.metrics.perceptual:TLP",
                 help="tLP x100 (TecoGAN): |LPIPS-alex of consecutive output frames - of consecutive HR frames|")
METRICS.register("musiq", "infvsr_bench.metrics.no_reference:MUSIQ",
                 help="MUSIQ, KonIQ-10k checkpoint (pyiqa 'musiq'; non-commercial weights), no reference")
METRICS.register("clipiqa", "infvsr_bench.metrics.no_reference:CLIPIQA",
                 help="CLIP-IQA, pyiqa default variant (RN50, 5 prompt pairs, full resolution), no reference")
METRICS.register("dover", "infvsr_bench.metrics.dover:DOVERMetric",
                 help="DOVER fused score in [0,1] over seeded windows spread over the clip (non-commercial "
                      "weights)")

#: What ``run`` computes when no --metrics are given. Metrics whose weight files are absent are listed as
#: unavailable (with the reason) instead of failing the run; tof, ewarp-ref and ewarp-raft are opt-in
#: (tof runs two Farneback flows per frame; RAFT needs frames of at least 256 px).
DEFAULT_METRICS = ("psnr", "ssim", "ewarp-dis", "flicker", "vmaf", "semantic-mobilenet", "semantic-clip",
                   "semantic-dino")


def get_metric(name: str, /, **params: Any) -> StreamingMetric:
    """Build a registered streaming metric (parameters checked against its declared ones first)."""
    return METRICS.build(name, **params)


def parse_metric_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"psnr:preset=pyiqa:crop_border=4"`` → ``("psnr", {"preset": "pyiqa", "crop_border": 4})``."""
    name, params = parse_spec(spec, "metric")
    return METRICS.canonical(name), params


def metric_from_spec(spec: str, device: str | None = None) -> StreamingMetric:
    """Build a metric from a CLI spec; its ``label`` (the column and series name) is the normalised spec.

    ``device`` (a run's ``--device``) goes to every metric whose constructor names a ``device`` parameter
    (the networks: learned, semantic, RAFT, DOVER) unless the spec sets one; it is not part of the label, as
    it changes no value beyond float rounding (the CPU-only metrics run where they always run)."""
    import inspect

    name, params = parse_metric_spec(spec)
    kwargs = dict(params)
    if device is not None and "device" not in kwargs:
        target = METRICS.get(name)
        try:
            takes_device = "device" in inspect.signature(target).parameters
        except (TypeError, ValueError):  # no introspectable signature: leave the metric's own default
            takes_device = False
        if takes_device:
            kwargs["device"] = device
    metric = get_metric(name, **kwargs)
    metric.label = ":".join([name] + [f"{k}={v}" for k, v in sorted(params.items())])
    return metric


__all__ = ["METRICS", "DEFAULT_METRICS", "StreamingMetric", "get_metric", "metric_from_spec",
           "parse_metric_spec"]
