"""``/api/skills...``: list and show skills, execute one, execute a batch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from skillexec.errors import ErrorType, SkillExecError, SkillNotFoundError
from skillexec.security.principals import Principal
from skillexec.service.auth import need
from skillexec.service.calls import (
    Call,
    refuse_if_draining,
    result_or_refusal,
    submit,
    wait_for,
)
from skillexec.service.envelope import (
    COMMON_ERRORS,
    ERROR,
    ApiError,
    Envelope,
    download_headers,
    error_for,
    not_found,
    ok,
)
from skillexec.service.models import (
    BatchData,
    BatchRequest,
    ExecuteRequest,
    ResultModel,
    SkillDetail,
    SkillList,
    Submitted,
)
from skillexec.service.state import ServiceState
from skillexec.skills.bundle import bundled_file
from skillexec.skills.model import Skill
from skillexec.task import ExecutionResult, TaskStatus

__all__ = ["execute", "router", "skill_detail", "skill_summary", "submitted"]

router = APIRouter(prefix="/api/skills", tags=["skills"])

E = ERROR
AUTH_ERRORS = COMMON_ERRORS  # 400, 401, 403, 422, 429
SkillId = Annotated[str, Path(min_length=1, max_length=200, description="A skill id.")]


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def environment_state(state: ServiceState, skill: Skill) -> str:
    """Where the skill's environment stands (the dashboard lists every skill every few
    seconds: a stat per skill still waiting for its environment, no more)."""
    return state.engine.environments.state_of(skill)


def fresh_skills(state: ServiceState) -> None:
    """What another process changed (``skillexec skills install``) seen now, not at each
    skill's next call."""
    state.engine.environments.refresh(state.engine.skills)


def skill_summary(state: ServiceState, skill: Skill,
                  circuits: dict[str, str] | None = None) -> dict[str, Any]:
    """``circuits``: the breakers' states (asked once for a whole list)."""
    if circuits is None:
        circuits = state.engine.monitor.circuit_states()
    return {"id": skill.id, "name": skill.name or skill.id, "version": skill.version,
            "description": skill.description, "category": skill.category,
            "tags": list(skill.tags), "author": skill.author,
            "isolation": state.engine.isolation_of(skill), "runnable": skill.runnable,
            "offers": skill.offers, "environment": environment_state(state, skill),
            "circuit": circuits.get(skill.id, "closed").replace("-", "_")}


def skill_detail(state: ServiceState, skill: Skill) -> dict[str, Any]:
    ex = skill.execution
    return {**skill_summary(state, skill),
            "versions": state.engine.skills.versions(skill.id),
            "parameters_schema": skill.parameters_schema,
            "output_schema": skill.output_schema, "config_schema": skill.config_schema,
            "default_config": skill.default_config,
            "permissions": sorted(p.value for p in skill.permissions),
            "execution": {"timeout_s": ex.timeout_s, "max_retries": ex.max_retries,
                          "priority": ex.priority, "memory_mb": ex.memory_mb,
                          "cpu_seconds": ex.cpu_seconds,
                          "isolation": ex.isolation.value if ex.isolation else None,
                          "cacheable": ex.cacheable, "idempotent": ex.idempotent,
                          "fallback": ex.fallback, "concurrency": ex.concurrency},
            "dependencies": [{"name": d.name, "specifier": d.specifier,
                              "optional": d.optional} for d in skill.dependencies],
            "skill_dependencies": [{"id": d.id, "requirement": d.requirement}
                                   for d in skill.skill_dependencies],
            "source": skill.source, "warnings": list(skill.warnings),
            # Agent Skills (DESIGN §3.5): the SKILL.md body, bundled files, runnable scripts
            "instructions": skill.instructions,
            "resources": [r.to_dict() for r in skill.resources],
            "scripts": list(skill.scripts)}


