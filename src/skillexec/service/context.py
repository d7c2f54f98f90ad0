"""Per request, around everything (pure ASGI, so streams are not buffered): its id, the
body size limit, and one structured access-log line.

The id comes from ``X-Request-ID`` when it is 1-128 printable characters (Py Copilot's
axios client sends base-36 ids, not UUIDs), else a new uuid4; it goes back in the response
header, into the envelope's metadata (``request.state.request_id``), and is bound with
structlog's contextvars for the request, so the engine's task logs of the calls it made
carry it too, and set for the audit log (its records keep it in their details). One JSON
line per request goes to the ``skillexec.http`` logger (``skillexec serve`` prints it on
stderr).
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from skillexec._setting_names import where_set
from skillexec.security.audit import REQUEST_ID
from skillexec.service.envelope import error_body

__all__ = ["AccessLog", "BodyTooLarge", "RequestContext", "RequestIds", "bind",
           "body_too_large", "unbind", "valid_request_id"]

_BATCH = 256  # access-log lines held at most
_FLUSH_S = 0.25  # and for at most this long
_ID = re.compile(r"[\x20-\x7e]{1,128}")


def valid_request_id(value: str | None) -> str | None:
    return value if value is not None and _ID.fullmatch(value) else None


class AccessLog:
    """One JSON line per request, to a logger (``skillexec.http``), written in batches: one
    log record carries up to ``_BATCH`` lines, at most ``_FLUSH_S`` late — a record per
    request cost more than a small request's own handling (measured: bench_http.py)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._lines: list[str] = []
        self._flushing: asyncio.TimerHandle | None = None

    def wanted(self) -> bool:
        """Whether anyone reads the lines (else none is made)."""
        return self.logger.isEnabledFor(logging.INFO) and self.logger.hasHandlers()

    def request(self, scope: Scope, rid: str, status: int, started: float) -> None:
        """The line for one request (``started``: its ``perf_counter()``), if wanted."""
        if self.wanted():
            principal = scope.get("state", {}).get("principal")
            self.add({
                "event": "http_request", "request_id": rid,
                "method": scope.get("method", "WS"), "path": scope["path"], "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "principal": getattr(principal, "id", None),
                "client": (scope.get("client") or ("", 0))[0], "at": time.time()})

    def add(self, line: dict[str, Any]) -> None:
        self._lines.append(orjson.dumps(line).decode())
        if len(self._lines) >= _BATCH:
            self.flush()
        elif self._flushing is None:
            self._flushing = asyncio.get_running_loop().call_later(_FLUSH_S, self.flush)

    def flush(self) -> None:
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        if self._lines:
            lines, self._lines = self._lines, []
            self.logger.info("\n".join(lines))


class BodyTooLarge(Exception):
    """Raised while the body is read past the limit (FastAPI wraps it in its 400 for a body
    it could not parse; the service's handler answers 413 for it)."""


def body_too_large(limit: int) -> str:
    """The 413's message: the limit, and where the operator raises it (a script's files,
    base64 in the body, reach it as soon as limits.max_param_bytes is raised past it)."""
    return (f"the request body is larger than {limit} bytes: raise service.max_body_bytes "
            f"({where_set('service', 'max_body_bytes')})")


class RequestIds:
    """A request's id: the client's ``X-Request-ID`` when valid, else a made one — this
    process's random prefix and a counter, unique as a uuid4 is for what they are used
    for, without a getrandom() call per request."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._count = itertools.count(1)

    def of(self, given: bytes | None) -> str:
        """``given``: the request's first ``X-Request-ID`` header's value, if any."""
        valid = valid_request_id(given.decode("latin-1")) if given is not None else None
        return valid or f"{self._prefix}{next(self._count):016x}"


Bound = tuple[Mapping[str, contextvars.Token[Any]], contextvars.Token[str | None]]


def bind(scope: Scope, rid: str) -> Bound:
    """The request's id where the envelope, the task logs and the audit read it."""
    scope.setdefault("state", {})["request_id"] = rid
    return structlog.contextvars.bind_contextvars(request_id=rid), REQUEST_ID.set(rid)


def unbind(bound: Bound) -> None:
    structlog.contextvars.reset_contextvars(**bound[0])
    REQUEST_ID.reset(bound[1])


class RequestContext:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, access_log: AccessLog,
                 ids: RequestIds) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.log = access_log
        self.ids = ids

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value
                break
        rid = self.ids.of(given)
        bound = bind(scope, rid)
        started = time.perf_counter()
        status = 0
        response_started = False
        limit = self.max_body_bytes
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", rid.encode("latin-1"))]
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close" and not status:
                status = 403  # closed before it was accepted: the server's answer
            await send(message)

        try:
            if scope["type"] == "http" and _declared_length(scope) > limit:
                status = 413
                await self._too_large(scope, send, rid)
                return
            try:
                await self.app(scope, limited_receive if scope["type"] == "http" else receive,
                               send_with_id)
            except BodyTooLarge:
                if response_started:
                    raise
                status = 413
                await self._too_large(scope, send, rid)
        finally:
            unbind(bound)
            self.log.request(scope, rid, status, started)

    async def _too_large(self, scope: Scope, send: Send, rid: str) -> None:
        message = body_too_large(self.max_body_bytes)
        body = orjson.dumps(error_body("PAYLOAD_TOO_LARGE", message, request_id=rid,
                                       path=scope["path"], method=scope.get("method", "")))
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"x-request-id", rid.encode("latin-1"))]})
        await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
