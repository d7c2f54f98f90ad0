"""``skillexec script -f``: what the command sends into the script's workspace.

A file or a folder arrives as ``cp -a`` would copy it within the workspace: each file with
its owner execute bit (a project's ``./helper.sh``, ``./gradlew``) and its modification time
(an inventory of a codebase reads the files' ages), every folder, empty ones too (a script
writes its report into the ``out/`` it expects), and a symbolic link whose target is in the
folder sent as that link. A link out of it is left out, and a note says so with the ``-f``
that sends what it leads to: a folder's links are the folder's (a cloned project's link to
``~/.ssh/id_rsa``), not its owner's choice of what a skill gets.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import stat
import sys
from pathlib import Path

from skillexec.cli import options as opt
from skillexec.cli.safe_text import safe_line
from skillexec.workspace_files import WorkspaceFile

__all__ = ["read_files"]

# What a project folder holds that its scripts never read: a repository, installed
# packages, caches (vercel-optimize scans a Next.js app; its node_modules is 200 MB).
_NOT_SENT = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__"})
# Left out without a note: a script never reads a compiled cache (Python makes it anew).
_NOT_NOTED = frozenset({"__pycache__"})
_MAX_FOLDER_FILES = 10_000
_NAMED = 5  # left-out entries a note names


def read_files(specs: list[str]) -> tuple[dict[str, WorkspaceFile], dict[str, str]]:
    """``--file PATH`` or ``--file DEST=PATH``: the files, and each destination given
    (normalised: ``.`` for the workspace's top) with the local PATH it was sent from.
    PATH alone is copied in at the same relative path when it is one under the current
    folder (``glyphs/upper``: the script's argument ``glyphs/upper`` then names it, as run
    from here; ``.`` or ``./``, this folder, at the workspace's top, as ``.=.``), else
    under its name."""
    files: dict[str, WorkspaceFile] = {}
    named: dict[str, str] = {}  # destination -> the --file that gave it
    notes: list[tuple[str, list[tuple[str | None, str]]]] = []  # a folder's -f, left out
    sources: dict[str, str] = {}  # destination -> the local path sent there
    for spec in specs:
        dest, sep, local = spec.partition("=")
        if not sep:
            rel = posixpath.normpath(spec)
            inside = not os.path.isabs(spec) and rel != ".." and not rel.startswith("../")
            # the name of what it names: ".." is the parent folder's ("/" has none)
            dest, local = (rel if inside else os.path.basename(os.path.abspath(spec))), spec
        if not dest or not local:
            opt.fail(f"--file {spec!r}: expected PATH or DEST=PATH" if sep or not spec else
                     f"--file {spec}: it has no name to send it under; give DEST={spec}")
        if (first := named.get(key := posixpath.normpath(dest))) is not None:
            # the later file replaced the earlier one, silently
            opt.fail(f"--file {spec}: {dest} is given twice (--file {first} first); name "
                     "another destination with DEST=PATH")
        named[key] = spec
        sources[key] = local
        try:
            if Path(local).is_dir():
                notes.append((spec, _folder(spec, local, key, files)))
            else:  # a link named itself is followed, as a plain run reads it
                files[key] = _file(local, os.stat(local))
        except OSError as exc:
            opt.fail(f"--file {spec}: {exc.filename or local} cannot be read: "
                     f"{exc.strerror or exc}")
    for spec, entries in notes:
        # what another -f sent (-f repo -f repo/.git) was not left out after all
        left = [why for where, why in entries if where is None or where not in named]
        if left:
            more = f" and {len(left) - _NAMED} more" if len(left) > _NAMED else ""
            sys.stderr.write(safe_line(f"note: -f {spec} left out "
                                       f"{', '.join(left[:_NAMED])}{more}") + "\n")
    return files, sources


def _file(path: str, st: os.stat_result) -> WorkspaceFile:
    return WorkspaceFile(content=Path(path).read_bytes(),
                         executable=bool(st.st_mode & stat.S_IXUSR), mtime=st.st_mtime)


def _folder(spec: str, top: str, dest: str,
            files: dict[str, WorkspaceFile]) -> list[tuple[str | None, str]]:
    """Add folder ``top`` to ``files`` as ``dest/relative path``: its folders, files and
    links. Returns what was left out, each with why (and for a folder of ``_NOT_SENT``,
    its path in the workspace, where another ``-f`` may have sent it)."""
    left: list[tuple[str | None, str]] = []
    real_top = os.path.realpath(top)

    def add(rel: str, entry: WorkspaceFile) -> None:
        if len(files) >= _MAX_FOLDER_FILES:
            opt.fail(f"--file {spec}: {top} holds more than {_MAX_FOLDER_FILES} files and "
                     "folders; send the ones the script needs")
        files[posixpath.normpath(f"{dest}/{rel}")] = entry

    def unread(exc: OSError) -> None:  # os.walk skipped a folder it could not list
        left.append((None, f"{os.path.relpath(str(exc.filename), top)} ({exc.strerror})"))

    if dest != ".":  # the folder itself (an empty one sent alone arrives too), its time
        add(".", WorkspaceFile(folder=True, mtime=os.stat(top).st_mtime))
    for here, dirs, names in os.walk(top, onerror=unread):
        kept = []
        for name in sorted(dirs + names):
            path = os.path.join(here, name)
            rel = os.path.relpath(path, top).replace(os.sep, "/")
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                entry = _link(path, rel, real_top, st, dest=dest)
                if isinstance(entry, str):
                    left.append((None, f"{rel} ({entry})"))
                else:
                    add(rel, entry)
            elif stat.S_ISDIR(st.st_mode):
                if name not in _NOT_SENT:
                    kept.append(name)
                    add(rel, WorkspaceFile(folder=True, mtime=st.st_mtime))
                elif name not in _NOT_NOTED:
                    # Said: a git script found "not a git repo", a Node one "typescript not
                    # installed", and nothing told the user the folder was not sent.
                    where = posixpath.normpath(f"{dest}/{rel}")
                    left.append((where, f"{rel} (send it with -f {_send(where, path)})"))
            elif stat.S_ISREG(st.st_mode):
                add(rel, _file(path, st))
            else:  # a FIFO, a socket, a device: nothing a workspace is given
                left.append((None, f"{rel} (not a file, a folder or a link)"))
        dirs[:] = kept
    return left


def _link(path: str, rel: str, real_top: str, st: os.stat_result, *,
          dest: str) -> WorkspaceFile | str:
    """The entry for the link at ``path`` (``rel`` in the folder sent to ``dest``), or why
    it is left out. A link into the folder stays a link: its own target where that reads
    inside the folder as written, else the path to where it leads, relative (an absolute
    target would lead out of the workspace). One out of it is never followed: the note
    gives the ``-f`` that sends what it leads to, from here."""
    target = os.readlink(path)
    real = os.path.realpath(path)
    written = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    if real == real_top or real.startswith(real_top.rstrip("/") + "/"):
        if os.path.isabs(target) or written == ".." or written.startswith("../"):
            target = os.path.relpath(real, os.path.dirname(os.path.join(real_top, rel)))
        return WorkspaceFile(link=target, mtime=st.st_mtime)
    if not os.path.exists(real):
        return f"a link to {target}, which is not there"
    # Never followed out of the folder: a project's link (to ~/.ssh/id_rsa, say) would
    # hand the file to a skill nobody meant to give it to.
    there = shlex.quote(f"{posixpath.normpath(f'{dest}/{rel}')}={os.path.relpath(real)}")
    return f"a link out of it, to {target}: send that with -f {there}"


def _send(dest: str, path: str) -> str:
    """The ``-f`` value that sends the local ``path`` to ``dest`` in the workspace, where a
    folder's ``-f`` left it out: PATH alone where it lands at that same path, else DEST=PATH."""
    return shlex.quote(dest if dest == posixpath.normpath(path) else f"{dest}={path}")
