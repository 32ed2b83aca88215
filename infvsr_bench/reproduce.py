"""Reproduce a paper's table: run its metric set on one dataset and compare every cell with the published one.

``infvsr-bench reproduce --dataset udm10 --method infvsr`` reads a published-results file (default: InfVSR
Table 1, ``reports/published/infvsr-table1.csv``; any paper's file with ``--published``), takes the metrics
that paper reports for that dataset, runs them through the ordinary runner (one :class:`~.runner.RunSpec`),
and writes a per-cell table of measured vs published values with their difference. A cell whose difference
exceeds the metric's known reproducibility spread (:data:`SPREADS`) is flagged "beyond spread".

Which published row a run is compared with: ``against`` (one or more of the paper's method names); by
default the paper's row whose name matches the method (case and ``-``/``_`` ignored, e.g. ``infvsr`` ↔
``InfVSR``), else every row of that dataset (a method the paper did not evaluate is placed among them).

Metrics that cannot run here are cells marked "unavailable (reason)", never failures, unless the user named
them with ``metrics``: a metric not in this build, missing weight files, or a full-reference metric on a
dataset without ground truth. Random-weight results are never compared (also "unavailable").

What a flag means: the number moved by more than a metric implementation/convention alone is known to move
it, so the method, its weights, the data or an unrecorded convention differ from the paper's. It is not a
statistical test; the spreads are documented one by one below (``docs/metrics.md``).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import published as pub
from .errors import BadInput, UnknownName, WeightsNotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Spread:
    """How far a reproduction of a metric may land from a published value for metric reasons alone:
    ``max(abs, rel * |published|)``; ``basis`` says where the figure comes from."""

    abs: float
    rel: float
    basis: str

    def tolerance(self, published_value: float) -> float:
        return max(self.abs, self.rel * abs(published_value))

    def describe(self) -> str:
        parts = ([f"±{self.abs:g}"] if self.abs else []) + ([f"±{self.rel:.0%}"] if self.rel else [])
        return " or ".join(parts)


#: Known reproducibility spreads, one per metric name (``docs/metrics.md``; "chosen" = no published
#: figure exists, the value is this project's choice and says so).
SPREADS: dict[str, Spread] = {
    "psnr": Spread(0.5, 0.0, "docs/metrics.md §3.1: PSNR conventions (Y vs RGB, pyiqa vs BasicSR) moved published "
                             "numbers by 0.5-1.3 dB (OSEDiff #34, SeeSR #60); the lower end, as our spec pins one "
                             "convention"),
    "ssim": Spread(0.01, 0.0, "chosen: no published spread; SSIM implementations differ in colour space and "
                              "downsampling (docs/metrics.md §2.1, pyiqa #236)"),
    "lpips": Spread(0.01, 0.0, "chosen: no published spread; backbone and input range must match "
                               "(docs/metrics.md §2.2)"),
    "dists": Spread(0.005, 0.0, "chosen: pyiqa's DISTS matches the official one to ~1e-4 (docs/metrics.md §2.2); the "
                                "margin allows for decoding and frame-set differences"),
    "musiq": Spread(0.0, 0.03, "docs/metrics.md §2.2: pyiqa vs the official TF MUSIQ differ by up to ~1 point "
                               "(36.94 vs 38.03); pyiqa's calibration tolerance is rtol 3e-2"),
    "clipiqa": Spread(0.02, 0.0, "chosen: three non-equivalent CLIP-IQA implementations exist (docs/metrics.md "
                                 "§2.2); our spec pins pyiqa's"),
    "dover": Spread(0.021, 0.0, "docs/metrics.md §2.2/§3.3: DOVER sampling is random; a re-run gave 0.691 vs 0.670 "
                                "(DOVER #6)"),
    "ewarp-raft": Spread(0.0, 0.10, "chosen: E*warp depends on the flow net, resolution and the 0.5x step "
                                    "(docs/metrics.md §2.3); no published re-run spread"),
}

#: Method parameters ``reproduce`` sets (unless the caller sets them) so that a method's frames are what its
#: paper scored: InfVSR's release truncates its output to uint8 and writes H.264 (CRF 15, yuv420p), and the
#: paper's numbers were measured on that file (``models/infvsr/release_output.py``).
PAPER_METHOD_PARAMS: dict[str, dict[str, Any]] = {
    name: {"output": "release"} for name in ("infvsr", "infvsr-nocache", "infvsr-noref")}


def paper_method_params(method: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The method parameters a reproduction runs with: :data:`PAPER_METHOD_PARAMS`, then ``given`` on top."""
    return {**PAPER_METHOD_PARAMS.get(method.split(":")[0], {}), **(given or {})}


