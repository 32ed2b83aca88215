"""Temporal profiles (x–t slices), streamed: a few fixed rows and columns of every output frame and of the
ground truth, stacked over time while the run scores the clip.

A row profile is (T, W, 3) uint8 and a column profile (T, H, 3): 2,000 frames of a 1280-px row is 7.7 MB.
Time is kept at a stride so that no profile holds more than ``max_samples`` frames, whatever the clip length.

Rows and columns are chosen where the reference moves least relative to how much structure it shows (static
structure makes flicker visible). The choice looks only at the first ``pick_frames`` frames of the reference
(the ground truth, else the LR input) — never at the method's output — so every run of the same dataset
picks the same rows and ``compare`` can put their profiles side by side.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import BadInput

CANDIDATES = 24  # rows (and columns) considered by the automatic choice
PICK_FRAMES = 16  # reference frames the automatic choice looks at
AUTO_ROWS = 2
AUTO_COLS = 1
MAX_SAMPLES = 8000  # time samples per profile at most (a longer clip is kept every k-th frame)


@dataclass
class ProfileSpec:
    """Rows and columns asked for (``--profiles rows=12,40,cols=100``); None: chosen automatically."""

    rows: list[int] | None = None
    cols: list[int] | None = None

    @classmethod
    def parse(cls, text: str | None) -> "ProfileSpec":
        if not text or text == "auto":
            return cls()
        out: dict[str, list[int]] = {}
        key = None
        for tok in (t.strip() for t in text.split(",")):
            if not tok:
                continue
            if "=" in tok:
                key, tok = (s.strip() for s in tok.split("=", 1))
                if key not in ("rows", "cols"):
                    raise BadInput(f"--profiles: unknown key {key!r} (use rows=Y1,Y2,...,cols=X1,...)")
                if key in out:
                    raise BadInput(f"--profiles: {key} given twice")
                out[key] = []
            if key is None:
                raise BadInput(f"--profiles {text!r}: start with rows= or cols=")
            if tok:
                try:
                    v = int(tok)
                except ValueError:
                    raise BadInput(f"--profiles: {tok!r} is not a pixel index") from None
                if v < 0:
                    raise BadInput(f"--profiles: pixel index {v} is negative")
                out[key].append(v)
        return cls(rows=sorted(set(out["rows"])) if "rows" in out else [],
                   cols=sorted(set(out["cols"])) if "cols" in out else [])

    @property
    def auto(self) -> bool:
        return self.rows is None and self.cols is None

    def check(self, height: int, width: int, where: str) -> None:
        for name, vals, lim in (("row", self.rows, height), ("column", self.cols, width)):
            bad = [v for v in vals or [] if v >= lim]
            if bad:
                raise BadInput(f"--profiles: {name} {bad[0]} is outside the {width}x{height} output of {where}")


def to_u8(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float in [0, 1] → uint8 rounded to nearest (as torch.round), in numpy: these slices are small, and
    torch's threaded kernels cost more than the work on them on a busy machine."""
    a = x.numpy() if isinstance(x, torch.Tensor) else x
    return np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)


