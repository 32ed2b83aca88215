"""Learned quality metrics (lpips, lpips-vgg, dists, tlp, musiq, clipiqa).

No real weights exist here, so plumbing runs on seeded random-initialised networks (LPIPS with a random trunk
and heads, pyiqa's archs unpretrained; MUSIQ and CLIP are shrunk where only the plumbing matters) and every
value is checked against an independent reference with the *same* weights: the ``lpips`` package's
``LPIPS.forward`` and pyiqa's own modules, called one frame at a time. The key mapping from torchvision's
files onto the sliced trunks is checked against torchvision's network. ``weights``-marked tests compare with
pyiqa's published calibration values when the real files are present and skip naming the missing file.
"""
from __future__ import annotations

import copy
import functools
import gc
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from infvsr_bench import weights
from infvsr_bench.errors import BadInput, WeightsNotFound
from infvsr_bench.metrics import METRICS, get_metric, no_reference, perceptual
from infvsr_bench.metrics import learned_nets as nets

from .helpers import one_line_error, run_cli, torch_threads

LEARNED = ("lpips", "lpips-vgg", "dists", "tlp", "musiq", "clipiqa")
#: CLIP RN50's layout with tiny widths and depths: the same code path, a fraction of the cost.
TINY_CLIP = (32, 224, (1, 1, 1, 1), 64, None, 77, 49408, 32, 1, 1)
#: MUSIQ with one small transformer layer (pyiqa's constructor arguments).
SMALL_MUSIQ = {"num_layers": 1, "hidden_size": 64, "mlp_dim": 128, "num_heads": 2}


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


_BUILT: dict = {}


def _cached(name: str, build):
    """Random networks are seeded and frozen, so tests may share them (building VGG16 / AlexNet with their
    classifiers costs seconds); pretrained builds are never cached."""
    def wrapper(*args, **kwargs):
        bound = (name, args, tuple(sorted(kwargs.items())), nets.CLIP_RN50)
        pretrained = args[-3] if len(args) >= 3 else args[0] if args else kwargs.get("pretrained")
        if pretrained:
            return build(*args, **kwargs)
        if bound not in _BUILT:
            _BUILT[bound] = build(*args, **kwargs)
        return copy.deepcopy(_BUILT[bound])
    return wrapper


@pytest.fixture(autouse=True)
def _shared_random_nets(monkeypatch):
    monkeypatch.setattr(perceptual, "build_lpips", _cached("lpips", nets.build_lpips))
    monkeypatch.setattr(perceptual, "build_dists", _cached("dists", nets.build_dists))
    monkeypatch.setattr(no_reference, "build_musiq", _cached("musiq", nets.build_musiq))
    monkeypatch.setattr(no_reference, "build_clipiqa", _cached("clipiqa", nets.build_clipiqa))


@pytest.fixture
def small_nets(monkeypatch):
    """MUSIQ with one small transformer layer and a tiny CLIP: the same code path, far cheaper."""
    monkeypatch.setattr(no_reference, "build_musiq",
                        _cached("musiq-small", functools.partial(nets.build_musiq, **SMALL_MUSIQ)))
    monkeypatch.setattr(nets, "CLIP_RN50", TINY_CLIP)


