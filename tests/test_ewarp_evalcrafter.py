"""``ewarp-raft:preset=evalcrafter`` against a reconstruction of EvalCrafter's ``compute_video_warping_error`` (the
code DOVE's ``ewarp.py`` follows, ×1000) on real photographs: its frame handling (÷255, 0.5× bilinear,
RAFT's ``InputPadder``), RAFT's wrapper normalisation (``2·(x/255) − 1`` on frames already ÷255), Lai et al.'s
``detect_occlusion`` with FlowNet2's ``Resample2d`` and motion-boundary code rewritten in numpy, the error on the
padded grid and the per-video mean. Both sides run the same flow network: a smooth stand-in with RAFT's call
signature whose flow depends on the input's scale (random RAFT weights mark every pixel occluded, which would leave
nothing to compare, and cost minutes on a CPU); the network itself is torchvision's RAFT in the metric."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from infvsr_bench.errors import BadInput
from infvsr_bench.metrics import get_metric, temporal

from .helpers import torch_threads


@pytest.fixture(scope="module")
def frames_u8() -> np.ndarray:
    """(3, 260, 300, 3) uint8: a photograph panned 3 px right and 2 px down per frame; at 0.5x 130x150, which
    InputPadder pads to 136x152."""
    from skimage import data

    img = data.astronaut()
    return np.stack([img[40 + 2 * i:300 + 2 * i, 60 + 3 * i:360 + 3 * i] for i in range(3)])


class SmoothFlow(torch.nn.Module):
    """Stands in for RAFT: ``net(x1, x2, num_flow_updates=k)`` → [flow (N, 2, H, W)], a smooth function of the
    inputs' local difference (antisymmetric in the two frames, so most pixels pass the occlusion check), in
    pixels proportional to the inputs' scale (so a different input normalisation gives a different flow)."""

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, num_flow_updates: int = 12) -> list[torch.Tensor]:
        d = F.avg_pool2d((x1 - x2).mean(1, keepdim=True), 9, stride=1, padding=4, count_include_pad=False)
        return [torch.cat([3000.0 * d, -2000.0 * d], dim=1)]  # (N, 2, H, W)


