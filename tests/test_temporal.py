"""Temporal metrics (ewarp-dis / ewarp-raft / ewarp-ref / tof / flicker) and the flow toolkit under them.

Independent references used here: ``np.roll`` / ``cv2.remap`` / ``scipy.ndimage.map_coordinates`` for the
warping step; a float64 numpy + scipy implementation of the whole E*warp recipe written in this file (fed
with OpenCV's own DIS flows on ``cv2.resize`` frames); hand-derived occlusion masks; closed-form warping
errors; a VBench-style numpy flicker formula; a TecoGAN-style per-pair Farnebäck loop.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from scipy.ndimage import map_coordinates
from skimage import data

from infvsr_bench.errors import BadInput, WeightsNotFound
from infvsr_bench.metrics import get_metric
from infvsr_bench.metrics.flow import (
    DISFlow,
    RAFTFlow,
    downscale,
    grey_levels,
    lai_occlusion,
    luma_u8,
    occlusion_parts,
    warp,
)
from infvsr_bench.metrics.temporal import tecogan_crop_box, warp_error

from .helpers import photo_frames, torch_threads

CPU_METRICS = ("ewarp-dis", "ewarp-ref", "tof", "flicker")
#: tOF over whole frames and every pair: what the tests of its streaming, cuts and formula use (TecoGAN's
#: default crop needs frames of at least 48 px a side and drops pairs at the ends; tested on its own below)
WHOLE_CLIP = {"tof": {"crop": "none", "skip_ends": 0}}


def _metric(name: str, **params):
    return get_metric(name, **{**WHOLE_CLIP.get(name, {}), **params})


# -- inputs -----------------------------------------------------------------------------------------------
def _tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (T, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0


def _pan(n: int, dy: int, dx: int, h: int = 128, w: int = 192, y0: int = 60, x0: int = 40) -> np.ndarray:
    """(n, h, w, 3) uint8 crops of a real photograph, the crop moving (dy, dx) pixels per frame: the content
    moves by (−dy, −dx) — a pure integer translation."""
    img = data.astronaut()
    return np.stack([img[y0 + dy * i:y0 + dy * i + h, x0 + dx * i:x0 + dx * i + w] for i in range(n)])


def _unrelated(h: int = 128, w: int = 192) -> np.ndarray:
    """(6, h, w, 3) uint8: crops of six different photographs — no motion relates one frame to the next."""
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry(),
              data.hubble_deep_field()]
    return np.stack([p[40:40 + h, 60:60 + w, :3] for p in photos])


def _feed(metric, sr: torch.Tensor, hr: torch.Tensor | None, chunk: int, meta: dict | None = None) -> np.ndarray:
    """Per-frame values of a whole clip fed ``chunk`` frames at a time, as the runner does."""
    metric.reset()
    metric.start(meta or {"clip": "c", "frames": sr.shape[0], "fps": 25.0, "scene_cuts": [],
                          "chunk_boundaries": None})
    vals = [metric.update(sr[i:i + chunk], None if hr is None else hr[i:i + chunk])
            for i in range(0, sr.shape[0], chunk)]
    return torch.cat(vals).numpy()


@pytest.fixture
def one_thread():
    """RAFT on a shared 2-core machine: one torch thread avoids OpenMP spin-waiting (speed only)."""
    with torch_threads(1):
        yield


# -- warping and the occlusion mask ----------------------------------------------------------------------
def test_warp_by_constant_flow_matches_roll_remap_and_map_coordinates():
    img = data.coffee()[100:164, 200:296].astype(np.float32) / 255.0  # (64, 96, 3)
    h, w = img.shape[:2]
    x = torch.from_numpy(img).permute(2, 0, 1)[None]  # (1, 3, 64, 96)
    dy, dx = -2, 3
    flow = torch.zeros(1, 2, h, w)
    flow[:, 0], flow[:, 1] = dx, dy
    out = warp(x, flow)[0].permute(1, 2, 0).numpy()  # (64, 96, 3)
    # np.roll: out(y, x) = img(y + dy, x + dx) wherever that is inside the frame. grid_sample works in
    # normalised coordinates; the float32 round trip pixel -> [-1, 1] -> pixel leaves ~1e-6 (a grey level
    # is 4e-3), hence atol 1e-5 rather than bitwise equality.
    rolled = np.roll(img, shift=(-dy, -dx), axis=(0, 1))
    np.testing.assert_allclose(out[-dy:, :w - dx], rolled[-dy:, :w - dx], atol=1e-5)
    # cv2.remap with replicated borders: the whole frame (integer positions: no interpolation weights)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    remapped = cv2.remap(img, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    np.testing.assert_allclose(out, remapped, atol=1e-5)
    # a fractional, spatially varying flow against float64 bilinear interpolation (clamped at the edges)
    rng = np.random.default_rng(0)
    fl = rng.uniform(-4.0, 4.0, size=(2, h, w)).astype(np.float32)
    out = warp(x, torch.from_numpy(fl)[None])[0].numpy()  # (3, 64, 96)
    ref = np.stack([map_coordinates(img[..., c].astype(np.float64), [ys + fl[1], xs + fl[0]], order=1,
                                    mode="nearest") for c in range(3)])
    np.testing.assert_allclose(out, ref, atol=2e-5)


def test_lai_mask_marks_the_known_occlusion_and_motion_boundary():
    """A 20×20 square moves 6 px right over a static background (flows written down by hand).

    Frame a: square at rows/cols [20, 40). Frame b: square at rows [20, 40), cols [26, 46).
    Forward-backward check: background pixels of a at cols [40, 46) are covered by the square in b — their
    forward flow is 0 but b's backward flow there is −6 — so they, and only they, fail it. Motion boundary
    (forward differences of the forward flow): the pixels just before each jump — col 19 and col 39 on rows
    [20, 40), row 19 and row 39 on cols [20, 40).
    """
    h, w = 64, 80
    fw = torch.zeros(1, 2, h, w)
    fw[0, 0, 20:40, 20:40] = 6.0
    bw = torch.zeros(1, 2, h, w)
    bw[0, 0, 20:40, 26:46] = -6.0
    inconsistent, boundary = occlusion_parts(fw, bw)
    want_fb = np.zeros((h, w), bool)
    want_fb[20:40, 40:46] = True
    want_mb = np.zeros((h, w), bool)
    want_mb[20:40, 19] = want_mb[20:40, 39] = True
    want_mb[19, 20:40] = want_mb[39, 20:40] = True
    np.testing.assert_array_equal(inconsistent[0].numpy(), want_fb)
    np.testing.assert_array_equal(boundary[0].numpy(), want_mb)
    np.testing.assert_array_equal(lai_occlusion(fw, bw)[0].numpy(), want_fb | want_mb)
    # a consistent global motion is never occluded (also where it samples beyond the border)
    fw_c = torch.zeros(1, 2, h, w)
    fw_c[:, 0], fw_c[:, 1] = 3.0, -1.0
    assert not lai_occlusion(fw_c, -fw_c).any()


def test_warp_error_with_the_true_flow_is_the_border_column():
    """b is a shifted by one pixel: b(x) = a(x + 1), so the flow a → b is −1 and b → a is +1 everywhere.
    Warping b back reproduces a exactly except in column 0, which samples beyond b's left edge and takes b's
    column 0 = a's column 1. Nothing is occluded. Hence E = Σ_y Σ_c (a(y, 0) − a(y, 1))² / (H·W)."""
    img = data.astronaut()[100:164, 100:197].astype(np.float64) / 255.0  # (64, 97, 3)
    a, b = img[:, :96], img[:, 1:97]
    h, w = a.shape[:2]
    fw = torch.zeros(1, 2, h, w)
    fw[:, 0] = -1.0
    ta = torch.from_numpy(a).permute(2, 0, 1)[None].float()
    tb = torch.from_numpy(b).permute(2, 0, 1)[None].float()
    err, occluded = warp_error(ta, tb, fw, -fw)
    a32 = a.astype(np.float32).astype(np.float64)  # the metric sees float32 frames
    want = ((a32[:, 0] - a32[:, 1]) ** 2).sum() / (h * w)
    assert occluded.item() == 0.0
    assert err.item() == pytest.approx(want, rel=1e-5)
    # everything occluded: undefined, not zero
    wild = torch.full((1, 2, h, w), 5.0)  # both directions claim the same motion: no pixel round-trips
    err, occluded = warp_error(ta, tb, wild, wild)
    assert occluded.item() == 1.0 and math.isnan(err.item())


