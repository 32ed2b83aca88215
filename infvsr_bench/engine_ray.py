"""The Ray engine: the same clip loop and the same records, with clips spread over a Ray cluster.

The unit of work is one (method, clip). A pool of :class:`ClipWorker` actors (one per worker process, each
holding ``--cpus-per-task`` CPUs and ``--gpus-per-task`` GPUs) rebuilds the method and metrics from the
:class:`~infvsr_bench.runner.RunSpec`, sets the method up once, and runs
:func:`~infvsr_bench.runner.compute_clip` on clip after clip. Workers write nothing: they return the clip
record and its per-frame series, and the driver writes them exactly as the local runner does
(``frames/<clip>.npz``, one ``clips.jsonl`` line, then ``summary.json`` and the report), so the aggregate
step, ``--resume`` and the records themselves do not depend on the engine.

Faults: a clip whose worker process dies (killed, out of memory, segfault) is given to a fresh worker, at
most ``max_attempts`` times in all; after that it is recorded as failed with the reason. A clip that raises
is recorded as failed at once, as in the local runner. Only the driver appends to ``clips.jsonl``, and only
once per clip, so a retried clip is never recorded twice; an interrupted driver loses only the clips in
flight, which ``--resume`` (on either engine) redoes.

Workers read the dataset files from the paths in the manifest: on a multi-machine cluster the dataset
folder must be on a filesystem every node sees at the same path. Ray is an optional dependency
(``pip install infvsr-bench[ray]``) and is imported only inside these functions.
"""
from __future__ import annotations

import contextlib
import logging
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import records, runner
from .errors import BadInput
from .progress import ProgressLog

log = logging.getLogger(__name__)

INSTALL_HINT = "--engine ray needs Ray, which is not installed: pip install infvsr-bench[ray]"


@dataclass(frozen=True)
class RayOptions:
    """How to use the cluster. ``gpus_per_task`` None: 1 for a cuda device, else 0. ``workers`` None: as
    many actors as the cluster's CPUs/GPUs fit (never more than the clips to do)."""

    address: str | None = None
    gpus_per_task: float | None = None
    cpus_per_task: float = 1.0
    workers: int | None = None
    max_attempts: int = 3

    def threads(self) -> int:
        """torch intra-op threads per worker: its CPUs. Float64 reductions (e.g. SSIM's sums) depend on the
        thread count in the last bit, so a local run is bit-identical to a Ray run when it used as many
        torch threads as ``cpus_per_task``; otherwise they agree to ~1e-16 relative."""
        return max(1, int(self.cpus_per_task))

    def gpus(self, device: str) -> float:
        if self.gpus_per_task is not None:
            return float(self.gpus_per_task)
        return 1.0 if device.startswith("cuda") else 0.0


def import_ray():
    """The ``ray`` module, or :class:`BadInput` saying how to install it (the CLI exits 2)."""
    try:
        import ray
    except ImportError as exc:
        raise BadInput(INSTALL_HINT) from exc
    return ray


def check_options(opts: RayOptions, device: str = "cpu") -> None:
    """Reject impossible settings before anything starts."""
    if opts.cpus_per_task < 0 or (opts.gpus_per_task is not None and opts.gpus_per_task < 0):
        raise BadInput("--cpus-per-task and --gpus-per-task must not be negative")
    if opts.workers is not None and opts.workers < 1:
        raise BadInput(f"--workers must be at least 1, got {opts.workers}")
    if opts.max_attempts < 1:
        raise BadInput(f"max_attempts must be at least 1, got {opts.max_attempts}")
    if device.startswith("cuda") and opts.gpus(device) <= 0:
        raise BadInput(f"--device {device} on Ray needs --gpus-per-task > 0 (workers see only their own GPUs)")