#: The evaluation conventions of DOVE's scripts (``eval_metrics.py``, ``eval_dover.py``, ``eval_ewarp.py``), which
#: the InfVSR paper's numbers follow (same group; their tables share rows), and how this run applies each one.
#: Written into comparison.{md,json} of every reproduction.
DOVE_CONVENTIONS: dict[str, str] = {
    "psnr/ssim": "pyiqa psnr (RGB, [0,1], +1e-8) and ssim (YIQ-Y rounded): psnr:preset=pyiqa, ssim:preset=pyiqa",
    "crop_border": "0 (eval_metrics.py --crop default)",
    "y_channel": "off (--test_y_channel not set; it would also turn the LPIPS/DISTS input into Y)",
    "lpips/dists": "pyiqa lpips (AlexNet, v0.1) and dists on RGB in [0, 1]: lpips, dists",
    "musiq/clipiqa": "pyiqa defaults on each frame: musiq (KonIQ), clipiqa",
    "dover": "DOVER's evaluate_set on the whole video (frame folders written as lossless RGB H.264 first): dover",
    "ewarp": "EvalCrafter's compute_video_warping_error x1000: ewarp-raft:preset=evalcrafter",
    "averaging": "per frame -> per video mean rounded to 4 decimals -> mean over videos rounded to 4 decimals "
                 "(eval_metrics.py metrics); DOVER and E*warp: plain mean over videos",
    "size_mismatch": "frames cut to the shorter video and cropped top-left to the common size (match_resolution; "
                     "the dataset layouts do this, e.g. MVSR4x)",
    "method_output": "InfVSR: the release's truncated, H.264 CRF 15 output (output=release)",
}
#: Metrics whose per-video and per-dataset values DOVE's eval_metrics.py rounds to 4 decimals.
DOVE_ROUNDED = ("psnr", "ssim", "lpips", "dists", "musiq", "clipiqa")


def dove_average(per_clip: dict[str, Any]) -> float:
    """The dataset value as DOVE's ``eval_metrics.py`` reports it: each video's mean rounded to 4 decimals, their
    mean rounded to 4 decimals (clips without a finite value are left out, as the script skips failed videos)."""
    vals = [round(float(v), 4) for v in per_clip.values() if v is not None and math.isfinite(float(v))]
    return round(sum(vals) / len(vals), 4) if vals else math.nan


STATUS_WITHIN, STATUS_BEYOND, STATUS_NO_SPREAD = "within spread", "BEYOND spread", "no known spread"


@dataclass
class Row:
    """One cell of the comparison."""

    dataset: str
    metric: str
    paper_metric: str
    spec: str
    higher_is_better: bool
    against: str
    published: float | None
    measured: float | None
    ci95: list[float] | None
    difference: float | None
    spread: float | None
    status: str
    spread_basis: str = ""
    reason: str = ""  # the full reason of an "unavailable" status


@dataclass
class Comparison:
    """The result of one ``reproduce`` run."""

    dataset: str
    method: str
    paper: str
    published_file: str
    against: list[str]
    run_dir: str | None
    max_frames: int | None
    clips_ok: int = 0
    clips_total: int = 0
    failed_clips: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    method_params: dict[str, Any] = field(default_factory=dict)  # what the method ran with (paper conventions)
    conventions: dict[str, str] = field(default_factory=lambda: dict(DOVE_CONVENTIONS))

    @property
    def flagged(self) -> list[Row]:
        return [r for r in self.rows if r.status == STATUS_BEYOND]


