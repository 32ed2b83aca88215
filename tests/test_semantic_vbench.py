"""``semantic-dino`` / ``semantic-clip`` with ``preset=vbench`` (the default) against a reconstruction of VBench's
``subject_consistency`` / ``background_consistency`` on real photographs: ``vbench/utils.py``'s ``load_video``
(float 0–255 levels) and transforms with the tensor ``Resize`` of the torchvision VBench pins (< 0.16: no
antialiasing), DINO's ``prepare_tokens`` / ``interpolate_pos_encoding`` rewritten here, VBench's per-frame loop
and per-video score. The same seeded random weights on both sides: what is under test is everything but the
trained weights."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision import transforms

from infvsr_bench.errors import BadInput
from infvsr_bench.metrics import get_metric
from infvsr_bench.metrics.backbones import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD

from .helpers import torch_threads


@pytest.fixture(scope="module")
def video_u8() -> np.ndarray:
    """(3, 300, 400, 3) uint8: a photograph panned 9 px right and 5 px down per frame (reduced to 224 by the
    resize, so antialiasing matters)."""
    from skimage import data

    img = data.astronaut()
    return np.stack([img[20 + 5 * i:320 + 5 * i, 30 + 9 * i:430 + 9 * i] for i in range(3)])


def _vbench_loop(features: list[torch.Tensor]) -> tuple[list[float], float]:
    """VBench's per-video loop: per frame after the first, the mean of max(0, cos) to the previous and to the
    first frame's normalised features; the video score is their sum over len - 1."""
    values, first, former = [], None, None
    for i, f in enumerate(features):
        f = F.normalize(f, dim=-1, p=2)
        if i == 0:
            first = f
        else:
            sim_pre = max(0.0, F.cosine_similarity(former, f).item())
            sim_fir = max(0.0, F.cosine_similarity(first, f).item())
            values.append((sim_pre + sim_fir) / 2)
        former = f
    return values, sum(values) / (len(features) - 1)


def _dino_reference_forward(net, x: torch.Tensor) -> torch.Tensor:
    """DINO ``VisionTransformer.forward`` (prepare_tokens with interpolate_pos_encoding, blocks, norm, CLS)
    rewritten, on the weights of ``net``. Note DINO names the input's height ``w`` and its width ``h``."""
    b, nc, w, h = x.shape
    tokens = net.patch_embed(x)
    tokens = torch.cat((net.cls_token.expand(b, -1, -1), tokens), dim=1)
    npatch, n = tokens.shape[1] - 1, net.pos_embed.shape[1] - 1
    if npatch == n and w == h:
        pos = net.pos_embed
    else:
        dim = tokens.shape[-1]
        w0, h0 = w // 16 + 0.1, h // 16 + 0.1
        grid = net.pos_embed[:, 1:].reshape(1, int(math.sqrt(n)), int(math.sqrt(n)), dim).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=(w0 / math.sqrt(n), h0 / math.sqrt(n)), mode="bicubic")
        assert int(w0) == grid.shape[-2] and int(h0) == grid.shape[-1]
        pos = torch.cat((net.pos_embed[:, 0].unsqueeze(0), grid.permute(0, 2, 3, 1).view(1, -1, dim)), dim=1)
    z = tokens + pos
    for block in net.blocks:
        z = block(z)
    return net.norm(z)[:, 0]


def _metric_values(metric, video_u8: np.ndarray) -> np.ndarray:
    frames = torch.from_numpy(video_u8).permute(0, 3, 1, 2).float() / 255  # (T, H, W, 3) -> (T, 3, H, W)
    metric.reset()
    metric.start({"frames": len(video_u8), "scene_cuts": []})
    return torch.cat([metric.update(frames[:2]), metric.update(frames[2:])]).numpy()  # two chunks


def _ours(name: str, video_u8: np.ndarray):
    """The metric with its default preset (vbench) and its per-frame values on the video."""
    metric = get_metric(name, pretrained=False)
    assert metric.params["preset"] == "vbench"
    return metric, _metric_values(metric, video_u8)


