"""Semantic consistency over time: VBench's subject/background consistency, generalised to long videos.

Each output frame is embedded by a frozen backbone (:mod:`.backbones`: MobileNetV2, CLIP ViT-B/32 or DINO
ViT-B/16 — the same code for each) into an L2-normalised feature ``f_t``. Scenes come from the clip's
metadata (``scene_cuts``: frame indices where a new scene starts; frame 0 always starts one). Within a scene
starting at frame ``a``:

Per-frame value (what :meth:`frame_values` returns, the series the runner stores)
    ``s_t = ½ [max(0, cos(f_{t-1}, f_t)) + max(0, cos(f_a, f_t))]`` for ``t > a`` — VBench's formula, with
    the anchor ``f_a`` reset to the first frame of every scene. At ``t = a`` (the first frame of a scene,
    frame 0 included) both terms are trivial or undefined and the value is **NaN**: a scene of ``n`` frames
    contributes ``n - 1`` values. The clip mean of ``s_t`` (``compute()["mean"]``, also
    ``extra()["vbench_consistency"]``) is VBench's video score when there is one scene.

Clip-level results (``extra()``)
    * ``prev_similarity`` / ``anchor_similarity``: mean raw (unclamped) cos to the previous frame / to the
      scene anchor, over the same frames as ``s_t``.
    * ``anchor_drift_per_1k``: least-squares slope of the anchor similarity against the frame's age in its
      scene (``t - a``), in cosine per 1,000 frames, pooled over scenes with one intercept per scene (the
      "within" estimator: ``Σ_scenes S_xy / Σ_scenes S_xx``). Negative = the output drifts away from what the
      scene looked like at its start. Running sums only (five per open scene, two totals).
    * ``gap_similarity`` / ``gap_pairs``: mean cos(f_{t-g}, f_t) over every pair with both frames in the same
      scene, for ``g`` = 1, 2, 4, ..., ``max_gap`` (default 1024), and the number of such pairs (dict keys are
      the gaps; NaN where a scene never got that long).
    * ``seam_score_pixel`` / ``seam_score_feature`` and ``seam`` (raw means, counts, reason): the chunk-seam
      score of :mod:`.seams` with change = mean absolute pixel difference (frames in [0, 1], all channels) and
      change = ``1 - cos(f_{t-1}, f_t)``. NaN (with the reason in ``seam``) when the method has no chunk
      structure (``chunk_boundaries`` is None).
    * ``random_weights``: present and True when the backbone has random weights — such numbers are
      plumbing checks, never scores.

Presets (``semantic-clip`` and ``semantic-dino``; recorded as ``params["preset"]``)
    ``preset="vbench"`` (default) reproduces VBench's ``background_consistency`` (CLIP) and
    ``subject_consistency`` (DINO): VBench's preprocessing (no antialiasing, DINO without a crop and on the
    0–255 scale, see :mod:`.backbones`), its per-frame value (the formula above) and its score, the mean of
    the per-frame values (VBench's ``sim / cnt``). On a clip without scene cuts the clip mean is VBench's
    video score; a clip with cuts is scored as VBench scores its scenes as separate videos, pooled frame by
    frame. ``preset="antialiased"`` keeps the suite's earlier preprocessing (antialiased resize, centre crop,
    inputs on the scale the networks were trained on): use it when the number should not depend on aliasing
    of fine texture when frames are reduced (VBench's resize aliases; VSR outputs are full of such texture),
    not to compare with a paper. ``semantic-mobilenet`` has no VBench counterpart and only the latter.

Reservoir (the memory bound)
    Every gap pair is scored exactly (no sampling): the metric keeps the features of the last ``max_gap``
    frames in a buffer allocated once at its full size, ``max_gap × D`` float32 — 5.2 MB for MobileNetV2
    (D = 1280), 3.1 MB for DINO (768), 2.1 MB for CLIP (512) at ``max_gap = 1024``. Everything else is the
    anchor feature, one previous frame (only when a seam score is wanted) and a fixed set of sums, so the
    state after 10,000 frames has exactly the size it had after 1,000 (:meth:`state_nbytes`; tested). The
    per-chunk working memory is O(chunk × D + max_gap × D).
"""
from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from ..errors import BadInput
from .backbones import FeatureBackbone, get_backbone
from .base import StreamingMetric
from .seams import SEAM_CAP, SeamAccumulator


def gap_list(max_gap: int) -> list[int]:
    """1, 2, 4, ... up to and including the largest power of two ≤ ``max_gap``."""
    gaps, g = [], 1
    while g <= max_gap:
        gaps.append(g)
        g *= 2
    return gaps