# ---------------------------------------------------------------------------------------------- planning
def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def select_cells(cells: list[pub.Cell], dataset: str) -> list[pub.Cell]:
    chosen = [c for c in cells if c.dataset == dataset]
    if not chosen:
        known = ", ".join(sorted({c.dataset for c in cells}))
        raise BadInput(f"the published file has no cells for dataset {dataset!r} (it has: {known})")
    papers = sorted({c.paper for c in chosen})
    if len(papers) > 1:
        raise BadInput(f"the published file mixes papers {', '.join(papers)} for {dataset}; use one file per paper")
    return chosen


def choose_against(cells: list[pub.Cell], method: str, against: list[str] | None) -> list[str]:
    """The published rows to compare with (see the module docstring)."""
    rows = list(dict.fromkeys(c.method for c in cells))
    if against:
        by_norm = {_norm(r): r for r in rows}
        out = []
        for a in against:
            if _norm(a) not in by_norm:
                raise BadInput(f"--against {a!r}: no such method in the published table (it has: {', '.join(rows)})")
            out.append(by_norm[_norm(a)])
        return out
    match = [r for r in rows if _norm(r) == _norm(method)]
    return match or rows


def metric_set(cells: list[pub.Cell]) -> list[pub.Cell]:
    """One representative cell per metric, in the table's order (gives name, spec and direction)."""
    seen: dict[str, pub.Cell] = {}
    for c in cells:
        if c.metric not in seen:
            seen[c.metric] = c
        elif seen[c.metric].run_spec != c.run_spec:
            raise BadInput(f"published cells of {c.dataset}/{c.metric} name two specs: {seen[c.metric].run_spec!r} "
                           f"and {c.run_spec!r}")
    return list(seen.values())


def plan_metrics(metrics: list[pub.Cell], has_hr: bool, requested: list[str] | None
                 ) -> tuple[dict[str, str], dict[str, str]]:
    """(metric → run spec that can run here, metric → reason it cannot). Requested metrics must run."""
    from . import weights
    from .metrics import metric_from_spec

    names = [m.metric for m in metrics]
    if requested:
        unknown = [r for r in requested if r not in names]
        if unknown:
            raise BadInput(f"--metrics {', '.join(unknown)}: not reported by the paper for this dataset "
                           f"(it reports: {', '.join(names)})")
    runnable, unavailable = {}, {}
    explicit = bool(requested)
    for m in metrics:
        if explicit and m.metric not in requested:
            continue
        try:
            metric = metric_from_spec(m.run_spec)
        except UnknownName as exc:
            if explicit:
                raise
            unavailable[m.metric] = f"metric not available in this build ({exc})"
            continue
        except BadInput as exc:
            if explicit:
                raise
            unavailable[m.metric] = f"cannot be built here: {exc}"
            continue
        if metric.mode == "FR" and not has_hr:
            if explicit:
                raise BadInput(f"{m.metric} is full-reference and the dataset has no ground truth")
            unavailable[m.metric] = "full-reference metric; the dataset has no ground truth"
            continue
        need = tuple(getattr(metric, "requires", ()) or ())
        missing = weights.missing(need) if need else {}
        if missing:
            reason = "; ".join(missing[k] for k in sorted(missing))
            if explicit:
                raise WeightsNotFound(f"metric {m.metric} cannot run: {reason}")
            unavailable[m.metric] = f"weights missing: {reason}"
            continue
        runnable[m.metric] = metric.label
    return runnable, unavailable


# ---------------------------------------------------------------------------------------------- comparing
def short_reason(reason: str) -> str:
    """The head of a reason ("weights missing", "metric not available in this build", ...) for table cells."""
    return reason.split(":")[0].split(" (")[0].strip()


