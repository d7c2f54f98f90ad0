"""``skillexec mcp --print-config`` carries the settings the command ran with: a host starts
the server in a working directory of its own with a bare environment, so the working
directory's ``skillexec.toml`` (the one place to grant ``script_env``, set limits...) and
``--journal-url`` silently stopped applying."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests._mcp import write_skills
from tests.conftest import ROOT

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


def _print_config(cwd: Path, *args: str, **env: str) -> dict[str, Any]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SKILLEXEC_")}
    out = subprocess.run(
        [sys.executable, "-m", "skillexec", "mcp", "--print-config", *args],
        capture_output=True, text=True, cwd=cwd, check=True,
        env={**base, "PYTHONPATH": str(ROOT / "src"), **env})
    return dict(json.loads(out.stdout)["mcpServers"]["skillexec"])


async def test_the_printed_server_keeps_the_toml_and_the_journal_url(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_skills(project / "skills")
    (project / "skillexec.toml").write_text('[mcp]\ntool_prefix = "p_"\n')
    server = _print_config(project, "--journal-url", "sqlite:///journal/j.db")
    args = server["args"]
    assert args[args.index("--journal-url") + 1] == \
        "sqlite:///" + str((project / "journal" / "j.db").resolve())
    assert server["env"] == {"SKILLEXEC_CONFIG": str((project / "skillexec.toml").resolve())}
    # started as a host starts it: elsewhere, with only what the config gives it
    elsewhere = tmp_path / "host"
    elsewhere.mkdir()
    params = StdioServerParameters(
        command=server["command"], args=args, cwd=str(elsewhere),
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT / "src"), **server["env"]})
    async with Client(stdio_client(params), mode="legacy") as client:  # type: ignore[arg-type]
        names = {t.name for t in (await client.list_tools()).tools}
        assert "p_text_echo" in names
        res = await client.call_tool("p_text_echo", {"text": "hi"})
        assert res.structured_content == {"echo": "hi"}
    assert (project / "journal" / "j.db").is_file()


def test_a_named_settings_file_is_carried_by_its_absolute_path(tmp_path: Path) -> None:
    write_skills(tmp_path / "skills")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mine.toml").write_text("[mcp]\nsearch_threshold = 3\n")
    server = _print_config(tmp_path, SKILLEXEC_CONFIG="conf/mine.toml")
    assert server["env"] == {"SKILLEXEC_CONFIG": str((tmp_path / "conf" / "mine.toml")
                                                     .resolve())}
    assert "--journal-url" not in server["args"]


def test_no_settings_file_no_env(tmp_path: Path) -> None:
    write_skills(tmp_path / "skills")
    server = _print_config(tmp_path)
    assert "env" not in server and "--journal-url" not in server["args"]


def test_settings_from_the_environment_are_named_not_copied(tmp_path: Path) -> None:
    write_skills(tmp_path / "skills")
    base = {k: v for k, v in os.environ.items() if not k.startswith("SKILLEXEC_")}
    out = subprocess.run(
        [sys.executable, "-m", "skillexec", "mcp", "--print-config"],
        capture_output=True, text=True, cwd=tmp_path, check=True,
        env={**base, "PYTHONPATH": str(ROOT / "src"), "SKILLEXEC_MCP__TOOL_PREFIX": "p_"})
    assert "SKILLEXEC_MCP__TOOL_PREFIX set here but not in this config" in out.stderr
    assert "p_" not in out.stdout
