"""The unknown-skill sentence, wherever it is shown: MCP's ended ``did you mean
'vercel-optimize'?.`` (the registry's question, then the sentence's full stop). The
suggestion is in parentheses, so every surface ends it once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from skillexec import SkillExecutionEngine
from skillexec.mcp.server import McpServer
from tests._http import running

pytestmark = pytest.mark.timeout(120)


def _skills(root: Path) -> Path:
    folder = root / "skills" / "vercel-optimize"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: vercel-optimize\ndescription: Optimise a "
                                     "deployment.\n---\nRun scripts/scan.py.\n")
    (folder / "scripts" / "scan.py").write_text("print('scanned')\n")
    return root / "skills"


SAID = "no skill 'vercel-optimise' (did you mean 'vercel-optimize'?)"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_mcp_ends_the_sentence_once(tmp_path: Path, anyio_backend: str) -> None:
    async with SkillExecutionEngine(skills_dir=_skills(tmp_path),
                                    data_dir=tmp_path / "data") as engine, \
            Client(McpServer(engine).server) as client:  # type: ignore[arg-type]
        res = await client.call_tool("run_skill_script", {
            "skill": "vercel-optimise", "script": "scripts/scan.py"})
    text = "\n".join(c.text for c in res.content if c.type == "text")
    assert res.is_error and "?." not in text, text
    assert text.endswith(f": {SAID}."), text


def test_the_command_line_and_http_say_the_same(tmp_path: Path) -> None:
    skills = _skills(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "SKILLEXEC_SKILLS_DIR"}
    r = subprocess.run([sys.executable, "-m", "skillexec", "script", "vercel-optimise",
                        "scripts/scan.py", "--skills-dir", str(skills)], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr == f"skillexec: rejected: {SAID} [dependency_error/skill_not_found]\n"
    with running(tmp_path / "srv") as srv:
        async def add() -> None:
            srv.engine.register(skills / "vercel-optimize")

        srv.call(add())
        with srv.client(srv.key("runner")) as c:
            body = c.post("/api/skills/vercel-optimise/scripts",
                          json={"script": "scripts/scan.py"}).json()
    assert body["error"]["message"] == SAID, body
