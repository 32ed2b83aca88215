"""Clips/s of the same run on the local engine and on Ray with 1, 2, ... workers, and Ray's overhead per task.

One process, one dataset, one run per row (fresh run folders; every row's numbers are checked against the
last local row):

* **local**: ``runner.execute``, the one clip loop in this process, after an untimed warm-up run (imports,
  file cache), with torch using every core and with 1 thread (what a 1-CPU worker uses).
* **ray xN**: ``engine_ray.execute`` with N actors (``--cpus-per-task`` CPUs, ``--gpus-per-task`` GPUs each)
  on a Ray cluster started once by this script (``--address`` joins an existing one instead).

clips/s counts from the start of ``execute`` to its last clip record (the aggregate, plots and report step
after it is the same code for both engines; the total is printed too). For Ray rows that time includes
starting the actors (a fresh worker process imports the package and sets the method up), as a real run's
does; the cluster start is reported apart. Overhead per task is reported two ways: the round trip of an
empty actor call (scheduling + transfer, no work), and ``(clips time ray x1 - clips time local at the same
threads - actor start) / clips``, what one clip costs more on Ray than in the loop once the worker is up. On
a multi-GPU machine pass ``--device cuda --workers 1,2,4,8`` (one GPU per worker by default) for per-GPU
scaling.

    python benchmarks/ray_scaling.py [--clips 6] [--frames 100] [--workers 1,2] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _frames import log  # sibling module: run the scripts as files

PHOTOS = [("astronaut", "coffee", "brick"), ("rocket", "hubble_deep_field", "camera"),
          ("motorcycle", "retina", "gravel")]


def write_recipe(folder: Path, clips: int, frames: int) -> Path:
    """A synthetic recipe like synthetic-long (320x192 HR, bicubic x4) with ``clips`` clips of ``frames``."""
    lines = ['description = "ray_scaling benchmark clips"', 'source = "synthetic"', "seed = 7", "scale = 4",
             'degradation = "bicubic"', "fps = 25.0", "width = 320", "height = 192", ""]
    for i in range(clips):
        photos = ", ".join(f'"{p}"' for p in PHOTOS[i % len(PHOTOS)])
        cuts = [frames // 3, 2 * frames // 3] if frames >= 6 else []
        lines += ["[[clips]]", f'id = "clip-{i:03d}"', f"photos = [{photos}]", f"frames = {frames}",
                  f"cuts = {cuts}", ""]
    path = folder / "ray-scaling.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def timed_run(engine: str, out: Path, dataset: Path, args, workers: int | None = None
              ) -> tuple[float, float, dict]:
    """(wall of the whole execute, wall until its last clip record, summary). The second leaves out the
    aggregate/plots/report step, which is the same code on both engines."""
    from infvsr_bench import engine_ray, runner

    spec = runner.RunSpec(method=args.method, dataset=str(dataset), metrics=args.metrics.split(","), out=out,
                          device=args.device, progress=False)
    p = runner.prepare(spec)
    real_finish, marks = runner.finish, []

    def finish(*a, **kw):  # both engines end in runner.finish: note when the clips were all recorded
        marks.append(time.perf_counter())
        return real_finish(*a, **kw)

    runner.finish = finish
    try:
        t0 = time.perf_counter()
        if engine == "local":
            res = runner.execute(p)
        else:
            opts = engine_ray.RayOptions(workers=workers, cpus_per_task=args.cpus_per_task,
                                         gpus_per_task=args.gpus_per_task)
            res = engine_ray.execute(p, opts)
        wall = time.perf_counter() - t0
    finally:
        runner.finish = real_finish
    if res.failed:
        raise SystemExit(f"{engine} run failed on {res.failed}")
    return wall, marks[0] - t0, res.summary


def max_difference(a: dict, b: dict) -> float:
    """Largest |difference| between two summaries' per-clip metric means (0.0: bit-identical). Ray workers
    use --cpus-per-task torch threads; a local run with another thread count differs in the last bits."""
    worst = 0.0
    for label, m in a["metrics"].items():
        for clip, v in m["per_clip"].items():
            worst = max(worst, abs(v - b["metrics"][label]["per_clip"][clip]))
    return worst


def actor_costs(args, calls: int = 50) -> dict:
    """Start one bare ClipWorker (fresh process, package import) and time empty round trips to it."""
    import ray

    from infvsr_bench.engine_ray import ClipWorker

    t0 = time.perf_counter()
    actor = ray.remote(ClipWorker).options(num_cpus=args.cpus_per_task).remote({})
    ray.get(actor.pid.remote())
    start = time.perf_counter() - t0
    rtts = []
    for _ in range(calls):
        t = time.perf_counter()
        ray.get(actor.pid.remote())
        rtts.append(time.perf_counter() - t)
    ray.kill(actor)
    return {"actor_start_s": start, "empty_call_ms_p50": 1e3 * float(np.median(rtts)),
            "empty_call_ms_p95": 1e3 * float(np.percentile(rtts, 95))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--frames", type=int, default=100, help="frames per clip")
    ap.add_argument("--workers", default="1,2", help="comma-separated Ray worker counts")
    ap.add_argument("--method", default="bicubic")
    ap.add_argument("--metrics", default="psnr,ssim")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cpus-per-task", type=float, default=1.0)
    ap.add_argument("--gpus-per-task", type=float, default=None)
    ap.add_argument("--address", default=None, help="join this Ray cluster instead of starting a local one")
    ap.add_argument("--local-threads", default=None,
                    help="comma-separated torch thread counts for local rows [all cores, then 1]")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import ray
    import torch

    from infvsr_bench import datasets

    cores = torch.get_num_threads()
    local_threads = ([int(x) for x in args.local_threads.split(",")] if args.local_threads
                     else sorted({cores, 1}, reverse=True))
    counts = [int(x) for x in args.workers.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="ray-scaling-") as tmp:
        tmp = Path(tmp)
        log(f"building {args.clips} clips x {args.frames} frames ...")
        data = datasets.build(write_recipe(tmp, args.clips, args.frames), data_dir=tmp / "data").parent
        log("warm-up local run (untimed: imports, file cache) ...")
        timed_run("local", tmp / "runs" / "warm-up", data, args)
        for t in local_threads:
            log(f"local engine, {t} torch thread(s) ...")
            torch.set_num_threads(t)
            wall, clips_s, ref = timed_run("local", tmp / "runs" / f"local{t}", data, args)
            rows.append({"engine": "local", "workers": 1, "threads": t, "wall_s": wall, "clips_phase_s": clips_s})
        torch.set_num_threads(cores)
        t0 = time.perf_counter()
        ray.init(address=args.address, include_dashboard=False, logging_level="WARNING",
                 **({} if args.address else {"num_cpus": os.cpu_count()}))
        cluster_start = time.perf_counter() - t0
        resources = ray.cluster_resources()
        log(f"ray cluster up in {cluster_start:.1f}s: {resources.get('CPU', 0):g} CPUs, "
            f"{resources.get('GPU', 0):g} GPUs")
        costs = actor_costs(args)
        for n in counts:
            log(f"ray engine, {n} worker(s) ...")
            wall, clips_s, s = timed_run("ray", tmp / "runs" / f"ray{n}", data, args, workers=n)
            diff = max_difference(ref, s)
            assert diff < 1e-9, f"Ray run gave different numbers than the local run (max |diff| {diff})"
            rows.append({"engine": "ray", "workers": n, "threads": max(1, int(args.cpus_per_task)), "wall_s": wall,
                         "clips_phase_s": clips_s, "max_abs_diff_vs_local": diff})
        ray.shutdown()
    best_local = min(r["clips_phase_s"] for r in rows if r["engine"] == "local")
    for r in rows:
        r["clips_per_s"] = args.clips / r["clips_phase_s"]
        r["speedup_vs_best_local"] = best_local / r["clips_phase_s"]
    local1 = next((r for r in rows if r["engine"] == "local" and r["threads"] == max(1, int(args.cpus_per_task))),
                  None)
    ray1 = next((r for r in rows if r["engine"] == "ray" and r["workers"] == 1), None)
    per_task = (None if ray1 is None or local1 is None
                else (ray1["clips_phase_s"] - local1["clips_phase_s"] - costs["actor_start_s"]) / args.clips)
    out = {"clips": args.clips, "frames_per_clip": args.frames, "method": args.method, "metrics": args.metrics,
           "device": args.device, "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
           "cluster_start_s": cluster_start, **costs, "overhead_per_task_s": per_task, "rows": rows,
           "python": platform.python_version(), "ray": ray.__version__}
    print(f"{args.clips} clips x {args.frames} frames, {args.method} + {args.metrics}, {args.device}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; max |diff| vs the last local row")
    print(f"{'engine':<8} {'workers':>7} {'threads':>7} {'clips s':>8} {'clips/s':>8} {'vs best local':>13} "
          f"{'total s':>8} {'max |diff|':>10}")
    for r in rows:
        diff = f"{r['max_abs_diff_vs_local']:.1e}" if "max_abs_diff_vs_local" in r else "-"
        print(f"{r['engine']:<8} {r['workers']:>7} {r['threads']:>7} {r['clips_phase_s']:>8.2f} "
              f"{r['clips_per_s']:>8.3f} {r['speedup_vs_best_local']:>12.2f}x {r['wall_s']:>8.2f} {diff:>10}")
    print(f"cluster start {cluster_start:.1f}s (once); actor start {costs['actor_start_s']:.2f}s (per worker); "
          f"empty call p50 {costs['empty_call_ms_p50']:.2f} ms, p95 {costs['empty_call_ms_p95']:.2f} ms")
    if per_task is not None:
        print(f"overhead per task, (clips s ray x1 - clips s local at the same threads - actor start) / clips: "
              f"{per_task:.3f}s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
