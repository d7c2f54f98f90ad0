"""``/api/v1/skills...``: the routes Py Copilot's frontend (skillApi.js) calls, in the
shapes its backend answers, so that frontend can point at skillexec.

Bare bodies, as its backend sends them (no envelope); errors are the service's error
envelope, which carries ``detail`` (what skillApi.js shows) and ``error.{code, message,
context}`` (what its errorService.js reads). Unlike that backend: execute awaits the engine
(theirs never does, so every call ends in a 500), an unknown skill is a 404, invalid
parameters a 422, and execution ids can be read back (``/api/executions/{id}``). Writing
skills (create, update, delete, enable) is not served: skills here are folders.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import FileResponse, Response

from skillexec.security.principals import Principal
from skillexec.service.api_skills import find_skill, matching
from skillexec.service.auth import caller, need
from skillexec.service.calls import Call, result_or_refusal, submit, task_info, wait_for
from skillexec.service.envelope import (
    COMMON_ERRORS,
    ERROR,
    ApiError,
    download_headers,
    json_response,
    not_found,
)
from skillexec.service.models import not_bool
from skillexec.service.state import ServiceState
from skillexec.skills.model import Skill

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/skills", tags=["py-copilot"])

E = ERROR
AUTH_ERRORS = COMMON_ERRORS  # 400, 401, 403, 422, 429
SkillId = Annotated[str, Path(min_length=1, max_length=200)]


class V1Skill(BaseModel):
    id: str
    name: str
    display_name: str
    description: str
    version: str
    license: str | None = None
    tags: list[str]
    source: str
    status: str
    is_system: bool
    icon: str | None = None
    author: str | None = None
    documentation_url: str | None = None
    requirements: list[str]
    parameters_schema: dict[str, Any]
    created_at: str | None = None
    updated_at: str | None = None
    installed_at: str | None = None
    last_used_at: str | None = None
    usage_count: int


class V1SkillList(BaseModel):
    skills: list[V1Skill]
    total: int
    skip: int
    limit: int


class V1Execute(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, description="What to do: given to the skill as its "
                      "`task` parameter when its schema has one.")
    params: dict[str, Any] | None = None


class V1Artifact(BaseModel):
    id: str
    name: str
    type: str
    size: int
    created_at: str | None = None


class V1ExecuteResult(BaseModel):
    success: bool
    result: str | None = None
    error: str | None = None
    execution_time_ms: float
    execution_id: str
    status: str
    output: Any = None
    artifacts: list[V1Artifact]


class V1Match(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_description: str = Field(min_length=1, max_length=10_000)
    limit: int = Field(5, ge=1, le=20)

    _numbers = field_validator("limit", mode="before")(not_bool)


class V1Matched(BaseModel):
    matched_skills: list[dict[str, Any]]
    task_description: str


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def _usage(state: ServiceState) -> dict[str, int]:
    out: dict[str, int] = {}
    for snap in state.engine.monitor.snapshot().skills.values():
        skill = snap.skill.partition("@")[0]
        out[skill] = out.get(skill, 0) + snap.total
    return out


def v1_skill(skill: Skill, usage: int) -> dict[str, Any]:
    m = skill.manifest
    lic, icon, doc = m.get("license"), m.get("icon"), m.get("documentation_url")
    return {"id": skill.id, "name": skill.id, "display_name": skill.name or skill.id,
            "description": skill.description, "version": skill.version,
            "license": lic if isinstance(lic, str) else None, "tags": list(skill.tags),
            "source": skill.source or "local", "status": "enabled", "is_system": False,
            "icon": icon if isinstance(icon, str) else None, "author": skill.author or None,
            "documentation_url": doc if isinstance(doc, str) else None,
            "requirements": [f"{d.name}{d.specifier}" for d in skill.dependencies],
            "parameters_schema": skill.parameters_schema,
            "created_at": None, "updated_at": None, "installed_at": None,
            "last_used_at": None, "usage_count": usage}


@router.get("", operation_id="v1_list_skills", response_model=V1SkillList,
            responses=AUTH_ERRORS)
async def v1_list_skills(
    request: Request, principal: Annotated[Principal, Depends(need("skills"))],
    skip: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    status: Annotated[str | None, Query(max_length=50)] = None,
    tags: Annotated[str | None, Query(max_length=500, description="Comma-separated.")] = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int | None, Query(ge=1, le=1_000_000, description="With page_size: "
                                      "skip = (page-1) * page_size (what skillApi.js "
                                      "sends).")] = None,
    page_size: Annotated[int | None, Query(ge=1, le=200)] = None,
) -> Response:
    """Skills in Py Copilot's list shape; ``page``/``page_size`` are honoured too."""
    state = _state(request)
    if page_size is not None:
        limit = page_size
    if page is not None:
        skip = (page - 1) * limit
    found = [s for s in matching(state, search, None, None) if principal.granted(s.id)]
    wanted = {t.strip() for t in (tags or "").split(",") if t.strip()}
    if wanted:
        found = [s for s in found if wanted & set(s.tags)]
    if status is not None and status != "enabled":
        found = []  # every loaded skill is enabled
    usage = _usage(state)
    return json_response({"skills": [v1_skill(s, usage.get(s.id, 0))
                                     for s in found[skip:skip + limit]],
                          "total": len(found), "skip": skip, "limit": limit})


