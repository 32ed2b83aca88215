"""Chunk-seam score: do a method's chunk boundaries change the video more than ordinary frame steps?

A streaming VSR method processes a long video in chunks; if its state hand-over is imperfect, the frame
pair that straddles a chunk boundary ``(b - 1, b)`` changes more than pairs inside a chunk — a visible seam
(brightness jump, texture re-hallucination, a semantic flip). We measure one *change* per consecutive pair
(the caller decides what change means: mean absolute pixel difference, ``1 - cos`` of features, ...) and
keep two running means:

* ``across`` — pairs ``(b - 1, b)`` for every chunk boundary ``b`` (the method's ``chunk_boundaries``);
* ``inside`` — every other consecutive pair.

Pairs that straddle a scene cut are excluded from both (a cut is a real content change, not a seam; the
caller passes them as invalid). Then

    seam score = min(CAP, mean_inside / mean_across),    CAP = 1.0

so 1.0 means boundary steps are no larger than ordinary steps (seams invisible) and 0.5 means boundary
steps are twice as large. The cap makes "smoother than ordinary" boundaries count as invisible rather than
as a bonus, and keeps one clip with an almost-zero boundary change from dominating a mean over clips.
Edge cases: ``mean_across == 0`` → 1.0 (nothing changes at boundaries; ``0 / 0`` included: a still video has
no seams); no across pairs or no inside pairs → NaN with a reason. The raw means and pair counts are
reported beside the score, so the ratio can be recomputed without the cap.

State: four numbers per change type (two sums, two counts) — nothing that grows with the frames scored —
plus the boundary list of the clip's metadata, as given.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

#: Upper bound of the seam score (see module docstring).
SEAM_CAP = 1.0


def seam_score(inside_mean: float, across_mean: float, cap: float = SEAM_CAP) -> float:
    """``min(cap, inside / across)``; ``across == 0`` gives ``cap``; NaN in → NaN out."""
    if math.isnan(inside_mean) or math.isnan(across_mean):
        return math.nan
    if across_mean <= 0.0:
        return cap
    return min(cap, inside_mean / across_mean)


class SeamAccumulator:
    """Running sums of one kind of frame-to-frame change, split into across-boundary and inside-chunk pairs.

    ``boundaries`` are frame indices where the method starts a new chunk (index 0 is ignored: no pair ends
    there). ``None`` means the method has no chunk structure: the score is then not applicable.
    """

    def __init__(self, boundaries: Iterable[int] | None):
        self.applicable = boundaries is not None
        b = sorted({int(x) for x in boundaries if int(x) > 0}) if boundaries is not None else []
        self._boundaries = torch.tensor(b, dtype=torch.long)
        self.inside_sum = 0.0
        self.inside_count = 0
        self.across_sum = 0.0
        self.across_count = 0

    def add(self, index: torch.Tensor, change: torch.Tensor, valid: torch.Tensor) -> None:
        """Fold pairs ``(index - 1, index)``: ``index`` (n,) long frame index of the later frame, ``change``
        (n,) the pair's change, ``valid`` (n,) bool — False for pairs that straddle a scene cut or have no
        earlier frame."""
        if not self.applicable:
            return
        across = torch.isin(index, self._boundaries) & valid
        inside = valid & ~across
        change = change.to(torch.float64)
        self.across_sum += float(change[across].sum())
        self.across_count += int(across.sum())
        self.inside_sum += float(change[inside].sum())
        self.inside_count += int(inside.sum())

    def result(self) -> dict[str, Any]:
        """``score`` (NaN when undefined), ``inside`` / ``across`` means, pair counts, and ``reason``
        (None when the score is defined)."""
        inside = self.inside_sum / self.inside_count if self.inside_count else math.nan
        across = self.across_sum / self.across_count if self.across_count else math.nan
        if not self.applicable:
            reason = "not applicable: the method has no chunk structure (chunk_boundaries is None)"
        elif not self.across_count:
            reason = "no chunk boundary inside a scene among the frames scored"
        elif not self.inside_count:
            reason = "no consecutive frame pair inside a chunk"
        else:
            reason = None
        return {"score": seam_score(inside, across) if reason is None else math.nan,
                "inside": inside, "across": across,
                "inside_pairs": self.inside_count, "across_pairs": self.across_count, "reason": reason}

    def nbytes(self) -> int:
        """Bytes of running state: two sums and two counts. The boundary list is the clip's metadata (the
        runner holds it anyway) and is not counted."""
        return 4 * 8


__all__ = ["SEAM_CAP", "SeamAccumulator", "seam_score"]
