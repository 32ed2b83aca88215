"""Progress lines for non-interactive shells: a long step says how far it is, at a steady interval.

A tqdm bar is the right thing on a terminal, but in a CI log or a file it is either absent or one unreadable
line. When stderr is not a terminal, long steps (the clip loop of ``run``, writing the clips of
``build-dataset``) log a line like::

    bicubic on synthetic-long: clip 2/3 clip-002 640/2000 frames; 2640/6000 frames (44%), 41.2 frames/s, ETA 1m21s

at most once per interval (``$INFVSR_BENCH_PROGRESS_S`` seconds, default 10; 0 = a line for every chunk), plus
one line when a part (a clip) ends. Lines go to the ``infvsr_bench.progress`` logger at INFO, which the CLI
prints on stderr; ``-v`` adds per-clip detail at DEBUG.
"""
from __future__ import annotations

import logging
import math
import os
import time
from typing import Callable

from .errors import BadInput

log = logging.getLogger(__name__)

ENV = "INFVSR_BENCH_PROGRESS_S"
DEFAULT_INTERVAL_S = 10.0


def interval_s() -> float:
    """Seconds between progress lines, from ``$INFVSR_BENCH_PROGRESS_S`` (default 10; 0 = every update)."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        value = float(raw)
    except ValueError:
        raise BadInput(f"{ENV}={raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise BadInput(f"{ENV}={raw!r} must be a finite number of seconds >= 0")
    return value


def duration(seconds: float) -> str:
    """'42s', '3m05s', '1h02m' — short enough for a log line."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class ProgressLog:
    """Counts work done (frames) against a known total and logs a line when the interval has passed.

    ``begin(name, total)`` starts a part (a clip) and ``end()`` closes it; ``advance(k)`` adds k units to the
    current part and to the whole. The rate is over the whole step so far, so the ETA is steady.
    """

    def __init__(self, what: str, total: int, parts: int = 1, unit: str = "frames",
                 interval: float | None = None, clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger = log):
        self.what, self.total, self.parts, self.unit = what, max(0, int(total)), parts, unit
        self.interval = interval_s() if interval is None else interval
        self.clock, self.log = clock, logger
        self.done = 0
        self.part_index = 0
        self.part_name: str | None = None
        self.part_total = self.part_done = 0
        self.start = self.last = self.part_start = clock()

    def begin(self, name: str, total: int) -> None:
        self.part_index += 1
        self.part_name, self.part_total, self.part_done = name, int(total), 0
        self.part_start = self.clock()

    def advance(self, k: int) -> None:
        self.done += k
        self.part_done += k
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self.log.info("%s", self.line(now))

    def end(self, detail: str = "") -> None:
        """One line for the finished part; ``detail`` (e.g. its scores) is logged at DEBUG (``-v``)."""
        took = self.clock() - self.part_start
        rate = self.part_done / took if took > 0 else math.inf
        self.log.info("%s: %s %s done: %d %s in %s (%.1f %s/s)", self.what, self._part(), self.part_name,
                      self.part_done, self.unit, duration(took), rate, self.unit)
        if detail:
            self.log.debug("%s: %s %s", self.what, self.part_name, detail)

    def _part(self) -> str:
        return f"clip {self.part_index}/{self.parts}" if self.parts > 1 or self.part_index > 1 else "clip"

    def line(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = self.total - self.done
        eta = duration(left / rate) if rate > 0 else "?"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        head = self.what
        if self.part_name is not None:
            head += f": {self._part()} {self.part_name} {self.part_done}/{self.part_total} {self.unit};"
        else:
            head += ":"
        return f"{head} {self.done}/{self.total} {self.unit} ({pct:.0f}%), {rate:.1f} {self.unit}/s, ETA {eta}"