def test_fused_warp_error_equals_warp_and_mask_composed():
    """Oracle for the fused per-pair ``warp_error``: the same quantity from the plain building blocks
    (``warp`` on whole batches, ``lai_occlusion``), on DIS flows of real motion and on wild random flows that
    occlude a large, irregular part of the frame."""
    frames = _tensor(_pan(3, 3, 5, h=64, w=96))
    frames[2] = (frames[2] + 0.2).clamp_(0, 1)
    gray = luma_u8(grey_levels(frames))
    fw, bw = DISFlow().bidirectional(gray[:2], gray[1:])
    g = torch.Generator().manual_seed(1)
    smooth = torch.nn.functional.interpolate(2 * torch.randn(2, 2, 3, 4, generator=g), size=(64, 96),
                                             mode="bilinear", align_corners=True)  # (2, 2, 64, 96)
    back = -smooth
    back[:, :, 20:40, 30:60] += 4.0  # a block whose backward flow disagrees: occluded
    fw, bw = torch.cat((fw, smooth)), torch.cat((bw, back))
    a, b = frames[[0, 1, 0, 1]], frames[[1, 2, 1, 2]]
    err, occluded = warp_error(a, b, fw, bw)
    mask = lai_occlusion(fw, bw)
    keep = ~mask
    want = ((a - warp(b, fw)).pow(2).sum(1).double() * keep).sum((1, 2)) / keep.sum((1, 2))
    torch.testing.assert_close(err, want, rtol=1e-6, atol=0)
    torch.testing.assert_close(occluded, mask.double().mean((1, 2)), rtol=0, atol=1e-12)
    assert 0.0 < occluded[1] and (0.05 < occluded[2:]).all() and (occluded[2:] < 0.95).all(), occluded


