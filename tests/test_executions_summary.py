"""The task list without its results: the dashboard asked every 3 s for the 30 newest
tasks with their whole results (126 MB for 8 tasks of 15 MB outputs, half a server CPU for
one idle tab) to show their status and wall time. ``GET /api/executions?fields=summary``
leaves the results out (wall time, the error's gist and the artifacts' count kept), the
default answer is unchanged, and a WebSocket subscription with ``result: false`` gets its
``complete`` message without the result."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests._http import running

pytestmark = pytest.mark.timeout(120)
BIG = 400_000  # characters of output: a summary of it must not carry it


def _ws(base: str) -> str:
    return base.replace("http://", "ws://") + "/api/skills/ws"


def test_the_summary_list_leaves_results_out_and_the_default_keeps_them(
        tmp_path: Path) -> None:
    with running(tmp_path) as srv:
        runner, viewer = srv.key("runner"), srv.key("viewer")
        with srv.client(runner) as c:
            big = c.post("/api/skills/echo/execute",
                         json={"parameters": {"text": "x", "times": BIG}}).json()["data"]
            boom = c.post("/api/skills/boom/execute", json={}).json()["data"]
            rep = c.post("/api/skills/report/execute", json={}).json()["data"]
            full = c.get("/api/executions", params={"limit": 30})
            short = c.get("/api/executions", params={"limit": 30, "fields": "summary"})
            bad = c.get("/api/executions", params={"fields": "everything"})
        assert full.status_code == 200 and short.status_code == 200
        # The default answer is what it was: each task with its result.
        by_id = {t["task_id"]: t for t in full.json()["data"]["items"]}
        assert by_id[big["task_id"]]["result"]["output"]["text"] == "x" * BIG
        assert len(full.content) > BIG
        # The summary: small, no result, what a table shows.
        assert len(short.content) < 4000, len(short.content)
        items = {t["task_id"]: t for t in short.json()["data"]["items"]}
        assert set(items) == set(by_id)
        for t in items.values():
            assert "result" not in t
            assert {"task_id", "skill_id", "status", "attempts", "created_at",
                    "principal", "wall_ms", "error", "artifacts"} <= set(t)
        b = items[big["task_id"]]
        assert b["status"] == "succeeded" and b["error"] is None
        assert b["wall_ms"] == by_id[big["task_id"]]["result"]["metrics"]["wall_ms"]
        f = items[boom["task_id"]]
        assert f["status"] == "failed" and "it broke on purpose" in f["error"]["message"]
        assert f["error"]["code"] == by_id[boom["task_id"]]["result"]["error"]["code"]
        assert items[rep["task_id"]]["artifacts"] == 1
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "fields"
        # A viewer's summary: every task's state, nothing of what it computed.
        with srv.client(viewer) as c:
            seen = c.get("/api/executions", params={"fields": "summary"}).json()["data"]
        assert {t["task_id"] for t in seen["items"]} == set(items)
        for t in seen["items"]:
            assert t["wall_ms"] is None and t["error"] is None and t["artifacts"] == 0
        # Filters and pages work as for the default answer.
        with srv.client(runner) as c:
            one = c.get("/api/executions", params={"fields": "summary", "limit": 1,
                                                   "status": "succeeded"}).json()["data"]
            two = c.get("/api/executions", params={"fields": "summary", "limit": 1,
                                                   "status": "succeeded",
                                                   "cursor": one["next_cursor"]}).json()["data"]
        assert [t["task_id"] for t in one["items"] + two["items"]] == \
            [rep["task_id"], big["task_id"]]


def test_a_websocket_subscription_can_leave_the_result_out(tmp_path: Path) -> None:
    with running(tmp_path) as srv:
        runner = srv.key("runner")

        async def complete(result: bool | None) -> dict[str, Any]:
            with srv.client(runner) as c:
                task = c.post("/api/skills/echo/execute", json={
                    "parameters": {"text": "y", "times": BIG}, "wait": False}).json()["data"]
            async with websockets.connect(_ws(srv.base_url), max_size=None,
                                          additional_headers={"X-API-Key": runner}) as ws:
                msg: dict[str, Any] = {"type": "subscribe", "task_id": task["task_id"]}
                if result is not None:
                    msg["result"] = result
                await ws.send(json.dumps(msg))
                async with asyncio.timeout(30):
                    while True:
                        got = json.loads(await ws.recv())
                        if got["type"] == "complete":
                            return got

        plain = asyncio.run(complete(None))
        assert plain["result"]["output"]["text"] == "y" * BIG and plain["success"] is True
        bare = asyncio.run(complete(False))
        assert bare["result"] is None
        assert bare["status"] == "succeeded" and bare["success"] is True
