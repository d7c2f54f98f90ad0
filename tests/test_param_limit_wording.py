"""The refusal of files over ``limits.max_param_bytes`` (trial B, finding 8): a 1.5 MB CSV
of a science skill was refused "(limits.max_param_bytes)", and nothing said where that is
set. The command line, HTTP and MCP now say how to raise it, in the same words (and the
HTTP body limit, met next by larger files, says how too)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.mcp.server import McpServer
from tests._http import running
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(180)

LIMIT = 2000
DATA = b"x,y\n" + b"1,2\n" * 750  # 3004 bytes: 4008 of base64
HOW = ("raise limits.max_param_bytes to at least {size} ([limits] max_param_bytes in "
       "skillexec.toml, or SKILLEXEC_LIMITS__MAX_PARAM_BYTES)")


def _skills(root: Path) -> Path:
    folder = root / "skills" / "fit"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: fit\ndescription: Fit a CSV.\n---\n"
                                     "Run scripts/rows.py data.csv.\n")
    (folder / "scripts" / "rows.py").write_text(
        "import sys\nprint(len(open(sys.argv[1]).read().splitlines()))\n")
    return root / "skills"


def _cli(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**{k: v for k, v in os.environ.items() if not k.startswith("SKILLEXEC_")},
            "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "400", **env}
    return subprocess.run([sys.executable, "-m", "skillexec", "script", "fit",
                           "scripts/rows.py", "-f", "data.csv", "data.csv",
                           "--skills-dir", str(tmp_path / "skills"),
                           "--data-dir", str(tmp_path / "data")],
                          cwd=tmp_path, env=full, capture_output=True, text=True, timeout=150)


def _said(message: str) -> int:
    """The size the refusal reports, after checking it says how to raise the limit."""
    size = int(message.split(" come to ")[1].split(" bytes")[0])
    assert message.startswith("the files sent (3004 bytes, base64 in the call's parameters) "
                              f"come to {size} bytes of JSON, over the {LIMIT}-byte limit: "), \
        message
    assert message.endswith(HOW.format(size=size)), message
    return size


def test_the_command_line_says_how_to_raise_it_and_that_works(tmp_path: Path) -> None:
    _skills(tmp_path)
    (tmp_path / "data.csv").write_bytes(DATA)
    r = _cli(tmp_path, SKILLEXEC_LIMITS__MAX_PARAM_BYTES=str(LIMIT))
    assert r.returncode == 2, r.stderr
    message = r.stderr.strip().removeprefix("skillexec: rejected: ").removesuffix(
        " [parameter_error/parameters_too_large]")
    size = _said(message)
    # Done as it says: with the variable, the call runs.
    r = _cli(tmp_path, SKILLEXEC_LIMITS__MAX_PARAM_BYTES=str(size))
    assert r.returncode == 0 and r.stdout.strip() == "751", r.stdout + r.stderr
    (tmp_path / "skillexec.toml").write_text(f"[limits]\nmax_param_bytes = {size}\n")
    r = _cli(tmp_path)
    assert r.returncode == 0, r.stderr


def test_http_says_the_same_and_its_body_limit_says_how_too(tmp_path: Path) -> None:
    skills = _skills(tmp_path)
    files = {"data.csv": base64.b64encode(DATA).decode()}
    with running(tmp_path / "srv", limits={"max_param_bytes": LIMIT},
                 service={"max_body_bytes": 4096}) as srv:
        async def add() -> None:
            srv.engine.register(skills / "fit")

        srv.call(add())
        with srv.client(srv.key("runner")) as c:
            body = c.post("/api/skills/fit/scripts", json={
                "script": "scripts/rows.py", "args": ["data.csv"], "files": files}).json()
            _said(body["error"]["message"])
            big = c.post("/api/skills/fit/scripts", json={
                "script": "scripts/rows.py", "files": {"a.csv": "QUFB" * 2000}})
    assert big.status_code == 413
    assert big.json()["error"]["message"] == (
        "the request body is larger than 4096 bytes: raise service.max_body_bytes ([service] "
        "max_body_bytes in skillexec.toml, or SKILLEXEC_SERVICE__MAX_BODY_BYTES)")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_mcp_says_the_same(tmp_path: Path, anyio_backend: str) -> None:
    cfg = EngineConfig(skills_dir=_skills(tmp_path), data_dir=tmp_path / "data",
                       limits={"max_param_bytes": LIMIT})
    async with SkillExecutionEngine(config=cfg) as engine, \
            Client(McpServer(engine).server) as client:  # type: ignore[arg-type]
        res = await client.call_tool("run_skill_script", {
            "skill": "fit", "script": "scripts/rows.py", "args": ["data.csv"],
            "files": {"data.csv": base64.b64encode(DATA).decode()}})
    text = "\n".join(c.text for c in res.content if c.type == "text")
    assert res.is_error, text
    size = int(text.split(" come to ")[1].split(" bytes")[0])
    assert HOW.format(size=size) in text, text
