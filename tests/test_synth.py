"""Procedural clips: streaming equivalence, determinism, cuts, camera bounds, moving layers."""
from __future__ import annotations

import numpy as np
import pytest

from infvsr_bench.errors import BadInput
from infvsr_bench.synth import PHOTOS, ClipSpec, ClipSynth, Layer, Motion, load_photo, scene_cuts


def _spec(**kw) -> ClipSpec:
    base = dict(id="t", photos=("astronaut", "coffee", "rocket"), frames=30, cuts=(10, 20), width=64, height=48,
                seed=3, index=0, motion=Motion(period=80.0, max_speed=1.0),
                layers=(Layer(photo=("chelsea",), size=0.4, max_speed=1.0, period=60.0),))
    base.update(kw)
    return ClipSpec(**base)


def test_chunk_size_does_not_change_frames():
    by1 = np.concatenate(list(ClipSynth(_spec()).chunks(1)))
    by7 = list(ClipSynth(_spec()).chunks(7))
    assert [len(c) for c in by7] == [7, 7, 7, 7, 2]
    assert by1.shape == (30, 48, 64, 3) and by1.dtype == np.uint8
    np.testing.assert_array_equal(by1, np.concatenate(by7))


def test_frames_are_computed_directly_from_the_index():
    synth = ClipSynth(_spec())
    direct = synth.frame(25)  # no earlier frame rendered
    np.testing.assert_array_equal(direct, np.concatenate(list(ClipSynth(_spec()).chunks(4)))[25])
    far = ClipSynth(_spec(frames=10_000_000, cuts=(10, 20)))
    assert far.frame(9_999_999).shape == (48, 64, 3)  # O(1): no walk over earlier frames


def test_deterministic_and_seed_sensitive():
    a = np.concatenate(list(ClipSynth(_spec()).chunks(8)))
    b = np.concatenate(list(ClipSynth(_spec()).chunks(8)))
    c = np.concatenate(list(ClipSynth(_spec(seed=4)).chunks(8)))
    d = np.concatenate(list(ClipSynth(_spec(index=1)).chunks(8)))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 5 and np.abs(a.astype(int) - d).mean() > 5


def test_cuts_are_hard_and_only_at_the_recorded_frames():
    f = np.concatenate(list(ClipSynth(_spec()).chunks(16))).astype(np.float32)
    diff = np.abs(f[1:] - f[:-1]).mean(axis=(1, 2, 3))  # diff[i-1] compares frame i with i-1
    at_cuts = diff[[9, 19]]
    elsewhere = np.delete(diff, [9, 19])
    assert at_cuts.min() > 3 * elsewhere.max(), (at_cuts, elsewhere.max())
    assert elsewhere.max() > 0.1  # the camera and the layer do move


def test_camera_never_leaves_the_photo():
    """Every extreme of pan × zoom × rotation keeps the view's corners inside the photo."""
    import itertools

    spec = _spec(frames=400, cuts=(130, 260), photos=("chelsea", "hubble_deep_field", "page"),
                 motion=Motion(period=50.0, max_speed=50.0, zoom=(1.0, 2.0), rotate=10.0))
    synth = ClipSynth(spec)
    corners = np.array([[-0.5, -0.5, 1], [63.5, -0.5, 1], [-0.5, 47.5, 1], [63.5, 47.5, 1]]).T  # (3, 4)
    for i in range(0, 400, 7):
        m, (ph, pw) = synth.camera_matrix(i)
        uv = m @ corners  # (2,3)@(3,4) -> (2,4) photo coordinates of the view's corners
        assert uv.min() >= 0 and uv[0].max() <= pw - 1 and uv[1].max() <= ph - 1, (i, uv)
    for k in range(3):  # pin every path to ±1: the worst cases the sinusoids may approach
        cam, _ = synth._setup(k)
        for vals in itertools.product((-1.0, 1.0), repeat=4):
            cam.fx, cam.fy, cam.fz, cam.fr = (lambda t, v=v: v for v in vals)
            uv = cam.matrix(0.0) @ corners
            assert uv.min() >= 0 and uv[0].max() <= cam.pw - 1 and uv[1].max() <= cam.ph - 1, (k, vals, uv)


def test_layer_is_blended_and_moves():
    with_layer = np.concatenate(list(ClipSynth(_spec(cuts=())).chunks(30))).astype(int)
    without = np.concatenate(list(ClipSynth(_spec(cuts=(), layers=())).chunks(30))).astype(int)
    mask = np.abs(with_layer - without).max(axis=3) > 8  # (T,H,W): where the layer covers the scene
    area = mask.mean(axis=(1, 2))
    assert (area > 0.05).all() and (area < 0.6).all()
    ys, xs = np.nonzero(mask[0])
    ye, xe = np.nonzero(mask[-1])
    assert np.hypot(ys.mean() - ye.mean(), xs.mean() - xe.mean()) > 2.0  # its centroid travelled


def test_bundled_photos_load_offline():
    for name in PHOTOS:
        img = load_photo(name)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) >= 100
    with pytest.raises(BadInput, match="did you mean 'astronaut'"):
        load_photo("astronautt")


def test_bad_specs_and_cut_spellings():
    assert scene_cuts(100, scene_length=30) == (30, 60, 90)
    assert scene_cuts(100, cuts=[5, 50]) == (5, 50)
    with pytest.raises(ValueError):
        _spec(cuts=(20, 10))
    with pytest.raises(ValueError):
        _spec(cuts=(30,))
    with pytest.raises(ValueError):
        _spec(motion=Motion(zoom=(0.5, 1.0)))
