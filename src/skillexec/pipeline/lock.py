"""DataDirLock: one engine per data directory recovers the journal; others only share it."""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

__all__ = ["DataDirLock"]

log = logging.getLogger("skillexec.engine")


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def take(self) -> bool:
        """Take the lock if no other engine holds it; False (and a warning) if one does."""
        fd = os.open(self.data_dir / "engine.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            log.warning("another engine holds %s; not recovering its tasks", self.data_dir)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
