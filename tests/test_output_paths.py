"""Output paths that cannot be written: one line naming the path and the system's reason, no traceback, nothing
half-written. A run folder under a file, a leaderboard or plot target of the wrong kind are refused before
any work (exit 2); a real read-only filesystem and a real full one (a small tmpfs mounted in a user
namespace, where the machine allows it) show the reasons the OS gives and that a failed write keeps the old
file whole and leaves no fragment.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import cli_env, one_line_error, run_cli, tiny_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory)


def _snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() if p.is_file() else None for p in folder.rglob("*")}


def test_targets_of_the_wrong_kind_are_refused_before_any_work(capsys, tmp_path, dataset):
    afile, adir = tmp_path / "afile", tmp_path / "adir"
    afile.write_text("keep me\n")
    adir.mkdir()
    finished = tmp_path / "finished"
    finished.mkdir()
    (finished / "summary.json").write_text("{}\n")  # enough for `plot` to reach its output folder
    before = _snapshot(tmp_path)
    cases = [
        (["run", "--method", "bicubic", "--metrics", "psnr", "--dataset", str(dataset), "--out", f"{afile}/run"],
         f"cannot write run folder {afile}/run: Not a directory ({afile})"),
        (["run", "--method", "bicubic,lanczos", "--metrics", "psnr", "--dataset", str(dataset), "--out",
          f"{afile}/x"], f"cannot write run folder {afile}/x/bicubic: Not a directory"),
        (["leaderboard", "--runs", str(adir), "--output", str(adir)], f"cannot write leaderboard {adir}: Is a directory"),
        (["leaderboard", "--runs", str(adir), "--output", f"{afile}/lb.md"], "Not a directory"),
        (["leaderboard", "--runs", str(adir), "--output", "/dev/full"], "/dev/full: it exists and is not a regular file"),
        (["plot", str(finished), "--out", str(afile)], f"cannot write plot folder {afile}: it exists and is not a folder"),
        (["build-dataset", "synthetic-long", "--data-dir", f"{afile}/d"], "cannot write data folder"),
    ]
    for args, needle in cases:
        code, out, err = run_cli(capsys, *args)
        assert code == 2 and needle in one_line_error(err) and out == "", (args, err)
    assert _snapshot(tmp_path) == before  # nothing created, nothing touched
    assert Path("/dev/full").is_char_device()


def _in_tmpfs(script: str, size_kb: int) -> subprocess.CompletedProcess:
    """Run ``script`` (sh) with $FS a fresh tmpfs of ``size_kb`` KiB, in a user + mount namespace of its own."""
    full = (f'FS=$(mktemp -d) && mount -t tmpfs -o size={size_kb}k tmpfs "$FS" || exit 97\n'
            f'export FS PYTHON={sys.executable}\n{script}')
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", full], env=cli_env(),
                          capture_output=True, text=True, timeout=300)


def _need_namespaces():
    if shutil.which("unshare") is None:
        pytest.skip("unshare not available")
    probe = _in_tmpfs("true", 64)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {probe.stderr.strip()[:200]}")


def test_read_only_filesystem_is_refused_before_work_with_the_os_reason(tmp_path):
    """`run --out` goes through the same check as these two (its wiring is tested above, under a file)."""
    _need_namespaces()
    res = _in_tmpfs(f'''mkdir "$FS/data" && mount -o remount,ro "$FS" || exit 98
"$PYTHON" -m infvsr_bench build-dataset synthetic-long --max-frames 2 --data-dir "$FS/data/new"
echo "rc=$?"
"$PYTHON" -m infvsr_bench leaderboard --runs {tmp_path} --output "$FS/leaderboard.md"
echo "rc=$?"
ls -A "$FS/data"
''', 64)
    assert res.stdout.splitlines() == ["rc=2", "rc=2"], res.stdout + res.stderr  # and nothing new in the folder
    errors = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(errors) == 2 and all(e.startswith("error: cannot write ") for e in errors), res.stderr
    assert all("Read-only file system" in e for e in errors) and "/data/new" in errors[0]


def test_full_disk_keeps_the_old_file_whole_and_leaves_no_fragment(tmp_path):
    _need_namespaces()
    (tmp_path / "runs").mkdir()
    res = _in_tmpfs(f'''printf 'old leaderboard\\n' > "$FS/leaderboard.md"
dd if=/dev/zero of="$FS/filler" bs=1k count=1000 2>/dev/null
"$PYTHON" -m infvsr_bench leaderboard --runs {tmp_path / "runs"} --output "$FS/leaderboard.md"
echo "rc=$?"
cat "$FS/leaderboard.md"
ls -A "$FS"
''', 32)
    out = res.stdout.splitlines()
    assert out[0] == "rc=1", res.stdout + res.stderr
    line = one_line_error(res.stderr)
    assert "leaderboard.md: No space left on device" in line and ".tmp" not in line
    assert out[1] == "old leaderboard"  # the previous file is whole
    assert sorted(out[2:]) == ["filler", "leaderboard.md"]  # no temporary fragment left
