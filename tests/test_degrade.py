"""Degradation pipelines: bicubic oracle, chunk independence, determinism, the real-world chain degrades."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from infvsr_bench.degrade import Bicubic, RealWorld, bicubic_down, make_degradation
from infvsr_bench.errors import BadInput
from infvsr_bench.video_io import FrameReader, probe, quantize, to_float, to_uint8

from .helpers import photo_frames


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_bicubic_matches_the_float_convention_and_pil():
    from PIL import Image

    hr = photo_frames(3, height=48, width=64)
    lr = bicubic_down(hr, 4)
    assert lr.shape == (3, 12, 16, 3) and lr.dtype == np.uint8
    ref = to_uint8(quantize(F.interpolate(to_float(hr), scale_factor=0.25, mode="bicubic",
                                          align_corners=False, antialias=True)))
    assert np.abs(lr.astype(int) - ref).max() <= 1
    pil = np.stack([np.asarray(Image.fromarray(f).resize((16, 12), Image.BICUBIC)) for f in hr])
    assert np.abs(lr.astype(int) - pil).max() <= 3 and _psnr(lr, pil) > 45  # independent implementation


def test_pipelines_do_not_depend_on_chunking():
    hr = photo_frames(9, height=48, width=64)
    for deg in (Bicubic(4), RealWorld(4, seed=5)):
        d = deg.for_clip(2)
        by1 = np.concatenate([d.apply(hr[i:i + 1], i) for i in range(9)])
        by7 = np.concatenate([d.apply(hr[:7], 0), d.apply(hr[7:], 7)])
        np.testing.assert_array_equal(by1, by7)


def test_realworld_params_are_seeded_per_clip_and_in_range():
    deg = RealWorld(4, seed=1)
    a, b = deg.for_clip(0).params, deg.for_clip(1).params
    assert a == RealWorld(4, seed=1).for_clip(0).params and a != b
    for p in (a, b):
        assert 0.4 <= p["blur_sigma"] <= 1.6 and 1.0 <= p["noise_sigma"] <= 6.0
        assert 55 <= p["jpeg_quality"] <= 85 and 22 <= p["crf"] <= 30
    assert deg.name == "realworld-x4" and Bicubic(2).name == "bicubic-x2"
    assert deg.describe()["chain"][-1] == "h264_round_trip"


def test_realworld_chain_is_deterministic_and_degrades(tmp_path):
    hr = photo_frames(12, height=48, width=64)
    hr[6:] = hr[6]  # a static stretch: only fresh per-frame noise can make its LR frames differ
    shas, frames = [], []
    for k in range(2):
        path = tmp_path / f"lr{k}.mkv"
        with RealWorld(4, seed=9).for_clip(0).open_writer(path, fps=25) as w:
            w.write(hr[:5])
            w.write(hr[5:])
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f"lr{k}")) == [path.name]
        shas.append(hashlib.sha256(path.read_bytes()).hexdigest())
        frames.append(np.concatenate(list(FrameReader(path).iter_uint8())))
    assert shas[0] == shas[1]
    info = probe(tmp_path / "lr0.mkv")
    assert (info.frames, info.width, info.height) == (12, 16, 12)
    clean = bicubic_down(hr, 4)
    psnr = _psnr(frames[0], clean)
    assert np.isfinite(psnr) and 15 < psnr < 40, psnr
    assert np.array_equal(clean[7], clean[8])
    # Before the codec (which may skip the noise of a static stretch), each frame gets a fresh draw.
    framewise = RealWorld(4, seed=9).for_clip(0).apply(hr, 0)
    assert all(np.abs(framewise[i].astype(int) - framewise[i + 1]).mean() > 0.5 for i in range(6, 11))


def test_factory_and_bad_inputs():
    assert isinstance(make_degradation("bicubic", 4), Bicubic)
    rw = make_degradation({"kind": "realworld", "crf": [30, 30]}, 4, seed=2)
    assert rw.for_clip(0).params["crf"] == 30
    with pytest.raises(BadInput, match="did you mean 'bicubic'"):
        make_degradation("bicubc", 4)
    with pytest.raises(BadInput, match="takes no parameters"):
        make_degradation({"kind": "bicubic", "sigma": 1}, 4)
    with pytest.raises(BadInput, match="unknown realworld"):
        make_degradation({"kind": "realworld", "blur": [1, 2]}, 4)
    with pytest.raises(BadInput, match="not a multiple"):
        bicubic_down(np.zeros((1, 50, 64, 3), np.uint8), 4)
    assert torch.get_num_threads() >= 1  # nothing above changed global torch state
