"""The service's answers: one success envelope, one error envelope, and the error that
carries an HTTP status.

``/api/...`` answers ``{success: true, data, message, error: null, metadata: {timestamp,
request_id}}``; every error, on every route, answers ``{success: false, data: null, error:
{code, message, details, field, context, timestamp}, detail, message}`` with a real status.
``detail`` is there because Py Copilot's skillApi.js reads ``body.detail``; ``error.context``
because its errorService.js reads it. Bodies are written with orjson straight from dicts:
the pydantic models below describe them in the OpenAPI document (and the tests hold the
answers to them), without validating each answer again on the hot path.
"""

from __future__ import annotations

import time
from typing import Any, Generic, Literal, TypeVar

import orjson
from pydantic import BaseModel, Field
from starlette.responses import Response

from skillexec.errors import ErrorInfo, ErrorType, SkillExecError

__all__ = ["COMMON_ERRORS", "ERROR", "ApiError", "Envelope", "ErrorEnvelope", "Metadata",
           "download_headers", "error_body", "error_for", "error_response", "iso_now",
           "json_response", "not_found", "ok", "quoted"]

T = TypeVar("T")


_SECOND: list[tuple[int, str]] = [(-1, "")]  # the last whole second and its text


def iso_now() -> str:
    """Now, ISO 8601 in UTC to the millisecond (``2026-12-06T04:08:21.089Z``). Every
    answer carries one; the second's text is made once a second (a third of the cost of
    ``datetime.now(UTC).isoformat()`` per answer)."""
    now = time.time()
    second, text = _SECOND[0]  # one tuple: a reader in another thread sees a whole pair
    if second != int(now):
        second = int(now)
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _SECOND[0] = (second, text)
    return f"{text}.{int((now - second) * 1000):03d}Z"


class Metadata(BaseModel):
    timestamp: str = Field(description="When the answer was made (ISO 8601, UTC).")
    request_id: str = Field(description="This request's id (X-Request-ID).")


class Envelope(BaseModel, Generic[T]):
    """Every successful ``/api/...`` answer."""

    success: Literal[True] = True
    data: T
    message: str = ""
    error: None = None
    metadata: Metadata


class ErrorContext(BaseModel):
    request_id: str
    path: str
    method: str


class ErrorBody(BaseModel):
    code: str = Field(description="Stable code, e.g. SKILL_NOT_FOUND, INVALID_PARAMETERS.")
    message: str
    details: Any = Field(default=None, description="What exactly: for INVALID_PARAMETERS, "
                         "a list of {field, message, rule}.")
    field: str | None = None
    context: ErrorContext
    timestamp: str


class ErrorEnvelope(BaseModel):
    """Every error, on every route."""

    success: Literal[False] = False
    data: None = None
    error: ErrorBody
    detail: str = Field(description="The message again, where FastAPI clients look for it.")
    message: str


ERROR: dict[str, Any] = {"model": ErrorEnvelope}
# What any operation may answer: a body it cannot read (400), no or a bad key (401), a role
# that may not (403), a parameter out of its declared range (422), too fast (429).
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {400: ERROR, 401: ERROR, 403: ERROR,
                                                  422: ERROR, 429: ERROR}


class ApiError(SkillExecError):
    """A request the service refuses: an HTTP status, a stable API code, a sentence."""

    def __init__(self, status: int, code: str, message: str, *, details: Any = None,
                 field: str | None = None, headers: dict[str, str] | None = None,
                 error_type: ErrorType = ErrorType.PARAMETER, retryable: bool = False) -> None:
        super().__init__(message, code=code, retryable=retryable)
        self.error_type = error_type
        self.status = status
        self.api_details = details
        self.field = field
        self.headers = headers or {}


class JsonAnswer(Response):
    """A JSON answer whose raw headers are made at once: Starlette's generic header work
    (lower-casing, checking for given lengths and types) cost as much as encoding the
    body of the execute route's answer."""

    media_type = "application/json"

    def __init__(self, body: bytes, status: int, headers: dict[str, str] | None) -> None:
        self.body = body
        self.status_code = status
        self.background = None
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1"))
               for k, v in headers.items()] if headers else []
        raw.append((b"content-length", str(len(body)).encode("latin-1")))
        raw.append((b"content-type", b"application/json"))
        self.raw_headers = raw


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None,
                  ) -> Response:
    encoded = orjson.dumps(body, default=str)
    if status < 200 or status in (204, 304) or (headers and any(
            k.lower() in ("content-length", "content-type") for k in headers)):
        return Response(encoded, status_code=status, headers=headers,
                        media_type="application/json")  # Starlette's rules for those
    return JsonAnswer(encoded, status, headers)


def ok(data: Any, request_id: str, *, message: str = "", status: int = 200,
       headers: dict[str, str] | None = None) -> Response:
    return json_response({"success": True, "data": data, "message": message, "error": None,
                          "metadata": {"timestamp": iso_now(), "request_id": request_id}},
                         status, headers)