def _load_video(video_u8: np.ndarray) -> torch.Tensor:
    """VBench's ``load_video``: ``torch.Tensor(uint8 array)`` — float32 levels 0-255 — as (T, C, H, W)."""
    return torch.Tensor(video_u8).permute(0, 3, 1, 2)


def _other_preset(name: str, metric):
    """The same metric with ``preset=antialiased`` on the same (seeded random) network, built once."""
    other = get_metric(name, pretrained=False, preset="antialiased")
    other.backbone._net = metric.backbone.net
    return other


def test_semantic_dino_vbench_is_vbench_subject_consistency(video_u8):
    with torch_threads(2):
        metric, ours = _ours("semantic-dino", video_u8)
        # VBench: load_video, dino_transform(224), the model one frame at a time
        images = transforms.Compose([transforms.Resize(size=224, antialias=False),
                                     transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])(_load_video(video_u8))
        assert images.shape[-2:] == (224, 298)  # no crop: 14 x 18 patches, position embeddings interpolated
        net = metric.backbone.net
        with torch.no_grad():
            feats = [_dino_reference_forward(net, images[i].unsqueeze(0)) for i in range(len(images))]
        want, video_score = _vbench_loop(feats)
        assert math.isnan(ours[0])
        print(f"semantic-dino vbench: max |ours - VBench| {np.abs(ours[1:] - want).max():.2e}")
        np.testing.assert_allclose(ours[1:], want, rtol=0, atol=2e-6)
        assert metric.compute()["mean"] == pytest.approx(video_score, abs=2e-6)
        frames = torch.from_numpy(video_u8).permute(0, 3, 1, 2).float() / 255
        other = _other_preset("semantic-dino", metric).backbone.prepare(frames)  # a different network input
        assert other.shape[-2:] == (224, 224) and float(other.abs().max()) < 5  # cropped, [0, 1] scale


def test_semantic_clip_vbench_is_vbench_background_consistency(video_u8):
    with torch_threads(2):
        metric, ours = _ours("semantic-clip", video_u8)
        # VBench: load_video, clip_transform(224) (bicubic, no antialias, no clamp), all frames at once
        images = transforms.Compose([
            transforms.Resize(224, interpolation=transforms.InterpolationMode.BICUBIC, antialias=False),
            transforms.CenterCrop(224), transforms.Lambda(lambda x: x.float().div(255.0)),
            transforms.Normalize(CLIP_MEAN, CLIP_STD)])(_load_video(video_u8))
        assert float(images.max()) > (1 - CLIP_MEAN[0]) / CLIP_STD[0]  # bicubic overshoot kept (no clamp)
        with torch.no_grad():
            feats = metric.backbone.net(images)
        want, video_score = _vbench_loop([f[None] for f in feats])
        np.testing.assert_allclose(ours[1:], want, rtol=0, atol=2e-6)
        assert metric.compute()["mean"] == pytest.approx(video_score, abs=2e-6)
        other = _metric_values(_other_preset("semantic-clip", metric), video_u8)
        print(f"semantic-clip vbench: max |ours - VBench| {np.abs(ours[1:] - np.asarray(want)).max():.2e}, "
              f"antialiased preset apart by {np.abs(other[1:] - ours[1:]).max():.2e}")
        assert np.abs(other[1:] - ours[1:]).max() > 1e-4


def test_presets_are_recorded_and_checked():
    assert get_metric("semantic-clip", pretrained=False, preset="antialiased").params["preset"] == "antialiased"
    assert "preset" not in get_metric("semantic-mobilenet", pretrained=False).params  # one preprocessing only
    d = get_metric("semantic-dino", pretrained=False).describe()
    assert d["backbone"]["preprocess"]["preset"] == "vbench" and "0-255" in d["backbone"]["preprocess"]["scale"]
    with pytest.raises(BadInput, match="preset"):
        get_metric("semantic-dino", pretrained=False, preset="vbench2")
    with pytest.raises(BadInput, match="preset"):
        get_metric("semantic-mobilenet", pretrained=False, preset="vbench")
