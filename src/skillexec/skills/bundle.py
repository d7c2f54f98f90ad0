"""What a skill folder bundles besides its manifests: references, templates, scripts.

Agent Skills (DESIGN §3.5) ship files for a model to read and scripts for it to run. The
walk is bounded (a folder may hold a vendored project): caches, virtual environments and
dotfiles are skipped, symlinks are not followed (but for a plugin's skill, to files inside
its plugin), and at most ``MAX_RESOURCES`` are listed, shallowest first; a file past that
is still served by its path.
"""

from __future__ import annotations

import itertools
import mimetypes
import os
import re
from pathlib import Path

from skillexec.errors import SkillNotFoundError
from skillexec.skills.manifest import MANIFEST_NAMES
from skillexec.skills.model import EntryKind, Resource, Skill

__all__ = ["BUNDLE_DIRS", "MAX_BUNDLED_READ", "MAX_RESOURCES", "SCRIPT_SUFFIXES",
           "bundled_file", "named_scripts", "nested_skill", "plugin_scripts", "python_files",
           "runs_python", "scan_bundle", "shebang_runner"]

MAX_RESOURCES = 500
MAX_BUNDLED_READ = 8 << 20  # a bundled file larger than this is not served
# What skillexec.scripts.INTERPRETERS runs (superpowers' brainstorming bundles a .cjs).
SCRIPT_SUFFIXES = frozenset({".py", ".js", ".mjs", ".cjs", ".sh"})
_SHEBANG_RUNNERS = {"python": "python", "node": "node", "nodejs": "node", "bash": "bash",
                    "sh": "bash"}
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "venv", ".venv", "env",
                        "site-packages", "dist", "build"})
_MAX_DEPTH = 6
_MAX_PLUGIN_SCRIPTS = 100
# Where bundled scripts live in Agent Skills; Python files beside the manifest are the
# skill's own modules (its entry and helpers), not scripts a model is told to run.
_SCRIPT_DIRS = ("scripts", "bin")
# The folders a skill keeps its own files in: the three Agent Skills names (scripts/,
# references/, assets/), skillexec's bin/, and where skills keep templates, examples and
# tests. A SKILL.md in them is the skill's material, not a skill: skill-creators ship a
# template SKILL.md, validators tests/fixtures/<bad-skill>/SKILL.md (unikabiz's nine
# invalid-* folders). Elsewhere below a skill, a folder with a manifest is a skill of its
# own (aero-agent-skills' family routers hold 926 leaf skills at <pack>/<leaf>/SKILL.md).
BUNDLE_DIRS = frozenset({"scripts", "bin", "references", "reference", "assets", "templates",
                         "template", "examples", "example", "tests", "test", "fixtures"})
# A path the instructions tell a model to run: after an interpreter (``python3 tools/x.py``,
# ``uv run``, ``node``, ``bash``, with options) or written as run directly (``./deploy.sh``).
_RUN_MENTION = re.compile(
    r"(?:(?<![\w.-])(?:python[\d.]*|uv\s+run|node|bash|sh)\s+(?:-[\w=-]+\s+)*(?:\./)?"
    # ./x run; not a quoted './x' (an import's: "from './lib/index.mjs'")
    r"|(?<![\w./'\"-])\./)([\w@+-][\w.@+/-]*)")
# The same, by a path the skill's folder has where it is installed: Claude.ai's
# /mnt/skills/user/<name>/..., Claude Code's ~/.claude/skills/<name>/..., a {baseDir}.
_RUN_AT = re.compile(
    r"(?<![\w.-])(?:python[\d.]*|uv\s+run|node|bash|sh)\s+(?:-[\w=-]+\s+)*"
    r"([~/{$][\w.@+/{}$~-]{1,400})")


def scan_bundle(folder: Path, *, top_level_scripts: bool = False, scope: Path | None = None,
                ) -> tuple[tuple[Resource, ...], tuple[str, ...], bool]:
    """The folder's bundled files (manifests excepted), among them its scripts, and whether
    the listing stopped at ``MAX_RESOURCES``. Scripts are those under ``scripts/`` (or
    ``bin/``), and with ``top_level_scripts`` (an Agent Skill with no entry, such as Py
    Copilot's xlsx and its ``recalc.py``) those beside the manifest. Shallowest first, so
    that a bounded listing keeps what SKILL.md names (bailian's ``wiki/index.md`` was cut
    by a depth-first walk). ``scope``: the plugin's folder, where a linked file may lead
    (richfrem's skills link their scripts to the plugin's)."""
    resources: list[Resource] = []
    real_scope = os.path.realpath(scope) if scope is not None else None
    level = [folder]
    for depth in range(_MAX_DEPTH + 1):
        below: list[Path] = []
        files: list[list[Resource]] = []
        for here in level:
            found, dirs = _folder(here, folder, depth, real_scope)
            files.append(found)
            below += dirs if depth < _MAX_DEPTH else []
        # The folders of one depth take turns: a data/ of 550 files leaves room for the
        # scripts/ and wiki/ beside it.
        for turn in itertools.zip_longest(*files):
            for resource in turn:
                if resource is None:
                    continue
                resources.append(resource)
                if len(resources) >= MAX_RESOURCES:
                    return _listing(resources, top_level_scripts, folder, full=True)
        level = below
    return _listing(resources, top_level_scripts, folder, full=False)


