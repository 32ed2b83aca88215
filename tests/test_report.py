"""Leaderboard grouping: tables by dataset bytes + conventions, one column per metric variant, random
weights never ranked."""
import json

from infvsr_bench import report


def _summary(method, psnr, version="1", sha="a" * 64, random=False):
    return {
        "method": {"name": method, "track": "online", "random_weights": False},
        "dataset": {"name": "ds", "degradation": "bicubic-x4", "manifest_sha256": sha},
        "max_frames": None, "conventions": {"x": 1}, "comparability_key": "k",
        "metrics": {"psnr": {"label": "psnr", "name": "psnr", "version": version, "unit": "dB",
                             "higher_is_better": True, "params": {"random_weights": True} if random else {},
                             "mean": psnr, "ci95": [psnr - 1, psnr + 1]}},
        "clips": {"ok": 1, "total": 1}, "throughput": {},
    }


def _write(root, name, s):
    d = root / name
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps(s))


def test_variants_get_their_own_columns_and_datasets_their_own_tables(tmp_path):
    _write(tmp_path, "a", _summary("a", 30.0))
    _write(tmp_path, "b", _summary("b", 31.0))
    _write(tmp_path, "c", _summary("c", 40.0, version="2"))  # another metric version: not ranked with v1
    _write(tmp_path, "d", _summary("d", 50.0, sha="b" * 64))  # other dataset bytes: another table
    _write(tmp_path, "e", _summary("e", 99.0, random=True))  # random weights: never a score
    text = report.render_leaderboard(tmp_path, tmp_path / "lb.md")
    assert text.count("## ds · bicubic-x4") == 2
    first = next(part for part in text.split("## ds")[1:] if "| a |" in part)
    assert "[variant 1]" in first and "[variant 2]" in first
    row_b = next(line for line in first.splitlines() if line.startswith("| b |"))
    row_c = next(line for line in first.splitlines() if line.startswith("| c |"))
    assert "**31.00" in row_b and "**40.0" in row_c  # each best within its own column
    row_e = next(line for line in first.splitlines() if line.startswith("| e |"))
    assert "99" not in row_e
    assert report.render_leaderboard(tmp_path, tmp_path / "lb.md") == text
