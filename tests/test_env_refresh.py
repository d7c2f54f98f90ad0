"""A running engine sees ``skillexec skills install ID PKG`` done from another process at
its next call of that skill (it read the added packages once, at load, and kept answering
missing_module until it restarted)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.task import TaskStatus
from tests._wheels import make_wheel
from tests.conftest import arun
from tests.test_environments import MOD, PKG, USES, cli, config, skill_folder, wheels

pytestmark = pytest.mark.timeout(180)


def test_a_running_engine_sees_packages_installed_by_another_process(tmp_path: Path) -> None:
    links = wheels(tmp_path)
    skill_folder(tmp_path / "skills", "undeclared", files={"main.py": USES})
    env = {"SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(links)]),
           "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true"}
    where = ("--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data"))

    async def go() -> None:
        async with SkillExecutionEngine(config=config(tmp_path, links)) as engine:
            before = await engine.execute("undeclared", {})
            assert before.error is not None and before.error.code == "missing_module"
            r = cli("skills", "install", "undeclared", PKG, *where, cwd=tmp_path, env=env)
            assert r.returncode == 0, r.stderr
            after = await engine.execute("undeclared", {})
            assert after.status is TaskStatus.SUCCEEDED, after.error
            assert after.output["value"] == 42
            assert engine.environments.installs == 0  # the other process made it

    arun(go())


def test_a_package_added_to_a_ready_environment_is_provisioned_at_the_next_call(
        tmp_path: Path) -> None:
    """The skill's environment was ready (its declared package); a package added since
    changes its set: the running engine provisions the new set at the next call, and its
    warm parent, which imported from the old one, is replaced."""
    links = wheels(tmp_path)
    make_wheel(links, "tinypkg-more", "2.0.0", "MORE = 7\n", module="tinypkg_more")
    skill_folder(tmp_path / "skills", "grows", files={
        "requirements.txt": f"{PKG}\n",
        "main.py": (f"import {MOD}\n"
                    "def execute(data):\n"
                    "    import tinypkg_more\n"
                    f"    return {{'value': {MOD}.VALUE, 'more': tinypkg_more.MORE}}\n")})
    env = {"SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(links)]),
           "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true"}
    extras = tmp_path / "data" / "envs" / "extras.json"

    async def go() -> None:
        async with SkillExecutionEngine(config=config(tmp_path, links)) as engine:
            first = await engine.execute("grows", {})
            assert first.error is not None and first.error.code == "missing_module"
            assert "tinypkg_more" in first.error.message
            # What `skills install grows tinypkg-more` records, without installing it: the
            # running engine provisions the new set itself.
            extras.write_text(json.dumps({"grows": ["tinypkg-more"]}))
            await asyncio.sleep(0.25)  # seen by calls 0.2 s after (one stat per 0.2 s)
            second = await engine.execute("grows", {})
            assert second.status is TaskStatus.SUCCEEDED, second.error
            assert second.output == {"value": 42, "more": 7}
            assert engine.environments.installs == 2

    del env
    arun(go())
