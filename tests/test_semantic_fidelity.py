"""Semantic fidelity cos(f(SR_t), f(HR_t)): 1 for the truth itself, lower for a different frame, the same
values chunked as whole, and full-reference (needs the ground truth)."""
import pytest
import torch

from infvsr_bench.metrics import get_metric
from infvsr_bench.video_io import to_float

from .helpers import photo_frames, torch_threads


def test_semantic_fidelity_per_frame():
    with torch_threads(1):
        m = get_metric("semantic-fidelity", pretrained=False, batch_size=4)  # random weights: plumbing only
        assert m.mode == "FR" and m.describe()["params"]["random_weights"] is True
        hr = to_float(photo_frames(6, 64, 96, seed=9))
        sr = hr.clone()
        sr[3] = hr[3].flip(-1).flip(-2)  # a different picture at frame 3
        whole = m.update(sr, hr)
        assert torch.allclose(whole[[0, 1, 2, 4, 5]], torch.ones(5, dtype=torch.float64), atol=1e-6)
        assert whole[3] < 0.999
        m.reset()
        chunked = torch.cat([m.update(sr[i:i + 2], hr[i:i + 2]) for i in range(0, 6, 2)])
        assert torch.allclose(chunked, whole, atol=1e-6)
        with pytest.raises(ValueError, match="HR reference"):
            m.update(sr, None)
