"""Open event streams were not bounded: one runner key opened 2,000 SSE streams (+76 MB,
+2,000 file descriptors), enough in a few minutes to take every descriptor the process
has. A key now holds at most ``service.max_streams_per_key`` streams and WebSockets, the
service ``service.max_streams``: past either, 429 (a WebSocket: closed with 1013), and a
stream that ends gives its place back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx
import websockets

from tests._http import Server, running


def _open(srv: Server) -> int:
    with srv.client() as c:
        count: int = c.get("/health").json()["engine"]["streams_open"]
        return count


def _until(srv: Server, count: int) -> None:
    deadline = time.monotonic() + 15
    while _open(srv) != count:
        assert time.monotonic() < deadline, f"{_open(srv)} streams open, not {count}"
        time.sleep(0.05)


def test_a_key_and_the_service_hold_a_bounded_number_of_streams(tmp_path: Path) -> None:
    service = {"max_streams_per_key": 2, "max_streams": 3, "shutdown_grace_s": 1}
    with running(tmp_path, service=service) as srv, \
            contextlib.ExitStack() as held:
        a, b = srv.key("runner", name="a"), srv.key("runner", name="b")
        ca, cb = (held.enter_context(srv.client(k)) for k in (a, b))

        def events(c: httpx.Client) -> str:  # a task of its own to follow
            task = c.post("/api/skills/slow/execute", json={"parameters": {"seconds": 60},
                                                            "wait": False}).json()["data"]
            return f"/api/executions/{task['task_id']}/events"

        followed = {ca: events(ca), cb: events(cb)}

        def stream(c: httpx.Client) -> httpx.Response:
            return held.enter_context(c.stream("GET", followed[c]))

        first = stream(ca)
        assert first.status_code == 200
        assert stream(ca).status_code == 200
        refused = ca.get(followed[ca])
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "TOO_MANY_STREAMS"
        assert refused.json()["error"]["message"] == (
            "this key has 2 event streams open (service.max_streams_per_key): close one, or "
            "follow several tasks over one WebSocket")
        assert refused.headers["retry-after"] == "1"

        async def ws_close_code(key: str) -> int | None:
            url = srv.base_url.replace("http", "ws") + f"/api/skills/ws?api_key={key}"
            async with websockets.connect(url) as ws:
                with contextlib.suppress(websockets.ConnectionClosed):
                    await ws.recv()
                return ws.close_code

        assert asyncio.run(ws_close_code(a)) == 1013
        _until(srv, 2)  # the refused ones hold nothing
        assert stream(cb).status_code == 200  # b has its own places: the service's third
        refused = cb.get(followed[cb])
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["message"] == (
            "the service has 3 event streams open (service.max_streams): try again once some "
            "have ended")
        first.close()  # its client leaves: its place is given back
        _until(srv, 2)
        assert stream(ca).status_code == 200
        _until(srv, 3)
