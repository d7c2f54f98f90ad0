"""Claude Code plugins: the namespace of the skills a plugin carries.

A plugin is a folder with ``.claude-plugin/plugin.json`` (or, in older layouts,
``plugin.json`` at its top), or one that a marketplace (``.claude-plugin/marketplace.json``
above it) lists by a relative ``source``. Its skills live in ``<plugin>/skills/<name>/``, and
Claude Code calls them ``<plugin>:<name>``: two plugins of one marketplace may each have a
``setup`` skill. skillexec names them the same way, so that nothing of a marketplace is lost
and the names its instructions use (``/notes-commander:draft-hold``) are the ids.

What a plugin's manifests say is only read for a name: a file over ``_MAX_BYTES``, not JSON,
or a name that is not a skill id leaves the folder's own name.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from skillexec.skills.fields import SKILL_ID, mixed_scripts

__all__ = ["MAX_MANIFEST_BYTES", "Plugin", "holds", "marketplace_sources", "plugin_of",
           "with_claude_paths"]

_MAX_BYTES = MAX_MANIFEST_BYTES = 1024 * 1024
_MARKETPLACE_LEVELS = 6  # <market>/plugins/<category>/<plugin>: how far up a marketplace is
_DECLARED_LEVELS = 4  # <plugin>/a/b/c/<skill>: how far up a plugin.json's "skills" may reach


class Plugin(NamedTuple):
    """The plugin a skill belongs to: its name (None where neither its manifest nor its
    folder gives a valid one) and its folder, ``${CLAUDE_PLUGIN_ROOT}``, which Claude Code
    ships whole: its skills' scripts use what it holds beside them (``scripts/lib``). The
    folder is None where only a ``plugin.json`` at its top says it is a plugin: Grafana's
    plugins have one too, and a project's skills/ must not open the project (its .env) to
    them; such a folder names its skills, and gives them nothing more."""

    name: str | None
    root: Path | None


def plugin_of(skill_folder: Path) -> Plugin | None:
    """The plugin ``skill_folder`` is a skill of, or None when it is not one. Its folder is
    not shipped (``root`` None) where it holds the engine's own: skillexec run from a
    cloned plugin's top or from inside it (its ``skillexec.toml``, ``.env``, data dir)."""
    found = _plugin_of(skill_folder)
    if found is not None and found.root is not None and _holds_the_engines(found.root):
        return Plugin(found.name, None)
    return found


def _holds_the_engines(folder: Path) -> bool:
    """Whether ``folder`` is or holds the working folder, or the data or configuration
    folder named in the environment (a link inside it would lead to the operator's files:
    the sandbox keeps such a folder closed, and so do the listing and the file server)."""
    engine = [os.getcwd(), os.environ.get("SKILLEXEC_DATA_DIR") or "",
              os.path.dirname(os.environ.get("SKILLEXEC_CONFIG") or "")]
    return holds(folder, [os.path.realpath(p) for p in engine if p])


def holds(folder: Path, reals: Iterable[str]) -> bool:
    """Whether ``folder`` is or holds one of the real paths ``reals``."""
    top = os.path.realpath(folder)
    return any(real == top or real.startswith(top + os.sep) for real in reals)


def _plugin_of(skill_folder: Path) -> Plugin | None:
    if skill_folder.parent.name == "skills":
        plugin = skill_folder.parent.parent
        manifest = plugin / ".claude-plugin" / "plugin.json"
        if manifest.is_file():
            return Plugin(_name(_read(manifest)) or _valid(plugin.name), plugin)
        # A marketplace's listing ships a plugin whole, a bare plugin.json at its top or not
        # (terrylica's 39 such plugins lost their shared _lib/ and node_modules).
        has_bare = (plugin / "plugin.json").is_file()
        bare = _name(_read(plugin / "plugin.json")) if has_bare else None
        if (listed := _listed(plugin)) is not None:
            return Plugin(bare or listed.name, listed.root)
        if has_bare:
            return Plugin(bare or _valid(plugin.name), None)
    return _declared(skill_folder)


def _declared(skill_folder: Path) -> Plugin | None:
    """The plugin whose ``plugin.json`` names, in ``skills``, this folder or the folder it
    is in. The nearest plugin above decides; a path that leaves the plugin is not its."""
    wanted = {os.path.realpath(skill_folder), os.path.realpath(skill_folder.parent)}
    for above in _above(skill_folder.parent, _DECLARED_LEVELS):
        manifest = above / ".claude-plugin" / "plugin.json"
        if manifest.is_file():
            name, targets = _read_plugin(manifest)
            return Plugin(name or _valid(above.name), above) if wanted & targets else None
    return None


def _listed(plugin: Path) -> Plugin | None:
    """The plugin's name where a marketplace above it lists its folder as a plugin's
    source. A source that is the marketplace's own folder is not a plugin of its own:
    several plugins may share it (Anthropic's ``skills`` lists two at ``./``)."""
    real = os.path.realpath(plugin)
    for above in _above(plugin.parent, _MARKETPLACE_LEVELS):
        market = above / ".claude-plugin" / "marketplace.json"
        if market.is_file():
            for _, resolved, name in _read_market(market):
                if resolved == real:
                    return Plugin(name or _valid(plugin.name), plugin)
            return None
    return None


