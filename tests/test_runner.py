"""The streaming run end to end on a small build of the default recipe: records, oracle agreement with a
whole-clip computation, chunk invariance, delayed methods, failure isolation and --resume."""
import json

import numpy as np
import pytest
import torch

from infvsr_bench import datasets, records, runner
from infvsr_bench.methods.interpolation import Bicubic
from infvsr_bench.metrics import get_metric
from infvsr_bench.video_io import FrameReader, quantize

N = 12


@pytest.fixture
def manifest():
    return datasets.resolve("synthetic-long", max_frames=N)


def _run(tmp_path, name="run", **kw):
    kw.setdefault("metrics", ["psnr", "ssim"])
    spec = runner.RunSpec(method="bicubic", dataset="synthetic-long", max_frames=N, out=tmp_path / name,
                          progress=False, **kw)
    return runner.execute(runner.prepare(spec))


def test_run_writes_every_record(tmp_path, manifest):
    res = _run(tmp_path)
    d = res.run_dir
    assert res.exit_code == 0 and res.failed == []
    for name in ("run.json", "clips.jsonl", "summary.json", "report.md"):
        assert (d / name).is_file()
    run = records.read_json(d / "run.json")
    assert run["dataset"]["manifest_sha256"] == manifest["manifest_sha256"]
    assert [m["name"] for m in run["metrics"]] == ["psnr", "ssim"]
    assert run["unavailable_metrics"] == {}
    assert run["versions"]["torch"] and run["conventions"]["dataset_pooling"].startswith("mean of clip means")
    clips = records.read_clips(d)
    assert sorted(c["clip"] for c in clips) == sorted(c["id"] for c in manifest["clips"])
    for c in clips:
        series = records.read_frames(d, c["clip"])
        assert series["psnr"].shape == (N,) and np.isfinite(series["psnr"]).all()
        assert c["metrics"]["psnr"]["mean"] == pytest.approx(series["psnr"].mean())
    s = records.read_json(d / "summary.json")
    means = [c["metrics"]["ssim"]["mean"] for c in clips]
    assert s["metrics"]["ssim"]["mean"] == pytest.approx(np.mean(means))
    lo, hi = s["metrics"]["ssim"]["ci95"]
    assert lo <= s["metrics"]["ssim"]["mean"] <= hi
    assert s["throughput"]["output_size"] == "320x192" and s["throughput"]["fps"] > 0
    assert "bicubic on synthetic-long" in (d / "report.md").read_text()


def test_streamed_scores_equal_a_whole_clip_computation(tmp_path, manifest):
    """Oracle: decode the whole (short) clip at once, upscale, quantise, score in one call."""
    res = _run(tmp_path)
    clip = manifest["clips"][0]
    root = manifest["root"]
    lr = next(iter(FrameReader(f"{root}/{clip['lr']['path']}", chunk=N, max_frames=N)))
    hr = next(iter(FrameReader(f"{root}/{clip['hr']['path']}", chunk=N, max_frames=N)))
    sr = quantize(Bicubic().upscale(lr).clamp(0, 1))
    series = records.read_frames(res.run_dir, clip["id"])
    for name in ("psnr", "ssim"):
        expect = get_metric(name).update(sr, hr).numpy()
        np.testing.assert_allclose(series[name], expect, rtol=0, atol=1e-9)


def test_results_do_not_depend_on_chunk_length(tmp_path, manifest):
    a = _run(tmp_path, "a", method_params={"chunk_frames": 5})
    b = _run(tmp_path, "b", method_params={"chunk_frames": 1})
    for clip in manifest["clips"]:
        fa, fb = records.read_frames(a.run_dir, clip["id"]), records.read_frames(b.run_dir, clip["id"])
        for k in fa:
            np.testing.assert_array_equal(fa[k], fb[k])


class _Delayed(Bicubic):
    """Holds back its last 3 frames each step and releases them on the next step / flush."""

    def reset(self, meta=None):
        self.held = torch.empty(0, 3, 0, 0)

    def step(self, lr_chunk):
        out = super().step(lr_chunk)
        out = torch.cat([self.held, out]) if self.held.numel() else out
        self.held = out[-3:]
        return out[:-3]

    def flush(self):
        held, self.held = self.held, torch.empty(0, 3, 0, 0)
        return held


def test_delayed_output_stays_aligned_with_reference(tmp_path, manifest, monkeypatch):
    plain = _run(tmp_path, "plain")
    monkeypatch.setattr("infvsr_bench.methods.interpolation.Bicubic", _Delayed)
    delayed = _run(tmp_path, "delayed", method_params={"chunk_frames": 4})
    clip = manifest["clips"][1]["id"]
    np.testing.assert_array_equal(records.read_frames(plain.run_dir, clip)["psnr"],
                                  records.read_frames(delayed.run_dir, clip)["psnr"])


def _breaking(kind, victim):
    class Broken(Bicubic):
        def reset(self, meta=None):
            self.clip = meta["clip"]

        def step(self, lr_chunk):
            out = super().step(lr_chunk)
            if self.clip != victim:
                return out
            if kind == "raise":
                raise RuntimeError("simulated crash")
            if kind == "short":
                return out[:-1]
            return out[..., :-4]  # wrong size
        calls = 0
    return Broken


@pytest.mark.parametrize("kind,reason", [("raise", "simulated crash"), ("short", "frames for"),
                                         ("size", "expected (3, 192, 320)")])
def test_a_failing_clip_is_recorded_and_the_run_goes_on(tmp_path, manifest, monkeypatch, kind, reason):
    victim = manifest["clips"][1]["id"]
    monkeypatch.setattr("infvsr_bench.methods.interpolation.Bicubic", _breaking(kind, victim))
    res = _run(tmp_path)
    assert res.exit_code == 1 and res.failed == [victim]
    recs = {c["clip"]: c for c in records.read_clips(res.run_dir)}
    assert recs[victim]["status"] == "failed" and reason in recs[victim]["error"]
    assert all(c["status"] == "ok" for k, c in recs.items() if k != victim)
    s = records.read_json(res.run_dir / "summary.json")
    assert s["clips"]["failed_ids"] == [victim] and s["metrics"]["psnr"]["n_clips"] == 2
    assert "failed: RuntimeError" in (res.run_dir / "report.md").read_text() or kind != "raise"


def test_resume_redoes_only_what_did_not_finish(tmp_path, manifest, monkeypatch):
    victim = manifest["clips"][2]["id"]
    monkeypatch.setattr("infvsr_bench.methods.interpolation.Bicubic", _breaking("raise", victim))
    first = _run(tmp_path)
    assert first.failed == [victim]
    before = {c: (first.run_dir / f"frames/{c}.npz").stat().st_mtime_ns for c in
              [m["id"] for m in manifest["clips"] if m["id"] != victim]}
    monkeypatch.undo()
    again = _run(tmp_path, resume=True)
    assert again.exit_code == 0 and sorted(again.skipped) == sorted(before)
    after = {c: (again.run_dir / f"frames/{c}.npz").stat().st_mtime_ns for c in before}
    assert after == before
    assert records.read_json(again.run_dir / "summary.json")["clips"]["ok"] == 3
    fresh = _run(tmp_path, "fresh")
    a = json.loads((again.run_dir / "summary.json").read_text())["metrics"]
    b = json.loads((fresh.run_dir / "summary.json").read_text())["metrics"]
    assert a == b


def test_default_metric_set_runs_or_says_why_not(tmp_path, manifest):
    from infvsr_bench.metrics import DEFAULT_METRICS

    res = _run(tmp_path, metrics=None)
    s = res.summary
    for name in DEFAULT_METRICS:
        assert (name in s["metrics"]) != (name in s["unavailable"]), name
    for name, reason in s["unavailable"].items():
        assert "weights fetch" in reason or "not found" in reason, reason
    for label, m in s["metrics"].items():
        assert m["n_clips"] == 3 and m["mean"] is not None, label


class _Cached(Bicubic):
    """A method with a rolling cache of the last 2 LR frames, reporting its size like a KV-cache would."""

    def reset(self, meta=None):
        self.cache = torch.zeros(0)

    def step(self, lr_chunk):
        self.cache = lr_chunk[-2:].clone()
        return super().step(lr_chunk)

    def cache_bytes(self):
        return self.cache.numel() * self.cache.element_size()


def test_throughput_records_cache_bytes_and_timing_fields(tmp_path, manifest, monkeypatch):
    monkeypatch.setattr("infvsr_bench.methods.interpolation.Bicubic", _Cached)
    res = _run(tmp_path, method_params={"chunk_frames": 5})
    lr_frame = 3 * 48 * 80 * 4
    for c in records.read_clips(res.run_dir):
        t = c["throughput"]
        assert t["cache_bytes"] == 2 * lr_frame and t["peak_device_mb"] is None
        assert t["chunks"] == 4 and t["warmup_chunks"] == 1 and t["frames"] == N  # 5+5+2 and a flush
        assert t["input_size"] == "80x48" and t["output_size"] == "320x192" and t["dtype"] == "float32"
    s = res.summary["throughput"]
    assert s["cache_bytes"] == 2 * lr_frame and s["device"].startswith("cpu")
    assert "; cache " in (res.run_dir / "report.md").read_text()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_peak_device_memory_is_recorded_on_cuda(tmp_path, manifest):
    res = _run(tmp_path, device="cuda")
    assert res.summary["throughput"]["peak_device_mb"] > 0


def test_peak_device_memory_counts_the_method_calls_not_the_metrics_between_them(monkeypatch):
    """Metric networks now score on the run's GPU between method calls; neither their activations nor what
    they keep resident (weights built on the first chunk) may be charged to the method. A fake CUDA
    allocator: the method holds 300 MiB and peaks 100 MiB above it in each call; the metrics build 700 MiB of
    weights on the first chunk and peak 5 GiB while scoring."""
    from infvsr_bench import throughput

    mib = 2 ** 20
    state = {"allocated": 300 * mib, "peak": 0}

    def alloc(n, keep=0):
        state["peak"] = max(state["peak"], state["allocated"] + n)
        state["allocated"] += keep

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats",
                        lambda device=None: state.update(peak=state["allocated"]))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: state["peak"])
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: state["allocated"])

    def step():
        alloc(100 * mib)
        return torch.zeros(2, 3, 4, 4)

    def score(first):
        alloc(5 * 1024 * mib, keep=700 * mib if first else 0)

    timer = throughput.ClipTimer(device="cuda")
    for i in range(3):
        timer.time_call(step)
        timer.outside(score, i == 0)
    res = timer.result()
    assert res["peak_device_mb"] == 400 and res["metrics_device_mb"] == 700
    # the next clip: the metric networks built on the first stay resident; the runner carries their bytes
    nxt = throughput.ClipTimer(device="cuda", other_bytes=timer.other_bytes)
    nxt.time_call(step)
    nxt.outside(score, False)
    assert nxt.result()["peak_device_mb"] == 400
