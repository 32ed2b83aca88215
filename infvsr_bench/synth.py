"""Procedural long videos from the photographs bundled with scikit-image.

A clip is a sequence of scenes separated by hard cuts. In each scene a virtual camera moves over one
photograph (pan, zoom and a small rotation, each a smooth seeded sum of low-frequency sinusoids), and one
or more layers (a soft-edged disc or rounded card cut from another photograph) move on paths of their own
and are alpha-blended on top. Every frame is computed directly from its index and the seeded parameters,
so generation streams with O(1) state in the number of frames, any frame can be rendered on its own, and
the output does not depend on how the frames are chunked.

Why photographs and not noise: a VSR method should face natural image statistics (edges, textures, text,
faces), real sub-pixel motion and occlusion boundaries, and all of it must load offline. The camera never
samples outside the photograph, so there are no border artefacts for a method to be judged on.
"""
from __future__ import annotations

import bisect
import functools
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

# name → (skimage.data function, note). Only images shipped inside the scikit-image wheel (no download).
PHOTOS: dict[str, str] = {
    "astronaut": "astronaut",
    "brick": "brick",
    "camera": "camera",
    "cell": "cell",
    "chelsea": "chelsea",
    "coffee": "coffee",
    "coins": "coins",
    "grass": "grass",
    "gravel": "gravel",
    "hubble_deep_field": "hubble_deep_field",
    "immunohistochemistry": "immunohistochemistry",
    "moon": "moon",
    "motorcycle": "stereo_motorcycle",
    "page": "page",
    "retina": "retina",
    "rocket": "rocket",
}

# Seed-stream tags: every random draw is keyed (seed, clip index, tag, k) so that adding a layer, a scene
# or a degradation never changes the draws of another part.
TAG_CAMERA = 1
TAG_LAYER = 100  # + layer index
_MARGIN = 2.0  # photo pixels kept between the view and the photo edge (bicubic needs 2 neighbours)


@functools.lru_cache(maxsize=32)
def load_photo(name: str) -> np.ndarray:
    """A bundled photograph as a read-only (H, W, 3) uint8 RGB array (grey images are replicated)."""
    if name not in PHOTOS:
        import difflib

        close = difflib.get_close_matches(name, PHOTOS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        from .errors import BadInput

        raise BadInput(f"unknown photograph {name!r}{hint} (known: {', '.join(sorted(PHOTOS))})")
    from skimage import data  # lazy: imports a lot

    img = getattr(data, PHOTOS[name])()
    if isinstance(img, tuple):  # stereo_motorcycle → (left, right, disparity)
        img = img[0]
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)  # (H,W) -> (H,W,3)
    img = np.ascontiguousarray(img[:, :, :3].astype(np.uint8))
    img.setflags(write=False)
    return img


@dataclass(frozen=True)
class SmoothPath:
    """f(t) = Σ w_k sin(2π ν_k t + φ_k) / Σ w_k: smooth, |f| ≤ 1, |df/dt| ≤ ``max_rate``."""

    freqs: tuple[float, ...]  # cycles per frame
    phases: tuple[float, ...]
    weights: tuple[float, ...]  # normalised to sum 1

    @classmethod
    def draw(cls, rng: np.random.Generator, period: float, terms: int = 3) -> SmoothPath:
        """Periods spread around ``period`` frames; slower terms get more weight (1/f-like)."""
        u = rng.uniform(0.5, 2.0, size=terms)
        phases = rng.uniform(0.0, 2 * math.pi, size=terms)
        w = 1.0 / u
        w = w / w.sum()
        return cls(tuple(float(x) for x in u / period), tuple(float(x) for x in phases),
                   tuple(float(x) for x in w))

    def __call__(self, t: float) -> float:
        return sum(w * math.sin(2 * math.pi * f * t + p) for f, p, w in zip(self.freqs, self.phases, self.weights))

    @property
    def max_rate(self) -> float:
        return sum(w * 2 * math.pi * f for f, w in zip(self.freqs, self.weights))


@dataclass(frozen=True)
class Motion:
    """Camera motion of a scene. Units: frames, HR pixels per frame, degrees."""

    period: float = 400.0  # typical period of the pan/zoom/rotation sinusoids, in frames
    max_speed: float = 3.0  # cap on the pan speed, HR pixels per frame
    zoom: tuple[float, float] = (1.0, 1.4)  # magnification range; 1.0 = the widest view that fits
    rotate: float = 2.0  # rotation amplitude in degrees
    span: float = 1.5  # the photo is area-downsized until the widest view covers 1/span of it

    def __post_init__(self):
        if self.period <= 0 or self.max_speed < 0 or self.span <= 0 or len(self.zoom) != 2:
            raise ValueError("motion needs period > 0, max_speed >= 0, span > 0, zoom = [lo, hi]")


