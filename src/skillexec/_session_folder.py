"""A session's folder as it is shown: the walk of what a script left in it, never following
a link, and what that walk yields to a caller — the listing of its regular files and its
usage (files, bytes, entries). The engine reads this folder, a script writes it: the walk
survives names that are not UTF-8, folders nested past Python's recursion limit, and
entries that vanish or cannot be read while it runs.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import Any

__all__ = ["listing", "regular", "shown", "tree", "usage"]


def listing(root: str) -> list[dict[str, Any]]:
    """The regular files under ``root`` (hidden ones too; no folder, no link):
    ``{path, size, mtime}``, by path."""
    out: list[dict[str, Any]] = []
    for rel, entry, folder in tree(root):
        if not folder and (st := regular(entry)) is not None:
            out.append({"path": shown(rel), "size": st.st_size, "mtime": st.st_mtime})
    return sorted(out, key=lambda f: str(f["path"]))


# The folders the engine gives each call in the workspace, its TMPDIR and its HOME's XDG
# folders (as the artifacts leave them out: see runners._script_files): none the user made.
_INTERNAL = frozenset({".tmp", ".cache", ".config", ".local"})


def usage(root: str) -> tuple[int, int, int, int]:
    """What ``root`` holds: (files, bytes, entries, made).

    ``files`` and ``bytes`` are what :func:`listing` lists (regular files, hidden ones
    too; never a folder nor a link): a count that took folders and links in said 5 files
    of a listing of 2. ``entries`` is what the ``max_files`` quota counts. ``made`` is
    what the user sees of it: ``entries`` but the engine's folders (``_INTERNAL``) and
    those beneath them; the files in them still count, as the listing shows them (a
    session of 3 files said "12 entries")."""
    files = size = entries = made = 0
    for rel, entry, folder in tree(root):
        entries += 1
        if not (folder and rel.split("/", 1)[0] in _INTERNAL):
            made += 1
        if not folder and (st := regular(entry)) is not None:
            files += 1
            size += st.st_size
    return files, size, entries, made


def tree(root: str) -> Iterator[tuple[str, os.DirEntry[str], bool]]:
    """Every entry under ``root``: its path relative to it, the entry, and whether it is a
    folder (a link is never followed). A stack, not recursion: a script may leave folders
    nested deeper than Python's recursion limit."""
    stack = [(root, "")]
    while stack:
        path, prefix = stack.pop()
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            try:
                folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                folder = False
            yield prefix + entry.name, entry, folder
            if folder:
                stack.append((entry.path, f"{prefix}{entry.name}/"))


def regular(entry: os.DirEntry[str]) -> os.stat_result | None:
    """The entry's own status when it is a regular file (a link is not followed)."""
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def shown(rel: str) -> str:
    """A path as it can be shown and sent as JSON: bytes that are not UTF-8 in a name a
    script made (``\\xff``) written out, not carried as lone surrogates (which no JSON
    encoder or UTF-8 terminal takes)."""
    try:
        rel.encode()
        return rel
    except UnicodeEncodeError:
        return os.fsencode(rel).decode("utf-8", "backslashreplace")
