"""Host-wide unique uids for skills: one lock file per uid, held while the uid is in use.

Every runner of every engine on the host draws its skills' uids from the same range, so a
uid is taken by ``flock``-ing ``<lock_dir>/<uid>.lock`` (a root-only folder) and kept for as
long as the lease lives. The kernel drops the lock when its holder dies, so a crashed
engine's uids are free again at once, with nothing to clean up. Two runners in one engine
hold two open file descriptions, and ``flock`` keeps those apart too.
"""

from __future__ import annotations

import fcntl
import os
import stat

from skillexec.errors import ResourceError

__all__ = ["DEFAULT_LOCK_DIR", "UidLease", "lease_uid"]

DEFAULT_LOCK_DIR = "/run/skillexec/uids"


class UidLease:
    """A uid held for one skill; ``release`` (or the holder's death) frees it."""

    __slots__ = ("_fd", "uid")

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd = fd

    def release(self) -> None:
        # The file stays: unlinking it would race with a taker that has it open already.
        if self._fd >= 0:
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
        fd = os.open(f"{folder}/{uid}.lock",
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        return UidLease(uid, fd)
    raise ResourceError(
        f"all {count} skill uids from {base} are in use on this host (unprivileged_uid, "
        f"unprivileged_uid_count)", code="isolation_unavailable",
        details={"unprivileged_uid": base, "unprivileged_uid_count": count})
