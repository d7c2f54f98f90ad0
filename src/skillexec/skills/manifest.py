"""Reading manifests: ``skill.json``, ``skill.yaml``/``skill.yml`` and ``SKILL.md``.

Each file is read into a :class:`ManifestDoc` whose ``fields`` use one vocabulary (the
``skill.json`` one), so that the loader can merge side-by-side manifests field by field
before turning them into a :class:`~skillexec.skills.model.Skill`.

YAML is read with :mod:`skillexec.skills.yaml_loader`'s safe loader, so reading a manifest
can never run code; a SKILL.md front matter YAML refuses is read key by key by
:mod:`skillexec.skills.front_matter`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from skillexec.errors import ManifestError
from skillexec.skills.field_shapes import compatibility_problem, names_own_files
from skillexec.skills.fields import SKILL_ID
from skillexec.skills.front_matter import (
    CLAUDE_CODE_KEYS,
    READ_AT_TOP,
    SKILL_MD_KEYS,
    SKILLEXEC_KEYS,
    JsonKeyGivenTwice,
    read_by_key,
    unique_keys,
)
from skillexec.skills.yaml_loader import KeyGivenTwice, safe_yaml_load

__all__ = [
    "MANIFEST_NAMES",
    "MAX_MANIFEST_BYTES",
    "ManifestDoc",
    "folder_id",
    "read_manifest",
    "safe_yaml_load",
]

# In order of precedence: a field in skill.json wins over the same field in skill.yaml,
# which wins over SKILL.md's front matter.
MANIFEST_NAMES = ("skill.json", "skill.yaml", "skill.yml", "SKILL.md")
MAX_MANIFEST_BYTES = 1 << 20  # a manifest is metadata; anything bigger is a mistake or abuse
MAX_MANIFEST_DEPTH = 64  # levels of nesting; real manifests use fewer than ten
MAX_MANIFEST_VALUES = 100_000  # values once YAML aliases are expanded (a "billion laughs")

_AGENT_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_WRAPPERS = frozenset({"files", "file", "skill", "src", "content", "package", "dist",
                       "latest", "current", "main"})
_VERSIONED = re.compile(r"^v?\d+(\.\d+)*$")


@dataclass(frozen=True, slots=True)
class ManifestDoc:
    """One manifest file, read: its fields in ``skill.json`` vocabulary."""

    path: Path
    fields: dict[str, Any]
    body: str | None = None  # SKILL.md: the Markdown instructions after the front matter
    warnings: tuple[str, ...] = field(default=())


class _InvalidYaml(ManifestError):
    """Text that is not YAML (as opposed to YAML that is not a manifest)."""


def read_manifest(path: Path, *, strict: bool = False) -> ManifestDoc:
    """Read one manifest file; ManifestError names the file and what is wrong."""
    text = _read_text(path)
    if not text.strip():
        raise ManifestError(
            f"{path}: the file is empty" + (
                "; it must start with YAML front matter ('---', name and description, '---')"
                if path.name == "SKILL.md" else "; it must be an object of fields"),
            details={"path": str(path)},
        )
    if path.name == "SKILL.md":
        return _read_skill_md(path, text, strict=strict)
    data: Any
    if path.suffix == ".json":
        try:
            data = json.loads(text, object_pairs_hook=unique_keys)
        except JsonKeyGivenTwice as dup:
            raise ManifestError(f"{path}: the key {dup.key!r} is given twice in one object "
                                "(JSON keeps only the last); say it once",
                                details={"path": str(path), "key": dup.key}) from None
        except json.JSONDecodeError as exc:
            raise ManifestError(
                f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                details={"path": str(path)},
            ) from None
        except RecursionError:
            raise _too_deep(path) from None
        _check_shape(path, data)
    else:
        data = _load_yaml(path, text)
    if not isinstance(data, dict):
        raise ManifestError(
            f"{path}: the manifest must be an object of fields, not {_kind(data)}",
            details={"path": str(path)},
        )
    return ManifestDoc(path=path, fields=_hoist_nested_shape(data))


def _read_text(path: Path) -> str:
    try:
        real = path.resolve()
        if not real.is_relative_to(path.parent.resolve()):
            # A folder someone else made (a clone, an archive) could otherwise show any file
            # this process may read as its instructions or description, to every client.
            raise ManifestError(f"{path}: a symlink to {real}, outside the skill folder (a "
                                "manifest is read only from inside its folder)",
                                details={"path": str(path)})
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise ManifestError(
                f"{path}: {size} bytes is too large for a manifest "
                f"(limit {MAX_MANIFEST_BYTES})",
                details={"path": str(path)},
            )
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                            details={"path": str(path)}) from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of symlinks (3.11)
        reason = exc.strerror if isinstance(exc, OSError) else None
        raise ManifestError(f"{path}: cannot be read: {reason or exc}",
                            details={"path": str(path)}) from None


def _too_deep(path: Path) -> ManifestError:
    return ManifestError(f"{path}: nested more than {MAX_MANIFEST_DEPTH} levels deep",
                         details={"path": str(path)})


def _check_shape(path: Path, data: Any) -> None:
    """Refuse what would hang or crash whoever walks the manifest later: nesting deeper
    than MAX_MANIFEST_DEPTH, a YAML alias that contains itself, and aliases that expand to
    more than MAX_MANIFEST_VALUES values. Shared (aliased) containers are sized once."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(value: Any, depth: int) -> int:
        if not isinstance(value, dict | list):
            if isinstance(value, str) and not value.isascii():
                try:
                    value.encode()
                except UnicodeEncodeError:
                    # A "\ud800" escape: no JSON encoder or UTF-8 terminal takes it (every
                    # listing of the skills failed on it, not only this skill's).
                    raise ManifestError(
                        f"{path}: {ascii(value)[:80]} is not valid Unicode text (a lone "
                        "surrogate, from an escape such as \\ud800)",
                        details={"path": str(path)}) from None
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise ManifestError(f"{path}: a YAML alias refers to a value that contains it",
                                details={"path": str(path)})
        if depth > MAX_MANIFEST_DEPTH:
            raise _too_deep(path)
        open_.add(key)
        items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
        total = 1
        for k, v in items:
            total += size(k, depth + 1) + size(v, depth + 1)
            if total > MAX_MANIFEST_VALUES:
                raise ManifestError(
                    f"{path}: expands to more than {MAX_MANIFEST_VALUES} values "
                    "(YAML aliases repeated inside each other?)",
                    details={"path": str(path)})
        open_.discard(key)
        sizes[key] = total
        return total

    size(data, 0)