def _as_uint8(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    """(k, 3, ..., L) float in [0, 1] → uint8 (k, ..., L, 3)."""
    return np.moveaxis(to_u8(frames), 1, -1)  # (k,3,R,L) -> (k,R,L,3)


def _candidates(size: int) -> np.ndarray:
    """Up to CANDIDATES evenly spaced lines, a sixteenth of the size away from the borders (edges are
    where resampling and padding show, not the method's temporal behaviour)."""
    margin = size // 16
    return np.unique(np.linspace(margin, size - 1 - margin, min(CANDIDATES, size)).round()).astype(int)


def _spread(scores: np.ndarray, positions: np.ndarray, n: int, gap: float) -> list[int]:
    """The ``n`` lowest-scoring positions at least ``gap`` apart."""
    chosen: list[int] = []
    for i in np.argsort(scores, kind="stable"):
        if len(chosen) == n:
            break
        if all(abs(int(positions[i]) - c) >= gap for c in chosen):
            chosen.append(int(positions[i]))
    return sorted(chosen)


def still_scores(ref: np.ndarray, cuts_in_window: set[int]) -> np.ndarray:
    """Per line of ``ref`` (T, 3, n_lines, L): mean absolute change between neighbouring frames of one
    scene over the line's mean absolute gradient along it (each + 1/255). Low = static structure; a flat
    line (nothing to see) scores 1."""
    x = ref.astype(np.float32)
    detail = np.abs(np.diff(x, axis=-1)).mean(axis=(0, 1, 3))  # (T,3,n,L) -> (n,)
    pairs = [t for t in range(1, x.shape[0]) if t not in cuts_in_window]
    if pairs:
        change = np.mean([np.abs(x[t] - x[t - 1]).mean(axis=(0, 2)) for t in pairs], axis=0)
    else:
        change = np.zeros(x.shape[2], np.float32)
    return (change + 1.0 / 255.0) / (detail + 1.0 / 255.0)  # a flat line scores 1, a detailed still one << 1


@dataclass
class ProfileRecorder:
    """Streams one clip's profiles. Feed every output frame in order with :meth:`update`; :meth:`result`
    gives the profiles (a dict of plain arrays) at the clip's end."""

    frames: int
    height: int
    width: int
    spec: ProfileSpec = field(default_factory=ProfileSpec)
    scene_cuts: list[int] = field(default_factory=list)
    pick_frames: int = PICK_FRAMES
    max_samples: int = MAX_SAMPLES

    def __post_init__(self) -> None:
        self.stride = max(1, math.ceil(self.frames / self.max_samples))
        self.samples = math.ceil(self.frames / self.stride)
        self.rows: list[int] | None = None if self.spec.auto else list(self.spec.rows or [])
        self.cols: list[int] | None = None if self.spec.auto else list(self.spec.cols or [])
        self.seen = 0
        self.has_gt = False
        self.sr: dict[str, np.ndarray] = {}
        self.gt: dict[str, np.ndarray] = {}
        self._cand_rows = _candidates(self.height)
        self._cand_cols = _candidates(self.width)
        self._observed = 0
        self._early: list[tuple[int, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]] = []
        self._ref_rows: list[np.ndarray] = []  # (3, n_cand, W) of the reference, first pick_frames frames
        self._ref_cols: list[np.ndarray] = []
        if self.rows is not None:
            self._allocate()

    # -- streaming ------------------------------------------------------------------------------------
    def update(self, sr: torch.Tensor, hr: torch.Tensor | None, lr: torch.Tensor | None = None) -> None:
        """One chunk of output frames (k, 3, H, W) in [0, 1], with the reference frames of the same indices
        (``hr``, or None without ground truth; then ``lr`` steers the automatic choice)."""
        self.has_gt = hr is not None
        if self.rows is None:
            take = min(sr.shape[0], self.pick_frames - self._observed)
            self._observe(sr[:take], None if hr is None else hr[:take], None if lr is None else lr[:take])
            if self._observed >= min(self.pick_frames, self.frames):
                self._choose()
            sr, hr = sr[take:], None if hr is None else hr[take:]
            if self.rows is None or sr.shape[0] == 0:
                return
        k = sr.shape[0]
        keep = [i for i in range(k) if (self.seen + i) % self.stride == 0]
        if keep:
            slot = [(self.seen + i) // self.stride for i in keep]
            self._store(self.sr, sr, keep, slot)
            if hr is not None:
                self._store(self.gt, hr, keep, slot)
        self.seen += k

    def _store(self, into: dict[str, np.ndarray], frames: torch.Tensor, keep: list[int], slot: list[int]) -> None:
        """Copy the chosen lines of frames ``keep`` of a chunk into time samples ``slot``."""
        x = frames.numpy()
        if self.rows:
            rows = _as_uint8(x[:, :, self.rows, :][keep])  # (k,3,R,W) -> (k,R,W,3)
            for j, y in enumerate(self.rows):
                into[f"row-{y}"][slot] = rows[:, j]
        if self.cols:
            cols = _as_uint8(x[:, :, :, self.cols][keep].transpose(0, 1, 3, 2))  # (k,3,H,C) -> (k,C,H,3)
            for j, x in enumerate(self.cols):
                into[f"col-{x}"][slot] = cols[:, j]

    def _observe(self, sr, hr, lr) -> None:
        """Early frames, before the rows are chosen: keep every candidate line (bounded by pick_frames)."""
        ref = hr if hr is not None else lr
        for i in range(sr.shape[0]):
            t = self.seen + i
            if ref is not None:
                rh, rw = ref.shape[-2:]
                r = ref[i].numpy()
                self._ref_rows.append(r[:, self._cand_rows * rh // self.height, :])  # (3,nc,rw)
                self._ref_cols.append(r[:, :, self._cand_cols * rw // self.width].transpose(0, 2, 1))
            if t % self.stride == 0:
                self._early.append((t // self.stride,
                                    _as_uint8(sr[i:i + 1, :, self._cand_rows, :])[0],
                                    _as_uint8(hr[i:i + 1, :, self._cand_rows, :])[0] if hr is not None else None,
                                    _as_uint8(sr[i:i + 1, :, :, self._cand_cols].transpose(2, 3))[0],
                                    _as_uint8(hr[i:i + 1, :, :, self._cand_cols].transpose(2, 3))[0]
                                    if hr is not None else None))
        self.seen += sr.shape[0]
        self._observed += sr.shape[0]

    def _choose(self) -> None:
        """Pick rows/columns from the reference frames seen so far, then copy their early samples."""
        cuts = {c for c in self.scene_cuts if c < self._observed}
        if self._ref_rows:
            row_s = still_scores(np.stack(self._ref_rows), cuts)
            col_s = still_scores(np.stack(self._ref_cols), cuts)
        else:
            row_s, col_s = np.zeros(len(self._cand_rows)), np.zeros(len(self._cand_cols))
        self.rows = _spread(row_s, self._cand_rows, AUTO_ROWS, self.height / 6)
        self.cols = _spread(col_s, self._cand_cols, AUTO_COLS, self.width / 6)
        self._allocate()
        ri = [list(self._cand_rows).index(y) for y in self.rows]
        ci = [list(self._cand_cols).index(x) for x in self.cols]
        for slot, sr_r, gt_r, sr_c, gt_c in self._early:
            for y, j in zip(self.rows, ri):
                self.sr[f"row-{y}"][slot] = sr_r[j]
                if gt_r is not None:
                    self.gt[f"row-{y}"][slot] = gt_r[j]
            for x, j in zip(self.cols, ci):
                self.sr[f"col-{x}"][slot] = sr_c[j]
                if gt_c is not None:
                    self.gt[f"col-{x}"][slot] = gt_c[j]
        self._early, self._ref_rows, self._ref_cols = [], [], []

    def _allocate(self) -> None:
        for into in (self.sr, self.gt):
            for y in self.rows or []:
                into[f"row-{y}"] = np.zeros((self.samples, self.width, 3), np.uint8)
            for x in self.cols or []:
                into[f"col-{x}"] = np.zeros((self.samples, self.height, 3), np.uint8)

    def result(self) -> dict[str, np.ndarray]:
        """Plain arrays: ``sr/<name>`` and ``gt/<name>`` (T, L, 3), ``frame_index`` (T,) of each sample."""
        if self.rows is None:
            self._choose()
        out = {f"sr/{k}": v for k, v in self.sr.items()}
        if self.has_gt:
            out.update({f"gt/{k}": v for k, v in self.gt.items()})
        out["frame_index"] = np.arange(self.samples, dtype=np.int64) * self.stride
        return out
