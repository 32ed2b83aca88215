"""A stand-in for an external VSR program, for tests of the ``external`` adapter.

    python fake_vsr.py INPUT OUTPUT [--scale 4] [--mode ok|crash|hang|few|size] [--modes=CLIP=MODE+...]
                       [--startup SECONDS]

INPUT is a video file or a folder of images; OUTPUT ending in .mkv/.avi/.mp4 is written as an FFV1 video,
anything else as a folder of PNGs. Frames are upsampled by pixel repetition (exactly reproducible) one at a
time. ``--startup`` sleeps first and prints "model loaded in S s", like a program loading weights. Modes
other than ``ok`` reproduce the failures a real program has: ``crash`` (error on stderr, exit 3), ``hang``
(never finishes; also starts a child that must die with it — its pid goes to $FAKE_VSR_PIDFILE), ``few`` (two
frames short) and ``size`` (x2 instead of x``--scale``). ``--modes`` picks the mode per clip: the first
CLIP whose name is part of INPUT's path. Uses only numpy, PIL and PyAV so it starts fast.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np

VIDEO = (".mkv", ".avi", ".mp4")


def read_frames(path: str):
    if os.path.isdir(path):
        from PIL import Image

        for name in sorted(os.listdir(path)):
            with Image.open(os.path.join(path, name)) as im:
                yield np.asarray(im.convert("RGB"))
        return
    import av

    with av.open(path) as c:
        for frame in c.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


class Writer:
    def __init__(self, path: str):
        self.path, self.count, self.container = path, 0, None
        if not path.endswith(VIDEO):
            os.makedirs(path, exist_ok=True)

    def write(self, img: np.ndarray) -> None:
        if not self.path.endswith(VIDEO):
            from PIL import Image

            Image.fromarray(img).save(os.path.join(self.path, f"frame_{self.count:05d}.png"), compress_level=1)
        else:
            import av

            if self.container is None:
                self.container = av.open(self.path, "w")
                self.stream = self.container.add_stream("ffv1", rate=Fraction(25))
                self.stream.pix_fmt, self.stream.width, self.stream.height = "bgr0", img.shape[1], img.shape[0]
            for p in self.stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                self.container.mux(p)
        self.count += 1

    def close(self) -> None:
        if self.container is not None:
            for p in self.stream.encode(None):
                self.container.mux(p)
            self.container.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--mode", default="ok", choices=["ok", "crash", "hang", "few", "size"])
    ap.add_argument("--modes", default="")
    ap.add_argument("--startup", type=float, default=0.0)
    a = ap.parse_args()
    for item in filter(None, a.modes.split("+")):
        clip, _, mode = item.partition("=")
        if clip in a.input:
            a.mode = mode
            break
    if a.startup:
        time.sleep(a.startup)
    print(f"fake-vsr: model loaded in {a.startup:.2f} s", flush=True)
    if a.mode == "crash":
        print("Traceback (most recent call last):\nRuntimeError: CUDA out of memory (fake)", file=sys.stderr)
        return 3
    if a.mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        if os.environ.get("FAKE_VSR_PIDFILE"):
            with open(os.environ["FAKE_VSR_PIDFILE"], "w") as f:
                f.write(str(child.pid))
        time.sleep(600)
    frames = list(read_frames(a.input)) if a.mode == "few" else read_frames(a.input)
    if a.mode == "few":
        frames = frames[:-2]
    scale = 2 if a.mode == "size" else a.scale
    out = Writer(a.output)
    for img in frames:
        out.write(np.repeat(np.repeat(img, scale, axis=0), scale, axis=1))
    out.close()
    print(f"fake-vsr: wrote {out.count} frames", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
