"""A script outside its skill's folder is refused with what would work.

starci-skills' SKILL.md files send the model to ``scripts/*.mjs`` at the top of their
repository: ``script_outside_skill`` named the rule and nothing else, though a plugin
manifest makes such scripts runnable by the plugin's skills.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.errors import SkillExecError
from tests.conftest import arun


@pytest.mark.parametrize("script", ["../../scripts/hello.mjs", "../../scripts/absent.mjs"])
def test_the_refusal_says_how_a_plugin_runs_its_scripts(tmp_path: Path, script: str) -> None:
    top = tmp_path / "repo"
    (top / "scripts").mkdir(parents=True)
    (top / "scripts" / "hello.mjs").write_text("console.log('hi')\n")
    folder = top / "skills" / "tool"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: tool\ndescription: T.\n---\nRun it.\n")

    async def go() -> str:
        async with SkillExecutionEngine(skills_dir=top / "skills",
                                        data_dir=tmp_path / "d") as e:
            try:
                r = await e.run_script("tool", script)
            except SkillExecError as exc:
                return f"{exc.code}: {exc}"
            assert r.error is not None
            return f"{r.error.code}: {r.error.message}"
    said = arun(go())
    assert said.startswith("script_outside_skill"), said
    # The same words whether or not the file is there: the host's files are not told.
    assert said.endswith("a plugin's skills those of the plugin's (a folder with "
                         ".claude-plugin/plugin.json above its skills/)"), said
