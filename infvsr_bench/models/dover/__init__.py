"""DOVER (Wu et al., ICCV 2023) in this project's own code, loadable from the released ``DOVER.pth``.

Entry point: :func:`build_dover` (imported lazily, so ``import infvsr_bench.models.dover`` stays cheap).
Modules: ``config`` (presets), ``swin3d`` (technical branch, GRPB), ``convnext3d`` (aesthetic branch),
``heads`` (quality heads and the published fusion), ``model`` (the whole network and strict loading),
``views`` (the official temporal sampling, fragment mosaics and resized view, frame by frame).
Specification: ``docs/dover.md``. Licence of the released weights: S-Lab License 1.0, non-commercial.
"""
from __future__ import annotations

from typing import Any


def build_dover(preset: str = "dover", device: Any = None, dtype: Any = None):
    """A DOVER network with random weights (``preset`` ``dover`` = the released layout, ``tiny`` for
    tests); load released weights with :func:`infvsr_bench.models.dover.model.load_dover_weights`."""
    from .model import build_dover as _build

    return _build(preset, device=device, dtype=dtype)


__all__ = ["build_dover"]
