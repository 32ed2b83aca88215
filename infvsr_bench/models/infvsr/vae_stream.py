"""Streaming VAE encode/decode for one scene: per-conv histories carried across chunks.

Why: InfVSR encodes every incoming pixel chunk and decodes every restored latent chunk as soon as it is
ready; carrying each causal conv's last (≤2) input frames from call to call makes the chunked result equal
to a whole-video pass (no seams inside a scene) while state stays a few frames per conv, however long the
scene. One :class:`VAEStream` per scene (the release's ``VAESequence``, ``docs/infvsr.md``
§5.2); ``reset()`` at a scene cut.

Chunk rules (the 1+4k grouping): the first ``encode`` of a stream takes T ≡ 1 (mod 4) frames (frame 0 is
encoded alone, then groups of 4), later calls T ≡ 0 (mod 4) (groups of 4); anything else raises
:class:`~.vae.VAEInputError`. ``decode`` runs the decoder one latent frame at a time: the stream's first
latent gives 1 frame, every later latent 4. With tiling active every tile owns its own histories.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .vae_blocks import History
from .vae_tiling import Blender, Tiling, grid


@dataclass
class _CoderState:
    """Histories of one coder (encoder or decoder) for every tile of a fixed latent frame size."""

    size: tuple[int, int]  # latent (h, w) the stream was started with
    tiles: list[tuple[tuple[int, int], tuple[int, int]]]  # latent ((y0, y1), (x0, x1)) per tile
    tiled: bool
    hists: list[History] = field(default_factory=list)
    started: bool = False  # the sequence's first frame / latent has been processed


def _move(hist: History, device: torch.device) -> None:
    for i, t in enumerate(hist):
        if isinstance(t, torch.Tensor) and t.device != device:
            hist[i] = t.to(device)


class VAEStream:
    """Causal streaming state of one scene for a :class:`~.vae.WanVAE` (build with ``vae.new_stream()``).

    ``offload``: keep inactive tiles' histories on the CPU (default: only when tiling on a GPU).
    """

    def __init__(self, vae, tiling: Tiling | None = None, offload: bool | None = None):
        self.vae = vae
        self.tiling = tiling if tiling is not None else Tiling()
        self.offload = offload
        self._enc: _CoderState | None = None
        self._dec: _CoderState | None = None

    # ---------------------------------------------------------------------------------------- state
    def reset(self) -> None:
        """Forget all histories (a scene cut): the next calls start a new sequence."""
        self._enc = None
        self._dec = None

    def nbytes(self) -> int:
        """Bytes held by the stream's histories (encoder + decoder, all tiles)."""
        total = 0
        for state in (self._enc, self._dec):
            if state is not None:
                total += sum(t.numel() * t.element_size() for h in state.hists for t in h
                             if isinstance(t, torch.Tensor))
        return total

    def tile_grid(self, which: str = "encode") -> list[tuple[tuple[int, int], tuple[int, int]]]:
        """Latent-pixel tiles ((y0, y1), (x0, x1)) the ``encode`` or ``decode`` side runs (one tile spanning
        the frame when untiled); empty before that side's first call."""
        state = {"encode": self._enc, "decode": self._dec}[which]
        return list(state.tiles) if state is not None else []

    def _state(self, old: _CoderState | None, h: int, w: int, n_slots: int, what: str) -> _CoderState:
        if old is not None:
            if old.size != (h, w):
                from .vae import VAEInputError

                raise VAEInputError(f"VAE {what}: frame size changed inside a stream (latent {old.size} → "
                                    f"{(h, w)}); reset the stream at a resolution change")
            return old
        f = self.vae.cfg.space_factor
        tiled = self.tiling.active(h * f)
        tiles = grid(h, w, self.tiling) if tiled else [((0, h), (0, w))]
        return _CoderState((h, w), tiles, tiled, [[None] * n_slots for _ in tiles])

    def _param(self) -> torch.Tensor:
        return next(self.vae.parameters())

    def _run_tiles(self, state: _CoderState, fn, device: torch.device) -> list[torch.Tensor]:
        offload = self.offload if self.offload is not None else (state.tiled and device.type != "cpu")
        outs = []
        for i, hist in enumerate(state.hists):
            if offload:
                _move(hist, device)
            outs.append(fn(i, hist))
            if offload:
                _move(hist, torch.device("cpu"))
        return outs

    # ---------------------------------------------------------------------------------------- encode
    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Frames (B,3,T,H,W) in [-1,1] → normalised latents (B,z,T',H/8,W/8); T' = (T+3)//4 on the first
        call of the stream (T ≡ 1 mod 4), T/4 afterwards (T ≡ 0 mod 4)."""
        from .vae import VAEInputError

        vae, p = self.vae, self._param()
        vae.check_frames(x)
        tf, sf = vae.cfg.time_factor, vae.cfg.space_factor
        first = self._enc is None or not self._enc.started
        t = x.shape[2]
        if first and t % tf != 1:
            raise VAEInputError(f"the first chunk of a VAE stream needs 1 + {tf}k frames, got {t}")
        if not first and (t == 0 or t % tf != 0):
            raise VAEInputError(f"a later chunk of a VAE stream needs a positive multiple of {tf} frames, got {t}")
        x = x.to(device=p.device, dtype=p.dtype)
        state = self._enc = self._state(self._enc, x.shape[3] // sf, x.shape[4] // sf, vae.encoder.n_slots, "encode")
        bounds = ([(0, 1)] if first else []) + [(s, s + tf) for s in range(1 if first else 0, t, tf)]

        def run(i: int, hist: History) -> torch.Tensor:
            (y0, y1), (x0, x1) = state.tiles[i]
            xt = x[..., y0 * sf:y1 * sf, x0 * sf:x1 * sf]
            feats = [vae.encoder(xt[:, :, a:b], hist) for a, b in bounds]  # each (B, 2z, n, h, w)
            return vae.latent_mean(torch.cat(feats, dim=2))

        outs = self._run_tiles(state, run, x.device)
        state.started = True
        if not state.tiled:
            return outs[0]
        blend = Blender(*state.size, ramp=self.tiling.overlap)
        for (ys, xs), out in zip(state.tiles, outs):
            blend.add(out, ys, xs)
        return blend.result(p.dtype)

    # ---------------------------------------------------------------------------------------- decode
    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised latents (B,z,T',h,w) → frames (B,3,T,8h,8w) clamped to [-1,1]; the stream's first
        latent gives 1 frame, every later latent 4."""
        vae, p = self.vae, self._param()
        vae.check_latents(z)
        sf = vae.cfg.space_factor
        z = z.to(device=p.device, dtype=p.dtype)
        state = self._dec = self._state(self._dec, z.shape[3], z.shape[4], vae.decoder.n_slots, "decode")

        def run(i: int, hist: History) -> torch.Tensor:
            (y0, y1), (x0, x1) = state.tiles[i]
            zt = vae.conv2(vae.denormalize(z[..., y0:y1, x0:x1]))
            frames = [vae.decoder(zt[:, :, k:k + 1], hist) for k in range(zt.shape[2])]  # one latent at a time
            return torch.cat(frames, dim=2)  # (B, 3, T, 8h, 8w)

        outs = self._run_tiles(state, run, z.device)
        state.started = True
        if not state.tiled:
            return outs[0].clamp_(-1.0, 1.0)
        h, w = state.size
        blend = Blender(h * sf, w * sf, ramp=self.tiling.overlap * sf)
        for ((y0, y1), (x0, x1)), out in zip(state.tiles, outs):
            blend.add(out, (y0 * sf, y1 * sf), (x0 * sf, x1 * sf))
        return blend.result(p.dtype).clamp_(-1.0, 1.0)
