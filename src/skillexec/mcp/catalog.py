"""The tools published for the loaded skills: names, schemas, annotations, filters.

Recomputed only when the registry changes (its fingerprint), so ``tools/list`` and each
``tools/call`` cost a dict lookup."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import mcp_types as types

from skillexec.mcp.names import tool_names
from skillexec.mcp.schemas import input_schema, output_schema
from skillexec.mcp.settings import McpConfig
from skillexec.skills.model import Permission, Skill

__all__ = ["SKILL_ID_META", "Catalog", "SkillTool", "hints", "selected"]

SKILL_ID_META = "skillexec/skill_id"


@dataclass(frozen=True, slots=True)
class SkillTool:
    """One skill's tool: what ``tools/list`` shows and what a call needs."""

    name: str
    skill: Skill
    tool: types.Tool
    wrapped: bool  # outputs published as {"result": output}


def _flag(manifest: Mapping[str, Any], *keys: str) -> bool | None:
    hints = manifest.get("annotations")
    for key in keys:
        for where in (manifest, hints if isinstance(hints, Mapping) else {}):
            value = where.get(key)
            if isinstance(value, bool):
                return value
    return None


def hints(skill: Skill) -> types.ToolAnnotations:
    """Explicit hints (clients' defaults are destructive and open-world): read-only and
    destructive from the manifest, idempotent from its execution settings, open-world when
    the skill may use the network."""
    m = skill.manifest
    read_only = bool(_flag(m, "read_only", "readOnly", "readOnlyHint"))
    destructive = _flag(m, "destructive", "destructiveHint")
    if destructive is None:
        destructive = not read_only and Permission.FILE_WRITE in skill.permissions
    return types.ToolAnnotations(
        title=skill.name or skill.id, read_only_hint=read_only,
        destructive_hint=bool(destructive) and not read_only,
        idempotent_hint=skill.execution.idempotent or read_only,
        open_world_hint=Permission.NETWORK_ACCESS in skill.permissions)


def selected(skill_id: str, *, include: Iterable[str], exclude: Iterable[str]) -> bool:
    """Whether the include/exclude globs publish ``skill_id`` (no include: every skill)."""
    inc = tuple(include)
    if inc and not any(fnmatch.fnmatchcase(skill_id, g) for g in inc):
        return False
    return not any(fnmatch.fnmatchcase(skill_id, g) for g in exclude)


def _describe(skill: Skill) -> str:
    text = (skill.description or skill.name or skill.id).strip()
    timeout = skill.execution.timeout_s
    if timeout is not None and timeout > 50:
        text += (" (may run longer than a minute: skill_start / skill_result run it without "
                 "holding the call open)")
    return text


def _tool(name: str, skill: Skill) -> SkillTool:
    out, wrapped = output_schema(skill.output_schema)
    tool = types.Tool(
        name=name, title=skill.name or skill.id, description=_describe(skill),
        input_schema=input_schema(skill.parameters_schema), output_schema=out,
        annotations=hints(skill),
        _meta={SKILL_ID_META: skill.id, "skillexec/version": skill.version})
    return SkillTool(name=name, skill=skill, tool=tool, wrapped=wrapped)


class Catalog:
    """The skill tools of a registry, filtered by the ``mcp`` settings."""

    def __init__(self, skills: Callable[[], list[Skill]], settings: McpConfig, *,
                 reserved: Iterable[str] = ()) -> None:
        self._skills, self._settings, self._reserved = skills, settings, tuple(reserved)
        self._print: tuple[int, ...] | None = None
        self._by_name: dict[str, SkillTool] = {}
        self._by_skill: dict[str, SkillTool] = {}
        self._prompt_names: dict[str, str] = {}

    def fingerprint(self) -> tuple[int, ...]:
        """Changes whenever a skill is added, replaced or removed."""
        return tuple(id(s) for s in self._skills())

    def _refresh(self) -> None:
        skills = self._skills()
        fp = tuple(id(s) for s in skills)
        if fp == self._print:
            return
        s = self._settings
        runnable = [k for k in skills if k.runnable
                    and selected(k.id, include=s.include, exclude=s.exclude)]
        names = tool_names((k.id for k in runnable), prefix=s.tool_prefix,
                           reserved=self._reserved)
        tools = sorted((_tool(names[k.id], k) for k in runnable), key=lambda t: t.name)
        self._by_name = {t.name: t for t in tools}
        self._by_skill = {t.skill.id: t for t in tools}
        with_text = [k.id for k in skills if k.instructions
                     and selected(k.id, include=s.include, exclude=s.exclude)]
        self._prompt_names = dict(tool_names(with_text))
        self._print = fp

    def tools(self) -> list[SkillTool]:
        """Every published skill tool, sorted by name (prompt caches like a stable order)."""
        self._refresh()
        return list(self._by_name.values())

    def by_name(self, name: str) -> SkillTool | None:
        self._refresh()
        return self._by_name.get(name)

    def by_skill(self, skill_id: str) -> SkillTool | None:
        self._refresh()
        return self._by_skill.get(skill_id)

    def visible(self, skill_id: str) -> bool:
        s = self._settings
        return selected(skill_id, include=s.include, exclude=s.exclude)

    def prompts(self) -> Mapping[str, str]:
        """skill id -> prompt name, for the skills with instructions."""
        self._refresh()
        return self._prompt_names

    def not_a_tool(self, skill_id: str) -> str | None:
        """Why a visible skill is not a tool, and what it offers instead; None: no such
        skill here."""
        skill = next((k for k in self.skills() if k.id == skill_id), None)
        if skill is None or skill.runnable:
            return None
        prompt = self.prompts().get(skill.id)
        return (f"it has no entry to call (it offers {skill.offers})"
                + ("; run its scripts with run_skill_script" if skill.scripts else "")
                + (f"; its instructions are the prompt {prompt!r}" if prompt else ""))

    def skills(self) -> list[Skill]:
        return [k for k in self._skills() if self.visible(k.id)]
