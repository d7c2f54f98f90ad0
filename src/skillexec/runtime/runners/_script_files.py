"""A script's files, engine side: what the call brings into its workspace, and what the
script made there, which becomes the call's artifacts; a session's folder held for the call.

The workspace is the script's to shape (a session's folder may hold what earlier calls
made: symlinks to anywhere, folders where a file is expected). Every path here is opened
one component at a time through directory descriptors with ``O_NOFOLLOW``: nothing is
ever written or read through a symlink, whoever runs the engine. Runs in a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import mimetypes
import os
import stat
from collections.abc import Awaitable, Callable, Mapping

from skillexec._session_locks import one_call
from skillexec.errors import ParameterError, ResourceError, SkillExecError
from skillexec.runtime.runners.base import Attempt, Outcome
from skillexec.task import ArtifactRef
from skillexec.workspace_files import WorkspaceFile, from_wire

__all__ = ["Snapshot", "collect", "in_session", "snapshot", "write_inputs"]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
Snapshot = dict[str, tuple[int, int, int]]  # workspace path -> (size, mtime_ns, inode)


async def in_session(attempt: Attempt, sid: str,
                     run: Callable[[Attempt], Awaitable[Outcome]]) -> Outcome:
    """``run(attempt)``, a call in session ``sid``, holding the session's folder from before
    the call's files are written until its artifacts are saved: one call at a time in it,
    however the call came (``run_script``'s turn, the script's id called directly, a
    replay) and of whichever process. Busy past the call's deadline, or closed meanwhile:
    the outcome is that error."""
    ctx = attempt.context
    try:
        held = await one_call(ctx.workdir, sid=sid, until=ctx.deadline)
    except SkillExecError as exc:
        return Outcome(error=exc.info)
    try:
        return await run(attempt)
    finally:
        os.close(held)


def _parent_fd(root: str, rel: str, *, make: bool, uid: int | None) -> tuple[int, str]:
    """A descriptor of ``rel``'s folder inside ``root`` (made with ``make``), and its name."""
    parts = rel.split("/")
    fd = os.open(root, _DIR)
    try:
        for part in parts[:-1]:
            if make:
                try:
                    os.mkdir(part, 0o700, dir_fd=fd)
                    if uid is not None:
                        os.chown(part, uid, uid, dir_fd=fd, follow_symlinks=False)
                except FileExistsError:
                    pass
            nfd = os.open(part, _DIR, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1]


def write_inputs(root: str, files: Mapping[str, object], *, uid: int | None) -> None:
    """Write the call's files (workspace path -> base64, or the object of
    ``skillexec.workspace_files``) into the workspace, as ``cp -a`` would: folders first,
    then files (their owner execute bit, their times), then links (so that no file is
    refused for a link sent on its way), then the folders' times (deepest first: writing in
    a folder sets its time)."""
    entries = {rel: from_wire(rel, value) for rel, value in files.items()}
    order = sorted(entries, key=lambda r: (0 if entries[r].folder else
                                          2 if entries[r].link is not None else 1, r))
    for rel in order:
        _write(root, rel, entries[rel], uid=uid)
    for rel in sorted((r for r in order if entries[r].folder and entries[r].mtime is not None),
                      key=lambda r: -r.count("/")):
        _at(root, rel, _timed(entries[rel].mtime))


def _timed(mtime: float | None) -> Callable[[int, str], None]:
    """What sets a name's time to ``mtime`` (None: leaves it), never through a link."""
    def act(fd: int, name: str) -> None:
        if mtime is not None:
            ns = round(mtime * 1_000_000_000)
            os.utime(name, ns=(ns, ns), dir_fd=fd, follow_symlinks=False)
    return act


def _write(root: str, rel: str, f: WorkspaceFile, *, uid: int | None) -> None:
    """One entry of ``write_inputs``: a folder made (with its parents), a link or a file
    put where whatever was there by that name is."""
    if f.folder:  # its own folder as a parent of a name in it: made like every parent
        _at(root, f"{rel}/.", lambda fd, name: None, uid=uid, shown=rel)
        return

    def put(fd: int, name: str) -> None:
        # Whatever is there by that name is replaced, never written through: a link, or
        # a hard link a script made to somebody else's file (possible where
        # fs.protected_hardlinks is off), which the engine would overwrite.
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.unlink(name, dir_fd=fd)
        if f.link is not None:
            os.symlink(f.link, name, dir_fd=fd)
            if uid is not None:
                os.chown(name, uid, uid, dir_fd=fd, follow_symlinks=False)
        else:
            _file(fd, name, f, uid=uid)
        _timed(f.mtime)(fd, name)

    _at(root, rel, put, uid=uid)