class _SceneSlope:
    """Pooled within-scene least-squares slope of y on x from running sums (O(1) state).

    For each scene the sums n, Σx, Σy, Σxx, Σxy are kept while it is open; when it closes its centred
    ``S_xx = Σxx - (Σx)²/n`` and ``S_xy = Σxy - Σx Σy / n`` are added to the totals. slope = ΣS_xy / ΣS_xx.
    """

    def __init__(self) -> None:
        self.sxx_total = 0.0
        self.sxy_total = 0.0
        self._open = [0.0] * 5  # n, Σx, Σy, Σxx, Σxy of the open scene

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        x, y = x.to(torch.float64), y.to(torch.float64)
        o = self._open
        o[0] += x.numel()
        o[1] += float(x.sum())
        o[2] += float(y.sum())
        o[3] += float((x * x).sum())
        o[4] += float((x * y).sum())

    def close_scene(self) -> None:
        n, sx, sy, sxx, sxy = self._open
        if n > 0:
            self.sxx_total += sxx - sx * sx / n
            self.sxy_total += sxy - sx * sy / n
        self._open = [0.0] * 5

    def slope(self) -> float:
        n, sx, sy, sxx, sxy = self._open  # include the open scene without closing it
        sxx_t = self.sxx_total + (sxx - sx * sx / n if n else 0.0)
        sxy_t = self.sxy_total + (sxy - sx * sy / n if n else 0.0)
        return sxy_t / sxx_t if sxx_t > 1e-12 else math.nan

    def nbytes(self) -> int:
        return 7 * 8


