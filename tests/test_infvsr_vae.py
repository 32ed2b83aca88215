"""The Wan2.1 causal VAE of InfVSR: released key layout, streaming == whole-video oracles, tiling, strict
loading, bounded stream state and chunk-length checks (CPU, tiny preset unless stated)."""
from __future__ import annotations

import pytest
import torch

from infvsr_bench.errors import BadInput, WeightsNotFound
from infvsr_bench.models.infvsr import build_vae
from infvsr_bench.models.infvsr.vae import VAEInputError, load_vae, load_vae_state_dict
from infvsr_bench.models.infvsr.vae_tiling import Blender, Tiling, spans

from .helpers import torch_threads

# ---------------------------------------------------------------------------------------------- spec table
# Written from docs/infvsr-checkpoints.md §2 (not from the model code).


def _res(p, i, o):
    keys = {f"{p}.residual.0.gamma": (i, 1, 1, 1), f"{p}.residual.2.weight": (o, i, 3, 3, 3),
            f"{p}.residual.2.bias": (o,), f"{p}.residual.3.gamma": (o, 1, 1, 1),
            f"{p}.residual.6.weight": (o, o, 3, 3, 3), f"{p}.residual.6.bias": (o,)}
    if i != o:
        keys |= {f"{p}.shortcut.weight": (o, i, 1, 1, 1), f"{p}.shortcut.bias": (o,)}
    return keys


def _attn(p, c):
    return {f"{p}.norm.gamma": (c, 1, 1), f"{p}.to_qkv.weight": (3 * c, c, 1, 1), f"{p}.to_qkv.bias": (3 * c,),
            f"{p}.proj.weight": (c, c, 1, 1), f"{p}.proj.bias": (c,)}


def _down(p, c, time):
    keys = {f"{p}.resample.1.weight": (c, c, 3, 3), f"{p}.resample.1.bias": (c,)}
    if time:
        keys |= {f"{p}.time_conv.weight": (c, c, 3, 1, 1), f"{p}.time_conv.bias": (c,)}
    return keys


