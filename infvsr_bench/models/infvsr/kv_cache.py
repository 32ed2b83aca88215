"""Rolling self-attention KV-cache of the InfVSR DiT: preallocated per-layer buffers written in place.

What the release does (``docs/infvsr.md`` §3.5): after each chunk it keeps the post-RoPE K and V of that chunk (all
layers); the next chunk's queries attend to concat(previous chunk, current chunk). Within a chunk attention is
bidirectional, across chunks block-causal; nothing else is kept. This module generalises that to

- ``window_chunks`` W: the chunk attends to the W chunks before it (release: 1; 0 = chunks independent);
- ``sink_frames`` S: the first S latent frames of a scene are kept for the whole scene (attention sinks);

and implements it as a ring of frame slots (gpt-fast / HF static-cache style): ``sink_frames`` fixed slots
plus W+1 chunk slots of ``chunk_frames`` frames each. Chunk k writes its keys into chunk slot k mod (W+1) —
overwriting chunk k−W−1, the one that just left the window — and then attends over every valid slot. Keys
are rotated at their absolute positions before they are written, and softmax attention does not depend on
the order of its keys, so slots never move. In the steady state every slot is valid and attention reads the
buffers directly (no copy, static shapes); while the window fills, and after a short chunk, the valid slots
are gathered. The state size is fixed once the first chunk has fixed the token grid: it is the same at chunk
10 and chunk 10,000.

``compact=True`` keeps only what the *next* chunk needs: ``sink_frames`` + W chunk slots, not W+1. The
chunk in progress is not stored before it attends: each layer attends to [gathered window | its own keys] (one
concatenation, a transient of one layer) and only then writes its keys over the chunk that just left the
window. Same keys and values, so the same attention; the carried cache is W/(W+1) of the default (half for
the release's W = 1: 1.9 GB instead of 3.7 GB in bf16 at 720p).

A short chunk (fewer than ``chunk_frames`` latent frames, e.g. the last one of a video or of a scene) is
allowed; the chunks in the window are kept whole, as in the release (its last chunk still sees all three
latent frames of the chunk before). :meth:`reset` at a scene cut forgets everything and restarts positions.

:func:`block_causal_mask` states the same attention pattern as a full (L, L) mask over a whole sequence; a
masked full forward with it is the oracle the cached, chunk-by-chunk forward is tested against.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


class KVCache:
    """Per-layer K/V ring buffers of shape (B, heads, slots*tokens_per_frame, head_dim).

    Buffers are allocated by the first chunk (which fixes batch, token grid, dtype and device) or eagerly when
    ``tokens_per_frame`` is given. The DiT drives it: :meth:`begin_chunk` plans where the chunk goes,
    :meth:`update` (once per layer) writes a layer's K/V in place and returns the keys/values to attend to,
    :meth:`end_chunk` advances the position counter.
    """

    def __init__(self, num_layers: int, num_heads: int, head_dim: int, *, window_chunks: int = 1,
                 chunk_frames: int = 3, sink_frames: int = 0, batch: int = 1, tokens_per_frame: int | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None, compact: bool = False):
        if window_chunks < 0 or sink_frames < 0 or chunk_frames < 1:
            raise ValueError(f"need window_chunks >= 0, sink_frames >= 0, chunk_frames >= 1; got "
                             f"{window_chunks}, {sink_frames}, {chunk_frames}")
        self.num_layers, self.num_heads, self.head_dim = num_layers, num_heads, head_dim
        self.window_chunks, self.chunk_frames, self.sink_frames = window_chunks, chunk_frames, sink_frames
        self.compact = compact
        self._chunk_slots = window_chunks if compact else window_chunks + 1
        self.slot_frames = sink_frames + self._chunk_slots * chunk_frames  # frame slots in the ring
        self._k: list[torch.Tensor] = []
        self._v: list[torch.Tensor] = []
        self._batch = batch
        self._tpf: int | None = None
        self._valid = [False] * self.slot_frames  # which frame slots hold a key in the attention window
        self._runs: list[tuple[int, int, int]] = []  # (slot frame, chunk frame, count) writes of this chunk
        self._keys: torch.Tensor | None = None  # token indices to attend to (None: the whole buffer)
        self._frames = 0  # frames of the chunk in progress
        self.frames_seen = 0  # latent frames of this scene so far = time position of the next chunk
        self.chunks_seen = 0
        if tokens_per_frame is not None:
            self._allocate(batch, tokens_per_frame, torch.device(device or "cpu"), dtype or torch.float32)

    @classmethod
    def for_model(cls, dit, **kwargs) -> KVCache:
        """A cache sized for a :class:`~.dit.InfVSRDiT` (layers, heads, head_dim from its config)."""
        cfg = dit.config
        return cls(cfg.num_layers, cfg.num_heads, cfg.head_dim, **kwargs)

    # ------------------------------------------------------------------------------------------ state
    def _allocate(self, batch: int, tpf: int, device: torch.device, dtype: torch.dtype) -> None:
        shape = (batch, self.num_heads, self.slot_frames * tpf, self.head_dim)
        self._k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(self.num_layers)]
        self._v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(self.num_layers)]
        self._batch, self._tpf = batch, tpf

    def reset(self) -> None:
        """Forget every cached key (scene cut); positions restart at 0. Buffers are kept for reuse."""
        self._valid = [False] * self.slot_frames
        self.frames_seen = 0
        self.chunks_seen = 0
        self._runs, self._keys, self._frames = [], None, 0

    def nbytes(self) -> int:
        """Bytes held by the K/V buffers (0 before the first chunk allocates them)."""
        return sum(t.numel() * t.element_size() for t in self._k + self._v)

    @property
    def valid_frames(self) -> int:
        """Latent frames currently held (sinks + window + the chunk just written)."""
        return sum(self._valid)

    # --------------------------------------------------------------------------------------- per chunk
    def begin_chunk(self, frames: int, tokens_per_frame: int, batch: int, device: torch.device,
                    dtype: torch.dtype) -> None:
        """Plan the slots of a chunk of ``frames`` latent frames (positions ``frames_seen ..``)."""
        if not 1 <= frames <= self.chunk_frames:
            raise ValueError(f"a chunk has 1..{self.chunk_frames} latent frames for this cache, got {frames}")
        if (batch, tokens_per_frame) != (self._batch, self._tpf) or not self._k or self._k[0].dtype != dtype \
                or self._k[0].device != torch.device(device):
            if self.frames_seen and self._k:
                raise ValueError(f"the token grid / batch / dtype changed inside a scene (cache holds batch "
                                 f"{self._batch} × {self._tpf} tokens per frame, chunk has {batch} × "
                                 f"{tokens_per_frame}); call reset() at a cut")
            self._allocate(batch, tokens_per_frame, torch.device(device), dtype)
        sink_part = min(frames, max(0, self.sink_frames - self.frames_seen))  # chunk frames that become sinks
        self._runs = []
        if sink_part:
            self._runs.append((self.frames_seen, 0, sink_part))
        if self.compact:  # the window as stored now is what this chunk reads (its own keys come separately)
            self._keys = self._gather_index(tokens_per_frame, device)
        if self._chunk_slots:
            slot0 = self.sink_frames + (self.chunks_seen % self._chunk_slots) * self.chunk_frames
            for f in range(slot0, slot0 + self.chunk_frames):  # evict chunk k-W-1 (compact: k-W, already read)
                self._valid[f] = False
            if frames > sink_part:
                self._runs.append((slot0, sink_part, frames - sink_part))
        for slot, _, n in self._runs:
            for f in range(slot, slot + n):
                self._valid[f] = True
        if not self.compact:
            self._keys = self._gather_index(tokens_per_frame, device)
        self._frames = frames

    def _gather_index(self, tpf: int, device) -> torch.Tensor | None:
        """Token indices of the valid slots (None: every slot is valid, read the buffers whole)."""
        if all(self._valid):
            return None
        frames_idx = torch.tensor([f for f, ok in enumerate(self._valid) if ok], dtype=torch.long)
        tokens = (frames_idx[:, None] * tpf + torch.arange(tpf)[None, :]).reshape(-1)  # (valid*tpf,)
        return tokens.to(device)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write a layer's (B, N, L, D) post-RoPE K/V of the current chunk in place; return the (B, N, L', D)
        keys and values to attend to (sinks, window and the current chunk)."""
        kb, vb = self._k[layer], self._v[layer]
        if self.compact:  # read the stored window first, then overwrite the chunk that leaves it
            if not self.slot_frames:
                return k, v
            if self._keys is None:
                keys = torch.cat([kb, k], dim=2), torch.cat([vb, v], dim=2)  # (B, N, slots*tpf + L, D)
            elif self._keys.numel():
                keys = (torch.cat([kb.index_select(2, self._keys), k], dim=2),
                        torch.cat([vb.index_select(2, self._keys), v], dim=2))
            else:
                keys = k, v
            self._write(kb, vb, k, v)
            return keys
        self._write(kb, vb, k, v)
        if self._keys is None:
            return kb, vb
        return kb.index_select(2, self._keys), vb.index_select(2, self._keys)

    def _write(self, kb, vb, k, v) -> None:
        tpf = self._tpf
        for slot, src, n in self._runs:
            kb[:, :, slot * tpf:(slot + n) * tpf].copy_(k[:, :, src * tpf:(src + n) * tpf])
            vb[:, :, slot * tpf:(slot + n) * tpf].copy_(v[:, :, src * tpf:(src + n) * tpf])

    def end_chunk(self) -> None:
        """Advance positions after every layer has written the chunk."""
        self.frames_seen += self._frames
        self.chunks_seen += 1
        self._runs, self._frames = [], 0


def block_causal_mask(chunk_sizes: Sequence[int], tokens_per_frame: int, *, window_chunks: int = 1,
                      sink_frames: int = 0, device: torch.device | str | None = None) -> torch.Tensor:
    """(L, L) boolean mask (True = may attend) of a whole sequence split into chunks of ``chunk_sizes`` latent
    frames, equivalent to streaming it through a :class:`KVCache` with the same window and sinks: a query of
    chunk k sees every frame of chunks k−W..k and the first ``sink_frames`` frames of the sequence."""
    chunk_of = torch.repeat_interleave(torch.arange(len(chunk_sizes)), torch.tensor(list(chunk_sizes)))  # (F,)
    pos = torch.arange(len(chunk_of))
    q_chunk, k_chunk = chunk_of[:, None], chunk_of[None, :]
    frame_mask = (k_chunk <= q_chunk) & ((k_chunk >= q_chunk - window_chunks) | (pos[None, :] < sink_frames))
    # (F, F) frame mask -> (F*tpf, F*tpf) token mask, tokens of a frame contiguous ((f, h, w) order)
    return frame_mask.repeat_interleave(tokens_per_frame, 0).repeat_interleave(tokens_per_frame, 1).to(device)
