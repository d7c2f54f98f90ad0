"""An attempt's workspace on disk: removing it whatever a skill made, and empty ones kept.

A skill controls the shape of its workspace: a tree thousands of folders deep, hundreds of
thousands of files, symlinks to anywhere, folders it made unreadable or read-only. Both
walks here are iterative (no recursion limit), work through directory file descriptors (no
path grows past PATH_MAX, no symlink is ever followed) and keep a bounded number of
descriptors open: the removal moves a folder found deeper than ``_MAX_DEPTH`` up to the
workspace's top, so depth costs passes, not descriptors (the measure, which leaves the tree
as it is, is :mod:`skillexec.runtime.workspace_usage`'s). They run in a worker thread,
never on the event loop.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterator

from skillexec.runtime.workspace_usage import (
    DIR_FLAGS,
    WorkspaceUsage,
    measure_tree,
    open_dir,
    quota_error,
)

__all__ = ["TMP_DIR", "WorkspaceSpares", "WorkspaceUsage", "holds_nothing", "is_empty",
           "measure_tree", "quota_error", "remove_tree", "skill_slot"]

_MAX_DEPTH = 48
TMP_DIR = ".tmp"  # an attempt's TMPDIR, in its workspace (see runners._child_request)


def _opened_up(fd: int) -> None:
    with contextlib.suppress(OSError):  # not its owner: the unlink or rename says why
        os.fchmod(fd, 0o700)


def _writable(name: str, parent_fd: int) -> None:
    fd = open_dir(name, parent_fd)
    try:
        _opened_up(fd)
    finally:
        os.close(fd)


def _walk(root_fd: int) -> Iterator[os.stat_result | None]:
    """Delete everything under ``root_fd``, one pass.

    Yields the stat of each entry. A folder deeper than _MAX_DEPTH is moved to the top
    under a fresh name instead of being entered, and None is yielded for it: the caller
    repeats passes until a pass moves nothing.
    """
    stack: list[tuple[int, Iterator[os.DirEntry[str]], str]] = [(root_fd, os.scandir(root_fd),
                                                                  "")]
    try:
        while stack:
            fd, entries, name = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                with contextlib.suppress(AttributeError):
                    entries.close()  # type: ignore[attr-defined]
                if stack:
                    os.close(fd)
                    os.rmdir(name, dir_fd=stack[-1][0])
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            yield st
            if not stat.S_ISDIR(st.st_mode):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.name, dir_fd=fd)
                continue
            if len(stack) >= _MAX_DEPTH:
                if st.st_mode & 0o200 == 0:  # a folder moves only if writable (its '..')
                    _writable(entry.name, fd)
                os.rename(entry.name, f".deep-{secrets.token_hex(8)}", src_dir_fd=fd,
                          dst_dir_fd=root_fd)
                yield None
                continue
            child = open_dir(entry.name, fd)
            if st.st_mode & 0o700 != 0o700:
                # A folder the skill made read-only (0500) opens, but nothing in it can be
                # unlinked by its owner without root's CAP_DAC_OVERRIDE: opened up first.
                # Known from the entry's stat: no system call for an ordinary folder.
                _opened_up(child)
            stack.append((child, os.scandir(child), entry.name))
    finally:  # stopped early (an error): close what is open
        for fd, entries, _ in stack:
            with contextlib.suppress(OSError, AttributeError):
                entries.close()  # type: ignore[attr-defined]
            if fd != root_fd:
                with contextlib.suppress(OSError):
                    os.close(fd)


def remove_tree(path: str) -> WorkspaceUsage:
    """Delete ``path`` and everything under it; returns what it held (not counting itself).

    A symlink at ``path`` itself is removed, never followed. Missing is not an error.
    """
    try:
        root_fd = os.open(path, DIR_FLAGS)
    except FileNotFoundError:
        return WorkspaceUsage(files=0, bytes=0, complete=True)
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):  # a file or a symlink: not entered
            os.unlink(path)
            return WorkspaceUsage(files=1, bytes=0, complete=True)
        raise
    files = used = 0
    try:
        if os.fstat(root_fd).st_mode & 0o700 != 0o700:  # the workspace itself, likewise
            _opened_up(root_fd)
        while True:
            moved = 0
            for st in _walk(root_fd):
                if st is None:
                    moved += 1  # a deep folder went up: the next pass takes it
                    continue
                files += 1
                used += st.st_blocks * 512
            if not moved:
                break
    finally:
        os.close(root_fd)
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(path)
    return WorkspaceUsage(files=files, bytes=used, complete=True)


@functools.lru_cache(maxsize=4096)  # on every call's path: the id's folder, worked out once
def skill_slot(skill_id: str) -> str:
    """The folder of a skill's workdirs under the work root: its id when that is a safe
    name, else a safe form of it plus a hash (two ids never share a folder)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", skill_id)[:80]
    if safe != skill_id or safe.startswith("."):
        safe += "-" + hashlib.sha256(skill_id.encode()).hexdigest()[:12]
    return safe


# What a spare may carry besides nothing: the label a security module gives every file.
_LABELS = frozenset({"security.selinux", "security.SMACK64", "security.apparmor"})


