"""``files=`` carries what a copy of a folder keeps (``skillexec.WorkspaceFile``), through
the Python API, HTTP and MCP alike: an empty folder, the owner execute bit, a modification
time, a link inside the workspace. Only bytes travelled before, so a project's
``./helper.sh`` could not run and an empty ``out/`` was missing; plain bytes and base64
text still work as they did, and nothing can leave the workspace or set more than the
owner's execute bit."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from skillexec import SkillExecutionEngine, WorkspaceFile
from skillexec.mcp.server import McpServer
from tests._http import running
from tests._isolation import need_sandbox
from tests.conftest import arun

pytestmark = pytest.mark.timeout(180)

PROBE = r'''
import json, os, stat, subprocess
out = {}
for p in ("out", "bin/run.sh", "data.txt", "plain.txt", "docs/README.md"):
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        continue
    out[p] = {"dir": stat.S_ISDIR(st.st_mode), "mode": oct(st.st_mode & 0o7777),
              "mtime": st.st_mtime, "link": os.readlink(p) if stat.S_ISLNK(st.st_mode) else None}
if os.path.exists("bin/run.sh"):
    out["ran"] = subprocess.run(["./bin/run.sh"], capture_output=True, text=True).stdout
print(json.dumps(out))
'''
FILES: dict[str, Any] = {
    "out": WorkspaceFile(folder=True, mtime=1_000_000_000.0),
    "bin/run.sh": WorkspaceFile(content=b"#!/bin/sh\necho ran\n", executable=True),
    "data.txt": WorkspaceFile(content=b"d", mtime=1_577_836_800.5),
    "plain.txt": b"as ever",
    "docs/README.md": WorkspaceFile(link="../data.txt"),
}
WIRE = {"out": {"folder": True, "mtime": 1_000_000_000},
        "bin/run.sh": {"content": base64.b64encode(b"#!/bin/sh\necho ran\n").decode(),
                       "executable": True},
        "data.txt": {"content": "ZA==", "mtime": 1_577_836_800.5},
        "plain.txt": base64.b64encode(b"as ever").decode(),
        "docs/README.md": {"link": "../data.txt"}}


@pytest.fixture(autouse=True)
def _sandbox() -> None:
    need_sandbox()


def _skills(root: Path) -> Path:
    skill = root / "skills" / "probe"
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: probe\ndescription: Looks around.\n---\nGo.\n")
    (skill / "scripts" / "probe.py").write_text(PROBE)
    return root / "skills"


def _check(seen: dict[str, Any]) -> None:
    assert seen["out"]["dir"] and seen["out"]["mtime"] == 1_000_000_000
    assert seen["bin/run.sh"]["mode"] == "0o700" and seen["ran"] == "ran\n"
    assert seen["data.txt"]["mode"] == "0o600"
    assert seen["data.txt"]["mtime"] == 1_577_836_800.5
    assert seen["plain.txt"]["mode"] == "0o600"
    assert seen["docs/README.md"]["link"] == "../data.txt"


def test_python_api(tmp_path: Path) -> None:
    async def go() -> None:
        async with SkillExecutionEngine(skills_dir=_skills(tmp_path),
                                        data_dir=tmp_path / "data") as engine:
            r = await engine.run_script("probe", "scripts/probe.py", files=FILES)
            assert r.ok, r.error
            _check(json.loads(r.output["stdout"]))
            # nothing out of the workspace, nor anything but the kinds there are
            for bad, says in [
                (WorkspaceFile(link="../../etc/passwd"), "is outside the workspace"),
                (WorkspaceFile(link="/etc/passwd"), "is outside the workspace"),
                (WorkspaceFile(folder=True, content=b"x"), "has no content"),
                (WorkspaceFile(content=b"x", mtime=float("nan")), "'mtime' must be"),
                ("text", "its content must be bytes"),
            ]:
                r = await engine.run_script("probe", "scripts/probe.py", files={"a/x": bad})
                assert not r.ok and r.error is not None
                assert r.error.code == "invalid_file_content" and says in r.error.message, (
                    r.error)
    arun(go())


def test_http(tmp_path: Path) -> None:
    with running(tmp_path, skills_dir=_skills(tmp_path)) as srv, \
            srv.client(srv.key("runner")) as c:
        r = c.post("/api/skills/probe/scripts", json={"script": "scripts/probe.py",
                                                      "files": WIRE})
        assert r.status_code == 200, r.text
        _check(json.loads(r.json()["data"]["output"]["stdout"]))
        for bad in ({"link": "../../x"}, {"content": "%%"}, {"mode": 0o4755}):
            r = c.post("/api/skills/probe/scripts", json={"script": "scripts/probe.py",
                                                          "files": {"a/x": bad}})
            assert r.status_code == 422, r.text


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[McpServer]:
    async with SkillExecutionEngine(skills_dir=_skills(tmp_path),
                                    data_dir=tmp_path / "data") as engine:
        yield McpServer(engine)


@pytest.mark.anyio
async def test_mcp(served: McpServer) -> None:
    async with Client(served.server) as client:  # type: ignore[arg-type]
        res = await client.call_tool("run_skill_script", {
            "skill": "probe", "script": "scripts/probe.py", "files": WIRE})
        assert not res.is_error, res.content
        assert res.structured_content is not None
        _check(json.loads(res.structured_content["stdout"]))
        res = await client.call_tool("run_skill_script", {
            "skill": "probe", "script": "scripts/probe.py",
            "files": {"x": {"link": "/etc/passwd"}}})
        assert res.is_error
        text = "\n".join(c.text for c in res.content if c.type == "text")
        assert "its link's target '/etc/passwd' is outside the workspace" in text, text


def test_two_names_of_one_path_are_refused(tmp_path: Path) -> None:
    """``x`` and ``./x`` name one workspace path: one was dropped without a word (the CLI
    refused it; Python, HTTP and MCP did not)."""
    from skillexec import ParameterError
    from skillexec.scripts import script_params

    with pytest.raises(ParameterError, match="twice"):
        script_params(args=[], files={"x": b"1", "./x": b"2"}, stdin=None, session=None)
