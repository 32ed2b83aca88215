"""Frozen image backbones that turn frames into L2-normalised feature vectors.

One interface, :class:`FeatureBackbone`, so that the semantic-consistency metric is the same code whatever
network embeds the frames (``docs/metrics.md`` §0). Every backbone:

* takes frames as the project passes them — ``(T, 3, H, W)`` float32 RGB in [0, 1], any size — and returns
  ``(T, D)`` float32 features with unit L2 norm, on the backbone's device;
* preprocesses on tensors, in batches of ``batch_size`` frames, under ``torch.inference_mode``;
* describes its preprocessing in :attr:`FeatureBackbone.preprocess` (a dict recorded with every result);
* is built with random initialisation when ``pretrained=False`` (plumbing tests and speed only: the metric
  that owns it marks its output ``random_weights``), otherwise loads its weights through
  :mod:`infvsr_bench.weights` (sha256-checked, ``weights_only``), which raises
  :class:`~infvsr_bench.errors.WeightsNotFound` when the file is absent.

Preprocessing rule shared by all three: the short side is resized to 224 (long side
``int(224 * long / short)``, torchvision's ``Resize(224)`` rule) with antialiasing, then the central 224×224
is cropped (top/left offsets ``round((H - 224) / 2)``, torchvision's ``center_crop``), then mean/std
normalisation. What differs is the interpolation and the normalisation constants:

=================  ==========================  ===================================  =========
backbone           interpolation               mean / std                           D
=================  ==========================  ===================================  =========
``mobilenet_v2``   bilinear, antialias         ImageNet                             1280
``clip-vit-b-32``  bicubic, antialias, clamp   OpenAI CLIP                          512
``dino-vitb16``    bilinear, antialias         ImageNet                             768
=================  ==========================  ===================================  =========

Deliberate differences from the usual recipes (recorded in ``preprocess``):

* MobileNetV2: torchvision's ImageNet *classification* eval transform resizes to 256 and crops 224 (87.5 %
  of the short side). For video frames we keep the whole short side (resize to 224, crop 224), as VBench
  does for its consistency backbones: the crop should drop only what the square aspect forces it to.
* CLIP: open_clip's own transform resizes a PIL image (uint8, PIL bicubic). We resize the float tensor with
  torch's antialiased bicubic and clamp to [0, 1]; on real photographs the two inputs differ by ~1 % of
  the normalised range (tests compare against open_clip's transform).
* DINO: VBench's subject consistency feeds the uncropped short-side-224 frame to the ViT (interpolating the
  position embeddings). We crop to 224×224 so every frame has the same 196 patch tokens and the published
  position embeddings are used as trained.

Presets. The rule above is the ``antialiased`` preset (the only one of ``mobilenet_v2``). ``clip-vit-b-32``
and ``dino-vitb16`` also have ``vbench`` — their **default** — which reproduces the inputs of VBench's
``background_consistency`` / ``subject_consistency`` (``vbench/utils.py`` with the torchvision < 0.16 that
VBench pins, whose tensor ``Resize`` does not antialias), quirks included:

* the frame is taken as VBench's ``load_video`` gives it: the decoded 8-bit levels as float32 **0–255**
  (``torch.Tensor(uint8 array)``; our [0, 1] frames are scaled by 255 and rounded to those levels);
* CLIP: short side to 224, **bicubic without antialiasing and without clamping** (float tensors are not
  clamped), centre crop 224, ÷ 255, OpenAI CLIP mean/std;
* DINO: short side to 224, **bilinear without antialiasing**, **no crop**, and ImageNet mean/std applied to
  the **0–255** values (``dino_transform`` has no ÷ 255: the network sees inputs ~255× its training scale);
  the ViT interpolates its position embeddings to the frame's patch grid as DINO's
  ``interpolate_pos_encoding`` does (:meth:`DinoViT.position_embedding`).

Not reproduced: VBench's ``clip.load`` runs the CLIP model in float16 on CUDA (float32 on CPU); we run
float32 everywhere, so our values equal VBench run on CPU to float rounding.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import BadInput, UnknownName
from ..weights import load_strict
from .flow import _full_fp32

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: open_clip's OPENAI_DATASET_MEAN / OPENAI_DATASET_STD.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


PRESETS = ("vbench", "antialiased")


def resize_short_side(frames: torch.Tensor, size: int, mode: str, antialias: bool) -> torch.Tensor:
    """(T, 3, H, W) → (T, 3, H', W') with the short side ``size`` and the long side ``int(size · long /
    short)`` (torchvision's ``Resize(size)`` rule); no clamping."""
    _, _, h, w = frames.shape
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_h, new_w = (new_long, new_short) if w <= h else (new_short, new_long)
    if (new_h, new_w) == (h, w):
        return frames
    return F.interpolate(frames, size=(new_h, new_w), mode=mode, align_corners=False, antialias=antialias)


def center_crop(frames: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size`` × ``size`` (offsets ``round((H − size) / 2)``, torchvision's ``center_crop``)."""
    h, w = frames.shape[-2:]
    top = round((h - size) / 2.0)  # round-half-even, as torchvision's int(round(.))
    left = round((w - size) / 2.0)
    return frames[:, :, top:top + size, left:left + size]


def resize_short_side_center_crop(frames: torch.Tensor, size: int, mode: str = "bilinear") -> torch.Tensor:
    """(T, 3, H, W) → (T, 3, size, size): antialiased resize of the short side to ``size``, central crop.

    Sizes and crop offsets follow torchvision (``Resize(size)`` then ``CenterCrop(size)``) exactly, so the
    result equals torchvision's tensor transforms for bilinear. Bicubic output is clamped to [0, 1] (bicubic
    overshoots; PIL clamps to uint8 the same way).
    """
    resized = resize_short_side(frames, size, mode, antialias=True)
    if mode == "bicubic" and resized is not frames:
        resized = resized.clamp(0.0, 1.0)
    return center_crop(resized, size)


class FeatureBackbone:
    """A frozen network that embeds frames: ``backbone(frames (T,3,H,W) in [0,1]) -> (T, D)`` unit vectors.

    Subclasses set the class attributes and implement :meth:`build` (the network with random init),
    :meth:`load` (put the weight file's state dict into it) and :meth:`embed` (normalised 224×224 batch →
    raw features). The network is built on first use, so constructing a backbone is cheap and never touches
    the disk.
    """

    name: ClassVar[str] = ""
    weight_id: ClassVar[str | None] = None  # id in infvsr_bench.weights; None = needs no weights
    feature_dim: ClassVar[int] = 0
    input_size: ClassVar[int] = 224
    interpolation: ClassVar[str] = "bilinear"
    mean: ClassVar[tuple[float, float, float]] = IMAGENET_MEAN
    std: ClassVar[tuple[float, float, float]] = IMAGENET_STD
    #: preprocessing presets this backbone offers, the default first (module docstring)
    presets: ClassVar[tuple[str, ...]] = ("antialiased",)

    def __init__(self, pretrained: bool = True, weights_path: str | None = None,
                 device: str | torch.device = "cpu", batch_size: int = 32, preset: str | None = None):
        if batch_size < 1:
            raise BadInput(f"backbone {self.name}: batch_size must be >= 1, got {batch_size}")
        preset = self.presets[0] if preset is None else str(preset).lower()
        if preset not in self.presets:
            raise BadInput(f"backbone {self.name}: unknown preset {preset!r} (choose from {', '.join(self.presets)})")
        self.preset = preset
        self.pretrained = bool(pretrained)
        self.weights_path = weights_path
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self._net: nn.Module | None = None

    @property
    def preprocess(self) -> dict[str, Any]:
        """How frames become network input (recorded with every result)."""
        if self.preset == "vbench":
            return self.vbench_preprocess
        return {"preset": "antialiased", "resize": f"short side to {self.input_size}, {self.interpolation}, antialias",
                "crop": f"center {self.input_size}x{self.input_size}",
                "mean": list(self.mean), "std": list(self.std), "input": "RGB float32 in [0, 1]"}

    vbench_preprocess: ClassVar[dict[str, Any]] = {}

    def prepare_vbench(self, levels: torch.Tensor) -> torch.Tensor:
        """VBench's input from (T, 3, H, W) float 8-bit levels 0–255 (backbones with a ``vbench`` preset)."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "feature_dim": self.feature_dim, "weight_id": self.weight_id,
                "pretrained": self.pretrained, "preprocess": self.preprocess}

    # -- to implement -------------------------------------------------------------------------------
    def build(self) -> nn.Module:
        """The network with random initialisation (no I/O)."""
        raise NotImplementedError

    def load(self, net: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
        """Load a state dict in the weight file's own key layout into ``net`` (strictly)."""
        load_strict(net, state_dict, f"backbone {self.name}")

    def embed(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Normalised input (B, 3, 224, 224) → raw features (B, D)."""
        return net(x)

    # -- shared -------------------------------------------------------------------------------------
    @property
    def net(self) -> nn.Module:
        """The network, built (and its weights loaded) on first access."""
        if self._net is None:
            state_dict = None
            if self.pretrained:  # weights first: a missing file fails before the network is built
                if self.weight_id is None:
                    raise BadInput(f"backbone {self.name} has no pretrained weights")
                from .. import weights  # lazy: resolving weights is I/O

                state_dict = weights.load_state_dict(self.weight_id, self.weights_path)
            from .learned_nets import seeded

            with seeded(0):  # random weights (pretrained=False) repeat across processes, as the learned metrics'
                net = self.build()
            if state_dict is not None:
                self.load(net, state_dict)
            self._net = net.eval().requires_grad_(False).to(self.device)
        return self._net

    def to(self, device: str | torch.device) -> FeatureBackbone:
        self.device = torch.device(device)
        if self._net is not None:
            self._net = self._net.to(self.device)
        return self

    def prepare(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, 3, H, W) [0, 1] → (T, 3, 224, 224) normalised network input (``vbench``: VBench's input, whose
        size may differ, see the module docstring)."""
        if self.preset == "vbench":
            return self.prepare_vbench(frames.float().mul(255.0).round_())  # load_video's float 0-255 levels
        x = resize_short_side_center_crop(frames.float(), self.input_size, self.interpolation)
        return self.normalise(x)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """(x − mean) / std per channel, with this backbone's constants."""
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, 3, H, W) float in [0, 1] → (T, D) float32 unit-norm features, ``batch_size`` frames at a time."""
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise BadInput(f"backbone {self.name}: expected frames (T, 3, H, W), got {tuple(frames.shape)}")
        net = self.net
        out = []
        with torch.inference_mode(), _full_fp32(self.device):  # no TF32 on CUDA: the CPU values up to rounding
            for i in range(0, frames.shape[0], self.batch_size):
                x = self.prepare(frames[i:i + self.batch_size].to(self.device))
                out.append(F.normalize(self.embed(net, x).float(), dim=1))
        if not out:
            return torch.empty(0, self.feature_dim, device=self.device)
        return torch.cat(out)


# -- MobileNetV2 (torchvision, ImageNet) ------------------------------------------------------------
class MobileNetV2Backbone(FeatureBackbone):
    """torchvision MobileNetV2 (``IMAGENET1K_V1``): global-average-pooled output of ``features`` (1280-d),
    i.e. the classifier's input — the penultimate representation."""

    name = "mobilenet_v2"
    weight_id = "mobilenet_v2"
    feature_dim = 1280

    def build(self) -> nn.Module:
        from torchvision.models import mobilenet_v2

        return mobilenet_v2(weights=None)

    def embed(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        fmap = net.features(x)  # (B, 1280, 7, 7)
        return fmap.mean(dim=(2, 3))  # (B, 1280): torchvision's adaptive_avg_pool2d(·, 1) + flatten


# -- CLIP ViT-B/32 (open_clip, OpenAI weights) ------------------------------------------------------
class CLIPViTB32Backbone(FeatureBackbone):
    """OpenAI CLIP ViT-B/32 image tower as open_clip builds it (QuickGELU, as the OpenAI weights were
    trained); features are the projected 512-d image embedding (``encode_image``).

    The weight file (``clip-vit-b-32``) is OpenAI's ``ViT-B-32.pt``; :mod:`infvsr_bench.weights` returns its
    state dict with OpenAI's key names, in float16. open_clip's image tower uses the same names, so the
    mapping is: keep the ``visual.*`` keys and strip the prefix (``visual.conv1.weight`` → ``conv1.weight``,
    ``visual.transformer.resblocks.{i}.attn.in_proj_weight`` → ``transformer.resblocks.{i}...``, ...), drop
    the text tower and the non-parameter entries, and load strictly (float16 values are copied into the
    float32 parameters, as open_clip does on CPU). An open_clip checkpoint (same ``visual.*`` names) or a
    state dict of the image tower alone (no prefix) loads the same way.
    """

    name = "clip-vit-b-32"
    weight_id = "clip-vit-b-32"
    feature_dim = 512
    interpolation = "bicubic"
    mean = CLIP_MEAN
    std = CLIP_STD
    presets = PRESETS
    vbench_preprocess = {"preset": "vbench", "input": "8-bit levels as float 0-255 (VBench load_video)",
                         "resize": "short side to 224, bicubic, no antialias, no clamp (VBench clip_transform, "
                                   "torchvision < 0.16)",
                         "crop": "center 224x224", "scale": "/255", "mean": list(CLIP_MEAN), "std": list(CLIP_STD)}

    def prepare_vbench(self, levels: torch.Tensor) -> torch.Tensor:
        x = center_crop(resize_short_side(levels, self.input_size, "bicubic", antialias=False), self.input_size)
        return self.normalise(x / 255.0)

    def build(self) -> nn.Module:
        import open_clip
        from open_clip.model import (
            _build_vision_tower,  # the image tower alone: no 63 M text params
        )

        cfg = open_clip.get_model_config("ViT-B-32")
        return _build_vision_tower(cfg["embed_dim"], cfg["vision_cfg"], quick_gelu=True)

    def load(self, net: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
        if "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
            state_dict = state_dict["state_dict"]
        if any(k.startswith("module.") for k in state_dict):
            state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}
        if any(k.startswith("visual.") for k in state_dict):
            state_dict = {k[len("visual."):]: v for k, v in state_dict.items() if k.startswith("visual.")}
        load_strict(net, state_dict, f"backbone {self.name}")


# -- DINO ViT-B/16 (facebookresearch/dino) ----------------------------------------------------------
class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads)  # (B, N, 3, heads, d_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, N, d_head)
        y = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(d_head)) v
        return self.proj(y.transpose(1, 2).reshape(b, n, d))  # (B, N, D)


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU, as DINO's nn.GELU


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, eps: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = _Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, D, h, w) -> (B, h*w, D)


class DinoViT(nn.Module):
    """The pre-norm ViT of DINO (``vision_transformer.py``, ``vit_base(patch_size=16, num_classes=0)``),
    written here so that its parameter names *are* the official checkpoint's: the key mapping from
    ``dino_vitbase16_pretrain.pth`` to this module is the identity (see :data:`DINO_KEY_LAYOUT`).
    ``forward`` returns the final-norm CLS token (B, D), what DINO's ``model(x)`` returns with an identity
    head. Inputs of another size get their position embeddings interpolated as DINO does
    (:meth:`position_embedding`; VBench's subject consistency relies on it); sides that are not multiples of
    16 lose their last pixels to the patch convolution, as in DINO.
    """

    def __init__(self, img_size: int = 224, patch: int = 16, dim: int = 768, depth: int = 12, heads: int = 12,
                 mlp_ratio: float = 4.0, eps: float = 1e-6):
        super().__init__()
        self.img_size, self.patch = img_size, patch
        self.patch_embed = _PatchEmbed(patch, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + (img_size // patch) ** 2, dim))
        self.blocks = nn.ModuleList(_Block(dim, heads, mlp_ratio, eps) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=eps)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)  # DINO's init; matters only for random weights
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def position_embedding(self, height: int, width: int) -> torch.Tensor:
        """(1, 1 + gh·gw, D) position embeddings for an input of ``height`` × ``width`` pixels.

        The trained 14×14 grid as is for 224×224; otherwise DINO's ``interpolate_pos_encoding``: the grid is
        resized bicubically by the scale factors ((H // 16 + 0.1) / 14, (W // 16 + 0.1) / 14) — the 0.1 keeps
        the floor of the output size at H // 16, W // 16 — and the CLS embedding is kept."""
        grid = self.pos_embed.shape[1] - 1
        gh, gw = height // self.patch, width // self.patch
        if gh * gw == grid and gh == gw:
            return self.pos_embed
        side = int(math.sqrt(grid))
        dim = self.pos_embed.shape[-1]
        patch_pos = self.pos_embed[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2)  # (1, D, 14, 14)
        patch_pos = F.interpolate(patch_pos, scale_factor=((gh + 0.1) / side, (gw + 0.1) / side), mode="bicubic")
        if patch_pos.shape[-2:] != (gh, gw):
            raise RuntimeError(f"position grid {tuple(patch_pos.shape[-2:])} for {gh}x{gw} patches")
        patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, gh * gw, dim)  # (1, D, gh, gw) -> (1, gh*gw, D)
        return torch.cat([self.pos_embed[:, :1], patch_pos], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(x)  # (B, gh*gw, D); 196 tokens for 224x224
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)  # (B, 1, D)
        h = torch.cat([cls, tokens], dim=1) + self.position_embedding(*x.shape[-2:])  # (B, 1 + gh*gw, D)
        for block in self.blocks:
            h = block(h)
        return self.norm(h)[:, 0]  # (B, D): the CLS token


def dino_key_layout(depth: int = 12) -> list[str]:
    """Every key of the official ``dino_vitbase16_pretrain.pth`` (the teacher backbone's state dict, no
    head), in DINO's own naming. Our :class:`DinoViT` uses the same names, so the mapping is the identity:

    ``cls_token`` (1,1,768), ``pos_embed`` (1,197,768), ``patch_embed.proj.{weight,bias}`` (768,3,16,16),
    per block ``blocks.{i}.norm1``, ``.attn.qkv`` (2304,768, with bias), ``.attn.proj``, ``.norm2``,
    ``.mlp.fc1`` (3072,768), ``.mlp.fc2`` — each ``.weight`` and ``.bias`` — and the final ``norm``.
    """
    keys = ["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"]
    for i in range(depth):
        for sub in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            keys += [f"blocks.{i}.{sub}.weight", f"blocks.{i}.{sub}.bias"]
    return keys + ["norm.weight", "norm.bias"]


#: The official DINO key → our module's key (identity by construction; kept explicit so a test checks it).
DINO_KEY_LAYOUT: dict[str, str] = {k: k for k in dino_key_layout()}


class DinoViTB16Backbone(FeatureBackbone):
    """DINO ViT-B/16 (facebookresearch/dino ``dino_vitbase16_pretrain.pth``): the final-norm CLS token,
    768-d, ImageNet normalisation — the backbone of VBench's subject consistency."""

    name = "dino-vitb16"
    weight_id = "dino-vitb16"
    feature_dim = 768
    presets = PRESETS
    vbench_preprocess = {"preset": "vbench", "input": "8-bit levels as float 0-255 (VBench load_video)",
                         "resize": "short side to 224, bilinear, no antialias (VBench dino_transform, "
                                   "torchvision < 0.16)",
                         "crop": "none (position embeddings interpolated as DINO does)",
                         "scale": "none: mean/std applied to 0-255 values, as VBench",
                         "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}

    def prepare_vbench(self, levels: torch.Tensor) -> torch.Tensor:
        return self.normalise(resize_short_side(levels, self.input_size, "bilinear", antialias=False))

    def build(self) -> nn.Module:
        return DinoViT()

    def load(self, net: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
        mapped = {DINO_KEY_LAYOUT.get(k, k): v for k, v in state_dict.items()}
        load_strict(net, mapped, f"backbone {self.name}")


BACKBONES: dict[str, Callable[..., FeatureBackbone]] = {
    MobileNetV2Backbone.name: MobileNetV2Backbone,
    CLIPViTB32Backbone.name: CLIPViTB32Backbone,
    DinoViTB16Backbone.name: DinoViTB16Backbone,
}


def get_backbone(name: str, **kwargs: Any) -> FeatureBackbone:
    """Build a backbone by name (``mobilenet_v2``, ``clip-vit-b-32``, ``dino-vitb16``); the network itself is
    created on first use."""
    try:
        cls = BACKBONES[name]
    except KeyError:
        raise UnknownName(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}") from None
    return cls(**kwargs)


__all__ = [
    "BACKBONES",
    "CLIP_MEAN",
    "CLIP_STD",
    "DINO_KEY_LAYOUT",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRESETS",
    "CLIPViTB32Backbone",
    "DinoViT",
    "DinoViTB16Backbone",
    "FeatureBackbone",
    "MobileNetV2Backbone",
    "dino_key_layout",
    "center_crop",
    "get_backbone",
    "resize_short_side",
    "resize_short_side_center_crop",
]
