"""Sessions' locks across processes (a CLI beside ``serve`` on one data dir): the lock
file ``<records>/<id>.lock`` that a call's turn holds while it uses the session; an
exclusive lock on the session's folder itself, which each call running in it holds, however
it came (``run_script``'s turn, a direct call of the script's id, a replay, another
process), and a removal too; and a lock on the records' folder, held around a count of the
open sessions and the record written after it. A call running or held by its turn, either
lock says so to any process's sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from skillexec.errors import ParameterError, ResourceError

__all__ = ["creating", "hold", "one_call", "removing", "running"]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_POLL_S = (0.005, 0.1)  # first and longest pause between tries of a busy session's lock


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


def running(records: Path, sid: str, folder: Path) -> bool:
    """Whether a call runs in the session now, of this process or another: its lock file
    or its folder is locked (a lock of another descriptor, even of this process, is seen)."""
    for path, flags in ((records / f"{sid}.lock", os.O_RDWR | os.O_CLOEXEC), (folder, _DIR)):
        try:
            fd = os.open(path, flags)
        except OSError:
            continue  # none: nothing holds it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
    return False


@contextlib.contextmanager
def removing(folder: Path) -> Iterator[bool]:
    """The session's folder locked for its removal: False (nothing to do now) while a call
    runs in it; True, and no call starts in it until it is gone (one that waited finds it
    gone: see :func:`one_call`)."""
    try:
        fd = os.open(folder, _DIR)
    except OSError:
        yield True  # gone already, or not a folder: the removal says what it is
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


async def one_call(folder: Path, *, sid: str, until: float) -> int:
    """Take the session's folder for one call; the descriptor returned holds it until it is
    closed. Calls of any process, made however, run in it one at a time (two at once each
    found the other's files as its artifacts, and the later one's hand-over of the folder
    to its uid took it from the running one). Waits, polling (a thread blocked in flock
    would hold one of the loop's workers), until the call's deadline ``until`` (epoch
    seconds): ``session_busy`` then; ``session_not_found`` if the folder went meanwhile."""
    try:
        fd = os.open(folder, _DIR)
    except OSError:
        raise _gone(sid) from None
    try:
        pause = _POLL_S[0]
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.time() + pause > until:
                    raise ResourceError(
                        f"session {sid!r} stayed in use by another call (of another process, "
                        "or not made through run_script) for all of this call's time",
                        code="session_busy", retryable=True, details={"session": sid}) from None
                await asyncio.sleep(pause)
                pause = min(pause * 2, _POLL_S[1])
        try:
            now = os.stat(folder, follow_symlinks=False)
        except OSError:
            now = None
        held = os.fstat(fd)
        if now is None or (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
            raise _gone(sid)  # removed while this call waited
    except BaseException:
        os.close(fd)
        raise
    return fd


def _gone(sid: str) -> ParameterError:
    return ParameterError(f"session {sid!r} is not open (it was closed while this call "
                          "waited for it, or its TTL passed)", code="session_not_found",
                          details={"session": sid})