def _file(fd: int, name: str, f: WorkspaceFile, *, uid: int | None) -> None:
    # Only the owner's execute bit is ever the caller's to give: no setuid, no group.
    mode = 0o700 if f.executable else 0o600
    out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                  mode, dir_fd=fd)
    try:
        view = memoryview(f.content)
        while view:
            view = view[os.write(out, view):]
        os.fchmod(out, mode)  # as asked, whatever the engine's umask
        if uid is not None:
            os.fchown(out, uid, uid)
    finally:
        os.close(out)


def _at(root: str, rel: str, act: Callable[[int, str], object], *, uid: int | None = None,
        shown: str | None = None) -> None:
    """``act(folder's descriptor, name)`` for ``rel`` in ``root``, its folders made (with
    ``uid``: handed to it); an OSError becomes the error that names the path."""
    try:
        fd, name = _parent_fd(root, rel, make=True, uid=uid)
        try:
            act(fd, name)
        finally:
            os.close(fd)
    except OSError as exc:
        rel = shown or rel
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            # The machine's state, not the caller's file: retryable once space is freed.
            raise ResourceError(
                f"file {rel!r} could not be written into the workspace: the disk holding "
                f"{root} is {'full' if exc.errno == errno.ENOSPC else 'over its quota'}",
                code="disk_full", retryable=True, details={"path": root}) from None
        why = _in_the_way(root, f"{rel}/." if shown else rel) if exc.errno in (
            errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.EEXIST) else None
        raise ParameterError(f"file {rel!r} could not be written into the workspace: "
                             f"{why or exc.strerror}", code="file_not_written") from None


def _in_the_way(root: str, rel: str) -> str | None:
    """What stands where ``rel`` or one of its folders goes (a session's folder named as a
    file was "a link or a file is in the way"), said with how to get past it; None when
    nothing is, now. Only looks (``lstat``, never through a link): the words of a refusal."""
    parts = rel.split("/")
    for depth in range(1, len(parts) + 1):
        at = "/".join(parts[:depth])
        try:
            mode = os.lstat(os.path.join(root, at)).st_mode
        except OSError:
            return None
        last = depth == len(parts)
        if stat.S_ISLNK(mode):
            return f"{at!r} is a link there (a file is never written through one)"
        if last and stat.S_ISDIR(mode):
            return (f"{at!r} is a folder there: send the file under another name, or each "
                    f"file of a folder under its own path ({at}/NAME)")
        if not last and not stat.S_ISDIR(mode):
            return f"{at!r} is a file there, not a folder"
    return None


def snapshot(root: str, *, max_files: int, uid: int | None = None) -> Snapshot:
    """The regular files under ``root`` (at most ``max_files`` entries looked at). With
    ``uid``, on the same walk: ``root`` and everything under it handed to that uid (a
    session's folder, to the skill that uses it now; no link followed: ``lchown``).

    Only what the folder's last user owns is handed over: a hard link a script made to
    somebody else's file (where ``fs.protected_hardlinks`` is off) is never chowned.
    ``root`` is handed over last, once all under it is: a folder already ``uid``'s was
    handed to it whole by an earlier walk (a skill's processes make only files of their
    own uid, and the engine writes a call's files as the skill's), so the walk only
    looks, as calls of one skill in a row find."""
    hand: tuple[int, int] | None = None  # (from, to)
    if uid is not None:
        try:
            owner = os.stat(root, follow_symlinks=False).st_uid
            if owner != uid:
                hand = (owner, uid)
        except OSError:
            pass
    out: Snapshot = {}
    # Top down, each folder's subfolders in name order; a stack, not recursion: a script
    # may leave folders nested deeper than Python's recursion limit.
    stack = [(root, "")]
    seen = 0
    while stack:
        path, prefix = stack.pop()
        seen, subs = _folder(path, prefix, out, max_files, hand, seen)
        if seen < 0:
            break
        stack.extend(reversed(subs))
    if hand is not None:
        with contextlib.suppress(OSError):
            os.chown(root, hand[1], hand[1], follow_symlinks=False)
    return out


def _hand(entry: os.DirEntry[str], hand: tuple[int, int]) -> None:
    with contextlib.suppress(OSError):
        if entry.stat(follow_symlinks=False).st_uid == hand[0]:
            os.chown(entry.path, hand[1], hand[1], follow_symlinks=False)


