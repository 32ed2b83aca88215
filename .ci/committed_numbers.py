"""Did a fresh `make demo` reproduce every committed number?

CI runs the demo on a clean checkout and then this script, which compares the files the demo rewrote with
the versions committed at HEAD (read with `git show`):

* ``reports/**/summary.json`` and ``reports/**/clips.jsonl``: every number and string, recursively, except
  what measures the machine rather than the method (``throughput`` blocks, wall times, timestamps, host,
  argv, git revision, package versions) and checksums of what holds such fields (a clip line's, a frames
  file's);
* ``reports/**/frames/*.npz``: every per-frame series;
* ``leaderboard.md``: every line, with the FPS column left out of its tables.

Numbers must agree to ``1e-6`` absolute, ``1e-5`` for float32 networks (``semantic-*``) and ``1e-4`` for
libvmaf's printed precision (``vmaf``) — the tolerances of the project's regression check. A file present on
one side only is a difference too. Prints one line per difference (at most 40) and exits 1 if any, else 0.

    python .ci/committed_numbers.py [--root .] [--rev HEAD]
"""
from __future__ import annotations

import argparse
import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

VOLATILE_KEYS = {"throughput", "created", "host", "argv", "git", "versions", "wall_seconds", "fps",
                 "peak_rss_mb", "method_seconds", "first_frame_ms", "latency_p50_ms", "latency_p95_ms",
                 "metrics_device_mb", "timing",
                 # checksums of a line or file that holds timings or a zip timestamp: what they cover is compared
                 "line_sha256", "frames_sha256"}
DEFAULT_TOL = 1e-6
METRIC_TOL = (("semantic-", 1e-5), ("vmaf", 1e-4))


def tolerance(path: str) -> float:
    """The absolute tolerance for a value at this path (a metric's name appears in it)."""
    for prefix, tol in METRIC_TOL:
        if re.search(rf"(^|[/:]){re.escape(prefix)}", path):
            return tol
    return DEFAULT_TOL


def committed_files(root: Path, rev: str) -> list[str]:
    out = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "--", "reports", "leaderboard.md"],
                         cwd=root, check=True, capture_output=True, text=True).stdout
    return [p for p in out.splitlines() if wanted(p)]


def wanted(path: str) -> bool:
    return path == "leaderboard.md" or (path.startswith("reports/") and (
        path.endswith("/summary.json") or path.endswith("/clips.jsonl") or
        ("/frames/" in path and path.endswith(".npz"))))


def committed_bytes(root: Path, rev: str, path: str) -> bytes:
    return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, check=True, capture_output=True).stdout


def same_number(a: float, b: float, tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= tol


def compare_json(a, b, path: str, out: list[str]) -> None:
    """Recursive comparison of two decoded JSON values; differences appended to ``out``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in VOLATILE_KEYS:
                continue
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in the {'new' if k not in a else 'committed'} file")
            else:
                compare_json(a[k], b[k], f"{path}/{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items committed, {len(b)} now")
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                compare_json(x, y, f"{path}[{i}]", out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if not same_number(float(a), float(b), tolerance(path)):
            out.append(f"{path}: committed {a!r}, now {b!r}")
    elif a != b:
        out.append(f"{path}: committed {str(a)[:80]!r}, now {str(b)[:80]!r}")


def json_lines(data: bytes) -> list:
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


def compare_npz(a: bytes, b: bytes, path: str, out: list[str]) -> None:
    with np.load(io.BytesIO(a)) as x, np.load(io.BytesIO(b)) as y:
        for k in sorted(set(x.files) | set(y.files)):
            if k not in x.files or k not in y.files:
                out.append(f"{path}:{k}: series only on one side")
                continue
            u, v = x[k], y[k]
            if u.shape != v.shape:
                out.append(f"{path}:{k}: shape {u.shape} committed, {v.shape} now")
            elif u.dtype.kind == "f" and not np.allclose(u, v, rtol=0, atol=tolerance(f"{path}:{k}"),
                                                         equal_nan=True):
                d = np.nanmax(np.abs(u.astype(np.float64) - v))
                out.append(f"{path}:{k}: per-frame values differ (max |diff| {d:.3g})")
            elif u.dtype.kind != "f" and not np.array_equal(u, v):
                out.append(f"{path}:{k}: values differ")


def without_column(lines: list[str], name: str) -> list[str]:
    """Markdown table lines with the column headed ``name`` removed (other lines unchanged)."""
    res, drop = [], None
    for line in lines:
        if not line.startswith("|"):
            drop = None
            res.append(line)
            continue
        cells = line.strip().strip("|").split("|")
        if drop is None:
            heads = [c.strip() for c in cells]
            drop = heads.index(name) if name in heads else -1
        if 0 <= drop < len(cells):
            del cells[drop]
        res.append("|".join(cells))
    return res


def compare_file(path: str, old: bytes, new: bytes, out: list[str]) -> None:
    if path.endswith(".json"):
        compare_json(json.loads(old), json.loads(new), path, out)
    elif path.endswith(".jsonl"):
        a = sorted(json_lines(old), key=lambda r: str(r.get("clip")))
        b = sorted(json_lines(new), key=lambda r: str(r.get("clip")))
        compare_json(a, b, path, out)
    elif path.endswith(".npz"):
        compare_npz(old, new, path, out)
    else:
        a = without_column(old.decode().splitlines(), "FPS")
        b = without_column(new.decode().splitlines(), "FPS")
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                out.append(f"{path}:{i + 1}: committed {x[:100]!r}, now {y[:100]!r}")
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} lines committed, {len(b)} now")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".", type=Path)
    ap.add_argument("--rev", default="HEAD")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    old = set(committed_files(root, args.rev))
    new = {p.relative_to(root).as_posix() for p in (root / "reports").rglob("*") if p.is_file()}
    new = {p for p in new if wanted(p)} | ({"leaderboard.md"} if (root / "leaderboard.md").exists() else set())
    out: list[str] = [f"{p}: committed, not written by the demo" for p in sorted(old - new)]
    out += [f"{p}: written by the demo, not committed" for p in sorted(new - old)]
    for p in sorted(old & new):
        compare_file(p, committed_bytes(root, args.rev, p), (root / p).read_bytes(), out)
    for line in out[:40]:
        print(line)
    if len(out) > 40:
        print(f"... and {len(out) - 40} more")
    print(f"committed numbers: {len(old & new)} files compared, {len(out)} difference(s)")
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
