"""A run folder cannot lie: torn clip lines (a writer killed, a file that cannot grow), records and frames/ that
disagree, and two processes on one folder. Each fault is provoked for real: a real file size limit and the
signal it raises, real second processes, a real kill -9."""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from infvsr_bench import datasets, records

from .helpers import one_line_error, run_cli

N = 3


@pytest.fixture(scope="module")
def manifest_path(tmp_path_factory):
    """A 3-frame build of the default recipe, shared by the module (the tests only read it)."""
    return datasets.build("synthetic-long", max_frames=N, data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def complete(manifest_path, tmp_path_factory):
    """A finished bicubic run, shared by the module: tests that damage a run copy it first."""
    from infvsr_bench import runner

    spec = runner.RunSpec(method="bicubic", dataset=str(manifest_path), metrics=["psnr"],
                          out=tmp_path_factory.mktemp("complete") / "r", progress=False)
    return runner.execute(runner.prepare(spec)).run_dir


def _copy(run, tmp_path):
    return shutil.copytree(run, tmp_path / "r")


def _run(capsys, manifest_path, out, *extra, method="bicubic"):
    return run_cli(capsys, "run", "--method", method, "--dataset", str(manifest_path), "--metrics", "psnr",
                   "--out", str(out), *extra)


def _metrics(run_dir):
    return json.loads((run_dir / "summary.json").read_text())["metrics"]


def _python(code: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=120, **kw)


def _append_under_size_limit(run_dir, record, limit, die: bool) -> subprocess.CompletedProcess:
    """Append ``record`` in a real second process whose files cannot grow past ``limit`` bytes (RLIMIT_FSIZE):
    the kernel writes up to the limit, then refuses with EFBIG and SIGXFSZ. ``die``: SIGXFSZ kills the writer
    mid-line (the kernel's default action), else it is ignored and the write fails with an OSError."""
    resource = pytest.importorskip("resource")
    if not hasattr(signal, "SIGXFSZ") or not hasattr(resource, "RLIMIT_FSIZE"):
        pytest.skip("no file size limit on this OS")
    return _python(f"""
        import json, resource, signal, sys
        from infvsr_bench import records
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL if {die} else signal.SIG_IGN)  # Python ignores it by default
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        try:
            records.append_clip({str(run_dir)!r}, json.loads({json.dumps(json.dumps(record))}))
        except OSError as exc:
            print("errno", exc.errno)
    """)


def test_a_writer_killed_mid_line_leaves_a_torn_record_that_resume_recomputes(capsys, manifest_path, complete,
                                                                              tmp_path):
    run = _copy(complete, tmp_path)
    whole = _metrics(run)
    log = run / "clips.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    last = json.loads(lines[-1])
    log.write_bytes(b"".join(lines[:-1]))  # the last clip's line was being appended when ...
    before = log.stat().st_size
    res = _append_under_size_limit(run, last, before + len(lines[-1]) // 2, die=True)
    assert res.returncode == -signal.SIGXFSZ, res  # ... the writer died, half its line on disk
    torn = log.read_bytes()
    assert len(torn) > before and not torn.endswith(b"\n")
    assert last["clip"] not in {c["clip"] for c in records.read_clips(run)}  # the torn record is not trusted

    code, out, err = _run(capsys, manifest_path, run, "--resume")
    assert code == 0 and "3/3 clips ok" in out
    assert _metrics(run) == whole  # same numbers as the uninterrupted run: no clip lost, none counted twice
    data = log.read_bytes()
    assert data.endswith(b"\n") and all(records._parse_line(x) for x in data.splitlines(keepends=True))
    assert [c["clip"] for c in records.read_clips(run)].count(last["clip"]) == 1


def test_an_append_that_fails_part_way_leaves_no_partial_line(tmp_path):
    records.append_clip(tmp_path, {"clip": "a", "status": "ok", "frames": 1})
    before = (tmp_path / "clips.jsonl").read_bytes()
    res = _append_under_size_limit(tmp_path, {"clip": "b", "status": "ok", "note": "x" * 400}, len(before) + 100,
                                   die=False)
    assert res.returncode == 0 and "errno 27" in res.stdout, res  # EFBIG: the file could not grow
    assert (tmp_path / "clips.jsonl").read_bytes() == before  # the 100 bytes that went in were cut back
    records.append_clip(tmp_path, {"clip": "b", "status": "ok", "frames": 1})
    assert [c["clip"] for c in records.read_clips(tmp_path)] == ["a", "b"]


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A real 256 KiB tmpfs (root only, where mounting is allowed; else the test is skipped with the reason)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "fs"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True,
                         text=True)
    if res.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_an_append_on_a_full_disk_leaves_no_partial_line(tiny_filesystem):
    fs = tiny_filesystem
    records.append_clip(fs, {"clip": "a", "status": "ok", "pad": "x" * 3850})  # most of one 4 KiB page
    before = (fs / "clips.jsonl").read_bytes()
    assert 3900 < len(before) < 4096
    fd = os.open(fs / "filler", os.O_WRONLY | os.O_CREAT)
    with pytest.raises(OSError) as full:  # take every other page of the filesystem
        while True:
            os.write(fd, b"\0" * 65536)
    os.close(fd)
    assert full.value.errno == errno.ENOSPC
    with pytest.raises(OSError) as exc:  # the line's start fits in the page, its end does not
        records.append_clip(fs, {"clip": "b", "status": "ok", "pad": "y" * 800})
    assert exc.value.errno == errno.ENOSPC
    assert (fs / "clips.jsonl").read_bytes() == before  # what went in was cut back: no partial line
    (fs / "filler").unlink()  # space again: the next append lands on a line of its own
    records.append_clip(fs, {"clip": "b", "status": "ok", "pad": "y" * 800})
    assert [c["clip"] for c in records.read_clips(fs)] == ["a", "b"]


def test_a_record_that_fails_its_checksum_is_not_trusted(tmp_path):
    records.append_clip(tmp_path, {"clip": "a", "status": "ok", "metrics": {"psnr": {"mean": 28.05}}})
    records.append_clip(tmp_path, {"clip": "b", "status": "ok", "metrics": {"psnr": {"mean": 26.15}}})
    log = tmp_path / "clips.jsonl"
    log.write_text(log.read_text().replace("28.05", "29.05"))  # still valid JSON, but not what was written
    assert [c["clip"] for c in records.read_clips(tmp_path)] == ["b"]
    log.write_bytes(log.read_bytes() + b'{"clip": "c", "sta')  # a torn tail is cut before the next append
    records.append_clip(tmp_path, {"clip": "d", "status": "ok"})
    assert [c["clip"] for c in records.read_clips(tmp_path)] == ["b", "d"]


def test_records_and_frames_that_disagree_make_resume_recompute(capsys, caplog, manifest_path, complete,
                                                                tmp_path):
    run = _copy(complete, tmp_path)
    whole = _metrics(run)
    a, b, c = (x["clip"] for x in sorted(records.read_clips(run), key=lambda r: r["clip"]))
    frames = run / "frames"
    (frames / f"{a}.npz").unlink()  # missing
    shutil.copy(frames / f"{c}.npz", frames / f"{b}.npz")  # a valid file, but not b's series
    kept = (frames / f"{c}.npz").stat().st_mtime_ns
    code, _, _ = _run(capsys, manifest_path, run, "--resume")
    assert code == 0 and f"clip {a}: its per-frame series" in caplog.text and f"clip {b}:" in caplog.text
    assert (frames / f"{c}.npz").stat().st_mtime_ns == kept  # the intact clip was not redone
    assert all(records.frames_intact(run, r) for r in records.read_clips(run))
    assert _metrics(run) == whole
    (frames / f"{c}.npz").write_bytes(b"PK\x03\x04 not an npz")  # unreadable
    code, out, _ = _run(capsys, manifest_path, run, "--resume")
    assert code == 0 and _metrics(run) == whole and records.frames_intact(
        run, next(r for r in records.read_clips(run) if r["clip"] == c))


def test_a_folder_held_by_another_process_is_refused_and_kill_9_frees_it(capsys, manifest_path, tmp_path):
    run = tmp_path / "r"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom infvsr_bench.runlock import RunFolderLock\n"
         f"RunFolderLock({str(run)!r}).acquire()\nprint('held', flush=True)\ntime.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = _run(capsys, manifest_path, run)
        assert code == 2 and f"in use by another process (pid {holder.pid})" in one_line_error(err)
        assert [p.name for p in run.iterdir()] == [".lock"]  # nothing of the refused run was written
    finally:
        holder.send_signal(signal.SIGKILL)  # the holder dies without any chance to clean up
        holder.wait(timeout=30)
    assert holder.returncode == -signal.SIGKILL
    assert _run(capsys, manifest_path, run)[0] == 0  # the kernel let the lock go with the process


def test_a_run_written_by_another_process_after_prepare_is_seen_under_the_lock(manifest_path, tmp_path):
    """What each folder holds is decided again once it is held: B prepared while the folder was empty, A ran
    into it meanwhile (another process, in the field), and B is refused instead of mixing its rows into A's."""
    from infvsr_bench import runner
    from infvsr_bench.errors import BadInput

    def prepared(method):
        return runner.prepare(runner.RunSpec(method=method, dataset=str(manifest_path), metrics=["psnr"],
                                             max_frames=2, out=tmp_path / "r", progress=False))

    a, b = prepared("bicubic"), prepared("lanczos")
    assert runner.execute(a).exit_code == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()}
    with pytest.raises(BadInput, match="holds a different run"):
        runner.execute(b)
    assert {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()} == before
    assert b.lock is None  # and the folder was let go


