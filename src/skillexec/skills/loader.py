"""Loading skill folders: find them, read and merge their manifests, make a :class:`Skill`.

A folder is a skill when it holds ``skill.json``, ``skill.yaml``/``skill.yml`` or ``SKILL.md``.
Side-by-side manifests are merged field by field (skill.json > skill.yaml > SKILL.md).
Loading is lenient by default: unknown fields are kept, soft problems become
``Skill.warnings``, and in :func:`load_skills` one broken folder never stops the others.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import shlex
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillexec.errors import ManifestError
from skillexec.skills.bundle import MAX_RESOURCES, named_scripts, plugin_scripts, scan_bundle
from skillexec.skills.entry_points import EntryResolver
from skillexec.skills.fields import (
    SKILL_ID,
    brief,
    mixed_scripts,
    parse_execution,
    parse_packages,
    parse_permissions,
    parse_skill_dependencies,
)
from skillexec.skills.folders import LoadProblem, is_skill_folder, skill_folders, without_nested
from skillexec.skills.manifest import MANIFEST_NAMES, ManifestDoc, folder_id, read_manifest
from skillexec.skills.model import Skill
from skillexec.skills.plugins import plugin_of, with_claude_paths
from skillexec.skills.schema import normalize_parameters_schema
from skillexec.skills.semver import parse_version

__all__ = ["LoadProblem", "LoadReport", "check_skill", "is_skill_folder", "load_skill",
           "load_skills"]

_NEVER_ASIDE = frozenset({"entry_point", "command", "main_file", "id", "skill_id", "name"})


@dataclass(frozen=True, slots=True)
class LoadReport:
    skills: tuple[Skill, ...] = ()
    problems: tuple[LoadProblem, ...] = ()


def load_skills(root: Path, *, strict: bool = False) -> LoadReport:
    """Every skill folder at or below ``root``; broken ones are reported, never raised."""
    # Every folder named as load_skill names its own (resolved): a "not loaded" line named
    # a refused manifest by its full path and a duplicate as the folder was given.
    root = Path(root).resolve()
    if not root.is_dir():
        problem = "is a file, not a folder" if root.exists() else "no such folder"
        return LoadReport(problems=(LoadProblem(root, f"{root}: {problem}"),))
    skills: list[Skill] = []
    problems: list[LoadProblem] = []
    seen: dict[str, Path] = {}
    folders, unread = skill_folders(root)
    problems += unread
    for folder in folders:
        try:
            skill = load_skill(folder, strict=strict)
        except ManifestError as exc:
            problems.append(LoadProblem(folder, exc.message))
            continue
        except Exception as exc:  # a loader bug on one odd folder must not hide the rest
            problems.append(LoadProblem(folder, f"{folder}: {type(exc).__name__}: {exc}"))
            continue
        if skill.key in seen:
            problems.append(LoadProblem(
                folder, f"{folder}: skill {skill.key} is already defined in {seen[skill.key]}"
                f": use this one by its folder's path ({_by_path(skill, folder)})",
                duplicate_of=seen[skill.key]))
            continue
        seen[skill.key] = folder
        skills.append(without_nested(skill, folders) if folder == root else skill)
    return LoadReport(skills=tuple(skills), problems=tuple(problems))


def _by_path(skill: Skill, folder: Path) -> str:
    """The command that uses a skill refused as another's id by its folder's path, which
    loads it alone: aero-agent-skills' do178c/verification and do254/verification both say
    ``name: verification``, and the second was refused with no word of how to run it."""
    where = shlex.quote(str(folder))
    if skill.runnable:
        # Not `run FOLDER`: beside a skills folder holding the other, the other's warm
        # parent (prepared by the folder's name) ran, under this one's name.
        return f"skillexec run {shlex.quote(skill.id)} --skills-dir {where}"
    if skill.scripts:
        return f"skillexec script {where} {shlex.quote(skill.scripts[0])}"
    return f"skillexec skills show {where} --instructions"


def load_skill(folder: Path, *, strict: bool = False) -> Skill:
    """One skill folder as a :class:`Skill`; ManifestError names the file and the problem."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        problem = "is a file, not a folder" if folder.exists() else "no such folder"
        raise ManifestError(f"{folder}: {problem}", details={"path": str(folder)})
    docs = [read_manifest(folder / n, strict=strict)
            for n in MANIFEST_NAMES if (folder / n).is_file()]
    if not docs and (folder / "skill.md").is_file():  # X-Skills' 9,671 folders
        raise ManifestError(f"{folder / 'skill.md'}: the file must be named SKILL.md (Agent "
                            "Skills and Claude Code read that name alone)",
                            details={"path": str(folder)})
    if not docs:
        hint = ""
        try:
            if any(is_skill_folder(p) for p in folder.iterdir() if not p.name.startswith(".")):
                hint = " (it is a folder of skills: load it as a skills folder instead)"
        except OSError:
            pass
        raise ManifestError(f"{folder}: no skill.json, skill.yaml or SKILL.md{hint}",
                            details={"path": str(folder)})
    try:
        return _Builder(folder, docs, strict=strict).build()
    except ManifestError as exc:
        if strict or any(d.path.name != "SKILL.md" for d in docs):
            raise
        return _without_unread_fields(folder, docs, exc)


