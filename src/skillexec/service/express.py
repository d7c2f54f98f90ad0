"""The express lane: ``POST /api/skills/{id}/execute`` with a well-formed JSON body,
answered without FastAPI's router and dependency solving.

The execute route is the service's hot path; routing through every route of the app and
solving its dependencies cost more CPU than the engine's own work for an inline skill
(measured: bench/bench_http.py, server CPU per request). This pure-ASGI middleware sits
outside the request context and CORS and does their work itself for the requests it
answers — the request id (bound to the logs and the audit, sent back in ``X-Request-ID``),
the body size limit, CORS's response headers, the access-log line — without their
per-message wrappers, then what the route does: authenticate the key
(:func:`~skillexec.service.auth.authenticate`), the rate limit, the ``run`` role, then
:func:`~skillexec.service.api_skills.execute`, and answers refusals in the same envelope
as the app's exception handlers. Anything it is not sure of goes the usual way (through
the request context), the body replayed, so every other answer is FastAPI's own: a body
that does not validate (the 422 with FastAPI's error details), another content type, an
over-long skill id, a body over the size limit (the 413).
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable

from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send

from skillexec.errors import SkillExecError
from skillexec.service.api_skills import execute
from skillexec.service.auth import caller_of, client_of
from skillexec.service.context import AccessLog, RequestIds, bind, unbind
from skillexec.service.envelope import ApiError, error_for, error_response
from skillexec.service.models import ExecuteRequest
from skillexec.service.state import ServiceState

__all__ = ["ExpressExecute", "front_door"]

_PATH = re.compile(r"/api/skills/([^/]{1,200})/execute")
_JSON = ("application/json", "application/json; charset=utf-8")
# What this lane reads of a request's headers (ASGI gives lower-case names).
_WANTED = frozenset((b"content-type", b"content-length", b"x-api-key", b"authorization",
                     b"x-request-id", b"origin"))


class ExpressExecute:
    def __init__(self, app: ASGIApp, *, state: ServiceState, ids: RequestIds,
                 access_log: AccessLog, cors: CORSMiddleware | None = None) -> None:
        self.app = app
        self.state = state
        self.ids = ids
        self.log = access_log
        self.cors = cors  # its response headers, for the answers made here

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST"
                or (match := _PATH.fullmatch(scope["path"])) is None):
            await self.app(scope, receive, send)
            return
        headers = _wanted(scope["headers"])
        limit = self.state.settings.max_body_bytes
        if (headers.get("content-type", "").lower() not in _JSON
                or _length(headers.get("content-length")) > limit):
            await self.app(scope, receive, send)
            return
        raw = await _body(receive, limit)
        if raw is None:  # the client went away: nothing to answer
            return
        body: ExecuteRequest | None = None
        try:
            if len(raw) > limit:  # the request context's 413
                raise ValueError
            body = ExecuteRequest.model_validate_json(raw)
        except (ValueError, ValidationError):  # FastAPI's answer for it, in its words
            pass
        if body is None:
            # Out of the except block: a failure further in is logged alone, not chained
            # to this validation error (twice the traceback, for nothing).
            await self.app(scope, _replay(raw, receive), send)
            return
        given = headers.get("x-request-id")
        rid = self.ids.of(None if given is None else given.encode("latin-1"))
        if self.cors is not None:
            send = functools.partial(self.cors.send, send=send,
                                     request_headers=Headers(scope=scope))
        bound = bind(scope, rid)
        started = time.perf_counter()
        status = 0
        try:
            response = await self._answer(scope, match.group(1), body, headers, rid)
            response.raw_headers.append((b"x-request-id", rid.encode("latin-1")))
            status = response.status_code
            await response(scope, receive, send)
        finally:
            unbind(bound)
            self.log.request(scope, rid, status, started)

    async def _answer(self, scope: Scope, skill_id: str, body: ExecuteRequest,
                      headers: dict[str, str], rid: str) -> Response:
        try:
            principal = await caller_of(self.state, headers, action="run",
                                        client=client_of(scope))
            scope["state"]["principal"] = principal
            return await execute(self.state, principal, skill_id, body, rid)
        except ApiError as exc:
            return error_response(exc, request_id=rid, path=scope["path"], method="POST")
        except SkillExecError as exc:
            err = error_for(exc.info, retry_after_s=self.state.settings.retry_after_s)
            return error_response(err, request_id=rid, path=scope["path"], method="POST")
        # Anything else propagates to the app's outermost handler (500, as on any route).


class _FrontDoor:
    """What the server runs: the execute route's requests straight to an express lane of
    its own, every other request (and each the lane is not sure of) to the app."""

    def __init__(self, app: ASGIApp, lane: ASGIApp) -> None:
        self.app = app
        self.lane = lane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "POST"
                and _PATH.fullmatch(scope["path"]) is not None):
            scope["app"] = self.app  # as the app sets it, for whatever reads it
            await self.lane(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def front_door(app: ASGIApp, *, state: ServiceState, ids: RequestIds, access_log: AccessLog,
               cors: CORSMiddleware | None, crash: ExceptionHandler | None) -> ASGIApp:
    """The app as a server should run it (``skillexec serve``). The express lane in the
    app sits inside the layers the app puts around every request — FastAPI's and
    Starlette's entry, the telemetry and body-limit wrappers (inert here), the server-error
    handler — which cost the execute route about 3 % of its instructions again, for
    nothing it uses (bench_http.py). Here a second lane answers that route before them,
    under Starlette's own server-error middleware with the app's 500 handler (``crash``),
    as inside the app; what it does not answer goes to the whole app, from the top (where
    the app's own lane sees it again, and passes it on as before)."""
    lane = ExpressExecute(app, state=state, ids=ids, access_log=access_log, cors=cors)
    return _FrontDoor(app, ServerErrorMiddleware(lane, handler=crash))


def _wanted(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The headers this lane reads (a repeated one: its first), decoded; the others are
    not (a browser's dozen would cost more than the lookup of the key)."""
    found: dict[str, str] = {}
    for name, value in raw:
        if name in _WANTED:
            found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


def _length(declared: str | None) -> int:
    """A declared Content-Length (0 when none or not a number, as the context reads it)."""
    try:
        return int(declared) if declared is not None else 0
    except ValueError:
        return 0


async def _body(receive: Receive, limit: int) -> bytes | None:
    """The body, or as much of it as shows it is over ``limit``."""
    chunks = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        seen += len(chunk)
        if seen > limit or not message.get("more_body", False):
            return b"".join(chunks)


def _replay(raw: bytes, receive: Receive) -> Receive:
    """``receive`` with the body read already given again first."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay
