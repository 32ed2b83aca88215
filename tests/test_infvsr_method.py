"""InfVSR as a method (tiny preset, random weights): the adapter contract, scene cuts resetting the state,
the ablations, strict loading of the four released file formats, missing weights (exit 2 listing each
file) and an end-to-end ``run --random-weights`` whose records say so and whose report shows no quality."""
import json
from collections import OrderedDict

import numpy as np
import pytest
import torch

from infvsr_bench import records
from infvsr_bench.errors import WeightsNotFound
from infvsr_bench.methods import get_method
from infvsr_bench.models.infvsr.load import build_random, load_infvsr_files, missing_files
from infvsr_bench.weights import WeightsFormatError

from .helpers import one_line_error, run_cli, torch_threads

FILES = ("InfVSR.ckpt", "Wan2.1_VAE.pth", "ram_swin_large_14m.pth", "DAPE.pth")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on a shared 2-core machine: one torch thread avoids OpenMP spin-waiting (speed only)."""
    with torch_threads(1):
        yield


def _scene(n, seed, lo, hi, size=4):
    """n frames (n, 3, size, size) of one random texture in [lo, hi], drifting slightly frame to frame."""
    g = torch.Generator().manual_seed(seed)
    base = lo + (hi - lo) * torch.rand(3, size, size, generator=g)
    return torch.stack([(base + 0.01 * i).clamp(0, 1) for i in range(n)])


def _drive(m, lr, block, meta=None):
    m.reset(meta or {"fps": 25.0, "scene_cuts": []})
    out = [m.step(lr[i:i + block]) for i in range(0, lr.shape[0], block)] + [m.flush()]
    return torch.cat([y for y in out if y.numel()])


@pytest.fixture(scope="module")
def infvsr():
    m = get_method("infvsr", preset="tiny", random_weights=True)
    m.setup("cpu")
    return m


@pytest.fixture(scope="module")
def reference_run(infvsr):
    """14 LR frames (chunks 9 + short 5) and infvsr's output for them, fed 4 frames at a time."""
    lr = _scene(14, 0, 0.2, 0.6)
    return lr, _drive(infvsr, lr, 4)


def test_contract_frames_out_equal_frames_in_and_rerun_is_identical(infvsr, reference_run):
    lr, a = reference_run
    assert infvsr.info.random_weights and infvsr.info.scale == 4 and infvsr.info.delay_frames == 15
    _drive(infvsr, lr, 4)
    assert a.shape == (14, 3, 16, 16) and a.dtype == torch.float32 and 0 <= a.min() and a.max() <= 1
    assert infvsr.observed_chunk_boundaries == infvsr.chunk_boundaries(14) == [0, 9]
    state = infvsr.cache_bytes()
    b = _drive(infvsr, lr, 14)  # other block size, after a reset: identical
    assert torch.equal(a, b)
    assert infvsr.cache_bytes() == state > 0  # preallocated: the same after a second run


def test_scene_cut_resets_cache_vae_and_positions(infvsr):
    """A cut restarts everything: the second scene's output equals that scene processed as its own video."""
    first, second = _scene(16, 1, 0.0, 0.3), _scene(9, 2, 0.7, 1.0)
    lr = torch.cat([first, second])
    out = _drive(infvsr, lr, 5, {"fps": 25.0, "scene_cuts": [16]})
    assert infvsr.chunker.cuts == [16]
    assert infvsr.observed_chunk_boundaries == infvsr.chunk_boundaries(25) == [0, 9, 16]
    assert infvsr.pipeline.scenes == 2 and infvsr.pipeline.position == 3  # restarted at the cut: 9 frames → 3
    assert infvsr.pipeline.cache.frames_seen == 3
    alone = _drive(infvsr, second, 5)
    torch.testing.assert_close(out[16:], alone, atol=1e-6, rtol=0)
    assert not torch.allclose(out[:9], alone, atol=1e-3)


def test_ablations_change_what_they_claim(reference_run):
    lr, full = reference_run
    nocache = get_method("infvsr-nocache", preset="tiny", random_weights=True)
    nocache.setup("cpu")
    nc = _drive(nocache, lr, 13)
    torch.testing.assert_close(nc[:9], full[:9], atol=1e-6, rtol=0)  # the first chunk has no cache anyway
    assert not torch.allclose(nc[9:], full[9:], atol=1e-5)            # later chunks lose their context
    noref = get_method("infvsr-noref", preset="tiny", random_weights=True)
    noref.setup("cpu")
    ctx = noref.pipeline.reference_context(lr[0])
    assert ctx.shape == (1, 17, 32) and not ctx.any()
    assert not torch.allclose(_drive(noref, lr[:9], 9), full[:9], atol=1e-5)


