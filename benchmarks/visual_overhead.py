"""What the pictures cost a run: wall time and process CPU time of the same ``run`` with and without temporal
profiles and worst-moment crops (``visuals``), measured in one process, alternating, best of ``--repeats``
each. On a shared, loaded machine the CPU-time ratio is the steadier of the two.

Builds one synthetic clip (memory_vs_length's, 320x192 HR, bicubic x4, one scene cut), then runs ``bicubic`` with the given metrics.
Bicubic is about the cheapest method there is, so the ratio is an upper bound for real methods. Target: the
run with pictures within 10% of the run without (ratio <= 1.10).

    python benchmarks/visual_overhead.py [--frames 400] [--metrics psnr,ssim,flicker,ewarp-dis] [--repeats 2]
                                         [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from memory_vs_length import RECIPE  # one long synthetic clip, 320x192 HR, bicubic x4


def _run(manifest: Path, out: Path, metrics: list[str], visuals: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one whole run."""
    from infvsr_bench import runner

    spec = runner.RunSpec(method="bicubic", dataset=str(manifest), metrics=metrics, out=out, progress=False,
                          visuals=visuals, overwrite=True)
    t0, c0 = time.perf_counter(), time.process_time()
    runner.execute(runner.prepare(spec))
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--metrics", default="psnr,ssim,flicker,ewarp-dis")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from infvsr_bench import datasets

    metrics = [m for m in args.metrics.split(",") if m]
    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "visual-overhead.toml"
        text = RECIPE.replace("{frames}", str(args.frames))
        recipe.write_text(text.replace("cuts = [1500, 3200, 5100, 6600]", f"cuts = [{args.frames // 2}]"))
        manifest = datasets.build(str(recipe), data_dir=Path(tmp) / "data")
        _run(manifest, Path(tmp) / "warm", metrics, True)  # imports, allocator, matplotlib fonts
        times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for _ in range(args.repeats):
            for visuals in (False, True):
                times[visuals].append(_run(manifest, Path(tmp) / f"run-{visuals}", metrics, visuals))
    wall = {k: min(w for w, _ in v) for k, v in times.items()}
    cpu = {k: min(c for _, c in v) for k, v in times.items()}
    result = {"frames": args.frames, "metrics": metrics, "runs_without": times[False], "runs_with": times[True],
              "wall_ratio": wall[True] / wall[False], "cpu_ratio": cpu[True] / cpu[False]}
    print(f"{args.frames} frames, metrics {','.join(metrics)}, best of {args.repeats}: wall {wall[False]:.2f} s "
          f"without pictures, {wall[True]:.2f} s with (ratio {result['wall_ratio']:.3f}); CPU {cpu[False]:.2f} s "
          f"without, {cpu[True]:.2f} s with (ratio {result['cpu_ratio']:.3f}); target <= 1.10")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
