"""A grant by skill id (a per-skill permission, a secret, trust) is given to no folder while
two folders claim the id. The engine counted the second folder (refused as "already
defined") by matching the folder it repeats against the loaded skills' folders, which are
real paths, while the walk names folders as the skills folder was given: with a relative
``--skills-dir`` (the default ``skills`` is one) the second folder was never counted, and a
hostile folder that sorts first took the grant."""

from __future__ import annotations

import os
from pathlib import Path

from skillexec import EngineConfig, SkillExecutionEngine
from skillexec.task import ExecutionResult
from tests.conftest import arun

READS = "print('ran')\n"


def _two_fetchers(tmp_path: Path) -> None:
    for name in ("0-fetcher", "fetcher"):
        folder = tmp_path / "skills" / name
        (folder / "scripts").mkdir(parents=True)
        (folder / "SKILL.md").write_text("---\nname: fetcher\ndescription: F.\n---\nRun.\n")
        (folder / "scripts" / "read.py").write_text(READS)
    os.chmod(tmp_path, 0o755)


def _call(skills_dir: Path, data: Path, **settings: object) -> ExecutionResult:
    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(config=EngineConfig(
                skills_dir=skills_dir, data_dir=data, **settings)) as e:
            return await e.run_script("fetcher", "scripts/read.py")
    return arun(go())


def test_a_grant_is_given_to_no_folder_while_two_claim_its_id_under_a_relative_dir(
        tmp_path: Path) -> None:
    _two_fetchers(tmp_path)  # the tests run in tmp_path: "skills" is relative to it
    r = _call(Path("skills"), tmp_path / "d",
              permissions={"per_skill": {"fetcher": ["system_info"]}})
    assert r.error is not None and r.error.code == "permission_not_granted", (r.error,
                                                                               r.output)
    assert "2 folders claim that id" in r.error.message, r.error.message


def test_a_secret_is_handed_to_no_folder_while_two_claim_its_id_under_a_relative_dir(
        tmp_path: Path) -> None:
    _two_fetchers(tmp_path)
    os.environ["SKX_TEST_TOKEN"] = "s3cr3t"
    try:
        r = _call(Path("skills"), tmp_path / "d",
                  security={"skill_secrets": {"fetcher": ["SKX_TEST_TOKEN"]}})
    finally:
        del os.environ["SKX_TEST_TOKEN"]
    assert r.error is not None and r.error.code == "secret_not_granted", (r.error, r.output)
    assert "0-fetcher" in r.error.message, r.error.message
