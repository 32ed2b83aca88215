"""Behaviour with the real pretrained files of the networks this machine does not have (RAFT, CLIP, DINO).

Marked ``weights``: each test skips, naming the missing file, unless the file resolves through weights.py
(e.g. ``INFVSR_BENCH_WEIGHTS`` pointing at a folder holding it). With random weights these properties do
not hold, so they are what tells a real, correctly loaded network apart from a wrong key mapping.
"""
import math

import numpy as np
import pytest
import torch
from skimage import data

from infvsr_bench.errors import WeightsNotFound
from infvsr_bench.metrics import get_metric


def _need(weight_id: str) -> None:
    from infvsr_bench import weights

    try:
        weights.resolve(weight_id)
    except WeightsNotFound as exc:
        pytest.skip(str(exc))


def _tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0  # (T,H,W,3)->(T,3,H,W)


def _pan(img: np.ndarray, n: int, h: int, w: int, dy: int = 2, dx: int = 4, y0: int = 20, x0: int = 20):
    return np.stack([img[y0 + dy * i:y0 + dy * i + h, x0 + dx * i:x0 + dx * i + w, :3] for i in range(n)])


@pytest.mark.weights
def test_real_raft_sees_a_translation_as_consistent_and_unrelated_frames_as_not():
    _need("raft_large")
    pan = _tensor(_pan(data.astronaut(), 4, 256, 256))
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    unrelated = _tensor(np.stack([p[20:276, 20:276, :3] for p in photos]))
    m = get_metric("ewarp-raft")
    moving = m.update(pan).numpy()
    assert math.isnan(moving[0]) and np.all(moving[1:] < 2.0), moving
    m = get_metric("ewarp-raft")
    cut = m.update(unrelated).numpy()
    defined = cut[1:][~np.isnan(cut[1:])]
    assert defined.size == 0 or defined.min() > 50.0, cut


@pytest.mark.weights
@pytest.mark.parametrize("name,weight_id", [("semantic-clip", "clip-vit-b-32"), ("semantic-dino", "dino-vitb16")])
def test_real_backbones_tell_scenes_apart(name, weight_id):
    """Frames of one slowly panning photograph are far more alike than frames of two photographs."""
    _need(weight_id)
    video = _tensor(np.concatenate([_pan(data.astronaut(), 6, 160, 224), _pan(data.coffee(), 6, 160, 224)]))
    m = get_metric(name)
    feats = m.backbone(video)  # (12, D), L2-normalised
    same = float((feats[0] * feats[5]).sum())
    other = float((feats[0] * feats[6:]).sum(dim=1).max())
    assert same > 0.85 and other < same - 0.1, (same, other)
