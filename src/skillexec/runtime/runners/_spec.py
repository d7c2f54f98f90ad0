"""What a skill's zygote is started with: its spec, environment and readable paths.

The spec travels to the zygote as JSON in its environment (see ``_zygote``); nothing in it
comes from the skill's input, only from its manifest and the engine's settings.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import site
import sys
import sysconfig
from pathlib import Path
from typing import Any

from skillexec.runtime.runners._child_script import MAX_COMPILED
from skillexec.runtime.runners.settings import IsolationSettings
from skillexec.runtime.work_root import make_reachable
from skillexec.scripts import preload_modules
from skillexec.skills.bundle import python_files
from skillexec.skills.model import EntryKind, Permission, Skill

__all__ = ["argv", "command_exe", "needed_paths", "python_paths", "read_paths",
           "zygote_env", "zygote_spec"]

_SYSTEM_READ = ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc/ld.so.cache",
                "/etc/localtime", "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
                "/etc/host.conf", "/etc/gai.conf", "/etc/ssl", "/etc/ca-certificates",
                "/etc/pki", "/etc/mime.types", "/etc/passwd", "/etc/group", "/etc/fonts",
                "/etc/timezone", "/etc/magic", "/etc/magic.mime",  # (file(1) warns without)
                # Programs' own settings, which they cannot start without (LibreOffice's
                # registry is a link there; ImageMagick's policy.xml).
                "/etc/libreoffice", "/etc/ImageMagick-6", "/etc/ImageMagick-7",
                "/dev/urandom", "/dev/random", "/dev/zero")


def zygote_spec(settings: IsolationSettings, skill: Skill, mech: dict[str, bool],
                uid: int | None, work_root: str | None) -> dict[str, Any]:
    policy = settings.permission_policy
    perms = skill.permissions
    file_writes = [str(p) for p in policy.file_write_paths] \
        if Permission.FILE_WRITE in perms else []
    db_only = Permission.DATABASE_ACCESS in perms and Permission.NETWORK_ACCESS not in perms
    entry = skill.entry
    needed = needed_paths(settings, skill)
    script = entry.kind is EntryKind.SCRIPT
    sessions = [str(settings.work_root / ".sessions")] if script and settings.work_root else []
    for path in sessions:
        make_reachable(path)  # Landlock names only what exists
    # What a script parent pre-imports and compiles (found here: the walk that bounds it
    # is not imported into a zygote).
    preload, compiled = _script_parent(str(skill.path), skill.env_paths) \
        if script and skill.path else ((), ())
    if not settings.zygote_preload:
        preload = ()
    return {
        "skill": {"id": skill.id, "version": skill.version, "kind": entry.kind.value,
                  "file": None if script or not entry.file else str(entry.file),
                  "attr": entry.attr, "path": str(skill.path) if skill.path else None,
                  # Claude Code's names for them, which plugins' scripts read: only a folder
                  # the skill may read (see needed_paths).
                  "plugin_root": str(skill.plugin_root) if skill.plugin_root is not None
                  and str(skill.plugin_root) in needed else None,
                  "default_config": skill.default_config,
                  "env_paths": list(skill.env_paths),
                  "preload": list(preload), "compile": list(compiled)},
        "landlock": mech["landlock"], "seccomp": mech["seccomp"],
        "allow_network": Permission.NETWORK_ACCESS in perms,
        "netns": mech["netns"], "uid": uid, "gid": uid,
        "read_paths": _outermost(needed),
        # A script parent's children may work in a session's folder (each child's own
        # Landlock layer narrows this to its workspace alone).
        "write_paths": ([work_root] if work_root else []) + sessions + file_writes,
        "child_write_paths": file_writes,
        "connect_ports": list(policy.database_ports) if db_only else [],
        "tcp_only": db_only,  # seccomp: IP sockets only for TCP, whose ports Landlock checks
        # The engine's folders, hidden from the skill where a read path would expose them,
        # and what to keep of them (see fsview.conceal_inside).
        "conceal": _engine_private_dirs(settings),
        "keep": needed,
    }


def read_paths(settings: IsolationSettings, skill: Skill) -> list[str]:
    """What a sandboxed skill may read: the interpreter and its libraries, the skill's own
    folder, its command, what the policy and operator add — never the engine's working
    directory, the folder of the script that embeds it, or its data directory (journal,
    artifacts, configuration), even when those are on the engine's ``sys.path``.
    The outermost of ``needed_paths``: a Landlock rule covers its whole subtree."""
    return _outermost(needed_paths(settings, skill))


def needed_paths(settings: IsolationSettings, skill: Skill) -> list[str]:
    """``read_paths`` before the nested ones are dropped: where the zygote hides one of the
    engine's folders, the paths beneath it that the skill needs (a virtualenv inside the
    engine's working directory) are bound back, and so must all be known."""
    perms = skill.permissions
    forbidden = _engine_private_dirs(settings)
    # Ambient trees (the interpreter's, PATH): dropped if they would expose the engine.
    ambient = [p for p in (*python_paths(), *settings.path_allowlist)
               if not any(_contains(p, f) for f in forbidden)]
    paths: list[str] = [*_SYSTEM_READ, *ambient]
    if skill.path is not None:
        paths.append(str(skill.path))
    # Read only, as its own folder: what Claude Code ships. Not where the plugin's folder
    # is or holds one of the engine's (skillexec run from a cloned plugin's top or inside
    # it, a data dir in it: its skillexec.toml, a key file, a .env): that would open them;
    # the skill's own folder stays open.
    if skill.plugin_root is not None and not any(
            _contains(os.path.realpath(skill.plugin_root), f) for f in forbidden):
        paths.append(str(skill.plugin_root))
    if skill.entry.file is not None:
        paths.append(str(skill.entry.file.parent))
    # Its environment's packages: read only (the write set is the workspace alone), and
    # bound back where they lie inside the engine's concealed data directory.
    paths += skill.env_paths
    exes = [command_exe(settings, skill)]
    if skill.entry.kind is EntryKind.SCRIPT:
        exes += [shutil.which(p, path=":".join(settings.path_allowlist))
                 for p in ("node", "bash")]
    for exe in exes:
        if exe:
            # The program itself, not its folder (which may be the engine's or anyone's).
            paths.append(os.path.realpath(exe))
    if Permission.SYSTEM_INFO in perms:
        paths += ["/proc", "/sys"]
    if Permission.FILE_READ in perms:
        paths += [str(p) for p in settings.permission_policy.file_read_paths]
    paths += [str(p) for p in settings.extra_read_paths]
    return sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})