def _resample2d(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """FlowNet2's ``Resample2d`` (kernel size 1): (C, H, W) sampled at x + flow(x) bilinearly, each of the four
    neighbour indices clamped to the image."""
    _, h, w = img.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xf, yf = xs + flow[..., 0], ys + flow[..., 1]
    x0, y0 = np.floor(xf), np.floor(yf)
    alpha, beta = xf - x0, yf - y0
    xl, xr = np.clip(x0, 0, w - 1).astype(int), np.clip(x0 + 1, 0, w - 1).astype(int)
    yt, yb = np.clip(y0, 0, h - 1).astype(int), np.clip(y0 + 1, 0, h - 1).astype(int)
    return ((1 - alpha) * (1 - beta) * img[:, yt, xl] + alpha * (1 - beta) * img[:, yt, xr]
            + (1 - alpha) * beta * img[:, yb, xl] + alpha * beta * img[:, yb, xr])


def _detect_occlusion(fw_flow: np.ndarray, bw_flow: np.ndarray, img: np.ndarray):
    """EvalCrafter's ``warp_utils.detect_occlusion(fw_flow, bw_flow, img)``, which it calls with the arguments
    swapped (``detect_occlusion(bw, fw, img2)``); returns (occlusion (H, W), warped img (C, H, W))."""
    fw_flow_w = _resample2d(fw_flow.transpose(2, 0, 1), bw_flow).transpose(1, 2, 0)
    warp_img = _resample2d(img, bw_flow)
    mag = lambda f: f[..., 0] ** 2 + f[..., 1] ** 2  # noqa: E731
    mask1 = mag(fw_flow_w + bw_flow) > 0.01 * (mag(fw_flow_w) + mag(bw_flow)) + 0.5
    fx, fy = bw_flow[..., 0], bw_flow[..., 1]
    du = lambda a: np.concatenate([a[:, :-1] - a[:, 1:], np.zeros((a.shape[0], 1))], 1)  # noqa: E731
    dv = lambda a: np.concatenate([a[:-1] - a[1:], np.zeros((1, a.shape[1]))], 0)  # noqa: E731
    grad = du(fx) ** 2 + dv(fx) ** 2 + du(fy) ** 2 + dv(fy) ** 2
    mask2 = grad > 0.01 * mag(bw_flow) + 0.002
    return np.logical_or(mask1, mask2).astype(np.float64), warp_img


def _evalcrafter_warping_error(frames_u8: np.ndarray, net) -> tuple[list[float], float]:
    """``compute_video_warping_error`` rewritten: per pair E (unscaled), and the video's mean over pairs."""
    def raft(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:  # RAFT.forward's own normalisation, test_mode
        flow = net(2 * (a / 255.0) - 1.0, 2 * (b / 255.0) - 1.0, num_flow_updates=20)[-1]
        return flow[0].numpy().transpose(1, 2, 0)  # tensor2img: (H, W, 2)

    per_pair = []
    for i in range(len(frames_u8) - 1):
        img1 = torch.from_numpy(frames_u8[i]).permute(2, 0, 1).float().unsqueeze(0) / 255.0
        img2 = torch.from_numpy(frames_u8[i + 1]).permute(2, 0, 1).float().unsqueeze(0) / 255.0
        img1 = F.interpolate(img1, scale_factor=0.5, mode="bilinear", align_corners=False)
        img2 = F.interpolate(img2, scale_factor=0.5, mode="bilinear", align_corners=False)
        ht, wd = img1.shape[-2:]
        pad_ht, pad_wd = (((ht // 8) + 1) * 8 - ht) % 8, (((wd // 8) + 1) * 8 - wd) % 8
        pad = [pad_wd // 2, pad_wd - pad_wd // 2, pad_ht // 2, pad_ht - pad_ht // 2]  # InputPadder, 'sintel'
        img1, img2 = F.pad(img1, pad, mode="replicate"), F.pad(img2, pad, mode="replicate")
        with torch.no_grad():
            fw_flow, bw_flow = raft(img1, img2), raft(img2, img1)
        fw_occ, warp_img2 = _detect_occlusion(bw_flow, fw_flow, img2[0].numpy())
        noc = 1 - fw_occ
        diff_sq = ((warp_img2 - img1[0].numpy()) * noc) ** 2
        n = noc.sum()
        if n == 0:
            n = diff_sq.size
        per_pair.append(float(diff_sq.sum() / n))
    return per_pair, sum(per_pair) / (len(frames_u8) - 1)


def test_evalcrafter_preset_reproduces_evalcrafters_code(frames_u8):
    with torch_threads(2):
        metric = get_metric("ewarp-raft", pretrained=False, preset="evalcrafter")
        metric._flow._net = SmoothFlow()
        p = metric.params
        assert p["preset"] == "evalcrafter" and p["all_occluded"].startswith("0") and "never removed" in p["padding"]
        frames = torch.from_numpy(frames_u8).permute(0, 3, 1, 2).float() / 255  # (T, H, W, 3) -> (T, 3, H, W)
        metric.start({"frames": 3, "scene_cuts": []})
        ours = torch.cat([metric.update(frames[:2]), metric.update(frames[2:])]).numpy()
        want, video = _evalcrafter_warping_error(frames_u8, metric._flow.net)
        assert math.isnan(ours[0]) and np.all(ours[1:] > 0) and metric.extra()["occluded_fraction"] < 0.9
        print(f"ewarp-raft evalcrafter: ours {ours[1:]}, EvalCrafter x1000 {np.asarray(want) * 1000}, "
              f"max |diff| {np.abs(ours[1:] - np.asarray(want) * 1000).max():.2e}")
        np.testing.assert_allclose(ours[1:], np.asarray(want) * 1000, rtol=1e-5, atol=1e-6)
        assert metric.compute()["mean"] == pytest.approx(video * 1000, rel=1e-5)
        suite = get_metric("ewarp-raft", pretrained=False)  # the same random weights, the recipe without quirks
        suite._flow._net = metric._flow.net
        assert "preset" not in suite.params and suite.params["all_occluded"] == "nan"
        plain = suite.update(frames).numpy()
        assert not np.allclose(np.nan_to_num(plain[1:], nan=-1.0), ours[1:], rtol=1e-3)


def test_evalcrafter_scores_an_all_occluded_pair_0(monkeypatch):
    """EvalCrafter divides the (zero) masked sum by the element count when no pixel is kept: 0, where the suite
    preset reports NaN (undefined)."""
    def all_occluded(a, b, fw, bw):
        n = a.shape[0]
        return torch.full((n,), math.nan, dtype=torch.float64), torch.ones(n, dtype=torch.float64)

    monkeypatch.setattr(temporal, "warp_error", all_occluded)
    frames = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    for preset, want in (("evalcrafter", 0.0), ("suite", None)):
        m = get_metric("ewarp-raft", pretrained=False, preset=preset, iters=1)
        m._flow.bidirectional = lambda a, b: (torch.zeros(a.shape[0], 2, *a.shape[2:]),) * 2
        v = m.update(frames).numpy()
        assert (v[1] == want) if want is not None else math.isnan(v[1])
    with pytest.raises(BadInput, match="preset"):
        get_metric("ewarp-raft", pretrained=False, preset="dove")
