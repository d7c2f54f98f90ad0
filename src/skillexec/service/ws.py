"""WebSocket ``/api/skills/ws``: subscribe to tasks, receive their progress.

Client messages (JSON objects with ``type``): ``subscribe {task_id, since?, result?}``
(``since``: an event id, as on the SSE stream; ``execution_id`` is accepted for ``task_id``,
Py Copilot's name; ``result: false``: its ``complete`` message carries ``result: null``,
for a client that only shows the status, as the dashboard's tasks table: a result can be
megabytes), ``unsubscribe {task_id}``, ``ping``. Server messages: ``subscribed {task_id}``,
``status {task_id, status, attempt, id}``, ``progress {task_id, execution_id, progress
(0-100), message, id}``, ``complete {task_id, execution_id, success, status, result}``,
``pong``, ``error {error_code, error_message}``. Credentials: the same headers as HTTP, or
(a browser cannot set headers on a WebSocket) the subprotocols ``skillexec`` and
``skillexec.key.<key>``, answered with ``skillexec``; ``?api_key=`` still works, but puts the
key in a URL, which proxies log. Close codes: 1008 bad or no key,
or the key revoked since (at once through this service; else found before the next message
is handled or event sent, as HTTP finds it), 1013 the key has too many streams open
(``service.max_streams_per_key``), 1001 the service is shutting down.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.responses import JSONResponse

from skillexec.errors import SkillExecError
from skillexec.security.principals import Principal
from skillexec.service.api_executions import follow
from skillexec.service.auth import (
    WS_PROTOCOL,
    authenticate,
    client_of,
    key_of_ws,
    principal_of_ws,
)
from skillexec.service.calls import task_info
from skillexec.service.envelope import ApiError, error_body
from skillexec.service.state import ServiceState
from skillexec.service.streams import Subscription, event_payload

__all__ = ["router"]

router = APIRouter()
_MAX_SUBSCRIPTIONS = 100  # per connection
_MAX_MESSAGE_BYTES = 64 << 10


@router.websocket("/api/skills/ws")
async def skills_ws(websocket: WebSocket) -> None:
    state: ServiceState = websocket.app.state.service
    offered = list(websocket.scope.get("subprotocols") or ())
    raw = key_of_ws(websocket.headers, websocket.query_params, offered)
    client = client_of(websocket.scope)
    try:
        principal = await principal_of_ws(state, raw, client)
    except ApiError as exc:
        # The handshake answered as any route answers a bad key (401 with the envelope;
        # closing before accepting was a bare 403), where the server can send a response.
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            await websocket.send_denial_response(JSONResponse(error_body(
                exc.code, exc.message, request_id="", path=websocket.url.path,
                method="GET"), status_code=exc.status, headers=exc.headers))
        else:
            await websocket.close(code=1008, reason=exc.message[:120])
        return
    websocket.state.principal = principal  # for the access log
    # A client that offered subprotocols (the dashboard: its key in one) is answered with
    # the plain one: never the key's, which would echo it back.
    subprotocol = WS_PROTOCOL if WS_PROTOCOL in offered else None
    try:
        slot = state.streams.take(principal)
    except ApiError as exc:  # too many open: accepted, to say why with 1013 (try later)
        await websocket.accept(subprotocol=subprotocol)
        await websocket.close(code=1013, reason=exc.message[:120])
        return
    try:
        await websocket.accept(subprotocol=subprotocol)
        session = _Session(state, principal, websocket, raw=raw, client=client)
        await session.run()
    finally:
        slot.release()


class _Session:
    def __init__(self, state: ServiceState, principal: Principal, ws: WebSocket, *,
                 raw: str | None, client: str) -> None:
        self.state = state
        self.principal = principal
        self.ws = ws
        # The key, to check again that it is still valid (it is looked up as any request's:
        # a digest in the cache, never the key itself).
        self.raw, self.client = raw, client
        self.revoked = asyncio.Event()
        self.out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(256)
        self.subs: dict[str, tuple[Subscription, asyncio.Task[None]]] = {}

    async def run(self) -> None:
        sender = asyncio.ensure_future(self._send_loop())
        reader = asyncio.ensure_future(self._read_loop())
        draining = asyncio.ensure_future(self.state.draining.wait())
        revoked = asyncio.ensure_future(self.revoked.wait())
        key_id = self.principal.key_id
        if key_id is not None:  # a revocation through this service ends it at once
            self.state.sockets.setdefault(key_id, set()).add(self.revoked)
        try:
            await asyncio.wait((sender, reader, draining, revoked),
                               return_when=asyncio.FIRST_COMPLETED)
            if revoked.done():
                with contextlib.suppress(Exception):
                    await self.ws.close(code=1008, reason="the API key is no longer valid "
                                        "(revoked or expired)")
            elif draining.done():
                with contextlib.suppress(Exception):
                    await self.ws.close(code=1001, reason="the service is shutting down")
        finally:
            if key_id is not None and (open_ := self.state.sockets.get(key_id)) is not None:
                open_.discard(self.revoked)
                if not open_:
                    del self.state.sockets[key_id]
            for t in (sender, reader, draining, revoked):
                t.cancel()
            for sub, pump in self.subs.values():
                pump.cancel()
                await sub.close()
            await asyncio.gather(sender, reader, draining, revoked, return_exceptions=True)

    async def _still_valid(self) -> bool:
        """Whether the key is still valid (a revocation made elsewhere, the CLI's, is seen
        as HTTP sees it: within ``auth_cache_s``); when not, the socket is closed (1008)."""
        try:
            await authenticate(self.state, self.raw, self.client)
        except ApiError as exc:
            if exc.status != 401:  # too many failures from its address: not the key's fault
                return True
            self.revoked.set()
            return False
        return True

    async def _send_loop(self) -> None:
        while (msg := await self.out.get()) is not None:
            await self.ws.send_text(orjson.dumps(msg, default=str).decode())

    def _error(self, code: str, message: str) -> None:
        self._put({"type": "error", "error_code": code, "error_message": message})

    def _put(self, msg: dict[str, Any]) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            # Control messages only: event messages are bounded by their subscriptions
            # and wait their turn below.
            self.out.put_nowait(msg)

    async def _read_loop(self) -> None:
        while True:
            try:
                text = await self.ws.receive_text()
            except (WebSocketDisconnect, RuntimeError):
                return
            if len(text) > _MAX_MESSAGE_BYTES:
                self._error("message_too_large", f"messages are at most {_MAX_MESSAGE_BYTES} "
                            "bytes")
                continue
            try:
                msg = orjson.loads(text)
            except orjson.JSONDecodeError:
                self._error("invalid_json", "a message is one JSON object")
                continue
            if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                self._error("invalid_message", "a message is a JSON object with a type")
                continue
            await self._handle(msg)

    async def _handle(self, msg: dict[str, Any]) -> None:
        if not await self._still_valid():
            return
        kind = msg["type"]
        if kind in ("ping", "heartbeat"):
            self._put({"type": "pong" if kind == "ping" else "heartbeat_response",
                       "id": msg.get("id"), "status": "ok"})
            return
        task_id = msg.get("task_id") or msg.get("execution_id")
        if kind not in ("subscribe", "unsubscribe"):
            self._error("unknown_message_type", f"unknown message type {kind!r}")
            return
        if not isinstance(task_id, str) or not task_id:
            self._error("invalid_message", f"{kind} needs a task_id")
            return
        if kind == "unsubscribe":
            if (entry := self.subs.pop(task_id, None)) is not None:
                entry[1].cancel()
                await entry[0].close()
            self._put({"type": "unsubscribed", "task_id": task_id})
            return
        if task_id in self.subs:
            self._put({"type": "subscribed", "task_id": task_id})
            return
        if len(self.subs) >= _MAX_SUBSCRIPTIONS:
            self._error("too_many_subscriptions", f"at most {_MAX_SUBSCRIPTIONS} per "
                        "connection")
            return
        try:
            await task_info(self.state, self.principal, task_id)
        except (ApiError, SkillExecError):
            self._error("task_not_found", f"no task with id {task_id!r}")
            return
        since = msg.get("since")
        sub = await follow(self.state, self.principal, task_id,
                           since if isinstance(since, str) else None)
        self._put({"type": "subscribed", "task_id": task_id})
        pump = asyncio.ensure_future(self._forward(task_id, sub,
                                                   result=msg.get("result") is not False))
        self.subs[task_id] = (sub, pump)

    async def _forward(self, task_id: str, sub: Subscription, *, result: bool) -> None:
        async for key, event in sub:
            if not await self._still_valid():
                return
            body = event_payload(event, key)
            body["execution_id"] = task_id
            if event.final and not result:  # its terminal status is the event's own
                body.update(type="complete", success=body["status"] == "succeeded",
                            result=None)
            elif event.final:
                info = await self.state.engine.status(task_id, principal=self.principal)
                body.update(type="complete", success=info.status.value == "succeeded",
                            result=info.result.to_dict() if info.result else None)
            else:
                body["type"] = event.kind
            await self.out.put(body)  # waits when the client is slow: the sub drops
        self.subs.pop(task_id, None)
