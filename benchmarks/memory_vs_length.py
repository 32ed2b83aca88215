"""Peak host memory of a whole ``run`` against video length: the streaming promise, measured.

Builds one long clip (8,000 HR frames at 320x192 from the synthetic generator, bicubic x4), then runs
``bicubic`` with ``psnr`` and ``ssim`` on its first 500, 2,000 and 8,000 frames, each in a fresh process,
and reports that process's peak RSS. Target: flat — the 8,000-frame peak within 10% of the 500-frame peak.
A run that held the video would grow by ~2.7 GiB per 1,000 frames (LR + HR + SR in float32).

    python benchmarks/memory_vs_length.py [--lengths 500,2000,8000] [--visuals] [--json out.json [--plot DIR]]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECIPE = """
description = "memory benchmark: one long clip"
source = "synthetic"
seed = 7
scale = 4
degradation = "bicubic"
fps = 25.0
width = 320
height = 192

[[clips]]
id = "long"
photos = ["astronaut", "coffee", "rocket", "chelsea", "brick"]
frames = {frames}
cuts = [1500, 3200, 5100, 6600]

[[clips.layers]]
photo = "coins"
shape = "disc"
size = 0.3
period = 200.0
max_speed = 3.0
"""

PROBE = """
import resource, sys
from infvsr_bench import runner
spec = runner.RunSpec(method="bicubic", dataset=sys.argv[1], metrics=["psnr", "ssim"],
                      max_frames=int(sys.argv[2]), out=sys.argv[3], progress=False,
                      visuals=sys.argv[4] == "1")
res = runner.execute(runner.prepare(spec))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, res.summary["clips"]["frames"])
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="500,2000,8000")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--visuals", action="store_true", help="Runs make their pictures (profiles, worst moments).")
    ap.add_argument("--plot", type=Path, default=None, help="Folder for memory-vs-length.png (needs --json).")
    args = ap.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    work = Path(tempfile.mkdtemp(prefix="infvsr-mem-"))
    recipe = work / "memory-long.toml"
    recipe.write_text(RECIPE.replace("{frames}", str(max(lengths))))
    env = {**os.environ, "INFVSR_BENCH_DATA": str(work / "data")}

    from infvsr_bench import datasets

    os.environ["INFVSR_BENCH_DATA"] = env["INFVSR_BENCH_DATA"]
    t0 = time.perf_counter()
    manifest_path = datasets.build(str(recipe))
    print(f"built {max(lengths)} frames in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    rows = []
    for n in lengths:
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", PROBE, str(manifest_path), str(n), str(work / f"run{n}"),
                              "1" if args.visuals else "0"],
                             capture_output=True, text=True, env=env, check=True)
        kb, frames = out.stdout.split()[-2:]
        rows.append({"frames": int(frames), "peak_rss_mib": int(kb) / 1024,
                     "seconds": time.perf_counter() - t0})
    base = rows[0]["peak_rss_mib"]
    print(f"{'frames':>8} {'peak RSS MiB':>13} {'vs first':>9} {'seconds':>8}")
    for r in rows:
        r["ratio_vs_first"] = r["peak_rss_mib"] / base
        print(f"{r['frames']:>8} {r['peak_rss_mib']:>13.1f} {r['ratio_vs_first']:>9.3f} {r['seconds']:>8.1f}")
    verdict = rows[-1]["ratio_vs_first"] <= 1.10
    print(f"target (longest within 10% of shortest): {'met' if verdict else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "target_met": verdict}, indent=2))
        if args.plot:
            from infvsr_bench import plots

            args.plot.mkdir(parents=True, exist_ok=True)
            print(f"plot: {plots.memory_vs_length(args.json, args.plot)}", file=sys.stderr)


if __name__ == "__main__":
    main()
