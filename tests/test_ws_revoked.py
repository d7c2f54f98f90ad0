"""A WebSocket ends with its key: a socket opened with a key kept working after the key was
revoked (rotation: new key made, old revoked), still reading the principal's new tasks, the
new key's results included. Now a revocation through the service closes it at once (1008),
and one made elsewhere (the CLI, another node) is found before its next message or event."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests._http import running

pytestmark = pytest.mark.timeout(120)


def _ws(base: str) -> str:
    return base.replace("http://", "ws://") + "/api/skills/ws"


async def _closed(ws: Any, within: float) -> tuple[int | None, list[dict[str, Any]]]:
    """The close code the server sent within ``within`` s, and what came before it."""
    got: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(within):
            while True:
                got.append(json.loads(await ws.recv()))
    except websockets.ConnectionClosed as exc:
        return (exc.rcvd.code if exc.rcvd else None), got
    except TimeoutError:
        return None, got


def test_revoking_a_key_here_closes_its_open_websocket(tmp_path: Path) -> None:
    with running(tmp_path, service={"auth_cache_s": 60}) as srv:
        admin = {"X-API-Key": srv.key("admin")}

        async def go() -> None:
            async with httpx.AsyncClient(base_url=srv.base_url, timeout=30) as c:
                old = (await c.post("/api/keys", headers=admin, json={
                    "name": "rot", "role": "runner"})).json()["data"]
                other = srv.key("runner", name="bystander")
                async with websockets.connect(_ws(srv.base_url), additional_headers={
                        "X-API-Key": old["key"]}) as ws, \
                        websockets.connect(_ws(srv.base_url), additional_headers={
                            "X-API-Key": other}) as bystander:
                    await ws.send(json.dumps({"type": "ping"}))
                    assert json.loads(await ws.recv())["type"] == "pong"
                    new = (await c.post("/api/keys", headers=admin, json={
                        "name": "rot", "role": "runner"})).json()["data"]
                    r = await c.delete(f"/api/keys/{old['key_id']}", headers=admin)
                    assert r.status_code == 200
                    code, got = await _closed(ws, 5)
                    assert code == 1008 and got == []
                    # The new key's results are not for the old socket; another key's
                    # socket is left alone.
                    await c.post("/api/skills/echo/execute", headers={"X-API-Key": new["key"]},
                                 json={"parameters": {"text": "secret"}})
                    await bystander.send(json.dumps({"type": "ping"}))
                    assert json.loads(await bystander.recv())["type"] == "pong"

        asyncio.run(go())


def test_a_revocation_made_elsewhere_ends_the_socket_at_its_next_use(tmp_path: Path) -> None:
    with running(tmp_path, service={"auth_cache_s": 0.5}) as srv:
        key = srv.key("runner", name="rot")
        key_id = key.split("_")[1]

        async def go() -> None:
            # an idle socket: its next message finds the key revoked
            async with websockets.connect(_ws(srv.base_url),
                                          additional_headers={"X-API-Key": key}) as ws:
                srv.call(srv.engine.keys.revoke(key_id))  # as `skillexec keys revoke` does
                await asyncio.sleep(1.0)  # past auth_cache_s
                await ws.send(json.dumps({"type": "subscribe", "task_id": "0" * 24}))
                code, got = await _closed(ws, 5)
                assert code == 1008 and got == [], got

        asyncio.run(go())


def test_a_socket_following_a_task_stops_when_its_key_is_revoked_elsewhere(
        tmp_path: Path) -> None:
    with running(tmp_path, service={"auth_cache_s": 0.3}) as srv:
        key = srv.key("runner", name="rot")
        key_id = key.split("_")[1]
        headers = {"X-API-Key": key}

        async def go() -> None:
            async with httpx.AsyncClient(base_url=srv.base_url, timeout=30) as c:
                started = await c.post("/api/skills/slow/execute", headers=headers, json={
                    "parameters": {"seconds": 4, "steps": 8}, "wait": False})
                task_id = started.json()["data"]["task_id"]
            async with websockets.connect(_ws(srv.base_url), additional_headers=headers) as ws:
                await ws.send(json.dumps({"type": "subscribe", "task_id": task_id}))
                while json.loads(await ws.recv())["type"] != "progress":
                    pass
                srv.call(srv.engine.keys.revoke(key_id))
                code, got = await _closed(ws, 10)
                assert code == 1008, got
                assert "complete" not in {m["type"] for m in got}

        asyncio.run(go())
