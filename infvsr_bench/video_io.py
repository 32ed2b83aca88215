"""Chunked video reading (PyAV; decord optional) and writing (PyAV: lossless FFV1 or H.264).

uint8 lives only in here: every public boundary carries ``torch.Tensor`` (T, 3, H, W), float32 in [0, 1],
RGB. Readers decode ``chunk`` frames at a time and never hold more; writers go to a temporary file that is
renamed into place on a clean close, so an interrupted write never leaves a half video under the real name.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from . import decode_errors
from .errors import VideoError


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video without decoding it all."""

    frames: int
    fps: float
    width: int
    height: int


def to_float(frames_uint8: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (T, 3, H, W) float32 in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(frames_uint8))
    return t.permute(0, 3, 1, 2).float().div_(255.0)  # (T,H,W,3) -> (T,3,H,W)


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(T, 3, H, W) float in [0, 1] → (T, H, W, 3) uint8, rounded to nearest like an 8-bit image save."""
    q = frames.detach().clamp(0, 1).mul(255.0).round_().to(torch.uint8)
    return q.permute(0, 2, 3, 1).contiguous().cpu().numpy()  # (T,3,H,W) -> (T,H,W,3)


def quantize(frames: torch.Tensor) -> torch.Tensor:
    """Round float frames to the 8-bit grid, as saving a method's output to PNG or video would."""
    return frames.clamp(0, 1).mul(255.0).round_().div_(255.0)


