"""A SKILL.md front matter that YAML refuses, read key by key as Claude Code and OpenClaw
load it (lenient mode only): each top-level key's lines as YAML, and where one key's lines
are not YAML, that key alone read otherwise, with a note naming it: as the JSON it is
(OpenClaw's ``metadata`` with ``\\uD83D\\uDD2D`` escapes, which YAML refuses), or as plain
text (``argument-hint: [pr-number] [priority]``, ``description: Fetch: transcripts``; a
prose value that starts with a block indicator or a Markdown image, ``description: | Use
when...``, ``description: ![](logo.png) ...``, as Claude Code's own retry reads it: the
line, quoted). ``metadata``, a mapping of text, is read entry by entry the same way
(``author: github: Raishin``). One unreadable key does not cost the whole skill; anything
not read with confidence (a structure, a key given twice, what skillexec installs or runs)
leaves the whole front matter refused, as YAML refused it."""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import yaml

from skillexec.skills.yaml_loader import safe_yaml_load

__all__ = ["CLAUDE_CODE_KEYS", "READ_AT_TOP", "SKILLEXEC_KEYS", "SKILL_MD_KEYS",
           "JsonKeyGivenTwice", "read_by_key", "unique_keys"]

SKILL_MD_KEYS = frozenset(
    {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}
)
# Outside the specification, yet read where a skill puts them at the top (as skill.json has
# them): saying "unknown" of a key that sets the skill's version would be untrue.
READ_AT_TOP = frozenset({"version", "entry_point", "command"})
# The rest of skill.json's vocabulary, read where a SKILL.md has it at its top.
SKILLEXEC_KEYS = frozenset({
    "id", "skill_id", "main_file", "permissions", "execution", "dependencies",
    "skill_dependencies", "parameters", "parameters_schema", "input_schema", "inputSchema",
    "output_schema", "default_config", "config_schema", "tags", "category", "author"})
# Claude Code's own keys beside the specification's (its skills reference): they steer
# Claude Code, not a run, and are kept; only strict mode, the specification's, names them.
CLAUDE_CODE_KEYS = frozenset({
    "argument-hint", "disable-model-invocation", "user-invocable", "model", "effort",
    "context", "agent", "hooks", "paths", "shell", "when_to_use"})

_MAX_KEYS = 200  # a front matter read key by key: real ones have a dozen
# What skillexec acts on (what it installs, runs, asks for): a value YAML refuses there is
# never guessed at ('dependencies: [ray[data], pyarrow]' read as text is no package list),
# but set aside, as the loader sets aside such a field it cannot read; what decides what
# runs, or which skill this is, never is (the loader's rule too).
_ACTED_ON = READ_AT_TOP | SKILLEXEC_KEYS
_NEVER_ASIDE = frozenset({"entry_point", "command", "main_file", "id", "skill_id"})
# A '[' or '{' there starts a structure the skill is read from (metadata holds an entry):
# text in brackets is no reading of it.
_STRUCTURED = _ACTED_ON | {"metadata"}
_ASIDE = object()
# Prose: its lines below may hold ': ' and still be its text (ai-reverse-toolkit's
# "  TRIGGER when: ..." under a description); and it may start with what YAML reads as
# a block indicator or a tag, where the line is text all the same ("| Use when...",
# "![](logo.png) Use when...": 9,018 of tomevault's 9,022 refusals). Claude Code reads
# such a line, retried quoted (its frontmatterParser's quoteProblematicValues), as it is.
_PROSE = frozenset({"description", "when_to_use", "argument-hint", "compatibility"})
# A block's indicator alone ("|", ">-", "|2 # note"): its text is on the lines below, and
# a mistake there is no text. With text on its own line ("| Use when", ">= 3.10") it is.
_BLOCK_HEADER = re.compile(r"^[|>][-+0-9]*[ \t]*(#.*)?$")


