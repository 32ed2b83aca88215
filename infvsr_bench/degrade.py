"""Seeded degradation pipelines: HR uint8 chunks in, LR uint8 chunks (and an LR video file) out.

Two pipelines, each a small class with a short ``name`` (the id that groups leaderboard tables) and a
``describe()`` dict that goes into the dataset manifest:

- ``bicubic``: ×S downsampling with ``torch.nn.functional.interpolate(mode="bicubic", antialias=True,
  align_corners=False)`` — the a = -0.5 antialiased kernel, close to MATLAB ``imresize`` — rounded to uint8.
- ``realworld``: Gaussian blur (σ drawn per clip) → bicubic ×S down → Gaussian noise (σ per clip, a fresh
  draw per frame) → JPEG (quality per clip, OpenCV) → an H.264 round trip of the whole LR video
  (libx264 through :class:`~infvsr_bench.video_io.FrameWriter`, CRF per clip), stored losslessly.

Every random draw is keyed by (seed, clip index, tag[, frame]) so the output is identical however the
frames are chunked, and rebuilding gives the same bytes.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BadInput

log = logging.getLogger(__name__)

TAG_CLIP = 200  # per-clip parameter draws
TAG_NOISE = 201  # per-frame noise draws


def bicubic_down(chunk: np.ndarray, scale: int, quantize: bool = True) -> np.ndarray:
    """(T, H, W, 3) uint8 or float → (T, H/S, W/S, 3): antialiased bicubic, rounded to uint8 if ``quantize``.

    Works on 0..255 floats, so the result is the float LR of the [0, 1] convention times 255.
    """
    import torch
    import torch.nn.functional as F

    _, h, w, _ = chunk.shape
    if h % scale or w % scale:
        raise BadInput(f"frame size {w}x{h} is not a multiple of the scale {scale}")
    x = torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32)).permute(0, 3, 1, 2)  # (T,H,W,3)->(T,3,H,W)
    y = F.interpolate(x, size=(h // scale, w // scale), mode="bicubic", align_corners=False, antialias=True)
    y = y.permute(0, 2, 3, 1).contiguous()  # (T,3,h,w) -> (T,h,w,3)
    if quantize:
        return y.clamp_(0, 255).round_().to(torch.uint8).numpy()
    return y.numpy()


class ClipDegrader:
    """The degradation of one clip: frame-wise stages (``apply``) plus an optional video-codec stage.

    ``open_writer(path, fps)`` returns a writer that takes HR chunks and leaves the finished LR video at
    ``path`` (FFV1, lossless) — through an H.264 round trip when the pipeline has one.
    """

    def __init__(self, pipeline: Degradation, index: int, params: dict[str, Any]):
        self.pipeline, self.index, self.params = pipeline, index, params

    def apply(self, chunk: np.ndarray, start: int) -> np.ndarray:
        """HR chunk (T, H, W, 3) uint8 whose first frame has index ``start`` → LR chunk uint8."""
        return self.pipeline._apply(self, chunk, start)

    @property
    def codec(self) -> dict[str, Any] | None:
        return self.pipeline._codec(self)

    def open_writer(self, path: str | os.PathLike, fps: float) -> LRWriter:
        return LRWriter(self, Path(path), fps)


class LRWriter:
    """Streams degraded chunks to the LR file; with a codec stage, via a temporary H.264 file."""

    def __init__(self, degrader: ClipDegrader, path: Path, fps: float):
        from .video_io import FrameWriter

        self.d, self.path, self.fps = degrader, path, fps
        self.frames = 0
        codec = degrader.codec
        if codec is None:
            self.tmp = None
            self.writer = FrameWriter(path, fps=fps, codec="ffv1")
        else:
            self.tmp = path.with_name(path.stem + ".h264.mkv")
            self.writer = FrameWriter(self.tmp, fps=fps, codec="h264", crf=codec["crf"], preset=codec["preset"])

    def write(self, hr_chunk: np.ndarray) -> None:
        self.writer.write(self.d.apply(hr_chunk, self.frames))
        self.frames += len(hr_chunk)

    def close(self) -> Path:
        from .errors import VideoError
        from .video_io import FrameReader, FrameWriter

        self.writer.close()
        if self.tmp is None:
            return self.path
        try:  # decode the H.264 LR and store exactly the frames a decoder sees, losslessly
            with FrameWriter(self.path, fps=self.fps, codec="ffv1") as w:
                n = 0
                for chunk in FrameReader(self.tmp, chunk=64).iter_uint8():
                    w.write(chunk)
                    n += len(chunk)
            if n != self.frames:
                raise VideoError(f"H.264 round trip of {self.path.name} gave {n} frames, expected {self.frames}")
        finally:
            self.tmp.unlink(missing_ok=True)
        return self.path

    def abort(self) -> None:
        self.writer.abort()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> LRWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class Degradation:
    """Base of the pipelines: ``name``, ``scale``, ``describe()``, ``for_clip(index)``."""

    kind = "none"

    def __init__(self, scale: int, seed: int = 0):
        if not isinstance(scale, int) or scale < 1:
            raise BadInput(f"scale must be an integer >= 1, got {scale!r}")
        self.scale, self.seed = scale, int(seed)

    @property
    def name(self) -> str:
        return f"{self.kind}-x{self.scale}"

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "scale": self.scale, "seed": self.seed}

    def clip_params(self, index: int) -> dict[str, Any]:
        return {}

    def for_clip(self, index: int) -> ClipDegrader:
        return ClipDegrader(self, index, self.clip_params(index))

    def _apply(self, d: ClipDegrader, chunk: np.ndarray, start: int) -> np.ndarray:
        raise NotImplementedError

    def _codec(self, d: ClipDegrader) -> dict[str, Any] | None:
        return None


class Bicubic(Degradation):
    """Clean ×S bicubic downsampling (antialiased, a = -0.5), rounded to uint8."""

    kind = "bicubic"

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "scale": self.scale,
                "resize": "torch.nn.functional.interpolate(mode='bicubic', antialias=True, align_corners=False)",
                "kernel": "cubic a=-0.5 (MATLAB imresize-like)", "rounding": "nearest, clamp 0..255"}

    def _apply(self, d: ClipDegrader, chunk: np.ndarray, start: int) -> np.ndarray:
        return bicubic_down(chunk, self.scale)


@dataclass(frozen=True)
class RealWorldParams:
    """Ranges the per-clip values are drawn from (uniform; integers inclusive)."""

    blur_sigma: tuple[float, float] = (0.4, 1.6)  # HR pixels, before downsampling
    noise_sigma: tuple[float, float] = (1.0, 6.0)  # on the 0..255 scale, per RGB channel
    jpeg_quality: tuple[int, int] = (55, 85)
    crf: tuple[int, int] = (22, 30)
    preset: str = "medium"


class RealWorld(Degradation):
    """Blur → bicubic down → noise → JPEG → H.264: a compact real-world-like chain, all seeded."""

    kind = "realworld"

    def __init__(self, scale: int, seed: int = 0, **ranges: Any):
        super().__init__(scale, seed)
        unknown = set(ranges) - set(RealWorldParams.__dataclass_fields__)
        if unknown:
            raise BadInput(f"unknown realworld degradation parameter(s): {', '.join(sorted(unknown))}")
        conv = {k: (tuple(v) if isinstance(v, list) else v) for k, v in ranges.items()}
        self.ranges = RealWorldParams(**conv)
        for key in ("blur_sigma", "noise_sigma", "jpeg_quality", "crf"):
            lo, hi = getattr(self.ranges, key)
            if lo > hi or lo < 0:
                raise BadInput(f"realworld {key} must be [lo, hi] with 0 <= lo <= hi, got {[lo, hi]}")
        if not (1 <= self.ranges.jpeg_quality[0] and self.ranges.jpeg_quality[1] <= 100):
            raise BadInput("realworld jpeg_quality must lie in [1, 100]")
        if self.ranges.crf[1] > 51:
            raise BadInput("realworld crf must lie in [0, 51]")

    def describe(self) -> dict[str, Any]:
        from .video_io import X264_PARAMS

        r = self.ranges
        return {"kind": self.kind, "scale": self.scale, "seed": self.seed,
                "chain": ["gaussian_blur", "bicubic_down", "gaussian_noise", "jpeg", "h264_round_trip"],
                "blur_sigma": list(r.blur_sigma), "noise_sigma": list(r.noise_sigma),
                "jpeg_quality": list(r.jpeg_quality), "crf": list(r.crf), "preset": r.preset,
                "x264_params": X264_PARAMS,
                "resize": "torch bicubic antialias=True align_corners=False",
                "seeding": "per clip: (seed, clip index); noise per frame: (seed, clip index, frame)"}

    def clip_params(self, index: int) -> dict[str, Any]:
        r = self.ranges
        rng = np.random.default_rng([self.seed, index, TAG_CLIP, 0])
        return {"blur_sigma": round(float(rng.uniform(*r.blur_sigma)), 4),
                "noise_sigma": round(float(rng.uniform(*r.noise_sigma)), 4),
                "jpeg_quality": int(rng.integers(r.jpeg_quality[0], r.jpeg_quality[1] + 1)),
                "crf": int(rng.integers(r.crf[0], r.crf[1] + 1))}

    def _apply(self, d: ClipDegrader, chunk: np.ndarray, start: int) -> np.ndarray:
        import cv2

        p = d.params
        sigma = p["blur_sigma"]
        x = chunk.astype(np.float32)
        if sigma > 0:
            k = 2 * math.ceil(3 * sigma) + 1
            x = np.stack([cv2.GaussianBlur(f, (k, k), sigma, borderType=cv2.BORDER_REFLECT_101) for f in x])
        lr = bicubic_down(x, self.scale, quantize=False)  # (T,h,w,3) float 0..255
        for j in range(len(lr)):  # a fresh, independently seeded noise field per frame
            rng = np.random.default_rng([self.seed, d.index, TAG_NOISE, start + j])
            lr[j] += rng.standard_normal(lr[j].shape, dtype=np.float32) * np.float32(p["noise_sigma"])
        lr8 = np.clip(np.rint(lr), 0, 255).astype(np.uint8)
        q = [int(cv2.IMWRITE_JPEG_QUALITY), p["jpeg_quality"]]
        out = np.empty_like(lr8)
        for j, f in enumerate(lr8):
            ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(f[:, :, ::-1]), q)  # RGB -> BGR for OpenCV
            if not ok:
                raise RuntimeError("JPEG encoding failed")
            out[j] = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]  # BGR -> RGB
        return out

    def _codec(self, d: ClipDegrader) -> dict[str, Any]:
        return {"codec": "h264", "crf": d.params["crf"], "preset": self.ranges.preset}


PIPELINES: dict[str, type[Degradation]] = {"bicubic": Bicubic, "realworld": RealWorld}


def make_degradation(spec: str | dict[str, Any], scale: int, seed: int = 0) -> Degradation:
    """A pipeline from a recipe's ``degradation`` value: ``"bicubic"`` or a table ``{kind = ..., ...}``."""
    params: dict[str, Any] = {}
    if isinstance(spec, dict):
        params = dict(spec)
        kind = params.pop("kind", None)
    else:
        kind = spec
    if kind not in PIPELINES:
        import difflib

        close = difflib.get_close_matches(str(kind), PIPELINES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise BadInput(f"unknown degradation {kind!r}{hint} (known: {', '.join(PIPELINES)})")
    if kind == "bicubic":
        if params:
            raise BadInput(f"the bicubic degradation takes no parameters (got {', '.join(sorted(params))})")
        return Bicubic(scale, seed)
    return PIPELINES[kind](scale, seed, **params)
