"""The ``infvsr-bench`` command: parses arguments, builds specs, maps typed errors to exit codes.

Exit codes: 0 ok; 1 a clip failed at run time (recorded, the run went on), a check failed, or a write failed
while working (one line: the path and the system's reason); 2 bad input (one line on stderr, nothing started);
130 Ctrl-C; 143 SIGTERM. Results go to stdout, logs and progress to stderr.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from . import outpaths, progress
from .errors import BadInput

DEFAULT_METHODS = "bicubic,lanczos"
log = logging.getLogger("infvsr_bench")


def _split(values: tuple[str, ...] | str | None) -> list[str]:
    if not values:
        return []
    if isinstance(values, str):
        values = (values,)
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More on stderr: -v per-clip detail (scores, weights found, external programs' output); "
              "-vv every library's debug. Progress lines: every $INFVSR_BENCH_PROGRESS_S s [10].")
def cli(verbose: int) -> None:
    """Benchmark and streaming metrics for long-form video super-resolution.

    \b
    Examples:
      infvsr-bench run                                  # default methods on synthetic-long
      infvsr-bench run --method bicubic --max-frames 200
      infvsr-bench build-dataset synthetic-long-real
      infvsr-bench leaderboard --runs reports --output leaderboard.md
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s %(name)s: %(message)s")
    # ours: progress and results at INFO always; -v adds our detail (DEBUG), -vv every library's debug too
    logging.getLogger("infvsr_bench").setLevel(logging.INFO if verbose == 0 else logging.DEBUG)
    progress.interval_s()  # a bad $INFVSR_BENCH_PROGRESS_S is bad input: exit 2 before any work


