"""``/api/sessions``: open, list, read and close script sessions (``engine.sessions``).

The scripts route takes a ``session``, and a session belongs to whoever opened it: one
opened by the command line is ``local``'s, which a key may not use. So a key opens its own
here. Another principal's session is answered exactly as an unknown id (404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from skillexec.errors import ErrorType, SkillExecError
from skillexec.security.principals import Principal
from skillexec.service.auth import need
from skillexec.service.calls import refuse_if_draining
from skillexec.service.envelope import COMMON_ERRORS, ERROR, ApiError, ok
from skillexec.service.models import not_bool
from skillexec.service.state import ServiceState

__all__ = ["router"]

router = APIRouter(prefix="/api/sessions", tags=["sessions"])

SessionId = Annotated[str, Path(min_length=1, max_length=64, description="A session id.")]
_NOT_FOUND = frozenset({"session_not_found", "invalid_session_id"})


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_s: float | None = Field(None, ge=1, description="Seconds after its last use it is "
                                "removed (default: the sessions.default_ttl_s setting; at "
                                "most sessions.max_ttl_s, to which a longer one is cut).")

    _numbers = field_validator("ttl_s", mode="before")(not_bool)


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def _not_found(exc: SkillExecError, session_id: str) -> SkillExecError:
    if exc.code in _NOT_FOUND:  # unknown, closed, expired or another principal's: alike
        return ApiError(404, "SESSION_NOT_FOUND", f"no open session with id {session_id!r}",
                        error_type=ErrorType.DEPENDENCY)
    return exc


@router.post("", operation_id="create_session", status_code=201,
             responses={**COMMON_ERRORS, 503: ERROR})
async def create_session(
    request: Request, principal: Annotated[Principal, Depends(need("run"))],
    body: Annotated[SessionRequest | None, Body()] = None,
) -> Response:
    """Open a session: a workspace that persists across script calls naming it."""
    state = _state(request)
    refuse_if_draining(state)
    sessions = state.engine.sessions
    # Cut to the setting, as a call's timeout is to limits.max_timeout_s: the bound is the
    # operator's, not in the published schema. The answer says what was given.
    ttl = None if body is None or body.ttl_s is None else \
        min(body.ttl_s, sessions.settings.max_ttl_s)
    sid = await sessions.acreate(ttl_s=ttl, principal=principal)
    return ok(sessions.get(sid, principal=principal).to_dict(), request.state.request_id,
              status=201)  # a new folder, empty: nothing to walk


@router.get("", operation_id="list_sessions", responses=COMMON_ERRORS)
async def list_sessions(request: Request,
                        principal: Annotated[Principal, Depends(need("run"))]) -> Response:
    """The open sessions the caller may see: its own (every one for operators, admins)."""
    infos = await _state(request).engine.sessions.alist(principal=principal)
    return ok([i.to_dict() for i in infos], request.state.request_id)


@router.get("/{session_id}", operation_id="get_session",
            responses={**COMMON_ERRORS, 404: ERROR})
async def get_session(request: Request, session_id: SessionId,
                      principal: Annotated[Principal, Depends(need("run"))]) -> Response:
    """One session, with its files (``{path, size, mtime}``)."""
    sessions = _state(request).engine.sessions
    try:
        info, files = await sessions.aget(session_id, principal=principal)
    except SkillExecError as exc:
        raise _not_found(exc, session_id) from None
    return ok(info.to_dict() | {"files": files}, request.state.request_id)


@router.delete("/{session_id}", operation_id="close_session",
               responses={**COMMON_ERRORS, 404: ERROR})
async def close_session(request: Request, session_id: SessionId,
                        principal: Annotated[Principal, Depends(need("run"))]) -> Response:
    """Close a session and remove its files."""
    if not await _state(request).engine.sessions.aclose(session_id, principal=principal):
        raise ApiError(404, "SESSION_NOT_FOUND", f"no open session with id {session_id!r}",
                       error_type=ErrorType.DEPENDENCY)
    return ok({"id": session_id, "closed": True}, request.state.request_id)
