"""Ctrl-C and SIGTERM during an external method: a real ``infvsr-bench run`` process gets a real signal while
the method's program (in its own session, so the terminal's Ctrl-C never reaches it) hangs with a child of
its own; the run exits 130 / 143, the program's whole process group is gone and its temp files are removed.
"""
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import cli_env, tiny_dataset
from .test_external import write_card


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory)


def _gone(pid: int) -> bool:
    """The process no longer runs (absent, or a zombie left for init to reap)."""
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" in status.read_text()
    except FileNotFoundError:
        return True


def _wait_for(pidfile: Path, proc: subprocess.Popen) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        if text.isdigit():
            return int(text)
        if proc.poll() is not None:
            pytest.fail(f"run ended before the program hung: {proc.communicate()[1]}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the program never started")


def test_signals_stop_the_program_group_and_remove_temp_files(tmp_path, dataset):
    """SIGINT and SIGTERM, each to its own run (the two run side by side to halve the wait)."""
    runs = {}
    for sig, code, word in ((signal.SIGINT, 130, "aborted"), (signal.SIGTERM, 143, "terminated")):
        folder = tmp_path / sig.name
        folder.mkdir()
        card = write_card(folder, timeout=600)
        work, pidfile = folder / "work", folder / "child.pid"
        argv = [sys.executable, "-m", "infvsr_bench", "run", "--method",
                f"external:card={card}:mode=hang:tmp_dir={work}", "--dataset", str(dataset), "--metrics", "psnr",
                "--out", str(folder / "r")]
        # a shell may start background jobs with SIGINT ignored; the default lets Python turn it into Ctrl-C
        proc = subprocess.Popen(argv, env=cli_env(FAKE_VSR_PIDFILE=str(pidfile)), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        runs[sig] = (proc, code, word, work, pidfile)
    leaders = []
    try:
        for sig, (proc, code, word, work, pidfile) in runs.items():
            child = _wait_for(pidfile, proc)  # the program's own worker
            program = os.getpgid(child)  # the program leads its process group (its own session)
            leaders.append(program)
            assert program not in (proc.pid, os.getpgid(0)) and not _gone(program)
            assert list(work.iterdir()), "the hand-off temp folder exists while the program runs"
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == code, err
            assert word in err and "Traceback" not in err
            assert _gone(program) and _gone(child)
            assert list(work.iterdir()) == []  # the adapter's temp folder, hand-off included, is removed
    finally:  # never leave a hung program or run behind, whatever failed above
        for program in leaders:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(program, signal.SIGKILL)
        for proc, *_ in runs.values():
            if proc.poll() is None:
                proc.kill()
