"""A metric whose weights are absent never produces a score: asked for by name, the run stops before any
work with exit 2 and one line naming the file; in the default set, it is listed as unavailable with the
reason in summary.json and report.md."""
import pytest
import torch

from infvsr_bench import records, runner
from infvsr_bench.cli import main
from infvsr_bench.metrics import METRICS
from infvsr_bench.metrics.base import StreamingMetric


class NeedsCLIP(StreamingMetric):
    name = "needs-clip"
    mode = "NR"
    requires = ("clip-vit-b-32",)

    def frame_values(self, sr, hr):  # pragma: no cover - must never run without weights
        raise AssertionError("a metric without its weights was computed")


class NeedsMobileNet(StreamingMetric):
    name = "needs-mobilenet"
    mode = "NR"
    requires = ("mobilenet_v2",)

    def frame_values(self, sr, hr):
        return torch.zeros(sr.shape[0], dtype=torch.float64)


@pytest.fixture(autouse=True)
def _fake_metrics(monkeypatch, tmp_path):
    monkeypatch.setitem(METRICS._entries, "needs-clip", NeedsCLIP)
    monkeypatch.setitem(METRICS._entries, "needs-mobilenet", NeedsMobileNet)
    monkeypatch.setitem(METRICS._help, "needs-clip", "")
    monkeypatch.setitem(METRICS._help, "needs-mobilenet", "")
    # nothing from the user's caches: only the shared folder (if any) through INFVSR_BENCH_WEIGHTS
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_explicit_request_exits_2_before_any_work(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--method", "bicubic", "--metrics", "psnr,needs-clip", "--max-frames", "3",
              "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert "needs-clip" in err and "ViT-B-32.pt" in err
    assert not (tmp_path / "r").exists()


def test_default_set_lists_it_as_unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "DEFAULT_METRICS", ("psnr", "needs-clip"))
    spec = runner.RunSpec(method="bicubic", max_frames=3, out=tmp_path / "r", progress=False)
    res = runner.execute(runner.prepare(spec))
    s = res.summary
    assert list(s["metrics"]) == ["psnr"]
    assert "needs-clip" in s["unavailable"] and "ViT-B-32.pt" in s["unavailable"]["needs-clip"]
    assert "needs-clip" in (res.run_dir / "report.md").read_text()
    assert records.read_json(res.run_dir / "run.json")["unavailable_metrics"] == s["unavailable"]
    clip = records.read_clips(res.run_dir)[0]
    assert "needs-clip" not in clip["metrics"]


def test_present_weights_let_the_metric_run(tmp_path):
    from infvsr_bench import weights

    if weights.missing(["mobilenet_v2"]):
        pytest.skip("mobilenet_v2-b0353104.pth not found: run `infvsr-bench weights fetch mobilenet_v2` (make test does)")
    spec = runner.RunSpec(method="bicubic", metrics=["needs-mobilenet"], max_frames=3, out=tmp_path / "r",
                          progress=False)
    res = runner.execute(runner.prepare(spec))
    assert res.summary["metrics"]["needs-mobilenet"]["mean"] == 0.0 and res.summary["unavailable"] == {}


@pytest.mark.parametrize("damage,needle", [("corrupt", "sha256"), ("directory", "is a directory")])
def test_a_damaged_weight_file_of_the_default_set_is_an_error_naming_it(capsys, monkeypatch, tmp_path, damage,
                                                                        needle):
    """Absent: listed as unavailable (above). Present but damaged — corrupt bytes, or a directory where the
    file goes — is not "absent": the run stops before any work with exit 2 and one line naming the path."""
    folder = tmp_path / "weights"
    folder.mkdir()
    path = folder / "mobilenet_v2-b0353104.pth"
    if damage == "corrupt":
        path.write_bytes(b"\x80\x02 truncated pickle")
    else:
        path.mkdir()
    monkeypatch.setenv("INFVSR_BENCH_WEIGHTS", str(folder))
    monkeypatch.setattr(runner, "DEFAULT_METRICS", ("psnr", "needs-mobilenet"))
    with pytest.raises(SystemExit) as exc:
        main(["run", "--method", "bicubic", "--max-frames", "3", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and err.startswith("error: ")
    assert str(path) in err and needle in err
    assert not (tmp_path / "r").exists()