def _above(folder: Path, levels: int) -> Iterator[Path]:
    """``folder`` and those above it, ``levels`` in all (fewer at the root)."""
    for _ in range(levels):
        yield folder
        if folder.parent == folder:
            return
        folder = folder.parent


def marketplace_sources(folder: Path) -> list[Path]:
    """The plugin folders a marketplace at ``folder`` lists by a relative ``source``, inside
    it (jeremylongshore's lists 456 as ``./plugins/<category>/<plugin>``, deeper than a
    walk of folders goes); none where ``folder`` is no marketplace."""
    market = folder / ".claude-plugin" / "marketplace.json"
    if not market.is_file():
        return []
    return [source for source, _, _ in _read_market(market)]


# Each manifest is read once per version of it (its path, mtime and size), however many
# skills ask: a marketplace of 240 entries was read and resolved again for every skill.
_CACHED = 256
_MAX_ENTRIES = 5000  # a marketplace's plugins, a plugin's skill folders
_MAX_SOURCE = 1024  # characters of one relative path


def _read_market(market: Path) -> tuple[tuple[Path, str, str | None], ...]:
    """(the source folder, its real path, the entry's name) of each plugin a marketplace
    lists by a relative path inside it, other than its own folder."""
    try:
        st = os.stat(market)
    except OSError:
        return ()
    return _market(str(market), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=_CACHED)
def _market(market: str, _mtime_ns: int, _size: int,
            ) -> tuple[tuple[Path, str, str | None], ...]:
    folder = Path(market).parent.parent
    doc = _read(Path(market))
    entries = doc.get("plugins") if isinstance(doc, dict) else None
    top = os.path.realpath(folder)
    out = []
    for entry in (entries if isinstance(entries, list) else [])[:_MAX_ENTRIES]:
        source = entry.get("source") if isinstance(entry, dict) else None
        if isinstance(source, str) and source.startswith("./") and len(source) <= _MAX_SOURCE:
            path = Path(os.path.normpath(folder / source))
            if (real := os.path.realpath(path)).startswith(top + os.sep):
                out.append((path, real, _name(entry)))
    return tuple(out)


def _read_plugin(manifest: Path) -> tuple[str | None, frozenset[str]]:
    """A ``.claude-plugin/plugin.json``'s name and the real paths its ``skills`` names,
    inside the plugin."""
    try:
        st = os.stat(manifest)
    except OSError:
        return None, frozenset()
    return _plugin(str(manifest), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=_CACHED)
def _plugin(manifest: str, _mtime_ns: int, _size: int) -> tuple[str | None, frozenset[str]]:
    above = Path(manifest).parent.parent
    doc = _read(Path(manifest))
    paths = doc.get("skills") if isinstance(doc, dict) else None
    listed = [paths] if isinstance(paths, str) else (
        paths[:_MAX_ENTRIES] if isinstance(paths, list) else [])
    top = os.path.realpath(above)
    targets = {os.path.realpath(above / p) for p in listed
               if isinstance(p, str) and len(p) <= _MAX_SOURCE}
    return _name(doc), frozenset(t for t in targets if t.startswith(top + os.sep))


def _read(path: Path) -> object:
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_BYTES + 1)
        return None if len(data) > _MAX_BYTES else json.loads(data)
    except (OSError, ValueError, RecursionError):
        return None


def _name(doc: object) -> str | None:
    name = doc.get("name") if isinstance(doc, dict) else None
    return _valid(name) if isinstance(name, str) else None


def _valid(name: str) -> str | None:
    return name if SKILL_ID.match(name) and mixed_scripts(name) is None else None


_BASE_DIR = re.compile(r"\{baseDir\}/([\w.@+/-]{0,300})")


def _based(rel: str, folder: Path, plugin: Plugin | None) -> str:
    """``{baseDir}/rel`` as a path from the skill's folder: its own file, else (in a plugin
    whose skill wrote it for the plugin's folder: last30days' ``{baseDir}/scripts/x.py``,
    its plugin's script) the plugin's."""
    if plugin is not None and plugin.root is not None and rel and ".." not in rel and \
            not (folder / rel).exists() and (plugin.root / rel).exists():
        return os.path.relpath(plugin.root, folder) + "/" + rel
    return "./" + rel


def with_claude_paths(text: str, *, folder: Path, plugin: Plugin | None) -> str:
    """A skill's instructions with Claude Code's ``${CLAUDE_SKILL_DIR}`` and (in a plugin)
    ``${CLAUDE_PLUGIN_ROOT}`` written as skillexec names every bundled path: relative to
    the skill's folder (``./scripts/x.py``, ``../../scripts/lib.js``), the way a model then
    passes them to ``run_skill_script`` or reads them as the skill's files."""
    if "{baseDir}/" in text:  # OpenClaw's name for the skill's folder
        text = _BASE_DIR.sub(lambda m: _based(m.group(1), folder, plugin), text)
    if "${CLAUDE_" not in text:
        return text
    text = text.replace("${CLAUDE_SKILL_DIR}", ".")
    if plugin is not None and plugin.root is not None:
        # Only where it opens a path: prose about the variable, and the hooks.json a model
        # is shown how to write, keep it (richfrem's "Hook commands must use `../..`").
        text = text.replace("${CLAUDE_PLUGIN_ROOT}/",
                            os.path.relpath(plugin.root, folder) + "/")
    return text
