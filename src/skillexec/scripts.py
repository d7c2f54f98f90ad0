"""Bundled scripts as skills of their own kind (DESIGN §3.5).

A call of a skill's script (``pdf`` + ``scripts/fill.py``) runs as a task of a derived
skill, ``pdf:scripts/fill.py``: the skill's folder, permissions, limits and environment,
an entry of kind ``script`` and a parameters schema of argv, stdin, files and session. The
derived id is what the journal keeps, so a resumed task finds its script again (the
registry derives it on demand), and reports count each script apart.

The script path is relative to the skill's folder; anything that resolves outside it
(``..``, a symlink, an absolute path) is refused before anything runs. Python scripts run
in a forked child of the skill's warm script parent, which pre-imports what the skill's
scripts import at top level (read with ``ast``: the scripts are never run there).
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import importlib.machinery
import importlib.util
import os
import shlex
import stat
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from skillexec.errors import ParameterError
from skillexec.script_env import checked_env
from skillexec.skills.bundle import shebang_runner
from skillexec.skills.folder_files import read_folder_file
from skillexec.skills.manifest import MANIFEST_NAMES
from skillexec.skills.model import Entry, EntryKind, Isolation, Skill
from skillexec.workspace_files import FILE_SCHEMA, WorkspaceFile, to_wire

__all__ = ["INTERPRETERS", "MAX_ARGS", "MAX_ARG_CHARS", "SEPARATOR", "ScriptCatalog", "base_id",
           "interpreter", "preload_modules", "script_params", "workspace_path"]

SEPARATOR = ":"
# A script's arguments, alike from Python, the CLI, HTTP and MCP: one is at most what an
# execve takes (Linux's MAX_ARG_STRLEN; a node or bash script could not start past it).
MAX_ARG_CHARS, MAX_ARGS = 131_072, 4096
# A script's suffix -> what runs it ("python": the warm parent; others: a command).
INTERPRETERS: Mapping[str, str] = {".py": "python", ".js": "node", ".mjs": "node",
                                   ".cjs": "node", ".sh": "bash"}
_MAX_SCANNED = 200  # scripts read for their imports per skill
# Past this a script is not read for its imports (read whole by the engine, a sparse
# file of a terabyte failed every call of its skill); as skills check reads them.
_MAX_SCANNED_BYTES = 2 << 20
_NOT_PRELOADED = frozenset({"__future__", "__main__", "antigravity", "this"})

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "args": {"type": "array", "maxItems": MAX_ARGS,
                 "items": {"type": "string", "maxLength": MAX_ARG_CHARS}},
        "stdin": {"type": ["string", "null"], "description": "base64"},
        "files": {"type": "object", "additionalProperties": FILE_SCHEMA,
                  "description": "workspace path -> base64 content (see workspace_files)"},
        "session": {"type": ["string", "null"]},
        "env": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "environment variables (see skillexec.script_env)"},
    },
    "additionalProperties": False,
}


def interpreter(script: str | Path) -> str:
    """What runs ``script``: "python", "node" or "bash" (by its suffix, or where it has
    none by its ``#!`` line); KeyError for a script skillexec does not run."""
    suffix = os.path.splitext(script)[1].lower()
    runner = INTERPRETERS.get(suffix) or (shebang_runner(script) if not suffix else None)
    if runner is None:
        raise KeyError(str(script))
    return runner


def base_id(skill: Skill) -> str:
    """The id of the skill a derived script skill belongs to."""
    attr = skill.entry.attr or ""
    return skill.id[:-len(attr) - 1] if skill.entry.kind is EntryKind.SCRIPT else skill.id


def resolve_script(skill: Skill, script: str, *, folder: str | None = None,
                   scope: str | None = None) -> tuple[str, Path]:
    """The script's path relative to the skill's folder (normalised) and its real path;
    ``ParameterError`` when it is not a script inside the folder, or for a plugin's skill,
    inside the plugin's folder (``../../scripts/x.js``). ``folder`` and ``scope``: their
    real paths when the caller knows them already (each component of a path costs a system
    call to resolve; the script's own path is resolved on every call all the same)."""
    if folder is None:
        folder = os.path.realpath(_folder_of(skill))
    if scope is None:
        scope = scope_of(skill, folder)
    rel = _relative(skill, script)
    joined = os.path.join(folder, rel)
    found = _opened_path(joined)
    real = found[0] if found is not None else os.path.realpath(joined)
    if real == folder:
        raise _a_folder(skill, script, rel)
    if (rel.startswith("..") and scope == folder) or not real.startswith(
            scope.rstrip("/") + "/"):
        where = "the folder" if scope == folder else "the plugin folder"
        # What would work: a plugin's skills run the plugin's scripts (starci-skills'
        # SKILL.md files send the model to scripts/*.mjs at the top of their repository).
        # Said whether or not the file is there: a caller learns nothing of the host.
        plugin = "" if scope != folder else (
            ": a skill runs only the files of its own folder, and a plugin's skills those of "
            "the plugin's (a folder with .claude-plugin/plugin.json above its skills/)")
        raise ParameterError(f"script {script!r} resolves outside {where} of skill "
                             f"{skill.id!r}{plugin}", code="script_outside_skill")
    if found is not None:
        regular = found[1]
    else:
        try:
            regular = stat.S_ISREG(os.stat(real).st_mode)
        except (OSError, ValueError):
            regular = False
    if not regular:
        if os.path.isdir(real):
            raise _a_folder(skill, script, rel)
        raise ParameterError(f"skill {skill.id!r} has no script {rel!r}"
                             + (_as_module(folder, rel) or _its_scripts(skill)),
                             code="script_not_found", details={"script": rel})
    try:
        interpreter(real)
    except KeyError:
        raise ParameterError(f"script {rel!r} is not one skillexec runs (its suffix must be "
                             f"one of {', '.join(INTERPRETERS)}, or without one, its first "
                             "line '#!' python, node, bash or sh)",
                             code="script_unsupported") from None
    return rel, Path(real)


def _a_folder(skill: Skill, script: str, rel: str) -> ParameterError:
    return ParameterError(f"{script!r} is a folder of skill {skill.id!r}, not a script"
                          + _its_scripts(skill), code="script_not_found",
                          details={"script": rel})


def _as_module(folder: str, name: str) -> str | None:
    """How to run ``name`` when it is a module's dotted name (``scripts.package_skill``, as
    skill-creator's SKILL.md writes ``python -m scripts.package_skill``) whose file the
    skill has: by that file, which finds the skill's modules as ``-m`` would."""
    name = name.removeprefix("-m").strip()
    if not name.replace(".", "").replace("_", "").isalnum() or "." not in name:
        return None
    for rel in (name.replace(".", "/") + ".py", name.replace(".", "/") + "/__main__.py"):
        if os.path.isfile(os.path.join(folder, rel)):
            return (f"; {name!r} is a module's name (python -m {name}): give its file, "
                    f"{rel}, which runs with the skill's folder on its sys.path, so its "
                    f"imports of the skill's modules (from {name.split('.')[0]}.x import y) "
                    "work as under -m")
    return None


def _its_scripts(skill: Skill) -> str:
    """"; its scripts: a, b" (the first few), or that it has none."""
    if not skill.scripts:
        return "; it bundles no scripts"
    more = len(skill.scripts) - 5
    return "; its scripts: " + ", ".join(skill.scripts[:5]) + (
        f" and {more} more" if more > 0 else "")


def _opened_path(path: str) -> tuple[str, bool] | None:
    """``path``'s real path as the kernel resolved it in opening it, and whether it is a
    regular file; None when it cannot be opened (the caller falls back to ``realpath``).
    On every script call: one open instead of an ``lstat`` per component of the path."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return None  # no /proc
    finally:
        os.close(fd)
    # Not a plain absolute path ("(unreachable)/..." outside our root): realpath decides.
    return (real, regular) if real.startswith("/") and os.path.isabs(real) else None


def scope_of(skill: Skill, folder: str) -> str:
    """The real path a skill's scripts must lie in: its plugin's folder, else its own
    (``folder``, already resolved)."""
    return os.path.realpath(skill.plugin_root) if skill.plugin_root else folder


def _folder_of(skill: Skill) -> Path:
    if skill.path is None:
        raise ParameterError(f"skill {skill.id!r} has no folder, so no bundled scripts",
                             code="no_skill_folder")
    return skill.path


def _relative(skill: Skill, script: str) -> str:
    """``script`` as a normalised path relative to the skill's folder (no file looked at)."""
    if not isinstance(script, str) or not script or "\0" in script:
        raise ParameterError("a script is a non-empty path relative to the skill's folder",
                             code="invalid_script_path")
    if os.path.isabs(script) or script.startswith("~"):
        raise ParameterError(f"script {script!r} is an absolute path; give a path relative "
                             f"to the folder of skill {skill.id!r}", code="script_outside_skill")
    return os.path.normpath(script)


def workspace_path(path: str) -> str:
    """A path inside the workspace, normalised; refused when it would leave it."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise ParameterError("a file's workspace path must be a non-empty string",
                             code="invalid_file_path")
    rel = os.path.normpath(path)
    if os.path.isabs(path) or rel == "." or rel.startswith(".."):
        raise ParameterError(f"file {path!r} would be written outside the workspace (give a "
                             "relative path inside it)", code="file_outside_workspace")
    return rel


def script_params(*, args: Sequence[str], files: Mapping[str, bytes | WorkspaceFile] | None,
                  stdin: bytes | str | None, session: str | None,
                  env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The derived skill's parameters for one call (bytes as base64: they are journaled)."""
    if isinstance(args, str | bytes) or not all(isinstance(a, str) for a in args):
        raise ParameterError("args must be a sequence of strings", code="invalid_script_args")
    for n, arg in enumerate(args, 1):
        if "\0" in arg:  # no argv carries one: exec refuses it, with no reason for the caller
            raise ParameterError(f"argument {n} holds a NUL character, which no program's "
                                 "arguments can carry", code="invalid_script_args")
    out: dict[str, Any] = {"args": list(args), "session": session, "stdin": None, "files": {}}
    if stdin is not None:
        raw = stdin.encode() if isinstance(stdin, str) else bytes(stdin)
        out["stdin"] = base64.b64encode(raw).decode()
    for path, data in (files or {}).items():
        rel = workspace_path(path)
        if rel in out["files"]:  # x and ./x: one would be dropped without a word
            raise ParameterError(f"files name {rel!r} twice (as {path!r} too)",
                                 code="invalid_file_path")
        out["files"][rel] = to_wire(rel, data)
    if env:
        out["env"] = checked_env(env)
    return out


def _top_imports(source: str) -> tuple[set[str], set[str]]:
    """The modules a module imports at its top level (also under try/if), dotted as
    written (``scipy.optimize``: its parent alone leaves the heavy part to each call): those
    before the first statement that may change what an import does, and those after it.
    A module imported after ``os.environ["MPLBACKEND"] = "svg"`` (or a ``sys.path``
    change, a ``chdir``, a ``load_dotenv()``) and imported ahead by the warm parent would
    not see it, and the script would run differently from ``python script.py``."""
    before: set[str] = set()
    after: set[str] = set()
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return before, after
    found = before
    for top in tree.body:
        if found is before and _configures(top):
            found = after
        stack: list[ast.stmt] = [top]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Try | ast.If):
                stack += [*node.body, *node.orelse]
                if isinstance(node, ast.Try):
                    for h in node.handlers:
                        stack += h.body
    return before, after


