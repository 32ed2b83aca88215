"""InfVSR visual encoder: the exact RAM Swin-L key layout, agreement with an independent Swin (timm), and the
DAPE LoRA merge against the LoRA applied at run time (loralib's grouped-conv formulation)."""
import re

import pytest
import torch
import torch.nn.functional as F

from infvsr_bench.models.infvsr import build_visual_encoder
from infvsr_bench.models.infvsr.visual_encoder import dape_lora, merge_dape, ram_visual_state

from .helpers import torch_threads


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on a shared 2-core machine: one torch thread avoids OpenMP spin-waiting (speed only)."""
    with torch_threads(1):
        yield


def test_meta_build_has_the_released_keys_and_parameter_count():
    m = build_visual_encoder("swin-l-ram", device="meta")
    sd = m.state_dict()
    assert len(sd) == 329 and sum(v.numel() for v in sd.values()) == 195_985_460
    assert all(v.is_meta for v in sd.values())
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes["visual_encoder.patch_embed.proj.weight"] == (192, 3, 4, 4)
    assert shapes["visual_encoder.layers.2.blocks.17.attn.qkv.weight"] == (2304, 768)
    assert shapes["visual_encoder.layers.3.blocks.1.attn.relative_position_bias_table"] == (529, 48)
    assert shapes["visual_encoder.layers.2.downsample.reduction.weight"] == (1536, 3072)
    assert shapes["image_proj.weight"] == (512, 1536)
    assert "visual_encoder.layers.3.downsample.norm.weight" not in shapes
    assert not any(k.endswith(("relative_position_index", "attn_mask")) for k in shapes)
    blocks = m.visual_encoder.layers
    assert [b.attn_mask is not None for b in blocks[2].blocks] == [j % 2 == 1 for j in range(18)]
    assert blocks[3].blocks[1].shift == 0 and blocks[0].blocks[1].attn_mask.shape == (64, 144, 144)
    assert m.num_tokens == 145


def _timm_oracle(ours):
    """timm's Swin with our weights (timm puts the patch merging at the start of the next stage)."""
    timm_swin = pytest.importorskip("timm.models.swin_transformer")
    cfg = ours.visual_encoder.cfg
    ref = timm_swin.SwinTransformer(img_size=cfg.img_size, patch_size=cfg.patch_size, embed_dim=cfg.embed_dim,
                                    depths=cfg.depths, num_heads=cfg.num_heads, window_size=cfg.window_size,
                                    num_classes=0).eval()
    mapped = {re.sub(r"^layers\.(\d+)\.downsample", lambda m: f"layers.{int(m.group(1)) + 1}.downsample", k): v
              for k, v in ours.visual_encoder.state_dict().items()}
    ref.load_state_dict(mapped, strict=True)
    return ref


def test_tiny_backbone_equals_timm_swin():
    enc = build_visual_encoder("tiny")
    with torch.no_grad():
        for p in enc.parameters():  # make every layer matter (LayerNorm affine, biases)
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.05)
    ref = _timm_oracle(enc)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        grid = ref.forward_features(x).flatten(1, 2)  # (B, g, g, C) -> (B, g², C)
        ours = enc.visual_encoder(x)
    assert ours.shape == (2, 17, 32)
    torch.testing.assert_close(ours[:, 1:], grid, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours[:, 0], grid.mean(1), atol=1e-5, rtol=1e-5)


