"""InfVSR DiT, rolling KV-cache, 3-D RoPE and one-step sampler (CPU, tiny preset unless stated)."""
from __future__ import annotations

import pytest
import torch

from infvsr_bench.errors import BadInput, UnknownName
from infvsr_bench.models.infvsr import build_dit
from infvsr_bench.models.infvsr.dit import build_dit as build_dit_with
from infvsr_bench.models.infvsr.dit import load_dit, load_dit_state_dict
from infvsr_bench.models.infvsr.kv_cache import KVCache, block_causal_mask
from infvsr_bench.models.infvsr.rope import apply_rope, rope_freqs
from infvsr_bench.models.infvsr.sampler import OneStepSampler, shifted_sigmas

from .helpers import torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models are all overhead: one thread is faster and immune to OpenMP spinning on a busy machine."""
    with torch_threads(1):
        yield


def _release_key_table() -> dict[str, tuple[int, ...]]:
    """Every key and shape of InfVSR.ckpt, written from docs/infvsr-checkpoints.md §1 (independent of the model)."""
    d, ffn, ctx, freq, out = 1536, 8960, 512, 256, 64
    keys = {
        "patch_embedding.weight": (d, 16, 1, 2, 2), "patch_embedding.bias": (d,),
        "text_embedding.0.weight": (d, ctx), "text_embedding.0.bias": (d,),
        "text_embedding.2.weight": (d, d), "text_embedding.2.bias": (d,),
        "time_embedding.0.weight": (d, freq), "time_embedding.0.bias": (d,),
        "time_embedding.2.weight": (d, d), "time_embedding.2.bias": (d,),
        "time_projection.1.weight": (6 * d, d), "time_projection.1.bias": (6 * d,),
        "head.head.weight": (out, d), "head.head.bias": (out,), "head.modulation": (1, 2, d),
    }
    for i in range(30):
        p = f"blocks.{i}."
        for attn in ("self_attn", "cross_attn"):
            for proj in "qkvo":
                keys[f"{p}{attn}.{proj}.weight"] = (d, d)
                keys[f"{p}{attn}.{proj}.bias"] = (d,)
            keys[f"{p}{attn}.norm_q.weight"] = (d,)
            keys[f"{p}{attn}.norm_k.weight"] = (d,)
        keys.update({f"{p}norm3.weight": (d,), f"{p}norm3.bias": (d,), f"{p}ffn.0.weight": (ffn, d),
                     f"{p}ffn.0.bias": (ffn,), f"{p}ffn.2.weight": (d, ffn), f"{p}ffn.2.bias": (d,),
                     f"{p}modulation": (1, 6, d)})
    return keys


def test_release_preset_matches_checkpoint_layout_on_meta():
    model = build_dit("infvsr-1.3b", device="meta")
    sd = model.state_dict()
    spec = _release_key_table()
    assert len(spec) == 825 and len(sd) == 825
    assert {k: tuple(v.shape) for k, v in sd.items()} == spec
    assert sum(p.numel() for p in model.parameters()) == 1_413_491_776
    assert all(p.is_meta for p in model.parameters())
    assert not list(model.buffers())  # RoPE is computed, never stored


def test_unknown_preset_suggests():
    with pytest.raises(UnknownName, match="tiny"):
        build_dit("tinny")


# ------------------------------------------------------------------------------------- oracle
def _tiny(seed=0, **overrides):
    torch.manual_seed(seed)
    return build_dit_with("tiny", **overrides)  # the package entry point takes no config overrides


def _inputs(frames, h=8, w=8, seed=1, text_dim=32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 16, frames, h, w, generator=g)
    ctx = torch.randn(1, 7, text_dim, generator=g)
    return x, torch.tensor([400.0]), ctx


def _stream(model, x, t, ctx, sizes, cache):
    outs, a = [], 0
    for n in sizes:
        outs.append(model(x[:, :, a:a + n], t, ctx, cache=cache))
        a += n
    return torch.cat(outs, dim=2)


@pytest.mark.parametrize("window,sinks,sizes", [
    (1, 0, [3, 3, 3, 3, 2]),  # the release: previous chunk only; short final chunk
    (2, 0, [3, 3, 3, 3, 3]),
    (1, 2, [3, 3, 3, 3, 1]),  # sinks inside the first chunk
    (0, 0, [3, 3, 3]),  # chunks independent (the no-cache ablation)
    (2, 4, [3, 3, 3, 3, 3, 3]),  # sinks spanning two chunks
    (1, 1, [1, 3, 2, 3]),  # short chunks in the middle: the window keeps whole chunks
])
@pytest.mark.parametrize("compact", [False, True])
def test_cached_stream_equals_block_causal_full_forward(window, sinks, sizes, compact):
    model = _tiny()
    x, t, ctx = _inputs(sum(sizes))
    with torch.no_grad():
        cache = model.new_cache(window_chunks=window, sink_frames=sinks, compact=compact)
        streamed = _stream(model, x, t, ctx, sizes, cache)
        mask = block_causal_mask(sizes, tokens_per_frame=16, window_chunks=window, sink_frames=sinks)
        full = model(x, t, ctx, start_frame=0, attn_mask=mask)
        unmasked = model(x, t, ctx)
    torch.testing.assert_close(streamed, full, rtol=1e-5, atol=2e-5)
    assert (streamed - unmasked).abs().max() > 1e-3  # the mask matters: the oracle can fail


def test_batched_stream_equals_each_stream_alone():
    model = _tiny()
    xa, t, ctx_a = _inputs(6, seed=2)
    xb, _, ctx_b = _inputs(6, seed=3)
    with torch.no_grad():
        both = _stream(model, torch.cat([xa, xb]), t.expand(2), torch.cat([ctx_a, ctx_b]), [3, 3],
                       model.new_cache())
        alone = [_stream(model, x, t, c, [3, 3], model.new_cache()) for x, c in ((xa, ctx_a), (xb, ctx_b))]
    torch.testing.assert_close(both, torch.cat(alone), rtol=1e-5, atol=1e-5)


def test_bf16_stream_keeps_a_bf16_cache():
    model = _tiny().to(torch.bfloat16)
    x, _, ctx = _inputs(6)
    cache = model.new_cache()
    with torch.no_grad():
        out = _stream(model, x, OneStepSampler().timestep(1), ctx, [3, 3], cache)
        ref = _stream(model.float(), x, torch.tensor([400.0]), ctx, [3, 3], model.new_cache())
    assert out.dtype == torch.bfloat16 and cache._k[0].dtype == torch.bfloat16
    assert (out.float() - ref).abs().mean() < 0.05 * ref.abs().mean()  # bf16 rounding only


def test_cache_window_is_real_context():
    """With the cache a chunk's output depends on the previous chunk, and only within the window (one layer:
    with more, cached keys of deeper layers carry older context, as in the release)."""
    model = _tiny(num_layers=1)
    x, t, ctx = _inputs(9)
    x2 = x.clone()
    x2[:, :, 0:3] += 1.0  # change chunk 0 only
    with torch.no_grad():
        a = _stream(model, x, t, ctx, [3, 3, 3], model.new_cache(window_chunks=1))
        b = _stream(model, x2, t, ctx, [3, 3, 3], model.new_cache(window_chunks=1))
    assert (a[:, :, 3:6] - b[:, :, 3:6]).abs().max() > 1e-3  # chunk 1 sees chunk 0
    torch.testing.assert_close(a[:, :, 6:9], b[:, :, 6:9], rtol=0, atol=0)  # chunk 2 does not


# ---------------------------------------------------------------------------------- positions
def test_start_frame_far_along_the_scene():
    model = _tiny()
    x, t, ctx = _inputs(3)
    with torch.no_grad():
        near = model(x, t, ctx, start_frame=0)
        far = model(x, t, ctx, start_frame=3000)
    assert torch.isfinite(far).all()
    # one chunk alone: only relative positions enter the attention, so the far chunk gives the same output
    torch.testing.assert_close(far, near, rtol=1e-4, atol=1e-4)
    # a cache far along a scene (after many chunks) still works and keeps its positions
    cache = model.new_cache()
    cache.frames_seen = 3000
    with torch.no_grad():
        model(x, t, ctx, cache=cache)
    assert cache.frames_seen == 3003
    with pytest.raises(ValueError, match="start_frame"):
        model(x, t, ctx, cache=cache, start_frame=0)


def test_rope_scores_depend_only_on_offset():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 1, 2, 128, dtype=torch.float64, generator=g)  # (B, L, N, D)
    k = torch.randn(1, 1, 2, 128, dtype=torch.float64, generator=g)

    def score(m, n, row=0, col=0):
        fq = rope_freqs(128, 1, row + 1, col + 1, start_frame=m)[-1:]  # token at (m, row, col)
        fk = rope_freqs(128, 1, 1, 1, start_frame=n)
        return (apply_rope(q, fq) * apply_rope(k, fk)).sum(-1)

    base = score(5, 2)
    for m, n in [(3005, 3002), (1_000_003, 1_000_000), (3, 0)]:
        torch.testing.assert_close(score(m, n), base, rtol=1e-9, atol=1e-9)
    assert (score(6, 2) - base).abs().max() > 1e-3
    # the 44|42|42 split: time rotates the first 22 pairs only
    f = rope_freqs(128, 2, 1, 1)
    assert f.shape == (2, 64)
    assert torch.allclose(f[1, 22:], f[0, 22:]) and not torch.allclose(f[1, :22], f[0, :22])
    assert abs(f[1, 0].angle().item() - 1.0) < 1e-12 and abs(f[1, 1].angle().item() - 10000 ** (-2 / 44)) < 1e-12


# ------------------------------------------------------------------------------------ loading
def test_tiny_checkpoint_in_release_format_loads_strictly(tmp_path):
    model = _tiny(seed=3)
    path = tmp_path / "InfVSR.ckpt"
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, path)
    loaded = load_dit(path, preset="tiny")
    assert not any(p.is_meta for p in loaded.parameters())
    x, t, ctx = _inputs(3)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, t, ctx), model(x, t, ctx), rtol=0, atol=0)
    bf = load_dit(tmp_path, preset="tiny", dtype=torch.bfloat16)  # a folder holding the file works too
    assert next(bf.parameters()).dtype == torch.bfloat16


@pytest.mark.parametrize("edit,needle", [
    ("rename", "blocks.1.self_attn.q.weight"),
    ("drop", "head.modulation"),
    ("extra", "img_emb.proj.0.weight"),
    ("shape", "text_embedding.0.weight"),
])
def test_bad_checkpoint_names_the_key(edit, needle):
    sd = dict(_tiny().state_dict())
    if edit == "rename":
        sd["blocks.1.self_attn.wq.weight"] = sd.pop(needle)
    elif edit == "drop":
        del sd[needle]
    elif edit == "extra":
        sd[needle] = torch.zeros(3)
    else:
        sd[needle] = torch.zeros(64, 31)
    with pytest.raises(BadInput, match=needle.replace(".", r"\.")) as exc:
        load_dit_state_dict(build_dit("tiny", device="meta"), sd)
    label = {"rename": "missing", "drop": "missing", "extra": "unexpected", "shape": "wrong shape"}[edit]
    assert label in str(exc.value)


def test_missing_checkpoint_is_weights_not_found(tmp_path, monkeypatch):
    from infvsr_bench.errors import WeightsNotFound

    monkeypatch.setenv("INFVSR_BENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(WeightsNotFound, match="InfVSR.ckpt"):
        load_dit(tmp_path / "nowhere", preset="tiny")


@pytest.mark.weights
def test_released_checkpoint_loads_strictly():
    from infvsr_bench import weights

    reason = weights.missing(["infvsr-dit"]).get("infvsr-dit")
    if reason:
        pytest.skip(f"needs InfVSR.ckpt: {reason}")
    model = load_dit(dtype=torch.bfloat16)
    assert sum(p.numel() for p in model.parameters()) == 1_413_491_776
    assert next(model.parameters()).dtype == torch.bfloat16


# -------------------------------------------------------------------------------------- cache
def test_reset_at_scene_cut_equals_fresh_cache():
    model = _tiny()
    xa, t, ctx = _inputs(9, seed=5)
    xb, _, _ = _inputs(9, seed=6)
    with torch.no_grad():
        cache = model.new_cache(window_chunks=1, sink_frames=1)
        _stream(model, xa, t, ctx, [3, 3, 3], cache)
        ptrs = [b.data_ptr() for b in cache._k]
        cache.reset()
        assert cache.frames_seen == 0 and cache.valid_frames == 0
        after_cut = _stream(model, xb, t, ctx, [3, 3, 3], cache)
        fresh = _stream(model, xb, t, ctx, [3, 3, 3], model.new_cache(window_chunks=1, sink_frames=1))
    torch.testing.assert_close(after_cut, fresh, rtol=0, atol=0)
    assert [b.data_ptr() for b in cache._k] == ptrs  # buffers reused, not reallocated


def test_cache_state_is_constant_over_a_long_stream():
    torch.manual_seed(0)
    model = build_dit_with("tiny", dim=24, num_heads=1, ffn_dim=24, text_dim=8, freq_dim=8, num_layers=1)
    x = torch.randn(1, 16, 3, 4, 4)
    t, ctx = torch.tensor([400.0]), torch.randn(1, 2, 8)
    cache = model.new_cache(window_chunks=2, sink_frames=1)
    seen = {}
    with torch.no_grad():
        for i in range(1, 101):
            model(x, t, ctx, cache=cache)
            if i in (10, 100):
                seen[i] = (cache.nbytes(), [b.data_ptr() for b in cache._k + cache._v], cache.valid_frames)
    assert seen[10] == seen[100]
    assert seen[100][2] == 1 + 3 * 3  # sink + 2 window chunks + the current chunk
    assert cache.frames_seen == 300


def test_cache_rejects_bad_chunks():
    model = _tiny()
    cache = model.new_cache()
    x, t, ctx = _inputs(4)
    with pytest.raises(ValueError, match="1..3"):
        model(x, t, ctx, cache=cache)
    model(x[:, :, :3], t, ctx, cache=cache)
    with pytest.raises(ValueError, match="reset"):
        model(_inputs(3, h=4, w=4)[0], t, ctx, cache=cache)


def test_nbytes_matches_release_formula():
    """bf16, 30 layers, 3 latent frames of 720p: the release's one-chunk cache is 30·2·L·1536·2 B (§3.5)."""
    cache = KVCache(30, 12, 128, window_chunks=1, chunk_frames=3, tokens_per_frame=45 * 80, device="meta",
                    dtype=torch.bfloat16)
    per_chunk = 30 * 2 * (3 * 45 * 80) * 1536 * 2
    assert cache.nbytes() == 2 * per_chunk  # the previous chunk + the slot the current chunk is written to
    compact = KVCache(30, 12, 128, window_chunks=1, chunk_frames=3, tokens_per_frame=45 * 80, device="meta",
                      dtype=torch.bfloat16, compact=True)
    assert compact.nbytes() == per_chunk  # the previous chunk only


