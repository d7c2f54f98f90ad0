"""Sessions' locks across processes (a CLI beside ``serve`` on one data dir): the lock
file ``<records>/<id>.lock`` that a call holds while it uses the session, which tells any
process's sweep that the session is in use, and a lock on the records' folder itself, held
around a count of the open sessions and the record written after it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["creating", "hold", "running"]


@contextlib.contextmanager
def creating(records: Path) -> Iterator[None]:
    """One count-and-create at a time, of any process: processes that created sessions at
    the same moment counted the same records, and each passed the limit on its count."""
    records.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The folder itself: a lock file of its own would stay behind, beside the records.
    fd = os.open(records, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for a count: short (acreate waits in a thread)
        yield
    finally:
        os.close(fd)


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
