"""PSNR / SSIM: both presets against independent references, on real photographs.

References: skimage / numpy formulas written here for the BasicSR convention (Y computed in this file from
the BT.601 studio-swing formula, in float64), and pyiqa itself for the pyiqa preset.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from infvsr_bench.errors import BadInput
from infvsr_bench.metrics import fidelity, fidelity_cpu, get_metric
from infvsr_bench.metrics.fidelity import PSNR, SSIM

from .helpers import photo_frames


# -- inputs and references ---------------------------------------------------------------------------------
def _degrade(frames: np.ndarray, sigma: float = 6.0, seed: int = 1) -> np.ndarray:
    """Add Gaussian noise on the 8-bit grid: a stand-in for a method's output."""
    rng = np.random.default_rng(seed)
    noisy = frames.astype(np.float64) + rng.normal(0.0, sigma, frames.shape)
    return np.clip(noisy, 0, 255).round().astype(np.uint8)


def _tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (T, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0


def _y(frame: np.ndarray) -> np.ndarray:
    """BT.601 studio-swing luma, 0–255 scale, float64, written out directly (independent of the package)."""
    rgb = frame.astype(np.float64) / 255.0
    return 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]


def _ref_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """skimage SSIM with the BasicSR window, restricted to the valid map (skimage pads; trim 5 px)."""
    _, full = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                    data_range=255, full=True)
    return float(full[5:-5, 5:-5].mean())


def _ref(kind: str, color: str, hr: np.ndarray, sr: np.ndarray) -> np.ndarray:
    """Per-frame BasicSR-convention values from skimage / numpy for (T, H, W, 3) uint8 pairs."""
    out = []
    for a, b in zip(hr, sr):
        if color == "y":
            planes = [(_y(a), _y(b))]
        else:
            planes = [(a[..., c].astype(np.float64), b[..., c].astype(np.float64)) for c in range(3)]
        if kind == "psnr":
            if color == "y":
                out.append(peak_signal_noise_ratio(planes[0][0], planes[0][1], data_range=255))
            else:  # direct formula over all three channels
                mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
                out.append(10 * np.log10(255.0 ** 2 / mse))
        else:
            out.append(np.mean([_ref_ssim(p, q) for p, q in planes]))
    return np.asarray(out)


@pytest.fixture(scope="module")
def pair():
    """Six frames of a panned photograph (64x96) and a noisy copy, as uint8 and as tensors."""
    hr = photo_frames(6, 64, 96, seed=3)
    sr = _degrade(hr)
    return hr, sr, _tensor(hr), _tensor(sr)


@pytest.fixture(scope="module")
def coffee_pair():
    """Two crops of skimage's coffee photograph (120x160) and a blurred, noisy copy."""
    from scipy.ndimage import uniform_filter

    img = data.coffee()
    hr = np.stack([img[100:220, 200:360], img[250:370, 300:460]])
    blurred = uniform_filter(hr.astype(np.float64), size=(1, 3, 3, 1))
    sr = _degrade(np.clip(blurred, 0, 255).round().astype(np.uint8), sigma=2.0, seed=7)
    return hr, sr, _tensor(hr), _tensor(sr)


@pytest.fixture(scope="module")
def pyiqa():
    return pytest.importorskip("pyiqa")


# -- BasicSR convention vs skimage / numpy -----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["psnr", "ssim"])
@pytest.mark.parametrize("color", ["y", "rgb"])
def test_basicsr_matches_independent_reference(kind, color, pair, coffee_pair):
    for hr8, sr8, hr, sr in (pair, coffee_pair):
        ours = get_metric(kind, color=color).update(sr, hr).numpy()
        ref = _ref(kind, color, hr8, sr8)
        tol = 1e-9 if kind == "psnr" else 1e-12
        np.testing.assert_allclose(ours, ref, rtol=0, atol=tol)