def _open_decord(path: str):
    import decord  # lazy: heavy native library

    try:
        return decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
    except Exception as exc:  # decord raises its own DECORDError (a RuntimeError) for every failure
        raise VideoError(f"cannot open video {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from exc


def probe(path: str | os.PathLike) -> VideoInfo:
    """Frame count, fps and size of a video without decoding it all.

    The frame count is the number of video packets (a demux pass, ~10 ms per 1,000 frames); the first frame
    is decoded so that a file whose codec data is broken fails here rather than halfway through a run.
    """
    import av

    path = str(path)
    if not os.path.isfile(path):
        raise VideoError(f"video not found: {path}")
    try:
        with av.open(path) as c:
            if not c.streams.video:
                raise VideoError(f"no video stream in {path}")
            s = c.streams.video[0]
            n = sum(1 for packet in c.demux(s) if packet.size)
            fps = float(s.average_rate or s.guessed_rate or 0)
        before = decode_errors.mark()
        with av.open(path) as c:
            first = next(c.decode(video=0), None)
        damage = decode_errors.since(before)
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoError(f"cannot open video {path}: {exc}") from exc
    if damage:
        raise VideoError(f"video {path} is damaged: decoding frame 0, libav reported: {damage}")
    if n == 0 or first is None:
        raise VideoError(f"video has no decodable frames: {path}")
    return VideoInfo(frames=n, fps=fps, width=first.width, height=first.height)


class FrameReader:
    """Iterate a video as float chunks of at most ``chunk`` frames, optionally stopping at ``max_frames``.

    ``backend="pyav"`` (default) decodes sequentially on the calling thread, so at most one chunk is ever
    decoded ahead. ``backend="decord"`` is offered for speed comparisons and yields identical frames
    (tested), but its reader decodes ahead in a background thread without bound while the consumer is
    slower than the decoder (dmlc/decord #157, #208); measured here, a 3,000-frame run peaked 170–500 MiB
    higher and varied from run to run, against a flat ~640 MiB with PyAV. State is the decoder and the
    current position only.

    A damaged video fails: any error libav logs while decoding (e.g. an FFV1 slice CRC mismatch, which the
    decoder conceals and returns as a normal frame) raises :class:`VideoError` before a frame of that decode
    call is yielded (:mod:`infvsr_bench.decode_errors`). decord conceals such damage without a word, so only
    PyAV readers (the ones runs use) give this guarantee.
    """

    def __init__(self, path: str | os.PathLike, chunk: int = 16, max_frames: int | None = None,
                 backend: str = "pyav"):
        if chunk < 1:
            raise ValueError("chunk must be >= 1")
        self.path = str(path)
        self.chunk = chunk
        self.backend = backend
        self.info = probe(self.path)
        self.frames = self.info.frames if max_frames is None else min(self.info.frames, max_frames)

    def __len__(self) -> int:
        return self.frames

    def __iter__(self) -> Iterator[torch.Tensor]:
        for arr in self.iter_uint8():
            yield to_float(arr)

    def iter_uint8(self) -> Iterator[np.ndarray]:
        """Chunks as (T, H, W, 3) uint8, for writers and hashing."""
        if self.backend == "decord":
            yield from self._iter_decord()
        elif self.backend == "pyav":
            yield from self._iter_pyav()
        else:
            raise ValueError(f"unknown backend {self.backend!r}")

    def _iter_decord(self) -> Iterator[np.ndarray]:
        vr = _open_decord(self.path)
        if vr[0].shape[-1] != 3:  # decord mis-strides some tiny widths (e.g. 8, 16, 24 px): decode with PyAV
            del vr
            yield from self._iter_pyav()
            return
        for start in range(0, self.frames, self.chunk):
            stop = min(start + self.chunk, self.frames)
            try:
                batch = vr.get_batch(list(range(start, stop))).asnumpy()
            except Exception as exc:
                raise VideoError(f"decoding {self.path} failed at frames {start}-{stop - 1}: {exc}") from exc
            yield batch
        del vr

    def _iter_pyav(self) -> Iterator[np.ndarray]:
        import av

        buf: list[np.ndarray] = []
        seen = 0
        try:
            with av.open(self.path) as c:
                stream = c.streams.video[0]
                for packet in c.demux(stream):
                    if seen >= self.frames:
                        break
                    before = decode_errors.mark()
                    frames = stream.decode(packet)  # packet.size == 0 at the end: drains the decoder
                    damage = decode_errors.since(before)
                    if damage:  # checked before any frame of this call is used: no damaged frame is scored
                        raise VideoError(f"{self.path} is damaged: decoding frame {seen}, libav reported: {damage}")
                    for frame in frames:
                        if seen >= self.frames:
                            break
                        buf.append(frame.to_ndarray(format="rgb24"))
                        seen += 1
                        if len(buf) == self.chunk:
                            yield np.stack(buf)
                            buf = []
        except av.error.FFmpegError as exc:
            raise VideoError(f"decoding {self.path} failed after frame {seen}: {exc}") from exc
        if buf:
            yield np.stack(buf)
        if seen < self.frames:
            raise VideoError(f"{self.path}: expected {self.frames} frames, decoded {seen}")


#: x264 settings beyond crf/preset that FrameWriter always uses (part of what makes its H.264 bytes repeatable)
X264_PARAMS = "mbtree=0"


def configure_x264(codec_context, crf: int, preset: str) -> None:
    """Set a PyAV libx264 codec context up as every H.264 encode of this project is: yuv420p, ``crf``,
    ``preset``, bitexact, :data:`X264_PARAMS`, one thread (identical bytes on every machine)."""
    codec_context.pix_fmt = "yuv420p"
    # mbtree=0: with x264's macroblock-tree rate control the same frames gave different bytes from run
    # to run (3 distinct outputs in 200 encodes of 12 frames of 64x48, even with one thread; 1 in 300
    # with mbtree=0, also under CPU load; no-asm cures it too, so an assembly path is the suspect)
    codec_context.options = {"crf": str(crf), "preset": preset, "flags": "+bitexact", "x264-params": X264_PARAMS}
    codec_context.thread_count = 1


def encode_rgb(container, stream, frames: np.ndarray | None, first_pts: int | None = None,
               time_base: Fraction | None = None) -> int:
    """Encode (T, H, W, 3) uint8 RGB frames into a PyAV ``stream`` and mux the packets into ``container``
    (``frames=None`` flushes the encoder). With ``first_pts``, frame i gets pts ``first_pts + i`` in
    ``time_base``; otherwise PyAV numbers them. Returns how many frames were encoded."""
    import av

    if frames is None:
        for packet in stream.encode(None):
            container.mux(packet)
        return 0
    for i, img in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        if first_pts is not None:
            frame.pts, frame.time_base = first_pts + i, time_base
        for packet in stream.encode(frame):
            container.mux(packet)
    return len(frames)


class FrameWriter:
    """Write frames to a video: ``codec="ffv1"`` (lossless RGB, .mkv) or ``"h264"`` (libx264, yuv420p).

    Output is bit-exact for the same frames (container and codec bitexact flags), written to
    ``<path>.part`` and renamed on :meth:`close`. Use as a context manager; on an exception the partial
    file is removed.
    """

    def __init__(self, path: str | os.PathLike, fps: float, codec: str = "ffv1", crf: int = 18,
                 preset: str = "medium"):
        import av

        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".part")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.codec = codec
        self._crf, self._preset = crf, preset
        self._container = av.open(str(self.tmp), mode="w", format="matroska",
                                  options={"fflags": "+bitexact"})
        self._stream = None
        self.count = 0

    def _open_stream(self, width: int, height: int) -> None:
        if self.codec == "ffv1":
            s = self._container.add_stream("ffv1", rate=self.fps)
            s.pix_fmt = "bgr0"  # 8-bit RGB is coded losslessly by FFV1 (RCT) from packed bgr0
            s.codec_context.options = {"flags": "+bitexact"}
        elif self.codec == "h264":
            s = self._container.add_stream("libx264", rate=self.fps)
            s.pix_fmt = "yuv420p"
            configure_x264(s.codec_context, self._crf, self._preset)
        else:
            raise ValueError(f"unknown codec {self.codec!r}")
        s.width, s.height = width, height
        self._frame_tb = Fraction(1, 1) / self.fps
        s.codec_context.time_base = self._frame_tb
        self._stream = s

    def write(self, frames: torch.Tensor | np.ndarray) -> None:
        """Append frames: float (T, 3, H, W) in [0, 1] or uint8 (T, H, W, 3)."""
        arr = to_uint8(frames) if isinstance(frames, torch.Tensor) else frames
        if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
            raise ValueError(f"expected (T,H,W,3) uint8 frames, got {arr.dtype} {arr.shape}")
        if self._stream is None:
            self._open_stream(arr.shape[2], arr.shape[1])
        # the muxer may change the stream's time base: pts count frames in the frame time base
        self.count += encode_rgb(self._container, self._stream, arr, first_pts=self.count, time_base=self._frame_tb)

    def close(self) -> Path:
        """Flush, close and move the finished file into place."""
        if self._stream is not None:
            encode_rgb(self._container, self._stream, None)
        self._container.close()
        if self.count == 0:
            self.tmp.unlink(missing_ok=True)
            raise VideoError(f"no frames written to {self.path}")
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._container.close()
        except Exception:
            pass
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
