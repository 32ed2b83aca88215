"""What the pictures cost a run: wall time of the same ``run`` with and without temporal profiles and
worst-moment crops (``visuals``), measured in one process, alternating, best of ``--repeats`` each.

Builds one synthetic clip (memory_vs_length's, 320x192 HR, bicubic x4, one scene cut), then runs ``bicubic`` with the given metrics.
Bicubic is about the cheapest method there is, so the ratio is an upper bound for real methods. Target: the
run with pictures within 10% of the run without (ratio <= 1.10).

    python benchmarks/visual_overhead.py [--frames 400] [--metrics psnr,ssim,flicker,ewarp-dis] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from memory_vs_length import RECIPE  # one long synthetic clip, 320x192 HR, bicubic x4


def _run(manifest: Path, out: Path, metrics: list[str], visuals: bool) -> float:
    from infvsr_bench import runner

    spec = runner.RunSpec(method="bicubic", dataset=str(manifest), metrics=metrics, out=out, progress=False,
                          visuals=visuals, overwrite=True)
    t0 = time.perf_counter()
    runner.execute(runner.prepare(spec))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--metrics", default="psnr,ssim,flicker,ewarp-dis")
    ap.add_argument("--repeats", type=int, default=3)
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
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for visuals in (False, True):
                times[visuals].append(_run(manifest, Path(tmp) / f"run-{visuals}", metrics, visuals))
    best = {k: min(v) for k, v in times.items()}
    ratio = best[True] / best[False]
    result = {"frames": args.frames, "metrics": metrics, "seconds_without": times[False],
              "seconds_with": times[True], "best_without": best[False], "best_with": best[True], "ratio": ratio}
    print(f"{args.frames} frames, metrics {','.join(metrics)}: without pictures {best[False]:.2f} s, with "
          f"{best[True]:.2f} s (best of {args.repeats}); ratio {ratio:.3f} (target <= 1.10)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