class SemanticConsistency(StreamingMetric):
    """Semantic consistency over time with any :class:`~.backbones.FeatureBackbone` (see module docstring).

    Parameters: ``backbone`` (a registered name or a backbone instance — instances are for custom backbones
    and tests), ``pretrained`` (False builds random weights: plumbing and speed only; recorded as
    ``random_weights``), ``weights_path`` (explicit weight file, checked at construction; else
    :mod:`infvsr_bench.weights` resolves it on first use), ``device`` and ``batch_size`` (where and how many frames the backbone runs at once; they do not
    change the numbers beyond float rounding, so they are not part of the recorded params), ``max_gap``
    (largest frame gap of the similarity-vs-gap curve and the reservoir length), ``preset`` (the backbone's
    preprocessing: ``vbench`` or ``antialiased`` where the backbone offers both, see the module docstring;
    recorded then), ``window``.
    """

    name: ClassVar[str] = "semantic"
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = True
    mode: ClassVar[str] = "NR"
    context: ClassVar[int] = 1
    unit: ClassVar[str] = "cos"
    backbone_name: ClassVar[str] = "mobilenet_v2"
    param_limits: ClassVar[dict[str, str]] = {"batch_size": ">= 1", "max_gap": ">= 1"}

    def __init__(self, backbone: str | FeatureBackbone | None = None, pretrained: bool = True,
                 weights_path: str | None = None, device: str = "cpu", batch_size: int = 32,
                 max_gap: int = 1024, preset: str | None = None, window: int = 100):
        if int(max_gap) < 1:
            raise BadInput(f"{self.name}: max_gap must be >= 1, got {max_gap}")
        if isinstance(backbone, FeatureBackbone):
            self.backbone = backbone
        else:
            self.backbone = get_backbone(backbone or self.backbone_name, pretrained=bool(pretrained),
                                         weights_path=weights_path, device=device, batch_size=batch_size,
                                         preset=preset)
        self.max_gap = int(max_gap)
        self.gaps = gap_list(self.max_gap)
        bb = self.backbone
        if not bb.pretrained:
            self.requires = ()  # instance override: random weights need no file
        elif bb.weight_id is not None:
            self.requires = (bb.weight_id,)
            if weights_path is not None:  # an explicit file is checked now: a wrong path fails before any work
                from .. import weights

                weights.resolve(bb.weight_id, weights_path)
        self.weights_path = weights_path  # not a param: the file is identified by its sha256, not its path
        super().__init__(window=window, backbone=bb.name, pretrained=bb.pretrained, max_gap=self.max_gap)
        if len(getattr(bb, "presets", ())) > 1:  # a backbone with one preprocessing has nothing to record
            self.params["preset"] = bb.preset
        if not bb.pretrained:
            self.params["random_weights"] = True

    @property
    def random_weights(self) -> bool:
        return not self.backbone.pretrained

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["backbone"] = self.backbone.describe()
        return out

    # -- state ---------------------------------------------------------------------------------------
    def reset_carry(self) -> None:
        self._seen = 0                           # frames consumed in this clip
        self._hist: torch.Tensor | None = None   # (max_gap, D) float32: features of the last max_gap frames
        self._anchor: torch.Tensor | None = None  # (D,) float32: first feature of the current scene
        self._scene = -1                         # start frame of the current (open) scene
        self._prev_frame: torch.Tensor | None = None  # (3, H, W): last frame, only for the pixel seam score
        self._gap_sum = torch.zeros(len(self.gaps), dtype=torch.float64)
        self._gap_count = torch.zeros(len(self.gaps), dtype=torch.long)
        self._prev_sum = self._anchor_sum = 0.0
        self._pair_count = 0                     # frames with a defined value (t > scene start)
        self._slope = _SceneSlope()
        self._cuts = torch.zeros(1, dtype=torch.long)  # scene starts, sorted, always including 0
        self._seam_px = SeamAccumulator(None)
        self._seam_ft = SeamAccumulator(None)
        #: Components of the last chunk's values, (T,) float64 each, NaN where undefined (diagnostics and
        #: tests; replaced every chunk, so bounded): ``prev_similarity``, ``anchor_similarity``.
        self.last_chunk: dict[str, torch.Tensor] = {}

    def start(self, meta: dict[str, Any]) -> None:
        super().start(meta)
        cuts = sorted({0} | {int(c) for c in (meta.get("scene_cuts") or []) if int(c) >= 0})
        self._cuts = torch.tensor(cuts, dtype=torch.long)
        boundaries = meta.get("chunk_boundaries")
        self._seam_px = SeamAccumulator(boundaries)
        self._seam_ft = SeamAccumulator(boundaries)

    def state_nbytes(self) -> int:
        """Bytes of everything this metric carries between chunks (the clip's metadata and the base class's
        per-window sums aside). Constant in the number of frames once the first chunk has been seen."""
        tensors = [self._hist, self._anchor, self._prev_frame, self._gap_sum, self._gap_count]
        size = sum(t.numel() * t.element_size() for t in tensors if t is not None)
        return size + 5 * 8 + self._slope.nbytes() + self._seam_px.nbytes() + self._seam_ft.nbytes()

    # -- per chunk ---------------------------------------------------------------------------------
    def frame_values(self, sr: torch.Tensor, hr: torch.Tensor | None) -> torch.Tensor:
        feats = self.backbone(sr).to("cpu", torch.float32)  # (T, D), unit norm
        return self._consume(feats, sr if self._seam_px.applicable else None)

    @torch.inference_mode()
    def _consume(self, feats: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        """Fold one chunk of features (T, D) (and its frames, for the pixel seam score) into the state;
        return the per-frame values s_t (T,) float64. Frame indices continue from the previous chunk.
        Runs under inference mode so that every state tensor is created and updated the same way whether
        or not the caller is in inference mode."""
        n, d = feats.shape
        if n == 0:
            return torch.empty(0, dtype=torch.float64)
        L = self.max_gap
        if self._hist is None:
            self._hist = torch.zeros(L, d, dtype=torch.float32)
        elif self._hist.shape[1] != d:
            raise RuntimeError(f"{self.name}: feature size changed from {self._hist.shape[1]} to {d}")
        t0 = self._seen
        idx = torch.arange(t0, t0 + n)  # (T,) frame indices of this chunk
        start = self._cuts[torch.searchsorted(self._cuts, idx, right=True) - 1]  # (T,) scene start per frame

        # Row r of `seq` is frame t0 - L + r: the reservoir (oldest first) then this chunk.
        seq = torch.cat([self._hist, feats.to(torch.float32)]).to(torch.float64)  # (L + T, D)
        cur = seq[L:]  # (T, D)
        prev_cos = None
        for j, g in enumerate(self.gaps):
            sims = (cur * seq[L - g:L - g + n]).sum(dim=1)  # (T,) cos(f_{t-g}, f_t)
            ok = idx - g >= start  # both frames in the same scene (implies t - g >= 0: already seen)
            self._gap_sum[j] += sims[ok].sum()
            self._gap_count[j] += int(ok.sum())
            if g == 1:
                prev_cos = sims
        if prev_cos is None:  # unreachable: gaps always start at 1
            raise RuntimeError("gap 1 missing")

        # Anchor = first feature of each frame's scene: from this chunk if the scene starts here.
        in_chunk = start >= t0
        if self._anchor is None:
            self._anchor = torch.zeros(d, dtype=torch.float32)
        anchors = self._anchor.to(torch.float64).expand(n, d).clone()  # (T, D)
        if bool(in_chunk.any()):
            anchors[in_chunk] = cur[start[in_chunk] - t0]
        anchor_cos = (cur * anchors).sum(dim=1)  # (T,)

        defined = idx > start  # not the first frame of a scene
        values = torch.full((n,), math.nan, dtype=torch.float64)
        values[defined] = 0.5 * (prev_cos[defined].clamp(min=0.0) + anchor_cos[defined].clamp(min=0.0))
        self._prev_sum += float(prev_cos[defined].sum())
        self._anchor_sum += float(anchor_cos[defined].sum())
        self._pair_count += int(defined.sum())

        # Drift: anchor similarity against age in scene, scene by scene (new scenes close the open one).
        for s in torch.unique_consecutive(start).tolist():
            if s != self._scene:
                self._slope.close_scene()
                self._scene = s
            sel = defined & (start == s)
            if bool(sel.any()):
                self._slope.add((idx[sel] - s).to(torch.float64), anchor_cos[sel])

        # Seams: pairs (t-1, t) inside a scene; pixel change needs the previous frame across chunks.
        self._seam_ft.add(idx, 1.0 - prev_cos, defined)
        if frames is not None and self._seam_px.applicable:
            frames = frames.detach().float()  # differences on the frames' own device; (T,) sums come back
            change = (frames[1:] - frames[:-1]).abs().mean(dim=(1, 2, 3))  # (T-1,) mean |Δ| over C, H, W
            if self._prev_frame is not None:  # the pair that straddles the previous chunk
                first = (frames[0] - self._prev_frame).abs().mean().reshape(1)
                self._seam_px.add(idx, torch.cat([first, change]).cpu(), defined)
            else:
                self._seam_px.add(idx[1:], change.cpu(), defined[1:])
            self._prev_frame = frames[-1].clone()

        self.last_chunk = {"prev_similarity": torch.where(defined, prev_cos, math.nan),
                           "anchor_similarity": torch.where(defined, anchor_cos, math.nan)}
        self._anchor = anchors[-1].to(torch.float32)
        self._hist.copy_(seq[-L:].to(torch.float32))  # keep the last L features, oldest first
        self._seen += n
        return values

    # -- clip level --------------------------------------------------------------------------------
    def extra(self) -> dict[str, Any]:
        nan = math.nan
        pairs = self._pair_count
        gap_mean = {g: (float(self._gap_sum[j]) / int(self._gap_count[j]) if int(self._gap_count[j]) else nan)
                    for j, g in enumerate(self.gaps)}
        px, ft = self._seam_px.result(), self._seam_ft.result()
        out: dict[str, Any] = {
            "vbench_consistency": self._sum / self._count if self._count else nan,
            "prev_similarity": self._prev_sum / pairs if pairs else nan,
            "anchor_similarity": self._anchor_sum / pairs if pairs else nan,
            "anchor_drift_per_1k": 1000.0 * self._slope.slope(),
            "scenes": int((self._cuts < self._seen).sum()) if self._seen else 0,
            "gap_similarity": gap_mean,
            "gap_pairs": {g: int(self._gap_count[j]) for j, g in enumerate(self.gaps)},
            "seam_score_pixel": px["score"],
            "seam_score_feature": ft["score"],
            "seam": {"cap": SEAM_CAP, "reason": px["reason"] or ft["reason"],
                     "pixel_inside": px["inside"], "pixel_across": px["across"],
                     "feature_inside": ft["inside"], "feature_across": ft["across"],
                     "inside_pairs": ft["inside_pairs"], "across_pairs": ft["across_pairs"]},
        }
        if self.random_weights:
            out["random_weights"] = True
        return out


class _FixedBackbone(SemanticConsistency):
    """A registered variant: the backbone is part of the metric's name, so it is not a parameter."""

    def __init__(self, pretrained: bool = True, weights_path: str | None = None, device: str = "cpu",
                 batch_size: int = 32, max_gap: int = 1024, preset: str | None = None, window: int = 100):
        super().__init__(self.backbone_name, pretrained=pretrained, weights_path=weights_path, device=device,
                         batch_size=batch_size, max_gap=max_gap, preset=preset, window=window)


class SemanticMobileNet(_FixedBackbone):
    """Semantic consistency with torchvision MobileNetV2 (ImageNet) features, 1280-d."""

    name = "semantic-mobilenet"
    backbone_name = "mobilenet_v2"
    requires = ("mobilenet_v2",)


class SemanticCLIP(_FixedBackbone):
    """Semantic consistency with OpenAI CLIP ViT-B/32 image features (open_clip), 512-d; by default
    (``preset=vbench``) VBench's background consistency."""

    name = "semantic-clip"
    backbone_name = "clip-vit-b-32"
    requires = ("clip-vit-b-32",)


class SemanticDINO(_FixedBackbone):
    """Semantic consistency with DINO ViT-B/16 CLS features, 768-d; by default (``preset=vbench``) VBench's
    subject consistency."""

    name = "semantic-dino"
    backbone_name = "dino-vitb16"
    requires = ("dino-vitb16",)


__all__ = ["SemanticCLIP", "SemanticConsistency", "SemanticDINO", "SemanticMobileNet", "gap_list"]
