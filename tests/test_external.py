"""The ``external`` adapter (a VSR program run as a subprocess, from a method card), ``precomputed`` outputs,
method readiness in ``list methods`` and leaderboard tracks.

A fake program (tests/fake_vsr.py: pixel-repetition x4, so its output is known exactly) drives the adapter
end to end through ``infvsr-bench run``; flags of the same script crash, hang, write too few frames or the
wrong size, and each must fail only its own clip with that reason.
"""
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from infvsr_bench import datasets, records, report, runner
from infvsr_bench.errors import BadInput
from infvsr_bench.methods import get_method
from infvsr_bench.methods.external import External, _pad_target
from infvsr_bench.metrics import get_metric
from infvsr_bench.video_io import FrameReader, FrameWriter, quantize

from .helpers import one_line_error, run_cli

N = 8
FAKE = Path(__file__).with_name("fake_vsr.py")


def write_card(folder: Path, name: str = "fake-vsr", inp: str = "frames", out: str = "video", segment: int = 0,
               pad: str = "", timeout: float = 30, suffix: str = ".mkv") -> Path:
    """A method card for the fake program (absolute paths, so it runs from any folder)."""
    target = "{output}/{clip}.mkv" if out == "video" else "{output}/{clip}"
    text = f'''
name = "{name}"
description = "test double: pixel repetition x4"
scale = 4
track = "offline"
causal = false
paper = "none"
licence = "Apache-2.0"
[paths]
python = {{ kind = "interpreter", default = {json.dumps(sys.executable)} }}
script = {{ kind = "file", default = {json.dumps(str(FAKE))} }}
[params]
mode = "ok"
modes = ""
startup = 0.0
[run]
command = ["{{python}}", "{{script}}", "{{input}}", "{target}", "--mode", "{{mode}}", "--modes={{modes}}",
           "--startup", "{{startup}}", "--scale", "{{scale}}"]
timeout_s = {timeout}
startup_regex = "loaded in (?P<seconds>[0-9.]+) s"
segment_frames = {segment}
[input]
layout = "{inp}"
suffix = "{suffix}"
{f"pad = {pad}" if pad else ""}
[output]
layout = "{out}"
path = "{target}"
pattern = "*.png"
'''
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_plots(monkeypatch):
    """Figures are not under test here and cost seconds per run."""
    monkeypatch.setattr("infvsr_bench.plots.plot_runs", lambda runs, out: [])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """synthetic-long, first N frames of its 3 clips (80x48 LR -> 320x192 HR), built once for the module."""
    root = tmp_path_factory.mktemp("ds")
    manifest = datasets.build("synthetic-long", max_frames=N, data_dir=root)
    return Path(manifest).parent if Path(manifest).is_file() else Path(manifest)


def _clips(run_dir: Path) -> dict:
    return {c["clip"]: c for c in records.read_clips(run_dir)}


def _oracle_psnr(dataset: Path, clip: dict, up) -> np.ndarray:
    m = datasets.load_manifest(dataset / "manifest.json")
    lr_path, hr_path = datasets.clip_paths(m, clip)
    lr = next(iter(FrameReader(lr_path, chunk=N, max_frames=N)))
    hr = next(iter(FrameReader(hr_path, chunk=N, max_frames=N)))
    return get_metric("psnr").update(quantize(up(lr).clamp(0, 1)), hr).numpy()


def _repeat4(lr: torch.Tensor) -> torch.Tensor:
    return lr.repeat_interleave(4, dim=-2).repeat_interleave(4, dim=-1)  # (T,3,h,w) -> (T,3,4h,4w)


