"""Hand-off files between infvsr-bench and programs it does not run in-process: lossless inputs written a
chunk at a time, outputs (a video or a folder of images) read back a chunk at a time.

Inputs are lossless so that every method sees exactly the LR frames the benchmark scored: PNG frame
folders, FFV1 in Matroska/AVI, or x264 RGB at qp 0 in MP4 (for programs that filter on the extension).
Frames cross this module's boundary as (T, 3, H, W) float32 in [0, 1]; uint8 stays inside, converted with
:mod:`infvsr_bench.video_io`'s helpers. Nothing here holds more than one chunk.
"""
from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..errors import MethodError, VideoError
from ..video_io import FrameReader, encode_rgb, probe, to_float, to_uint8

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: container suffix → (codec, pixel format, codec options); all three are lossless for 8-bit RGB.
VIDEO_CODECS = {
    ".mkv": ("ffv1", "bgr0", {}),
    ".avi": ("ffv1", "bgr0", {}),
    ".mp4": ("libx264rgb", "rgb24", {"qp": "0", "preset": "ultrafast"}),
}


def natural_key(name: str) -> list:
    """Sort key that orders ``f2.png`` before ``f10.png`` (programs differ in zero padding)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_images(folder: Path, pattern: str = "*") -> list[Path]:
    """Image files in ``folder`` matching the glob ``pattern``, in natural order."""
    files = [p for p in Path(folder).glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: natural_key(p.name))


class FrameFolderWriter:
    """Write frames as numbered lossless PNGs: ``folder / pattern.format(index=i)`` (e.g. ``{index:06d}.png``)."""

    def __init__(self, folder: Path, pattern: str = "{index:06d}.png", start: int = 0):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pattern = pattern
        self.start = start
        self.count = 0

    def write(self, frames: torch.Tensor) -> None:
        from PIL import Image

        for img in to_uint8(frames):
            name = self.pattern.format(index=self.start + self.count)
            Image.fromarray(img).save(self.folder / name, compress_level=1)
            self.count += 1

    def close(self) -> Path:
        return self.folder


class VideoFileWriter:
    """Write frames to a lossless video whose codec follows the suffix (see :data:`VIDEO_CODECS`)."""

    def __init__(self, path: Path, fps: float):
        import av

        self.path = Path(path)
        if self.path.suffix.lower() not in VIDEO_CODECS:
            raise ValueError(f"no lossless codec for {self.path.suffix!r}; use one of {sorted(VIDEO_CODECS)}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._rate = Fraction(fps or 25.0).limit_denominator(1001)
        self._container = av.open(str(self.path), mode="w")
        self._stream = None
        self.count = 0

    def write(self, frames: torch.Tensor) -> None:
        arr = to_uint8(frames)  # (T, H, W, 3) uint8
        if self._stream is None:
            codec, pix_fmt, options = VIDEO_CODECS[self.path.suffix.lower()]
            s = self._container.add_stream(codec, rate=self._rate)
            s.pix_fmt, s.width, s.height = pix_fmt, arr.shape[2], arr.shape[1]
            s.codec_context.options = dict(options)
            self._stream = s
        self.count += encode_rgb(self._container, self._stream, arr)

    def close(self) -> Path:
        if self._stream is not None:
            encode_rgb(self._container, self._stream, None)
        self._container.close()
        return self.path


def output_info(path: Path, layout: str, pattern: str = "*") -> tuple[int, int, int]:
    """(frames, width, height) of a program's output without decoding it all; MethodError if unreadable."""
    if layout == "video":
        try:
            info = probe(path)
        except VideoError as exc:
            raise MethodError(f"output video unreadable: {exc}") from exc
        return info.frames, info.width, info.height
    files = list_images(path, pattern)
    if not files:
        raise MethodError(f"output folder {path} holds no images matching {pattern!r}")
    from PIL import Image

    try:
        with Image.open(files[0]) as im:  # reads the header only
            w, h = im.size
    except OSError as exc:
        raise MethodError(f"output image {files[0]} unreadable: {exc}") from exc
    return len(files), w, h


def read_output(path: Path, layout: str, chunk: int, max_frames: int | None = None,
                pattern: str = "*") -> Iterator[torch.Tensor]:
    """Stream a program's output as float chunks of at most ``chunk`` frames (at most ``max_frames``)."""
    if layout == "video":
        try:
            yield from FrameReader(path, chunk=chunk, max_frames=max_frames)
        except VideoError as exc:
            raise MethodError(f"output video unreadable: {exc}") from exc
        return
    from PIL import Image

    files = list_images(path, pattern)[:max_frames]
    for start in range(0, len(files), chunk):
        batch = []
        for f in files[start:start + chunk]:
            try:
                with Image.open(f) as im:
                    batch.append(np.asarray(im.convert("RGB")))
            except OSError as exc:
                raise MethodError(f"output image {f} unreadable: {exc}") from exc
        if len({b.shape for b in batch}) > 1:
            raise MethodError(f"output images in {path} differ in size")
        yield to_float(np.stack(batch))