class _Scope(NamedTuple):
    """Where a key is read: the keys set aside where YAML refuses them and they are not
    read otherwise (``acted_on``; ``never_aside``: the whole front matter refused), whether
    those are read as JSON or text at all, the keys that take no text in brackets
    (``structured``), and how a note names a key."""

    acted_on: frozenset[str]
    never_aside: frozenset[str]
    acted_on_read_otherwise: bool
    structured: frozenset[str]
    prefix: str


_TOP = _Scope(_ACTED_ON, _NEVER_ASIDE, True, _STRUCTURED, "")
# metadata's entries: text to the specification, but the loader takes an entry, a command
# and a version from them (manifest._agent_fields): those are read as YAML or not at all.
_IN_METADATA = _Scope(frozenset({"entry_point", "command", "main_file", "version"}),
                      frozenset({"entry_point", "command", "main_file"}), False,
                      frozenset({"entry_point", "command", "main_file", "version"}),
                      "metadata.")
_KEY = re.compile(r"^([A-Za-z_][\w-]*):(?:[ \t]+(.*))?$")
# An indented line that starts with one word and a colon names a key: a mapping meant
# under the value, or a key indented by mistake ('  bad: here'), never read as text.
# Prose puts words with spaces before its colon ("TRIGGER when:", "Use it for:").
_KEY_SHAPED = re.compile(r"^\s+[A-Za-z_][\w-]*:(\s|$)")
_LEADS = {"[": "a '[' starts a YAML list, and text follows it",
          "{": "a '{' starts a YAML mapping, and text follows it",
          "*": "YAML reads a leading '*' as an alias", "@": "YAML reserves a leading '@'",
          "`": "YAML reserves a leading '`'", "%": "YAML reads a leading '%' as a directive",
          "|": "a '|' starts a YAML block, whose text goes on the lines below it",
          ">": "a '>' starts a YAML block, whose text goes on the lines below it",
          "!": "YAML reads a leading '!' as a tag"}