@functools.lru_cache(maxsize=256)
def _script_parent(folder: str, env_paths: tuple[str, ...],
                   ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What a skill's script parent pre-imports and the scripts it compiles (its folder
    walked once per folder and environment)."""
    files, folders = python_files(Path(folder))
    return (preload_modules(files, folders, env_paths),
            tuple(str(p) for p in files[:MAX_COMPILED]))


def python_paths() -> list[str]:
    """The interpreter's own trees and its libraries' folders, as the zygote and its skill
    import from them: the prefixes, the install scheme's folders, site-packages and what
    their ``.pth`` files add, ``PYTHONPATH``, and skillexec's own package folder (the
    zygote imports it lazily). Not ``sys.path`` as a whole: it starts with the embedding
    script's folder (or the working directory), and pytest puts its rootdir there."""
    found: list[str] = [sys.prefix, sys.base_prefix, sys.exec_prefix,
                        os.path.dirname(os.path.realpath(sys.executable)),
                        *sysconfig.get_paths().values()]
    sites = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        sites.append(site.getusersitepackages())
    for sitedir in sites:
        found.append(sitedir)
        found += _pth_entries(sitedir)
    found += os.environ.get("PYTHONPATH", "").split(os.pathsep)
    for mod in ("skillexec", "orjson"):
        spec = importlib.util.find_spec(mod)
        if spec is not None and spec.origin:
            found.append(os.path.dirname(spec.origin))
    return [p for p in found if p and os.path.isabs(p) and os.path.exists(p)]


def _pth_entries(sitedir: str) -> list[str]:
    """The folders a site directory's ``.pth`` files add to ``sys.path`` (as ``site`` reads
    them: a line is a path relative to the site directory, unless it is an import)."""
    out: list[str] = []
    try:
        names = sorted(n for n in os.listdir(sitedir) if n.endswith(".pth"))
    except OSError:
        return out
    for name in names:
        try:
            with open(os.path.join(sitedir, name), encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeError):
            continue
        for line in lines:
            line = line.rstrip()
            if line and not line.startswith(("#", "import ", "import\t")):
                out.append(os.path.join(sitedir, line))
    return out


def _engine_private_dirs(settings: IsolationSettings) -> list[str]:
    """Folders no ambient read rule may cover: the working directory, the embedding
    script's folder, the data directory and the configuration's."""
    dirs = [os.getcwd()]
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    # ``python -m skillexec``: __main__ is skillexec's own (in its package folder, which the
    # zygote must read), not an embedding script; with the source outside the interpreter's
    # prefix (an editable install) that folder was hidden and a skill's error crashed its
    # child (its report imports from there).
    spec = getattr(main, "__spec__", None)
    if main_file and getattr(spec, "name", None) != "skillexec.__main__":
        script_dir = os.path.dirname(os.path.realpath(main_file))
        prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
        # An installed entry point (the skillexec CLI, pytest) is the interpreter's own.
        if not any(_contains(p, script_dir) for p in prefixes):
            dirs.append(script_dir)
    # (Given without a data dir, as a runner's own tests do: the work root's parent, where
    # the work root used to live.)
    data_dir = settings.data_dir or (settings.work_root.parent if settings.work_root else None)
    if data_dir is not None:
        dirs.append(str(data_dir))
    config = os.environ.get("SKILLEXEC_CONFIG")
    if config:
        dirs.append(os.path.dirname(os.path.abspath(config)))
    return [os.path.realpath(d) for d in dirs]


def _contains(tree: str, path: str) -> bool:
    tree = os.path.realpath(tree)
    return path == tree or path.startswith(tree.rstrip("/") + "/")


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


def zygote_env(settings: IsolationSettings, *, confined_reads: bool = False,
               ) -> dict[str, str]:
    """``confined_reads``: the skill reads only what ``read_paths`` opens (Landlock)."""
    env = {k: os.environ[k] for k in settings.env_allowlist if k in os.environ}
    env["PATH"] = ":".join(settings.path_allowlist)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if confined_reads:
        # git stops ("unknown error occurred while reading the configuration files") on a
        # system configuration it may not read, where a missing one is nothing: the
        # machine's (a credential helper, an extraHeader with a token) stays closed, and
        # git runs as on a machine without one.
        env["GIT_CONFIG_NOSYSTEM"] = "1"
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
