"""InfVSR's output as the release hands it over (``output=release``): truncated to uint8, through H.264.

The benchmark scores a method's float frames rounded to the 8-bit grid (``video_io.quantize``): the frames the
method computed, as an 8-bit PNG would keep them. The InfVSR release does two more things before anyone scores
its output, and the paper's numbers were measured on what came out:

1. **truncation** — ``((x + 1) * 127.5).clamp(0, 255)`` cast to uint8, which truncates (0.99 → 0): on real
   frames 40–50 % of the values end one level below the rounded ones;
2. **an H.264 round trip** — the frames are written with libx264 through imageio (``quality=7``, i.e. CRF 15,
   preset medium, yuv420p; yuv444p only for odd sizes, which a ×4 output never has) and the scorer decodes the
   file (BT.601, the decoders' default for untagged video).

:class:`ReleaseOutput` does both on a stream of frames with bounded memory: frames are truncated, encoded by
an in-memory libx264 context configured as every H.264 encode of this project (``video_io.configure_x264``:
CRF 15 here, preset medium, bitexact, one thread, ``mbtree=0`` — the release runs x264's default
``mbtree=1``; we keep it off because with it the same frames gave different bytes from run to run), and the
packets are decoded right away. The encoder holds back up to its lookahead (a few dozen frames), so
:meth:`push` returns fewer frames than it got; :meth:`finish` returns the rest. Frame count and order are
preserved (tested).
"""
from __future__ import annotations

from collections import deque
from fractions import Fraction

import numpy as np
import torch

#: imageio's ``quality=7`` for libx264 is ``-crf int(51 * (1 - 7/10))`` = 15.
RELEASE_CRF = 15
RELEASE_PRESET = "medium"  # x264's default; imageio sets none


def truncate_to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(T, 3, H, W) float in [0, 1] → (T, H, W, 3) uint8 by **truncation**, as the release's writer casts
    ``((x + 1) * 127.5).clamp(0, 255)`` (our frames are ``(x + 1) / 2``)."""
    u8 = frames.detach().float().mul(255.0).clamp_(0, 255).to(torch.uint8)  # the cast truncates
    return u8.permute(0, 2, 3, 1).contiguous().cpu().numpy()  # (T, 3, H, W) -> (T, H, W, 3)


class _Decoded:
    """Stands in for the container of ``video_io.encode_rgb``: each packet "muxed" is decoded at once."""

    def __init__(self) -> None:
        import av

        self.decoder = av.CodecContext.create("h264", "r")
        self.frames: deque[np.ndarray] = deque()

    def mux(self, packet) -> None:
        for frame in self.decoder.decode(packet):
            self.frames.append(frame.to_ndarray(format="rgb24"))  # (H, W, 3) uint8, BT.601 as decoders do

    def drain(self) -> None:
        for frame in self.decoder.decode(None):
            self.frames.append(frame.to_ndarray(format="rgb24"))


class ReleaseOutput:
    """Streaming truncation + H.264 (CRF 15, yuv420p) round trip of one clip's output frames."""

    def __init__(self, fps: float = 25.0, crf: int = RELEASE_CRF, preset: str = RELEASE_PRESET):
        self.fps = Fraction(fps).limit_denominator(1001)
        self.crf, self.preset = crf, preset
        self._encoder = None
        self._sink: _Decoded | None = None
        self.pushed = 0

    def _open(self, width: int, height: int) -> None:
        import av

        from ...video_io import configure_x264

        enc = av.CodecContext.create("libx264", "w")
        enc.width, enc.height = width, height
        enc.time_base = 1 / self.fps
        enc.framerate = self.fps
        configure_x264(enc, self.crf, self.preset)
        enc.open()
        self._encoder, self._sink = enc, _Decoded()

    def _take(self) -> torch.Tensor:
        """The decoded frames so far as (T, 3, H, W) float32 in [0, 1] (on the 8-bit grid)."""
        sink = self._sink
        if sink is None or not sink.frames:
            return torch.empty(0, 3, 0, 0)
        arr = np.stack([sink.frames.popleft() for _ in range(len(sink.frames))])  # (T, H, W, 3)
        from ...video_io import to_float

        return to_float(arr)

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        """Truncate and encode ``frames`` ((T, 3, H, W) in [0, 1]); return the frames decoded so far."""
        from ...video_io import encode_rgb

        if frames.shape[0] == 0:
            return self._take()
        u8 = truncate_to_uint8(frames)
        if self._encoder is None:
            self._open(u8.shape[2], u8.shape[1])
        self.pushed += encode_rgb(self._sink, self._encoder, u8, first_pts=self.pushed,
                                  time_base=self._encoder.time_base)
        return self._take()

    def finish(self) -> torch.Tensor:
        """Flush the encoder and the decoder: the remaining frames. The object can then take a new clip."""
        from ...video_io import encode_rgb

        if self._encoder is None:
            return torch.empty(0, 3, 0, 0)
        encode_rgb(self._sink, self._encoder, None)
        self._sink.drain()
        out = self._take()
        self._encoder, self._sink, self.pushed = None, None, 0
        return out

    def describe(self) -> dict[str, object]:
        return {"output": "release", "quantisation": "truncated to uint8",
                "codec": f"libx264 crf {self.crf} preset {self.preset} yuv420p, decoded as BT.601",
                "x264_params": "bitexact, 1 thread, mbtree=0 (the release: x264 defaults, mbtree on)"}
