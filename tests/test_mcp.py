"""The MCP server driven by the SDK's own client, in memory (2026-07-28 and legacy)."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from mcp import Client, MCPError

from skillexec import SkillExecutionEngine
from skillexec.mcp.server import McpServer
from skillexec.task import TaskStatus
from tests._mcp import PNG_1PX, write_skills

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture(params=["2026-07-28", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_tools_are_the_skills_with_safe_names_and_self_contained_schemas(
        served: McpServer, mode: str) -> None:
    async with Client(served.server, mode=mode) as client:  # type: ignore[arg-type]
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"text_echo", "num_square", "fail_boom", "slow", "art"} <= set(tools)
    assert "guide" not in tools and "wc" not in tools  # no entry: no tool of their own
    assert {"run_skill_script", "session_create", "skill_start", "skill_result"} <= set(tools)
    echo = tools["text_echo"]
    assert echo.meta == {"skillexec/skill_id": "text.echo", "skillexec/version": "1.0.0"}
    assert "$ref" not in str(echo.input_schema) and "$defs" not in echo.input_schema
    assert echo.input_schema["properties"]["repeat"] == {"type": "integer", "minimum": 1}
    assert echo.input_schema["properties"]["tags"]["items"] == {}
    assert echo.annotations is not None and echo.annotations.read_only_hint is True
    assert echo.annotations.destructive_hint is False
    assert echo.annotations.idempotent_hint is True
    assert echo.annotations.open_world_hint is False
    assert tools["net_fetch"].annotations.open_world_hint is True  # type: ignore[union-attr]
    assert tools["num_square"].output_schema == {
        "type": "object", "properties": {"result": {"type": "number"}}, "required": ["result"]}
    names = [t for t in tools if t not in {"run_skill_script"}]
    assert all(len(n) <= 64 and n.replace("_", "a").replace("-", "a").isalnum() for n in names)


async def test_call_returns_structured_content_and_text(served: McpServer, mode: str) -> None:
    async with Client(served.server, mode=mode) as client:  # type: ignore[arg-type]
        res = await client.call_tool("text_echo", {"text": "ab", "repeat": 2})
        assert not res.is_error
        assert res.structured_content == {"echo": "abab"}
        assert '"echo": "abab"' in res.content[0].text  # type: ignore[union-attr]
        sq = await client.call_tool("num_square", {"x": 3})
        assert sq.structured_content == {"result": 9}


async def test_invalid_arguments_are_an_error_result_naming_the_violation(
        served: McpServer, mode: str) -> None:
    async with Client(served.server, mode=mode) as client:  # type: ignore[arg-type]
        res = await client.call_tool("text_echo", {"text": "a", "repeat": 0})
    assert res.is_error
    text = res.content[0].text  # type: ignore[union-attr]
    assert text.startswith("text.echo rejected (parameter_error/")
    assert "repeat" in text


async def test_failure_and_unknown_tool(served: McpServer, mode: str) -> None:
    async with Client(served.server, mode=mode) as client:  # type: ignore[arg-type]
        res = await client.call_tool("fail_boom", {})
        assert res.is_error
        assert "the input was bad" in res.content[0].text  # type: ignore[union-attr]
        with pytest.raises(MCPError) as err:
            await client.call_tool("no_such_tool", {})
        assert err.value.error.code == -32602


async def test_progress_is_forwarded_strictly_increasing(served: McpServer, mode: str) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        seen.append((p, total, message))

    async with Client(served.server, mode=mode) as client:  # type: ignore[arg-type]
        res = await client.call_tool("slow", {"steps": 4, "delay": 0.3},
                                     progress_callback=on_progress)
    assert not res.is_error, res.content
    values = [p for p, _, _ in seen]
    assert len(values) >= 3 and values == sorted(set(values)) and values[-1] == 1.0
    assert {t for _, t, _ in seen} == {1.0}
    assert any(m and m.endswith("step 1") for _, _, m in seen)


def descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)
            if p.status() != psutil.STATUS_ZOMBIE}


async def test_cancelling_the_request_cancels_the_task_and_its_process(
        served: McpServer, mode: str) -> None:
    started = anyio.Event()

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        started.set()

    async with Client(served.server, mode=mode) as client:  # type: ignore[arg-type]
        await client.call_tool("slow", {"steps": 1, "delay": 0})  # its warm parent is up
        before = await _settled()
        with anyio.move_on_after(20) as scope:
            async with anyio.create_task_group() as tg:
                async def call() -> None:
                    await client.call_tool("slow", {"steps": 400, "delay": 0.05},
                                           progress_callback=on_progress)
                tg.start_soon(call)
                await started.wait()
                # A new process, or the spare that was waiting (its cwd is its call's now).
                assert {p for p in descendants() if before.get(p, "") != _cwd(p)}, \
                    "the attempt's process is not there"
                tg.cancel_scope.cancel()  # the client sends notifications/cancelled
        assert not scope.cancelled_caught
    tasks = [t for t in await served.engine.tasks(skill_id="slow")]
    with anyio.fail_after(10):
        while not (info := await served.engine.status(tasks[0].task_id)).status.terminal:
            await anyio.sleep(0.05)
    assert info.status is TaskStatus.CANCELLED
    with anyio.fail_after(10):
        # Nothing new is left, nor the spare that took the call (its cwd was its call's).
        while _new_but_spares(before) or [p for p in descendants()
                                          if p in before and before[p] != _cwd(p)]:
            await anyio.sleep(0.05)


def _cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


async def _settled() -> dict[int, str | None]:
    """Descendants (and their cwds) once they stay the same for a while: a zygote's spare
    is made once its call is done (runners/_spare_engine.py)."""
    seen: dict[int, str | None] = {}
    while True:
        now = {p: _cwd(p) for p in descendants()}
        if now == seen:
            return now
        seen = now
        await anyio.sleep(0.3)


def _new_but_spares(before: dict[int, str | None]) -> set[int]:
    """Descendants not there before, except a zygote's new spare (runners/_spare.py): the
    only live child of a zygote that was there before. The attempt's process lingering
    beside it makes two children, and neither is excused."""
    new = descendants() - set(before)
    for pid in list(new):
        try:
            parent = psutil.Process(pid).parent()
            kids = [k for k in parent.children() if k.status() != psutil.STATUS_ZOMBIE] \
                if parent is not None else []
        except psutil.Error:
            continue
        if parent is not None and parent.pid in before and [k.pid for k in kids] == [pid]:
            new.discard(pid)
    return new


async def test_artifacts_are_links_read_back_and_small_images_inline(
        served: McpServer, mode: str) -> None:
    async with Client(served.server, mode=mode) as client:  # type: ignore[arg-type]
        res = await client.call_tool("art", {})
        links = [c for c in res.content if c.type == "resource_link"]
        images = [c for c in res.content if c.type == "image"]
        assert {str(link.name) for link in links} == {"dot.png", "notes.txt"}
        assert base64.b64decode(images[0].data) == PNG_1PX  # type: ignore[union-attr]
        for link in links:
            assert str(link.uri).startswith("skillexec://artifacts/art_")
            got = (await client.read_resource(str(link.uri))).contents[0]
            data = (got.text.encode() if hasattr(got, "text")  # type: ignore[union-attr]
                    else base64.b64decode(got.blob))  # type: ignore[union-attr]
            assert hashlib.sha256(data).hexdigest() in str(link.description)
        with pytest.raises(MCPError):
            await client.read_resource("skillexec://artifacts/art_nope")


async def test_instructions_resources_and_prompts(served: McpServer, mode: str) -> None:
    async with Client(served.server, mode=mode) as client:  # type: ignore[arg-type]
        uris = {str(r.uri) for r in (await client.list_resources()).resources}
        assert "skillexec://skills/guide/SKILL.md" in uris
        assert "skillexec://skills/guide/reference/tone.md" in uris
        md = (await client.read_resource("skillexec://skills/guide/SKILL.md")).contents[0]
        assert "Say hello politely." in md.text  # type: ignore[union-attr]
        tone = (await client.read_resource("skillexec://skills/guide/reference/tone.md"))
        assert tone.contents[0].text == "Be kind.\n"  # type: ignore[union-attr]
        with pytest.raises(MCPError):
            await client.read_resource("skillexec://skills/guide/../echo/main.py")
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert {"guide", "wc"} <= prompts
        got = await client.get_prompt("wc", {"task": "count my file"})
        text = got.messages[0].content.text  # type: ignore[union-attr]
        assert "run_skill_script" in text and "scripts/count.py" in text
        assert "count my file" in text


async def test_a_script_runs_in_a_session(served: McpServer, mode: str) -> None:
    async with Client(served.server, mode=mode) as client:  # type: ignore[arg-type]
        sid = (await client.call_tool("session_create", {})).structured_content["session"]  # type: ignore[index]
        res = await client.call_tool("run_skill_script", {
            "skill": "wc", "script": "scripts/count.py", "args": ["in.txt"],
            "files": {"in.txt": base64.b64encode(b"one two three").decode()},
            "session": sid})
        assert not res.is_error, res.content
        assert res.structured_content["exit_code"] == 0  # type: ignore[index]
        assert res.structured_content["stdout"].strip() == "3"  # type: ignore[index]
        # the next step finds the file from the first in the session's workspace
        again = await client.call_tool("run_skill_script", {
            "skill": "wc", "script": "scripts/count.py", "args": ["counts.json"],
            "session": sid})
        assert not again.is_error, again.content
        bad = await client.call_tool("run_skill_script", {
            "skill": "wc", "script": "../echo/main.py"})
        assert bad.is_error
        closed = await client.call_tool("session_close", {"session": sid})
        assert closed.structured_content == {"closed": True}


async def test_long_skills_by_handle(served: McpServer, mode: str) -> None:
    async with Client(served.server, mode=mode) as client:  # type: ignore[arg-type]
        start = await client.call_tool("skill_start", {"skill": "slow",
                                                       "arguments": {"steps": 2}})
        call_id = start.structured_content["call_id"]  # type: ignore[index]
        status = await client.call_tool("skill_status", {"call_id": call_id})
        assert status.structured_content["call_id"] == call_id  # type: ignore[index]
        res = await client.call_tool("skill_result", {"call_id": call_id, "wait_s": 30})
        assert res.structured_content == {"steps": 2}
        nope = await client.call_tool("skill_result", {"call_id": "nope"})
        assert nope.is_error


async def test_list_changes_reach_legacy_and_modern_clients(served: McpServer) -> None:
    from mcp.shared.subscriptions import ToolsListChanged

    got: list[Any] = []

    async def handler(message: Any) -> None:
        if getattr(message, "method", None) == "notifications/tools/list_changed":
            got.append(message)

    async with Client(served.server, mode="legacy", message_handler=handler) as legacy:
        assert legacy.server_capabilities.tools.list_changed  # type: ignore[union-attr]
        await legacy.list_tools()
        async with Client(served.server) as modern:
            events: list[Any] = []

            async def listen() -> None:
                async with modern.listen(tools_list_changed=True) as stream:
                    async for event in stream:
                        events.append(event)
                        return

            async with anyio.create_task_group() as tg:
                tg.start_soon(listen)
                await anyio.sleep(0.3)
                served.engine.skills.remove("fail.boom")
                with anyio.fail_after(10):
                    while not events or not got:
                        await anyio.sleep(0.05)
            assert isinstance(events[0], ToolsListChanged)
            names = {t.name for t in (await modern.list_tools(cache_mode="bypass")).tools}
            assert "fail_boom" not in names


async def test_large_catalogs_search_filters_and_capped_text(tmp_path: Path) -> None:
    from skillexec.config_sections import McpConfig

    skills = write_skills(tmp_path / "skills")
    async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "data") as engine:
        small = McpServer(engine, settings=McpConfig(search_threshold=1, max_text_chars=200,
                                                     exclude=("fail.*",)))
        async with Client(small.server) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "search_skills" in names and "text_echo" not in names  # compact list
            found = await client.call_tool("search_skills", {"query": "repeat text"})
            matches = found.structured_content["matches"]  # type: ignore[index]
            assert matches[0]["tool"] == "text_echo"
            assert matches[0]["input_schema"]["required"] == ["text"]
            gone = await client.call_tool("search_skills", {"query": "always fails"})
            assert gone.structured_content == {"matches": []}  # excluded: not there at all
            with pytest.raises(MCPError):
                await client.call_tool("fail_boom", {})
            long = await client.call_tool("text_echo", {"text": "x", "repeat": 500})
            assert long.structured_content == {"echo": "x" * 500}  # whole
            text = long.content[0].text  # type: ignore[union-attr]
            assert text.endswith("the whole value is in structuredContent]")
            assert len(text) < 300


async def test_a_silent_skill_gets_heartbeats(tmp_path: Path) -> None:
    from skillexec.config_sections import McpConfig

    skills = write_skills(tmp_path / "skills")
    seen: list[tuple[float, str | None]] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        seen.append((p, message))

    async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "data") as engine:
        server = McpServer(engine, settings=McpConfig(heartbeat_s=0.3))
        async with Client(server.server, mode="legacy") as client:
            await client.call_tool("slow", {"steps": 1, "delay": 2.0},
                                   progress_callback=on_progress)
    beats = [p for p, m in seen if m and m.startswith("running (")]
    assert len(beats) >= 3
    values = [p for p, _ in seen]
    assert values == sorted(set(values)) and values[-1] == 1.0
