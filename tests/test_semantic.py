"""Semantic consistency over time (metrics/semantic.py), its backbones and the chunk-seam score.

Real MobileNetV2 ImageNet weights (from $INFVSR_BENCH_WEIGHTS) are used where the behaviour depends on real
features: scene anchors, seam detection in feature space, similarity vs gap. Everything else runs on a tiny
deterministic "pixels" backbone and is checked against a brute-force re-implementation of the definitions.
"""
from __future__ import annotations

import hashlib
import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from infvsr_bench.errors import BadInput, WeightsNotFound
from infvsr_bench.metrics import get_metric, metric_from_spec
from infvsr_bench.metrics.backbones import (
    CLIP_MEAN,
    CLIP_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    DinoViT,
    DinoViTB16Backbone,
    FeatureBackbone,
    get_backbone,
)
from infvsr_bench.metrics.seams import SeamAccumulator, seam_score
from infvsr_bench.metrics.semantic import (
    SemanticConsistency,
    SemanticMobileNet,
    gap_list,
)

CHUNK = 12  # the synthetic method's chunk length in the seam tests


# -- helpers ------------------------------------------------------------------------------------------
class PixelBackbone(FeatureBackbone):
    """Test backbone: the centred pixels of a tiny frame, flattened (D = 3·H·W). Deterministic, no weights."""

    name = "pixels"

    def __init__(self, height: int, width: int):
        super().__init__(pretrained=False)
        self.feature_dim = 3 * height * width

    def build(self) -> nn.Module:
        return nn.Flatten()

    def prepare(self, frames: torch.Tensor) -> torch.Tensor:
        return frames.float() - 0.5


