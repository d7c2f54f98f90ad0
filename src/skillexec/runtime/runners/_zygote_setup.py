"""What a skill's zygote is given before it starts, beyond its spec (``_spec``): its
private HOME/TMPDIR/XDG folders, its user's name, its namespaces, its own rlimits and its
cgroup slot.

All of it applies before the skill's import (see ``_zygote``): module-level code is as
untrusted as a call.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import tempfile

from skillexec.runtime.limits import CgroupSlot
from skillexec.runtime.runners import _spec
from skillexec.runtime.runners._zygote_handle import ZygoteHandle
from skillexec.runtime.runners.settings import IsolationSettings
from skillexec.runtime.work_root import make_reachable
from skillexec.runtime.workspace import remove_tree
from skillexec.skills.model import EntryKind, Skill

__all__ = ["new_zygote", "sweep_stale", "user_name"]

_MB = 1024 * 1024
_PRIVATE_DIRS = ("tmp", ".cache", ".config", ".local")


def new_zygote(settings: IsolationSettings, skill: Skill, *, mech: dict[str, bool],
               uid: int | None, work_root: str | None, env: dict[str, str],
               slot: CgroupSlot | None) -> ZygoteHandle:
    """A zygote handle, not started yet; ``env`` is the zygote's base environment."""
    if work_root is not None:
        # Landlock rules need the folder to exist when the zygote confines itself.
        make_reachable(work_root)
    # HOME, TMPDIR and the XDG folders of the zygote (and of its import): inside its work
    # root, removed when it dies (see ZygoteHandle._on_death). The engine's pid in the name
    # lets a later engine remove those of one that was killed.
    private = tempfile.mkdtemp(prefix=f".zygote-{os.getpid()}-", dir=work_root)
    for d in _PRIVATE_DIRS:
        os.mkdir(f"{private}/{d}", 0o700)
    if uid is not None:
        for d in (private, *(f"{private}/{x}" for x in _PRIVATE_DIRS)):
            os.chown(d, uid, uid)
    start_env = dict(env, HOME=private, TMPDIR=f"{private}/tmp",
                     XDG_CACHE_HOME=f"{private}/.cache", XDG_CONFIG_HOME=f"{private}/.config",
                     XDG_DATA_HOME=f"{private}/.local")
    # getpass.getuser() (torch's caches, loggers) reads these first, then the passwd
    # entry, which a skill's own uid does not have: it raised KeyError without them.
    start_env["USER"] = start_env["LOGNAME"] = user_name(os.getuid() if uid is None else uid)
    if mech["netns"]:
        # No network: npm retries any failed fetch twice, 10 s then up to 60 s apart (npx
        # --no-install ran out a call's 60 s where it fails in 1 s); nothing to wait for.
        start_env["npm_config_fetch_retries"] = "0"
    spec = _spec.zygote_spec(settings, skill, mech, uid, work_root)
    spec["write_paths"] = [*spec["write_paths"], private]
    # Its attempts may write there too: what a library cached at import points there.
    spec["child_write_paths"] = [*spec["child_write_paths"], private]
    spec["userns"], spec["pidns"] = mech["userns"], mech["pidns"]
    spec["spare"] = settings.zygote_spare
    # A script parent's children may exec node or bash: room as for a command.
    command = skill.entry.kind in (EntryKind.COMMAND, EntryKind.SCRIPT)
    # What the import may take: the zygote's own memory plus the most an attempt may add on
    # top (its children inherit these as their ceilings).
    as_mb = settings.zygote_memory_mb + settings.max_memory_mb * (4 if command else 1) \
        + (1024 if command else 0)
    # Where memory cgroups bound it and its attempts, none for programs: node reserves
    # ~10 GB of address space for any WebAssembly memory (its fetch() compiles its HTTP
    # parser to one), and could make no request under a few GB.
    bounded = command and slot is not None and slot.memory_dir is not None
    spec["zygote_limits"] = {
        "address_space_bytes": None if bounded else as_mb * _MB,
        "file_size_bytes": settings.max_file_size_mb * _MB,
        # Counted per uid: a private one, or the user's uid inside its own namespace.
        "processes": settings.max_processes * 8 if uid is not None or mech["userns"] else None,
    }
    if slot is not None:
        # Room for the children it forks: each is born here, then moved to its own slot.
        slot.arm(memory_bytes=settings.zygote_memory_mb * _MB,
                 max_pids=settings.max_processes * 8)
        spec["cgroup_procs"] = [f"{d}/cgroup.procs" for d in (slot.pids_dir, slot.memory_dir)
                                if d is not None]
    zyg = ZygoteHandle(spec, env=start_env, private_dir=private)
    zyg.base_env = env
    return zyg


def user_name(uid: int) -> str:
    """The name a skill's scripts run under: the uid's own where it has one (the engine's
    user, without root), else ``skill`` (a skill's own uid, which no passwd entry names)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "skill"


def sweep_stale(work_root: str) -> None:
    """Remove the private folders that killed engines left in ``work_root``; a folder whose
    engine may still live is left alone."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(work_root):
            parts = entry.name.split("-")
            if len(parts) < 3 or parts[0] != ".zygote" or not parts[1].isdigit():
                continue
            pid = int(parts[1])
            if pid == os.getpid():
                continue
            try:
                os.kill(pid, 0)
                continue  # alive (or its pid reused): not ours to judge
            except ProcessLookupError:
                pass
            except OSError:
                continue
            with contextlib.suppress(OSError):
                remove_tree(entry.path)  # however deep a skill nested it
