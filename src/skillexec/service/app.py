"""The FastAPI application: one engine behind both route families, its errors as
envelopes, and its lifespan (start the engine; on exit, drain and close it)."""

from __future__ import annotations

import contextlib
import inspect
import ipaddress
import logging
import shlex
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from skillexec.config_sections import ServiceConfig
from skillexec.engine import SkillExecutionEngine
from skillexec.errors import SkillExecError
from skillexec.service import (
    api_admin,
    api_alerts,
    api_executions,
    api_scripts,
    api_sessions,
    api_skills,
    compat,
    ops,
    ws,
)
from skillexec.service.auth import declare_security
from skillexec.service.context import (
    AccessLog,
    BodyTooLarge,
    RequestContext,
    RequestIds,
    body_too_large,
)
from skillexec.service.envelope import (
    ApiError,
    error_body,
    error_for,
    error_response,
    json_response,
)
from skillexec.service.express import ExpressExecute, front_door
from skillexec.service.mcp_mount import LazyMcp
from skillexec.service.state import ServiceState
from skillexec.storage.url import redacted

__all__ = ["LocalOnly", "create_app", "served"]

log = logging.getLogger("skillexec.service")

_STATUS_CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 406: "NOT_ACCEPTABLE",
                 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
                 422: "INVALID_REQUEST", 429: "RATE_LIMITED", 503: "UNAVAILABLE"}