class CachedBackbone(FeatureBackbone):
    """Test helper: a real backbone whose features are reused for frames already seen (same bytes), so
    several tests can share one pass of MobileNetV2 over the same photographs."""

    def __init__(self, inner: FeatureBackbone):
        super().__init__(pretrained=inner.pretrained)
        self.inner = inner
        self.name, self.weight_id, self.feature_dim = inner.name, inner.weight_id, inner.feature_dim
        self.cache: dict[str, torch.Tensor] = {}

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        keys = [hashlib.sha1(f.contiguous().numpy().tobytes()).hexdigest() for f in frames]
        todo = sorted({i for i, k in enumerate(keys) if k not in self.cache})
        if todo:
            for i, f in zip(todo, self.inner(frames[todo])):
                self.cache[keys[i]] = f
        return torch.stack([self.cache[k] for k in keys])


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (T, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0


def pan(img: np.ndarray, n: int, y0: int, x0: int, h: int = 96, w: int = 128, dy: int = 1, dx: int = 2):
    """(n, h, w, 3) uint8 crops of a photograph moving (dy, dx) pixels per frame: a slow camera pan."""
    return np.stack([img[y0 + dy * i:y0 + dy * i + h, x0 + dx * i:x0 + dx * i + w] for i in range(n)])


def run(metric: SemanticConsistency, video: torch.Tensor, chunks: list[int] | int, scene_cuts=(),
        chunk_boundaries=None) -> torch.Tensor:
    """Drive a metric as the runner does; return the per-frame values."""
    metric.reset()
    metric.start({"clip": "c", "frames": video.shape[0], "fps": 25.0, "scene_cuts": list(scene_cuts),
                  "chunk_boundaries": chunk_boundaries})
    sizes = chunks if isinstance(chunks, list) else [chunks] * math.ceil(video.shape[0] / chunks)
    out, i = [], 0
    for k in sizes:
        out.append(metric.update(video[i:i + k]))
        i += k
    assert i >= video.shape[0]
    return torch.cat(out)


def reference(feats: np.ndarray, frames: np.ndarray, cuts, boundaries, gaps) -> dict:
    """Brute-force definitions (O(T²), float64) written independently of the streaming code."""
    n = feats.shape[0]
    starts = [max(c for c in [0, *cuts] if c <= t) for t in range(n)]
    cos = feats @ feats.T
    defined = [t for t in range(n) if t > starts[t]]
    values = np.full(n, np.nan)
    for t in defined:
        values[t] = 0.5 * (max(0.0, cos[t - 1, t]) + max(0.0, cos[starts[t], t]))
    out = {"values": values,
           "prev": np.mean([cos[t - 1, t] for t in defined]),
           "anchor": np.mean([cos[starts[t], t] for t in defined])}
    out["gap"] = {g: [cos[t - g, t] for t in range(n) if t - g >= starts[t]] for g in gaps}
    # drift: regression of anchor similarity on age with one intercept per scene (dummy variables)
    scenes = sorted(set(starts))
    x = np.array([[t - starts[t]] + [1.0 if starts[t] == s else 0.0 for s in scenes] for t in defined])
    y = np.array([cos[starts[t], t] for t in defined])
    out["drift"] = 1000.0 * np.linalg.lstsq(x, y, rcond=None)[0][0]
    b = set(boundaries)
    px = {t: np.abs(frames[t] - frames[t - 1]).mean() for t in defined}
    ft = {t: 1.0 - cos[t - 1, t] for t in defined}
    for name, ch in (("pixel", px), ("feature", ft)):
        inside = np.mean([ch[t] for t in defined if t not in b])
        across = np.mean([ch[t] for t in defined if t in b])
        out[f"seam_{name}"] = (min(1.0, inside / across), inside, across)
    return out


def weights_or_skip(weight_id: str) -> None:
    from infvsr_bench import weights

    try:
        weights.resolve(weight_id)
    except WeightsNotFound as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def mobilenet() -> CachedBackbone:
    """The real MobileNetV2 (ImageNet) backbone, loaded once through the registered metric."""
    weights_or_skip("mobilenet_v2")
    metric = get_metric("semantic-mobilenet")
    assert metric.requires == ("mobilenet_v2",) and "random_weights" not in metric.params
    assert metric.backbone.net is not None  # loads the real file (sha256-checked) now
    return CachedBackbone(metric.backbone)


@pytest.fixture(scope="module")
def astronaut_pan() -> torch.Tensor:
    from skimage import data

    return to_tensor(pan(data.astronaut(), 3 * CHUNK, y0=40, x0=150))


# -- (1) scene anchors, real MobileNetV2 --------------------------------------------------------------
@pytest.mark.weights
def test_anchor_resets_at_scene_cut_real_mobilenet(mobilenet, astronaut_pan):
    """Astronaut pan then coffee pan: without the cut in meta the coffee frames are compared with an
    astronaut anchor (cos ≈ 0.45 measured); with the cut the anchor resets to the first coffee frame
    (cos ≥ 0.94 measured). Within-scene anchor cos stays ≥ 0.9 over 12 frames of panning."""
    from skimage import data

    k = CHUNK
    video = torch.cat([astronaut_pan[:k], to_tensor(pan(data.coffee(), k, y0=100, x0=200))])
    results = {}
    for name, cuts in (("no_cut", []), ("cut", [k])):
        metric = SemanticConsistency(backbone=mobilenet)
        values = run(metric, video, [k, k], scene_cuts=cuts)
        results[name] = (values, metric.last_chunk["anchor_similarity"], metric.extra())
    v_none, anchor_none, e_none = results["no_cut"]
    v_cut, anchor_cut, e_cut = results["cut"]

    assert math.isnan(v_none[0]) and math.isnan(v_cut[0])   # first frame of the clip: undefined
    assert math.isnan(v_cut[k]) and not math.isnan(v_none[k])  # first frame of the second scene
    torch.testing.assert_close(v_none[:k], v_cut[:k], equal_nan=True)  # first scene unaffected
    assert float(v_none[1:k].min()) > 0.9
    # the anchor: astronaut frame 0 vs coffee frames — a drop — and after the reset a recovery
    assert float(anchor_none.max()) < 0.6
    assert float(anchor_cut[1:].min()) > 0.85
    assert float(v_none[k + 1:].max()) < 0.8 < float(v_cut[k + 1:].min())
    assert e_none["scenes"] == 1 and e_cut["scenes"] == 2
    assert e_none["anchor_similarity"] < 0.75
    assert e_cut["anchor_similarity"] > 0.9
    assert e_none["vbench_consistency"] < e_cut["vbench_consistency"]
    # pairs straddling the cut are excluded from the gap curve: 2 scenes of 12 → 11 + 11 pairs at gap 1
    assert e_cut["gap_pairs"][1] == 2 * (k - 1) and e_none["gap_pairs"][1] == 2 * k - 1


# -- (2) chunk-seam score, real photograph --------------------------------------------------------------
@pytest.mark.weights
def test_seam_score_detects_brightness_steps_at_chunk_boundaries(mobilenet, astronaut_pan):
    """A smooth pan with every other 12-frame chunk 20 % darker: boundary steps change the frame much more
    than ordinary steps. Measured: pixel 0.42 / feature 0.63 with the step; 0.95 / 1.0 without."""
    n = astronaut_pan.shape[0]
    gain = torch.tensor([1.0 if (i // CHUNK) % 2 == 0 else 0.8 for i in range(n)]).view(n, 1, 1, 1)
    stepped = astronaut_pan * gain
    boundaries = list(range(0, n, CHUNK))
    scores = {}
    for name, video in (("smooth", astronaut_pan), ("stepped", stepped)):
        metric = SemanticConsistency(backbone=mobilenet)
        run(metric, video, CHUNK, chunk_boundaries=boundaries)
        scores[name] = metric.extra()
    smooth, step = scores["smooth"], scores["stepped"]
    assert smooth["seam"]["reason"] is None and smooth["seam"]["across_pairs"] == 2
    assert smooth["seam"]["inside_pairs"] == n - 1 - 2
    assert smooth["seam_score_pixel"] > 0.8
    assert step["seam_score_pixel"] < 0.5
    assert step["seam"]["pixel_across"] > 2 * step["seam"]["pixel_inside"]
    # the features see it too, less strongly (MobileNetV2 is trained to ignore brightness)
    assert step["seam_score_feature"] < 0.8
    assert smooth["seam_score_feature"] > 0.9
    assert step["seam"]["feature_across"] > smooth["seam"]["feature_across"]


def test_seam_score_not_applicable_without_chunk_structure():
    frames = torch.rand(6, 3, 2, 2)
    metric = SemanticConsistency(backbone=PixelBackbone(2, 2))
    run(metric, frames, 3, chunk_boundaries=None)
    e = metric.extra()
    assert math.isnan(e["seam_score_pixel"]) and math.isnan(e["seam_score_feature"])
    assert "no chunk structure" in e["seam"]["reason"]
    assert metric._prev_frame is None  # no pixel carry when no seam score is wanted


def test_seam_score_edge_cases():
    assert seam_score(0.1, 0.2) == 0.5
    assert seam_score(0.3, 0.1) == 1.0      # smoother boundaries than ordinary steps: capped
    assert seam_score(0.0, 0.0) == 1.0      # nothing changes anywhere: no seam
    assert seam_score(0.2, 0.0) == 1.0
    assert math.isnan(seam_score(math.nan, 0.1))
    acc = SeamAccumulator([0, 4])
    acc.add(torch.arange(1, 4), torch.ones(3), torch.ones(3, dtype=torch.bool))  # pairs inside chunk 0
    r = acc.result()
    assert math.isnan(r["score"]) and r["across_pairs"] == 0 and "no chunk boundary" in r["reason"]


# -- (3) oracles: brute-force definitions, chunked vs whole, batched vs per-frame ----------------------
def test_matches_brute_force_definitions_and_chunking_is_invisible():
    """Random 4×4 frames through the pixel backbone (cosines of both signs, so the max(0, ·) clamps act),
    three scenes, chunk boundaries one of which coincides with a cut, max_gap 8 < a 30-frame chunk."""
    torch.manual_seed(0)
    n, cuts = 60, [17, 40]
    boundaries = sorted(set(range(0, n, 7)) | {40})
    frames = torch.rand(n, 3, 4, 4)
    feats = nn.functional.normalize((frames - 0.5).flatten(1), dim=1).double().numpy()
    ref = reference(feats, frames.double().numpy(), cuts, boundaries, gap_list(8))

    chunked = SemanticConsistency(backbone=PixelBackbone(4, 4), max_gap=8)
    v_chunked = run(chunked, frames, [5, 1, 13, 7, 30, 4], scene_cuts=cuts, chunk_boundaries=boundaries)
    whole = SemanticConsistency(backbone=PixelBackbone(4, 4), max_gap=8)
    v_whole = run(whole, frames, [n], scene_cuts=cuts, chunk_boundaries=boundaries)

    np.testing.assert_allclose(v_chunked.numpy(), ref["values"], rtol=0, atol=1e-6)
    assert np.isnan(v_chunked.numpy()[[0, 17, 40]]).all() and np.isfinite(v_chunked.numpy()).sum() == n - 3
    assert (ref["values"][np.isfinite(ref["values"])] == 0).any()  # a clamp was exercised
    torch.testing.assert_close(v_chunked, v_whole, rtol=0, atol=1e-12, equal_nan=True)

    e, e_whole = chunked.extra(), whole.extra()
    assert e.keys() == e_whole.keys()
    def flat(d: dict) -> dict:  # one level of nesting ("seam", "gap_similarity", ...) flattened
        return {f"{k}.{kk}": vv for k, v in d.items() if isinstance(v, dict) for kk, vv in v.items()} | {
            k: v for k, v in d.items() if not isinstance(v, dict)}

    for key, a in flat(e).items():
        b = flat(e_whole)[key]
        if isinstance(a, float):
            assert a == pytest.approx(b, abs=1e-12, nan_ok=True), key
        else:
            assert a == b, key
    c = chunked.compute()
    assert c["mean"] == pytest.approx(np.nanmean(ref["values"]), abs=1e-7)
    assert e["vbench_consistency"] == pytest.approx(c["mean"], abs=1e-12)
    assert e["prev_similarity"] == pytest.approx(ref["prev"], abs=1e-7)
    assert e["anchor_similarity"] == pytest.approx(ref["anchor"], abs=1e-7)
    assert e["anchor_drift_per_1k"] == pytest.approx(ref["drift"], rel=1e-6)
    for g, sims in ref["gap"].items():
        assert e["gap_pairs"][g] == len(sims)
        assert e["gap_similarity"][g] == pytest.approx(np.mean(sims), abs=1e-7)
    for kind in ("pixel", "feature"):
        score, inside, across = ref[f"seam_{kind}"]
        assert e[f"seam_score_{kind}"] == pytest.approx(score, abs=1e-7)
        assert e["seam"][f"{kind}_inside"] == pytest.approx(inside, abs=1e-7)
        assert e["seam"][f"{kind}_across"] == pytest.approx(across, abs=1e-7)
    # boundary 40 is also a cut: that pair is excluded; 7, 14, 21, 28, 35, 42, 49, 56 remain
    assert e["seam"]["across_pairs"] == 8 and e["seam"]["inside_pairs"] == n - 3 - 8


def test_analytic_values_identical_orthogonal_and_opposite_frames():
    """Feature cosines of 1, -1 and 1/3 give s_t = 1, 0 (both terms clamped at 0) and 1/3."""
    a = torch.zeros(1, 3, 1, 2)
    a[0, 0, 0, 0] = 1.0  # centred features: +0.5 at one position, -0.5 elsewhere
    b = torch.zeros(1, 3, 1, 2)
    b[0, 0, 0, 1] = 1.0
    video = torch.cat([a, a, 1.0 - a])  # f_1 = f_0; f_2 = -f_0
    metric = SemanticConsistency(backbone=PixelBackbone(1, 2))
    values = run(metric, video, 3)
    assert math.isnan(values[0])
    assert values[1] == pytest.approx(1.0)  # ½(1 + 1)
    assert values[2] == pytest.approx(0.0)  # ½(max(0, -1) + max(0, -1))
    assert metric.extra()["prev_similarity"] == pytest.approx(0.0)  # mean of +1 and -1, unclamped
    # orthogonal centred features: cos(a - ½, b - ½) over 6 values = (0.25·4 - 0.25·2)/1.5 = 1/3
    values = run(SemanticConsistency(backbone=PixelBackbone(1, 2)), torch.cat([a, b]), 2)
    assert values[1] == pytest.approx(1.0 / 3.0)


@pytest.mark.weights
def test_mobilenet_batched_equals_per_frame(mobilenet, astronaut_pan):
    bb = mobilenet.inner
    frames = astronaut_pan[:5]
    old = bb.batch_size
    try:
        bb.batch_size = 5
        batched = bb(frames)
        bb.batch_size = 1
        single = bb(frames)
    finally:
        bb.batch_size = old
    assert batched.shape == (5, 1280)
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-5)
    torch.testing.assert_close(batched.norm(dim=1), torch.ones(5), rtol=0, atol=1e-5)


def test_mobilenet_preprocessing_equals_torchvision_eval_transforms():
    from torchvision.transforms import v2

    frames = torch.rand(2, 3, 54, 96)
    tv = v2.Compose([v2.Resize(224, antialias=True), v2.CenterCrop(224), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    ours = get_backbone("mobilenet_v2", pretrained=False).prepare(frames)
    assert ours.shape == (2, 3, 224, 224)
    torch.testing.assert_close(ours, tv(frames), rtol=0, atol=1e-5)
    tall = torch.rand(1, 3, 300, 230)  # portrait, odd crop margin: offsets follow torchvision's rounding
    dino = get_backbone("dino-vitb16", pretrained=False, preset="antialiased")
    torch.testing.assert_close(dino.prepare(tall), tv(tall), rtol=0, atol=1e-5)


def test_clip_preprocessing_close_to_open_clip_transform():
    """open_clip resizes a PIL image (uint8, PIL bicubic); we resize the float tensor. On a photograph the
    normalised inputs agree to ~1 % of their range (measured mean |Δ| ≈ 0.004)."""
    open_clip = pytest.importorskip("open_clip")
    from PIL import Image
    from skimage import data

    img = data.astronaut()[100:196, 100:228]  # 96 × 128
    ref = open_clip.image_transform(224, is_train=False, mean=CLIP_MEAN, std=CLIP_STD)(Image.fromarray(img))
    ours = get_backbone("clip-vit-b-32", pretrained=False, preset="antialiased").prepare(to_tensor(img[None]))[0]
    assert ours.shape == ref.shape == (3, 224, 224)
    assert float((ours - ref).abs().mean()) < 0.02
    assert float((ours - ref).abs().max()) < 0.25


# -- (4) bounded state ------------------------------------------------------------------------------------
def test_state_size_is_the_same_after_1000_and_10000_frames():
    torch.manual_seed(1)
    metric = SemanticConsistency(backbone=PixelBackbone(2, 2))  # D = 12, max_gap 1024
    metric.reset()
    metric.start({"scene_cuts": [2500, 7000], "chunk_boundaries": list(range(0, 10_000, 50))})
    sizes = {}
    for i in range(20):
        metric.update(torch.rand(500, 3, 2, 2))
        if metric.frames in (1000, 10_000):
            sizes[metric.frames] = metric.state_nbytes()
    assert sizes[1000] == sizes[10_000]
    assert metric._hist.shape == (1024, 12)
    reservoir = 1024 * 12 * 4
    assert reservoir <= sizes[10_000] < reservoir + 1024  # the reservoir plus a few fixed-size sums
    e = metric.extra()
    assert e["gap_pairs"][1024] == (2500 - 1024) + (4500 - 1024) + (3000 - 1024)  # within scenes only
    assert e["scenes"] == 3


# -- (5) similarity vs gap ------------------------------------------------------------------------------
@pytest.mark.weights
def test_similarity_decreases_with_gap_on_a_slow_pan(mobilenet, astronaut_pan):
    metric = SemanticConsistency(backbone=mobilenet)
    run(metric, astronaut_pan, CHUNK)
    e = metric.extra()
    n = astronaut_pan.shape[0]
    curve = [e["gap_similarity"][g] for g in (1, 2, 4, 8, 16, 32)]
    assert all(a > b for a, b in itertools.pairwise(curve)), curve
    assert curve[0] > 0.95 and curve[-1] < 0.9
    assert [e["gap_pairs"][g] for g in (1, 32)] == [n - 1, n - 32]
    assert math.isnan(e["gap_similarity"][64]) and e["gap_pairs"][64] == 0
    assert e["anchor_drift_per_1k"] < 0  # moving away from the first frame


# -- (6) CLIP and DINO backbones ---------------------------------------------------------------------
@pytest.mark.parametrize("name,dim", [("semantic-clip", 512), ("semantic-dino", 768)])
def test_vit_backbones_random_weights_run_and_are_marked(name, dim):
    metric = get_metric(name, pretrained=False)
    assert metric.params["random_weights"] is True and metric.requires == ()
    feats = metric.backbone(torch.rand(2, 3, 18, 30))
    assert feats.shape == (2, dim)
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(2), rtol=0, atol=1e-5)
    values = run(metric, torch.rand(2, 3, 18, 30), 2)
    assert math.isnan(values[0]) and 0.0 <= float(values[1]) <= 1.0
    assert metric.extra()["random_weights"] is True
    assert metric.describe()["backbone"]["feature_dim"] == dim


@pytest.mark.parametrize("name,weight_id", [("semantic-clip", "clip-vit-b-32"), ("semantic-dino", "dino-vitb16"),
                                            ("semantic-mobilenet", "mobilenet_v2")])
def test_pretrained_without_files_raises_weights_not_found(name, weight_id, tmp_path, monkeypatch):
    for var in ("INFVSR_BENCH_WEIGHTS", "TORCH_HOME", "HF_HOME", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.setenv(var, str(tmp_path))
    metric = get_metric(name)  # construction is cheap and touches no file
    assert metric.requires == (weight_id,) and "random_weights" not in metric.params
    with pytest.raises(WeightsNotFound):
        metric.update(torch.rand(1, 3, 8, 8))
    with pytest.raises(WeightsNotFound):  # an explicit path that does not exist fails at construction
        get_metric(name, weights_path=str(tmp_path / "nope.pth"))


def test_metric_spec_and_params():
    m = metric_from_spec("semantic-mobilenet:pretrained=false:max_gap=64")
    assert isinstance(m, SemanticMobileNet) and m.gaps == [1, 2, 4, 8, 16, 32, 64]
    assert m.params == {"backbone": "mobilenet_v2", "pretrained": False, "max_gap": 64, "random_weights": True}
    assert m.mode == "NR" and m.higher_is_better
    with pytest.raises(BadInput):
        get_metric("semantic-dino", max_gap=0)
    with pytest.raises(BadInput):
        SemanticConsistency(backbone="resnet-9000")


# -- (7) DINO architecture and checkpoint key layout --------------------------------------------------
def official_dino_vitb16_layout() -> dict[str, tuple[int, ...]]:
    """Keys and shapes of facebookresearch/dino ``dino_vitbase16_pretrain.pth`` (``vit_base``, patch 16,
    ``num_classes=0``: no head), written out from DINO's ``vision_transformer.py``."""
    d, hidden = 768, 3072
    keys = {"cls_token": (1, 1, d), "pos_embed": (1, 197, d),
            "patch_embed.proj.weight": (d, 3, 16, 16), "patch_embed.proj.bias": (d,),
            "norm.weight": (d,), "norm.bias": (d,)}
    for i in range(12):
        p = f"blocks.{i}."
        keys.update({p + "norm1.weight": (d,), p + "norm1.bias": (d,), p + "norm2.weight": (d,),
                     p + "norm2.bias": (d,), p + "attn.qkv.weight": (3 * d, d), p + "attn.qkv.bias": (3 * d,),
                     p + "attn.proj.weight": (d, d), p + "attn.proj.bias": (d,),
                     p + "mlp.fc1.weight": (hidden, d), p + "mlp.fc1.bias": (hidden,),
                     p + "mlp.fc2.weight": (d, hidden), p + "mlp.fc2.bias": (d,)})
    return keys


def test_dino_loads_the_official_key_layout_strictly():
    torch.manual_seed(2)
    official = {k: torch.randn(shape) for k, shape in official_dino_vitb16_layout().items()}
    backbone = DinoViTB16Backbone(pretrained=False)
    net = backbone.build()
    backbone.load(net, official)
    own = net.state_dict()
    assert set(own) == set(official)
    assert all(torch.equal(own[k], official[k]) for k in official)
    with pytest.raises(BadInput, match="unexpected: head.weight"):
        backbone.load(net, {**official, "head.weight": torch.zeros(1)})
    missing = dict(official)
    del missing["norm.bias"]
    with pytest.raises(BadInput, match="missing: norm.bias"):
        backbone.load(net, missing)


def test_dino_vit_matches_timm_vision_transformer():
    """Our DINO ViT and timm's VisionTransformer (which loads DINO checkpoints) share the key layout and
    compute the same CLS feature, on a small configuration."""
    vt = pytest.importorskip("timm.models.vision_transformer")
    torch.manual_seed(3)
    ref = vt.VisionTransformer(img_size=32, patch_size=16, embed_dim=64, depth=2, num_heads=4, num_classes=0,
                               global_pool="token", qkv_bias=True).eval()
    for p in ref.parameters():  # perturb every parameter so that no default (zeros, ones) hides a bug
        p.data.add_(0.05 * torch.randn_like(p))
    ours = DinoViT(img_size=32, patch=16, dim=64, depth=2, heads=4).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(3, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)


def test_clip_loads_openai_layout_and_matches_open_clip_encode_image():
    """``clip-vit-b-32`` is OpenAI's TorchScript file: its state dict has OpenAI key names (``visual.*`` for
    the image tower, the text tower beside it, a few non-parameter entries) in float16. open_clip loads that
    layout strictly into its CLIP model, so a (random) open_clip CLIP state dict in float16 stands in for
    it: our image tower must load it and give open_clip's ``encode_image`` output."""
    open_clip = pytest.importorskip("open_clip")
    torch.manual_seed(4)
    ref = open_clip.create_model("ViT-B-32", pretrained=None, force_quick_gelu=True).eval()
    for p in ref.visual.parameters():  # perturb the norms and biases: no ones/zeros default hides a swap
        if p.ndim <= 1:
            p.data.add_(0.05 * torch.randn_like(p))
    openai = {k: v.half() if k.startswith("visual.") else v for k, v in ref.state_dict().items()}
    openai.update({"input_resolution": torch.tensor(224), "context_length": torch.tensor(77),
                   "vocab_size": torch.tensor(49408)})
    ref.visual.half().float()  # the same rounded values as the file
    backbone = get_backbone("clip-vit-b-32", pretrained=False)
    net = backbone.build()
    backbone.load(net, openai)
    frames = torch.rand(2, 3, 40, 60)
    x = backbone.prepare(frames)
    with torch.inference_mode():
        expected = nn.functional.normalize(ref.encode_image(x), dim=1)
        torch.testing.assert_close(backbone.embed(net.eval(), x), ref.encode_image(x), rtol=1e-4, atol=1e-4)
    backbone._net = net.eval()
    torch.testing.assert_close(backbone(frames), expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(BadInput, match="missing: proj"):
        backbone.load(net, {k: v for k, v in openai.items() if k != "visual.proj"})


def test_random_weight_backbones_repeat_across_instances():
    """pretrained=False builds a seeded network: two instances (or two processes) give the same values."""
    x = torch.rand(3, 3, 64, 80, generator=torch.Generator().manual_seed(1))
    a = get_metric("semantic-mobilenet", pretrained=False).update(x, None)
    b = get_metric("semantic-mobilenet", pretrained=False).update(x, None)
    assert torch.equal(a.nan_to_num(), b.nan_to_num()) and not torch.isnan(a[1:]).any()
