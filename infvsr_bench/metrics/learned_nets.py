"""Networks of the learned quality metrics, built offline from files that :mod:`infvsr_bench.weights` resolved.

The libraries that define these networks (``lpips``, ``pyiqa``) build them by *downloading*: lpips and
pyiqa's DISTS call ``torchvision.models.alexnet/vgg16(weights=...)`` in their constructors, pyiqa's MUSIQ
fetches its checkpoint from the Hugging Face hub, and pyiqa's CLIP-IQA fetches OpenAI's RN50. Here every
network is built with random initialisation (no I/O; seeded, so random-weight runs repeat exactly) and the
weight files are then loaded into it from the paths weights.py checked — nothing here ever downloads.

Key layouts (what maps onto what):

* **LPIPS** (``lpips.LPIPS``): the trunk is ``net.slice1..5``, whose children keep torchvision's layer
  indices, so ``features.{i}.{weight,bias}`` of torchvision's AlexNet / VGG16 file becomes
  ``net.slice{k}.{i}.{weight,bias}`` for the slice that holds layer ``i``. The linear heads
  (``lin{k}.model.1.weight``) come from the lpips package's own ``weights/v0.1/{alex,vgg}.pth``.
* **DISTS** (pyiqa ``DISTS``): the trunk is ``stage1..5`` (same index rule, the L2-pooling layers sit at
  the max-pool indices 4, 9, 16, 23 and have fixed buffers); ``alpha`` and ``beta`` come from
  ``DISTS_weights-f5e65c96.pth``, which pyiqa loads non-strictly on top of torchvision's VGG16.
* **MUSIQ** (pyiqa ``MUSIQ``, ``num_class=1``: the KonIQ head): the checkpoint is the whole state dict,
  loaded strictly (a ``module.`` prefix, if any, is stripped as pyiqa does).
* **CLIP-IQA** (pyiqa ``CLIPIQA``, ``model_type="clipiqa"``): OpenAI's RN50 TorchScript file is read as a
  state dict (weights.py, after its sha256 matched) and turned into pyiqa's CLIP with pyiqa's
  ``build_model``, in float32; the CLIPIQA module is then built around that model (pyiqa's constructor
  otherwise downloads RN50 itself).
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ..errors import BadInput
from ..weights import load_strict

#: CLIP RN50 dimensions (OpenAI's RN50.pt): embed 1024, 224 px, ResNet (3, 4, 6, 3) width 64, text 77 tokens,
#: vocabulary 49408, width 512, 8 heads, 12 layers — what pyiqa's ``build_model`` infers from the file.
CLIP_RN50 = (1024, 224, (3, 4, 6, 3), 64, None, 77, 49408, 512, 8, 12)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Random initialisation that repeats exactly and leaves the global RNG alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torchvision's deprecation warnings for ``pretrained=`` (used inside lpips) are not actionable here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _load(weight_id: str, path: str | None) -> dict[str, torch.Tensor]:
    from .. import weights  # lazy: resolving weights is I/O

    return weights.load_state_dict(weight_id, path)


def trunk_state_dict(slices: dict[str, nn.Sequential], features: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Map torchvision ``features.{i}.*`` keys onto sliced copies of the same layers.

    ``slices``: prefix (e.g. ``"net.slice1."``) → the Sequential whose children are named by torchvision's
    layer index. Every parameter of every child must be in ``features`` (a missing one is bad input);
    buffers of layers torchvision does not have (DISTS's L2-pooling filter) are left out.
    """
    out: dict[str, Any] = {}
    for prefix, seq in slices.items():
        for child_name, child in seq.named_children():
            for pname, _ in child.named_parameters(recurse=False):
                src = f"features.{child_name}.{pname}"
                if src not in features:
                    raise BadInput(f"trunk weights lack {src} (expected a torchvision features state dict)")
                out[f"{prefix}{child_name}.{pname}"] = features[src]
    return out


def _load_partial(net: nn.Module, state_dict: dict[str, Any], what: str, required: tuple[str, ...] = ()) -> None:
    """Load a subset of ``net``'s keys: every given key must exist with its shape, ``required`` ones too."""
    own = net.state_dict()
    unexpected = sorted(k for k in state_dict if k not in own)
    wrong = sorted(k for k in state_dict if k in own and tuple(own[k].shape) != tuple(state_dict[k].shape))
    absent = sorted(k for k in required if k not in state_dict)
    if unexpected or wrong or absent:
        raise BadInput(f"weights for {what} do not match its key layout — unexpected: {unexpected[:3]}, "
                       f"wrong shape: {wrong[:3]}, missing: {absent[:3]}")
    net.load_state_dict(state_dict, strict=False)


# -- LPIPS (lpips package) ------------------------------------------------------------------------------
LPIPS_TRUNK_IDS = {"alex": "alexnet", "vgg": "vgg16"}
LPIPS_HEAD_IDS = {"alex": "lpips-alex-v0.1", "vgg": "lpips-vgg-v0.1"}


