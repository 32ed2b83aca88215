"""``infvsr-bench reproduce``: run a paper's metric set on one dataset and compare each cell with its table.

Kept in its own module (registered by ``cli.main``); the logic lives in :mod:`.reproduce`. Exit codes: 0 the
comparison was written (flags are findings, not errors); 1 a clip failed at run time; 2 bad input (unknown
dataset / method / published method, data absent, a requested metric that cannot run).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("reproduce")
@click.option("--dataset", required=True, help="Recipe name of the test set (udm10, spmcs, mvsr4x, videolq, movielq).")
@click.option("--method", required=True, help="Method to run (a registered method name).")
@click.option("--published", "published_file", type=click.Path(path_type=Path), default=None,
              help="Published-results CSV [reports/published/infvsr-table1.csv].")
@click.option("--against", "against", multiple=True,
              help="Published method row(s) to compare with, comma-separated [the row named like --method, "
                   "else all rows].")
@click.option("--metrics", "metrics", multiple=True,
              help="Only these of the paper's metrics (comma-separated); a named metric that cannot run is an "
                   "error, not an 'unavailable' cell.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for comparison.{md,csv,json} and the run (run/) [runs/reproduce/DATASET/METHOD].")
@click.option("--max-frames", type=int, default=None, help="Only the first N frames of each clip (not comparable).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N].")
@click.option("--resume", is_flag=True, help="Continue the run in its folder, skipping finished clips.")
@click.option("--overwrite", is_flag=True, help="Recompute the same run in its folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON on stdout.")
def reproduce(dataset, method, published_file, against, metrics, out, max_frames, device, resume, overwrite,
              as_json) -> None:
    """Measure METHOD on DATASET with the paper's metrics and compare every cell with the published table.

    \b
    Examples:
      infvsr-bench reproduce --dataset udm10 --method infvsr
      infvsr-bench reproduce --dataset videolq --method bicubic --against InfVSR,MGLD-VSR
      infvsr-bench reproduce --dataset spmcs --method mymethod --published reports/published/other-paper.csv
    """
    from . import reproduce as rp
    from .cli import _split
    from .errors import BadInput

    if resume and overwrite:
        raise BadInput("--resume and --overwrite exclude each other")
    if max_frames is not None and max_frames < 1:
        raise BadInput(f"--max-frames must be at least 1, got {max_frames}")
    comp = rp.reproduce(dataset, method, published_file=published_file, against=_split(against) or None,
                        metrics=_split(metrics) or None, out=out, max_frames=max_frames, device=device,
                        resume=resume, overwrite=overwrite, progress=sys.stderr.isatty())
    folder = Path(out) if out else rp.default_out(dataset, method, max_frames)
    if as_json:
        click.echo((folder / "comparison.json").read_text().rstrip("\n"))  # strict JSON as written
    else:
        click.echo(rp.render_markdown(comp), nl=False)
        click.echo(f"written: {folder / 'comparison.md'} (.csv, .json)")
    if comp.failed_clips:
        click.echo(f"error: {len(comp.failed_clips)} clip(s) failed: {', '.join(comp.failed_clips)}", err=True)
        sys.exit(1)
