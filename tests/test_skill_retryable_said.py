"""``retryable`` as the skill gave it, and as the engine decided it (review E faults 13, 14):
``TransientError("...", retryable=False)`` is not retried and says so, in-process and in a
child; a timeout the engine chose not to retry says ``retryable: false``."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from skillexec import (
    EngineConfig,
    ExecutionError,
    SkillExecutionEngine,
    TaskStatus,
    TransientError,
    skill,
)
from skillexec.task import ExecutionResult
from tests.conftest import arun


@skill(id="not-this-time", max_retries=3)
def not_this_time() -> None:
    raise TransientError("the quota is spent for today", retryable=False)


@skill(id="rate-limited-no", max_retries=3)
async def rate_limited_no() -> None:
    raise ExecutionError("over the limit for good", code="rate_limited", retryable=False)


@skill(id="transient-default", max_retries=2)
def transient_default() -> None:
    raise TransientError("flaky")


@skill(id="slow-sync", timeout=0.3, max_retries=2)
def slow_sync() -> int:
    time.sleep(0.6)
    return 1


@pytest.mark.parametrize(("fn", "attempts", "retryable"), [
    (not_this_time, 1, False), (rate_limited_no, 1, False), (transient_default, 3, True)])
def test_a_skills_own_retryable_is_honoured(tmp_path: Path, fn: object, attempts: int,
                                            retryable: bool) -> None:
    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            r = await engine.execute(fn, {})  # type: ignore[arg-type]
            assert r.status is TaskStatus.FAILED and r.error is not None, r
            assert r.attempts == attempts  # was 4 attempts, retryable True
            assert r.error.retryable is retryable

    arun(go())


def _in_a_child(tmp_path: Path, raised: str, *, max_retries: int) -> ExecutionResult:
    """One call of a skill run in a child (process isolation) whose execute raises
    ``raised`` (an expression of skillexec's errors), retried without backoff."""
    folder = tmp_path / "skills" / "child"
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(orjson.dumps({
        "id": "child", "name": "Child", "version": "1.0.0", "description": "fails",
        "entry_point": "main:execute", "parameters_schema": {},
        "execution": {"isolation": "process", "max_retries": max_retries,
                      "backoff": "none"}}).decode())
    (folder / "main.py").write_text(
        "from skillexec import ExecutionError, TransientError\n"
        f"def execute(input_data):\n    raise {raised}\n")
    config = EngineConfig(data_dir=tmp_path / "d", skills_dir=tmp_path / "skills",
                          isolation={"trusted_skills": ["child"]})

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(config=config) as engine:
            return await engine.execute("child")
    return arun(go())


def test_a_childs_transient_error_given_retryable_false_is_not_retried(tmp_path: Path) -> None:
    r = _in_a_child(tmp_path, "TransientError('spent', retryable=False)", max_retries=3)
    assert r.error is not None and r.error.code == "transient_failure", r
    assert r.attempts == 1 and r.error.retryable is False


def test_a_childs_error_of_a_retryable_code_is_retried_when_it_says_nothing(
        tmp_path: Path) -> None:
    """The child reports every error's retryable; only one its skill gave (retryable=)
    wins over the code's rule: ExecutionError(code="rate_limited") is retried, as inline."""
    r = _in_a_child(tmp_path, "ExecutionError('slow down', code='rate_limited')",
                    max_retries=2)
    assert r.error is not None and r.error.code == "rate_limited", r
    assert r.attempts == 3 and r.error.retryable is True


def test_a_childs_error_whose_details_are_not_json_keeps_its_codes_rule(
        tmp_path: Path) -> None:
    """Details that are not JSON are dropped from the child's answer, and with them no
    retryable the skill did not give: rate_limited is retried (it was not, reviewS)."""
    r = _in_a_child(tmp_path, "ExecutionError('slow down', code='rate_limited', "
                    "details={'at': object()})", max_retries=2)
    assert r.error is not None and r.error.code == "rate_limited", r
    assert r.error.details.get("details_not_json") is True, r.error
    assert r.attempts == 3 and r.error.retryable is True


def test_a_timeout_the_engine_would_not_retry_says_it_is_not_retryable(
        tmp_path: Path) -> None:
    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            r = await engine.execute(slow_sync, {})
            assert r.status is TaskStatus.TIMED_OUT and r.error is not None, r
            assert r.attempts == 1 and "not_retried" in r.error.details
            assert r.error.retryable is False  # was True: "retry me", of an unsafe call
            stored = await engine.status(r.task_id)
            assert stored.result is not None and stored.result.error is not None
            assert stored.result.error.retryable is False

    arun(go())