class WorkspaceSpares:
    """Empty workspaces left by isolated attempts, kept for the next attempt of the same
    skill: a ``mkdir`` and an ``rmdir`` fewer on every call's path (ext4 journals both).

    A workspace is taken in (``put``) only once every process of its attempt is gone (the
    runner says so), and only if it is then, handed back to the engine's uid, a folder
    (not a symlink) of mode 0700 with nothing in it but its TMPDIR, handed back and checked
    the same way and empty, no extended attribute (an ACL the skill set) on either: from
    then on no skill uid can write in it. It is handed out (``take``) only if it is still
    that same folder (device and inode) and still so: what a later attempt gets is what
    ``mkdir`` and the child's own ``mkdir`` of its TMPDIR would have made, under another
    name (the runner hands both to the attempt's uid). Keyed by the skill's folder under
    the work root: a skill's spares go to its own attempts only.
    """

    __slots__ = ("_ids", "_per_folder", "_spares")

    def __init__(self, *, per_folder: int = 16) -> None:
        self._per_folder = per_folder
        self._spares: dict[str, list[tuple[str, int, int]]] = {}
        self._ids = (os.geteuid(), os.getegid())

    def take(self, folder: str) -> str | None:
        """A spare of ``folder`` (a skill's folder), or None: make one then."""
        spares = self._spares.get(folder)
        while spares:
            path, dev, ino = spares.pop()
            try:
                st = os.lstat(path)
                if (st.st_ino == ino and st.st_dev == dev and st.st_uid == self._ids[0]
                        and st.st_mode == stat.S_IFDIR | 0o700 and holds_nothing(path)
                        and _as_made(path, self._ids[0])):
                    return path
            except OSError:
                continue
        return None

    def put(self, path: str) -> bool:
        """Keep ``path`` as a spare of its folder if it is empty (see the class); False:
        it was not taken (remove it as any workspace)."""
        spares = self._spares.setdefault(path.rpartition("/")[0], [])
        if len(spares) >= self._per_folder:
            return False
        try:
            fd = os.open(path, DIR_FLAGS)
        except OSError:
            return False  # a symlink, gone, unreadable: removed as any workspace
        try:
            # The engine's first: whatever of the skill's uid still held it open can create
            # nothing in it past this point. Then it is checked.
            os.fchown(fd, *self._ids)
            st = os.fstat(fd)
            if (st.st_mode != stat.S_IFDIR | 0o700 or st.st_uid != self._ids[0]
                    or any(name not in _LABELS for name in os.listxattr(fd))
                    or not self._own_tmp(fd)):
                return False
        except OSError:
            return False
        finally:
            os.close(fd)
        # By its path (a scandir of a descriptor costs a dup and three fcntl): should it
        # have been swapped meanwhile, take() finds another inode and hands nothing out.
        if not holds_nothing(path):
            return False
        spares.append((path, st.st_dev, st.st_ino))
        return True

    def _own_tmp(self, fd: int) -> bool:
        """The workspace's TMPDIR (``fd``: the workspace, the engine's already) handed back
        to the engine's uid too, and checked as the workspace is: kept with it, it spares
        the child a ``mkdir`` and the engine an ``rmdir`` (another journal write each) on
        every call. True if there is none."""
        try:
            tmp = os.open(TMP_DIR, DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            return True
        except OSError:
            return False  # a symlink, a file: removed as any workspace
        try:
            os.fchown(tmp, *self._ids)
            st = os.fstat(tmp)
            return (st.st_mode == stat.S_IFDIR | 0o700 and st.st_uid == self._ids[0]
                    and all(name in _LABELS for name in os.listxattr(tmp)))
        finally:
            os.close(tmp)

    def drain(self) -> list[str]:
        """Every spare, forgotten (the caller removes them)."""
        out = [path for spares in self._spares.values() for path, _d, _i in spares]
        self._spares.clear()
        return out


def _as_made(path: str, uid: int) -> bool:
    """Whether a spare (checked a folder of mode 0700 that holds nothing) and its TMPDIR,
    if it has one, carry no attribute but a security label, the TMPDIR a folder of mode
    0700 owned by ``uid``."""
    if any(name not in _LABELS for name in os.listxattr(path, follow_symlinks=False)):
        return False
    tmp = f"{path}/{TMP_DIR}"
    try:
        st = os.lstat(tmp)
    except FileNotFoundError:
        return True
    return (st.st_mode == stat.S_IFDIR | 0o700 and st.st_uid == uid
            and all(name in _LABELS for name in os.listxattr(tmp, follow_symlinks=False)))


def is_empty(path: str) -> bool:
    """Whether ``path`` is a folder with nothing in it (False if it cannot be read)."""
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return False


def holds_nothing(path: str) -> bool:
    """Whether a workspace holds nothing the attempt made: nothing, or its TMPDIR alone,
    empty (a folder, not a link)."""
    try:
        with os.scandir(path) as it:
            first, second = next(it, None), next(it, None)
        if first is None:
            return True
        return (second is None and first.name == TMP_DIR
                and first.is_dir(follow_symlinks=False) and is_empty(first.path))
    except OSError:
        return False
