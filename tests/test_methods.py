"""Adapter contract for every registered method: frames out == frames in, short last chunk, reset
makes a rerun identical, and (for interpolation) agreement with an independent implementation."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from infvsr_bench.errors import UnknownName
from infvsr_bench.methods import METHODS, get_method

from .helpers import photo_frames


def _drive(method, lr, chunk):
    out = []
    method.reset({"clip": "x"})
    for i in range(0, lr.shape[0], chunk):
        y = method.step(lr[i:i + chunk])
        if y.numel():
            out.append(y)
    y = method.flush()
    if y.numel():
        out.append(y)
    return torch.cat(out)


# InfVSR and its ablations need weights (or a tiny random preset): their contract is tested in
# tests/test_infvsr_method.py with preset=tiny. External programs (method cards, `external`) and
# `precomputed` need a program or an outputs folder: their contract is tested in tests/test_external.py.
# Learned single-image SR (realesrgan, realesr-animevideov3, spandrel) needs fetched weights or a checkpoint:
# tested in tests/test_realesrgan.py.
LEARNED_SR = ("realesrgan", "realesr-animevideov3", "spandrel")


@pytest.mark.parametrize("name", [n for n in METHODS.names() if not n.startswith("infvsr")
                                  and n not in METHODS.cards and n not in ("external", "precomputed", *LEARNED_SR)])
def test_adapter_contract(name):
    m = get_method(name)
    m.setup("cpu")
    lr = torch.from_numpy(photo_frames(7, 16, 24)).permute(0, 3, 1, 2).float() / 255
    a = _drive(m, lr, chunk=3)  # 3 + 3 + short 1
    s = m.info.scale
    assert a.shape == (7, 3, 16 * s, 24 * s)
    b = _drive(m, lr, chunk=3)
    assert torch.equal(a, b)
    assert torch.allclose(_drive(m, lr, chunk=7), a, atol=1e-6)


def test_bicubic_matches_pil_bicubic():
    from PIL import Image

    lr = photo_frames(1, 16, 24)[0]
    ours = get_method("bicubic").upscale(torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255)
    ours = (ours.clamp(0, 1) * 255).round()[0].permute(1, 2, 0).numpy()
    pil = np.asarray(Image.fromarray(lr).resize((96, 64), Image.BICUBIC)).astype(np.float64)
    # PIL works in fixed point on uint8; the interior agrees within one grey level
    assert np.abs(ours[4:-4, 4:-4] - pil[4:-4, 4:-4]).max() <= 1.0


def test_lanczos_is_not_bicubic():
    lr = torch.rand(1, 3, 8, 8)
    assert not torch.allclose(get_method("lanczos").upscale(lr), F.interpolate(lr, scale_factor=4, mode="bicubic"))


def test_unknown_method_suggests():
    with pytest.raises(UnknownName, match="did you mean 'bicubic'"):
        get_method("bicubc")