# ------------------------------------------------------------------------------------ sampler
def test_sampler_sigmas_match_the_release_numbers():
    sig = shifted_sigmas()
    assert sig.shape == (1000,) and sig[0] == 1.0
    release = OneStepSampler()
    assert release.timestep_value == 400.0  # bf16(399)
    assert release.timestep(2).dtype == torch.bfloat16 and release.timestep(2).tolist() == [400.0, 400.0]
    assert abs(release.sigma - 0.40082) < 1e-5
    clean = OneStepSampler(exact_release=False)
    assert clean.timestep_value == 399.0 and clean.timestep(1).dtype == torch.float32
    assert abs(clean.sigma - 0.39850) < 1e-5
    z, v = torch.randn(2, 16, 3, 4, 4), torch.randn(2, 16, 3, 4, 4)
    torch.testing.assert_close(release.step(z, v), z - release.sigma * v)
    zb = release.step(z.bfloat16(), v.bfloat16())  # bf16 arithmetic: σ rounds to 0.400390625
    torch.testing.assert_close(zb, (z.bfloat16() - torch.tensor(0.400390625, dtype=torch.bfloat16) * v.bfloat16()),
                               rtol=0, atol=0)


def test_sampler_restore_runs_the_dit_once_per_chunk():
    model = _tiny()
    x, _, ctx = _inputs(3)
    cache = model.new_cache()
    with torch.no_grad():
        out = OneStepSampler().restore(model, x, ctx, cache=cache)
        v = model(x, torch.tensor([400.0], dtype=torch.bfloat16), ctx)
    assert cache.frames_seen == 3
    torch.testing.assert_close(out, x - 0.4008152484893799 * v)