def _up(p, c, time):
    keys = {f"{p}.resample.1.weight": (c // 2, c, 3, 3), f"{p}.resample.1.bias": (c // 2,)}
    if time:
        keys |= {f"{p}.time_conv.weight": (2 * c, c, 3, 1, 1), f"{p}.time_conv.bias": (2 * c,)}
    return keys


def _released_layout() -> dict[str, tuple[int, ...]]:
    e, d = "encoder", "decoder"
    k = {f"{e}.conv1.weight": (96, 3, 3, 3, 3), f"{e}.conv1.bias": (96,)}
    k |= _res(f"{e}.downsamples.0", 96, 96) | _res(f"{e}.downsamples.1", 96, 96)
    k |= _down(f"{e}.downsamples.2", 96, False)
    k |= _res(f"{e}.downsamples.3", 96, 192) | _res(f"{e}.downsamples.4", 192, 192)
    k |= _down(f"{e}.downsamples.5", 192, True)
    k |= _res(f"{e}.downsamples.6", 192, 384) | _res(f"{e}.downsamples.7", 384, 384)
    k |= _down(f"{e}.downsamples.8", 384, True)
    k |= _res(f"{e}.downsamples.9", 384, 384) | _res(f"{e}.downsamples.10", 384, 384)
    k |= _res(f"{e}.middle.0", 384, 384) | _attn(f"{e}.middle.1", 384) | _res(f"{e}.middle.2", 384, 384)
    k |= {f"{e}.head.0.gamma": (384, 1, 1, 1), f"{e}.head.2.weight": (32, 384, 3, 3, 3), f"{e}.head.2.bias": (32,)}
    k |= {"conv1.weight": (32, 32, 1, 1, 1), "conv1.bias": (32,)}
    k |= {"conv2.weight": (16, 16, 1, 1, 1), "conv2.bias": (16,)}
    k |= {f"{d}.conv1.weight": (384, 16, 3, 3, 3), f"{d}.conv1.bias": (384,)}
    k |= _res(f"{d}.middle.0", 384, 384) | _attn(f"{d}.middle.1", 384) | _res(f"{d}.middle.2", 384, 384)
    for j in (0, 1, 2):
        k |= _res(f"{d}.upsamples.{j}", 384, 384)
    k |= _up(f"{d}.upsamples.3", 384, True) | _res(f"{d}.upsamples.4", 192, 384)
    k |= _res(f"{d}.upsamples.5", 384, 384) | _res(f"{d}.upsamples.6", 384, 384) | _up(f"{d}.upsamples.7", 384, True)
    for j in (8, 9, 10):
        k |= _res(f"{d}.upsamples.{j}", 192, 192)
    k |= _up(f"{d}.upsamples.11", 192, False)
    for j in (12, 13, 14):
        k |= _res(f"{d}.upsamples.{j}", 96, 96)
    k |= {f"{d}.head.0.gamma": (96, 1, 1, 1), f"{d}.head.2.weight": (3, 96, 3, 3, 3), f"{d}.head.2.bias": (3,)}
    return k


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def test_released_layout_on_meta():
    expected = _released_layout()
    assert len(expected) == 194 and sum(map(_numel, expected.values())) == 126_892_531  # the spec's totals
    vae = build_vae("wan2.1", device="meta")
    got = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
    assert got == expected
    assert all(p.is_meta for p in vae.parameters())
    enc = sum(_numel(s) for k, s in got.items() if k.startswith("encoder."))
    dec = sum(_numel(s) for k, s in got.items() if k.startswith("decoder."))
    assert (enc, dec) == (53_595_872, 73_295_331)


# ---------------------------------------------------------------------------------------------- fixtures
def _tiny(seed: int = 0, attention: bool = True):
    torch.manual_seed(seed)
    vae = build_vae("tiny")
    if attention:  # the release zero-inits the attention output; randomise it so the oracles cover attention
        for name, p in vae.named_parameters():
            if name.endswith("middle.1.proj.weight"):
                p.normal_(0, 0.2)
    return vae


def _video(t: int, h: int = 32, w: int = 32, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, t, h, w, generator=g) * 2 - 1  # (B, 3, T, H, W) in [-1, 1]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The tiny tensors here gain nothing from intra-op threads, and on a busy machine thread hand-offs make
    each small conv ~20x slower; restore the setting afterwards."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def tiny(_one_thread):
    return _tiny()


# ---------------------------------------------------------------------------------------------- oracles
def test_stream_encode_equals_whole_video(tiny):
    x = _video(33)
    whole = tiny.encode_video(x)
    assert whole.shape == (1, 16, 9, 4, 4)
    s = tiny.new_stream()
    parts = [s.encode(x[:, :, a:b]) for a, b in ((0, 9), (9, 21), (21, 33))]
    assert [p.shape[2] for p in parts] == [3, 3, 3]
    torch.testing.assert_close(torch.cat(parts, 2), whole, rtol=1e-5, atol=1e-5)
    # other chunkings of the same timeline agree as well (1 + 4 + 28 frames)
    s2 = tiny.new_stream()
    parts2 = [s2.encode(x[:, :, a:b]) for a, b in ((0, 1), (1, 5), (5, 33))]
    torch.testing.assert_close(torch.cat(parts2, 2), whole, rtol=1e-5, atol=1e-5)


def test_stream_decode_equals_whole_video(tiny):
    z = torch.randn(1, 16, 9, 4, 4, generator=torch.Generator().manual_seed(2))
    whole = tiny.decode_video(z)
    assert whole.shape == (1, 3, 33, 32, 32) and whole.abs().max() <= 1
    s = tiny.new_stream()
    parts = [s.decode(z[:, :, a:b]) for a, b in ((0, 3), (3, 6), (6, 9))]
    assert [p.shape[2] for p in parts] == [9, 12, 12]
    torch.testing.assert_close(torch.cat(parts, 2), whole, rtol=1e-5, atol=1e-5)


def test_stream_history_matters(tiny):
    """Negative control for the oracles: the second chunk's latents depend on what the stream saw before
    (so chunked == whole is not trivially true of chunk-independent encoding)."""
    x, other = _video(21), _video(9, seed=7)
    a, b = tiny.new_stream(), tiny.new_stream()
    a.encode(x[:, :, :9])
    b.encode(other)
    za, zb = a.encode(x[:, :, 9:21]), b.encode(x[:, :, 9:21])
    assert (za - zb).abs().max() > 1e-3


# ---------------------------------------------------------------------------------------------- tiling
def test_spans_and_blending_weights():
    assert spans(200, 128, 110) == [(0, 128), (110, 200)]  # release geometry: one extra tile
    assert spans(128, 128, 110) == [(0, 128)]
    assert spans(10, 4, 3) == [(0, 4), (3, 7), (6, 10)]
    assert not Tiling().active(1024) and Tiling().active(1032) and Tiling("always").active(8)
    # weighted tiles of a constant field blend back to that constant; weights ramp 1/r..1 in the overlap
    blend = Blender(10, 10, ramp=2)
    for ys in spans(10, 4, 2):
        for xs in spans(10, 4, 2):
            blend.add(torch.full((1, 1, 1, ys[1] - ys[0], xs[1] - xs[0]), 0.25), ys, xs)
    torch.testing.assert_close(blend.result(torch.float32), torch.full((1, 1, 1, 10, 10), 0.25))
    assert blend.wsum[0, 0] == 1.0 and blend.wsum[0, 2].item() == pytest.approx(1.0 + 0.5)


def _local(vae):
    """Make every spatial kernel a centre tap and switch attention off: each latent pixel then depends only on
    its own 8x8 pixel block (and vice versa), so tiles aligned to the latent grid must reproduce the untiled
    result exactly — an exact oracle for the tile grid, per-tile histories and blending."""
    with torch.no_grad():
        for m in vae.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)) and m.weight.shape[-1] == 3:
                centre = m.weight[..., 1:2, 1:2].clone()
                m.weight.zero_()
                m.weight[..., 1:2, 1:2] = centre
        for name, p in vae.named_parameters():
            if "middle.1.proj" in name:
                p.zero_()
    return vae