def test_basicsr_default_is_y(pair):
    hr8, sr8, hr, sr = pair
    assert PSNR().params["color"] == "y" and SSIM().params["color"] == "y"
    np.testing.assert_allclose(PSNR().update(sr, hr).numpy(), _ref("psnr", "y", hr8, sr8), rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["psnr", "ssim"])
def test_strips_match_whole_frames(kind, pair, monkeypatch):
    """The torch path (any device): a tiny block budget forces its strips (used at 720p); values must not
    change."""
    hr8, sr8, hr, sr = pair
    monkeypatch.setattr(fidelity_cpu, "usable", lambda t: False)
    whole = get_metric(kind).update(sr, hr)
    monkeypatch.setattr(fidelity, "_CPU_BLOCK_ELEMS", 2000)  # 64x96 frames -> 16-row strips
    strips = get_metric(kind).update(sr, hr)
    np.testing.assert_allclose(strips.numpy(), whole.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(strips.numpy(), _ref(kind, "y", hr8, sr8), rtol=0,
                               atol=1e-9 if kind == "psnr" else 1e-12)


@pytest.mark.parametrize("preset,color", [("basicsr", "y"), ("basicsr", "rgb"), ("pyiqa", "y"), ("pyiqa", "rgb")])
@pytest.mark.parametrize("crop", [0, 3])
def test_cpu_path_equals_the_torch_float64_path(preset, color, crop, pair, coffee_pair, monkeypatch):
    """Oracle: the OpenCV/numpy CPU path (fidelity_cpu) against the blocked torch float64 computation, on
    8-bit-grid frames, off-grid float32 and float64 frames, and an 11x11 frame (the smallest SSIM takes)."""
    _, _, hr, sr = coffee_pair
    off_grid = (sr + 0.37 / 255).clamp(0, 1)  # float32 values between grey levels
    cases = [pair[2:], (hr, sr), (hr, off_grid), (hr.double(), off_grid.double()),
             (hr[:, :, :11 + 2 * crop, :11 + 2 * crop], sr[:, :, :11 + 2 * crop, :11 + 2 * crop])]
    for kind in ("psnr", "ssim"):
        for ref, out in cases:
            assert fidelity_cpu.usable(out)
            new = get_metric(kind, preset=preset, color=color, crop_border=crop).update(out, ref)
            with monkeypatch.context() as m:
                m.setattr(fidelity_cpu, "usable", lambda t: False)
                old = get_metric(kind, preset=preset, color=color, crop_border=crop).update(out, ref)
            np.testing.assert_allclose(new.numpy(), old.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", ["psnr", "ssim"])
def test_crop_border_matches_reference_on_cropped_frames(kind, pair):
    hr8, sr8, hr, sr = pair
    c = 4
    ours = get_metric(kind, crop_border=c).update(sr, hr).numpy()
    ref = _ref(kind, "y", hr8[:, c:-c, c:-c], sr8[:, c:-c, c:-c])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9 if kind == "psnr" else 1e-12)


def test_difference_confined_to_border_is_cropped_away(pair):
    _, _, hr, _ = pair
    sr = hr.clone()
    sr[..., :3, :] = 1.0 - sr[..., :3, :]  # change only the top three rows and the left three columns
    sr[..., :, :3] = 0.0
    assert (PSNR().update(sr, hr) < 100.0).all()
    assert (PSNR(crop_border=3).update(sr, hr) == 100.0).all()
    assert (SSIM(crop_border=3).update(sr, hr) == 1.0).all()


# -- identical frames, per-frame values, chunking ----------------------------------------------------------
@pytest.mark.parametrize("color", ["y", "rgb"])
def test_identical_frames_psnr_is_capped_and_ssim_is_one(color, pair):
    _, _, hr, _ = pair
    psnr = PSNR(color=color)
    values = psnr.update(hr, hr.clone())
    assert values.tolist() == [100.0] * len(hr)
    assert psnr.compute()["mean"] == 100.0
    assert SSIM(color=color).update(hr, hr.clone()).tolist() == [1.0] * len(hr)
    assert PSNR(max_db=60).update(hr, hr.clone()).tolist() == [60.0] * len(hr)


def test_values_above_the_cap_are_clipped(pair):
    _, _, hr, _ = pair
    sr = hr.clone()
    sr[0, 0, 10, 10] += 1 / 255  # one grey level at one pixel: ~86 dB on a 64x96 frame (RGB)
    uncapped = PSNR(color="rgb").update(sr[:1], hr[:1]).item()
    assert 80 < uncapped < 100
    assert PSNR(color="rgb", max_db=50.0).update(sr[:1], hr[:1]).item() == 50.0


def test_values_are_per_frame(pair):
    _, _, hr, _ = pair
    sr = hr.clone()
    noise = torch.from_numpy(np.random.default_rng(0).normal(0, 0.03, hr[4].shape)).float()
    sr[4] = ((sr[4] + noise).clamp(0, 1) * 255).round() / 255
    psnr = PSNR().update(sr, hr)
    ssim = SSIM().update(sr, hr)
    others = [i for i in range(len(hr)) if i != 4]
    assert psnr[4] < 40 and (psnr[others] == 100.0).all()
    assert ssim[4] < 0.99 and (ssim[others] == 1.0).all()


@pytest.mark.parametrize("kind", ["psnr", "ssim"])
def test_chunked_equals_whole(kind):
    hr8 = photo_frames(10, 48, 64, seed=5)
    hr, sr = _tensor(hr8), _tensor(_degrade(hr8, seed=2))
    whole = get_metric(kind, window=4)
    w_values = whole.update(sr, hr)
    chunked = get_metric(kind, window=4)
    c_values = torch.cat([chunked.update(sr[i:i + 3], hr[i:i + 3]) for i in range(0, 10, 3)])
    np.testing.assert_allclose(c_values.numpy(), w_values.numpy(), rtol=0, atol=1e-12)
    a, b = whole.compute(), chunked.compute()
    assert a["frames"] == b["frames"] == 10
    assert a["mean"] == pytest.approx(b["mean"], abs=1e-12)
    np.testing.assert_allclose(a["windows"], b["windows"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["psnr", "ssim"])
def test_single_frame(kind, pair):
    hr8, sr8, hr, sr = pair
    v = get_metric(kind).update(sr[2:3], hr[2:3])
    assert v.shape == (1,) and v.dtype == torch.float64
    np.testing.assert_allclose(v.numpy(), _ref(kind, "y", hr8[2:3], sr8[2:3]), rtol=0, atol=1e-9)


# -- pyiqa preset vs pyiqa ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,color,pyiqa_name,opts", [
    ("psnr", None, "psnr", {}),                             # pyiqa psnr: RGB
    ("psnr", "y", "psnr", {"test_y_channel": True}),        # pyiqa psnry: YIQ Y
    ("ssim", None, "ssim", {}),                             # pyiqa ssim: rounded YIQ Y
    ("ssim", "rgb", "ssim", {"test_y_channel": False}),     # pyiqa ssimc: rounded RGB
])
@pytest.mark.parametrize("crop", [0, 3])
def test_pyiqa_preset_matches_pyiqa(pyiqa, kind, color, pyiqa_name, opts, crop, pair, coffee_pair):
    ref_metric = pyiqa.create_metric(pyiqa_name, device="cpu", crop_border=crop, **opts)
    for hr, sr in ((pair[2][:3], pair[3][:3]), (coffee_pair[2][:1], coffee_pair[3][:1])):  # pyiqa is slow
        ours = get_metric(kind, preset="pyiqa", color=color, crop_border=crop).update(sr, hr)
        ref = ref_metric(sr, hr).reshape(-1)  # pyiqa scores a batch frame by frame
        # PSNR repeats pyiqa's float32 arithmetic. pyiqa's SSIM window is rounded to float32 (its sum is
        # 1 - 6e-9), ours is exact float64: that alone moves SSIM by ~3e-7 (with pyiqa's own function
        # given a float64 window the two agree to 1e-14).
        tol = 1e-5 if kind == "psnr" else 2e-6
        np.testing.assert_allclose(ours.numpy(), ref.double().numpy(), rtol=0, atol=tol)