# ---------------------------------------------------------------------------------------------- loading
def _released_files(tmp_path, models):
    """Tiny checkpoints written in the four released containers and key formats."""
    from infvsr_bench.models.infvsr.visual_encoder import PRESETS

    dit_sd = {k: v.to(torch.bfloat16) for k, v in models.dit.state_dict().items()}      # flat, bf16
    vae_sd = OrderedDict(models.vae.state_dict())                                         # flat OrderedDict
    model = {**models.encoder.state_dict(), "tag_encoder.layer.0.weight": torch.ones(2), "label_embed": torch.ones(3)}
    for name, buf in models.encoder.named_buffers():  # RAM saves the recomputable buffers too
        if buf is not None:
            model[name] = buf
    g = torch.Generator().manual_seed(5)
    r = 8
    dape = {"tag_encoder.encoder.layer.0.attention.self.query.lora_A": torch.randn(8, 16, generator=g)}
    cfg = PRESETS["tiny"][0]
    for i, depth in enumerate(cfg.depths):
        c = cfg.embed_dim * 2 ** i
        for j in range(depth):
            p = f"visual_encoder.layers.{i}.blocks.{j}.attn.qkv"
            dape[p + ".lora_A"] = torch.randn(2 * r, c, generator=g) * 0.1
            dape[p + ".lora_B"] = torch.randn(2 * c, r, generator=g) * 0.1
    paths = {"dit": tmp_path / FILES[0], "vae": tmp_path / FILES[1], "ram": tmp_path / FILES[2],
             "dape": tmp_path / FILES[3]}
    torch.save(dit_sd, paths["dit"])
    torch.save(vae_sd, paths["vae"])
    torch.save({"model": model, "epoch": 3}, paths["ram"])
    torch.save(dape, paths["dape"])
    return paths, dape


def test_released_formats_load_strictly_with_the_lora_merged(tmp_path):
    from infvsr_bench.models.infvsr.visual_encoder import dape_lora, merge_dape

    src = build_random("tiny", seed=1)
    paths, dape = _released_files(tmp_path, src)
    got = load_infvsr_files(paths, "tiny")
    for k, v in src.dit.state_dict().items():
        assert torch.equal(got.dit.state_dict()[k], v.to(torch.bfloat16)), k
    for k, v in src.vae.state_dict().items():
        assert torch.equal(got.vae.state_dict()[k], v), k
    merged = merge_dape(src.encoder.state_dict(), dape_lora(dape, 4))
    for k, v in merged.items():
        assert torch.equal(got.encoder.state_dict()[k], v), k
    frame = torch.rand(1, 3, 4, 4)
    src.encoder.load_state_dict(merged)
    with torch.no_grad():
        torch.testing.assert_close(got.encoder(frame), src.encoder(frame))
    assert not any(b.is_meta for b in got.encoder.buffers() if b is not None)


@pytest.mark.parametrize("role,key", [("dit", "blocks.0.self_attn.q.weight"), ("vae", "conv2.bias"),
                                      ("ram", "visual_encoder.norm.weight")])
def test_a_missing_key_fails_with_its_name(tmp_path, role, key):
    src = build_random("tiny", seed=1)
    paths, _ = _released_files(tmp_path, src)
    obj = torch.load(paths[role], weights_only=True)
    (obj["model"] if role == "ram" else obj).pop(key)
    torch.save(obj, paths[role])
    with pytest.raises(WeightsFormatError if role != "vae" else Exception, match=key.replace(".", r"\.")):
        load_infvsr_files(paths, "tiny")