def _listing(resources: list[Resource], top_level_scripts: bool, folder: Path, *, full: bool,
             ) -> tuple[tuple[Resource, ...], tuple[str, ...], bool]:
    listed = sorted(resources, key=lambda r: r.path)  # as chosen, shown in path order
    return tuple(listed), _scripts(listed, top_level_scripts, folder), full


def _folder(here: Path, folder: Path, depth: int, scope: str | None,
            ) -> tuple[list[Resource], list[Path]]:
    """One folder of the walk: the files it lists, and its folders to walk next."""
    rel_root = here.relative_to(folder)
    found: list[Resource] = []
    dirs: list[Path] = []
    for entry in _visible(here):
        name = entry.name
        try:
            if entry.is_dir(follow_symlinks=False):
                if name not in _SKIP_DIRS and not nested_skill(folder, Path(entry.path)):
                    dirs.append(Path(entry.path))
                continue
            size = _listed(entry, scope)
        except OSError:
            continue
        if size is None or name.endswith((".pyc", ".pyo")) or (
                depth == 0 and name in MANIFEST_NAMES):
            continue
        mime = mime_of(name)
        found.append(Resource((rel_root / name).as_posix(), size, mime))
    return found, dirs


def nested_skill(skill_folder: Path, path: Path) -> bool:
    """Whether ``path``, a folder below ``skill_folder``, is a skill of its own rather than
    the skill's: it holds a manifest, and no folder on the way down is one of
    ``BUNDLE_DIRS`` (a template or a test fixture there is the skill's material)."""
    if not any((path / name).is_file() for name in MANIFEST_NAMES):
        return False
    try:
        rel = path.relative_to(skill_folder).parts
    except ValueError:
        return False
    return not any(part.lower() in BUNDLE_DIRS for part in rel)


def _listed(entry: os.DirEntry[str], scope: str | None) -> int | None:
    """The size of a regular file to list, or None: a link is listed only where it leads
    to a file inside ``scope`` (a plugin's folder), never out of it."""
    if entry.is_symlink():
        real = os.path.realpath(entry.path)
        if scope is None or not real.startswith(scope + os.sep) or not os.path.isfile(real) \
                or _hidden(real[len(scope) + 1:]):
            return None
        return os.stat(real).st_size
    if not entry.is_file(follow_symlinks=False):
        return None
    return entry.stat(follow_symlinks=False).st_size


def bundled_file(skill: Skill, rel: str) -> tuple[Path, str]:
    """The file ``rel`` that ``skill`` bundles (one its listing names: a resource or a
    script), as a path inside its folder, and its mime type; what the HTTP service and the
    MCP server serve. ``SkillNotFoundError`` (``bundled_file_not_found``) for anything else:
    a name not listed, a path that leaves the folder (a symlink the listing skipped, one
    swapped in since), a file grown past ``MAX_BUNDLED_READ``."""
    listed = {r.path: r.mime for r in skill.resources}
    listed.update({s: mime_of(s, unknown="text/plain") for s in skill.scripts})
    # A plugin's skill reads the whole plugin (what ${CLAUDE_PLUGIN_ROOT}/... names in its
    # instructions, written ../../skills/b/references/x.md): so may whoever reads it.
    in_plugin = skill.plugin_root is not None and rel.startswith("../")
    if skill.path is None or (rel not in listed and not in_plugin
                              and not _past_the_listing(skill, rel)):
        raise _not_bundled(skill, rel, "is not a file it bundles")
    root = (skill.plugin_root or skill.path).resolve()
    target = (skill.path.resolve() / rel).resolve()
    if not target.is_relative_to(root) or not target.is_file() or _hidden(
            target.relative_to(root).as_posix()):
        raise _not_bundled(skill, rel, "is not a file inside its folder")
    if target.stat().st_size > MAX_BUNDLED_READ:
        raise _not_bundled(skill, rel, f"is larger than {MAX_BUNDLED_READ} bytes")
    return target, listed.get(rel) or mime_of(rel)


