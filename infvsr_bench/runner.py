"""The one clip loop: resolve → validate → stream LR (and HR) through a method and the metrics → records.

:func:`prepare` does every check that can fail on bad input (dataset, method, metrics, output folder) and
raises :class:`~infvsr_bench.errors.BadInput` before any heavy work. :func:`execute` then runs clip after
clip; a clip that fails is recorded with its reason and the run goes on. Memory is bounded by one chunk of
LR/HR/SR frames plus the method's and metrics' own fixed state, whatever the video length.
"""
from __future__ import annotations

import logging
import math
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from . import aggregate, datasets, outpaths, provenance, records, runlock
from .errors import BadInput, MethodError, WeightsNotFound
from .methods import Method, get_method
from .metrics import DEFAULT_METRICS, StreamingMetric, metric_from_spec
from .progress import ProgressLog
from .throughput import ClipTimer
from .video_io import FrameReader, quantize

log = logging.getLogger(__name__)

CONVENTIONS = {
    "output_quantization": "uint8 round-to-nearest before scoring (as when saved)",
    "clip_pooling": "mean of per-frame values",
    "dataset_pooling": "mean of clip means (clips weighted equally)",
    "ci": f"percentile bootstrap over clips, 95%, {aggregate.BOOTSTRAP_RESAMPLES} resamples, "
          f"seed {aggregate.BOOTSTRAP_SEED}",
}


@dataclass
class RunSpec:
    """What the user asked for, before anything is resolved."""

    method: str = "bicubic"
    dataset: str = "synthetic-long"
    metrics: list[str] | None = None
    out: Path | None = None
    max_frames: int | None = None
    device: str = "cpu"
    resume: bool = False
    overwrite: bool = False
    verify_hashes: bool = True
    method_params: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    visuals: bool = False  # temporal profiles and worst moments (infvsr_bench.visual); never change a number
    profiles: str | None = None  # rows=Y,...,cols=X,... for the profiles (default: chosen from the reference)


@dataclass
class PreparedRun:
    spec: RunSpec
    run_dir: Path
    manifest: dict[str, Any]
    method: Method
    metrics: list[StreamingMetric]
    run_key: str
    comparability_key: str
    done: set[str]
    unavailable: dict[str, str] = field(default_factory=dict)  # metric label -> why it was not computed
    dataset_info: dict[str, Any] = field(default_factory=dict)
    metric_desc: list[dict[str, Any]] = field(default_factory=list)
    # device bytes the metrics hold (networks built on an earlier clip stay resident): carried from clip to
    # clip so that the method's peak GPU memory never includes them (throughput.ClipTimer.outside)
    metrics_device_bytes: int = 0
    lock: runlock.RunFolderLock | None = None  # held from hold() (or begin()) to the end of execute()


def default_run_dir(root: Path, dataset_name: str, method: str, max_frames: int | None) -> Path:
    """``ROOT/DATASET[-maxN]/METHOD``; both names must be safe path components (never ``..`` or a path)."""
    from .names import check_name

    suffix = f"-max{max_frames}" if max_frames else ""
    return Path(root) / f"{check_name('dataset name', dataset_name)}{suffix}" / check_name("method name", method)


def _check_device(device: str) -> None:
    if device == "cpu":
        return
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BadInput(f"--device {device}: no CUDA device is available here")
        return
    raise BadInput(f"unknown device {device!r}: use cpu or cuda[:N]")


