"""A script importing from a folder outside its skill (gsannikov's recipe-manager puts the
repository's top on sys.path for ``shared/``), trialA 15: ``sandbox_denied`` said why and
not what opens it, and ``file_read_paths`` alone, the setting a user finds, changed
nothing: the skill must be granted ``file_read`` too, which no SKILL.md can ask for."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.task import ExecutionResult, TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import arun

pytestmark = pytest.mark.timeout(180)

SCRIPT = """\
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent.parent.parent.parent))
from shared_t3.paths import where
print(where())
"""


def repository(tmp_path: Path) -> Path:
    """The repository's shape: packages/recipe-t3/ (the skill) and shared_t3/ at its top."""
    top = tmp_path / "repo"
    folder = top / "packages" / "recipe-t3"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: recipe-t3\ndescription: cards.\n---\nUse.\n")
    (folder / "scripts" / "card.py").write_text(SCRIPT)
    (top / "shared_t3").mkdir()
    (top / "shared_t3" / "__init__.py").write_text("")
    (top / "shared_t3" / "paths.py").write_text("def where():\n    return 'shared'\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    return top


def run(tmp_path: Path, top: Path, **permissions: object) -> ExecutionResult:
    cfg = EngineConfig(skills_dir=top / "packages", data_dir=tmp_path / "data",
                       permissions=permissions)

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(config=cfg) as e:
            return await e.run_script("recipe-t3", "scripts/card.py")

    return arun(go())


def test_sandbox_denied_names_the_grant_and_the_path_and_they_open_it(
        tmp_path: Path) -> None:
    need_sandbox()
    top = repository(tmp_path)
    real = os.path.realpath(top)
    both = (f"the operator lets it read that folder with both a grant and the path: "
            f"[permissions] per_skill = {{'recipe-t3' = [\"file_read\"]}} and "
            f"file_read_paths = [{json.dumps(real)}] (the path alone opens it to skills "
            "granted file_read only)")
    denied = run(tmp_path, top).error
    assert denied is not None and denied.code == "sandbox_denied", denied
    assert denied.message.endswith(f": {both}") and denied.details["grant"] == both
    # The path alone, as trialA set it: still refused, and told the same.
    alone = run(tmp_path, top, file_read_paths=[real]).error
    assert alone is not None and alone.code == "sandbox_denied" and both in alone.message
    # With the grant, only the path is left to name.
    granted = run(tmp_path, top, per_skill={"recipe-t3": ["file_read"]}).error
    assert granted is not None and granted.code == "sandbox_denied"
    assert granted.details["grant"] == ("the operator lets it read that folder: "
                                        f"[permissions] file_read_paths = [{json.dumps(real)}]")
    # Both, as the message says: the script runs.
    ok = run(tmp_path, top, per_skill={"recipe-t3": ["file_read"]}, file_read_paths=[real])
    assert ok.status is TaskStatus.SUCCEEDED, ok.error
    assert ok.output is not None and ok.output["stdout"] == "shared\n"