def _engine_options(f):
    """--engine and the Ray options, shared by `run` and `build-dataset`."""
    opts = [
        click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="Run clips in this process, or as Ray tasks (pip install infvsr-bench[ray])."),
        click.option("--address", default=None, help="Ray cluster to join [--engine ray: start a local one]."),
        click.option("--gpus-per-task", type=float, default=None,
                     help="GPUs per Ray worker [1 with --device cuda, else 0]."),
        click.option("--cpus-per-task", type=float, default=None, help="CPUs per Ray worker [1]."),
        click.option("--workers", type=int, default=None, help="Ray workers [as many as the cluster fits]."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _ray_options(engine, address, gpus_per_task, cpus_per_task, workers, device="cpu"):
    """RayOptions for --engine ray (Ray must be importable: else exit 2 with the install line); None for local."""
    given = [n for n, v in (("--address", address), ("--gpus-per-task", gpus_per_task),
                            ("--cpus-per-task", cpus_per_task), ("--workers", workers)) if v is not None]
    if engine != "ray":
        if given:
            raise BadInput(f"{', '.join(given)} {'need' if len(given) > 1 else 'needs'} --engine ray")
        return None
    from . import engine_ray

    engine_ray.import_ray()
    opts = engine_ray.RayOptions(address=address, gpus_per_task=gpus_per_task, workers=workers,
                                 cpus_per_task=1.0 if cpus_per_task is None else cpus_per_task)
    engine_ray.check_options(opts, device)
    return opts


@cli.command()
@click.option("--method", "methods", multiple=True, help=f"Method name(s), comma-separated [{DEFAULT_METHODS}].")
@click.option("--dataset", default="synthetic-long", show_default=True,
              help="Recipe name, recipe .toml, manifest.json or dataset folder (built first if not cached).")
@click.option("--metrics", "metric_specs", multiple=True,
              help="Metrics, comma-separated; parameters as name:key=value (default psnr,ssim).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run folder (with several methods: their parent). Default RUNS_ROOT/DATASET/METHOD.")
@click.option("--runs-root", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
              help="Root of the default run folders.")
@click.option("--max-frames", type=int, default=None, help="Only the first N frames of each clip.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N].")
@click.option("--resume", is_flag=True, help="Continue a run in its folder, skipping finished clips.")
@click.option("--overwrite", is_flag=True,
              help="Recompute a run whose folder already holds this same run (a different run is never touched).")
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check of the dataset files.")
@click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON on stdout.")
@click.option("--random-weights", is_flag=True,
              help="Methods with learned weights (infvsr) use random ones: speed/memory only, never a score.")
@click.option("--weights-dir", type=click.Path(path_type=Path), default=None,
              help="Folder holding the method's weight files (infvsr: the four released files).")
@click.option("--no-visuals", is_flag=True, help="Skip the temporal profiles and worst-moment crops.")
@click.option("--profiles", default=None,
              help="Temporal profile rows/columns in output pixels, e.g. rows=40,120,cols=200 [chosen where the "
                   "reference moves least].")
@_engine_options
def run(methods, dataset, metric_specs, out, runs_root, max_frames, device, resume, overwrite, no_verify, as_json,
        random_weights=False, weights_dir=None, no_visuals=False, profiles=None, **engine):
    """Benchmark method(s) on a dataset, streaming, and write records + report."""
    from . import runner

    ray_opts = _ray_options(device=device, **engine)  # None for --engine local
    for option, given in (("--method", methods), ("--metrics", metric_specs)):
        if given and not _split(given):  # `--metrics ""` is a mistake, not a request for the defaults
            raise BadInput(f"{option} is empty: name at least one (see `infvsr-bench list "
                           f"{option.strip('-').rstrip('s')}s`)")
    names = _split(methods) or _split(DEFAULT_METHODS)
    if len(set(names)) != len(names):
        raise BadInput("a method is listed twice")
    if resume and overwrite:
        raise BadInput("--resume and --overwrite exclude each other")
    if no_visuals and profiles:
        raise BadInput("--profiles chooses rows for the pictures that --no-visuals turns off; drop one")
    prepared = []
    for name in names:  # validate everything before any heavy work
        from .methods import parse_method_spec

        mname, mparams = parse_method_spec(name)  # NAME[:key=value...], e.g. precomputed:dir=PATH
        if random_weights:
            mparams.setdefault("random_weights", True)
        if weights_dir is not None:
            mparams.setdefault("weights_dir", str(weights_dir))
        target = out if (out is None or len(names) == 1) else out / _folder_name(name)
        spec = runner.RunSpec(method=mname, dataset=dataset, metrics=_split(metric_specs) or None, out=target,
                              max_frames=max_frames, device=device, resume=resume, overwrite=overwrite,
                              verify_hashes=not no_verify, progress=sys.stderr.isatty(), method_params=mparams,
                              visuals=not no_visuals, profiles=profiles)
        prepared.append(runner.prepare(spec, runs_root=runs_root))
    runner.hold(prepared)  # every run folder is this process's alone (else exit 2) before any work starts
    if ray_opts is None:
        results = [runner.execute(p) for p in prepared]
    else:
        from . import engine_ray

        with engine_ray.session(ray_opts):  # one cluster connection for every method
            results = [engine_ray.execute(p, ray_opts) for p in prepared]
    if as_json:
        from .records import dumps

        click.echo(dumps([r.summary for r in results]))  # strict JSON: NaN and infinities become null
    else:
        for r in results:
            click.echo(_summary_text(r))
    failed = [f"{r.summary['method']['name']}/{c}" for r in results for c in r.failed]
    if failed:
        click.echo(f"error: {len(failed)} clip(s) failed: {', '.join(failed)} (see clips.jsonl)", err=True)
    sys.exit(1 if failed else 0)


def _folder_name(method_spec: str) -> str:
    """A run sub-folder for one method spec of several (``precomputed:dir=/x`` → ``precomputed_dir_x``)."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", method_spec).strip("_")


def _summary_text(r) -> str:
    from .report import fmt, is_random

    s = r.summary
    lines = [f"{s['method']['name']} on {s['dataset']['name']} ({s['dataset']['degradation']}): "
             f"{s['clips']['ok']}/{s['clips']['total']} clips ok, {s['clips']['frames']} frames -> {r.run_dir}"]
    if s["method"].get("random_weights"):  # speed/memory only: quality numbers are never shown
        lines.append("  random weights: speed and memory measurement only; quality not shown")
    for label, m in ({} if s["method"].get("random_weights") else s["metrics"]).items():
        if is_random(m):  # a metric's random network: its number is never shown as a score
            lines.append(f"  {label:<24} {'—':>10}  random weights: plumbing only, not a score")
            continue
        lines.append(f"  {label:<24} {fmt(m['mean']):>10}  95% CI [{fmt(m['ci95'][0])}, {fmt(m['ci95'][1])}]"
                     f"  drift {fmt(m['drift_mean'])}")
    thr = s.get("throughput") or {}
    if thr:
        lines.append(f"  {'fps':<24} {fmt(thr['fps']):>10}  ({thr['output_size']}, {thr['device']})")
    return "\n".join(lines)


@cli.command("build-dataset")
@click.argument("recipe")
@click.option("--max-frames", type=int, default=None, help="Only the first N frames of each clip.")
@click.option("--force", is_flag=True, help="Rebuild even if a matching build exists.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Where media go [$INFVSR_BENCH_DATA or the user cache].")
@_engine_options
def build_dataset(recipe, max_frames, force, data_dir, **engine):
    """Materialise a dataset RECIPE (name or .toml) into LR/HR videos + manifest.json."""
    from . import datasets

    ray_opts = _ray_options(**engine)
    if max_frames is not None and max_frames < 1:
        raise BadInput(f"--max-frames must be at least 1, got {max_frames}")
    if data_dir is not None:
        outpaths.check_folder(data_dir, "data folder")
    if ray_opts is not None:
        from . import engine_ray

        path = engine_ray.build_dataset(recipe, ray_opts, max_frames=max_frames, data_dir=data_dir, force=force)
    else:
        path = datasets.build(recipe, max_frames=max_frames, data_dir=data_dir, force=force)
    click.echo(str(path))


@cli.command()
@click.option("--runs", "runs_root", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="Folder searched for run summaries.")
@click.option("--output", type=click.Path(path_type=Path), default=Path("leaderboard.md"), show_default=True)
@click.option("--check", is_flag=True, help="Exit 1 if OUTPUT differs from what the summaries give.")
def leaderboard(runs_root, output, check):
    """Regenerate leaderboard.md from every summary.json under --runs."""
    from . import report

    if not runs_root.is_dir():
        raise BadInput(f"runs folder not found: {runs_root}")
    if not check:
        outpaths.check_file(output, "leaderboard")
    if check:
        if report.leaderboard_is_current(runs_root, output):
            click.echo(f"{output} is up to date")
            return
        click.echo(f"error: {output} is stale; run `infvsr-bench leaderboard --runs {runs_root} "
                   f"--output {output}`", err=True)
        sys.exit(1)
    click.echo(str(report.write_leaderboard(runs_root, output)))


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for the PNGs [the single run's plots/ folder, else ./plots].")
def plot(runs, out):
    """Draw metric-over-time, similarity-vs-gap and quality-vs-speed figures for RUN folder(s)."""
    from . import plots, regression

    target = outpaths.check_folder(out or (runs[0] / "plots" if len(runs) == 1 else Path("plots")), "plot folder")
    for r in runs:
        regression.load_summary(r)  # a finished run folder with a readable summary, else one line, exit 2
    written = plots.plot_runs(list(runs), target)
    if not written:
        raise BadInput(f"nothing to draw: {', '.join(map(str, runs))} "
                       f"{'holds' if len(runs) == 1 else 'hold'} no finished clip with a score")
    for path in written:
        click.echo(str(path))


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=Path("compare"), show_default=True,
              help="Folder for compare.md and its images.")
def compare(runs, out):
    """One page comparing RUN folders of the same dataset: metrics, curves, profiles, worst moments."""
    from .visual.compare import compare as write_page

    click.echo(str(write_page(list(runs), out)))


@cli.command()
@click.option("--baseline", type=click.Path(path_type=Path), required=True, help="Baseline JSON file.")
@click.option("--run", "run_dir", type=click.Path(path_type=Path), required=True, help="Run folder to check.")
@click.option("--tolerance", "tolerances", multiple=True, help="METRIC=ABS, absolute tolerance (default 1e-6).")
@click.option("--update", is_flag=True, help="Write the baseline from the run instead of checking.")
@click.option("--allow-incomplete", is_flag=True, help="With --update: accept a run with failed or missing clips.")
def check(baseline, run_dir, tolerances, update, allow_incomplete):
    """Compare a run's summary with a committed baseline; exit 1 if any number moved beyond tolerance."""
    from . import records, regression

    summary = regression.load_summary(run_dir)
    if update:
        records.write_json(baseline, regression.baseline_from_summary(summary, allow_incomplete))
        click.echo(f"baseline written: {baseline}")
        return
    if not baseline.is_file():
        raise BadInput(f"baseline not found: {baseline} (create it with --update)")
    try:
        base = records.read_json(baseline)
    except ValueError as exc:
        raise BadInput(f"baseline {baseline} is not valid JSON: {exc}") from exc
    if not isinstance(base, dict) or not isinstance(base.get("metrics"), dict):
        raise BadInput(f"baseline {baseline} is not a baseline (no 'metrics' object); write one with --update")
    rows, problems = regression.compare(base, summary, regression.parse_tolerances(tolerances))
    click.echo(regression.render(rows, problems))
    if problems or not all(r.ok for r in rows):
        click.echo(f"error: {run_dir} does not match baseline {baseline}", err=True)
        sys.exit(1)


@cli.command("list")
@click.argument("what", type=click.Choice(["methods", "metrics", "datasets"]))
def list_(what):
    """List registered methods (with readiness on this machine), metrics, or dataset recipes."""
    if what == "methods":
        from .methods import list_methods

        for name, status, help_ in list_methods():
            ready = status == "ready" or status.startswith("needs ")
            click.echo(f"{name:<24} {status if ready else 'not ready':<16} {help_}")
            if not ready:
                click.echo(f"{'':<26}{status}")
        return
    if what == "metrics":
        from .metrics import METRICS as reg
    else:
        from . import datasets

        for r in datasets.list_recipes():
            click.echo(f"{r['name']:<24} {r.get('source', ''):<10} {r.get('description', '')}")
        return
    for name in reg.names():
        click.echo(f"{name:<24} {reg.help(name)}")


def _add_optional_commands() -> None:
    """Subcommand groups that live in their own modules (imported lazily for their heavy parts)."""
    from .cli_reproduce import reproduce
    from .cli_weights import weights

    for command in (reproduce, weights):
        if command.name not in cli.commands:
            cli.add_command(command)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that cleanups run (not an Exception: no clip may record it)."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one line on stderr and exit 2 for any usage or input error; 130 on Ctrl-C and 143
    on SIGTERM, after the same cleanups as any error (external programs stopped, temp files removed)."""
    import signal
    import threading
    import traceback

    _add_optional_commands()
    in_main = threading.current_thread() is threading.main_thread()  # only there may a handler be set
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main else None
    try:
        cli.main(args=argv, prog_name="infvsr-bench", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except Terminated:
        click.echo("terminated", err=True)
        sys.exit(143)
    except click.exceptions.ClickException as exc:  # click's own usage errors: one line, exit 2
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(2)
    except BadInput as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:  # a write that failed while working (a disk that fills): the path and why, exit 1
        log.debug("%s", "".join(traceback.format_exception(exc)))
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"error: {where}{exc.strerror or exc}", err=True)
        sys.exit(1)
    except SystemExit:
        raise
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    sys.exit(0)