def _without_unread_fields(folder: Path, docs: list[ManifestDoc],
                           exc: ManifestError) -> Skill:
    """An Agent Skill whose skill.json-style field cannot be read (richfrem's
    ``dependencies: ['pip:docx']``, a ``permissions`` of prose): Claude Code reads no such
    field and loads the skill; so does lenient mode, without the field, saying so. What
    decides what runs (an entry, a command) is never set aside."""
    skill, errors = _set_aside_until_built(
        folder, docs, exc, strict=False,
        may=lambda key: key.split(".")[0] not in _NEVER_ASIDE)
    if skill is None:
        raise errors[-1]
    notes = tuple(e.message.removeprefix(f"{folder}{os.sep}") + " (set aside)" for e in errors)
    return dataclasses.replace(skill, warnings=skill.warnings + notes)


def _set_aside_until_built(folder: Path, docs: list[ManifestDoc], exc: ManifestError, *,
                           strict: bool, may: Callable[[str], bool] = lambda _: True,
                           ) -> tuple[Skill | None, list[ManifestError]]:
    """Build again with the field each error names set aside, one at a time: the skill
    once what remains builds (None if a field cannot be set aside), and every error met."""
    docs = [dataclasses.replace(d, fields=copy.deepcopy(d.fields)) for d in docs]
    errors = [exc]
    for _ in range(64):  # each turn sets one field aside: a bound, not a loop forever
        key = exc.details.get("field")
        if not isinstance(key, str) or not may(key) or not _set_aside(docs, key):
            return None, errors
        try:
            return _Builder(folder, docs, strict=strict).build(), errors
        except ManifestError as again:
            exc = again
            errors.append(again)
    return None, errors


def check_skill(folder: Path, *, strict: bool = False) -> tuple[Skill | None, list[str]]:
    """Every problem of one skill folder's manifests, not only the first: a field found
    wrong is set aside and the rest read again (``skillexec skills validate``). The skill
    is returned when what remains loads, for the checks that need one."""
    try:
        return load_skill(folder, strict=strict), []
    except ManifestError as exc:
        first = exc
    folder = Path(folder).resolve()
    try:
        docs = [read_manifest(folder / n, strict=strict)
                for n in MANIFEST_NAMES if (folder / n).is_file()]
    except ManifestError:
        return None, [first.message]  # a manifest that cannot be read at all hides the rest
    skill, errors = _set_aside_until_built(folder, docs, first, strict=strict)
    return skill, [e.message for e in errors]


def _set_aside(docs: list[ManifestDoc], key: str) -> bool:
    """Remove ``key`` (dotted: ``execution.priority``) from every manifest, or the deepest
    part of its path that exists; False if nothing was there."""
    found = False
    parts = key.rsplit(": ", 1)[-1].split(".")  # the schema's errors name "<file>: <key>"
    for doc in docs:
        holder: Any = doc.fields
        for depth, part in enumerate(parts):
            if not isinstance(holder, dict) or part not in holder:
                break
            if depth == len(parts) - 1 or not isinstance(holder[part], dict) or (
                    parts[depth + 1] not in holder[part]):
                del holder[part]
                found = True
                break
            holder = holder[part]
    return found