def prepare(spec: RunSpec, runs_root: Path = Path("runs")) -> PreparedRun:
    """Resolve and validate everything; raise BadInput on anything that cannot work. Writes nothing:
    run.json is written by :func:`execute`, so a rejected multi-method command leaves no folder behind."""
    if spec.max_frames is not None and spec.max_frames < 1:
        raise BadInput(f"--max-frames must be at least 1, got {spec.max_frames}")
    _check_device(spec.device)
    manifest = _scale_from_dataset(spec)  # the manifest when the method needed its scale, else None
    method = build_method(spec)
    metric_specs = list(spec.metrics) if spec.metrics else list(DEFAULT_METRICS)
    metrics = [metric_from_spec(s, device=spec.device) for s in metric_specs]  # networks on the run's device
    labels = [m.label for m in metrics]
    if len(set(labels)) != len(labels):
        raise BadInput(f"metric listed twice: {', '.join(sorted({x for x in labels if labels.count(x) > 1}))}")
    metrics, unavailable = _split_by_weights(metrics, explicit=bool(spec.metrics))

    if manifest is None:  # resolved after the method and metrics are known good: it may build the dataset
        manifest = datasets.resolve(spec.dataset, max_frames=spec.max_frames, check=False)
    datasets.verify(manifest, hashes=spec.verify_hashes)
    if int(manifest["scale"]) != method.info.scale:
        raise BadInput(f"method {method.info.name} upscales x{method.info.scale} but dataset "
                       f"{manifest['name']} is x{manifest['scale']}")
    if not manifest["has_hr"]:
        fr = [m.label for m in metrics if m.mode == "FR"]
        if fr and spec.metrics:
            raise BadInput(f"dataset {manifest['name']} has no ground truth; full-reference metrics "
                           f"{', '.join(fr)} cannot run (use no-reference metrics)")
        for m in metrics:
            if m.mode == "FR":
                unavailable[m.label] = "full-reference metric; the dataset has no ground truth"
        metrics = [m for m in metrics if m.mode != "FR"]
        if not metrics:
            raise BadInput(f"dataset {manifest['name']} has no ground truth and no no-reference metric was "
                           f"asked for")

    _check_frame_sizes(metrics, manifest)

    if spec.visuals:
        from .visual.observer import check_spec

        check_spec(spec.profiles, manifest)
    dataset_info = {k: manifest[k] for k in ("name", "manifest_sha256", "degradation", "has_hr", "scale")}
    metric_desc = [m.describe() for m in metrics]
    key_src = {"method": method.describe(), "dataset": manifest["manifest_sha256"], "metrics": metric_desc,
               "max_frames": spec.max_frames, "conventions": CONVENTIONS}
    run_key = records.stable_hash(key_src)
    comp_key = aggregate.comparability_key(dataset_info, metric_desc, CONVENTIONS, spec.max_frames)

    run_dir = Path(spec.out) if spec.out else default_run_dir(runs_root, manifest["name"], method.info.name,
                                                               spec.max_frames)
    outpaths.check_folder(run_dir, "run folder")  # under a file, read-only, not ours: refused before any work
    done = _check_run_dir(run_dir, run_key, spec.resume, spec.overwrite, warn=False)  # again under the lock
    return PreparedRun(spec, run_dir, manifest, method, metrics, run_key, comp_key, done, unavailable,
                       dataset_info, metric_desc)


def _scale_from_dataset(spec: RunSpec) -> dict[str, Any] | None:
    """A method that serves several scales (class attribute ``scale_from_dataset``) is given the dataset's
    scale unless the user chose one: written into the spec's parameters, so Ray workers build the same.
    Returns the manifest it resolved for that (None when it needed none), so :func:`prepare` resolves once."""
    from .methods import METHODS

    if getattr(METHODS.get(spec.method), "scale_from_dataset", False) and "scale" not in spec.method_params:
        manifest = datasets.resolve(spec.dataset, max_frames=spec.max_frames, check=False)
        spec.method_params = {**spec.method_params, "scale": int(manifest["scale"])}
        return manifest
    return None


def build_method(spec: RunSpec) -> Method:
    """The spec's method adapter, preflighted: e.g. a method whose weight files are missing raises
    WeightsNotFound here, and one that cannot run on the run's device (``check_device``) BadInput, before any
    work (used by :func:`prepare` and by every Ray worker)."""
    method = get_method(spec.method, **spec.method_params)
    check_device = getattr(method, "check_device", None)
    if callable(check_device):
        check_device(spec.device)
    preflight = getattr(method, "preflight", None)
    if callable(preflight):
        preflight()
    return method