def _rid(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def _error(request: Request, status: int, code: str, message: str, *, details: Any = None,
           field: str | None = None, headers: dict[str, str] | None = None) -> Response:
    return json_response(error_body(code, message, request_id=_rid(request),
                                    path=request.url.path, method=request.method,
                                    details=details, field=field), status, headers)


def _violation(request: Request, error: Any) -> dict[str, str]:
    """One of FastAPI's validation errors as ``{field, message, rule}``; a body that is no
    JSON, or not sent as JSON, said so (FastAPI's are '14: JSON decode error', the field
    being the character's position, and 'Input should be a valid dictionary')."""
    loc, rule = tuple(error.get("loc", ())), str(error.get("type", ""))
    field = ".".join(str(p) for p in loc[1:]) or str(loc[0] if loc else "")
    message = str(error.get("msg", ""))
    if loc[:1] == ("body",) and rule == "json_invalid":
        at = f" at character {loc[1]}" if len(loc) > 1 else ""
        why = str((error.get("ctx") or {}).get("error", "")).rstrip(".")
        field, message = "body", f"the body is not valid JSON ({why or 'malformed'}{at})"
    elif loc[:1] == ("query",) and field in ("since", "until") \
            and rule == "string_pattern_mismatch":  # not the pattern, which no one reads
        message = f"not a duration (30m, 1h, 2d), a date (YYYY-MM-DD) or all: " \
                  f"{error.get('input')!r}"
    elif loc == ("body",) and rule == "model_attributes_type":
        ctype = request.headers.get("content-type", "")
        if "json" not in ctype.lower():
            message = (f"the body must be a JSON object sent with Content-Type: "
                       f"application/json (got {ctype or 'no Content-Type'!r})")
    return {"field": field, "message": message, "rule": rule}


def _unreadable(request: Request, errors: Sequence[Any]) -> bool:
    """Whether the body could not be read as JSON at all: malformed, or not sent as JSON."""
    json_sent = "json" in request.headers.get("content-type", "").lower()
    for e in errors:
        loc, rule = tuple(e.get("loc", ())), e.get("type")
        if (loc[:1] == ("body",) and rule == "json_invalid") or (
                loc == ("body",) and rule == "model_attributes_type" and not json_sent):
            return True
    return False


def _methods(app: FastAPI, request: Request) -> list[str]:
    methods: set[str] = set()
    for route in app.routes:
        if isinstance(route, APIRoute) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def create_app(engine: SkillExecutionEngine, *, settings: ServiceConfig | None = None,
               insecure_no_auth: bool = False, close_engine: bool = True,
               host: str | None = None) -> FastAPI:
    """The service for ``engine``. Its lifespan starts the engine and, with
    ``close_engine``, closes it at the end (running tasks get ``shutdown_grace_s``).
    ``host``: the address it listens on (a Host header that names it is its own)."""
    settings = settings or engine.config.service
    state = ServiceState(engine, settings, insecure=insecure_no_auth, host=host)
    access = AccessLog(logging.getLogger("skillexec.http"))

    # MCP over Streamable HTTP at /mcp, with the service's keys (DESIGN §4.4); its SDK is
    # loaded once the service answers (LazyMcp).
    mcp = LazyMcp(state)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await engine.start()
        engine.monitor.start_alert_loop()  # not only from the first finished task: /api/alerts
        if not insecure_no_auth:
            await _say_when_no_key_can_get_in(engine)
        state.ready = True
        try:
            async with mcp.running():  # /mcp: Streamable HTTP sessions
                yield
        finally:
            state.draining.set()
            access.flush()
            if close_engine:
                await engine.close(grace_s=settings.shutdown_grace_s)

    app = FastAPI(
        title="skillexec", version=ops.version(), lifespan=lifespan,
        description="Run AI-assistant skills over HTTP: validated, queued, isolated, "
        "measured. `/api/...` answers in envelopes; `/api/v1/skills...` in Py Copilot's "
        "shapes. Send an API key as `X-API-Key` or `Authorization: Bearer`.",
        # Swagger UI and ReDoc pull their scripts from a CDN into the dashboard's origin,
        # which holds its key: only when asked (the document itself is always served).
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
        openapi_tags=[{"name": "skills"}, {"name": "sessions"}, {"name": "executions"},
                      {"name": "artifacts"},
                      {"name": "reports"}, {"name": "keys"}, {"name": "audit"},
                      {"name": "py-copilot"}, {"name": "operations"}],
        **_telemetry(traced=engine.monitor.tracing is not None))
    app.state.service = state
    for router in (api_skills.router, api_scripts.router, api_sessions.router,
                   api_executions.router, api_admin.router, api_alerts.router, ws.router,
                   compat.router, ops.router):
        app.include_router(router)
    app.router.routes.append(Route("/mcp", endpoint=mcp, methods=["GET", "POST", "DELETE"]))
    ops.add_metrics(app, keyed=settings.metrics_auth)
    _handlers(app, state)
    _openapi(app, metrics_keyed=settings.metrics_auth)
    cors: CORSMiddleware | None = None
    if settings.cors_origins:
        options: dict[str, Any] = {
            "allow_origins": list(settings.cors_origins),
            "allow_methods": ["GET", "POST", "DELETE", "OPTIONS"],
            "allow_headers": ["X-API-Key", "Authorization", "Content-Type", "X-Request-ID",
                              "Last-Event-ID"],
            "expose_headers": ["X-Request-ID", "Location", "Retry-After"]}
        app.add_middleware(CORSMiddleware, **options)
        cors = CORSMiddleware(_unused, **options)  # the express lane's CORS headers
    ids = RequestIds()
    app.add_middleware(RequestContext, max_body_bytes=settings.max_body_bytes,
                       access_log=access, ids=ids)
    # Outside the request context and CORS: it does their work itself for what it answers.
    app.add_middleware(ExpressExecute, state=state, ids=ids, access_log=access, cors=cors)
    if insecure_no_auth:
        app.add_middleware(LocalOnly, allowed=settings.allowed_hosts,
                           origins=settings.cors_origins)
    handlers = app.exception_handlers
    # With the engine tracing, FastAPI's own request spans and metrics are made at its
    # entry: every request goes that way then, the execute route's too.
    front: ASGIApp = app if engine.monitor.tracing is not None else front_door(
        app, state=state, ids=ids, access_log=access, cors=cors,
        crash=handlers.get(Exception) or handlers.get(500))
    if insecure_no_auth and front is not app:  # the express lane answers before the app
        front = LocalOnly(front, allowed=settings.allowed_hosts, origins=settings.cors_origins)
    app.state.front_door = front
    return app


class LocalOnly:
    """With authentication off (``--insecure-no-auth``), only requests addressed to this
    machine. A web page whose name its owner rebinds to 127.0.0.1 (DNS rebinding) is
    same-origin with the service: it ran skills as admin and made admin keys. Its requests
    name its host in ``Host``; ``localhost``, ``*.localhost`` (browsers resolve those
    themselves) and IP addresses cannot be rebound, and ``allowed`` names the operator
    trusts. A WebSocket, which a page of any origin may open, must come from such a host
    or one of ``origins`` (the CORS origins)."""

    def __init__(self, app: ASGIApp, *, allowed: Sequence[str], origins: Sequence[str],
                 ) -> None:
        self.app = app
        self.allowed = frozenset(h.lower().rstrip(".") for h in allowed)
        self.origins = frozenset(origins)

    def local(self, host: str) -> bool:
        """Whether a ``Host`` value (``name[:port]``, ``[v6][:port]``) names this machine."""
        if host.startswith("["):
            name = host[1:host.find("]")]
        else:
            name = host.rpartition(":")[0] if host.count(":") == 1 else host
        name = name.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost") or name in self.allowed:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = origin = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
        refused = None
        if host is not None and not self.local(host):
            refused = f"a request for host {host!r}"
        elif scope["type"] == "websocket" and origin is not None and \
                origin not in self.origins and not self.local(urlsplit(origin).netloc):
            refused = f"a WebSocket opened by a page of {origin!r}"
        if refused is None:
            await self.app(scope, receive, send)
            return
        message = (f"{refused} is refused while authentication is off (--insecure-no-auth): "
                   "call the service at localhost or an IP address, or add the name to "
                   "service.allowed_hosts")
        if scope["type"] == "websocket":
            await receive()  # websocket.connect; closed before it is accepted: a 403
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        body = orjson.dumps(error_body("MISDIRECTED_REQUEST", message, request_id="",
                                       path=scope["path"], method=scope["method"]))
        await send({"type": "http.response.start", "status": 421,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def served(app: FastAPI) -> ASGIApp:
    """What a server runs for an app of :func:`create_app` (its execute route's requests
    answered before the app's outer layers: :func:`~skillexec.service.express.front_door`)."""
    front: ASGIApp = app.state.front_door
    return front


async def _unused(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("only this CORSMiddleware's send() is used")


def _telemetry(*, traced: bool) -> dict[str, Any]:
    """FastAPI's own OpenTelemetry (its request spans and metrics) only when the engine
    traces too: else every request asks OpenTelemetry three times whether a provider is
    configured — about a tenth of the execute route's HTTP cost (bench_http.py) — for
    spans nobody asked skillexec for. A FastAPI without native telemetry has none to turn
    off."""
    if traced or "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


async def _say_when_no_key_can_get_in(engine: SkillExecutionEngine) -> None:
    """A first `skillexec serve` answers every /api request 401: say what to do about it."""
    now = time.time()
    if not any(k.valid(now) for k in await engine.keys.list()):
        # The keys are the journal's: the command must name the same one, or it makes a
        # key this service never sees.
        cfg = engine.config
        where = (f" --journal-url {shlex.quote(redacted(cfg.journal.url))}"
                 if cfg.journal_is_shared and cfg.journal.url else
                 "" if cfg.data_dir == Path(".skillexec") else
                 f" --data-dir {shlex.quote(str(cfg.data_dir))}")
        log.warning("no valid API key: every /api request will be refused (401); create "
                    "one with 'skillexec keys create --name NAME --role operator%s', or "
                    "serve with --insecure-no-auth for local development", where)


def _openapi(app: FastAPI, *, metrics_keyed: bool) -> None:
    """FastAPI's document, with the key schemes on every operation that needs a key."""
    made = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = made()
            declare_security(schema, keyed=lambda path: path.startswith("/api/") or (
                metrics_keyed and path == "/metrics"))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _handlers(app: FastAPI, state: ServiceState) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc, request_id=_rid(request), path=request.url.path,
                              method=request.method)

    async def engine_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SkillExecError)
        err = error_for(exc.info, retry_after_s=state.settings.retry_after_s)
        return await api_error(request, err)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = [_violation(request, e) for e in exc.errors()]
        first = details[0] if details else {"field": None, "message": "invalid request"}
        where = (f"{first['field']}: " if first["field"]
                 and not str(first["message"]).startswith("the body") else "")
        # A body that cannot be read as JSON is a bad request (400, README and DESIGN
        # §4.3); one that reads but breaks the schema, 422. Py Copilot's routes answer as
        # its FastAPI does: 422 for both.
        status = 400 if _unreadable(request, exc.errors()) and not \
            request.url.path.startswith(compat.router.prefix) else 422
        return _error(request, status, "INVALID_REQUEST", f"{where}{first['message']}",
                      details=details, field=first["field"])

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc.__cause__, BodyTooLarge):
            return _error(request, 413, "PAYLOAD_TOO_LARGE",
                          body_too_large(state.settings.max_body_bytes))
        code = _STATUS_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not the first route's only
            headers["Allow"] = ", ".join(_methods(app, request))
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        return _error(request, exc.status_code, code, message, headers=headers)

    async def crash(request: Request, exc: Exception) -> Response:
        # Once: an express-lane request the app answered passes its failure up through
        # the lane's own error handler too (this one).
        if not getattr(exc, "_skillexec_logged", False):
            log.error("request %s %s failed", request.method, request.url.path, exc_info=exc)
            with contextlib.suppress(AttributeError):
                exc._skillexec_logged = True  # type: ignore[attr-defined]
        response = _error(request, 500, "INTERNAL_ERROR", "the service failed on this "
                          f"request ({type(exc).__name__}); its id is in the logs")
        response.headers["X-Request-ID"] = _rid(request)  # outside the middleware here
        return response

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(SkillExecError, engine_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, crash)
