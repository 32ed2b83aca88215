"""Streaming InfVSR: one chunk of LR frames in, the same number of SR frames out (``docs/infvsr.md`` §2).

Per chunk (a :class:`~.scenes.VideoChunk`):

1. at a scene start: reset the DiT's KV cache, start a new VAE stream, restart RoPE time positions at 0;
2. at a scene start or a reference update: encode the chunk's first LR frame with the visual encoder
   (Swin-L + DAPE + ``image_proj``) into the cross-attention context, kept until the next update;
3. upscale ×s in pixel space (bicubic, antialiased, ``align_corners=False``) on the [-1, 1] frames;
4. pad (replicate) H, W to multiples of 16 and time to 1 + 4k frames for a stream's first chunk, 4k after;
5. VAE stream encode → normalised latents (B, 16, 3, H/8, W/8);
6. one DiT call at the release's timestep with the cache and the context; x0 = z − σ·v;
7. VAE stream decode → frames in [-1, 1]; crop the padding; map to [0, 1].

Ablations (same weights):

* ``use_cache=False`` (``infvsr-nocache``): the DiT's self-attention sees only the current chunk — no KV
  cache, so chunks are restored independently. The causal VAE keeps its per-conv history (that is the
  codec, not the temporal-context mechanism under study, and resetting it would change the 1 + 4k frame
  grouping and so the chunk schedule).
* ``use_reference=False`` (``infvsr-noref``): no reference guidance — the context is all zeros (B, 145,
  text_dim). Through ``text_embedding`` (Linear → GELU → Linear) a zero context is a constant token set
  carrying no image information; cross-attention still runs so the network sees the inputs it was trained
  with, but nothing of any reference frame reaches it. (Dropping cross-attention altogether would remove
  the residual branch's bias as well, a bigger change than "no reference".)

State: the KV cache (fixed size once the first chunk sets the token grid), the VAE stream's per-conv
history (a few frames per conv), the context tokens and two counters — independent of video length.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .profiling import null_stage
from .sampler import OneStepSampler
from .scenes import VideoChunk
from .speedups import as_channels_last, cudnn_autotune, to_device_async

SPATIAL_MULTIPLE = 16
TIME_GROUP = 4


@dataclass(frozen=True)
class PipelineOptions:
    scale: int = 4
    use_cache: bool = True
    use_reference: bool = True
    window_chunks: int = 1      # previous chunks the self-attention sees (release: 1)
    sink_frames: int = 0        # latent frames of a scene kept for the whole scene (release: 0)
    chunk_latents: int = 3      # latent frames per chunk (9 → 3 first, 12 → 3 after)
    exact_release: bool = True  # bf16 timestep (399 → 400) and its σ, as the release runs
    sdpa_backends: tuple[str, ...] = ()  # SDPA backends for the DiT in priority order (empty: PyTorch's choice)
    channels_last: bool = False  # VAE input frames in channels_last_3d (pair with speedups.vae_channels_last)
    cudnn_benchmark: bool = False  # cuDNN picks its fastest conv algorithms while a chunk runs
    host_async: bool = False       # no host-device synchronisation per chunk (pinned, non-blocking LR copy)
    kv_compact: bool = False       # KV cache keeps W chunks, not W+1 (the chunk in progress attends unstored)


def sdpa_context(backends: tuple[str, ...]):
    """A context that makes ``F.scaled_dot_product_attention`` try ``backends`` (names of
    ``torch.nn.attention.SDPBackend``, e.g. ``("cudnn_attention", "flash_attention")``) in that order, with
    the math kernel as the last resort so every device and dtype still runs; a no-op for no backends."""
    if not backends:
        return null_stage()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    order = [getattr(SDPBackend, b.upper()) for b in backends]
    order += [b for b in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH)
              if b not in order]
    try:
        return sdpa_kernel(order, set_priority=True)
    except TypeError:  # an older PyTorch without priorities: the set, in PyTorch's own order
        return sdpa_kernel(order)


def upscale(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """(T, 3, h, w) → (T, 3, h·s, w·s): bicubic, antialiased, ``align_corners=False`` (the release's call)."""
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False, antialias=True)


def pad_chunk(x: torch.Tensor, first: bool) -> torch.Tensor:
    """(T, 3, H, W) → replicate-padded (T', 3, H', W'): H', W' multiples of 16; T' ≡ 1 (mod 4) for a stream's
    first chunk and ≡ 0 (mod 4) after, by repeating the last frame."""
    t, _, h, w = x.shape
    ph, pw = (-h) % SPATIAL_MULTIPLE, (-w) % SPATIAL_MULTIPLE
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    pt = (1 - t) % TIME_GROUP if first else (-t) % TIME_GROUP
    if pt:
        x = torch.cat([x, x[-1:].expand(pt, -1, -1, -1)])
    return x


class InfVSRPipeline:
    """Runs the DiT, VAE and visual encoder over :class:`~.scenes.VideoChunk` s (see module docstring)."""

    def __init__(self, dit, vae, encoder, options: PipelineOptions = PipelineOptions()):
        self.dit, self.vae, self.encoder = dit, vae, encoder
        self.options = options
        self.sampler = OneStepSampler(exact_release=options.exact_release)
        self.cache = dit.new_cache(window_chunks=options.window_chunks, sink_frames=options.sink_frames,
                                   chunk_frames=options.chunk_latents, compact=options.kv_compact) \
            if options.use_cache else None
        self.stream = None
        self.context: torch.Tensor | None = None
        self.position = 0          # RoPE time position of the next chunk's first latent frame (scene-relative)
        self.chunks_in_scene = 0
        self.scenes = 0
        self._sigma_dev: torch.Tensor | None = None
        self.profiler = None       # a profiling.StageProfiler to time the stages (opt-in; None adds nothing)

    def _stage(self, name: str):
        return self.profiler.stage(name) if self.profiler is not None else null_stage()

    @property
    def device(self) -> torch.device:
        return next(self.dit.parameters()).device

    def reset(self) -> None:
        """Forget everything (a new video)."""
        self._new_scene()
        self.context = None
        self.scenes = 0

    def _new_scene(self) -> None:
        if self.cache is not None:
            self.cache.reset()
        if self.stream is not None:
            self.stream.reset()
        else:
            self.stream = self.vae.new_stream()
        self.position = 0
        self.chunks_in_scene = 0

    @torch.no_grad()
    def reference_context(self, frame: torch.Tensor) -> torch.Tensor:
        """(3, h, w) LR frame in [0, 1] → (1, tokens, text_dim) cross-attention context (zeros without
        reference guidance)."""
        if not self.options.use_reference:
            tokens, width = self.encoder.num_tokens, self.dit.config.text_dim
            return torch.zeros(1, tokens, width, device=self.device, dtype=self.dit.patch_embedding.weight.dtype)
        return self.encoder(frame[None].to(self.device))

    @torch.no_grad()
    def process(self, chunk: VideoChunk) -> torch.Tensor:
        """Restore one chunk: (T, 3, h, w) LR in [0, 1] → (T, 3, h·s, w·s) SR in [0, 1] (on the model device)."""
        with cudnn_autotune(self.options.cudnn_benchmark):
            return self._process(chunk)

    def _process(self, chunk: VideoChunk) -> torch.Tensor:
        lr = chunk.frames
        if lr.ndim != 4 or lr.shape[1] != 3 or lr.shape[0] == 0:
            raise ValueError(f"a chunk must be (T>0, 3, h, w) frames, got {tuple(lr.shape)}")
        if chunk.new_scene or self.stream is None:
            self._new_scene()
            self.scenes += 1
        if chunk.new_scene or chunk.update_reference or self.context is None:
            with self._stage("reference_encoder"):
                self.context = self.reference_context(lr[0])
        t, _, h, w = lr.shape
        s = self.options.scale
        vae_dtype = next(self.vae.parameters()).dtype
        with self._stage("upscale_pad"):
            lr = to_device_async(lr, self.device) if self.options.host_async else lr.to(self.device)
            x = upscale(lr.to(torch.float32) * 2 - 1, s)                      # (T, 3, H, W) in ~[-1, 1]
            x = pad_chunk(x, first=self.chunks_in_scene == 0)                 # (T', 3, H', W')
            x = x.permute(1, 0, 2, 3)[None].to(vae_dtype)                    # (T', 3, H', W') -> (1, 3, T', H', W')
            if self.options.channels_last:
                x = as_channels_last(x)
        with self._stage("vae_encode"):
            z = self.stream.encode(x)                                        # (1, 16, F, H'/8, W'/8)
        dit_dtype = self.dit.patch_embedding.weight.dtype
        z = z.to(dit_dtype)
        # without a cache (infvsr-nocache) attention stays within the chunk; positions are relative anyway.
        # The sampler's restore() in two timed stages: v = DiT(z, t, context), then x0 = z − σ·v.
        with self._stage("dit"), sdpa_context(self.options.sdpa_backends):
            v = self.dit(z, self.sampler.timestep(z.shape[0], z.device), self.context, cache=self.cache,
                         start_frame=self.position)
        with self._stage("sampler_step"):
            z0 = self.sampler.step(z, v.to(z.dtype), sigma=self._sigma(z.device))
        self.position += z.shape[2]
        self.chunks_in_scene += 1
        with self._stage("vae_decode"):
            y = self.stream.decode(z0.to(vae_dtype))                         # (1, 3, T'', H', W') in [-1, 1]
        with self._stage("postprocess"):
            y = y[0, :, :t, : h * s, : w * s].permute(1, 0, 2, 3)            # -> (T, 3, H, W)
            return ((y.float() + 1) / 2).clamp_(0, 1)

    def _sigma(self, device: torch.device) -> torch.Tensor | None:
        """σ made on the device once (``host_async``), else None: the sampler makes it per chunk."""
        if not self.options.host_async:
            return None
        if self._sigma_dev is None or self._sigma_dev.device != device:
            self._sigma_dev = self.sampler.sigma_tensor(device)
        return self._sigma_dev

    def state_bytes(self) -> int:
        """Bytes of the state carried between chunks: KV cache + VAE stream history + context."""
        n = self.cache.nbytes() if self.cache is not None else 0
        if self.stream is not None:
            n += self.stream.nbytes()
        if self.context is not None:
            n += self.context.numel() * self.context.element_size()
        return n

    def describe(self) -> dict[str, Any]:
        o = self.options
        return {"scale": o.scale, "use_cache": o.use_cache, "use_reference": o.use_reference,
                "window_chunks": o.window_chunks, "sink_frames": o.sink_frames, "exact_release": o.exact_release,
                "sdpa_backends": list(o.sdpa_backends), "channels_last": o.channels_last,
                "cudnn_benchmark": o.cudnn_benchmark, "host_async": o.host_async,
                "kv_compact": o.kv_compact,
                "timestep": self.sampler.timestep_value, "sigma": self.sampler.sigma}


__all__ = ["InfVSRPipeline", "PipelineOptions", "pad_chunk", "sdpa_context", "upscale"]