def _folder(path: str, prefix: str, out: Snapshot, max_files: int,
            hand: tuple[int, int] | None, seen: int) -> tuple[int, list[tuple[str, str]]]:
    """One folder of ``snapshot``'s walk: its files noted (and with ``hand``, (from, to)
    uids, what ``from`` owns in it handed to ``to``). Returns the count of entries seen so
    far (-1 once past ``max_files`` without ``hand``: stop) and the subfolders to walk (a
    link to a folder is handed over and counted, never entered)."""
    try:
        with os.scandir(path) as it:
            entries = list(it)
    except OSError:
        return seen, []  # unreadable: skipped, as os.walk does
    dirs: list[os.DirEntry[str]] = []
    files: list[os.DirEntry[str]] = []
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        (dirs if is_dir else files).append(entry)
    dirs.sort(key=lambda e: e.name)
    if hand is not None:
        for entry in dirs:
            _hand(entry, hand)
    for entry in files:
        if hand is not None:
            _hand(entry, hand)
        seen += 1
        if seen > max_files:
            if hand is None:
                return -1, []
            continue  # past the quota: handed over still, not looked at
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            out[prefix + entry.name] = (st.st_size, st.st_mtime_ns, st.st_ino)
    subs = []
    for entry in dirs:
        with contextlib.suppress(OSError):
            if not entry.is_symlink():
                subs.append((entry.path, f"{prefix}{entry.name}/"))
    return seen + len(dirs), subs


# The XDG folders an attempt's HOME holds and its TMPDIR (see _child_request): what
# libraries keep there (matplotlib's font list, fontconfig's cache: 7 files a chart) and
# temporary files a script left (a failed one's tmpmq1kk6xr.svg) are not its output. Nor
# what package managers, build tools and model loaders keep in HOME itself, the
# workspace's top (an npx call left .npm/_cacache, _logs and _update-notifier-last-checked
# among its artifacts); the same names deeper down are a project's own.
_LIBRARY_DIRS = frozenset({
    ".cache", ".config", ".local", ".tmp",
    ".npm", ".yarn", ".pnpm-store", ".node-gyp", ".bun", ".deno",  # JavaScript
    ".gradle", ".m2", ".ivy2", ".sbt",  # JVM
    ".cargo", ".rustup", ".nuget", ".gem", ".cpan", ".cpanm", ".conda",
    ".keras", ".u2net", ".ipython", ".jupyter",  # model downloads, notebook state
})


def collect(root: str, before: Snapshot, *, max_files: int, max_bytes: int,
            save: Callable[[str, bytes, str | None], ArtifactRef]) -> None:
    """Save each file the script created or changed as an artifact (by path). The first
    quota passed raises (the attempt ends with it); a file over ``max_bytes`` too."""
    after = snapshot(root, max_files=max_files)
    try:
        owner = os.stat(root, follow_symlinks=False).st_uid
    except OSError:
        return
    for rel in sorted(after):
        if before.get(rel) == after[rel] or rel.split("/", 1)[0] in _LIBRARY_DIRS:
            continue
        data = _read(root, rel, max_bytes, owner)
        if data is None:
            continue  # gone, or replaced by a link meanwhile: nothing to keep
        save(rel, data, mimetypes.guess_type(rel)[0])


def _read(root: str, rel: str, max_bytes: int, owner: int) -> bytes | None:
    """A file's bytes, or None if it is not the script's to give: gone, not a regular
    file, or a hard link to a file the workspace's owner does not own (possible where
    fs.protected_hardlinks is off: the engine, maybe root, would read it for the caller)."""
    try:
        fd, name = _parent_fd(root, rel, make=False, uid=None)
    except OSError:
        return None
    try:
        try:
            f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                        dir_fd=fd)
        except OSError:
            return None
        try:
            st = os.fstat(f)
            if not stat.S_ISREG(st.st_mode) or (st.st_nlink > 1 and st.st_uid != owner):
                return None
            if st.st_size > max_bytes:
                raise ResourceError(
                    f"the script made {rel!r}, {st.st_size} bytes: over the cap of "
                    f"{max_bytes} bytes for one artifact", code="artifact_too_large",
                    details={"path": rel, "size": st.st_size, "cap": max_bytes})
            chunks, left = [], max_bytes + 1
            while left > 0 and (chunk := os.read(f, min(left, 1 << 20))):
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        finally:
            os.close(f)
    finally:
        os.close(fd)