def _frames(n: int, h: int = 40, w: int = 56, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A panning photograph (output = a noisy copy) as (T, 3, H, W) in [0, 1]."""
    from skimage import data

    img = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float() / 255.0  # (3, 512, 512)
    hr = torch.stack([img[:, 100 + 2 * i:100 + 2 * i + h, 150 + 3 * i:150 + 3 * i + w] for i in range(n)])
    g = torch.Generator().manual_seed(seed)
    sr = (hr + 0.05 * torch.randn(hr.shape, generator=g)).clamp(0, 1)
    return sr, hr


#: tLP over whole frames and every pair in the tests of its arithmetic, streaming and sharing (TecoGAN's default
#: crop needs frames of at least 48 px a side and drops pairs at the ends: tested on its own)
WHOLE_CLIP = {"tlp": {"crop": "none", "skip_ends": 0}}


def _random(name: str, **kw):
    return get_metric(name, pretrained=False, **{**WHOLE_CLIP.get(name, {}), **kw})


def _feed(metric, sr, hr, sizes):
    out, i = [], 0
    for k in sizes:
        out.append(metric.update(sr[i:i + k], hr[i:i + k] if metric.mode == "FR" else None))
        i += k
    return torch.cat(out)


# -- registration and recorded conventions --------------------------------------------------------------------
def test_registered_with_recorded_variant_and_known_weight_ids():
    for name in LEARNED:
        assert name in METRICS.names()
        m = get_metric(name)  # constructing touches no file
        assert m.requires and all(weights.get(w).filename for w in m.requires)
        r = _random(name)
        assert r.requires == () and r.params["random_weights"] is True and r.extra()["random_weights"] is True
    assert get_metric("lpips").params["backbone"] == "alex" and get_metric("lpips-vgg").params["backbone"] == "vgg"
    assert get_metric("musiq").params["checkpoint"] == "koniq10k"
    assert get_metric("clipiqa").params["backbone"] == "RN50" and get_metric("clipiqa").params["variant"] == "clipiqa"
    assert get_metric("tlp").params["scale"] == 100.0
    assert {w for n in LEARNED for w in get_metric(n).requires} == {
        "alexnet", "lpips-alex-v0.1", "vgg16", "lpips-vgg-v0.1", "dists-pyiqa", "musiq-koniq", "clip-rn50"}
    assert "non-commercial" in weights.get("dists-pyiqa").licence and "non-commercial" in weights.get(
        "musiq-koniq").licence


# -- against independent references with the same weights -------------------------------------------------------
@pytest.mark.parametrize("trunk", ["alex", "vgg"])
def test_lpips_equals_the_lpips_package_per_frame(trunk):
    import lpips

    sr, hr = _frames(2, 32, 40)
    m = _random("lpips" if trunk == "alex" else "lpips-vgg", seed=3)
    ours = m.update(sr, hr)
    with torch.random.fork_rng():
        torch.manual_seed(3)  # the same seeded random trunk and heads, built independently
        ref = lpips.LPIPS(pretrained=False, net=trunk, version="0.1", pnet_rand=True, verbose=False).eval()
    with torch.no_grad():
        expected = torch.cat([ref(sr[i:i + 1], hr[i:i + 1], normalize=True).flatten() for i in range(2)])
    assert torch.allclose(ours, expected.double(), rtol=1e-5, atol=1e-7), (ours, expected)
    assert float(_random("lpips").update(hr, hr).abs().max()) == 0.0  # identical frames: exactly 0


def test_trunk_key_mapping_reproduces_torchvision_features():
    """torchvision ``features.{i}`` keys land on the layers lpips (AlexNet) and DISTS (VGG16) slice out."""
    import torchvision
    from torchvision.models import vgg

    x = torch.rand(1, 3, 48, 48)
    tv_alex = torchvision.models.alexnet(weights=None).eval()
    model = perceptual.build_lpips("alex", False, 1, None)
    slices = {f"net.slice{k}.": getattr(model.net, f"slice{k}") for k in range(1, 6)}
    model.load_state_dict(nets.trunk_state_dict(slices, tv_alex.state_dict()), strict=False)
    with torch.no_grad():
        assert torch.equal(model.net(x).relu5, tv_alex.features[:12](x))

    tv_vgg = vgg.make_layers(vgg.cfgs["D"]).eval()  # torchvision VGG16 ``features`` (same keys, no classifier)
    dists = perceptual.build_dists(False, 1, None)
    stages = {f"stage{k}.": getattr(dists, f"stage{k}") for k in range(1, 6)}
    features = {f"features.{k}": v for k, v in tv_vgg.state_dict().items()}
    dists.load_state_dict(nets.trunk_state_dict(stages, features), strict=False)
    with torch.no_grad():
        assert torch.equal(dists.stage1(x), tv_vgg[:4](x))  # relu1_2, before any L2 pooling
        y = dists.stage2[0](dists.stage1(x))  # DISTS's L2 pooling sits where torchvision's max-pool (4) was
        assert torch.equal(dists.stage2[1:](y), tv_vgg[5:9](y))


def test_dists_equals_pyiqa_per_frame():
    from unittest import mock

    from pyiqa.archs import dists_arch

    sr, hr = _frames(2, 32, 32)
    m = _random("dists", seed=2)
    ours = m.update(sr, hr)
    import torchvision

    vgg16 = torchvision.models.vgg16  # dists_arch.models is torchvision.models: keep the original
    with mock.patch.object(dists_arch.models, "vgg16", lambda **kw: vgg16(weights=None)):
        ref = dists_arch.DISTS(pretrained=False).eval()  # pyiqa's own construction (full VGG16)
    ref.load_state_dict(m.net.state_dict())
    with torch.no_grad():
        expected = torch.cat([ref(sr[i:i + 1], hr[i:i + 1]).flatten() for i in range(2)])
    assert torch.allclose(ours, expected.double(), rtol=1e-5, atol=1e-7)


def test_musiq_and_clipiqa_equal_pyiqa_modules(small_nets):
    from pyiqa.archs.musiq_arch import MUSIQ

    sr, _ = _frames(2)
    m = _random("musiq")
    ours = m.update(sr)
    ref = MUSIQ(pretrained=False, num_class=1, **SMALL_MUSIQ).eval()
    ref.load_state_dict(m.net.state_dict())
    with torch.no_grad():
        expected = torch.cat([ref(sr[i:i + 1]).flatten() for i in range(2)])
    assert torch.allclose(ours, expected.double(), rtol=1e-5, atol=1e-6)

    c = _random("clipiqa")
    ours = c.update(sr)
    with torch.no_grad():
        expected = c.net(sr).flatten()  # pyiqa's CLIPIQA.forward: prompts re-encoded inside the call
    assert torch.allclose(ours, expected.double(), rtol=1e-5, atol=1e-6)
    assert ((ours > 0) & (ours < 1)).all()


# -- the pretrained loading path, with stand-in files in the released key layouts ---------------------------------
def test_pretrained_lpips_loads_a_torchvision_trunk_file_and_the_packaged_heads(monkeypatch, tmp_path):
    """A torchvision-format AlexNet file (random values, so its published hash prefix is lifted for the test)
    plus the real v0.1 heads shipped in the lpips package give what lpips itself computes from the same
    AlexNet — lpips slicing torchvision's module, not our key mapping."""
    import dataclasses
    from unittest import mock

    import lpips
    import torchvision

    monkeypatch.setitem(weights._TABLE, "alexnet", dataclasses.replace(weights.get("alexnet"), sha256_prefix=None))
    with nets.seeded(5):
        alex = torchvision.models.alexnet(weights=None).eval()
    torch.save({k: v for k, v in alex.state_dict().items() if k.startswith("features.")},
               tmp_path / "alexnet-owt-7be5be79.pth")
    sr, hr = _frames(2)
    ours = get_metric("lpips", weights_path=str(tmp_path)).update(sr, hr)
    with mock.patch.object(lpips.pretrained_networks.tv, "alexnet", lambda **kw: alex):
        ref = lpips.LPIPS(pretrained=True, net="alex", version="0.1", verbose=False).eval()  # packaged heads
    with torch.no_grad():
        expected = ref(sr, hr, normalize=True).flatten()
    assert torch.allclose(ours, expected.double(), rtol=1e-5, atol=1e-7)


def test_pretrained_dists_loads_torchvision_vgg16_and_pyiqa_alpha_beta(monkeypatch, tmp_path):
    """Stand-ins for vgg16-397923af.pth and DISTS_weights-f5e65c96.pth give what pyiqa's DISTS computes when
    built on that VGG16 and loaded by pyiqa's own ``load_pretrained_network``."""
    import dataclasses
    from unittest import mock

    import torchvision
    from pyiqa.archs import dists_arch
    from pyiqa.archs.arch_util import load_pretrained_network

    monkeypatch.setitem(weights._TABLE, "vgg16", dataclasses.replace(weights.get("vgg16"), sha256_prefix=None))
    vgg16 = torchvision.models.vgg16
    with nets.seeded(7):
        tv_vgg = vgg16(weights=None).eval()
    torch.save({k: v for k, v in tv_vgg.state_dict().items() if k.startswith("features.")},
               tmp_path / "vgg16-397923af.pth")
    g = torch.Generator().manual_seed(8)
    torch.save({"alpha": 0.1 + 0.01 * torch.randn(1, 1475, 1, 1, generator=g),
                "beta": 0.1 + 0.01 * torch.randn(1, 1475, 1, 1, generator=g)}, tmp_path / "DISTS_weights-f5e65c96.pth")
    sr, hr = _frames(2, 32, 32)
    ours = get_metric("dists", weights_path=str(tmp_path)).update(sr, hr)
    with mock.patch.object(dists_arch.models, "vgg16", lambda **kw: tv_vgg):
        ref = dists_arch.DISTS(pretrained=False).eval()
    load_pretrained_network(ref, str(tmp_path / "DISTS_weights-f5e65c96.pth"), False)
    with torch.no_grad():
        expected = ref(sr, hr).flatten()
    assert torch.allclose(ours, expected.double(), rtol=1e-5, atol=1e-7)


def test_pretrained_musiq_loads_a_checkpoint_strictly(small_nets, tmp_path):
    from pyiqa.archs.musiq_arch import MUSIQ

    with nets.seeded(6):
        src = MUSIQ(pretrained=False, num_class=1, **SMALL_MUSIQ).eval()
    torch.save({f"module.{k}": v for k, v in src.state_dict().items()},  # a DataParallel prefix is stripped
               tmp_path / "musiq_koniq_ckpt-e95806b9.pth")
    sr, _ = _frames(2)
    ours = get_metric("musiq", weights_path=str(tmp_path)).update(sr)
    with torch.no_grad():
        expected = src(sr).flatten()
    assert torch.allclose(ours, expected.double(), rtol=1e-5, atol=1e-6)
    torch.save({"head.weight": src.head.weight}, tmp_path / "musiq_koniq_ckpt-e95806b9.pth")
    with pytest.raises(BadInput, match="key layout"):
        get_metric("musiq", weights_path=str(tmp_path)).update(sr)


# -- optimised paths against their oracles ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lpips", "musiq", "clipiqa"])
def test_batched_and_chunked_equal_whole_chunk(name, small_nets):
    sr, hr = _frames(3)
    whole = _feed(_random(name, batch=3), sr, hr, [3])  # one forward
    per_frame = _feed(_random(name, batch=1), sr, hr, [3])
    default = _feed(_random(name), sr, hr, [3])  # the whole chunk, or the class's cpu_batch on the CPU
    assert torch.allclose(whole, default, rtol=1e-5, atol=1e-6)
    chunked = _feed(_random(name, batch=2), sr, hr, [1, 2])
    assert torch.allclose(whole, per_frame, rtol=1e-5, atol=1e-6)
    assert torch.allclose(whole, chunked, rtol=1e-5, atol=1e-6)


def test_forwards_per_chunk():
    assert [(p.start, p.stop) for p in _random("lpips").pieces(5)] == [(0, 5)]
    assert [(p.start, p.stop) for p in _random("lpips", batch=2).pieces(5)] == [(0, 2), (2, 4), (4, 5)]
    assert [(p.start, p.stop) for p in _random("musiq").pieces(3)] == [(0, 2), (2, 3)]  # cpu_batch


def test_seeded_runs_repeat_and_reset_leaves_nothing_behind():
    sr, hr = _frames(3)
    first = _random("lpips").update(sr, hr)
    again = _random("lpips")
    assert torch.equal(again.update(sr, hr), first)  # a fresh instance, same seed: the same numbers
    again.reset()
    assert torch.equal(again.update(sr, hr), first) and again.compute()["frames"] == 3
    assert not torch.equal(_random("lpips", seed=1).update(sr, hr), first)


def test_tlp_equals_its_definition_and_carries_one_frame_across_chunks():
    import lpips

    sr, hr = _frames(6)
    whole = _feed(_random("tlp", seed=4), sr, hr, [6])
    assert math.isnan(whole[0]) and not torch.isnan(whole[1:]).any()
    for sizes, batch in (([2, 3, 1], None), ([1, 1, 1, 1, 1, 1], None), ([6], 4), ([4, 2], 1)):
        got = _feed(_random("tlp", seed=4, batch=batch), sr, hr, sizes)
        assert torch.allclose(got, whole, rtol=1e-5, atol=1e-6, equal_nan=True), (sizes, batch)
    with torch.random.fork_rng():
        torch.manual_seed(4)
        ref = lpips.LPIPS(pretrained=False, net="alex", version="0.1", pnet_rand=True, verbose=False).eval()
    with torch.no_grad():
        d_out = ref(sr[:-1], sr[1:], normalize=True).flatten()
        d_ref = ref(hr[:-1], hr[1:], normalize=True).flatten()
    assert torch.allclose(whole[1:], (100 * (d_out - d_ref).abs()).double(), rtol=1e-4, atol=1e-6)
    assert torch.equal(_random("tlp").update(hr, hr)[1:], torch.zeros(5, dtype=torch.float64))


def test_tlp_state_is_one_frame_whatever_the_length():
    sr, hr = _frames(3)
    m = _random("tlp")
    m.update(sr, hr)
    one = m.state_nbytes()
    for _ in range(4):
        m.update(sr, hr)
    assert one > 0 and m.state_nbytes() == one
    feats = perceptual.lpips_features(m.net, sr[:1])  # one frame's features, output and reference
    assert one == 2 * sum(f.numel() * f.element_size() for f in feats)
    m.reset()
    assert m.state_nbytes() == 0


def _both(lp, tl, sr, hr, sizes):
    """Feed lpips then tlp each chunk, the same tensor objects to both (as the runner does)."""
    got_l, got_t, i = [], [], 0
    for k in sizes:
        s, h = sr[i:i + k], hr[i:i + k]
        got_l.append(lp.update(s, h))
        got_t.append(tl.update(s, h))
        i += k
    return torch.cat(got_l), torch.cat(got_t)


def _started(*metrics):
    """Reset and start each metric as the runner does at the start of a clip."""
    for m in metrics:
        m.reset()
        m.start({})
    return metrics


def test_lpips_and_tlp_share_one_trunk_pass_per_piece_and_keep_their_values():
    sr, hr = _frames(6)
    alone_l = _feed(_random("lpips"), sr, hr, [3, 3])
    alone_t = _feed(_random("tlp"), sr, hr, [3, 3])
    gc.collect()
    lp, tl = _started(_random("lpips"), _random("tlp"))
    share = lp._share
    assert tl._share is share and lp.net is tl.net  # one network in memory
    got_l, got_t = _both(lp, tl, sr, hr, [3, 3])
    assert torch.equal(got_l, alone_l) and torch.equal(torch.nan_to_num(got_t), torch.nan_to_num(alone_t))
    assert share.forwards == 2  # one trunk pass per chunk for the pair (4 without sharing)
    assert share.stored_nbytes() == 0  # taken by the other member, then dropped
    lp.update(sr[:3], hr[:3])  # lpips alone on a chunk: computed and stored for tlp, still scoring ...
    assert share.stored_nbytes() > 0
    assert tl.finish() is None  # ... until tlp's clip ends: nothing left to wait for
    assert share.stored_nbytes() == 0
    lp.update(sr[:3], hr[:3])  # with one member scoring, nothing is stored
    assert share.forwards == 4 and share.stored_nbytes() == 0


def test_a_shared_piece_is_taken_only_for_the_same_pixels_weights_and_frames():
    sr, hr = _frames(4)
    lp, tl = _started(_random("lpips"), _random("tlp"))
    s, h = sr.clone(), hr.clone()
    lp.update(s, h)
    assert lp._share.stored_nbytes() > 0  # stored for tlp ...
    s.mul_(0.5)  # ... but changed in place between the two metrics: the features no longer describe it
    got = tl.update(s, h)
    assert lp._share.forwards == 2
    del lp, tl
    gc.collect()
    assert torch.equal(torch.nan_to_num(got), torch.nan_to_num(_random("tlp").update(sr * 0.5, hr)))
    # other weights, other arithmetic, other frame ranges: no share, or no piece taken
    assert _random("lpips", seed=1)._share is not _random("tlp")._share
    assert _random("lpips", precision="bf16")._share is not _random("tlp")._share
    assert _random("lpips-vgg")._share is not _random("lpips")._share
    lp, tl = _started(_random("lpips", batch=2), _random("tlp"))
    _both(lp, tl, sr, hr, [4])
    assert lp._share.forwards == 3  # lpips in two pieces, tlp in one: nothing matched
    tl.update(sr, hr)
    tl.update(sr, hr)  # fed the same tensors twice: a member never takes its own piece (as if alone)
    assert lp._share.forwards == 5


def test_metrics_built_for_a_run_not_scoring_now_hold_no_features_back():
    """The CLI prepares every run of ``--method a,b`` before the first starts: the second run's lpips and tlp
    exist, idle, while the first run scores; stored features must not wait for them."""
    sr, hr = _frames(4)
    idle = (_random("lpips"), _random("tlp"))  # built, never started
    lp, tl = _started(_random("lpips"), _random("tlp"))
    share = lp._share
    assert all(m._share is share for m in idle)
    _both(lp, tl, sr, hr, [2, 2])
    assert share.forwards == 2 and share.stored_nbytes() == 0
    lp.update(sr[:2], hr[:2])
    lp.reset()  # a reset also ends the clip for the share
    assert share.stored_nbytes() == 0 and set(share.active) == {tl}


def test_a_run_with_lpips_and_tlp_scores_each_as_a_run_with_it_alone(capsys, tmp_path):
    """A run's frames are inference tensors (no version counter): the share must work on them too."""
    def frames(spec: str, out: str) -> dict:
        code, _, err = run_cli(capsys, "run", "--method", "bicubic", "--metrics", spec, "--max-frames", "5",
                               "--out", str(tmp_path / out))
        assert code == 0, err
        with np.load(tmp_path / out / "frames" / "astronaut-pan.npz") as z:
            return {k: z[k] for k in z.files}

    both = frames("lpips:pretrained=false,tlp:pretrained=false", "both")
    for spec, out in (("lpips:pretrained=false", "lpips"), ("tlp:pretrained=false", "tlp")):
        alone = frames(spec, out)
        (label,) = [k for k in alone if k.startswith(spec.split(":")[0])]
        assert np.array_equal(both[label], alone[label], equal_nan=True), label


def test_tlp_scene_cuts_and_ends():
    sr, hr = _frames(6)
    m = _random("tlp")
    m.start({"frames": 6, "scene_cuts": [3]})
    v = m.update(sr, hr).numpy()
    assert np.isnan(v[[0, 3]]).all() and not np.isnan(v[[1, 2, 4, 5]]).any()
    m = _random("tlp", skip_ends=2)
    m.start({"frames": 6})
    v = m.update(sr, hr).numpy()
    assert np.isnan(v[[0, 1, 2, 4, 5]]).all() and not np.isnan(v[3])  # only the pair (2, 3) is inside
    with pytest.raises(BadInput):
        _random("tlp", skip_ends=-1)
    with pytest.raises(BadInput, match="crop"):
        _random("tlp", crop="middle")


def test_tlp_default_is_tecogans_recipe():
    """Default tLP = TecoGAN's metrics.py loop (frames cropped by its crop_8x8 before LPIPS, 2 frames dropped at
    each end, |d(out) - d(gt)| x 100), rebuilt here around the lpips package with the same seeded weights."""
    import lpips

    from .test_temporal import tecogan_crop_8x8

    sr, hr = _frames(8, h=70, w=100)
    m = get_metric("tlp", pretrained=False, seed=4)
    assert (m.params["crop"], m.params["skip_ends"]) == ("tecogan", 2)
    m.start({"frames": 8})
    ours = torch.cat([m.update(sr[:3], hr[:3]), m.update(sr[3:], hr[3:])])
    with torch.random.fork_rng():
        torch.manual_seed(4)
        ref = lpips.LPIPS(pretrained=False, net="alex", version="0.1", pnet_rand=True, verbose=False).eval()
    crop = lambda x: torch.from_numpy(tecogan_crop_8x8(x.permute(1, 2, 0).numpy())).permute(2, 0, 1)[None]
    want = []
    with torch.no_grad():
        for i in range(3, 6):  # TecoGAN: frames 2 .. N-3, a value for each after the first kept one
            d_out = ref(crop(sr[i - 1]), crop(sr[i]), normalize=True).item()
            d_gt = ref(crop(hr[i - 1]), crop(hr[i]), normalize=True).item()
            want.append(abs(d_out - d_gt) * 100.0)
    assert torch.isnan(ours[[0, 1, 2, 6, 7]]).all()
    assert torch.allclose(ours[3:6], torch.tensor(want, dtype=torch.float64), rtol=1e-4, atol=1e-6)
    whole = _random("tlp", seed=4)
    whole_v = whole.update(sr, hr)[3:6]
    assert (whole_v - ours[3:6]).abs().max() > 1e-3  # the crop is a different number
    with pytest.raises(BadInput, match="48"):
        get_metric("tlp", pretrained=False, skip_ends=0).update(sr[:2, :, :40, :40], hr[:2, :, :40, :40])


# -- input checks --------------------------------------------------------------------------------------------
def test_bad_input_is_a_typed_error_and_the_range_is_checked_per_clip():
    sr, hr = _frames(2)
    m = _random("lpips")
    with pytest.raises(BadInput, match=r"\[0, 1\]"):
        m.update(sr * 255, hr)
    with pytest.raises(BadInput, match="shaped"):
        m.update(sr[:, :1], hr[:, :1])
    with pytest.raises(BadInput, match="batch"):
        _random("lpips", batch=0)
    m.reset()
    m.update(sr, hr)
    m.reset()  # a new clip: its first chunk is checked again
    with pytest.raises(BadInput, match="reference"):
        m.update(sr, hr + 2)


# -- weights missing: never a score ------------------------------------------------------------------------------
def test_precision_is_validated_and_only_a_fast_mode_is_recorded():
    """fp32 stays unrecorded (existing comparability keys hold); a fast mode is a param and its own column."""
    from infvsr_bench.metrics import metric_from_spec

    assert "precision" not in _random("lpips").params
    fast = metric_from_spec("lpips:precision=bf16:pretrained=false")
    assert fast.params["precision"] == "bf16" and "precision=bf16" in fast.label
    for spec, words in (("lpips:precision=fp16", "fp32, tf32, bf16"), ("musiq:precision=tf32", "CUDA"),
                        ("dists:precision=bf16", "fp32, tf32")):
        with pytest.raises(BadInput, match=words):
            metric_from_spec(spec)


@pytest.mark.parametrize("name", ["lpips", "tlp", "musiq", "clipiqa"])
def test_bf16_is_applied_stays_close_and_leaves_autocast_off(name, small_nets):
    """precision=bf16 changes values (autocast really ran) by a small fraction of their scale, and the next
    fp32 forward is exact again: autocast must not outlive the forward (inference mode's guard restores the
    dispatch state it found, so the order of the two contexts matters)."""
    sr, hr = _frames(4)
    fr = name in ("lpips", "tlp")
    exact = _random(name).update(sr, hr if fr else None).numpy()
    fast = _random(name, precision="bf16").update(sr, hr if fr else None).numpy()
    assert not torch.is_autocast_enabled("cpu")
    again = _random(name).update(sr, hr if fr else None).numpy()
    finite = ~np.isnan(exact)
    np.testing.assert_array_equal(again, exact)
    diff, scale = np.abs(fast - exact)[finite].max(), np.abs(exact[finite]).max()
    assert 0 < diff <= 0.05 * scale


@pytest.fixture
def no_weights(monkeypatch, tmp_path):
    """Nothing resolvable except files shipped inside the lpips package (the LPIPS heads)."""
    monkeypatch.setenv("INFVSR_BENCH_WEIGHTS", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_no_learned_metric_scores_without_its_weights(no_weights):
    sr, hr = _frames(2)
    for name in LEARNED:
        m = get_metric(name, **WHOLE_CLIP.get(name, {}))
        missing = weights.missing(m.requires)
        assert missing, name
        wanted = weights.get(next(w for w in m.requires if w in missing)).filename  # the first one it loads
        with pytest.raises(WeightsNotFound, match=wanted.replace(".", r"\.")):
            m.update(sr, hr if m.mode == "FR" else None)
        assert m.frames == 0 and m._net is None  # nothing computed, nothing built
    with pytest.raises(WeightsNotFound, match="RN50.pt"):
        get_metric("clipiqa", weights_path=str(Path("/nonexistent")))


def test_cli_explicit_request_exits_2_naming_the_file(no_weights, capsys, tmp_path):
    code, out, err = run_cli(capsys, "run", "--method", "bicubic", "--metrics", "lpips", "--max-frames", "3",
                             "--out", str(tmp_path / "r"))
    line = one_line_error(err)
    assert code == 2 and "alexnet-owt-7be5be79.pth" in line and "lpips" in line
    assert not (tmp_path / "r").exists()


def test_cli_summary_never_prints_a_random_weight_metric_as_a_score(capsys, tmp_path):
    code, out, err = run_cli(capsys, "run", "--method", "bicubic", "--metrics", "psnr,lpips:pretrained=false",
                             "--max-frames", "3", "--out", str(tmp_path / "r"))
    assert code == 0, err
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    (label,) = [k for k in summary["metrics"] if k.startswith("lpips")]
    value = summary["metrics"][label]["mean"]
    line = next(x for x in out.splitlines() if x.strip().startswith(label))
    assert "not a score" in line and f"{value:.4f}" not in line and "random" in line
    assert any(x.strip().startswith("psnr") and "95% CI" in x for x in out.splitlines())


def test_a_run_puts_the_metric_networks_on_its_device_without_changing_keys(monkeypatch, tmp_path):
    """``run --device cuda`` ran the learned metrics on the CPU (seen on an H200: identical bits on both
    devices, the same minutes): the run's device now reaches every metric that takes one, and the labels and
    comparability key stay those of a CPU run. A CUDA device object needs no GPU to be built."""
    from infvsr_bench import runner

    monkeypatch.setattr(runner, "_check_device", lambda device: None)
    specs = ["psnr", "lpips:pretrained=false", "dover:pretrained=false", "semantic-mobilenet:pretrained=false"]
    prepared = {dev: runner.prepare(runner.RunSpec(method="bicubic", max_frames=2, out=tmp_path / dev,
                                                   progress=False, metrics=specs, device=dev))
                for dev in ("cpu", "cuda:0")}
    gpu = {m.label: m for m in prepared["cuda:0"].metrics}
    assert str(gpu["lpips:pretrained=False"].device) == "cuda:0"
    assert str(gpu["dover:pretrained=False"].device) == "cuda:0"
    assert str(gpu["semantic-mobilenet:pretrained=False"].backbone.device) == "cuda:0"
    assert [m.label for m in prepared["cpu"].metrics] == list(gpu)
    assert prepared["cpu"].comparability_key == prepared["cuda:0"].comparability_key
    assert str(next(m for m in prepared["cpu"].metrics if m.label.startswith("lpips")).device) == "cpu"


def test_runner_accepts_a_file_that_exists_only_at_the_metric_weights_path(no_weights, monkeypatch, tmp_path):
    """weights_path is not a recorded param (the file is identified by its sha256), so the runner's weights
    check must look at the metric's own attribute: the run scores instead of refusing a present file."""
    import dataclasses

    import torchvision

    from infvsr_bench import runner

    monkeypatch.setitem(weights._TABLE, "alexnet", dataclasses.replace(weights.get("alexnet"), sha256_prefix=None))
    folder = tmp_path / "w"
    folder.mkdir()
    with nets.seeded(5):
        alex = torchvision.models.alexnet(weights=None)
    torch.save({k: v for k, v in alex.state_dict().items() if k.startswith("features.")},
               folder / "alexnet-owt-7be5be79.pth")
    spec = runner.RunSpec(method="bicubic", max_frames=2, out=tmp_path / "r", progress=False,
                          metrics=[f"lpips:weights_path={folder}"])
    res = runner.execute(runner.prepare(spec))
    assert res.exit_code == 0 and not res.summary["unavailable"]
    (label,) = res.summary["metrics"]
    assert 0 < res.summary["metrics"][label]["mean"] < 1


def test_default_set_lists_a_learned_metric_as_unavailable(no_weights, monkeypatch, tmp_path):
    from infvsr_bench import runner

    monkeypatch.setattr(runner, "DEFAULT_METRICS", ("psnr", "musiq"))
    spec = runner.RunSpec(method="bicubic", max_frames=2, out=tmp_path / "r", progress=False)
    res = runner.execute(runner.prepare(spec))
    assert list(res.summary["metrics"]) == ["psnr"]
    assert "musiq_koniq_ckpt-e95806b9.pth" in res.summary["unavailable"]["musiq"]


# -- calibration with the real files (skipped here) ---------------------------------------------------------------
#: pyiqa ResultsCalibra: official values on 5 TID2013 pairs (I03, I04, I06, I08, I19) and pyiqa's tolerances
#: (tests/test_metric_general.py: atol 1e-2, rtol 1e-2; MUSIQ rtol 3e-2).
CALIBRATION = {
    "lpips": ([0.7237, 0.2572, 0.0508, 0.0520, 0.4253], 1e-2, 1e-2),
    "dists": ([0.4742, 0.1424, 0.0683, 0.0287, 0.3123], 1e-2, 1e-2),
    "musiq": ([12.494, 75.332, 73.429, 75.188, 36.938], 1e-2, 3e-2),
}
CALIBRA_ENV = "INFVSR_BENCH_PYIQA_CALIBRA"  # a copy of pyiqa's ResultsCalibra/ (ref_dir/, dist_dir/)


def _need(name: str) -> None:
    reasons = weights.missing(get_metric(name).requires)
    if reasons:
        pytest.skip("; ".join(reasons.values()))


def _calibration_images() -> tuple[torch.Tensor, torch.Tensor]:
    root = os.environ.get(CALIBRA_ENV)
    names = ["I03.bmp", "I04.bmp", "I06.bmp", "I08.bmp", "I19.bmp"]
    if not root or not all((Path(root) / d / n).is_file() for d in ("ref_dir", "dist_dir") for n in names):
        pytest.skip(f"pyiqa calibration images ResultsCalibra/{{ref_dir,dist_dir}}/I03.bmp… not found "
                    f"(set {CALIBRA_ENV})")
    from PIL import Image

    def load(d: str) -> torch.Tensor:
        arrays = [np.asarray(Image.open(Path(root) / d / n).convert("RGB")) for n in names]
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0  # (5,H,W,3)->(5,3,H,W)
    return load("dist_dir"), load("ref_dir")


@pytest.mark.weights
@pytest.mark.parametrize("name", sorted(CALIBRATION))
def test_real_weights_match_pyiqa_calibration(name):
    _need(name)
    dist, ref = _calibration_images()
    m = get_metric(name)
    got = m.update(dist, ref if m.mode == "FR" else None)
    expected, atol, rtol = CALIBRATION[name]
    assert torch.allclose(got, torch.tensor(expected, dtype=torch.float64), atol=atol, rtol=rtol), got


@pytest.mark.weights
def test_real_clipiqa_equals_pyiqa_loading_rn50_itself():
    """pyiqa's own loader (``clip_model.load(path)``) and ours give the same network and scores."""
    _need("clipiqa")
    from pyiqa.archs.clipiqa_arch import CLIPIQA

    sr, _ = _frames(2, 96, 128)
    ours = get_metric("clipiqa").update(sr)
    ref = CLIPIQA(backbone=str(weights.resolve("clip-rn50")), pretrained=False).eval()
    with torch.no_grad():
        expected = ref(sr).flatten()
    assert torch.allclose(ours, expected.double(), atol=1e-4)
