"""``skillexec script``: a script's arguments against what its workspace holds.

The script runs in a workspace of its own, in a sandbox that sees little of this machine.
SKILL.md files say ``--scan-dir /path/to/repo``: with ``-f /path/to/repo`` sent as
``repo``, the argument still named the host path, which the sandbox hides, and a security
scanner walked nothing and said "CLEAN". An argument that names what ``-f`` sent, as the
user wrote it (absolute or relative), is passed as its path in the workspace instead, and
a note says so; one that names a path here the sandbox cannot see gets a note, success or
not.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping, Sequence

from skillexec.cli.safe_text import safe_line

__all__ = ["SYSTEM_SEEN", "hidden_paths", "to_workspace"]

# What a sandboxed script reads of this machine besides its workspace and its skill's
# folder (the sandbox's system paths, coarsely: a note is never given for these).
SYSTEM_SEEN = ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/dev", "/proc", "/sys")


def _value(arg: str) -> tuple[str, str]:
    """``arg`` as a prefix and a path: ``--input=/a/b`` is ``--input=`` and ``/a/b``; an
    option without ``=`` has no path."""
    if arg.startswith("-"):
        name, eq, value = arg.partition("=")
        return (name + eq, value) if eq else (arg, "")
    return "", arg


def _under(path: str, top: str) -> str | None:
    """``path``'s part below ``top`` ("" for ``top`` itself), or None if not within it."""
    if path == top:
        return ""
    return path[len(top):].lstrip("/") if path.startswith(top.rstrip("/") + "/") else None


def to_workspace(args: Sequence[str], *, sources: Mapping[str, str]
                 ) -> tuple[list[str], list[str]]:
    """``args`` with each one that names a ``-f`` source (``sources``: destination -> local
    path), or a path within a folder sent, replaced by its path in the workspace; and a
    note for each replaced."""
    out, notes = [], []
    tops = sorted(((os.path.abspath(local), dest) for dest, local in sources.items()),
                  key=lambda t: -len(t[0]))  # the deepest source first: -f repo -f repo/.git
    dests = [posixpath.normpath(d) for d in sources]
    for arg in args:
        prefix, value = _value(arg)
        rel = posixpath.normpath(value) if value else ""
        if value and not os.path.isabs(value) and any(
                _under(rel, d) is not None for d in dests if d != "."):
            value = ""  # it names the workspace's path already (-f .. sent as proj; proj)
        if value:
            here = os.path.abspath(value)
            for top, dest in tops:
                below = _under(here, top)
                if below is None:
                    continue
                there = posixpath.normpath(posixpath.join(dest, below)) if below else dest
                if there != posixpath.normpath(value):
                    notes.append(safe_line(
                        f"{value} is what -f {sources[dest]} sent, at {there} in the "
                        f"script's workspace: passed as {prefix}{there}"))
                    arg = prefix + there
                break
        out.append(arg)
    return out, notes


def hidden_paths(args: Sequence[str], *, seen: Sequence[str] | None) -> dict[str, str]:
    """The arguments (``--x=VALUE``'s value too) that name a path outside the current
    folder that exists here but the script cannot see, each with its note. ``seen``: the
    folders it sees of this machine (None: all of it, no sandbox)."""
    if seen is None:
        return {}
    hidden = {}
    for arg in args:
        value = _value(arg)[1]
        rel = posixpath.normpath(value) if value else ""
        if not value or not (os.path.isabs(value) or rel == ".." or rel.startswith("../")):
            continue  # a name here: the failure's note (_unsent_files) is for those
        try:
            if not os.path.exists(value):
                continue
        except (OSError, ValueError):
            continue
        real = os.path.realpath(value)
        if any(_under(real, top) is not None or _under(os.path.abspath(value), top)
               is not None for top in (*SYSTEM_SEEN, *seen)):
            continue
        name = os.path.basename(os.path.abspath(value)) or value
        hidden[arg] = safe_line(
            f"{value} is a path on this machine, which the script's sandbox does not see "
            f"(it sees its workspace, its skill's folder and system files): add -f {value} "
            f"(the argument is then passed as {name})")
    return hidden