def _past_the_listing(skill: Skill, rel: str) -> bool:
    """Whether ``rel`` may be a file the listing stopped before: the listing is full, and
    the path is one a walk lists (no dotfile, no cache, no link of its own: the caller
    checks it stays inside the folder)."""
    if len(skill.resources) < MAX_RESOURCES or skill.path is None:
        return False
    parts = rel.split("/")
    if any(not p or p.startswith(".") or p in _SKIP_DIRS for p in parts) or (
            len(parts) == 1 and rel in MANIFEST_NAMES) or len(parts) > _MAX_DEPTH + 1:
        return False
    here = skill.path
    for part in parts:
        here = here / part
        if here.is_symlink():
            return False
    return True


def _hidden(rel: str) -> bool:
    """Whether a path inside the folder, as a link leads, is in a hidden file or folder,
    which no listing shows (a ``.env``, a ``.git``, the operator's ``.skillexec``)."""
    return any(part.startswith(".") for part in rel.split("/"))


def _not_bundled(skill: Skill, rel: str, why: str) -> SkillNotFoundError:
    return SkillNotFoundError(f"{rel!r} of skill {skill.id!r} {why}",
                              code="bundled_file_not_found",
                              details={"skill_id": skill.id, "path": rel})


def python_files(folder: Path) -> tuple[list[Path], set[str]]:
    """The Python files of a skill's folder (by path) and the names of its folders,
    walked as ``scan_bundle`` walks it: bounded in depth, no link followed, caches and
    virtual environments skipped (a folder may be nested or vendored deep)."""
    found: list[Path] = []
    folders: set[str] = set()
    stack = [(folder, 0)]
    while stack:
        path, depth = stack.pop()
        for entry in _visible(path):
            name = entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if nested_skill(folder, Path(entry.path)):
                        continue
                    folders.add(name)
                    if name not in _SKIP_DIRS and depth + 1 < _MAX_DEPTH:
                        stack.append((Path(entry.path), depth + 1))
                elif name.endswith(".py") and entry.is_file(follow_symlinks=False):
                    found.append(Path(entry.path))
            except OSError:
                continue
    return sorted(found), folders


def _visible(path: Path) -> list[os.DirEntry[str]]:
    """A folder's entries a walk looks at, by name: no dotfile, none whose name is not
    text; none where it cannot be read."""
    try:
        with os.scandir(path) as it:
            return sorted((e for e in it if not e.name.startswith(".") and _named(e.name)),
                          key=lambda e: e.name)
    except OSError:
        return []


