"""VMAF as a streaming metric: libvmaf inside the ffmpeg binary that imageio-ffmpeg ships, fed through pipes.

VMAF (an SVM over VIF, ADM and motion features) is the one widely used weight-free video metric, and
libvmaf is its reference implementation. We do not re-implement it; we drive it so that it fits the
streaming contract (``docs/metrics.md`` §2.2):

* **One ffmpeg process per clip**, started at the first :meth:`~StreamingMetric.update` (the frame size is
  known then). It reads two raw ``rgb24`` streams — input 0 the distorted video (the SR output), input 1
  the reference (HR) — from two named pipes (``os.mkfifo``) in a private temporary folder. Each pipe has
  its own writer thread with a queue of at most :data:`QUEUE_CHUNKS` chunks, so neither pipe can starve
  the other and memory stays at a few chunks whatever the clip length. No video file is ever written.
* **Colour conversion inside ffmpeg**, recorded in :attr:`params`: RGB → Y'CbCr with the BT.709 matrix
  (``matrix="bt709"``, default: the matrix of HD video) or BT.601 (``matrix="bt601"``: what ffmpeg uses
  when it converts RGB input itself, as in ``ffmpeg -i dis.png -i ref.png -lavfi libvmaf``; that command's
  per-frame numbers are reproduced exactly, tested), limited ("tv", 16–235) range, 4:2:0
  (``pix_fmt="yuv420p"``, default, the format VMAF models were trained on; ``"yuv444p"`` on request).
  swscale runs with ``accurate_rnd+full_chroma_int+bitexact`` so the same bytes come out on every CPU.
  The vmaf_v0.6.1 features read the luma plane only, so the matrix matters (pure blue is Y'=32 under
  BT.709, 41 under BT.601) while the chroma subsampling does not change the score.
* **Model** ``vmaf_v0.6.1`` (default, built into libvmaf; ``vmaf_v0.6.1neg`` and ``vmaf_4k_v0.6.1`` are
  also accepted), ``n_subsample=1`` (every frame scored), ``n_threads=threads`` (default
  :data:`DEFAULT_THREADS`; threads change speed, not values — tested).
* **Per-frame values arrive at the end.** libvmaf writes its per-frame scores to a CSV log when the
  process ends, so :meth:`frame_values` returns NaN for every frame and :meth:`finish_values` closes the
  pipes, waits for ffmpeg, reads the ``vmaf`` column of the log (a few bytes per frame) and returns every
  frame's value; the base class folds them into the clip and window means.
* **Pooling.** ``mean`` (the base class's clip mean) is libvmaf's default arithmetic-mean pooling.
  :meth:`extra` adds ``harmonic_mean`` (libvmaf's definition: ``n / Σ 1/(v+1) − 1``), ``min`` and
  ``perc5`` (the 5th percentile, linear interpolation between order statistics as ``numpy.percentile``).
  libvmaf logs each frame's score with 6 decimals; these statistics are computed from those values.
* **Memory.** Python holds at most :data:`QUEUE_CHUNKS` uint8 chunks per pipe plus 1 MiB pipe buffers.
  The ffmpeg process stays near 48 MiB at 320×240; libvmaf keeps each frame's feature scores (≈0.4 KiB)
  until it writes the log, so it grows ≈4 MiB per 10,000 frames (measured 47.7 MiB at 400 frames, 49.2
  MiB at 4,000). Inputs are rounded to the 8-bit grid (``video_io.to_uint8``), as the runner's are already.

Sizes: both sides must be at least :data:`MIN_SIDE` pixels (libvmaf crashes on 16×16 frames); odd sizes
work. Errors: an ffmpeg that is missing or lacks libvmaf (or the model) raises :class:`VmafUnavailable`
(a :class:`~infvsr_bench.errors.BadInput`) when the metric is built, before any heavy work; ffmpeg dying
mid-clip raises :class:`RuntimeError` carrying the tail of ffmpeg's stderr (the runner records the clip as
failed). The process, its threads and the FIFO folder are removed by :meth:`reset`, on every error, and
when the metric is garbage-collected or the interpreter exits.
"""
from __future__ import annotations

import csv
import errno
import fcntl
import functools
import json
import logging
import math
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import BadInput
from ..video_io import to_uint8
from .base import StreamingMetric

log = logging.getLogger(__name__)

