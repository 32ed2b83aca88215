"""Speed-ups of the InfVSR networks that keep their numbers (within the run dtype's rounding).

Each is switched by one method parameter (see :mod:`infvsr_bench.methods.infvsr`) so a run can opt out and
the run's parameters record what was used:

* ``vae_channels_last`` — the VAE's 3-D convolution weights in ``channels_last_3d`` (2-D ones in
  ``channels_last``) and its input frames likewise: cuDNN's fastest bf16 convolutions on recent GPUs work on
  channels-last tensors, and keeping activations in that layout avoids a transpose around every conv.
* ``vae_fused_pad`` — every causal conv builds [zeros | history | input] with one ``cat`` and lets the
  convolution zero-pad in space instead of an extra ``F.pad`` copy of the whole activation
  (:meth:`~.vae_blocks.CausalConv3d._forward_fused`).
* ``vae_native_upsample`` — the decoder's nearest ×2 upsampling in the run dtype instead of via fp32 (a
  pure pixel copy, so the same values; less memory and traffic).
* ``sdpa_backends`` (in :class:`~.pipeline.PipelineOptions`) — the attention kernels the DiT prefers.
* ``cudnn_benchmark`` — cuDNN times its convolution algorithms once per shape and keeps the fastest, only
  while a chunk runs (:func:`cudnn_autotune`; the process-wide flag is restored afterwards).
* ``host_async`` — no hidden synchronisation per chunk: the LR chunk goes to the GPU from pinned memory
  without blocking (:func:`to_device_async`), σ and the VAE's latent statistics are made on the device once
  (``WanVAE.stats_on_device``), so the host keeps queueing work while the GPU runs.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from .vae_blocks import CausalConv3d, _NearestUp2x


def vae_channels_last(vae: nn.Module) -> None:
    """Convert the VAE's conv weights in place: Conv3d → ``channels_last_3d``, Conv2d → ``channels_last``."""
    for m in vae.modules():
        if isinstance(m, (nn.Conv3d, nn.Conv2d)):
            fmt = torch.channels_last_3d if m.weight.ndim == 5 else torch.channels_last
            m.weight.data = m.weight.data.contiguous(memory_format=fmt)


def set_vae_fused_pad(vae: nn.Module, on: bool) -> None:
    """Switch every causal conv of the VAE between the plain and the fused-padding forward."""
    for m in vae.modules():
        if isinstance(m, CausalConv3d):
            m.fuse_pad = on


def set_vae_native_upsample(vae: nn.Module, on: bool) -> None:
    """Switch the decoder's nearest ×2 upsampling between fp32 (plain) and the run dtype (same values)."""
    for m in vae.modules():
        if isinstance(m, _NearestUp2x):
            m.native = on


def as_channels_last(x: torch.Tensor) -> torch.Tensor:
    """A (B, C, T, H, W) video in ``channels_last_3d`` (same values)."""
    return x.contiguous(memory_format=torch.channels_last_3d)


@contextmanager
def cudnn_autotune(on: bool = True):
    """``torch.backends.cudnn.benchmark = on`` inside the block, the previous value after it."""
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on or old
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old


def to_device_async(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` on ``device``; a host tensor going to a GPU is staged in pinned memory and copied without
    blocking the host (PyTorch's pinned allocator keeps the staging buffer until the copy has run)."""
    if x.device.type == "cpu" and torch.device(device).type == "cuda":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


__all__ = ["as_channels_last", "cudnn_autotune", "set_vae_fused_pad", "set_vae_native_upsample", "to_device_async", "vae_channels_last"]