def test_pyiqa_preset_identical_frames_follow_pyiqa(pyiqa, pair):
    _, _, hr, _ = pair
    ours = PSNR(preset="pyiqa").update(hr[:2], hr[:2].clone())
    ref = pyiqa.create_metric("psnr", device="cpu")(hr[:2], hr[:2].clone()).double()
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=1e-4)
    assert 79.9 < ours[0] <= 80.0  # pyiqa's +1e-8 in the MSE: its ceiling is 80 dB, below max_db
    assert SSIM(preset="pyiqa").update(hr[:2], hr[:2].clone()).tolist() == [1.0, 1.0]


def test_presets_differ_on_the_same_frames(pair):
    """The point of recording the convention: BasicSR Y and pyiqa RGB PSNR are different numbers."""
    _, _, hr, sr = pair
    basicsr = PSNR().update(sr, hr)
    pyiqa_rgb = PSNR(preset="pyiqa").update(sr, hr)
    assert (basicsr - pyiqa_rgb).abs().min() > 0.5


# -- parameters and errors ---------------------------------------------------------------------------------
def test_describe_records_the_convention():
    d = get_metric("psnr", preset="pyiqa", crop_border=2).describe()
    assert d["name"] == "psnr" and d["unit"] == "dB" and d["mode"] == "FR" and d["higher_is_better"]
    assert d["params"] == {"color": "rgb", "crop_border": 2, "max_db": 100.0, "preset": "pyiqa"}
    d = get_metric("ssim").describe()
    assert d["params"] == {"color": "y", "crop_border": 0, "preset": "basicsr"}


