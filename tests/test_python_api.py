"""Python API edges (issue 12 item 14): a decorated function where a skill id goes, what
``skillexec.run`` writes and where."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import skillexec
from skillexec import ParameterError, SkillExecutionEngine, TaskStatus, skill
from tests.conftest import arun


@skill(id="double", version="1.2.0")
def double(x: int) -> int:
    return 2 * x


def not_a_skill(x: int) -> int:
    return x


def test_execute_and_submit_take_a_decorated_function(tmp_path: Path) -> None:
    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            r = await engine.execute(double, {"x": 4})  # not registered before: it is now
            assert r.status is TaskStatus.SUCCEEDED and r.output == 8
            assert r.skill_id == "double" and r.skill_version == "1.2.0"
            assert "double" in engine.skills
            task_id = await engine.submit(double, {"x": 5})
            assert (await engine.wait(task_id)).output == 10
            with pytest.raises(ParameterError, match="@skill-decorated function") as err:
                await engine.execute(not_a_skill, {"x": 1})  # type: ignore[arg-type]
            assert err.value.info.code == "invalid_skill_reference"

    arun(go())


def test_a_config_that_is_not_a_mapping_is_rejected_like_any_bad_option(
        tmp_path: Path) -> None:
    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            r = await engine.execute(double, {"x": 4}, config=5)  # type: ignore[arg-type]
            assert r.status is TaskStatus.REJECTED, r  # was a TypeError out of execute
            assert r.error is not None and r.error.code == "invalid_config"
            assert "not int" in r.error.message

    arun(go())


@pytest.mark.parametrize(("option", "code"), [
    ({"priority": "5"}, "invalid_priority"), ({"priority": True}, "invalid_priority"),
    ({"priority": 2.5}, "invalid_priority"), ({"timeout": "10"}, "invalid_timeout"),
    ({"max_retries": "1"}, "invalid_max_retries"), ({"max_retries": -1}, "invalid_max_retries"),
    ({"version": 1}, "invalid_version_requirement"),  # was an AttributeError out of execute
    ({"version": ["1.2.0"]}, "invalid_version_requirement"),
    # Each was read by its truth: "no" and "false" used the cache, 0 bypassed it.
    ({"cache": "no"}, "invalid_cache"), ({"cache": "false"}, "invalid_cache"),
    ({"cache": 0}, "invalid_cache"), ({"cache": None}, "invalid_cache"),
])
def test_an_option_of_the_wrong_type_is_rejected_not_raised(
        option: dict[str, object], code: str, tmp_path: Path) -> None:
    """priority="5" was a TypeError out of execute (a comparison of int and str), and
    max_retries=-1 ran as if it were 0."""
    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            r = await engine.execute(double, {"x": 4}, **option)  # type: ignore[arg-type]
            assert r.status is TaskStatus.REJECTED, r
            assert r.error is not None and r.error.code == code, r.error
            assert (await engine.execute(double, {"x": 4})).output == 8  # still healthy

    arun(go())


def test_run_writes_its_journal_in_the_data_dir_or_keeps_it_in_memory(tmp_path: Path) -> None:
    result = skillexec.run(double, {"x": 2}, data_dir=tmp_path / "here")
    assert result.output == 4
    with sqlite3.connect(tmp_path / "here" / "journal.db") as db:
        assert db.execute("select count(*) from tasks where task_id = ?",
                          (result.task_id,)).fetchone() == (1,)
    in_memory = skillexec.run(double, {"x": 3}, data_dir=tmp_path / "mem", journal=False)
    assert in_memory.output == 6
    assert not (tmp_path / "mem" / "journal.db").exists()
    assert "journal" in (skillexec.run.__doc__ or "")


def test_a_cache_flag_that_is_not_a_boolean_is_named_with_its_value(tmp_path: Path) -> None:
    result = skillexec.run(double, {"x": 2}, data_dir=tmp_path / "d", cache="no")
    assert result.status is TaskStatus.REJECTED and result.error is not None
    assert result.error.code == "invalid_cache"
    assert result.error.message == "cache must be true or false, not 'no'"
