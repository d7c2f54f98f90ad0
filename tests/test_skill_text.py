"""Text a skill hands the engine that UTF-8 cannot carry (a lone surrogate: a name decoded
from bytes that were not UTF-8) is made '?' wherever the skill runs, instead of failing
the skill in one runner (the sandbox's channel refused to encode it) and not another."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.task import TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import arun

MAIN = """
def execute(input_data, context=None):
    context.progress(0.5, "half \\ud800 done")
    context.save_artifact("a\\udcffb.txt", b"x", "text/plain")
    return {"ok": True}
"""


def _skill(tmp_path: Path, skill_id: str, main: str, level: str) -> None:
    if level == "sandbox":
        need_sandbox()
    folder = tmp_path / "skills" / skill_id
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(
        f'{{"id": "{skill_id}", "version": "1.0.0", "entry_point": "main:execute"}}')
    (folder / "main.py").write_text(main)


@pytest.mark.parametrize("level", ["inline", "sandbox"])
def test_lone_surrogates_in_progress_and_artifact_names(level: str, tmp_path: Path) -> None:
    _skill(tmp_path, "odd-text", MAIN, level)

    async def go() -> tuple[TaskStatus, list[str], list[str]]:
        config = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "d",
                              isolation={"default_level": level})
        async with SkillExecutionEngine(config=config) as e:
            task_id = await e.submit("odd-text", {})
            messages = [ev.message async for ev in e.events(task_id)
                        if ev.kind == "progress"]
            r = await e.wait(task_id, timeout=30)
            assert r.error is None, r.error
            return r.status, messages, [a.name for a in r.artifacts]
    status, messages, names = arun(go())
    assert status is TaskStatus.SUCCEEDED
    assert messages == ["half ? done"]
    assert len(names) == 1 and names[0].startswith("a") and names[0].endswith("b.txt")


RAISES = """
def execute(input_data):
    raise ValueError("bad \\\\ud800 value".encode().decode("unicode_escape"))
"""


@pytest.mark.parametrize("level", ["inline", "sandbox"])
def test_an_exception_whose_text_utf8_cannot_carry(level: str, tmp_path: Path) -> None:
    """Its message becomes the call's error, '?' for the surrogate: inline it crashed the
    engine's execute (the journal refused the text), sandboxed the child could not send
    its answer ('child_crashed')."""
    _skill(tmp_path, "raiser", RAISES, level)

    async def go() -> tuple[str, str, str]:
        config = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "d",
                              isolation={"default_level": level})
        async with SkillExecutionEngine(config=config) as e:
            r = await e.execute("raiser", {}, max_retries=0)
            assert r.error is not None
            info = await e.status(r.task_id)
            assert info.result is not None and info.result.error is not None
            return r.error.code, r.error.message, info.result.error.message
    code, message, journaled = arun(go())
    assert code == "skill_raised"
    assert message == journaled == "ValueError: bad ? value"
