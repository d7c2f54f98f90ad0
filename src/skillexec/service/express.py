"""The express lane: ``POST /api/skills/{id}/execute`` with a well-formed JSON body,
answered without FastAPI's router and dependency solving.

The execute route is the service's hot path; routing through every route of the app and
solving its dependencies cost more CPU than the engine's own work for an inline skill
(measured: bench/bench_http.py, server CPU per request). This pure-ASGI middleware sits
inside the request context (request id, body size limit, access log) and CORS, and does
what the route does — authenticate the key (:func:`~skillexec.service.auth.authenticate`),
the rate limit, the ``run`` role, then :func:`~skillexec.service.api_skills.execute` — and
answers refusals in the same envelope as the app's exception handlers. Anything it is not
sure of goes the usual way, the body replayed, so every other answer is FastAPI's own: a
body that does not validate (the 422 with FastAPI's error details), another content type,
an over-long skill id. The route stays declared in the OpenAPI document as before.
"""

from __future__ import annotations

import re

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from skillexec.errors import SkillExecError
from skillexec.service.api_skills import execute
from skillexec.service.auth import caller_of
from skillexec.service.envelope import ApiError, error_for, error_response
from skillexec.service.models import ExecuteRequest
from skillexec.service.state import ServiceState

__all__ = ["ExpressExecute"]

_PATH = re.compile(r"/api/skills/([^/]{1,200})/execute")
_JSON = ("application/json", "application/json; charset=utf-8")


class ExpressExecute:
    def __init__(self, app: ASGIApp, *, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST"
                or (match := _PATH.fullmatch(scope["path"])) is None):
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:  # lower-case names (ASGI); a repeated one: its
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))  # first
        if headers.get("content-type", "").lower() not in _JSON:
            await self.app(scope, receive, send)
            return
        raw = await _body(receive)
        if raw is None:  # the client went away: nothing to answer
            return
        try:
            body = ExecuteRequest.model_validate_json(raw)
        except ValidationError:  # FastAPI's answer for it, in its words
            await self.app(scope, _replay(raw, receive), send)
            return
        state: dict[str, object] = scope.setdefault("state", {})
        rid = str(state.get("request_id", ""))
        try:
            principal = await caller_of(self.state, headers, action="run")
            state["principal"] = principal
            response = await execute(self.state, principal, match.group(1), body, rid)
        except ApiError as exc:
            response = error_response(exc, request_id=rid, path=scope["path"], method="POST")
        except SkillExecError as exc:
            err = error_for(exc.info, retry_after_s=self.state.settings.retry_after_s)
            response = error_response(err, request_id=rid, path=scope["path"], method="POST")
        # Anything else propagates to the app's outermost handler (500, as on any route).
        await response(scope, receive, send)


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
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
