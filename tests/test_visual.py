"""Temporal profiles and worst moments, streamed (infvsr_bench.visual): profiles equal the rows of the frames
they were built from, the automatic rows depend only on the reference, and planted defects (a flash, a blur)
are the worst moments found."""
import numpy as np
import pytest
import torch

from infvsr_bench.errors import BadInput
from infvsr_bench.metrics import get_metric
from infvsr_bench.video_io import to_float
from infvsr_bench.visual.moments import MomentTracker, Watched, crop_key, detail_box
from infvsr_bench.visual.profiles import ProfileRecorder, ProfileSpec

from .helpers import photo_frames


def _chunks(x, sizes):
    i = 0
    for s in sizes:
        yield x[i:i + s]
        i += s


def test_profile_equals_the_rows_and_columns_of_its_frames():
    frames = photo_frames(23, 48, 64, seed=1)  # (T,H,W,3) uint8
    sr = to_float(frames)
    hr = to_float(photo_frames(23, 48, 64, seed=2))
    rec = ProfileRecorder(23, 48, 64, ProfileSpec(rows=[5, 40], cols=[0, 63]))
    for a, b in zip(_chunks(sr, [4, 1, 10, 8]), _chunks(hr, [4, 1, 10, 8])):
        rec.update(a, b)
    out = rec.result()
    np.testing.assert_array_equal(out["sr/row-5"], frames[:, 5])
    np.testing.assert_array_equal(out["sr/row-40"], frames[:, 40])
    np.testing.assert_array_equal(out["sr/col-63"], frames[:, :, 63])
    np.testing.assert_array_equal(out["gt/col-0"], photo_frames(23, 48, 64, seed=2)[:, :, 0])
    np.testing.assert_array_equal(out["frame_index"], np.arange(23))


def test_long_clip_keeps_every_kth_frame_within_the_bound():
    frames = photo_frames(25, 32, 40, seed=3)
    rec = ProfileRecorder(25, 32, 40, ProfileSpec(rows=[7], cols=[]), max_samples=10)
    for a in _chunks(to_float(frames), [6, 6, 6, 7]):
        rec.update(a, None)
    out = rec.result()
    assert rec.stride == 3 and out["sr/row-7"].shape == (9, 40, 3) and "gt/row-7" not in out
    np.testing.assert_array_equal(out["frame_index"], np.arange(0, 25, 3))
    np.testing.assert_array_equal(out["sr/row-7"], frames[::3, 7])