def test_tiled_equals_untiled_for_local_network():
    vae = _local(_tiny(seed=3))
    x = _video(13, 48, 40)  # latent 6 x 5 -> 2 x 2 tiles of 4 with stride 2 (overlap 2)
    plain, tiled = vae.new_stream(Tiling("never")), vae.new_stream(Tiling("always", tile=4, stride=2))
    z0 = torch.cat([plain.encode(x[:, :, :9]), plain.encode(x[:, :, 9:])], 2)
    z1 = torch.cat([tiled.encode(x[:, :, :9]), tiled.encode(x[:, :, 9:])], 2)
    assert len(tiled.tile_grid("encode")) == 4 and plain.tile_grid("encode") == [((0, 6), (0, 5))]
    assert z0.abs().max() > 0.1
    torch.testing.assert_close(z1, z0, rtol=1e-5, atol=1e-5)
    d0 = torch.cat([plain.decode(z0[:, :, :3]), plain.decode(z0[:, :, 3:])], 2)
    d1 = torch.cat([tiled.decode(z0[:, :, :3]), tiled.decode(z0[:, :, 3:])], 2)
    assert d1.shape == (1, 3, 13, 48, 40) and len(tiled.tile_grid("decode")) == 4
    torch.testing.assert_close(d1, d0, rtol=1e-5, atol=1e-5)
    # a tile as large as the frame is exactly the untiled path
    single = vae.new_stream(Tiling("always", tile=64, stride=60))
    torch.testing.assert_close(single.encode(x[:, :, :9]), z0[:, :, :3], rtol=0, atol=0)


def test_tiled_close_to_untiled_and_better_with_more_overlap(tiny):
    """With full 3x3 kernels and attention tiles see zero padding at their borders, so tiled only
    approximates untiled; the ramp blending keeps it close and more overlap brings it closer."""
    x = _video(5, 64, 64)
    z0 = tiny.new_stream(Tiling("never")).encode(x)
    errs = []
    for tile, stride in ((6, 5), (6, 2)):
        z1 = tiny.new_stream(Tiling("always", tile=tile, stride=stride)).encode(x)
        errs.append(((z1 - z0).abs().mean() / z0.abs().mean()).item())
    assert errs[1] < errs[0] < 0.25, errs


# ---------------------------------------------------------------------------------------------- loading
def test_checkpoint_in_released_format_loads_strictly(tmp_path, tiny):
    path = tmp_path / "tiny_vae.pth"
    torch.save({k: v.clone() for k, v in tiny.state_dict().items()}, path)
    sd = torch.load(path, weights_only=True)
    assert len(sd) == sum(1 for _ in tiny.parameters())  # only parameters: latent stats are not stored
    fresh = load_vae_state_dict(build_vae("tiny", device="meta"), sd)
    assert not any(p.is_meta for p in fresh.parameters())
    x = _video(5, 16, 16)
    torch.testing.assert_close(fresh.encode_video(x), tiny.encode_video(x), rtol=0, atol=0)
    nested = load_vae_state_dict(_tiny(seed=9), {"model_state": sd})  # the optional wrapper
    torch.testing.assert_close(nested.encode_video(x), tiny.encode_video(x), rtol=0, atol=0)


def test_checkpoint_with_wrong_keys_fails_clearly(tiny):
    sd = dict(tiny.state_dict())
    missing = dict(sd)
    del missing["decoder.head.2.bias"]
    with pytest.raises(BadInput, match=r"missing: decoder\.head\.2\.bias"):
        load_vae_state_dict(_tiny(), missing)
    renamed = dict(sd)
    renamed["encoder.head.2.gamma"] = renamed.pop("encoder.head.0.gamma")
    with pytest.raises(BadInput, match=r"missing: encoder\.head\.0\.gamma.*unexpected: encoder\.head\.2\.gamma"):
        load_vae_state_dict(_tiny(), renamed)
    flat = dict(sd)
    flat["encoder.middle.1.norm.gamma"] = flat["encoder.middle.1.norm.gamma"].flatten()  # [C] instead of [C,1,1]
    wrong = r"wrong shape: encoder\.middle\.1\.norm\.gamma \(32,\) \(expected \(32, 1, 1\)\)"
    with pytest.raises(BadInput, match=wrong):
        load_vae_state_dict(_tiny(), flat)
    with pytest.raises(BadInput, match="state dict"):
        load_vae_state_dict(_tiny(), [1, 2])


