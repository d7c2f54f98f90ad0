"""The Streamable HTTP endpoint on a real local port (uvicorn), both eras, behind API keys
whose grants decide the tools a key sees and runs."""

from __future__ import annotations

import base64
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx2
import pytest
import uvicorn
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from skillexec import SkillExecutionEngine
from skillexec.mcp.http import http_app, mcp_route
from skillexec.mcp.server import Caller, McpServer
from skillexec.task import TaskStatus
from tests._mcp import write_skills

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

KEYS = {"k-all": Caller(principal="alice"),
        "k-echo": Caller(principal="bob", allows=lambda skill_id: skill_id == "text.echo"),
        "k-carol": Caller(principal="carol")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def authenticate(raw: str | None) -> Caller | None:
    return KEYS.get(raw or "")


def mounted(mcp: McpServer) -> Starlette:
    """The endpoint as a route of another app, as the HTTP service mounts it."""
    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with mcp.server.session_manager.run():
            yield

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/health", health),
                             mcp_route(mcp, authenticate=authenticate)], lifespan=lifespan)


@pytest.fixture(params=["alone", "mounted"])
async def url(tmp_path: Path, request: pytest.FixtureRequest,
              ) -> AsyncIterator[tuple[str, SkillExecutionEngine]]:
    skills = write_skills(tmp_path / "skills")
    async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "data") as engine:
        port = free_port()
        mcp = McpServer(engine)
        app = (http_app(mcp, authenticate=authenticate) if request.param == "alone"
               else mounted(mcp))
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="on"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve)
            with anyio.fail_after(10):
                while not server.started:
                    await anyio.sleep(0.02)
            yield f"http://127.0.0.1:{port}/mcp", engine
            server.should_exit = True


def client(url: str, key: str, mode: str) -> Client:
    return Client(streamable_http_client(  # type: ignore[arg-type]
        url, http_client=create_mcp_http_client(headers={"X-API-Key": key})), mode=mode)


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_http_call_progress_artifacts_and_grants(
        url: tuple[str, SkillExecutionEngine], mode: str) -> None:
    endpoint, engine = url
    seen: list[float] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        seen.append(p)

    async with client(endpoint, "k-all", mode) as c:
        res = await c.call_tool("text_echo", {"text": "x", "repeat": 3})
        assert res.structured_content == {"echo": "xxx"}
        slow = await c.call_tool("slow", {"steps": 3, "delay": 0.3},
                                 progress_callback=on_progress)
        assert not slow.is_error
        art = await c.call_tool("art", {})
        link = next(b for b in art.content if b.type == "resource_link")
        read = await c.read_resource(str(link.uri))
        assert read.contents
    assert seen and seen == sorted(set(seen))
    tasks = await engine.tasks(skill_id="text.echo")
    import sqlite3  # the key's principal went along with the task
    db = sqlite3.connect(engine.config.data_dir / "journal.db")
    rows = db.execute("SELECT principal FROM tasks WHERE task_id=?", (tasks[0].task_id,))
    assert rows.fetchall() == [("alice",)]
    db.close()
    async with client(endpoint, "k-echo", mode) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert "text_echo" in names and "slow" not in names
        with pytest.raises(MCPError):
            await c.call_tool("slow", {})


async def test_http_cancellation_ends_the_task_cancelled(
        url: tuple[str, SkillExecutionEngine]) -> None:
    endpoint, engine = url
    async with client(endpoint, "k-all", "legacy") as c:
        with anyio.move_on_after(2):
            await c.call_tool("slow", {"steps": 400, "delay": 0.05})
    with anyio.fail_after(10):
        while True:
            tasks = await engine.tasks(skill_id="slow")
            if tasks and (await engine.status(tasks[0].task_id)).status.terminal:
                break
            await anyio.sleep(0.05)
    assert (await engine.status(tasks[0].task_id)).status is TaskStatus.CANCELLED


async def test_no_key_or_a_bad_key_is_401(url: tuple[str, SkillExecutionEngine]) -> None:
    endpoint, _ = url
    async with httpx2.AsyncClient() as http:
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
            r = await http.post(endpoint, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                headers=headers)
            assert r.status_code == 401
            assert "API key" in r.json()["error"]["message"]


