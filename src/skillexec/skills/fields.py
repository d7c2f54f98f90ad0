"""The manifest's structured fields, checked: ``execution``, ``permissions``,
``dependencies`` and ``skill_dependencies``.

Shared by the folder loader and the ``@skill`` decorator, so that a bad value reads the same
wherever it was written. Each function takes ``where`` (the file and field, for messages) and
raises :class:`~skillexec.errors.ManifestError` naming the field and the value.
"""

from __future__ import annotations

import itertools
import re
import reprlib
import unicodedata
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from skillexec.errors import ManifestError
from skillexec.skills.field_shapes import names_own_files
from skillexec.skills.model import (
    ExecutionSettings,
    Isolation,
    PackageDependency,
    Permission,
    SkillDependency,
)
from skillexec.skills.semver import parse_requirement

__all__ = [
    "SKILL_ID",
    "SKILL_REF",
    "brief",
    "mixed_scripts",
    "parse_execution",
    "parse_packages",
    "parse_permissions",
    "parse_skill_dependencies",
]


def _brahmic_marks() -> str:
    """The combining marks of the scripts that write vowels with them (Devanagari to
    Sinhala, Thai, Lao, Tibetan, Myanmar, Khmer): 'हिंदी' or 'ภาษาไทย' are not words
    without them, and ``\\w`` takes none (they are not alphanumeric). Not the general
    diacritics (U+0300...): a Latin letter with one composes to a letter, which NFC makes."""
    blocks = ((0x0900, 0x0DFF), (0x0E00, 0x0FFF), (0x1000, 0x109F), (0x1780, 0x17FF))
    return "".join(chr(c) for lo, hi in blocks for c in range(lo, hi + 1)
                   if unicodedata.category(chr(c)).startswith("M"))


# Letters and digits of any script (hermes-skills' 编程心法: Claude Code loads it), the marks
# of those written with them, '.', '_' and '-'; see also mixed_scripts.
_ID = f"[^\\W_][\\w{_brahmic_marks()}.-]{{0,127}}"
SKILL_ID = re.compile(f"^{_ID}\\Z")
# What names a skill: its id, or a plugin's skill as Claude Code names it, "<plugin>:<id>"
# (see skills.plugins). A manifest declares only the id.
SKILL_REF = re.compile(f"^(?:{_ID}:)?{_ID}\\Z")
# Scripts whose letters pass for Latin ones ('pdf' spelt with a Cyrillic letter for p).
_LOOKALIKE_SCRIPTS = ("CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC", "LISU")


def mixed_scripts(ident: str) -> str | None:
    """Why ``ident`` may not name a skill though SKILL_ID matches it: Latin letters mixed
    with letters of a script that has look-alikes of them, so that two skills' ids read the
    same (an operator's grant or a caller's call would go to the one not meant), or a mark
    on a letter of another script; else None. An id all in one script, or Latin with CJK
    ('excel-助手') or Devanagari ('x-हिंदी'), is fine."""
    if ident.isascii():
        return None
    for before, ch in itertools.pairwise(ident):
        # A mark on a letter of another script ('pdf' + a Thai vowel sign reads as 'pdf').
        if unicodedata.category(ch).startswith("M") and _script(before) != _script(ch):
            return (f"it puts a {_script(ch).title()} mark ({ch!r}) on {before!r}, "
                    "a letter of another script")
    latin = other = None
    for ch in ident:
        if not ch.isalpha():
            continue
        if ch.isascii() or unicodedata.name(ch, "").startswith("LATIN"):
            latin = latin or ch
        elif unicodedata.name(ch, "").startswith(_LOOKALIKE_SCRIPTS):
            other = other or ch
    if latin and other:
        return (f"it mixes Latin letters with {unicodedata.name(other).split()[0].title()} "
                f"ones ({other!r}), which can read as the same letters")
    return None


def _script(ch: str) -> str:
    return unicodedata.name(ch, "?").split()[0]


_BRIEF = reprlib.Repr()  # keyword arguments only from Python 3.12
_BRIEF.maxstring = _BRIEF.maxother = 80
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxset = 5
_BRIEF.maxdict, _BRIEF.maxlevel, _BRIEF.maxlong = 4, 3, 40


