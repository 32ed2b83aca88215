"""VMAF: the streaming metric against libvmaf run directly on encoded files, plus process hygiene.

The oracle is the same ffmpeg binary run the usual way (``ffmpeg -i distorted.mkv -i reference.mkv -lavfi
libvmaf ...``) on lossless FFV1 files of the same frames, with the conversion and model spelled out here
(not taken from the module) and a JSON log parsed independently of the metric's CSV reader.
"""
from __future__ import annotations

import gc
import json
import os
import stat
import subprocess

import numpy as np
import pytest
import torch

from infvsr_bench.errors import BadInput, InfvsrError
from infvsr_bench.metrics import get_metric
from infvsr_bench.metrics import vmaf as vmaf_mod
from infvsr_bench.metrics.vmaf import VMAF, VmafUnavailable

from .helpers import photo_frames, write_video

N, H, W = 24, 96, 128


def _ffmpeg() -> str:
    try:
        return vmaf_mod.find_ffmpeg()
    except VmafUnavailable as exc:  # pragma: no cover - the dev environment ships imageio-ffmpeg
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def frames() -> tuple[np.ndarray, np.ndarray]:
    """(reference, distorted) uint8 (N, H, W, 3): real photographs; distorted = Gaussian blur σ=1.5 + noise σ=6."""
    import cv2

    hr = photo_frames(N, height=H, width=W)
    rng = np.random.default_rng(1)
    blurred = np.stack([cv2.GaussianBlur(x, (0, 0), 1.5) for x in hr]).astype(np.float64)
    sr = np.clip(blurred + rng.normal(0.0, 6.0, blurred.shape), 0, 255).round().astype(np.uint8)
    return hr, sr


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(0, 3, 1, 2).float().div(255.0)  # (T,H,W,3) -> (T,3,H,W)


def _run(metric: VMAF, sr: np.ndarray, hr: np.ndarray, chunk: int) -> np.ndarray:
    """Drive the metric as the runner does; return the per-frame series after finish()."""
    metric.reset()
    metric.start({"clip": "c", "frames": len(hr), "fps": 25.0, "scene_cuts": [], "chunk_boundaries": None})
    series = np.full(len(hr), np.nan)
    for i in range(0, len(hr), chunk):
        series[i:i + chunk] = metric.update(_t(sr[i:i + chunk]), _t(hr[i:i + chunk])).numpy()
    assert np.isnan(series).all()  # nothing is known before the end of the clip
    late = metric.finish()
    series[len(series) - late.numel():] = late.numpy()
    return series


