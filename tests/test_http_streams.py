"""Progress over HTTP: server-sent events (ids, Last-Event-ID resume, the end), the
WebSocket, the bounded buffer of a slow subscriber, and SIGTERM with streams open."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from hypothesis import given
from hypothesis import strategies as st

from skillexec.events import TaskEvent
from skillexec.service.streams import Subscription, event_id, key_of, parse_event_id
from skillexec.task import TaskStatus
from tests._http import running, sse_events

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory):
    with running(tmp_path_factory.mktemp("streams"), insecure=True) as server:
        yield server


def start_slow(c: httpx.Client, seconds: float = 0.6, steps: int = 6) -> str:
    r = c.post("/api/skills/slow/execute",
               json={"parameters": {"seconds": seconds, "steps": steps}, "wait": False})
    assert r.status_code == 202, r.text
    return str(r.json()["data"]["task_id"])


def test_sse_sends_every_event_once_with_ids_and_ends_after_the_terminal(srv) -> None:
    with srv.client() as c:
        task_id = start_slow(c)
        r = c.get(f"/api/executions/{task_id}/events")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    kinds = [(e["event"], json.loads(e["data"]).get("status")) for e in events]
    assert kinds[0] == ("status", "running") and kinds[-1] == ("status", "succeeded")
    progress = [json.loads(e["data"]) for e in events if e["event"] == "progress"]
    assert [p["progress"] for p in progress] == [round(100 * i / 6, 2) for i in range(1, 7)]
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) == 8 and ids[-1] == "end"
    keys = [parse_event_id(i) for i in ids]
    assert keys == sorted(keys)  # type: ignore[type-var]


def test_a_reconnect_with_last_event_id_resumes_without_duplicates_or_gaps(srv) -> None:
    with srv.client() as c:
        task_id = start_slow(c, seconds=1.0, steps=10)
        first: list[dict[str, str]] = []
        with c.stream("GET", f"/api/executions/{task_id}/events") as r:
            buf = ""
            for chunk in r.iter_text():
                buf += chunk.replace("\r\n", "\n")
                while "\n\n" in buf:
                    block, buf = buf.split("\n\n", 1)
                    first += sse_events(block + "\n\n")
                if len(first) >= 4:
                    break  # the client goes away mid-task
        last = first[-1]["id"]
        r = c.get(f"/api/executions/{task_id}/events", headers={"Last-Event-ID": last})
        rest = sse_events(r.text)
        whole = sse_events(c.get(f"/api/executions/{task_id}/events").text)  # replayed
        by_query = sse_events(c.get(f"/api/executions/{task_id}/events",
                                    params={"last_event_id": first[1]["id"]}).text)
    assert [e["id"] for e in first] + [e["id"] for e in rest] == [e["id"] for e in whole]
    def same(e: dict[str, str]) -> dict:  # a status is stamped when sent, or as journaled
        data = json.loads(e["data"])
        return {k: v for k, v in data.items() if k != "at" or data["kind"] == "progress"}

    assert [same(e) for e in first + rest] == [same(e) for e in whole]
    assert [e["id"] for e in by_query] == [e["id"] for e in whole[2:]]
    assert rest[-1]["id"] == "end"
    with srv.client() as c:
        r = c.get(f"/api/executions/{task_id}/events", headers={"Last-Event-ID": "end"})
    assert sse_events(r.text) == []


def test_events_of_a_refused_or_unknown_task(srv) -> None:
    with srv.client() as c:
        r = c.get("/api/executions/00ff00ff00ff00ff00ff00ff/events")
        assert r.status_code == 404 and r.json()["error"]["code"] == "TASK_NOT_FOUND"
        r = c.post("/api/skills/boom/execute", json={})
        task_id = r.json()["data"]["task_id"]
        events = sse_events(c.get(f"/api/executions/{task_id}/events").text)
    assert json.loads(events[-1]["data"])["status"] == "failed"


def ws_url(srv, query: str = "") -> str:
    return srv.base_url.replace("http://", "ws://") + "/api/skills/ws" + query


def test_websocket_subscribe_progress_complete(srv) -> None:
    async def go() -> list[dict]:
        with srv.client() as c:
            task_id = start_slow(c, seconds=0.4, steps=4)
        got = []
        async with websockets.connect(ws_url(srv)) as ws:
            await ws.send(json.dumps({"type": "ping", "id": 7}))
            await ws.send(json.dumps({"type": "subscribe", "task_id": task_id}))
            await ws.send(json.dumps({"type": "subscribe", "task_id": "0badbad0"}))
            await ws.send("not json")
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                got.append(msg)
                if msg["type"] == "complete":
                    return got

    got = asyncio.run(go())
    types = [m["type"] for m in got]
    assert types[0] == "pong" and "subscribed" in types
    errors = {m["error_code"] for m in got if m["type"] == "error"}
    assert errors == {"task_not_found", "invalid_json"}
    progress = [m for m in got if m["type"] == "progress"]
    assert [m["progress"] for m in progress] == [25.0, 50.0, 75.0, 100.0]
    done = got[-1]
    assert done["success"] is True and done["result"]["output"] == {"done": True, "steps": 4}
    assert done["execution_id"] == done["task_id"]


def test_websocket_needs_a_key_when_auth_is_on(tmp_path: Path) -> None:
    async def go(url: str) -> int | None:
        try:
            async with websockets.connect(url) as ws:
                await ws.recv()
        except websockets.InvalidStatus as exc:
            return exc.response.status_code
        return None

    with running(tmp_path) as srv:
        key = srv.key("operator")
        # 401, as every route answers a missing or bad key (a bare 403 before)
        assert asyncio.run(go(ws_url(srv))) == 401
        assert asyncio.run(go(ws_url(srv, "?api_key=sk_0_bad"))) == 401

        async def ok() -> str:
            async with websockets.connect(ws_url(srv, f"?api_key={key}")) as ws:
                await ws.send(json.dumps({"type": "ping"}))
                return str(json.loads(await ws.recv())["type"])

        assert asyncio.run(ok()) == "pong"


def ev(kind: str, status: TaskStatus | None, attempt: int, at: float,
       fraction: float | None = None) -> TaskEvent:
    return TaskEvent("t", kind, status, attempt, fraction, "m", at=at)


def test_a_slow_subscriber_holds_a_bounded_buffer_and_still_gets_the_end() -> None:
    async def go() -> tuple[list, int, int]:
        async def source() -> AsyncIterator[TaskEvent]:
            yield ev("status", TaskStatus.RUNNING, 1, 1.0)
            for i in range(10_000):
                yield ev("progress", TaskStatus.RUNNING, 1, 2.0 + i * 1e-3, i / 10_000)
                if i % 100 == 0:
                    await asyncio.sleep(0)
            yield ev("status", TaskStatus.SUCCEEDED, 1, 30.0)

        sub = Subscription(source(), size=16)
        most = 0
        for _ in range(200):  # the client reads nothing while the task runs
            await asyncio.sleep(0)
            most = max(most, len(sub._held))
        got = [e async for _, e in sub]
        return got, most, sub.dropped

    got, most, dropped = asyncio.run(go())
    assert most <= 17 and dropped > 9000
    assert got[-1].status is TaskStatus.SUCCEEDED  # the end survives
    keys = [key_of(e) for e in got]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_duplicate_announcements_go_out_once() -> None:
    async def go() -> list[TaskEvent]:
        async def source() -> AsyncIterator[TaskEvent]:
            yield ev("status", TaskStatus.QUEUED, 0, 1.0)
            yield ev("status", TaskStatus.RUNNING, 1, 2.0)
            yield ev("status", TaskStatus.RUNNING, 1, 2.1)  # at acceptance, then at start
            yield ev("status", TaskStatus.RETRYING, 1, 3.0)
            yield ev("status", TaskStatus.RUNNING, 2, 3.5)
            yield ev("status", TaskStatus.FAILED, 2, 4.0)
            yield ev("status", TaskStatus.FAILED, 2, 4.0)

        return [e async for _, e in Subscription(source(), size=8)]

    got = asyncio.run(go())
    assert [(e.status.value, e.attempt) for e in got] == [  # type: ignore[union-attr]
        ("queued", 0), ("running", 1), ("retrying", 1), ("running", 2), ("failed", 2)]


@given(st.tuples(st.integers(0, 10**6), st.integers(0, 2), st.integers(0, 10**17)))
def test_event_ids_read_back(key: tuple[int, int, int]) -> None:
    assert parse_event_id(event_id(key)) == key


@given(st.text(max_size=40))
def test_any_last_event_id_is_read_or_ignored(text: str) -> None:
    key = parse_event_id(text)
    assert key is None or len(key) == 3


SERVER = textwrap.dedent("""
    import sys
    from skillexec import SkillExecutionEngine
    from skillexec.config import EngineConfig
    from skillexec.service.server import bind, serve
    from tests._http import SKILLS
    engine = SkillExecutionEngine(config=EngineConfig(
        data_dir=sys.argv[1], service={"shutdown_grace_s": 3}))
    for fn in SKILLS:
        engine.register(fn)
    serve(engine, bind("127.0.0.1", 0), insecure_no_auth=True)
