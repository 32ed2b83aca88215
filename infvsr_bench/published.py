"""Published results tables as data: one CSV per paper, one row per cell; loading and the leaderboard track.

A published-results file (``reports/published/<paper>-<table>.csv``, e.g. ``infvsr-table1.csv``) holds every
cell of a paper's table with these columns (``reports/published/README.md``):

``paper``         short name of the paper (e.g. ``InfVSR``)
``method``        the method as the paper names it (a row of its table)
``dataset``       this project's recipe name of the test set (``udm10``, ``spmcs``, ``mvsr4x``, ...)
``metric``        this project's metric name (``psnr``, ``ssim``, ``lpips``, ``dists``, ``musiq``, ``clipiqa``,
                  ``dover``, ``ewarp-raft``, ...): the key of the reproducibility spreads in :mod:`.reproduce`
``paper_metric``  the column title as printed (``CLIP-IQA``, ``E*warp (x10^-3)``)
``value``         the number as printed (a decimal)
``direction``     ``higher`` or ``lower`` is better
``spec``          optional: the metric spec ``infvsr-bench reproduce`` runs for this cell (``psnr:preset=pyiqa``);
                  empty means the metric name with its defaults
``source``        where the number comes from (paper, version, table)
``note``          how it was transcribed and anything uncertain

Published numbers are never measurements of this project: the leaderboard shows them in a separate
"published" track (:func:`render_track`) next to the measured runs of the same dataset and never ranks them
together with measured runs.
"""
from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInput

COLUMNS = ("paper", "method", "dataset", "metric", "paper_metric", "value", "direction", "spec", "source", "note")
REQUIRED = ("paper", "method", "dataset", "metric", "value", "direction", "source")


@dataclass(frozen=True)
class Cell:
    """One published number."""

    paper: str
    method: str
    dataset: str
    metric: str
    paper_metric: str
    value: float
    higher_is_better: bool
    spec: str
    source: str
    note: str
    printed: str = ""  # the value exactly as written in the file (keeps trailing zeros for display)

    @property
    def run_spec(self) -> str:
        """The metric spec to measure this cell with (``spec`` or the bare metric name)."""
        return self.spec or self.metric


def default_file() -> Path:
    """The InfVSR Table 1 file shipped in the repository."""
    import infvsr_bench

    return Path(infvsr_bench.__file__).resolve().parents[1] / "reports" / "published" / "infvsr-table1.csv"


def load(path: str | os.PathLike) -> list[Cell]:
    """Read and validate a published-results CSV; :class:`BadInput` names the file and row of any problem."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise BadInput(f"published-results file not found: {p}")
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise BadInput(f"{p}: missing column(s) {', '.join(missing)} (columns: {', '.join(COLUMNS)})")
        cells, seen = [], set()
        for line, row in enumerate(reader, start=2):
            where = f"{p.name} line {line}"
            if any(not (row.get(c) or "").strip() for c in REQUIRED):
                raise BadInput(f"{where}: empty {', '.join(c for c in REQUIRED if not (row.get(c) or '').strip())}")
            try:
                value = float(row["value"])
            except ValueError:
                raise BadInput(f"{where}: value {row['value']!r} is not a number") from None
            if not math.isfinite(value):
                raise BadInput(f"{where}: value {row['value']!r} is not finite")
            direction = row["direction"].strip().lower()
            if direction not in ("higher", "lower"):
                raise BadInput(f"{where}: direction must be 'higher' or 'lower', got {row['direction']!r}")
            cell = Cell(paper=row["paper"].strip(), method=row["method"].strip(), dataset=row["dataset"].strip(),
                        metric=row["metric"].strip(), paper_metric=(row.get("paper_metric") or "").strip()
                        or row["metric"].strip(), value=value, higher_is_better=direction == "higher",
                        spec=(row.get("spec") or "").strip(), source=row["source"].strip(),
                        note=(row.get("note") or "").strip(), printed=row["value"].strip())
            key = (cell.paper, cell.method, cell.dataset, cell.metric)
            if key in seen:
                raise BadInput(f"{where}: a second value for {cell.method} / {cell.dataset} / {cell.metric}")
            seen.add(key)
            cells.append(cell)
    if not cells:
        raise BadInput(f"{p}: no rows")
    return cells


def find_files(folder: str | os.PathLike) -> list[Path]:
    """Every published-results CSV in a folder (sorted; none if the folder does not exist)."""
    d = Path(folder)
    return sorted(d.glob("*.csv")) if d.is_dir() else []


def by_dataset(files: list[Path]) -> dict[str, list[Cell]]:
    """Cells of several files grouped by dataset name."""
    out: dict[str, list[Cell]] = defaultdict(list)
    for f in files:
        for c in load(f):
            out[c.dataset].append(c)
    return dict(out)


def render_track(dataset: str, cells: list[Cell], rel_source: dict[str, str] | None = None) -> list[str]:
    """Markdown lines of the "published" track of one dataset: one table per paper, numbers as printed,
    no ranking marks (they are not measured here and are never ranked with measured runs)."""
    lines: list[str] = []
    papers: dict[str, list[Cell]] = defaultdict(list)
    for c in cells:
        papers[c.paper].append(c)
    for paper, pc in sorted(papers.items()):
        metrics: list[tuple[str, str, bool]] = []
        for c in pc:
            m = (c.metric, c.paper_metric, c.higher_is_better)
            if m not in metrics:
                metrics.append(m)
        methods = list(dict.fromkeys(c.method for c in pc))
        value = {(c.method, c.metric): c.printed or repr(c.value) for c in pc}
        sources = sorted({c.source for c in pc})
        lines += [f"### {dataset} · published · {paper}", "",
                  f"Track **published**: numbers as printed in {'; '.join(sources)}, not measured by this "
                  "project and never ranked with measured runs. Columns use this project's metric "
                  "names (the paper's in brackets)." + (f" Data: {rel_source[paper]}." if rel_source and
                                                         paper in rel_source else ""), ""]
        header = ["Method", "Track"] + [f"{m} [{pm}] {'↑' if hib else '↓'}" for m, pm, hib in metrics]
        lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        for meth in methods:
            cells_ = [value.get((meth, m), "—") for m, _, _ in metrics]
            lines.append("| " + " | ".join([meth, "published"] + cells_) + " |")
        lines.append("")
    return lines
