"""The Streamable HTTP endpoint (both eras) behind API keys: ``X-API-Key`` or
``Authorization: Bearer``; the key's principal goes with every task it starts and its
grants decide which skills it sees and runs. Mount it at ``/mcp`` on the HTTP service (whose
lifespan must run ``mcp.server.session_manager.run()``: :func:`mcp_route`) or serve it
alone (:func:`http_app`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from skillexec.mcp.server import CALLER_KEY, Caller, McpServer

__all__ = ["Authenticate", "http_app", "mcp_route"]

Authenticate = Callable[[str | None], Awaitable[Caller | None]]


def _key(scope: Scope) -> str | None:
    headers = {k.lower(): v for k, v in scope.get("headers") or ()}
    raw = headers.get(b"x-api-key")
    if raw:
        return bytes(raw).decode("latin-1")
    auth = bytes(headers.get(b"authorization") or b"").decode("latin-1")
    scheme, _, token = auth.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class _Keys:
    """401 (a JSON-RPC error body, as MCP clients read it) unless the key is valid."""

    def __init__(self, app: ASGIApp, authenticate: Authenticate) -> None:
        self.app, self.authenticate = app, authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        caller = await self.authenticate(_key(scope))
        if caller is None:
            body = orjson.dumps({"jsonrpc": "2.0", "id": None, "error": {
                "code": -32001, "message": "an API key is required (X-API-Key header or "
                "Authorization: Bearer) and must be valid"}})
            await send({"type": "http.response.start", "status": 401, "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'APIKey header="X-API-Key", Bearer')]})
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})[CALLER_KEY] = caller
        await self.app(scope, receive, send)


def mcp_route(mcp: McpServer, *, authenticate: Authenticate | None, path: str = "/mcp",
              host: str = "127.0.0.1",
              security: TransportSecuritySettings | None = None) -> Route:
    """The endpoint as one route to add to another app (the HTTP service:
    ``app.router.routes.append(mcp_route(...))``), whose lifespan must then run
    ``mcp.server.session_manager.run()``. ``authenticate=None`` serves without keys (local
    use: the SDK's DNS-rebinding guard still admits only localhost Host and Origin headers
    when ``host`` is a loopback address). ``security``: the SDK's guard as the caller sets
    it (the Host and Origin headers it admits), instead of the one ``host`` implies."""
    sdk_app = mcp.server.streamable_http_app(streamable_http_path=path, host=host,
                                             transport_security=security)
    endpoint: ASGIApp = next(r for r in sdk_app.routes if isinstance(r, Route)).app
    if authenticate is not None:
        endpoint = _Keys(endpoint, authenticate)
    return Route(path, endpoint=endpoint, methods=["GET", "POST", "DELETE"])


def http_app(mcp: McpServer, *, authenticate: Authenticate | None, path: str = "/mcp",
             host: str = "127.0.0.1") -> Starlette:
    """The endpoint alone, as an app (its lifespan runs the SDK's session manager)."""
    route = mcp_route(mcp, authenticate=authenticate, path=path, host=host)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with mcp.server.session_manager.run():
            yield

    return Starlette(routes=[route], lifespan=lifespan)
