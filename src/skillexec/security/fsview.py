"""The files a dropped uid can reach: the needed trees, without a capability.

The interpreter may live under a private home (``/root/.pyenv``, ``/root`` being 0700), and
so may the skills, the workspace or pytest's temporary folders. A uid that cannot search
such an ancestor cannot reach what lies beneath it, and ``CAP_DAC_READ_SEARCH`` — the easy
way round — would let it read every private file under every allowed tree as well.

Instead, before it drops root, the zygote takes a mount namespace of its own and, over each
outermost ancestor of a needed path that the uid cannot search, mounts an empty tmpfs with
just the needed paths bind-mounted back at the same places. Everything else under that
ancestor vanishes for the skill; beneath the needed paths file modes hold as usual, so a
0600 key in a 0710 folder stays private. It costs one ``unshare`` and a few mounts per
zygote, nothing per attempt.

The same view hides the engine's own folders (working directory, data directory...) where
a readable tree would expose them, binding back what the skill needs beneath them.

Without root (user namespaces) the interpreter is the user's own and readable: nothing to do.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Iterable

__all__ = ["FsViewError", "conceal_inside", "enter_view", "hidden", "private_ancestors",
           "reveal"]

_CLONE_NEWNS = 0x00020000
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_NOEXEC = 0x8
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)


class FsViewError(OSError):
    pass


# The folders this process's view covered (set once, by ``reveal`` in the zygote; its
# children inherit it): what lies under them, and was not revealed, is hidden.
_covered: list[str] = []
_revealed: list[str] = []


def hidden(path: str | bytes | None) -> bool:
    """Whether a path the process could not find is one this view hid (not one that does
    not exist): a skill's FileNotFoundError there is the sandbox's denial."""
    if not _covered or path is None:
        return False
    p = os.path.abspath(os.fsdecode(path))
    return any(_under(p, c) for c in _covered) and not any(_under(p, r) for r in _revealed)


def _under(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree + "/")


def _searchable(st: os.stat_result, uid: int, gid: int) -> bool:
    """Whether ``uid`` (with primary group ``gid`` and no other groups) may search it."""
    mode = st.st_mode
    if st.st_uid == uid:
        return bool(mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def private_ancestors(paths: Iterable[str], *, uid: int, gid: int) -> dict[str, list[str]]:
    """For each outermost folder that ``uid`` cannot search, the given paths beneath it.

    Paths that do not exist are left out (nothing to reveal). A path's own mode is not
    looked at: only the way to it is opened, never the path itself.
    """
    out: dict[str, list[str]] = {}
    for p in sorted({os.path.realpath(p) for p in paths}):
        if not os.path.lexists(p):
            continue
        parts = p.strip("/").split("/")
        for i in range(len(parts) - 1):
            anc = "/" + "/".join(parts[:i + 1])
            try:
                st = os.stat(anc)
            except OSError:
                break
            if not _searchable(st, uid, gid):
                out.setdefault(anc, []).append(p)
                break
    for anc, inner in out.items():  # a tree given whole covers what lies beneath it
        inner.sort()
        out[anc] = [p for i, p in enumerate(inner)
                    if not any(p.startswith(q + "/") for q in inner[:i])]
    return out


def _check(res: int, what: str) -> None:
    if res != 0:
        err = ctypes.get_errno()
        raise FsViewError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                       data.encode() if data else None),
           f"mount({source!r}, {target!r}, {fstype!r})")


def enter_view(paths: Iterable[str], *, uid: int | None, gid: int | None,
               conceal: Iterable[str] = (), keep: Iterable[str] = ()) -> tuple[str, ...]:
    """The zygote's step before it drops root to ``uid``: open the way to ``paths`` (see
    ``reveal``), then hide each of the engine's folders in ``conceal`` (its working
    directory, data directory...) that those paths would otherwise expose (see
    ``conceal_inside``; ``keep``: needed paths beneath ``paths``, which a concealed folder
    must not take along). Nothing to do without root (``uid`` None). Returns the folders
    covered.

    The working directory is the engine's, and workdirs may be given relative to it: it is
    entered again through the view, since the real folder may be one the uid cannot search
    (in the view it is a bare folder on the way to the workspace, or the same folder when
    nothing covered it). Landlock judges a file by where it is, not by the path used.
    """
    if uid is None or os.geteuid() != 0:
        return ()
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    wanted = [os.path.realpath(p) for p in paths]
    covered = reveal(wanted, uid=uid, gid=uid if gid is None else gid)
    covered += conceal_inside(conceal, [*wanted, *keep])
    if covered and cwd is not None:
        try:
            os.chdir(cwd)
        except OSError:
            pass  # hidden whole: a relative path from it now fails, as it should
    return covered


def reveal(paths: Iterable[str], *, uid: int, gid: int) -> tuple[str, ...]:
    """Make ``paths`` reachable for ``uid`` without a capability (see the module's doc).

    Needs root (before the drop). Returns the folders it covered, empty when every path
    was reachable already (then no namespace is made). Raises FsViewError: callers fail
    closed.
    """
    wanted = [os.path.realpath(p) for p in paths]
    todo = private_ancestors(wanted, uid=uid, gid=gid)
    covered: list[str] = []
    # A needed path under another one may have a private folder on the way from it: a
    # second round covers that one too. Each round covers folders the last did not.
    for _round in range(8):
        if not todo:
            return tuple(covered)
        for anc, inner in todo.items():
            _cover(anc, inner)
            covered.append(anc)
        todo = private_ancestors(wanted, uid=uid, gid=gid)
    raise FsViewError(f"could not open a way to {sorted(todo.values())} for uid {uid}")


def conceal_inside(folders: Iterable[str], needed: Iterable[str]) -> tuple[str, ...]:
    """Hide each of ``folders`` that lies inside a ``needed`` tree (the engine's data
    directory inside a skill's folder, its working directory under /usr...), keeping the
    needed paths beneath it (the workspace). A folder that is itself needed (the engine
    run from inside the skill's folder) is left alone. Needs root."""
    need = sorted({os.path.realpath(p) for p in needed})
    covered: list[str] = []
    for folder in sorted({os.path.realpath(f) for f in folders}, key=len):
        if not os.path.isdir(folder) or folder in need \
                or any(_under(folder, c) for c in covered) \
                or not any(_under(folder, n) for n in need):
            continue
        _cover(folder, [p for p in need if p != folder and _under(p, folder)
                        and not any(_under(p, q) and q != p for q in need
                                    if q != folder and _under(q, folder))])
        covered.append(folder)
    return tuple(covered)


_in_namespace = [False]


def _own_namespace() -> None:
    """A mount namespace of this process's own, made once, whose mounts stay in it."""
    if _in_namespace[0]:
        return
    _check(_libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    _in_namespace[0] = True


def _cover(anc: str, inner: list[str]) -> None:
    """An empty tmpfs over ``anc`` with ``inner`` bind-mounted back at the same paths."""
    _own_namespace()
    # Held open across the tmpfs mount: afterwards their paths lead into the tmpfs.
    held = [(p, os.open(p, os.O_PATH | os.O_CLOEXEC)) for p in inner]
    try:
        _mount("tmpfs", anc, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC,
               "mode=0711,size=64k,nr_inodes=4096")
        for p, fd in held:
            # Search only: the way through, not a listing of what was revealed.
            os.makedirs(os.path.dirname(p), mode=0o711, exist_ok=True)
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.mkdir(p, 0o755)
            else:
                os.close(os.open(p, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            _mount(f"/proc/self/fd/{fd}", p, None, _MS_BIND | _MS_REC)
    finally:
        for _p, fd in held:
            os.close(fd)
    _covered.append(anc)
    _revealed.extend(inner)