def build_lpips(net: str, pretrained: bool, seed: int = 0, weights_path: str | None = None) -> nn.Module:
    """``lpips.LPIPS(net=net, version="0.1")`` in eval mode, trunk and heads from weights.py (or random)."""
    import lpips

    if net not in LPIPS_TRUNK_IDS:
        raise BadInput(f"lpips: unknown trunk {net!r} (choose from {', '.join(LPIPS_TRUNK_IDS)})")
    trunk = heads = None
    if pretrained:  # files first: a missing one fails before any network is built
        trunk = _load(LPIPS_TRUNK_IDS[net], weights_path)
        heads = _load(LPIPS_HEAD_IDS[net], weights_path)
    with seeded(seed), _quiet():
        model = lpips.LPIPS(pretrained=False, net=net, version="0.1", pnet_rand=True, verbose=False)
    if pretrained:
        slices = {f"net.slice{k}.": getattr(model.net, f"slice{k}") for k in range(1, 6)}
        mapped = trunk_state_dict(slices, trunk)
        mapped.update(heads)
        # heads are lin0..lin4 (also reachable as lins.0..4: the same modules, loaded through either name)
        lins = tuple(k for k in model.state_dict() if k.startswith("lin") and not k.startswith("lins."))
        _load_partial(model, mapped, f"lpips ({net})", required=lins + tuple(mapped))
    return model.eval().requires_grad_(False)


# -- DISTS (pyiqa) ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _offline_vgg16() -> Iterator[None]:
    """pyiqa's DISTS constructor asks torchvision for VGG16 *with* ImageNet weights (a download) and keeps
    only ``.features``; for the duration of the call give it torchvision's VGG16 feature layers alone (same
    layers and indices, without initialising the 124 M-parameter classifier it would throw away)."""
    from types import SimpleNamespace
    from unittest import mock

    from pyiqa.archs import dists_arch
    from torchvision.models import vgg

    def vgg16(*args: Any, **kwargs: Any) -> SimpleNamespace:
        return SimpleNamespace(features=vgg.make_layers(vgg.cfgs["D"], batch_norm=False))

    with mock.patch.object(dists_arch, "models", SimpleNamespace(vgg16=vgg16)):
        yield


def build_dists(pretrained: bool, seed: int = 0, weights_path: str | None = None) -> nn.Module:
    """pyiqa's ``DISTS`` with torchvision's VGG16 trunk and pyiqa's alpha/beta (or random)."""
    from pyiqa.archs.dists_arch import DISTS

    trunk = learned = None
    if pretrained:
        trunk = _load("vgg16", weights_path)
        learned = _load("dists-pyiqa", weights_path)
    with seeded(seed), _offline_vgg16():
        model = DISTS(pretrained=False)
    if pretrained:
        slices = {f"stage{k}.": getattr(model, f"stage{k}") for k in range(1, 6)}
        mapped = trunk_state_dict(slices, trunk)
        mapped.update({k.removeprefix("module."): v for k, v in learned.items()})
        _load_partial(model, mapped, "dists", required=("alpha", "beta"))
    return model.eval().requires_grad_(False)


# -- MUSIQ (pyiqa) ------------------------------------------------------------------------------------------
def build_musiq(pretrained: bool, seed: int = 0, weights_path: str | None = None, **arch: Any) -> nn.Module:
    """pyiqa's ``MUSIQ`` with the KonIQ-10k head (one output), checkpoint from weights.py (or random).
    ``arch``: overrides of pyiqa's constructor defaults (tests shrink the random network with it; the
    checkpoint needs the defaults)."""
    from pyiqa.archs.musiq_arch import MUSIQ

    state = _load("musiq-koniq", weights_path) if pretrained else None
    with seeded(seed):
        model = MUSIQ(pretrained=False, num_class=1, **arch)
    if state is not None:
        load_strict(model, {k.removeprefix("module."): v for k, v in state.items()}, "musiq (koniq)")
    return model.eval().requires_grad_(False)


# -- CLIP-IQA (pyiqa) ---------------------------------------------------------------------------------------
def build_clip_rn50(pretrained: bool, seed: int = 0, weights_path: str | None = None) -> nn.Module:
    """pyiqa's CLIP (the model its CLIP-IQA wraps) for OpenAI RN50, float32."""
    from pyiqa.archs import clip_model

    if pretrained:
        state = dict(_load("clip-rn50", weights_path))
        model = clip_model.build_model(state)  # infers the RN50 dimensions, loads strictly, converts to fp16
    else:
        with seeded(seed):
            model = clip_model.CLIP(*CLIP_RN50)
    return model.float().eval().requires_grad_(False)


def build_clipiqa(pretrained: bool, seed: int = 0, weights_path: str | None = None) -> nn.Module:
    """pyiqa's ``CLIPIQA`` (default variant: RN50, 5 antonym prompt pairs, no positional embedding)."""
    from unittest import mock

    from pyiqa.archs import clipiqa_arch

    clip = build_clip_rn50(pretrained, seed, weights_path)
    with mock.patch.object(clipiqa_arch, "load", lambda *args, **kwargs: clip):
        model = clipiqa_arch.CLIPIQA(model_type="clipiqa", backbone="RN50", pretrained=False,
                                     pos_embedding=False)
    return model.eval().requires_grad_(False)


__all__ = ["CLIP_RN50", "LPIPS_HEAD_IDS", "LPIPS_TRUNK_IDS", "build_clip_rn50", "build_clipiqa", "build_dists",
           "build_lpips", "build_musiq", "seeded", "trunk_state_dict"]
