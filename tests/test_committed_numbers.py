"""CI's committed-numbers check (.ci/committed_numbers.py) on a throw-away git repository."""
from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "committed_numbers.py"


def load():
    spec = importlib.util.spec_from_file_location("committed_numbers", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                   capture_output=True)


def make_repo(root: Path) -> Path:
    run = root / "reports" / "ds" / "m"
    (run / "frames").mkdir(parents=True)
    summary = {"metrics": {"psnr": {"mean": 27.5}, "vmaf": {"mean": 50.0}}, "throughput": {"fps": 100.0}}
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "clips.jsonl").write_text(json.dumps({"clip": "a", "metrics": {"psnr": {"mean": 27.5}}}) + "\n")
    np.savez(run / "frames" / "a.npz", psnr=np.array([27.0, 28.0, np.nan]))
    (root / "leaderboard.md").write_text("# t\n\n| Method | psnr | FPS |\n|---|---|---|\n| m | 27.50 | 100 @ cpu |\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "x")
    return run


def test_unchanged_and_throughput_only_changes_pass(tmp_path):
    mod = load()
    run = make_repo(tmp_path)
    assert mod.main(["--root", str(tmp_path)]) == 0
    s = json.loads((run / "summary.json").read_text())
    s["throughput"]["fps"] = 3.0
    s["metrics"]["vmaf"]["mean"] += 5e-5                      # within libvmaf's printed precision
    (run / "summary.json").write_text(json.dumps(s))
    lb = (tmp_path / "leaderboard.md").read_text().replace("100 @ cpu", "7 @ cpu")
    (tmp_path / "leaderboard.md").write_text(lb)
    assert mod.main(["--root", str(tmp_path)]) == 0


def test_a_changed_number_series_or_missing_file_fails(tmp_path, capsys):
    mod = load()
    run = make_repo(tmp_path)
    s = json.loads((run / "summary.json").read_text())
    s["metrics"]["psnr"]["mean"] += 1e-3
    (run / "summary.json").write_text(json.dumps(s))
    np.savez(run / "frames" / "a.npz", psnr=np.array([27.0, 28.5, np.nan]))
    (run / "clips.jsonl").unlink()
    (tmp_path / "leaderboard.md").write_text((tmp_path / "leaderboard.md").read_text().replace("27.50", "27.60"))
    assert mod.main(["--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "metrics/psnr/mean" in out and "a.npz:psnr" in out and "clips.jsonl: committed, not written" in out
    assert "leaderboard.md:5" in out and "4 difference(s)" in out
