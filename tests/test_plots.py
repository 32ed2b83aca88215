"""Plots are drawn from the records alone, are real PNGs, and the plot command validates its input."""

from infvsr_bench import plots

from .helpers import run_cli

_cli = run_cli


def test_run_writes_plots_and_links_them(capsys, tmp_path):
    runs = tmp_path / "runs"
    for m in ("bicubic", "lanczos"):
        assert _cli(capsys, "run", "--method", m, "--max-frames", "8", "--runs-root", str(runs))[0] == 0
    run = runs / "synthetic-long-max8" / "bicubic"
    pngs = sorted(p.name for p in (run / "plots").glob("*.png"))
    assert "psnr-over-time.png" in pngs and "ssim-over-time.png" in pngs
    assert "![psnr-over-time](plots/psnr-over-time.png)" in (run / "report.md").read_text()
    code, out, _ = _cli(capsys, "plot", str(run), str(runs / "synthetic-long-max8" / "lanczos"),
                        "--out", str(tmp_path / "both"))
    assert code == 0 and "quality-vs-speed-psnr.png" in out
    for p in (tmp_path / "both").glob("*.png"):
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_plot_refuses_a_folder_without_a_run(capsys, tmp_path):
    code, _, err = _cli(capsys, "plot", str(tmp_path))
    assert code == 2 and "not a finished run folder" in err


def test_windowed_mean_skips_nan():
    import numpy as np

    x = np.array([np.nan, 1.0, 3.0, np.nan, 5.0])
    np.testing.assert_allclose(plots._windowed_mean(x, 3), [1.0, 2.0, 2.0, 4.0, 5.0])
