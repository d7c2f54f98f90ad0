"""Reading manifests: ``skill.json``, ``skill.yaml``/``skill.yml`` and ``SKILL.md``.

Each file is read into a :class:`ManifestDoc` whose ``fields`` use one vocabulary (the
``skill.json`` one), so that the loader can merge side-by-side manifests field by field
before turning them into a :class:`~skillexec.skills.model.Skill`.

YAML is read with a SafeLoader subclass that turns any tag it does not know (Py Copilot's
own ``skill.yaml`` files carry ``!!python/object/apply:`` tags) into the plain value under
it, so reading a manifest can never run code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from skillexec.errors import ManifestError
from skillexec.skills.fields import SKILL_ID

__all__ = [
    "MANIFEST_NAMES",
    "MAX_MANIFEST_BYTES",
    "ManifestDoc",
    "read_manifest",
    "safe_yaml_load",
]

# In order of precedence: a field in skill.json wins over the same field in skill.yaml,
# which wins over SKILL.md's front matter.
MANIFEST_NAMES = ("skill.json", "skill.yaml", "skill.yml", "SKILL.md")
MAX_MANIFEST_BYTES = 1 << 20  # a manifest is metadata; anything bigger is a mistake or abuse
MAX_MANIFEST_DEPTH = 64  # levels of nesting; real manifests use fewer than ten
MAX_MANIFEST_VALUES = 100_000  # values once YAML aliases are expanded (a "billion laughs")

_SKILL_MD_KEYS = frozenset(
    {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}
)
# Outside the specification, yet read where a skill puts them at the top (as skill.json has
# them): saying "unknown" of a key that sets the skill's version would be untrue.
_READ_AT_TOP = frozenset({"version", "entry_point", "command"})
_AGENT_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True, slots=True)
class ManifestDoc:
    """One manifest file, read: its fields in ``skill.json`` vocabulary."""

    path: Path
    fields: dict[str, Any]
    body: str | None = None  # SKILL.md: the Markdown instructions after the front matter
    warnings: tuple[str, ...] = field(default=())


class _GivenTwice(yaml.constructor.ConstructorError):
    def __init__(self, key: Any, first: yaml.Mark, again: yaml.Mark) -> None:
        super().__init__(None, None, f"the key {key!r} is given twice", again)
        self.key, self.first = key, first


class _PlainMapping:
    """Refuses a key given twice in one mapping (PyYAML keeps the last, silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                    key_node, yaml.ScalarNode):
                continue  # '<<' merges may override; a complex key is refused below
            key = self.construct_object(key_node)  # type: ignore[attr-defined]
            if key in seen:
                raise _GivenTwice(key, seen[key], key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc, no-any-return]


class _PlainLoader(_PlainMapping, yaml.SafeLoader):
    """SafeLoader that reads unknown tags as plain data and timestamps as strings."""


def _c_loader() -> type[yaml.SafeLoader] | None:
    # libyaml parses ten times faster than PyYAML's Python (a 3,000-skill folder loads in
    # half the time); from 0.2.5 it refuses nesting over 1,000 levels itself, so that a
    # hostile '[[[[...' cannot recurse through the C stack. Older or absent: Python's.
    c_loader = getattr(yaml, "CSafeLoader", None)
    try:
        version = tuple(yaml._yaml.get_version())
    except AttributeError:
        return None
    if c_loader is None or version < (0, 2, 5):
        return None
    return type("_CPlainLoader", (_PlainMapping, c_loader), {})


def _construct_plain(loader: yaml.SafeLoader, suffix: Any, node: yaml.Node | None = None) -> Any:
    # Registered both as the fallback constructor (called with the node) and as the
    # multi-constructor for every prefix (called with the tag suffix and the node).
    target = node if node is not None else suffix
    if isinstance(target, yaml.MappingNode):
        return loader.construct_mapping(target, deep=True)
    if isinstance(target, yaml.SequenceNode):
        return loader.construct_sequence(target, deep=True)
    if isinstance(target, yaml.ScalarNode):
        return loader.construct_scalar(target)
    raise yaml.constructor.ConstructorError(None, None, f"cannot read tag {suffix!r}")


def _construct_timestamp_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    # Manifests end up in JSON (HTTP, journal): keep dates as the text that was written.
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_LOADERS = tuple(loader for loader in (_c_loader(), _PlainLoader) if loader is not None)
for _loader in _LOADERS:
    _loader.add_constructor(None, _construct_plain)
    _loader.add_multi_constructor("", _construct_plain)
    _loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_text)


def safe_yaml_load(text: str) -> Any:
    """Parse YAML without ever constructing Python objects from tags."""
    return yaml.load(text, Loader=_LOADERS[0])  # noqa: S506 - a SafeLoader subclass


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
            data = json.loads(text, object_pairs_hook=_unique_keys)
        except _DuplicateKey as dup:
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


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


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
    except _GivenTwice as exc:
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
        raise ManifestError(f"{path}: invalid YAML{where}: {problem}",
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
    front_text, body = _split_front_matter(path, text)
    front = _load_yaml(path, front_text, first_line=2) if front_text.strip() else {}
    if not isinstance(front, dict):
        raise ManifestError(
            f"{path}: the front matter must be a mapping of keys, not {type(front).__name__}",
            details={"path": str(path)},
        )
    problems, notes = _check_agent_skill(path, front)
    if strict and (problems or notes):
        raise ManifestError(f"{path}: " + "; ".join(problems + notes),
                            details={"path": str(path), "problems": problems + notes})
    warnings = tuple(f"{path.name}: {p}" for p in problems + notes)
    return ManifestDoc(path=path, fields=_agent_fields(path, front), body=body.strip(),
                       warnings=warnings)


def _split_front_matter(path: Path, text: str) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ManifestError(
            f"{path}: no YAML front matter: the file must start with a '---' line, then "
            "name and description, then another '---' line",
            details={"path": str(path)},
        )
    for i in range(1, len(lines)):
        if lines[i].rstrip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1:])
    raise ManifestError(f"{path}: the front matter is not closed by a '---' line",
                        details={"path": str(path)})


def _check_agent_skill(path: Path, front: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The Agent Skills specification's rules: (violations, unknown keys)."""
    problems: list[str] = []
    name = front.get("name")
    folder = path.parent.name
    if name is None:
        problems.append(f"'name' is required (using the folder name {folder!r})")
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
    compat = front.get("compatibility")
    if compat is not None and (not isinstance(compat, str) or len(compat) > 500):
        problems.append("'compatibility' must be text of at most 500 characters")
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
    if tools is not None and not isinstance(tools, str):
        problems.append("'allowed-tools' must be a space-separated string")
    unknown = sorted(str(k) for k in front if k not in _SKILL_MD_KEYS)
    notes = [f"front matter key {k!r} is not in the Agent Skills specification (read as "
             f"the skill's {k}; metadata.{k} is where the specification keeps it)"
             if k in _READ_AT_TOP else f"unknown front matter key {k!r} (kept)"
             for k in unknown]
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
        fields["id"], fields["name"] = path.parent.name, name.strip()
    else:
        fields["id"] = fields["name"] = name if isinstance(name, str) and name \
            else path.parent.name
    if "allowed-tools" in front:
        fields["allowed_tools"] = front["allowed-tools"]
    meta = front.get("metadata")
    if isinstance(meta, dict):
        # The specification has no entry and no version; metadata is where they live.
        for key in ("entry_point", "command", "version", "author", "category"):
            if key in meta and key not in fields:
                fields[key] = meta[key]
    return fields


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