#: libvmaf models built into the shipped ffmpeg that this metric accepts (checked at construction).
MODELS = ("vmaf_v0.6.1", "vmaf_v0.6.1neg", "vmaf_4k_v0.6.1")
#: RGB → Y'CbCr matrices (swscale names); range is always limited (16–235 luma).
MATRICES = ("bt709", "bt601")
#: How a matrix is named in the recorded conversion: BT.601 is what ffmpeg picks when it converts RGB input
#: (PNG frames) for libvmaf by itself, so ``ffmpeg -i dis.png -i ref.png -lavfi libvmaf`` scores are BT.601.
MATRIX_NOTES = {"bt709": "", "bt601": " (ffmpeg's default for RGB input)"}
PIX_FMTS = ("yuv420p", "yuv444p")
#: swscale flags of the conversion: exact rounding, full chroma interpolation, CPU-independent output.
SWS_FLAGS = "accurate_rnd+full_chroma_int+bitexact"
#: Smallest frame side libvmaf handles (32×32 runs; 16×16 crashes the ffmpeg build we ship).
MIN_SIDE = 32
DEFAULT_THREADS = 4
#: Chunks queued per pipe before update() waits for ffmpeg (bounds memory to a few chunks).
QUEUE_CHUNKS = 2
#: Frame rate given to the raw inputs. VMAF's motion feature compares consecutive frames and ignores
#: timestamps, so the rate does not enter the score; a fixed value keeps the command line fixed.
PIPE_FPS = 25
#: How long finish() waits for ffmpeg after the last frame was written before it gives up.
EXIT_TIMEOUT_S = 300.0
_STDERR_LINES = 40
_PIPE_BYTES = 1 << 20  # ask Linux for 1 MiB pipe buffers (default 64 KiB): fewer wake-ups per frame


class VmafUnavailable(BadInput):
    """ffmpeg is missing, or it was built without libvmaf, or the requested VMAF model is not built in."""


def conversion_filter(matrix: str = "bt709", pix_fmt: str = "yuv420p") -> str:
    """The ffmpeg filter chain that turns one RGB input into what libvmaf scores."""
    return f"scale=out_color_matrix={matrix}:out_range=tv:flags={SWS_FLAGS},format={pix_fmt}"


def libvmaf_filter(model: str, threads: int, log_path: str, log_fmt: str = "csv") -> str:
    """The libvmaf filter with every option that could change a number spelled out."""
    return (f"libvmaf=model=version={model}:n_threads={threads}:n_subsample=1:"
            f"log_fmt={log_fmt}:log_path={log_path}")


def find_ffmpeg(path: str | None = None) -> str:
    """The ffmpeg executable: ``path`` if given, else the one imageio-ffmpeg ships (or $IMAGEIO_FFMPEG_EXE)."""
    if path is None:
        try:
            import imageio_ffmpeg
        except ImportError as exc:
            raise VmafUnavailable("vmaf needs ffmpeg: install imageio-ffmpeg (pip install imageio-ffmpeg)") from exc
        try:
            path = imageio_ffmpeg.get_ffmpeg_exe()
        except RuntimeError as exc:
            raise VmafUnavailable(f"vmaf needs ffmpeg, and imageio-ffmpeg found none: {exc}") from exc
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise VmafUnavailable(f"vmaf needs ffmpeg, but {path} is not an executable file")
    return path


