"""Online scene-cut detection and chunking for InfVSR (``docs/infvsr.md`` §6).

InfVSR restarts its temporal state (KV cache, VAE histories, RoPE positions) at every scene cut and
re-selects its reference frame on large content drift. :class:`SceneChunker` turns a stream of LR frames
into :class:`VideoChunk` s the way the release does:

* cuts come from PySceneDetect's own ``ContentDetector`` (threshold 27, ``min_scene_len`` 15, MERGE flash
  filter; frames fed as 8-bit BGR), run frame by frame — so a cut is found exactly where the offline
  ``scenedetect.detect`` finds it;
* a cut may be reported up to ``event_buffer_length`` (15) frames late, so a frame is only chunked once it
  is that far behind the newest frame read (the look-behind; at the end of the stream the rest drains);
* chunks never cross a cut: the first chunk of a scene has 9 frames (1 + 8 → 3 latent frames), later ones
  12 (→ 3 latent frames); a chunk is shorter only just before a cut or at the end of the stream;
* reference re-selection: for a chunk that does not start a scene, once at least 15 frames have passed
  since the reference was chosen, the reference frame is compared with the chunk's first frame by a fresh
  ``ContentDetector(threshold=reference_threshold, min_scene_len=0)`` (the same HSV mean-absolute-difference
  score); at or above the threshold the chunk's first frame becomes the reference (``update_reference``).

With ``detect=False`` (the release's ``--no_scene_detection``) the schedule is 9, then 12, 12, ... with no
look-behind, no resets and a single reference.

State is bounded: at most look-behind + one chunk + the last pushed block of frames, one reference frame
and the detector's previous frame. The chunk starts and cut positions seen so far are kept as integers
(what the adapter reports after the fact as its chunk boundaries).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

FIRST_CHUNK = 9
CHUNK = 12
MIN_SCENE_LEN = 15
THRESHOLD = 27.0


@dataclass
class VideoChunk:
    """Consecutive LR frames (T, 3, h, w) in [0, 1] starting at absolute frame ``start``; ``new_scene``: the
    first chunk of a scene (reset everything, this chunk's first frame is the reference);
    ``update_reference``: take this chunk's first frame as the new reference (caches are kept)."""

    frames: torch.Tensor
    start: int
    new_scene: bool
    update_reference: bool


def _bgr_u8(frame: torch.Tensor) -> np.ndarray:
    """(3, h, w) float RGB in [0, 1] → (h, w, 3) uint8 BGR, as the release feeds PySceneDetect."""
    u8 = (frame.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    return np.ascontiguousarray(u8.permute(1, 2, 0).numpy()[:, :, ::-1])  # (3,h,w) -> (h,w,3), RGB -> BGR


def _bgr_u8_block(frames: torch.Tensor) -> np.ndarray:
    """(T, 3, h, w) float RGB in [0, 1] → (T, h, w, 3) uint8 BGR: :func:`_bgr_u8` of every frame, with one
    device-to-host copy (one synchronisation) for the block instead of one per frame."""
    u8 = (frames.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    return np.ascontiguousarray(u8.permute(0, 2, 3, 1).numpy()[..., ::-1])  # (T,3,h,w) -> (T,h,w,3), -> BGR


def _timecode(index: int, fps: float):
    from scenedetect import FrameTimecode

    return FrameTimecode(index, fps=fps)


class SceneChunker:
    """Push LR frames in any block sizes, get :class:`VideoChunk` s back in order (see module docstring)."""

    def __init__(self, detect: bool = True, scene_threshold: float = THRESHOLD,
                 reference_threshold: float = THRESHOLD, min_scene_len: int = MIN_SCENE_LEN,
                 first_chunk: int = FIRST_CHUNK, chunk: int = CHUNK, fps: float = 30.0, host_batch: bool = False):
        if scene_threshold <= 0 or reference_threshold <= 0:
            raise ValueError("scene and reference thresholds must be positive")
        if first_chunk < 1 or chunk < 1:
            raise ValueError("chunk sizes must be positive")
        self.detect = detect
        self.host_batch = host_batch  # convert a pushed block for the detector with one host copy (same frames)
        self.scene_threshold = float(scene_threshold)
        self.reference_threshold = float(reference_threshold)
        self.min_scene_len = int(min_scene_len)
        self.first_chunk, self.chunk = int(first_chunk), int(chunk)
        self.reset(fps)

    @property
    def lookbehind(self) -> int:
        """Frames a chunk's last frame must lie behind the newest frame read (0 without detection)."""
        return self._detector.event_buffer_length if self.detect else 0

    def reset(self, fps: float = 30.0) -> None:
        """Forget everything: start a new video."""
        from scenedetect.detectors import ContentDetector

        self.fps = float(fps) if fps and fps > 0 else 30.0
        self._detector = ContentDetector(threshold=self.scene_threshold, min_scene_len=self.min_scene_len)
        self._buf: deque[torch.Tensor] = deque()  # frames not yet chunked, first one at index self._next
        self._next = 0          # absolute index of the first buffered frame
        self._read = 0          # frames pushed so far
        self._pending_cuts: list[int] = []   # detected cuts not yet passed by the chunking position
        self._ref_index: int | None = None
        self._ref_bgr: np.ndarray | None = None
        self._scene_start = True
        self.cuts: list[int] = []             # every cut detected (first frame of a new scene)
        self.boundaries: list[int] = []       # start frame of every chunk emitted
        self.reference_updates: list[int] = []  # frames that became the reference inside a scene

    # ------------------------------------------------------------------------------------------ input
    def push(self, frames: torch.Tensor) -> list[VideoChunk]:
        """Add LR frames (T, 3, h, w) in [0, 1]; return the chunks that are now final."""
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"expected frames (T, 3, h, w), got {tuple(frames.shape)}")
        block = _bgr_u8_block(frames) if self.detect and self.host_batch else None
        for i, f in enumerate(frames):
            if self.detect:
                bgr = block[i] if block is not None else _bgr_u8(f)
                for tc in self._detector.process_frame(_timecode(self._read, self.fps), bgr):
                    cut = int(getattr(tc, "frame_num", tc))  # FrameTimecode (0.7) or int (0.6)
                    if cut > 0:
                        self.cuts.append(cut)
                        self._pending_cuts.append(cut)
            self._buf.append(f)
            self._read += 1
        return self._drain(final=False)

    def finish(self) -> list[VideoChunk]:
        """End of stream: every remaining frame, chunked the same way."""
        if self.detect:
            for tc in self._detector.post_process(_timecode(max(self._read - 1, 0), self.fps)) or []:
                cut = int(getattr(tc, "frame_num", tc))
                if 0 < cut < self._read and cut >= self._next:
                    self.cuts.append(cut)
                    self._pending_cuts.append(cut)
        return self._drain(final=True)

    # --------------------------------------------------------------------------------------- chunking
    def _drain(self, final: bool) -> list[VideoChunk]:
        out: list[VideoChunk] = []
        while self._buf:
            start = self._next
            cuts = sorted(c for c in self._pending_cuts if c > start)
            new_scene = self._scene_start or start in self._pending_cuts
            size = self.first_chunk if new_scene else self.chunk
            end = min(start + size, cuts[0]) if cuts else start + size
            available = start + len(self._buf)
            safe = available if final else self._read - self.lookbehind  # frames [start, safe) are final
            if end > available:
                if not final:
                    break
                end = available
            if end > safe:
                break
            out.append(self._emit(start, end, new_scene))
        return out

    def _emit(self, start: int, end: int, new_scene: bool) -> VideoChunk:
        frames = torch.stack([self._buf.popleft() for _ in range(end - start)])  # (T, 3, h, w)
        self._next = end
        self._pending_cuts = [c for c in self._pending_cuts if c >= end]
        self._scene_start = False
        update = False
        if new_scene:
            self._set_reference(start, frames[0])
        elif self.detect and self._ref_index is not None and start - self._ref_index >= self.min_scene_len:
            if self._reference_changed(frames[0]):
                self._set_reference(start, frames[0])
                self.reference_updates.append(start)
                update = True
        self.boundaries.append(start)
        return VideoChunk(frames, start, new_scene, update)

    def _set_reference(self, index: int, frame: torch.Tensor) -> None:
        self._ref_index = index
        self._ref_bgr = _bgr_u8(frame) if self.detect else None

    def _reference_changed(self, frame: torch.Tensor) -> bool:
        """Whether a fresh PySceneDetect detector (``min_scene_len=0``, so no flash filter) sees a cut between
        the reference frame and ``frame``, i.e. their content score is at least ``reference_threshold`` —
        exactly how the release compares them."""
        from scenedetect.detectors import ContentDetector

        det = ContentDetector(threshold=self.reference_threshold, min_scene_len=0)
        det.process_frame(_timecode(0, self.fps), self._ref_bgr)
        return bool(det.process_frame(_timecode(1, self.fps), _bgr_u8(frame)))

    def state_frames(self) -> int:
        """Frames currently held (bounded by look-behind + one chunk + the last pushed block)."""
        return len(self._buf)


def schedule(n: int, cuts: list[int] | tuple[int, ...] = (), first_chunk: int = FIRST_CHUNK,
             chunk: int = CHUNK) -> list[int]:
    """Chunk start frames for ``n`` frames with scene cuts at ``cuts`` (the chunker's rule, computed up
    front when the cuts are known): 9 frames at each scene start, then 12, never across a cut."""
    starts, cut_set = [], sorted({int(c) for c in cuts if 0 < int(c) < n})
    i, k = 0, 0
    scene_start = True
    while i < n:
        starts.append(i)
        while k < len(cut_set) and cut_set[k] <= i:
            k += 1
        end = min(i + (first_chunk if scene_start else chunk), n)
        if k < len(cut_set) and cut_set[k] < end:
            end = cut_set[k]
        scene_start = k < len(cut_set) and end == cut_set[k]
        i = end
    return starts


__all__ = ["SceneChunker", "VideoChunk", "schedule"]