def _half_static(n=30, h=48, w=64):
    """Reference frames whose top half is a still photograph and bottom half a moving one."""
    still = photo_frames(1, h, w, seed=4)[0]
    moving = photo_frames(n, h, w, seed=5)
    ref = moving.copy()
    ref[:, : h // 2] = still[: h // 2]
    return ref


def test_automatic_rows_are_where_the_reference_is_still_and_ignore_the_output():
    ref = to_float(_half_static())
    picks = []
    for seed in (6, 7):  # two different "methods": the same rows, and the early samples are kept too
        sr = to_float(photo_frames(30, 48, 64, seed=seed))
        rec = ProfileRecorder(30, 48, 64, scene_cuts=[], pick_frames=8)
        for a, b in zip(_chunks(sr, [3, 9, 18]), _chunks(ref, [3, 9, 18])):
            rec.update(a, b)
        out = rec.result()
        picks.append((rec.rows, rec.cols))
        y = rec.rows[0]
        np.testing.assert_array_equal(out[f"sr/row-{y}"], photo_frames(30, 48, 64, seed=seed)[:, y])
    assert picks[0] == picks[1]
    assert all(y < 24 for y in picks[0][0]), picks  # rows in the still half


def test_profile_spec_parsing_and_bad_values():
    spec = ProfileSpec.parse("rows=12,4,cols=100")
    assert spec.rows == [4, 12] and spec.cols == [100]
    assert ProfileSpec.parse(None).auto and ProfileSpec.parse("cols=3").rows == []
    for bad in ("rows=a", "depth=3", "12,4", "rows=-1", "rows=1,rows=2"):
        with pytest.raises(BadInput):
            ProfileSpec.parse(bad)
    with pytest.raises(BadInput, match="outside"):
        ProfileSpec.parse("rows=50").check(48, 64, "clip a")


def _planted(n=40, flash=13, blur=27):
    """(lr, sr, gt) float tensors: the output is the truth plus faint noise, with a flash and a blur."""
    import torch.nn.functional as F

    gt = to_float(photo_frames(n, 48, 64, seed=9))  # a textured part of the photograph: blur shows
    rng = np.random.default_rng(0)
    sr = (gt + torch.from_numpy(rng.normal(0, 1.5 / 255, gt.shape).astype(np.float32))).clamp(0, 1)
    sr[flash] = (sr[flash] + 0.35).clamp(0, 1)
    k = torch.ones(3, 1, 5, 5) / 25
    sr[blur] = F.conv2d(F.pad(gt[blur:blur + 1], (2, 2, 2, 2), mode="replicate"), k, groups=3)[0]
    sr = sr.mul(255).round().div(255)
    lr = F.interpolate(gt, scale_factor=0.25, mode="area")
    return lr, sr, gt


def test_worst_moments_find_a_planted_flash_and_blur():
    lr, sr, gt = _planted()
    metrics = [get_metric("psnr"), get_metric("flicker")]
    tracker = MomentTracker([Watched(m.label, m.higher_is_better, m.context > 0) for m in metrics], 4, 48, 64,
                            k=2, crop=32)
    start = 0
    for a, b, c in zip(_chunks(lr, [7] * 6), _chunks(sr, [7] * 6), _chunks(gt, [7] * 6)):
        vals = {m.label: m.update(b, c).numpy() for m in metrics}
        tracker.update(start, a, b, c, vals)
        start += b.shape[0]
    got = {(m["metric"], m["kind"]): m for m in tracker.result() if m["rank"] == 1}
    worst_psnr = sorted(m["frame"] for m in tracker.result() if m["metric"] == "psnr")
    assert worst_psnr == [13, 27]
    assert got[("psnr", "value")]["frame"] == 13  # the flash is worse than the blur
    # flicker at t scores the pair (t-1, t): the flash spoils frames 13 and 14, so the jumps are in and out
    assert sorted(m["frame"] for m in tracker.result() if m["kind"] == "jump") == [13, 15]
    m = got[("psnr", "value")]
    y, x, hgt, wid = m["box"]
    assert (hgt, wid) == (32, 32)
    np.testing.assert_array_equal(m["crops"][13]["sr"],
                                  sr[13, :, y:y + 32, x:x + 32].mul(255).round().byte().permute(1, 2, 0).numpy())
    assert m["crops"][13]["lr"].shape == (8, 8, 3)
    assert (y // 4, x // 4) == detail_box(lr[13], 8)
    assert crop_key(13, m["box"], "sr") == f"t13_y{y}_x{x}_sr"


def test_drift_slope_of_a_planted_linear_degradation_is_recovered(tmp_path):
    from infvsr_bench import records
    from infvsr_bench.visual.drift import run_drift, scene_slope, vde

    rng = np.random.default_rng(1)
    n, cuts = 3000, [1000, 2200]
    t = np.arange(n, dtype=np.float64)
    scene_offset = np.select([t < 1000, t < 2200], [0.0, 5.0], -3.0)  # jumps at cuts are not drift
    slopes = [-0.8, -1.2, -1.0]  # dB per 1,000 frames, one clip each
    for i, s in enumerate(slopes):
        v = 30.0 + scene_offset + s * t / 1000 + rng.normal(0, 0.05, n)
        v[::97] = np.nan  # undefined frames are skipped
        assert scene_slope(v, cuts) == pytest.approx(s, abs=0.02)
        records.write_frames(tmp_path, f"c{i}", {"psnr": v})
        records.append_clip(tmp_path, {"clip": f"c{i}", "status": "ok", "scene_cuts": cuts})
    d = run_drift(tmp_path)["psnr"]
    assert d["slope_per_1000"] == pytest.approx(np.mean(slopes), abs=0.02) and d["clips"] == 3
    assert d["slope_ci95"][0] <= d["slope_per_1000"] <= d["slope_ci95"][1]
    assert vde(np.repeat([10.0, 11.0, 9.0, 10.0, 12.0], 4)) == pytest.approx((1 + 1 + 0 + 2) / 10 / 4)
    assert vde(np.full(50, 7.0)) == 0.0


def _observed_peak(n: int, chunk: int = 10, h: int = 48, w: int = 64) -> int:
    """Peak traced bytes of profiles (capped at 40 time samples) + worst moments over an n-frame stream."""
    import tracemalloc

    rng = torch.Generator().manual_seed(0)
    rec = ProfileRecorder(n, h, w, scene_cuts=[n // 2], max_samples=40)
    tracker = MomentTracker([Watched("psnr", True, False), Watched("flicker", True, True)], 4, h, w, [n // 2],
                            k=4, crop=32)
    tracemalloc.start()
    for start in range(0, n, chunk):
        sr, hr = torch.rand(chunk, 3, h, w, generator=rng), torch.rand(chunk, 3, h, w, generator=rng)
        lr = torch.rand(chunk, 3, h // 4, w // 4, generator=rng)
        vals = {"psnr": np.random.default_rng(start).normal(30, 1, chunk),
                "flicker": np.random.default_rng(start + 1).normal(0.9, 0.01, chunk)}
        rec.update(sr, hr, lr)
        tracker.update(start, lr, sr, hr, vals)
    rec.result(), tracker.result()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_pictures_state_stays_flat_in_video_length():
    """Profiles past their time cap and the K-crop heaps hold the same memory at 4N frames as at N."""
    small, large = _observed_peak(40), _observed_peak(160)
    one_frame = 3 * 48 * 64  # uint8 bytes of one output frame
    assert large - small < 4 * one_frame, (small, large)  # 120 more frames kept would be 30x that