class _Builder(EntryResolver):
    """Merges the manifests of one folder and normalises each field, remembering which file
    every field came from so that errors can name it."""

    def __init__(self, folder: Path, docs: list[ManifestDoc], *, strict: bool) -> None:
        self.folder = folder
        self.strict = strict
        self.docs = docs
        self.fields: dict[str, Any] = {}
        self.origin: dict[str, str] = {}
        for doc in reversed(docs):  # lowest precedence first, so higher ones overwrite
            self.fields.update(doc.fields)
            self.origin.update(dict.fromkeys(doc.fields, doc.path.name))
        self.warnings: list[str] = [w for doc in docs for w in doc.warnings
                                    if not self._given_beside(doc, w)]

    def _given_beside(self, doc: ManifestDoc, warning: str) -> bool:
        """Whether ``warning`` is SKILL.md's of a name or description that a skill.json or
        skill.yaml beside it gives (Skilzy's: "'name' is required" of a skill it named)."""
        if doc.path.name != "SKILL.md" or len(self.docs) == 1:
            return False
        others = {k for d in self.docs if d is not doc for k in d.fields}
        said = warning.removeprefix("SKILL.md: ")
        return (said.startswith("'name' is required") and bool(
                    others & {"name", "id", "skill_id"})) or (
                said.startswith("'description' is") and "description" in others)

    def where(self, key: str) -> str:
        return f"{self.folder / self.origin.get(key, self.docs[0].path.name)}: {key}"

    def fail(self, key: str, problem: str) -> ManifestError:
        return ManifestError(f"{self.where(key)} {problem}",
                             details={"path": str(self.folder), "field": key})

    def _rank(self, key: str) -> int:
        """Precedence of the manifest a field came from: lower wins."""
        return MANIFEST_NAMES.index(self.origin[key])

    def warn(self, key: str, problem: str) -> None:
        self.warnings.append(f"{self.origin.get(key, self.docs[0].path.name)}: {key} {problem}")

    def build(self) -> Skill:
        ident = self._id()
        plugin = plugin_of(self.folder)
        if plugin is not None and plugin.name is not None:
            ident = f"{plugin.name}:{ident}"  # as Claude Code names a plugin's skill
        execution, exec_warnings = parse_execution(
            self.fields.get("execution"), where=self.where("execution"), strict=self.strict)
        permissions, perm_warnings = parse_permissions(
            self.fields.get("permissions"), where=self.where("permissions"), strict=self.strict)
        # Warnings name the manifest by its file name, like the others; errors by full path.
        prefix = f"{self.folder}{os.sep}"
        self.warnings += [w.removeprefix(prefix) for w in exec_warnings + perm_warnings]
        config_schema = self._mapping("config_schema")
        manifest = dict(self.fields)
        body = next((d.body for d in self.docs if d.body is not None), None)
        if body:
            body = with_claude_paths(body, folder=self.folder, plugin=plugin)
        if body and "instructions" not in manifest:
            manifest["instructions"] = body
        parts: dict[str, Any] = {
            "version": self._version(),
            "entry": self._checked_entry(),
            "name": self._text("name") or ident,
            "description": self._text("description"),
            "parameters_schema": self._parameters_schema(),
            "output_schema": self._mapping("output_schema"),
            "dependencies": parse_packages(self.fields.get("dependencies"),
                                           where=self.where("dependencies")),
            "skill_dependencies": parse_skill_dependencies(
                self.fields.get("skill_dependencies"), where=self.where("skill_dependencies")),
            "default_config": self._default_config(config_schema),
            "category": self._text("category"),
            "author": self._author(),
            "tags": self._tags(),
        }
        resources, scripts, full = scan_bundle(
            self.folder, top_level_scripts=bool(body and not parts["entry"].runnable),
            scope=plugin.root if plugin else None)
        if body:
            scripts += named_scripts(body, resources, scripts, name=self.folder.name)
        if plugin is not None and plugin.root is not None and body:
            # Those its instructions name: UiPath's 26 skills each offered the repository's
            # 14 maintenance scripts (one rewrote .cursor-plugin/plugin.json).
            scripts += tuple(s for s in plugin_scripts(plugin.root, self.folder)
                             if s not in scripts and os.path.basename(s) in body)
        if full:
            self.warnings.append(f"the folder holds more than {MAX_RESOURCES} files: the "
                                 f"first {MAX_RESOURCES} (shallowest first) are listed; the "
                                 "others are served by their path")
        return Skill(
            id=ident, path=self.folder, plugin_root=plugin.root if plugin else None,
            execution=execution, permissions=permissions,
            config_schema=config_schema, source="+".join(d.path.name for d in self.docs),
            manifest=manifest, warnings=tuple(self.warnings), instructions=body or None,
            resources=resources, scripts=scripts, **parts,
        )

    # -- scalar fields --------------------------------------------------------------------

    def _text(self, key: str, default: str = "") -> str:
        value = self.fields.get(key)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]  # what an unknown YAML tag such as !!python/object/apply leaves
        if value is None:
            return default
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value).strip()
        raise self.fail(key, f"must be text, not {brief(value)}")

    def _id(self) -> str:
        present = [k for k in ("id", "skill_id") if self.fields.get(k) not in (None, "")]
        # The id from the highest-precedence manifest wins, whichever spelling it used.
        present.sort(key=self._rank)
        if not present:
            if self.strict:
                raise self.fail("id", "is missing")
            ident = folder_id(self.folder)
            self.warn("id", f"is missing; using the folder name {ident!r}")
        else:
            ident = self._text(present[0])
            others = {self._text(k) for k in present[1:]} - {ident}
            if others:
                self.warn(present[0], f"{ident!r} differs from {sorted(others)} (using {ident!r})")
        # One spelling of each letter (a folder name from macOS is decomposed, NFD).
        ident = unicodedata.normalize("NFC", ident)
        if not SKILL_ID.match(ident):
            raise self.fail("id", f"{ident!r} is not a valid skill id (letters, digits, '-', "
                                  "'_' and '.', starting with a letter or digit, at most 128)")
        if why := mixed_scripts(ident):
            raise self.fail("id", f"{ident!r} is not a valid skill id: {why}")
        return ident

    def _version(self) -> str:
        if self.fields.get("version") in (None, ""):
            # Said of code, whose version keys its cache and runs; the Agent Skills
            # specification gives instructions none.
            if any(k in self.fields for k in ("entry_point", "command", "main_file")) or any(
                    d.path.name != "SKILL.md" for d in self.docs):
                self.warn("version", "is missing; using 1.0.0")
            return "1.0.0"
        text = self._text("version")
        try:
            parse_version(text)
        except ValueError as exc:
            raise self.fail("version", f"is malformed: {exc}") from None
        return text[1:] if text[:1] in ("v", "V") else text

    def _author(self) -> str:
        value = self.fields.get("author")
        if isinstance(value, dict):
            return str(value.get("name") or value.get("email") or "")
        return self._text("author")

    def _tags(self) -> tuple[str, ...]:
        value = self.fields.get("tags")
        if value is None:
            return ()
        if isinstance(value, str):
            return tuple(t.strip() for t in value.split(",") if t.strip())
        if isinstance(value, list) and all(isinstance(t, str | int | float) for t in value):
            return tuple(str(t) for t in value)
        raise self.fail("tags", f"must be a list of words, not {brief(value)}")

    def _mapping(self, key: str) -> dict[str, Any] | None:
        value = self.fields.get(key)
        if value is None or isinstance(value, dict):
            return value
        raise self.fail(key, f"must be an object, not {brief(value)}")

    def _default_config(self, config_schema: dict[str, Any] | None) -> dict[str, Any]:
        config = dict(self._mapping("default_config") or {})
        props = (config_schema or {}).get("properties")
        if isinstance(props, dict):
            # Py Copilot manifests often give defaults only inside config_schema.
            for name, prop in props.items():
                if isinstance(prop, dict) and "default" in prop:
                    config.setdefault(name, prop["default"])
        return config

    def _parameters_schema(self) -> dict[str, Any]:
        for key in ("parameters_schema", "parameters", "input_schema", "inputSchema"):
            if key in self.fields:
                return normalize_parameters_schema(self.fields[key], where=self.where(key))
        return {"type": "object"}