@functools.cache
def probe_ffmpeg(exe: str, model: str) -> dict[str, str]:
    """Check that ``exe`` has the libvmaf filter and the ``model`` built in; return the ffmpeg and libvmaf
    versions. Runs ffmpeg three times (-version, -filters, a 2-frame VMAF of a test pattern); cached."""
    def run(args: list[str], cwd: str | None = None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([exe, "-hide_banner", "-nostdin", *args], capture_output=True, text=True,
                                  timeout=60, cwd=cwd, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise VmafUnavailable(f"vmaf: cannot run ffmpeg at {exe}: {exc}") from exc

    version = run(["-version"])
    first = (version.stdout or "").splitlines()[:1]
    if version.returncode != 0 or not first or not first[0].startswith("ffmpeg version"):
        raise VmafUnavailable(f"vmaf: {exe} does not behave like ffmpeg ('-version' gave rc "
                              f"{version.returncode}: {_tail(version.stderr or version.stdout, 3)})")
    ffmpeg_version = first[0].split()[2]
    filters = run(["-filters"])
    if not any(line.split()[1:2] == ["libvmaf"] for line in filters.stdout.splitlines()):
        raise VmafUnavailable(f"vmaf: the ffmpeg at {exe} (version {ffmpeg_version}) was built without "
                              f"libvmaf; use an ffmpeg configured with --enable-libvmaf (imageio-ffmpeg's "
                              f"static Linux build has it)")
    with tempfile.TemporaryDirectory(prefix="infvsr-vmaf-probe-") as tmp:
        src = "testsrc=size=64x48:rate=25:duration=0.08"
        graph = f"[0:v][1:v]{libvmaf_filter(model, 1, 'probe.json', 'json')}"
        res = run(["-loglevel", "error", "-f", "lavfi", "-i", src, "-f", "lavfi", "-i", src,
                   "-lavfi", graph, "-f", "null", "-"], cwd=tmp)
        try:
            with open(os.path.join(tmp, "probe.json"), encoding="utf-8") as f:
                libvmaf_version = str(json.load(f).get("version", "unknown"))
        except (OSError, ValueError):
            libvmaf_version = None
    if res.returncode != 0 or libvmaf_version is None:
        raise VmafUnavailable(f"vmaf: libvmaf in {exe} cannot load model {model!r} "
                              f"(rc {res.returncode}: {_tail(res.stderr, 3)})")
    return {"ffmpeg": ffmpeg_version, "libvmaf": libvmaf_version}


def _tail(text: str | None, lines: int) -> str:
    return " | ".join((text or "").strip().splitlines()[-lines:]) or "no output"


def harmonic_mean(values: np.ndarray) -> float:
    """libvmaf's harmonic-mean pooling: ``n / Σ 1/(v + 1) − 1`` (the +1 keeps a score of 0 finite)."""
    return float(len(values) / np.sum(1.0 / (values + 1.0)) - 1.0)


def read_vmaf_csv(path: str) -> list[float]:
    """Per-frame ``vmaf`` scores from a libvmaf CSV log, in frame order (read line by line)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if not header or "vmaf" not in header or "Frame" not in header:
            raise RuntimeError(f"libvmaf log {path} has no Frame/vmaf columns (header: {header})")
        i_frame, i_vmaf = header.index("Frame"), header.index("vmaf")
        values: list[float] = []
        for row in rows:
            if not row:
                continue
            if int(row[i_frame]) != len(values):
                raise RuntimeError(f"libvmaf log {path}: frame {row[i_frame]} where {len(values)} was expected")
            values.append(float(row[i_vmaf]))
    return values


class _PipeWriter:
    """A thread that opens one FIFO for writing and writes the uint8 arrays queued for it, in order.

    The FIFO is opened non-blocking in a polling loop so that an ffmpeg which dies before opening it does
    not leave the thread blocked forever; after that, writes block (back-pressure from ffmpeg). A write
    error (EPIPE when ffmpeg died) is kept in :attr:`error` and ends the thread.
    """

    def __init__(self, path: str, proc: subprocess.Popen, name: str):
        self.path, self.proc = path, proc
        self.queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=QUEUE_CHUNKS)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _open(self) -> int | None:
        while not self.stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: ffmpeg has not opened its end yet
                    raise
                if self.proc.poll() is not None:
                    raise BrokenPipeError(errno.EPIPE, f"ffmpeg exited before opening {self.path}") from None
                time.sleep(0.002)
                continue
            os.set_blocking(fd, True)
            setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
            if setpipe is not None:
                try:
                    fcntl.fcntl(fd, setpipe, _PIPE_BYTES)
                except OSError:  # above /proc/sys/fs/pipe-max-size for unprivileged users: keep the default
                    pass
            return fd
        return None

    def _run(self) -> None:
        fd = None
        try:
            fd = self._open()
            while fd is not None:
                try:
                    item = self.queue.get(timeout=0.1)
                except queue.Empty:
                    if self.stop.is_set():
                        return
                    continue
                if item is None:  # end of the clip
                    return
                view = memoryview(item).cast("B")
                while view:
                    view = view[os.write(fd, view):]
        except BaseException as exc:  # noqa: BLE001 - reported to the caller through .error
            self.error = exc
        finally:
            if fd is not None:
                os.close(fd)  # EOF for ffmpeg

    def put(self, item: np.ndarray | None, alive: Callable[[], None]) -> None:
        """Queue ``item`` (None = end of input); raise if the writer or ffmpeg failed meanwhile."""
        while True:
            if self.error is not None or not self.thread.is_alive():
                raise BrokenPipeError(errno.EPIPE, f"writing to ffmpeg failed: {self.error or 'writer ended'}")
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                alive()


class _Session:
    """One ffmpeg libvmaf process for one clip: its temporary folder, two FIFOs, writers and stderr tail."""

    def __init__(self, exe: str, width: int, height: int, graph_of: Callable[[str], str]):
        self.dir = tempfile.mkdtemp(prefix="infvsr-vmaf-")
        self.proc: subprocess.Popen | None = None
        self.writers: list[_PipeWriter] = []
        self.stderr_tail: deque[str] = deque(maxlen=_STDERR_LINES)
        self._stderr_thread: threading.Thread | None = None
        self.closed = False
        try:
            for name in ("distorted.rgb", "reference.rgb"):
                os.mkfifo(os.path.join(self.dir, name), 0o600)
            raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", f"{width}x{height}",
                   "-framerate", str(PIPE_FPS)]
            # relative names, run in the private folder: no path ever needs filtergraph escaping
            self.command = [exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning",
                            *raw, "-i", "file:distorted.rgb", *raw, "-i", "file:reference.rgb",
                            "-lavfi", graph_of("vmaf.csv"), "-f", "null", "-"]
            log.debug("vmaf: starting %s (in %s)", " ".join(self.command), self.dir)
            self.proc = subprocess.Popen(self.command, cwd=self.dir, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self._stderr_thread = threading.Thread(target=self._read_stderr, name="vmaf-stderr", daemon=True)
            self._stderr_thread.start()
            self.writers = [_PipeWriter(os.path.join(self.dir, "distorted.rgb"), self.proc, "vmaf-distorted"),
                            _PipeWriter(os.path.join(self.dir, "reference.rgb"), self.proc, "vmaf-reference")]
        except BaseException:
            self.kill()
            raise

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in iter(self.proc.stderr.readline, b""):
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())

    def failure(self, what: str) -> RuntimeError:
        """A RuntimeError describing how ffmpeg failed, with the tail of its stderr."""
        rc = self.proc.poll() if self.proc is not None else None
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=2.0)
        tail = "\n".join(self.stderr_tail) or "(ffmpeg wrote nothing to stderr)"
        state = f"ffmpeg exited with code {rc}" if rc is not None else "ffmpeg is still running"
        return RuntimeError(f"vmaf: {what}; {state}. Last lines of ffmpeg's stderr:\n{tail}")

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BrokenPipeError(errno.EPIPE, "ffmpeg exited")

    def feed(self, distorted: np.ndarray, reference: np.ndarray) -> None:
        """Queue one chunk of each stream ((T, H, W, 3) uint8, contiguous); raise if ffmpeg is gone."""
        try:
            self._check_alive()  # a process that died since the last chunk fails here, not a chunk later
            self.writers[0].put(distorted, self._check_alive)
            self.writers[1].put(reference, self._check_alive)
        except OSError as exc:
            raise self.failure(f"ffmpeg stopped reading frames mid-clip ({exc.strerror or exc})") from exc

    def close(self) -> list[float]:
        """End both streams, wait for ffmpeg to finish and return the per-frame scores from its log."""
        assert self.proc is not None
        try:
            for w in self.writers:
                w.put(None, self._check_alive)
            for w in self.writers:
                while w.thread.is_alive():  # ends once ffmpeg has read the rest (or died: EPIPE)
                    w.thread.join(timeout=0.5)
                if w.error is not None:
                    raise w.error
            rc = self.proc.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise self.failure(f"ffmpeg did not finish within {EXIT_TIMEOUT_S:.0f} s of the last frame") from exc
        except OSError as exc:
            raise self.failure(f"ffmpeg stopped reading frames ({exc.strerror or exc})") from exc
        if rc != 0:
            raise self.failure("ffmpeg failed")
        try:
            return read_vmaf_csv(os.path.join(self.dir, "vmaf.csv"))
        except (OSError, ValueError, IndexError) as exc:
            raise self.failure(f"cannot read libvmaf's log ({exc})") from exc

    def kill(self) -> None:
        """Stop everything and delete the folder; safe to call more than once, from any thread."""
        if self.closed:
            return
        self.closed = True
        for w in self.writers:
            w.stop.set()
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL not delivered
                log.warning("vmaf: ffmpeg (pid %d) did not exit after SIGKILL", self.proc.pid)
        # writers blocked in write() get EPIPE now that the reader is gone. (A garbage collection can run
        # this finalizer on one of these threads: never join the current one.)
        me = threading.current_thread()
        for t in [w.thread for w in self.writers] + [self._stderr_thread]:
            if t is not None and t is not me:
                t.join(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)
        reader_done = self._stderr_thread is None or not self._stderr_thread.is_alive()
        if self.proc is not None and self.proc.stderr is not None and reader_done:
            self.proc.stderr.close()  # (closing it under a blocked reader would wait for that reader)


class VMAF(StreamingMetric):
    """VMAF per frame (0–100, higher is better) from libvmaf, streamed through pipes; see the module doc."""

    name: ClassVar[str] = "vmaf"
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = True
    mode: ClassVar[str] = "FR"
    unit: ClassVar[str] = ""
    param_limits: ClassVar[dict[str, str]] = {"threads": ">= 1"}

    def __init__(self, model: str = "vmaf_v0.6.1", matrix: str = "bt709", pix_fmt: str = "yuv420p",
                 threads: int = DEFAULT_THREADS, window: int = 100, ffmpeg: str | None = None):
        if model not in MODELS:
            raise BadInput(f"vmaf: unknown model {model!r}; choose one of {', '.join(MODELS)}")
        if matrix not in MATRICES:
            raise BadInput(f"vmaf: unknown matrix {matrix!r}; choose one of {', '.join(MATRICES)}")
        if pix_fmt not in PIX_FMTS:
            raise BadInput(f"vmaf: unknown pix_fmt {pix_fmt!r}; choose one of {', '.join(PIX_FMTS)}")
        if not isinstance(threads, int) or threads < 1:
            raise BadInput(f"vmaf: threads must be a positive integer, got {threads!r}")
        self._session: _Session | None = None
        self._finalizer: weakref.finalize | None = None
        self.exe = find_ffmpeg(ffmpeg)
        versions = probe_ffmpeg(self.exe, model)
        self.model, self.matrix, self.pix_fmt, self.threads = model, matrix, pix_fmt, threads
        super().__init__(window=window)
        # everything that identifies the numbers (the executable's path does not; its versions do)
        self.params = {
            "model": model, "matrix": matrix, "range": "limited", "pix_fmt": pix_fmt,
            "conversion": f"rgb24 -> {pix_fmt}, {matrix.upper()} matrix{MATRIX_NOTES[matrix]}, limited range, "
                          f"swscale {SWS_FLAGS}",
            "threads": threads, "subsample": 1, "pool": "mean",
            "ffmpeg": versions["ffmpeg"], "libvmaf": versions["libvmaf"],
        }

    # -- the filter graph ---------------------------------------------------------------------------
    def filter_graph(self, log_path: str) -> str:
        """``[0:v]`` distorted, ``[1:v]`` reference → the conversion on each → libvmaf (main, reference)."""
        conv = conversion_filter(self.matrix, self.pix_fmt)
        return (f"[0:v]{conv}[dis];[1:v]{conv}[ref];"
                f"[dis][ref]{libvmaf_filter(self.model, self.threads, log_path)}")

    # -- StreamingMetric hooks ----------------------------------------------------------------------
    def reset_carry(self) -> None:
        self._stop_session()
        self._size: tuple[int, int] | None = None
        self._stats: dict[str, float] = {}

    def _stop_session(self) -> None:
        finalizer, self._finalizer, self._session = self._finalizer, None, None
        if finalizer is not None:
            finalizer()  # kills ffmpeg, joins the threads, removes the FIFO folder (once)

    def check_frame_size(self, height: int, width: int) -> None:
        if min(height, width) < MIN_SIDE:
            raise BadInput(f"vmaf needs frames of at least {MIN_SIDE}x{MIN_SIDE} pixels, got {width}x{height}")

    def frame_values(self, sr: torch.Tensor, hr: torch.Tensor | None) -> torch.Tensor:
        assert hr is not None  # mode FR: the base class has checked it
        if sr.ndim != 4 or sr.shape[1] != 3:
            raise ValueError(f"vmaf expects (T, 3, H, W) frames, got {tuple(sr.shape)}")
        t, _, h, w = sr.shape
        if self._size is None:
            self.check_frame_size(h, w)
            self._size = (w, h)
        elif self._size != (w, h):
            raise ValueError(f"vmaf: frame size changed mid-clip from {self._size[0]}x{self._size[1]} to {w}x{h}")
        if self._session is None:
            session = _Session(self.exe, w, h, self.filter_graph)
            self._session = session
            self._finalizer = weakref.finalize(self, session.kill)  # no process outlives its metric
        try:
            self._session.feed(to_uint8(sr), to_uint8(hr))  # (T,3,H,W) float -> (T,H,W,3) uint8 rgb24
        except BaseException:
            self._stop_session()
            raise
        return torch.full((t,), math.nan, dtype=torch.float64)

    def finish_values(self) -> torch.Tensor | None:
        session = self._session
        if session is None:
            return None
        try:
            values = session.close()
        finally:
            self._stop_session()
        if len(values) != self.frames:
            raise RuntimeError(f"vmaf: libvmaf scored {len(values)} frames, {self.frames} were sent")
        arr = np.asarray(values, dtype=np.float64)
        self._stats = {"harmonic_mean": harmonic_mean(arr), "min": float(arr.min()),
                       "perc5": float(np.percentile(arr, 5))}
        return torch.from_numpy(arr)

    def extra(self) -> dict[str, Any]:
        return dict(self._stats)