@pytest.mark.slow
def test_two_runs_started_together_into_one_folder(manifest_path, tmp_path):
    """bicubic and lanczos into the same --out at once: one runs, the other exits 2 with one line (the folder
    is in use, or already holds the other method's run), and the folder holds one method's run only. (Slow:
    two fresh interpreters; the test above and the kill -9 test cover the same locking in the default run.)"""
    out = tmp_path / "r"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = {m: subprocess.Popen([sys.executable, "-m", "infvsr_bench", "run", "--method", m, "--dataset",
                                  str(manifest_path), "--metrics", "psnr", "--max-frames", "2", "--out", str(out)],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for m in ("bicubic", "lanczos")}
    deadline = time.monotonic() + 300
    results = {m: p.communicate(timeout=max(1, deadline - time.monotonic())) + (p.returncode,)
               for m, p in procs.items()}
    codes = sorted(r[2] for r in results.values())
    assert codes == [0, 2], results
    winner = next(m for m, r in results.items() if r[2] == 0)
    loser_err = next(r[1] for r in results.values() if r[2] == 2)
    assert "in use by another process" in one_line_error(loser_err) or "different run" in loser_err
    assert records.read_json(out / "run.json")["method"]["info"]["name"] == winner
    assert records.read_json(out / "summary.json")["method"]["name"] == winner
    ids = [json.loads(x)["clip"] for x in (out / "clips.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 3  # every clip once