def find_skill(state: ServiceState, skill_id: str, principal: Principal | None = None,
               ) -> Skill:
    """The skill, or 404; one the key's grants do not name is as unknown (``principal``)."""
    if principal is not None and not principal.granted(skill_id):
        raise not_found("skill", skill_id)
    try:
        return state.engine.skills.get(skill_id)
    except SkillExecError as exc:
        if exc.code != "skill_not_found":
            raise not_found("skill", skill_id) from None
        # The registry's sentence, as the CLI and execute say it, as the key may read it.
        seen = as_granted(exc, principal)
        raise ApiError(404, "SKILL_NOT_FOUND", str(seen),
                       details={"suggestions": seen.details.get("suggestions") or []},
                       error_type=ErrorType.DEPENDENCY) from None


def as_granted(exc: SkillExecError, principal: Principal | None) -> SkillExecError:
    """The registry's unknown-skill error as a key granted some skills may read it: the
    closest ids among those (GET /api/skills lists them), never the registry's list of
    every loaded skill nor a suggestion it may not see."""
    if principal is None or principal.skills is None or "suggestions" not in exc.details:
        return exc
    skill_id = exc.details.get("skill_id")
    suggestions = [s for s in exc.details["suggestions"] if principal.granted(s)]
    hint = (" (did you mean " + " or ".join(repr(s) for s in suggestions) + "?)"
            if suggestions else "")
    return SkillNotFoundError(f"no skill {skill_id!r}{hint}",
                              details={"skill_id": skill_id, "suggestions": suggestions})


def unknown_to(state: ServiceState, principal: Principal,
               skill_id: str) -> SkillExecError | None:
    """For a key granted some skills, why an id its grants cover names no skill, asked
    before the engine is: its rejected task would keep the registry's sentence, every
    loaded skill in it, for the key to read back."""
    if principal.skills is None or not principal.granted(skill_id):
        return None  # it may see every skill; or 403 (not granted) when submitted
    try:
        state.engine.skills.get(skill_id)
    except SkillExecError as exc:
        return as_granted(exc, principal) if exc.code == "skill_not_found" else None
    return None


def matching(state: ServiceState, search: str | None, tag: str | None,
             category: str | None) -> list[Skill]:
    return [skill for skill in state.engine.skills.list(search)
            if (not tag or tag in skill.tags) and (not category or skill.category == category)]


@router.get("", operation_id="list_skills", response_model=Envelope[SkillList],
            responses=AUTH_ERRORS)
