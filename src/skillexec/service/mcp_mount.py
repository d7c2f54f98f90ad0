"""``/mcp`` on the HTTP service, loaded after the service answers.

The MCP SDK is the largest import of ``skillexec serve`` (about 0.5 s of CPU, a third of
its start), and nothing but ``/mcp`` needs it. The service starts without it: once it
listens, the SDK is imported in a worker thread (the event loop keeps answering), its session
manager runs for the rest of the service's life, and ``/mcp`` requests that came before wait
for it. A load that failed answers 503 with the reason; every other route is unaffected.

Keys are checked here, by the service's own code (:func:`~skillexec.service.auth.principal_of`):
a request spends its key's token bucket as on ``/api``, and a refusal (401, 429) is a
JSON-RPC error with the same status and headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from skillexec.security.principals import LOCAL
from skillexec.service.auth import client_of, principal_of
from skillexec.service.envelope import ApiError

if TYPE_CHECKING:
    from skillexec.service.state import ServiceState

__all__ = ["LazyMcp"]

log = logging.getLogger("skillexec.service")


class LazyMcp:
    """The ``/mcp`` endpoint (an ASGI app), its MCP server made in :meth:`running`."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.engine = state.engine
        self.endpoint: ASGIApp | None = None
        self.failure: str | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._started = False  # running() was entered: an app served without its lifespan

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For the service's lifespan: load and run the MCP server in the background."""
        self._started = True
        task = asyncio.get_running_loop().create_task(self._serve(), name="skillexec-mcp")
        try:
            yield
        finally:
            self._stop.set()
            await task

    async def _serve(self) -> None:
        try:
            # The SDK's modules are imported off the loop: /health answers meanwhile.
            http = await asyncio.to_thread(importlib.import_module, "skillexec.mcp.http")
            from skillexec.mcp.server import McpServer

            mcp = McpServer(self.engine)
            # No key check of the SDK layer's: __call__ makes the service's own first.
            self.endpoint = http.mcp_route(mcp, authenticate=None,
                                           security=rebinding_guard(self.state)).app
            async with mcp.server.session_manager.run():
                self._ready.set()
                await self._stop.wait()
        except Exception as exc:  # MCP is lost, the service is not
            log.exception("the MCP endpoint (/mcp) could not be started")
            self.endpoint, self.failure = None, f"{type(exc).__name__}: {exc}"
        finally:
            self._ready.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._started and not self._ready.is_set() and not self._stop.is_set():
            await self._ready.wait()
        endpoint = self.endpoint
        if endpoint is not None and not self._stop.is_set():
            if not self.state.insecure:
                try:
                    await self._identify(scope)
                except ApiError as exc:
                    await _answer(send, exc.status, -32001, exc.message, exc.headers)
                    return
            else:  # the access log names who called (it said null for every /mcp request)
                scope.setdefault("state", {})["principal"] = LOCAL
            await endpoint(scope, receive, send)
            return
        why = self.failure or ("the service is stopping" if self._started
                               else "the app was served without its lifespan")
        await _answer(send, 503, -32603, f"the MCP endpoint is not available: {why}")

    async def _identify(self, scope: Scope) -> None:
        """The request's MCP caller, where the MCP server reads it: its key's principal
        (ApiError 401 or 429, as on /api) and what that principal may run."""
        from skillexec.mcp.server import CALLER_KEY, Caller  # loaded by now (_serve)

        principal = await principal_of(self.state, Headers(scope=scope), client_of(scope))
        request_state = scope.setdefault("state", {})
        request_state["principal"] = principal  # for the access log
        request_state[CALLER_KEY] = Caller(
            principal=principal, allows=principal.may_run, can=principal.can)


_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def rebinding_guard(state: ServiceState) -> Any:
    """The SDK's DNS-rebinding guard (its ``TransportSecuritySettings``) for this service.

    With keys it is off: every request needs a key, which a page that rebinds its name to
    this address does not have (a browser sends none on its own), and /api answers whatever
    Host a client uses — so /mcp does too (its guard answered 421 to every name but
    localhost, a service on 0.0.0.0 reached by its address or behind a name included).
    Without keys (--insecure-no-auth) a Host header is all that tells a rebound page from
    the developer: it stays on, admitting the loopback names, the address the service
    listens on and, for Origin, the configured CORS origins.
    """
    from mcp.server.transport_security import TransportSecuritySettings  # loaded by now

    if not state.insecure:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    names = list(_LOOPBACK)
    if state.host and not _unspecified(state.host):  # 0.0.0.0 is no name a client uses
        bound = f"[{state.host}]" if ":" in state.host else state.host
        names += [bound] if bound not in names else []
    hosts = [h for name in names for h in (name, f"{name}:*")]  # with or without a port
    origins = [f"{scheme}://{h}" for scheme in ("http", "https") for h in hosts]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts,
        allowed_origins=[*origins, *state.settings.cors_origins])


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:  # a name
        return False


async def _answer(send: Send, status: int, code: int, message: str,
                  headers: Mapping[str, str] | None = None) -> None:
    """A refusal as MCP clients read one: a JSON-RPC error, with the HTTP status."""
    body = orjson.dumps({"jsonrpc": "2.0", "id": None,
                         "error": {"code": code, "message": message}})
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"),
        *((k.lower().encode("latin-1"), v.encode("latin-1"))
          for k, v in (headers or {}).items())]})
    await send({"type": "http.response.body", "body": body})
