"""Host-wide unique uids for skills: one lock file per uid, held while the uid is in use.

Every runner of every engine on the host draws its skills' uids from the same range, so a
uid is taken by ``flock``-ing ``<lock_dir>/<uid>.lock`` (a root-only folder) and kept for as
long as the lease lives. The kernel drops the lock when its holder dies, so a crashed
engine's uids are free again at once; a released lease removes its file. Two runners in one
engine hold two open file descriptions, and ``flock`` keeps those apart too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat

from skillexec.errors import ResourceError

__all__ = ["DEFAULT_LOCK_DIR", "UidLease", "lease_uid"]

DEFAULT_LOCK_DIR = "/run/skillexec/uids"


class UidLease:
    """A uid held for one skill; ``release`` (or the holder's death) frees it."""

    __slots__ = ("_fd", "_path", "uid")

    def __init__(self, uid: int, fd: int, path: str) -> None:
        self.uid = uid
        self._fd = fd
        self._path = path

    def release(self) -> None:
        if self._fd >= 0:
            # Unlinked while still locked: a taker that opened it meanwhile sees, once it
            # has the lock, that the path no longer names its file, and tries again.
            with contextlib.suppress(OSError):
                os.unlink(self._path)
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.release()


def _lock_dir(path: str) -> str:
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    # Root-only, or anyone could hold a uid hostage (or read which are in use).
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise ResourceError(f"the uid lock folder {path} is not a folder owned by this user",
                            code="isolation_unavailable")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def lease_uid(base: int, count: int, *, lock_dir: str = DEFAULT_LOCK_DIR) -> UidLease:
    """The first uid in ``[base, base + count)`` no other holder on this host has."""
    folder = _lock_dir(lock_dir)
    for uid in range(base, base + count):
        lease = _try_lock(uid, f"{folder}/{uid}.lock")
        if lease is not None:
            return lease
    raise ResourceError(
        f"all {count} skill uids from {base} are in use on this host (unprivileged_uid, "
        f"unprivileged_uid_count)", code="isolation_unavailable",
        details={"unprivileged_uid": base, "unprivileged_uid_count": count})


def _try_lock(uid: int, path: str) -> UidLease | None:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = os.fstat(fd)
            try:
                now = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                now = None
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            return UidLease(uid, fd, path)
        os.close(fd)  # released (and unlinked) while we waited: take the new file