def _gone(pid: int) -> bool:
    """True when no process ``pid`` exists (a reaped child), or the pid now belongs to something else."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"ffmpeg" not in f.read()
    except FileNotFoundError:
        return True


def test_matches_libvmaf_run_directly_on_files(tmp_path, frames):
    hr, sr = frames
    write_video(tmp_path / "reference.mkv", hr)
    write_video(tmp_path / "distorted.mkv", sr)
    conv = "scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int+bitexact,format=yuv420p"
    graph = (f"[0:v]{conv}[d];[1:v]{conv}[r];"
             "[d][r]libvmaf=model=version=vmaf_v0.6.1:n_threads=4:n_subsample=1:log_fmt=json:log_path=direct.json")
    res = subprocess.run([_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", "distorted.mkv",
                          "-i", "reference.mkv", "-lavfi", graph, "-f", "null", "-"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    direct = json.loads((tmp_path / "direct.json").read_text())
    expected = np.array([f["metrics"]["vmaf"] for f in direct["frames"]])
    assert [f["frameNum"] for f in direct["frames"]] == list(range(N))

    m = get_metric("vmaf")
    ours = _run(m, sr, hr, chunk=5)
    np.testing.assert_array_equal(ours, expected)  # both logs print 6 decimals of the same numbers
    assert 40 < expected.mean() < 90  # a real distortion, far from the ceiling: the comparison has teeth

    pooled = direct["pooled_metrics"]["vmaf"]  # libvmaf pools unrounded scores; ours the 6-decimal ones
    out = m.compute()
    assert out["frames"] == out["defined_frames"] == N
    assert out["mean"] == pytest.approx(pooled["mean"], abs=2e-6)
    assert out["extra"]["harmonic_mean"] == pytest.approx(pooled["harmonic_mean"], abs=2e-6)
    assert out["extra"]["min"] == pytest.approx(pooled["min"], abs=1e-6)
    assert out["extra"]["perc5"] == pytest.approx(np.percentile(expected, 5), abs=1e-9)
    assert out["extra"]["min"] <= out["extra"]["perc5"] <= out["extra"]["harmonic_mean"] <= out["mean"]


def test_bt601_is_what_plain_ffmpeg_gives_on_png_frames(tmp_path, frames):
    """``ffmpeg -i dis%03d.png -i ref%03d.png -lavfi libvmaf`` — what most people run on frame folders — lets
    ffmpeg convert the RGB images itself, with its default BT.601 matrix: ``matrix=bt601`` gives its numbers
    exactly; the default BT.709 does not."""
    import cv2

    hr, sr = frames[0][:6], frames[1][:6]
    for i, (r, d) in enumerate(zip(hr, sr)):
        cv2.imwrite(str(tmp_path / f"ref{i:03d}.png"), r[..., ::-1])  # cv2 writes BGR
        cv2.imwrite(str(tmp_path / f"dis{i:03d}.png"), d[..., ::-1])
    res = subprocess.run([_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", "dis%03d.png",
                          "-i", "ref%03d.png", "-lavfi", "libvmaf=log_fmt=json:log_path=plain.json", "-f", "null",
                          "-"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    plain = np.array([f["metrics"]["vmaf"] for f in json.loads((tmp_path / "plain.json").read_text())["frames"]])
    assert plain.size == 6
    np.testing.assert_array_equal(_run(get_metric("vmaf", matrix="bt601"), sr, hr, chunk=4), plain)
    assert np.abs(_run(get_metric("vmaf"), sr, hr, chunk=4) - plain).max() > 1e-3
    assert "ffmpeg's default for RGB input" in get_metric("vmaf", matrix="bt601").params["conversion"]


def test_identical_inputs_score_100_after_the_first_frame(frames):
    hr, _ = frames
    values = _run(get_metric("vmaf"), hr, hr, chunk=8)
    # vmaf_v0.6.1 clips at 100; frame 0 has no motion feature yet and scores ~97.43 on this content
    assert np.all(values[1:] == 100.0)
    assert 97.0 < values[0] < 100.0


def test_chunking_and_threads_do_not_change_values(frames):
    hr, sr = frames
    m = get_metric("vmaf")
    chunked = _run(m, sr, hr, chunk=5)
    chunked_extra = m.compute()["extra"]
    whole = _run(m, sr, hr, chunk=N)  # the same metric object after reset()
    np.testing.assert_array_equal(chunked, whole)
    assert m.compute()["extra"] == chunked_extra
    one_thread = _run(get_metric("vmaf", threads=1), sr, hr, chunk=7)
    np.testing.assert_array_equal(one_thread, chunked)


def test_chroma_subsampling_does_not_change_the_score(frames):
    """vmaf_v0.6.1 reads luma only: 4:2:0 and 4:4:4 give the same values (the matrix is what matters)."""
    hr, sr = frames
    yuv420 = _run(get_metric("vmaf"), sr[:8], hr[:8], chunk=8)
    np.testing.assert_array_equal(_run(get_metric("vmaf", pix_fmt="yuv444p"), sr[:8], hr[:8], chunk=8), yuv420)
    assert np.abs(_run(get_metric("vmaf", matrix="bt601"), sr[:8], hr[:8], chunk=8) - yuv420).max() > 0.05


def test_params_record_the_conventions():
    d = get_metric("vmaf").describe()
    assert d["name"] == "vmaf" and d["mode"] == "FR" and d["higher_is_better"] and d["unit"] == ""
    p = d["params"]
    assert (p["model"], p["matrix"], p["range"], p["pix_fmt"], p["subsample"], p["pool"], p["threads"]) == \
        ("vmaf_v0.6.1", "bt709", "limited", "yuv420p", 1, "mean", vmaf_mod.DEFAULT_THREADS)
    assert p["ffmpeg"] and p["libvmaf"]
    assert get_metric("vmaf", matrix="bt601").filter_graph("x.csv").count("out_color_matrix=bt601") == 2


def test_conversion_is_bt709_limited_range_luma():
    """The recorded conversion is what ffmpeg does: Y' = 16 + 219·(0.2126 R + 0.7152 G + 0.0722 B)/255."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    img[0, :8] = (0, 0, 255)  # saturated blue: Y' 32 under BT.709, 41 under BT.601
    res = subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                          "-video_size", "64x48", "-i", "-", "-vf", vmaf_mod.conversion_filter(), "-f", "rawvideo",
                          "-"], input=img.tobytes(), capture_output=True, timeout=30, check=False)
    assert res.returncode == 0, res.stderr.decode()
    y = np.frombuffer(res.stdout, np.uint8)[:48 * 64].reshape(48, 64).astype(np.float64)
    rgb = img.astype(np.float64)
    bt709 = 16 + 219 * (rgb @ np.array([0.2126, 0.7152, 0.0722])) / 255
    assert np.abs(y - bt709).max() <= 0.52  # swscale's fixed-point coefficients: within half a level + 0.02
    assert (y[0, :8] == 32).all()


