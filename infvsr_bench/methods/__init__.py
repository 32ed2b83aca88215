"""Method adapters by name: ``get_method(name, **params)``."""
from __future__ import annotations

from typing import Any

from ..registry import Registry
from .base import Method, MethodInfo

METHODS = Registry("method")
METHODS.register("bicubic", "infvsr_bench.methods.interpolation:Bicubic", aliases=("bicubic-x4",),
                 help="bicubic upsampling (torch, a=-0.5 antialiased kernel); online, no weights")
METHODS.register("lanczos", "infvsr_bench.methods.interpolation:Lanczos", aliases=("lanczos4",),
                 help="Lanczos-4 upsampling (OpenCV); online, no weights")


def get_method(name: str, **params: Any) -> Method:
    """Build a registered method adapter (not yet set up)."""
    return METHODS.get(name)(**params)


__all__ = ["METHODS", "Method", "MethodInfo", "get_method"]
