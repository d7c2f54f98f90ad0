"""``skillexec mcp`` as a real subprocess over stdio, driven by the SDK's client; and
``--print-config``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from skillexec.task import TaskStatus
from tests._mcp import write_skills

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


def params(tmp_path: Path) -> StdioServerParameters:
    skills = write_skills(tmp_path / "skills")
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "skillexec", "mcp", "--skills-dir", str(skills),
              "--data-dir", str(tmp_path / "data"), "--exclude", "net.*"],
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)}, cwd=str(tmp_path))


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_stdio_list_call_progress_cancel(tmp_path: Path, mode: str) -> None:
    progress: list[float] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append(p)

    with open(tmp_path / "stderr.log", "w") as errlog:
        async with Client(stdio_client(params(tmp_path), errlog=errlog),  # type: ignore[arg-type]
                          mode=mode) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "text_echo" in names and "net_fetch" not in names  # --exclude
            res = await client.call_tool("text_echo", {"text": "hi"})
            assert res.structured_content == {"echo": "hi"}
            bad = await client.call_tool("text_echo", {"text": 1})
            assert bad.is_error
            slow = await client.call_tool("slow", {"steps": 3, "delay": 0.3},
                                          progress_callback=on_progress)
            assert slow.structured_content == {"steps": 3}
            assert progress and progress == sorted(set(progress)) and progress[-1] == 1.0
            with anyio.move_on_after(2):
                await client.call_tool("slow", {"steps": 400, "delay": 0.05})
            # the server is still serving after the cancellation
            again = await client.call_tool("num_square", {"x": 4})
            assert again.structured_content == {"result": 16}
    # the server exited on stdin's EOF; the cancelled call is journalled cancelled
    out = subprocess.run(
        [sys.executable, "-m", "skillexec", "tasks", "list", "--skill", "slow", "--json",
         "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, check=True)
    statuses = sorted(t["status"] for t in json.loads(out.stdout))
    assert statuses == sorted([TaskStatus.SUCCEEDED.value, TaskStatus.CANCELLED.value])


def test_print_config_is_pasteable(tmp_path: Path) -> None:
    skills = write_skills(tmp_path / "skills")
    out = subprocess.run(
        [sys.executable, "-m", "skillexec", "mcp", "--print-config", "--skills-dir",
         "skills", "--data-dir", "data", "--include", "text.*"],
        capture_output=True, text=True, cwd=tmp_path, check=True)
    server = json.loads(out.stdout)["mcpServers"]["skillexec"]
    assert Path(server["command"]).is_absolute()
    args = server["args"]
    assert args[:3] == ["-m", "skillexec", "mcp"]
    assert args[args.index("--skills-dir") + 1] == str(skills.resolve())
    assert args[args.index("--data-dir") + 1] == str((tmp_path / "data").resolve())
    assert args[args.index("--include") + 1] == "text.*"


def test_bad_skills_dir_is_one_sentence(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "skillexec", "mcp", "--skills-dir",
                          str(tmp_path / "nope")], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.startswith("skillexec: --skills-dir") and "Traceback" not in out.stderr
