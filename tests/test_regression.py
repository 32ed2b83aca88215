"""`infvsr-bench check`: a run reproduces its baseline; any moved number or changed convention fails."""
import json

import pytest

from .helpers import run_cli

_cli = run_cli


@pytest.fixture
def run_dir(capsys, tmp_path):
    d = tmp_path / "run"
    assert _cli(capsys, "run", "--method", "bicubic", "--metrics", "psnr,ssim", "--max-frames", "5",
                "--out", str(d))[0] == 0
    return d


def test_baseline_round_trip_and_regressions(capsys, tmp_path, run_dir):
    base = tmp_path / "baseline.json"
    assert _cli(capsys, "check", "--baseline", str(base), "--run", str(run_dir), "--update")[0] == 0
    code, out, _ = _cli(capsys, "check", "--baseline", str(base), "--run", str(run_dir))
    assert code == 0 and "8 of 8 numbers within tolerance" in out

    data = json.loads(base.read_text())
    clip = sorted(data["metrics"]["psnr"]["per_clip"])[0]
    data["metrics"]["psnr"]["per_clip"][clip] += 0.01  # a number moved
    base.write_text(json.dumps(data))
    code, out, err = _cli(capsys, "check", "--baseline", str(base), "--run", str(run_dir))
    assert code == 1 and "REGRESSION" in out and "1 changed" in out and err.startswith("error:")
    code, out, _ = _cli(capsys, "check", "--baseline", str(base), "--run", str(run_dir), "--tolerance", "psnr=0.02")
    assert code == 0

    data["comparability_key"] = "0000"
    base.write_text(json.dumps(data))
    code, out, _ = _cli(capsys, "check", "--baseline", str(base), "--run", str(run_dir), "--tolerance", "psnr=1")
    assert code == 1 and "comparability key differs" in out


@pytest.mark.parametrize("args,needle", [
    (["--tolerance", "psnr"], "METRIC=ABS"),
    (["--tolerance", "psnr=-1"], "METRIC=ABS"),
    (["--tolerance", "lpips=0.1"], "not in the baseline"),
])
def test_bad_check_arguments_exit_2(capsys, tmp_path, run_dir, args, needle):
    base = tmp_path / "b.json"
    _cli(capsys, "check", "--baseline", str(base), "--run", str(run_dir), "--update")
    code, _, err = _cli(capsys, "check", "--baseline", str(base), "--run", str(run_dir), *args)
    assert code == 2 and needle in err and err.count("\n") == 1


def test_missing_baseline_or_run_exit_2(capsys, tmp_path, run_dir):
    code, _, err = _cli(capsys, "check", "--baseline", str(tmp_path / "nope.json"), "--run", str(run_dir))
    assert code == 2 and "baseline not found" in err
    code, _, err = _cli(capsys, "check", "--baseline", str(tmp_path / "nope.json"), "--run", str(tmp_path))
    assert code == 2 and "no summary.json" in err