def brief(value: Any) -> str:
    """``repr(value)`` short enough for a one-sentence error, whatever a manifest holds."""
    return _BRIEF.repr(value)

# name in the manifest -> (ExecutionSettings field, kind of value)
_EXECUTION_FIELDS: dict[str, tuple[str, str]] = {
    "timeout": ("timeout_s", "positive"),
    "timeout_s": ("timeout_s", "positive"),
    "max_retries": ("max_retries", "retries"),
    "priority": ("priority", "priority"),
    "memory_mb": ("memory_mb", "positive_int"),
    "cpu_seconds": ("cpu_seconds", "positive"),
    "isolation": ("isolation", "isolation"),
    "cacheable": ("cacheable", "bool"),
    "cache_ttl": ("cache_ttl_s", "non_negative"),
    "cache_ttl_s": ("cache_ttl_s", "non_negative"),
    "idempotent": ("idempotent", "bool"),
    "fallback": ("fallback", "skill_id"),
    "concurrency": ("concurrency", "positive_int"),
}
_KIND_TEXT = {
    "positive": "a number of seconds above 0",
    "non_negative": "a number of seconds, 0 or more",
    "retries": "a whole number from 0 to 100",
    "priority": "a whole number from 0 to 9",
    "positive_int": "a whole number above 0",
    "isolation": "one of " + ", ".join(repr(i.value) for i in Isolation),
    "bool": "true or false",
    "skill_id": "a skill id",
}
_INVALID = object()
_PERMISSION_ALIASES: dict[str, tuple[Permission, ...]] = {
    "network": (Permission.NETWORK_ACCESS,),
    "internet": (Permission.NETWORK_ACCESS,),
    "filesystem": (Permission.FILE_READ, Permission.FILE_WRITE),
    "file_system": (Permission.FILE_READ, Permission.FILE_WRITE),
    "database": (Permission.DATABASE_ACCESS,),
    "system": (Permission.SYSTEM_INFO,),
}
_PYTHON_SOURCES = frozenset({"", "pip", "pypi", "python", "conda"})
_SKILL_DEP = re.compile(
    r"^(?P<id>[A-Za-z0-9][A-Za-z0-9._:-]*?)\s*(?:@\s*(?P<at>.+)|(?P<op>(?:\^|~|[<>=!]=?).+))?$"
)


def parse_execution(
    raw: Any, *, where: str = "execution", strict: bool = False
) -> tuple[ExecutionSettings, list[str]]:
    """The ``execution`` block as settings, plus warnings (unknown settings, when lenient)."""
    if raw is None:
        return ExecutionSettings(), []
    if not isinstance(raw, dict):
        raise ManifestError(f"{where} must be an object of settings, not {brief(raw)}",
                            details={"field": "execution"})
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in raw.items():
        spec = _EXECUTION_FIELDS.get(key)
        if spec is None:
            known = ", ".join(k for k in _EXECUTION_FIELDS if not k.endswith("_s"))
            message = f"{where}.{key} is not a known setting (known: {known})"
            if strict:
                raise ManifestError(message, details={"field": f"execution.{key}"})
            warnings.append(message)
            continue
        if value is None:
            continue
        target, kind = spec
        checked = _check_setting(kind, value)
        if checked is _INVALID:
            raise ManifestError(
                f"{where}.{key} must be {_KIND_TEXT[kind]}, not {brief(value)}",
                details={"field": f"execution.{key}", "value": value},
            )
        values[target] = checked
    return ExecutionSettings(**values), warnings


def _check_setting(kind: str, value: Any) -> Any:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    is_int = isinstance(value, int) and not isinstance(value, bool)
    match kind:
        case "positive":
            return float(value) if is_number and value > 0 else _INVALID
        case "non_negative":
            return float(value) if is_number and value >= 0 else _INVALID
        case "retries":
            return value if is_int and 0 <= value <= 100 else _INVALID
        case "priority":
            return value if is_int and 0 <= value <= 9 else _INVALID
        case "positive_int":
            return value if is_int and value > 0 else _INVALID
        case "bool":
            return value if isinstance(value, bool) else _INVALID
        case "isolation":
            try:
                return Isolation(value)
            except ValueError:
                return _INVALID
        case _:
            return value if isinstance(value, str) and SKILL_REF.match(value) else _INVALID


def parse_permissions(
    raw: Any, *, where: str = "permissions", strict: bool = False
) -> tuple[frozenset[Permission], list[str]]:
    """Requested permissions from a list, a comma-separated string or ``{perm: true}``;
    unknown names are an error when strict, a warning (and not granted) otherwise."""
    if raw is None:
        return frozenset(), []
    names: list[Any]
    warnings: list[str] = []
    if isinstance(raw, dict):
        # Skilzy's {"network": {"allowedHosts": [...]}}: a request for the permission, with
        # settings no sandbox here enforces (hosts), said so; strict mode refuses it.
        settings = [k for k, v in raw.items() if isinstance(v, dict | list) and v]
        bad = [k for k, v in raw.items()
               if not isinstance(v, bool) and (strict or k not in settings)]
        if bad:
            raise ManifestError(f"{where}.{bad[0]} must be true or false",
                                details={"field": f"permissions.{bad[0]}"})
        warnings += [f"{where}.{k}: its settings are not read (what is asked for is the "
                     "permission as a whole; the operator grants it or not)" for k in settings]
        names = [k for k, v in raw.items() if v]
    elif isinstance(raw, str):
        names = [p for p in re.split(r"[,\s]+", raw) if p]
    elif isinstance(raw, list | tuple | set | frozenset):
        names = list(raw)
    else:
        raise ManifestError(f"{where} must be a list of permission names, not {brief(raw)}",
                            details={"field": "permissions"})
    granted: set[Permission] = set()
    for name in names:
        text = name.strip().lower() if isinstance(name, str) else ""
        if text in _PERMISSION_ALIASES:
            granted.update(_PERMISSION_ALIASES[text])
            continue
        try:
            granted.add(Permission(text))
        except ValueError:
            message = (f"{where} names an unknown permission {name!r} (known: "
                       + ", ".join(p.value for p in Permission) + ")")
            if strict or not isinstance(name, str):
                raise ManifestError(message, details={"field": "permissions"}) from None
            warnings.append(message + "; it is not requested")
    return frozenset(granted), warnings


# Names a dependencies mapping groups packages under, and the runtimes it may give a
# version for beside its packages (none of which is a Python package of the skill's).
_PYTHON_GROUPS = frozenset({"python", "pip", "pypi", "py"})
_ECOSYSTEMS = _PYTHON_GROUPS | frozenset({"system", "apt", "brew", "npm", "node", "nodejs",
                                          "skills", "binaries", "tools", "cargo", "go"})
# (Not "python": its version is checked against the interpreter's, see registry.)
_RUNTIMES = frozenset({"node", "nodejs", "npm", "deno", "bun", "java", "go", "ruby", "rust",
                       "cargo", "system"})


def parse_packages(raw: Any, *, where: str = "dependencies") -> tuple[PackageDependency, ...]:
    """Python packages from ``{name: specifier}``, ``["pandas>=1.5", ...]`` or
    ``[{package_name, version, source, optional}, ...]``."""
    if raw in (None, "", [], {}) or names_own_files(raw):
        return ()  # (cc-skills' {scripts: [x.py], ...}: the skill's own files, no package)
    items: list[tuple[Any, Any, bool]] = []
    if isinstance(raw, dict) and any(
            isinstance(k, str) and k.lower() in _ECOSYSTEMS and isinstance(v, list | dict)
            for k, v in raw.items()):
        # Grouped by ecosystem (Skilzy's {"python": [...], "system": [...]}): the Python
        # group's are the packages; npm's and the system's are not this engine's to install.
        return tuple(dep for k, v in raw.items() if isinstance(k, str)
                     and k.lower() in _PYTHON_GROUPS
                     for dep in parse_packages(v, where=f"{where}.{k}"))
    if isinstance(raw, dict):
        for name, spec in raw.items():
            if isinstance(name, str) and name.lower() in _RUNTIMES:
                continue  # {"node": ">=18"}: the runtime's version, not PyPI's 'node'

            if isinstance(spec, dict):
                items.append((name, spec.get("version"), _optional(spec, name, where)))
            else:
                items.append((name, spec, False))
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, str):
                items.extend(_requirement(item, where))
            elif isinstance(item, dict):
                if str(item.get("source") or "").lower() not in _PYTHON_SOURCES:
                    continue  # npm or system packages: kept in the manifest, not checked here
                name = item.get("package_name") or item.get("name") or item.get("package")
                spec = next((item[k] for k in ("version", "version_spec", "specifier")
                             if item.get(k) is not None), None)
                items.append((name, spec, _optional(item, name, where)))
            else:
                raise ManifestError(f"{where} has an entry {brief(item)} that is neither a "
                                    "requirement string nor an object",
                                    details={"field": "dependencies"})
    else:
        raise ManifestError(f"{where} must be a list or an object, not {brief(raw)}",
                            details={"field": "dependencies"})
    return tuple(PackageDependency(str(name), _specifier(name, spec, where), optional)
                 for name, spec, optional in items)


def _optional(entry: dict[str, Any], name: Any, where: str) -> bool:
    # "optional": "no" was true by its truth: a package the skill needs, never checked.
    value = entry.get("optional", False)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise ManifestError(f"{where}: {brief(name)}.optional must be true or false, not "
                        f"{brief(value)}", details={"field": "dependencies"})


def _requirement(text: str, where: str) -> list[tuple[Any, Any, bool]]:
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        # packaging draws a caret under the fault on further lines; a message is one line.
        problem = str(exc).splitlines()[0] if str(exc) else "not a requirement"
        raise ManifestError(f"{where} has an invalid requirement {brief(text)}: {problem}",
                            details={"field": "dependencies"}) from None
    if req.marker is not None and not req.marker.evaluate():
        return []  # for another platform or Python version
    return [(req.name, str(req.specifier), False)]


def _specifier(name: Any, spec: Any, where: str) -> str:
    if not isinstance(name, str) or not SKILL_ID.match(name):
        raise ManifestError(f"{where} names an invalid package {name!r}",
                            details={"field": "dependencies"})
    text = "" if spec is None else str(spec).strip()
    if text.lower() in ("", "*", "latest", "any"):
        return ""
    if re.match(r"^v?\d", text):
        text = "==" + text.lstrip("vV")  # a bare version means exactly that version
    try:
        return str(SpecifierSet(text))
    except InvalidSpecifier:
        raise ManifestError(
            f"{where} gives {name!r} an invalid version specifier {spec!r} "
            "(expected a PEP 440 specifier such as '>=1.5,<3')",
            details={"field": "dependencies", "package": name},
        ) from None


def parse_skill_dependencies(
    raw: Any, *, where: str = "skill_dependencies"
) -> tuple[SkillDependency, ...]:
    """Other skills from ``["id", "id@^1.2"]``, ``{id: requirement}`` or
    ``[{id, version}, ...]``; each requirement must be a valid semver requirement."""
    if raw in (None, "", [], {}):
        return ()
    pairs: list[tuple[Any, Any]] = []
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict):
                pairs.append((item.get("id") or item.get("skill_id") or item.get("name"),
                              item.get("version") or item.get("requirement")))
            elif isinstance(item, str) and (m := _SKILL_DEP.match(item.strip())):
                pairs.append((m["id"], m["at"] or m["op"]))
            else:
                raise ManifestError(f"{where} has an unreadable entry {brief(item)}",
                                    details={"field": "skill_dependencies"})
    else:
        raise ManifestError(f"{where} must be a list or an object, not {brief(raw)}",
                            details={"field": "skill_dependencies"})
    deps: list[SkillDependency] = []
    for ident, requirement in pairs:
        if not isinstance(ident, str) or not SKILL_REF.match(ident):
            raise ManifestError(f"{where} names an invalid skill id {ident!r}",
                                details={"field": "skill_dependencies"})
        req = "*" if requirement in (None, "") else str(requirement).strip()
        try:
            parse_requirement(req)
        except ValueError as exc:
            raise ManifestError(f"{where}: {ident!r}: {exc}",
                                details={"field": "skill_dependencies", "skill": ident}) from None
        deps.append(SkillDependency(ident, req))
    return tuple(deps)
