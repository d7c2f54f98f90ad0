"""A bundled script's printed lines reach whoever follows its task, as its progress.

Over MCP a long script sent only heartbeats ("running (12 s)"): the model and its user saw
nothing of "Rendering page 3 of 40" or a tqdm bar until the end. The lines it prints are
now progress reports (throttled, the fraction read off the line where it states one) on
the engine's events, hence on MCP, SSE and the WebSocket.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import Client

from skillexec import SkillExecutionEngine
from skillexec.mcp.server import McpServer
from skillexec.runtime.runners._output_tap import OutputTap, fraction_in

_STEPS = (
    "import sys, time\n"
    "for i in range(1, 4):\n"
    "    print(f'page {i} of 3', flush=True)\n"
    "    time.sleep(0.4)\n"
    "sys.stderr.write('\\rsaving  50%|#####     |\\r'); sys.stderr.flush(); time.sleep(0.4)\n"
    "print('done')\n")


def _skill(root: Path) -> Path:
    folder = root / "skills" / "render"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        "---\nname: render\ndescription: Renders pages. Use for PDFs.\n---\nRun it.\n")
    (folder / "scripts" / "steps.py").write_text(_STEPS)
    return root / "skills"


@pytest.mark.parametrize(("line", "fraction"), [
    ("page 3 of 40", 3 / 40), ("45%|####5     | 45/100 [00:01<00:01]", 0.45),
    ("[12/48] compiling", 0.25), ("100.0 %", 1.0), ("written to out/2024/10/a.csv", None),
    ("version 3.12.1", None), ("date 12/05/2026", None), ("7/3 is not a fraction", None),
    ("250% faster", None), ("nothing here", None), ("0/0 files", None)])
def test_the_fraction_a_line_states(line: str, fraction: float | None) -> None:
    assert fraction_in(line) == fraction


@given(st.text(max_size=200))
def test_any_line_gives_a_fraction_in_range_or_none(line: str) -> None:
    f = fraction_in(line)
    assert f is None or 0.0 <= f <= 1.0


def test_a_burst_is_throttled_and_its_last_line_still_reported() -> None:
    async def go() -> list[tuple[float, str]]:
        seen: list[tuple[float, str]] = []
        tap = OutputTap(lambda f, m: seen.append((f, m)), every_s=0.2)
        for i in range(1, 501):  # a line per row, split mid-line across chunks
            tap.feed(1, f"row {i}/500 ".encode())
            tap.feed(1, b"ok\n")
        tap.feed(2, b"\r\n\r\n")  # blank lines are no news
        await asyncio.sleep(0.35)
        tap.feed(1, b"unfinished line")  # not ended: not reported
        await asyncio.sleep(0.35)
        tap.close()
        return seen

    seen = asyncio.run(go())
    assert seen == [(1 / 500, "row 1/500 ok"), (1.0, "row 500/500 ok")]


def test_only_whole_lines_of_at_most_4_kib_are_reported() -> None:
    """A line cut to its end, or a bar's half-drawn state, may hold part of a secret the
    output filter (which masks whole secrets) would not know: never reported."""
    async def go() -> list[tuple[float, str]]:
        seen: list[tuple[float, str]] = []
        tap = OutputTap(lambda f, m: seen.append((f, m)), every_s=0.0)
        tap.feed(1, b"x" * 5000 + b"sk-SECRET")  # long, not ended
        tap.feed(1, b"TAIL\nshort\n")
        tap.feed(2, b"\rtoken=sk-SEC")  # half drawn
        tap.feed(2, b"RET")
        tap.feed(1, b"y" * 4097 + b"\n")
        tap.close()
        return seen

    assert asyncio.run(go()) == [(0.0, "short")]


def test_nothing_is_reported_after_close() -> None:
    async def go() -> list[tuple[float, str]]:
        seen: list[tuple[float, str]] = []
        tap = OutputTap(lambda f, m: seen.append((f, m)), every_s=0.2)
        tap.feed(1, b"first\n")
        tap.feed(1, b"second\n")  # due in 0.2 s
        tap.close()
        await asyncio.sleep(0.3)
        return seen

    assert asyncio.run(go()) == [(0.0, "first")]


def test_a_followed_script_reports_its_lines_as_progress(tmp_path: Path) -> None:
    async def go() -> tuple[list[tuple[float | None, str | None]], dict[str, object]]:
        async with SkillExecutionEngine(skills_dir=_skill(tmp_path),
                                        data_dir=tmp_path / "data") as engine:
            task_id = await engine.submit_script("render", "scripts/steps.py")
            seen = [(e.fraction, e.message) async for e in engine.events(task_id)
                    if e.kind == "progress"]
            result = await engine.wait(task_id)
            return seen, dict(result.output or {})

    seen, output = asyncio.run(go())
    messages = [m for _, m in seen]
    assert messages[:3] == ["page 1 of 3", "page 2 of 3", "page 3 of 3"]
    assert (0.5, "saving  50%|#####     |") in seen
    assert [f for f, _ in seen][:3] == [1 / 3, 2 / 3, 1.0]
    assert output["stdout"] == "page 1 of 3\npage 2 of 3\npage 3 of 3\ndone\n"  # all of it


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_mcp_client_sees_the_lines(tmp_path: Path, anyio_backend: str) -> None:
    seen: list[tuple[float, str | None]] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        seen.append((p, message))

    async with SkillExecutionEngine(skills_dir=_skill(tmp_path),
                                    data_dir=tmp_path / "data") as engine, \
            Client(McpServer(engine).server, mode="legacy") as client:
        res = await client.call_tool("run_skill_script", {
            "skill": "render", "script": "scripts/steps.py"}, progress_callback=on_progress)
    assert not res.is_error
    messages = [m for _, m in seen]
    assert [m for m in messages if m and m.startswith("page")] == [
        "page 1 of 3", "page 2 of 3", "page 3 of 3"]
    assert "saving  50%|#####     |" in messages  # a lower fraction still gets through
    values = [p for p, _ in seen]
    assert values == sorted(set(values)) and values[-1] == 1.0
