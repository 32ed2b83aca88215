"""What is reported about runs cannot mislead: `check` compares identity and clip sets, a baseline is not written
from an incomplete run by accident, a bad summary does not take the leaderboard down, incomplete runs are never
ranked with complete ones, --json is strict JSON, and `plot` says when there is nothing to draw."""
import json
import logging
import shutil

import pytest

from infvsr_bench import datasets
from infvsr_bench.methods.interpolation import Bicubic

from .helpers import one_line_error, run_cli


@pytest.fixture(scope="module")
def manifest_path(tmp_path_factory):
    return datasets.build("synthetic-long", max_frames=2, data_dir=tmp_path_factory.mktemp("data"))


def _failing(victims):
    class Broken(Bicubic):
        def reset(self, meta=None):
            self.clip = meta["clip"]

        def step(self, lr_chunk):
            if victims is None or self.clip in victims:
                raise RuntimeError("simulated crash")
            return super().step(lr_chunk)
    return Broken


def _execute(manifest_path, out, method):
    from infvsr_bench import runner

    return runner.execute(runner.prepare(runner.RunSpec(method=method, dataset=str(manifest_path), metrics=["psnr"],
                                                        out=out, progress=False)))


@pytest.fixture(scope="module")
def runs(manifest_path, tmp_path_factory):
    """Three finished runs, shared by the module (tests copy them before changing anything): bicubic and
    lanczos complete, and bicubic with its second clip failed ("partial")."""
    root = tmp_path_factory.mktemp("runs")
    out = {m: _execute(manifest_path, root / m, m).run_dir for m in ("bicubic", "lanczos")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("infvsr_bench.methods.interpolation.Bicubic", _failing({_ids(manifest_path)[1]}))
        res = _execute(manifest_path, root / "partial", "bicubic")
    assert res.failed == [_ids(manifest_path)[1]]
    return {**out, "partial": res.run_dir}


def _run(capsys, manifest_path, out, method="bicubic", *extra):
    return run_cli(capsys, "run", "--method", method, "--dataset", str(manifest_path), "--metrics", "psnr",
                   "--out", str(out), *extra)


def _ids(manifest_path):
    return [c["id"] for c in json.loads(manifest_path.read_text())["clips"]]


def test_check_compares_identity_and_clip_sets(capsys, manifest_path, runs, tmp_path):
    victim = _ids(manifest_path)[1]
    a, b, c = runs["partial"], runs["lanczos"], runs["bicubic"]  # method A with a failed clip; B; A complete
    base = tmp_path / "baseline.json"
    code, _, err = run_cli(capsys, "check", "--baseline", str(base), "--run", str(a), "--update")
    assert code == 2 and "incomplete: 2 of 3 clips finished (1 failed: " + victim in one_line_error(err)
    assert not base.exists()
    assert run_cli(capsys, "check", "--baseline", str(base), "--run", str(a), "--update",
                   "--allow-incomplete")[0] == 0
    assert json.loads(base.read_text())["clips"] == sorted(set(_ids(manifest_path)) - {victim})

    code, out, _ = run_cli(capsys, "check", "--baseline", str(base), "--run", str(b))
    assert code == 1 and "method differs: baseline bicubic, run lanczos" in out
    assert f"clip {victim} is in the run but not in the baseline" in out

    code, out, _ = run_cli(capsys, "check", "--baseline", str(base), "--run", str(c))
    assert code == 1 and "method differs" not in out and f"clip {victim} is in the run but not" in out
    full = tmp_path / "full.json"
    assert run_cli(capsys, "check", "--baseline", str(full), "--run", str(c), "--update")[0] == 0
    assert run_cli(capsys, "check", "--baseline", str(full), "--run", str(c))[0] == 0
    code, out, _ = run_cli(capsys, "check", "--baseline", str(full), "--run", str(a))
    assert code == 1 and f"clip {victim} is in the baseline but did not finish in the run" in out
    data = json.loads(full.read_text())
    full.write_text(json.dumps({**data, "method_params": {**data["method_params"], "scale": 2},
                                "dataset_sha256": "0" * 64}))
    code, out, _ = run_cli(capsys, "check", "--baseline", str(full), "--run", str(c))
    assert code == 1 and "method parameters differ" in out and "dataset bytes differ" in out


def test_leaderboard_skips_bad_summaries_and_ranks_incomplete_runs_apart(capsys, caplog, manifest_path, runs,
                                                                        tmp_path):
    victim = _ids(manifest_path)[1]
    for name, folder in runs.items():
        shutil.copytree(folder, tmp_path / "runs" / name)
    runs = tmp_path / "runs"
    summary = runs / "partial" / "summary.json"
    s = json.loads(summary.read_text())
    s["method"]["name"] = "partial-bicubic"
    s["metrics"]["psnr"]["mean"] = 99.0  # it would be best if it were ranked
    summary.write_text(json.dumps(s))
    bad = {"truncated": (runs / "bicubic" / "summary.json").read_text()[:200], "a-list": "[1, 2]",
           "no-metrics": json.dumps({k: v for k, v in s.items() if k != "metrics"})}
    for name, text in bad.items():
        (runs / name).mkdir()
        (runs / name / "summary.json").write_text(text)
    out = tmp_path / "leaderboard.md"
    with caplog.at_level(logging.WARNING, logger="infvsr_bench"):
        code, stdout, _ = run_cli(capsys, "leaderboard", "--runs", str(runs), "--output", str(out))
    assert code == 0 and out.is_file()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3 and all("\n" not in w for w in warnings)
    for name in bad:
        assert sum(str(runs / name / "summary.json") in w for w in warnings) == 1
    text = out.read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "partial-bicubic (incomplete, not ranked)" in rows
    partial = rows["partial-bicubic (incomplete, not ranked)"]
    assert "99.00" in partial and "**" not in partial and "*99" not in partial
    assert "**" in rows["bicubic"] or "**" in rows["lanczos"]  # the best mark goes to a complete run
    assert list(rows).index("partial-bicubic (incomplete, not ranked)") == len(rows) - 1  # listed last
    assert "2 of 3 clips finished (1 failed: " + victim in text


def test_json_output_is_strict_and_plot_says_when_there_is_nothing_to_draw(capsys, monkeypatch, manifest_path,
                                                                          tmp_path):
    monkeypatch.setattr("infvsr_bench.methods.interpolation.Bicubic", _failing(None))  # every clip fails
    code, out, _ = _run(capsys, manifest_path, tmp_path / "r", "bicubic", "--json")
    assert code == 1

    def no_bare_constants(name):
        raise AssertionError(f"bare {name} in --json output")

    s = json.loads(out, parse_constant=no_bare_constants)[0]
    assert s["metrics"]["psnr"]["mean"] is None  # as in summary.json: undefined is null
    assert s == json.loads((tmp_path / "r" / "summary.json").read_text())
    code, _, err = run_cli(capsys, "plot", str(tmp_path / "r"))
    assert code == 2 and "nothing to draw" in one_line_error(err)
    assert not (tmp_path / "r" / "plots").exists()
    (tmp_path / "r" / "summary.json").write_text("[]")
    code, _, err = run_cli(capsys, "plot", str(tmp_path / "r"))
    assert code == 2 and "not a summary" in one_line_error(err)


def test_reproduce_comparison_json_is_strict(tmp_path):
    """A measured value that is undefined (every clip failed) is null in comparison.json, never a bare NaN."""
    from infvsr_bench.reproduce import Comparison, Row, write_outputs

    row = Row(dataset="d", metric="psnr", paper_metric="PSNR", spec="psnr", higher_is_better=True, against="x",
              published=27.0, measured=float("nan"), ci95=[float("nan"), float("inf")], difference=float("nan"),
              spread=0.1, status="not measured")
    paths = write_outputs(tmp_path, Comparison("d", "m", "p", "f.csv", ["x"], None, None, rows=[row]))

    def no_bare_constants(name):
        raise AssertionError(f"bare {name} in comparison.json")

    data = json.loads(paths["json"].read_text(), parse_constant=no_bare_constants)
    assert data["rows"][0]["measured"] is None and data["rows"][0]["ci95"] == [None, None]
