"""The Ray engine on a real local Ray cluster (2 CPUs, started here): records identical to the local engine,
a worker process killed mid-clip is retried, a clip that always kills its worker is recorded as failed,
resume across engines, per-clip dataset building with identical bytes, and no Ray process left behind.

Workers learn the test-only ``ray-test-crash`` method through Ray's ``worker_process_setup_hook``, which
imports this module in every worker process (the repository root is put on their PYTHONPATH).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from infvsr_bench import datasets, records, runner
from infvsr_bench.errors import MethodError
from infvsr_bench.methods import METHODS
from infvsr_bench.methods.interpolation import Bicubic

from .helpers import one_line_error, run_cli, torch_threads

N = 16  # frames per clip: one full chunk, large enough for torch to split float64 reductions over threads
CRASH = "ray-test-crash"
REPO = Path(__file__).resolve().parents[1]


class CrashingBicubic(Bicubic):
    """Bicubic that kills its own process (``os._exit``) in the middle of a clip: of clip ``once`` on the
    first attempt only, of clip ``always`` on every attempt; on clip ``raises`` it raises instead. Each
    attempt at any of them appends a line ``<clip>`` to the file ``marker`` (which is also how a retry knows
    the first attempt happened). ``fail_setup``: setup() raises."""

    def __init__(self, once: str = "", always: str = "", raises: str = "", marker: str = "",
                 fail_setup: bool = False, **kw):
        super().__init__(**kw)
        self.once, self.always, self.raises, self.marker = once, always, raises, marker
        self.fail_setup = fail_setup

    def setup(self, device="cpu", dtype=None):
        if self.fail_setup:
            raise MethodError("simulated set-up failure (e.g. a model that does not load)")
        super().setup(device)

    def reset(self, meta=None):
        self.clip = (meta or {}).get("clip")

    def step(self, lr_chunk):
        if self.clip in (self.once, self.always, self.raises):
            with open(self.marker, "a", encoding="utf-8") as f:
                f.write(f"{self.clip}\n")
            if self.clip == self.raises:
                raise RuntimeError("simulated method error")
            tries = Path(self.marker).read_text().splitlines().count(self.clip)
            if self.clip == self.always or tries == 1:
                os._exit(1)  # as if the process were killed: no exception, no cleanup
        return super().step(lr_chunk)


def register_test_methods() -> None:
    """Ray worker set-up hook (and driver): make ``ray-test-crash`` a known method name."""
    if CRASH not in METHODS.names():
        METHODS.register(CRASH, CrashingBicubic, help="test only: kills its worker process on one clip")


ray = pytest.importorskip("ray", reason="Ray is not installed (pip install infvsr-bench[ray])")
from infvsr_bench import engine_ray  # noqa: E402


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, comm, command line) of every live, non-zombie process."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            comm = (d / "comm").read_text().strip()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            out[int(d.name)] = (int(fields[1]), comm, cmd)
    return out


def _ray_pids() -> set[int]:
    """Processes that belong to some Ray cluster on this machine (gcs_server, raylet, workers, agents)."""
    return {pid for pid, (_, comm, cmd) in _processes().items()
            if pid != os.getpid() and (comm in ("gcs_server", "raylet") or cmd.startswith("ray::")
                                       or "/site-packages/ray/" in cmd)}


def _session_pids(session_name: str) -> set[int]:
    """The processes of one Ray session: those whose command line names it, and all their descendants
    (workers and agents rename themselves ``ray::...``)."""
    procs = _processes()
    found = {pid for pid, (_, _, cmd) in procs.items() if session_name in cmd}
    grew = True
    while grew:
        more = {pid for pid, (ppid, _, _) in procs.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return found


def _wait_gone(pids_before: set[int], timeout: float = 15.0) -> set[int]:
    """Ray processes that are not in ``pids_before`` and still alive after up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        left = _ray_pids() - pids_before
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Local runs here use 1 torch thread, as each 1-CPU Ray worker does: float64 reductions depend on the
    thread count in the last bit, and the engines are compared bit for bit."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def cluster():
    """A 2-CPU local Ray cluster for this module; yields its session name."""
    register_test_methods()
    if ray.is_initialized():
        ray.shutdown()
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    ctx = ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
                   runtime_env={"env_vars": env, "worker_process_setup_hook": "tests.test_ray.register_test_methods"})
    yield os.path.basename(ctx.address_info["session_dir"])
    ray.shutdown()
    for table in (METHODS._entries, METHODS._help):  # leave the registry as other test modules expect it
        table.pop(CRASH, None)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """synthetic-long (3 clips) built once for this module, N frames per clip."""
    root = tmp_path_factory.mktemp("ray-data")
    return datasets.build("synthetic-long", max_frames=N, data_dir=root).parent


def _spec(out: Path, data: Path, **kw) -> runner.RunSpec:
    kw.setdefault("metrics", ["psnr", "ssim"])
    return runner.RunSpec(dataset=str(data), out=out, progress=False, **kw)


def _run(out, data, engine="local", opts=None, **kw):
    p = runner.prepare(_spec(out, data, **kw))
    if engine == "local":
        return runner.execute(p)
    return engine_ray.execute(p, opts or engine_ray.RayOptions(workers=1))