# What a script's top level may do before an import to change what it imports or how:
# set the environment (putenv, dotenv, a write to os.environ), say where modules are found
# (sys.path, site.addsitedir, sys.modules), change the working folder (chdir).
_CONFIGURING_CALLS = frozenset({"putenv", "unsetenv", "chdir", "addsitedir", "load_dotenv"})
_ENVIRON_WRITES = frozenset({"update", "setdefault", "pop", "popitem", "clear",
                             "__setitem__", "__delitem__"})
_SYS_IMPORTING = frozenset({"path", "modules", "meta_path", "path_hooks"})


def _configures(node: ast.stmt) -> bool:
    """Whether top-level statement ``node`` (not itself an import) may change what a later
    import does. Reading the environment does not (``KEY = os.environ.get("KEY")``)."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return False
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id \
                if isinstance(f, ast.Name) else None
            if name in _CONFIGURING_CALLS or (
                    isinstance(f, ast.Attribute) and f.attr in _ENVIRON_WRITES
                    and _is_environ(f.value)):
                return True
        elif (isinstance(sub, ast.Subscript) and isinstance(sub.ctx, ast.Store | ast.Del)
              and _is_environ(sub.value)) or (
                isinstance(sub, ast.Attribute) and sub.attr in _SYS_IMPORTING
                and isinstance(sub.value, ast.Name) and sub.value.id == "sys"):
            return True
    return False


def _is_environ(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ")


def preload_modules(files: Sequence[Path], folders: Collection[str],
                    env_paths: Sequence[str] = ()) -> tuple[str, ...]:
    """What the skill's Python scripts (``files``, its folder's ``folders``: see
    ``skills.bundle.python_files``) import at top level and this interpreter (with the
    skill's environment) can find — not the skill's own modules, which stay its code."""
    scripts = files[:_MAX_SCANNED]
    own = {p.stem for p in files} | set(folders)
    names: set[str] = set()
    late: set[str] = set()  # imported by some script after it set what they may read
    for path in scripts:
        try:
            data = read_folder_file(path, max_bytes=_MAX_SCANNED_BYTES)
        except ValueError:  # too large: its imports are its own to make
            continue
        if data is not None:
            first, then = _top_imports(data.decode("utf-8", errors="replace"))
            names |= first
            late |= then
    # A package some script imports only once it has set what it reads is left whole to
    # the scripts (its submodules import it).
    left = own | {n.split(".")[0] for n in late} | _NOT_PRELOADED
    # A package's __main__ runs the package as a program when imported (unittest's its
    # tests, then SystemExit): never ahead.
    names = {n for n in names if n.split(".")[0] not in left and "__main__" not in n.split(".")}
    # The environment is searched by name, never put on this process's sys.path: for that
    # moment any import in the engine (a lazy one, another thread's) took a module of the
    # skill's packages first, a wheel's "ssl" or "uuid" run as the engine's user. Only a
    # package is looked for (finding a submodule imports its parent); the warm parent
    # leaves a submodule it cannot import to the script.
    search = list(env_paths)
    tops: dict[str, bool] = {}
    found = []
    for name in sorted(names):
        top = name.split(".")[0]
        if top not in tops:
            try:
                tops[top] = bool(
                    top in sys.builtin_module_names
                    or (search and importlib.machinery.PathFinder.find_spec(top, search))
                    or importlib.util.find_spec(top))
            except (ImportError, ValueError):
                tops[top] = False
        if tops[top]:
            found.append(name)
    return tuple(found)


def _nested_skill(folder: str, rel: str) -> str | None:
    """The folder of another skill that ``rel`` (a script path inside ``folder``) is in:
    one of its folders holding a manifest of its own. (Once per script derived.)"""
    parts = rel.split("/")[:-1]
    here = folder
    for part in parts:
        if part == "..":
            return None  # a plugin's script, by its path from the skill's folder
        here = os.path.join(here, part)
        if any(os.path.isfile(os.path.join(here, n)) for n in MANIFEST_NAMES):
            return here
    return None


class ScriptCatalog:
    """Derives (and keeps) the script skills of the skills a registry holds."""

    def __init__(self) -> None:
        # (skill key, script) -> (the skill derived from, its folder's real path, the real
        # path its scripts must lie in, the script's real path, the derived skill). On
        # every call the script's path is resolved again (a link swapped in meanwhile is
        # seen); the folder's is not: if it moved, the script no longer resolves inside
        # the old one and is refused.
        self._derived: dict[tuple[str, str], tuple[Skill, str, str, Path, Skill]] = {}

    def skill(self, base: Skill, script: str) -> Skill:
        path = _folder_of(base)  # a skill without a folder is refused first
        key = (base.key, _relative(base, script))
        hit = self._derived.get(key)
        if hit is not None and hit[0] is not base:
            hit = None
        folder = hit[1] if hit is not None else os.path.realpath(path)
        scope = hit[2] if hit is not None else scope_of(base, folder)
        rel, real = resolve_script(base, script, folder=folder, scope=scope)
        if hit is not None and hit[3] == real:
            return hit[4]
        if (other := _nested_skill(folder, rel)) is not None:
            # Agent-Skills' index SKILL.md at the top ran a refused duplicate's script
            # under its own id and grants.
            # How, said: "run it as that skill's" named no id, and a template's folder
            # (templates/x/SKILL.md, not loaded) has none; its folder's path works for both.
            rest = os.path.relpath(os.path.join(folder, rel), other)
            raise ParameterError(f"script {rel!r} of skill {base.id!r} is in another skill's "
                                 f"folder, {other}: run it as that skill's script, by that "
                                 f"skill's id or by its folder's path (skillexec script "
                                 f"{shlex.quote(other)} {shlex.quote(rest)})",
                                 code="script_outside_skill",
                                 details={"folder": other, "script": rest})
        ex = base.execution
        iso = ex.isolation if ex.isolation not in (None, Isolation.INLINE) else None
        derived = dataclasses.replace(
            base, id=f"{base.id}{SEPARATOR}{rel}", entry=Entry(kind=EntryKind.SCRIPT,
                                                               file=real, attr=rel),
            parameters_schema=_SCHEMA, output_schema=None, default_config={},
            config_schema=None,
            # Not idempotent unless the manifest says so: no automatic retry, no cache.
            execution=dataclasses.replace(
                ex, cacheable=False, isolation=iso,
                max_retries=ex.max_retries if ex.idempotent else 0, fallback=None))
        self._derived[key] = (base, folder, scope, real, derived)
        return derived
