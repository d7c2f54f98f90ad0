"""Artifacts, reports, API keys (admin) and the audit log (auditor)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import FileResponse, Response

from skillexec.errors import ErrorType
from skillexec.monitoring.reports import ExecutionReportGenerator, parse_since
from skillexec.reliability.analysis import error_report
from skillexec.security.keys import MAX_LIFETIME_S
from skillexec.security.principals import ACTIONS, Principal, Role
from skillexec.service.auth import caller, need
from skillexec.service.envelope import (
    COMMON_ERRORS,
    ERROR,
    ApiError,
    Envelope,
    download_headers,
    not_found,
    ok,
)
from skillexec.service.models import not_bool
from skillexec.service.state import ServiceState

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["admin"])

E = ERROR
AUTH_ERRORS = COMMON_ERRORS  # 400, 401, 403, 422, 429


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


# What parse_since reads: a duration ago, epoch seconds, a date (no time: a pattern for
# every valid time would be longer than its parser), or all. Exactly the valid dates of
# years 1000-8999 (leap days included), so that what the schema allows is never refused.
_MONTH_DAY = (r"((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
              r"|02-(0[1-9]|1[0-9]|2[0-8]))")
_LEAP_DAY = (r"([1-8][0-9](0[48]|[2468][048]|[13579][26])"
             r"|(1[26]|2[048]|3[26]|4[048]|5[26]|6[048]|7[26]|8[048])00)-02-29")
SINCE = (rf"^(all|[0-9]{{1,9}}(\.[0-9]{{1,6}})?[smhdw]?|[1-8][0-9]{{3}}-{_MONTH_DAY}"
         rf"|{_LEAP_DAY})$")


def _since(text: str | None) -> float | None:
    try:
        return parse_since(text)
    except ValueError as exc:
        raise ApiError(422, "INVALID_REQUEST", str(exc), field="since") from None


@router.get(
    "/artifacts/{artifact_id}", operation_id="get_artifact", tags=["artifacts"],
    response_class=Response,
    responses={200: {"description": "The artifact's bytes, with its mime type.",
                     "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
               **AUTH_ERRORS, 404: E})
async def get_artifact(
    request: Request, principal: Annotated[Principal, Depends(caller)],
    artifact_id: Annotated[str, Path(min_length=1, max_length=100,
                                     pattern=r"^[A-Za-z0-9_.-]+$")],
) -> Response:
    """An artifact's bytes, if this key may read the task that made it."""
    state = _state(request)
    path = await state.engine.artifacts.path(artifact_id, principal=principal)  # audited
    record = await state.engine.journal.get_artifact(artifact_id)
    if record is None or not path.is_file():
        raise not_found("artifact", artifact_id)
    return FileResponse(path, media_type=record.ref.mime,
                        headers=download_headers(record.ref.name))


ReportKind = Literal["summary", "performance", "errors"]


@router.get("/reports/{kind}", operation_id="get_report", tags=["reports"],
            response_model=Envelope[dict[str, Any]], responses={**AUTH_ERRORS, 422: E})
async def get_report(
    request: Request, kind: ReportKind,
    principal: Annotated[Principal, Depends(need("reports"))],
    since: Annotated[str, Query(pattern=SINCE, description="30m, 1h, 2d, a date, all")]
    = "24h",
    until: Annotated[str | None, Query(pattern=SINCE)] = None,
) -> Response:
    """A report over the journal: summary, performance or errors."""
    state = _state(request)
    start, end = _since(since), _since(until)
    store = state.engine.journal
    data: dict[str, Any]
    if kind == "errors":
        data = (await error_report(store, since=start, until=end)).to_dict()
    elif kind == "summary":
        data = await ExecutionReportGenerator(store).summary(start, end)
    else:
        data = await ExecutionReportGenerator(store).performance(start, end)
    return ok(_finite(data), request.state.request_id)


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such a figure is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$",
                      description="Whom the key is for (not 'local', the CLI's own "
                      "principal).")
    role: Role
    skills: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.*?\[\]-]{1,200}$")]] | None = \
        Field(None, min_length=1, description="Skill ids or patterns it may run (none: every "
              "skill).")
    expires_in_s: float | None = Field(None, gt=0, le=MAX_LIFETIME_S)

    _numbers = field_validator("expires_in_s", mode="before")(not_bool)