@pytest.mark.parametrize("kind,params,match", [
    ("psnr", {"preset": "matlab"}, "unknown preset"),
    ("ssim", {"color": "ycbcr"}, "unknown color"),
    ("psnr", {"crop_border": -1}, "crop_border"),
    ("ssim", {"crop_border": 1.5}, "crop_border"),
    ("psnr", {"max_db": 0}, "max_db"),
    ("psnr", {"max_db": float("inf")}, "max_db"),
])
def test_bad_parameters_raise_bad_input(kind, params, match):
    with pytest.raises(BadInput, match=match) as info:
        get_metric(kind, **params)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind,crop", [("psnr", 32), ("psnr", 40), ("ssim", 27)])
def test_crop_larger_than_frame_raises_bad_input(kind, crop, pair):
    _, _, hr, sr = pair  # 64x96: psnr needs crop < 32, ssim needs 11x11 left (crop <= 26)
    metric = get_metric(kind, crop_border=crop)
    with pytest.raises(BadInput, match="crop_border") as info:
        metric.update(sr, hr)
    assert "\n" not in str(info.value)
    get_metric(kind, crop_border=26 if kind == "ssim" else 31).update(sr, hr)  # the largest that fits


def test_wrong_frame_layout_raises_bad_input(pair):
    _, _, hr, sr = pair
    with pytest.raises(BadInput, match=r"\(T, 3, H, W\)"):
        SSIM().update(sr[:, :1], hr[:, :1])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("preset", ["basicsr", "pyiqa"])
def test_cuda_matches_cpu(preset, pair):
    _, _, hr, sr = pair
    for kind in ("psnr", "ssim"):
        cpu = get_metric(kind, preset=preset).update(sr, hr)
        gpu = get_metric(kind, preset=preset).update(sr.cuda(), hr.cuda())
        np.testing.assert_allclose(gpu.numpy(), cpu.numpy(), rtol=0, atol=1e-5 if kind == "psnr" else 1e-9)
