"""The learned and semantic metrics on CUDA give the CPU's values (random weights: plumbing, not scores).

Marked ``gpu``: skipped without a CUDA device. Every learned metric runs float32 without TF32 on CUDA
(:meth:`LearnedMetric.precision`), so a CUDA value may differ from the CPU value by float rounding only; the
whole-chunk forward on CUDA must also equal one forward per frame there (batching changes no value).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from infvsr_bench.metrics import get_metric

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

LEARNED = ("lpips", "lpips-vgg", "dists", "tlp", "musiq", "clipiqa")


def _frames(n: int = 6, h: int = 192, w: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 3, h, w) float [0, 1]: a pan over a photograph, and a blurred, noisy copy as the "output"."""
    from skimage import data

    photo = data.astronaut()  # (512, 512, 3) uint8
    hr = np.stack([photo[40 + 2 * i:40 + 2 * i + h, 60 + 3 * i:60 + 3 * i + w] for i in range(n)])
    hr_t = torch.from_numpy(hr).permute(0, 3, 1, 2).float() / 255  # (n,h,w,3) -> (n,3,h,w)
    g = torch.Generator().manual_seed(0)
    blurred = torch.nn.functional.avg_pool2d(hr_t, 3, 1, 1, count_include_pad=False)
    sr = (blurred + 0.02 * torch.randn(hr_t.shape, generator=g)).clamp(0, 1)
    return sr, hr_t


def _values(name: str, device: str, sr: torch.Tensor, hr: torch.Tensor, **kw) -> np.ndarray:
    whole = {"crop": "none", "skip_ends": 0} if name == "tlp" else {}  # every pair, no clip length needed
    m = get_metric(name, pretrained=False, device=device, **{**whole, **kw})
    fr = m.mode == "FR"
    return m.update(sr.to(device), hr.to(device) if fr else None).cpu().numpy()


@pytest.mark.parametrize("name", LEARNED)
def test_cuda_equals_cpu_and_batching_changes_nothing(name):
    sr, hr = _frames()
    cpu = _values(name, "cpu", sr, hr)
    gpu = _values(name, "cuda", sr, hr)
    gpu_single = _values(name, "cuda", sr, hr, batch=1)
    finite = ~np.isnan(cpu)
    print(f"{name}: max |cuda - cpu| {np.abs(gpu - cpu)[finite].max():.2e}, "
          f"max |cuda whole - cuda per frame| {np.abs(gpu - gpu_single)[finite].max():.2e}")
    assert np.array_equal(np.isnan(cpu), np.isnan(gpu))
    np.testing.assert_allclose(gpu[finite], cpu[finite], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gpu[finite], gpu_single[finite], rtol=1e-4, atol=1e-5)


def test_dover_cuda_equals_cpu():
    """The full DOVER architecture (random weights) scores one 64-frame window alike on CUDA and the CPU."""
    sr, _ = _frames(n=64, h=192, w=256)
    out = {}
    for device in ("cpu", "cuda"):
        m = get_metric("dover", pretrained=False, device=device)
        m.start({"frames": 64})
        for i in range(0, 64, 16):
            m.update(sr[i:i + 16].to(device), None)
        out[device] = (m.compute()["mean"], m.extra()["technical_raw"], m.extra()["aesthetic_raw"])
    print(f"dover: cpu {out['cpu']}, cuda {out['cuda']}")
    np.testing.assert_allclose(out["cuda"], out["cpu"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
@pytest.mark.parametrize("name", LEARNED)
def test_fast_precisions_on_cuda_stay_close_and_restore_state(name, precision):
    """The opt-in fast modes move values by a small fraction of their scale, and leave TF32 flags and
    autocast as they found them."""
    from infvsr_bench.metrics import METRICS

    if precision not in METRICS.get(name).precisions:
        pytest.skip(f"{name} offers no {precision}")
    flags = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    sr, hr = _frames()
    exact = _values(name, "cuda", sr, hr)
    fast = _values(name, "cuda", sr, hr, precision=precision)
    finite = ~np.isnan(exact)
    diff, scale = np.abs(fast - exact)[finite].max(), np.abs(exact[finite]).max()
    print(f"{name} {precision}: max |fast - fp32| {diff:.2e} (values up to {scale:.2e})")
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == flags
    assert not torch.is_autocast_enabled("cuda")
    assert 0 < diff <= 0.05 * scale + 1e-5  # > 0: the mode really ran


@pytest.mark.parametrize("name", ["semantic-mobilenet", "semantic-clip", "semantic-dino"])
def test_semantic_backbones_on_cuda_equal_cpu(name):
    """``run --device cuda`` puts the semantic backbones on the GPU too; without TF32 their per-frame values
    (cosine similarities) are the CPU's up to float rounding."""
    sr, _ = _frames(n=4, h=192, w=256)
    m = get_metric(name, pretrained=False)  # one network (the random backbones are not seeded), moved
    cpu = m.update(sr, None).numpy()
    m.backbone.to("cuda")
    m.reset()
    gpu = m.update(sr.cuda(), None).cpu().numpy()
    finite = ~np.isnan(cpu)
    print(f"{name}: max |cuda - cpu| {np.abs(gpu - cpu)[finite].max():.2e}")
    assert np.array_equal(np.isnan(cpu), np.isnan(gpu))
    np.testing.assert_allclose(gpu[finite], cpu[finite], rtol=1e-5, atol=1e-5)