# -- ewarp against an independent implementation ----------------------------------------------------------
def _reference_ewarp(frames: np.ndarray, flow_frames: np.ndarray | None = None, resize: bool = True) -> np.ndarray:
    """The E*warp recipe in float64 numpy/scipy: per-frame values ×1000, NaN at frame 0.

    ``frames``: (T, H, W, 3) uint8 output; ``flow_frames``: where the flow comes from (default: the output).
    Resize: exact 2×2 means (float64) for the scored frames, ``cv2.resize(INTER_LINEAR)`` for the flow
    input; DIS "medium" flows from OpenCV directly; mask, warp and error written out here.
    """
    flow_frames = frames if flow_frames is None else flow_frames
    t, h, w, _ = frames.shape
    if resize:
        rgb = (frames.astype(np.float64) / 255.0).reshape(t, h // 2, 2, w // 2, 2, 3).mean((2, 4))
        small = [cv2.resize(f, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_LINEAR) for f in flow_frames]
    else:
        rgb, small = frames.astype(np.float64) / 255.0, list(flow_frames)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in small]
    dis = cv2.DISOpticalFlow_create(cv2.DISOpticalFlow_PRESET_MEDIUM)
    hh, ww = gray[0].shape
    ys, xs = np.mgrid[0:hh, 0:ww].astype(np.float64)

    def sample(plane: np.ndarray, flow: np.ndarray) -> np.ndarray:
        return map_coordinates(plane, [ys + flow[..., 1], xs + flow[..., 0]], order=1, mode="nearest")

    out = [math.nan]
    for k in range(1, t):
        fw = dis.calc(gray[k - 1], gray[k], None).astype(np.float64)  # (h, w, 2)
        bw = dis.calc(gray[k], gray[k - 1], None).astype(np.float64)
        bw_on_a = np.stack([sample(bw[..., c], fw) for c in range(2)], -1)
        fb = ((fw + bw_on_a) ** 2).sum(-1) > 0.01 * ((fw ** 2).sum(-1) + (bw_on_a ** 2).sum(-1)) + 0.5
        grad = np.zeros((hh, ww))
        grad[:, :-1] += ((fw[:, :-1] - fw[:, 1:]) ** 2).sum(-1)
        grad[:-1, :] += ((fw[:-1] - fw[1:]) ** 2).sum(-1)
        keep = ~(fb | (grad > 0.01 * (fw ** 2).sum(-1) + 0.002))
        warped = np.stack([sample(rgb[k][..., c], fw) for c in range(3)], -1)
        sq = ((rgb[k - 1] - warped) ** 2).sum(-1)
        out.append(1000.0 * sq[keep].sum() / keep.sum() if keep.any() else math.nan)
    return np.asarray(out)


