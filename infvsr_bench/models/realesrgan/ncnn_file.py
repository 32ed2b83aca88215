"""A small reader of ncnn model files: the ``.param`` graph (text) and the ``.bin`` blobs that go with it.

Only what the Real-ESRGAN releases use is read: layers of every type are parsed from the graph, and weights are
taken from the ``.bin`` for the two weighted layer types they contain.

``.param``: a magic line ``7767517``, then ``LAYERS BLOBS``, then one line per layer::

    TYPE NAME N_IN N_OUT IN_BLOB... OUT_BLOB... KEY=VALUE...

where a negative key ``-23300 - k`` holds an array (``-23310=1,2.0e-01`` is array key 10, the Convolution's
activation parameters; ``-23301=…`` is array key 1, the Eltwise coefficients).

``.bin``: the weights of the weighted layers, in graph order, back to back:

- Convolution (``0`` = output channels, ``1`` = kernel width, ``11`` = kernel height (default: the width),
  ``5`` = has bias, ``6`` = weight count): a 4-byte tag (``0x01306B47``: fp16 values follow, padded to
  4 bytes; ``0``: fp32), the weights as (out, in, kh, kw), then the bias as raw fp32;
- PReLU (``0`` = slope count): the slopes as raw fp32.

The reader checks that every byte of the ``.bin`` is consumed, so a graph and blobs that do not belong together
(or a layer type it does not know that carries weights) cannot be read silently wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_FP32 = 0


class NcnnFormatError(ValueError):
    """The files are not an ncnn model this reader understands (one line naming the file)."""


@dataclass
class Layer:
    """One layer of the graph; ``params`` maps an integer key to an int, a float or a tuple (array keys)."""

    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, object]
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # "weight", "bias" or "slope", fp32

    def get(self, key: int, default=None):
        return self.params.get(key, default)


def _value(text: str):
    """An int when the text is an integer literal, else a float."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _params(tokens: list[str], where: str) -> dict[int, object]:
    out: dict[int, object] = {}
    for token in tokens:
        key, sep, raw = token.partition("=")
        if not sep:
            raise NcnnFormatError(f"{where}: parameter {token!r} is not KEY=VALUE")
        k = int(key)
        if k <= -23300:  # array: first item is the count
            items = raw.split(",")
            count = int(items[0])
            if len(items) != count + 1:
                raise NcnnFormatError(f"{where}: array parameter {token!r} does not hold {count} items")
            out[-23300 - k] = tuple(_value(v) for v in items[1:])
        else:
            out[k] = _value(raw)
    return out


def read_param(path: str | Path) -> list[Layer]:
    """The layers of a ``.param`` file, in file order."""
    path = Path(path)
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    if not lines or lines[0] != [str(MAGIC)]:
        raise NcnnFormatError(f"{path} is not an ncnn .param file (its first line is not {MAGIC})")
    n_layers = int(lines[1][0])
    if len(lines) - 2 != n_layers:
        raise NcnnFormatError(f"{path} declares {n_layers} layers but lists {len(lines) - 2}")
    layers = []
    for i, tok in enumerate(lines[2:], start=3):
        n_in, n_out = int(tok[2]), int(tok[3])
        blobs = tok[4:4 + n_in + n_out]
        layers.append(Layer(tok[0], tok[1], blobs[:n_in], blobs[n_in:],
                            _params(tok[4 + n_in + n_out:], f"{path}:{i}")))
    return layers


class _Cursor:
    """Reads consecutive arrays out of the ``.bin`` bytes."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, nbytes: int, what: str) -> bytes:
        if self.pos + nbytes > len(self.data):
            raise NcnnFormatError(f"{self.path} ends inside {what} (needs {nbytes} bytes at offset {self.pos})")
        chunk = self.data[self.pos:self.pos + nbytes]
        self.pos += nbytes
        return chunk

    def raw_fp32(self, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(4 * count, what), "<f4").copy()

    def tagged(self, count: int, what: str) -> np.ndarray:
        """A tagged array: fp16 (padded to 4 bytes) or fp32, returned as fp32."""
        tag = int(np.frombuffer(self.take(4, what), "<u4")[0])
        if tag == TAG_FP16:
            values = np.frombuffer(self.take(2 * count, what), "<f2").astype(np.float32)
            self.take((-2 * count) % 4, what)
            return values
        if tag == TAG_FP32:
            return self.raw_fp32(count, what)
        raise NcnnFormatError(f"{self.path}: {what} has storage tag {tag:#010x} (only fp16 and fp32 are read)")


def read_model(param: str | Path, bin_path: str | Path) -> list[Layer]:
    """The layers of a model with their weights (fp32 numpy) filled in from the ``.bin``."""
    layers = read_param(param)
    bin_path = Path(bin_path)
    cur = _Cursor(bin_path.read_bytes(), bin_path)
    for layer in layers:
        what = f"layer {layer.name} ({layer.type})"
        if layer.type == "Convolution":
            out_ch, kw = int(layer.get(0)), int(layer.get(1))
            kh, count = int(layer.get(11, kw)), int(layer.get(6))
            if count % (out_ch * kh * kw):
                raise NcnnFormatError(f"{param}: {what} has {count} weights, not a multiple of {out_ch}x{kh}x{kw}")
            layer.weights["weight"] = cur.tagged(count, what).reshape(out_ch, count // (out_ch * kh * kw), kh, kw)
            if int(layer.get(5, 0)):
                layer.weights["bias"] = cur.raw_fp32(out_ch, what)
        elif layer.type == "PReLU":
            layer.weights["slope"] = cur.raw_fp32(int(layer.get(0, 1)), what)
    if cur.pos != len(cur.data):
        raise NcnnFormatError(f"{bin_path}: {len(cur.data) - cur.pos} bytes left after the last layer of {param} "
                              f"(the graph and the blobs do not belong together)")
    return layers
