"""Method adapters by name: ``get_method(name, **params)``."""
from __future__ import annotations

from typing import Any

from .base import Method, MethodInfo
from .cards import CardRegistry, method_status, parse_method_spec

#: Built-in adapters, plus one entry per method card in ``methods/*.toml`` (read on first lookup).
METHODS = CardRegistry("method")
METHODS.register("bicubic", "infvsr_bench.methods.interpolation:Bicubic", aliases=("bicubic-x4",),
                 help="bicubic upsampling (torch, a=-0.5 antialiased kernel); online, no weights")
METHODS.register("lanczos", "infvsr_bench.methods.interpolation:Lanczos", aliases=("lanczos4",),
                 help="Lanczos-4 upsampling (OpenCV); online, no weights")
METHODS.register("realesrgan", "infvsr_bench.methods.learned_sr:RealESRGAN",
                 help="Real-ESRGAN x4plus (RRDBNet) per frame; weights: `infvsr-bench weights fetch "
                      "realesrgan-x4plus`; params tile, tile_overlap, batch, dtype (fp16 on CUDA)")
METHODS.register("realesr-animevideov3", "infvsr_bench.methods.learned_sr:RealESRAnimeVideoV3",
                 help="Real-ESRGAN animevideov3 (SRVGGNetCompact) per frame, x2/x3/x4 from the dataset; weights: "
                      "`infvsr-bench weights fetch realesr-animevideov3-xS`; params tile, tile_overlap, batch, dtype")
METHODS.register("spandrel", "infvsr_bench.methods.learned_sr:SpandrelSR",
                 help="any single-image SR checkpoint spandrel detects, per frame: spandrel:model=PATH[:name=LABEL]")
METHODS.register("external", "infvsr_bench.methods.external:External",
                 help="any VSR program run as a subprocess, from a method card: external:card=PATH.toml")
METHODS.register("precomputed", "infvsr_bench.methods.precomputed:Precomputed",
                 help="score outputs produced elsewhere: precomputed:dir=PATH[:name=LABEL][:track=online]")
METHODS.register("infvsr", "infvsr_bench.methods.infvsr:InfVSR",
                 help="InfVSR (causal one-step DiT, rolling KV-cache, scene cuts); needs its 4 weight files "
                      "or random_weights=true (speed only); params preset, weights_dir, scene_detection")
METHODS.register("infvsr-nocache", "infvsr_bench.methods.infvsr:InfVSRNoCache",
                 help="InfVSR ablation: no KV cache (chunks restored independently), same weights")
METHODS.register("infvsr-noref", "infvsr_bench.methods.infvsr:InfVSRNoRef",
                 help="InfVSR ablation: no reference-frame guidance (zero context), same weights")


def get_method(name: str, /, **params: Any) -> Method:
    """Build a registered method adapter (not yet set up)."""
    return METHODS.build(name, **params)  # parameters checked against the adapter's declared ones first


def list_methods() -> list[tuple[str, str, str]]:
    """(name, readiness on this machine, help) per registered method, for ``infvsr-bench list methods``."""
    return method_status(METHODS)


__all__ = ["METHODS", "Method", "MethodInfo", "get_method", "list_methods", "parse_method_spec"]