_WORD = re.compile(r"[a-z0-9]+")


@router.post("/match", operation_id="v1_match_skills", response_model=V1Matched,
             responses={**AUTH_ERRORS, 422: E})
async def v1_match(request: Request, body: V1Match,
                   principal: Annotated[Principal, Depends(need("skills"))]) -> Response:
    """Skills whose id, name, description or tags share words with the task, best first."""
    state = _state(request)
    words = set(_WORD.findall(body.task_description.lower()))
    scored = []
    for skill in matching(state, None, None, None):
        if not principal.granted(skill.id):
            continue
        text = f"{skill.id} {skill.name} {skill.description} {' '.join(skill.tags)}".lower()
        common = words & set(_WORD.findall(text))
        if common:
            scored.append((len(common) / max(1, len(words)), skill))
    scored.sort(key=lambda x: (-x[0], x[1].id))
    usage = _usage(state)
    return json_response({"matched_skills": [{**v1_skill(s, usage.get(s.id, 0)),
                                              "score": round(score, 4)}
                                             for score, s in scored[:body.limit]],
                          "task_description": body.task_description})


@router.get("/{skill_id}", operation_id="v1_get_skill", response_model=V1Skill,
            responses={**AUTH_ERRORS, 404: E})
async def v1_get_skill(request: Request, skill_id: SkillId,
                       principal: Annotated[Principal, Depends(need("skills"))]) -> Response:
    state = _state(request)
    skill = find_skill(state, skill_id, principal)
    return json_response(v1_skill(skill, _usage(state).get(skill.id, 0)))


@router.get("/{skill_id}/versions", operation_id="v1_skill_versions",
            response_model=list[dict[str, Any]], responses={**AUTH_ERRORS, 404: E})
async def v1_versions(request: Request, skill_id: SkillId,
                      principal: Annotated[Principal, Depends(need("skills"))]) -> Response:
    """The versions loaded of a skill, newest last."""
    state = _state(request)
    find_skill(state, skill_id, principal)
    return json_response([{"skill_id": skill_id, "version": v}
                          for v in state.engine.skills.versions(skill_id)])


@router.get("/{skill_id}/dependencies", operation_id="v1_skill_dependencies",
            response_model=list[dict[str, Any]], responses={**AUTH_ERRORS, 404: E})
async def v1_dependencies(request: Request, skill_id: SkillId,
                          principal: Annotated[Principal, Depends(need("skills"))],
                          ) -> Response:
    """What the skill needs: other skills (with a semver requirement) and packages."""
    skill = find_skill(_state(request), skill_id, principal)
    return json_response(
        [{"dependency_type": "skill", "name": d.id, "version_requirement": d.requirement}
         for d in skill.skill_dependencies]
        + [{"dependency_type": "package", "name": d.name, "version_requirement": d.specifier,
            "optional": d.optional} for d in skill.dependencies])


