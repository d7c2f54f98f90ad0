"""What a skill's zygote is started with: its spec, environment and readable paths.

The spec travels to the zygote as JSON in its environment (see ``_zygote``); nothing in it
comes from the skill's input, only from its manifest and the engine's settings.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

from skillexec.runtime.runners.settings import IsolationSettings
from skillexec.skills.model import EntryKind, Permission, Skill

__all__ = ["argv", "child_env", "command_exe", "read_paths", "zygote_env", "zygote_spec"]

_SYSTEM_READ = ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc/ld.so.cache",
                "/etc/localtime", "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
                "/etc/host.conf", "/etc/gai.conf", "/etc/ssl", "/etc/ca-certificates",
                "/etc/pki", "/etc/mime.types", "/etc/passwd", "/etc/group",
                "/dev/urandom", "/dev/random", "/dev/zero")


def zygote_spec(settings: IsolationSettings, skill: Skill, mech: dict[str, bool],
                uid: int | None, work_root: str | None) -> dict[str, Any]:
    policy = settings.permission_policy
    perms = skill.permissions
    file_writes = [str(p) for p in policy.file_write_paths] \
        if Permission.FILE_WRITE in perms else []
    db_only = Permission.DATABASE_ACCESS in perms and Permission.NETWORK_ACCESS not in perms
    entry = skill.entry
    return {
        "skill": {"id": skill.id, "version": skill.version, "kind": entry.kind.value,
                  "file": str(entry.file) if entry.file else None, "attr": entry.attr,
                  "path": str(skill.path) if skill.path else None,
                  "default_config": skill.default_config},
        "landlock": mech["landlock"], "seccomp": mech["seccomp"],
        "allow_network": Permission.NETWORK_ACCESS in perms,
        "netns": mech["netns"], "uid": uid, "gid": uid,
        "read_paths": read_paths(settings, skill),
        "write_paths": ([work_root] if work_root else []) + file_writes,
        "child_write_paths": file_writes,
        "connect_ports": list(policy.database_ports) if db_only else [],
        "tcp_only": db_only,  # seccomp: IP sockets only for TCP, whose ports Landlock checks
    }


def read_paths(settings: IsolationSettings, skill: Skill) -> list[str]:
    perms = skill.permissions
    paths: list[str] = list(_SYSTEM_READ)
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
              os.path.dirname(os.path.realpath(sys.executable)),
              *sysconfig.get_paths().values(), *sys.path):
        if p and os.path.isabs(p) and os.path.exists(p):
            paths.append(os.path.realpath(p) if os.path.isdir(p) else p)
    paths += [p for p in settings.path_allowlist if os.path.isdir(p)]
    if skill.path is not None:
        paths.append(str(skill.path))
    if skill.entry.file is not None:
        paths.append(str(skill.entry.file.parent))
    exe = command_exe(settings, skill)
    if exe:
        paths.append(os.path.dirname(os.path.realpath(exe)))
    if Permission.SYSTEM_INFO in perms:
        paths += ["/proc", "/sys"]
    if Permission.FILE_READ in perms:
        paths += [str(p) for p in settings.permission_policy.file_read_paths]
    paths += [str(p) for p in settings.extra_read_paths]
    return _outermost(paths)


def _outermost(paths: list[str]) -> list[str]:
    """The paths resolved, without those beneath another one: a Landlock rule covers its
    whole subtree, and every rule costs a system call per attempt (each child's ruleset)."""
    real = sorted({os.path.realpath(p) for p in paths}, key=lambda p: (p.count("/"), p))
    kept: set[str] = set()
    for p in real:
        parent = os.path.dirname(p)
        while parent not in kept and parent != os.path.dirname(parent):
            parent = os.path.dirname(parent)
        if parent not in kept:
            kept.add(p)
    return sorted(kept)


def zygote_env(settings: IsolationSettings) -> dict[str, str]:
    env = {k: os.environ[k] for k in settings.env_allowlist if k in os.environ}
    env["PATH"] = ":".join(settings.path_allowlist)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def child_env(settings: IsolationSettings, workdir: Path) -> dict[str, str]:
    env = zygote_env(settings)
    env["HOME"] = env["TMPDIR"] = str(workdir)
    return env


def command_exe(settings: IsolationSettings, skill: Skill) -> str | None:
    if skill.entry.kind is not EntryKind.COMMAND or not skill.entry.command:
        return None
    prog = skill.entry.command[0]
    if "/" in prog:
        base = skill.path or Path.cwd()
        return str(prog if os.path.isabs(prog) else (base / prog).resolve())
    return shutil.which(prog, path=":".join(settings.path_allowlist))


def argv(skill: Skill) -> list[str]:
    args = list(skill.entry.command)
    for i, arg in enumerate(args[1:], start=1):
        if skill.path is not None and not os.path.isabs(arg) and (skill.path / arg).exists():
            args[i] = str((skill.path / arg).resolve())
    return args
