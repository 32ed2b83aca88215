"""Pictures through a whole run and `infvsr-bench compare` on two runs: every section of the page, the same
profile rows in both runs, and exit 2 for runs that are not comparable."""
import pytest

from infvsr_bench import datasets, records, runner

from .helpers import one_line_error, run_cli
from .test_memory import _RECIPE  # one 320x192 clip with a moving layer and a cut


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp")
    recipe = tmp / "tiny.toml"
    recipe.write_text(_RECIPE.replace("{frames}", "24").replace("{cut}", "12"))
    manifest = datasets.build(str(recipe), data_dir=tmp / "data")
    out = []
    for method, params in (("bicubic", {}), ("lanczos", {"chunk_frames": 5})):
        spec = runner.RunSpec(method=method, dataset=str(manifest), metrics=["psnr", "flicker"], out=tmp / method,
                              progress=False, visuals=True, method_params=params)
        out.append(runner.execute(runner.prepare(spec)).run_dir)
    return tmp, manifest, out


def test_a_run_reports_its_profiles_and_worst_moments(two_runs):
    _, _, (a, _) = two_runs
    report = (a / "report.md").read_text()
    assert "## Temporal profiles" in report and "## Worst moments" in report
    assert "### flicker: largest jumps" in report and "### psnr: worst frames" in report
    pngs = [p.relative_to(a).as_posix() for d in ("profiles", "moments") for p in (a / d).glob("*/*.png")]
    assert len(pngs) >= 4
    for p in pngs:
        assert f"({p})" in report, p
    moments = records.read_json(a / "moments" / "one.json")["moments"]
    assert {m["metric"] for m in moments} == {"psnr", "flicker"}
    assert all(0 <= m["frame"] < 24 for m in moments)
    shown = list((a / "moments").rglob("*.png"))
    assert len(moments) == len(shown)  # only the shown moments stay on disk (4 per metric and kind at most)
    assert max(sum(1 for m in moments if (m["metric"], m["kind"]) == key)
               for key in {(m["metric"], m["kind"]) for m in moments}) <= 4


def test_compare_page_has_every_section(two_runs, capsys):
    tmp, _, (a, b) = two_runs
    code, out, err = run_cli(capsys, "compare", str(a), str(b), "--out", str(tmp / "page"))
    assert code == 0, err
    page = (tmp / "page" / "compare.md").read_text()
    for section in ("## Metrics", "## Over time", "## Drift", "## Temporal profiles", "## Worst moments",
                    "### psnr: worst frames", "### flicker: largest jumps"):
        assert section in page, section
    assert "| bicubic |" in page and "| lanczos |" in page
    for line in page.splitlines():
        if line.strip().startswith("!["):
            assert (tmp / "page" / line.split("](")[1].rstrip(")")).is_file(), line
    rows_a = records.read_json(a / "moments" / "one.json")
    assert rows_a["clip"] == "one"
    pa = sorted(p.name for p in (a / "profiles" / "one").glob("*.png"))
    assert pa == sorted(p.name for p in (b / "profiles" / "one").glob("*.png")) and pa  # same rows in both runs
    assert sorted(p.name for p in (tmp / "page" / "profiles" / "one").glob("*.png")) == pa


def test_compare_refuses_runs_that_are_not_comparable(two_runs, capsys):
    tmp, manifest, (a, _) = two_runs
    spec = runner.RunSpec(method="bicubic", dataset=str(manifest), metrics=["psnr"], out=tmp / "short",
                          max_frames=10, progress=False)
    runner.execute(runner.prepare(spec))
    code, _, err = run_cli(capsys, "compare", str(a), str(tmp / "short"), "--out", str(tmp / "no"))
    assert code == 2 and "not comparable" in one_line_error(err) and "frame limits" in err
    code, _, err = run_cli(capsys, "compare", str(a), str(tmp / "absent"))
    assert code == 2 and "summary.json" in one_line_error(err)
    assert not (tmp / "no").exists()


def test_bad_profile_rows_exit_2_before_any_work(two_runs, capsys):
    tmp, manifest, _ = two_runs
    code, _, err = run_cli(capsys, "run", "--method", "bicubic", "--dataset", str(manifest), "--metrics", "psnr",
                           "--out", str(tmp / "bad"), "--profiles", "rows=10,cols=4000")
    assert code == 2 and "outside" in one_line_error(err) and not (tmp / "bad").exists()
    code, _, err = run_cli(capsys, "run", "--method", "bicubic", "--dataset", str(manifest), "--out",
                           str(tmp / "bad"), "--profiles", "rows=1", "--no-visuals")
    assert code == 2 and "--no-visuals" in one_line_error(err) and not (tmp / "bad").exists()