@dataclass(frozen=True)
class Layer:
    """A soft-edged patch cut from a photograph that moves over the scene on its own smooth path."""

    photo: tuple[str, ...]  # one per scene, cycled
    shape: str = "disc"  # disc | rounded
    size: float = 0.4  # diameter (or side) as a fraction of min(H, W)
    period: float = 200.0
    max_speed: float = 4.0  # HR pixels per frame
    spin: float = 15.0  # rotation amplitude in degrees
    feather: float = 1.5  # soft edge width in HR pixels
    opacity: float = 1.0

    def __post_init__(self):
        if self.shape not in ("disc", "rounded"):
            raise ValueError(f"layer shape must be disc or rounded, got {self.shape!r}")
        if not (0 < self.size <= 1.5 and self.period > 0 and self.max_speed >= 0 and self.feather > 0
                and 0 <= self.opacity <= 1):
            raise ValueError("layer needs 0 < size <= 1.5, period > 0, max_speed >= 0, feather > 0, 0 <= opacity <= 1")


@dataclass(frozen=True)
class ClipSpec:
    """Everything that determines a synthetic clip's frames."""

    id: str
    photos: tuple[str, ...]  # background per scene, cycled
    frames: int
    cuts: tuple[int, ...]  # first frame of scenes 1..n-1 (strictly increasing, inside (0, frames))
    width: int
    height: int
    seed: int
    index: int  # clip index in the recipe; part of every seed
    motion: Motion = field(default_factory=Motion)
    layers: tuple[Layer, ...] = ()

    def __post_init__(self):
        if self.frames < 1 or self.width < 8 or self.height < 8:
            raise ValueError(f"clip {self.id}: frames/width/height too small")
        if list(self.cuts) != sorted(set(self.cuts)) or any(c <= 0 or c >= self.frames for c in self.cuts):
            raise ValueError(f"clip {self.id}: cuts must be strictly increasing frame indices in (0, {self.frames})")
        if not self.photos:
            raise ValueError(f"clip {self.id}: needs at least one photograph")
        if not 1.0 <= self.motion.zoom[0] <= self.motion.zoom[1]:
            raise ValueError(f"clip {self.id}: zoom must be [lo, hi] with 1 <= lo <= hi")

    def scene_of(self, i: int) -> int:
        return bisect.bisect_right(self.cuts, i)