def test_load_vae_without_file_names_it(tmp_path, monkeypatch):
    for var in ("INFVSR_BENCH_WEIGHTS", "TORCH_HOME", "HF_HOME", "HF_HUB_CACHE"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    with pytest.raises(WeightsNotFound, match=r"Wan2\.1_VAE\.pth.*wan2\.1-vae"):
        load_vae(device="meta")


# ---------------------------------------------------------------------------------------------- state
def test_stream_state_is_bounded_and_reset_is_fresh(tiny):
    x = _video(1 + 4 * 100, 16, 16, seed=4)
    s = tiny.new_stream()
    first = s.encode(x[:, :, :1])
    sizes = {}
    for g in range(100):
        z = s.encode(x[:, :, 1 + 4 * g: 5 + 4 * g])
        s.decode(first if g == 0 else z)
        if g + 1 in (10, 100):
            sizes[g + 1] = s.nbytes()
    assert sizes[10] == sizes[100] > 0
    s.reset()
    assert s.nbytes() == 0
    y = _video(9, 16, 16, seed=5)
    fresh = tiny.new_stream()
    torch.testing.assert_close(s.encode(y), fresh.encode(y), rtol=0, atol=0)
    zz = fresh.encode(_video(4, 16, 16, seed=6))
    torch.testing.assert_close(s.decode(zz), fresh.decode(zz), rtol=0, atol=0)


def test_bad_chunks_raise(tiny):
    s = tiny.new_stream()
    for t in (0, 4, 8, 12):
        with pytest.raises(VAEInputError, match="first chunk"):
            s.encode(_video(t, 16, 16))
    s.encode(_video(9, 16, 16))
    for t in (0, 1, 5, 9):
        with pytest.raises(ValueError, match="multiple of 4"):
            s.encode(_video(t, 16, 16))
    with pytest.raises(VAEInputError, match="frame size changed"):
        s.encode(_video(4, 24, 16))
    with pytest.raises(VAEInputError, match="divisible by 8"):
        tiny.new_stream().encode(_video(5, 20, 16))
    with pytest.raises(VAEInputError, match=r"\(B, 3, T, H, W\)"):
        tiny.new_stream().encode(torch.zeros(1, 4, 5, 16, 16))
    with pytest.raises(VAEInputError, match="latents"):
        tiny.new_stream().decode(torch.zeros(1, 8, 2, 2, 2))
    with pytest.raises(VAEInputError, match="1 \\+ 4k"):
        tiny.encode_video(_video(8, 16, 16))


def test_matches_diffusers_wan_vae_when_installed():
    """Independent implementation: diffusers' AutoencoderKLWan with the same (random) weights, converted
    from the released key names by diffusers' own converter. Wan2.1 geometry at base width 8."""
    diffusers = pytest.importorskip("diffusers", reason="diffusers not installed (optional cross-check)")
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    from infvsr_bench.models.infvsr.vae import VAEConfig, WanVAE

    torch.manual_seed(0)
    mine = WanVAE(VAEConfig(base_dim=8)).eval()
    with torch.no_grad():
        for name, p in mine.named_parameters():
            if name.endswith("middle.1.proj.weight"):
                p.normal_(0, 0.2)
            elif name.endswith("gamma"):
                p.uniform_(0.5, 1.5)
    ref = diffusers.AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                                     attn_scales=[], temperal_downsample=[False, True, True]).eval()
    ref.load_state_dict(convert_wan_vae_to_diffusers(dict(mine.state_dict())), strict=True)
    x = _video(17, 32, 48)
    with torch.no_grad():
        mu_ref = ref.encode(x).latent_dist.mean
        out_ref = ref.decode(mu_ref).sample
    s = mine.new_stream()
    z = torch.cat([s.encode(x[:, :, :9]), s.encode(x[:, :, 9:])], 2)
    torch.testing.assert_close(mine.denormalize(z), mu_ref, rtol=1e-4, atol=1e-5)
    out = torch.cat([s.decode(z[:, :, :3]), s.decode(z[:, :, 3:])], 2)
    torch.testing.assert_close(out, out_ref.clamp(-1, 1), rtol=1e-4, atol=1e-4)