def compare(cells: list[pub.Cell], against: list[str], measured: dict[str, dict[str, Any]],
            unavailable: dict[str, str]) -> list[Row]:
    """One row per (metric, published method): difference measured − published and its spread status."""
    value = {(c.method, c.metric): c.value for c in cells}
    rows = []
    for m in metric_set(cells):
        spread = SPREADS.get(m.metric)
        for a in against:
            pv = value.get((a, m.metric))
            base = dict(dataset=m.dataset, metric=m.metric, paper_metric=m.paper_metric, spec=m.run_spec,
                        higher_is_better=m.higher_is_better, against=a, published=pv,
                        spread_basis=spread.basis if spread else "")
            got = measured.get(m.metric)
            if m.metric in unavailable or got is None:
                reason = unavailable.get(m.metric, "not measured")
                rows.append(Row(**base, measured=None, ci95=None, difference=None, spread=None,
                                status=f"unavailable ({short_reason(reason)})", reason=reason))
                continue
            mv = got.get("mean")
            if mv is None or not math.isfinite(mv):
                rows.append(Row(**base, measured=None, ci95=None, difference=None, spread=None,
                                status="unavailable (no finite value: every clip failed or was undefined)"))
                continue
            if pv is None:
                rows.append(Row(**base, measured=mv, ci95=got.get("ci95"), difference=None, spread=None,
                                status="no published value"))
                continue
            diff = mv - pv
            tol = spread.tolerance(pv) if spread else None
            status = STATUS_NO_SPREAD if tol is None else STATUS_WITHIN if abs(diff) <= tol else STATUS_BEYOND
            rows.append(Row(**base, measured=mv, ci95=got.get("ci95"), difference=diff, spread=tol, status=status))
    return rows


# ---------------------------------------------------------------------------------------------- running
def default_out(dataset: str, method: str, max_frames: int | None) -> Path:
    suffix = f"-max{max_frames}" if max_frames else ""
    return Path("runs") / "reproduce" / f"{dataset}{suffix}" / method


def reproduce(dataset: str, method: str, published_file: str | Path | None = None, against: list[str] | None = None,
              metrics: list[str] | None = None, out: Path | None = None, max_frames: int | None = None,
              device: str = "cpu", resume: bool = False, overwrite: bool = False, verify_hashes: bool = True,
              progress: bool = False, method_params: dict[str, Any] | None = None) -> Comparison:
    """Validate everything (BadInput before any heavy work), run, compare, write ``comparison.{md,csv,json}``."""
    from . import datasets, runner

    pfile = Path(published_file) if published_file else pub.default_file()
    cells = select_cells(pub.load(pfile), dataset)
    chosen = choose_against(cells, method, against)
    target = Path(out) if out else default_out(dataset, method, max_frames)
    manifest = datasets.resolve(dataset, max_frames=max_frames, check=False)  # absent data -> BadInput here
    runnable, unavailable = plan_metrics(metric_set(cells), manifest["has_hr"], metrics)
    if not runnable:
        raise BadInput(f"none of the paper's metrics for {dataset} can run here: "
                       + "; ".join(f"{k}: {v}" for k, v in unavailable.items()))
    spec = runner.RunSpec(method=method, dataset=dataset, metrics=list(runnable.values()), out=target / "run",
                          max_frames=max_frames, device=device, resume=resume, overwrite=overwrite,
                          verify_hashes=verify_hashes, progress=progress,
                          method_params=paper_method_params(method, method_params))
    prepared = runner.prepare(spec)
    result = runner.execute(prepared)
    s = result.summary
    measured: dict[str, dict[str, Any]] = {}
    from .report import is_random

    for metric, label in runnable.items():
        m = s["metrics"].get(label)
        if m is None:
            unavailable[metric] = s.get("unavailable", {}).get(label, "not computed")
        elif s["method"].get("random_weights") or is_random(m):
            unavailable[metric] = "random weights: plumbing only, not a score"
        elif metric in DOVE_ROUNDED and m.get("per_clip"):  # DOVE's per-video rounding, then its mean
            measured[metric] = {**m, "mean": dove_average(m["per_clip"]), "mean_unrounded": m["mean"]}
        else:
            measured[metric] = m
    comp = Comparison(dataset=dataset, method=method, paper=cells[0].paper, published_file=str(pfile),
                      against=chosen, run_dir=str(result.run_dir), max_frames=max_frames,
                      clips_ok=s["clips"]["ok"], clips_total=s["clips"]["total"],
                      failed_clips=list(s["clips"]["failed_ids"]), unavailable=dict(unavailable),
                      method_params=dict(spec.method_params))
    comp.rows = compare(cells, chosen, measured, unavailable)
    write_outputs(target, comp)
    return comp


