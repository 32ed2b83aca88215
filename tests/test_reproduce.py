"""The paper's test sets, its Table 1 as data, the leaderboard's published track and `infvsr-bench reproduce`.

Each recipe is proved on a miniature stand-in of its published layout (a few tiny PNG frames or videos in
the right folder structure and naming), written here; the real data is never needed.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from infvsr_bench import datasets as ds
from infvsr_bench import layouts, published, report
from infvsr_bench import reproduce as rp
from infvsr_bench.errors import BadInput
from infvsr_bench.video_io import FrameReader

from .helpers import one_line_error, photo_frames, run_cli, write_video

TABLE = published.default_file()


@pytest.fixture
def raw(tmp_path, monkeypatch):
    """The raw-data root the recipes read ({raw}), empty at first."""
    root = tmp_path / "raw"
    root.mkdir()
    monkeypatch.setenv("INFVSR_BENCH_RAW", str(root))
    return root


def _png(folder: Path, frames: np.ndarray, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, f in zip(names, frames):
        cv2.imwrite(str(folder / name), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))


def _pair(hr_root: Path, lr_root: Path, clip: str, n: int, names: list[str] | None = None, seed: int = 0,
          hr_size=(64, 96), lr_resize=True) -> tuple[np.ndarray, np.ndarray]:
    """n HR frames and their x4 area-downscaled LR frames, written as PNG clip folders."""
    hr = photo_frames(n, *hr_size, seed=seed)
    lr = np.stack([cv2.resize(f, (hr_size[1] // 4, hr_size[0] // 4), interpolation=cv2.INTER_AREA) for f in hr])
    names = names or [f"{i:04d}.png" for i in range(n)]
    _png(hr_root / clip, hr, names)
    _png(lr_root / clip, lr if lr_resize else hr, names)
    return hr, lr


def _decode(manifest: dict, clip: dict, role: str) -> np.ndarray:
    path = Path(manifest["root"]) / clip[role]["path"]
    return np.concatenate(list(FrameReader(path, chunk=4).iter_uint8()))


# ---------------------------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("name, folder", [("udm10", "UDM10"), ("spmcs", "SPMCS")])
def test_paired_frame_folders_dove_layout(raw, name, folder):
    # clip "b" has unpadded frame numbers: natural order (2 before 10), not string order
    hr_a, lr_a = _pair(raw / folder / "GT", raw / folder / "LQ", "calendar", 3, seed=1)
    names = ["1.png", "2.png", "10.png"]
    hr_b, lr_b = _pair(raw / folder / "GT", raw / folder / "LQ", "auditorium", 3, names=names, seed=2)
    m = ds.load_manifest(ds.build(name))
    ds.verify(m)
    assert [c["id"] for c in m["clips"]] == ["auditorium", "calendar"] and m["has_hr"] and m["scale"] == 4
    b = m["clips"][0]
    assert b["frames"] == 3 and (b["hr"]["width"], b["hr"]["height"]) == (96, 64)
    assert (b["lr"]["width"] * 4, b["lr"]["height"] * 4) == (b["hr"]["width"], b["hr"]["height"])
    np.testing.assert_array_equal(_decode(m, b, "hr"), hr_b)  # lossless, paired, in natural order
    np.testing.assert_array_equal(_decode(m, b, "lr"), lr_b)
    np.testing.assert_array_equal(_decode(m, m["clips"][1], "lr"), lr_a)
    assert m["degradation"] == "dove-lq-x4" and m["degradation_params"]["hr_crop"] == "none"


def test_frame_folders_scale_and_count_checks(raw):
    _pair(raw / "UDM10" / "GT", raw / "UDM10" / "LQ", "a", 3, hr_size=(64, 96))
    bad = photo_frames(3, 16, 20)  # 20 px wide: 4x is 80, HR is 96 and hr_crop = "none"
    _png(raw / "UDM10" / "LQ" / "a", bad, [f"{i:04d}.png" for i in range(3)])
    with pytest.raises(BadInput, match=r"HR 96x64 is not x4 of LR 20x16.*hr_crop"):
        ds.build("udm10")
    _pair(raw / "SPMCS" / "GT", raw / "SPMCS" / "LQ", "a", 3)
    (raw / "SPMCS" / "LQ" / "a" / "0002.png").unlink()
    with pytest.raises(BadInput, match="3 ground-truth frames .* but 2 input frames"):
        ds.build("spmcs")


def test_mvsr4x_dove_layout_crops_hr_top_left(raw):
    hr = photo_frames(2, 70, 99, seed=3)  # 70x99 HR over a 17x24 LR: x4 = 68x96, cut top-left
    lr = np.stack([cv2.resize(f[:68, :96], (24, 17), interpolation=cv2.INTER_AREA) for f in hr])
    _png(raw / "MVSR4x" / "GT" / "001", hr, ["0.png", "1.png"])
    _png(raw / "MVSR4x" / "LQ" / "001", lr, ["0.png", "1.png"])
    m = ds.load_manifest(ds.build("mvsr4x"))
    c = m["clips"][0]
    assert (c["hr"]["width"], c["hr"]["height"], c["lr"]["width"], c["lr"]["height"]) == (96, 68, 24, 17)
    np.testing.assert_array_equal(_decode(m, c, "hr"), hr[:, :68, :96])


def test_mvsr4x_original_layout_downscales_wide_frames(raw, tmp_path, monkeypatch):
    """The original release: tele/ (HR) + wide/ (LR stored at HR size, bicubic x1/4 by the loader)."""
    tele, _ = _pair(raw / "MVSR4x" / "tele", raw / "MVSR4x" / "wide", "000", 2, lr_resize=False)
    text = (Path(ds.recipes_dir()) / "mvsr4x.toml").read_text().replace('lr_resize = "none"', 'lr_resize = "bicubic"')
    recipe = tmp_path / "recipes" / "mvsr4x-orig.toml"
    recipe.parent.mkdir()
    recipe.write_text(text)
    monkeypatch.setenv("INFVSR_BENCH_RECIPES", str(recipe.parent))
    m = ds.load_manifest(ds.build("mvsr4x-orig"))
    c = m["clips"][0]
    assert (c["lr"]["width"], c["lr"]["height"], c["hr"]["width"]) == (24, 16, 96)
    want = np.stack([cv2.resize(f, (24, 16), interpolation=cv2.INTER_CUBIC) for f in tele])
    np.testing.assert_array_equal(_decode(m, c, "lr"), want)
    assert m["degradation_params"]["lr_resize"] == "bicubic"


@pytest.mark.parametrize("dove", [False, True])
def test_videolq_lr_only_frame_folders(raw, dove):
    base = raw / "VideoLQ" / ("LQ" if dove else "")
    frames = {}
    for i, clip in enumerate(["000", "001", "010"]):
        frames[clip] = photo_frames(2 + i, 17, 23, seed=i)  # odd sizes occur in VideoLQ
        _png(base / clip, frames[clip], [f"{k:08d}.png" for k in range(2 + i)])
    m = ds.load_manifest(ds.build("videolq"))
    assert not m["has_hr"] and [c["id"] for c in m["clips"]] == ["000", "001", "010"]
    assert [c["frames"] for c in m["clips"]] == [2, 3, 4] and all(c["hr"] is None for c in m["clips"])
    np.testing.assert_array_equal(_decode(m, m["clips"][2], "lr"), frames["010"])
    folder = layouts.FrameFolder(base / "010")  # streamed: chunks of at most `chunk` frames, in order
    chunks = list(folder.iter_uint8(chunk=3))
    assert [len(c) for c in chunks] == [3, 1] and (folder.width, folder.height) == (23, 17)
    np.testing.assert_array_equal(np.concatenate(chunks), frames["010"])


def test_movielq_videos_in_subfolders(raw):
    for i, name in enumerate(["movie_01", "movie_02"]):
        write_video(raw / "MovieLQ" / "videos" / f"{name}.mkv", photo_frames(4 + i, 16, 24, seed=i))
    m = ds.load_manifest(ds.build("movielq"))
    assert not m["has_hr"] and [(c["id"], c["frames"]) for c in m["clips"]] == [("movie_01", 4), ("movie_02", 5)]


@pytest.mark.parametrize("name, folder, where", [
    ("udm10", "UDM10", "DOVE"), ("spmcs", "SPMCS", "DOVE"), ("mvsr4x", "MVSR4x", "DOVE"),
    ("videolq", "VideoLQ", "RealBasicVSR"), ("movielq", "MovieLQ", "huggingface.co/datasets/zzqingz/MovieLQ")])
def test_absent_data_says_where_to_get_it_exit_2(raw, capsys, name, folder, where):
    code, out, err = run_cli(capsys, "build-dataset", name)
    line = one_line_error(err)
    assert code == 2 and out == "" and where in line and f"put it at {raw / folder}" in line
    assert not any(Path(ds.default_data_dir()).glob(f"{name}*"))  # nothing started


def test_missing_expected_subfolder_names_the_layout(raw):
    (raw / "UDM10" / "GT" / "a").mkdir(parents=True)  # GT only, no LQ
    with pytest.raises(BadInput, match=r"no input \(lr_dir\) folder \('LQ'\).*DOVE"):
        layouts.check_present(ds.load_recipe("udm10"))


# ---------------------------------------------------------------------------------------------- published table
def test_table1_loads_every_cell():
    cells = published.load(TABLE)
    assert len(cells) == 8 * (3 * 8 + 2 * 4) == 256
    methods = ["RealBasicVSR", "RealViFormer", "Upscale-A-Video", "MGLD-VSR", "STAR", "SeedVR", "SeedVR2", "InfVSR"]
    assert list(dict.fromkeys(c.method for c in cells)) == methods
    per = {d: {c.metric for c in cells if c.dataset == d} for d in {c.dataset for c in cells}}
    full = {"psnr", "ssim", "lpips", "dists", "musiq", "clipiqa", "dover", "ewarp-raft"}
    assert per == {"udm10": full, "spmcs": full, "mvsr4x": full, "videolq": full - {"psnr", "ssim", "lpips", "dists"},
                   "movielq": full - {"psnr", "ssim", "lpips", "dists"}}
    v = {(c.method, c.dataset, c.metric): c for c in cells}
    # spot checks against docs/infvsr.md §11.3
    assert v["InfVSR", "udm10", "psnr"].value == 24.86 and v["SeedVR2", "udm10", "ssim"].value == 0.7764
    assert v["Upscale-A-Video", "spmcs", "musiq"].value == 69.55 and v["STAR", "mvsr4x", "ewarp-raft"].value == 0.61
    assert v["RealViFormer", "videolq", "ewarp-raft"].value == 4.47 and v["SeedVR", "movielq", "clipiqa"].value == 0.505
    assert v["InfVSR", "movielq", "dover"].value == 0.8447 and v["MGLD-VSR", "spmcs", "dists"].value == 0.196
    assert not v["InfVSR", "udm10", "lpips"].higher_is_better and v["InfVSR", "udm10", "clipiqa"].higher_is_better
    assert not v["InfVSR", "movielq", "ewarp-raft"].higher_is_better
    assert v["InfVSR", "udm10", "psnr"].run_spec == "psnr:preset=pyiqa" and v["InfVSR", "udm10", "dover"].run_spec == "dover"
    assert {c.source for c in cells} == {"InfVSR arXiv 2510.00948 v3 Table 1"}
    assert all(ds.find_recipe(d) for d in per)  # dataset names are recipe names


def test_published_file_errors(tmp_path):
    rows = TABLE.read_text().splitlines()
    dup = tmp_path / "dup.csv"
    dup.write_text("\n".join(rows[:3] + rows[2:3]) + "\n")
    with pytest.raises(BadInput, match="dup.csv line 4: a second value"):
        published.load(dup)
    bad = tmp_path / "bad.csv"
    bad.write_text(rows[0] + "\n" + rows[1].replace(",higher,", ",up,") + "\n")
    with pytest.raises(BadInput, match="direction"):
        published.load(bad)


def test_compare_flags_beyond_spread():
    cells = [published.Cell("P", "M", "d", metric, metric, value, hib, "", "src", "")
             for metric, value, hib in [("psnr", 30.0, True), ("musiq", 50.0, True), ("flicker", 0.9, True),
                                        ("dover", 0.7, True)]]
    measured = {"psnr": {"mean": 30.4, "ci95": [30.0, 31.0]}, "musiq": {"mean": 52.0, "ci95": [51, 53]},
                "flicker": {"mean": 0.95, "ci95": [0.9, 1.0]}}
    rows = {r.metric: r for r in rp.compare(cells, ["M"], measured, {"dover": "weights missing: no file"})}
    assert rows["psnr"].status == rp.STATUS_WITHIN and math.isclose(rows["psnr"].difference, 0.4)
    assert rows["musiq"].status == rp.STATUS_BEYOND and math.isclose(rows["musiq"].spread, 1.5)  # 3% of 50
    assert rows["flicker"].status == rp.STATUS_NO_SPREAD
    assert rows["dover"].status == "unavailable (weights missing)" and rows["dover"].measured is None


# ---------------------------------------------------------------------------------------------- reproduce
def test_reproduce_on_udm10_standin_and_leaderboard_track(raw, tmp_path, capsys):
    for i, clip in enumerate(["archpeople", "caffe"]):
        _pair(raw / "UDM10" / "GT", raw / "UDM10" / "LQ", clip, 4, seed=i)
    out = tmp_path / "runs" / "udm10-bicubic"
    code, stdout, err = run_cli(capsys, "reproduce", "--dataset", "udm10", "--method", "bicubic",
                                "--against", "InfVSR", "--out", str(out))
    assert code == 0, err
    rows = {r["metric"]: r for r in csv.DictReader(open(out / "comparison.csv"))}
    assert list(rows) == ["psnr", "ssim", "lpips", "dists", "musiq", "clipiqa", "dover", "ewarp-raft"]
    summary = json.loads((out / "run" / "summary.json").read_text())
    for metric, label in (("psnr", "psnr:preset=pyiqa"), ("ssim", "ssim:preset=pyiqa")):
        r = rows[metric]
        measured = rp.dove_average(summary["metrics"][label]["per_clip"])  # DOVE's rounding of clip means
        assert abs(measured - summary["metrics"][label]["mean"]) <= 1e-4
        assert r["against"] == "InfVSR" and math.isclose(float(r["measured"]), measured)
        assert math.isclose(float(r["difference"]), measured - float(r["published"]))
        beyond = abs(measured - float(r["published"])) > rp.SPREADS[metric].tolerance(float(r["published"]))
        assert r["status"] == (rp.STATUS_BEYOND if beyond else rp.STATUS_WITHIN)
    assert float(rows["psnr"]["published"]) == 24.86
    from infvsr_bench import weights
    from infvsr_bench.metrics import METRICS

    for metric in ("lpips", "dists", "musiq", "clipiqa", "dover", "ewarp-raft"):  # no weights / not built here
        assert rows[metric]["status"].startswith("unavailable (") and rows[metric]["measured"] == ""
        assert rows[metric]["reason"]
    assert "ewarp-raft" not in summary["metrics"] and "| `psnr` ↑ | PSNR | InfVSR | 24.86 |" in stdout
    data = json.loads((out / "comparison.json").read_text())
    assert data["clips_ok"] == 2 and data["paper"] == "InfVSR" and len(data["rows"]) == 8

    # the leaderboard: the measured run's table, then the published track of the same dataset, never mixed
    board = report.render_leaderboard(tmp_path / "runs", tmp_path / "lb.md", published_files=[TABLE])
    measured_at = board.index("## udm10 · dove-lq-x4")
    track_at = board.index("### udm10 · published · InfVSR")
    assert measured_at < track_at < board.index("## videolq · published only")
    measured_table = board[measured_at:track_at]
    assert "bicubic" in measured_table and "InfVSR" not in measured_table and "24.86" not in measured_table
    track = board[track_at:board.index("##", track_at + 4)]
    assert "| InfVSR | published | 24.86 | 0.7274 | 0.2972 | 0.1422 | 62.88 | 0.5142 | 0.7826 | 1.95 |" in track
    assert "**" not in track.split("\n\n", 2)[2] and "bicubic" not in track
    # default discovery: <runs root>/published/*.csv
    (tmp_path / "runs" / "published").mkdir()
    (tmp_path / "runs" / "published" / "t1.csv").write_text(TABLE.read_text())
    assert "### udm10 · published · InfVSR" in report.render_leaderboard(tmp_path / "runs", tmp_path / "lb.md")

    # a metric the user names that cannot run here is an error (exit 2), not an "unavailable" cell
    if weights.missing(METRICS.get("lpips")().requires if "lpips" in METRICS.names() else ("x",)):
        code, _, err = run_cli(capsys, "reproduce", "--dataset", "udm10", "--method", "bicubic", "--metrics",
                               "lpips", "--out", str(tmp_path / "x"))
        assert code == 2 and "lpips" in one_line_error(err) and not (tmp_path / "x").exists()


def test_reproduce_scores_infvsr_as_its_release_outputs_it():
    """InfVSR's paper scored the release's truncated, H.264-coded output: reproduce runs the method so (unless
    the caller says otherwise); other methods run as given."""
    from infvsr_bench.methods import get_method

    assert rp.paper_method_params("infvsr") == {"output": "release"}
    assert rp.paper_method_params("infvsr-noref", {"dtype": "fp32"}) == {"output": "release", "dtype": "fp32"}
    assert rp.paper_method_params("infvsr", {"output": "round"}) == {"output": "round"}
    assert rp.paper_method_params("bicubic") == {}
    m = get_method("infvsr", preset="tiny", random_weights=True, **rp.paper_method_params("infvsr"))
    assert m.params["output"] == "release"
    c = rp.Comparison(dataset="udm10", method="infvsr", paper="InfVSR", published_file="t.csv", against=["InfVSR"],
                      run_dir=None, max_frames=None, method_params={"output": "release"})
    assert "`output=release` (InfVSR's release output" in rp.render_markdown(c)


def test_measured_values_are_averaged_as_doves_eval_script():
    """DOVE's eval_metrics.py rounds each video's mean to 4 decimals, then their mean to 4 decimals."""
    per_clip = {"a": 24.123449, "b": 24.12346, "c": float("nan")}
    want = round((round(24.123449, 4) + round(24.12346, 4)) / 2, 4)
    assert rp.dove_average(per_clip) == want == 24.1234
    assert math.isnan(rp.dove_average({}))
    assert set(rp.DOVE_ROUNDED) == {"psnr", "ssim", "lpips", "dists", "musiq", "clipiqa"}
    c = rp.Comparison(dataset="udm10", method="bicubic", paper="InfVSR", published_file="t.csv", against=["InfVSR"],
                      run_dir=None, max_frames=None)
    md = rp.render_markdown(c)
    assert "## Evaluation conventions" in md and "ewarp-raft:preset=evalcrafter" in md


def test_reproduce_accepts_another_papers_table(raw, tmp_path, capsys):
    """A published file per paper: its own methods and metric set (flicker has no known spread)."""
    _pair(raw / "UDM10" / "GT", raw / "UDM10" / "LQ", "a", 3)
    other = tmp_path / "other.csv"
    fields = ["paper", "method", "dataset", "metric", "paper_metric", "value", "direction", "spec", "source", "note"]
    with open(other, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for method, psnr in (("Bicubic", 30.0), ("Other", 31.0)):
            w.writerow({"paper": "Other2024", "method": method, "dataset": "udm10", "metric": "psnr",
                        "paper_metric": "PSNR (Y)", "value": psnr, "direction": "higher", "spec": "psnr",
                        "source": "Other 2024 Table 2", "note": ""})
            w.writerow({"paper": "Other2024", "method": method, "dataset": "udm10", "metric": "flicker",
                        "paper_metric": "TF", "value": 0.95, "direction": "higher", "spec": "",
                        "source": "Other 2024 Table 2", "note": ""})
    comp = rp.reproduce("udm10", "bicubic", published_file=other, out=tmp_path / "o")
    assert comp.paper == "Other2024" and comp.against == ["Bicubic"]  # the row named like the method
    rows = {r.metric: r for r in comp.rows}
    assert rows["psnr"].spec == "psnr" and rows["psnr"].published == 30.0 and rows["psnr"].measured is not None
    assert rows["flicker"].status == rp.STATUS_NO_SPREAD and rows["flicker"].difference is not None
    with pytest.raises(BadInput, match="no cells for dataset 'spmcs'"):
        rp.reproduce("spmcs", "bicubic", published_file=other, out=tmp_path / "p")
    with pytest.raises(BadInput, match="--against 'Nope'"):
        rp.reproduce("udm10", "bicubic", published_file=other, against=["Nope"], out=tmp_path / "q")


def test_reproduce_absent_data_exit_2_before_work(raw, tmp_path, capsys):
    code, out, err = run_cli(capsys, "reproduce", "--dataset", "videolq", "--method", "bicubic",
                             "--out", str(tmp_path / "r"))
    assert code == 2 and "put it at" in one_line_error(err) and not (tmp_path / "r").exists()
