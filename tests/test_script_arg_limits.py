"""A script's arguments are bounded alike from Python, HTTP and MCP: one argument up to what
an execve takes (131,072 characters), at most 4,096 of them. HTTP refused an argument of
10,001 characters (a JSON blob passed as the argument) that the CLI, Python and MCP ran."""

from __future__ import annotations

import os
from pathlib import Path

from skillexec import SkillExecutionEngine
from skillexec.scripts import MAX_ARG_CHARS
from tests._http import running
from tests.conftest import arun


def _skill(tmp_path: Path) -> Path:
    folder = tmp_path / "skills" / "echo"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: echo\ndescription: E.\n---\nRun it.\n")
    (folder / "scripts" / "n.py").write_text("import sys\nprint(len(sys.argv[1]))\n")
    os.chmod(tmp_path, 0o755)
    return tmp_path / "skills"


def test_a_long_argument_runs_and_one_past_execves_limit_is_refused(tmp_path: Path) -> None:
    skills = _skill(tmp_path)

    async def go() -> tuple[str, str | None]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            ok = await e.run_script("echo", "scripts/n.py", args=["x" * 20_000])
            assert ok.ok, ok.error
            bad = await e.run_script("echo", "scripts/n.py", args=["x" * (MAX_ARG_CHARS + 1)])
            return ok.output["stdout"], bad.error.code if bad.error else None
    out, code = arun(go())
    assert out == "20000\n" and code == "invalid_parameters"


def test_http_takes_what_python_takes(tmp_path: Path) -> None:
    with running(tmp_path, skills_dir=_skill(tmp_path)) as srv, \
            srv.client(srv.key("runner")) as c:
        r = c.post("/api/skills/echo/scripts", json={"script": "scripts/n.py",
                                                      "args": ["x" * 20_000]})
        assert r.status_code == 200, r.text  # was 422: at most 10,000 characters
        assert r.json()["data"]["output"]["stdout"] == "20000\n"
        r = c.post("/api/skills/echo/scripts", json={
            "script": "scripts/n.py", "args": ["x" * (MAX_ARG_CHARS + 1)]})
        assert r.status_code == 422, r.text