def _check_frame_sizes(metrics: list[StreamingMetric], manifest: dict[str, Any]) -> None:
    """Every metric can score every clip's frame size (a crop_border that leaves nothing, frames too small
    for a flow): BadInput before any work, rather than every clip failing the same way."""
    s = int(manifest["scale"])
    for h, w in sorted({(c["lr"]["height"] * s, c["lr"]["width"] * s) for c in manifest["clips"]}):
        for m in metrics:
            m.check_frame_size(h, w)


def _split_by_weights(metrics: list[StreamingMetric], explicit: bool
                      ) -> tuple[list[StreamingMetric], dict[str, str]]:
    """Drop metrics whose weight files are absent. Asked for by name: that is bad input (exit 2, before
    any work). Part of the default set: listed as unavailable with the reason, never zero-filled. A weight
    file that is present but damaged (wrong hash, a directory, unreadable) is bad input either way."""
    kept, unavailable = [], {}
    for m in metrics:
        need = tuple(getattr(m, "requires", ()) or ())
        if not need:
            kept.append(m)
            continue
        from . import weights

        explicit_path = m.params.get("weights_path") or getattr(m, "weights_path", None)
        if explicit_path:  # a file the user named for this metric: it must resolve (or it is bad input)
            for wid in need:
                weights.resolve(wid, explicit_path)
            kept.append(m)
            continue
        missing = weights.absent(need)  # a damaged file (wrong hash, a directory) raises: never skipped
        if not missing:
            kept.append(m)
            continue
        reason = "; ".join(missing[k] for k in sorted(missing))
        if explicit:
            raise WeightsNotFound(f"metric {m.label} cannot run: {reason}")
        unavailable[m.label] = reason
    return kept, unavailable


def _check_run_dir(run_dir: Path, run_key: str, resume: bool, overwrite: bool = False, warn: bool = True
                   ) -> set[str]:
    """The clips of this run already finished in ``run_dir`` (BadInput if the folder holds something else).
    A clip counts as finished only when its record says ok and its per-frame series are on disk as the
    record says (:func:`records.frames_intact`): records and ``frames/`` that disagree mean recompute."""
    run_json = run_dir / "run.json"
    if run_dir.exists() and not run_dir.is_dir():
        raise BadInput(f"output path {run_dir} exists and is not a folder")
    if not run_json.exists():
        if run_dir.exists() and any(p.name != runlock.LOCK_NAME for p in run_dir.iterdir()):
            raise BadInput(f"output folder {run_dir} is not empty and holds no run; choose another --out")
        return set()
    try:
        old = records.read_json(run_json)
    except (OSError, ValueError) as exc:
        raise BadInput(f"output folder {run_dir} holds an unreadable run.json ({exc}); choose another --out")
    if old.get("run_key") != run_key:
        raise BadInput(f"output folder {run_dir} holds a different run (method, dataset, metrics or "
                       f"--max-frames differ); choose another --out or delete it")
    if overwrite:  # the same run, recomputed: execute() replaces its records; another run is never touched
        return set()
    finished = set()
    for c in records.read_clips(run_dir):
        if c.get("status") != "ok":
            continue
        if records.frames_intact(run_dir, c):
            finished.add(c["clip"])
        elif warn:
            log.warning("clip %s: its per-frame series in %s are missing, unreadable or not the recorded ones; "
                        "it will be computed again", c["clip"], run_dir / "frames")
    if finished and not resume:
        raise BadInput(f"output folder {run_dir} already holds {len(finished)} finished clip(s) of this run; "
                       f"pass --resume to continue it or choose another --out")
    return finished


def _clear_run(run_dir: Path) -> None:
    import shutil

    for name in ("summary.json", "report.md", "clips.jsonl", "sessions.jsonl", "run.json"):
        (run_dir / name).unlink(missing_ok=True)
    for folder in ("frames", "profiles", "moments"):
        shutil.rmtree(run_dir / folder, ignore_errors=True)