def _named(name: str) -> bool:
    """Whether a file's name is text: one that is not UTF-8 cannot be named by any call
    (JSON, a terminal), and is not offered."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def _scripts(resources: list[Resource], top_level: bool, folder: Path) -> tuple[str, ...]:
    # A template's or a fixture's scripts (templates/new-skill/scripts/run.py) are no
    # scripts of this skill: a script call refuses them as another skill's folder's.
    held = {r.path.rpartition("/")[0] + "/" for r in resources
            if "/" in r.path and r.path.rpartition("/")[2] in MANIFEST_NAMES}
    return tuple(r.path for r in resources
                 if (any(part in _SCRIPT_DIRS for part in r.path.split("/")[:-1])
                     or (top_level and "/" not in r.path))
                 and not (held and r.path.startswith(tuple(held)))
                 and Path(r.path).name != "__init__.py"
                 and (Path(r.path).suffix in SCRIPT_SUFFIXES
                      or (not Path(r.path).suffix and shebang_runner(folder / r.path))))


def named_scripts(instructions: str, resources: tuple[Resource, ...],
                  listed: tuple[str, ...], *, name: str = "") -> tuple[str, ...]:
    """The bundled files outside ``scripts/`` and ``bin/`` that the instructions tell a
    model to run (``python3 tools/extract.py``, ``bash resources/deploy.sh``, ``bash
    /mnt/skills/user/<name>/resources/deploy.sh`` with ``name`` the skill's folder's):
    scripts too, listed (a skill whose SKILL.md runs only such files showed as
    "instructions only", and MCP did not offer them to run_skill_script)."""
    candidates = {r.path for r in resources if Path(r.path).suffix in SCRIPT_SUFFIXES
                  and r.path not in listed and Path(r.path).name != "__init__.py"}
    if not candidates:
        return ()
    named = {m.group(1).rstrip(".") for m in _RUN_MENTION.finditer(instructions)}
    if name:
        inside = f"/{name}/"
        named |= {m.group(1).rpartition(inside)[2].rstrip(".")
                  for m in _RUN_AT.finditer(instructions) if inside in m.group(1)}
    return tuple(sorted(candidates & named))


def plugin_scripts(plugin_root: Path, folder: Path) -> tuple[str, ...]:
    """The scripts a plugin keeps for its skills (``scripts/`` and ``bin/`` at its top, not
    their libraries below), named from the skill's ``folder`` (``../../scripts/plan.py``),
    as a call gives them: trailofbits' c-review runs its plan script from there, and
    showed as "instructions only"."""
    found: list[str] = []
    top = os.path.realpath(plugin_root)
    for where in _SCRIPT_DIRS:
        # A scripts/ linked out of the plugin (-> /usr/bin) is not its: none would run.
        if not os.path.realpath(plugin_root / where).startswith(top + os.sep):
            continue
        for entry in _visible(plugin_root / where):
            path = Path(entry.path)
            try:
                runs = entry.is_file(follow_symlinks=False) and (path.suffix in SCRIPT_SUFFIXES or (
                    not path.suffix and shebang_runner(path) is not None))
            except OSError:
                continue
            if runs and path.name != "__init__.py":
                found.append(os.path.relpath(path, folder))
            if len(found) >= _MAX_PLUGIN_SCRIPTS:
                return tuple(found)
    return tuple(found)


_PYTHON_LAUNCHERS = frozenset({"uv", "uvx", "pipx", "poetry", "pdm", "hatch", "conda"})


def runs_python(skill: Skill) -> bool:
    """Whether anything of the skill runs Python: its entry, or a Python file of its folder
    (a script, or a module a script runs). A skill that runs none declares packages of
    another kind in its manifest (a Node skill's npm packages), or none it runs at all (an
    instructions-only skill's ``dependencies: [torch]``, for the model's own code): no
    Python package of those is installed or checked for it."""
    if skill.path is None or skill.entry.kind in (EntryKind.PYTHON, EntryKind.CALLABLE):
        return True
    command = skill.entry.command
    if skill.entry.kind is EntryKind.COMMAND and command:
        # ["python3", "-m", "tool"], ["/usr/bin/env", "python3", ...], ["uv", "run", ...]:
        # a package of its dependencies
        words = [os.path.basename(w) for w in command[:2]]
        if words[0] == "env":
            words = words[1:]
        if words and (words[0].startswith("python") or words[0] in _PYTHON_LAUNCHERS):
            return True
    if skill.manifest.get("entry_point") or skill.manifest.get("main_file"):
        return True  # a Py Copilot entry (a Python one, even where it cannot run here)
    if any(s.endswith(".py") for s in skill.scripts) \
            or any(r.path.endswith(".py") for r in skill.resources):
        return True
    return any(shebang_runner(skill.path / s) == "python" for s in skill.scripts
               if not os.path.splitext(s)[1])


def shebang_runner(path: str | Path) -> str | None:
    """What a script without a suffix asks for on its ``#!`` line, among what skillexec
    runs ("python", "node", "bash"; ``sh`` is run by bash), or None (spark-video's
    ``scripts/bl``, a bash script, was refused for having no suffix)."""
    try:
        with open(path, "rb") as f:
            first = f.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
    if not words:
        return None
    return _SHEBANG_RUNNERS.get(os.path.basename(words[0]).rstrip("0123456789."))


# A skill's source files, where the system's table (mimetypes reads /etc/mime.types) says
# otherwise: .mts is a 3D model there, .ts a Qt translation, a source map (.map, JSON)
# unknown; served as blobs, a 0.8 MB map was 2.1 MB of base64 over MCP.
_SOURCE_MIME = {".ts": "text/typescript", ".mts": "text/typescript",
                ".cts": "text/typescript", ".tsx": "text/typescript", ".map": "application/json"}
# What the system's table may not know.
_BY_SUFFIX = {".md": "text/markdown", ".py": "text/x-python", ".sh": "text/x-shellscript",
              ".mjs": "text/javascript", ".cjs": "text/javascript",
              ".yaml": "application/yaml", ".yml": "application/yaml",
              ".toml": "application/toml", ".j2": "text/plain", ".txt": "text/plain",
              ".xsd": "application/xml"}


def mime_of(name: str, *, unknown: str = "application/octet-stream") -> str:
    """A bundled file's mime type, by its name."""
    suffix = Path(name).suffix.lower()
    return _SOURCE_MIME.get(suffix) or mimetypes.guess_type(name, strict=False)[0] \
        or _BY_SUFFIX.get(suffix, unknown)