""")


def test_sigterm_with_streams_open_drains_and_exits(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path / "data")],
                            cwd=root, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)})
    try:
        line = proc.stderr.readline()  # type: ignore[union-attr]
        assert "serving http://" in line, line
        base = line.split("serving ")[1].split(" ")[0]
        warning = proc.stderr.readline()  # type: ignore[union-attr]
        assert "authentication is DISABLED" in warning

        async def go() -> tuple[list[dict[str, str]], int | None, float]:
            async with httpx.AsyncClient(base_url=base, timeout=30) as c:
                r = await c.post("/api/skills/slow/execute",
                                 json={"parameters": {"seconds": 30}, "wait": False})
                task_id = r.json()["data"]["task_id"]
                ws = await websockets.connect(base.replace("http", "ws") + "/api/skills/ws")
                await ws.send(json.dumps({"type": "subscribe", "task_id": task_id}))
                assert json.loads(await ws.recv())["type"] == "subscribed"
                async with c.stream("GET", f"/api/executions/{task_id}/events") as r:
                    text = ""
                    started = 0.0
                    async for chunk in r.aiter_text():
                        text += chunk
                        if not started and "event: status" in text:
                            started = time.monotonic()
                            proc.send_signal(signal.SIGTERM)
                took = time.monotonic() - started
                code = None
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
                except websockets.ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd else None
                return sse_events(text), code, took

        events, ws_code, took = asyncio.run(go())
        assert events[-1]["event"] == "shutdown"  # told, not cut
        assert ws_code in (1001, 1012)
        assert took < 5
        assert proc.wait(60) == 0  # grace 3 s, then the close: seconds at a load of 40
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
