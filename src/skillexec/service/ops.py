"""Operations: ``/health`` (liveness and readiness), ``/metrics`` (Prometheus, live), and
the dashboard's static files at ``/``."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import FileResponse, Response

from skillexec.service.auth import caller
from skillexec.service.envelope import COMMON_ERRORS, ApiError, json_response
from skillexec.service.models import Health
from skillexec.service.state import ServiceState

__all__ = ["add_metrics", "router", "version"]

router = APIRouter(tags=["operations"])
_DASHBOARD = Path(__file__).parent / "dashboard"
_FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript",
          "run.js": "text/javascript", "tasks.js": "text/javascript",
          "audit.js": "text/javascript", "style.css": "text/css"}
# The dashboard's page holds an API key: no other site may frame it (clickjacking), and it
# runs, styles and connects to nothing but its own origin's files and API (it has no inline
# script or style, no plugin; 'self' covers its WebSocket). Each file revalidated
# (no-cache), so an upgrade's page is never mixed with a cached script.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@functools.cache  # read from the installed metadata once: /health is polled
def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("skillexec")
    except PackageNotFoundError:
        return "0"


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


@router.get("/health", operation_id="health", response_model=Health,
            responses={503: {"model": Health, "description": "Not ready (starting or "
                             "draining)."}})
async def health(request: Request) -> Response:
    """Liveness and readiness, with the engine's state; 503 while draining. Says loudly
    when authentication is off."""
    state = _state(request)
    engine = state.engine
    draining = state.draining.is_set()
    # A journal that cannot be written (its disk full) refuses every call: not ready.
    journal_error: str | None = getattr(engine.journal, "write_failure", None)
    ready = state.ready and not draining and journal_error is None
    body: dict[str, Any] = {
        "status": "draining" if draining else "journal_unwritable" if journal_error else (
            "ok" if ready else "starting"),
        "live": True, "ready": ready,
        "auth": "DISABLED (--insecure-no-auth)" if state.insecure else "api-key",
        "version": version(), "uptime_s": round(time.time() - state.started_at, 3),
        "engine": {"running": engine.running_count, "queue_depth": engine.queue_depth,
                   "max_queue_size": engine.config.max_queue_size,
                   "max_concurrency": engine.config.max_concurrency,
                   "skills": len(engine.skills), "streams_open": state.streams_open}}
    if journal_error is not None:
        body["journal"] = {"writable": False, "error": journal_error}
    if state.insecure:
        body["warning"] = ("authentication is disabled: anyone who can reach this port can "
                           "run skills as admin")
    return json_response(body, 200 if ready else 503,
                         None if ready else state.retry_after)


_METRICS_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}},
          "description": "Prometheus text format."}}


async def metrics_open(request: Request) -> Response:
    """The engine's Prometheus metrics, live."""
    return Response(_state(request).engine.monitor.prometheus_text(),
                    media_type=CONTENT_TYPE_LATEST)


async def metrics_keyed(request: Request) -> Response:
    """The engine's Prometheus metrics, live, for a key that may read reports."""
    principal = await caller(request)
    if not principal.can("reports"):
        raise ApiError(403, "PERMISSION_DENIED", "this key may not read metrics")
    return await metrics_open(request)


def add_metrics(app: FastAPI, *, keyed: bool) -> None:
    """``/metrics``, with a key (``metrics_auth``) or open (what scrapers expect by
    default): declared as it is, so the OpenAPI document tells which."""
    app.add_api_route("/metrics", metrics_keyed if keyed else metrics_open,
                      methods=["GET"], operation_id="metrics", tags=["operations"],
                      response_class=Response,
                      responses={**_METRICS_DOC, **(COMMON_ERRORS if keyed else {})})


# GET and HEAD: an uptime check asks HEAD / (it was a 405 with an empty Allow).
@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def dashboard_index() -> Response:
    return FileResponse(_DASHBOARD / "index.html", media_type=_FILES["index.html"],
                        headers=_PAGE_HEADERS)


@router.api_route("/dashboard/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def dashboard_file(name: str) -> Response:
    if name not in _FILES:
        raise ApiError(404, "NOT_FOUND", f"no dashboard file {name!r}")
    return FileResponse(_DASHBOARD / name, media_type=_FILES[name], headers=_PAGE_HEADERS)