def _write_run_json(p: PreparedRun, dataset_info: dict[str, Any], metric_desc: list[dict[str, Any]]) -> None:
    p.run_dir.mkdir(parents=True, exist_ok=True)
    session = {"started": provenance.utc_now(), "argv": provenance.argv(), "git": provenance.git_revision(),
               "resume": bool(p.done)}
    if (p.run_dir / "run.json").exists():  # resuming: run.json stays as first written; log the session
        with open(p.run_dir / "sessions.jsonl", "a", encoding="utf-8") as f:
            f.write(records.dumps(session, indent=None) + "\n")
        return
    m = p.manifest
    run = {
        "schema_version": records.SCHEMA_VERSION,
        "run_key": p.run_key,
        "comparability_key": p.comparability_key,
        "created": session["started"],
        "argv": session["argv"],
        "git": session["git"],
        "versions": provenance.package_versions(),
        "host": provenance.host_info(p.spec.device),
        "device": p.spec.device,
        "dtype": "float32",
        "seeds": {"dataset": m.get("seed"), "bootstrap": aggregate.BOOTSTRAP_SEED},
        "dataset": {**dataset_info, "root": m["root"], "recipe_sha256": m.get("recipe_sha256"),
                    "clips": [c["id"] for c in m["clips"]]},
        "method": p.method.describe(),
        "metrics": metric_desc,
        "unavailable_metrics": p.unavailable,
        "max_frames": p.spec.max_frames,
        "conventions": CONVENTIONS,
    }
    records.write_json(p.run_dir / "run.json", run)


class _FrameQueue:
    """FIFO of HR frames for the SR frames to come, pulled from ``source`` only as SR frames arrive, so a
    method that returns everything at the end (an external program) never makes it hold the whole video:
    at most one source chunk beyond the frames asked for."""

    def __init__(self, source: Iterator[torch.Tensor] | None = None) -> None:
        self._chunks: deque[torch.Tensor] = deque()
        self._source = source
        self.size = 0

    def push(self, frames: torch.Tensor) -> None:
        self._chunks.append(frames)
        self.size += frames.shape[0]

    def pop(self, k: int) -> torch.Tensor:
        while self._source is not None and self.size < k:
            self.push(next(self._source))
        parts, need = [], k
        while need:
            head = self._chunks[0]
            if head.shape[0] <= need:
                parts.append(self._chunks.popleft())
                need -= head.shape[0]
            else:
                parts.append(head[:need])
                self._chunks[0] = head[need:]
                need = 0
        self.size -= k
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def save_clip(p: PreparedRun, rec: dict[str, Any], series: dict[str, np.ndarray] | None = None) -> None:
    """Write one clip's results (every engine calls this): its per-frame series when it finished, then its
    clips.jsonl line. Every record of a random-weights run says so, the npz and failed clips included."""
    if p.method.info.random_weights:
        rec["random_weights"] = True
        if series is not None:
            series = {**series, "random_weights": np.array(True)}
    pictures = rec.pop("visual", None)
    if series is not None:
        if pictures is not None:
            from .visual import store

            store.save(p.run_dir, pictures, p.method.info.name)
        rec["frames_file"], rec["frames_sha256"] = records.write_frames(p.run_dir, rec["clip"], series)
    records.append_clip(p.run_dir, rec)


def clip_frames(p: PreparedRun, clip: dict[str, Any]) -> int:
    """Frames of ``clip`` this run scores (``--max-frames`` caps it)."""
    return clip["frames"] if p.spec.max_frames is None else min(clip["frames"], p.spec.max_frames)


