"""Progress lines in a non-interactive shell: a steady interval, frames done / total, rate and ETA."""
from __future__ import annotations

import logging
import re
import subprocess
import sys

import pytest

from infvsr_bench import progress
from infvsr_bench.errors import BadInput

from .helpers import one_line_error, run_cli


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(autouse=True)
def _capture_progress(caplog):
    caplog.set_level(logging.DEBUG, logger="infvsr_bench.progress")


def _log(caplog):
    return [r for r in caplog.records if r.name == "infvsr_bench.progress"]


def test_lines_come_at_the_interval_with_rate_and_eta(caplog):
    clock = _Clock()
    lines = progress.ProgressLog("m on d", total=100, parts=2, interval=10, clock=clock)
    lines.begin("a", 50)
    for _ in range(5):  # 10 frames every 5 s: a line once 10 s have passed since the last one
        clock.t += 5
        lines.advance(10)
    msgs = [r.getMessage() for r in _log(caplog)]
    assert msgs == ["m on d: clip 1/2 a 20/50 frames; 20/100 frames (20%), 2.0 frames/s, ETA 40s",
                    "m on d: clip 1/2 a 40/50 frames; 40/100 frames (40%), 2.0 frames/s, ETA 30s"]
    lines.end("psnr 30")
    records = _log(caplog)[2:]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.INFO, "m on d: clip 1/2 a done: 50 frames in 25s (2.0 frames/s)"),
        (logging.DEBUG, "m on d: a psnr 30")]  # the detail is for -v only


def test_interval_zero_gives_a_line_per_update(caplog):
    lines = progress.ProgressLog("build x", total=7, interval=0, clock=_Clock())
    for k in (3, 3, 1):
        lines.advance(k)
    assert [r.getMessage().split(": ", 1)[1].split(" (")[0] for r in _log(caplog)] == [
        "3/7 frames", "6/7 frames", "7/7 frames"]


@pytest.mark.parametrize("raw", ["soon", "-1", "nan", "inf"])
def test_a_bad_interval_is_bad_input(monkeypatch, capsys, raw):
    monkeypatch.setenv(progress.ENV, raw)
    with pytest.raises(BadInput, match=progress.ENV):
        progress.interval_s()
    code, _, err = run_cli(capsys, "list", "methods")
    assert code == 2 and progress.ENV in one_line_error(err)


def test_duration_is_short():
    assert [progress.duration(s) for s in (0.4, 59, 61, 3599, 3725)] == ["0s", "59s", "1m01s", "59m59s", "1h02m"]


def test_run_in_a_non_interactive_shell_logs_a_line_per_chunk(tmp_path, monkeypatch):
    """The CLI in a subprocess with stderr piped (not a TTY), interval 0: one line per scored chunk of 4
    frames (4 + 4 + 2 per clip), a 'done' line per clip, and with -v each clip's scores."""
    monkeypatch.setenv(progress.ENV, "0")
    res = subprocess.run([sys.executable, "-m", "infvsr_bench", "-v", "run", "--method", "bicubic:chunk_frames=4",
                          "--metrics", "psnr", "--max-frames", "10", "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    err = res.stderr.splitlines()
    built = [x for x in err if re.search(r"INFO infvsr_bench\.progress: building synthetic-long/\S+: 10/10 frames", x)]
    assert len(built) == 3  # the dataset was built first (one 10-frame write per clip)
    frames = [re.search(r"clip (\d)/3 (\S+) (\d+)/10 frames; (\d+)/30 frames \(\d+%\), [\d.]+ frames/s, ETA", x)
              for x in err if "INFO infvsr_bench.progress: bicubic on synthetic-long: clip" in x and "done" not in x]
    assert all(frames) and len(frames) == 9
    assert [(int(f[1]), int(f[3]), int(f[4])) for f in frames] == [
        (c, k, 10 * (c - 1) + k) for c in (1, 2, 3) for k in (4, 8, 10)]
    done = [x for x in err if re.search(r"INFO infvsr_bench\.progress: .*clip \d/3 \S+ done: 10 frames in", x)]
    assert len(done) == 3
    detail = [x for x in err if re.search(r"DEBUG infvsr_bench\.progress: bicubic on synthetic-long: \S+ psnr \d", x)]
    assert len(detail) == 3
    assert "psnr" in res.stdout and "progress" not in res.stdout  # results on stdout, progress on stderr