def test_external_program_end_to_end(capsys, tmp_path, dataset, monkeypatch):
    """Frame folder in, FFV1 video out: scores equal scoring the known output directly; the program's wall
    time (startup apart, as it reported) is the throughput; HR is never queued whole; temp folders go."""
    card = write_card(tmp_path)
    work = tmp_path / "work"
    peak = {"hr": 0}
    pop = runner._FrameQueue.pop

    def spy(self, k):
        out = pop(self, k)
        peak["hr"] = max(peak["hr"], self.size + k)
        return out

    monkeypatch.setattr(runner._FrameQueue, "pop", spy)
    code, out, err = run_cli(capsys, "run", "--method", f"external:card={card}:startup=0.3:chunk_frames=2:"
                             f"tmp_dir={work}", "--dataset", str(dataset), "--metrics", "psnr",
                             "--out", str(tmp_path / "r"), "--json")
    assert code == 0, err
    summary = json.loads(out)[0]
    assert summary["method"]["name"] == "fake-vsr" and summary["clips"]["ok"] == 3
    assert summary["method"]["track"] == "offline" and summary["method"]["source"] == "infvsr-bench"
    m = datasets.load_manifest(dataset / "manifest.json")
    for clip in m["clips"]:
        series = records.read_frames(tmp_path / "r", clip["id"])
        np.testing.assert_allclose(series["psnr"], _oracle_psnr(dataset, clip, _repeat4), rtol=0, atol=1e-9)
        thr = _clips(tmp_path / "r")[clip["id"]]["throughput"]
        assert thr["program_runs"] == 1 and thr["startup_seconds"] == pytest.approx(0.3)
        assert thr["program_seconds"] > 0.3
        assert thr["fps"] == pytest.approx(N / (thr["program_seconds"] - 0.3))
    assert peak["hr"] <= 4 < N  # at most one HR chunk (2) beyond the frames asked for
    assert summary["throughput"]["timing"].startswith("external program wall time")
    assert "external program wall time" in (tmp_path / "r" / "report.md").read_text()  # not "warm-up chunk"
    assert work.is_dir() and not any(work.rglob("*.png")) and not any(work.rglob("*.mkv"))
    run = records.read_json(tmp_path / "r" / "run.json")
    assert run["method"]["card"]["sha256"] and run["method"]["card"]["licence"] == "Apache-2.0"


@pytest.mark.parametrize("modes,reasons", [
    ({"astronaut-pan": "crash", "rocket-sweep": "few"},
     {"astronaut-pan": ["exited with code 3", "CUDA out of memory (fake)"],
      "rocket-sweep": ["wrong frame count", f"wrote {N - 2} frames for {N} input frames"]}),
    ({"astronaut-pan": "size", "rocket-sweep": "hang"},
     {"astronaut-pan": ["wrong size", "160x96", "expected 320x192"],
      "rocket-sweep": ["timed out after 2 s", "process group killed"]}),
])
def test_program_failures_fail_only_their_clip(capsys, tmp_path, dataset, monkeypatch, modes, reasons):
    card = write_card(tmp_path, timeout=2)
    pidfile = tmp_path / "child.pid"
    monkeypatch.setenv("FAKE_VSR_PIDFILE", str(pidfile))
    spec = "+".join(f"{c}={m}" for c, m in modes.items())
    code, out, err = run_cli(capsys, "run", "--method", f"external:card={card}:modes={spec}:tmp_dir={tmp_path / 'w'}",
                             "--dataset", str(dataset), "--metrics", "psnr", "--out", str(tmp_path / "r"))
    assert code == 1 and "2 clip(s) failed" in err
    clips = _clips(tmp_path / "r")
    assert clips["motorcycle-zoom"]["status"] == "ok"
    for clip, needles in reasons.items():
        assert clips[clip]["status"] == "failed" and clips[clip]["error"].startswith("MethodError: ")
        for needle in needles:
            assert needle in clips[clip]["error"], clips[clip]["error"]
    assert not any((tmp_path / "w").rglob("*.png")) and not any((tmp_path / "w").rglob("*.mkv"))
    if "hang" in modes.values():  # the program's own child died with its process group
        pid = int(pidfile.read_text())
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "zombie" in status.read_text()


def _drive(m, lr: torch.Tensor, chunk: int) -> tuple[torch.Tensor, int, int]:
    """Feed ``lr`` in chunks; return (all output, biggest output chunk, most LR frames the adapter held)."""
    m.reset({"clip": "c1", "fps": 25.0, "frames": lr.shape[0]})
    got, biggest, held = [], 0, 0
    for i in range(0, lr.shape[0], chunk):
        last = i + chunk >= lr.shape[0]
        for out in [m.step(lr[i:i + chunk]), m.flush() if last else None]:
            for piece in out or []:  # step / flush return None or an iterator of chunks
                biggest = max(biggest, piece.shape[0])
                got.append(piece)
        held = max(held, sum(v.shape[0] for v in vars(m).values() if isinstance(v, torch.Tensor)))
    return torch.cat(got), biggest, held


