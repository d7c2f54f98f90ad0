"""A key whose role runs nothing (a viewer's, an auditor's) is told so over /mcp when it
calls a tool that runs: ``run_skill_script`` answered "no skill 'decision-records' here" of
a skill that exists (and ``skill_start`` "no skill or tool named"), while
``session_create`` said "this API key's role may not run skills"."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests._http import running
from tests.test_mcp_http import client

pytestmark = pytest.mark.timeout(120)

REFUSED = "this API key's role may not run skills, nor open or close sessions."


def test_a_viewer_is_told_its_role_may_not_run(tmp_path: Path) -> None:
    skills = tmp_path / "skills" / "guide"
    (skills / "scripts").mkdir(parents=True)
    (skills / "SKILL.md").write_text("---\nname: guide\ndescription: D.\n---\nRun it.\n")
    (skills / "scripts" / "go.py").write_text("print('ran')\n")
    with running(tmp_path, skills_dir=tmp_path / "skills") as srv:
        endpoint = f"{srv.base_url}/mcp"
        viewer = srv.key("viewer", name="v")

        async def check() -> list[str]:
            async with client(endpoint, viewer, "legacy") as c:
                said = []
                for tool, args in (
                        ("run_skill_script", {"skill": "guide", "script": "scripts/go.py"}),
                        ("skill_start", {"skill": "guide"}),
                        ("skill_cancel", {"call_id": "x"}),
                        ("echo", {"text": "hi"})):  # a skill's own tool, not listed to it
                    res = await c.call_tool(tool, args)
                    assert res.is_error, res.content
                    said.append(res.content[0].text)  # type: ignore[union-attr]
                return said

        said = anyio.run(check)
        assert said == [f"run_skill_script: {REFUSED}", f"skill_start: {REFUSED}",
                        f"skill_cancel: {REFUSED}", "echo: this API key's role may not run "
                        "skills."]
        assert srv.engine.queue_depth == 0 and srv.engine.running_count == 0
        assert srv.engine.sessions.list() == []
