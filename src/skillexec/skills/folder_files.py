"""Reading a file of a skill's folder in the engine's own process, bounded.

A skill folder is someone else's (a clone, an archive): a name the engine reads for itself
(``package.json``, ``requirements.txt``, a Python file parsed for its entry) may be a FIFO,
whose ``open`` blocks until a writer comes (forever: the engine's loop, or a CLI that then
ignores SIGTERM), or a sparse file of terabytes, read whole into memory. Opened without
blocking, checked to be a regular file, read up to a cap.
"""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

__all__ = ["MAX_PARSED_BYTES", "FolderFileTooLarge", "python_tree", "read_folder_file"]

# A Python file the engine parses (never runs) to see what it defines: past this size its
# syntax tree alone could take gigabytes of the engine's memory; real entries are far smaller.
MAX_PARSED_BYTES = 2 << 20


class FolderFileTooLarge(ValueError):
    def __init__(self, path: Path, size: int, cap: int) -> None:
        super().__init__(f"{path}: {size} bytes, over the limit of {cap} bytes")
        self.path = path
        self.size = size
        self.cap = cap


def read_folder_file(path: Path, *, max_bytes: int) -> bytes | None:
    """``path``'s bytes; None when it is not a regular file (missing, a folder, a FIFO, a
    device, a socket: never read). FolderFileTooLarge past ``max_bytes``."""
    try:
        # O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size > max_bytes:
            raise FolderFileTooLarge(path, st.st_size, max_bytes)
        chunks, left = [], max_bytes + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:  # grew since fstat
            raise FolderFileTooLarge(path, len(data), max_bytes)
        return data
    finally:
        os.close(fd)


def python_tree(path: Path) -> ast.Module | None:
    """``path`` parsed (never run); None when that cannot be known here: not a regular
    file, past MAX_PARSED_BYTES, or not Python this interpreter reads (the skill's own
    confined import then says what is wrong), or unreadable."""
    try:
        data = read_folder_file(path, max_bytes=MAX_PARSED_BYTES)
        if data is None:
            return None
        return ast.parse(data, filename=str(path))
    except (SyntaxError, ValueError, RecursionError, MemoryError, OSError):
        return None
