"""A zygote stays small: every call forks it and its child exits, so each megabyte it holds
is paid twice a call (page tables copied at the fork, torn down at the exit). asyncio, and
ssl with it, is 6.5 MB of a 23 MB zygote: only an async skill's zygote imports it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.task import TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import arun

pytestmark = pytest.mark.timeout(120)

HEAVY = ("asyncio", "ssl")
PROBE = f"import json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
ENTRY = f"""import sys

def execute(input_data, context):
    return [m for m in {HEAVY!r} if m in sys.modules]
"""
ASYNC_ENTRY = ENTRY.replace("def execute", "async def execute")


def folder(root: Path, sid: str, code: str) -> None:
    d = root / sid
    d.mkdir(parents=True)
    (d / "skill.json").write_text(json.dumps({
        "id": sid, "name": sid, "version": "1.0.0", "entry_point": "main.py",
        "parameters": {"type": "object", "properties": {}}}))
    (d / "main.py").write_text(code)


def test_sync_zygotes_do_not_carry_asyncio(tmp_path: Path) -> None:
    need_sandbox()
    skills = tmp_path / "skills"
    folder(skills, "sync-entry", ENTRY)
    folder(skills, "async-entry", ASYNC_ENTRY)
    probe = skills / "probe"
    (probe / "scripts").mkdir(parents=True)
    (probe / "SKILL.md").write_text("---\nname: probe\ndescription: prints what is loaded"
                                    "\n---\nRun scripts/probe.py.\n")
    (probe / "scripts" / "probe.py").write_text(PROBE)

    async def go() -> tuple[object, object, object]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            script = await e.run_script("probe", "scripts/probe.py")
            sync = await e.execute("sync-entry", {})
            asynchronous = await e.execute("async-entry", {})
            assert script.status is TaskStatus.SUCCEEDED, script.error
            assert sync.ok and asynchronous.ok, (sync.error, asynchronous.error)
            return json.loads(script.output["stdout"]), sync.output, asynchronous.output

    script, sync, asynchronous = arun(go())
    assert script == [] and sync == []
    assert "asyncio" in asynchronous  # type: ignore[operator]  # it needs it
