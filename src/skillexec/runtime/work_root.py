"""Where calls' workspaces and sessions' folders live by default: outside the data directory.

The data directory defaults to ``./.skillexec``, inside whatever project the engine is run
from. A workspace beneath it had that project's files above it, and the tools a script runs
look upwards for their configuration and their repository: ruff and pytest found the
project's ``pyproject.toml`` (which the sandbox lets them see but not read, so they failed),
git found the project's ``.git``. So workspaces live in a folder of the user's own under
``/var/tmp`` (on disk, unlike a ``/tmp`` that may be memory), one per data directory, with
nothing above it but system folders: ``/var/tmp/skillexec-<uid>/<key of the data dir>``.

``/var/tmp`` is every user's: the user's folder is used only if it is a real folder this
user owns that no one else may write; otherwise (another user made it first) the engine
falls back to ``<data dir>/work``, as it always did, and says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["default_work_root", "make", "make_reachable"]

_log = logging.getLogger("skillexec.workspace")
_warned: set[str] = set()


def default_work_root(data_dir: Path, *, bases: Sequence[str] | None = None) -> Path:
    """The work root of ``data_dir`` when none is configured. The user's folder that holds
    it is made if it must be (mode 0711: a skill's own uid reaches its workspace, no one
    else lists what is there); the work root itself is the engine's to make (see
    ``make``), so that a command that runs nothing leaves nothing behind. ``bases``: where
    to look for the user's folder, in order (``/var/tmp``, then the temporary folder)."""
    data = os.path.realpath(data_dir)
    key = hashlib.sha256(data.encode(errors="surrogateescape")).hexdigest()[:16]
    refused: list[str] = []
    for base in bases if bases is not None else ("/var/tmp", tempfile.gettempdir()):
        if not os.path.isdir(base) or not os.access(base, os.W_OK | os.X_OK):
            continue
        mine = os.path.join(base, f"skillexec-{os.geteuid()}")
        why = _own_folder(mine)
        if why is None:
            found = Path(mine) / key
            break
        refused.append(f"{mine} is not a folder of this user's own ({why})")
    else:
        found = Path(data) / "work"
    for said in refused:
        if said not in _warned:
            _warned.add(said)
            _log.warning("%s: workspaces live in %s instead (set work_dir to choose)",
                         said, found)
    return found


def make(work_root: Path) -> None:
    """The default work root, made (0711, whatever the umask) once an engine uses it."""
    make_reachable(str(work_root))


def make_reachable(path: str) -> None:
    """``path`` and its missing parents made, each new one 0711 whatever the umask: what
    a skill's uid must pass through to reach its workspace or warm parent's folder. (Made
    with the umask, 0700 under ``umask 077``, every sandboxed call failed: its uid could
    not reach the folder its workspace is in.)"""
    missing: list[str] = []
    while path and not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
            os.chmod(folder, 0o711)  # noqa: S103 (traversal only)


def _own_folder(path: str) -> str | None:
    """None if ``path`` is (now) a real folder of ours that only we may write; else why not."""
    try:
        os.mkdir(path, 0o700)
        os.chmod(path, 0o711)  # noqa: S103 (whatever the umask; traversal only)
    except FileExistsError:
        pass
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        st = os.lstat(path)
    except OSError as exc:
        return exc.strerror or str(exc)
    if not stat.S_ISDIR(st.st_mode):
        return "not a folder"
    if st.st_uid != os.geteuid():
        return f"owned by uid {st.st_uid}"
    if st.st_mode & 0o022:
        return "others may write to it"
    return None