def test_forward_resizes_and_normalises_inside():
    enc = build_visual_encoder("tiny")
    frame = torch.rand(1, 3, 20, 30)
    x = F.interpolate(frame, size=(32, 32), mode="bilinear", align_corners=False)
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(
        1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(enc(frame), enc.image_proj(enc.visual_encoder(x)))


@pytest.mark.parametrize("photo", ["astronaut", "coffee"])
def test_reference_frame_is_resized_as_the_release_does(photo):
    """The release prepares the reference frame with ``transforms.Compose([Resize((384, 384), BILINEAR),
    Normalize(ImageNet)])`` on ``(uint8 / 255 * 2 - 1) / 2 + 0.5``; on the pinned torchvision Resize
    antialiases. Real photographs larger than 384 px: our preprocessing equals it; a plain bilinear resize
    (what the port did before) is far from it."""
    from skimage import data
    from torchvision import transforms

    u8 = torch.from_numpy(getattr(data, photo)()).permute(2, 0, 1)[None]  # (1, 3, H, W), H and W > 384
    frame = (u8.float().div(255).mul(2).sub(1)) / 2 + 0.5  # the release's reference frame in [0, 1]
    release = transforms.Compose([transforms.Resize((384, 384), interpolation=transforms.InterpolationMode.BILINEAR),
                                  transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])(frame)
    enc = build_visual_encoder("swin-l-ram", device="meta")  # preprocessing needs no weights
    ours = enc.preprocess(frame)
    torch.testing.assert_close(ours, release, rtol=0, atol=1e-6)
    aliased = F.interpolate(frame, size=(384, 384), mode="bilinear", align_corners=False)
    aliased = (aliased - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert (aliased - release).abs().max() > 0.3  # the old convention: a different guidance frame


def _lora_tensors(enc, r=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for i, layer in enumerate(enc.visual_encoder.layers):
        for j, blk in enumerate(layer.blocks):
            c = blk.attn.qkv.in_features
            p = f"visual_encoder.layers.{i}.blocks.{j}.attn.qkv"
            out[p + ".lora_A"] = torch.randn(2 * r, c, generator=g) * 0.1
            out[p + ".lora_B"] = torch.randn(2 * c, r, generator=g) * 0.1
    out["tag_encoder.encoder.layer.0.attention.self.query.lora_A"] = torch.randn(8, 16)  # BERT LoRA: ignored
    return out


def _runtime_lora_qkv(x, weight, bias, a, b, r):
    """loralib MergedLinear(enable_lora=[True, False, True], lora_alpha=1) forward, unmerged: the grouped
    1-D conv of x·Aᵀ with B, scattered into the Q and V output blocks."""
    c = weight.shape[1]
    after_a = F.linear(x, a)                                              # (N, 2r)
    after_b = F.conv1d(after_a.T[None], b[..., None], groups=2)[0].T     # (1, 2r, N) -> (N, 2C)
    delta = torch.zeros(x.shape[0], 3 * c)
    delta[:, :c], delta[:, 2 * c:] = after_b[:, :c], after_b[:, c:]
    return F.linear(x, weight, bias) + delta / r


def test_dape_merge_equals_lora_applied_at_run_time():
    enc = build_visual_encoder("tiny")
    base = {k: v.clone() for k, v in enc.state_dict().items()}
    lora_sd = _lora_tensors(enc)
    lora = dape_lora(lora_sd, n_blocks=4)
    merged = merge_dape(base, lora)
    x = torch.randn(5, 16)
    for (i, j), (a, b) in lora.items():
        key = f"visual_encoder.layers.{i}.blocks.{j}.attn.qkv"
        w, bias = base[key + ".weight"], base[key + ".bias"]
        x = torch.randn(5, w.shape[1])
        want = _runtime_lora_qkv(x, w, bias, a, b, r=8)
        got = F.linear(x, merged[key + ".weight"], merged[key + ".bias"])
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        c = w.shape[1]
        assert torch.equal(merged[key + ".weight"][c:2 * c], w[c:2 * c])  # K rows untouched
        assert not torch.equal(merged[key + ".weight"][:c], w[:c])
    assert torch.equal(base["image_proj.weight"], merged["image_proj.weight"])


def test_dape_needs_one_pair_per_block():
    enc = build_visual_encoder("tiny")
    lora_sd = _lora_tensors(enc)
    del lora_sd["visual_encoder.layers.1.blocks.0.attn.qkv.lora_B"]
    with pytest.raises(ValueError, match="4 Swin qkv"):
        dape_lora(lora_sd, n_blocks=4)


def test_ram_filter_keeps_visual_keys_and_drops_buffers():
    ck = {"model": {"visual_encoder.norm.weight": torch.ones(2), "image_proj.bias": torch.ones(2),
                    "visual_encoder.layers.0.blocks.0.attn.relative_position_index": torch.zeros(2),
                    "visual_encoder.layers.0.blocks.1.attn_mask": torch.zeros(2),
                    "tag_encoder.x": torch.ones(1), "label_embed": torch.ones(1)}}
    assert sorted(ram_visual_state(ck)) == ["image_proj.bias", "visual_encoder.norm.weight"]
    with pytest.raises(ValueError, match="'model'"):
        ram_visual_state({"state_dict": {}})