def _rot(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


class _Camera:
    """The camera of one scene: photo prepared at working scale plus smooth pan/zoom/rotation paths."""

    def __init__(self, photo: np.ndarray, motion: Motion, width: int, height: int, rng: np.random.Generator):
        import cv2

        self.w, self.h, self.m = width, height, motion
        r = math.radians(abs(motion.rotate))
        # Bounding box of the rotated view at view scale 1 (photo px per output px), worst-case angle.
        self.bw = width * math.cos(r) + height * math.sin(r)
        self.bh = width * math.sin(r) + height * math.cos(r)
        ph, pw = photo.shape[:2]
        fit0 = min((pw - 1 - 2 * _MARGIN) / self.bw, (ph - 1 - 2 * _MARGIN) / self.bh)
        if fit0 > motion.span:  # large photo: area-downsize once so the view scale stays near 1
            k = motion.span / fit0
            photo = cv2.resize(photo, (max(1, round(pw * k)), max(1, round(ph * k))), interpolation=cv2.INTER_AREA)
        elif fit0 < 1.0:
            log.warning("photograph %dx%d is smaller than a %dx%d view; it will be upsampled", pw, ph, width, height)
        self.photo = np.ascontiguousarray(photo, dtype=np.float32)
        ph, pw = self.photo.shape[:2]
        self.pw, self.ph = pw, ph
        self.fit = min((pw - 1 - 2 * _MARGIN) / self.bw, (ph - 1 - 2 * _MARGIN) / self.bh)
        self.fx = SmoothPath.draw(rng, motion.period)
        self.fy = SmoothPath.draw(rng, motion.period)
        self.fz = SmoothPath.draw(rng, motion.period * 1.5)
        self.fr = SmoothPath.draw(rng, motion.period * 2.0)
        # Pan amplitude: as large as the photo allows, capped so the pan stays under max_speed HR px/frame.
        s_min = self.fit / motion.zoom[1]
        self.ax = self._amp(pw, self.bw, s_min, self.fx)
        self.ay = self._amp(ph, self.bh, s_min, self.fy)

    def _amp(self, extent: int, box: float, s_min: float, f: SmoothPath) -> float:
        half = (extent - 1 - 2 * _MARGIN - box * s_min) / 2
        if half <= 0:
            return 0.0
        return min(1.0, self.m.max_speed * s_min / (half * f.max_rate))

    def matrix(self, t: float) -> np.ndarray:
        """2×3 map from output pixel (x, y) to photo pixel (u, v) at frame t (for WARP_INVERSE_MAP)."""
        z0, z1 = self.m.zoom
        s = self.fit / (z0 + (z1 - z0) * (0.5 + 0.5 * self.fz(t)))
        rs = s * _rot(self.m.rotate * self.fr(t))
        hx = max(0.0, (self.pw - 1 - 2 * _MARGIN - self.bw * s) / 2)
        hy = max(0.0, (self.ph - 1 - 2 * _MARGIN - self.bh * s) / 2)
        c = np.array([(self.pw - 1) / 2 + self.ax * hx * self.fx(t), (self.ph - 1) / 2 + self.ay * hy * self.fy(t)])
        o = np.array([(self.w - 1) / 2, (self.h - 1) / 2])
        return np.hstack([rs, (c - rs @ o)[:, None]])  # (2,2)+(2,1) -> (2,3)

    def render(self, t: float) -> np.ndarray:
        import cv2

        return cv2.warpAffine(self.photo, self.matrix(t), (self.w, self.h),
                              flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT_101)


def _soft_mask(p: int, diameter: float, shape: str, feather: float) -> np.ndarray:
    """(p, p) float32 alpha: 1 inside the shape, 0 outside, a linear ramp of ``feather`` px at the edge."""
    c = (p - 1) / 2
    yy, xx = np.mgrid[0:p, 0:p].astype(np.float32) - c
    r = diameter / 2
    if shape == "disc":
        sdf = np.sqrt(xx**2 + yy**2) - r
    elif shape == "rounded":  # signed distance to a square with rounded corners
        rc = 0.25 * diameter
        qx, qy = np.abs(xx) - (r - rc), np.abs(yy) - (r - rc)
        sdf = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2) + np.minimum(np.maximum(qx, qy), 0) - rc
    else:
        raise ValueError(f"unknown layer shape {shape!r} (disc | rounded)")
    return np.clip(0.5 - sdf / max(feather, 1e-3), 0.0, 1.0).astype(np.float32)


