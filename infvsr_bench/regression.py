"""The CI regression check: compare a run's summary with a committed baseline, number by number.

Any metric mean or per-clip mean that moved by more than its tolerance (either direction: a change that
alters a number must be made on purpose, by updating the baseline) is a regression. A baseline whose
comparability key differs from the run's (another dataset build, metric version or parameter) cannot be
compared and fails the check too, saying so. So does a run of another identity: another method or method
parameters, other dataset bytes, or another set of finished clips (a clip on one side only). A baseline is
written only from a complete run (every clip finished) unless the caller says otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import aggregate, records
from .errors import BadInput

DEFAULT_TOLERANCE = 1e-6
BASELINE_SCHEMA = 1


@dataclass
class Row:
    metric: str
    scope: str  # "mean" or a clip id
    baseline: float | None
    current: float | None
    tolerance: float

    @property
    def diff(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    @property
    def ok(self) -> bool:
        if self.baseline is None and self.current is None:
            return True
        d = self.diff
        return d is not None and math.isfinite(d) and abs(d) <= self.tolerance


def load_summary(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        raise BadInput(f"no summary.json in {run_dir}: not a finished run folder")
    try:
        return records.read_summary(path)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc


def finished_clips(summary: dict[str, Any]) -> list[str]:
    """Ids of the clips a summary holds numbers for (those that finished), sorted."""
    return sorted({c for m in summary["metrics"].values() for c in (m.get("per_clip") or {})})


def baseline_from_summary(summary: dict[str, Any], allow_incomplete: bool = False) -> dict[str, Any]:
    """The numbers a baseline pins: per metric, the dataset mean and every clip mean (no timings), with the
    run's identity (method and parameters, dataset bytes, finished clips). A run with failed or missing
    clips is refused (BadInput) unless ``allow_incomplete``."""
    why = aggregate.incomplete(summary)
    if why and not allow_incomplete:
        raise BadInput(f"the run is incomplete: {why}; a baseline from it would pin a different mean "
                       f"(pass --allow-incomplete to write it anyway)")
    return {
        "schema": BASELINE_SCHEMA,
        "method": summary["method"]["name"],
        "method_params": summary["method"].get("params", {}),
        "dataset_sha256": summary["dataset"]["manifest_sha256"],
        "clips": finished_clips(summary),
        "dataset": summary["dataset"]["name"],
        "degradation": summary["dataset"]["degradation"],
        "max_frames": summary["max_frames"],
        "comparability_key": summary["comparability_key"],
        "metrics": {label: {"mean": m["mean"], "per_clip": m.get("per_clip", {}), "version": m["version"],
                            "params": m["params"]}
                    for label, m in summary["metrics"].items()},
    }


def parse_tolerances(items: tuple[str, ...] | list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            tol = float(value)
        except ValueError:
            tol = -1.0
        if not sep or not name or not (tol >= 0 and math.isfinite(tol)):
            raise BadInput(f"bad --tolerance {item!r}: expected METRIC=ABS with ABS >= 0")
        out[name.strip()] = tol
    return out


def identity_problems(baseline: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    """How the run is not the run the baseline was written from: method, method parameters, dataset bytes,
    the set of finished clips. Fields a baseline written before they were recorded lacks are not compared
    (its clip set is then that of its per-clip numbers)."""
    problems = []
    meth = summary["method"]
    if baseline.get("method") != meth["name"]:
        problems.append(f"method differs: baseline {baseline.get('method')}, run {meth['name']}")
    elif "method_params" in baseline and records.stable_hash(baseline["method_params"]) != records.stable_hash(
            meth.get("params", {})):
        problems.append(f"method parameters differ: baseline {records.dumps(baseline['method_params'], None)}, "
                        f"run {records.dumps(meth.get('params', {}), None)}")
    if "dataset_sha256" in baseline and baseline["dataset_sha256"] != summary["dataset"]["manifest_sha256"]:
        problems.append(f"dataset bytes differ: baseline manifest sha256 {baseline['dataset_sha256'][:16]}, run "
                        f"{summary['dataset']['manifest_sha256'][:16]}")
    base_clips = set(baseline.get("clips") or finished_clips(baseline))
    run_clips = set(finished_clips(summary))
    for clip in sorted(base_clips - run_clips):
        problems.append(f"clip {clip} is in the baseline but did not finish in the run")
    for clip in sorted(run_clips - base_clips):
        problems.append(f"clip {clip} is in the run but not in the baseline")
    return problems


def compare(baseline: dict[str, Any], summary: dict[str, Any], tolerances: dict[str, float]
            ) -> tuple[list[Row], list[str]]:
    """Rows for every pinned number, and problems that make the comparison itself invalid (another identity:
    :func:`identity_problems`; another comparability key; a metric missing)."""
    problems = identity_problems(baseline, summary)
    if baseline.get("comparability_key") != summary.get("comparability_key"):
        problems.append("comparability key differs (dataset build, frame limit, metric version or parameters "
                        f"changed): baseline {baseline.get('comparability_key')}, run "
                        f"{summary.get('comparability_key')}")
    unknown = sorted(set(tolerances) - set(baseline["metrics"]))
    if unknown:
        raise BadInput(f"--tolerance names metric(s) not in the baseline: {', '.join(unknown)}")
    rows = []
    for label, base in baseline["metrics"].items():
        tol = tolerances.get(label, DEFAULT_TOLERANCE)
        cur = summary["metrics"].get(label)
        if cur is None:
            problems.append(f"metric {label} is in the baseline but not in the run")
            continue
        rows.append(Row(label, "mean", base["mean"], cur["mean"], tol))
        for clip, value in sorted(base.get("per_clip", {}).items()):
            rows.append(Row(label, clip, value, cur.get("per_clip", {}).get(clip), tol))
    return rows, problems


def render(rows: list[Row], problems: list[str]) -> str:
    def f(v: float | None) -> str:
        return "—" if v is None else f"{v:.9g}"

    lines = [f"{'metric':<16} {'scope':<20} {'baseline':>16} {'run':>16} {'diff':>12} {'tol':>9}  verdict"]
    for r in rows:
        lines.append(f"{r.metric:<16} {r.scope:<20} {f(r.baseline):>16} {f(r.current):>16} "
                     f"{f(r.diff):>12} {r.tolerance:>9.2g}  {'ok' if r.ok else 'REGRESSION'}")
    lines += [f"not comparable: {p}" for p in problems]
    bad = sum(not r.ok for r in rows)
    lines.append(f"{len(rows) - bad} of {len(rows)} numbers within tolerance"
                 + (f"; {bad} changed" if bad else "") + (f"; {len(problems)} problem(s)" if problems else ""))
    return "\n".join(lines)
