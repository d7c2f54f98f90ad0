"""A session's locks across processes (a CLI beside ``serve`` on one data dir): the lock
file ``<records>/<id>.lock`` that a call holds while it uses the session, which tells any
process's sweep that the session is in use.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["hold", "running"]


def hold(records: Path, sid: str) -> int:
    """A shared lock on the session's lock file, held (until the descriptor returned is
    closed) while a call uses it. The records' folder is there: the session's record was
    just read."""
    fd = os.open(records / f"{sid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def running(records: Path, sid: str) -> bool:
    """Whether a call runs in the session now, of this process or another: its lock file
    is locked (a lock of another descriptor, even of this process, is seen)."""
    try:
        fd = os.open(records / f"{sid}.lock", os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