def _lines(run_dir: Path) -> list[str]:
    import json

    return [json.loads(x)["clip"] for x in (run_dir / "clips.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def local_ref(tmp_path_factory, data):
    return _run(tmp_path_factory.mktemp("ref") / "local", data)


def _same_numbers(a: Path, b: Path) -> None:
    """summary.json metric numbers, clip records (but timings) and per-frame arrays all equal."""
    sa, sb = records.read_json(a / "summary.json"), records.read_json(b / "summary.json")
    assert sa["metrics"] == sb["metrics"] and sa["clips"] == sb["clips"]
    assert sa["comparability_key"] == sb["comparability_key"]
    ra = {r["clip"]: r for r in records.read_clips(a)}
    rb = {r["clip"]: r for r in records.read_clips(b)}
    assert ra.keys() == rb.keys()
    for cid in ra:
        strip = ("throughput",)
        assert {k: v for k, v in ra[cid].items() if k not in strip} == \
               {k: v for k, v in rb[cid].items() if k not in strip}
        fa, fb = records.read_frames(a, cid), records.read_frames(b, cid)
        assert fa.keys() == fb.keys()
        for k in fa:
            np.testing.assert_array_equal(fa[k], fb[k])


def test_dataset_built_on_ray_has_identical_bytes(cluster, data, tmp_path):
    path = engine_ray.build_dataset("synthetic-long", engine_ray.RayOptions(), max_frames=N,
                                    data_dir=tmp_path)
    local = data
    assert path.parent != local
    a = sorted(p.relative_to(local) for p in local.rglob("*") if p.is_file())
    b = sorted(p.relative_to(path.parent) for p in path.parent.rglob("*") if p.is_file())
    assert a == b and Path("manifest.json") in a and len(a) == 7
    for rel in a:
        assert (local / rel).read_bytes() == (path.parent / rel).read_bytes(), rel


def test_frame_folder_dataset_built_on_ray_has_identical_bytes(cluster, tmp_path, monkeypatch):
    """The frame-folder sources (the paper's test sets) build one clip per Ray task too, byte for byte."""
    from .test_reproduce import _pair

    monkeypatch.setenv("INFVSR_BENCH_RAW", str(tmp_path / "raw"))
    for i, clip in enumerate(("calendar", "city", "walk")):
        _pair(tmp_path / "raw" / "UDM10" / "GT", tmp_path / "raw" / "UDM10" / "LQ", clip, 3, seed=i)
    local = datasets.build("udm10", data_dir=tmp_path / "local").parent
    path = engine_ray.build_dataset("udm10", engine_ray.RayOptions(), data_dir=tmp_path / "ray")
    a = sorted(p.relative_to(local) for p in local.rglob("*") if p.is_file())
    b = sorted(p.relative_to(path.parent) for p in path.parent.rglob("*") if p.is_file())
    assert a == b and len(a) == 7
    for rel in a:  # media and manifest.json alike
        assert (local / rel).read_bytes() == (path.parent / rel).read_bytes(), rel


def test_ray_run_equals_local_run(cluster, data, local_ref, tmp_path):
    res = _run(tmp_path / "ray", data, engine="ray", opts=engine_ray.RayOptions(workers=2))
    assert res.exit_code == 0 and res.summary["clips"]["ok"] == 3
    _same_numbers(local_ref.run_dir, res.run_dir)
    assert sorted(_lines(res.run_dir)) == sorted(_lines(local_ref.run_dir))  # one line per clip
    run = records.read_json(res.run_dir / "run.json")
    assert run["run_key"] == records.read_json(local_ref.run_dir / "run.json")["run_key"]
    assert (res.run_dir / "report.md").is_file()


def test_killed_workers_retry_bounded_and_every_clip_recorded_once(cluster, data, local_ref, tmp_path):
    """One clip's worker is killed once (retried, then fine); another's is killed on every attempt (recorded
    failed after max_attempts); the third raises (recorded failed at once, as locally: no retry). Every clip
    has exactly one line."""
    once, always, raises = sorted(_lines(local_ref.run_dir))
    marker = tmp_path / "attempts.txt"
    res = _run(tmp_path / "run", data, engine="ray", opts=engine_ray.RayOptions(workers=1, max_attempts=2),
               method=CRASH, method_params={"once": once, "always": always, "raises": raises,
                                            "marker": str(marker)})
    tries = marker.read_text().splitlines()
    assert tries.count(once) == 2 and tries.count(always) == 2  # bounded: max_attempts tries, no more
    assert tries.count(raises) == 1
    assert sorted(_lines(res.run_dir)) == sorted(_lines(local_ref.run_dir))
    assert res.exit_code == 1 and sorted(res.failed) == sorted([always, raises]) and res.summary["clips"]["ok"] == 1
    rec = {r["clip"]: r for r in records.read_clips(res.run_dir)}
    assert rec[always]["status"] == "failed" and rec[always]["error"].startswith("WorkerDied: ")
    assert "2 attempt" in rec[always]["error"]
    assert rec[raises] == {"clip": raises, "status": "failed", "error": "RuntimeError: simulated method error"}
    for cid in (always, raises):
        assert not (res.run_dir / "frames" / f"{cid}.npz").exists()
    assert rec[once]["status"] == "ok"  # the retried clip's numbers are the plain bicubic numbers
    for k, v in records.read_frames(local_ref.run_dir, once).items():
        np.testing.assert_array_equal(records.read_frames(res.run_dir, once)[k], v)


def test_worker_setup_error_stops_the_run_with_its_type(cluster, data, tmp_path):
    """As in the local engine, a method that cannot set up stops the run (typed error, no clip recorded)."""
    with pytest.raises(MethodError, match="simulated set-up failure"):
        _run(tmp_path / "run", data, engine="ray", method=CRASH, method_params={"fail_setup": True})
    assert not (tmp_path / "run" / "clips.jsonl").exists()


def _interrupt_after(monkeypatch, n: int) -> None:
    """The driver is interrupted (Ctrl-C) right after its n-th clip record is durable."""
    real = records.append_clip
    seen = []

    def append(run_dir, rec):
        real(run_dir, rec)
        seen.append(rec["clip"])
        if len(seen) == n:
            raise KeyboardInterrupt

    monkeypatch.setattr(records, "append_clip", append)


def _interrupted(out: Path, data: Path, engine: str, monkeypatch) -> None:
    with monkeypatch.context() as m:
        _interrupt_after(m, 1)
        with pytest.raises(KeyboardInterrupt):
            _run(out, data, engine=engine)
    assert len(_lines(out)) == 1 and not (out / "summary.json").exists()


def test_local_run_interrupted_is_finished_on_ray_by_the_cli(cluster, data, local_ref, tmp_path, monkeypatch,
                                                              capsys):
    out = tmp_path / "run"
    _interrupted(out, data, "local", monkeypatch)
    code, stdout, err = run_cli(capsys, "run", "--engine", "ray", "--workers", "1", "--cpus-per-task", "1",
                                "--resume", "--method", "bicubic", "--metrics", "psnr,ssim",
                                "--dataset", str(data), "--out", str(out))
    assert code == 0, err
    assert "3/3 clips ok" in stdout and ray.is_initialized()  # a cluster the CLI did not start stays up
    assert sorted(_lines(out)) == sorted(_lines(local_ref.run_dir))  # nothing lost, nothing twice
    _same_numbers(local_ref.run_dir, out)


def test_ray_run_interrupted_is_finished_locally(cluster, data, local_ref, tmp_path, monkeypatch):
    out = tmp_path / "run"
    _interrupted(out, data, "ray", monkeypatch)
    res = _run(out, data, resume=True)
    assert res.exit_code == 0 and len(res.skipped) == 1
    assert sorted(_lines(out)) == sorted(_lines(local_ref.run_dir))
    _same_numbers(local_ref.run_dir, out)


def test_engine_ray_without_ray_installed_exits_2(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    code, out, err = run_cli(capsys, "run", "--engine", "ray", "--method", "bicubic", "--max-frames", "2",
                             "--out", str(tmp_path / "run"))
    assert code == 2 and "pip install infvsr-bench[ray]" in one_line_error(err)
    assert not (tmp_path / "run").exists()
    code, out, err = run_cli(capsys, "build-dataset", "synthetic-long", "--engine", "ray", "--max-frames", "2")
    assert code == 2 and "pip install infvsr-bench[ray]" in one_line_error(err)


def test_ray_options_need_engine_ray(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", "--workers", "2", "--out", str(tmp_path / "run"))
    assert code == 2 and "--engine ray" in one_line_error(err)


def test_package_import_does_not_import_ray():
    import subprocess

    code = "import infvsr_bench.cli, infvsr_bench.runner, infvsr_bench.engine_ray, sys; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_shutdown_leaves_no_ray_process(cluster):
    """Last of the tests on the module's cluster: after ray.shutdown() none of its processes remain."""
    ours = _session_pids(cluster)
    names = {_processes()[pid][1] for pid in ours}
    assert {"gcs_server", "raylet"} <= names and any(n.startswith("ray::") for n in names), names
    ray.shutdown()
    deadline = time.monotonic() + 15.0
    while ours & set(_processes()) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = {pid: _processes().get(pid) for pid in ours & set(_processes())}
    assert not left, f"Ray processes outlived ray.shutdown(): {left}"


@pytest.mark.slow  # a cluster start/stop costs ~10 s; the tests above cover the CLI path and shutdown
def test_cli_starts_and_stops_its_own_cluster_cleanly(data, capsys, tmp_path):
    """Run alone (-m slow): any Ray process that appears during the command must be gone after it."""
    if ray.is_initialized():
        ray.shutdown()
    preexisting_ray = _ray_pids()
    code, out, err = run_cli(capsys, "run", "--engine", "ray", "--workers", "1", "--method", "bicubic",
                             "--metrics", "psnr", "--dataset", str(data), "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert "3/3 clips ok" in out
    assert not ray.is_initialized()
    assert not _wait_gone(preexisting_ray), "the CLI left Ray processes behind"
