"""One process per run folder: an OS-level lock that dies with the process holding it.

A run folder is written by one process at a time. :class:`RunFolderLock` takes an exclusive ``flock`` on
``<run>/.lock`` without waiting; a second process gets :class:`FolderBusy` (a :class:`BadInput`: exit 2, one
line). The kernel drops the lock when its holder's descriptor closes, so a process that dies — even by
``kill -9`` — leaves the folder free; the file itself stays (removing it would let two processes lock two
different files of the same name). The descriptor is not inherited by child programs (Python's default), so
an external method's program cannot keep a folder locked after its parent is gone.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import BadInput

LOCK_NAME = ".lock"

try:
    import fcntl
except ImportError:  # not a POSIX system: runs are not protected against a second process
    fcntl = None  # type: ignore[assignment]


class FolderBusy(BadInput):
    """Another process holds the run folder."""


class RunFolderLock:
    """The exclusive hold of one run folder by this process (create the folder if needed)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.created = False  # the folder did not exist before acquire()
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunFolderLock:
        if self._fd is not None:
            return self
        self.created = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                os.close(fd)
                raise FolderBusy(f"run folder {self.folder} is in use by another process"
                                 + (f" (pid {holder})" if holder.isdigit() else "")
                                 + "; wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # who holds it, for the message above
        self._fd = fd
        return self

    def release(self, remove_if_created: bool = False) -> None:
        """Let the folder go; with ``remove_if_created``, also remove a folder that :meth:`acquire` made and
        that holds nothing else (a command rejected after taking its locks leaves no folder behind)."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        if remove_if_created and self.created and [p.name for p in self.folder.iterdir()] == [LOCK_NAME]:
            (self.folder / LOCK_NAME).unlink()
            self.folder.rmdir()