def connect(opts: RayOptions) -> bool:
    """Join the cluster at ``opts.address`` or start a local one. True when this call connected (the caller
    then shuts down); False when Ray was already initialised in this process (left as it is)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        ray.init(address=opts.address, include_dashboard=False, logging_level=logging.WARNING)
    except ConnectionError as exc:
        raise BadInput(f"cannot reach the Ray cluster at {opts.address}: {exc}") from exc
    return True


@contextlib.contextmanager
def session(opts: RayOptions) -> Iterator[None]:
    """Connected to Ray inside the block; a cluster this started (or joined) is shut down (left) after it.
    Nested uses and a Ray already initialised by the caller are left running."""
    started = connect(opts)
    try:
        yield
    finally:
        if started:
            import_ray().shutdown()


def _worker_device(device: str) -> str:
    """Ray shows a worker only its own GPUs (CUDA_VISIBLE_DEVICES), so cuda:N on the driver is cuda there."""
    return "cuda" if device.startswith("cuda") else device


class ClipWorker:
    """One Ray actor per worker process: builds method and metrics once, then runs clip after clip.

    ``job`` holds only plain data (RunSpec, metric specs and the labels the driver kept, the manifest, a hash
    of the method's and metrics' identities), so nothing with live torch state crosses the wire. The hash
    is checked against what this process builds: a worker with a different package version fails loudly
    instead of mixing incomparable numbers into one run.
    """

    def __init__(self, job: dict[str, Any]):
        self.job = job
        self.prepared: runner.PreparedRun | None = None

    def _prepare(self) -> runner.PreparedRun:
        import torch

        from .errors import InfvsrError
        from .metrics import metric_from_spec

        job = self.job
        torch.set_num_threads(job["threads"])  # = the CPUs Ray gave this worker (see RayOptions.threads)
        spec = replace(job["spec"], device=_worker_device(job["spec"].device), progress=False)
        method = runner.build_method(spec)  # as runner.prepare does: resolves weights on this node
        built = {m.label: m for m in (metric_from_spec(s, device=spec.device) for s in job["metric_specs"])}
        metrics = [built[label] for label in job["labels"]]
        if _identity(method.describe(), [m.describe() for m in metrics]) != job["identity"]:
            raise InfvsrError("this Ray worker builds a different method or metrics than the driver "
                              "(a different infvsr-bench version on this node?)")
        method.setup(spec.device, torch.float32)
        return runner.PreparedRun(spec=spec, run_dir=Path("."), manifest=job["manifest"], method=method,
                                  metrics=metrics, run_key=job["run_key"], comparability_key="", done=set())

    def run(self, clip: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """(record, per-frame series) of one clip; a clip that raises gives a failed record and no series.
        Set-up errors propagate: the driver stops the run as the local runner would."""
        if self.prepared is None:
            self.prepared = self._prepare()
        try:
            return runner.compute_clip(self.prepared, clip)
        except Exception as exc:  # one clip's failure is recorded; the run goes on
            return runner.failed_record(clip["id"], exc), None

    def pid(self) -> int:
        import os

        return os.getpid()


def _job(p: runner.PreparedRun, opts: RayOptions) -> dict[str, Any]:
    from .metrics import DEFAULT_METRICS

    return {"threads": opts.threads(), "spec": p.spec,
            "metric_specs": list(p.spec.metrics) if p.spec.metrics else list(DEFAULT_METRICS),
            "labels": [m.label for m in p.metrics], "manifest": p.manifest, "run_key": p.run_key,
            "identity": _identity(p.method.describe(), p.metric_desc)}


def _identity(method_desc: dict[str, Any], metric_desc: list[dict[str, Any]]) -> Any:
    """What must be the same on the driver and every worker: the method's info and parameters, each
    metric's name, version and parameters (not node-local things such as weight file paths)."""
    return records.stable_hash({"method": {k: method_desc.get(k) for k in ("info", "params")},
                                "metrics": [{k: d.get(k) for k in ("name", "version", "params")}
                                            for d in metric_desc]})