def test_ewarp_dis_and_ref_match_independent_reference():
    """Real motion (5 px right, 3 px down per frame) with a brightened frame; our batched torch pipeline vs
    the float64 reference. Both see identical uint8 flow inputs and DIS flows, so what remains is float32 vs
    float64 arithmetic: agreement to ~1e-6 relative (rtol 1e-5)."""
    frames = _pan(6, 3, 5, h=96, w=128)
    frames[3] = np.clip(frames[3].astype(int) + 40, 0, 255)
    ours = get_metric("ewarp-dis").update(_tensor(frames)).numpy()
    np.testing.assert_allclose(ours, _reference_ewarp(frames), rtol=1e-5)
    # ewarp-ref: flow and mask from the clean reference, error of a noisy output
    rng = np.random.default_rng(2)
    clean = _pan(4, 3, 5, h=64, w=96)
    noisy = np.clip(clean + rng.normal(0, 4, clean.shape), 0, 255).round().astype(np.uint8)
    ours = get_metric("ewarp-ref").update(_tensor(noisy), _tensor(clean)).numpy()
    np.testing.assert_allclose(ours, _reference_ewarp(noisy, clean, resize=False), rtol=1e-5)


def test_gray_flow_input_is_cv2_resize():
    """Our 0.5× luma (exact 2×2 means, rounded half up) equals cv2.resize(INTER_LINEAR) + cv2 RGB2GRAY."""
    frames = photo_frames(3, 66, 98, seed=5)
    ours = luma_u8(downscale(grey_levels(_tensor(frames)), 0.5))
    want = np.stack([cv2.cvtColor(cv2.resize(f, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_LINEAR),
                                  cv2.COLOR_RGB2GRAY) for f in frames])
    np.testing.assert_array_equal(ours, want)


# -- analytic behaviour -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ewarp-dis", "ewarp-ref"])
def test_translation_is_near_zero_and_unrelated_frames_large(name):
    """A 160×256 photo crop moving 4 px right and 2 px down per frame (2 px and 1 px after ewarp-dis's 0.5×
    resize: still a whole-pixel translation). With the true flow only the columns/rows that leave the view
    would differ (the recipe warps them from the clamped border; the mask catches some of them) — about 2%
    of the pixels; with DIS's sub-pixel error on top we measure 0.1–0.8 (×1e-3 units) and allow < 2.
    Crops of six different photographs measure 80–650 where defined; we require > 50 on every pair that is
    defined, at least four defined pairs, and that the mask rejects most of the frame (a pair whose pixels
    are all rejected is NaN, not 0)."""
    pan = _tensor(_pan(6, 2, 4, h=160, w=256))
    unrelated = _tensor(_unrelated(160, 256))
    m = get_metric(name)
    moving = m.update(pan, pan).numpy()
    assert math.isnan(moving[0])
    assert np.all(moving[1:] >= 0) and np.all(moving[1:] < 2.0), moving
    assert m.extra()["occluded_fraction"] < 0.05
    m = get_metric(name)
    cut = m.update(unrelated, unrelated).numpy()
    defined = cut[1:][~np.isnan(cut[1:])]
    assert defined.size >= 4 and defined.min() > 50.0, cut
    assert m.extra()["occluded_fraction"] > 0.5


def test_flash_raises_ewarp_only_at_the_pairs_touching_it():
    """Frame 3 brightened by +0.3: the pairs (2, 3) and (3, 4), reported at frames 3 and 4, jump by orders
    of magnitude (a 0.3 step on three channels is ~270 ×1e3); every other pair stays at the clean value."""
    clean = _tensor(_pan(7, 2, 4))
    flash = clean.clone()
    flash[3] = (flash[3] + 0.3).clamp_(0.0, 1.0)
    base = get_metric("ewarp-dis").update(clean).numpy()
    hit = get_metric("ewarp-dis").update(flash).numpy()
    for t in (1, 2, 5, 6):
        assert hit[t] == base[t]
    assert hit[3] > 50.0 and hit[4] > 50.0
    assert hit[3] > 100 * np.max(base[1:]) and hit[4] > 100 * np.max(base[1:])


def test_flicker_is_one_on_a_static_video_and_matches_numpy():
    still = _tensor(np.repeat(photo_frames(1, 48, 64), 5, axis=0))
    vals = get_metric("flicker").update(still).numpy()
    assert math.isnan(vals[0]) and np.all(vals[1:] == 1.0)
    frames = photo_frames(6, 48, 64, seed=1)
    frames[4] = np.clip(frames[4].astype(int) - 30, 0, 255)
    vals = get_metric("flicker").update(_tensor(frames)).numpy()
    mae = [np.abs(frames[t].astype(np.int64) - frames[t - 1].astype(np.int64)).mean() for t in range(1, 6)]
    np.testing.assert_array_equal(vals[1:], (255.0 - np.asarray(mae)) / 255.0)  # exact: integer sums
    # VBench's video score is (255 - mean MAE)/255: the mean of our per-pair values
    assert np.nanmean(vals) == pytest.approx((255.0 - np.mean(mae)) / 255.0, rel=1e-12)


def test_tof_is_zero_for_the_reference_and_positive_when_the_output_jitters():
    gt_u8 = _pan(6, 2, 4, h=64, w=96)
    gt = _tensor(gt_u8)
    assert np.all(_metric("tof").update(gt, gt).numpy()[1:] == 0.0)
    # output: the same crops, each displaced by a random ±2 px jitter
    rng = np.random.default_rng(3)
    img = data.astronaut()
    jit = np.stack([img[60 + 2 * i + a:60 + 2 * i + a + 64, 40 + 4 * i + b:40 + 4 * i + b + 96]
                    for i, (a, b) in enumerate(rng.integers(-2, 3, size=(6, 2)))])
    vals = _metric("tof").update(_tensor(jit), gt).numpy()
    assert np.all(vals[1:] > 0.3), vals
    # the same numbers from a TecoGAN-style loop written here (gray → Farnebäck per pair → mean L2)
    gray = lambda f: cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
    want = []
    for t in range(1, 6):
        d = (cv2.calcOpticalFlowFarneback(gray(jit[t - 1]), gray(jit[t]), None, 0.5, 3, 15, 3, 5, 1.2, 0)
             - cv2.calcOpticalFlowFarneback(gray(gt_u8[t - 1]), gray(gt_u8[t]), None, 0.5, 3, 15, 3, 5, 1.2, 0))
        want.append(np.sqrt((d.astype(np.float64) ** 2).sum(-1)).mean())
    np.testing.assert_allclose(vals[1:], want, rtol=1e-12)


def tecogan_crop_8x8(img: np.ndarray) -> np.ndarray:
    """TecoGAN ``metrics.py``'s ``crop_8x8``, rewritten: each side cut to a multiple of 32 leaving >= 16 px,
    the kept block centred."""
    h, w = img.shape[:2]
    ch, cw = (h // 32) * 32, (w // 32) * 32
    while ch > h - 16:
        ch -= 32
    while cw > w - 16:
        cw -= 32
    y, x = (h - ch) // 2, (w - cw) // 2
    return img[y:y + ch, x:x + cw]


def tecogan_tof(out: np.ndarray, tar: np.ndarray, cutfr: int = 2) -> list[float]:
    """TecoGAN ``metrics.py``'s tOF loop, rewritten: frames cutfr .. N-cutfr-1, a value for every frame after
    the first kept one, Farneback on uncropped greys, the flows cropped, float32 throughout."""
    vals, prev = [], None
    for i in range(cutfr, len(tar) - cutfr):
        og, tg = cv2.cvtColor(out[i], cv2.COLOR_RGB2GRAY), cv2.cvtColor(tar[i], cv2.COLOR_RGB2GRAY)
        if i > cutfr:
            t_of = tecogan_crop_8x8(cv2.calcOpticalFlowFarneback(prev[1], tg, None, 0.5, 3, 15, 3, 5, 1.2, 0))
            o_of = tecogan_crop_8x8(cv2.calcOpticalFlowFarneback(prev[0], og, None, 0.5, 3, 15, 3, 5, 1.2, 0))
            d = np.absolute(t_of - o_of)
            vals.append(float(np.sqrt(np.sum(d * d, axis=-1)).mean()))
        prev = (og, tg)
    return vals


def test_tof_default_is_tecogans_recipe():
    """Default tOF = TecoGAN's metrics.py (crop of the flows, 2 frames dropped at each end) on a real clip;
    whole frames (crop="none", skip_ends=0) are a different number."""
    assert tecogan_crop_box(540, 960) == (14, 526, 16, 944)
    assert tecogan_crop_box(64, 96) == (16, 48, 16, 80)
    for h, w in ((540, 960), (64, 96), (100, 150)):
        y0, y1, x0, x1 = tecogan_crop_box(h, w)
        assert tecogan_crop_8x8(np.zeros((h, w))).shape == (y1 - y0, x1 - x0)
    gt8 = _pan(9, 2, 3, h=100, w=150)
    rng = np.random.default_rng(0)
    out8 = np.clip(gt8 + rng.normal(0, 6, gt8.shape), 0, 255).round().astype(np.uint8)
    meta = {"clip": "c", "frames": 9, "fps": 25.0, "scene_cuts": [], "chunk_boundaries": None}
    ours = _feed(get_metric("tof"), _tensor(out8), _tensor(gt8), 4, meta)
    want = tecogan_tof(out8, gt8)  # pairs (2,3) .. (5,6): reported at 3 .. 6
    assert len(want) == 4 and np.isnan(ours[[0, 1, 2, 7, 8]]).all()
    np.testing.assert_allclose(ours[3:7], want, rtol=1e-6)  # TecoGAN's float32 vs our float64
    whole = _feed(_metric("tof"), _tensor(out8), _tensor(gt8), 4, meta)
    assert np.abs(whole[3:7] / ours[3:7] - 1).max() > 1e-3
    p = get_metric("tof").params
    assert (p["crop"], p["skip_ends"]) == ("tecogan", 2)
    with pytest.raises(BadInput, match="48"):
        get_metric("tof", skip_ends=0).update(_tensor(gt8[:3, :40, :40]), _tensor(gt8[:3, :40, :40]))


# -- streaming --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CPU_METRICS)
def test_chunks_of_three_equal_one_chunk_of_ten(name):
    hr = _tensor(photo_frames(10, 48, 64, seed=2))
    rng = np.random.default_rng(4)
    sr = (hr + torch.from_numpy(rng.normal(0, 0.02, hr.shape)).float()).clamp(0, 1)
    sr = (sr * 255).round() / 255
    whole = _feed(_metric(name), sr, hr, 10)
    chunked = _feed(_metric(name), sr, hr, 3)
    single = _feed(_metric(name), sr, hr, 1)
    assert math.isnan(whole[0]) and not np.isnan(whole[1:]).any()
    np.testing.assert_array_equal(chunked, whole)
    np.testing.assert_array_equal(single, whole)


@pytest.mark.parametrize("name", CPU_METRICS)
def test_scene_cut_gives_nan_at_the_cut_frame(name):
    frames = np.concatenate([photo_frames(4, 48, 64, seed=0), photo_frames(4, 48, 64, seed=9)])
    x = _tensor(frames)
    meta = {"clip": "c", "frames": 8, "fps": 25.0, "scene_cuts": [4], "chunk_boundaries": None}
    vals = _feed(_metric(name), x, x if name != "tof" else x.flip(0), 3, meta)
    assert np.isnan(vals[[0, 4]]).all() and not np.isnan(vals[[1, 2, 3, 5, 6, 7]]).any()
    scored = _feed(_metric(name, skip_cuts=False), x, x if name != "tof" else x.flip(0), 3, meta)
    assert not np.isnan(scored[4])
    np.testing.assert_array_equal(np.delete(scored, 4), np.delete(vals, 4))
    assert _metric(name).params["scene_cuts"] == "nan"
    assert _metric(name, skip_cuts=False).params["scene_cuts"] == "scored"


@pytest.mark.parametrize("name", CPU_METRICS)
def test_carry_is_one_frame_and_owns_its_memory(name):
    """The carried state after 3 chunks equals that after 1 (bounded), and no carried tensor is a view that
    keeps a whole chunk alive."""
    x = _tensor(photo_frames(12, 48, 64, seed=1))
    m = _metric(name)

    def carry_bytes():
        total = 0
        for item in m._carry:
            if isinstance(item, torch.Tensor):
                assert item.untyped_storage().nbytes() == item.numel() * item.element_size()
                total += item.untyped_storage().nbytes()
            else:
                assert item.base is None
                total += item.nbytes
        return total

    m.update(x[:4], x[:4])
    one = carry_bytes()
    m.update(x[4:8], x[4:8])
    m.update(x[8:], x[8:])
    assert carry_bytes() == one > 0
    m.reset()
    assert m._carry is None and m.frames == 0


# -- RAFT -------------------------------------------------------------------------------------------------
def test_ewarp_raft_random_weights_runs_and_batched_equals_per_pair(one_thread):
    """Random-init RAFT (plumbing only: its flows mean nothing) on 256×256 frames (128×128 after the 0.5×
    resize, the smallest RAFT accepts). All pairs in one forward vs one pair per forward: CPU kernels make
    these bitwise equal here; we allow float noise (1e-4 relative)."""
    x = _tensor(_pan(3, 2, 4, h=256, w=256))
    batched = get_metric("ewarp-raft", pretrained=False, iters=4)
    whole = batched.update(x).numpy()
    per_pair = get_metric("ewarp-raft", pretrained=False, iters=4)
    single = torch.cat([per_pair.update(x[k:k + 1]) for k in range(3)]).numpy()
    assert math.isnan(whole[0]) and np.all(np.isfinite(whole[1:]))
    np.testing.assert_allclose(single, whole, rtol=1e-4)
    assert batched.params["random_weights"] is True and batched.params["pretrained"] is False
    assert batched.requires == () and batched.extra()["random_weights"] is True
    # the flow estimator itself: both directions of two pairs in one call == one direction per call
    flow = batched._flow
    a, b = downscale(x[:2], 0.5), downscale(x[1:], 0.5)
    fw, bw = flow.bidirectional(a, b)
    for k in range(2):
        torch.testing.assert_close(fw[k:k + 1], flow(a[k:k + 1], b[k:k + 1]), rtol=1e-4, atol=1e-3)
        torch.testing.assert_close(bw[k:k + 1], flow(b[k:k + 1], a[k:k + 1]), rtol=1e-4, atol=1e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_ewarp_raft_on_cuda_is_batch_independent_and_matches_cpu():
    """On CUDA, RAFT runs with TF32 off so that a pair's value does not depend on how many pairs shared its
    forward (with TF32 it moved by ~1.5% on an H200); the caller's TF32 settings are restored afterwards."""
    x = _tensor(_pan(5, 2, 4, h=256, w=384))
    saved = torch.backends.cudnn.allow_tf32
    whole = get_metric("ewarp-raft", pretrained=False, device="cuda").update(x).numpy()
    assert torch.backends.cudnn.allow_tf32 == saved
    single = get_metric("ewarp-raft", pretrained=False, device="cuda", pairs_per_forward=1).update(x).numpy()
    np.testing.assert_allclose(single, whole, rtol=1e-4)
    cpu = get_metric("ewarp-raft", pretrained=False).update(x).numpy()
    np.testing.assert_allclose(whole, cpu, rtol=1e-4)  # measured 1.2e-5 (H200 vs this CPU)


def test_ewarp_raft_pretrained_without_weights_raises(monkeypatch, tmp_path):
    from infvsr_bench import weights

    for var in ("INFVSR_BENCH_WEIGHTS", "TORCH_HOME", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    m = get_metric("ewarp-raft")  # building it needs no file: the runner can report it unavailable
    assert m.requires == ("raft_large",) and "random_weights" not in m.params
    assert "raft_large" in weights.missing(m.requires)
    with pytest.raises(WeightsNotFound, match="raft_large"):
        m.update(torch.zeros(2, 3, 256, 256))
    with pytest.raises(BadInput, match="at least 128"):
        RAFTFlow(pretrained=False, iters=1)(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64))


# -- contract ---------------------------------------------------------------------------------------------
def test_declared_conventions():
    expect = {"ewarp-dis": ("NR", False), "ewarp-ref": ("FR", False), "ewarp-raft": ("NR", False),
              "tof": ("FR", False), "flicker": ("NR", True)}
    for name, (mode, higher) in expect.items():
        m = get_metric(name, pretrained=False) if name == "ewarp-raft" else get_metric(name)
        assert (m.mode, m.higher_is_better, m.context) == (mode, higher, 1)
        assert m.params["pairs"].startswith("pair (t-1, t) reported at t")
        assert m.describe()["version"] == "1"
    dis = get_metric("ewarp-dis").params
    assert (dis["flow"], dis["dis_preset"], dis["resize"], dis["scale"], dis["flow_source"]) == \
        ("opencv-dis", "medium", 0.5, 1000.0, "output")
    assert dis["mask"].startswith("lai2018")
    ref = get_metric("ewarp-ref").params
    assert (ref["flow_source"], ref["resize"]) == ("reference", 1.0)
    raft = get_metric("ewarp-raft", pretrained=False).params
    assert (raft["flow"], raft["raft_iters"], raft["resize"]) == ("torchvision-raft_large", 20, 0.5)
    tof = get_metric("tof").params
    assert (tof["crop"], tof["skip_ends"], tof["farneback_params"]) == ("tecogan", 2, [0.5, 3, 15, 3, 5, 1.2, 0])


def test_bad_input_is_rejected():
    with pytest.raises(BadInput, match="resize"):
        get_metric("ewarp-dis", resize=0)
    with pytest.raises(BadInput, match="preset"):
        get_metric("ewarp-dis", preset="slow")
    with pytest.raises(BadInput, match="crop"):
        get_metric("tof", crop="middle")
    with pytest.raises(BadInput, match="skip_ends"):
        get_metric("tof", skip_ends=-1)
    with pytest.raises(BadInput, match="RAFT model"):
        get_metric("ewarp-raft", model="raft_huge")
    x = _tensor(photo_frames(2, 48, 64))
    for name in ("ewarp-ref", "tof"):
        with pytest.raises(ValueError, match="HR"):
            _metric(name).update(x)
    with pytest.raises(BadInput, match="at least"):
        get_metric("ewarp-dis").update(x[:, :, :20, :20])
    with pytest.raises(BadInput, match="meta"):
        get_metric("tof", skip_ends=1).update(x, x)
    m = get_metric("flicker")
    m.update(x[:1])
    with pytest.raises(BadInput, match="frame size changed"):
        m.update(x[1:, :, :40])


def test_runner_streams_temporal_metrics_like_a_whole_clip(tmp_path):
    """End to end: the runner feeds a method's 5-frame chunks; the stored series equal one whole-clip call
    on the same (quantised) output."""
    from infvsr_bench import datasets, records, runner
    from infvsr_bench.methods.interpolation import Bicubic
    from infvsr_bench.video_io import FrameReader, quantize

    n = 8
    manifest = datasets.resolve("synthetic-long", max_frames=n)
    spec = runner.RunSpec(method="bicubic", dataset="synthetic-long", max_frames=n, out=tmp_path / "run",
                          progress=False, metrics=["ewarp-dis", "flicker"], method_params={"chunk_frames": 5})
    res = runner.execute(runner.prepare(spec))
    assert res.exit_code == 0
    clip = manifest["clips"][0]
    lr = next(iter(FrameReader(f"{manifest['root']}/{clip['lr']['path']}", chunk=n, max_frames=n)))
    sr = quantize(Bicubic().upscale(lr).clamp(0, 1))
    series = records.read_frames(res.run_dir, clip["id"])
    for name in ("ewarp-dis", "flicker"):
        np.testing.assert_array_equal(series[name], get_metric(name).update(sr).numpy())
