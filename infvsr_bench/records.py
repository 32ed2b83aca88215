"""On-disk records of a run, written atomically and append-only.

A run folder holds ``run.json`` (what was asked and the provenance), ``clips.jsonl`` (one line per finished
clip, flushed and fsynced as it lands), ``frames/<clip>.npz`` (per-frame series), ``summary.json`` and
``report.md``. Nothing already written is ever rewritten in place: files are replaced whole via a temporary
file, and clip lines are only appended, so an interrupted run loses at most the clip in progress.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from pathlib import Path
from typing import Any, Iterable

import numpy as np

SCHEMA_VERSION = 1


def _jsonable(obj: Any) -> Any:
    """Make floats JSON-safe: NaN / ±inf become null (a metric that is undefined is absent, not zero)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return obj


def dumps(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(_jsonable(obj), indent=indent, sort_keys=True, allow_nan=False)


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


def append_clip(run_dir: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append one clip line to clips.jsonl and make it durable before returning."""
    line = dumps(record, indent=None) + "\n"
    with open(Path(run_dir) / "clips.jsonl", "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_clips(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Clip records, the last line per clip id winning (a failed clip redone on --resume). A torn last
    line (the process died mid-write) is ignored."""
    path = Path(run_dir) / "clips.jsonl"
    if not path.exists():
        return []
    latest: dict[str, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            latest[rec["clip"]] = rec
    return list(latest.values())


def write_frames(run_dir: str | os.PathLike, clip: str, series: dict[str, np.ndarray]) -> str:
    """Per-frame series of one clip → frames/<clip>.npz (atomic). Returns the relative path."""
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **series)
    rel = f"frames/{clip}.npz"
    atomic_write_bytes(Path(run_dir) / rel, buf.getvalue())
    return rel


def read_frames(run_dir: str | os.PathLike, clip: str) -> dict[str, np.ndarray]:
    with np.load(Path(run_dir) / "frames" / f"{clip}.npz") as z:
        return {k: z[k] for k in z.files}


def find_summaries(root: str | os.PathLike) -> Iterable[Path]:
    """Every summary.json under a folder, in a stable order."""
    return sorted(Path(root).rglob("summary.json"))
