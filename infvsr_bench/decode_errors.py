"""Errors that libav reports while decoding, made visible to the readers of :mod:`infvsr_bench.video_io`.

A damaged packet does not always make FFmpeg's decoders fail: FFV1 finds a slice CRC mismatch, logs it at
error level, conceals the slice and returns the frame as if nothing happened (no exception, no corrupt flag,
not even with ``err_detect=explode``). Scoring such frames would put wrong numbers in a run, so the readers
watch libav's error log around every decode call and fail on any error there.

PyAV drops libav's log by default. The first :func:`watch` sends error-level messages (and only those) to
one capture list held for the life of the process, so they never reach Python's logging or the terminal;
PyAV's own error counter then also counts them. A decode call's errors are the messages that arrive while it
runs: libav decodes on helper threads too, so a message from another decoder running at the same moment in
the same process could be charged to this one (it would fail a clip, never hide a damaged frame).
"""
from __future__ import annotations

from dataclasses import dataclass

_MAX_KEPT = 256  # messages kept between decode calls; the capture list is trimmed beyond this


@dataclass(frozen=True)
class Mark:
    """Where the error log stood before one decode call."""

    count: int  # PyAV's count of error-level messages
    index: int  # length of the capture list


class _Watch:
    """The process-wide capture of libav's error messages (set up on first use, never at import)."""

    def __init__(self) -> None:
        self._capture = None
        self._logs: list | None = None

    def _ensure(self) -> list:
        import av.logging as avlog

        if avlog.get_level() is None:  # PyAV's default: libav's log dropped before it is counted
            avlog.set_level(avlog.ERROR)
        if self._logs is None:
            self._capture = avlog.Capture(local=False)
            self._logs = self._capture.__enter__()
        return self._logs

    def mark(self) -> Mark:
        import av.logging as avlog

        logs = self._ensure()
        if len(logs) > _MAX_KEPT:
            del logs[:]
        return Mark(avlog.get_last_error()[0], len(logs))

    def since(self, mark: Mark) -> str | None:
        """The error messages libav logged after ``mark`` joined on one line, or None if there were none."""
        import av.logging as avlog

        logs = self._ensure()
        count, last = avlog.get_last_error()
        new = [m for level, _, m in logs[mark.index:] if level <= avlog.ERROR] if len(logs) >= mark.index else []
        if count == mark.count and not new:
            return None
        if not new and last is not None:
            new = [last[2]]
        text = "; ".join(" ".join(m.split()) for m in new if m.strip())
        return text[:300] or "libav reported an error"


_WATCH = _Watch()


def mark() -> Mark:
    """Remember the state of libav's error log before a decode call (see :func:`since`)."""
    return _WATCH.mark()


def since(m: Mark) -> str | None:
    """libav's error messages since ``m`` on one line, or None when the decode call logged no error."""
    return _WATCH.since(m)
