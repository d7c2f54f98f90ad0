"""Files under ``<data_dir>/envs`` that processes share: locked, replaced whole, and an
error that says whose folder it is when this user may not write there.

The operator who ran ``sudo skillexec skills install`` made ``envs/`` root's, and a
service running as another user then failed with a bare ``OSError`` (no error code, a
stderr line instead of ``--json``'s document, an exception out of the Python API).
"""

from __future__ import annotations

import errno
import fcntl
import os
import pwd
from pathlib import Path

from skillexec.errors import DependencyError

__all__ = ["atomic_write", "file_lock", "folder_error"]

_NOT_WRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class file_lock:  # a context manager, named as one
    """An exclusive ``flock`` on ``path`` (made if need be): per process and per open,
    so two threads of one process exclude each other too."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def folder_error(exc: OSError, root: Path) -> DependencyError:
    """``exc``, met under ``root``, as the error a caller can act on: a folder this user
    may not write (``environments_not_writable``), a full disk (transient), or another
    failure of the file system, each naming the folder."""
    where = exc.filename or root
    if exc.errno in _NOT_WRITABLE:
        uid = os.geteuid()
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = str(uid)
        return DependencyError(
            f"the environments folder {root} is not writable by user {user!r} (uid {uid}): "
            f"{exc.strerror or exc} ({where}); give the folder to this user, or install "
            "as the user it belongs to (skillexec skills install)",
            code="environments_not_writable",
            details={"folder": str(root), "user": user, "uid": uid, "path": str(where)})
    if exc.errno == errno.ENOSPC:
        return DependencyError(f"the disk is full: {exc.strerror or exc} ({where})",
                               code="install_failed", retryable=True,
                               details={"folder": str(root), "transient": True})
    return DependencyError(f"the environments folder {root}: {exc.strerror or exc} ({where})",
                           code="install_failed", details={"folder": str(root)})