# ---------------------------------------------------------------------------------------------- output
def _f(v: float | None, digits: int = 4) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v:.2f}" if abs(v) >= 10 else f"{v:.{digits}f}"


def render_markdown(c: Comparison) -> str:
    lines = [f"# Reproducing {c.paper}: {c.method} on {c.dataset}", "",
             f"- published: `{c.published_file}` (compared with: {', '.join(c.against)})",
             f"- measured run: `{c.run_dir}` ({c.clips_ok}/{c.clips_total} clips ok"
             + (f"; failed: {', '.join(c.failed_clips)}" if c.failed_clips else "") + ")",
             "- difference = measured − published; flagged **BEYOND spread** when |difference| exceeds the metric's "
             "known reproducibility spread (table below). A flag is not a statistical test."]
    if c.method_params:
        lines.append("- method parameters: " + ", ".join(f"`{k}={v}`" for k, v in sorted(c.method_params.items()))
                     + (" (InfVSR's release output: truncated to uint8, H.264 CRF 15 yuv420p, as the paper scored it)"
                        if c.method_params.get("output") == "release" else ""))
    if c.max_frames:
        lines.append(f"- only the first {c.max_frames} frames of each clip were scored: not comparable with the "
                     "paper, which scores whole clips")
    lines += ["", "| Metric | Paper column | Published method | Published | Measured | 95% CI | Difference | "
              "Spread | Status |", "|---|---|---|---|---|---|---|---|---|"]
    for r in c.rows:
        arrow = "↑" if r.higher_is_better else "↓"
        ci = f"[{_f(r.ci95[0])}, {_f(r.ci95[1])}]" if r.ci95 else "—"
        diff = "—" if r.difference is None else f"{r.difference:+.4f}"
        status = f"**{r.status}**" if r.status == STATUS_BEYOND else r.status
        lines.append(f"| `{r.metric}` {arrow} | {r.paper_metric} | {r.against} | {_f(r.published)} | "
                     f"{_f(r.measured)} | {ci} | {diff} | {'—' if r.spread is None else f'±{r.spread:.4g}'} | "
                     f"{status} |")
    lines += ["", f"{len(c.flagged)} cell(s) beyond spread."]
    if c.unavailable:
        lines += ["", "## Unavailable metrics", ""] + [f"- `{k}`: {v}" for k, v in c.unavailable.items()]
    if c.conventions:
        lines += ["", "## Evaluation conventions (DOVE's scripts, which the paper's numbers follow)", ""]
        lines += [f"- {k}: {v}" for k, v in c.conventions.items()]
    lines += ["", "## Spreads used", ""]
    for metric in dict.fromkeys(r.metric for r in c.rows):
        sp = SPREADS.get(metric)
        lines.append(f"- `{metric}`: " + (f"{sp.describe()} — {sp.basis}" if sp else "no known spread"))
    return "\n".join(lines) + "\n"


CSV_FIELDS = ("dataset", "metric", "paper_metric", "spec", "higher_is_better", "against", "published", "measured",
              "ci95_low", "ci95_high", "difference", "spread", "status", "reason")


def render_csv(c: Comparison) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in c.rows:
        d = {k: v for k, v in asdict(r).items() if k in CSV_FIELDS}
        d["ci95_low"], d["ci95_high"] = (r.ci95 or [None, None])[:2]
        w.writerow({k: "" if d.get(k) is None else d[k] for k in CSV_FIELDS})
    return buf.getvalue()


def write_outputs(folder: Path, c: Comparison) -> dict[str, Path]:
    from .records import atomic_write_text, jsonable

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"md": folder / "comparison.md", "csv": folder / "comparison.csv", "json": folder / "comparison.json"}
    atomic_write_text(paths["md"], render_markdown(c))
    atomic_write_text(paths["csv"], render_csv(c))
    data = {**{k: v for k, v in asdict(c).items() if k != "rows"}, "rows": [asdict(r) for r in c.rows],
            "flagged": len(c.flagged)}
    # strict JSON: an undefined number is null, never a bare NaN
    atomic_write_text(paths["json"], json.dumps(jsonable(data), indent=2, default=str, allow_nan=False) + "\n")
    return paths
