"""The command line: bad input is one line on stderr and exit 2 before any work; results on stdout."""
import json
import shutil

import pytest

from infvsr_bench import datasets

from .helpers import one_line_error, run_cli

_cli = run_cli


_one_line_error = one_line_error


@pytest.mark.parametrize("args,needle", [
    (["run", "--method", "bicubc"], "did you mean 'bicubic'"),
    (["run", "--method", "bicubic", "--metrics", "psnrr"], "did you mean 'psnr'"),
    (["run", "--method", "bicubic", "--dataset", "synthetic-lng"], "did you mean"),
    (["run", "--method", "bicubic", "--max-frames", "0"], "--max-frames must be at least 1"),
    (["run", "--method", "bicubic", "--device", "tpu"], "unknown device"),
    (["run", "--method", "bicubic", "--metrics", "psnr:color"], "expected key=value"),
    (["run", "--method", "bicubic", "--metrics", "psnr:colour=rgb"], "psnr"),
    (["run", "--bogus-flag"], "No such option"),
    (["list", "widgets"], "widgets"),
    (["build-dataset", "nope-recipe"], "unknown dataset"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, args, needle):
    code, out, err = _cli(capsys, *args, *(["--out", str(tmp_path / "r")] if args[0] == "run"
                                           and "--bogus-flag" not in args else []))
    assert code == 2
    assert needle in _one_line_error(err)
    assert not (tmp_path / "r").exists()


def test_run_prints_results_and_json(capsys, tmp_path):
    code, out, err = _cli(capsys, "run", "--method", "bicubic", "--max-frames", "6", "--out", str(tmp_path / "r"),
                          "--json")
    assert code == 0
    summary = json.loads(out)[0]
    assert summary["method"]["name"] == "bicubic" and summary["clips"]["ok"] == 3
    code, out, err = _cli(capsys, "run", "--method", "bicubic", "--max-frames", "6", "--out", str(tmp_path / "r"),
                          "--resume")
    assert code == 0 and "psnr" in out and "3/3 clips ok" in out


def test_output_folder_holding_another_run_is_refused(capsys, tmp_path):
    out_dir = tmp_path / "r"
    assert _cli(capsys, "run", "--method", "bicubic", "--max-frames", "4", "--out", str(out_dir))[0] == 0
    before = {p.name: p.read_bytes() for p in out_dir.iterdir() if p.is_file()}
    code, _, err = _cli(capsys, "run", "--method", "bicubic", "--max-frames", "5", "--out", str(out_dir))
    assert code == 2 and "holds a different run" in _one_line_error(err)
    code, _, err = _cli(capsys, "run", "--method", "bicubic", "--max-frames", "4", "--out", str(out_dir))
    assert code == 2 and "--resume" in _one_line_error(err)
    assert {p.name: p.read_bytes() for p in out_dir.iterdir() if p.is_file()} == before
    assert _cli(capsys, "run", "--method", "bicubic", "--max-frames", "4", "--out", str(out_dir), "--overwrite")[0] == 0


def _flip_bytes(path, offset_frac=0.5):
    data = bytearray(path.read_bytes())
    i = int(len(data) * offset_frac)
    data[i:i + 64] = bytes(255 - b for b in data[i:i + 64])
    path.write_bytes(bytes(data))


def test_corrupt_dataset_video_is_refused_before_work(capsys, tmp_path):
    m = datasets.resolve("synthetic-long", max_frames=4)
    lr = f"{m['root']}/{m['clips'][0]['lr']['path']}"
    _flip_bytes(__import__("pathlib").Path(lr))
    code, _, err = _cli(capsys, "run", "--method", "bicubic", "--max-frames", "4", "--out", str(tmp_path / "r"))
    assert code == 2 and m["clips"][0]["id"] in _one_line_error(err)
    assert not (tmp_path / "r").exists()


def test_missing_dataset_video_is_refused(capsys, tmp_path):
    m = datasets.resolve("synthetic-long", max_frames=4)
    __import__("os").remove(f"{m['root']}/{m['clips'][1]['hr']['path']}")
    code, _, err = _cli(capsys, "run", "--method", "bicubic", "--dataset", m["root"], "--out", str(tmp_path / "r"))
    assert code == 2 and m["clips"][1]["id"] in _one_line_error(err)


def test_scale_mismatch_is_refused(capsys, tmp_path):
    code, _, err = _cli(capsys, "run", "--method", "bicubic", "--max-frames", "4", "--out", str(tmp_path / "r"))
    assert code == 0
    # a method at x2 cannot run on an x4 dataset
    from infvsr_bench import runner

    with pytest.raises(Exception, match="x2"):
        runner.prepare(runner.RunSpec(method="bicubic", method_params={"scale": 2}, max_frames=4,
                                      out=tmp_path / "s", progress=False))


def test_list_commands(capsys):
    code, out, _ = _cli(capsys, "list", "methods")
    assert code == 0 and "bicubic" in out and "lanczos" in out
    code, out, _ = _cli(capsys, "list", "metrics")
    assert code == 0 and "psnr" in out and "ssim" in out
    code, out, _ = _cli(capsys, "list", "datasets")
    assert code == 0 and "synthetic-long" in out and "synthetic-long-real" in out


def test_leaderboard_regenerates_and_checks(capsys, tmp_path):
    runs = tmp_path / "runs"
    for method in ("bicubic", "lanczos"):
        assert _cli(capsys, "run", "--method", method, "--max-frames", "4", "--runs-root", str(runs))[0] == 0
    board = tmp_path / "leaderboard.md"
    assert _cli(capsys, "leaderboard", "--runs", str(runs), "--output", str(board))[0] == 0
    text = board.read_text()
    assert "| bicubic |" in text.replace("**", "") and "lanczos" in text and "psnr (dB) ↑" in text
    assert text.count("**") >= 4  # a best value per metric column is marked
    assert _cli(capsys, "leaderboard", "--runs", str(runs), "--output", str(board), "--check")[0] == 0
    board.write_text(text.replace("lanczos", "lanczoz"))
    code, _, err = _cli(capsys, "leaderboard", "--runs", str(runs), "--output", str(board), "--check")
    assert code == 1 and "stale" in err
    shutil.copy(board, tmp_path / "copy.md")
    assert _cli(capsys, "leaderboard", "--runs", str(runs), "--output", str(board))[0] == 0
    assert board.read_text() == text  # deterministic


def test_module_entry_point_and_exit_code():
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "infvsr_bench", "list", "methods"], capture_output=True, text=True)
    assert res.returncode == 0 and "bicubic" in res.stdout
    res = subprocess.run([sys.executable, "-m", "infvsr_bench", "run", "--method", "nope"], capture_output=True,
                         text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and res.stdout == ""


def test_a_bad_second_method_leaves_nothing_written(capsys, tmp_path):
    out_dir = tmp_path / "r"
    assert _cli(capsys, "run", "--method", "bicubic", "--metrics", "psnr", "--max-frames", "3",
                "--out", str(out_dir / "bicubic"))[0] == 0
    before = {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}
    code, _, err = _cli(capsys, "run", "--method", "bicubic,nope", "--metrics", "psnr", "--max-frames", "3",
                        "--out", str(out_dir), "--overwrite")
    assert code == 2 and "unknown method 'nope'" in err
    assert {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()} == before