def _load_yaml(path: Path, text: str, *, first_line: int = 1) -> Any:
    """``first_line``: the file's line the text starts at (SKILL.md's front matter: 2)."""
    try:
        data = safe_yaml_load(text)
    except RecursionError:
        raise _too_deep(path) from None
    except KeyGivenTwice as exc:
        assert exc.problem_mark is not None
        raise ManifestError(
            f"{path}: the key {exc.key!r} is given twice (lines {exc.first.line + first_line}"
            f" and {exc.problem_mark.line + first_line}); say it once",
            details={"path": str(path), "key": str(exc.key)}) from None
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(getattr(exc, "problem", "")):
            raise _too_deep(path) from None  # libyaml's own limit
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + first_line} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        # Where the parser noticed is often the line after the mistake: "could not find
        # expected ':'" at line 5, for a stray word on line 4; the context names line 4.
        context, at = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and at is not None and mark is not None and at.line != mark.line:
            problem += f" ({context} at line {at.line + first_line})"
        raise _InvalidYaml(f"{path}: invalid YAML{where}: {problem}",
                           details={"path": str(path)}) from None
    _check_shape(path, data)
    return data


def _hoist_nested_shape(data: dict[str, Any]) -> dict[str, Any]:
    """Py Copilot's installed Node skills nest their fields under ``metadata`` and
    ``config``; lift them to the top level, keeping the originals."""
    meta = data.get("metadata")
    if any(k in data for k in ("id", "skill_id", "name")) or not isinstance(meta, dict):
        return data
    if "name" not in meta:
        return data
    out = {**{k: v for k, v in meta.items() if k not in data}, **data}
    if "id" not in meta and isinstance(meta["name"], str) and SKILL_ID.match(meta["name"]):
        out["id"] = meta["name"]  # this shape's name is the identifier (package.json style)
    config = data.get("config")
    if isinstance(config, dict):
        entry = config.get("entry_point", config.get("entryPoint"))
        if entry is not None and "entry_point" not in out:
            out["entry_point"] = entry
        if "runtime" in config and "runtime" not in out:
            out["runtime"] = config["runtime"]
        if "permissions" in config and "permissions" not in out:
            out["permissions"] = config["permissions"]
        if "timeout" in config and "execution" not in out:
            out["execution"] = {"timeout": config["timeout"]}
    return out


