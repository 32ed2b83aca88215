"""Compare two run folders of the same method and dataset clip by clip: the largest |difference| of every
metric's clip mean (and of every per-frame value), e.g. a ``--device cpu`` run against a ``--device cuda`` run.

    python benchmarks/compare_runs.py RUN_A RUN_B [--json out.json]

Prints one line per metric (stdout) and exits 1 when the runs do not hold the same clips and metrics.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--json", dest="json_path", default=None, help="also write the differences here")
    args = p.parse_args(argv)

    import numpy as np

    from infvsr_bench import records

    clips_a = {c["clip"]: c for c in records.read_clips(args.a)}
    clips_b = {c["clip"]: c for c in records.read_clips(args.b)}
    if set(clips_a) != set(clips_b):
        print(f"different clips: {sorted(clips_a)} vs {sorted(clips_b)}", file=sys.stderr)
        return 1
    out: dict[str, dict[str, float]] = {}
    for clip, ca in sorted(clips_a.items()):
        cb = clips_b[clip]
        if set(ca["metrics"]) != set(cb["metrics"]):
            print(f"{clip}: different metrics {sorted(ca['metrics'])} vs {sorted(cb['metrics'])}", file=sys.stderr)
            return 1
        fa, fb = records.read_frames(args.a, clip), records.read_frames(args.b, clip)
        for label, ma in ca["metrics"].items():
            row = out.setdefault(label, {"mean": 0.0, "frame": 0.0, "scale": 0.0})
            mean_a, mean_b = ma["mean"], cb["metrics"][label]["mean"]
            if not (math.isnan(mean_a) and math.isnan(mean_b)):
                row["mean"] = max(row["mean"], abs(mean_a - mean_b))
                row["scale"] = max(row["scale"], abs(mean_a))
            if label in fa and label in fb:
                va, vb = np.asarray(fa[label], float), np.asarray(fb[label], float)
                ok = ~(np.isnan(va) | np.isnan(vb))
                if ok.any():
                    row["frame"] = max(row["frame"], float(np.abs(va[ok] - vb[ok]).max()))
    for label, r in out.items():
        print(f"{label:<45} max |clip mean diff| {r['mean']:.2e}  max |frame diff| {r['frame']:.2e}  "
              f"(|mean| up to {r['scale']:.3g})")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
