"""The journal's write contract (skillexec.storage.journal): an event that cannot be
written is logged with its kind and never fails the call that caused it; a task's end
that cannot be written is logged, and the task still ends."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from skillexec import EngineConfig, SkillExecutionEngine, TaskStatus, skill
from skillexec.storage.journal import EventWriter
from skillexec.storage.memory import MemoryStore
from tests.conftest import arun


class FullDisk(MemoryStore):
    """A journal whose event writes fail, as on a full disk (the tasks' writes still work)."""

    def append_event(self, kind: str, data: dict[str, Any]) -> Any:
        if kind == "boom-now":
            raise OSError("no space left on device")
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        failed.set_exception(OSError("no space left on device"))
        return failed


@skill(id="flaky-dep", timeout=2)
async def flaky_dep() -> None:
    raise ConnectionRefusedError("dependency down")


def test_failed_events_are_logged_and_never_fail_a_call(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> list[TaskStatus]:
        config = EngineConfig(data_dir=tmp_path / "d", reliability={
            "breaker_min_calls": 2, "breaker_window_s": 10, "breaker_open_s": 30})
        async with SkillExecutionEngine(config=config, store=FullDisk()) as engine:
            engine.register(flaky_dep)
            statuses = [(await engine.execute("flaky-dep", max_retries=0)).status
                        for _ in range(3)]  # the breaker opens: a "breaker" event
            engine.services.journal_event("boom-now", {})  # raises inside: not here
            await engine.error_handler.flush()
            return statuses

    with caplog.at_level(logging.WARNING, logger="skillexec.journal"):
        statuses = arun(go())
    assert statuses[:2] == [TaskStatus.FAILED, TaskStatus.FAILED]
    assert statuses[2] is TaskStatus.REJECTED  # the open circuit, journaled or not
    assert "a breaker event was not journaled: no space left on device" in caplog.text
    assert "a boom-now event was not journaled" in caplog.text


def test_durable_waits_and_reports(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> list[dict[str, Any]]:
        ok = MemoryStore()
        await EventWriter(ok).durable("alert", {"rule": "r"})
        await EventWriter(FullDisk()).durable("alert", {"rule": "r"})  # logged, not raised
        return await ok.read_events("alert")

    with caplog.at_level(logging.WARNING, logger="skillexec.journal"):
        events = arun(go())
    assert [e["data"] for e in events] == [{"rule": "r"}]
    assert "alert event was not journaled: no space left on device" in caplog.text
