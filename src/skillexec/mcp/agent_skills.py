"""Agent Skills over MCP (DESIGN §3.5): each skill's instructions as the resource
``skillexec://skills/{id}/SKILL.md``, its bundled files beside it, a prompt per skill that
loads the instructions, and artifacts under ``skillexec://artifacts/{id}``."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from mcp import MCPError

from skillexec.errors import SkillExecError
from skillexec.mcp.catalog import Catalog
from skillexec.mcp.results import ARTIFACT_URI
from skillexec.skills.bundle import bundled_file
from skillexec.skills.model import Skill

__all__ = ["SKILL_URI", "prompt", "prompts", "read", "resources", "templates"]

SKILL_URI = "skillexec://skills/"
_TEXTUAL = ("application/json", "application/xml", "application/javascript",
            "application/x-sh", "application/x-python", "application/toml",
            "application/yaml", "application/x-yaml")


def _not_found(uri: str, why: str) -> MCPError:
    # -32602: the 2026-07-28 code for an unknown resource (legacy clients accept it too).
    return MCPError(types.INVALID_PARAMS, f"resource {uri!r} not found: {why}",
                    data={"uri": uri})


def resources(catalog: Catalog, allows: Callable[[str], bool]) -> list[types.Resource]:
    """The files of the skills ``allows`` lets the caller run (a key's grants)."""
    out: list[types.Resource] = []
    for skill in sorted(catalog.skills(), key=lambda k: k.id):
        if not allows(skill.id):
            continue
        base = SKILL_URI + skill.id + "/"
        if skill.instructions:
            out.append(types.Resource(
                uri=base + "SKILL.md", name=f"{skill.id}/SKILL.md", mime_type="text/markdown",
                title=f"{skill.name or skill.id}: instructions",
                description=skill.description or None,
                size=len(skill.instructions.encode())))
        for r in skill.resources:
            out.append(types.Resource(uri=base + r.path, name=f"{skill.id}/{r.path}",
                                      mime_type=r.mime, size=r.size))
    return out


def templates() -> list[types.ResourceTemplate]:
    return [
        types.ResourceTemplate(uri_template=ARTIFACT_URI + "{artifact_id}", name="artifact",
                               description="A file a skill call produced (see resource_link "
                               "blocks in tool results)."),
        types.ResourceTemplate(uri_template=SKILL_URI + "{skill_id}/{+path}",
                               name="skill-file", description="A skill's SKILL.md or one of "
                               "its bundled files."),
    ]


def _contents(uri: str, data: bytes, mime: str) -> Any:
    textual = mime.startswith("text/") or mime in _TEXTUAL or mime.endswith("+json")
    if textual:
        try:
            return types.TextResourceContents(uri=uri, mime_type=mime, text=data.decode())
        except UnicodeDecodeError:
            pass
    return types.BlobResourceContents(uri=uri, mime_type=mime,
                                      blob=base64.b64encode(data).decode())


async def _bundled(skill: Skill, rel: str, uri: str) -> tuple[bytes, str]:
    try:
        path, mime = bundled_file(skill, rel)
        return await asyncio.to_thread(path.read_bytes), mime  # up to 8 MB: off the loop
    except (SkillExecError, OSError) as exc:
        raise _not_found(uri, str(exc)) from None


async def read(uri: str, catalog: Catalog, *, allows: Callable[[str], bool],
               artifact: Callable[[str], Awaitable[tuple[bytes, str]]]) -> types.ReadResourceResult:
    if uri.startswith(ARTIFACT_URI):
        art_id = uri[len(ARTIFACT_URI):]
        try:
            data, mime = await artifact(art_id)
        except Exception as exc:
            raise _not_found(uri, "no such artifact") from exc
        return types.ReadResourceResult(contents=[_contents(uri, data, mime)])
    if not uri.startswith(SKILL_URI):
        raise _not_found(uri, "not a skillexec:// resource")
    skill_id, _, rel = uri[len(SKILL_URI):].partition("/")
    skill = next((k for k in catalog.skills() if k.id == skill_id), None)
    if skill is None or not allows(skill_id):
        raise _not_found(uri, f"no skill {skill_id!r}")
    if rel == "SKILL.md" and skill.instructions is not None:
        return types.ReadResourceResult(contents=[types.TextResourceContents(
            uri=uri, mime_type="text/markdown", text=skill.instructions)])
    data, mime = await _bundled(skill, rel, uri)
    return types.ReadResourceResult(contents=[_contents(uri, data, mime)])


def prompts(catalog: Catalog, allows: Callable[[str], bool]) -> list[types.Prompt]:
    names = catalog.prompts()
    out = []
    for skill in catalog.skills():
        if skill.id in names and allows(skill.id):
            out.append(types.Prompt(
                name=names[skill.id], title=skill.name or skill.id,
                description=f"Load the instructions of the skill {skill.id}"
                + (f": {skill.description}" if skill.description else ""),
                arguments=[types.PromptArgument(name="task", required=False,
                                                description="What to do with the skill.")],
                _meta={"skillexec/skill_id": skill.id}))
    return sorted(out, key=lambda p: p.name)


def prompt(name: str, arguments: dict[str, str] | None, catalog: Catalog, *,
           allows: Callable[[str], bool]) -> types.GetPromptResult:
    by_name = {v: k for k, v in catalog.prompts().items()}
    skill_id = by_name.get(name)
    skill = next((k for k in catalog.skills() if k.id == skill_id), None)
    if skill is None or skill.instructions is None or not allows(skill.id):
        raise MCPError(types.INVALID_PARAMS, f"no prompt named {name!r}")
    parts = [f"Use the skill {skill.id!r}. Its instructions (SKILL.md) follow."]
    if skill.scripts:
        parts.append("Its bundled scripts run with the tool run_skill_script "
                     f"(skill={skill.id!r}, script=one of: {', '.join(skill.scripts)}); pass "
                     "input files as base64 in 'files' and keep a 'session' (session_create) "
                     "when steps share files.")
    if skill.resources:
        parts.append("Its bundled files are resources under "
                      f"{SKILL_URI}{skill.id}/ (e.g. {SKILL_URI}{skill.id}/"
                      f"{skill.resources[0].path}).")
    task = (arguments or {}).get("task")
    if task:
        parts.append(f"The task: {task}")
    text = "\n\n".join([*parts, "---", skill.instructions])
    return types.GetPromptResult(
        description=f"Instructions of {skill.id}",
        messages=[types.PromptMessage(role="user", content=types.TextContent(text=text))])