def _read_skill_md(path: Path, text: str, *, strict: bool) -> ManifestDoc:
    front_text, body, read_notes = _split_front_matter(path, text, strict=strict)
    front = _front_matter(path, front_text, strict=strict, notes=read_notes)
    if not isinstance(front, dict):
        raise ManifestError(
            f"{path}: the front matter must be a mapping of keys, not {type(front).__name__}",
            details={"path": str(path)},
        )
    problems, notes = _check_agent_skill(path, front, strict=strict)
    if strict and (problems or notes):
        raise ManifestError(f"{path}: " + "; ".join(problems + notes),
                            details={"path": str(path), "problems": problems + notes})
    description = front.get("description")
    if not (isinstance(description, str) and description.strip()) and (
            paragraph := _first_paragraph(body)):
        # Claude Code's reading: "if omitted, the first paragraph of the content".
        front = {**front, "description": paragraph}
        problems = [p.replace("is required: 1-1024 characters",
                              "is missing: using the first paragraph of the instructions")
                    for p in problems]
    if not front_text.strip() and "description" not in front:
        raise ManifestError(f"{path}: no YAML front matter, and no paragraph to read a "
                            "description from: start the file with '---', name and "
                            "description, '---'", details={"path": str(path)})
    warnings = tuple(f"{path.name}: {p}" for p in read_notes + problems + notes)
    return ManifestDoc(path=path, fields=_agent_fields(path, front), body=body.strip(),
                       warnings=warnings)


