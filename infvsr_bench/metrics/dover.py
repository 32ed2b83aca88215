"""DOVER as a streaming, seeded, windowed video-quality metric (no reference).

DOVER (Wu et al., ICCV 2023) scores a *video*: one technical view (3 clips × 32 frames of 7×7 fragment
mosaics) and one aesthetic view (32 resized frames), sampled at random from the whole video
(``docs/dover.md``). On a 10,000-frame clip that is 1.3 % of the frames, and unseeded reruns differ by
~0.02 (DOVER #6). This metric makes it deterministic and long-video aware:

Windows (a named variant of DOVER, chosen up front from the clip length ``meta["frames"]``)
    ``K = max(1, min(windows, N // window_frames))`` non-overlapping windows of ``window_frames`` frames
    (the whole clip when it is shorter), evenly spread from the first frame to the last:
    window k starts at ``k·(N − L) // (K − 1)`` (the middle when K = 1). Each window is scored as one
    DOVER video with the official sampling (§1.2–§1.5) — a clip no longer than ``window_frames`` is
    therefore scored exactly as the official pipeline scores the whole video with that seed.

Seeds
    Window k, sample j uses seed ``seed + k·samples + j`` for both the numpy temporal draws and the torch
    fragment offsets (the §1.6 recipe), so the same frames always give the same score; ``samples > 1``
    averages the raw branch scores over that many samplings per window before fusing (§1.6 k-sample mode).

Scores
    Per window: raw technical ``t`` and aesthetic ``a`` (map means), the fused score in [0, 1]
    (``sigmoid(0.6104·(t − 0.1107)/0.07355 + 0.3896·(a + 0.08285)/0.03774)``) and the two parts in [0, 1].
    Per-frame values are undefined for a video-level metric: :meth:`frame_values` returns NaN for every
    frame. :meth:`compute` reports ``mean`` = the mean fused score over the windows (the clip's DOVER
    score), ``windows`` = the fused score of each window in time order (``window`` = the window length),
    ``first_window`` / ``last_window`` / ``drift`` from those; :meth:`extra` adds the technical and
    aesthetic parts (in [0, 1] and raw), the spread across windows (``fused_std``, min, max) and
    ``per_window`` records (start frame, length, every score) for the plots.

Memory
    Only the sampled views of the window being filled are kept (≤ 128 × 3 × 224 × 224 uint8 ≈ 19 MB per
    sample), cropped from each frame as it arrives; a window is scored as soon as its last sampled frame
    has arrived and its buffer freed. State never depends on the clip length (:meth:`state_nbytes`).

Weights: ``DOVER.pth`` (id ``dover`` in :mod:`infvsr_bench.weights`), S-Lab License 1.0, non-commercial.
``pretrained=False`` builds random weights with a fixed init seed (plumbing and speed only; every output
says ``random_weights``).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import BadInput
from .base import StreamingMetric
from .flow import _full_fp32

log = logging.getLogger(__name__)

RANDOM_INIT_SEED = 0
MIN_SIDE = 32  # views.PATCH: smaller frames have no valid fragment grid (the official code fails on them)


@dataclass
class _Window:
    """One planned window: absolute start, length, and its per-sample view buffers while it fills."""

    index: int
    start: int
    length: int
    seeds: list[int]
    buffers: list[Any] = field(default_factory=list)  # views.ViewBuffer per sample, while filling
    result: dict[str, float] | None = None

    @property
    def end(self) -> int:
        return self.start + self.length


def plan_windows(n: int, windows: int, window_frames: int) -> list[tuple[int, int]]:
    """(start, length) of each window of a clip of ``n`` frames (see the module docstring)."""
    if n < 1:
        return []
    length = min(window_frames, n)
    k = max(1, min(windows, n // window_frames))
    if k == 1:
        return [((n - length) // 2, length)]
    return [(i * (n - length) // (k - 1), length) for i in range(k)]


class DOVERMetric(StreamingMetric):
    """DOVER fused score in [0, 1] over fixed, seeded windows (see the module docstring).

    Parameters: ``seed`` (base seed), ``windows`` (most windows per clip), ``window_frames`` (frames per
    window), ``samples`` (samplings averaged per window), ``pretrained`` (False: random weights, plumbing
    only), ``preset`` (``dover``; ``tiny`` only with random weights, for tests), ``weights_path`` (an
    explicit ``DOVER.pth``, checked at construction), ``device`` (where the network runs; not a recorded
    param), ``dtype`` (the network's float type: ``float16`` / ``bfloat16`` change values beyond rounding,
    so they are recorded params; ``float32``, the default, is not), ``resize_antialias`` (the aesthetic
    view's resize: true, the default, is what the official code's ``torchvision.transforms.Resize`` does on
    torchvision >= 0.17, the pinned version; false is the training-era torchvision behaviour; recorded).
    """

    name: ClassVar[str] = "dover"
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = True
    mode: ClassVar[str] = "NR"
    context: ClassVar[int] = 0
    requires: ClassVar[tuple[str, ...]] = ("dover",)
    unit: ClassVar[str] = ""
    param_limits: ClassVar[dict[str, str]] = {"seed": ">= 0", "windows": ">= 1", "window_frames": ">= 1",
                                              "samples": ">= 1"}

    def __init__(self, seed: int = 0, windows: int = 8, window_frames: int = 240, samples: int = 1,
                 pretrained: bool = True, preset: str = "dover", weights_path: str | None = None,
                 device: str = "cpu", dtype: str = "float32", resize_antialias: bool = True, window: int = 100):
        for label, value, low in (("seed", seed, 0), ("windows", windows, 1), ("window_frames", window_frames, 1),
                                  ("samples", samples, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise BadInput(f"dover: {label} must be an integer >= {low}, got {value!r}")
        from ..models.dover.config import PRESETS

        if preset not in PRESETS:
            raise BadInput(f"dover: unknown preset {preset!r} (known: {', '.join(PRESETS)})")
        if preset != "dover" and pretrained:
            raise BadInput(f"dover: preset {preset!r} has no released weights; use pretrained=False")
        if not isinstance(resize_antialias, bool):
            raise BadInput(f"dover: resize_antialias must be true or false, got {resize_antialias!r}")
        if dtype not in ("float32", "float16", "bfloat16"):
            raise BadInput(f"dover: dtype must be float32, float16 or bfloat16, got {dtype!r}")
        self.seed, self.n_windows, self.window_frames, self.samples = seed, windows, window_frames, samples
        self.resize_antialias = resize_antialias
        self.preset, self.pretrained = preset, bool(pretrained)
        self.weights_path = weights_path  # not a param: the file is identified by its sha256
        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)
        if not self.pretrained:
            self.requires = ()  # instance override: random weights need no file
        elif weights_path is not None:  # an explicit file is checked now: a wrong path fails before any work
            from .. import weights

            weights.resolve("dover", weights_path)
        self._model: Any = None
        super().__init__(window=window, seed=seed, windows=windows, window_frames=window_frames, samples=samples,
                         preset=preset, pretrained=self.pretrained, resize_antialias=resize_antialias)
        if not self.pretrained:
            self.params["random_weights"] = True
        if dtype != "float32":  # a lower precision is its own convention
            self.params["dtype"] = dtype

    @property
    def random_weights(self) -> bool:
        return not self.pretrained

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["views"] = {"technical": "3 clips x 32 frames, stride 2; 7x7 fragments of 32x32 px (224x224)",
                        "aesthetic": "32 frames, squashed to 224x224, bilinear, "
                                     + ("antialias (torchvision Resize >= 0.17)" if self.resize_antialias
                                        else "antialias off (torchvision < 0.17)") + ", rounded",
                        "fusion": "sigmoid(0.6104*(t-0.1107)/0.07355 + 0.3896*(a+0.08285)/0.03774)",
                        "input": "uint8 (frames rounded to the 8-bit grid)"}
        out["licence"] = "DOVER.pth: S-Lab License 1.0, non-commercial"
        return out

    # -- model ----------------------------------------------------------------------------------------
    def _get_model(self):
        if self._model is None:
            with torch.inference_mode(False):  # the runner scores under inference mode; build normal tensors
                self._model = self._build_model()
        return self._model

    def _build_model(self):
        from ..models.dover.model import build_dover, load_dover_weights

        if self.pretrained:
            from .. import weights

            sd = weights.load_state_dict("dover", self.weights_path)
            model = load_dover_weights(build_dover(self.preset), sd, "DOVER (DOVER.pth)")
        else:
            from .learned_nets import seeded

            with seeded(RANDOM_INIT_SEED):
                model = build_dover(self.preset)
        return model.to(self.device, self.dtype).eval()

    # -- state ------------------------------------------------------------------------------------------
    def reset_carry(self) -> None:
        self._plan: list[_Window] = []
        self._active = 0  # index of the first window not yet scored
        self._planned = False
        self.peak_state_nbytes = 0

    def start(self, meta: dict[str, Any]) -> None:
        super().start(meta)
        n = meta.get("frames")
        if not isinstance(n, int) or n < 1:
            raise BadInput(f"dover needs the clip length: start(meta) with meta['frames'] >= 1, got {n!r}")
        self._plan = [_Window(k, s, length, [self.seed + k * self.samples + j for j in range(self.samples)])
                      for k, (s, length) in enumerate(plan_windows(n, self.n_windows, self.window_frames))]
        self._active = 0
        self._planned = True

    def state_nbytes(self) -> int:
        """Bytes carried between chunks: the view buffers of the window being filled plus a fixed record per
        planned window (at most ``windows``). Independent of the clip length."""
        bufs = sum(b.nbytes() for w in self._plan for b in w.buffers)
        return bufs + 64 * len(self._plan)

    # -- per chunk -------------------------------------------------------------------------------------
    def check_frame_size(self, height: int, width: int) -> None:
        if min(height, width) < MIN_SIDE:  # the official fragment grid needs one 32-px patch per side
            raise BadInput(f"dover needs frames of at least {MIN_SIDE}x{MIN_SIDE} pixels, got {width}x{height}")

    def frame_values(self, sr: torch.Tensor, hr: torch.Tensor | None) -> torch.Tensor:
        if not self._planned:
            raise BadInput("dover needs the clip length before the first frame: call start({'frames': N})")
        if sr.ndim != 4 or sr.shape[1] != 3:
            raise BadInput(f"dover expects frames (T, 3, H, W), got {tuple(sr.shape)}")
        self.check_frame_size(sr.shape[-2], sr.shape[-1])
        t0 = self.frames  # absolute index of sr[0] (the base class advances it after this call)
        for i in range(sr.shape[0]):
            self._feed(t0 + i, sr[i])
        return torch.full((sr.shape[0],), math.nan, dtype=torch.float64)

    def _feed(self, f: int, frame: torch.Tensor) -> None:
        if self._active >= len(self._plan):
            return
        win = self._plan[self._active]
        if f < win.start:
            return
        if f >= win.end:  # unreachable: a window is scored once its last sampled frame has arrived
            raise RuntimeError(f"dover: window {win.index} incomplete at frame {f}")
        if not win.buffers:
            from ..models.dover.views import ViewBuffer, sample_indices

            win.buffers = [ViewBuffer(*sample_indices(win.length, s), seed=s, antialias=self.resize_antialias)
                           for s in win.seeds]
        u8 = None
        for buf in win.buffers:
            if (buf.tech_idx == f - win.start).any() or (buf.aes_idx == f - win.start).any():
                if u8 is None:
                    from ..models.dover.views import to_uint8

                    u8 = to_uint8(frame[None].cpu())[0]  # (3, H, W) uint8
                buf.add(f - win.start, u8)
        self.peak_state_nbytes = max(self.peak_state_nbytes, self.state_nbytes())
        if all(b.complete for b in win.buffers):
            self._score(win)
            self._active += 1

    def _score(self, win: _Window) -> None:
        from ..models.dover.heads import aesthetic_01, fuse, technical_01

        model = self._get_model()
        ts, as_ = [], []
        for buf in win.buffers:
            tech, aes = buf.inputs()
            with torch.inference_mode(), _full_fp32(self.device):  # no TF32 on CUDA: CPU values up to rounding
                raw = model.score(tech.to(self.device, self.dtype), aes.to(self.device, self.dtype))
            ts.append(raw["technical"])
            as_.append(raw["aesthetic"])
        t, a = float(np.mean(ts)), float(np.mean(as_))
        win.result = {"technical_raw": t, "aesthetic_raw": a, "fused": fuse(technical=t, aesthetic=a),
                      "technical": technical_01(t), "aesthetic": aesthetic_01(a)}
        win.buffers = []  # free the views
        log.debug("dover window %d (frames %d-%d): %s", win.index, win.start, win.end - 1, win.result)

    # -- clip level --------------------------------------------------------------------------------------
    def window_results(self) -> list[dict[str, Any]]:
        """Per planned window: start, frames, and its scores (NaN while not scored)."""
        nan = math.nan
        keys = ("fused", "technical", "aesthetic", "technical_raw", "aesthetic_raw")
        return [{"start": w.start, "frames": w.length,
                 **{k: (w.result[k] if w.result else nan) for k in keys}} for w in self._plan]

    def compute(self) -> dict[str, Any]:
        out = super().compute()
        wins = self.window_results()
        fused = [w["fused"] for w in wins]
        done = [v for v in fused if math.isfinite(v)]
        if len(done) < len(wins):
            log.warning("dover: %d of %d windows were not scored (the clip ended after %d of %s frames)",
                        len(wins) - len(done), len(wins), self.frames, self.meta.get("frames"))
        first, last = (done[0], done[-1]) if done else (math.nan, math.nan)
        out.update({"mean": float(np.mean(done)) if done else math.nan, "window": self.window_frames,
                    "windows": fused, "first_window": first, "last_window": last, "drift": last - first})
        return out

    def extra(self) -> dict[str, Any]:
        wins = self.window_results()
        done = [w for w in wins if math.isfinite(w["fused"])]

        def stat(key: str, fn) -> float:
            return float(fn([w[key] for w in done])) if done else math.nan

        out: dict[str, Any] = {
            "technical": stat("technical", np.mean), "aesthetic": stat("aesthetic", np.mean),
            "technical_raw": stat("technical_raw", np.mean), "aesthetic_raw": stat("aesthetic_raw", np.mean),
            "fused_std": stat("fused", np.std), "fused_min": stat("fused", np.min), "fused_max": stat("fused", np.max),
            "windows_scored": len(done), "windows_planned": len(wins), "per_window": wins,
        }
        if self.random_weights:
            out["random_weights"] = True
        return out
