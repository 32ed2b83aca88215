"""Compare two run folders of the same method and dataset clip by clip: the largest |difference| of every
metric's clip mean (and of every per-frame value), e.g. a ``--device cpu`` run against a ``--device cuda`` run.

    python benchmarks/compare_runs.py RUN_A RUN_B [--json out.json]

Prints one line per metric (stdout) and exits 1 when the runs do not hold the same finished clips and
metrics, or a value is defined in one run and NaN in the other.
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

    def mean(rec: dict, label: str) -> float:
        value = rec["metrics"][label]["mean"]
        return math.nan if value is None else float(value)  # records write a NaN mean as null

    clips_a = {c["clip"]: c for c in records.read_clips(args.a)}
    clips_b = {c["clip"]: c for c in records.read_clips(args.b)}
    if set(clips_a) != set(clips_b):
        print(f"different clips: {sorted(clips_a)} vs {sorted(clips_b)}", file=sys.stderr)
        return 1
    bad = [f"{c} ({side})" for side, clips in (("a", clips_a), ("b", clips_b)) for c, r in clips.items()
           if r.get("status") != "ok"]
    if bad:
        print(f"clips that did not finish ok: {', '.join(sorted(bad))}", file=sys.stderr)
        return 1
    out: dict[str, dict[str, float]] = {}
    mismatched = 0  # a value defined in one run and NaN in the other
    for clip, ca in sorted(clips_a.items()):
        cb = clips_b[clip]
        if set(ca["metrics"]) != set(cb["metrics"]):
            print(f"{clip}: different metrics {sorted(ca['metrics'])} vs {sorted(cb['metrics'])}", file=sys.stderr)
            return 1
        fa, fb = records.read_frames(args.a, clip), records.read_frames(args.b, clip)
        for label in ca["metrics"]:
            row = out.setdefault(label, {"mean": 0.0, "frame": 0.0, "scale": 0.0, "nan_mismatch": 0})
            mean_a, mean_b = mean(ca, label), mean(cb, label)
            if math.isnan(mean_a) != math.isnan(mean_b):
                row["nan_mismatch"] += 1
            elif not math.isnan(mean_a):
                row["mean"] = max(row["mean"], abs(mean_a - mean_b))
                row["scale"] = max(row["scale"], abs(mean_a))
            if (label in fa) != (label in fb):
                row["nan_mismatch"] += 1
            elif label in fa:
                va, vb = np.asarray(fa[label], float), np.asarray(fb[label], float)
                row["nan_mismatch"] += int((np.isnan(va) != np.isnan(vb)).sum())
                ok = ~(np.isnan(va) | np.isnan(vb))
                if ok.any():
                    row["frame"] = max(row["frame"], float(np.abs(va[ok] - vb[ok]).max()))
    for label, r in out.items():
        mismatched += r["nan_mismatch"]
        print(f"{label:<45} max |clip mean diff| {r['mean']:.2e}  max |frame diff| {r['frame']:.2e}  "
              f"(|mean| up to {r['scale']:.3g})" + (f"  {r['nan_mismatch']} NaN mismatch(es)" if r["nan_mismatch"]
                                                    else ""))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(out, indent=2))
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
