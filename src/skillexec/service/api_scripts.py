"""``POST /api/skills/{id}/scripts``: run one of a skill's bundled scripts (DESIGN §3.5),
as a task of the engine's (the whole pipeline: journal, isolation, limits)."""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from starlette.responses import Response

from skillexec.errors import ErrorType, ParameterError
from skillexec.scripts import MAX_ARG_CHARS, MAX_ARGS
from skillexec.security.principals import Principal
from skillexec.service.api_skills import find_skill, submitted
from skillexec.service.auth import need
from skillexec.service.calls import (
    may_run,
    refuse_if_draining,
    result_or_refusal,
    until_drained,
    wait_for,
)
from skillexec.service.envelope import COMMON_ERRORS, ERROR, ApiError, Envelope, ok
from skillexec.service.models import ResultModel, Submitted, not_bool
from skillexec.service.state import ServiceState
from skillexec.workspace_files import WorkspaceFile, from_wire

__all__ = ["router"]

router = APIRouter(prefix="/api/skills", tags=["skills"])


class FileEntry(BaseModel):
    """A file with more than its bytes (see skillexec.workspace_files): all optional."""
    model_config = ConfigDict(extra="forbid")

    content: str = Field("", description="Its bytes, base64.")
    executable: StrictBool = Field(False, description="Its owner may run it.")
    mtime: float | None = Field(None, allow_inf_nan=False, description="Modified at, "
                                "seconds since 1970.")
    folder: StrictBool = Field(False, description="A folder (empty, or made for the files "
                               "under it), no content.")
    link: str | None = Field(None, max_length=4096, description="A symbolic link to this "
                             "relative target, inside the workspace.")


class ScriptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    script: str = Field(min_length=1, max_length=500, description="Its path in the skill's "
                        "folder, e.g. scripts/fill.py (see the skill's `scripts`).")
    args: list[Annotated[str, Field(max_length=MAX_ARG_CHARS)]] = Field(
        default=[], max_length=MAX_ARGS)
    files: dict[str, str | FileEntry] = Field(default={}, description="Path in the "
                                              "workspace -> the file's bytes, base64, or "
                                              "a FileEntry (execute bit, time, folder, "
                                              "link).")
    stdin: str | None = Field(None, max_length=1 << 20)
    session: str | None = Field(None, max_length=200, description="An open session's id: "
                                "its folder is the workspace, kept between calls.")
    env: dict[str, str] = Field(default={}, description="Environment variables for the "
                                "script (not ones that change what a program loads or runs, "
                                "nor HOME, PATH, TMPDIR: refused 422). Journaled with the "
                                "call: secrets go in the operator's skill_secrets.")
    timeout: float | None = Field(None, gt=0, le=86400, description="Seconds.")
    priority: int | None = Field(None, ge=0, le=9)
    wait: StrictBool = Field(True, description="True: answer with the result (200); false: "
                             "answer at once with the task id (202 and Location), to follow "
                             "at /api/executions/{task_id}.")

    _numbers = field_validator("timeout", "priority", mode="before")(not_bool)


def _decoded(files: dict[str, str | FileEntry]) -> dict[str, bytes | WorkspaceFile]:
    out: dict[str, bytes | WorkspaceFile] = {}
    for path, value in files.items():
        if isinstance(value, FileEntry):
            try:  # what the engine checks is the engine's to refuse (a link out: 422)
                out[path] = from_wire(path, value.model_dump(exclude_none=True))
            except ParameterError as exc:
                raise ApiError(422, "INVALID_REQUEST", exc.message,
                               field=f"files.{path}") from None
            continue
        try:
            out[path] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(422, "INVALID_REQUEST", f"files.{path}: not base64",
                           field=f"files.{path}") from None
    return out


@router.post("/{skill_id}/scripts", operation_id="run_skill_script",
             response_model=Envelope[ResultModel],
             responses={**COMMON_ERRORS, 202: {"model": Envelope[Submitted],
                                                "description": "Accepted (wait: false)."},
                        404: ERROR, 409: ERROR, 413: ERROR, 503: ERROR})
async def run_skill_script(
    request: Request, body: ScriptRequest,
    skill_id: Annotated[str, Path(min_length=1, max_length=200)],
    principal: Annotated[Principal, Depends(need("run"))],
) -> Response:
    """Run a bundled script with arguments and files, and answer its result (its exit
    status, stdout and stderr in ``output``; files it wrote are artifacts). ``wait: false``:
    202, the task id and a ``Location`` at once (in a session the script still takes its
    turn). Refusals before it runs are errors as for execute (404, 422
    ``script_outside_skill``, 403, 503)."""
    state: ServiceState = request.app.state.service
    refuse_if_draining(state)
    may_run(principal, skill_id)
    find_skill(state, skill_id)
    task_id = await _submit(state, body, skill_id, principal)
    if not body.wait:
        return await _accepted(state, task_id, principal, request.state.request_id)
    run = asyncio.ensure_future(until_drained(state, task_id, state.engine.wait(task_id)))
    gone = asyncio.ensure_future(_hung_up(request))
    try:
        await asyncio.wait((run, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not run.done():
            # The caller never got the task id, so nobody could follow or cancel the
            # script; in a session it would also hold the turn of the call that retries.
            run.cancel()
            await state.engine.cancel(task_id)  # its process tree too
        await asyncio.gather(run, gone, return_exceptions=True)
    if run.cancelled():
        raise ApiError(499, "CLIENT_CLOSED", "the client closed the request; the script "
                       "was cancelled", error_type=ErrorType.CANCELLED)
    return ok(result_or_refusal(state, run.result()).to_dict(), request.state.request_id)


async def _submit(state: ServiceState, body: ScriptRequest, skill_id: str,
                  principal: Principal) -> str:
    return await state.engine.submit_script(
        skill_id, body.script, args=body.args, files=_decoded(body.files), stdin=body.stdin,
        session=body.session, timeout=body.timeout, priority=body.priority,
        principal=principal, env=body.env)


async def _accepted(state: ServiceState, task_id: str, principal: Principal,
                    rid: str) -> Response:
    """``wait: false``: accepted, answered with where to follow it (as execute answers)."""
    result = await wait_for(state, task_id, 0.0)
    if result is not None:  # ended already: a refusal is its HTTP error, as execute's
        status = result_or_refusal(state, result).status
    else:
        status = (await state.engine.status(task_id, principal=principal)).status
    return ok(submitted(task_id, status), rid, status=202,
              headers={"Location": f"/api/executions/{task_id}"}, message="accepted")


async def _hung_up(request: Request) -> None:
    """Returns when the client disconnects (the body was read already: what comes next on
    ``receive`` is only ever ``http.disconnect``)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass

