"""Where results go: checked before any work that the folder or file can be written there.

A run folder under a file, a read-only filesystem, a leaderboard ``--output`` that is a folder, a plot folder
that is a file: each is one :class:`~infvsr_bench.errors.BadInput` line naming the path and the operating
system's reason (exit 2), before anything is computed or created. Nothing is written to find out: the
nearest existing folder on the way is checked for type and write access (``os.access``; a read-only mount is
told apart from a permission by ``statvfs``). What can only fail while writing (a disk that fills) is left
to the writers, which go through a temporary file and a rename (:mod:`infvsr_bench.records`), so a failed
write leaves the previous file whole and no fragment behind.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import BadInput


def _refuse(what: str, path: Path, code: int, where: Path | None = None) -> BadInput:
    at = f" ({where})" if where is not None and where != path else ""
    return BadInput(f"cannot write {what} {path}: {os.strerror(code)}{at}")


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_folder_access(what: str, path: Path, folder: Path) -> None:
    """``folder`` (an existing folder on the way to ``path``) lets us create entries in it."""
    if os.access(folder, os.W_OK | os.X_OK):
        return
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    raise _refuse(what, path, errno.EROFS if read_only else errno.EACCES, folder)


def _check_creatable(what: str, path: Path, start: Path) -> None:
    """Entries can be created on the way from the nearest existing folder above ``start`` down to ``path``."""
    base = _nearest_existing(start.absolute())
    if not base.is_dir():  # e.g. --out some-file.txt/run
        raise _refuse(what, path, errno.ENOTDIR, base)
    _check_folder_access(what, path, base)


def check_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    """``path`` is a folder we can write in, or one we can create; BadInput naming the reason otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BadInput(f"cannot write {what} {path}: it exists and is not a folder")
    _check_creatable(what, path, path)
    return path


def check_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """``path`` is a regular file we can replace, or one we can create; BadInput naming the reason otherwise."""
    path = Path(path)
    if path.is_dir():
        raise _refuse(what, path, errno.EISDIR)
    if path.exists() and not path.is_file():  # a device, a pipe: never replaced by a rename
        raise BadInput(f"cannot write {what} {path}: it exists and is not a regular file")
    _check_creatable(what, path, path.absolute().parent)
    return path