async def list_skills(
    request: Request, principal: Annotated[Principal, Depends(need("skills"))],
    search: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Response:
    """Every loaded skill, by id; filtered by a search text, a tag or a category."""
    state = _state(request)
    fresh_skills(state)
    # A key granted some skills sees those alone, as over /mcp.
    found = [s for s in matching(state, search, tag, category) if principal.granted(s.id)]
    circuits = state.engine.monitor.circuit_states()
    page = [skill_summary(state, s, circuits) for s in found[offset:offset + limit]]
    return ok({"skills": page, "total": len(found), "offset": offset, "limit": limit},
              request.state.request_id)


@router.get("/{skill_id}", operation_id="get_skill", response_model=Envelope[SkillDetail],
            responses={**AUTH_ERRORS, 404: E})
async def get_skill(request: Request, skill_id: SkillId,
                    principal: Annotated[Principal, Depends(need("skills"))]) -> Response:
    """One skill: its manifest's fields, schemas, versions, and what it bundles (its
    instructions, resources and scripts)."""
    state = _state(request)
    fresh_skills(state)
    return ok(skill_detail(state, find_skill(state, skill_id, principal)),
              request.state.request_id)


@router.get(
    "/{skill_id}/files/{path:path}", operation_id="get_skill_file", response_class=Response,
    responses={200: {"description": "The bundled file's bytes, with its mime type, as a "
                     "download (`Content-Disposition: attachment`, never shown inline).",
                     "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
               **AUTH_ERRORS, 404: E})
async def get_skill_file(request: Request, skill_id: SkillId,
                         path: Annotated[str, Path(min_length=1, max_length=1000)],
                         principal: Annotated[Principal, Depends(need("skills"))]) -> Response:
    """A file the skill bundles (one of its ``resources`` or ``scripts``): what its
    instructions send a model to read (``forms.md``, a template)."""
    state = _state(request)
    fresh_skills(state)
    skill = find_skill(state, skill_id, principal)
    try:
        found, mime = bundled_file(skill, path)
        data = await asyncio.to_thread(found.read_bytes)
    except (SkillExecError, OSError):
        raise ApiError(404, "NOT_FOUND", f"skill {skill_id!r} bundles no file {path!r}",
                       error_type=ErrorType.DEPENDENCY) from None
    # A download, not a page: a skill's forms.html shown here would run in the API's origin.
    return Response(data, media_type=mime, headers=download_headers(found.name))


_SURROGATE = ("holds a lone surrogate (an escape such as \\ud800 without its pair), which is "
              "not Unicode text: send the character whole")


def refuse_unstorable(value: Mapping[str, Any], field: str) -> None:
    """422 for a ``config`` JSON cannot hold (a lone surrogate, an integer past 64 bits):
    the engine checks parameters so, not a config, which crashed the journal's write (a
    500). orjson's own check first (no walk for what it takes)."""
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        where, problem = _unstorable(value, field, 0) or (field, f"is not JSON ({exc})")
        message = f"{where} {problem}"
        raise ApiError(422, "INVALID_PARAMETERS", message, field=where,
                       details=[{"field": where, "message": message, "rule": "json"}],
                       ) from None


_MAX_DEPTH = 254  # orjson's limit


def _unstorable(value: Any, where: str, depth: int) -> tuple[str, str] | None:
    """Where in ``value`` is what JSON cannot hold, and what it is."""
    if depth > _MAX_DEPTH:
        return where, f"is nested more than {_MAX_DEPTH} levels deep"
    if isinstance(value, str):
        return None if _unicode(value) else (where, _SURROGATE)
    if isinstance(value, int) and not isinstance(value, bool):
        return None if -(1 << 63) <= value < (1 << 64) else (
            where, "is an integer beyond the 64-bit range: send it as a string")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not _unicode(key):
                return where, f"has a key that {_SURROGATE}"
            if found := _unstorable(item, f"{where}.{key}", depth + 1):
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if found := _unstorable(item, f"{where}.{i}", depth + 1):
                return found
    return None


def _unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def submitted(task_id: str, status: TaskStatus) -> dict[str, Any]:
    """Where to follow an accepted task (a 202's data)."""
    return {"task_id": task_id, "status": status.value,
            "location": f"/api/executions/{task_id}",
            "events": f"/api/executions/{task_id}/events"}


@router.post(
    "/{skill_id}/execute", operation_id="execute_skill", response_model=Envelope[ResultModel],
    responses={**AUTH_ERRORS, 202: {"model": Envelope[Submitted],
                                     "description": "Accepted; not finished yet."},
               404: E, 409: E, 413: E, 422: E, 503: E})
async def execute_skill(request: Request, skill_id: SkillId, body: ExecuteRequest,
                        principal: Annotated[Principal, Depends(need("run"))]) -> Response:
    """Run a skill. ``wait`` (default): 200 and the result, once it ends (a run that failed
    is still a 200, with ``status`` and ``error``); ``wait: false``, or a run longer than
    the service waits: 202, the task id and a ``Location``. Refusals before running are
    errors: 404 unknown skill, 422 invalid parameters (every violation in ``details``), 403
    not granted, 503 overloaded."""
    return await execute(_state(request), principal, skill_id, body,
                         request.state.request_id)


async def execute(state: ServiceState, principal: Principal, skill_id: str,
                  body: ExecuteRequest, rid: str) -> Response:
    """The execute route's work, once the caller may run and the body is valid (the route
    above and the service's express lane, :mod:`skillexec.service.express`, share it)."""
    if (unknown := unknown_to(state, principal, skill_id)) is not None:
        raise error_for(unknown.info, retry_after_s=state.settings.retry_after_s)
    if body.config:
        refuse_unstorable(body.config, "config")
    params = {**(body.data or {}), **(body.parameters or {})}
    call = Call(skill_id, params, config=body.config, priority=body.priority,
                timeout=body.timeout, deadline=body.deadline, max_retries=body.max_retries,
                version=body.version, use_cache=body.cache)
    task_id = await submit(state, principal, call)
    result = await wait_for(state, task_id, state.settings.max_wait_s if body.wait else 0.0)
    if result is not None:
        result = result_or_refusal(state, result)
        if body.wait:
            return ok(result.to_dict(), rid)
    if result is not None and not body.wait:
        status = result.status
    else:
        status = (await state.engine.status(task_id, principal=principal)).status
    return ok(submitted(task_id, status), rid, status=202,
              headers={"Location": f"/api/executions/{task_id}"},
              message="accepted")


@router.post("/batch-execute", operation_id="batch_execute",
             response_model=Envelope[BatchData],
             responses={**AUTH_ERRORS, 413: E, 422: E, 503: E})
async def batch_execute(request: Request, body: BatchRequest,
                        principal: Annotated[Principal, Depends(need("run"))]) -> Response:
    """Run several calls at once. Each ends on its own: a refused or failed one is a result
    with its status and error, not an HTTP error. A task the key may not run refuses the
    whole batch before any runs (403, ``field`` naming it), so a retry repeats nothing."""
    state = _state(request)
    if len(body.tasks) > state.settings.max_batch:
        raise ApiError(413, "BATCH_TOO_LARGE", f"{len(body.tasks)} tasks in one batch: at "
                       f"most {state.settings.max_batch}")
    # All or nothing for what is known before running: a refusal part-way through left
    # the tasks before it running, and the client, told 403 with no ids, ran them again.
    refuse_if_draining(state)
    for i, item in enumerate(body.tasks):
        if not principal.may_run(item.skill_id):
            raise ApiError(403, "PERMISSION_DENIED", f"tasks.{i}: this key may not run "
                           f"skill {item.skill_id!r}; no task of the batch was run",
                           field=f"tasks.{i}.skill_id", error_type=ErrorType.PERMISSION)
        if item.config:
            refuse_unstorable(item.config, f"tasks.{i}.config")
    started = time.perf_counter()
    accepted: list[str | ExecutionResult] = []
    for item in body.tasks:
        if (unknown := unknown_to(state, principal, item.skill_id)) is not None:
            accepted.append(_refused(item.skill_id, unknown))
            continue
        params = {**(item.input_data or {}), **(item.parameters or {})}
        try:
            accepted.append(await submit(state, principal, Call(
                item.skill_id, params, config=item.config, priority=item.priority,
                timeout=item.timeout or body.timeout)))
        except SkillExecError as exc:
            # Refused once others were accepted (the service began draining, the journal
            # could not be written): this task's outcome, the others' ids still answered.
            accepted.append(_refused(item.skill_id, exc))
    ids = [a for a in accepted if isinstance(a, str)]
    results: list[dict[str, Any]] = []
    ok_count = failed = 0
    done: dict[str, ExecutionResult | None] = {}
    if body.wait:
        waited = await asyncio.gather(*(wait_for(state, t, state.settings.max_wait_s)
                                        for t in ids))
        done = dict(zip(ids, waited, strict=True))
    for entry in accepted:
        res = entry if isinstance(entry, ExecutionResult) else done.get(entry)
        if res is not None:
            results.append(res.to_dict())
            ok_count += res.ok
            failed += not res.ok
            continue
        assert isinstance(entry, str)
        info = await state.engine.status(entry, principal=principal)
        results.append(submitted(entry, info.status))
        failed += info.status is TaskStatus.REJECTED
    return ok({"results": results, "total_time_ms": (time.perf_counter() - started) * 1000,
               "success_count": ok_count, "failed_count": failed}, request.state.request_id)


def _refused(skill_id: str, exc: SkillExecError) -> ExecutionResult:
    """A batch's task refused before it was given an id (its ``task_id`` empty)."""
    now = time.time()
    return ExecutionResult(task_id="", skill_id=skill_id, skill_version="",
                           status=TaskStatus.REJECTED, error=exc.info, created_at=now,
                           finished_at=now)