def pool_size(opts: RayOptions, device: str, todo: int) -> int:
    """Actors to start: ``opts.workers``, else as many as the cluster's resources fit; at most ``todo``."""
    ray = import_ray()
    res = ray.cluster_resources()
    gpus = opts.gpus(device)
    fits = []
    if opts.cpus_per_task > 0:
        fits.append(int(res.get("CPU", 0) // opts.cpus_per_task))
    if gpus > 0:
        fits.append(int(res.get("GPU", 0) // gpus))
    fit = min(fits) if fits else todo
    if fit < 1:
        raise BadInput(f"the Ray cluster ({res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs) cannot hold "
                       f"one task of {opts.cpus_per_task:g} CPUs and {gpus:g} GPUs")
    n = opts.workers if opts.workers is not None else fit
    return max(1, min(n, todo))


def _original(exc: BaseException) -> BaseException:
    """The exception a remote call raised (typed errors keep their type, so the CLI maps them as usual)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def _died_record(clip_id: str, attempts: int, exc: BaseException) -> dict[str, Any]:
    first = str(exc).strip().splitlines()
    why = f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__
    log.error("clip %s failed: its worker process died on each of %d attempt(s)", clip_id, attempts)
    return {"clip": clip_id, "status": "failed",
            "error": f"WorkerDied: the worker process died on each of {attempts} attempt(s) ({why})"}


def run_clips(p: runner.PreparedRun, todo: list[dict[str, Any]], opts: RayOptions) -> None:
    """Run ``todo`` on a pool of actors; the driver writes each result as it lands (completion order)."""
    from tqdm import tqdm

    ray = import_ray()
    from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

    gpus = opts.gpus(p.spec.device)
    worker_cls = ray.remote(ClipWorker).options(num_cpus=opts.cpus_per_task, num_gpus=gpus, max_restarts=0,
                                                max_task_retries=0)
    job_ref = ray.put(_job(p, opts))
    queue = deque(todo)
    attempts: Counter[str] = Counter()
    idle = [worker_cls.remote(job_ref) for _ in range(pool_size(opts, p.spec.device, len(todo)))]
    inflight: dict[Any, tuple[Any, dict[str, Any]]] = {}  # ObjectRef -> (actor, clip)
    what = f"{p.method.info.name} on {p.manifest['name']} (ray)"
    bar = tqdm(total=len(todo), desc=what, unit="clip", disable=not p.spec.progress)
    # not a terminal: a progress line (frames of finished clips) at a steady interval instead of the bar
    lines = None if p.spec.progress else ProgressLog(what, sum(runner.clip_frames(p, c) for c in todo), len(todo))
    try:
        while queue or inflight:
            while queue and idle:
                actor, clip = idle.pop(), queue.popleft()
                attempts[clip["id"]] += 1
                inflight[actor.run.remote(clip)] = (actor, clip)
            (ref,), _ = ray.wait(list(inflight), num_returns=1)
            actor, clip = inflight.pop(ref)
            try:
                rec, series = ray.get(ref)
            except (RayActorError, WorkerCrashedError) as exc:  # the process died: fresh actor, bounded retry
                ray.kill(actor)
                n = attempts[clip["id"]]
                retry = n < opts.max_attempts
                if retry:
                    log.warning("clip %s: worker process died (attempt %d of %d); retrying", clip["id"], n,
                                opts.max_attempts)
                    queue.appendleft(clip)
                if queue:  # a fresh process in the dead one's place (set up again on its first clip)
                    idle.append(worker_cls.remote(job_ref))
                if retry:
                    continue
                rec, series = _died_record(clip["id"], n, exc), None
            except RayTaskError as exc:  # set-up raised (e.g. missing weights): stop, as the local runner does
                raise _original(exc) from exc
            else:
                idle.append(actor)
            runner.save_clip(p, rec, series)
            bar.update(1)
            if lines is not None:
                lines.advance(runner.clip_frames(p, clip))
    finally:
        bar.close()
        for actor in idle + [a for a, _ in inflight.values()]:
            ray.kill(actor)


def execute(p: runner.PreparedRun, opts: RayOptions) -> runner.RunResult:
    """:func:`infvsr_bench.runner.execute` on Ray: same folder, same records, same summary."""
    check_options(opts, p.spec.device)
    try:
        with session(opts):
            pool_size(opts, p.spec.device, 1)  # a cluster that cannot hold one task: bad input, before writing
            todo, skipped = runner.begin(p)
            if todo:
                run_clips(p, todo, opts)
        return runner.finish(p, skipped)
    finally:
        runner.release(p)


# ---------------------------------------------------------------------------------------------- datasets
def _call(fn, item):
    return fn(item)


def clip_mapper(opts: RayOptions):
    """A ``map_clips`` for :func:`infvsr_bench.datasets.build`: one Ray task per clip, results in order.
    A task whose process dies is retried by Ray (``max_attempts`` in all); one that raises stops the build
    (its exception is re-raised here) and the folder stays half built, without a manifest."""

    def map_clips(fn, items):
        ray = import_ray()
        from ray.exceptions import RayTaskError

        task = ray.remote(_call).options(num_cpus=opts.cpus_per_task, max_retries=opts.max_attempts - 1)
        fn_ref = ray.put(fn)
        refs = [task.remote(fn_ref, item) for item in items]
        try:
            return ray.get(refs)
        except RayTaskError as exc:
            for r in refs:
                ray.cancel(r)
            raise _original(exc) from exc

    return map_clips


def build_dataset(recipe, opts: RayOptions, max_frames: int | None = None, data_dir=None,
                  force: bool = False) -> Path:
    """:func:`infvsr_bench.datasets.build` with one Ray task per clip; the same bytes as a local build."""
    from . import datasets

    check_options(opts)
    with session(opts):
        return datasets.build(recipe, max_frames=max_frames, data_dir=data_dir, force=force,
                              map_clips=clip_mapper(opts))
