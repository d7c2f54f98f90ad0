"""DataDirLock: one engine per data directory recovers the journal; others only share it.

Two lock files. ``engine.lock`` (exclusive, for the engine's life) makes one engine the one
that may recover. ``live.lock`` is held shared by every engine while it runs, so that the
one taking ``engine.lock`` can tell whether it is alone: an engine that started beside an
earlier holder runs tasks of its own, and those are unfinished in the journal without
being anyone's leftovers. Recovery is for an engine that is alone (it asks ``live.lock``
exclusively, then keeps it shared); a killed engine's locks go with its process.
"""

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
        self._live: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def take(self, *, warn: bool = True) -> bool:
        """True if this engine may recover the journal: it holds ``engine.lock`` and no
        other engine runs on the data directory. False when another does (a warning when
        ``warn``: an engine that would have recovered says why it did not)."""
        live = os.open(self.data_dir / "live.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fd = os.open(self.data_dir / "engine.lock", os.O_RDWR | os.O_CREAT, 0o600)
        alone, reason = False, ""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            reason = "another engine holds"
        else:
            self._fd = fd
            try:
                fcntl.flock(live, fcntl.LOCK_EX | fcntl.LOCK_NB)
                alone = True
            except BlockingIOError:
                reason = "other engines run on"
        # Shared from now on (from exclusive, a conversion): the next engine to start
        # while this one runs sees it. Only an engine holding engine.lock ever holds it
        # exclusively, and only for these few lines, so this never waits long.
        fcntl.flock(live, fcntl.LOCK_SH)
        self._live = live
        if not alone and warn:
            log.warning("%s %s; not recovering unfinished tasks (they may be its own)",
                        reason, self.data_dir)
        return alone

    def release(self) -> None:
        for fd in (self._fd, self._live):
            if fd is not None:
                os.close(fd)
        self._fd = self._live = None
