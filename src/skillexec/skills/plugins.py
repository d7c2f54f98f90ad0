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

import json
import os
from pathlib import Path

from skillexec.skills.fields import SKILL_ID

__all__ = ["plugin_of"]

_MAX_BYTES = 1024 * 1024
_MARKETPLACE_LEVELS = 3  # <market>/plugins/<plugin>: the marketplace is at most this far up
_DECLARED_LEVELS = 4  # <plugin>/a/b/c/<skill>: how far up a plugin.json's "skills" may reach


def plugin_of(skill_folder: Path) -> str | None:
    """The name of the plugin ``skill_folder`` is a skill of, or None when it is not one."""
    if skill_folder.parent.name == "skills":
        plugin = skill_folder.parent.parent
        for manifest in (plugin / ".claude-plugin" / "plugin.json", plugin / "plugin.json"):
            if manifest.is_file():
                return _name(_read(manifest)) or _valid(plugin.name)
        if (listed := _listed(plugin)) is not None:
            return listed
    return _declared(skill_folder)


def _declared(skill_folder: Path) -> str | None:
    """The plugin whose ``plugin.json`` names, in ``skills``, this folder or the folder it
    is in. The nearest plugin above decides; a path that leaves the plugin is not its."""
    wanted = {os.path.realpath(skill_folder), os.path.realpath(skill_folder.parent)}
    above = skill_folder.parent
    for _ in range(_DECLARED_LEVELS):
        manifest = above / ".claude-plugin" / "plugin.json"
        if manifest.is_file():
            doc = _read(manifest)
            paths = doc.get("skills") if isinstance(doc, dict) else None
            top = os.path.realpath(above)
            for path in [paths] if isinstance(paths, str) else (
                    paths if isinstance(paths, list) else ()):
                target = os.path.realpath(above / path) if isinstance(path, str) else ""
                if target in wanted and target.startswith(top + os.sep):
                    return _name(doc) or _valid(above.name)
            return None
        if above.parent == above:
            return None
        above = above.parent
    return None


def _listed(plugin: Path) -> str | None:
    """The plugin's name where a marketplace above it lists its folder as a plugin's
    source. A source that is the marketplace's own folder is not a plugin of its own:
    several plugins may share it (Anthropic's ``skills`` lists two at ``./``)."""
    real = os.path.realpath(plugin)
    above = plugin.parent
    for _ in range(_MARKETPLACE_LEVELS):
        market = above / ".claude-plugin" / "marketplace.json"
        if market.is_file():
            doc = _read(market)
            entries = doc.get("plugins") if isinstance(doc, dict) else None
            for entry in entries if isinstance(entries, list) else ():
                source = entry.get("source") if isinstance(entry, dict) else None
                if (isinstance(source, str) and source.startswith("./")
                        and os.path.realpath(above / source) == real
                        and real != os.path.realpath(above)):
                    return _name(entry) or _valid(plugin.name)
            return None
        if above.parent == above:
            return None
        above = above.parent
    return None


def _read(path: Path) -> object:
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_BYTES + 1)
        return None if len(data) > _MAX_BYTES else json.loads(data)
    except (OSError, ValueError):
        return None


def _name(doc: object) -> str | None:
    name = doc.get("name") if isinstance(doc, dict) else None
    return _valid(name) if isinstance(name, str) else None


def _valid(name: str) -> str | None:
    return name if SKILL_ID.match(name) else None
