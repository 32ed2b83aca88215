"""Recipes → datasets: determinism, manifest schema, verify(), resolve(), the three sources."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from infvsr_bench import datasets as ds
from infvsr_bench.degrade import bicubic_down
from infvsr_bench.errors import BadInput, DatasetIntegrityError, UnknownName
from infvsr_bench.video_io import FrameReader, FrameWriter

from .helpers import write_video

TINY = """
description = "tiny test recipe"
seed = 7
scale = 4
degradation = {degradation}
fps = 25.0
width = 64
height = 48

[motion]
period = 60.0
max_speed = 1.0

[[clips]]
id = "a"
photos = ["astronaut", "coffee", "rocket"]
frames = 24
cuts = [8, 16]

[[clips.layers]]
photo = "chelsea"
size = 0.4
max_speed = 1.0

[[clips]]
id = "b"
photos = ["hubble_deep_field", "chelsea"]
frames = 40
scene_length = 12
"""
REAL = '{ kind = "realworld", noise_sigma = [3.0, 4.0] }'


@pytest.fixture
def recipes(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "recipes"
    d.mkdir()
    (d / "tiny-synth.toml").write_text(TINY.format(degradation='"bicubic"'))
    (d / "tiny-real.toml").write_text(TINY.format(degradation=REAL))
    monkeypatch.setenv("INFVSR_BENCH_RECIPES", str(d))
    return d


def _decode(path) -> np.ndarray:
    return np.concatenate(list(FrameReader(path, chunk=16).iter_uint8()))


def _files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize("name", ["tiny-synth", "tiny-real"])
def test_two_builds_are_byte_identical(recipes, tmp_path, name):
    m1 = ds.build(name, max_frames=20, data_dir=tmp_path / "one")
    m2 = ds.build(name, max_frames=20, data_dir=tmp_path / "two")
    f1, f2 = _files(m1.parent), _files(m2.parent)
    assert f1 == f2 and "manifest.json" in f1 and len(f1) == 5
    man = ds.load_manifest(m1)
    for c in man["clips"]:
        for role in ("hr", "lr"):
            assert c[role]["sha256"] == f1[c[role]["path"]]


def test_manifest_schema(recipes):
    path = ds.build("tiny-synth", max_frames=20)
    assert path == Path(os.environ["INFVSR_BENCH_DATA"]) / "tiny-synth-max20" / "manifest.json"
    raw = json.loads(path.read_text())
    assert list(raw) == ["schema", "name", "recipe", "recipe_sha256", "seed", "scale", "degradation",
                         "degradation_params", "has_hr", "max_frames", "clips"]
    assert (raw["schema"], raw["name"], raw["seed"], raw["scale"], raw["degradation"], raw["has_hr"],
            raw["max_frames"]) == (1, "tiny-synth", 7, 4, "bicubic-x4", True, 20)
    assert raw["recipe"]["clips"][0]["id"] == "a" and len(raw["recipe_sha256"]) == 64
    a, b = raw["clips"]
    assert list(a) == ["id", "frames", "fps", "hr", "lr", "scene_cuts"]
    assert a == {**a, "id": "a", "frames": 20, "fps": 25.0, "scene_cuts": [8, 16]}
    assert a["hr"] | {"sha256": "x"} == {"path": "hr/a.mkv", "width": 64, "height": 48, "sha256": "x"}
    assert a["lr"] | {"sha256": "x"} == {"path": "lr/a.mkv", "width": 16, "height": 12, "sha256": "x"}
    assert b["frames"] == 20 and b["scene_cuts"] == [12]  # cuts beyond max_frames are dropped
    m = ds.load_manifest(path.parent)
    assert m["root"] == str(path.parent.resolve())
    assert m["manifest_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_existing_build_is_reused_force_and_recipe_edits_rebuild(recipes):
    path = ds.build("tiny-synth", max_frames=8)
    stamp = path.stat().st_mtime_ns
    hr = path.parent / "hr" / "a.mkv"
    hr_stamp = hr.stat().st_mtime_ns
    assert ds.build("tiny-synth", max_frames=8) == path and path.stat().st_mtime_ns == stamp
    assert hr.stat().st_mtime_ns == hr_stamp
    ds.build("tiny-synth", max_frames=8, force=True)
    assert hr.stat().st_mtime_ns != hr_stamp
    old = json.loads(path.read_text())["recipe_sha256"]
    (recipes / "tiny-synth.toml").write_text(TINY.format(degradation='"bicubic"').replace("seed = 7", "seed = 8"))
    ds.build("tiny-synth", max_frames=8)
    assert json.loads(path.read_text())["recipe_sha256"] != old


def test_failed_build_leaves_no_manifest(recipes, monkeypatch):
    from infvsr_bench import synth

    ds.build("tiny-synth", max_frames=8)
    real = synth.ClipSynth.chunks

    def broken(self, *a, **k):
        if self.spec.id == "b":
            raise RuntimeError("disk full")
        return real(self, *a, **k)

    monkeypatch.setattr(synth.ClipSynth, "chunks", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        ds.build("tiny-synth", max_frames=8, force=True)
    folder = Path(os.environ["INFVSR_BENCH_DATA"]) / "tiny-synth-max8"
    assert not (folder / "manifest.json").exists()
    assert not list(folder.rglob("*.part"))
    with pytest.raises(DatasetIntegrityError, match="not built"):
        ds.resolve("tiny-synth", max_frames=8, build_missing=False)


def test_scene_cuts_are_recorded_and_visible(recipes):
    m = ds.load_manifest(ds.build("tiny-synth"))
    for c in m["clips"]:
        hr = _decode(Path(m["root"]) / c["hr"]["path"]).astype(np.float32)
        diff = np.abs(hr[1:] - hr[:-1]).mean(axis=(1, 2, 3))  # diff[i-1]: frame i vs i-1
        at = diff[[k - 1 for k in c["scene_cuts"]]]
        rest = np.delete(diff, [k - 1 for k in c["scene_cuts"]])
        assert c["scene_cuts"] and at.min() > 3 * rest.max(), (c["id"], at, rest.max())
    assert [c["scene_cuts"] for c in m["clips"]] == [[8, 16], [12, 24, 36]]
    short = ds.load_manifest(ds.build("tiny-synth", max_frames=10))  # a prefix of the same frames
    for (c, lr, hr), full in zip(ds.iter_clips(short, chunk=4), m["clips"]):
        assert len(lr) == len(hr) == 10
        np.testing.assert_array_equal(np.concatenate(list(hr.iter_uint8())),
                                      _decode(Path(m["root"]) / full["hr"]["path"])[:10])


def test_lr_is_bicubic_of_decoded_hr(recipes):
    import torch.nn.functional as F

    from infvsr_bench.video_io import quantize, to_float, to_uint8

    m = ds.load_manifest(ds.build("tiny-synth", max_frames=12))
    for c in m["clips"]:
        lr_path, hr_path = ds.clip_paths(m, c)
        hr, lr = _decode(hr_path), _decode(lr_path)
        ref = to_uint8(quantize(F.interpolate(to_float(hr), scale_factor=0.25, mode="bicubic",
                                              align_corners=False, antialias=True)))
        assert lr.shape == (12, 12, 16, 3) and np.abs(lr.astype(int) - ref).max() <= 1


@pytest.fixture
def built(recipes) -> Path:
    return ds.build("tiny-synth", max_frames=6)


def test_verify_passes_on_an_intact_dataset(built):
    m = ds.verify(ds.load_manifest(built))
    assert ds.verify(built.parent, hashes=False)["name"] == m["name"]


def test_verify_catches_a_deleted_file(built):
    (built.parent / "lr" / "b.mkv").unlink()
    with pytest.raises(DatasetIntegrityError, match=r"clip b: lr file lr/b.mkv is missing"):
        ds.verify(ds.load_manifest(built))


def test_verify_catches_a_corrupted_file(built):
    f = built.parent / "hr" / "a.mkv"
    data = bytearray(f.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 16] = bytes(b ^ 0xFF for b in data[mid:mid + 16])
    f.write_bytes(bytes(data))
    with pytest.raises(DatasetIntegrityError, match=r"clip a: hr file hr/a.mkv sha256 mismatch") as e:
        ds.verify(ds.load_manifest(built))
    assert "\n" not in str(e.value)


def test_load_manifest_rejects_truncated_missing_or_foreign(built, tmp_path):
    text = built.read_text()
    built.write_text(text[: len(text) // 2])
    with pytest.raises(DatasetIntegrityError, match="not valid JSON") as e:
        ds.load_manifest(built)
    assert "\n" not in str(e.value)
    built.write_text(json.dumps({**json.loads(text), "schema": 99}))
    with pytest.raises(DatasetIntegrityError, match="schema 99"):
        ds.load_manifest(built.parent)
    with pytest.raises(DatasetIntegrityError, match="manifest not found"):
        ds.load_manifest(tmp_path / "nowhere")


def test_verify_catches_lr_hr_size_mismatch(built):
    m = ds.load_manifest(built)
    c = m["clips"][0]
    lr = Path(m["root"]) / c["lr"]["path"]
    write_video(lr, np.zeros((6, 12, 20, 3), np.uint8))  # a self-consistent but wrong-size LR
    c["lr"].update(width=20, height=12, sha256=ds.sha256_file(lr))
    with pytest.raises(DatasetIntegrityError, match=r"clip a: lr file lr/a.mkv is 20x12; × scale 4 ≠ hr 64x48"):
        ds.verify(m)


def test_resolve_names_paths_and_max_frames(recipes, built):
    with pytest.raises(UnknownName, match="did you mean 'tiny-synth'"):
        ds.resolve("tiny-synht")
    for bad in (0, -3):
        with pytest.raises(BadInput, match="max-frames"):
            ds.resolve("tiny-synth", max_frames=bad)
    m = ds.resolve("tiny-synth", max_frames=6)  # already built by the fixture
    assert Path(m["root"]).name == "tiny-synth-max6" and m["max_frames"] == 6
    m5 = ds.resolve(str(recipes / "tiny-synth.toml"), max_frames=5)
    assert Path(m5["root"]).name == "tiny-synth-max5" and m5["clips"][0]["frames"] == 5
    assert ds.resolve(built)["name"] == "tiny-synth" and ds.resolve(built.parent)["max_frames"] == 6
    assert ds.resolve(built.parent, max_frames=3)["max_frames"] == 6  # the caller reads the first 3
    with pytest.raises(BadInput, match="only 6 frames"):
        ds.resolve(built.parent, max_frames=10)
    with pytest.raises(BadInput, match="no such dataset"):
        ds.resolve("/no/such/manifest.json")


def test_list_recipes_and_repo_recipes(recipes, monkeypatch):
    names = {r["name"]: r for r in ds.list_recipes()}
    assert names["tiny-synth"]["clips"] == 2 and names["tiny-synth"]["source"] == "synthetic"
    monkeypatch.delenv("INFVSR_BENCH_RECIPES")
    repo = {r["name"]: r for r in ds.list_recipes()}
    assert {"synthetic-long", "synthetic-long-real"} <= set(repo)
    assert all(r["description"] and "error" not in r for r in repo.values())
    long, real = ds.load_recipe("synthetic-long"), ds.load_recipe("synthetic-long-real")
    specs = ds._synthetic_specs(long)
    assert len(specs) >= 3 and (long.data["width"], long.data["height"], long.data["scale"]) == (320, 192, 4)
    assert all(s.frames == 2000 and len(s.cuts) >= 2 and s.layers for s in specs)
    backgrounds = [set(s.photos) for s in specs]
    assert all(not (a & b) for i, a in enumerate(backgrounds) for b in backgrounds[i + 1:])
    assert real.data["clips"] == long.data["clips"] and real.data["degradation"]["kind"] == "realworld"


def test_repo_recipe_builds_with_max_frames():
    m = ds.resolve("synthetic-long", max_frames=2)
    assert m["degradation"] == "bicubic-x4" and len(m["clips"]) == 3
    assert all((c["hr"]["width"], c["hr"]["height"], c["lr"]["width"], c["lr"]["height"], c["frames"])
               == (320, 192, 80, 48, 2) for c in m["clips"])


def test_real_chain_dataset_degrades_beyond_bicubic(recipes):
    clean = ds.load_manifest(ds.build("tiny-synth", max_frames=10))
    real = ds.load_manifest(ds.build("tiny-real", max_frames=10))
    assert real["degradation"] == "realworld-x4" and set(real["degradation_params"]["per_clip"]) == {"a", "b"}
    for cc, cr in zip(clean["clips"], real["clips"]):
        assert cc["hr"]["sha256"] == cr["hr"]["sha256"]  # same content, other degradation
        psnr = _psnr(_decode(ds.clip_paths(clean, cc)[0]), _decode(ds.clip_paths(real, cr)[0]))
        assert np.isfinite(psnr) and psnr < 40


def _user_video(path: Path, codec: str = "h264", h: int = 50, w: int = 70) -> np.ndarray:
    from skimage import data

    a, b = data.astronaut(), data.rocket()
    frames = np.stack([a[100 + i: 100 + i + h, 150 + 2 * i: 150 + 2 * i + w] if i < 16 else
                       b[200 + i: 200 + i + h, 300 + i: 300 + i + w] for i in range(32)])
    with FrameWriter(path, fps=24.0, codec=codec) as wr:
        wr.write(frames)
    return frames


def test_videos_source_crops_degrades_and_finds_the_cut(tmp_path):
    src = tmp_path / "user"
    src.mkdir()
    _user_video(src / "my clip.mkv")
    (src / "notes.txt").write_text("not a video")
    recipe = tmp_path / "mine.toml"
    recipe.write_text('description = "user videos"\nsource = "videos"\npath = "user"\nscale = 4\n'
                      'degradation = "bicubic"\n')
    m = ds.verify(ds.load_manifest(ds.build(recipe)))
    (c,) = m["clips"]
    assert c["id"] == "my-clip" and c["frames"] == 32 and c["fps"] == pytest.approx(24.0)
    assert (c["hr"]["width"], c["hr"]["height"], c["lr"]["width"], c["lr"]["height"]) == (68, 48, 17, 12)
    assert c["scene_cuts"] == [16]
    lr, hr = ds.clip_paths(m, c)
    assert np.abs(_decode(lr).astype(int) - bicubic_down(_decode(hr), 4)).max() == 0


def test_lr_videos_source_has_no_hr(tmp_path):
    src = tmp_path / "lr"
    src.mkdir()
    frames = _user_video(src / "low.mkv", codec="ffv1", h=24, w=40)
    recipe = tmp_path / "lronly.toml"
    recipe.write_text('description = "lr only"\nsource = "lr-videos"\npath = "lr"\nscale = 4\n'
                      'degradation = "phone-camera"\nscene_min_len = 4\n')
    m = ds.verify(ds.load_manifest(ds.build(recipe, max_frames=30)))
    (c,) = m["clips"]
    assert m["has_hr"] is False and c["hr"] is None and m["degradation"] == "phone-camera"
    assert (c["lr"]["width"], c["lr"]["height"], c["frames"], c["scene_cuts"]) == (40, 24, 30, [16])
    np.testing.assert_array_equal(_decode(ds.clip_paths(m, c)[0]), frames[:30])
    assert ds.clip_paths(m, c)[1] is None


def test_bad_recipes_fail_with_one_line(tmp_path):
    cases = {
        'description = "x"\nscale = 4\ndegradation = "bicubic"\nwidth = 64\nheight = 48\nclips = []\n': "at least one",
        'description = "x"\nscale = 4\ndegradation = "bicubic"\nwidth = 66\nheight = 48\n'
        '[[clips]]\nid = "a"\nphotos = ["astronaut"]\nframes = 4\n': "multiple of scale",
        'description = "x"\nscale = 4\ndegradation = "bicubic"\nwidth = 64\nheight = 48\n'
        '[[clips]]\nid = "a"\nphotos = ["astronot"]\nframes = 4\n': "did you mean 'astronaut'",
        'description = "x"\nscale = 4\ndegradation = "bicubic"\nwidht = 64\n': "unknown key",
        'description = "x"\nsource = "folder"\nscale = 4\n': "source must be",
        'description = "x\nscale = 4\n': "not valid TOML",
    }
    for i, (text, msg) in enumerate(cases.items()):
        p = tmp_path / f"bad{i}.toml"
        p.write_text(text)
        with pytest.raises(BadInput, match=msg):
            ds.load_recipe(p)