class _Sprite:
    """One layer in one scene: a premultiplied RGBA patch and its smooth path over the frame."""

    def __init__(self, layer: Layer, photo: np.ndarray, width: int, height: int, rng: np.random.Generator):
        import cv2

        self.w, self.h, self.layer = width, height, layer
        d = max(4.0, layer.size * min(width, height))
        p = math.ceil(d + 2 * layer.feather + 4) | 1
        # Show the patch photo at a scale where it is ~3 patch diameters across (never upsampled).
        ph, pw = photo.shape[:2]
        k = min(1.0, 3.0 * p / min(ph, pw))
        if k < 1.0:
            photo = cv2.resize(photo, (max(p, round(pw * k)), max(p, round(ph * k))), interpolation=cv2.INTER_AREA)
        ph, pw = photo.shape[:2]
        if ph < p or pw < p:
            photo = cv2.resize(photo, (max(p, pw), max(p, ph)), interpolation=cv2.INTER_CUBIC)
            ph, pw = photo.shape[:2]
        y0 = int(rng.integers(0, ph - p + 1))
        x0 = int(rng.integers(0, pw - p + 1))
        alpha = _soft_mask(p, d, layer.shape, layer.feather) * float(layer.opacity)
        patch = photo[y0:y0 + p, x0:x0 + p].astype(np.float32)
        self.rgba = np.ascontiguousarray(np.dstack([patch * alpha[:, :, None], alpha]))  # (p,p,3)+(p,p) -> (p,p,4)
        self.p = p
        self.fx = SmoothPath.draw(rng, layer.period)
        self.fy = SmoothPath.draw(rng, layer.period)
        self.fr = SmoothPath.draw(rng, layer.period * 1.5)
        # Keep the layer's centre inside the frame, 0.6 radii from the edge: partly visible at worst.
        m = 0.6 * d / 2
        self.hx, self.hy = max(0.0, width / 2 - m), max(0.0, height / 2 - m)
        self.ax = min(1.0, layer.max_speed / (self.hx * self.fx.max_rate)) if self.hx > 0 else 0.0
        self.ay = min(1.0, layer.max_speed / (self.hy * self.fy.max_rate)) if self.hy > 0 else 0.0

    def composite(self, frame: np.ndarray, t: float) -> None:
        """Blend the layer into ``frame`` (H, W, 3) float32 in place."""
        import cv2

        pos = np.array([(self.w - 1) / 2 + self.ax * self.hx * self.fx(t),
                        (self.h - 1) / 2 + self.ay * self.hy * self.fy(t)])
        r = _rot(-self.layer.spin * self.fr(t))
        c = np.array([(self.p - 1) / 2, (self.p - 1) / 2])
        m = np.hstack([r, (c - r @ pos)[:, None]])  # frame (x, y) -> sprite (u, v); (2,2)+(2,1) -> (2,3)
        warped = cv2.warpAffine(self.rgba, m, (self.w, self.h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        a = np.clip(warped[:, :, 3:4], 0.0, 1.0)
        frame *= 1.0 - a
        frame += warped[:, :, :3]


class ClipSynth:
    """Renders a :class:`ClipSpec`: ``frame(i)`` for one frame, ``chunks()`` to stream them.

    The per-scene setup (photo resize, sprite cut-outs, path parameters) is derived from
    ``(seed, index, tag, scene)`` alone and cached for the current scene only.
    """

    def __init__(self, spec: ClipSpec):
        self.spec = spec
        self._scene: tuple[int, _Camera, list[_Sprite]] | None = None

    def _setup(self, k: int) -> tuple[_Camera, list[_Sprite]]:
        if self._scene is not None and self._scene[0] == k:
            return self._scene[1], self._scene[2]
        s = self.spec
        cam = _Camera(load_photo(s.photos[k % len(s.photos)]), s.motion, s.width, s.height,
                      np.random.default_rng([s.seed, s.index, TAG_CAMERA, k]))
        sprites = [_Sprite(layer, load_photo(layer.photo[k % len(layer.photo)]), s.width, s.height,
                           np.random.default_rng([s.seed, s.index, TAG_LAYER + j, k]))
                   for j, layer in enumerate(s.layers)]
        self._scene = (k, cam, sprites)
        return cam, sprites

    def camera_matrix(self, i: int) -> tuple[np.ndarray, tuple[int, int]]:
        """The output→photo affine map of frame i and the (H, W) of the photo it samples (for tests)."""
        cam, _ = self._setup(self.spec.scene_of(i))
        return cam.matrix(float(i)), (cam.ph, cam.pw)

    def frame(self, i: int) -> np.ndarray:
        """Frame i as (H, W, 3) uint8."""
        if not 0 <= i < self.spec.frames:
            raise IndexError(f"frame {i} outside clip {self.spec.id} of {self.spec.frames} frames")
        cam, sprites = self._setup(self.spec.scene_of(i))
        t = float(i)
        img = cam.render(t)
        for sp in sprites:
            sp.composite(img, t)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)

    def chunks(self, chunk: int = 32, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Yield frames [start, stop) as (T, H, W, 3) uint8 chunks of at most ``chunk`` frames."""
        if chunk < 1:
            raise ValueError("chunk must be >= 1")
        stop = self.spec.frames if stop is None else min(stop, self.spec.frames)
        for a in range(start, stop, chunk):
            yield np.stack([self.frame(i) for i in range(a, min(a + chunk, stop))])  # T×(H,W,3) -> (T,H,W,3)


def scene_cuts(frames: int, cuts: Sequence[int] | None = None, scene_length: int | None = None) -> tuple[int, ...]:
    """Cut frames from an explicit list or from a fixed scene length (the two recipe spellings)."""
    if cuts is not None and scene_length is not None:
        raise ValueError("give either cuts or scene_length, not both")
    if scene_length is not None:
        if scene_length < 1:
            raise ValueError("scene_length must be >= 1")
        return tuple(range(scene_length, frames, scene_length))
    out = tuple(int(c) for c in (cuts or ()))
    if any(b <= a for a, b in zip(out, out[1:])) or (out and not 0 < out[0] <= out[-1] < frames):
        raise ValueError(f"cuts {list(out)} must be strictly increasing frame numbers in 1..{frames - 1}")
    return out
