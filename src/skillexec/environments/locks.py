"""Files under ``<data_dir>/envs`` that processes share: locked, and replaced whole."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["atomic_write", "file_lock"]


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
