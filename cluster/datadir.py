"""One process per embedded data dir.

The embedded backends (the in-process bus, the SQLite file) are one process's own: a second
process on the same data dir would run a second EventSub session that fights the first over
subscriptions, and its events would never reach the first one's clients. An exclusive
`flock` on a file in the data dir refuses the second process at start; the kernel drops the
lock when the holder dies, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from cluster.errors import DataDirInUse

LOCK_FILE = "streamcore.lock"


class DataDirLock:
    """`acquire()` or raise DataDirInUse; `release()` when the process stops."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir.resolve() / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise DataDirInUse(
                f"{self.path.parent} is in use by {holder}: the embedded backends serve one "
                "process. Stop it, use another STREAMCORE_DATA_DIR, or set REDIS_URL and "
                "DATABASE_URL to run several replicas"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