def test_segments_padding_and_bounded_memory(tmp_path):
    """Adapter contract on its own: video in (x264-RGB qp 0 .mp4), PNG folder out, independent runs of 5
    frames each padded to 7 (mod 4 = 3): the output is exactly the known upsampling of the input (padding
    dropped, short last chunk), a rerun after reset is identical, no output chunk exceeds chunk_frames and
    the adapter never holds more than one LR frame between calls."""
    card = write_card(tmp_path, inp="video", out="frames", segment=5, suffix=".mp4",
                      pad="{ min = 7, multiple = 4, remainder = 3 }")
    m = External(card, chunk_frames=3, tmp_dir=str(tmp_path / "w"))
    assert m.chunk_boundaries(13) == [5, 10]
    m.setup("cpu")
    lr = quantize(torch.rand(13, 3, 8, 12, generator=torch.Generator().manual_seed(0)))
    sr, biggest, held = _drive(m, lr, chunk=4)  # LR chunks of 4 against runs of 5 and output chunks of 3
    assert sr.shape == (13, 3, 32, 48)
    torch.testing.assert_close(sr, _repeat4(lr), rtol=0, atol=0)
    assert biggest <= 3 and held <= 1
    assert m.timing()["program_runs"] == 3 and m.timing()["steady_frames"] == 13
    assert torch.equal(_drive(m, lr, chunk=13)[0], sr)
    assert not any((tmp_path / "w").rglob("*.png"))
    assert [_pad_target(n, {"min": 21, "multiple": 8, "remainder": 5}) for n in (1, 21, 22, 29, 30)] == \
        [21, 21, 29, 29, 37]


def _bicubic_outputs(dataset: Path, folder: Path) -> None:
    """Write the bicubic method's outputs the way another lab would: lossless video for two clips, a PNG
    frame folder for the third."""
    from PIL import Image

    from infvsr_bench.methods.interpolation import Bicubic
    from infvsr_bench.video_io import to_uint8

    m = datasets.load_manifest(dataset / "manifest.json")
    for i, clip in enumerate(m["clips"]):
        lr_path, _ = datasets.clip_paths(m, clip)
        sr = Bicubic().upscale(next(iter(FrameReader(lr_path, chunk=N, max_frames=N)))).clamp(0, 1)
        if i < 2:
            with FrameWriter(folder / f"{clip['id']}.mkv", fps=clip["fps"]) as w:
                w.write(sr)
        else:
            (folder / clip["id"]).mkdir(parents=True)
            for j, img in enumerate(to_uint8(sr)):
                Image.fromarray(img).save(folder / clip["id"] / f"{j + 1}.png")