@router.get("/whoami", operation_id="whoami", tags=["keys"],
            response_model=Envelope[dict[str, Any]], responses=AUTH_ERRORS)
async def whoami(request: Request, principal: Annotated[Principal, Depends(caller)]) -> Response:
    """The key this request is made with: its principal, role, skill grants and the actions
    its role may take (``may``), so that a client asks only for what it may read (the
    dashboard with a runner key was refused the reports on every load)."""
    return ok({"principal": principal.id, "key_id": principal.key_id,
               "role": principal.role.value,
               "skills": None if principal.skills is None else sorted(principal.skills),
               "may": [action for action in ACTIONS if principal.can(action)]},
              request.state.request_id)


@router.get("/keys", operation_id="list_keys", tags=["keys"],
            response_model=Envelope[list[dict[str, Any]]], responses=AUTH_ERRORS)
async def list_keys(request: Request,
                    principal: Annotated[Principal, Depends(need("keys"))]) -> Response:
    """Every API key (never the key itself: its id, name, role, grants, dates)."""
    keys = await _state(request).engine.keys.list()
    return ok([k.to_dict() for k in keys], request.state.request_id)


@router.post("/keys", operation_id="create_key", tags=["keys"], status_code=201,
             response_model=Envelope[dict[str, Any]], responses={**AUTH_ERRORS, 409: E})
async def create_key(request: Request, body: KeyCreate,
                     principal: Annotated[Principal, Depends(need("keys"))]) -> Response:
    """Make a key: the answer holds it (``key``) once; only its digest is kept."""
    state = _state(request)
    if state.insecure:  # whoever reached the port would keep a key once auth is back on
        raise ApiError(403, "PERMISSION_DENIED", "no key is made while authentication is "
                       "off (--insecure-no-auth): make one with 'skillexec keys create "
                       "--name NAME --role ROLE'", error_type=ErrorType.PERMISSION)
    info, raw = await state.engine.keys.create(name=body.name, role=body.role,
                                               skills=body.skills,
                                               expires_s=body.expires_in_s, by=principal)
    state.valid_ids.add(info.key_id)  # let in at once, even from an address past its failures
    return ok({**info.to_dict(), "key": raw}, request.state.request_id, status=201,
              message="store this key now: it is not shown again")


@router.delete("/keys/{key_id}", operation_id="revoke_key", tags=["keys"],
               response_model=Envelope[dict[str, Any]], responses={**AUTH_ERRORS, 404: E})
async def revoke_key(request: Request,
                     key_id: Annotated[str, Path(min_length=1, max_length=100)],
                     principal: Annotated[Principal, Depends(need("keys"))]) -> Response:
    """Revoke a key: it stops working at once."""
    state = _state(request)
    if not await state.engine.keys.revoke(key_id, by=principal):
        raise not_found("key", key_id)
    state.revoked(key_id)  # the key stops working here at once, open WebSockets included
    return ok({"key_id": key_id, "revoked": True}, request.state.request_id)


@router.get("/audit", operation_id="read_audit", tags=["audit"],
            response_model=Envelope[dict[str, Any]], responses={**AUTH_ERRORS, 422: E})
async def read_audit(
    request: Request, principal: Annotated[Principal, Depends(need("audit"))],
    since: Annotated[str, Query(pattern=SINCE)] = "24h",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    cursor: Annotated[int | None, Query(ge=1, description="next_cursor of the page before: "
                                        "the records older than it.")] = None,
    verify: Annotated[bool, Query(description="Also check the chain.")] = False,
) -> Response:
    """The audit log's records, newest first: the newest ``limit`` since ``since`` (older
    ones with ``cursor``: the ``next_cursor`` of the page before, null on the last), and
    its check."""
    audit = _state(request).engine.audit
    records, older = await audit.newest(since=_since(since), limit=limit, before=cursor)
    data: dict[str, Any] = {"records": records, "next_cursor": older}
    if verify:
        data["verify"] = (await audit.verify()).to_dict()
    return ok(data, request.state.request_id)