class JsonKeyGivenTwice(ValueError):
    """A key given twice in one JSON object (``json`` keeps the last, silently)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``'s ``object_pairs_hook`` that refuses a key given twice."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonKeyGivenTwice(key)
        out[key] = value
    return out


def read_by_key(text: str, *, first_line: int = 1) -> tuple[dict[str, Any], list[str]] | None:
    """``text`` read key by key: (its keys, a note for each key read otherwise than as
    YAML, naming its line: ``first_line`` is the file's line ``text`` starts at), or None
    where anything is not read with confidence."""
    return _by_key(text, first_line, _TOP)


def _by_key(text: str, first_line: int,
            scope: _Scope) -> tuple[dict[str, Any], list[str]] | None:
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines)
              if line[:1] not in ("", " ", "\t", "#", "-") and line.strip()]
    if not starts or len(starts) > _MAX_KEYS or any(
            line.strip() and not line.lstrip().startswith("#") for line in lines[:starts[0]]):
        return None
    front: dict[str, Any] = {}
    seen: set[Any] = set()  # front's keys, and those set aside
    notes: list[str] = []
    for n, end in zip(starts, [*starts[1:], len(lines)], strict=True):
        try:
            value = safe_yaml_load("\n".join(lines[n:end]))
        except yaml.constructor.ConstructorError:
            return None  # a key given twice in its value: no reading around that
        except (yaml.YAMLError, RecursionError) as exc:
            entries = _metadata_by_entry(lines[n:end], n + first_line) \
                if scope is _TOP else None
            if entries is not None:
                value, entry_notes = entries
                notes += entry_notes
            else:
                read = _read_otherwise(lines[n:end],
                                       getattr(exc, "problem", None) or str(exc), scope)
                if read is None:
                    return None
                key, as_read, how = read
                notes.append(f"line {n + first_line}: {scope.prefix + key!r} is not valid "
                             f"YAML {how}")
                value = {key: as_read}
        if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) in seen:
            return None
        seen.update(value)
        front.update((k, v) for k, v in value.items() if v is not _ASIDE)
    return front, notes


def _metadata_by_entry(block: list[str], first_line: int
                       ) -> tuple[dict[str, Any], list[str]] | None:
    """``metadata:`` and its indented entries, YAML refusing one (``author: github:
    Raishin``), read entry by entry as the top is read key by key: ({"metadata": its
    entries}, the notes), or None where it is no such block."""
    match = _KEY.match(block[0])
    if match is None or match[1] != "metadata" or not (match[2] or "#").startswith("#"):
        return None  # a value on its own line (a comment aside) is no block of entries
    first = next((line for line in block[1:]
                  if line.strip() and not line.lstrip().startswith("#")), None)
    if first is None:
        return None
    indent = first[:len(first) - len(first.lstrip())]
    if "\t" in indent:
        return None
    entries: list[str] = []
    for line in block[1:]:
        if line.startswith(indent):
            entries.append(line[len(indent):])
        elif not line.strip() or line.lstrip().startswith("#"):
            entries.append("")
        else:
            return None  # one margin, or it is not read with confidence
    read = _by_key("\n".join(entries), first_line + 1, _IN_METADATA)
    return None if read is None else ({"metadata": read[0]}, read[1])


def _read_otherwise(block: list[str], problem: str,
                    scope: _Scope) -> tuple[str, Any, str] | None:
    """One key's lines that YAML refuses (for ``problem``): (the key, its value or _ASIDE,
    why YAML refused it and how it was read), or None."""
    match = _KEY.match(block[0])
    if match is None:
        return None
    key = match[1]
    if key not in scope.acted_on or scope.acted_on_read_otherwise:
        try:
            read = _json_or_text(key, (match[2] or "").strip(), block[1:],
                                 structured=scope.structured)
        except JsonKeyGivenTwice:
            return None
        if read is not None:
            value, why, how = read
            return key, value, f"({why or problem}); {how}"
    if key in scope.acted_on and key not in scope.never_aside:
        return key, _ASIDE, (f"({problem}); set aside (a field skillexec acts on is not "
                             "guessed at): fix the YAML to have it read")
    return None


def _json_or_text(key: str, rest: str, below: list[str], *,
                  structured: frozenset[str]) -> tuple[Any, str | None, str] | None:
    """A value YAML refuses, read as JSON or as text: (the value, why YAML refused it if
    known, how it was read), or None."""
    more = [line for line in below if line.strip()]
    # Its lines below, indented, continue it; anything else is a structure not guessed at.
    if any(not line[:1].isspace() or line.lstrip().startswith("#") for line in more):
        return None
    whole = "\n".join([rest, *more]).strip()
    if whole[:1] in ("[", "{"):
        try:  # JSON reads surrogate pairs ("\uD83D\uDD2D"), which YAML refuses
            return _json(whole), None, "valid JSON, read as JSON"
        except JsonKeyGivenTwice:
            raise
        except (ValueError, RecursionError):
            pass  # not JSON either
    prose = key in _PROSE
    if not rest or rest[0] in "\"'&" or (rest[0] in "!|>" and not prose) or (
            rest[0] in "[{" and (key in structured or not _closed(whole))):
        return None  # a quoted, anchored, tagged or block value, a list left open
    if _BLOCK_HEADER.match(rest):
        return None
    if any(_KEY_SHAPED.match(line) or (
            not prose and (": " in line or line.rstrip().endswith(":"))) for line in more):
        return None
    why = _LEADS.get(rest[0]) or (
        "an unquoted ': ' in it?" if any(": " in t for t in [rest, *more]) else None)
    return (" ".join([rest, *(line.strip() for line in more)]), why,
            "read as plain text (quote the value to make it valid YAML)")


def _closed(text: str) -> bool:
    """Whether every bracket opened in ``text`` is closed, in order: "[pr-number] [priority]"
    is text in brackets, "[this list is never" a list left open by mistake."""
    stack: list[str] = []
    for c in text:
        if c in "[{":
            stack.append("]" if c == "[" else "}")
        elif c in "]}" and (not stack or stack.pop() != c):
            return False
    return not stack


def _json(text: str) -> Any:
    def no_constant(name: str) -> Any:  # NaN, Infinity: no JSON encoder writes them back
        raise ValueError(name)

    return json.loads(text, object_pairs_hook=unique_keys, parse_constant=no_constant)