def test_precomputed_scores_equal_running_the_method(capsys, tmp_path, dataset):
    outputs = tmp_path / "outputs"
    _bicubic_outputs(dataset, outputs)
    runs = tmp_path / "runs"
    common = ["--dataset", str(dataset), "--metrics", "psnr", "--max-frames", str(N - 2)]  # outputs hold N
    assert run_cli(capsys, "run", "--method", "bicubic", *common, "--out", str(runs / "bicubic"))[0] == 0
    code, out, err = run_cli(capsys, "run", "--method", f"precomputed:dir={outputs}:name=bicubic-elsewhere", *common,
                             "--out", str(runs / "pre"))
    assert code == 0, err
    m = datasets.load_manifest(dataset / "manifest.json")
    for clip in m["clips"]:
        a, b = records.read_frames(runs / "bicubic", clip["id"]), records.read_frames(runs / "pre", clip["id"])
        assert a["psnr"].shape == (N - 2,) and np.isfinite(a["psnr"]).all()
        np.testing.assert_array_equal(a["psnr"], b["psnr"])
    s = records.read_json(runs / "pre" / "summary.json")
    assert s["method"]["name"] == "bicubic-elsewhere" and s["method"]["source"] == "precomputed"

    # the leaderboard puts measured-here and precomputed (and online / offline) runs in separate tables
    board = report.render_leaderboard(runs, tmp_path / "lb.md")
    here = board.index("run by infvsr-bench · online (causal)")
    pre = board.index("precomputed outputs · offline")
    assert "bicubic-elsewhere" in board[pre:] and "bicubic-elsewhere" not in board[here:pre]

    # a clip without its output fails alone, with the reason
    (outputs / f"{m['clips'][0]['id']}.mkv").unlink()
    code, _, err = run_cli(capsys, "run", "--method", f"precomputed:dir={outputs}", *common,
                           "--out", str(runs / "pre2"))
    assert code == 1
    clips = _clips(runs / "pre2")
    assert "no output for clip" in clips[m["clips"][0]["id"]]["error"]
    assert sum(c["status"] == "ok" for c in clips.values()) == 2

    # the whole folder missing: bad input, nothing started
    code, _, err = run_cli(capsys, "run", "--method", f"precomputed:dir={tmp_path / 'nope'}", *common,
                           "--out", str(runs / "pre3"))
    assert code == 2 and "outputs folder not found" in one_line_error(err) and not (runs / "pre3").exists()


def test_list_methods_shows_readiness_and_not_ready_run_exits_2(capsys, tmp_path, monkeypatch):
    code, out, _ = run_cli(capsys, "list", "methods")
    assert code == 0
    for name in ("mgld-vsr", "upscale-a-video", "star", "seedvr2", "realbasicvsr", "flashvsr", "precomputed"):
        assert name in out
    monkeypatch.setenv("MGLD_VSR_DIR", str(tmp_path / "absent"))
    code, out, _ = run_cli(capsys, "list", "methods")
    line = out[out.index("mgld-vsr"):].splitlines()
    assert "not ready" in line[0] and f"repo folder {tmp_path / 'absent'}" in line[1]
    code, _, err = run_cli(capsys, "run", "--method", "mgld-vsr", "--out", str(tmp_path / "r"))
    assert code == 2 and "mgld-vsr is not ready: missing repo folder" in one_line_error(err)
    assert not (tmp_path / "r").exists()
    # everything in place (a fake install): ready
    repo = tmp_path / "MGLD-VSR"
    (repo / "checkpoints").mkdir(parents=True)
    for f in ("mgldvsr_unet.ckpt", "video_vae_cfw.ckpt"):
        (repo / "checkpoints" / f).write_bytes(b"x")
    monkeypatch.setenv("MGLD_VSR_DIR", str(repo))
    monkeypatch.setenv("MGLD_VSR_PYTHON", sys.executable)
    code, out, _ = run_cli(capsys, "list", "methods")
    assert out[out.index("mgld-vsr"):].splitlines()[0].split()[1] == "ready"
    method = get_method("mgld-vsr")
    assert method.info.track == "offline" and method.describe()["card"]["licence"].startswith("S-Lab")
    code, _, err = run_cli(capsys, "run", "--method", "mgld-vrs", "--out", str(tmp_path / "r"))
    assert code == 2 and "did you mean 'mgld-vsr'" in one_line_error(err)


def test_cards_and_parameters_are_validated(tmp_path):
    for name in ("mgld-vsr", "upscale-a-video", "star", "seedvr2", "realbasicvsr", "flashvsr"):
        card = Path(__file__).resolve().parents[1] / "methods" / f"{name}.toml"
        from infvsr_bench.methods.cards import load_card

        c = load_card(card)
        assert c.data["paper"] and c.data["licence"] and c.data["install"] and c.data["track"] in ("online", "offline")
    card = write_card(tmp_path)
    with pytest.raises(BadInput, match="unknown parameter"):
        External(card, steps=3)
    bad = tmp_path / "bad.toml"
    bad.write_text(card.read_text().replace('name = "fake-vsr"', 'name = "bad"').replace("{mode}", "{mood}"))
    with pytest.raises(BadInput, match=r"unknown placeholder\(s\) \{mood\}"):
        External(bad)
    assert os.path.basename(str(card)) == "fake-vsr.toml"
