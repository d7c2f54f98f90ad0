"""No API key in a URL, nor in the logs: the dashboard opened its WebSocket as
``/api/skills/ws?api_key=<key>``, and ``skillexec serve --log-level info`` printed that URL,
key and all, on stderr. The dashboard now sends the key as a WebSocket subprotocol
(``skillexec.key.<key>`` beside ``skillexec``), which no log shows; ``?api_key=`` still
works for the clients that use it, and the service's logs show it as ``[redacted]``."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests._browser import CHROMIUM_ARGS, chromium, playwright_or_skip
from tests._http import running
from tests._served import make_key, serving

pytestmark = pytest.mark.timeout(180)


def _ws(base: str, query: str = "") -> str:
    return base.replace("http://", "ws://") + "/api/skills/ws" + query


async def _pong(url: str, **kw: Any) -> tuple[str, str | None]:
    async with websockets.connect(url, **kw) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        return str(json.loads(await ws.recv())["type"]), ws.subprotocol


async def _refused(url: str, **kw: Any) -> int:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url, **kw):
            pass
    return int(refused.value.response.status_code)


def test_a_key_in_the_websocket_url_is_not_logged(tmp_path: Path) -> None:
    (tmp_path / "skills").mkdir()
    with serving(tmp_path, "--log-level", "info") as srv:
        key = make_key(srv.data_dir, "runner")["key"]
        secret = key.split("_", 2)[2]
        # the old way still works...
        assert asyncio.run(_pong(_ws(srv.base_url, f"?api_key={key}&x=1")))[0] == "pong"
        # ...and a refused one is refused as before
        wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
        assert asyncio.run(_refused(_ws(srv.base_url, f"?api_key={wrong}"))) == 401
        # the name escaped is the same parameter to the service
        assert asyncio.run(_pong(_ws(srv.base_url, f"?x=2&api%5Fkey={key}")))[0] == "pong"
        time.sleep(1.0)  # stderr read
        said = srv.stderr
        assert "WebSocket /api/skills/ws?api_key=[redacted]&x=1" in said, said
        assert "WebSocket /api/skills/ws?x=2&api%5Fkey=[redacted]" in said, said
        assert secret not in said and wrong.split("_", 2)[2] not in said


def test_the_key_as_a_subprotocol(tmp_path: Path) -> None:
    with running(tmp_path) as srv:
        key = srv.key("viewer")
        url = _ws(srv.base_url)
        # the server answers with the plain protocol, never the one that holds the key
        assert asyncio.run(_pong(url, subprotocols=["skillexec", f"skillexec.key.{key}"])) \
            == ("pong", "skillexec")
        assert asyncio.run(_refused(url, subprotocols=["skillexec", "skillexec.key.sk_x"])) \
            == 401
        assert asyncio.run(_refused(url, subprotocols=["skillexec"])) == 401
    with running(tmp_path / "open", insecure=True) as srv:
        assert asyncio.run(_pong(_ws(srv.base_url), subprotocols=["skillexec"])) \
            == ("pong", "skillexec")


def test_the_dashboard_keeps_its_key_out_of_the_websocket_url(tmp_path: Path) -> None:
    sync_playwright = playwright_or_skip()
    with running(tmp_path) as srv:
        key = srv.key("runner")
        with httpx.Client(base_url=srv.base_url, headers={"X-API-Key": key}) as c:
            # a task still running when the page loads: the page follows it over the socket
            c.post("/api/skills/slow/execute", json={"parameters": {"seconds": 8, "steps": 16},
                                                     "wait": False})
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                urls: list[str] = []
                frames: list[str] = []

                def opened(ws: Any) -> None:
                    urls.append(ws.url)
                    ws.on("framereceived", lambda payload: frames.append(str(payload)))

                page.on("websocket", opened)
                page.goto(srv.base_url + "/")
                page.fill("#key", key)
                page.click("#keyform button")
                deadline = time.monotonic() + 20
                while not any('"progress"' in f for f in frames) \
                        and time.monotonic() < deadline:
                    page.wait_for_timeout(100)
            finally:
                browser.close()
        assert urls and all(u == _ws(srv.base_url) for u in urls), urls
        assert any('"progress"' in f for f in frames), frames  # the socket was let in