def compute_clip(p: PreparedRun, clip: dict[str, Any],
                 on_frames: Callable[[int], None] | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The clip loop itself: (record without ``frames_file``, per-frame series); writes nothing, so it can
    run on a remote worker (:mod:`infvsr_bench.engine_ray`). Raises on failure. ``on_frames(k)`` is called
    as every k output frames are scored (progress lines)."""
    m, method, device = p.manifest, p.method, p.spec.device
    n = clip_frames(p, clip)
    chunk = max(1, method.info.chunk_frames)
    scale = int(m["scale"])
    out_h, out_w = clip["lr"]["height"] * scale, clip["lr"]["width"] * scale
    lr_path, hr_path = datasets.clip_paths(m, clip)
    lr_reader = FrameReader(lr_path, chunk=chunk, max_frames=n)
    hr_iter = iter(FrameReader(hr_path, chunk=chunk, max_frames=n)) if hr_path is not None else None
    series = {mt.label: np.full(n, np.nan, dtype=np.float64) for mt in p.metrics}
    hr_queue = _FrameQueue(hr_iter)
    given = emitted = 0
    timer = ClipTimer(device=device, method=method, other_bytes=p.metrics_device_bytes)
    cuts = [c for c in clip.get("scene_cuts", []) if c < n]
    method.reset({"clip": clip["id"], "fps": clip["fps"], "frames": n, "scene_cuts": cuts,
                  "source_frames": clip["frames"]})
    boundaries = getattr(method, "chunk_boundaries", None)
    meta = {"clip": clip["id"], "fps": clip["fps"], "frames": n, "scene_cuts": cuts,
            "chunk_boundaries": boundaries(n) if callable(boundaries) else None}
    for mt in p.metrics:
        mt.reset()
        mt.start(meta)
    from .visual.observer import observer_for

    observer = observer_for(p, meta, lr_path, chunk, scale, out_h, out_w)  # None: this run makes no pictures

    def consume(sr: torch.Tensor | None) -> None:
        nonlocal emitted
        if sr is None or sr.numel() == 0:
            return
        k = sr.shape[0]
        if emitted + k > given:
            raise MethodError(f"method returned {emitted + k} frames after receiving {given}")
        if tuple(sr.shape[1:]) != (3, out_h, out_w):
            raise MethodError(f"method output frames are {tuple(sr.shape[1:])}, expected (3, {out_h}, {out_w})")
        sr = quantize(sr.detach().float().cpu())
        hr = hr_queue.pop(k) if hr_iter is not None else None

        def score() -> None:
            for mt in p.metrics:
                series[mt.label][emitted:emitted + k] = mt.update(sr, hr).numpy()

        timer.outside(score)  # metric networks on the same GPU: their memory is not the method's
        if observer is not None:
            observer.update(emitted, sr, hr, {lb: v[emitted:emitted + k] for lb, v in series.items()})
        p.metrics_device_bytes = timer.other_bytes  # kept for the next clip, also if this one fails later
        emitted += k
        if on_frames is not None:
            on_frames(k)

    def emit(fn, *args) -> None:
        """Time ``fn`` (step or flush) and score what it returns: one tensor, or an iterator of tensors whose
        chunks are timed one by one as they are pulled (e.g. an external program's output read back)."""
        rest: list[Iterator[torch.Tensor]] = []

        def call():
            out = fn(*args)
            if out is None or isinstance(out, torch.Tensor):
                return out
            rest.append(iter(out))
            return None

        consume(timer.time_call(call))
        for it in rest:
            while (sr := timer.time_call(next, it, None)) is not None:
                consume(sr)

    with torch.inference_mode():
        for lr in lr_reader:
            given += lr.shape[0]
            emit(method.step, lr.to(device))
        emit(method.flush)
    if emitted != n:
        raise MethodError(f"method returned {emitted} frames for {n} input frames")
    for mt in p.metrics:  # values that could only be known at the end of the clip
        late = mt.finish()
        if late is not None:
            series[mt.label][n - late.numel():] = late.numpy()

    thr = timer.result()
    own = getattr(method, "timing", None)
    if callable(own):  # a method that times itself (an external program's wall time) overrides chunk timings
        thr.update(own() or {})
    thr.update({"input_size": f"{clip['lr']['width']}x{clip['lr']['height']}",
                "output_size": f"{out_w}x{out_h}",
                "dtype": str(getattr(method, "dtype_label", "float32"))})  # e.g. bfloat16 for infvsr on CUDA
    rec = {"clip": clip["id"], "status": "ok", "frames": n, "scene_cuts": cuts,
           "chunk_boundaries": meta["chunk_boundaries"],
           "metrics": {mt.label: mt.compute() for mt in p.metrics}, "throughput": thr}
    if observer is not None:
        rec["visual"] = observer.finish()  # plain arrays; save_clip writes them (also for a Ray worker's clip)
    observed = getattr(method, "observed_chunk_boundaries", None)  # a method that chunks online (scene cuts)
    if observed is not None and meta["chunk_boundaries"] is not None:
        rec["chunk_boundaries_as_declared"] = list(observed) == list(meta["chunk_boundaries"])
        if not rec["chunk_boundaries_as_declared"]:
            rec["observed_chunk_boundaries"] = list(observed)
    return rec, series


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    failed: list[str]
    skipped: list[str]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def execute(p: PreparedRun) -> RunResult:
    """Run every clip not already finished; isolate failures; aggregate and write summary + report."""
    from tqdm import tqdm

    try:
        todo, skipped = begin(p)
        p.method.setup(p.spec.device, torch.float32)
        what = f"{p.method.info.name} on {p.manifest['name']}"
        # a bar on a terminal; progress lines at a steady interval otherwise (CI logs)
        lines = None if p.spec.progress else ProgressLog(what, sum(clip_frames(p, c) for c in todo), len(todo))
        for clip in tqdm(todo, desc=what, unit="clip", disable=not p.spec.progress):
            if lines is not None:
                lines.begin(clip["id"], clip_frames(p, clip))
            try:
                rec, series = compute_clip(p, clip, None if lines is None else lines.advance)
            except Exception as exc:  # one clip's failure is recorded; the run goes on
                rec, series = failed_record(clip["id"], exc), None
            save_clip(p, rec, series)
            if lines is not None:
                lines.end(_means_text(series))
        return finish(p, skipped)
    finally:
        release(p)


def hold(prepared: list[PreparedRun]) -> None:
    """Take every run folder for this process (:mod:`infvsr_bench.runlock`), then decide again, under the
    locks, what each folder holds: a run written by another process since :func:`prepare` looked is seen
    here. On any refusal (a folder in use, or now holding another run) every lock taken is let go and the
    folders they created are removed, so a rejected command leaves nothing behind. Idempotent."""
    taken = []
    try:
        for p in prepared:
            if p.lock is not None:
                continue
            p.lock = runlock.RunFolderLock(p.run_dir).acquire()
            taken.append(p)
            p.done = _check_run_dir(p.run_dir, p.run_key, p.spec.resume, p.spec.overwrite)
    except BaseException:
        for p in taken:
            p.lock.release(remove_if_created=True)
            p.lock = None
        raise


def release(p: PreparedRun) -> None:
    """Let the run folder go (the end of :func:`execute`; the process ending does the same)."""
    if p.lock is not None:
        p.lock.release()
        p.lock = None


def _means_text(series: dict[str, np.ndarray] | None) -> str:
    """'psnr 27.3101, ssim 0.812' from a clip's per-frame series (the -v detail of a progress line)."""
    if not series:
        return "failed"
    with np.errstate(all="ignore"):
        means = {k: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan for k, v in series.items()}
    return ", ".join(f"{k} {v:.6g}" for k, v in means.items())


def begin(p: PreparedRun) -> tuple[list[dict[str, Any]], list[str]]:
    """Start (or continue) the run folder: clear it for --overwrite, write run.json or log the session.
    Returns (clips to do, ids of finished clips skipped). Shared by every engine. Holds the run folder first
    (:func:`hold`): from here on this process is its only writer, and a torn clip line is repaired."""
    hold([p])
    if p.spec.overwrite:
        _clear_run(p.run_dir)
    records.repair_clip_log(p.run_dir)
    _write_run_json(p, p.dataset_info, p.metric_desc)
    clips = p.manifest["clips"]
    todo = [c for c in clips if c["id"] not in p.done]
    skipped = [c["id"] for c in clips if c["id"] in p.done]
    if skipped:
        log.info("resume: %d finished clip(s) skipped", len(skipped))
    return todo, skipped


def failed_record(clip_id: str, exc: BaseException) -> dict[str, Any]:
    """The clips.jsonl line of a clip that raised (logged here)."""
    log.error("clip %s failed: %s: %s", clip_id, type(exc).__name__, exc)
    log.debug("%s", "".join(traceback.format_exception(exc)))
    return {"clip": clip_id, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}


def finish(p: PreparedRun, skipped: list[str]) -> RunResult:
    """Aggregate the run folder's clip records into summary.json, plots and report.md."""
    from . import report

    summary = summarize(p)
    records.write_json(p.run_dir / "summary.json", summary)
    if summary["clips"]["ok"]:
        from . import plots

        try:
            plots.plot_runs([p.run_dir], p.run_dir / "plots")
        except Exception as exc:  # a figure is not worth losing the report over; records are already safe
            log.error("plots for %s failed: %s: %s", p.run_dir, type(exc).__name__, exc)
    if p.spec.visuals:
        from .visual import store

        store.finish_run(p.run_dir)  # the worst-moment panels
    report.write_run_report(p.run_dir, summary)
    recorded = {r["clip"] for r in records.read_clips(p.run_dir)}
    missing = [c["id"] for c in p.manifest["clips"] if c["id"] not in recorded]  # none, unless a record was lost
    for cid in missing:
        log.error("clip %s has no record in %s: the run is incomplete (--resume computes it)", cid, p.run_dir)
    return RunResult(p.run_dir, summary, summary["clips"]["failed_ids"] + missing, skipped)


def summarize(p: PreparedRun) -> dict[str, Any]:
    """Aggregate the clip records of this run folder into summary.json (deterministic: no timestamps)."""
    ids = [c["id"] for c in p.manifest["clips"]]
    recs = {r["clip"]: r for r in records.read_clips(p.run_dir)}
    ok = [recs[i] for i in ids if i in recs and recs[i]["status"] == "ok"]
    failed = [i for i in ids if i in recs and recs[i]["status"] != "ok"]
    metrics: dict[str, Any] = {}
    for mt in p.metrics:
        means = [r["metrics"][mt.label]["mean"] for r in ok]
        drifts = [r["metrics"][mt.label]["drift"] for r in ok]
        means = [math.nan if v is None else v for v in means]
        drifts = [math.nan if v is None else v for v in drifts]
        metrics[mt.label] = {**mt.describe(), **aggregate.summarize_metric(means, drifts),
                             "extra": aggregate.mean_extras([r["metrics"][mt.label].get("extra") or {}
                                                             for r in ok]),
                             "per_clip": {r["clip"]: r["metrics"][mt.label]["mean"] for r in ok}}
    info, desc = p.method.info, p.method.describe()
    thr = aggregate.summarize_throughput(ok)
    if ok:
        t0 = ok[0]["throughput"]
        thr.update({"device": provenance.device_label(p.spec.device), "input_size": t0["input_size"],
                    "output_size": t0["output_size"], "dtype": t0["dtype"]})
    return {
        "schema_version": records.SCHEMA_VERSION,
        "run_key": p.run_key,
        "comparability_key": p.comparability_key,
        "method": {"name": info.name, "track": info.track, "causal": info.causal,
                   "source": desc.get("source", "infvsr-bench"),
                   "random_weights": info.random_weights, "scale": info.scale,
                   "chunk_frames": info.chunk_frames, "params": desc.get("params", {})},
        "dataset": {"name": p.manifest["name"], "degradation": p.manifest["degradation"],
                    "manifest_sha256": p.manifest["manifest_sha256"], "clips": len(ids),
                    "has_hr": p.manifest["has_hr"]},
        "max_frames": p.spec.max_frames,
        "metrics": metrics,
        "unavailable": dict(sorted(p.unavailable.items())),
        "throughput": thr,
        "clips": {"total": len(ids), "ok": len(ok), "failed": len(failed), "failed_ids": failed,
                  "pending": len(ids) - len(ok) - len(failed),
                  "frames": int(sum(r["frames"] for r in ok))},
        "conventions": CONVENTIONS,
    }
