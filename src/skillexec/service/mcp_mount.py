"""``/mcp`` on the HTTP service, loaded after the service answers.

The MCP SDK is the largest import of ``skillexec serve`` (about 0.5 s of CPU, a third of
its start), and nothing but ``/mcp`` needs it. The service starts without it: once it
listens, the SDK is imported in a worker thread (the event loop keeps answering), its session
manager runs for the rest of the service's life, and ``/mcp`` requests that came before wait
for it. A load that failed answers 503 with the reason; every other route is unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from skillexec.engine import SkillExecutionEngine

__all__ = ["LazyMcp"]

log = logging.getLogger("skillexec.service")

# The key's principal for a request (None: 401); built once the SDK is loaded.
Authenticate = Callable[[str | None], Awaitable[Any]]


class LazyMcp:
    """The ``/mcp`` endpoint (an ASGI app), its MCP server made in :meth:`running`."""

    def __init__(self, engine: SkillExecutionEngine, *,
                 authenticate: Authenticate | None) -> None:
        self.engine = engine
        self.authenticate = authenticate
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
            self.endpoint = http.mcp_route(mcp, authenticate=self.authenticate).app
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
            await endpoint(scope, receive, send)
            return
        why = self.failure or ("the service is stopping" if self._started
                               else "the app was served without its lifespan")
        body = orjson.dumps({"jsonrpc": "2.0", "id": None, "error": {
            "code": -32603, "message": f"the MCP endpoint is not available: {why}"}})
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
