"""Small shared helpers for tests (real photographs, tiny videos)."""
from __future__ import annotations

import contextlib

import numpy as np


def photo_frames(n: int, height: int = 64, width: int = 96, seed: int = 0) -> np.ndarray:
    """(n, H, W, 3) uint8 frames: a real photograph (skimage astronaut) panned a few pixels per frame."""
    from skimage import data

    img = data.astronaut()
    rng = np.random.default_rng(seed)
    y0, x0 = rng.integers(0, 100, size=2)
    out = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        out[i] = img[y0 + i: y0 + i + height, x0 + 2 * i: x0 + 2 * i + width]
    return out


def write_video(path, frames: np.ndarray, fps: float = 25.0, codec: str = "ffv1"):
    """Write (T,H,W,3) uint8 frames with the project's FrameWriter and return the path."""
    from infvsr_bench.video_io import FrameWriter

    with FrameWriter(path, fps=fps, codec=codec) as w:
        w.write(frames)
    return path


def run_cli(capsys, *args):
    """Run ``infvsr-bench ARGS`` in-process; return (exit code, stdout, stderr)."""
    import pytest

    from infvsr_bench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def one_line_error(err: str) -> str:
    """Assert that stderr is exactly one ``error: ...`` line (no traceback) and return it."""
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@contextlib.contextmanager
def torch_threads(n: int):
    """Run a block with ``n`` torch threads, restoring the previous count after. Tests of tiny networks use
    one thread: on a shared 2-core machine OpenMP spin-waiting makes them many times slower, and float
    reductions then repeat bit for bit."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def tiny_dataset(tmp_path_factory, frames: int = 2):
    """synthetic-long cut to ``frames`` frames per clip (80x48 LR -> 320x192 HR), in a folder of its own."""
    from pathlib import Path

    from infvsr_bench import datasets

    return Path(datasets.build("synthetic-long", max_frames=frames, data_dir=tmp_path_factory.mktemp("ds"))).parent


def cli_env(**extra: str) -> dict:
    """Environment for an ``python -m infvsr_bench`` subprocess: this checkout first on PYTHONPATH."""
    import os
    from pathlib import Path

    repo = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}
