"""Run one external program under a time limit, in its own process group, and time it.

Failures come back as :class:`~infvsr_bench.errors.MethodError` with a reason a person can act on: the
program could not start, exited non-zero or was killed by a signal (with the tail of its stderr), or ran
past its time limit (the whole process group is then killed: SIGTERM, then SIGKILL after a grace period).
Leftover processes of the group are killed after a normal exit too, so no worker outlives its run. When the
wait itself is interrupted (Ctrl-C, or SIGTERM turned into an exception by the CLI) the group is stopped the
same way before the interruption goes on: a program in its own session never sees the terminal's Ctrl-C, so
nothing else would stop it.

The wall time is measured around the process; the *startup* time (loading weights, building engines) is
taken from the program's own output when the card gives a regex: the time the first matching line arrived,
or the number the regex captures as ``(?P<seconds>...)`` when the program reports it.
"""
from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass

from ..errors import MethodError

log = logging.getLogger(__name__)

GRACE_S = 2.0  # between SIGTERM and SIGKILL of a timed-out process group
TAIL_LINES = 12
TAIL_CHARS = 1500


@dataclass(frozen=True)
class ProgramRun:
    """What one finished run of a program measured."""

    seconds: float  # wall time from spawn to exit
    startup_seconds: float | None  # None when the card has no startup regex or no line matched


def tail_text(lines: deque[str] | list[str]) -> str:
    """Last lines joined on one line (records and Markdown tables hold single lines)."""
    text = " | ".join(x for x in lines if x.strip())
    return text if len(text) <= TAIL_CHARS else "…" + text[-TAIL_CHARS:]


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_group(pgid: int) -> None:
    """SIGTERM to the whole group, then up to GRACE_S for its leader to exit (the caller SIGKILLs the rest)."""
    _kill_group(pgid, signal.SIGTERM)
    grace = time.perf_counter() + GRACE_S
    while not _exited(pgid) and time.perf_counter() < grace:
        time.sleep(0.02)


def _exited(pid: int) -> bool:
    """True once the process has exited, without reaping it (its group id stays reserved meanwhile)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def run_program(argv: list[str], cwd: str | None, env: dict[str, str] | None, timeout_s: float,
                startup_regex: str | None = None) -> ProgramRun:
    """Run ``argv`` to completion; :class:`MethodError` on any failure (see module docstring)."""
    pattern = re.compile(startup_regex) if startup_regex else None
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, cwd=cwd or None, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        raise MethodError(f"cannot start {argv[0]}: {exc}") from exc
    tails = {"stdout": deque(maxlen=TAIL_LINES), "stderr": deque(maxlen=TAIL_LINES)}
    startup: list[float] = []

    def pump(stream, name: str) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            tails[name].append(line)
            log.debug("%s %s: %s", os.path.basename(argv[0]), name, line)
            if pattern is not None and not startup:
                m = pattern.search(line)
                if m:
                    got = m.groupdict().get("seconds")
                    startup.append(float(got) if got else time.perf_counter() - t0)
        stream.close()

    readers = [threading.Thread(target=pump, args=(proc.stdout, "stdout"), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, "stderr"), daemon=True)]
    for t in readers:
        t.start()
    deadline = t0 + timeout_s
    timed_out = False
    try:
        while not _exited(proc.pid):
            if time.perf_counter() > deadline:
                timed_out = True
                _stop_group(proc.pid)
                break
            time.sleep(0.02)
    except BaseException:  # interrupted while waiting: the program and its workers go first
        try:
            _stop_group(proc.pid)
        finally:  # even if a second interruption cuts the grace period short
            _kill_group(proc.pid, signal.SIGKILL)
            os.waitpid(proc.pid, 0)
            proc.returncode = -1  # reaped here; keep Popen from waiting again
        raise
    seconds = time.perf_counter() - t0
    _kill_group(proc.pid, signal.SIGKILL)  # the rest of the group (or all of it, on a timeout)
    _, status = os.waitpid(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
    for t in readers:
        t.join(timeout=5)
    tail = tail_text(tails["stderr"]) or tail_text(tails["stdout"])
    where = f"; last output: {tail}" if tail else ""
    if timed_out:
        raise MethodError(f"timed out after {timeout_s:g} s (process group killed){where}")
    rc = proc.returncode
    if rc < 0:
        raise MethodError(f"program killed by signal {signal.Signals(-rc).name}{where}")
    if rc != 0:
        raise MethodError(f"program exited with code {rc}{'; stderr tail: ' + tail if tail else ''}")
    return ProgramRun(seconds=seconds, startup_seconds=startup[0] if startup else None)