def test_missing_weights_list_every_file(tmp_path, monkeypatch):
    monkeypatch.setenv("INFVSR_BENCH_WEIGHTS", str(tmp_path / "none"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    (tmp_path / "w").mkdir()
    torch.save({}, tmp_path / "w" / "DAPE.pth")  # present but not the published bytes: reported too
    assert set(missing_files(tmp_path / "w")) == {"infvsr-dit", "wan2.1-vae", "ram-swin-l", "dape"}
    m = get_method("infvsr", weights_dir=str(tmp_path / "w"))
    with pytest.raises(WeightsNotFound) as exc:
        m.preflight()
    for name in FILES:
        assert name in str(exc.value)
    assert "huggingface.co/zzqingz/InfVSR" in str(exc.value) and "wrong sha256" in str(exc.value)


# ------------------------------------------------------------------------------------------------- CLI
TINY_RECIPE = """
description = "tiny infvsr plumbing recipe"
seed = 3
scale = 4
degradation = "bicubic"
fps = 25.0
width = 16
height = 16

[[clips]]
id = "a"
photos = ["astronaut"]
frames = 9
"""


def test_run_without_weights_exits_2_listing_the_four_files(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("INFVSR_BENCH_WEIGHTS", str(tmp_path / "none"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    code, _, err = run_cli(capsys, "run", "--method", "infvsr", "--max-frames", "3", "--out", str(tmp_path / "r"))
    line = one_line_error(err)
    assert code == 2 and all(f in line for f in FILES)
    assert not (tmp_path / "r").exists()


def test_cli_random_weights_run_is_flagged_everywhere(capsys, tmp_path, monkeypatch):
    from infvsr_bench import report

    d = tmp_path / "recipes"
    d.mkdir()
    (d / "tiny-infvsr.toml").write_text(TINY_RECIPE)
    monkeypatch.setenv("INFVSR_BENCH_RECIPES", str(d))
    out = tmp_path / "runs" / "r"
    code, stdout, err = run_cli(capsys, "run", "--method", "infvsr:preset=tiny", "--random-weights",
                                "--dataset", "tiny-infvsr", "--metrics", "psnr", "--out", str(out))
    assert code == 0, err
    run = records.read_json(out / "run.json")
    assert run["method"]["info"]["random_weights"] is True and run["method"]["params"]["random_weights"] is True
    clips = records.read_clips(out)
    assert len(clips) == 1 and clips[0]["status"] == "ok" and clips[0]["random_weights"] is True
    assert clips[0]["chunk_boundaries"] == [0] and clips[0]["chunk_boundaries_as_declared"] is True
    assert clips[0]["throughput"]["dtype"] == "float32"  # the CPU default; bfloat16 on CUDA
    assert records.read_frames(out, clips[0]["clip"])["random_weights"].item() is True  # the npz too
    assert not list(out.glob("plots/*psnr*.png"))  # and no plot draws its quality
    summary = records.read_json(out / "summary.json")
    assert summary["method"]["random_weights"] is True
    psnr = summary["metrics"]["psnr"]["mean"]
    rep = (out / "report.md").read_text()
    assert "Random weights" in rep and "## Scores" not in rep and report.fmt(psnr) not in rep
    board = report.render_leaderboard(tmp_path / "runs", tmp_path / "leaderboard.md")
    assert "(random weights)" in board and report.fmt(psnr) not in board
    assert report.fmt(psnr) not in stdout and "random weights" in stdout.lower()
    assert np.isfinite(json.loads(json.dumps(psnr)))


def test_carried_state_is_flat_in_video_length(infvsr):
    """KV cache + VAE histories + context: the same bytes after chunk 2 as after chunk 6 (no growth)."""
    from infvsr_bench.models.infvsr.scenes import SceneChunker

    lr = _scene(9 + 5 * 12, 4, 0.2, 0.6)
    pipe, sizes = infvsr.pipeline, []
    pipe.reset()
    for c in SceneChunker(detect=False).push(lr):
        pipe.process(c)
        sizes.append(pipe.state_bytes())
    assert len(sizes) == 6 and sizes[1] == sizes[-1] > 0 and pipe.position == 18


def test_gpu_benchmark_script_smoke_on_cpu(tmp_path):
    """benchmarks/infvsr_gpu.py (what infvsr_gpu.sh runs) with the tiny preset on the CPU."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "infvsr_gpu.py"
    spec = importlib.util.spec_from_file_location("infvsr_gpu_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "r.json"
    assert bench.main(["--preset", "tiny", "--device", "cpu", "--frames", "10", "--lr-size", "4x4",
                       "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["random_weights"] is True and res["results"][0]["frames"] == 10
    assert res["results"][0]["chunk_boundaries"] == [0, 9] and res["results"][0]["seconds"] > 0


def test_streaming_equals_whole_sequence_oracle(infvsr):
    """Two chunks streamed (scene chunker, VAE stream, KV cache) equal one whole-sequence computation: the
    whole-video VAE encode, one DiT forward over all 6 latent frames with the block-causal mask, one Euler
    step, the whole-video decode."""
    from infvsr_bench.models.infvsr.kv_cache import block_causal_mask
    from infvsr_bench.models.infvsr.pipeline import upscale

    g = torch.Generator().manual_seed(7)
    base = 0.2 + 0.5 * torch.rand(3, 4, 8, generator=g)
    lr = torch.stack([(base + 0.01 * i).clamp(0, 1) for i in range(21)])  # 9 + 12 frames, one scene
    out = _drive(infvsr, lr, 7)
    assert infvsr.observed_chunk_boundaries == [0, 9] and infvsr.chunker.reference_updates == []
    pipe = infvsr.pipeline
    with torch.no_grad():
        ctx = pipe.reference_context(lr[0])
        x = upscale(lr * 2 - 1, 4).permute(1, 0, 2, 3)[None]   # (T, 3, 16, 32) -> (1, 3, T, 16, 32)
        z = pipe.vae.encode_video(x)                             # (1, 16, 6, 2, 4)
        tokens_per_frame = (z.shape[3] // 2) * (z.shape[4] // 2)
        v = pipe.dit(z, pipe.sampler.timestep(1), ctx, attn_mask=block_causal_mask([3, 3], tokens_per_frame))
        y = pipe.vae.decode_video(pipe.sampler.step(z, v))[0].permute(1, 0, 2, 3)  # (1, 3, T, H, W) -> (T, 3, H, W)
    torch.testing.assert_close(out, ((y + 1) / 2).clamp(0, 1), atol=2e-5, rtol=0)