def test_the_http_service_serves_mcp_with_its_own_keys(tmp_path: Path) -> None:
    """`skillexec serve`'s app has /mcp: a key's grants decide the tools, a bad key is 401,
    and a call runs as the key's principal."""
    from tests._http import running

    with running(tmp_path) as srv:
        granted = srv.key("runner", name="mcp-runner", skills=["echo"])
        endpoint = f"{srv.base_url}/mcp"
        with srv.client(srv.key("admin", name="boss")) as http_client:
            done = http_client.post("/api/skills/report/execute",
                                    json={"parameters": {"title": "private"}}).json()["data"]
        others = f"skillexec://artifacts/{done['artifacts'][0]['id']}"

        async def check() -> None:
            async with client(endpoint, granted, "legacy") as c:
                names = {t.name for t in (await c.list_tools()).tools}
                assert "echo" in names and "slow" not in names
                res = await c.call_tool("echo", {"text": "ab", "times": 2})
                assert res.structured_content == {"text": "abab"}
                with pytest.raises(MCPError):  # another principal's artifact: not found
                    await c.read_resource(others)
            async with httpx2.AsyncClient() as http:
                r = await http.post(endpoint, headers={"X-API-Key": "sk_nope_nope"}, json={})
                assert r.status_code == 401

        anyio.run(check)
        tasks = srv.call(srv.engine.tasks(skill_id="echo"))
        assert tasks and tasks[0].principal == "mcp-runner"


async def test_a_session_is_the_keys_principals(url: tuple[str, SkillExecutionEngine]) -> None:
    """session_create makes the session the caller's: another key cannot run a script in
    it nor close it (as for an unknown id), its owner can."""
    endpoint, engine = url
    async with client(endpoint, "k-all", "2026-07-28") as alice:
        made = await alice.call_tool("session_create", {})
        sid = made.structured_content["session"]  # type: ignore[index]
    assert [(s.id, s.principal) for s in engine.sessions.list()] == [(sid, "alice")]
    step = {"skill": "wc", "script": "scripts/count.py", "args": ["in.txt"],
            "files": {"in.txt": base64.b64encode(b"one two").decode()}}
    async with client(endpoint, "k-carol", "2026-07-28") as carol:
        theirs = await carol.call_tool("run_skill_script", {**step, "session": sid})
        unknown = await carol.call_tool("run_skill_script", {**step, "session": "s_" + "0" * 24})
        assert theirs.is_error and unknown.is_error
        closed = await carol.call_tool("session_close", {"session": sid})
        assert closed.structured_content == {"closed": False}  # type: ignore[comparison-overlap]
    assert engine.sessions.files(sid) == []
    async with client(endpoint, "k-all", "2026-07-28") as alice:
        mine = await alice.call_tool("run_skill_script", {**step, "session": sid})
        assert not mine.is_error, mine.content
        closed = await alice.call_tool("session_close", {"session": sid})
        assert closed.structured_content == {"closed": True}  # type: ignore[comparison-overlap]


def test_a_keys_role_and_grants_bound_its_sessions_prompts_and_files(tmp_path: Path) -> None:
    """Over /mcp a viewer or auditor key opened sessions (POST /api/sessions refuses both),
    and any key listed and read every skill's prompts and files, a skill it may not run
    included (the prompt then led the model to a tool that said "no skill here")."""
    from tests._http import running

    skills = tmp_path / "skills"
    for name in ("guide", "other"):
        (skills / name / "references").mkdir(parents=True)
        (skills / name / "SKILL.md").write_text(
            f"---\nname: {name}\ndescription: D.\n---\nSecret steps of {name}.\n")
        (skills / name / "references" / "notes.md").write_text(f"notes of {name}\n")
    with running(tmp_path, skills_dir=skills) as srv:
        endpoint = f"{srv.base_url}/mcp"
        runner = srv.key("runner", name="r", skills=["guide"])
        others = [srv.key(role, name=role) for role in ("viewer", "auditor")]

        async def check() -> None:
            async with client(endpoint, runner, "legacy") as c:
                prompts = (await c.list_prompts()).prompts
                assert [p.name for p in prompts] == ["guide"]
                uris = {str(r.uri) for r in (await c.list_resources()).resources}
                assert uris == {"skillexec://skills/guide/SKILL.md",
                                "skillexec://skills/guide/references/notes.md"}
                for uri in ("skillexec://skills/other/SKILL.md",
                            "skillexec://skills/other/references/notes.md"):
                    with pytest.raises(MCPError):
                        await c.read_resource(uri)
                with pytest.raises(MCPError):
                    await c.get_prompt("other")
                assert "Secret steps of guide" in str(await c.get_prompt("guide"))
                made = await c.call_tool("session_create", {})
                assert not made.is_error, made.content
            for key in others:
                async with client(endpoint, key, "legacy") as c:
                    # Not offered what it may not use (each said "may not run skills").
                    offered = {t.name for t in (await c.list_tools()).tools}
                    assert not offered & {"run_skill_script", "session_create",
                                          "session_close", "skill_start", "skill_cancel"}
                    made = await c.call_tool("session_create", {})
                    assert made.is_error and "may not" in str(made.content), made.content
                    assert (await c.list_prompts()).prompts == []
                    assert (await c.list_resources()).resources == []
                    with pytest.raises(MCPError):
                        await c.read_resource("skillexec://skills/guide/SKILL.md")

        anyio.run(check)
        assert [s.principal for s in srv.engine.sessions.list()] == ["r"]