def _result_text(output: Any) -> str | None:
    if output is None or isinstance(output, str):
        return output
    return orjson.dumps(output, default=str).decode()


@router.post("/{skill_id}/execute", operation_id="v1_execute_skill",
             response_model=V1ExecuteResult,
             responses={**AUTH_ERRORS, 404: E, 409: E, 413: E, 422: E, 503: E})
async def v1_execute(
    request: Request, skill_id: SkillId, body: V1Execute,
    principal: Annotated[Principal, Depends(need("run"))],
    session_id: Annotated[str | None, Query(max_length=200)] = None,
    conversation_id: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Run a skill and answer Py Copilot's execute shape. ``result`` is the output as text;
    ``output`` the output as it is; a run that failed is ``success: false`` with ``error``."""
    state = _state(request)
    skill = find_skill(state, skill_id, principal)
    params = dict(body.params or {})
    props = skill.parameters_schema.get("properties")
    if isinstance(props, dict) and "task" in props:
        params.setdefault("task", body.task)
    task_id = await submit(state, principal, Call(skill_id, params))
    result = await wait_for(state, task_id, state.settings.max_wait_s)
    if result is None:
        raise ApiError(504, "EXECUTION_TIMEOUT", f"task {task_id} is still running after "
                       f"{state.settings.max_wait_s:g} s: follow it at "
                       f"/api/executions/{task_id}", details={"execution_id": task_id})
    result = result_or_refusal(state, result)
    wall = result.metrics.get("wall_ms")
    return json_response({
        "success": result.ok, "result": _result_text(result.output) if result.ok else None,
        "error": result.error.message if result.error else None,
        "execution_time_ms": float(wall) if wall is not None else 0.0,
        "execution_id": task_id, "status": result.status.value, "output": result.output,
        "artifacts": [_v1_artifact(a.to_dict(), result.finished_at)
                      for a in result.artifacts]})


def _v1_artifact(a: dict[str, Any], at: float | None) -> dict[str, Any]:
    when = datetime.fromtimestamp(at, UTC).isoformat() if at else None
    return {"id": a["id"], "name": a["name"], "type": a["mime"], "size": a["size"],
            "created_at": when}


@router.get("/{skill_id}/artifacts/{execution_id}", operation_id="v1_execution_artifacts",
            response_model=list[V1Artifact], responses={**AUTH_ERRORS, 404: E})
async def v1_artifacts(request: Request, skill_id: SkillId,
                       execution_id: Annotated[str, Path(pattern=r"^[0-9a-f]{1,64}$")],
                       principal: Annotated[Principal, Depends(caller)],
                       ) -> Response:
    """The artifacts one execution of this skill made."""
    info = await task_info(_state(request), principal, execution_id)
    if info.skill_id != skill_id:
        raise not_found("task", execution_id)
    result = info.result
    if result is None:
        return json_response([])
    return json_response([_v1_artifact(a.to_dict(), result.finished_at)
                          for a in result.artifacts])


@router.get("/{skill_id}/artifacts/{execution_id}/{artifact_id}/download",
            operation_id="v1_download_artifact", response_class=Response,
            responses={200: {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "The artifact's bytes."},
                       **AUTH_ERRORS, 404: E})
async def v1_download(request: Request, skill_id: SkillId,
                      execution_id: Annotated[str, Path(pattern=r"^[0-9a-f]{1,64}$")],
                      artifact_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$")],
                      principal: Annotated[Principal, Depends(caller)],
                      ) -> Response:
    state = _state(request)
    info = await task_info(state, principal, execution_id)
    refs = {a.id: a for a in (info.result.artifacts if info.result else ())}
    ref = refs.get(artifact_id)
    if info.skill_id != skill_id or ref is None:
        raise not_found("artifact", artifact_id)
    path = await state.engine.artifacts.path(artifact_id, principal=principal)  # audited
    if not path.is_file():
        raise not_found("artifact", artifact_id)
    return FileResponse(path, media_type=ref.mime, headers=download_headers(ref.name))