def test_process_is_gone_after_finish_reset_and_garbage_collection(frames):
    hr, sr = frames
    m = get_metric("vmaf")
    m.update(_t(sr[:4]), _t(hr[:4]))
    pid, folder = m._session.proc.pid, m._session.dir
    assert not _gone(pid) and stat.S_ISFIFO(os.stat(os.path.join(folder, "distorted.rgb")).st_mode)
    m.finish()
    assert _gone(pid) and not os.path.exists(folder) and m._session is None

    m.reset()
    m.update(_t(sr[:4]), _t(hr[:4]))  # reset mid-clip: ffmpeg still waits for frames
    pid, folder, threads = m._session.proc.pid, m._session.dir, [w.thread for w in m._session.writers]
    m.reset()
    assert _gone(pid) and not os.path.exists(folder) and not any(t.is_alive() for t in threads)
    assert m.finish() is None  # nothing pending after the reset

    m.update(_t(sr[:4]), _t(hr[:4]))
    pid, folder = m._session.proc.pid, m._session.dir
    del m
    gc.collect()
    assert _gone(pid) and not os.path.exists(folder)


def test_ffmpeg_dying_mid_clip_raises_runtime_error_and_cleans_up(frames):
    hr, sr = frames
    m = get_metric("vmaf")
    m.update(_t(sr[:4]), _t(hr[:4]))
    session = m._session
    session.proc.kill()  # our own child, by its pid
    session.proc.wait()
    with pytest.raises(RuntimeError, match="ffmpeg exited with code -9"):
        m.update(_t(sr[4:8]), _t(hr[4:8]))
    assert m._session is None and not os.path.exists(session.dir)


def test_ffmpeg_error_output_reaches_the_exception(frames, monkeypatch):
    hr, sr = frames
    m = get_metric("vmaf")
    monkeypatch.setattr(m, "filter_graph", lambda log_path: "[0:v][1:v]no_such_filter_xyz")
    with pytest.raises(RuntimeError, match="no_such_filter_xyz"):
        for i in range(0, N, 4):
            m.update(_t(sr[i:i + 4]), _t(hr[i:i + 4]))
        m.finish()
    assert m._session is None


def test_bad_sizes_raise_before_ffmpeg_starts(frames):
    hr, sr = frames
    m = get_metric("vmaf")
    with pytest.raises(ValueError, match="differ"):
        m.update(_t(sr[:2, :-2]), _t(hr[:2]))
    with pytest.raises(BadInput, match="at least 32x32"):
        m.update(_t(sr[:2, :16, :16]), _t(hr[:2, :16, :16]))
    assert m._session is None and m.frames == 0
    m.update(_t(sr[:2]), _t(hr[:2]))
    with pytest.raises(ValueError, match="size changed"):
        m.update(_t(sr[:2, :64]), _t(hr[:2, :64]))
    m.reset()
    assert m._session is None


def test_missing_ffmpeg_or_libvmaf_is_a_clear_error(tmp_path):
    with pytest.raises(VmafUnavailable, match="not an executable"):
        VMAF(ffmpeg=str(tmp_path / "no-ffmpeg"))
    fake = tmp_path / "ffmpeg"
    fake.write_text('#!/bin/sh\ncase "$*" in *-version*) echo "ffmpeg version 0.0-fake";; '
                    '*-filters*) echo " ... scale V->V Scale the input video.";; esac\n')
    fake.chmod(0o755)
    with pytest.raises(VmafUnavailable, match="without libvmaf") as info:
        VMAF(ffmpeg=str(fake))
    assert isinstance(info.value, InfvsrError)
    with pytest.raises(BadInput, match="unknown model"):
        VMAF(model="vmaf_v9")


def test_runner_patches_the_deferred_series_and_records_extras(tmp_path):
    """Through the real clip loop: every frame gets its value at finish(), extras land in the clip record."""
    from infvsr_bench import records, runner

    spec = runner.RunSpec(method="bicubic", dataset="synthetic-long", max_frames=10, out=tmp_path / "run",
                          metrics=["vmaf"], progress=False)
    res = runner.execute(runner.prepare(spec))
    assert res.exit_code == 0
    clips = records.read_clips(res.run_dir)
    for c in clips:
        series = records.read_frames(res.run_dir, c["clip"])["vmaf"]
        rec = c["metrics"]["vmaf"]
        assert series.shape == (10,) and np.isfinite(series).all() and (series <= 100).all()
        assert rec["mean"] == pytest.approx(series.mean()) and rec["defined_frames"] == 10
        assert rec["extra"]["min"] == series.min()
        assert rec["extra"]["harmonic_mean"] == pytest.approx(len(series) / np.sum(1 / (series + 1)) - 1)
    assert records.read_json(res.run_dir / "run.json")["metrics"][0]["params"]["matrix"] == "bt709"
