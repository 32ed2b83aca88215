"""On-disk records of a run, written atomically and append-only.

A run folder holds ``run.json`` (what was asked and the provenance), ``clips.jsonl`` (one line per finished
clip, flushed and fsynced as it lands), ``frames/<clip>.npz`` (per-frame series), ``summary.json`` and
``report.md``. Nothing already written is ever rewritten in place: files are replaced whole via a temporary
file, and clip lines are only appended, so an interrupted run loses at most the clip in progress. Each clip
line is whole or absent: it carries its own checksum, a torn tail is cut before the next append, and a line
that does not check is ignored (its clip is computed again on --resume).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import uuid
from pathlib import Path
from typing import Any, Iterable

import numpy as np

SCHEMA_VERSION = 1
log = logging.getLogger(__name__)


def jsonable(obj: Any) -> Any:
    """Make floats JSON-safe: NaN / ±inf become null (a metric that is undefined is absent, not zero)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    return obj


def dumps(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(jsonable(obj), indent=indent, sort_keys=True, allow_nan=False)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:  # plain open: the file gets the usual umask permissions
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # e.g. a full disk: the error names the file meant, not the temporary one
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, dumps(obj) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def stable_hash(obj: Any, n: int = 16) -> str:
    """Short sha256 of a JSON-able object (sorted keys), for run and comparability keys."""
    return hashlib.sha256(dumps(obj, indent=None).encode()).hexdigest()[:n]


def sha256_file(path: str | os.PathLike, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


#: the key of a clip line's own checksum: sha256 (16 hex digits) of the line's JSON without this key
LINE_CHECK = "line_sha256"


def _line_check(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != LINE_CHECK}
    return hashlib.sha256(dumps(body, indent=None).encode()).hexdigest()[:16]


def _drop_torn_tail(fd: int) -> int:
    """Cut a clip log back to its last whole line (a write that died half way leaves a line without its
    newline); returns the bytes dropped. The caller holds the run folder (:mod:`infvsr_bench.runlock`)."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return 0
    end, block = size, 1 << 16
    while end > 0:  # search backwards for the last newline, a block at a time
        start = max(0, end - block)
        cut = os.pread(fd, end - start, start).rfind(b"\n")
        if cut >= 0:
            end = start + cut + 1
            break
        end = start
    os.ftruncate(fd, end)
    os.fsync(fd)
    return size - end


def repair_clip_log(run_dir: str | os.PathLike) -> int:
    """Drop a torn last line of ``clips.jsonl`` (left by a process that died or a disk that filled during an
    append), so the next record starts on a line of its own. Returns the bytes dropped (0: nothing torn)."""
    path = Path(run_dir) / "clips.jsonl"
    if not path.exists():
        return 0
    fd = os.open(path, os.O_RDWR)
    try:
        dropped = _drop_torn_tail(fd)
    finally:
        os.close(fd)
    if dropped:
        log.warning("%s: dropped a torn last record (%d bytes) left by an interrupted write", path, dropped)
    return dropped


def append_clip(run_dir: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append one clip line to clips.jsonl, whole or not at all, and make it durable before returning.

    The line carries its own checksum (:data:`LINE_CHECK`). A torn tail is cut before writing; a write that
    fails part way (disk full, file size limit) is cut back to where it started before the error goes on,
    and a process killed mid-write leaves a line without its newline, which :func:`read_clips` ignores and
    the next append (or :func:`repair_clip_log`) removes."""
    sealed = {k: v for k, v in record.items() if k != LINE_CHECK}
    sealed[LINE_CHECK] = _line_check(sealed)
    data = (dumps(sealed, indent=None) + "\n").encode("utf-8")
    fd = os.open(Path(run_dir) / "clips.jsonl", os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        _drop_torn_tail(fd)
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            try:
                os.ftruncate(fd, start)
                os.fsync(fd)
            except OSError:  # cannot even cut it back: the next open drops the torn line
                pass
            raise
    finally:
        os.close(fd)


def _parse_line(line: bytes) -> dict[str, Any] | None:
    """A whole, intact clip record, or None (torn, not JSON, not a record, or failing its checksum)."""
    if not line.endswith(b"\n"):
        return None
    try:
        rec = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("clip"), str) or "status" not in rec:
        return None
    check = rec.pop(LINE_CHECK, None)
    if check is not None and check != _line_check(rec):  # lines written before checksums have none
        return None
    return rec


def read_clips(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Clip records, the last line per clip id winning (a failed clip redone on --resume). A line that is
    torn (no newline), not a record or fails its checksum is ignored with a warning: its clip counts as not
    done, so --resume computes it again."""
    path = Path(run_dir) / "clips.jsonl"
    if not path.exists():
        return []
    latest: dict[str, dict[str, Any]] = {}
    bad = 0
    with open(path, "rb") as f:
        for line in f:
            rec = _parse_line(line)
            if rec is None:
                bad += 1
                continue
            latest[rec["clip"]] = rec
    if bad:
        log.warning("%s: %d damaged line(s) ignored (torn or corrupt records; --resume recomputes their clips)",
                    path, bad)
    return list(latest.values())


def frames_path(run_dir: str | os.PathLike, clip: str) -> Path:
    """``<run>/frames/<clip>.npz``; the clip id must be a safe name (checked where manifests are read)."""
    from .names import check_name

    return Path(run_dir) / "frames" / f"{check_name('clip id', clip)}.npz"


def write_frames(run_dir: str | os.PathLike, clip: str, series: dict[str, np.ndarray]) -> tuple[str, str]:
    """Per-frame series of one clip → frames/<clip>.npz (atomic). Returns (relative path, sha256 of the file),
    both kept in the clip's record so that --resume can tell the file still belongs to it."""
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **series)
    data = buf.getvalue()
    path = frames_path(run_dir, clip)
    atomic_write_bytes(path, data)
    return path.relative_to(run_dir).as_posix(), hashlib.sha256(data).hexdigest()


def read_frames(run_dir: str | os.PathLike, clip: str) -> dict[str, np.ndarray]:
    with np.load(frames_path(run_dir, clip)) as z:
        return {k: z[k] for k in z.files}


def frames_intact(run_dir: str | os.PathLike, rec: dict[str, Any]) -> bool:
    """Whether a finished clip's per-frame series are on disk as its record says: the file exists, has the
    sha256 the record holds (records from before that field: it loads), and has one series of the clip's
    length per metric of the record."""
    try:
        path = frames_path(run_dir, rec["clip"])
        want = rec.get("frames_sha256")
        if want is not None and sha256_file(path) != want:
            return False
        series = read_frames(run_dir, rec["clip"])
        return all(k in series and series[k].shape == (rec["frames"],) for k in rec.get("metrics", {}))
    except Exception:  # missing, unreadable, not an npz, a bad id: not intact whatever the reason
        return False


#: what a summary.json must hold for the leaderboard, check and plot to read it: section -> keys
_SUMMARY_KEYS = {"method": ("name", "track"), "dataset": ("name", "degradation", "manifest_sha256"),
                 "clips": ("ok", "total"), "metrics": (), "conventions": ()}
_METRIC_KEYS = ("label", "name", "version", "params", "higher_is_better", "mean", "ci95")


def read_summary(path: str | os.PathLike) -> dict[str, Any]:
    """A run's summary.json, checked for what its readers rely on; ValueError with one line naming the file
    and the first problem (truncated JSON, not an object, a section or a key missing)."""
    try:
        s = read_json(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable summary ({str(exc).splitlines()[0]})") from None
    if not isinstance(s, dict):
        raise ValueError(f"{path}: not a summary (a JSON {type(s).__name__}, not an object)")
    if "max_frames" not in s:
        raise ValueError(f"{path}: not a summary (no 'max_frames')")
    for section, keys in _SUMMARY_KEYS.items():
        if not isinstance(s.get(section), dict):
            raise ValueError(f"{path}: not a summary (no '{section}' object)")
        missing = [k for k in keys if k not in s[section]]
        if missing:
            raise ValueError(f"{path}: not a summary ('{section}' lacks {', '.join(missing)})")
    for label, m in s["metrics"].items():
        if not isinstance(m, dict) or any(k not in m for k in _METRIC_KEYS):
            raise ValueError(f"{path}: not a summary (metric {label!r} is malformed)")
    return s


def find_summaries(root: str | os.PathLike) -> Iterable[Path]:
    """Every summary.json under a folder, in a stable order."""
    return sorted(Path(root).rglob("summary.json"))