def quoted(name: str) -> str:
    """An artifact's name as a download's file name: a folder in it (``out/a.txt``) becomes
    ``out_a.txt``, one name a browser saves as it is, distinct from ``b/a.txt``'s."""
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\/' else "_"
                   for c in name)


# Bytes a skill controls (a bundled file, an artifact) are served on the API's origin,
# where a browser keeps the dashboard's key (or a proxy adds one): saved, never shown, so
# an HTML or SVG page there runs no script. nosniff keeps a browser from reading HTML into
# text/plain; the policy forbids everything, should one be shown all the same.
_DOWNLOAD = {"X-Content-Type-Options": "nosniff",
             "Content-Security-Policy": "default-src 'none'; sandbox"}


def download_headers(name: str) -> dict[str, str]:
    """The headers of a download of bytes a skill controls, saved as ``name``."""
    return {"Content-Disposition": f'attachment; filename="{quoted(name)}"', **_DOWNLOAD}


def error_response(exc: ApiError, *, request_id: str, path: str, method: str) -> Response:
    """The answer for a refusal: its status, envelope and headers."""
    return json_response(error_body(exc.code, exc.message, request_id=request_id, path=path,
                                    method=method, details=exc.api_details, field=exc.field),
                         exc.status, exc.headers)


def error_body(code: str, message: str, *, request_id: str, path: str, method: str,
               details: Any = None, field: str | None = None) -> dict[str, Any]:
    return {"success": False, "data": None,
            "error": {"code": code, "message": message, "details": details, "field": field,
                      "context": {"request_id": request_id, "path": path, "method": method},
                      "timestamp": iso_now()},
            "detail": message, "message": message}


# An engine error (a refusal before running) -> (status, API code). Looked up by the
# engine's code first, then by its type.
_BY_CODE: dict[str, tuple[int, str]] = {
    "skill_not_found": (404, "SKILL_NOT_FOUND"),
    "version_not_found": (404, "SKILL_NOT_FOUND"),
    "task_not_found": (404, "TASK_NOT_FOUND"),
    "artifact_not_found": (404, "ARTIFACT_NOT_FOUND"),
    "invalid_parameters": (422, "INVALID_PARAMETERS"),
    "wait_timeout": (504, "EXECUTION_TIMEOUT"),
    "too_many_keys": (409, "CONFLICT"),
    "circuit_open": (503, "CIRCUIT_OPEN"),
    "queue_full": (503, "OVERLOADED"),
    "system_pressure": (503, "OVERLOADED"),
    "engine_closing": (503, "SHUTTING_DOWN"),
    # The journal cannot be written now (its disk is full): the server's state, which
    # passes; the same request may be tried again later.
    "journal_write_failed": (503, "OVERLOADED"),
}
_BY_TYPE: dict[ErrorType, tuple[int, str]] = {
    ErrorType.PARAMETER: (422, "INVALID_PARAMETERS"),
    ErrorType.PERMISSION: (403, "PERMISSION_DENIED"),
    ErrorType.DEPENDENCY: (409, "DEPENDENCY_CONFLICT"),
    ErrorType.RESOURCE: (503, "OVERLOADED"),
}


def error_for(info: ErrorInfo, *, retry_after_s: int) -> ApiError:
    """The HTTP refusal for an engine error that stopped a request before it ran."""
    by_code = _BY_CODE.get(info.code)
    status, code = by_code or _BY_TYPE.get(info.type) or (409, "REFUSED")
    if status == 503 and not info.retryable and by_code is None:
        status = 409  # a resource refusal that waiting will not cure (e.g. a limit)
    headers = {"Retry-After": str(retry_after_s)} if status == 503 else None
    details: Any = {"engine_code": info.code, "type": info.type.value}
    violations = info.details.get("violations") if info.details else None
    if violations:
        details = [{"field": _field(v.get("path", "")), "message": v.get("message", ""),
                    "rule": v.get("rule", "")} for v in violations]
    elif info.details:
        details = {**info.details, **details}
    first = details[0]["field"] if isinstance(details, list) and details else None
    return ApiError(status, code, info.message, details=details, field=first,
                    headers=headers, error_type=info.type, retryable=info.retryable)


def _field(pointer: str) -> str:
    """``/a/0/b`` -> ``a.0.b``: how form libraries name a field."""
    return ".".join(p for p in pointer.split("/") if p)


def not_found(what: str, ident: str) -> ApiError:
    code = {"task": "TASK_NOT_FOUND", "skill": "SKILL_NOT_FOUND",
            "artifact": "ARTIFACT_NOT_FOUND", "key": "KEY_NOT_FOUND"}[what]
    return ApiError(404, code, f"no {what} with id {ident!r}",
                    error_type=ErrorType.DEPENDENCY)

