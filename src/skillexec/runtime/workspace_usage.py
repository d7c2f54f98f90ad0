"""What a workspace holds, measured for its quotas (files, bytes) while the tree stays as it
is: a running attempt's workspace, or a session's folder after each call.

A skill controls the shape of its workspace: folders thousands of levels deep, symlinks to
anywhere, folders it made unreadable. The walk here is iterative (no recursion limit),
works through directory file descriptors (no path grows past PATH_MAX, no symlink is ever
followed) and holds one descriptor besides the top's at any depth. It runs in a worker
thread, never on the event loop.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from skillexec.errors import ErrorInfo, ResourceError

__all__ = ["DIR_FLAGS", "WorkspaceUsage", "measure_tree", "open_dir", "quota_error"]

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class WorkspaceUsage:
    files: int  # every entry: files, folders, links
    bytes: int  # allocated on disk (st_blocks), so sparse files count what they take
    complete: bool  # False: the walk stopped early, past a limit


def quota_error(usage: WorkspaceUsage, *, max_files: int, max_bytes: int) -> ErrorInfo | None:
    """The error of an attempt whose workspace holds more than the quotas allow, or None."""
    if usage.files > max_files:
        return ResourceError(
            f"the skill made more than {max_files} files in its workspace (the "
            "max_workspace_files quota)", code="workspace_quota_exceeded",
            details={"quota": "max_workspace_files", "limit": max_files,
                     "used": usage.files}).info
    if usage.bytes > max_bytes:
        return ResourceError(
            f"the skill wrote more than {max_bytes} bytes to its workspace (the "
            "max_workspace_bytes quota)", code="workspace_quota_exceeded",
            details={"quota": "max_workspace_bytes", "limit": max_bytes,
                     "used": usage.bytes}).info
    return None


def open_dir(name: str, parent_fd: int) -> int:
    """A folder in ``parent_fd`` opened (never through a link)."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except PermissionError:
        # A folder the skill made unreadable (chmod 0): its owner (or root) may open it up.
        os.chmod(name, 0o700, dir_fd=parent_fd, follow_symlinks=False)
        return os.open(name, DIR_FLAGS, dir_fd=parent_fd)


# A folder as the measure knows it: its name in its parent, its (device, inode), and the
# names of its subfolders not entered yet.
_Frame = tuple[str, tuple[int, int], list[str]]


def _ident(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _measured(root_fd: int) -> Iterator[os.stat_result]:
    """The stat of every entry under ``root_fd``, at any depth, the tree left as it is.

    A folder is entered by its name and left by its ``..``, one descriptor open besides
    ``root_fd``: no depth bound (a skill wrote 200 MiB at depth 60 that a bounded walk
    never counted, past a 2 MiB quota). A ``..`` that is not the folder the walk came from
    (the skill moved folders meanwhile) is found again from the top by its names.
    """
    frames: list[_Frame] = []
    fd, name, here = root_fd, "", _ident(os.fstat(root_fd))
    try:
        while True:
            subs: list[str] = []
            with os.scandir(fd) as it:
                for entry in it:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    yield st
                    if stat.S_ISDIR(st.st_mode):
                        subs.append(entry.name)
            frames.append((name, here, subs))
            while True:  # the next folder: one left in the deepest folder that has one
                while frames and not frames[-1][2]:
                    frames.pop()
                    if frames:
                        fd = _up(fd, root_fd, frames)
                if not frames:
                    return
                name = frames[-1][2].pop()
                try:
                    child = open_dir(name, fd)
                except OSError:
                    continue  # gone meanwhile, or a link or a file now: not entered
                break
            if fd != root_fd:
                os.close(fd)
            fd, here = child, _ident(os.fstat(child))
    finally:
        if fd != root_fd:
            os.close(fd)


def _up(fd: int, root_fd: int, frames: list[_Frame]) -> int:
    """From the folder ``fd`` (closed) to its parent, ``frames[-1]``."""
    if len(frames) == 1:
        os.close(fd)
        return root_fd
    try:
        parent = os.open("..", DIR_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)
    if _ident(os.fstat(parent)) == frames[-1][1]:
        return parent
    os.close(parent)
    return _refind(root_fd, frames)


def _refind(root_fd: int, frames: list[_Frame]) -> int:
    """The deepest of ``frames`` found again from the top by their names and identities;
    those below one that is gone (moved, removed) are dropped, their folders not walked."""
    fd = root_fd
    for depth in range(1, len(frames)):
        name, ident, _subs = frames[depth]
        try:
            child = os.open(name, DIR_FLAGS, dir_fd=fd)
        except OSError:
            child = -1
        if child >= 0 and _ident(os.fstat(child)) != ident:
            os.close(child)
            child = -1
        if child < 0:
            del frames[depth:]
            return fd
        if fd != root_fd:
            os.close(fd)
        fd = child
    return fd


def measure_tree(path: str, *, max_files: int, max_bytes: int) -> WorkspaceUsage:
    """What ``path`` holds, at any depth, stopping as soon as either limit is passed (the
    quotas' checks: while an attempt runs, and a session's folder after each call)."""
    try:
        root_fd = os.open(path, DIR_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return WorkspaceUsage(files=0, bytes=0, complete=True)
    files = used = 0
    try:
        for st in _measured(root_fd):
            files += 1
            used += st.st_blocks * 512
            if files > max_files or used > max_bytes:
                return WorkspaceUsage(files=files, bytes=used, complete=False)
    finally:
        os.close(root_fd)
    return WorkspaceUsage(files=files, bytes=used, complete=True)