def _split_front_matter(path: Path, text: str, *, strict: bool) -> tuple[str, str, list[str]]:
    """(front matter, body, what was read leniently). Claude Code loads a SKILL.md with
    no front matter (its folder's name, its first paragraph) or with blank lines before it
    (Qwayk's 22 of 52, a ClawHub skill); strict mode keeps the specification's rule."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip()), 0)
    fence = _fenced(lines, start) if not strict else None
    if fence is not None:  # grahama1970's consume-book: the whole file in a ````markdown
        lines = lines[start + 1:fence]
        start = next((i for i, line in enumerate(lines) if line.strip()), 0)
    opened = bool(lines) and lines[start].strip() == "---"
    garbled = not opened and bool(lines) and lines[start].lstrip().startswith("---")
    if garbled or (strict and not (opened and start == 0)):
        raise ManifestError(
            f"{path}: no YAML front matter: the file must start with a '---' line, then "
            "name and description, then another '---' line",
            details={"path": str(path)},
        )
    if not opened:
        return "", text, ["no YAML front matter: the folder's name is the skill's id"]
    for i in range(start + 1, len(lines)):
        if lines[i].rstrip() == "---":
            notes = ["blank lines before the front matter's first '---'"] if start else []
            if fence is not None:
                notes = ["the file is inside a Markdown code fence ('```'); read within it"]
            return "".join(lines[start + 1:i]), "".join(lines[i + 1:]), notes
    raise ManifestError(f"{path}: the front matter is not closed by a '---' line",
                        details={"path": str(path)})


def _fenced(lines: list[str], start: int) -> int | None:
    """The index of the fence that closes one opened at ``start`` around the whole file
    (a front matter right inside it), or None."""
    opener = lines[start].strip() if start < len(lines) else ""
    ticks = len(opener) - len(opener.lstrip("`"))
    if ticks < 3 or not any(line.strip() == "---" for line in lines[start + 1:start + 3]):
        return None
    last = max((i for i, line in enumerate(lines) if line.strip()), default=start)
    closing = lines[last].strip()
    return last if last > start and closing == "`" * ticks else None


def _front_matter(path: Path, text: str, *, strict: bool, notes: list[str]) -> Any:
    if not text.strip():
        return {}
    try:
        return _load_yaml(path, text, first_line=2)
    except _InvalidYaml:
        if strict or (by_key := read_by_key(text, first_line=2)) is None:
            raise
        front, read_otherwise = by_key
        _check_shape(path, front)
        notes += read_otherwise
        return front


def _first_paragraph(body: str) -> str:
    """The body's first paragraph of text (headings, rules and code fences skipped), as
    one line, at most 1,024 characters."""
    para: list[str] = []
    fenced = False
    for line in body.splitlines():
        text = line.strip()
        if text.startswith(("```", "~~~")):
            fenced = not fenced
        if fenced or not text or text.startswith(("#", "```", "~~~", "---", "<!--")) or (
                text.startswith("<") and text.endswith(">")):  # code, a tag alone
            if para:
                break
            continue
        para.append(text)
    return " ".join(para)[:1024]


def _check_agent_skill(path: Path, front: dict[str, Any], *,
                       strict: bool) -> tuple[list[str], list[str]]:
    """The Agent Skills specification's rules: (violations, unknown keys)."""
    problems: list[str] = []
    name = front.get("name")
    folder = path.parent.name
    if name is None:
        problems.append(f"'name' is required (using the folder name "
                        f"{folder_id(path.parent)!r})")
    elif not isinstance(name, str) or not 1 <= len(name) <= 64 or not _AGENT_NAME.match(name):
        problems.append(
            f"'name' must be 1-64 lowercase letters, digits and single hyphens, not {name!r}"
        )
    elif name != folder:
        problems.append(f"'name' {name!r} must equal the folder name {folder!r}")
    description = front.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append("'description' is required: 1-1024 characters")
    elif len(description) > 1024:
        problems.append(f"'description' has {len(description)} characters (at most 1024)")
    if (compat := compatibility_problem(front.get("compatibility"))) is not None:
        problems.append(compat)  # a mapping is said to be no text, not to be too long
    lic = front.get("license")
    if lic is not None and not isinstance(lic, str):
        problems.append("'license' must be text")
    meta = front.get("metadata")
    if meta is not None and (
        not isinstance(meta, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    ):
        problems.append("'metadata' must map strings to strings")
    tools = front.get("allowed-tools")
    if strict and tools is not None and not isinstance(tools, str):
        problems.append("'allowed-tools' must be a space-separated string")
    elif tools is not None and not isinstance(tools, str):
        # Claude Code reads a YAML list of tool names too (skills-curated's 27 skills)
        odd = [t for t in tools if not isinstance(t, str)] if isinstance(tools, list) else []
        if odd or not isinstance(tools, list):
            what = f" (its list holds {json.dumps(odd[0], default=str)}, not a name)" if odd \
                else f", not {'a mapping' if isinstance(tools, dict) else _kind(tools)}"
            problems.append("'allowed-tools' must be a space-separated string or a list of "
                            f"tool names{what}")
    notes = []
    for k in sorted(str(k) for k in front if k not in SKILL_MD_KEYS):
        if k in READ_AT_TOP:
            notes.append(f"front matter key {k!r} is not in the Agent Skills specification "
                         f"(read as the skill's {k}; metadata.{k} is where the specification "
                         "keeps it)")
        elif k == "dependencies" and names_own_files(front[k]):
            notes.append(f"front matter key {k!r} lists the skill's own files (cc-skills' "
                         "shape), not packages: no package is installed for it")
        elif k in SKILLEXEC_KEYS:
            notes.append(f"front matter key {k!r} is not in the Agent Skills specification "
                         f"(read as the skill's {k}, as skill.json has it)")
        elif k in CLAUDE_CODE_KEYS:
            if strict:
                notes.append(f"front matter key {k!r} is Claude Code's, not in the Agent "
                             "Skills specification")
        else:
            notes.append(f"unknown front matter key {k!r}" + ("" if strict else " (kept)"))
    return problems, notes


def _agent_fields(path: Path, front: dict[str, Any]) -> dict[str, Any]:
    """Front matter in skill.json vocabulary; unknown keys pass through as they are."""
    fields = {k: v for k, v in front.items() if k not in ("name", "allowed-tools")}
    name = front.get("name")
    # A name that is a title, not an id ("ACF to Gutenberg Block Migrator": 2,920 of
    # agentskillexchange's 2,922 skills), leaves the folder's name as the id, as the
    # specification has them equal; the title is kept as the name. (Strict mode refused
    # it already, above.)
    if isinstance(name, str) and name.strip() and not SKILL_ID.match(name):
        fields["id"], fields["name"] = folder_id(path.parent), name.strip()
    else:
        fields["id"] = fields["name"] = name if isinstance(name, str) and name \
            else folder_id(path.parent)
    if "allowed-tools" in front:
        fields["allowed_tools"] = front["allowed-tools"]
    meta = front.get("metadata")
    if isinstance(meta, dict):
        # The specification has no entry and no version; metadata is where they live.
        for key in ("entry_point", "command", "version", "author", "category"):
            if key in meta and key not in fields and _meant_as(key, meta[key]):
                fields[key] = meta[key]
    return fields


def folder_id(folder: Path) -> str:
    """The id a skill without one takes from its folder: the folder's name, or where that
    is a wrapper's ('files', 'src', a version), its parent's. bio-skills-hub keeps each
    skill in ``<owner>__<slug>/files/``: its skills named by a title all became 'files'."""
    name = folder.name
    if (name.lower() in _WRAPPERS or _VERSIONED.match(name)) and SKILL_ID.match(
            folder.parent.name):
        return folder.parent.name
    return name


def _meant_as(key: str, value: object) -> bool:
    """Whether ``metadata``'s ``value``, free-form under the specification, is this field:
    aws-agent-skills' ``entry_point: 'true'`` marks a skill the others start from, and
    refused 80 of them as "entry_point must be a file or module"."""
    if key == "entry_point":
        return isinstance(value, str) and any(c in value for c in ":./")
    if key == "command":
        return isinstance(value, str | list) and bool(value)
    if key == "version":
        return isinstance(value, str | int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def _kind(value: object) -> str:
    """What a manifest's document is, in JSON's and YAML's words (not Python's NoneType)."""
    if value is None:
        return "null (an empty document)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
